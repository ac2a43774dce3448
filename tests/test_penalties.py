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


@pytest.mark.parametrize("method", ["recurrence", "gram"])
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_contractive_partials_pass_central_differences(xp, rng, depth, method):
    """P(Ws, zs) = mean_n ‖T_L[n]‖², with Ws and zs as independent inputs: dWs are the direct
    partials and dzs the partials the model injects into its backward."""
    sizes = (6, 5, 4, 3)[: depth + 1]
    names = ["elu", "tanh", "sigmoid"][:depth]
    X, Ws, bs, acts = _encoder(xp, rng, sizes, names)
    _, zs = _forward(X, Ws, bs, acts)
    _, dWs, dzs = penalties.contractive_penalty_and_grad(Ws, zs, acts, weight=1.3, method=method)
    arrays = {**{f"W{i}": W for i, W in enumerate(Ws)}, **{f"z{i}": z for i, z in enumerate(zs)}}
    analytic = {**{f"W{i}": g for i, g in enumerate(dWs)}, **{f"z{i}": g for i, g in enumerate(dzs)}}

    def f():
        return 1.3 * penalties.contractive_penalty_and_grad(Ws, zs, acts, method=method)[0]

    result = check_gradients(f, arrays, analytic)
    assert result.passed, str(result)


def _relative_gap(a, b):
    return abs(float(a) - float(b)) / abs(float(b))


@pytest.mark.parametrize("act", SMOOTH)
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_gram_form_equals_the_recurrence(xp, rng, depth, act):
    """Value per row, mean, direct dW_l and injected dz_l of the Gram form against the N × D × H
    recurrence, in float64 (measured worst over these cases about 5e-16)."""
    sizes = (7, 6, 5, 4)[: depth + 1]
    X, Ws, bs, acts = _encoder(xp, rng, sizes, [act] * depth, n=9)
    _, zs = _forward(X, Ws, bs, acts)
    rows_gram = penalties.contractive_penalty_rows(Ws, zs, acts, method="gram")
    rows_rec = penalties.contractive_penalty_rows(Ws, zs, acts, method="recurrence")
    assert rows_gram.shape == (9,)
    assert relative_error(rows_gram, rows_rec) < 1e-12
    P1, dW1, dz1 = penalties.contractive_penalty_and_grad(Ws, zs, acts, weight=0.7, method="gram")
    P2, dW2, dz2 = penalties.contractive_penalty_and_grad(Ws, zs, acts, weight=0.7, method="recurrence")
    assert _relative_gap(P1, P2) < 1e-12
    for a, b in zip(dW1 + dz1, dW2 + dz2):
        assert a.shape == b.shape
        assert relative_error(a, b) < 1e-12


def test_gram_form_equals_the_recurrence_for_a_deep_mixed_encoder(xp, rng):
    """Depth 4, a different activation per layer and a linear (None) layer: the loop over the
    middle layers of the Gram backward runs twice."""
    names = ["softplus", "tanh", "elu", "sigmoid"]
    X, Ws, bs, acts = _encoder(xp, rng, (8, 7, 6, 5, 3), names, n=6)
    acts[2] = None
    _, zs = _forward(X, Ws, bs, [get_activation("identity") if a is None else a for a in acts])
    P1, dW1, dz1 = penalties.contractive_penalty_and_grad(Ws, zs, acts, weight=0.3, method="gram")
    P2, dW2, dz2 = penalties.contractive_penalty_and_grad(Ws, zs, acts, weight=0.3, method="recurrence")
    assert _relative_gap(P1, P2) < 1e-12
    for a, b in zip(dW1 + dz1, dW2 + dz2):
        assert relative_error(a, b) < 1e-12


@pytest.mark.parametrize("sizes", [(6, 5, 3), (6, 5, 4, 3)])
def test_chunked_gram_form_equals_one_chunk(xp, rng, monkeypatch, sizes):
    """Row chunks from the memory bound (max_elements) and, on the CPU, from the cache bound
    (GRAM_CACHE_ELEMENTS) give the same value and gradients as one chunk."""
    X, Ws, bs, acts = _encoder(xp, rng, sizes, ["tanh", "softplus", "sigmoid"][: len(sizes) - 1], n=9)
    _, zs = _forward(X, Ws, bs, acts)
    whole = penalties.contractive_penalty_and_grad(Ws, zs, acts, weight=0.5, method="gram")
    rows_whole = penalties.contractive_penalty_rows(Ws, zs, acts, method="gram")
    chunked = [penalties.contractive_penalty_and_grad(Ws, zs, acts, weight=0.5, method="gram", max_elements=100)]
    rows_chunked = [penalties.contractive_penalty_rows(Ws, zs, acts, method="gram", max_elements=100)]
    monkeypatch.setattr(penalties, "GRAM_CACHE_ELEMENTS", 2 * sizes[-1] * sizes[1])  # 2-row chunks
    chunked.append(penalties.contractive_penalty_and_grad(Ws, zs, acts, weight=0.5, method="gram"))
    rows_chunked.append(penalties.contractive_penalty_rows(Ws, zs, acts, method="gram"))
    for result, rows in zip(chunked, rows_chunked):
        assert _relative_gap(result[0], whole[0]) < 1e-13
        for a, b in zip(whole[1] + whole[2], result[1] + result[2]):
            assert relative_error(a, b) < 1e-13
        assert relative_error(rows, rows_whole) < 1e-13


def test_auto_takes_the_cheaper_exact_method():
    W = [np.zeros((784, 256)), np.zeros((256, 64))]
    costs = penalties.contractive_costs((784, 256, 64), 128)
    assert costs["recurrence"] == 784 * 256 * 64
    assert costs["gram"] == 64 * 256 * 256 + 784 * 256 * 256 / 128
    assert penalties.contractive_method(W, 128) == "gram"
    # a first layer much wider than the input: the D-wide recurrence is the cheaper one
    assert penalties.contractive_method([np.zeros((4, 64)), np.zeros((64, 3))], 128) == "recurrence"
    # recurrence multiply-adds weigh RECURRENCE_COST_FACTOR (2) Gram ones: the crossover measured
    # between H = 1280 and 1536 for 784-H-64
    for width, expected in ((1024, "gram"), (1280, "gram"), (1536, "recurrence"), (2048, "recurrence")):
        costs = penalties.contractive_costs((784, width, 64), 128)
        assert (costs["gram"] <= 2 * costs["recurrence"]) == (expected == "gram")
        assert penalties.contractive_method([np.zeros((784, width)), np.zeros((width, 64))], 128) == expected
    assert penalties.contractive_method(W[:1], 128) == "one_layer"
    assert penalties.contractive_method(W[:1], 128, "gram") == "one_layer"
    assert penalties.contractive_method(W[:1], 128, "recurrence") == "recurrence"
    assert penalties.contractive_method(W, 128, "recurrence") == "recurrence"


def _gram_grad_broken(Ws, zs, acts, broken):
    _, dWs, dzs = penalties.contractive_penalty_and_grad(Ws, zs, acts, weight=1.0, method="gram")
    if broken == "one_sided_gram":  # dW_1 = W_1 dΓ, forgetting Γ = W_1ᵀW_1 holds W_1 twice
        dWs = [0.5 * dWs[0], *dWs[1:]]
    elif broken == "no_second_derivative":  # f″(z_1) term dropped from the first layer's dz
        dzs = [0.0 * dzs[0], *dzs[1:]]
    elif broken == "no_middle_kernel":  # the loop's direct dW_2 of a depth-3 encoder dropped
        dWs = [dWs[0], 0.0 * dWs[1], dWs[2]]
    return dWs, dzs


@pytest.mark.parametrize("broken", ["one_sided_gram", "no_second_derivative", "no_middle_kernel"])
def test_gradcheck_rejects_a_broken_gram_backward(rng, broken):
    xp = B.get_backend("numpy")
    X, Ws, bs, acts = _encoder(xp, rng, (6, 5, 4, 3), ["tanh", "softplus", "sigmoid"])
    _, zs = _forward(X, Ws, bs, acts)
    dWs, dzs = _gram_grad_broken(Ws, zs, acts, broken)
    arrays = {**{f"W{i}": W for i, W in enumerate(Ws)}, **{f"z{i}": z for i, z in enumerate(zs)}}
    analytic = {**{f"W{i}": g for i, g in enumerate(dWs)}, **{f"z{i}": g for i, g in enumerate(dzs)}}
    result = check_gradients(lambda: penalties.contractive_penalty_and_grad(Ws, zs, acts, method="gram")[0],
                             arrays, analytic)
    assert not result.passed, str(result)


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
    with pytest.raises(ValueError, match="one-layer encoder; this one has 2 layers"):
        penalties.contractive_penalty_rows(Ws, zs, acts, method="one_layer")
    with pytest.raises(ValueError, match="Unknown contractive method 'fast'"):
        penalties.contractive_penalty_rows(Ws, zs, acts, method="fast")
    with pytest.raises(ValueError, match="one W, z and activation per encoder layer"):
        penalties.encoder_jacobian(Ws, zs[:1], acts)
