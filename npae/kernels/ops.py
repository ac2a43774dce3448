"""Kernels for ``npae.ops``: the stable sigmoid and softplus in branch-free arithmetic.

Both references are already stable; these compute the same functions without a data-dependent
``where`` (which NumPy evaluates far more slowly than arithmetic) and take max(z, 0) / min(z, 0)
against a row of zeros, which NumPy vectorises where the scalar 0 is not.
"""

from __future__ import annotations

from array_api_compat import array_namespace, device

__all__ = ["negative_part", "positive_part", "sigmoid", "softplus"]


def _zero_row(z):
    # A row of zeros broadcasts over the leading axes; NumPy's maximum/minimum against a
    # Python scalar take a slower, non-vectorised broadcast loop (benchmarks/RESULTS.md).
    return array_namespace(z).zeros(z.shape[-1:], dtype=z.dtype, device=device(z))


def positive_part(z):
    """max(z, 0) element-wise; NaN stays NaN. Same numbers as ``xp.maximum(z, 0.0)``."""
    return array_namespace(z).maximum(z, _zero_row(z))


def negative_part(z):
    """min(z, 0) element-wise; NaN stays NaN. Same numbers as ``xp.minimum(z, 0.0)``."""
    return array_namespace(z).minimum(z, _zero_row(z))


def sigmoid(z):
    """Replaces ``npae.ops.sigmoid``; bit-exact.

    The reference is where(z ≥ 0, 1/(1 + e), e/(1 + e)) with e = exp(−|z|). Both branches equal
    exp(min(z, 0)) / (1 + e): for z ≥ 0 the numerator is exp(0) = 1, for z < 0 it is exp(z) = e.
    So one expression, no ``where``, and exp still never sees a positive argument.
    """
    xp = array_namespace(z)
    return xp.exp(negative_part(z)) / (1.0 + xp.exp(-xp.abs(z)))


def softplus(z):
    """Replaces ``npae.ops.softplus`` (``logaddexp(0, z)``); equal within a few ulp.

    softplus(z) = max(z, 0) + log1p(exp(−|z|)): the exponent is never positive, so nothing
    overflows, and log1p keeps full accuracy where exp(−|z|) is tiny.
    """
    xp = array_namespace(z)
    return positive_part(z) + xp.log1p(xp.exp(-xp.abs(z)))
