"""Kernels for ``npae.noise``: corruption masks applied by multiplication instead of ``where``.

A bool mask m turned into 0.0/1.0 multiplies exactly: every product is a term or 0, and every
sum adds an exact 0, so for finite inputs these give the reference's numbers, while NumPy runs
multiplication far faster than a data-dependent ``where`` (benchmarks/RESULTS.md).
"""

from __future__ import annotations

from array_api_compat import array_namespace

from npae.kernels._compiled import HAVE_NUMBA, c_contiguous, jit
from npae.noise import _beside, _bool_beside

__all__ = ["HAVE_NUMBA", "gaussian_apply", "masking_apply", "noise_backward", "salt_and_pepper_apply"]


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


def _gaussian_clip_loop(x, eps, std, low, high, x_tilde, inside):
    """v = x + σ·ε; x̃ = clip(v, low, high); inside = low < v < high — one pass."""
    flat_x, flat_eps = x.reshape(-1), eps.reshape(-1)
    flat_out, flat_inside = x_tilde.reshape(-1), inside.reshape(-1)
    for i in range(flat_x.size):
        v = flat_x[i] + std * flat_eps[i]
        flat_inside[i] = low < v < high
        flat_out[i] = low if v < low else (high if v > high else v)


_gaussian_clip_compiled = jit(_gaussian_clip_loop)


def gaussian_apply(layer, x, noise):
    """Replaces ``npae.noise.GaussianNoise._apply`` when numba is installed; bit-exact.

    The reference makes v = x + σ·ε, two comparisons, their logical and, and the clip: five
    passes. Compiled, one pass writes x̃ and the pass-through mask. Without both bounds (or for
    inputs the loop cannot index) it computes what the reference does.
    """
    noise = _beside(noise, x, "noise", dtype=x.dtype)
    xp = array_namespace(x)
    if layer.low is None or layer.high is None or not c_contiguous(x, noise):
        v = x + layer.std * noise
        if layer.low is None and layer.high is None:
            return v, True
        inside = v > layer.low if layer.high is None else v < layer.high
        return xp.clip(v, min=layer.low, max=layer.high), inside
    scalar = x.dtype.type
    x_tilde = xp.empty_like(x)
    inside = xp.empty(x.shape, dtype=xp.bool)
    _gaussian_clip_compiled(x, noise, scalar(layer.std), scalar(layer.low), scalar(layer.high), x_tilde, inside)
    return x_tilde, inside
