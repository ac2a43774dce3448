"""Chapter 1 exercises: npae's own code passes, and each catalogued mistake fails with its name."""

import pytest
from array_api_compat import array_namespace

from npae import activations, layers, losses, ops, optimizers
from npae.exercises import check


def _dense(W, b):
    layer = layers.Dense(W.shape[0], W.shape[1], dtype="float64")
    layer.params = {"W": W, "b": b}
    layer.zero_grad()
    return layer


def npae_dense_backward(x, W, b, grad_out):
    layer = _dense(W, b)
    layer.forward(x)
    dx = layer.backward(grad_out)
    return dx, layer.grads["W"], layer.grads["b"]


def npae_adam_step(param, grad, m, v, t, learning_rate, beta1, beta2, epsilon):
    xp = array_namespace(param)
    adam = optimizers.Adam(learning_rate, beta1, beta2, epsilon)
    adam.state = [{"m": xp.asarray(m, copy=True), "v": xp.asarray(v, copy=True)}]
    adam.iterations = t - 1
    new = xp.asarray(param, copy=True)
    adam.step([(new, grad)])
    return new, adam.state[0]["m"], adam.state[0]["v"]


#: npae's own functions, wrapped to each exercise's signature
NPAE = {
    "dense_forward": lambda x, W, b: _dense(W, b).forward(x),
    "dense_backward": npae_dense_backward,
    "sigmoid_derivative": activations.Sigmoid().df,
    "tanh_derivative": activations.Tanh().df,
    "relu_derivative": activations.ReLU().df,
    "mse_grad": losses.squared_error_grad,
    "bce_with_logits": losses.bce_with_logits,
    "bce_with_logits_grad": losses.bce_with_logits_grad,
    "adam_step": npae_adam_step,
}


def _xp(a):
    return array_namespace(a)


def _adam(*, correct=True, sqrt=True, eps_inside=False, swap=False, t_shift=0, square=True, ascent=False):
    """A learner's Adam step with one slip switched on."""
    def step(param, grad, m, v, t, learning_rate, beta1, beta2, epsilon):
        xp = _xp(param)
        b1 = 1 - beta1 if swap else beta1
        m = b1 * m + (1 - b1) * grad
        v = beta2 * v + (1 - beta2) * (grad**2 if square else grad)
        tt = t + t_shift
        m_hat = m / (1 - beta1**tt) if correct else m
        v_hat = v / (1 - beta2**tt) if correct else v
        denom = xp.sqrt(v_hat + epsilon) if eps_inside else (xp.sqrt(v_hat) if sqrt else v_hat) + epsilon
        update = learning_rate * m_hat / denom
        return (param + update if ascent else param - update), m, v
    return step


MISTAKES = [
    ("dense_forward", "forgot_bias", lambda x, W, b: x @ W),
    ("dense_forward", "transposed", lambda x, W, b: (W.T @ x.T) + b[:, None]),
    ("dense_forward", "sign", lambda x, W, b: x @ W - b),
    ("dense_backward", "transposed", lambda x, W, b, g: (g @ W.T, g.T @ x, _xp(g).sum(g, axis=0))),
    ("dense_backward", "extra_1/N", lambda x, W, b, g: (g @ W.T, x.T @ g, _xp(g).mean(g, axis=0))),
    ("dense_backward", "extra_1/N", lambda x, W, b, g: (g @ W.T, x.T @ g / x.shape[0], _xp(g).sum(g, axis=0))),
    ("dense_backward", "sign", lambda x, W, b, g: (-(g @ W.T), x.T @ g, _xp(g).sum(g, axis=0))),
    ("dense_backward", "not_summed", lambda x, W, b, g: (g @ W.T, x.T @ g, g)),
    ("sigmoid_derivative", "applied_to_z", lambda z: z * (1 - z)),
    ("sigmoid_derivative", "returned_f", lambda z: ops.sigmoid(z)),
    ("sigmoid_derivative", "sign", lambda z: ops.sigmoid(z) * (ops.sigmoid(z) - 1)),
    ("sigmoid_derivative", "unstable", lambda z: _xp(z).exp(-z) / (1 + _xp(z).exp(-z)) ** 2),
    ("tanh_derivative", "applied_to_z", lambda z: 1 - z**2),
    ("tanh_derivative", "forgot_square", lambda z: 1 - _xp(z).tanh(z)),
    ("tanh_derivative", "sign", lambda z: _xp(z).tanh(z) ** 2 - 1),
    ("tanh_derivative", "unstable", lambda z: 1 - ((_xp(z).exp(z) - _xp(z).exp(-z))
                                                   / (_xp(z).exp(z) + _xp(z).exp(-z))) ** 2),
    ("relu_derivative", "dtype", lambda z: z > 0),
    ("relu_derivative", "returned_f", lambda z: _xp(z).maximum(z, 0.0)),
    ("relu_derivative", "flipped", lambda z: _xp(z).astype(z < 0, z.dtype)),
    ("mse_grad", "factor_2", lambda x, x_hat: x_hat - x),
    ("mse_grad", "sign", lambda x, x_hat: 2 * (x - x_hat)),
    ("mse_grad", "extra_1/N", lambda x, x_hat: 2 * (x_hat - x) / x.shape[0]),
    ("mse_grad", "extra_1/D", lambda x, x_hat: 2 * (x_hat - x) / x.shape[1]),
    ("bce_with_logits", "sign", lambda x, y: _xp(y).sum(x * y - ops.softplus(y), axis=1)),
    ("bce_with_logits", "extra_1/D", lambda x, y: _xp(y).mean(ops.softplus(y) - x * y, axis=1)),
    ("bce_with_logits", "not_summed", lambda x, y: ops.softplus(y) - x * y),
    ("bce_with_logits", "unstable", lambda x, y: -_xp(y).sum(
        x * _xp(y).log(ops.sigmoid(y)) + (1 - x) * _xp(y).log(1 - ops.sigmoid(y)), axis=1)),
    ("bce_with_logits", "unstable", lambda x, y: -_xp(y).sum(
        x * _xp(y).log(_xp(y).clip(ops.sigmoid(y), 1e-7, 1 - 1e-7))
        + (1 - x) * _xp(y).log(_xp(y).clip(1 - ops.sigmoid(y), 1e-7, 1 - 1e-7)), axis=1)),
    ("bce_with_logits_grad", "sign", lambda x, y: x - ops.sigmoid(y)),
    ("bce_with_logits_grad", "forgot_sigmoid", lambda x, y: y - x),
    ("bce_with_logits_grad", "extra_1/N", lambda x, y: (ops.sigmoid(y) - x) / x.shape[0]),
    ("bce_with_logits_grad", "unstable", lambda x, y: _xp(y).exp(y) / (1 + _xp(y).exp(y)) - x),
    ("adam_step", "no_bias_correction", _adam(correct=False)),
    ("adam_step", "variance_for_std", _adam(sqrt=False)),
    ("adam_step", "epsilon_inside_sqrt", _adam(eps_inside=True)),
    ("adam_step", "swapped_beta", _adam(swap=True)),
    ("adam_step", "step_off_by_one", _adam(t_shift=-1)),
    ("adam_step", "forgot_square", _adam(square=False)),
    ("adam_step", "sign", _adam(ascent=True)),
]


@pytest.mark.parametrize("name", sorted(NPAE))
def test_npae_reference_passes(xp, name):
    result = check(name, NPAE[name], backend=xp, random_state=0)
    assert result.passed, str(result)
    assert result.mistakes == []


@pytest.mark.parametrize("seed", [0, 1])
def test_a_learner_adam_passes(xp, seed):
    assert check("adam_step", _adam(), backend=xp, random_state=seed).passed


@pytest.mark.parametrize("name, mistake, fn", MISTAKES, ids=[f"{n}-{m}-{i}" for i, (n, m, _) in enumerate(MISTAKES)])
def test_each_mistake_fails_and_is_named(xp, name, mistake, fn):
    result = check(name, fn, backend=xp, random_state=3)
    assert not result.passed
    assert mistake in result.mistakes, str(result)
