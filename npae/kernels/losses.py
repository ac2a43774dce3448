"""Kernels for ``npae.losses``: the BCE value and gradient from one exponential.

(A compiled single-pass version was measured slower: NumPy's vectorised exp and log1p beat a
loop of scalar calls; benchmarks/RESULTS.md.)
"""

from __future__ import annotations

from array_api_compat import array_namespace

from npae.kernels.ops import negative_part, positive_part

__all__ = ["bce_with_logits_and_grad"]


def bce_with_logits_and_grad(x, logits):
    """Replaces ``npae.losses.bce_with_logits_and_grad``; equal within float rounding.

    Both halves need e = exp(−|y|): softplus(y) = max(y, 0) + log1p(e) and
    σ(y) = exp(min(y, 0)) / (1 + e) (the forms of ``npae.kernels.ops``). Computing e once saves
    an abs, a negation and an exponential over the (N, D) logits.

    Parameters
    ----------
    x : array of shape (N, D)
        Targets in [0, 1].
    logits : array of shape (N, D)

    Returns
    -------
    value : array of shape (N,)
    grad : array of shape (N, D)
    """
    xp = array_namespace(x, logits)
    e = xp.exp(-xp.abs(logits))
    value = xp.sum(positive_part(logits) + xp.log1p(e) - x * logits, axis=1)
    grad = xp.exp(negative_part(logits)) / (1.0 + e) - x
    return value, grad
