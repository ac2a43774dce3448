"""Numerically stable primitives shared by activations, losses and models.

Each function takes arrays of any backend and uses only the Array API standard.
"""

from __future__ import annotations

from array_api_compat import array_namespace, device

__all__ = ["log_sigmoid", "logsumexp", "negative_part", "positive_part", "sigmoid", "softplus"]


def _zero_row(z):
    # max(z, 0) against a row of zeros, not the scalar 0: NumPy 2.4 runs maximum/minimum with a
    # scalar through a broadcast loop that is not vectorised, twice as slow at 128 × 784 float32
    # (34 µs vs 16 µs; 23 vs 10 µs at 128 × 512). The row broadcasts over the leading axes.
    return array_namespace(z).zeros(z.shape[-1:], dtype=z.dtype, device=device(z))


def positive_part(z):
    """max(z, 0) element-wise (ReLU, the linear part of softplus); NaN stays NaN."""
    return array_namespace(z).maximum(z, _zero_row(z))


def negative_part(z):
    """min(z, 0) element-wise; NaN stays NaN."""
    return array_namespace(z).minimum(z, _zero_row(z))


def sigmoid(z):
    """σ(z) = 1 / (1 + e^(−z)), computed as e = exp(−|z|).

    For z ≥ 0 it is 1 / (1 + e), otherwise e / (1 + e); both are e^min(z, 0) / (1 + e), which
    needs no data-dependent ``where`` (NumPy's is ~10× slower than arithmetic): exp never sees a
    positive argument, so it cannot overflow, and for very negative z the result keeps full
    relative accuracy (the shorter ½(1 + tanh(z/2)) loses digits there to cancellation).

    Parameters
    ----------
    z : array of any shape

    Returns
    -------
    array of the same shape and dtype, in [0, 1]
    """
    xp = array_namespace(z)
    return xp.exp(negative_part(z)) / (1.0 + xp.exp(-xp.abs(z)))


def softplus(z):
    """softplus(z) = log(1 + e^z) = max(z, 0) + log1p(e^(−|z|)).

    The exponent is never positive, so nothing overflows, and log1p keeps full accuracy when
    e^(−|z|) is tiny. Same values as logaddexp(0, z), which NumPy evaluates about 10× slower
    (it is the dominant cost of the BCE loss otherwise; benchmarks/RESULTS.md).
    """
    xp = array_namespace(z)
    return positive_part(z) + xp.log1p(xp.exp(-xp.abs(z)))


def log_sigmoid(z):
    """log σ(z) = −softplus(−z); never the log of a rounded sigmoid."""
    return -softplus(-z)


def logsumexp(a, axis: int = 0, keepdims: bool = False):
    """log Σ exp(a) along ``axis``, subtracting the maximum first so exp cannot overflow.

    Rows whose maximum is −inf (all terms zero) give −inf, not NaN.
    """
    xp = array_namespace(a)
    m = xp.max(a, axis=axis, keepdims=True)
    m = xp.where(xp.isfinite(m), m, xp.zeros_like(m))
    out = xp.log(xp.sum(xp.exp(a - m), axis=axis, keepdims=True)) + m
    if not keepdims:
        out = xp.squeeze(out, axis=axis)
    return out
