"""npae.penalties.sparsity: L1 activity and KL sparsity against closed forms, gradients against
central differences, and the stable log-mean-sigmoid where units saturate."""

import numpy as np
import pytest
from array_api_compat import array_namespace
from scipy.special import expit

from npae import backend as B
from npae import kernels, ops, penalties
from npae.activations import get_activation
from npae.gradcheck import check_gradients
from npae.penalties import sparsity


def _on(xp, a, dtype="float64"):
    return B.asarray(np.asarray(a), dtype=dtype, backend=xp)


def _sigmoid_np(z):
    return 1.0 / (1.0 + np.exp(-z))


def _same(a, b):
    np.testing.assert_array_equal(B.to_numpy(a), B.to_numpy(b))


# ---------------------------------------------------------------------- L1
def test_l1_activity_matches_closed_form(xp, rng):
    h = rng.normal(size=(7, 4))
    hb = _on(xp, h)
    np.testing.assert_allclose(B.to_numpy(penalties.l1_activity(hb)), np.abs(h).sum(axis=1), rtol=1e-14)
    np.testing.assert_array_equal(B.to_numpy(penalties.l1_activity_grad(hb)), np.sign(h))


def test_l1_activity_gradient_passes_central_differences(xp, rng):
    h = rng.normal(size=(7, 4))
    h = np.where(np.abs(h) < 0.05, 0.3, h)  # keep away from the kink at 0
    hb = _on(xp, h)
    w = _on(xp, rng.normal(size=(7,)))

    def f():
        return array_namespace(hb).sum(w * penalties.l1_activity(hb))

    result = check_gradients(f, {"h": hb}, {"h": penalties.l1_activity_grad(hb) * w[:, None]})
    assert result.passed, str(result)


# ---------------------------------------------------------------------- KL sparsity
def _kl_reference(z, rho):
    rho_hat = _sigmoid_np(z).mean(axis=0)
    return float(np.sum(rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat))))


def test_kl_sparsity_matches_closed_form(xp, rng):
    z = rng.normal(size=(9, 5))
    value = float(penalties.kl_sparsity(_on(xp, z), 0.05))
    assert abs(value - _kl_reference(z, 0.05)) <= 1e-12 * abs(value)


def test_kl_sparsity_stays_finite_where_units_saturate(xp):
    # In float32 σ(−120) rounds to 0, so log(mean σ) would be −inf; the stable form is exact.
    z = np.full((4, 2), -120.0)
    z[:, 1] = np.linspace(-1.0, 1.0, 4)
    value32 = float(penalties.kl_sparsity(_on(xp, z, "float32"), 0.05))
    log_rho_hat0 = -120.0 - np.log1p(np.exp(-120.0))  # log σ(−120), the column mean
    expected = (0.05 * (np.log(0.05) - log_rho_hat0) + 0.95 * (np.log(0.95) - np.log1p(-np.exp(log_rho_hat0)))
                + _kl_reference(z[:, 1:], 0.05))
    assert np.isfinite(value32)
    assert abs(value32 - expected) <= 1e-5 * abs(expected)


def test_log_mean_sigmoid_is_the_logsumexp_of_log_sigmoids(xp, rng):
    z = _on(xp, np.concatenate([rng.standard_normal((20, 5)) * 4, np.full((3, 5), -120.0)]))
    log_p, log_q = penalties.log_mean_sigmoid(z)
    log_n = float(np.log(23.0))
    _same(log_p, ops.logsumexp(ops.log_sigmoid(z), axis=0) - log_n)
    _same(log_q, ops.logsumexp(ops.log_sigmoid(-z), axis=0) - log_n)


@pytest.mark.parametrize("rho", [0.05, 0.5])
def test_kl_sparsity_gradient_flows_through_the_batch_mean(xp, rng, rho):
    """Every z_nj moves ρ̂_j, so all N rows of a column share its gradient factor."""
    z = _on(xp, rng.normal(size=(7, 4)))
    act = get_activation("sigmoid")

    def f():
        return penalties.kl_sparsity(z, rho)

    analytic = penalties.kl_sparsity_grad(z, rho) * act.df(z)
    result = check_gradients(f, {"z": z}, {"z": analytic})
    assert result.passed, str(result)


@pytest.mark.parametrize("rho", [0.05, 0.5])
def test_kl_logit_gradient_passes_central_differences(xp, rng, rho):
    z = _on(xp, rng.normal(size=(7, 4)) * 3.0)
    result = check_gradients(lambda: penalties.kl_sparsity(z, rho), {"z": z},
                             {"z": penalties.kl_sparsity_logit_grad(z, rho)})
    assert result.passed, str(result)


def test_kl_logit_gradient_is_the_h_gradient_times_the_sigmoid_slope(xp, rng):
    z = _on(xp, rng.normal(size=(9, 5)) * 4.0)
    want = B.to_numpy(penalties.kl_sparsity_grad(z, 0.1) * get_activation("sigmoid").df(z))
    np.testing.assert_allclose(B.to_numpy(penalties.kl_sparsity_logit_grad(z, 0.1)), want, rtol=1e-13)


@pytest.mark.parametrize("dtype, logits", [("float32", [-95.0, -200.0, 30.0, 200.0, -1e4]),
                                           ("float64", [-800.0, 200.0, 1e4])])
def test_kl_logit_gradient_stays_finite_and_right_where_a_whole_column_saturates(xp, dtype, logits):
    """A column whose every unit sits at z = c has ρ̂ = σ(c), so dKL/dz_n = (1/N)(−ρ σ(−c) + (1 − ρ) σ(c)):
    about −ρ/N far below and (1 − ρ)/N far above. The product dKL/dh · σ′(z) is −inf, NaN or 0 there."""
    rho, n = 0.05, 4
    z = _on(xp, np.tile(np.asarray(logits), (n, 1)), dtype=dtype)
    got = B.to_numpy(penalties.kl_sparsity_logit_grad(z, rho))
    c = np.asarray(logits)
    want = np.tile((-rho * expit(-c) + (1 - rho) * expit(c)) / n, (n, 1))
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, want, rtol=1e-5 if dtype == "float32" else 1e-12)


def test_gradcheck_rejects_a_kl_gradient_that_ignores_the_batch_mean(rng):
    z = _on(B.get_backend("numpy"), rng.normal(size=(7, 4)))
    rho = 0.05
    h = _sigmoid_np(z)
    per_row = (-rho / h + (1 - rho) / (1 - h)) / z.shape[0]  # ρ̂ replaced by each row's own h
    result = check_gradients(lambda: penalties.kl_sparsity(z, rho), {"z": z}, {"z": per_row * h * (1 - h)})
    assert not result.passed, str(result)


@pytest.mark.parametrize("pair, grad_of", [("kl_sparsity_and_grad", "kl_sparsity_grad"),
                                            ("kl_sparsity_and_logit_grad", "kl_sparsity_logit_grad")])
@pytest.mark.parametrize("rho", [0.05, 0.5])
def test_each_kl_pair_in_the_reference_is_the_two_functions(xp, rng, rho, pair, grad_of):
    z = _on(xp, rng.standard_normal((24, 7)) * 2 - 1)
    with kernels.use_kernels("reference"):  # the reference softplus under log σ as well
        value, grad = getattr(sparsity, pair)(z, rho)
        via_package = getattr(penalties, pair)(z, rho)
        _same(value, penalties.kl_sparsity(z, rho))
        _same(grad, getattr(penalties, grad_of)(z, rho))
    _same(via_package[0], value)
    _same(via_package[1], grad)
    assert tuple(grad.shape) == (24, 7)
