"""The named-mistake catalogue: planted wrong answers, written as a learner would, each named by its id.

Covers the mistakes issue 22 lists (`*` for `@`, a fixed size, log_var as log σ, f″ on z, a forgotten
upstream gradient, a mean over the wrong axis, a finite-difference answer, an exception's cause) and
what students commonly get wrong in every exercise. Each test asserts the id, not just a failure.
"""

import math

import numpy as np
import pytest
from array_api_compat import array_namespace, device

import npae.exercises as ex
from npae import ops


def _xp(a):
    return array_namespace(a)


def _sig(z):
    return 1.0 / (1.0 + _xp(z).exp(-z))


# ---------------------------------------------------------------------- planted learner code
def dense_fwd_elementwise(x, W, b):
    return x * W + b


def dense_fwd_fixed_size(x, W, b):
    return x @ W + b[:3] if W.shape[1] != 3 else x @ W + b  # written for H = 3


def dense_fwd_fixed_rows(x, W, b):
    xp = _xp(x)
    out = xp.zeros((5, W.shape[1]), dtype=x.dtype, device=device(x))  # N = 5 hard-coded
    return out + x @ W + b


def dense_fwd_wrong_order(x, W, b):
    return W @ x + b


def dense_fwd_bias_column(x, W, b):
    return x @ W + b[:, None]


def dense_fwd_numpy_name(x, W, b):
    return np_.dot(x, W) + b  # noqa: F821  (a misspelt module name)


def dense_fwd_relu(x, W, b):
    return _xp(x).maximum(x @ W + b, 0.0)


def dense_bwd_no_upstream(x, W, b, g):
    xp = _xp(x)
    ones = xp.ones_like(g)
    return ones @ W.T, x.T @ ones, xp.sum(ones, axis=0)


def dense_bwd_db_axis1(x, W, b, g):
    return g @ W.T, x.T @ g, _xp(g).sum(g, axis=1)


def dense_bwd_out_of_order(x, W, b, g):
    return x.T @ g, g @ W.T, _xp(g).sum(g, axis=0)


def dense_bwd_elementwise(x, W, b, g):
    return g * W.T, x.T @ g, _xp(g).sum(g, axis=0)


def dense_bwd_two_args(x, W, g):
    return g @ W.T, x.T @ g, _xp(g).sum(g, axis=0)


def dense_bwd_used_output(x, W, b, g):
    z = x @ W + b
    return g @ W.T, z.T @ g, _xp(g).sum(g, axis=0)


def finite_difference_sigmoid(z):
    h = 1e-5
    return (_sig(z + h) - _sig(z - h)) / (2 * h)


def finite_difference_tanh(z):
    xp = _xp(z)
    h = 1e-5
    return (xp.tanh(z + h) - xp.tanh(z - h)) / (2 * h)


def tanh_second_on_z(z):
    return -2.0 * z * (1.0 - z**2)


def sigmoid_second_on_z(z):
    return z * (1 - z) * (1 - 2 * z)


def tanh_second_chain_missing(z):
    return -2.0 * _xp(z).tanh(z)


def dense_act_no_upstream(x, W, b, g, activation):
    xp = _xp(x)
    d = activation.df(x @ W + b)
    return d @ W.T, x.T @ d, xp.sum(d, axis=0)


def dense_act_tanh_only(x, W, b, g, activation):
    xp = _xp(x)
    z = x @ W + b
    d = g * (1 - xp.tanh(z) ** 2)
    return d @ W.T, x.T @ d, xp.sum(d, axis=0)


def dense_act_fprime_of_h(x, W, b, g, activation):
    xp = _xp(x)
    h = activation.f(x @ W + b)
    d = g * activation.df(h)
    return d @ W.T, x.T @ d, xp.sum(d, axis=0)


def kl_sparsity_rows_mean(h, target):
    xp = _xp(h)
    rho = xp.mean(h, axis=1, keepdims=True)  # mean over the units, not the batch
    return (-target / rho + (1 - target) / (1 - rho)) / h.shape[0] + 0 * h


def kl_sparsity_reversed(h, target):
    xp = _xp(h)
    rho = xp.mean(h, axis=0)
    return (xp.log(rho / target) - xp.log((1 - rho) / (1 - target))) / h.shape[0] + 0 * h


def kl_sparsity_one_row(h, target):
    xp = _xp(h)
    rho = xp.mean(h, axis=0)
    return (-target / rho + (1 - target) / (1 - rho)) / h.shape[0]


def gaussian_kl_log_std(mu, log_var):
    xp = _xp(mu)
    return -0.5 * xp.sum(1 + 2 * log_var - mu**2 - xp.exp(2 * log_var), axis=1)


def gaussian_kl_axis0(mu, log_var):
    xp = _xp(mu)
    return -0.5 * xp.sum(1 + log_var - mu**2 - xp.exp(log_var), axis=0)


def gaussian_kl_batch_mean(mu, log_var):
    xp = _xp(mu)
    return -0.5 * xp.mean(xp.sum(1 + log_var - mu**2 - xp.exp(log_var), axis=1))


def gaussian_kl_grad_log_std(mu, log_var):
    xp = _xp(mu)
    return mu, xp.exp(2 * log_var) - 1


def reparam_no_upstream(dz, mu, log_var, eps):
    xp = _xp(dz)
    return xp.ones_like(dz), 0.5 * xp.exp(0.5 * log_var) * eps


def reparam_log_std(dz, mu, log_var, eps):
    xp = _xp(dz)
    return dz, dz * xp.exp(log_var) * eps


def iwae_forgot_max(log_w):
    xp = _xp(log_w)
    m = xp.max(log_w, axis=0)
    return xp.log(xp.mean(xp.exp(log_w - m), axis=0))


def adam_returns_hat(param, grad, m, v, t, lr, b1, b2, eps):
    xp = _xp(param)
    m = b1 * m + (1 - b1) * grad
    v = b2 * v + (1 - b2) * grad**2
    m = m / (1 - b1**t)
    v = v / (1 - b2**t)
    return param - lr * m / (xp.sqrt(v) + eps), m, v


def adam_no_lr(param, grad, m, v, t, lr, b1, b2, eps):
    xp = _xp(param)
    m = b1 * m + (1 - b1) * grad
    v = b2 * v + (1 - b2) * grad**2
    return param - (m / (1 - b1**t)) / (xp.sqrt(v / (1 - b2**t)) + eps), m, v


def contractive_penalty_whole_W(W, z, activation):
    xp = _xp(W)
    return xp.mean(xp.sum(activation.df(z) ** 2, axis=1)) * xp.sum(W**2)


def contractive_penalty_sigmoid_only(W, z, activation):
    xp = _xp(W)
    s = _sig(z) * (1 - _sig(z))
    return xp.mean(xp.sum(s**2 * xp.sum(W**2, axis=0), axis=1))


def contractive_grad_dz_on_h(W, z, activation, weight):
    xp = _xp(W)
    N = z.shape[0]
    s = activation.df(z)
    gamma = xp.sum(W**2, axis=0)
    dW = 2 * weight / N * W * xp.sum(s**2, axis=0)
    dz = 2 * weight / N * s * activation.d2f(activation.f(z)) * gamma
    return dW, dz


def jacobian_first_activation(Ws, zs, activations):
    T = None
    for W, z in zip(Ws, zs):
        s = activations[0].df(z)
        T = W[None, :, :] * s[:, None, :] if T is None else (T @ W) * s[:, None, :]
    return T


def masking_dropout(x, mask, rate):
    return _xp(x).where(mask, x / (1 - rate), 0.0)


def masking_returns_mask(x, mask, rate):
    return _xp(x).astype(mask, x.dtype)


def gaussian_noise_one_side(x, eps, std):
    return _xp(x).maximum(x + std * eps, 0.0)


def gaussian_noise_multiplied(x, eps, std):
    return _xp(x).clip(x * (1 + std * eps), 0.0, 1.0)


def l1_indicator(h, weight):
    xp = _xp(h)
    return weight * xp.astype(h > 0, h.dtype) / h.shape[0]


def bce_swapped(x, y):
    xp = _xp(y)
    return xp.sum(ops.softplus(y) - (1 - x) * y, axis=1)


def bce_grad_wrt_p(x, y):
    p = ops.sigmoid(y)
    return -x / p + (1 - x) / (1 - p)


def mse_returns_loss(x, x_hat):
    return (x_hat - x) ** 2


def dense_fwd_on_default_device(x, W, b):
    xp = _xp(x)
    return x @ W + b + xp.zeros((x.shape[0], W.shape[1]), dtype=x.dtype)


def relu_sign(z):
    return _xp(z).sign(z)


def sigmoid_tanh_formula(z):
    return 1 - _sig(z) ** 2


def mutating_tanh(z):
    xp = _xp(z)
    t = xp.tanh(z)
    z[...] = 0.0
    return 1 - t**2


PLANTED = [
    # issue 22, item 3
    ("dense_forward", "elementwise_for_matmul", dense_fwd_elementwise),
    ("dense_backward", "elementwise_for_matmul", dense_bwd_elementwise),
    ("dense_forward", "fixed_size", dense_fwd_fixed_size),
    ("dense_forward", "fixed_size", dense_fwd_fixed_rows),
    ("gaussian_kl", "log_var_as_log_std", gaussian_kl_log_std),
    ("gaussian_kl_grad", "log_var_as_log_std", gaussian_kl_grad_log_std),
    ("reparameterize_backward", "log_var_as_log_std", reparam_log_std),
    ("tanh_second_derivative", "applied_to_z", tanh_second_on_z),
    ("sigmoid_second_derivative", "applied_to_z", sigmoid_second_on_z),
    ("dense_backward", "forgot_upstream", dense_bwd_no_upstream),
    ("dense_activation_backward", "forgot_upstream", dense_act_no_upstream),
    ("reparameterize_backward", "forgot_upstream", reparam_no_upstream),
    ("kl_sparsity_grad", "wrong_axis", kl_sparsity_rows_mean),
    ("dense_backward", "wrong_axis", dense_bwd_db_axis1),
    ("gaussian_kl", "wrong_axis", gaussian_kl_axis0),
    ("sigmoid_derivative", "finite_difference", finite_difference_sigmoid),
    ("tanh_derivative", "finite_difference", finite_difference_tanh),
    ("tanh_derivative", "finite_difference", lambda z: (_xp(z).tanh(z + 1e-3) - _xp(z).tanh(z - 1e-3)) / 2e-3),
    ("bce_with_logits", "approximate", lambda x, y: -_xp(y).sum(
        x * _xp(y).log(ops.sigmoid(y) + 1e-6) + (1 - x) * _xp(y).log(1 - ops.sigmoid(y) + 1e-6), axis=1)),
    ("dense_forward", "transposed", dense_fwd_wrong_order),
    ("dense_forward", "missing_axis", dense_fwd_bias_column),
    ("dense_forward", "undefined_name", dense_fwd_numpy_name),
    ("dense_backward", "signature", dense_bwd_two_args),
    # beyond the list
    ("tanh_second_derivative", "forgot_fprime", tanh_second_chain_missing),
    ("dense_forward", "applied_activation", dense_fwd_relu),
    ("dense_backward", "output_order", dense_bwd_out_of_order),
    ("dense_backward", "used_output", dense_bwd_used_output),
    ("dense_activation_backward", "hard_coded_activation", dense_act_tanh_only),
    ("dense_activation_backward", "fprime_of_output", dense_act_fprime_of_h),
    ("kl_sparsity_grad", "reversed_kl", kl_sparsity_reversed),
    ("kl_sparsity_grad", "not_broadcast", kl_sparsity_one_row),
    ("gaussian_kl", "reduced", gaussian_kl_batch_mean),
    ("iwae_bound", "forgot_max", iwae_forgot_max),
    ("adam_step", "returned_corrected_moments", adam_returns_hat),
    ("adam_step", "forgot_learning_rate", adam_no_lr),
    ("contractive_penalty", "frobenius_W", contractive_penalty_whole_W),
    ("contractive_penalty", "hard_coded_activation", contractive_penalty_sigmoid_only),
    ("contractive_penalty_grad", "fsecond_of_output", contractive_grad_dz_on_h),
    ("contractive_jacobian", "hard_coded_activation", jacobian_first_activation),
    ("masking_noise", "rescaled", masking_dropout),
    ("masking_noise", "returned_mask", masking_returns_mask),
    ("gaussian_noise", "half_clip", gaussian_noise_one_side),
    ("gaussian_noise", "multiplied_noise", gaussian_noise_multiplied),
    ("l1_activity_grad", "indicator", l1_indicator),
    ("bce_with_logits", "swapped_targets", bce_swapped),
    ("bce_with_logits_grad", "wrt_probability", bce_grad_wrt_p),
    ("mse_grad", "returned_loss", mse_returns_loss),
    ("relu_derivative", "sign_function", relu_sign),
    ("sigmoid_derivative", "other_activation", sigmoid_tanh_formula),
    ("tanh_derivative", "mutated_input", mutating_tanh),
    ("dense_backward", "returned_input", lambda x, W, b, g: (g @ W.T, x.T @ g, b)),
    ("tanh_derivative", "scalar_function", lambda z: 1 - math.tanh(z) ** 2),
    ("dense_backward", "wrong_axis", lambda x, W, b, g: (g @ W.T, x.T @ g, _xp(g).sum(g, axis=2))),
    ("masking_noise", "boolean_index", lambda x, mask, rate: x[mask]),
    ("contractive_jacobian", "missing_batch_axis", lambda Ws, zs, acts: Ws[0] @ Ws[1]),
    ("masking_noise", "partly_right", lambda x, mask, rate: _xp(x).where(mask, x, -1.0 + 0.5 * x)),
    ("mse_grad", "precedence", lambda x, x_hat: 2 * x_hat - x),
    ("gaussian_kl", "forgot_exp", lambda mu, lv: -0.5 * _xp(mu).sum(1 + lv - mu**2 - lv, axis=1)),
    ("gaussian_kl_grad", "returned_kl", lambda mu, lv: (mu, -0.5 * (1 + lv - mu**2 - _xp(mu).exp(lv)))),
    ("kl_sparsity_grad", "sum_for_mean", lambda h, t: (-t / _xp(h).sum(h, axis=0) + (1 - t) / (
        1 - _xp(h).sum(h, axis=0))) / h.shape[0] + 0 * h),
    ("gaussian_noise", "divided_by_std", lambda x, eps, std: _xp(x).clip(x + eps / std, 0.0, 1.0)),
    ("iwae_bound", "forgot_log_S", lambda log_w: ops.logsumexp(log_w, axis=0) - log_w.shape[0]),
    ("dense_activation_backward", "forgot_bias", lambda x, W, b, g, act: (
        (g * act.df(x @ W)) @ W.T, x.T @ (g * act.df(x @ W)), _xp(x).sum(g * act.df(x @ W), axis=0))),
    ("contractive_penalty_grad", "forgot_W", lambda W, z, act, w: (
        2 * w / z.shape[0] * _xp(z).sum(act.df(z) ** 2, axis=0) + 0 * W,
        2 * w / z.shape[0] * act.df(z) * act.d2f(z) * _xp(W).sum(W * W, axis=0))),
    ("adam_step", "multiplied_by_std", lambda p, g, m, v, t, lr, b1, b2, eps: (
        p - lr * ((b1 * m + (1 - b1) * g) / (1 - b1**t))
        * (_xp(p).sqrt((b2 * v + (1 - b2) * g**2) / (1 - b2**t)) + eps),
        b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g**2)),
]


@pytest.fixture(autouse=True)
def _fresh_progress():
    yield
    ex.reset_progress()


@pytest.mark.parametrize("name, mistake, fn", PLANTED, ids=[f"{n}-{m}" for n, m, _ in PLANTED])
def test_a_planted_mistake_is_named(name, mistake, fn):
    result = ex.check(name, fn, backend="numpy", random_state=4)
    assert not result.passed
    assert mistake in result.mistakes, str(result)
    assert "in no way the checker recognises" not in str(result)


def test_star_for_matmul_is_not_told_to_add_an_axis():
    text = str(ex.check("dense_forward", dense_fwd_elementwise, backend="numpy", random_state=0))
    assert "add an axis" not in text and "[:, None]" not in text
    assert "(5, 7) and (7, 3)" in text  # the operands that met


def test_a_shape_error_names_the_operands_by_their_axes():
    text = str(ex.check("dense_forward", dense_fwd_wrong_order, backend="numpy", random_state=0))
    assert "W axis 1" in text and "x axis" in text


def test_a_fixed_size_is_named_on_the_strict_device_too():
    result = ex.check("dense_forward", dense_fwd_fixed_rows, backend="array_api_strict", random_state=0)
    assert "fixed_size" in result.mistakes


def test_an_array_made_on_the_default_device_is_named():
    result = ex.check("dense_forward", dense_fwd_on_default_device, backend="array_api_strict", random_state=0)
    assert "wrong_device" in result.mistakes and "device=" in str(result)


def test_strict_device_errors_get_their_own_names():
    cases = [("tanh_derivative", lambda z: 1 - _xp(z).tanh(z) ** 2 if len(z) else 0, "array_len"),
             ("iwae_bound", lambda lw: _xp(lw).log(_xp(lw).mean(_xp(lw).exp(lw), 0)), "call_arguments"),
             ("gaussian_kl", lambda mu, lv: _xp(mu).sum(mu).item(), "array_method")]
    for name, fn, mistake in cases:
        result = ex.check(name, fn, backend="array_api_strict", random_state=0)
        assert mistake in result.mistakes, str(result)


def test_the_finite_difference_passes_float64_and_is_caught_in_float32():
    text = str(ex.check("sigmoid_derivative", finite_difference_sigmoid, backend="numpy", random_state=0))
    case_lines = text.split("\n", 1)[1].split("float32 inputs")[0]
    assert "FAIL" not in case_lines  # right in float64
    assert "finite difference" in text


def test_messages_do_not_give_the_formula_away():
    for name, fn in (("tanh_second_derivative", tanh_second_chain_missing),
                     ("dense_activation_backward", dense_act_tanh_only),
                     ("gaussian_kl", gaussian_kl_log_std)):
        text = str(ex.check(name, fn, backend="numpy", random_state=1))
        assert "tanh′(z)" not in text and "factor σ′(z)" not in text and "= exp(log_var)" not in text, text


def test_every_catalogued_variant_differs_from_the_reference():
    """A variant equal to the reference would name a right answer; each must be wrong on the first case
    (or be None there, for the variants that need square shapes)."""
    from npae.exercises.registry import REGISTRY

    rng = np.random.default_rng(0)
    for exercise in REGISTRY.values():
        for sizes in exercise.cases:
            inputs = exercise.make_inputs(rng, **sizes)
            expected = exercise.reference(**inputs)
            for mistake in exercise.mistakes:
                with np.errstate(all="ignore"):
                    wrong = mistake.variant(**inputs)
                assert len(wrong) == len(expected), (exercise.name, mistake.id)
                differs = [w is not None and (w.shape != e.shape or not np.allclose(w, e, rtol=1e-9, atol=0))
                           for w, e in zip(wrong, expected)]
                if sizes is exercise.cases[-1] and mistake.id != "hard_coded_activation":
                    assert any(differs) or all(w is None for w in wrong), (exercise.name, mistake.id)



@pytest.mark.parametrize("name, fn", [
    ("l1_activity_grad", lambda h, w: w * _xp(h).sign(h) / h.shape[1]),
    ("bce_with_logits", lambda x, y: _xp(y).mean(ops.softplus(y) - x * y, axis=0)),
    ("gaussian_kl", lambda mu, lv: -0.5 * _xp(mu).mean(1 + lv - mu**2 - _xp(mu).exp(lv), axis=0)),
    ("contractive_penalty", lambda W, z, a: _xp(z).mean(_xp(z).sum(a.df(z) ** 2 * _xp(W).sum(W * W, axis=0), axis=0))),
])
def test_a_mean_over_the_wrong_axis_is_named(name, fn):
    result = ex.check(name, fn, backend="numpy", random_state=2)
    assert "wrong_axis" in result.mistakes, str(result)
