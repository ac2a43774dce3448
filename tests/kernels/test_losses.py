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
