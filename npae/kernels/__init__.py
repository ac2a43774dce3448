"""Kernels: faster versions of reference operations, and the one place that chooses them.

The reference modules (``ops``, ``activations``, ``layers``, ``losses``, ``penalties``,
``optimizers``, ``noise``, ``models``) are written for the reader, in the textbook form. A kernel
replaces one of their operations (or a fused group of them) with the same mathematics arranged
for speed on one backend: fewer passes over memory, shared intermediate values, arithmetic in
place of a data-dependent ``where``. Each kernel

* names the reference it replaces (``Kernel.reference``, and its docstring);
* is tested equal to that reference, bit for bit or within a stated tolerance
  (``tests/kernels/``), on every backend it serves;
* serves only the backends where it was measured to pay in whole training steps
  (``benchmarks/RESULTS.md``).

How a kernel takes over
-----------------------
``KERNELS`` below is the whole table: reference attribute (a module function such as
``npae.ops.sigmoid`` or a method such as ``npae.optimizers.Adam._update``), kernel, backends.
``install()`` runs once, when ``npae`` is imported, and puts a small dispatcher in each
reference's place. A reference may have one kernel per backend (NumPy's array or compiled
forms in the modules named after the reference modules, PyTorch's own calls in ``torch_backend``).
On every call the dispatcher looks at the mode and at the backend of the array argument: in
``"fast"`` mode, on a backend one of its kernels serves, it calls that kernel;
otherwise it calls the reference function itself, unchanged. The reference modules never import
this package, so a learner reading them never meets a kernel, and:

    npae.set_kernels("reference")     # or NPAE_KERNELS=reference in the environment

runs everything on the textbook code (for learning, for debugging, and as the A/B baseline in
the benchmarks).

Where a mode applies: ``set_kernels`` sets the process-wide mode; ``use_kernels`` sets it for the
current thread (or asyncio task) only, as a ``contextvars`` variable; and every ``fit`` /
``partial_fit`` pins the mode in force when it starts for its whole run, in its own thread, so a
``set_kernels`` from another thread takes effect at that thread's next fit and never switches a
fit mid-step. ``NPAE_KERNELS`` (``fast`` or ``reference``, any case) is read on first use: a bad
value does not break ``import npae``; the first kernel call, fit or ``get_kernels()`` raises a
ValueError naming the variable, and ``npae info`` shows it as invalid.
"""

from __future__ import annotations

import contextlib
import functools
import sys
from dataclasses import dataclass

import npae.activations
import npae.layers
import npae.losses
import npae.noise
import npae.ops
import npae.optimizers
import npae.penalties.gram
import npae.penalties.sparsity
from npae import backend as B
from npae.kernels import activations, layers, losses, noise, ops, optimizers, penalties, sampling, torch_backend
from npae.validation import check_option

__all__ = ["KERNELS", "MODES", "Kernel", "get_kernels", "install", "kernels_for", "reference", "set_kernels", "use_kernels"]

MODES = B.KERNEL_MODES
ENV_VARIABLE = "NPAE_KERNELS"


@dataclass(frozen=True)
class Kernel:
    """One replacement: ``owner.name`` (the reference) is served by ``kernel`` on ``backends``.

    ``array_arg`` is the position of the argument whose backend decides (1 for methods, after
    ``self``); ``probe`` instead derives the deciding array from the arguments (e.g. a layer's
    parameters for ``zero_grad``). ``exact`` says whether the kernel returns the reference's
    numbers bit for bit; otherwise ``tolerance`` is the relative difference its test allows.
    """

    owner: object
    name: str
    kernel: object
    backends: tuple
    array_arg: int = 0
    probe: object = None
    exact: bool = True
    tolerance: float = 0.0

    @property
    def reference_name(self) -> str:
        owner = getattr(self.owner, "__qualname__", None) or self.owner.__name__
        module = getattr(self.owner, "__module__", None) or ""
        return f"{module}.{owner}.{self.name}" if module else f"{owner}.{self.name}"


def _layer_parameter(layer, *args, **kwargs):
    return next(iter(layer.params.values()), None)


def _optimizer_parameter(optimizer, param, *args, **kwargs):
    return param


def _first_pre_activation(Ws, zs, *args, **kwargs):
    return zs[0] if zs else None


_HOST_TOKEN = B.asarray([0.0], backend="numpy")


def _float32_beside_an_array(rng, shape, *, like=None, dtype=None, backend=None):
    """What decides the sampler's kernel. The draw is made on the host whatever the target, so a
    float32 draw beside an array of any backend (the training noise: the denoiser's ε, the VAE's ε)
    is NumPy's, and its numbers are the same on every backend. None (the reference) for float64
    draws and for draws made for a backend rather than beside an array (initial weights, once
    per fit)."""
    if like is None:
        return None
    try:
        name = B.dtype_name(like.dtype if dtype is None else dtype)
    except ValueError:  # a dtype the reference refuses, with its message
        return None
    return _HOST_TOKEN if name == "float32" else None


def _on_the_host(X, key):
    """What decides ``hash_rows``'s kernel: the host token whatever X's backend, because the rows
    are hashed on the host (one device-to-host copy either way) and the seeds are the same bits."""
    return _HOST_TOKEN


# The whole table: what replaces what, on which backends. A reference may have one kernel per
# backend (NumPy's compiled or array forms, torch's own calls); each serves only the backends where
# it was measured (benchmarks/RESULTS.md); the others run the reference.
_NUMPY = ("numpy",)
_TORCH = ("torch",)
_HOST = ("numpy",)  # the host token's backend (a probe's ``_HOST_TOKEN``): arrays of every backend
KERNELS = (
    Kernel(B, "standard_normal", sampling.standard_normal, _NUMPY, probe=_float32_beside_an_array,
           exact=False, tolerance=2e-6),
    Kernel(B, "hash_rows", sampling.hash_rows, _HOST if sampling.HAVE_NUMBA else (), probe=_on_the_host),
    Kernel(npae.ops, "sigmoid", ops.sigmoid, _NUMPY),
    Kernel(npae.ops, "sigmoid", torch_backend.sigmoid, _TORCH, exact=False, tolerance=1e-6),
    Kernel(npae.ops, "softplus", ops.softplus, _NUMPY, exact=False, tolerance=4e-7),
    Kernel(npae.activations.ReLU, "f", activations.relu, _NUMPY, array_arg=1),
    Kernel(npae.activations.ReLU, "f", torch_backend.relu, _TORCH, array_arg=1),
    Kernel(npae.losses, "bce_with_logits", losses.bce_with_logits, _NUMPY, exact=False, tolerance=1e-6),
    Kernel(npae.losses, "bce_with_logits_and_grad", losses.bce_with_logits_and_grad, _NUMPY,
           exact=False, tolerance=1e-6),
    Kernel(npae.losses, "bce_with_logits_and_grad", torch_backend.bce_with_logits_and_grad, _TORCH,
           exact=False, tolerance=1e-6),
    Kernel(npae.penalties.sparsity, "kl_sparsity_and_grad", penalties.kl_sparsity_and_grad, _NUMPY,
           exact=False, tolerance=1e-6),
    Kernel(npae.penalties.sparsity, "kl_sparsity_and_logit_grad", penalties.kl_sparsity_and_logit_grad, _NUMPY,
           exact=False, tolerance=1e-6),
    Kernel(npae.penalties.gram, "gram_penalty_and_grad", penalties.gram_penalty_and_grad,
           _NUMPY if penalties.HAVE_NUMBA else (), probe=_first_pre_activation, exact=False, tolerance=1e-5),
    Kernel(npae.layers.Layer, "zero_grad", layers.zero_grad, (*_NUMPY, *_TORCH), probe=_layer_parameter),
    Kernel(npae.layers.Dense, "forward", layers.dense_forward, _NUMPY, array_arg=1),
    Kernel(npae.layers.Dense, "forward", torch_backend.dense_forward, _TORCH, array_arg=1,
           exact=False, tolerance=1e-6),
    Kernel(npae.layers.Dense, "infer", layers.dense_infer, _NUMPY, array_arg=1),
    Kernel(npae.layers.Dense, "infer", torch_backend.dense_infer, _TORCH, array_arg=1,
           exact=False, tolerance=1e-6),
    Kernel(npae.layers.Dense, "backward", layers.dense_backward, _NUMPY, probe=_layer_parameter),
    Kernel(npae.layers.Dense, "backward", torch_backend.dense_backward, _TORCH, probe=_layer_parameter),
    Kernel(npae.layers.Activation, "backward", layers.activation_backward, _NUMPY, array_arg=1),
    Kernel(npae.layers.Activation, "backward", torch_backend.activation_backward, _TORCH, array_arg=1),
    Kernel(npae.noise.NoiseLayer, "backward", noise.noise_backward, _NUMPY, array_arg=1),
    Kernel(npae.noise.GaussianNoise, "_apply", noise.gaussian_apply, _NUMPY if noise.HAVE_NUMBA else (), array_arg=1),
    Kernel(npae.noise.MaskingNoise, "_apply", noise.masking_apply, _NUMPY, array_arg=1),
    Kernel(npae.noise.SaltAndPepperNoise, "_apply", noise.salt_and_pepper_apply, _NUMPY, array_arg=1),
    Kernel(npae.optimizers.Adam, "_update", optimizers.adam_update, _NUMPY, probe=_optimizer_parameter,
           exact=False, tolerance=1e-6),
    Kernel(npae.optimizers.Adam, "_update", torch_backend.adam_update, _TORCH, probe=_optimizer_parameter,
           exact=False, tolerance=1e-6),
)

_REFERENCES: dict = {}  # (owner, name) -> the reference function, before install() replaced it
_BACKEND_OF_TYPE: dict = {}  # array type -> backend name (an array's type decides its backend)


def set_kernels(mode: str) -> str:
    """Run npae on its fast kernels (``"fast"``, the default) or on the pure reference code.

    Sets the process-wide mode (a fit running in another thread keeps the mode it started with
    until it ends) and returns it. ``NPAE_KERNELS=reference`` sets the same in the environment.
    """
    return B.set_kernel_mode(check_option(mode, MODES, "kernels"))


def get_kernels() -> str:
    """The mode in force in this thread: ``"fast"`` or ``"reference"``.

    Raises ValueError when it comes from an invalid ``NPAE_KERNELS``.
    """
    return B.kernel_mode()


@contextlib.contextmanager
def use_kernels(mode: str):
    """``with use_kernels("reference"): ...`` runs the block in ``mode`` in this thread (or asyncio
    task) only, then restores the previous mode; other threads are not affected."""
    with B.use_kernel_mode(check_option(mode, MODES, "kernels")):
        yield


def kernels_for(backend: str | None = None) -> list:
    """The kernels that serve ``backend`` (default: the active one) in fast mode."""
    name = B.get_backend(backend).name
    return [k for k in KERNELS if name in k.backends]


def reference(kernel: Kernel):
    """The reference function ``kernel`` replaces (what ``owner.name`` was before ``install``)."""
    return _REFERENCES[(kernel.owner, kernel.name)]


def _backend_name(x) -> str | None:
    """The backend name of array ``x`` (None for anything else), cached per type."""
    kind = type(x)
    try:
        return _BACKEND_OF_TYPE[kind]
    except KeyError:
        try:
            name = B.backend_of(x).name
        except TypeError:
            name = None
        _BACKEND_OF_TYPE[kind] = name
        return name


def _dispatcher(specs, reference_fn):
    """One dispatcher for every kernel of one reference: the array's backend picks the kernel."""
    table = {backend: spec.kernel for spec in specs for backend in spec.backends}
    probe, position = specs[0].probe, specs[0].array_arg
    mode = B.kernel_mode

    @functools.wraps(reference_fn)
    def dispatch(*args, **kwargs):
        if mode() == "fast":
            deciding = probe(*args, **kwargs) if probe is not None else args[position]
            kernel = table.get(_backend_name(deciding))
            if kernel is not None:
                return kernel(*args, **kwargs)
        return reference_fn(*args, **kwargs)

    def kernel_for(x):
        """The kernel this dispatcher calls for arrays like ``x`` in fast mode (None: the reference)."""
        return table.get(_backend_name(x))

    dispatch.__npae_kernel__ = specs[0]
    dispatch.__npae_kernels__ = tuple(specs)
    dispatch.kernel_for = kernel_for
    return dispatch


def install() -> None:
    """Put a dispatcher in the place of every reference in ``KERNELS`` (idempotent).

    A module function is also replaced where another npae module re-exports it under the same
    name (``npae.penalties`` re-exports ``npae.penalties.sparsity``'s functions), so every public
    path to a reference reaches its dispatcher.
    """
    npae_modules = [m for name, m in sorted(sys.modules.items()) if name == "npae" or name.startswith("npae.")]
    grouped: dict = {}
    for spec in KERNELS:
        grouped.setdefault((spec.owner, spec.name), []).append(spec)
    for key, specs in grouped.items():
        if key in _REFERENCES:
            continue
        owner, name = key
        reference_fn = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
        _REFERENCES[key] = reference_fn
        dispatcher = _dispatcher(specs, reference_fn)
        setattr(owner, name, dispatcher)
        if not isinstance(owner, type):
            for module in npae_modules:
                if module is not None and getattr(module, name, None) is reference_fn:
                    setattr(module, name, dispatcher)

