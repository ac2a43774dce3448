"""Every model, every public entry point: bad input gets a clear error and changes nothing."""

import numpy as np
import pytest
from scipy import sparse

import npae
from npae import backend as B

COMMON = {"hidden_sizes": (6,), "latent_dim": 2, "epochs": 2, "batch_size": 8, "random_state": 0, "verbose": 0}
MODELS = {
    "ae": lambda: npae.Autoencoder(**COMMON),
    "sparse": lambda: npae.SparseAutoencoder(**COMMON, sparsity="kl", latent_activation="sigmoid"),
    "denoising": lambda: npae.DenoisingAutoencoder(**COMMON, noise="masking", noise_level=0.3),
    "contractive": lambda: npae.ContractiveAutoencoder(**COMMON, activation="tanh"),
    "vae": lambda: npae.VAE(**COMMON),
}
D = 5

BAD_X = [
    ("1-D", np.full(D, 0.5), ValueError, "Expected 2D array, got 1D array"),
    ("3-D", np.full((2, D, 1), 0.5), ValueError, "Expected 2D array, got 3D array"),
    ("no rows", np.zeros((0, D)), ValueError, "0 sample"),
    ("no features", np.zeros((3, 0)), ValueError, "0 feature"),
    ("NaN", np.where(np.arange(3 * D).reshape(3, D) == 7, np.nan, 0.5), ValueError, r"NaN \(first at row 1, column 2\)"),
    ("inf", np.where(np.arange(3 * D).reshape(3, D) == 4, -np.inf, 0.5), ValueError, "infinity"),
    ("object", np.full((3, D), 0.5, dtype=object), TypeError, "object dtype"),
    ("strings", np.full((3, D), "x"), TypeError, "string dtype"),
    ("complex", np.full((3, D), 0.5 + 1j), TypeError, "complex dtype"),
    ("bool", np.ones((3, D), dtype=bool), TypeError, "boolean dtype"),
    ("width", np.full((3, D + 1), 0.5), ValueError, f"has {D + 1} features, but .* is expecting {D} features"),
    ("range", np.full((3, D), 3.0), ValueError, r"in \[0, 1\]; got min=3, max=3"),
    ("sparse", sparse.csr_matrix(np.full((3, D), 0.5)), TypeError,
     r"Sparse data was passed for X, but dense data is required.*X\.toarray\(\)"),
    ("masked", np.ma.masked_array(np.full((3, D), 0.5), mask=np.arange(3 * D).reshape(3, D) == 4), ValueError,
     r"X is a masked array with 1 masked entry; npae does not honour masks"),
]
ENTRY_POINTS = ["fit", "partial_fit", "loss_and_grad", "transform", "reconstruct", "score_samples"]


@pytest.fixture(scope="module")
def data():
    return np.random.default_rng(0).random((24, D))


def _fitted(name, data):
    return MODELS[name]().fit(data)


def _state(model):
    return {k: B.to_numpy(v).copy() for k, v in model.parameters().items()}, {k: list(v) for k, v in model.history_.items()}


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("label, X, error, message", BAD_X, ids=[b[0] for b in BAD_X])
def test_bad_x_is_refused_everywhere_and_the_model_is_unchanged(name, data, label, X, error, message):
    model = _fitted(name, data)
    params, history = _state(model)
    for method in ENTRY_POINTS:
        if label == "range" and method in ("transform", "reconstruct"):
            continue  # encoding out-of-range data is allowed; only the likelihood needs [0, 1]
        if label == "width" and method == "fit":
            continue  # a fresh fit may change width (scikit-learn); partial_fit may not
        with pytest.raises(error, match=message):
            getattr(model, method)(X)
    after_params, after_history = _state(model)
    assert after_history == history
    for k in params:
        np.testing.assert_array_equal(after_params[k], params[k])


@pytest.mark.parametrize("name", list(MODELS))
def test_inverse_transform_checks_the_code_width(name, data):
    model = _fitted(name, data)
    with pytest.raises(ValueError, match="Z has 3 features, but .* is expecting 2"):
        model.inverse_transform(np.zeros((4, 3)))


@pytest.mark.parametrize("name", list(MODELS))
def test_unfitted_models_say_call_fit(name, data):
    from sklearn.exceptions import NotFittedError

    for method in ("transform", "reconstruct", "score_samples", "inverse_transform"):
        with pytest.raises(NotFittedError, match="is not fitted yet"):
            getattr(MODELS[name](), method)(data)


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("param, value, message", [
    ("epochs", 0, "epochs must be a positive integer"),
    ("batch_size", 2.5, "batch_size must be a positive integer"),
    ("learning_rate", -1e-3, "learning_rate must be a positive finite number"),
    ("latent_dim", 0, "latent_dim must be a positive integer"),
    ("activation", "tahn", "Did you mean 'tanh'"),
    ("optimizer", "adamm", "Did you mean 'adam'"),
    ("random_state", -1, r"random_state must be None, a non-negative int or a numpy\.random\.Generator; "
                         r"got -1\. Pass a seed such as 0"),
])
def test_bad_hyperparameters_leave_a_fitted_model_unchanged(name, data, param, value, message):
    model = _fitted(name, data)
    params, history = _state(model)
    model.set_params(**{param: value})
    with pytest.raises(ValueError, match=message):
        model.fit(data)
    after_params, after_history = _state(model)
    assert after_history == history
    for k in params:
        np.testing.assert_array_equal(after_params[k], params[k])


@pytest.mark.parametrize("name", list(MODELS))
def test_a_keras_style_validation_tuple_is_refused_naming_what_to_pass(name, data):
    model = _fitted(name, data)
    params, history = _state(model)
    with pytest.raises(TypeError, match=r"validation_data must be one array-like of shape \(N_val, D\).*got a "
                                        r"tuple of 2 arrays.*pass validation_data=X_val\."):
        model.fit(data, validation_data=(data, data))
    after_params, after_history = _state(model)
    assert after_history == history
    for k in params:
        np.testing.assert_array_equal(after_params[k], params[k])


def test_validation_rows_given_as_a_tuple_are_still_an_array_like(data):
    model = MODELS["ae"]().fit(data, validation_data=(data[0], data[1]))
    assert len(model.history_["val_loss"]) == COMMON["epochs"]


@pytest.mark.parametrize("name", ["ae", "vae"])
def test_out_of_range_validation_data_is_named_as_validation_data(name, data):
    """BCE / Bernoulli models need [0, 1]: the message names the argument at fault, not X."""
    with pytest.raises(ValueError, match=r"expects validation_data in \[0, 1\]"):
        MODELS[name]().fit(data, validation_data=3.0 * data)
    with pytest.raises(ValueError, match=r"expects X in \[0, 1\]"):
        MODELS[name]().fit(3.0 * data, validation_data=data)


def test_corrupt_names_a_negative_random_state(data):
    model = _fitted("denoising", data)
    with pytest.raises(ValueError, match=r"random_state must be None, a non-negative int"):
        model.corrupt(data, random_state=-3)


@pytest.mark.parametrize("name", list(MODELS))
def test_input_on_another_backend_is_refused(name, data):
    model = _fitted(name, data)
    with pytest.raises(TypeError, match="array_api_strict array but this .* runs on the 'numpy' backend"):
        model.transform(B.asarray(data, backend="array_api_strict"))


def test_vae_eps_of_the_wrong_shape_is_refused(data):
    vae = _fitted("vae", data)
    params, _ = _state(vae)
    with pytest.raises(ValueError, match=r"eps"):
        vae.loss_and_grad(data, eps=np.zeros((len(data), 3)))
    for k, v in _state(vae)[0].items():
        np.testing.assert_array_equal(v, params[k])


def test_denoiser_target_of_the_wrong_shape_is_refused(data):
    dae = _fitted("denoising", data)
    with pytest.raises(ValueError, match="target"):
        dae.loss_and_grad(data, target=data[:3])


@pytest.mark.parametrize("bad", [0, -3, 2.5])
def test_vae_sample_count_must_be_positive(data, bad):
    with pytest.raises(ValueError):
        _fitted("vae", data).sample(bad)


MSE_MODELS = {
    "ae": lambda: npae.Autoencoder(**COMMON, loss="mse"),
    "sparse": lambda: npae.SparseAutoencoder(**COMMON, loss="mse"),
    "denoising": lambda: npae.DenoisingAutoencoder(**COMMON, loss="mse", noise="gaussian", noise_level=0.1),
    "contractive": lambda: npae.ContractiveAutoencoder(**COMMON, loss="mse", activation="tanh"),
    "vae": lambda: npae.VAE(**COMMON, likelihood="gaussian"),
}


@pytest.mark.parametrize("name", list(MSE_MODELS))
def test_data_whose_squares_overflow_float32_is_named_as_the_cause(name, data):
    huge = data.copy()
    huge[2, 3] = 3e19  # a float32 number whose square (9e38) is not
    message = (r"Input X has values up to 3e\+19 in absolute value: a row's sum of squares overflows float32 .*"
               r"whatever the learning rate\. Scale it first .*or use dtype='float64'")
    with pytest.raises(ValueError, match=message):
        MSE_MODELS[name]().fit(huge)
    model = MSE_MODELS[name]().fit(data)
    params, history = _state(model)
    with pytest.raises(ValueError, match=message):
        model.partial_fit(huge)
    with pytest.raises(ValueError, match=message):
        model.set_params(warm_start=True).fit(huge)
    after_params, after_history = _state(model)
    assert after_history == history
    for k in params:
        np.testing.assert_array_equal(after_params[k], params[k])
    assert model.score_samples(huge).shape == (len(huge),)  # scoring is not refused: such rows score low


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("param, value", [("latent_dim", 2**63), ("hidden_sizes", (2**62,))])
def test_widths_no_machine_can_allocate_are_refused_before_allocating(name, data, param, value):
    model = _fitted(name, data)
    params, history = _state(model)
    model.set_params(**{param: value})
    for method in ("fit", "partial_fit", "loss_and_grad"):
        fresh = MODELS[name]().set_params(**{param: value})
        with pytest.raises(ValueError, match=r"needs a \d+ x \d+ weight matrix .* more than any machine can "
                                             r"allocate\. Use smaller widths"):
            getattr(fresh, method)(data)
    with pytest.raises(ValueError, match="more than any machine can allocate"):
        model.fit(data)
    after_params, after_history = _state(model)
    assert after_history == history
    for k in params:
        np.testing.assert_array_equal(after_params[k], params[k])
