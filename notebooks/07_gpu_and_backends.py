# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 7. One model, many array libraries: NumPy, array_api_strict, PyTorch and CuPy
#
# Every line of npae's numerics is written once, against the **Python Array API standard**, and
# runs on whichever array library holds the data: NumPy on the CPU, CuPy on an NVIDIA GPU,
# PyTorch tensors on CPU or GPU, and `array_api_strict`, a deliberately unforgiving reference
# implementation that exists only to catch mistakes. This chapter shows how that works and checks
# that it does.
#
# In this chapter you will
#
# 1. see what the standard is, and how `array_namespace` lets one function serve every library;
# 2. meet npae's **kernels**, faster versions of a few reference functions on one backend, and
#    learn how to switch them off so that everything runs on the code the other chapters print;
# 3. train the **same model** on every backend available here, from the same seed, and measure
#    how far apart the losses, the parameters and the outputs end up (parity), and how long each
#    takes (timing);
# 4. see why the test suite runs everything on `array_api_strict` as well: it rejects, on a CPU,
#    the NumPy-only idioms that would fail on a GPU;
# 5. learn the two doors between host and device, `npae.asarray` and `npae.to_numpy`, and why the
#    training loop crosses from device to host only **once per epoch**.
#
# Which backends run depends on the machine: NumPy and `array_api_strict` always; PyTorch when it
# is installed (on its GPU when CUDA is available); CuPy only with CUDA. `NPAE_QUICK=1` in the
# environment shrinks every size so that the notebook finishes in a minute or less
# on two cores (the test suite runs it
# that way); the numbers quoted in the text are from the full setting on a 2-core CPU machine
# without a GPU.

# %%
import inspect
import os
import time

import array_api_strict
import matplotlib.pyplot as plt
import numpy as np
from array_api_compat import array_namespace

import npae
import npae.datasets
import npae.exercises
import npae.kernels
import npae.ops
import npae.training

QUICK = os.environ.get("NPAE_QUICK") == "1"
N_TRAIN = 500 if QUICK else 5000  # training images (the embedded subset has 5,000)
N_TEST = 100 if QUICK else 1000  # test images for the output comparison
EPOCHS = 2 if QUICK else 10  # epochs per backend
HIDDEN = (64,) if QUICK else (256,)
SEED = 0


reveal = npae.exercises.reveal  # npae's code for an exercise, once yours has passed its check

npae.set_backend("numpy")
X_train, _ = npae.datasets.load_embedded("train")
X_test, _ = npae.datasets.load_embedded("test")
X_train, X_test = X_train[:N_TRAIN], X_test[:N_TEST]

# %% [markdown]
# ## 7.1 The Array API standard and `array_namespace`
#
# NumPy, CuPy and PyTorch grew up with different names for the same operation
# (`np.concatenate` vs `torch.cat`, `x.sum(axis=1)` vs `x.sum(dim=1)`, `np.clip` vs
# `torch.clamp`). The [Python Array API standard](https://data-apis.org/array-api/) fixes one set
# of names and semantics, and the `array_api_compat` package supplies a compliant **namespace** for
# each library. A function asks its inputs for their namespace and uses nothing else:
#
# $$\texttt{xp = array\_namespace(z)} \quad\Longrightarrow\quad
#   \operatorname{softplus}(z) = \log(1 + e^{z}) \text{ computed by } \texttt{xp}.$$
#
# npae's softplus is the reference code that every backend runs (on NumPy a kernel that agrees
# with it to rounding stands in for it; section 7.2 says what that means). Writing it so that it
# never overflows is part of chapter 1's `bce_with_logits` exercise, so its source is shown once
# that exercise has passed in this session:

# %%
reveal("bce_with_logits", npae.ops.softplus)

# %% [markdown]
# `npae.backend.available_backends()` says which libraries can run here, and why not where one
# cannot. The same host array, moved onto each backend with `npae.asarray`, brings its own
# namespace, and the one `softplus` gives the same numbers on all of them:

# %%
status = npae.backend.available_backends()
for name, state in status.items():
    print(f"{name:<17} {state}")
BACKENDS = [name for name, state in status.items() if state == "ok"]

z_host = np.linspace(-30.0, 30.0, 7)
softplus_values = {}
for name in BACKENDS:
    z = npae.asarray(z_host, dtype="float64", backend=name)
    xp = array_namespace(z)
    softplus_values[name] = npae.to_numpy(npae.ops.softplus(z))
    print(f"{name:<17} {type(z).__module__ + '.' + type(z).__name__:<40} namespace {xp.__name__}")
softplus_spread = max(float(np.max(np.abs(v - softplus_values["numpy"]))) for v in softplus_values.values())
print(f"largest difference from NumPy's softplus: {softplus_spread:.1e}")

# %% [markdown]
# ## 7.2 Reference code and kernels
#
# Every function that these chapters print is **reference** code, written for the reader in the
# textbook form of its formula. A few of them have a **kernel** beside them in `npae/kernels/`:
# the same mathematics arranged for speed on one backend (fewer passes over memory, an
# intermediate value shared by a loss and its gradient, arithmetic in place of a data-dependent
# `where`). Each kernel names the reference it replaces and is tested equal to it, bit for bit or
# within a stated relative tolerance, and serves only the backends on which it was measured to
# make whole training steps faster. (This is not the *kernel* of a dense layer, Keras's name for
# its weight matrix.) When `npae` is imported it puts a small dispatcher in each reference's
# place: in the default mode, `"fast"`, the dispatcher calls the kernel for arrays of a backend
# the kernel serves and the reference otherwise. Most kernels serve NumPy; PyTorch has its own
# (its fused Adam step, `addmm`, ...), and the other backends run the reference.
# `npae.kernels.kernels_for("numpy")` lists NumPy's:

# %%
print("backends with kernels:", sorted({name for spec in npae.kernels.KERNELS for name in spec.backends}))
print(f"{'reference function':<46} kernel agrees with it")
for spec in npae.kernels.kernels_for("numpy"):
    agreement = "bit for bit" if spec.exact else f"within {spec.tolerance:.0e} (relative)"
    print(f"{spec.reference_name:<46} {agreement}")

# %% [markdown]
# One pair, side by side: the reference sigmoid picks one of two stable expressions with `where`;
# its kernel notices that the two are one expression and computes that instead, which NumPy
# evaluates faster, with identical results. (A stable sigmoid is part of chapter 1's
# `bce_with_logits_grad` exercise, so the pair, and the expression, are shown once that exercise
# has passed in this session.)

# %%
sigmoid_spec = next(spec for spec in npae.kernels.KERNELS if spec.reference_name == "npae.ops.sigmoid")
reveal("bce_with_logits_grad", npae.kernels.reference(sigmoid_spec), sigmoid_spec.kernel)

# %% [markdown]
# **Switching the kernels off.** `npae.set_kernels("reference")` runs everything on the reference
# code until `npae.set_kernels("fast")`; the environment variable `NPAE_KERNELS=reference` does
# the same from the start of a Python process; `with npae.kernels.use_kernels("reference"):`
# does it for one block; `npae.get_kernels()` says which mode is in force. A learner switches
# them off so that a breakpoint or a `print` placed in `Dense.backward` (or any function that
# these chapters print) is reached: in fast mode on NumPy the kernel runs instead. Someone
# debugging switches them off to rule them out: if a result changes, a kernel is to blame. And
# npae's benchmarks use the reference mode as the baseline the kernels must beat.
#
# Both modes train to the same result. In float64 a few epochs of a denoiser (masking noise,
# ReLU, BCE, Adam) and of a KL-sparse autoencoder (sigmoid codes) agree to rounding:

# %%
def train_small(model, kernels):
    with npae.kernels.use_kernels(kernels):
        return model.fit(X_train[:256])


small_models = {
    "denoising": lambda: npae.DenoisingAutoencoder(hidden_sizes=(32,), latent_dim=8, noise="masking", noise_level=0.3,
                                                   loss="bce", dtype="float64", epochs=3, batch_size=64,
                                                   random_state=SEED, verbose=0),
    "sparse (KL)": lambda: npae.SparseAutoencoder(hidden_sizes=(), latent_dim=16, latent_activation="sigmoid",
                                                  sparsity="kl", sparsity_weight=2.0, dtype="float64", epochs=3,
                                                  batch_size=64, random_state=SEED, verbose=0),
}
mode_losses = {}
for name, make in small_models.items():
    mode_losses[name] = {kernels: np.array(train_small(make(), kernels).history_["loss"])
                         for kernels in ("fast", "reference")}
    fast, reference = mode_losses[name]["fast"], mode_losses[name]["reference"]
    print(f"{name:<12} loss per epoch, fast: {np.round(fast, 6)}; reference: {np.round(reference, 6)}; "
          f"largest relative difference {np.max(np.abs(fast - reference) / np.abs(reference)):.1e}")
    np.testing.assert_allclose(fast, reference, rtol=1e-9)
print("mode after the blocks:", npae.get_kernels())

# %% [markdown]
# ## 7.3 The same model on every backend
#
# A model takes `backend=` (or uses the active one, `npae.set_backend`). Everything random in npae
# is drawn **on the host** from one `numpy.random.Generator` and then moved to the device, so a
# seed gives the same initial weights, the same minibatch order and the same VAE noise on every
# backend. The only differences left are in the arithmetic: the order in which each library's
# matrix product sums its terms, and its `exp` and `log`. In float64 those differences are of
# order $10^{-16}$ per operation; training amplifies them somewhat, but they should stay far below
# anything that matters.
#
# We train a VAE (its noise $\varepsilon$ is random too, so it tests the host-side randomness as
# well) on each backend, once in float64 to measure parity and once in float32, npae's default,
# to measure time. NumPy trains twice: with its kernels (the default) and on the reference code,
# which is the baseline for the comparison. `array_api_strict` trains on the reference code as
# well: its point is to run exactly the textbook arithmetic (in fast mode it would share one
# kernel with every backend, the host sampler that draws float32 noise).

# %%
def train_on(backend, dtype, kernels="fast"):
    model = npae.VAE(hidden_sizes=HIDDEN, latent_dim=8, epochs=EPOCHS, dtype=dtype, random_state=SEED,
                     backend=backend, verbose=0)
    with npae.kernels.use_kernels(kernels):
        start = time.perf_counter()
        model.fit(X_train)
        seconds = time.perf_counter() - start
    return model, seconds


BASELINE = "numpy (reference)"
RUNS = {BASELINE: ("numpy", "reference")} | {
    name: (name, "reference" if name == "array_api_strict" else "fast") for name in BACKENDS}
runs = {(label, dtype): train_on(RUNS[label][0], dtype, kernels=RUNS[label][1])
        for label in RUNS for dtype in ("float64", "float32")}


def parity(name, dtype):
    """Largest relative differences from NumPy's reference run: losses, parameters, posterior means."""
    ref, model = runs[(BASELINE, dtype)][0], runs[(name, dtype)][0]
    rel = lambda a, b: float(np.max(np.abs(a - b)) / np.max(np.abs(b)))
    loss = rel(np.array(model.history_["loss"]), np.array(ref.history_["loss"]))
    params = max(rel(npae.to_numpy(p), npae.to_numpy(ref.parameters()[k])) for k, p in model.parameters().items())
    codes = rel(model.transform(X_test), ref.transform(X_test))  # NumPy in, NumPy out
    return {"loss": loss, "parameters": params, "codes": codes}


parity_table = {(name, dtype): parity(name, dtype) for (name, dtype) in runs if name != BASELINE}
print(f"{'backend':<18}{'dtype':<9}{'loss':>10}{'params':>10}{'codes':>10}   (max relative difference from {BASELINE})")
for (name, dtype), row in parity_table.items():
    print(f"{name:<18}{dtype:<9}" + "".join(f"{row[k]:10.1e}" for k in ("loss", "parameters", "codes")))

# %% [markdown]
# `array_api_strict` wraps NumPy and runs the same reference code, so it agrees with NumPy's
# reference run exactly (0.0): it computes the same thing and only refuses more. NumPy with its
# kernels, and PyTorch with its own matrix routines, take some sums in a different order and round
# a few functions differently. In float64 that leaves, after ten epochs of the full setting, at
# most $2.4\times10^{-13}$ in the parameters and about $10^{-15}$ in the loss history and the
# codes: the accumulated rounding of millions of operations.
#
# float32 is another story. Its rounding errors are some $10^9$ times larger from the first step
# ($2^{-24} \approx 6\times10^{-8}$ relative precision), and training amplifies them: Adam divides
# each gradient by $\sqrt{\hat v}$, so a weight whose small gradient is mostly rounding noise (a
# border pixel that is almost always zero) takes a full step in whichever direction the noise
# points, and a ReLU unit that crosses its kink for an image on one backend and not on the other
# sends the two runs apart. In the full setting the float32 loss histories still agree to about
# $10^{-3}$, but single parameters end up differing by tens of per cent of the largest one (the
# table above has this run's figures; they change with the machine's BLAS and SIMD width): both
# are equally good trainings, just no longer the same one. That is why npae's parity tests compare
# in float64.
#
# And the time each run took for the float32 model:

# %%
seconds_per_epoch = {label: runs[(label, "float32")][1] / EPOCHS for label in RUNS}
for label, seconds in seconds_per_epoch.items():
    device = npae.backend.get_backend(RUNS[label][0]).device
    print(f"{label:<18} {seconds * 1000:8.1f} ms per epoch  (device {device})")

fig_time, ax = plt.subplots(figsize=(6, 3))
ax.barh(list(seconds_per_epoch), [1000 * s for s in seconds_per_epoch.values()])
ax.set_xlabel(f"ms per epoch ({N_TRAIN} images, VAE 784-{HIDDEN[0]}-8, float32)")
ax.set_title("Training time by backend")
fig_time.tight_layout()
plt.show()

# %% [markdown]
# On a CPU the matrix products dominate an epoch, and NumPy and PyTorch both hand them to an
# optimised BLAS, so the two take times of the same order; `array_api_strict` is slower, since it
# checks every operation and copies more, which is fine for a test backend. NumPy's kernels make
# an epoch noticeably faster than its reference code (about 1.5× in one full-setting run here;
# `benchmarks/RESULTS.md` has figures measured on quiet machines): the matrix products are the
# same, but the reference's element-wise passes (Adam's dozen array operations per parameter, the
# loss, the noise) are each one compiled pass in the kernels. On a machine with an
# NVIDIA GPU, `cupy` and `torch` (on `cuda`) join the table; with batches of 128 and layers of 256
# units the GPU is mostly waiting for Python, and it pulls ahead as layers and batches grow.
# Timings are reported, never asserted: they depend on the machine and on whatever else runs on
# it.
#
# ## 7.4 Why `array_api_strict` catches CuPy mistakes
#
# NumPy is forgiving, and a lot of NumPy code works only because NumPy is on the CPU. A CuPy array
# lives in GPU memory, so `np.asarray(cupy_array)` raises instead of silently copying
# (CuPy refuses implicit host transfers), and several idioms that NumPy accepts are not in the
# standard at all. Without a GPU those bugs would surface only on the GPU machine.
# `array_api_strict` refuses all of them on the CPU. npae places its arrays on a fake device,
# `Device("device1")`, which makes even `np.asarray` fail, exactly as CuPy does:

# %%
x_strict = npae.asarray(np.ones((3, 4)), dtype="float64", backend="array_api_strict")
print("device:", x_strict.device)

idioms = {
    "np.asarray(x), an implicit host copy": lambda: np.asarray(x_strict),
    "(x > 0) * 1.5, bool times float": lambda: (x_strict > 0) * 1.5,
    "x * np.float64(2), a NumPy scalar": lambda: x_strict * np.float64(2.0),
    "x[0:2], one index for a 2-D array": lambda: x_strict[0:2],
    "x[0:128, ...], a slice past the end (3 rows)": lambda: x_strict[0:128, ...],
    "x + ones((3, 4)) created without device=": lambda: x_strict + array_api_strict.ones((3, 4), dtype=array_api_strict.float64),
}
rejected = {}
for label, idiom in idioms.items():
    try:
        idiom()
        rejected[label] = None
        print(f"accepted  {label}")
    except (TypeError, ValueError, RuntimeError, IndexError) as err:
        rejected[label] = f"{type(err).__name__}: {err}"
        print(f"REJECTED  {label}\n          {rejected[label][:150]}")

# %% [markdown]
# Each has a standard spelling that works everywhere, and npae's numeric modules use only those
# (STYLE.md): `npae.to_numpy(x)` at the one door out; `xp.where(mask, g, 0.0)` instead of `mask *
# g`; Python floats, not NumPy scalars; `x[a:min(b, n), ...]` with an explicit ellipsis and a
# bound that never passes the end (NumPy silently clips such a slice; the standard leaves it
# unspecified); and creation with `device=` (or `npae.asarray(a, backend=...)`), which puts new
# arrays on the model's own device, never on a default one. The whole test suite runs once more on
# `array_api_strict`, so a slip of this kind fails on a laptop, not on the first GPU run.
#
# ## 7.5 The doors between host and device, and the once-per-epoch sync
#
# Host NumPy arrays go in through `npae.asarray` (a copy to the device, in the dtype asked for)
# and come out through `npae.to_numpy` (a copy from a device; on the CPU a view of the same
# memory, unless you pass `copy=True`). Models do both for you: pass NumPy, get NumPy back. Pass
# an array on the model's device, get one back on it, and nothing crosses (an array on another
# device is refused, with the move to make):

# %%
for name in BACKENDS:
    model = runs[(name, "float64")][0]
    X_dev = npae.asarray(X_test, dtype="float64", backend=name)  # host -> device, once
    Z_dev = model.transform(X_dev)  # stays on the device
    Z_host = npae.to_numpy(Z_dev)  # device -> host
    print(f"{name:<17} transform(device array) -> {type(Z_dev).__module__}.{type(Z_dev).__name__}, "
          f"to_numpy -> {type(Z_host).__name__} {Z_host.shape}")
round_trip = npae.to_numpy(npae.asarray(X_test, dtype="float32", backend=BACKENDS[-1]))
print("round trip host -> device -> host exact:", np.array_equal(round_trip, X_test))

# %% [markdown]
# The expensive crossing is the other direction in the middle of a computation. On a GPU, work is
# queued and runs asynchronously; `float(loss)` must **wait** for the queue to drain and copy
# the number back. A training loop that prints or records the loss after every minibatch stalls
# the GPU once per step. npae's loop keeps the running totals on the device and converts them
# once, at the end of the epoch:

# %%
source = inspect.getsource(npae.training.train).splitlines()
for line in source:
    if "total" in line or "for batch in" in line:
        print(line)

# %% [markdown]
# `loss * rows` and `total + ...` are device operations that only queue more work; `float(total)`
# is the single synchronisation per epoch (plus one per logged term). On the CPU backends this
# makes no difference, which is exactly why it is easy to get wrong when one develops on a laptop.
#
# ## Exercises
#
# The notebook holds no answers to these; each says how to check yourself.
#
# 1. **Which idioms does strict reject?** For each of `x.T`, `x @ x.T`, `x.sum(1)` (positional
# axis), `float(x[0, 0])` and `x.astype("float32")`, predict whether `array_api_strict` accepts
# it, then try each on `npae.asarray(np.arange(6.0).reshape(2, 3), backend="array_api_strict")`
# and read the error messages of the ones it rejects.
# 2. **A standard ReLU gradient.** Write `relu_backward(z, g)` that returns $g$ where $z > 0$ and
#    0 elsewhere, using only `array_namespace` and `xp.where` (no multiplication by a boolean
#    mask). Run it on `array_api_strict` arrays and compare it with
#    `npae.layers.Activation("relu")`'s `backward` on the same $z$ and $g$.
# 3. **A safe slice.** Write `first_rows(x, n)` that returns the first $n$ rows of a 2-D array
#    and works on `array_api_strict` for any $n \ge 0$, including $n$ larger than the number of
#    rows. Try $n = 0$, $n$ equal to the number of rows and $n$ far beyond it.
# 4. **Where does a GPU pay off?** On a machine with CUDA, time an epoch on `numpy` and `torch`
#    for hidden sizes 64, 256 and 1024 and batch sizes 32, 128 and 1024. Where is the crossover?
# 5. **The cost of a sync.** Copy the epoch loop of `npae.training.train` and add
#    `float(loss)` after every step. Measure the time per epoch on a GPU with and without it.

# %% [markdown]
# ## What must hold
#
# Every available backend computes the same softplus; the kernels and the reference code train
# to the same losses (within $10^{-9}$ in float64), and the mode is restored after each block;
# the same seed gives the same training on every backend, to rounding (exactly for
# `array_api_strict` against NumPy's reference code, within $10^{-9}$ for the others in float64;
# in float32 the loss histories within $10^{-2}$); strict rejects the NumPy-only idioms; and the
# host↔device round trip is exact.

# %%
assert {"numpy", "array_api_strict"} <= set(BACKENDS), status
assert softplus_spread < 1e-12, softplus_values
for name, losses in mode_losses.items():
    np.testing.assert_allclose(losses["fast"], losses["reference"], rtol=1e-9, err_msg=name)
assert npae.get_kernels() == "fast"
for (name, dtype), row in parity_table.items():
    if name == "array_api_strict":
        assert all(v == 0.0 for v in row.values()), (name, dtype, row)
    elif dtype == "float64":
        assert all(v <= 1e-9 for v in row.values()), (name, dtype, row)
    else:  # float32: the losses stay close, the parameters may drift apart (see 7.3)
        assert row["loss"] <= 1e-2, (name, dtype, row)
assert all(message is not None for message in rejected.values()), rejected
assert "NumPy" in rejected["np.asarray(x), an implicit host copy"], rejected
assert np.array_equal(round_trip, X_test)
print("Chapter 7 has no checked \"your turn\" exercises (its Exercises section asks for derivations "
      "and experiments); the checked ones are in chapters 1-5. In this session:")
print(npae.exercises.progress().summary)
