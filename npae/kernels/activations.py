"""Kernels for ``npae.activations``."""

from __future__ import annotations

from npae.kernels.ops import positive_part

__all__ = ["relu"]


def relu(activation, z):
    """Replaces ``npae.activations.ReLU.f`` (``maximum(z, 0.0)``); bit-exact.

    The same maximum, taken against a row of zeros (``npae.kernels.ops.positive_part``).
    """
    return positive_part(z)
