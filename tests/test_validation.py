"""npae.validation: every check accepts good values, returns them converted, and refuses bad ones
with a message that says what was expected, what came and (where it can) how to fix it."""

import math
import re

import numpy as np
import pytest

from npae import backend as B
from npae import validation as V

NOT_NUMBERS = [None, "1", [1], True, False]


# ---------------------------------------------------------------- options
def test_check_option_returns_a_valid_option():
    assert V.check_option("adam", ("sgd", "adam"), "optimizer") == "adam"


def test_check_option_lists_the_valid_ones_and_suggests_the_closest():
    with pytest.raises(ValueError, match=r"^Unknown optimizer 'adma'; expected one of 'sgd', 'adam'\. "
                                         r"Did you mean 'adam'\?$"):
        V.check_option("adma", ("sgd", "adam"), "optimizer")
    with pytest.raises(ValueError, match=r"^Unknown loss 3; expected one of 'bce', 'mse'\.$"):
        V.check_option(3, ("bce", "mse"), "loss")


# ---------------------------------------------------------------- integers
@pytest.mark.parametrize("value", [1, 7, np.int64(3)])
def test_check_positive_int_accepts_positive_integers(value):
    out = V.check_positive_int(value, "epochs")
    assert out == int(value) and type(out) is int


@pytest.mark.parametrize("value", [0, -2, 2.5, 1.0, *NOT_NUMBERS])
def test_check_positive_int_refuses_the_rest(value):
    with pytest.raises(ValueError, match=rf"^epochs must be a positive integer; got {re.escape(repr(value))}\.$"):
        V.check_positive_int(value, "epochs")


def test_check_positive_int_appends_the_hint():
    with pytest.raises(ValueError, match=r"^k must be a positive integer; got 0\. Try k=100\.$"):
        V.check_positive_int(0, "k", hint="Try k=100.")


@pytest.mark.parametrize("value", [0, 3, np.int32(2)])
def test_check_nonnegative_int_accepts_zero_and_up(value):
    out = V.check_nonnegative_int(value, "kl_warmup_epochs")
    assert out == int(value) and type(out) is int


@pytest.mark.parametrize("value", [-1, 1.5, 0.0, *NOT_NUMBERS])
def test_check_nonnegative_int_refuses_the_rest(value):
    with pytest.raises(ValueError, match=rf"^kl_warmup_epochs must be a non-negative integer; got "
                                         rf"{re.escape(repr(value))}\. Use 0 for no warm-up\.$"):
        V.check_nonnegative_int(value, "kl_warmup_epochs", hint="Use 0 for no warm-up.")


@pytest.mark.parametrize("value, minimum", [(2, 2), (5, 2), (0, 0)])
def test_check_int_at_least_accepts_the_minimum_and_up(value, minimum):
    assert V.check_int_at_least(value, "steps", minimum) == value


@pytest.mark.parametrize("value", [1, 2.0, True, None])
def test_check_int_at_least_refuses_the_rest(value):
    with pytest.raises(ValueError, match=rf"^steps must be an integer >= 2; got {re.escape(repr(value))}\.$"):
        V.check_int_at_least(value, "steps", 2)


# ---------------------------------------------------------------- reals
@pytest.mark.parametrize("value", [1e-8, 0.5, 3, np.float32(2.0)])
def test_check_positive_float_accepts_finite_positive_reals(value):
    out = V.check_positive_float(value, "learning_rate")
    assert out == float(value) and type(out) is float


@pytest.mark.parametrize("value", [0.0, -1.0, math.inf, math.nan, *NOT_NUMBERS])
def test_check_positive_float_refuses_the_rest(value):
    with pytest.raises(ValueError, match=rf"^learning_rate must be a positive finite number; got "
                                         rf"{re.escape(repr(value))}\.$"):
        V.check_positive_float(value, "learning_rate")


def test_check_positive_float_appends_the_hint():
    with pytest.raises(ValueError, match=r"^noise_level must be a positive finite number; got -0\.1\. It is σ\.$"):
        V.check_positive_float(-0.1, "noise_level", hint="It is σ.")


@pytest.mark.parametrize("value", [0.0, 0, 2.5])
def test_check_nonnegative_float_accepts_zero_and_up(value):
    assert V.check_nonnegative_float(value, "beta") == float(value)


@pytest.mark.parametrize("value", [-1e-12, -math.inf, math.inf, math.nan, *NOT_NUMBERS])
def test_check_nonnegative_float_refuses_the_rest(value):
    with pytest.raises(ValueError, match=rf"^beta must be a non-negative finite number; got "
                                         rf"{re.escape(repr(value))}\.$"):
        V.check_nonnegative_float(value, "beta")


@pytest.mark.parametrize("value", [0, 0.0, 0.25, 1.0])
def test_check_fraction_accepts_the_closed_unit_interval(value):
    assert V.check_fraction(value, "rate") == float(value)


@pytest.mark.parametrize("value", [-0.01, 1.5, math.nan, math.inf, *NOT_NUMBERS])
def test_check_fraction_refuses_the_rest(value):
    with pytest.raises(ValueError, match=rf"^rate must be a fraction in \[0, 1\]; got {re.escape(repr(value))}\. "
                                         r"A typical value is 0\.25\.$"):
        V.check_fraction(value, "rate", hint="A typical value is 0.25.")


@pytest.mark.parametrize("value", [1e-9, 0.05, 0.999])
def test_check_open_fraction_accepts_the_open_unit_interval(value):
    assert V.check_open_fraction(value, "target_sparsity") == value


@pytest.mark.parametrize("value", [0.0, 1.0, -0.5, 2.0, math.nan, *NOT_NUMBERS])
def test_check_open_fraction_refuses_the_rest(value):
    with pytest.raises(ValueError, match=rf"^target_sparsity must be a number strictly between 0 and 1; got "
                                         rf"{re.escape(repr(value))}\.$"):
        V.check_open_fraction(value, "target_sparsity")


@pytest.mark.parametrize("value, kwargs", [(0.25, {}), (0.5, {"include_high": True}), (0.0, {"include_low": True})])
def test_check_float_in_range_accepts_values_inside_and_included_ends(value, kwargs):
    assert V.check_float_in_range(value, "contamination", 0.0, 0.5, **kwargs) == value


@pytest.mark.parametrize("value", [0.0, 0.6, math.nan, True, None])
def test_check_float_in_range_writes_the_interval_in_the_message(value):
    with pytest.raises(ValueError, match=rf"^contamination must be in \(0, 0\.5\]; got {re.escape(repr(value))}\.$"):
        V.check_float_in_range(value, "contamination", 0.0, 0.5, include_high=True)


def test_check_finite_or_none_passes_none_and_converts_reals():
    assert V.check_finite_or_none(None, "low") is None
    out = V.check_finite_or_none(np.float32(0.5), "low")
    assert out == 0.5 and type(out) is float
    assert V.check_finite_or_none(-3, "high") == -3.0


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan, "0", True])
def test_check_finite_or_none_refuses_the_rest(value):
    with pytest.raises(ValueError, match=rf"^low must be a finite number or None; got {re.escape(repr(value))}\.$"):
        V.check_finite_or_none(value, "low")


@pytest.mark.parametrize("low, high", [(0.0, 1.0), (0.5, 0.5), (None, 1.0), (0.0, None), (None, None)])
def test_check_ordered_range_accepts_ordered_or_open_ends(low, high):
    assert V.check_ordered_range(low, high) is None


def test_check_ordered_range_refuses_low_above_high():
    with pytest.raises(ValueError, match=r"^low must not exceed high; got low=1\.0, high=0\.0\. "
                                         r"Pass the data range, e\.g\. low=0\.0, high=1\.0\.$"):
        V.check_ordered_range(1.0, 0.0)


@pytest.mark.parametrize("value, expected", [(0, 0), (1, 1), (2, 2), (False, 0), (True, 1)])
def test_check_verbose_accepts_0_1_2_and_bools(value, expected):
    assert V.check_verbose(value) == expected


@pytest.mark.parametrize("value", [3, -1, "1", None, 0.5])
def test_check_verbose_refuses_the_rest(value):
    with pytest.raises(ValueError, match=rf"^verbose must be 0, 1 or 2; got {re.escape(repr(value))}\.$"):
        V.check_verbose(value)


# ---------------------------------------------------------------- hidden sizes
@pytest.mark.parametrize("value, expected", [((64, 32), (64, 32)), ([8], (8,)), (16, (16,)), ((), ()),
                                             ((np.int64(4),), (4,))])
def test_check_hidden_sizes_returns_a_tuple_of_ints(value, expected):
    out = V.check_hidden_sizes(value)
    assert out == expected and all(type(s) is int for s in out)


def test_check_hidden_sizes_takes_a_numpy_grid_as_python_ints():
    out = V.check_hidden_sizes(np.arange(16, 64, 16))
    assert out == (16, 32, 48) and all(type(s) is int for s in out)


@pytest.mark.parametrize("value", ["64", b"64", {64: 1}, {64}, frozenset({8}), np.ones((2, 2), dtype=int)])
def test_check_hidden_sizes_refuses_text_mappings_sets_and_2d_arrays(value):
    with pytest.raises(ValueError, match=r"^hidden_sizes must be a sequence of positive integers; got "):
        V.check_hidden_sizes(value)


def test_check_hidden_sizes_refuses_non_sequences_and_bad_entries():
    with pytest.raises(ValueError, match=r"^hidden_sizes must be a sequence of positive integers; got 2\.5\.$"):
        V.check_hidden_sizes(2.5)
    with pytest.raises(ValueError, match=r"^each entry of hidden_sizes must be a positive integer; got 0\.$"):
        V.check_hidden_sizes((8, 0))
    with pytest.raises(ValueError, match=r"^each entry of sizes must be a positive integer; got True\.$"):
        V.check_hidden_sizes((True,), name="sizes")


# ---------------------------------------------------------------- arrays
def test_check_array_moves_host_data_to_the_backend_in_the_dtype(xp):
    X, kind = V.check_array(np.arange(6).reshape(2, 3), backend=xp, dtype="float32")
    assert kind == "numpy" and B.backend_of(X).name == xp.name and B.dtype_name(X.dtype) == "float32"
    np.testing.assert_array_equal(B.to_numpy(X), np.arange(6).reshape(2, 3))
    X, kind = V.check_array([[0.5, 1.0]], backend=xp, dtype="float64")
    assert kind == "sequence" and tuple(X.shape) == (1, 2) and B.dtype_name(X.dtype) == "float64"
    _, kind = V.check_array(X, backend=xp, dtype="float64")
    assert kind == xp.name  # an array of the backend itself ("numpy" on NumPy)


def test_check_array_refuses_an_array_of_another_backend():
    pytest.importorskip("array_api_strict")
    strict = B.asarray(np.ones((2, 3)), dtype="float32", backend=B.get_backend("array_api_strict"))
    with pytest.raises(TypeError, match=r"^X is an array_api_strict array but this Autoencoder runs on the 'numpy' "
                                        r"backend\. Pass a NumPy array \(convert with npae\.to_numpy\(X\)\)"):
        V.check_array(strict, backend=B.get_backend("numpy"), dtype="float32", estimator_name="Autoencoder")


@pytest.mark.parametrize("X, what", [
    (np.ones((2, 3), dtype=bool), "boolean"),
    (np.full((2, 3), "a"), "string"),
    (np.full((2, 3), 0.5, dtype=object), "object"),
])
def test_check_array_refuses_non_real_dtypes_by_name(X, what):
    with pytest.raises(TypeError, match=rf"^Z has {what} dtype; expected real numbers \(float or int\)\. "
                                        r"Convert it first, e\.g\. Z\.astype\('float32'\)\.$"):
        V.check_array(X, backend=B.get_backend("numpy"), dtype="float32", name="Z")


def test_check_array_refuses_complex_data_as_a_type_error_that_is_also_a_value_error():
    with pytest.raises(V.ComplexDataError, match=r"^Z has complex dtype; expected real numbers \(float or int\)\. "
                                                 r"Complex data not supported: .*Z\.real or abs\(Z\)"):
        V.check_array(np.ones((2, 3), dtype=complex), backend=B.get_backend("numpy"), dtype="float32", name="Z")
    assert issubclass(V.ComplexDataError, TypeError) and issubclass(V.ComplexDataError, ValueError)


@pytest.mark.parametrize("fmt", ["csr_matrix", "csr_array", "coo_matrix"])
def test_check_array_says_sparse_is_not_supported_and_how_to_densify(fmt):
    sparse = pytest.importorskip("scipy.sparse")
    X = getattr(sparse, fmt)(np.eye(3))
    with pytest.raises(TypeError, match=r"^Sparse data was passed for X, but dense data is required.*X\.toarray\(\)"):
        V.check_array(X, backend=B.get_backend("numpy"), dtype="float32")


def test_check_array_refuses_a_masked_array_with_masked_entries():
    X = np.ma.masked_array(np.arange(6.0).reshape(2, 3), mask=[[0, 1, 0], [0, 0, 0]])
    with pytest.raises(ValueError, match=r"^X is a masked array with 1 masked entry; npae does not honour masks.*"
                                         r"X\.filled\("):
        V.check_array(X, backend=B.get_backend("numpy"), dtype="float32")
    X.mask[1] = True
    with pytest.raises(ValueError, match="with 4 masked entries"):
        V.check_array(X, backend=B.get_backend("numpy"), dtype="float32")


def test_check_array_takes_a_masked_array_without_masked_entries_as_its_data():
    X = np.ma.masked_array(np.arange(6.0).reshape(2, 3))
    Xb, _ = V.check_array(X, backend=B.get_backend("numpy"), dtype="float64")
    np.testing.assert_array_equal(Xb, np.arange(6.0).reshape(2, 3))


@pytest.mark.parametrize("dtype, big", [("float32", 1e20), ("float64", 1e160)])
def test_check_squares_finite_names_the_data_as_the_cause_of_an_overflow(xp, dtype, big):
    X = B.asarray(np.array([[0.5, big], [0.1, 0.2]]), dtype=dtype, backend=xp)
    largest = re.escape(f"{big:.3g}")
    with pytest.raises(ValueError, match=rf"^Input X has values up to {largest} in absolute value: a row's sum of "
                                         rf"squares overflows {dtype} .*whatever the learning rate"):
        V.check_squares_finite(X)


def test_check_squares_finite_accepts_large_values_whose_squares_fit(xp):
    V.check_squares_finite(B.asarray(np.array([[1e18, -1e18]]), dtype="float32", backend=xp))  # 2e36 < 3.4e38
    V.check_squares_finite(B.asarray(np.array([[1e20, 0.0]]), dtype="float64", backend=xp))


def test_check_array_refuses_wrong_shapes_with_scikit_learn_wording():
    numpy = B.get_backend("numpy")
    with pytest.raises(ValueError, match=r"^Expected 2D array, got 1D array instead: shape=\(4,\)\. Reshape your "
                                         r"data either using X\.reshape\(-1, 1\)"):
        V.check_array(np.ones(4), backend=numpy, dtype="float32")
    with pytest.raises(ValueError, match=r"^Expected 2D array, got 3D array instead: shape=\(2, 3, 4\)\. "
                                         r"Flatten each sample"):
        V.check_array(np.ones((2, 3, 4)), backend=numpy, dtype="float32")
    with pytest.raises(ValueError, match=r"^Found array with 0 sample\(s\) \(shape=\(0, 3\)\) while a minimum of 1 "
                                         r"is required\.$"):
        V.check_array(np.ones((0, 3)), backend=numpy, dtype="float32")
    assert V.check_array(np.ones((0, 3)), backend=numpy, dtype="float32", allow_empty=True)[0].shape == (0, 3)
    with pytest.raises(ValueError, match=r"^Found array with 0 feature\(s\) \(shape=\(2, 0\)\)"):
        V.check_array(np.ones((2, 0)), backend=numpy, dtype="float32")
    with pytest.raises(ValueError, match=r"^X has 3 features, but VAE is expecting 4 features as input\.$"):
        V.check_array(np.ones((2, 3)), backend=numpy, dtype="float32", n_features=4, estimator_name="VAE")


def test_check_array_locates_the_first_nan_or_infinity(xp):
    X = np.zeros((3, 4))
    X[1, 2], X[2, 0] = np.nan, np.inf
    with pytest.raises(ValueError, match=r"^Input X contains NaN \(first at row 1, column 2\)\. Remove or impute"):
        V.check_array(X, backend=xp, dtype="float64")
    X[1, 2] = 0.0
    with pytest.raises(ValueError, match=r"^Input X contains infinity or a value too large for "
                                         r"dtype\('float32'\) \(first at row 2, column 0\)\.$"):
        V.check_array(X, backend=xp, dtype="float32")


def test_check_array_accepts_finite_rows_whose_sum_overflows_and_refuses_inf_minus_inf(xp):
    """The finiteness check sums first; a sum that overflows (finite entries) is checked entry by entry."""
    big = np.full((4, 1000), 3e38)
    X, _ = V.check_array(big, backend=xp, dtype="float32")
    assert B.to_numpy(X).shape == (4, 1000)
    with pytest.raises(ValueError, match=r"^Input X contains infinity .* \(first at row 0, column 1\)"):
        V.check_array(np.array([[1.0, np.inf, -np.inf]]), backend=xp, dtype="float64")


def test_check_in_unit_interval_accepts_the_unit_interval_and_quotes_min_and_max(xp):
    V.check_in_unit_interval(B.asarray(np.array([[0.0, 1.0]]), backend=xp), "X", "Autoencoder with loss='bce'")
    bad = B.asarray(np.array([[-0.5, 255.0]]), backend=xp)
    with pytest.raises(ValueError, match=r"^Autoencoder with loss='bce' expects X in \[0, 1\]; got min=-0\.5, "
                                         r"max=255\. Scale it first, e\.g\. X / 255\.0 for 8-bit images, or use "
                                         r"loss='mse'\.$"):
        V.check_in_unit_interval(bad, "X", "Autoencoder with loss='bce'")
    with pytest.raises(ValueError, match=r"or use likelihood='gaussian'\.$"):
        V.check_in_unit_interval(bad, "X", "VAE with likelihood='bernoulli'", alternative="likelihood='gaussian'")


def test_restore_kind_returns_numpy_for_host_inputs_and_backend_arrays_otherwise(xp):
    X = B.asarray(np.ones((2, 2)), backend=xp)
    for kind in ("numpy", "sequence"):
        assert isinstance(V.restore_kind(X, kind), np.ndarray)
    if xp.name != "numpy":
        assert V.restore_kind(X, xp.name) is X


def test_check_in_unit_interval_accepts_float_rounding_at_the_bounds_and_prints_the_real_value(xp):
    one_up = np.nextafter(np.float32(1), np.float32(2))  # 1.0000001, as MinMaxScaler gives in float32
    V.check_in_unit_interval(B.asarray(np.array([[-0.0, one_up]], dtype=np.float32), backend=xp), "X", "AE")
    V.check_in_unit_interval(B.asarray(np.array([[-1e-7, 1 + 4e-7]]), backend=xp), "X", "AE")
    above = B.asarray(np.array([[0.0, 1.00001]], dtype=np.float32), backend=xp)
    with pytest.raises(ValueError, match=r"got min=0, max=1\.00001\. "):
        V.check_in_unit_interval(above, "X", "AE")
    below = B.asarray(np.array([[-2e-6, 1.0]]), backend=xp)
    with pytest.raises(ValueError, match=r"got min=-2e-06, max=1\. "):
        V.check_in_unit_interval(below, "X", "AE")


def test_shortest_repr_shows_the_digits_that_tell_a_value_apart_in_its_dtype():
    one_up = float(np.nextafter(np.float32(1), np.float32(2)))
    assert V.shortest_repr(one_up, np.float32) == "1.0000001"
    assert V.shortest_repr(one_up, np.float64) == repr(one_up)
    assert V.shortest_repr(255.0, "float32") == "255" and V.shortest_repr(-0.5) == "-0.5"


def test_bce_models_accept_minmax_scaled_float32_data():
    import npae
    from sklearn.preprocessing import MinMaxScaler

    X = MinMaxScaler().fit_transform(np.random.default_rng(0).uniform(size=(50, 4)).astype(np.float32))
    X[0, 0] = np.nextafter(np.float32(1), np.float32(2))
    model = npae.Autoencoder(hidden_sizes=(3,), latent_dim=2, epochs=1, verbose=0, random_state=0).fit(X)
    assert np.isfinite(model.score(X))
    assert np.all(np.isfinite(npae.VAE(hidden_sizes=(3,), latent_dim=2, epochs=1, verbose=0).fit(X).elbo(X)))


# ---------------------------------------------------------------- dtypes named as they are
def test_dataframes_with_numeric_and_nullable_columns_are_read_as_numbers():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"a": pd.array([0.25, 0.5], dtype="Float32"), "b": pd.array([1, 2], dtype="Int64"),
                          "c": np.array([0.1, 0.2], dtype=np.float32)})
    X, kind = V.check_array(frame, backend=B.get_backend("numpy"), dtype="float32")
    np.testing.assert_array_equal(X, np.array([[0.25, 1, 0.1], [0.5, 2, 0.2]], dtype=np.float32))
    assert kind == "numpy"
    missing = pd.DataFrame({"a": pd.array([0.25, None], dtype="Float32")})
    with pytest.raises(ValueError, match=r"^Input X contains NaN \(first at row 1, column 0\)"):
        V.check_array(missing, backend=B.get_backend("numpy"), dtype="float32")


def test_dataframes_with_non_numeric_columns_name_them_and_their_dtypes():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"flag": [True, False], "x": [0.5, 0.1], "kind": pd.Categorical(["u", "v"])})
    with pytest.raises(TypeError, match=r"^X is a DataFrame with 2 column\(s\) that are not real numbers: 'flag' "
                                        r"\(bool\), 'kind' \(category\); expected float or int columns\. Convert "
                                        r"them first, e\.g\. X\.astype\('float32'\)"):
        V.check_array(frame, backend=B.get_backend("numpy"), dtype="float32")


def test_bfloat16_arrays_are_named_as_bfloat16_not_void():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    X = np.ones((2, 3), dtype=ml_dtypes.bfloat16)
    with pytest.raises(TypeError, match=r"^X has dtype bfloat16, which NumPy only stores .* Convert it first, "
                                        r"e\.g\. X\.astype\('float32'\)"):
        V.check_array(X, backend=B.get_backend("numpy"), dtype="float32")
    structured = np.zeros(3, dtype=[("a", "f4"), ("b", "f4")]).reshape(3, 1)
    with pytest.raises(TypeError, match=r"^X has void dtype"):
        V.check_array(structured, backend=B.get_backend("numpy"), dtype="float32")


def test_the_finite_check_proves_finiteness_by_a_sum_and_checks_entries_only_when_it_overflows():
    big = np.full((1000,), 3e38, dtype=np.float32)  # finite entries whose sum overflows float32
    assert V.all_finite([big, np.ones(3, np.float32)])
    for bad in (np.nan, np.inf, -np.inf):
        arrays = [np.ones((4, 5), np.float32), np.zeros(7, np.float32)]
        arrays[1][3] = bad
        assert not V.all_finite(arrays)
    plus_minus = np.array([np.inf, -np.inf], dtype=np.float32)  # inf − inf: the sum is NaN, still caught
    assert not V.all_finite([plus_minus])
    assert V.all_finite([])


# ---------------------------------------------------------------- random_state
@pytest.mark.parametrize("value", [None, 0, 42, np.int64(3)])
def test_check_seed_returns_a_generator(value):
    assert isinstance(V.check_seed(value), np.random.Generator)


def test_check_seed_returns_a_given_generator_itself():
    rng = np.random.default_rng(0)
    assert V.check_seed(rng) is rng


@pytest.mark.parametrize("value", [-1, np.int64(-5)])
def test_check_seed_names_a_negative_seed_and_the_fix(value):
    with pytest.raises(ValueError, match=r"^random_state must be None, a non-negative int or a "
                                         r"numpy\.random\.Generator; got " + re.escape(repr(value))
                                         + r"\. Pass a seed such as 0"):
        V.check_seed(value)
