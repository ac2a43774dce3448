"""npae.kernels.layers: gradients stored instead of zero-filled and added."""

import numpy as np
import pytest

from npae import backend as B
from npae import kernels
from npae.layers import Activation, Dense


def _dense():
    return Dense(5, 4, rng=0, dtype="float64", backend=B.get_backend("numpy"))


def test_fast_zero_grad_sets_none_and_the_next_backward_stores_then_adds(rng):
    layer = _dense()
    x, g = rng.standard_normal((3, 5)), rng.standard_normal((3, 4))
    with kernels.use_kernels("reference"):
        layer.zero_grad()
        layer.forward(x)
        layer.backward(g)
        reference = {k: v.copy() for k, v in layer.grads.items()}  # zeros + xᵀg
    layer.zero_grad()
    assert all(v is None for v in layer.grads.values())
    layer.forward(x)
    layer.backward(g)
    for key, want in reference.items():
        np.testing.assert_array_equal(layer.grads[key], want)
    layer.backward(g)  # a second contribution adds, as the contractive penalty needs
    np.testing.assert_allclose(layer.grads["W"], 2 * reference["W"])


def test_fast_dense_backward_returns_the_reference_input_gradient(rng):
    layer = _dense()
    x, g = rng.standard_normal((3, 5)), rng.standard_normal((3, 4))
    layer.forward(x)
    layer.zero_grad()
    fast_dx = layer.backward(g)
    with kernels.use_kernels("reference"):
        layer.zero_grad()
        ref_dx = layer.backward(g)
    np.testing.assert_array_equal(fast_dx, ref_dx)
    layer.zero_grad()
    assert layer.backward(g, input_grad=False) is None


def test_reference_zero_grad_gives_zeros_of_the_parameter_shape():
    layer = _dense()
    with kernels.use_kernels("reference"):
        layer.zero_grad()
    assert layer.grads["W"].shape == (5, 4) and not np.any(layer.grads["W"])


class _LearnersDense(Dense):
    """A learner's own backward, written to the reference contract (``+=`` into zeroed grads)."""

    def backward(self, grad_out, input_grad=True):
        self.grads["W"] += self._x.T @ grad_out
        self.grads["b"] += grad_out.sum(axis=0)
        return grad_out @ self.params["W"].T


def test_a_subclass_with_its_own_backward_still_gets_zeroed_gradients(rng):
    layer = _LearnersDense(5, 4, rng=0, dtype="float64", backend=B.get_backend("numpy"))
    x, g = rng.standard_normal((3, 5)), rng.standard_normal((3, 4))
    layer.zero_grad()
    assert not np.any(layer.grads["W"])
    layer.forward(x)
    layer.backward(g)
    np.testing.assert_allclose(layer.grads["W"], x.T @ g)


def test_dense_forward_kernel_is_bit_exact(rng):
    layer = Dense(7, 5, rng=0, dtype="float32", backend=B.get_backend("numpy"))
    x = rng.standard_normal((9, 7)).astype("float32")
    fast = layer.forward(x)
    with kernels.use_kernels("reference"):
        ref = layer.forward(x)
    np.testing.assert_array_equal(fast, ref)
    assert layer._x is x


def test_dense_infer_kernel_is_bit_exact_and_keeps_no_cache(rng):
    layer = Dense(7, 5, rng=0, dtype="float32", backend=B.get_backend("numpy"))
    x = rng.standard_normal((9, 7)).astype("float32")
    fast = layer.infer(x)
    with kernels.use_kernels("reference"):
        ref = layer.infer(x)
    np.testing.assert_array_equal(fast, ref)
    np.testing.assert_array_equal(fast, layer.forward(x))  # what forward returns
    y = rng.standard_normal((3, 7)).astype("float32")
    layer.infer(y)
    assert layer._x is x  # inference left forward's cache alone


@pytest.fixture(params=["compiled", "arrays"])
def compiled(request, monkeypatch):
    from npae.kernels import layers as fast

    if request.param == "compiled" and fast._relu_backward_compiled is None:
        pytest.skip("numba is not installed (pip install 'npae[fast]')")
    if request.param == "arrays":
        monkeypatch.setattr(fast, "_relu_backward_compiled", None)
    return request.param


@pytest.mark.parametrize("act", ["relu", "tanh", "sigmoid"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_activation_backward_kernel_is_bit_exact(compiled, act, dtype, rng):
    layer = Activation(act)
    z = (rng.standard_normal((6, 11)) * 3).astype(dtype)
    z[0, :2] = [0.0, -0.0]
    g = rng.standard_normal((6, 11)).astype(dtype)
    layer.forward(z)
    fast = layer.backward(g)
    with kernels.use_kernels("reference"):
        ref = layer.backward(g)
    assert fast.dtype == ref.dtype
    np.testing.assert_array_equal(fast, ref)
    assert layer.backward(g, input_grad=False) is None
