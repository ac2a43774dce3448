"""npae.kernels.losses against npae.losses."""

import numpy as np
import pytest

from npae import kernels, losses
from npae.kernels import losses as fast


@pytest.mark.parametrize("dtype, rtol", [("float32", 1e-6), ("float64", 1e-14)])
def test_bce_value_and_grad_kernel_matches_the_two_reference_functions(dtype, rtol, rng):
    x = rng.random((32, 50)).astype(dtype)
    x[:, :5] = np.round(x[:, :5])  # binary targets too
    y = (rng.standard_normal((32, 50)) * 8).astype(dtype)
    y[0, :6] = [-1e4, -100.0, -20.0, 20.0, 100.0, 1e4]
    value, grad = fast.bce_with_logits_and_grad(x, y)
    with kernels.use_kernels("reference"):
        want_value, want_grad = losses.bce_with_logits_and_grad(x, y)
    assert value.dtype == grad.dtype == np.dtype(dtype)
    np.testing.assert_allclose(value, want_value, rtol=rtol)
    np.testing.assert_allclose(grad, want_grad, rtol=rtol, atol=np.finfo(dtype).eps)


def test_bce_kernel_takes_non_contiguous_and_mixed_inputs(rng):
    x, y = rng.random((8, 6)), rng.standard_normal((6, 8)).T  # y is a transposed view
    value, grad = fast.bce_with_logits_and_grad(x, y)
    with kernels.use_kernels("reference"):
        want_value, want_grad = losses.bce_with_logits_and_grad(x, y)
    np.testing.assert_allclose(value, want_value, rtol=1e-14)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-14, atol=1e-16)


def test_bce_kernel_is_what_the_loss_object_runs_on_numpy(rng):
    x, y = rng.random((4, 6)), rng.standard_normal((4, 6))
    value, grad = losses.BCE().value_and_grad(x, y)
    np.testing.assert_array_equal(value, fast.bce_with_logits_and_grad(x, y)[0])
    np.testing.assert_array_equal(grad, fast.bce_with_logits_and_grad(x, y)[1])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_bce_kernel_keeps_tiny_losses_of_confident_correct_logits(dtype):
    """Targets 0 with logits far below 0: the loss is Σ log1p(e^y), far below 1. The kernel's log1p
    from ``log`` keeps its relative accuracy there (a plain log(1 + e) would give 0)."""
    y = np.array([[-30.0, -40.0, -17.0], [-3.0, -1e-3, -60.0]], dtype=dtype)
    x = np.zeros_like(y)
    value, _ = fast.bce_with_logits_and_grad(x, y)
    want = np.log1p(np.exp(y.astype(np.float64))).sum(axis=1)
    assert float(value[0]) > 0.0
    np.testing.assert_allclose(value, want, rtol=1e-6)


def _compiled_or_skip():
    if fast._bce_terms_compiled is None:
        pytest.skip("numba is not installed (pip install 'npae[fast]')")


def test_compiled_bce_matches_float64_over_the_whole_float32_range():
    """Softplus and sigmoid of every logit from −110 to 110 (e = exp(−|y|) from 1 down through the
    denormals to 0), against float64: within a few float32 roundings wherever the float32 value is normal."""
    _compiled_or_skip()
    y = np.linspace(-110.0, 110.0, 400_000, dtype=np.float32).reshape(400, -1)
    x = np.zeros_like(y)
    terms, grad = np.empty_like(y), np.empty_like(y)
    fast._bce_terms_compiled(x, y, terms, grad)
    y64 = y.astype(np.float64)
    softplus, sigmoid = np.logaddexp(0.0, y64), 1.0 / (1.0 + np.exp(-y64))
    normal = softplus > np.finfo(np.float32).tiny
    np.testing.assert_allclose(terms[normal], softplus[normal], rtol=4e-7)
    normal = sigmoid > np.finfo(np.float32).tiny
    np.testing.assert_allclose(grad[normal], sigmoid[normal], rtol=4e-7)
    assert np.all(terms[~normal] >= 0) and np.all(np.abs(terms[~normal] - softplus[~normal]) < 2e-38)


def test_compiled_bce_keeps_nan_and_the_reference_gradient_at_infinite_logits():
    _compiled_or_skip()
    y = np.array([[np.nan, np.inf, -np.inf, 3.4e38, -3.4e38, 0.0]], dtype=np.float32)
    x = np.full_like(y, 0.25)
    value, grad = fast.bce_with_logits_and_grad(x, y)
    with kernels.use_kernels("reference"):
        want_value, want_grad = losses.bce_with_logits_and_grad(x, y)
    np.testing.assert_array_equal(grad, want_grad)
    assert np.isnan(value[0]) and np.isnan(want_value[0])


def test_compiled_bce_loop_vectorises():
    """The loop's machine code holds packed float32 arithmetic (x86), not one element at a time."""
    _compiled_or_skip()
    import platform

    from npae.kernels import _compiled

    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip("the packed-instruction check reads x86 assembly")
    y = np.zeros((2, 8), np.float32)
    fast.bce_with_logits_and_grad(y, y)
    report = [r for sig, r in _compiled.packed_instructions(fast._bce_terms_compiled).items() if "float32" in sig]
    packed = {k.split()[0] for r in report for k in r["packed"]}
    assert {"vfmadd213ps", "vfmadd231ps", "vmulps"} & packed and ({"vdivps", "vrcpps"} & packed), packed


def test_compiled_bce_is_skipped_for_float64_and_non_contiguous_float32(rng):
    _compiled_or_skip()
    x = rng.random((6, 8)).astype(np.float32)
    y = rng.standard_normal((8, 6)).astype(np.float32).T
    assert not fast._compiled_applies(x, y) and not fast._compiled_applies(x.astype(np.float64), x.astype(np.float64))
    assert fast._compiled_applies(x, np.ascontiguousarray(y))
    np.testing.assert_allclose(fast.bce_with_logits_and_grad(x, y)[0],
                               fast.bce_with_logits_and_grad(x, np.ascontiguousarray(y))[0], rtol=1e-6)


@pytest.mark.parametrize("dtype, rtol", [("float32", 1e-6), ("float64", 1e-14)])
def test_bce_value_kernel_matches_the_reference(dtype, rtol, rng):
    x = rng.random((40, 33)).astype(dtype)
    x[:, :5] = np.round(x[:, :5])
    y = (rng.standard_normal((40, 33)) * 8).astype(dtype)
    y[0, :6] = [-1e4, -100.0, -20.0, 20.0, 100.0, 1e4]
    with kernels.use_kernels("reference"):
        want = losses.bce_with_logits(x, y)
    got = losses.bce_with_logits(x, y)  # the dispatcher: the kernel in fast mode
    assert got.dtype == np.dtype(dtype) and got.shape == (40,)
    np.testing.assert_allclose(got, want, rtol=rtol)
    np.testing.assert_allclose(got, fast.bce_with_logits_and_grad(x, y)[0], rtol=rtol)


def test_bce_value_kernel_runs_the_compiled_pass_on_float32(rng, monkeypatch):
    _compiled_or_skip()
    calls = []
    compiled = fast._bce_value_terms_compiled
    monkeypatch.setattr(fast, "_bce_value_terms_compiled", lambda *a: calls.append(1) or compiled(*a))
    x = rng.random((4, 6)).astype(np.float32)
    fast.bce_with_logits(x, x - 0.5)
    fast.bce_with_logits(x.astype(np.float64), x.astype(np.float64) - 0.5)
    assert calls == [1]
