"""Numerically stable primitives shared by activations, losses and penalties.

Each function takes arrays of any backend and uses only the Array API standard.
"""

from __future__ import annotations

from array_api_compat import array_namespace

__all__ = ["log_sigmoid", "logsumexp", "sigmoid", "softplus"]


def sigmoid(z):
    """σ(z) = 1 / (1 + e^(−z)), computed from e = exp(−|z|).

        σ(z) = 1 / (1 + e)   for z ≥ 0,      σ(z) = e / (1 + e)   for z < 0

    exp never sees a positive argument, so it cannot overflow, and for very negative z the result
    keeps full relative accuracy (the shorter ½(1 + tanh(z/2)) loses digits there to
    cancellation: float32 has lost three by z = −11 and is exactly 0 from about −20).

    Parameters
    ----------
    z : array of any shape

    Returns
    -------
    array of the same shape and dtype, in [0, 1]
    """
    xp = array_namespace(z)
    e = xp.exp(-xp.abs(z))
    return xp.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def softplus(z):
    """softplus(z) = log(1 + e^z), as logaddexp(0, z) = log(e^0 + e^z).

    ``logaddexp`` factors out the larger exponent, so nothing overflows for large z and the
    result keeps full accuracy for very negative z (where it is ≈ e^z).
    """
    return array_namespace(z).logaddexp(0.0, z)


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
