"""Kernels for ``npae.backend``'s samplers: the same Box–Muller normals in whole-array SIMD passes.

``npae.backend.standard_normal`` (the reference) draws pairs of uniforms (u₁, u₂) in the target
dtype and returns (r cos θ, r sin θ) with r = √(−2 log1p(−u₁)), θ = 2π u₂. Its cost is not the
arithmetic but how NumPy runs it: float32 ``log1p`` has no SIMD loop on x86 (it runs one element at
a time, ~15 ns each), and the column views ``u[:, 0]`` are strided. ``standard_normal`` returns
the same numbers arranged for speed:

* log(1 − u₁) in place of log1p(−u₁): the uniforms are multiples of 2⁻²⁴ (float32) or 2⁻⁵³
  (float64) in [0, 1), so 1 − u₁ is exact in their dtype and both compute log of the same number;
  NumPy's ``log`` is vectorised. They differ by the rounding of the two library functions (≤ 1 ulp
  of the log, tested).
* float32 with numba (``pip install "npae[fast]"``): one compiled pass (``_box_muller_loop``)
  whose logarithm, sine and cosine are polynomials, so it vectorises (NumPy's ``cos``/``sin`` and
  numba's libm calls do not, on AVX2). It overwrites each pair (u₁, u₂) of the uniforms' own array
  with its two normals, which is where the reference stores them: no other array is allocated.
  (The earlier form transposed into contiguous rows, wrote two output rows and stacked them: three
  more arrays of the draw's size, each of which can cost first-touch page faults when fresh. Alone,
  the in-place pass is about twice as fast; inside a ``fit``, where the heap reuses freed blocks,
  the two cost the same. Figures: benchmarks/RESULTS.md, the kernel table and its reading.)
* without numba or in float64: one transpose makes u₁ and u₂ contiguous rows, and every step
  writes into its own buffer.

The uniforms come from the same ``rng.random`` call in the same order, so a seed gives the
reference's draws to within that rounding, and the generator ends in the same state.

It serves the float32 draws made beside an array (``like=``) of any backend: the training noise,
the denoiser's and the VAE's ε, drawn at every step. The draw is made on the host, so the numbers
are the same on every backend. The rest runs the reference: float64 draws (for checking, not
speed: their streams stay bit-identical to the textbook code) and draws made for a backend rather
than beside an array (initial weights, once per fit).
"""

from __future__ import annotations

import math

from array_api_compat import array_namespace

from npae import backend as B
from npae.kernels._compiled import FLOAT32, HAVE_NUMBA, INT32, UINT64, jit

__all__ = ["HAVE_NUMBA", "hash_rows", "standard_normal"]

if HAVE_NUMBA:
    _ONE, _HALF, _TWO, _SQRT2, _QUARTER_TURN = (FLOAT32(v) for v in (1.0, 0.5, 2.0, math.sqrt(2.0), math.pi / 2.0))
    _LN2_HI, _LN2_LO = FLOAT32(0.693359375), FLOAT32(-2.12194440e-4)  # ln 2 = hi + lo, e·hi exact
    _ATANH = tuple(FLOAT32(1.0 / k) for k in (3, 5, 7, 9, 11))
    # Cephes' sinf / cosf minimax polynomials on [−π/4, π/4]
    _SIN = tuple(FLOAT32(c) for c in (-1.6666654611e-1, 8.3321608736e-3, -1.9515295891e-4))
    _COS = tuple(FLOAT32(c) for c in (4.166664568298827e-2, -1.388731625493765e-3, 2.443315711809948e-5))


def _box_muller_loop(u):
    """u[2i], u[2i+1] ← r cos θ, r sin θ of the pair (u₁, u₂) = (u[2i], u[2i+1]), in place, float32.

    r = √(−2 log(1 − u₁)), θ = 2π u₂; ``u`` is the flat, even-length array of the pairs. The loop
    reads a pair before it writes it, so it vectorises with interleaved (shuffled) loads and stores.

    log v (v = 1 − u₁ ∈ [2⁻²⁴, 1], exact): v = 2ᵉ·m from the float's bits, m moved into
    [√2/2, √2], log m = 2 atanh((m − 1)/(m + 1)) by its series, log v = e·ln 2 + log m. The angle is
    reduced in turns, exactly: 4u₂ = k + f with k the nearest integer, so θ = k·π/2 + x,
    x = f·π/2 ∈ [−π/4, π/4], where sine and cosine are polynomials; the quadrant k swaps them and
    sets their signs by arithmetic (no branch, so the loop vectorises). This angle is closer to
    2π u₂ than the reference's float32 product (2π)·u₂, so the two agree to the reference's own
    rounding (~1e-6 absolute, tested).
    """
    a3, a5, a7, a9, a11 = _ATANH
    s1, s2, s3 = _SIN
    c1, c2, c3 = _COS
    for i in range(u.shape[0] // 2):
        u1, u2 = u[2 * i], u[2 * i + 1]
        bits = FLOAT32(_ONE - u1).view(INT32)
        e = (bits >> 23) - 127
        m = INT32((bits & 0x007FFFFF) | 0x3F800000).view(FLOAT32)  # v = 2^e · m, m ∈ [1, 2)
        big = m > _SQRT2
        m = m * _HALF if big else m
        e = e + 1 if big else e
        s = (m - _ONE) / (m + _ONE)
        z = s * s
        log_m = _TWO * s * (_ONE + z * (a3 + z * (a5 + z * (a7 + z * (a9 + z * a11)))))
        ef = FLOAT32(e)
        r = math.sqrt(-_TWO * (ef * _LN2_HI + (ef * _LN2_LO + log_m)))
        t = u2 * FLOAT32(4.0)
        k = INT32(t + _HALF)
        x = (t - FLOAT32(k)) * _QUARTER_TURN
        z = x * x
        sin_x = ((s3 * z + s2) * z + s1) * z * x + x
        cos_x = ((c3 * z + c2) * z + c1) * z * z - _HALF * z + _ONE
        swap = FLOAT32(k & 1)  # odd quadrant: cos θ = ∓sin x, sin θ = ±cos x
        cos_sign = FLOAT32(1 - ((k + 1) & 2))  # quadrants 1, 2: cos θ < 0
        sin_sign = FLOAT32(1 - (k & 2))  # quadrants 2, 3: sin θ < 0
        u[2 * i] = r * cos_sign * (sin_x if swap > _HALF else cos_x)
        u[2 * i + 1] = r * sin_sign * (cos_x if swap > _HALF else sin_x)


# FMA and a / b as a · (1/b): within a rounding of each step.
_box_muller_compiled = jit(_box_muller_loop, fastmath={"contract", "arcp"})


def standard_normal(rng, shape, *, like=None, dtype=None, backend=None):
    """Replaces ``npae.backend.standard_normal`` (same arguments, same draws; see the module)."""
    dtype = like.dtype if dtype is None else dtype
    backend = B.backend_of(like) if backend is None else backend
    n = math.prod(shape)
    pairs = (n + 1) // 2
    u = rng.random((pairs, 2), dtype=B._host_dtype(dtype))  # the reference's draw: one (u₁, u₂) per pair
    xp = array_namespace(u)  # NumPy's: its ufuncs write into ``out``
    if _box_muller_compiled is not None and str(u.dtype) == "float32":
        flat = xp.reshape(u, (-1,))  # u₁, u₂, u₁, u₂, …: a view of the fresh draw
        _box_muller_compiled(flat)  # each pair becomes its two normals, in place
        return B.asarray(flat[:n].reshape(shape), backend=backend)
    rows = xp.empty((2, pairs), dtype=u.dtype)
    rows[...] = u.T  # rows[0] = u₁, rows[1] = u₂, each contiguous
    r, theta = rows[0], rows[1]
    xp.subtract(1.0, r, out=r)  # 1 − u₁, exact
    xp.log(r, out=r)
    r *= -2.0
    xp.sqrt(r, out=r)
    theta *= 2.0 * math.pi
    eps = xp.empty((pairs, 2), dtype=u.dtype)
    xp.cos(theta, out=eps[:, 0])
    xp.sin(theta, out=eps[:, 1])
    eps *= r[:, None]
    return B.asarray(eps.reshape(-1)[:n].reshape(shape), backend=backend)


def _multilinear_loop(words, multipliers, S):
    """S[n] = Σ_d multipliers[d]·words[n, d] mod 2⁶⁴ (uint64 arithmetic wraps), row by row.

    words : (N, W) uint32; multipliers : (W,) uint64; S : (N,) uint64, written.
    """
    for n in range(words.shape[0]):
        total = UINT64(0)
        for d in range(words.shape[1]):
            total += multipliers[d] * words[n, d]
        S[n] = total


_multilinear_compiled = jit(_multilinear_loop)


def hash_rows(X, key):
    """Replaces ``npae.backend.hash_rows`` (same arguments, the same seeds bit for bit).

    The reference widens all N·W words to uint64 and runs NumPy's integer matrix-vector product, a
    pass that writes and reads an (N, W) uint64 array; the compiled loop sums each row's products in
    a register, reading the uint32 words once. Integer arithmetic mod 2⁶⁴ is exact, so the sums are
    the reference's. It serves only where numba is installed (``npae.kernels.KERNELS``).
    """
    k0, k1 = B._key_words(key)
    words = B._row_words(X)
    multipliers = B._row_multipliers(k0, words.shape[1])
    S = array_namespace(multipliers).empty(words.shape[0], dtype=multipliers.dtype)
    _multilinear_compiled(words, multipliers, S)
    return B._mix64(S ^ k1)
