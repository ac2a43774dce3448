"""Kernels for ``npae.losses``: the BCE value and gradient from one exponential.

Two forms of one computation:

* float32 with numba (``pip install "npae[fast]"``): one compiled pass whose exponential and
  log1p are written out as polynomials (``_bce_terms_loop``), so the loop vectorises — numba
  calls libm's scalar ``expf``/``log1pf`` one element at a time, and NumPy has no SIMD ``log1p`` on
  AVX2 hosts; measured 3.7× faster than the array form at (512, 784) on a Zen 3 host
  (benchmarks/RESULTS.md);
* otherwise (float64, other backends' arrays, no numba): whole-array operations.
"""

from __future__ import annotations

import math

from array_api_compat import array_namespace

from npae import ops
from npae.kernels._compiled import FLOAT32, HAVE_NUMBA, INT32, c_contiguous, jit
from npae.kernels.ops import negative_part, positive_part

__all__ = ["HAVE_NUMBA", "bce_with_logits", "bce_with_logits_and_grad"]

if HAVE_NUMBA:
    # exp(w), w ≤ 0 (Cody–Waite reduction and the minimax polynomial of Cephes' expf):
    # w = k ln 2 + r, |r| ≤ ln 2 / 2, ln 2 = C1 + C2 split so k·C1 is exact; e^r = 1 + r + r²·P(r).
    _LOG2E, _C1, _C2 = FLOAT32(1.4426950408889634), FLOAT32(0.693359375), FLOAT32(-2.12194440e-4)
    _P = tuple(FLOAT32(c) for c in (1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2,
                                     1.6666665459e-1, 5.0000001201e-1))
    # log1p(e) = 2 atanh(s), s = e / (2 + e) ∈ [0, 1/3] for e ∈ [0, 1]: 2s Σ s^(2j) / (2j + 1), to s¹⁵.
    _Q = tuple(FLOAT32(1.0 / k) for k in (3, 5, 7, 9, 11, 13, 15))
    _ZERO, _HALF, _ONE, _TWO, _W_MIN = (FLOAT32(v) for v in (0.0, 0.5, 1.0, 2.0, -104.0))


def _exp_and_log1p(w):
    """(e, log1p(e)) for e = exp(w), w ≤ 0, float32, in branch-free arithmetic a loop vectorises.

    k = nearest integer to w / ln 2 (as truncation of w·log₂e − ½), e = e^r·2^k with 2^k built
    from its exponent bits in two factors (each a normal float, so e underflows gradually to the
    denormals and to 0 as ``expf`` does; w is clipped at −104, below which e is 0). log1p(e) by the
    atanh series: no cancellation, since s = e/(2 + e) keeps full relative accuracy however small e is.
    """
    p0, p1, p2, p3, p4, p5 = _P
    q3, q5, q7, q9, q11, q13, q15 = _Q
    w = w if w > _W_MIN else _W_MIN
    k = INT32(w * _LOG2E - _HALF)
    kf = FLOAT32(k)
    r = w - kf * _C1 - kf * _C2
    e_r = (((((p0 * r + p1) * r + p2) * r + p3) * r + p4) * r + p5) * (r * r) + r + _ONE
    k1 = k >> 1
    k2 = k - k1
    e = e_r * INT32((k1 + 127) << 23).view(FLOAT32) * INT32((k2 + 127) << 23).view(FLOAT32)
    s = e / (_TWO + e)
    z = s * s
    log1p_e = _TWO * s * (_ONE + z * (q3 + z * (q5 + z * (q7 + z * (q9 + z * (q11 + z * (q13 + z * q15)))))))
    return e, log1p_e


# FMA and a / b as a · (1/b): within a rounding of each step (the parity tests' tolerance).
_exp_and_log1p_inner = jit(_exp_and_log1p, fastmath={"contract", "arcp"})  # None without numba: so are the loops


def _bce_terms_loop(x, y, terms, grad):
    """terms[i, j] = softplus(y) − x·y and grad[i, j] = σ(y) − x, float32, one pass.

    With e = exp(−|y|) and log1p(e) from ``_exp_and_log1p``: softplus(y) = max(y, 0) +
    log1p(e), σ(y) = (1 if y ≥ 0 else e) / (1 + e). A NaN logit gives NaN in both outputs.
    Within a few float32 roundings of the reference (tested).
    """
    n_rows, n_cols = y.shape
    for i in range(n_rows):
        for j in range(n_cols):
            yj = y[i, j]
            xj = x[i, j]
            e, log1p_e = _exp_and_log1p_inner(-abs(yj))
            positive = yj if yj > _ZERO else _ZERO
            terms[i, j] = positive + log1p_e - xj * yj
            numerator = e if yj < _ZERO else _ONE
            g = numerator / (_ONE + e) - xj
            grad[i, j] = yj if math.isnan(yj) else g


def _bce_value_terms_loop(x, y, terms):
    """terms[i, j] = softplus(y) − x·y alone (scoring: ``npae.losses.bce_with_logits``), float32."""
    n_rows, n_cols = y.shape
    for i in range(n_rows):
        for j in range(n_cols):
            yj = y[i, j]
            _, log1p_e = _exp_and_log1p_inner(-abs(yj))
            positive = yj if yj > _ZERO else _ZERO
            terms[i, j] = positive + log1p_e - x[i, j] * yj


# FMA and a / b as a · (1/b): within a rounding of each step (the parity test's tolerance).
_bce_terms_compiled = jit(_bce_terms_loop, fastmath={"contract", "arcp"})
_bce_value_terms_compiled = jit(_bce_value_terms_loop, fastmath={"contract", "arcp"})


def _compiled_applies(x, logits) -> bool:
    return (_bce_terms_compiled is not None and c_contiguous(x, logits) and x.ndim == logits.ndim == 2
            and x.shape == logits.shape and str(x.dtype) == str(logits.dtype) == "float32")


def bce_with_logits_and_grad(x, logits):
    """Replaces ``npae.losses.bce_with_logits_and_grad``; equal within float rounding.

    Both halves need e = exp(−|y|): softplus(y) = max(y, 0) + log1p(e) and
    σ(y) = exp(min(y, 0)) / (1 + e) (the forms of ``npae.kernels.ops``). Computing e and
    u = 1 + e once saves an abs, a negation and an exponential over the (N, D) logits.

    float32 C-contiguous inputs with numba run the compiled loop (``_bce_terms_loop``); the
    rest runs the array form below. log1p(e) is taken as log(u) − ((u − 1) − e) / u: NumPy vectorises ``log`` but runs ``log1p``
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
    if _compiled_applies(x, logits):
        terms, grad = xp.empty_like(logits), xp.empty_like(logits)
        _bce_terms_compiled(x, logits, terms, grad)
        return xp.sum(terms, axis=1), grad
    e = xp.exp(-xp.abs(logits))
    u = 1.0 + e
    log1p_e = xp.log(u) - ((u - 1.0) - e) / u
    value = xp.sum(positive_part(logits) + log1p_e - x * logits, axis=1)
    grad = xp.exp(negative_part(logits)) / u - x
    return value, grad


def bce_with_logits(x, logits):
    """Replaces ``npae.losses.bce_with_logits`` (the per-row value alone: scoring, evaluation) on
    float32 C-contiguous NumPy arrays with numba: the compiled pass without the gradient.
    Equal within float rounding; other inputs run the reference's expression, Σ softplus(y) − x·y.

    Parameters
    ----------
    x : array of shape (N, D)
        Targets in [0, 1].
    logits : array of shape (N, D)

    Returns
    -------
    array of shape (N,)
    """
    xp = array_namespace(x, logits)
    if _compiled_applies(x, logits):
        terms = xp.empty_like(logits)
        _bce_value_terms_compiled(x, logits, terms)
        return xp.sum(terms, axis=1)
    return xp.sum(ops.softplus(logits) - x * logits, axis=1)  # the reference's expression
