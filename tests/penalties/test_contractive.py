"""npae.penalties.contractive, the reference: the one-layer closed form against Rifai's formula and
the recurrence, the recurrence's Jacobian against finite differences, its partials against
central differences, and row chunking."""

import numpy as np
import pytest

from npae import backend as B
from npae import penalties
from npae.gradcheck import check_gradients, relative_error
from npae.penalties import contractive

SMOOTH = ["tanh", "sigmoid", "softplus", "elu"]


def _on(xp, a, dtype="float64"):
    return B.asarray(np.asarray(a), dtype=dtype, backend=xp)


def test_one_layer_sigmoid_penalty_equals_rifai_closed_form(xp, rng, random_encoder, encoder_forward):
    X, Ws, bs, acts = random_encoder(xp, rng, (6, 4), ["sigmoid"])
    h, zs = encoder_forward(X, Ws, bs, acts)
    hn, Wn = B.to_numpy(h), B.to_numpy(Ws[0])
    rifai = ((hn * (1 - hn)) ** 2 * (Wn ** 2).sum(axis=0)[None, :]).sum(axis=1)
    for method in ("recurrence", "one_layer"):
        rows = B.to_numpy(penalties.contractive_penalty_rows(Ws, zs, acts, method=method))
        np.testing.assert_allclose(rows, rifai, rtol=1e-12)
        P, _, _ = penalties.contractive_penalty_and_grad(Ws, zs, acts, method=method)
        assert abs(float(P) - rifai.mean()) <= 1e-12 * rifai.mean()
    np.testing.assert_allclose(B.to_numpy(contractive.one_layer_penalty_rows(Ws[0], zs[0], acts[0])), rifai,
                               rtol=1e-12)
    np.testing.assert_allclose(B.to_numpy(contractive.recurrence_penalty_rows(Ws, zs, acts)), rifai, rtol=1e-12)


@pytest.mark.parametrize("act", SMOOTH)
def test_one_layer_shortcut_matches_the_recurrence(xp, rng, act, random_encoder, encoder_forward):
    X, Ws, bs, acts = random_encoder(xp, rng, (6, 5), [act])
    _, zs = encoder_forward(X, Ws, bs, acts)
    P1, dW1, dz1 = penalties.contractive_penalty_and_grad(Ws, zs, acts, weight=0.7, method="one_layer")
    P2, dW2, dz2 = penalties.contractive_penalty_and_grad(Ws, zs, acts, weight=0.7, method="recurrence")
    assert abs(float(P1) - float(P2)) <= 1e-13 * abs(float(P2))
    assert relative_error(dW1[0], dW2[0]) < 1e-13
    assert relative_error(dz1[0], dz2[0]) < 1e-13
    P3, dW3, dz3 = contractive.one_layer_penalty_and_grad(Ws[0], zs[0], acts[0], weight=0.7)
    assert float(P3) == float(P1)
    assert relative_error(dW3, dW1[0]) == 0.0
    assert relative_error(dz3, dz1[0]) == 0.0


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_encoder_jacobian_matches_finite_differences(xp, rng, depth, random_encoder, encoder_forward):
    sizes = {1: (6, 3), 2: (6, 5, 3), 3: (6, 5, 4, 3)}[depth]
    names = ["tanh", "softplus", "sigmoid"][:depth]
    X, Ws, bs, acts = random_encoder(xp, rng, sizes, names)
    _, zs = encoder_forward(X, Ws, bs, acts)
    T = B.to_numpy(penalties.encoder_jacobian(Ws, zs, acts))
    Xn, eps = B.to_numpy(X), 1e-6
    numeric = np.zeros_like(T)
    for d in range(Xn.shape[1]):
        step = np.zeros_like(Xn)
        step[:, d] = eps
        up = B.to_numpy(encoder_forward(_on(xp, Xn + step), Ws, bs, acts)[0])
        down = B.to_numpy(encoder_forward(_on(xp, Xn - step), Ws, bs, acts)[0])
        numeric[:, d, :] = (up - down) / (2 * eps)
    assert T.shape == (7, 6, sizes[-1])
    assert relative_error(T, numeric) < 1e-8


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_recurrence_partials_pass_central_differences(xp, rng, depth, random_encoder, encoder_forward):
    """P(Ws, zs) = mean_n ‖T_L[n]‖², with Ws and zs as independent inputs: dWs are the direct
    partials and dzs the partials the model injects into its backward."""
    sizes = (6, 5, 4, 3)[: depth + 1]
    names = ["elu", "tanh", "sigmoid"][:depth]
    X, Ws, bs, acts = random_encoder(xp, rng, sizes, names)
    _, zs = encoder_forward(X, Ws, bs, acts)
    _, dWs, dzs = penalties.contractive_penalty_and_grad(Ws, zs, acts, weight=1.3, method="recurrence")
    arrays = {**{f"W{i}": W for i, W in enumerate(Ws)}, **{f"z{i}": z for i, z in enumerate(zs)}}
    analytic = {**{f"W{i}": g for i, g in enumerate(dWs)}, **{f"z{i}": g for i, g in enumerate(dzs)}}

    def f():
        return 1.3 * penalties.contractive_penalty_and_grad(Ws, zs, acts, method="recurrence")[0]

    result = check_gradients(f, arrays, analytic)
    assert result.passed, str(result)


def test_chunked_recurrence_equals_one_chunk(xp, rng, random_encoder, encoder_forward):
    X, Ws, bs, acts = random_encoder(xp, rng, (6, 5, 4), ["tanh", "softplus"], n=9)
    _, zs = encoder_forward(X, Ws, bs, acts)
    whole = penalties.contractive_penalty_and_grad(Ws, zs, acts, weight=0.5)
    chunked = penalties.contractive_penalty_and_grad(Ws, zs, acts, weight=0.5, max_elements=2 * 6 * 9 * 2)
    assert abs(float(whole[0]) - float(chunked[0])) <= 1e-13 * abs(float(whole[0]))
    for a, b in zip(whole[1] + whole[2], chunked[1] + chunked[2]):
        assert relative_error(a, b) < 1e-13
    rows = penalties.contractive_penalty_rows(Ws, zs, acts, max_elements=100)
    assert relative_error(rows, penalties.contractive_penalty_rows(Ws, zs, acts)) < 1e-13
    T = penalties.encoder_jacobian(Ws, zs, acts, max_elements=100)
    # bit-equal with NumPy's element-wise functions; torch's vectorised sigmoid (a kernel) rounds
    # the tail of an array that a chunk ends differently, within one rounding step
    assert relative_error(T, penalties.encoder_jacobian(Ws, zs, acts)) <= (1e-15 if xp.name == "torch" else 0.0)
    # "auto" above takes the Gram form for 6-5-4; the recurrence itself, chunked against one chunk:
    whole = contractive.recurrence_penalty_and_grad(Ws, zs, acts, weight=0.5)
    chunked = contractive.recurrence_penalty_and_grad(Ws, zs, acts, weight=0.5, max_elements=2 * 6 * 9 * 2)
    assert abs(float(whole[0]) - float(chunked[0])) <= 1e-13 * abs(float(whole[0]))
    for a, b in zip(whole[1] + whole[2], chunked[1] + chunked[2]):
        assert relative_error(a, b) < 1e-13
    rows = contractive.recurrence_penalty_rows(Ws, zs, acts, max_elements=100)
    assert relative_error(rows, contractive.recurrence_penalty_rows(Ws, zs, acts)) < 1e-13


def test_encoder_jacobian_refuses_mismatched_layers(rng, random_encoder, encoder_forward):
    xp = B.get_backend("numpy")
    X, Ws, bs, acts = random_encoder(xp, rng, (6, 5, 4), ["tanh", "tanh"])
    _, zs = encoder_forward(X, Ws, bs, acts)
    with pytest.raises(ValueError, match="one W, z and activation per encoder layer"):
        penalties.encoder_jacobian(Ws, zs[:1], acts)
    with pytest.raises(ValueError, match="one W, z and activation per encoder layer"):
        contractive.recurrence_penalty_and_grad(Ws, zs, acts[:1])
