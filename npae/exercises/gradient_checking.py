"""Chapter 2, gradient checking: a dense layer's backward through its activation, and the second
derivatives f″ that the contractive penalty needs. Central differences check them all; the classic
slips (a forgotten f′, f′ taken at the output) are named.
"""

from __future__ import annotations

from array_api_compat import array_namespace

from npae import activations
from npae.exercises.inputs import dense_inputs, dense_layer, normal, z_inputs
from npae.exercises.registry import Edge, Exercise, Mistake, register

__all__: list = []


# ---------------------------------------------------------------------- through the activation
def _inputs(rng, N, D, H, activation):
    return {**dense_inputs(rng, N, D, H), "grad_out": normal(rng, N, H),
            "activation": activations.get_activation(activation)}


def _reference(x, W, b, grad_out, activation):
    dense = dense_layer(W, b)
    z = dense.forward(x)
    dz = grad_out * activation.df(z)
    dx = dense.backward(dz)
    return dx, dense.grads["W"], dense.grads["b"]


def _variant(scale_of, *, after_product=False, db_axis=0):
    """The backward with ∂h/∂z replaced by ``scale_of(z, activation)`` (and one more slip, if asked)."""
    def variant(x, W, b, grad_out, activation):
        z = x @ W + b
        scale = scale_of(z, activation)
        g = grad_out * (activation.df(x @ W) if scale is None else scale)  # None: f′ taken at x W, without b
        xp = array_namespace(x)
        if after_product:  # f′ applied to dx, after the product with W (the shapes agree only when D = H)
            if W.shape[0] != W.shape[1]:
                return None, None, None
            return (grad_out @ W.T) * scale_of(z, activation), None, None
        return g @ W.T, x.T @ g, xp.sum(g, axis=db_axis)
    return variant


_TANH_ACT = activations.Tanh()


def _objective(x, W, b, grad_out, activation):
    return array_namespace(x).sum(grad_out * activation.f(x @ W + b))


register(Exercise(
    name="dense_activation_backward", chapter=2, title="backward through a dense layer and its activation",
    signature="dense_activation_backward(x, W, b, grad_out, activation)",
    task="The forward pass computed h = f(z), z = x W + b. Given grad_out = ∂L/∂h, return ∂L/∂x, ∂L/∂W "
         "and ∂L/∂b. The activation is an object with f(z), df(z) = f′(z) and d2f(z) = f″(z).",
    given=(("x", "array of shape (N, D)"), ("W", "array of shape (D, H)"), ("b", "array of shape (H,)"),
           ("grad_out", "array of shape (N, H), ∂L/∂h"),
           ("activation", "npae.activations object (tanh, sigmoid) with f, df, d2f")),
    returns=(("dx", "array of shape (N, D)"), ("dW", "array of shape (D, H)"), ("db", "array of shape (H,)")),
    make_inputs=_inputs,
    cases=({"N": 5, "D": 7, "H": 3, "activation": "tanh"}, {"N": 4, "D": 6, "H": 6, "activation": "sigmoid"}),
    reference=_reference,
    mistakes=(
        Mistake("forgot_fprime", "your gradient skips the activation: look at what the chain rule does at h = f(z).",
                _variant(lambda z, act: 1.0)),
        Mistake("fprime_of_output", "the activation's derivative is taken at the wrong place (at the output "
                                    "h = f(z)): look at what it is the derivative with respect to.",
                _variant(lambda z, act: act.df(act.f(z)))),
        Mistake("fprime_for_f", "at the activation you multiplied by the activation's value, not by its slope.",
                _variant(lambda z, act: act.f(z))),
        Mistake("used_fsecond", "at the activation you used its second derivative.",
                _variant(lambda z, act: act.d2f(z))),
        Mistake("hard_coded_activation", "your backward assumes one activation (tanh); use the activation "
                                         "object you are given.", _variant(lambda z, act: _TANH_ACT.df(z))),
        Mistake("fprime_after_product", "your dx applies the activation's derivative on the wrong side of the "
                                        "product with W.", _variant(lambda z, act: act.df(z), after_product=True)),
        Mistake("wrong_axis", "your db is reduced over the wrong axis.",
                _variant(lambda z, act: act.df(z), db_axis=1)),
        Mistake("forgot_bias", "your pre-activation is missing the bias: look at where you recompute z.",
                _variant(lambda z, act: None)),
    ),
    objective=_objective, grad_of={"dx": "x", "dW": "W", "db": "b"}, upstream="grad_out",
))


# ---------------------------------------------------------------------- second derivatives
def _second(act, name, title, f_text, mistakes):
    register(Exercise(
        name=name, chapter=2, title=title, signature=f"{name}(z)",
        task=f"Return f″(z), element by element, for f(z) = {f_text}. (The contractive penalty's gradient "
             "differentiates f′, so it needs f″.)",
        given=(("z", "array of any shape (here (N, D)), the pre-activations"),),
        returns=(("d2f", "array of the shape and dtype of z, f″(z)"),),
        make_inputs=z_inputs, cases=({"N": 5, "D": 7}, {"N": 3, "D": 4}),
        reference=lambda z: (act.d2f(z),),
        mistakes=tuple(Mistake(i, m, v) for i, m, v in mistakes) + (
            Mistake("returned_fprime", "you returned f′(z), the first derivative.", lambda z: (act.df(z),)),
            Mistake("squared_fprime", "you squared f′ (or multiplied it by itself): f″ is the derivative of f′, "
                                      "not its square.", lambda z: (act.df(z) ** 2,)),
            Mistake("fprime_of_fprime", "you applied f′ to f′(z): f″ differentiates f′ with respect to z.",
                    lambda z: (act.df(act.df(z)),)),
            Mistake("returned_f", "you returned f(z) itself.", lambda z: (act.f(z),)),
        ),
        edges=(Edge("large |z| (±40, ±800)", _large_z, "unstable",
                    "a formula that overflows for large |z| (e^800 is inf): go through the activation's value, "
                    "computed stably."),),
        objective=lambda z: array_namespace(z).sum(act.df(z)), grad_of={"d2f": "z"},
    ))


def _large_z(rng):
    z = normal(rng, 3, 4, scale=2.0)
    xp = array_namespace(z)
    return {"z": xp.concat([z, xp.asarray([[-800.0, -40.0, 40.0, 800.0]])], axis=0)}


def _tanh(z):
    return array_namespace(z).tanh(z)


def _sigmoid(z):
    return activations.Sigmoid().f(z)


_CHAIN = ("a chain-rule factor is missing: you differentiated f′, written in terms of {f}, as if {f} were z "
          "itself. Look at the inner function.")
_ON_Z = ("you computed f″ from z where the formula takes the activation's value {f}: look at what the letters "
         "in your formula stand for.")
_PRODUCT = "the product rule is applied only in part: one factor of {f} was differentiated and the other not."

_second(activations.Tanh(), "tanh_second_derivative", "tanh″", "tanh z", (
    ("forgot_fprime", _CHAIN.format(f="tanh z"), lambda z: (-2.0 * _tanh(z),)),
    ("applied_to_z", _ON_Z.format(f="tanh z"), lambda z: (-2.0 * z * (1.0 - z * z),)),
    ("forgot_tanh", "a factor is missing: differentiating tanh² z gives more than the chain-rule factor alone.",
     lambda z: (-2.0 * (1.0 - _tanh(z) ** 2),)),
    ("forgot_square", "a square is missing in your formula.", lambda z: (-2.0 * _tanh(z) * (1.0 - _tanh(z)),)),
))
_second(activations.Sigmoid(), "sigmoid_second_derivative", "σ″", "σ(z) = 1/(1 + e^(−z))", (
    ("forgot_fprime", _CHAIN.format(f="σ(z)"), lambda z: (1.0 - 2.0 * _sigmoid(z),)),
    ("applied_to_z", _ON_Z.format(f="σ(z)"), lambda z: (z * (1.0 - z) * (1.0 - 2.0 * z),)),
    ("product_rule", _PRODUCT.format(f="σ(1 − σ)"),
     lambda z: (_sigmoid(z) * (1.0 - _sigmoid(z)) * (1.0 - _sigmoid(z)),)),
    ("product_rule", _PRODUCT.format(f="σ(1 − σ)"),
     lambda z: (-_sigmoid(z) * _sigmoid(z) * (1.0 - _sigmoid(z)),)),
    ("product_rule", _PRODUCT.format(f="σ(1 − σ)"), lambda z: (1.0 - _sigmoid(z) - _sigmoid(z) ** 2,)),
    ("sign_inside", "a sign inside your formula is wrong.",
     lambda z: (_sigmoid(z) * (1.0 - _sigmoid(z)) * (1.0 + 2.0 * _sigmoid(z)),)),
))
