import importlib.util
import sys

import numpy as np
import pytest

import npae
from npae import backend as B


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
