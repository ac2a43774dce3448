"""The array backend: the only module in npae that names a concrete array library.

Every other numeric module asks its inputs for a namespace with
``array_api_compat.array_namespace(...)`` and calls only the Python Array API standard, so the
same lines run on NumPy, CuPy, PyTorch tensors and ``array_api_strict``. This module owns what the
standard leaves out:

* choosing a library (``set_backend``, ``get_backend``, the ``NPAE_BACKEND`` variable);
* the two doors between host and device, ``asarray`` (host -> backend) and ``to_numpy``;
* random numbers, drawn on the host from a ``numpy.random.Generator`` and moved to the device,
  so one seed gives the same numbers on every backend; and the keyed per-row streams of inference
  (``hash_rows``, ``CounterStreams``), whose draws are a function of a row's values and a key;
* dtype names and defaults;
* the kernel mode setting (``npae.set_kernels``: which code runs, not the kernels themselves),
  kept here because every module may import this one while reference code never imports
  ``npae.kernels``.

Settings and where they apply. ``set_backend`` and ``set_kernels`` set the process-wide default.
``use_kernel_mode`` (``npae.kernels.use_kernels``) sets the kernel mode for the current thread
or asyncio task only (a ``contextvars`` variable), and every fit pins the mode in force when it
starts for its whole run, so a ``set_kernels`` from another thread never switches a fit
mid-step. Environment variables (``NPAE_BACKEND``, ``NPAE_KERNELS``) are read on first use,
case-insensitively: a bad value never breaks ``import npae``; it is a ``ValueError`` naming the
variable where the setting is used. An npae estimator cloned by scikit-learn carries the
backend and kernel mode of the process that cloned it into joblib worker processes
(``settings()``/``apply_settings``), as ``sklearn.config_context`` reaches its workers.

``array_api_strict`` is placed on its fake device ``Device("device1")``: it refuses implicit
conversion to NumPy, arrays created without ``device=``, NumPy scalars and mixed-dtype in-place
updates, the mistakes CuPy would reject, so a CPU-only test run keeps the GPU path honest.
"""

from __future__ import annotations

import contextlib
import contextvars
import difflib
import math
import os
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import array_api_compat
import numpy as np

__all__ = [
    "BACKENDS",
    "Backend",
    "BackendUnavailableError",
    "set_backend",
    "get_backend",
    "backend_of",
    "available_backends",
    "asarray",
    "to_numpy",
    "is_host_array",
    "is_memmap",
    "input_kind",
    "first_nonfinite",
    "check_random_state",
    "standard_normal",
    "uniform",
    "hash_rows",
    "CounterStreams",
    "resolve_dtype",
    "dtype_name",
    "DEFAULT_DTYPE",
    "KERNEL_MODES",
    "kernel_mode",
    "set_kernel_mode",
    "use_kernel_mode",
    "settings",
    "apply_settings",
]

BACKENDS = ("numpy", "cupy", "torch", "array_api_strict")
DEFAULT_DTYPE = "float32"
FLOAT_DTYPES = ("float32", "float64")


class BackendUnavailableError(ImportError):
    """A backend was asked for that cannot run here (library missing or no device)."""


@dataclass(frozen=True)
class Backend:
    """An array library ready for use.

    Attributes
    ----------
    name : str
        One of ``BACKENDS``.
    xp : module
        The Array API namespace (``array_api_compat``'s wrapper for NumPy, CuPy and torch).
    device : object
        Where new arrays are created (``"cpu"``, a CuPy or torch device, strict's "device1").
    """

    name: str
    xp: ModuleType
    device: Any

    def __repr__(self) -> str:
        return f"Backend(name={self.name!r}, device={self.device!r})"

    def __deepcopy__(self, memo):
        return self  # immutable, and it holds a module, which cannot be copied

    def __reduce__(self):
        return (get_backend, (self.name,))


def _unknown_name_message(kind: str, name: object, valid: tuple[str, ...]) -> str:
    lowered = {v.lower(): v for v in valid}
    close = [lowered[m] for m in difflib.get_close_matches(str(name).lower(), list(lowered), n=1)]
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return f"Unknown {kind} {name!r}; expected one of {', '.join(map(repr, valid))}.{hint}"


def _make_numpy() -> Backend:
    return Backend("numpy", array_api_compat.array_namespace(np.empty(0)), "cpu")


def _make_cupy() -> Backend:
    try:
        import cupy
    except ImportError as err:
        raise BackendUnavailableError(
            "The 'cupy' backend needs CuPy, which is not installed. "
            'Install it with pip install "npae[gpu]" (CUDA 12), or choose backend="numpy".'
        ) from err
    try:
        usable = bool(cupy.is_available())
    except Exception as err:  # CUDA driver errors come in many types
        raise BackendUnavailableError(
            f"CuPy is installed but could not query CUDA ({err}); cupy.is_available() failed. "
            'Check the NVIDIA driver, or choose backend="numpy".'
        ) from err
    if not usable:
        raise BackendUnavailableError(
            "CuPy is installed but cupy.is_available() is False: no CUDA device is usable here. "
            'Run on a machine with an NVIDIA GPU, or choose backend="numpy".'
        )
    xp = array_api_compat.array_namespace(cupy.empty(0))
    return Backend("cupy", xp, cupy.cuda.Device())


def _make_torch() -> Backend:
    try:
        import torch
    except ImportError as err:
        raise BackendUnavailableError(
            "The 'torch' backend needs PyTorch, which is not installed. "
            'Install it with pip install torch (the CPU build is enough), or choose backend="numpy".'
        ) from err
    # an explicit index: a tensor moved with .to("cuda") is on cuda:<current>, and torch.device("cuda")
    # compares unequal to it (the device check of npae.validation.check_array compares them)
    device = torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else torch.device("cpu")
    xp = array_api_compat.array_namespace(torch.empty(0))
    return Backend("torch", xp, device)


def _make_array_api_strict() -> Backend:
    try:
        import array_api_strict
    except ImportError as err:
        raise BackendUnavailableError(
            "The 'array_api_strict' backend needs array-api-strict, which is not installed. "
            'Install it with pip install "npae[test]".'
        ) from err
    return Backend("array_api_strict", array_api_strict, array_api_strict.Device("device1"))


_FACTORIES = {
    "numpy": _make_numpy,
    "cupy": _make_cupy,
    "torch": _make_torch,
    "array_api_strict": _make_array_api_strict,
}
_cache: dict[str, Backend] = {}
_active: Backend | None = None


def _load(name: str) -> Backend:
    if not isinstance(name, str) or name not in _FACTORIES:
        raise ValueError(_unknown_name_message("backend", name, BACKENDS))
    if name not in _cache:
        _cache[name] = _FACTORIES[name]()
    return _cache[name]


def set_backend(name: str) -> Backend:
    """Make ``name`` the backend that new models and ``asarray`` use; return it.

    Parameters
    ----------
    name : {"numpy", "cupy", "torch", "array_api_strict"}
        Models with ``backend=None`` are built on it at their next fit from scratch.

    Returns
    -------
    Backend
        With ``name``, ``xp`` (the array namespace) and ``device``.

    Raises
    ------
    ValueError
        For a name not in ``BACKENDS`` (the message lists them).
    BackendUnavailableError
        When the library is missing or, for CuPy, no CUDA device is usable (says which and how
        to fix it; the import error is chained).
    """
    global _active
    _active = _load(name)
    return _active


def get_backend(name: str | None = None) -> Backend:
    """The active backend, or the one called ``name``.

    The first call honours the ``NPAE_BACKEND`` environment variable (default ``"numpy"``).
    """
    global _active
    if name is not None:
        return _load(name)
    if _active is None:
        _active = _load(_from_environment("NPAE_BACKEND", "numpy", BACKENDS, "backend"))
    return _active


def _from_environment(variable: str, default: str, valid: tuple[str, ...], kind: str) -> str:
    """The value of ``variable`` (stripped, lower case; ``default`` when unset or empty), or a
    ValueError naming the variable, its value and the valid ones."""
    raw = os.environ.get(variable, "")
    value = raw.strip().lower() or default
    if value not in valid:
        close = difflib.get_close_matches(value, valid, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"The environment variable {variable}={raw!r} is not a valid {kind}; expected one "
                         f"of {', '.join(map(repr, valid))} (any case), or unset it.{hint}")
    return value


# ------------------------------------------------------------------------------ kernel mode
#: ``"fast"`` runs the kernels of ``npae.kernels`` where they serve the backend; ``"reference"``
#: runs only the reference code.
KERNEL_MODES = ("reference", "fast")
_kernel_default: str | None = None  # the process-wide mode; None until set or read from NPAE_KERNELS
_kernel_context: contextvars.ContextVar = contextvars.ContextVar("npae_kernel_mode", default=None)


def kernel_mode() -> str:
    """The kernel mode in force here: this thread's (or task's) pinned mode, else the process-wide
    one (``set_kernel_mode``, else ``NPAE_KERNELS``, else ``"fast"``)."""
    global _kernel_default
    mode = _kernel_context.get()
    if mode is not None:
        return mode
    if _kernel_default is None:
        _kernel_default = _from_environment("NPAE_KERNELS", "fast", KERNEL_MODES, "kernel mode")
    return _kernel_default


def set_kernel_mode(mode: str) -> str:
    """Set the process-wide kernel mode (and this thread's, where a mode is pinned here)."""
    global _kernel_default
    if mode not in KERNEL_MODES:
        raise ValueError(_unknown_name_message("kernel mode", mode, KERNEL_MODES))
    _kernel_default = mode
    if _kernel_context.get() is not None:
        _kernel_context.set(mode)
    return mode


@contextlib.contextmanager
def use_kernel_mode(mode: str | None = None):
    """Pin the kernel mode (default: the one in force) for this thread or task in the block."""
    mode = kernel_mode() if mode is None else mode
    if mode not in KERNEL_MODES:
        raise ValueError(_unknown_name_message("kernel mode", mode, KERNEL_MODES))
    token = _kernel_context.set(mode)
    try:
        yield mode
    finally:
        _kernel_context.reset(token)


def settings() -> dict:
    """The settings a worker process needs to compute what this one would: the active backend's
    name and the kernel mode, with this process's id (see ``apply_settings``)."""
    return {"backend": get_backend().name, "kernels": kernel_mode(), "pid": os.getpid()}


def apply_settings(captured) -> bool:
    """Make ``captured`` (from ``settings()`` in another process) the process-wide settings here.

    Does nothing in the process that captured them (its own settings already hold) or for
    anything but such a record; returns whether they were applied. Used when an estimator cloned
    by scikit-learn is unpickled in a joblib worker.
    """
    global _active, _kernel_default
    if not isinstance(captured, dict) or captured.get("pid") in (None, os.getpid()):
        return False
    name, mode = captured.get("backend"), captured.get("kernels")
    if name not in _FACTORIES or mode not in KERNEL_MODES:
        return False
    _active = _load(name)
    _kernel_default = mode
    return True


def available_backends() -> dict[str, str]:
    """Map each backend name to ``"ok"`` or the reason it cannot be used here."""
    status = {}
    for name in BACKENDS:
        try:
            _load(name)
            status[name] = "ok"
        except BackendUnavailableError as err:
            status[name] = str(err)
    return status


def _library_of(x: Any) -> str | None:
    """Name of the backend an array belongs to, or None for non-arrays (lists, scalars)."""
    if isinstance(x, np.ndarray) or isinstance(x, np.generic):
        return "numpy"
    if array_api_compat.is_cupy_array(x):
        return "cupy"
    if array_api_compat.is_torch_array(x):
        return "torch"
    if type(x).__module__.startswith("array_api_strict"):
        return "array_api_strict"
    return None


def backend_of(x: Any) -> Backend:
    """The backend whose arrays ``x`` is; ValueError for objects that are not arrays."""
    name = _library_of(x)
    if name is None:
        raise TypeError(f"Expected an array, got {type(x).__name__}.")
    if name == "numpy":
        return _load("numpy")
    backend = _load(name)
    dev = array_api_compat.device(x)
    if dev != backend.device:
        backend = Backend(backend.name, backend.xp, dev)
    return backend


def is_host_array(x: Any) -> bool:
    """True for NumPy arrays (the host kind every backend can take in)."""
    return isinstance(x, np.ndarray)


def is_memmap(x: Any) -> bool:
    """True for NumPy memory maps (``np.memmap``, ``np.load(..., mmap_mode="r")``): streamed, not loaded."""
    return isinstance(x, np.memmap)


def input_kind(x: Any) -> tuple[str, str]:
    """Describe an input before conversion: (library or "sequence", dtype kind letter).

    The kind letter follows NumPy (``f`` float, ``i``/``u`` integer, ``b`` bool, ``c`` complex,
    ``O`` object, ``U``/``S`` text). Used by ``npae.validation`` to refuse bad dtypes by name.
    """
    name = _library_of(x)
    if name == "numpy":
        return "numpy", np.asarray(x).dtype.kind
    if name is None:
        try:
            arr = np.asarray(x)
        except (ValueError, TypeError):
            return "sequence", "O"
        return "sequence", arr.dtype.kind
    dtype = x.dtype
    xp = array_api_compat.array_namespace(x)
    if dtype == xp.bool:
        return name, "b"
    if xp.isdtype(dtype, "complex floating"):
        return name, "c"
    if xp.isdtype(dtype, "real floating"):
        return name, "f"
    if xp.isdtype(dtype, "unsigned integer"):
        return name, "u"
    return name, "i"


def resolve_dtype(xp: ModuleType, dtype: Any):
    """The namespace's dtype object for ``"float32"``/``"float64"`` (or a dtype object itself)."""
    if isinstance(dtype, str):
        if dtype not in FLOAT_DTYPES:
            raise ValueError(_unknown_name_message("dtype", dtype, FLOAT_DTYPES))
        return getattr(xp, dtype)
    return dtype


def dtype_name(dtype: Any) -> str:
    """``"float32"`` or ``"float64"`` for a dtype object of any backend."""
    text = str(dtype)
    for name in FLOAT_DTYPES:
        if name in text:
            return name
    raise ValueError(f"Expected a float32 or float64 dtype, got {dtype}.")


def asarray(a: Any, dtype: Any = None, *, backend: Backend | str | None = None, device: Any = None):
    """Move ``a`` (NumPy array, list, or backend array) onto ``backend`` (default: active).

    ``dtype`` may be ``"float32"``, ``"float64"`` or a dtype object of that backend. Arrays
    already on the backend are returned unchanged when no dtype change is asked for.
    """
    if backend is None:
        backend = get_backend()
    elif isinstance(backend, str):
        backend = _load(backend)
    xp = backend.xp
    device = backend.device if device is None else device
    target = resolve_dtype(xp, dtype) if dtype is not None else None
    source = _library_of(a)
    if source is not None and source != "numpy" and source != backend.name:
        a = to_numpy(a)
    elif source == backend.name and source != "numpy":
        if source == "torch":  # npae computes its own gradients: never record an autograd graph
            a = a.detach()
        if target is not None and a.dtype != target:
            a = xp.astype(a, target)
        if array_api_compat.device(a) != device:
            a = array_api_compat.to_device(a, device)
        return a
    if backend.name == "numpy":
        return np.asarray(a, dtype=None if target is None else target)
    host = np.asarray(a)
    if backend.name == "array_api_strict" and host.dtype.kind in "fiub" and not host.flags.c_contiguous:
        host = np.ascontiguousarray(host)
    return xp.asarray(host, dtype=target, device=device)


def to_numpy(x: Any, *, copy: bool = False) -> np.ndarray:
    """Any backend's array as a host NumPy array (the only door out of a device).

    From a device (CuPy, a CUDA tensor, array_api_strict's device) this is a copy. A NumPy array
    or a CPU tensor comes back as a view of the same memory (as ``np.asarray`` and
    ``Tensor.numpy()`` do), so that results leave without a second pass over them; pass
    ``copy=True`` for a snapshot that later changes to ``x`` (a warm start, an in-place update)
    cannot reach, and that can be written without writing into ``x``.
    """
    name = _library_of(x)
    if name == "numpy" or name is None:
        return np.array(x, copy=True) if copy else np.asarray(x)
    if name == "cupy":
        return x.get()
    if name == "torch":
        host = x.detach().cpu()
        return host.numpy().copy() if copy and host.data_ptr() == x.data_ptr() else host.numpy()
    import array_api_strict

    host = np.asarray(x.to_device(array_api_strict.Device("CPU_DEVICE")))  # a view when x is on CPU_DEVICE
    return host.copy() if copy else host


def ignoring_overflow():
    """A context in which NumPy does not warn about overflow (``np.errstate``), for code that turns
    the non-finite results into defined values itself (a row's loss that overflows the dtype
    scores as the lowest finite score): no RuntimeWarning for a case that is handled."""
    return np.errstate(over="ignore", invalid="ignore")


def device_of(x: Any):
    """The device an array lives on (``array_api_compat.device``), for messages and checks."""
    return array_api_compat.device(x)


def move_hint(name: str, backend: Backend) -> str:
    """How to move an array called ``name`` onto ``backend``'s device, in its library's words."""
    if backend.name == "torch":
        return f"{name}.to({str(backend.device)!r})"
    if backend.name == "cupy":
        return f"cupy.asarray({name})"
    return f"npae.asarray({name}, backend={backend.name!r})"


def first_nonfinite(x: Any) -> tuple[int, int, bool]:
    """(row, column, is_nan) of the first NaN or infinite entry of a 2-D array (host search)."""
    host = to_numpy(x)
    row, col = (int(i) for i in np.argwhere(~np.isfinite(host))[0])
    return row, col, bool(np.isnan(host[row, col]))


def check_random_state(seed: Any) -> np.random.Generator:
    """Turn None, an int or a ``numpy.random.Generator`` into a Generator.

    None gives fresh OS entropy; an int seeds a new PCG64; a Generator is returned as it is
    (so the caller's stream advances, as in ``numpy.random.default_rng``).
    """
    if seed is None or isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return np.random.default_rng(seed)
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, np.random.RandomState):
        return np.random.default_rng(seed.randint(0, 2**32 - 1))
    raise TypeError(
        f"random_state must be None, an int or a numpy.random.Generator; got {type(seed).__name__}."
    )


def _host_dtype(dtype: Any):
    return np.float32 if dtype_name(dtype) == "float32" else np.float64


def standard_normal(rng: np.random.Generator, shape: tuple[int, ...], *, like: Any = None, dtype: Any = None, backend: Backend | None = None):
    """Draw N(0, 1) numbers of ``shape`` on the host and place them beside ``like``.

    npae's one normal sampler (the VAE's ε, the denoiser's Gaussian noise, normal initializers,
    gradient-check directions). It is the Box–Muller transform of uniforms drawn in the target
    dtype, so the same seed gives the same numbers on every backend:

        u₁, u₂ ~ U[0, 1),   r = √(−2 log(1 − u₁)),   θ = 2π u₂,   ε = (r cos θ, r sin θ)

    Each pair (u₁, u₂) gives two independent standard normals, stored next to each other, so
    drawing an even count in two calls gives the numbers of one call (an odd count uses one
    normal less than it draws). 1 − u₁ lies in (0, 1] and is
    exact, so the log never sees 0: |ε| ≤ √(2·24·log 2) ≈ 5.8 in float32 (≈ 8.6 in float64), a
    tail the normal reaches with probability below 1e-8. (It is also faster than NumPy's
    ziggurat in float32: benchmarks/RESULTS.md.)
    """
    dtype = like.dtype if dtype is None else dtype
    backend = backend_of(like) if backend is None else backend
    n = math.prod(shape)
    u = rng.random(((n + 1) // 2, 2), dtype=_host_dtype(dtype))  # one (u₁, u₂) row per pair
    r = np.sqrt(-2.0 * np.log1p(-u[:, 0]))
    theta = (2.0 * math.pi) * u[:, 1]
    eps = np.stack([np.cos(theta), np.sin(theta)], axis=1)
    eps *= r[:, None]  # eps is a fresh (pairs, 2) array
    return asarray(eps.reshape(-1)[:n].reshape(shape), backend=backend)


def uniform(rng: np.random.Generator, shape: tuple[int, ...], *, like: Any = None, dtype: Any = None, backend: Backend | None = None):
    """Draw U[0, 1) numbers of ``shape`` on the host and place them beside ``like``."""
    dtype = like.dtype if dtype is None else dtype
    backend = backend_of(like) if backend is None else backend
    host = rng.random(shape, dtype=_host_dtype(dtype))
    return asarray(host, backend=backend)


# ------------------------------------------------------------------------------ keyed row streams
# Why they exist: a VAE's scores (``score_samples``, ``log_likelihood``, …) are Monte Carlo
# estimates, and scikit-learn asks that a row score the same alone, in any batch and in any order.
# So each row draws its noise from a stream of its own, seeded by a keyed hash of its values
# (``hash_rows``), and the streams are counter-based (``CounterStreams``): the i-th number of a
# stream is a function of (seed, i), so all rows' numbers come out of one vectorised pass instead
# of one Generator per row. The normals are still ``standard_normal``'s Box–Muller transform of
# these uniforms: one normal sampler.
_GAMMA = 0x9E3779B97F4A7C15  # SplitMix64's increment: 2⁶⁴/φ, odd
_MIX1, _MIX2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB  # its finaliser's multipliers (Stafford's mix 13)


def _mix64(z):
    """SplitMix64's finaliser, a bijection of uint64 arrays in which every input bit flips about
    half of the output bits: z ← (z ⊕ z≫30)·M₁, z ← (z ⊕ z≫27)·M₂, z ⊕ z≫31, all mod 2⁶⁴."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(_MIX1)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(_MIX2)
    return z ^ (z >> np.uint64(31))


def _splitmix64(seeds, positions):
    """Output i of the SplitMix64 stream seeded s, for every seed and position: mix64(s + (i + 1)·γ).

    seeds : uint64 array of shape (N,); positions : uint64 array of shape (P,) -> (N, P) uint64.
    """
    return _mix64(seeds[:, None] + (positions[None, :] + np.uint64(1)) * np.uint64(_GAMMA))


def _key_words(key: bytes) -> tuple:
    """The 16-byte key as two uint64 arrays of shape (1,), k₀ and k₁ (little-endian)."""
    if not isinstance(key, bytes) or len(key) != 16:
        raise ValueError(f"key must be 16 bytes; got {key!r}.")
    k = np.frombuffer(key, dtype="<u8").astype(np.uint64)
    return k[0:1], k[1:2]


def _row_words(X):
    """The rows of X (N, D) on the host as W 32-bit words each, (N, W) uint32 (W = D in float32,
    2D in float64), after −0.0 is made 0.0 (−0.0 + 0.0 = 0.0) so that rows equal as numbers
    read alike."""
    host = np.add(to_numpy(X), 0.0, order="C")  # a fresh C-ordered copy: rows are contiguous
    return host.view(np.uint32)


def _row_multipliers(k0, W: int):
    """The W odd multipliers of ``hash_rows``: outputs 0 … W − 1 of SplitMix64 seeded k₀, | 1."""
    return _splitmix64(k0, np.arange(W, dtype=np.uint64))[0] | np.uint64(1)


def hash_rows(X, key: bytes):
    """A keyed 64-bit hash of each row's values: the seeds of the rows' streams, (N,) uint64 on the host.

    Each row of X (its dtype's bytes, on the host) is read as W 32-bit words w_d (W = D in float32,
    2D in float64), after −0.0 is made 0.0 so that rows equal as numbers hash alike. With the key's
    two 64-bit halves k₀, k₁ and multipliers m_d = output d of SplitMix64 seeded k₀, made odd,

        S_n = Σ_d m_d·w_nd  mod 2⁶⁴,        seed_n = mix64(S_n ⊕ k₁)

    S is the multilinear hash (Lemire & Kaser, 2014): for random odd multipliers two different
    rows collide with probability at most 2⁻³² (take a word d where they differ by δ = 2ᵗ·odd,
    t ≤ 31: m_d·δ mod 2⁶⁴ is uniform over 2⁶³⁻ᵗ values), and rows that differ in one word never
    collide (m_d·δ is not 0 mod 2⁶⁴ for odd m_d and 0 < |δ| < 2³²), so a one-ulp change always
    gives a new seed. mix64 (a bijection) spreads every bit of S and of k₁ over the seed.

    Parameters
    ----------
    X : array of shape (N, D), float32 or float64, of any backend
    key : bytes
        16 bytes.

    Returns
    -------
    seeds : numpy array of shape (N,), uint64
    """
    k0, k1 = _key_words(key)
    words = _row_words(X)
    multipliers = _row_multipliers(k0, words.shape[1])
    S = words.astype(np.uint64) @ multipliers  # uint64 arithmetic wraps: the sum mod 2⁶⁴
    return _mix64(S ^ k1)


class CounterStreams:
    """Uniforms from N SplitMix64 streams at once, each read from a position: a source for
    ``standard_normal`` (it has a Generator's ``random(shape, dtype)``).

    Stream n is SplitMix64 seeded with ``seeds[n]``: its output i is the 64-bit word
    b = mix64(seeds[n] + (i + 1)·γ) (Steele, Lea & Flood, 2014), and its uniform i is the top bits
    of b, u = ⌊b / 2⁴⁰⌋·2⁻²⁴ in float32 or ⌊b / 2¹¹⌋·2⁻⁵³ in float64 (what a NumPy Generator does
    with its own words), so a float32 uniform is its float64 twin rounded down. Because output i
    depends on (seed, i) alone, any rows and positions are computed together, in one pass.

    ``random`` returns, row after row, the ``count`` uniforms at positions ``start`` … ``start +
    count − 1`` of every stream: ``standard_normal(CounterStreams(seeds, start, count), (N, count))``
    pairs them (u₁, u₂) within each row when ``count`` is even.

    Parameters
    ----------
    seeds : numpy array of shape (N,), uint64
        The streams' seeds (``hash_rows``).
    start, count : int
        The first position read in each stream, and how many.
    """

    def __init__(self, seeds, start: int, count: int):
        self._seeds, self._start, self._count = seeds, int(start), int(count)

    def random(self, shape, dtype):
        """The uniforms in [0, 1) of dtype (float32 or float64), row after row, reshaped to shape."""
        if math.prod(shape) != self._seeds.shape[0] * self._count:
            raise ValueError(f"expected a draw of {self._seeds.shape[0] * self._count} uniforms "
                             f"({self._seeds.shape[0]} streams × {self._count}); got shape {tuple(shape)}.")
        positions = np.arange(self._start, self._start + self._count, dtype=np.uint64)
        bits = _splitmix64(self._seeds, positions)  # (N, count)
        if np.dtype(dtype) == np.float32:
            u = (bits >> np.uint64(40)).astype(np.float32) * np.float32(2.0**-24)
        else:
            u = (bits >> np.uint64(11)).astype(np.float64) * (2.0**-53)
        return u.reshape(shape)
