"""Penalties: values against closed forms, gradients against central differences, the
contractive recurrence against finite-difference Jacobians and its one-layer shortcut."""

import itertools

import numpy as np
import pytest
from array_api_compat import array_namespace

from npae import backend as B
from npae import penalties
from npae.activations import get_activation
from npae.gradcheck import check_gradients, relative_error
from tests.conftest import to_backend

SMOOTH = ["tanh", "sigmoid", "softplus", "elu"]


def _sigmoid_np(z):
    return 1.0 / (1.0 + np.exp(-z))


# ---------------------------------------------------------------------- L1
def test_l1_activity_matches_closed_form(xp, rng):
    h = rng.normal(size=(7, 4))
    hb = to_backend(xp, h)
    np.testing.assert_allclose(B.to_numpy(penalties.l1_activity(hb)), np.abs(h).sum(axis=1), rtol=1e-14)
    np.testing.assert_array_equal(B.to_numpy(penalties.l1_activity_grad(hb)), np.sign(h))


def test_l1_activity_gradient_passes_central_differences(xp, rng):
    h = rng.normal(size=(7, 4))
    h = np.where(np.abs(h) < 0.05, 0.3, h)  # keep away from the kink at 0
    hb = to_backend(xp, h)
    w = to_backend(xp, rng.normal(size=(7,)))

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
    value = float(penalties.kl_sparsity(to_backend(xp, z), 0.05))
    assert abs(value - _kl_reference(z, 0.05)) <= 1e-12 * abs(value)


def test_kl_sparsity_stays_finite_where_units_saturate(xp):
    # In float32 σ(−120) rounds to 0, so log(mean σ) would be −inf; the stable form is exact.
    z = np.full((4, 2), -120.0)
    z[:, 1] = np.linspace(-1.0, 1.0, 4)
    value32 = float(penalties.kl_sparsity(to_backend(xp, z, "float32"), 0.05))
    log_rho_hat0 = -120.0 - np.log1p(np.exp(-120.0))  # log σ(−120), the column mean
    expected = (0.05 * (np.log(0.05) - log_rho_hat0) + 0.95 * (np.log(0.95) - np.log1p(-np.exp(log_rho_hat0)))
                + _kl_reference(z[:, 1:], 0.05))
    assert np.isfinite(value32)
    assert abs(value32 - expected) <= 1e-5 * abs(expected)


@pytest.mark.parametrize("rho", [0.05, 0.5])
def test_kl_sparsity_gradient_flows_through_the_batch_mean(xp, rng, rho):
    """Every z_nj moves ρ̂_j, so all N rows of a column share its gradient factor."""
    z = to_backend(xp, rng.normal(size=(7, 4)))
    act = get_activation("sigmoid")

    def f():
        return penalties.kl_sparsity(z, rho)

    analytic = penalties.kl_sparsity_grad(z, rho) * act.df(z)
    result = check_gradients(f, {"z": z}, {"z": analytic})
    assert result.passed, str(result)


def test_gradcheck_rejects_a_kl_gradient_that_ignores_the_batch_mean(rng):
    z = to_backend(B.get_backend("numpy"), rng.normal(size=(7, 4)))
    rho = 0.05
    h = _sigmoid_np(z)
    per_row = (-rho / h + (1 - rho) / (1 - h)) / z.shape[0]  # ρ̂ replaced by each row's own h
    result = check_gradients(lambda: penalties.kl_sparsity(z, rho), {"z": z}, {"z": per_row * h * (1 - h)})
    assert not result.passed, str(result)


# ---------------------------------------------------------------------- contractive
def _encoder(xp, rng, sizes, act_names, n=7):
    """Random float64 encoder on backend xp: X, Ws, bs, activation objects."""
    X = to_backend(xp, rng.normal(size=(n, sizes[0])))
    Ws = [to_backend(xp, rng.normal(size=(a, b)) / np.sqrt(a)) for a, b in itertools.pairwise(sizes)]
    bs = [to_backend(xp, 0.3 * rng.normal(size=(b,))) for b in sizes[1:]]
    acts = [get_activation(a) for a in act_names]
    return X, Ws, bs, acts


def _forward(X, Ws, bs, acts):
    h, zs = X, []
    for W, b, act in zip(Ws, bs, acts):
        z = h @ W + b
        zs.append(z)
        h = act.f(z)
    return h, zs


def test_one_layer_sigmoid_penalty_equals_rifai_closed_form(xp, rng):
    X, Ws, bs, acts = _encoder(xp, rng, (6, 4), ["sigmoid"])
    h, zs = _forward(X, Ws, bs, acts)
    hn, Wn = B.to_numpy(h), B.to_numpy(Ws[0])
    rifai = ((hn * (1 - hn)) ** 2 * (Wn ** 2).sum(axis=0)[None, :]).sum(axis=1)
    for method in ("recurrence", "one_layer"):
        rows = B.to_numpy(penalties.contractive_penalty_rows(Ws, zs, acts, method=method))
        np.testing.assert_allclose(rows, rifai, rtol=1e-12)
        P, _, _ = penalties.contractive_penalty_and_grad(Ws, zs, acts, method=method)
        assert abs(float(P) - rifai.mean()) <= 1e-12 * rifai.mean()


@pytest.mark.parametrize("act", SMOOTH)
def test_one_layer_shortcut_matches_the_recurrence(xp, rng, act):
    X, Ws, bs, acts = _encoder(xp, rng, (6, 5), [act])
    _, zs = _forward(X, Ws, bs, acts)
    P1, dW1, dz1 = penalties.contractive_penalty_and_grad(Ws, zs, acts, weight=0.7, method="one_layer")
    P2, dW2, dz2 = penalties.contractive_penalty_and_grad(Ws, zs, acts, weight=0.7, method="recurrence")
    assert abs(float(P1) - float(P2)) <= 1e-13 * abs(float(P2))
    assert relative_error(dW1[0], dW2[0]) < 1e-13
    assert relative_error(dz1[0], dz2[0]) < 1e-13


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_encoder_jacobian_matches_finite_differences(xp, rng, depth):
    sizes = {1: (6, 3), 2: (6, 5, 3), 3: (6, 5, 4, 3)}[depth]
    names = ["tanh", "softplus", "sigmoid"][:depth]
    X, Ws, bs, acts = _encoder(xp, rng, sizes, names)
    _, zs = _forward(X, Ws, bs, acts)
    T = B.to_numpy(penalties.encoder_jacobian(Ws, zs, acts))
    Xn, eps = B.to_numpy(X), 1e-6
    numeric = np.zeros_like(T)
    for d in range(Xn.shape[1]):
        step = np.zeros_like(Xn)
        step[:, d] = eps
        up = B.to_numpy(_forward(to_backend(xp, Xn + step), Ws, bs, acts)[0])
        down = B.to_numpy(_forward(to_backend(xp, Xn - step), Ws, bs, acts)[0])
        numeric[:, d, :] = (up - down) / (2 * eps)
    assert T.shape == (7, 6, sizes[-1])
    assert relative_error(T, numeric) < 1e-8


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_contractive_partials_pass_central_differences(xp, rng, depth):
    """P(Ws, zs) = mean_n ‖T_L[n]‖², with Ws and zs as independent inputs: dWs are the direct
    partials and dzs the partials the model injects into its backward."""
    sizes = (6, 5, 4, 3)[: depth + 1]
    names = ["elu", "tanh", "sigmoid"][:depth]
    X, Ws, bs, acts = _encoder(xp, rng, sizes, names)
    _, zs = _forward(X, Ws, bs, acts)
    _, dWs, dzs = penalties.contractive_penalty_and_grad(Ws, zs, acts, weight=1.3, method="recurrence")
    arrays = {**{f"W{i}": W for i, W in enumerate(Ws)}, **{f"z{i}": z for i, z in enumerate(zs)}}
    analytic = {**{f"W{i}": g for i, g in enumerate(dWs)}, **{f"z{i}": g for i, g in enumerate(dzs)}}

    def f():
        return 1.3 * penalties.contractive_penalty_and_grad(Ws, zs, acts, method="recurrence")[0]

    result = check_gradients(f, arrays, analytic)
    assert result.passed, str(result)


def test_chunked_recurrence_equals_one_chunk(xp, rng):
    X, Ws, bs, acts = _encoder(xp, rng, (6, 5, 4), ["tanh", "softplus"], n=9)
    _, zs = _forward(X, Ws, bs, acts)
    whole = penalties.contractive_penalty_and_grad(Ws, zs, acts, weight=0.5)
    chunked = penalties.contractive_penalty_and_grad(Ws, zs, acts, weight=0.5, max_elements=2 * 6 * 9 * 2)
    assert abs(float(whole[0]) - float(chunked[0])) <= 1e-13 * abs(float(whole[0]))
    for a, b in zip(whole[1] + whole[2], chunked[1] + chunked[2]):
        assert relative_error(a, b) < 1e-13
    rows = penalties.contractive_penalty_rows(Ws, zs, acts, max_elements=100)
    assert relative_error(rows, penalties.contractive_penalty_rows(Ws, zs, acts)) < 1e-13
    T = penalties.encoder_jacobian(Ws, zs, acts, max_elements=100)
    assert relative_error(T, penalties.encoder_jacobian(Ws, zs, acts)) == 0.0


def test_contractive_refuses_bad_arguments(rng):
    xp = B.get_backend("numpy")
    X, Ws, bs, acts = _encoder(xp, rng, (6, 5, 4), ["tanh", "tanh"])
    _, zs = _forward(X, Ws, bs, acts)
    with pytest.raises(ValueError, match="one-layer encoder; this one has 2 layers"):
        penalties.contractive_penalty_and_grad(Ws, zs, acts, method="one_layer")
    with pytest.raises(ValueError, match="Unknown contractive method 'fast'"):
        penalties.contractive_penalty_rows(Ws, zs, acts, method="fast")
    with pytest.raises(ValueError, match="one W, z and activation per encoder layer"):
        penalties.encoder_jacobian(Ws, zs[:1], acts)
