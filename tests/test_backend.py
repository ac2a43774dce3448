import importlib.util
import sys

import numpy as np
import pytest

import npae
from npae import backend as B
from tests.helpers import M64, spec_row_seed, splitmix64


def test_default_backend_is_numpy_and_env_var_selects(monkeypatch):
    monkeypatch.setattr(B, "_active", None)
    monkeypatch.setenv("NPAE_BACKEND", "array_api_strict")
    assert npae.get_backend().name == "array_api_strict"
    monkeypatch.setattr(B, "_active", None)
    monkeypatch.delenv("NPAE_BACKEND")
    assert npae.get_backend().name == "numpy"


def test_backend_object_has_name_xp_device(xp):
    assert xp.name in B.BACKENDS
    a = B.asarray(np.ones((2, 3)), dtype="float32")
    assert a.dtype == xp.xp.float32
    assert B.backend_of(a).name == xp.name


def test_strict_backend_lives_on_device1():
    import array_api_strict

    backend = B.get_backend("array_api_strict")
    assert backend.device == array_api_strict.Device("device1")
    a = B.asarray(np.arange(3.0), backend=backend)
    with pytest.raises(RuntimeError):
        np.asarray(a)  # the mistake CuPy would reject is loud here too
    np.testing.assert_array_equal(B.to_numpy(a), np.arange(3.0))


def test_unknown_backend_lists_valid_names_and_suggests():
    with pytest.raises(ValueError, match=r"Unknown backend 'nupmy'.*'numpy', 'cupy'.*Did you mean 'numpy'"):
        npae.set_backend("nupmy")


@pytest.mark.skipif(importlib.util.find_spec("cupy") is not None, reason="CuPy is installed here")
def test_cupy_missing_says_how_to_install():
    with pytest.raises(B.BackendUnavailableError, match=r'pip install "npae\[gpu\]"') as info:
        npae.set_backend("cupy")
    assert isinstance(info.value.__cause__, ImportError)


def test_cupy_without_device_says_no_cuda(monkeypatch):
    fake = type(sys)("cupy")
    fake.is_available = lambda: False
    monkeypatch.setitem(sys.modules, "cupy", fake)
    monkeypatch.setattr(B, "_cache", {})
    with pytest.raises(B.BackendUnavailableError, match=r"cupy.is_available\(\) is False: no CUDA device"):
        B.get_backend("cupy")


def test_round_trip_host_device_host(xp, rng):
    host = rng.standard_normal((4, 5))
    for dtype in ("float32", "float64"):
        dev = B.asarray(host, dtype=dtype)
        back = B.to_numpy(dev)
        assert back.dtype == np.dtype(dtype)
        np.testing.assert_allclose(back, host.astype(dtype))


def test_same_seed_gives_same_numbers_on_every_backend(xp):
    a = B.to_numpy(B.standard_normal(np.random.default_rng(3), (3, 4), dtype=xp.xp.float64, backend=xp))
    b = B.standard_normal(np.random.default_rng(3), (3, 4), dtype="float64", backend=B.get_backend("numpy"))
    np.testing.assert_array_equal(a, b)
    u = B.to_numpy(B.uniform(np.random.default_rng(3), (100,), dtype=xp.xp.float32, backend=xp))
    assert u.dtype == np.float32 and 0.0 <= u.min() and u.max() < 1.0


def test_check_random_state_accepts_none_int_generator_and_refuses_others():
    g = np.random.default_rng(1)
    assert B.check_random_state(g) is g
    assert B.check_random_state(5).integers(1000) == np.random.default_rng(5).integers(1000)
    assert isinstance(B.check_random_state(None), np.random.Generator)
    with pytest.raises(TypeError, match="random_state must be None, an int or a numpy.random.Generator"):
        B.check_random_state("seed")


def test_available_backends_reports_reasons():
    status = B.available_backends()
    assert status["numpy"] == "ok" and status["array_api_strict"] == "ok"
    assert set(status) == set(B.BACKENDS)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_standard_normal_draws_standard_normals(dtype):
    stats = pytest.importorskip("scipy.stats")
    eps = B.standard_normal(np.random.default_rng(0), (400, 501), dtype=dtype, backend=B.get_backend("numpy"))
    assert eps.shape == (400, 501) and eps.dtype == np.dtype(dtype)
    flat = eps.astype(np.float64).ravel()
    n = flat.size
    assert abs(flat.mean()) < 4 / np.sqrt(n)
    assert abs(flat.std() - 1.0) < 4 / np.sqrt(2 * n)
    assert abs(np.mean(flat**4) - 3.0) < 4 * np.sqrt(96 / n)  # Var(ε⁴) = 105 − 9 = 96
    assert stats.kstest(flat, "norm").pvalue > 1e-3
    pairs = flat[: 2 * (n // 2)].reshape(-1, 2).T  # the cos and sin of each pair are uncorrelated
    assert abs(np.corrcoef(pairs)[0, 1]) < 4 / np.sqrt(n / 2)


def test_standard_normal_of_an_even_count_in_two_draws_equals_one_draw():
    numpy = B.get_backend("numpy")
    rng = np.random.default_rng(4)
    parts = [B.standard_normal(rng, (3, 4), dtype="float64", backend=numpy) for _ in range(2)]
    whole = B.standard_normal(np.random.default_rng(4), (6, 4), dtype="float64", backend=numpy)
    np.testing.assert_array_equal(np.concatenate(parts), whole)


def test_standard_normal_tail_is_bounded_and_finite_in_float32():
    eps = B.standard_normal(np.random.default_rng(3), (1000, 1000), dtype="float32", backend=B.get_backend("numpy"))
    assert np.all(np.isfinite(eps))
    assert np.max(np.abs(eps)) <= np.sqrt(2 * 24 * np.log(2)) + 1e-5


@pytest.mark.parametrize("shape", [(7, 3), (5,), (1, 1), (2, 3, 4)])
def test_standard_normal_gives_the_same_numbers_on_every_backend(xp, shape):
    host = B.standard_normal(np.random.default_rng(5), shape, dtype="float32", backend=B.get_backend("numpy"))
    there = B.standard_normal(np.random.default_rng(5), shape, dtype="float32", backend=xp)
    assert tuple(there.shape) == shape and B.backend_of(there).name == xp.name
    np.testing.assert_array_equal(B.to_numpy(there), host)


# ---------------------------------------------------------------- settings reach workers (issue 21, item 8)
def _kernel_mode_probe(estimator, X, y=None):
    """A scorer run in the worker: 1.0 when the worker fitted and scored in reference mode on the
    parent's backend."""
    on_strict = estimator.backend_.name == "array_api_strict"
    return float(npae.get_kernels() == "reference" and B.get_backend().name == "array_api_strict" and on_strict)


def test_cross_validate_workers_use_the_callers_backend_and_kernel_mode():
    from sklearn.model_selection import cross_validate

    X = np.random.default_rng(0).random((40, 5))
    model = npae.Autoencoder(hidden_sizes=(3,), latent_dim=2, epochs=1, batch_size=20, verbose=0, random_state=0)
    previous = B.get_backend().name
    B.set_backend("array_api_strict")
    npae.set_kernels("reference")
    try:
        result = cross_validate(model, X, cv=2, n_jobs=2, scoring=_kernel_mode_probe, return_estimator=True)
        serial = cross_validate(model, X, cv=2, n_jobs=1, return_estimator=True)
    finally:
        npae.set_kernels("fast")
        B.set_backend(previous)
    assert list(result["test_score"]) == [1.0, 1.0]
    assert [e.backend_.name for e in result["estimator"]] == ["array_api_strict"] * 2
    for parallel, one in zip(result["estimator"], serial["estimator"]):  # the same numbers as in-process
        for key, value in one.parameters().items():
            np.testing.assert_array_equal(B.to_numpy(parallel.parameters()[key]), B.to_numpy(value), err_msg=key)


def test_settings_are_applied_only_in_another_process():
    here = B.settings()
    assert here["pid"] is not None and B.apply_settings(here) is False
    assert B.apply_settings({**here, "pid": -1, "backend": "nope"}) is False
    assert B.apply_settings(None) is False


def test_env_backend_is_read_case_insensitively_and_a_bad_one_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(B, "_active", None)
    monkeypatch.setenv("NPAE_BACKEND", " NumPy ")
    assert B.get_backend().name == "numpy"
    monkeypatch.setattr(B, "_active", None)
    monkeypatch.setenv("NPAE_BACKEND", "bogus")
    with pytest.raises(ValueError, match=r"NPAE_BACKEND='bogus' is not a valid backend; expected one of 'numpy'"):
        B.get_backend()


def test_a_fitted_clone_unpickled_in_another_process_changes_no_settings(monkeypatch):
    import pickle

    from sklearn.base import clone

    X = np.random.default_rng(0).random((10, 4))
    template = npae.Autoencoder(hidden_sizes=(3,), latent_dim=2, epochs=1, verbose=0)
    npae.set_kernels("reference")
    try:
        unfitted = clone(template)
        fitted = clone(template).fit(X)
    finally:
        npae.set_kernels("fast")
    for model in (unfitted, fitted):
        model._npae_settings = {**model._npae_settings, "pid": -1}  # as if cloned in another process
    pickle.loads(pickle.dumps(fitted))
    assert npae.get_kernels() == "fast"
    try:
        pickle.loads(pickle.dumps(unfitted))  # a worker receiving a clone takes the cloner's settings
        assert npae.get_kernels() == "reference"
    finally:
        npae.set_kernels("fast")


# ------------------------------------------------------------------------------ keyed row streams
KEY = bytes(range(16))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_hash_rows_follows_its_spec(dtype):
    X = np.random.default_rng(0).normal(size=(6, 5)).astype(dtype)
    X[2, 1] = -0.0
    seeds = B.hash_rows(X, KEY)
    assert seeds.dtype == np.uint64 and seeds.shape == (6,)
    assert [int(s) for s in seeds] == [spec_row_seed(row, KEY) for row in X]


def test_hash_rows_gives_the_same_seeds_on_every_backend(xp):
    X = np.random.default_rng(1).random((20, 9)).astype(np.float32)
    np.testing.assert_array_equal(B.hash_rows(B.asarray(X, backend=xp), KEY), B.hash_rows(X, KEY))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_hash_rows_sees_values_not_bytes_and_any_one_ulp(dtype):
    X = np.random.default_rng(2).random((4, 7)).astype(dtype)
    X[:, 3] = 0.0
    negative_zero = X.copy()
    negative_zero[1, 3] = -0.0  # equal as a number, other bytes
    np.testing.assert_array_equal(B.hash_rows(negative_zero, KEY), B.hash_rows(X, KEY))
    seeds = B.hash_rows(X, KEY)
    for d in range(X.shape[1]):  # one ulp up and down in every column: always another seed
        for direction in (np.inf, -np.inf):
            nudged = X.copy()
            nudged[0, d] = np.nextafter(nudged[0, d], direction)
            changed = B.hash_rows(nudged, KEY)
            assert changed[0] != seeds[0] and np.array_equal(changed[1:], seeds[1:])
    flipped = X.copy()
    flipped[0, [0, 1]] *= -1.0  # two sign bits: multipliers summing to 0 mod 2⁶⁴ would miss this
    assert B.hash_rows(flipped, KEY)[0] != seeds[0]


def test_hash_rows_depends_on_every_bit_of_the_key_and_refuses_other_keys():
    def seeds(X):
        flipped = [KEY[:i] + bytes([KEY[i] ^ 1]) + KEY[i + 1:] for i in range(16)]  # one bit of each byte
        return {int(B.hash_rows(X, key)[0]) for key in [KEY, *flipped]}

    assert len(seeds(np.ones((1, 3)))) == 17
    assert len(seeds(np.zeros((1, 3)))) == 9  # all words 0: S = 0, so only k₁ (bytes 8-15) reaches the seed
    with pytest.raises(ValueError, match="key must be 16 bytes"):
        B.hash_rows(np.zeros((1, 3)), b"short")


def test_counter_streams_read_splitmix64_at_their_positions():
    seeds = np.array([0, 1, 2**63 + 5, M64], dtype=np.uint64)
    u64 = B.CounterStreams(seeds, start=3, count=4).random((4, 4), np.float64)
    u32 = B.CounterStreams(seeds, start=3, count=4).random((8, 2), np.float32)
    for n, seed in enumerate(int(s) for s in seeds):
        words = [splitmix64(seed, i) for i in range(3, 7)]
        assert list(u64[n]) == [(w >> 11) * 2.0**-53 for w in words]
        assert list(u32.reshape(4, 4)[n]) == [np.float32((w >> 40) * 2.0**-24) for w in words]
    assert u32.dtype == np.float32 and np.all(u32 <= u64.reshape(8, 2)) and np.all(u64 < 1.0)
    # a stream read in two parts is the stream read at once
    both = B.CounterStreams(seeds, start=0, count=7).random((4, 7), np.float64)
    np.testing.assert_array_equal(both[:, 3:], u64)
    with pytest.raises(ValueError, match="expected a draw of 16 uniforms"):
        B.CounterStreams(seeds, start=0, count=4).random((3, 2), np.float64)


def test_counter_streams_feed_the_one_sampler_with_standard_normals():
    seeds = B.hash_rows(np.arange(4000, dtype=np.float64)[:, None] * 1e-9, KEY)  # near-identical rows
    eps = B.standard_normal(B.CounterStreams(seeds, start=0, count=8), (4000, 8), dtype="float64",
                            backend=B.get_backend("numpy"))
    se = 1.0 / np.sqrt(eps.size)
    assert abs(eps.mean()) < 5 * se and abs(eps.var() - 1.0) < 5 * np.sqrt(2.0) * se
    for a, b in ((eps[:-1, 0], eps[1:, 0]), (eps[:, 0], eps[:, 1]), (eps[:, 0], eps[:, 2])):
        assert abs(np.corrcoef(a, b)[0, 1]) < 5 / np.sqrt(a.size)


# ---------------------------------------------------------------- devices, autograd, the door out (review s10)
def test_an_array_on_another_device_is_refused_not_moved_silently():
    """scikit-learn's array API rule: results on the caller's device, so no silent move to the model's."""
    strict = pytest.importorskip("array_api_strict")
    import npae

    X = np.random.default_rng(0).random((20, 5))
    model = npae.Autoencoder(hidden_sizes=(4,), latent_dim=2, epochs=1, verbose=0, backend="array_api_strict").fit(X)
    on_default_device = strict.asarray(X)
    assert B.device_of(on_default_device) != B.get_backend("array_api_strict").device
    with pytest.raises(ValueError, match=r"X is on device .*CPU_DEVICE.* runs on .*device1.*npae\.asarray\(X, "
                                         r"backend='array_api_strict'\).*or pass a NumPy array"):
        model.transform(on_default_device)
    codes = model.transform(B.asarray(X, backend="array_api_strict"))
    assert B.device_of(codes) == B.get_backend("array_api_strict").device


def test_torch_inputs_and_weights_never_bring_autograd_into_npae():
    torch = pytest.importorskip("torch")
    import npae

    X = torch.rand(20, 5, dtype=torch.float64, requires_grad=True)
    model = npae.Autoencoder(hidden_sizes=(4,), latent_dim=2, epochs=1, verbose=0, dtype="float64",
                             backend="torch").fit(X.detach())
    assert model.score_samples(X).grad_fn is None and not model.transform(X).requires_grad
    _, grads = model.loss_and_grad(X)
    assert not any(g.requires_grad for g in grads.values())
    model.set_weights({k: torch.nn.Parameter(v.clone()) for k, v in model.get_weights().items()})
    assert all(p.is_leaf and not p.requires_grad for p in model.parameters().values())
    assert not model.transform(X.detach()).requires_grad


def test_to_numpy_is_a_view_on_the_host_unless_a_copy_is_asked_for(xp):
    x = B.asarray(np.arange(3.0), dtype="float64")
    snapshot = B.to_numpy(x, copy=True)
    snapshot[0] = 5.0
    assert float(B.to_numpy(x)[0]) == 0.0  # writing into the copy never writes into x
    view = B.to_numpy(x)
    if xp.name in ("numpy", "torch"):  # the host libraries share memory, as np.asarray and Tensor.numpy do
        assert np.shares_memory(view, B.to_numpy(x))


def test_torch_sigmoid_kernel_keeps_its_underflow_guard_beside_a_nan():
    torch = pytest.importorskip("torch")
    from npae.kernels import torch_backend

    z = torch.tensor([-89.0, -95.0, -103.0, float("nan")])
    got = torch_backend.sigmoid(z)
    want = torch.exp(z[:3]) / (1.0 + torch.exp(z[:3]))
    assert torch.equal(got[:3], want) and bool(got[:3].gt(0).all()) and bool(torch.isnan(got[3]))


def test_backend_messages_speak_the_inputs_library():
    torch = pytest.importorskip("torch")
    import npae

    with pytest.raises(ValueError, match="Did you mean 'cupy'"):
        B.set_backend("CuPy")
    with pytest.raises(ValueError, match="Pass it as the string 'float64'"):
        npae.Autoencoder(dtype=np.float64, verbose=0).fit(np.eye(4))
    with pytest.raises(TypeError, match=r"X is a torch tensor but this Autoencoder runs on the 'numpy' backend\. "
                                        r"Pass a NumPy array \(convert with npae\.to_numpy\(X\)\)"):
        npae.Autoencoder(verbose=0, backend="numpy").fit(torch.rand(4, 3))
    with pytest.raises(TypeError, match=r"e\.g\. X\.float\(\)"):
        npae.Autoencoder(verbose=0, backend="torch").fit(torch.ones(4, 3, dtype=torch.bool))


def test_torch_backend_on_cuda_names_the_device_index_so_device_checks_compare_equal(monkeypatch):
    """torch.device("cuda") != torch.device("cuda", 0), the device of a tensor moved with .to("cuda"):
    without the index every CUDA tensor would be refused as being on another device."""
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    assert torch.device("cuda") != torch.device("cuda", 0)
    assert B._make_torch().device == torch.device("cuda", 0)


def test_to_numpy_copy_of_a_strict_array_on_its_cpu_device_is_a_copy():
    strict = pytest.importorskip("array_api_strict")
    x = strict.asarray([1.0, 2.0])  # the default device, which NumPy can view
    snapshot = B.to_numpy(x, copy=True)
    snapshot[0] = 9.0
    assert float(B.to_numpy(x)[0]) == 1.0
