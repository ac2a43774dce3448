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
    σ(y) = exp(min(y, 0)) / (1 + e) (the forms of ``npae.kernels.ops``). Computing e and
    u = 1 + e once saves an abs, a negation and an exponential over the (N, D) logits.

    log1p(e) is taken as log(u) − ((u − 1) − e) / u: NumPy vectorises ``log`` but runs ``log1p``
    one element at a time on hosts without AVX-512, where it costs several passes' worth. u = 1 + e
    rounds; (u − 1) − e is that rounding error exactly (Sterbenz), and dividing it by u is the
    first-order correction, so the result keeps log1p's full relative accuracy for every e in
    [0, 1] (for e below half an ulp of 1, u = 1 and the result is e itself), within about 2 ulp.

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
    u = 1.0 + e
    log1p_e = xp.log(u) - ((u - 1.0) - e) / u
    value = xp.sum(positive_part(logits) + log1p_e - x * logits, axis=1)
    grad = xp.exp(negative_part(logits)) / u - x
    return value, grad
