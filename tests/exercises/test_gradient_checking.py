"""Chapter 2 exercises: npae's own code passes, and each catalogued mistake fails with its name."""

import pytest
from array_api_compat import array_namespace

from npae import activations, layers, ops
from npae.exercises import check


def npae_dense_activation_backward(x, W, b, grad_out, activation):
    net = layers.Sequential([layers.Dense(W.shape[0], W.shape[1], dtype="float64"), layers.Activation(activation)])
    net.layers[0].params = {"W": W, "b": b}
    net.zero_grad()
    net.forward(x)
    dx = net.backward(grad_out)
    return dx, net.layers[0].grads["W"], net.layers[0].grads["b"]


NPAE = {
    "dense_activation_backward": npae_dense_activation_backward,
    "tanh_second_derivative": activations.Tanh().d2f,
    "sigmoid_second_derivative": activations.Sigmoid().d2f,
}


def _backward(scale_of, transpose_dW=False):
    def backward(x, W, b, grad_out, activation):
        xp = array_namespace(x)
        z = x @ W + b
        g = grad_out * scale_of(z, activation)
        return g @ W.T, (g.T @ x if transpose_dW else x.T @ g), xp.sum(g, axis=0)
    return backward


def _tanh(z):
    return array_namespace(z).tanh(z)


MISTAKES = [
    ("dense_activation_backward", "forgot_fprime", _backward(lambda z, a: 1.0)),
    ("dense_activation_backward", "fprime_of_output", _backward(lambda z, a: a.df(a.f(z)))),
    ("dense_activation_backward", "fprime_for_f", _backward(lambda z, a: a.f(z))),
    ("dense_activation_backward", "transposed", _backward(lambda z, a: a.df(z), transpose_dW=True)),
    ("tanh_second_derivative", "forgot_fprime", lambda z: -2 * _tanh(z)),
    ("tanh_second_derivative", "factor_2", lambda z: -_tanh(z) * (1 - _tanh(z) ** 2)),
    ("tanh_second_derivative", "sign", lambda z: 2 * _tanh(z) * (1 - _tanh(z) ** 2)),
    ("tanh_second_derivative", "returned_fprime", lambda z: 1 - _tanh(z) ** 2),
    ("sigmoid_second_derivative", "forgot_fprime", lambda z: 1 - 2 * ops.sigmoid(z)),
    ("sigmoid_second_derivative", "sign", lambda z: ops.sigmoid(z) * (1 - ops.sigmoid(z)) * (2 * ops.sigmoid(z) - 1)),
    ("sigmoid_second_derivative", "returned_fprime", lambda z: ops.sigmoid(z) * (1 - ops.sigmoid(z))),
]


@pytest.mark.parametrize("name", sorted(NPAE))
def test_npae_reference_passes(xp, name):
    result = check(name, NPAE[name], backend=xp, random_state=0)
    assert result.passed, str(result)


@pytest.mark.parametrize("name, mistake, fn", MISTAKES, ids=[f"{n}-{m}-{i}" for i, (n, m, _) in enumerate(MISTAKES)])
def test_each_mistake_fails_and_is_named(xp, name, mistake, fn):
    result = check(name, fn, backend=xp, random_state=3)
    assert not result.passed
    assert mistake in result.mistakes, str(result)
