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
        Mistake("forgot_bias", "the bias b is missing from your z.", lambda x, W, b: (x @ W,)),
        Mistake("transposed", "your z uses W transposed; look at which axis of W meets the features of x.",
                lambda x, W, b: (x @ W.T + b if W.shape[0] == W.shape[1] else None,)),
        Mistake("sign", "the bias enters your z with the wrong sign.", lambda x, W, b: (x @ W - b,)),
        Mistake("bias_twice", "the bias is counted twice in your z.", lambda x, W, b: (x @ W + 2.0 * b,)),
        Mistake("applied_activation", "your z went through an activation: the dense layer's forward pass is the "
                                      "affine map alone (the activation is a layer of its own).",
                lambda x, W, b: (array_namespace(x).maximum(x @ W + b, 0.0),)),
        Mistake("applied_activation", "your z went through an activation: the dense layer's forward pass is the "
                                      "affine map alone (the activation is a layer of its own).",
                lambda x, W, b: (ops.sigmoid(x @ W + b),)),
        Mistake("applied_activation", "your z went through an activation: the dense layer's forward pass is the "
                                      "affine map alone (the activation is a layer of its own).",
                lambda x, W, b: (array_namespace(x).tanh(x @ W + b),)),
        Mistake("averaged_rows", "every row of your z is the same: the rows of x were averaged or summed before "
                                 "the product; each row is its own example.",
                lambda x, W, b: (array_namespace(x).zeros_like(x @ W) + array_namespace(x).mean(x, axis=0) @ W + b,)),
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
        Mistake("transposed", "your dx uses W the wrong way round (transposed); look at which axis of W meets "
                              "grad_out.",
                lambda x, W, b, grad_out: (grad_out @ W if W.shape[0] == W.shape[1] else None, None, None)),
        Mistake("transposed", "your dW is the transpose of the expected one; look at the order of the product.",
                lambda x, W, b, grad_out: (None, (grad_out.T @ x) if W.shape[0] == W.shape[1] else None, None)),
        Mistake("wrong_axis", "your db is reduced over the wrong axis: b has one entry per output unit, and each "
                              "of its entries collects every row.",
                lambda x, W, b, grad_out: (None, None, array_namespace(x).sum(grad_out, axis=1))),
        Mistake("used_output", "your dW pairs grad_out with the layer's output z, not with what came in.",
                lambda x, W, b, grad_out: (None, (x @ W + b).T @ grad_out, None)),
    ),
    objective=_dense_objective, grad_of={"dx": "x", "dW": "W", "db": "b"}, upstream="grad_out",
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
            Mistake("returned_f", "you returned f(z) itself, not its derivative.", lambda z: (act.f(z),)),
        ) + ((Mistake("fprime_of_output", "your f′ is taken at the activation's output f(z): it takes z.",
                      lambda z: (act.df(act.f(z)),)),) if name != "relu_derivative" else ()),
        edges=edges,
        objective=lambda z: array_namespace(z).sum(act.f(z)), grad_of={"df": "z"},
    ))


_SIGMOID, _TANH, _RELU = activations.Sigmoid(), activations.Tanh(), activations.ReLU()
_unstable = ("unstable", "a formula that overflows for large |z| (e^800 is inf in float64); go through "
                         "σ(z) computed stably (npae.ops.sigmoid) or e^(−|z|).")

def _sig(z):
    return ops.sigmoid(z)


def _th(z):
    return array_namespace(z).tanh(z)


_OTHER = "you used the derivative formula of another activation ({}); look at what f is here."

_derivative(_SIGMOID, "sigmoid_derivative", "the sigmoid's derivative", "σ(z) = 1/(1 + e^(−z))", (
    ("applied_to_z", "you applied the formula to z itself, where it takes the activation's value.",
     lambda z: (z * (1.0 - z),)),
    ("other_activation", _OTHER.format("tanh's"), lambda z: (1.0 - _sig(z) ** 2,)),
    ("sign_inside", "a sign inside your formula is wrong (one factor has + where − belongs).",
     lambda z: (_sig(z) * (1.0 + _sig(z)),)),
    ("half_formula", "your derivative is only one of the two factors of the product.", lambda z: (1.0 - _sig(z),)),
    ("squared", "you squared the activation where the formula multiplies two different factors.",
     lambda z: (_sig(z) ** 2,)),
), edges=(Edge("large |z| (±40, ±800)", _large_z, *_unstable),))
_derivative(_TANH, "tanh_derivative", "tanh's derivative", "tanh z", (
    ("applied_to_z", "you applied the formula to z itself, where it takes the activation's value.",
     lambda z: (1.0 - z * z,)),
    ("forgot_square", "a square is missing in your formula.", lambda z: (1.0 - _th(z),)),
    ("forgot_square", "a square is missing: the derivative of tanh is a reciprocal of cosh squared.",
     lambda z: (1.0 / array_namespace(z).cosh(z),)),
    ("other_activation", _OTHER.format("the sigmoid's"), lambda z: (_th(z) * (1.0 - _th(z)),)),
    ("sign_inside", "a sign inside your formula is wrong (+ where − belongs).", lambda z: (1.0 + _th(z) ** 2,)),
    ("squared", "you returned tanh² z: part of the formula is missing.", lambda z: (_th(z) ** 2,)),
    ("squared_wrong_part", "the square is on the wrong part of your formula.", lambda z: ((1.0 - _th(z)) ** 2,)),
    ("forgot_square", "a square is missing: tanh is squared before it is subtracted.",
     lambda z: (1.0 - 2.0 * _th(z),)),
), edges=(Edge("large |z| (±40, ±800)", _large_z, "unstable",
               "a formula that overflows for large |z|; use xp.tanh, or e^(−2|z|)."),))
_derivative(_RELU, "relu_derivative", "ReLU's derivative", "max(z, 0) (inputs avoid the kink z = 0)", (
    ("flipped", "your derivative is 1 on the wrong side of 0.",
     lambda z: (array_namespace(z).astype(z < 0, z.dtype),)),
    ("sign_function", "your derivative is −1 where z < 0: ReLU is flat there, not decreasing.",
     lambda z: (array_namespace(z).sign(z),)),
    ("leaky", "your derivative is not 0 where z < 0: that is a leaky ReLU's.",
     lambda z: (array_namespace(z).where(z > 0, 1.0, 0.01),)),
    ("all_ones", "your derivative is 1 everywhere: the flat side of ReLU is missing.",
     lambda z: (array_namespace(z).ones_like(z),)),
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
    mistakes=(
        Mistake("returned_loss", "you returned the squared errors themselves, not their gradient.",
                lambda x, x_hat: ((x_hat - x) ** 2,)),
        Mistake("forgot_difference", "your gradient leaves out the data x: the loss depends on the difference "
                                     "of x̂ and x.", lambda x, x_hat: (2.0 * x_hat,)),
        Mistake("precedence", "an operator applies to less than you meant: look at the parentheses around "
                              "the difference.", lambda x, x_hat: (2.0 * x_hat - x,)),
        Mistake("times_reconstruction", "your gradient carries an extra factor x̂: the power rule brings the "
                                        "difference, nothing else.", lambda x, x_hat: (2.0 * (x_hat - x) * x_hat,)),
        Mistake("squared_gradient", "your gradient is squared where the power rule brings the first power.",
                lambda x, x_hat: (2.0 * (x_hat - x) ** 2,)),
        Mistake("wrong_reduction", "your gradient is the same in every entry of a row: it was summed or averaged "
                                   "over the features before being spread out again.",
                lambda x, x_hat: (array_namespace(x).zeros_like(x) + 2.0 * array_namespace(x).sum(
                    x_hat - x, axis=1, keepdims=True),)),
    ),
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
    mistakes=(
        Mistake("not_summed", "you returned one value per entry; the loss of a row sums over its features.",
                lambda x, logits: (ops.softplus(logits) - x * logits,)),
        Mistake("wrong_axis", "your loss is reduced over the wrong axis: one value per row is expected.",
                lambda x, logits: (array_namespace(x).sum(ops.softplus(logits) - x * logits, axis=0),)),
        Mistake("wrong_axis", "your loss is reduced over the wrong axis: one value per row is expected.",
                lambda x, logits: (array_namespace(x).mean(ops.softplus(logits) - x * logits, axis=0),)),
        Mistake("swapped_targets", "the targets x and 1 − x are paired with the wrong log-probabilities.",
                lambda x, logits: (array_namespace(x).sum(ops.softplus(logits) - (1.0 - x) * logits, axis=1),)),
        Mistake("forgot_term", "one of the two terms of the binary cross-entropy is missing.",
                lambda x, logits: (array_namespace(x).sum(x * ops.softplus(-logits), axis=1),)),
        Mistake("forgot_term", "one of the two terms of the binary cross-entropy is missing.",
                lambda x, logits: (array_namespace(x).sum((1.0 - x) * ops.softplus(logits), axis=1),)),
        Mistake("softplus_sign", "a sign is wrong inside the softplus (or in the logit term beside it).",
                lambda x, logits: (array_namespace(x).sum(ops.softplus(-logits) - x * logits, axis=1),)),
        Mistake("softplus_sign", "a sign is wrong inside the softplus (or in the logit term beside it).",
                lambda x, logits: (array_namespace(x).sum(ops.softplus(logits) + x * logits, axis=1),)),
        Mistake("logits_as_probabilities", "you used the logits y as if they were probabilities; the probability "
                                           "is σ(y).",
                lambda x, logits: (-array_namespace(x).sum(x * logits + (1.0 - x) * (1.0 - logits), axis=1),)),
        Mistake("mean_over_batch", "you reduced over the batch: the loss is one value per row.",
                lambda x, logits: (array_namespace(x).zeros_like(logits[:, 0]) + array_namespace(x).mean(
                    array_namespace(x).sum(ops.softplus(logits) - x * logits, axis=1)),)),
    ),
    edges=(Edge("huge logits (±40, ±800)", lambda rng: _bce_edge(rng), "unstable",
                "log σ(y) was taken of a rounded σ, or probabilities were clipped: look for a form of the loss "
                "written with the logits alone, through softplus (xp.logaddexp), which is exact."),),
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
    mistakes=(
        Mistake("forgot_sigmoid", "your gradient uses the logit y where the model's probability belongs.",
                lambda x, logits: (logits - x,)),
        Mistake("wrt_probability", "your gradient is with respect to the probability σ(y), not to the logit y: "
                                   "look at the last step of the chain rule.",
                lambda x, logits: (-(x / ops.sigmoid(logits)) + (1.0 - x) / (1.0 - ops.sigmoid(logits)),)),
        Mistake("extra_sigmoid_prime", "your gradient carries an extra factor σ′(y): look at how the derivative "
                                       "of log σ(y) simplifies.",
                lambda x, logits: ((ops.sigmoid(logits) - x) * ops.sigmoid(logits) * (1.0 - ops.sigmoid(logits)),)),
        Mistake("returned_loss", "you returned the loss's terms, not its gradient.",
                lambda x, logits: (ops.softplus(logits) - x * logits,)),
        Mistake("swapped_targets", "the targets x and 1 − x are paired with the wrong terms.",
                lambda x, logits: (ops.sigmoid(logits) - (1.0 - x),)),
        Mistake("exp_sign", "a sign in an exponent is wrong: your probability is σ(−y).",
                lambda x, logits: (ops.sigmoid(-logits) - x,)),
        Mistake("returned_sigmoid_prime", "you returned σ′(y) alone: the targets are missing.",
                lambda x, logits: (ops.sigmoid(logits) * (1.0 - ops.sigmoid(logits)),)),
        Mistake("precedence", "an operator applies to less (or more) than you meant: look at the parentheses.",
                lambda x, logits: (ops.sigmoid(logits) - x * ops.sigmoid(logits),)),
    ),
    edges=(Edge("huge logits (±40, ±800)", lambda rng: _bce_edge(rng), "unstable",
                "σ(y) overflowed for large |y|; use a stable sigmoid (npae.ops.sigmoid)."),),
    objective=lambda x, logits: array_namespace(x).sum(losses.bce_with_logits(x, logits)),
    grad_of={"grad": "logits"}, factors=_per_feature,
))


# ---------------------------------------------------------------------- one Adam update
def _adam_inputs(rng, D, H, learning_rate=0.01, beta1=0.9, beta2=0.999, epsilon=1e-8):
    xp = host_namespace(rng)
    # small gradients, as late in training, so that where ε is added shows in the step
    return {"param": normal(rng, D, H), "grad": normal(rng, D, H, scale=1e-3),
            "m": normal(rng, D, H, scale=1e-4), "v": xp.abs(normal(rng, D, H, scale=1e-9)),
            "t": int(rng.integers(2, 6)), "learning_rate": learning_rate, "beta1": beta1, "beta2": beta2,
            "epsilon": epsilon}


def _adam_reference(param, grad, m, v, t, learning_rate, beta1, beta2, epsilon):
    xp = array_namespace(param)
    adam = optimizers.Adam(learning_rate, beta1, beta2, epsilon)
    new = xp.asarray(param, copy=True)
    adam.state = [{"m": xp.asarray(m, copy=True), "v": xp.asarray(v, copy=True)}]
    adam.iterations = t - 1
    adam.step([(new, grad)])
    return new, adam.state[0]["m"], adam.state[0]["v"]


def _adam_variant(*, correct=True, sqrt=True, eps_inside=False, swap=False, t_shift=0, square=True, ascent=False,
                  b1_of=None, b2_of=None, lr=True, return_hat=False, return_old=False, correct_m=True,
                  correct_v=True, step_old=False, raw_grad=False):
    def variant(param, grad, m, v, t, learning_rate, beta1, beta2, epsilon):
        xp = array_namespace(param)
        b1 = 1.0 - beta1 if swap else beta1
        b1 = b1_of(beta1, beta2) if b1_of else b1
        b2 = b2_of(beta1, beta2) if b2_of else beta2
        m_new = b1 * m + (1.0 - b1) * grad
        v_new = b2 * v + (1.0 - b2) * (grad * grad if square else grad)
        m_use, v_use = (m, v) if step_old else (m_new, v_new)
        if raw_grad:
            m_use, v_use = grad, grad * grad
        m_hat = m_use / (1.0 - beta1 ** (t + t_shift)) if correct and correct_m else m_use
        v_hat = v_use / (1.0 - beta2 ** (t + t_shift)) if correct and correct_v else v_use
        if eps_inside:
            step = m_hat / xp.sqrt(v_hat + epsilon)
        else:
            step = m_hat / ((xp.sqrt(v_hat) if sqrt else v_hat) + epsilon)
        step = learning_rate * step if lr else step
        new = param + step if ascent else param - step
        if return_hat:
            return new, m_hat, v_hat
        if return_old:
            return new, m, v
        return new, m_new, v_new
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
    make_inputs=_adam_inputs,
    cases=({"D": 5, "H": 3}, {"D": 4, "H": 4, "learning_rate": 0.05, "beta1": 0.8, "beta2": 0.99, "epsilon": 1e-6}),
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
        Mistake("step_off_by_one", "your bias correction uses the wrong step number; t counts this update.",
                _adam_variant(t_shift=1)),
        Mistake("swapped_beta", "β₂ (the second moment's decay) went into the first moment, or β₁ into the second.",
                _adam_variant(b1_of=lambda b1, b2: b2)),
        Mistake("swapped_beta", "β₂ (the second moment's decay) went into the first moment, or β₁ into the second.",
                _adam_variant(b2_of=lambda b1, b2: b1)),
        Mistake("forgot_learning_rate", "your step is not scaled by the learning rate.",
                _adam_variant(lr=False)),
        Mistake("returned_corrected_moments", "you returned the bias-corrected m̂ and v̂ as the new moments: the "
                                              "correction is for the step only, the state keeps m and v.",
                _adam_variant(return_hat=True)),
        Mistake("moments_not_updated", "the moments you returned are the ones given: the state must carry this "
                                       "step's m and v.", _adam_variant(return_old=True)),
        Mistake("half_bias_correction", "only one of the two moments is bias-corrected.",
                _adam_variant(correct_v=False)),
        Mistake("half_bias_correction", "only one of the two moments is bias-corrected.",
                _adam_variant(correct_m=False)),
        Mistake("used_old_moments", "your step uses the moments from before this update.",
                _adam_variant(step_old=True)),
        Mistake("plain_gradient_step", "your step uses the raw gradient where the moment estimates belong.",
                _adam_variant(raw_grad=True)),
        Mistake("multiplied_by_std", "your step multiplies by the root of v̂ where it divides.",
                lambda param, grad, m, v, t, learning_rate, beta1, beta2, epsilon: (
                    param - learning_rate * ((beta1 * m + (1 - beta1) * grad) / (1 - beta1 ** t))
                    * (array_namespace(param).sqrt((beta2 * v + (1 - beta2) * grad * grad) / (1 - beta2 ** t))
                       + epsilon), None, None)),
    ),
))
