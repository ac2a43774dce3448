import numpy as np
import pytest

from npae import backend as B
from npae import gradcheck
from npae.layers import Activation, Dense, Sequential
from tests.conftest import to_backend


def test_relative_error_is_normwise_and_zero_for_two_zeros():
    assert gradcheck.relative_error(np.zeros(3), np.zeros(3)) == 0.0
    a = np.array([1.0, 1e-12])
    n = np.array([1.0, 2e-12])  # element-wise relative error would be 0.5; norm-wise it is tiny
    assert gradcheck.relative_error(a, n) < 1e-12
    assert gradcheck.relative_error(np.array([1.0]), np.array([-1.0])) == 1.0


def test_numerical_gradient_of_a_quadratic(xp):
    x = to_backend(xp, [[1.0, -2.0, 3.0]])
    A = to_backend(xp, np.diag([1.0, 2.0, 3.0]))
    f = lambda: xp.xp.sum((x @ A) * x)  # f(x) = x A xᵀ, gradient 2 x A
    np.testing.assert_allclose(gradcheck.numerical_gradient(f, x), [[2.0, -8.0, 18.0]], rtol=1e-8)
    np.testing.assert_array_equal(B.to_numpy(x), [[1.0, -2.0, 3.0]])  # restored


def test_fourth_order_stencil_is_exact_for_a_quartic():
    x = np.array([0.7])
    f = lambda: (x**4).sum()  # the 5-point stencil differentiates x^4 exactly
    coarse = gradcheck.numerical_gradient(f, x, h=0.1, order=4)
    assert abs(coarse[0] - 4 * 0.7**3) < 1e-12
    assert abs(gradcheck.numerical_gradient(f, x, h=0.1, order=2)[0] - 4 * 0.7**3) > 1e-3


class _DroppedDerivative(Activation):
    """A deliberately wrong backward: forgets f′."""

    def backward(self, grad_out):
        return grad_out


class _MissingTranspose(Dense):
    def backward(self, grad_out):
        xp = B.backend_of(grad_out).xp
        self.grads["W"] += self._x.T @ grad_out
        self.grads["b"] += xp.sum(grad_out, axis=0)
        return grad_out @ xp.flip(self.params["W"].T, axis=1)  # wrong: not Wᵀ


@pytest.mark.parametrize("broken", ["dropped_fprime", "missing_transpose"])
def test_checker_catches_a_wrong_backward(xp, broken, rng):
    if broken == "dropped_fprime":
        net = Sequential([Dense(4, 5, rng=0, dtype="float64", backend=xp), _DroppedDerivative("tanh"),
                          Dense(5, 3, rng=1, dtype="float64", backend=xp)])
    else:
        net = Sequential([Dense(4, 5, rng=0, dtype="float64", backend=xp), Activation("tanh"),
                          _MissingTranspose(5, 3, rng=1, dtype="float64", backend=xp)])
    result = gradcheck.check_layer(net, to_backend(xp, rng.standard_normal((6, 4))))
    assert not result.passed
    assert result.max_error > 1e-3


def test_directional_mode_passes_correct_and_fails_wrong_gradients(xp, rng):
    net = Sequential([Dense(4, 5, rng=0, dtype="float64", backend=xp), Activation("tanh"),
                      Dense(5, 3, rng=1, dtype="float64", backend=xp)])
    x = to_backend(xp, rng.standard_normal((6, 4)))
    assert gradcheck.check_layer(net, x, directional=True).passed
    net.layers[1] = _DroppedDerivative("tanh")
    assert not gradcheck.check_layer(net, x, directional=True).passed


def test_float32_is_refused_with_advice(xp):
    layer = Dense(3, 2, rng=0, dtype="float32", backend=xp)
    with pytest.raises(TypeError, match="Gradient checks need float64"):
        gradcheck.check_layer(layer, to_backend(xp, np.ones((2, 3)), "float32"))


def test_result_prints_a_table():
    result = gradcheck.GradcheckResult({"encoder.0.W": 1e-9, "encoder.0.b": 1e-3})
    text = str(result)
    assert "encoder.0.W" in text and "FAIL" in text and not result.passed
