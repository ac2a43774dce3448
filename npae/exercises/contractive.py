"""Chapter 4, the contractive autoencoder: Rifai's one-layer penalty, its gradient (which needs f″),
and the Jacobian recurrence of a deep encoder.

References: ``npae.penalties.contractive`` (``one_layer_penalty_rows``, ``one_layer_penalty_and_grad``,
``encoder_jacobian``).
"""

from __future__ import annotations

from array_api_compat import array_namespace

from npae import activations, penalties
from npae.exercises.inputs import WEIGHT, forgot_weight, normal
from npae.exercises.registry import Exercise, Mistake, register
from npae.penalties import contractive as C

__all__: list = []


def _inputs(rng, N, D, H, activation):
    return {"W": normal(rng, D, H, scale=0.5), "z": normal(rng, N, H),
            "activation": activations.get_activation(activation)}


def _penalty(of_s, of_gamma=lambda W: array_namespace(W).sum(W * W, axis=0)):
    """mean_n Σ_j of_s(z, act)_nj · of_gamma(W)_j, the closed form with its pieces swapped out."""
    def variant(W, z, activation):
        xp = array_namespace(z)
        return (xp.mean(xp.sum(of_s(z, activation) * of_gamma(W)[None, :], axis=1)),)
    return variant


_SIG = activations.Sigmoid()
_SQUARE = lambda W: array_namespace(W).sum(W * W, axis=1) if W.shape[0] == W.shape[1] else None  # noqa: E731

register(Exercise(
    name="contractive_penalty", chapter=4, title="the contractive penalty of one layer (Rifai's closed form)",
    signature="contractive_penalty(W, z, activation)",
    task="For one encoder layer h = f(z), z = x W + b, the contractive penalty is the batch mean of the squared "
         "Frobenius norm of the Jacobian, P = mean_n ‖∂h_n/∂x_n‖²_F. Write ∂h_nj/∂x_nd, square and sum it "
         "without building the Jacobian, and return P.",
    given=(("W", "array of shape (D, H)"), ("z", "array of shape (N, H), the pre-activations"),
           ("activation", "npae.activations object (sigmoid, tanh) with f, df, d2f")),
    returns=(("P", "0-d array"),),
    make_inputs=_inputs,
    cases=({"N": 5, "D": 7, "H": 3, "activation": "sigmoid"}, {"N": 4, "D": 4, "H": 4, "activation": "tanh"}),
    batch=("z", 0),
    reference=lambda W, z, activation: (array_namespace(z).mean(C.one_layer_penalty_rows(W, z, activation)),),
    mistakes=(
        Mistake("wrong_axis", "you summed W² over the wrong axis: unit j's column of the Jacobian involves "
                              "one column of W.", lambda W, z, activation: (
                                  _penalty(lambda z, a: a.df(z) ** 2, _SQUARE)(W, z, activation)[0]
                                  if W.shape[0] == W.shape[1] else None,)),
        Mistake("forgot_square", "f′ appears squared in ‖∂h/∂x‖²_F, like W.", _penalty(lambda z, a: a.df(z))),
        Mistake("forgot_square", "the norm of W's column appears squared in ‖∂h/∂x‖²_F.",
                _penalty(lambda z, a: a.df(z) ** 2, lambda W: array_namespace(W).sum(W * W, axis=0) ** 0.5)),
        Mistake("used_f", "you used the activation's value where its slope belongs.",
                _penalty(lambda z, a: a.f(z) ** 2)),
        Mistake("fprime_of_output", "the activation's derivative is taken at the output h = f(z): look at what "
                                    "it is the derivative with respect to.",
                _penalty(lambda z, a: a.df(a.f(z)) ** 2)),
        Mistake("used_fsecond", "you used the activation's second derivative.", _penalty(lambda z, a: a.d2f(z) ** 2)),
        Mistake("hard_coded_activation", "your penalty assumes one activation (the sigmoid); use the activation "
                                         "object you are given.", _penalty(lambda z, a: _SIG.df(z) ** 2)),
        Mistake("frobenius_W", "you multiplied by the norm of the whole W: the Jacobian's column for unit j "
                               "involves only W's column j.", lambda W, z, activation: (
                                   _penalty(lambda z, a: a.df(z) ** 2, lambda W: array_namespace(W).zeros(
                                       W.shape[1], dtype=W.dtype) + array_namespace(W).sum(W * W))(
                                       W, z, activation)[0],)),
        Mistake("not_squared", "your penalty is a norm, not the squared norm of the Jacobian.",
                lambda W, z, activation: (array_namespace(z).mean(
                    C.one_layer_penalty_rows(W, z, activation) ** 0.5),)),
    ),
    factors=lambda **inputs: {"extra_1/H": ((1.0 / inputs["W"].shape[1], f"is 1/H = 1/{inputs['W'].shape[1]} of "
                                             "the expected one: you averaged over the units, but the Frobenius "
                                             "norm sums over them."),),
                              "extra_1/D": ((1.0 / inputs["W"].shape[0], f"is 1/D = 1/{inputs['W'].shape[0]} of "
                                             "the expected one: you averaged over the input features, but the "
                                             "Frobenius norm sums over them."),),
                              "wrong_axis": ((inputs["z"].shape[0] / inputs["W"].shape[1], "is N/H times the "
                                              "expected one: your mean runs over the units and the sum over the "
                                              "batch, the wrong way round."),)},
))


def _grad_inputs(rng, N, D, H, activation, weight=WEIGHT):
    return {**_inputs(rng, N, D, H, activation), "weight": weight}


def _grad_reference(W, z, activation, weight):
    return C.one_layer_penalty_and_grad(W, z, activation, weight=weight)[1:]


def _grad_variant(dz_of):
    def variant(W, z, activation, weight):
        _, dW, dz = C.one_layer_penalty_and_grad(W, z, activation, weight=weight)
        return dW, dz_of(W, z, activation, weight)
    return variant


def _dz_with(second, first=lambda z, a: a.df(z), norm=True):
    def dz(W, z, activation, weight):
        xp = array_namespace(z)
        s = first(z, activation)
        gamma = xp.sum(W * W, axis=0)[None, :] if norm else 1.0
        return (2.0 * weight / z.shape[0]) * s * second(z, activation) * gamma
    return dz


def _dW_with(square_of):
    """The penalty's gradient with dW = (2λ/N) W · Σ_n square_of(f′(z))_nj, dz as npae computes it."""
    def variant(W, z, activation, weight):
        xp = array_namespace(z)
        _, _, dz = C.one_layer_penalty_and_grad(W, z, activation, weight=weight)
        dW = (2.0 * weight / z.shape[0]) * W * xp.sum(square_of(activation.df(z)), axis=0)[None, :]
        return dW, dz
    return variant


register(Exercise(
    name="contractive_penalty_grad", chapter=4, title="the gradient of the one-layer contractive penalty",
    signature="contractive_penalty_grad(W, z, activation, weight)",
    task="For the penalty λP of contractive_penalty, return its two partial derivatives: ∂(λP)/∂W with z held "
         "fixed, and ∂(λP)/∂z with W held fixed (the model injects it where its backward reaches z, so it also "
         "flows into W, b and earlier layers). P depends on z only through f′(z).",
    given=(("W", "array of shape (D, H)"), ("z", "array of shape (N, H)"),
           ("activation", "npae.activations object with f, df (f′) and d2f (f″)"), ("weight", "float, λ")),
    returns=(("dW", "array of shape (D, H)"), ("dz", "array of shape (N, H)")),
    make_inputs=_grad_inputs,
    cases=({"N": 5, "D": 7, "H": 3, "activation": "sigmoid"},
           {"N": 4, "D": 4, "H": 4, "activation": "tanh", "weight": 0.7}), batch=("z", 0),
    reference=_grad_reference,
    mistakes=(
        Mistake("forgot_fsecond", "your dz is zero: P depends on z through f′(z), so dz needs f″(z).",
                _grad_variant(lambda W, z, a, w: array_namespace(z).zeros_like(z))),
        Mistake("fprime_for_fsecond", "your dz uses f′ where f″ belongs.",
                _grad_variant(_dz_with(lambda z, a: a.df(z)))),
        Mistake("forgot_fsecond", "your dz is missing a factor: look at how P reaches z.",
                _grad_variant(_dz_with(lambda z, a: 1.0))),
        Mistake("forgot_fprime", "your dz is missing a factor: differentiating f′(z)² gives more than f″(z) alone.",
                _grad_variant(_dz_with(lambda z, a: a.d2f(z), first=lambda z, a: 1.0))),
        Mistake("fsecond_of_output", "your dz takes f″ at the output h = f(z): look at what it is the derivative "
                                     "with respect to.", _grad_variant(_dz_with(lambda z, a: a.d2f(a.f(z))))),
        Mistake("forgot_norm", "your dz is missing the weights' part of the penalty (each unit's column of W).",
                _grad_variant(_dz_with(lambda z, a: a.d2f(z), norm=False))),
        Mistake("hard_coded_activation", "your dz assumes one activation (the sigmoid); use the activation object "
                                         "you are given.",
                _grad_variant(_dz_with(lambda z, a: _SIG.d2f(z), first=lambda z, a: _SIG.df(z)))),
        Mistake("forgot_square", "your dW uses f′ where the penalty has f′ squared.", _dW_with(lambda s: s)),
        Mistake("forgot_W", "your dW is missing W itself: the derivative of W² keeps a W.",
                lambda W, z, activation, weight: (
                    array_namespace(W).zeros_like(W) + (2.0 * weight / z.shape[0]) * array_namespace(z).sum(
                        activation.df(z) ** 2, axis=0)[None, :],
                    C.one_layer_penalty_and_grad(W, z, activation, weight=weight)[2])),
        Mistake("wrong_axis", "your dW sums over the wrong axis: each unit j's column of W is scaled by that "
                              "unit's own f′² summed over the batch.",
                lambda W, z, activation, weight: (
                    (2.0 * weight / z.shape[0]) * W * array_namespace(z).sum(activation.df(z) ** 2, axis=1)[:, None]
                    if z.shape[0] == W.shape[0] else None,
                    C.one_layer_penalty_and_grad(W, z, activation, weight=weight)[2])),
    ),
    objective=lambda W, z, activation, weight: weight * array_namespace(z).mean(
        C.one_layer_penalty_rows(W, z, activation)),
    grad_of={"dW": "W", "dz": "z"}, factors=forgot_weight,
))


# ---------------------------------------------------------------------- the deep recurrence
def _deep_inputs(rng, N, sizes, activations_):
    Ws = [normal(rng, a, b, scale=0.6) for a, b in zip(sizes[:-1], sizes[1:])]
    zs = [normal(rng, N, b) for b in sizes[1:]]
    return {"Ws": Ws, "zs": zs, "activations": [activations.get_activation(a) for a in activations_]}


def _deep_variant(step):
    """The recurrence with each layer's step T_l = step(T_{l−1}, W_l, s_l) (T_0 = None)."""
    def variant(Ws, zs, activations):
        T = None
        for W, z, act in zip(Ws, zs, activations):
            T = step(T, W, act.df(z))
        return (T,)
    return variant


class _AsValue:
    """An activation whose df is its f: the recurrence written with h where f′ belongs."""

    def __init__(self, activation):
        self.df = activation.f


def _product(T, W):
    return W[None, :, :] if T is None else T @ W


def _scaled_rows(Ws, zs, activations):
    """The recurrence with f′ broadcast along d (s[:, :, None]); it runs only where the widths agree."""
    T = None
    for W, z, act in zip(Ws, zs, activations):
        A, s = _product(T, W), act.df(z)
        if A.shape[1] != s.shape[1]:
            return (None,)
        T = A * s[:, :, None]
    return (T,)


register(Exercise(
    name="contractive_jacobian", chapter=4, title="the deep encoder's Jacobian, by the recurrence",
    signature="contractive_jacobian(Ws, zs, activations)",
    task="For an encoder h_l = f_l(z_l), z_l = h_{l−1} W_l + b_l, h_0 = x, carry the Jacobian "
         "T_l[n, d, j] = ∂h_l[n, j]/∂x[n, d] forward layer by layer, starting from layer 1 without building an "
         "identity matrix, and return T_L for the last layer. Every row n has its own Jacobian.",
    given=(("Ws", "list of arrays, W_l of shape (H_{l−1}, H_l), H_0 = D"),
           ("zs", "list of arrays, z_l of shape (N, H_l), a forward pass's pre-activations"),
           ("activations", "list of npae.activations objects, one per layer (f, df, d2f)")),
    returns=(("T", "array of shape (N, D, H_L)"),),
    make_inputs=_deep_inputs, batch=("zs", 0),
    cases=({"N": 3, "sizes": (5, 4, 3), "activations_": ("tanh", "sigmoid")},
           {"N": 2, "sizes": (4, 4, 4, 4), "activations_": ("tanh", "softplus", "tanh")}),
    reference=lambda Ws, zs, activations: (penalties.encoder_jacobian(Ws, zs, activations),),
    mistakes=(
        Mistake("forgot_fprime", "you forgot the factor f′(z_l) of every layer.",
                _deep_variant(lambda T, W, s: _product(T, W) * (1.0 + 0.0 * s)[:, None, :])),
        Mistake("wrong_axis", "you scaled T by f′ along the input axis d instead of the unit axis j.",
                _scaled_rows),
        Mistake("last_layer_only", "your T is the last layer's Jacobian alone: the recurrence must carry T "
                                   "through every layer.", lambda Ws, zs, activations: (
                                       Ws[-1][None, :, :] * activations[-1].df(zs[-1])[:, None, :],)),
        Mistake("first_layer_only", "your T stops after the first layer: the recurrence must carry T through "
                                    "every layer.", lambda Ws, zs, activations: (
                                        Ws[0][None, :, :] * activations[0].df(zs[0])[:, None, :],)),
        Mistake("fprime_of_output", "the activations' derivatives are taken at the outputs h_l = f(z_l): look at "
                                    "what they are derivatives with respect to.", lambda Ws, zs, activations: (
                                        penalties.encoder_jacobian(Ws, [a.f(z) for a, z in zip(activations, zs)],
                                                                   activations),)),
        Mistake("hard_coded_activation", "your recurrence uses one activation for every layer; each layer has "
                                         "its own.", lambda Ws, zs, activations: (
                                             penalties.encoder_jacobian(Ws, zs, [activations[0]] * len(zs)),)),
        Mistake("used_f", "you used the activations' values where their slopes belong.",
                lambda Ws, zs, activations: _deep_variant(lambda T, W, s: _product(T, W) * s[:, None, :])(
                    Ws, zs, [_AsValue(a) for a in activations])),
    ),
))
