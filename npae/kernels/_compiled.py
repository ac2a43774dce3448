"""numba, when installed: the optional compiler behind the single-pass kernels.

``jit(fn)`` compiles ``fn`` for the CPU (cached on disk, releasing the GIL, one thread: the BLAS
threads own the cores during the products, and a second thread pool fights them). Without numba
(``pip install "npae[fast]"`` brings it) ``jit`` returns None and each kernel falls back to its
array form.

Two options decide whether a loop vectorises (packed ``vsqrtps``/``vdivps`` on ymm registers
rather than one element at a time), so every kernel is compiled with them:

* ``error_model="numpy"``: a division by zero gives inf/NaN as in NumPy, instead of numba's
  default Python error model, which guards every division with a branch that raises
  ``ZeroDivisionError`` and so keeps the loop scalar;
* ``fastmath``: only the flags that leave each result within a rounding of the plain IEEE one
  (``contract``: a·b + c as one fused multiply-add; ``arcp``: a / b as a · (1 / b)), never
  ``nnan``/``ninf`` (the divergence checks need NaN and inf to survive) or ``afn`` (approximate
  sqrt/exp). Each kernel's parity test states the tolerance this leaves.

``packed_instructions(compiled)`` lists what the generated machine code holds, for the kernel
benchmark (``benchmarks/bench_kernels.py``) and for the test that the loops vectorise.
"""

from __future__ import annotations

import re

try:
    import numba
except ImportError:  # optional: the "fast" extra
    numba = None

__all__ = ["EXACT_FASTMATH", "FLOAT32", "HAVE_NUMBA", "INT32", "UINT64", "c_contiguous", "jit", "packed_instructions"]

HAVE_NUMBA = numba is not None
#: NumPy's float32, int32 and uint64 scalar types (from numba, so this package imports no NumPy): a
#: compiled loop casts its constants with them, keeping float32 arithmetic in float32, and
#: reinterprets bits with ``INT32(bits).view(FLOAT32)``.
if HAVE_NUMBA:
    from numba.np.numpy_support import as_dtype

    FLOAT32, INT32, UINT64 = (as_dtype(t).type for t in (numba.float32, numba.int32, numba.uint64))
else:
    FLOAT32 = INT32 = UINT64 = None
EXACT_FASTMATH = frozenset({"contract", "arcp"})


def jit(fn, fastmath=frozenset()):
    """``fn`` compiled by numba (no Python objects, cached, NumPy's error model), or None without numba.

    ``fastmath`` is a subset of ``EXACT_FASTMATH`` (empty: strict IEEE, bit-exact loops).
    """
    if not HAVE_NUMBA:
        return None
    unknown = set(fastmath) - EXACT_FASTMATH
    if unknown:
        raise ValueError(f"fastmath flags {sorted(unknown)} change results beyond rounding; "
                         f"use a subset of {sorted(EXACT_FASTMATH)}.")
    return numba.njit(cache=True, nogil=True, error_model="numpy", fastmath=set(fastmath))(fn)


def c_contiguous(*arrays) -> bool:
    """True when every array is a C-contiguous NumPy array (what the compiled loops index)."""
    return all(getattr(getattr(a, "flags", None), "c_contiguous", False) for a in arrays)


_PACKED = re.compile(r"^\s*(v?\w+p[sd])\s+[^\n]*%([xyz]mm)", re.MULTILINE)


def packed_instructions(compiled) -> dict:
    """{signature: {"packed": {mnemonic: count}, "scalar_sqrt_div": count}} of each compiled signature.

    Packed = an instruction ending in ``ps``/``pd`` on an xmm/ymm/zmm register (x86 only; other
    architectures give empty counts). A loop that vectorised shows its arithmetic here (e.g.
    ``vsqrtps`` with ymm on AVX2); ``scalar_sqrt_div`` counts ``sqrtss``/``divss``/… (a scalar
    remainder loop keeps a few).
    """
    out = {}
    # Code loaded from numba's disk cache cannot be inspected: compile an uncached twin with the
    # same options for each signature already compiled.
    options = {k: v for k, v in compiled.targetoptions.items() if k in ("nogil", "error_model", "fastmath")}
    fresh = numba.njit(cache=False, **options)(compiled.py_func)
    for sig in getattr(compiled, "signatures", ()):
        fresh.compile(sig)
        asm = fresh.inspect_asm(sig)
        packed: dict = {}
        for name, register in _PACKED.findall(asm):
            if name.startswith(("vmov", "mov", "vbroadcast", "vperm", "vunpck", "vinsert", "vextract", "vshuf")):
                continue
            key = f"{name} {register}"
            packed[key] = packed.get(key, 0) + 1
        scalar = len(re.findall(r"\bv?(sqrt|div)s[sd]\b", asm))
        out[str(sig)] = {"packed": packed, "scalar_sqrt_div": scalar}
    return out
