"""Kernels for ``npae.noise``: corruption masks applied by multiplication instead of ``where``.

A bool mask m turned into 0.0/1.0 multiplies exactly: every product is a term or 0, and every
sum adds an exact 0, so for finite inputs these give the reference's numbers, while NumPy runs
multiplication far faster than a data-dependent ``where`` (benchmarks/RESULTS.md).
"""

from __future__ import annotations

from array_api_compat import array_namespace

from npae.noise import _bool_beside

__all__ = ["masking_apply", "noise_backward", "salt_and_pepper_apply"]


def noise_backward(layer, grad_out, input_grad: bool = True):
    """Replaces ``npae.noise.NoiseLayer.backward`` (``where(mask, g, 0)``) by g · astype(mask)."""
    layer._require_forward(layer._mask)
    if not input_grad:
        return None
    if layer._mask is True:
        return grad_out
    xp = array_namespace(grad_out)
    return grad_out * xp.astype(layer._mask, grad_out.dtype)


def masking_apply(layer, x, mask):
    """Replaces ``npae.noise.MaskingNoise._apply`` (``where(m, x, 0)``) by x · astype(m)."""
    xp = array_namespace(x)
    mask = _bool_beside(mask, x, "mask")
    return x * xp.astype(mask, x.dtype), mask


def salt_and_pepper_apply(layer, x, mask, salt):
    """Replaces ``npae.noise.SaltAndPepperNoise._apply``.

    where(kept, x, where(salt, high, low)) = m·x + (1 − m)·((1 − s)·low + s·high), with m and s
    the masks as 0.0/1.0.
    """
    xp = array_namespace(x)
    mask = _bool_beside(mask, x, "mask")
    salt = _bool_beside(salt, x, "salt")
    m = xp.astype(mask, x.dtype)
    s = xp.astype(salt, x.dtype)
    replaced = (1.0 - s) * layer.low + s * layer.high
    return m * x + (1.0 - m) * replaced, mask
