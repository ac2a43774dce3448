"""Kernels for ``npae.backend``'s samplers: the same Box–Muller normals in whole-array SIMD passes.

``npae.backend.standard_normal`` (the reference) draws pairs of uniforms (u₁, u₂) in the target
dtype and returns (r cos θ, r sin θ) with r = √(−2 log1p(−u₁)), θ = 2π u₂. Its cost is not the
arithmetic but how NumPy runs it: float32 ``log1p`` has no SIMD loop on x86 (it runs one element at
a time, ~15 ns each), and the column views ``u[:, 0]`` are strided. :func:`standard_normal` returns
the same numbers arranged for speed:

* log(1 − u₁) in place of log1p(−u₁): the uniforms are multiples of 2⁻²⁴ (float32) or 2⁻⁵³
  (float64) in [0, 1), so 1 − u₁ is exact in their dtype and both compute log of the same number;
  NumPy's ``log`` is vectorised. They differ by the rounding of the two library functions (≤ 1 ulp
  of the log, tested).
* one transpose makes u₁ and u₂ contiguous rows, and every step writes into its own buffer.

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

__all__ = ["standard_normal"]


def standard_normal(rng, shape, *, like=None, dtype=None, backend=None):
    """Replaces ``npae.backend.standard_normal`` (same arguments, same draws; see the module)."""
    dtype = like.dtype if dtype is None else dtype
    backend = B.backend_of(like) if backend is None else backend
    n = math.prod(shape)
    pairs = (n + 1) // 2
    u = rng.random((pairs, 2), dtype=B._host_dtype(dtype))  # the reference's draw: one (u₁, u₂) per pair
    xp = array_namespace(u)  # NumPy's: its ufuncs write into ``out``
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
