"""Chapter 2, gradient checking: a dense layer's backward through its activation, and the second
derivatives f″ that the contractive penalty needs. Central differences check them all; the classic
slips (a forgotten f′, f′ taken at the output) are named.
"""

from __future__ import annotations

from array_api_compat import array_namespace

from npae import activations
from npae.exercises.inputs import dense_inputs, dense_layer, normal, z_inputs
from npae.exercises.registry import Exercise, Mistake, register

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


def _variant(scale_of):
    """The backward with ∂h/∂z replaced by ``scale_of(z, activation)``."""
    def variant(x, W, b, grad_out, activation):
        z = x @ W + b
        g = grad_out * scale_of(z, activation)
        xp = array_namespace(x)
        return g @ W.T, x.T @ g, xp.sum(g, axis=0)
    return variant


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
        Mistake("forgot_fprime", "you forgot the factor f′(z): the gradient must pass through the activation.",
                _variant(lambda z, act: 1.0)),
        Mistake("fprime_of_output", "you evaluated f′ at the output h = f(z) instead of at the pre-activation z.",
                _variant(lambda z, act: act.df(act.f(z)))),
        Mistake("fprime_for_f", "you multiplied by f(z) where f′(z) belongs.", _variant(lambda z, act: act.f(z))),
    ),
    objective=_objective, grad_of={"dx": "x", "dW": "W", "db": "b"},
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
            Mistake("returned_fprime", "you returned f′(z), the first derivative.", lambda z: (act.df(z),)),),
        objective=lambda z: array_namespace(z).sum(act.df(z)), grad_of={"d2f": "z"},
    ))


def _tanh(z):
    return array_namespace(z).tanh(z)


def _sigmoid(z):
    return activations.Sigmoid().f(z)


_second(activations.Tanh(), "tanh_second_derivative", "tanh″", "tanh z", (
    ("forgot_fprime", "you differentiated 1 − tanh² z as if tanh z were z: the chain rule brings a "
                      "factor tanh′(z).", lambda z: (-2.0 * _tanh(z),)),
))
_second(activations.Sigmoid(), "sigmoid_second_derivative", "σ″", "σ(z) = 1/(1 + e^(−z))", (
    ("forgot_fprime", "you differentiated σ(1 − σ) as if σ were z: the chain rule brings a factor σ′(z).",
     lambda z: (1.0 - 2.0 * _sigmoid(z),)),
))
