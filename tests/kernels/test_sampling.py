"""npae.kernels.sampling: the Box–Muller sampler with SIMD log, against npae.backend's reference."""

import math

import numpy as np
import pytest

from npae import backend as B
from npae import kernels
from npae.kernels import sampling


def _reference(seed, shape, **kwargs):
    with kernels.use_kernels("reference"):
        return B.standard_normal(np.random.default_rng(seed), shape, **kwargs)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(7, 13), (1,), (4, 3, 5), (64, 784)])
def test_kernel_draws_the_reference_numbers(dtype, shape):
    """(float64 draws are served by the reference; the kernel itself computes them too.)"""
    like = np.zeros(1, dtype=dtype)
    rng = np.random.default_rng(3)
    fast = sampling.standard_normal(rng, shape, like=like)
    ref = _reference(3, shape, like=like)
    assert fast.shape == ref.shape == shape and fast.dtype == ref.dtype == np.dtype(dtype)
    # the same uniforms; the reference's float32 angle (2π)·u₂ is itself off by up to half an ulp of 2π,
    # times r ≤ 5.8: 1.4e-6 (the compiled pass reduces the angle exactly; float64: rounding only)
    np.testing.assert_allclose(fast, ref, rtol=1e-6, atol=2e-6 if dtype == "float32" else 4 * np.finfo(dtype).eps)
    # the generator ends where the reference leaves it
    after = np.random.default_rng(3)
    _ = after.random(((math.prod(shape) + 1) // 2, 2), dtype=np.dtype(dtype))
    assert rng.random() == after.random()


def test_dispatch_runs_the_kernel_in_fast_mode_and_the_reference_otherwise():
    like = np.zeros(1, dtype="float32")
    assert B.standard_normal.kernel_for(like) is sampling.standard_normal
    a = B.standard_normal(np.random.default_rng(0), (50, 40), like=like)
    b = sampling.standard_normal(np.random.default_rng(0), (50, 40), like=like)
    np.testing.assert_array_equal(a, b)
    ref = _reference(0, (50, 40), like=like)
    np.testing.assert_allclose(a, ref, rtol=1e-6, atol=2e-6)


def test_kernel_keeps_the_reference_tail_bound_and_moments():
    eps = sampling.standard_normal(np.random.default_rng(1), (400_000,), like=np.zeros(1, np.float32))
    assert np.all(np.isfinite(eps)) and np.max(np.abs(eps)) <= math.sqrt(2 * 24 * math.log(2)) + 1e-5
    assert abs(float(eps.mean())) < 0.01 and abs(float(eps.std()) - 1.0) < 0.01


def test_float64_draws_run_the_reference_on_every_backend():
    like = np.zeros(1, dtype="float64")
    drawn = B.standard_normal(np.random.default_rng(5), (30, 20), like=like)
    np.testing.assert_array_equal(drawn, _reference(5, (30, 20), like=like))
    np.testing.assert_array_equal(B.standard_normal(np.random.default_rng(5), (30, 20), dtype="float64",
                                                    backend=B.get_backend("numpy")), drawn)


@pytest.mark.parametrize("library", ["torch", "array_api_strict"])
def test_every_backend_gets_the_same_float32_noise_and_initial_weights_stay_the_references(library):
    """Beside an array of any backend a float32 draw is the kernel's (one host draw, the same numbers
    everywhere); a draw for a backend without an array (initial weights) is the reference's."""
    pytest.importorskip(library)
    backend = B.get_backend(library)
    host = B.standard_normal(np.random.default_rng(2), (9, 11), like=np.zeros(1, np.float32))
    drawn = B.standard_normal(np.random.default_rng(2), (9, 11),
                              like=B.asarray(np.zeros(1), dtype="float32", backend=backend))
    assert B.backend_of(drawn).name == library
    np.testing.assert_array_equal(B.to_numpy(drawn), host)
    for_backend = B.standard_normal(np.random.default_rng(2), (9, 11), dtype="float32", backend=backend)
    np.testing.assert_array_equal(B.to_numpy(for_backend), _reference(2, (9, 11), like=np.zeros(1, np.float32)))


def test_compiled_pass_is_closer_to_the_exact_normals_than_the_float32_reference():
    if sampling._box_muller_compiled is None:
        pytest.skip("numba is not installed (pip install 'npae[fast]')")
    u = np.random.default_rng(9).random((100_000, 2), dtype=np.float32)
    u64 = u.astype(np.float64)
    sampling._box_muller_compiled(u.reshape(-1))  # in place: u[i] becomes the pair's two normals
    out = u.T
    r, theta = np.sqrt(-2.0 * np.log1p(-u64[:, 0])), 2.0 * np.pi * u64[:, 1]
    exact = np.stack([r * np.cos(theta), r * np.sin(theta)])
    with kernels.use_kernels("reference"):
        ref = B.standard_normal(np.random.default_rng(9), (200_000,), like=np.zeros(1, np.float32))
    ref_error = np.max(np.abs(ref.reshape(-1, 2).T - exact))
    assert np.max(np.abs(out - exact)) <= min(1e-6, ref_error)


def test_compiled_pass_vectorises():
    if sampling._box_muller_compiled is None:
        pytest.skip("numba is not installed (pip install 'npae[fast]')")
    import platform

    from npae.kernels import _compiled

    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip("the packed-instruction check reads x86 assembly")
    sampling.standard_normal(np.random.default_rng(0), (4, 4), like=np.zeros(1, np.float32))
    report = _compiled.packed_instructions(sampling._box_muller_compiled)
    packed = {k.split()[0] for r in report.values() for k in r["packed"]}
    assert {"vsqrtps", "sqrtps"} & packed and {"vfmadd213ps", "vfmadd231ps", "vmulps"} & packed, packed


def test_compiled_pass_allocates_nothing_beyond_the_uniforms():
    """The normals overwrite the drawn uniforms: one array of the draw's size, not four."""
    if sampling._box_muller_compiled is None:
        pytest.skip("numba is not installed (pip install 'npae[fast]')")
    import tracemalloc

    like, shape = np.zeros(1, np.float32), (256, 784)
    sampling.standard_normal(np.random.default_rng(0), shape, like=like)  # compiled, warm
    draw_bytes = math.prod(shape) * 4
    tracemalloc.start()
    try:
        eps = sampling.standard_normal(np.random.default_rng(0), shape, like=like)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert eps.nbytes == draw_bytes and draw_bytes <= peak < 1.25 * draw_bytes, (peak, draw_bytes)


# ------------------------------------------------------------------------------ hash_rows
def _needs_numba():
    if sampling._multilinear_compiled is None:
        pytest.skip("numba is not installed (pip install 'npae[fast]')")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(1, 1), (7, 13), (300, 784), (0, 5)])
def test_hash_rows_kernel_gives_the_reference_seeds_bit_for_bit(dtype, shape):
    _needs_numba()
    X = np.random.default_rng(4).normal(size=shape).astype(dtype)
    X[X > 1.5] = -0.0
    key = bytes(range(100, 116))
    fast = sampling.hash_rows(X, key)
    with kernels.use_kernels("reference"):
        ref = B.hash_rows(X, key)
    assert fast.dtype == ref.dtype == np.uint64 and fast.shape == ref.shape == shape[:1]
    np.testing.assert_array_equal(fast, ref)
    np.testing.assert_array_equal(sampling.hash_rows(np.asfortranarray(X), key), ref)


def test_hash_rows_runs_the_kernel_on_every_backend_in_fast_mode_and_the_reference_otherwise(monkeypatch):
    _needs_numba()
    spec = next(k for k in kernels.KERNELS if k.owner is B and k.name == "hash_rows")
    calls = []

    def spy(*args, **kwargs):
        calls.append(1)
        return spec.kernel(*args, **kwargs)

    patched = kernels.Kernel(**{**spec.__dict__, "kernel": spy})
    monkeypatch.setattr(B, "hash_rows", kernels._dispatcher([patched], kernels.reference(spec)))
    X = np.random.default_rng(5).random((9, 4)).astype(np.float32)
    want = kernels.reference(spec)(X, bytes(16))
    np.testing.assert_array_equal(B.hash_rows(X, bytes(16)), want)
    assert len(calls) == 1
    strict = B.asarray(X, backend=B.get_backend("array_api_strict"))  # hashed on the host all the same
    np.testing.assert_array_equal(B.hash_rows(strict, bytes(16)), want)
    assert len(calls) == 2
    with kernels.use_kernels("reference"):
        np.testing.assert_array_equal(B.hash_rows(X, bytes(16)), want)
    assert len(calls) == 2  # the switch selects the reference
