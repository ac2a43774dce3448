"""npae.penalties.gram: the Gram form against the recurrence (values, rows and every partial), its
gradients against central differences, row chunking, the cost model behind "auto", and the
dispatch's refusals."""

import numpy as np
import pytest

from npae import backend as B
from npae import penalties
from npae.activations import get_activation
from npae.gradcheck import check_gradients, relative_error
from npae.penalties import gram

SMOOTH = ["tanh", "sigmoid", "softplus", "elu"]


def _relative_gap(a, b):
    return abs(float(a) - float(b)) / abs(float(b))


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_gram_partials_pass_central_differences(xp, rng, depth, random_encoder, encoder_forward):
    """P(Ws, zs) = mean_n ‖J_n‖², with Ws and zs as independent inputs: dWs are the direct
    partials and dzs the partials the model injects into its backward."""
    sizes = (6, 5, 4, 3)[: depth + 1]
    names = ["elu", "tanh", "sigmoid"][:depth]
    X, Ws, bs, acts = random_encoder(xp, rng, sizes, names)
    _, zs = encoder_forward(X, Ws, bs, acts)
    _, dWs, dzs = penalties.contractive_penalty_and_grad(Ws, zs, acts, weight=1.3, method="gram")
    arrays = {**{f"W{i}": W for i, W in enumerate(Ws)}, **{f"z{i}": z for i, z in enumerate(zs)}}
    analytic = {**{f"W{i}": g for i, g in enumerate(dWs)}, **{f"z{i}": g for i, g in enumerate(dzs)}}

    def f():
        return 1.3 * penalties.contractive_penalty_and_grad(Ws, zs, acts, method="gram")[0]

    result = check_gradients(f, arrays, analytic)
    assert result.passed, str(result)


@pytest.mark.parametrize("act", SMOOTH)
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_gram_form_equals_the_recurrence(xp, rng, depth, act, random_encoder, encoder_forward):
    """Value per row, mean, direct dW_l and injected dz_l of the Gram form against the N × D × H
    recurrence, in float64 (measured worst over these cases about 5e-16)."""
    sizes = (7, 6, 5, 4)[: depth + 1]
    X, Ws, bs, acts = random_encoder(xp, rng, sizes, [act] * depth, n=9)
    _, zs = encoder_forward(X, Ws, bs, acts)
    rows_gram = penalties.contractive_penalty_rows(Ws, zs, acts, method="gram")
    rows_rec = penalties.contractive_penalty_rows(Ws, zs, acts, method="recurrence")
    assert rows_gram.shape == (9,)
    assert relative_error(rows_gram, rows_rec) < 1e-12
    assert relative_error(gram.gram_penalty_rows(Ws, zs, acts), rows_gram) == 0.0
    P1, dW1, dz1 = penalties.contractive_penalty_and_grad(Ws, zs, acts, weight=0.7, method="gram")
    P2, dW2, dz2 = penalties.contractive_penalty_and_grad(Ws, zs, acts, weight=0.7, method="recurrence")
    assert _relative_gap(P1, P2) < 1e-12
    for a, b in zip(dW1 + dz1, dW2 + dz2):
        assert a.shape == b.shape
        assert relative_error(a, b) < 1e-12


def test_gram_form_equals_the_recurrence_for_a_deep_mixed_encoder(xp, rng, random_encoder, encoder_forward):
    """Depth 4, a different activation per layer and a linear (None) layer: the loop over the
    middle layers of the Gram backward runs twice."""
    names = ["softplus", "tanh", "elu", "sigmoid"]
    X, Ws, bs, acts = random_encoder(xp, rng, (8, 7, 6, 5, 3), names, n=6)
    acts[2] = None
    _, zs = encoder_forward(X, Ws, bs, [get_activation("identity") if a is None else a for a in acts])
    P1, dW1, dz1 = penalties.contractive_penalty_and_grad(Ws, zs, acts, weight=0.3, method="gram")
    P2, dW2, dz2 = penalties.contractive_penalty_and_grad(Ws, zs, acts, weight=0.3, method="recurrence")
    assert _relative_gap(P1, P2) < 1e-12
    for a, b in zip(dW1 + dz1, dW2 + dz2):
        assert relative_error(a, b) < 1e-12


@pytest.mark.parametrize("sizes", [(6, 5, 3), (6, 5, 4, 3)])
def test_chunked_gram_form_equals_one_chunk(xp, rng, monkeypatch, sizes, random_encoder, encoder_forward):
    """Row chunks from the memory bound (max_elements) and, on the CPU, from the cache bound
    (GRAM_CACHE_ELEMENTS) give the same value and gradients as one chunk."""
    X, Ws, bs, acts = random_encoder(xp, rng, sizes, ["tanh", "softplus", "sigmoid"][: len(sizes) - 1], n=9)
    _, zs = encoder_forward(X, Ws, bs, acts)
    whole = penalties.contractive_penalty_and_grad(Ws, zs, acts, weight=0.5, method="gram")
    rows_whole = penalties.contractive_penalty_rows(Ws, zs, acts, method="gram")
    chunked = [penalties.contractive_penalty_and_grad(Ws, zs, acts, weight=0.5, method="gram", max_elements=100)]
    rows_chunked = [penalties.contractive_penalty_rows(Ws, zs, acts, method="gram", max_elements=100)]
    monkeypatch.setattr(gram, "GRAM_CACHE_ELEMENTS", 2 * sizes[-1] * sizes[1])  # 2-row chunks
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
def test_gradcheck_rejects_a_broken_gram_backward(rng, broken, random_encoder, encoder_forward):
    xp = B.get_backend("numpy")
    X, Ws, bs, acts = random_encoder(xp, rng, (6, 5, 4, 3), ["tanh", "softplus", "sigmoid"])
    _, zs = encoder_forward(X, Ws, bs, acts)
    dWs, dzs = _gram_grad_broken(Ws, zs, acts, broken)
    arrays = {**{f"W{i}": W for i, W in enumerate(Ws)}, **{f"z{i}": z for i, z in enumerate(zs)}}
    analytic = {**{f"W{i}": g for i, g in enumerate(dWs)}, **{f"z{i}": g for i, g in enumerate(dzs)}}
    result = check_gradients(lambda: penalties.contractive_penalty_and_grad(Ws, zs, acts, method="gram")[0],
                             arrays, analytic)
    assert not result.passed, str(result)


def test_contractive_refuses_bad_arguments(rng, random_encoder, encoder_forward):
    xp = B.get_backend("numpy")
    X, Ws, bs, acts = random_encoder(xp, rng, (6, 5, 4), ["tanh", "tanh"])
    _, zs = encoder_forward(X, Ws, bs, acts)
    with pytest.raises(ValueError, match="one-layer encoder; this one has 2 layers"):
        penalties.contractive_penalty_and_grad(Ws, zs, acts, method="one_layer")
    with pytest.raises(ValueError, match="one-layer encoder; this one has 2 layers"):
        penalties.contractive_penalty_rows(Ws, zs, acts, method="one_layer")
    with pytest.raises(ValueError, match="Unknown contractive method 'fast'"):
        penalties.contractive_penalty_rows(Ws, zs, acts, method="fast")
    with pytest.raises(ValueError, match="one W, z and activation per encoder layer"):
        penalties.encoder_jacobian(Ws, zs[:1], acts)
