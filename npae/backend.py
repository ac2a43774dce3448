"""The array backend: the only module in npae that names a concrete array library.

Every other numeric module asks its inputs for a namespace with
``array_api_compat.array_namespace(...)`` and calls only the Python Array API standard, so the
same lines run on NumPy, CuPy, PyTorch tensors and ``array_api_strict``. This module owns what the
standard leaves out:

* choosing a library (``set_backend``, ``get_backend``, the ``NPAE_BACKEND`` variable);
* the two doors between host and device, ``asarray`` (host -> backend) and ``to_numpy``;
* random numbers, drawn on the host from a ``numpy.random.Generator`` and moved to the device,
  so one seed gives the same numbers on every backend;
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
    close = difflib.get_close_matches(str(name), valid, n=1)
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
            'Install it with pip install "npae[bench]", or choose backend="numpy".'
        ) from err
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
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


def to_numpy(x: Any) -> np.ndarray:
    """Copy any backend's array to a host NumPy array (the only door out of a device)."""
    name = _library_of(x)
    if name == "numpy" or name is None:
        return np.asarray(x)
    if name == "cupy":
        return x.get()
    if name == "torch":
        return x.detach().cpu().numpy()
    import array_api_strict

    return np.asarray(x.to_device(array_api_strict.Device("CPU_DEVICE")))


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
