"""Chapter 1, an autoencoder from scratch: the dense layer, three activations' derivatives, the
reconstruction losses and one Adam update.

Each exercise compares the learner's function with npae's reference (``npae.layers.Dense``,
``npae.activations``, ``npae.losses``, ``npae.optimizers.Adam``) and names the usual mistakes.
"""

from __future__ import annotations

from array_api_compat import array_namespace

from npae import activations, losses, ops, optimizers
from npae.exercises.inputs import away_from_zero, dense_inputs, dense_layer, host_namespace, normal, z_inputs
from npae.exercises.registry import Edge, Exercise, Mistake, register

__all__: list = []

_N_X_D = "array of shape (N, D)"


def _per_feature(**inputs) -> dict:
    D = inputs["x"].shape[1]
    return {"extra_1/D": ((1.0 / D, f"is 1/D = 1/{D} of the expected one: you divided by D (a mean over "
                                     "features), but the loss sums over features."),)}


# ---------------------------------------------------------------------- the dense layer
register(Exercise(
    name="dense_forward", chapter=1, title="the dense layer's forward pass",
    signature="dense_forward(x, W, b)",
    task="Compute the affine map of a dense layer, z = x W + b, for a batch of N rows at once.",
    given=(("x", _N_X_D + ", one row per example"), ("W", "array of shape (D, H)"), ("b", "array of shape (H,)")),
    returns=(("z", "array of shape (N, H)"),),
    make_inputs=dense_inputs,
    cases=({"N": 5, "D": 7, "H": 3}, {"N": 4, "D": 6, "H": 6}),
    reference=lambda x, W, b: (dense_layer(W, b).forward(x),),
    mistakes=(
        Mistake("forgot_bias", "you left out the bias b.", lambda x, W, b: (x @ W,)),
        Mistake("transposed", "your z uses W transposed; check which axis of W meets the features of x.",
                lambda x, W, b: (x @ W.T + b if W.shape[0] == W.shape[1] else None,)),
        Mistake("sign", "you subtracted the bias instead of adding it.", lambda x, W, b: (x @ W - b,)),
    ),
    edges=(Edge("a batch of one row (N = 1)", lambda rng: dense_inputs(rng, 1, 4, 3), "one_row",
                "a batch of one row must still give shape (1, H); avoid squeezing axes."),),
))


def _dense_backward_reference(x, W, b, grad_out):
    layer = dense_layer(W, b)
    layer.forward(x)
    dx = layer.backward(grad_out)
    return dx, layer.grads["W"], layer.grads["b"]


def _dense_backward_inputs(rng, N, D, H):
    return {**dense_inputs(rng, N, D, H), "grad_out": normal(rng, N, H)}


def _dense_objective(x, W, b, grad_out):
    xp = array_namespace(x)
    return xp.sum(grad_out * (x @ W + b))


register(Exercise(
    name="dense_backward", chapter=1, title="the dense layer's backward pass",
    signature="dense_backward(x, W, b, grad_out)",
    task="The forward pass computed z = x W + b. Given grad_out = g = ∂L/∂z for some scalar loss L, "
         "return ∂L/∂x, ∂L/∂W and ∂L/∂b.",
    given=(("x", _N_X_D), ("W", "array of shape (D, H)"), ("b", "array of shape (H,)"),
           ("grad_out", "array of shape (N, H), g = ∂L/∂z")),
    returns=(("dx", _N_X_D), ("dW", "array of shape (D, H)"), ("db", "array of shape (H,)")),
    make_inputs=_dense_backward_inputs,
    cases=({"N": 5, "D": 7, "H": 3}, {"N": 4, "D": 6, "H": 6}),
    reference=_dense_backward_reference,
    mistakes=(
        Mistake("transposed", "your dx uses W the wrong way round (transposed); check which axis of W meets grad_out.",
                lambda x, W, b, grad_out: (grad_out @ W if W.shape[0] == W.shape[1] else None, None, None)),
        Mistake("transposed", "your dW is the transpose of the expected one; check the order of the product.",
                lambda x, W, b, grad_out: (None, (grad_out.T @ x) if W.shape[0] == W.shape[1] else None, None)),
    ),
    objective=_dense_objective, grad_of={"dx": "x", "dW": "W", "db": "b"},
))


# ---------------------------------------------------------------------- activation derivatives
def _large_z(rng):
    z = away_from_zero(rng, 3, 4)
    xp = array_namespace(z)
    big = xp.asarray([[-800.0, -40.0, 40.0, 800.0]])
    return {"z": xp.concat([z, big], axis=0)}


def _derivative(act, name, title, f_text, mistakes, edges=()):
    register(Exercise(
        name=name, chapter=1, title=title, signature=f"{name}(z)",
        task=f"Return f′(z), element by element, for f(z) = {f_text}.",
        given=(("z", "array of any shape (here (N, D)), the pre-activations"),),
        returns=(("df", "array of the shape and dtype of z, f′(z)"),),
        make_inputs=z_inputs, cases=({"N": 5, "D": 7}, {"N": 3, "D": 4}),
        reference=lambda z: (act.df(z),),
        mistakes=tuple(Mistake(i, m, v) for i, m, v in mistakes) + (
            Mistake("returned_f", "you returned f(z) itself, not its derivative.", lambda z: (act.f(z),)),),
        edges=edges,
        objective=lambda z: array_namespace(z).sum(act.f(z)), grad_of={"df": "z"},
    ))


_SIGMOID, _TANH, _RELU = activations.Sigmoid(), activations.Tanh(), activations.ReLU()
_unstable = ("unstable", "a formula that overflows for large |z| (e^800 is inf in float64); go through "
                         "σ(z) computed stably (npae.ops.sigmoid) or e^(−|z|).")

_derivative(_SIGMOID, "sigmoid_derivative", "the sigmoid's derivative", "σ(z) = 1/(1 + e^(−z))", (
    ("applied_to_z", "you applied the formula to z itself; it needs σ(z).", lambda z: (z * (1.0 - z),)),
), edges=(Edge("large |z| (±40, ±800)", _large_z, *_unstable),))
_derivative(_TANH, "tanh_derivative", "tanh's derivative", "tanh z", (
    ("applied_to_z", "you applied the formula to z itself; it needs tanh z.", lambda z: (1.0 - z * z,)),
    ("forgot_square", "you forgot to square tanh z.", lambda z: (1.0 - array_namespace(z).tanh(z),)),
), edges=(Edge("large |z| (±40, ±800)", _large_z, "unstable",
               "a formula that overflows for large |z|; use xp.tanh, or e^(−2|z|)."),))
_derivative(_RELU, "relu_derivative", "ReLU's derivative", "max(z, 0) (inputs avoid the kink z = 0)", (
    ("flipped", "your derivative is 1 on the wrong side of 0.",
     lambda z: (array_namespace(z).astype(z < 0, z.dtype),)),
))


# ---------------------------------------------------------------------- losses
def _loss_inputs(rng, N, D):
    return {"x": rng.uniform(0.0, 1.0, (N, D)), "x_hat": normal(rng, N, D)}


register(Exercise(
    name="mse_grad", chapter=1, title="the squared error's gradient",
    signature="mse_grad(x, x_hat)",
    task="The per-row squared error is ℓ_n = Σ_d (x̂_nd − x_nd)². Return ∂(Σ_n ℓ_n)/∂x̂: the gradient of each "
         "row's loss with respect to the reconstruction (the model averages over the batch later).",
    given=(("x", _N_X_D + ", the data"), ("x_hat", _N_X_D + ", the reconstruction x̂")),
    returns=(("grad", _N_X_D + ", ∂(Σ_n ℓ_n)/∂x̂"),),
    make_inputs=_loss_inputs, cases=({"N": 5, "D": 7}, {"N": 3, "D": 4}),
    reference=lambda x, x_hat: (losses.squared_error_grad(x, x_hat),),
    objective=lambda x, x_hat: array_namespace(x).sum(losses.squared_error(x, x_hat)), grad_of={"grad": "x_hat"},
    factors=_per_feature,
))


def _bce_inputs(rng, N, D):
    return {"x": rng.uniform(0.0, 1.0, (N, D)), "logits": normal(rng, N, D, scale=2.0)}


def _bce_edge(rng):
    xp = host_namespace(rng)
    x = xp.asarray([[0.0, 1.0, 0.0, 1.0, 0.5, 0.5], [1.0, 0.0, 0.3, 0.7, 0.0, 1.0]])
    logits = xp.asarray([[40.0, -40.0, 800.0, -800.0, 40.0, -800.0], [40.0, -40.0, -800.0, 800.0, -800.0, 800.0]])
    return {"x": x, "logits": logits}


def _bce_naive(x, logits):
    xp = array_namespace(x)
    p = ops.sigmoid(logits)
    return -xp.sum(x * xp.log(p) + (1.0 - x) * xp.log(1.0 - p), axis=1)


register(Exercise(
    name="bce_with_logits", chapter=1, title="binary cross-entropy on logits",
    signature="bce_with_logits(x, logits)",
    task="The decoder emits logits y; the model's probability is σ(y). Return the per-row binary cross-entropy "
         "ℓ_n = −Σ_d [x log σ(y) + (1 − x) log(1 − σ(y))], exact for every logit: no clipping, and finite "
         "where σ(y) rounds to 0 or 1.",
    given=(("x", _N_X_D + ", targets in [0, 1]"), ("logits", _N_X_D + ", y")),
    returns=(("loss", "array of shape (N,), one value per row, summed over features"),),
    make_inputs=_bce_inputs, cases=({"N": 5, "D": 7}, {"N": 3, "D": 4}),
    reference=lambda x, logits: (losses.bce_with_logits(x, logits),),
    mistakes=(Mistake("not_summed", "you returned one value per entry; the loss of a row sums over its features.",
                      lambda x, logits: (ops.softplus(logits) - x * logits,)),),
    edges=(Edge("huge logits (±40, ±800)", lambda rng: _bce_edge(rng), "unstable",
                "log σ(y) was taken of a rounded σ, or probabilities were clipped; rewrite the loss with "
                "softplus(y) = log(1 + e^y) (xp.logaddexp(0.0, y)), which is exact."),),
    factors=_per_feature,
))

register(Exercise(
    name="bce_with_logits_grad", chapter=1, title="the gradient of BCE on logits",
    signature="bce_with_logits_grad(x, logits)",
    task="Return ∂(Σ_n ℓ_n)/∂y for the per-row binary cross-entropy on logits of bce_with_logits: the "
         "gradient of each row's loss with respect to its logits.",
    given=(("x", _N_X_D + ", targets in [0, 1]"), ("logits", _N_X_D + ", y")),
    returns=(("grad", _N_X_D),),
    make_inputs=_bce_inputs, cases=({"N": 5, "D": 7}, {"N": 3, "D": 4}),
    reference=lambda x, logits: (losses.bce_with_logits_grad(x, logits),),
    mistakes=(Mistake("forgot_sigmoid", "your gradient uses the logit y where the probability σ(y) belongs.",
                      lambda x, logits: (logits - x,)),),
    edges=(Edge("huge logits (±40, ±800)", lambda rng: _bce_edge(rng), "unstable",
                "σ(y) overflowed for large |y|; use a stable sigmoid (npae.ops.sigmoid)."),),
    objective=lambda x, logits: array_namespace(x).sum(losses.bce_with_logits(x, logits)),
    grad_of={"grad": "logits"}, factors=_per_feature,
))


# ---------------------------------------------------------------------- one Adam update
def _adam_inputs(rng, D, H):
    xp = host_namespace(rng)
    # small gradients, as late in training, so that where ε is added shows in the step
    return {"param": normal(rng, D, H), "grad": normal(rng, D, H, scale=1e-3),
            "m": normal(rng, D, H, scale=1e-4), "v": xp.abs(normal(rng, D, H, scale=1e-9)),
            "t": int(rng.integers(2, 6)), "learning_rate": 0.01, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}


def _adam_reference(param, grad, m, v, t, learning_rate, beta1, beta2, epsilon):
    xp = array_namespace(param)
    adam = optimizers.Adam(learning_rate, beta1, beta2, epsilon)
    new = xp.asarray(param, copy=True)
    adam.state = [{"m": xp.asarray(m, copy=True), "v": xp.asarray(v, copy=True)}]
    adam.iterations = t - 1
    adam.step([(new, grad)])
    return new, adam.state[0]["m"], adam.state[0]["v"]


def _adam_variant(*, correct=True, sqrt=True, eps_inside=False, swap=False, t_shift=0, square=True, ascent=False):
    def variant(param, grad, m, v, t, learning_rate, beta1, beta2, epsilon):
        xp = array_namespace(param)
        b1 = 1.0 - beta1 if swap else beta1
        m_new = b1 * m + (1.0 - b1) * grad
        v_new = beta2 * v + (1.0 - beta2) * (grad * grad if square else grad)
        m_hat = m_new / (1.0 - beta1 ** (t + t_shift)) if correct else m_new
        v_hat = v_new / (1.0 - beta2 ** (t + t_shift)) if correct else v_new
        if eps_inside:
            step = m_hat / xp.sqrt(v_hat + epsilon)
        else:
            step = m_hat / ((xp.sqrt(v_hat) if sqrt else v_hat) + epsilon)
        return param + learning_rate * step if ascent else param - learning_rate * step, m_new, v_new
    return variant


register(Exercise(
    name="adam_step", chapter=1, title="one Adam update",
    signature="adam_step(param, grad, m, v, t, learning_rate, beta1, beta2, epsilon)",
    task="Apply one Adam update (Kingma & Ba, 2015) to a parameter array: update the first and second "
         "moment estimates m and v, correct their bias towards zero, and take the step. Return new arrays; "
         "leave the inputs unchanged.",
    given=(("param", "array of shape (D, H), θ"), ("grad", "array of shape (D, H), g = ∂L/∂θ"),
           ("m, v", "arrays of shape (D, H), the moments after step t − 1 (zeros before step 1)"),
           ("t", "int ≥ 1, the number of this update (1 for the first)"),
           ("learning_rate, beta1, beta2, epsilon", "floats η, β₁, β₂, ε")),
    returns=(("param_new", "array of shape (D, H)"), ("m_new", "array of shape (D, H)"),
             ("v_new", "array of shape (D, H)")),
    make_inputs=_adam_inputs, cases=({"D": 5, "H": 3}, {"D": 4, "H": 4}),
    reference=_adam_reference,
    mistakes=(
        Mistake("no_bias_correction", "you skipped the bias corrections of m and v (they start at zero).",
                _adam_variant(correct=False)),
        Mistake("variance_for_std", "you divided by v̂, a variance, where a standard deviation belongs.",
                _adam_variant(sqrt=False)),
        Mistake("epsilon_inside_sqrt", "ε went inside the square root; Adam adds it after.",
                _adam_variant(eps_inside=True)),
        Mistake("swapped_beta", "the weights of the old moment and the new gradient are swapped in m.",
                _adam_variant(swap=True)),
        Mistake("step_off_by_one", "your bias correction uses the wrong step number; t counts this update.",
                _adam_variant(t_shift=-1)),
        Mistake("forgot_square", "your second moment averages g, not g².", _adam_variant(square=False)),
        Mistake("sign", "you stepped along the gradient (ascent) instead of against it.", _adam_variant(ascent=True)),
    ),
))
