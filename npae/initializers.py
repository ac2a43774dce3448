"""Weight initializers, drawn on the host from an injected ``numpy.random.Generator``.

All return an array of ``shape`` on ``backend`` in ``dtype``. For a (fan_in, fan_out) kernel:

* Glorot (Xavier): Var = 2 / (fan_in + fan_out); uniform limit √(6 / (fan_in + fan_out)).
* He (Kaiming):    Var = 2 / fan_in;              uniform limit √(6 / fan_in).
"""

from __future__ import annotations

import math

from npae import backend as B
from npae.validation import check_option

__all__ = [
    "glorot_uniform",
    "glorot_normal",
    "he_uniform",
    "he_normal",
    "zeros",
    "INITIALIZERS",
    "get_initializer",
    "default_init",
]


def _scaled(rng, shape, std_or_limit: float, kind: str, dtype, backend):
    if kind == "uniform":
        u = B.uniform(rng, shape, dtype=dtype, backend=backend)
        return (2.0 * u - 1.0) * std_or_limit
    return B.standard_normal(rng, shape, dtype=dtype, backend=backend) * std_or_limit


def glorot_uniform(shape, rng, *, dtype, backend):
    """U(−a, a), a = √(6 / (fan_in + fan_out))."""
    return _scaled(rng, shape, math.sqrt(6.0 / (shape[0] + shape[1])), "uniform", dtype, backend)


def glorot_normal(shape, rng, *, dtype, backend):
    """N(0, 2 / (fan_in + fan_out))."""
    return _scaled(rng, shape, math.sqrt(2.0 / (shape[0] + shape[1])), "normal", dtype, backend)


def he_uniform(shape, rng, *, dtype, backend):
    """U(−a, a), a = √(6 / fan_in)."""
    return _scaled(rng, shape, math.sqrt(6.0 / shape[0]), "uniform", dtype, backend)


def he_normal(shape, rng, *, dtype, backend):
    """N(0, 2 / fan_in)."""
    return _scaled(rng, shape, math.sqrt(2.0 / shape[0]), "normal", dtype, backend)


def zeros(shape, rng=None, *, dtype, backend):
    """All zeros (biases)."""
    xp = backend.xp
    return xp.zeros(shape, dtype=B.resolve_dtype(xp, dtype), device=backend.device)


INITIALIZERS = {
    "glorot_uniform": glorot_uniform,
    "glorot_normal": glorot_normal,
    "he_uniform": he_uniform,
    "he_normal": he_normal,
}
"""The names ``weight_init=`` accepts: "glorot_uniform", "glorot_normal", "he_uniform", "he_normal"."""


def get_initializer(name):
    """Return the initializer function called ``name`` (or a callable itself)."""
    if callable(name):
        return name
    return INITIALIZERS[check_option(name, tuple(INITIALIZERS), "initializer")]


def default_init(activation) -> str:
    """He initialisation for the ReLU family, Glorot otherwise (what Keras/PyTorch users expect)."""
    return "he_uniform" if activation in ("relu", "leaky_relu", "elu") else "glorot_uniform"
