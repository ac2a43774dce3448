"""Helpers the chapter modules share: random host inputs, and npae's Dense layer set to given weights."""

from __future__ import annotations

from array_api_compat import array_namespace

from npae import layers

__all__ = ["WEIGHT", "away_from_zero", "dense_inputs", "dense_layer", "forgot_weight", "host_namespace", "normal",
           "z_inputs"]


def host_namespace(rng):
    """The Array API namespace of the host arrays ``rng`` draws (NumPy's, via array_api_compat)."""
    return array_namespace(rng.random(1))


def normal(rng, *shape, scale=1.0):
    """``scale`` times standard normal numbers of ``shape``, float64 on the host."""
    return scale * rng.standard_normal(shape)


def away_from_zero(rng, *shape, scale=2.0, gap=1e-2):
    """Normal numbers with every |value| ≥ ``gap``, so ReLU's kink and sign(0) are never met."""
    z = normal(rng, *shape, scale=scale)
    xp = array_namespace(z)
    return xp.where(xp.abs(z) < gap, xp.where(z < 0, -gap, gap) + z, z)


def dense_layer(W, b):
    """npae's reference ``Dense`` holding W and b (float64, zeroed gradients)."""
    layer = layers.Dense(W.shape[0], W.shape[1], dtype="float64")
    layer.params = {"W": W, "b": b}
    layer.zero_grad()
    return layer


def dense_inputs(rng, N, D, H):
    """x (N, D), W (D, H) and b (H,) for a dense layer."""
    return {"x": normal(rng, N, D), "W": normal(rng, D, H, scale=0.5), "b": normal(rng, H)}


def z_inputs(rng, N, D):
    """Pre-activations z (N, D), away from 0."""
    return {"z": away_from_zero(rng, N, D)}


#: The penalty weight λ of the penalty exercises: not 1, 2 or 1/N, so a forgotten λ is told apart.
WEIGHT = 0.3


def forgot_weight(**inputs) -> dict:
    """The named factor of a forgotten penalty weight λ, for ``Exercise.factors``."""
    return {"forgot_weight": ((1.0 / inputs["weight"], "is missing the penalty weight λ (it is 1/λ times the "
                                                       "expected one)."),)}
