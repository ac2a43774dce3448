"""numba, when installed: the optional compiler behind the single-pass kernels.

``jit(fn)`` compiles ``fn`` for the CPU (cached on disk, releasing the GIL, one thread: the BLAS
threads own the cores during the products, and a second thread pool fights them). Without numba
(``pip install "npae[fast]"`` brings it) ``jit`` returns None and each kernel falls back to its
array form.
"""

from __future__ import annotations

try:
    import numba
except ImportError:  # optional: the "fast" extra
    numba = None

__all__ = ["HAVE_NUMBA", "c_contiguous", "jit"]

HAVE_NUMBA = numba is not None


def jit(fn):
    """``fn`` compiled by numba (no Python objects, cached), or None without numba."""
    return numba.njit(cache=True, nogil=True)(fn) if HAVE_NUMBA else None


def c_contiguous(*arrays) -> bool:
    """True when every array is a C-contiguous NumPy array (what the compiled loops index)."""
    return all(getattr(getattr(a, "flags", None), "c_contiguous", False) for a in arrays)
