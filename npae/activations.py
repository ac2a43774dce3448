"""Element-wise activations with their first and second derivatives.

An activation is a stateless object with ``f(z)``, ``df(z)`` (f′) and ``d2f(z)`` (f″), each taking
the pre-activation ``z`` of any shape and returning an array of the same shape. f″ is needed by
the contractive penalty, whose gradient differentiates f′.
"""

from __future__ import annotations

from array_api_compat import array_namespace

from npae import ops
from npae.validation import check_option

__all__ = [
    "Activation",
    "Identity",
    "ReLU",
    "LeakyReLU",
    "ELU",
    "Sigmoid",
    "Tanh",
    "Softplus",
    "ACTIVATIONS",
    "get_activation",
]


class Activation:
    """Base class: ``name``, and ``f``, ``df``, ``d2f`` of the pre-activation z."""

    name = "activation"

    def f(self, z):
        """h = f(z), element-wise: same shape as z."""
        raise NotImplementedError

    def df(self, z):
        """f′(z), element-wise: what the backward pass multiplies dL/dh by (dL/dz = dL/dh · f′(z))."""
        raise NotImplementedError

    def d2f(self, z):
        """f″(z), element-wise: the contractive penalty's gradient needs it (d/dz of f′(z)²)."""
        raise NotImplementedError

    def __call__(self, z):
        return self.f(z)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Identity(Activation):
    """f(z) = z.  f′ = 1.  f″ = 0."""

    name = "identity"

    def f(self, z):
        return z

    def df(self, z):
        return array_namespace(z).ones_like(z)

    def d2f(self, z):
        return array_namespace(z).zeros_like(z)


class ReLU(Activation):
    """f(z) = max(z, 0).  f′ = 1 if z > 0 else 0.  f″ = 0 (undefined at the kink z = 0)."""

    name = "relu"

    def f(self, z):
        return array_namespace(z).maximum(z, 0.0)

    def df(self, z):
        xp = array_namespace(z)
        return xp.astype(z > 0, z.dtype)

    def d2f(self, z):
        return array_namespace(z).zeros_like(z)


class LeakyReLU(Activation):
    """f(z) = z if z > 0 else a·z (a = 0.01).  f′ = 1 or a.  f″ = 0."""

    name = "leaky_relu"

    def __init__(self, negative_slope: float = 0.01):
        self.negative_slope = float(negative_slope)

    def f(self, z):
        xp = array_namespace(z)
        return xp.where(z > 0, z, self.negative_slope * z)

    def df(self, z):
        xp = array_namespace(z)
        return xp.where(z > 0, 1.0, xp.full_like(z, self.negative_slope))

    def d2f(self, z):
        return array_namespace(z).zeros_like(z)

    def __repr__(self) -> str:
        return f"LeakyReLU(negative_slope={self.negative_slope})"


class ELU(Activation):
    """f(z) = z if z > 0 else e^z − 1.  f′ = 1 or e^z.  f″ = 0 or e^z.

    e^z is evaluated at min(z, 0) so the unused branch of ``where`` cannot overflow.
    """

    name = "elu"

    def f(self, z):
        xp = array_namespace(z)
        return xp.where(z > 0, z, xp.expm1(xp.minimum(z, 0.0)))

    def df(self, z):
        xp = array_namespace(z)
        return xp.where(z > 0, 1.0, xp.exp(xp.minimum(z, 0.0)))

    def d2f(self, z):
        xp = array_namespace(z)
        return xp.where(z > 0, 0.0, xp.exp(xp.minimum(z, 0.0)))


class Sigmoid(Activation):
    """σ(z) = 1/(1 + e^(−z)).  f′ = σ(1 − σ).  f″ = σ(1 − σ)(1 − 2σ).  Stable: ``ops.sigmoid``."""

    name = "sigmoid"

    def f(self, z):
        return ops.sigmoid(z)

    def df(self, z):
        s = ops.sigmoid(z)
        return s * (1.0 - s)

    def d2f(self, z):
        s = ops.sigmoid(z)
        return s * (1.0 - s) * (1.0 - 2.0 * s)


class Tanh(Activation):
    """f(z) = tanh z.  f′ = 1 − tanh² z.  f″ = −2 tanh z (1 − tanh² z)."""

    name = "tanh"

    def f(self, z):
        return array_namespace(z).tanh(z)

    def df(self, z):
        t = array_namespace(z).tanh(z)
        return 1.0 - t * t

    def d2f(self, z):
        t = array_namespace(z).tanh(z)
        return -2.0 * t * (1.0 - t * t)


class Softplus(Activation):
    """f(z) = log(1 + e^z).  f′ = σ(z).  f″ = σ(z)(1 − σ(z)).  Stable: ``ops.softplus``."""

    name = "softplus"

    def f(self, z):
        return ops.softplus(z)

    def df(self, z):
        return ops.sigmoid(z)

    def d2f(self, z):
        s = ops.sigmoid(z)
        return s * (1.0 - s)


ACTIVATIONS = {
    cls.name: cls for cls in (Identity, ReLU, LeakyReLU, ELU, Sigmoid, Tanh, Softplus)
}
"""The names ``activation=`` and ``latent_activation=`` accept: "identity", "relu", "leaky_relu",
"elu", "sigmoid", "tanh", "softplus" (name -> class)."""


def get_activation(name) -> Activation:
    """Return an activation object for a name in ``ACTIVATIONS`` (or an Activation instance)."""
    if isinstance(name, Activation):
        return name
    return ACTIVATIONS[check_option(name, tuple(ACTIVATIONS), "activation")]()
