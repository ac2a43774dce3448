"""What every benchmark script shares: environment, machine, data, models, timing and report.

Scripts run from the repository root, ``python benchmarks/<script>.py``. Python puts the
script's own folder first on ``sys.path``, so ``import harness`` finds this module with no
path set-up, and ``import npae`` finds the installed (or ``PYTHONPATH``) package.

Environment
    ``reexec_without_openblas_env()``, the first call of every script's ``__main__`` block,
    re-executes the script without ``OPENBLAS_CORETYPE`` / ``OPENBLAS_L2_SIZE`` (some machines
    set them, and they pin OpenBLAS to a slower kernel) and says so on stderr;
    ``--keep-openblas-env`` keeps them. ``environment_note()`` tells the report which happened.
Machine
    ``machine_info()`` (CPU model, host kind, logical CPUs, OS, versions, npae's kernels mode,
    the BLAS pools threadpoolctl sees, PyTorch's BLAS) and ``machine_lines()`` for a report
    header; ``host_kind()`` names the kind of host ("Intel Xeon (2 vCPU, AVX-512)"), which
    RESULTS.md keeps a section per; ``command_line()`` quotes the command as
    ``python benchmarks/…``, never a machine path.
Hardware limits
    ``gemm_peak()``: GFLOP/s of a large float32 product, NumPy's BLAS and PyTorch's;
    ``triad_bandwidth()``: GB/s of a STREAM-like triad with NumPy (one thread, as NumPy's
    element-wise passes run). ``roofline.py`` turns both into a step's limit.
Data
    ``load_data(split)``: Fashion-MNIST through ``npae.datasets`` and its usual search order
    (``$NPAE_DATA``, the user cache, the system data folder), else the embedded subset.
Models
    ``make_npae(name)``: the benchmarked npae configurations (``MODELS``), shared by ``run.py``,
    ``bench_family.py``, ``bench_fast_paths.py``, ``bench_gpu.py`` and the A/B worker.
Kernels
    ``npae_arms()`` is ``("fast", "reference")`` where ``npae.set_kernels`` exists, else
    ``("fast",)`` (a checkout from before the kernels); ``kernels(mode)`` runs a block in a mode.
Timing
    ``paired_timing()`` times callables ("arms") in blocks, one block each per round, the order
    alternating every round, and records how many cores other processes kept busy meanwhile
    (``/proc/stat`` minus this process's CPU time). ``summarize()``: *best* (min time) and
    *median* over the quiet blocks. ``paired_speedup()``: median over rounds of one arm's speed
    over another's in the same round, which cancels most of the machine's drift.
    ``time_phases()``: parts of a step timed alone.
Report
    ``arm_table()`` (fast / reference / PyTorch and their ratios) and ``write_section()``,
    which replaces one script's section of ``RESULTS.md`` between its markers.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "RESULTS.md"
OUT_DIR = HERE / "out"  # git-ignored
THREADS = 2  # BLAS and PyTorch threads on both sides, unless a script's --threads says otherwise

# ------------------------------------------------------------------------------ environment
UNSET = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
KEEP_FLAG = "--keep-openblas-env"
_WAS_SET = "NPAE_BENCH_UNSET_ENV"  # what the caller had, handed to the re-executed process


def reexec_without_openblas_env() -> None:
    """Re-execute the running script without OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE.

    Both pin OpenBLAS to a slower kernel on the machines that set them, and OpenBLAS reads them
    when it loads, so the only cure is a fresh process. Does nothing when neither is set or
    when ``--keep-openblas-env`` is on the command line.
    """
    found = [f"{name}={os.environ[name]}" for name in UNSET if name in os.environ]
    if not found or KEEP_FLAG in sys.argv:
        return
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    env[_WAS_SET] = ";".join(found)
    print(f"[harness] re-executing {Path(sys.argv[0]).name} without {', '.join(found)} "
          f"(they pin OpenBLAS to a slower kernel; {KEEP_FLAG} keeps them)", file=sys.stderr, flush=True)
    os.execve(sys.executable, [sys.executable, *sys.argv], env)


def environment_note() -> str:
    """One sentence for the report: were the OpenBLAS variables unset, kept, or never set?"""
    kept = [f"{name}={os.environ[name]}" for name in UNSET if name in os.environ]
    if kept:
        return f"{' and '.join(UNSET)} kept as found ({', '.join(kept)}, `{KEEP_FLAG}`)"
    was = os.environ.get(_WAS_SET)
    if was:
        return f"{' and '.join(UNSET)} unset (the caller had {was.replace(';', ', ')}; the script re-executed itself)"
    return f"{' and '.join(UNSET)} not set"


def add_common_arguments(parser, threads: bool = True) -> None:
    """The options every timing script takes: --wait-quiet, --keep-openblas-env (and --threads)."""
    parser.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS",
                        help="total seconds the run may spend waiting for other processes to go idle "
                             "before timing blocks (default 0: never wait)")
    parser.add_argument(KEEP_FLAG, action="store_true",
                        help="do not re-execute without OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE")
    if threads:
        parser.add_argument("--threads", type=int, default=THREADS,
                            help=f"BLAS and PyTorch threads, the same for both sides (default {THREADS})")


def limit_threads(threads: int = THREADS, torch_too: bool = True) -> None:
    """BLAS pools to ``threads`` (threadpoolctl) and, if PyTorch is used, its intra-op threads."""
    import threadpoolctl

    threadpoolctl.threadpool_limits(threads, user_api="blas")
    if torch_too:
        import torch

        torch.set_num_threads(threads)


def command_line(script: str, argv) -> str:
    """The command as a reader would type it from the repository root (no interpreter path)."""
    return f"python benchmarks/{Path(script).name} {shlex.join(list(argv))}".rstrip()


# ------------------------------------------------------------------------------ machine
def cpu_model() -> str:
    """The CPU's model name, from /proc/cpuinfo, else lscpu, else the platform module."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=5, check=False).stdout
        for line in out.splitlines():
            if line.strip().startswith("Model name"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return platform.processor() or platform.machine() or "unknown"


def blas_pools() -> list:
    """The thread pools threadpoolctl finds (BLAS and OpenMP libraries), as dicts."""
    import threadpoolctl

    keys = ("user_api", "internal_api", "version", "num_threads", "architecture", "filepath")
    return [{k: info.get(k) for k in keys} for info in threadpoolctl.threadpool_info()]


def torch_blas() -> str:
    """e.g. "BLAS_INFO=mkl (Intel(R) oneAPI Math Kernel Library …)", from PyTorch's build config."""
    import torch

    config = torch.__config__.show()
    info = next((t.split("BLAS_INFO=")[1].strip() for t in config.split(",") if "BLAS_INFO=" in t), "unknown")
    library = next((line.strip(" -") for line in config.splitlines()
                    if "Math Kernel Library" in line or "OpenBLAS" in line), "")
    return f"BLAS_INFO={info}" + (f" ({library})" if library else "")


def kernels_mode() -> str:
    """npae's kernels mode, or a note that this npae predates the switch."""
    import npae

    get = getattr(npae, "get_kernels", None)
    return get() if get is not None else "no `npae.set_kernels` (a checkout from before the kernels): fast paths only"


def cpu_flags() -> set:
    """The CPU's feature flags (``avx512f``, ``avx2``, …) from /proc/cpuinfo (empty if unreadable)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_identity() -> dict:
    """{"family", "model", "avx512"} of this CPU from /proc/cpuinfo ("?" where unreadable).

    ``cpu family``/``model`` name the microarchitecture (AMD family 25 model 1 is Zen 3, model 17
    Zen 4; Intel family 6 models differ by generation): one vendor's hosts differ as much as two
    vendors', so every figure carries them.
    """
    out = {"family": "?", "model": "?"}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key = line.split(":", 1)[0].strip()
            if key == "cpu family" and out["family"] == "?":
                out["family"] = line.split(":", 1)[1].strip()
            elif key == "model" and out["model"] == "?":
                out["model"] = line.split(":", 1)[1].strip()
    except OSError:
        pass
    out["avx512"] = "avx512f" in cpu_flags()
    return out


def cpu_vendor() -> str:
    """"GenuineIntel", "AuthenticAMD", … from /proc/cpuinfo, else the platform's machine name."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("vendor_id"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine() or "unknown"


def host_kind(model: str | None = None, vendor: str | None = None, flags=None, cpus: int | None = None) -> str:
    """The kind of host, e.g. "Intel Xeon (2 vCPU, AVX-512)" or "AMD EPYC (2 vCPU, AVX2)".

    Figures differ by host kind (MKL beats OpenBLAS on Intel, OpenBLAS leads on AMD), so
    RESULTS.md keeps one section per kind and a report never speaks for a kind it did not run on.
    The family comes from the model name (Xeon, EPYC, Core, Ryzen, …), the widest vector
    extension from the flags. Arguments default to this machine's.
    """
    model = cpu_model() if model is None else model
    vendor = cpu_vendor() if vendor is None else vendor
    flags = cpu_flags() if flags is None else set(flags)
    cpus = os.cpu_count() if cpus is None else cpus
    maker = {"GenuineIntel": "Intel", "AuthenticAMD": "AMD"}.get(vendor, vendor)
    ident = cpu_identity() if model == cpu_model() else {"family": "?", "model": "?"}
    family = next((f for f in ("Xeon", "EPYC", "Core", "Ryzen", "Threadripper", "Atom", "Neoverse", "Graviton")
                   if f.lower() in model.lower()), "")
    if not family and maker not in ("Intel", "AMD"):
        family = model
    vector = ("AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "AVX" if "avx" in flags
              else "NEON" if "asimd" in flags or "neon" in flags else "")
    detail = ", ".join(x for x in (f"{cpus} vCPU", vector) if x)
    arch = f"family {ident['family']} model {ident['model']}" if ident["family"] != "?" else ""
    return f"{' '.join(x for x in (maker, family, arch) if x)} ({detail})"


def machine_info(torch_used: bool = True) -> dict:
    """Everything a report header needs about the machine and the software."""
    import numpy as np

    import npae

    info = {
        "cpu": cpu_model(),
        "host_kind": host_kind(),
        "cpu_id": cpu_identity(),
        "logical_cpus": os.cpu_count(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "npae": getattr(npae, "__version__", "?"),
        "kernels": kernels_mode(),
        "pools": blas_pools(),
        "environment": environment_note(),
        "load": ", ".join(f"{v:.2f}" for v in os.getloadavg()),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }
    if torch_used:
        import torch

        info.update(torch=torch.__version__, torch_threads=torch.get_num_threads(), torch_blas=torch_blas())
    return info


def machine_lines(info: dict, command: str | None = None) -> list:
    """Markdown bullet lines: command, date, CPU, versions, kernels, environment, BLAS pools."""
    lines = []
    if command:
        lines.append(f"- Command: `{command}`")
    lines.append(f"- Date: {info['date']}; load average at start: {info['load']}")
    kind = f", host kind *{info['host_kind']}*" if info.get("host_kind") else ""
    ident = info.get("cpu_id")
    arch = (f", cpu family {ident['family']}, model {ident['model']}, AVX-512 {'yes' if ident['avx512'] else 'no'}"
            if ident else "")
    lines.append(f"- CPU: **{info['cpu']}**{arch} ({info['logical_cpus']} logical CPUs{kind}), {info['os']}")
    versions = f"Python {info['python']}, numpy {info['numpy']}, npae {info['npae']}"
    if "torch" in info:
        versions += f", torch {info['torch']} ({info['torch_threads']} threads, {info['torch_blas']})"
    lines.append(f"- Versions: {versions}")
    lines.append(f"- npae kernels: {info['kernels']}")
    lines.append(f"- Environment: {info['environment']}")
    pools = "; ".join(f"{p['internal_api']} {p['version'] or ''} ({p['user_api']}, {p['num_threads']} threads"
                      + (f", {p['architecture']}" if p["architecture"] else "") + ")" for p in info["pools"])
    lines.append(f"- Thread pools (threadpoolctl): {pools or 'none found'}")
    return lines


# ------------------------------------------------------------------------------ hardware limits
def gemm_peak(n: int, repeats: int, torch_too: bool = True, budget_s: float = 30.0) -> dict:
    """GFLOP/s of an n×n×n float32 product (2n³ FLOPs): {"numpy": summary, "torch": summary, "n": n}.

    Each library with the threads it has been given (``limit_threads``), timed in interleaved
    blocks of one product each (``paired_timing``); summaries as ``summarize`` makes them (best
    and quiet median). The roofline divides a step's GEMM FLOPs by this peak: the products of a
    training step are smaller and run below it, which is part of what the roofline fraction shows.
    """
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    c = np.empty((n, n), dtype=np.float32)
    fns = {"numpy": lambda: np.matmul(a, b, out=c)}
    if torch_too:
        import torch

        ta, tb, tc = torch.from_numpy(a.copy()), torch.from_numpy(b.copy()), torch.empty((n, n))
        fns["torch"] = lambda: torch.mm(ta, tb, out=tc)
    for fn in fns.values():
        fn()
    rec = paired_timing(fns, repeats, budget_s=budget_s)
    out = {name: summarize(r, 2.0 * n**3 / 1e9) for name, r in rec.items()}
    out["n"] = n
    return out


TRIAD_WORDS = 5  # words moved per element by NumPy's two-pass triad (see triad_bandwidth)


def triad_bandwidth(n: int, repeats: int, budget_s: float = 20.0) -> dict:
    """Memory bandwidth in GB/s of a STREAM-like triad a = b + s·c on float32 arrays of n elements.

    NumPy has no fused multiply-add ufunc, so the triad is two passes, as NumPy's element-wise
    code runs them: ``multiply(c, s, out=a)`` (reads c, writes a) then ``add(a, b, out=a)``
    (reads a and b, writes a): ``TRIAD_WORDS`` = 5 words of 4 bytes per element, counted as the
    program sees them (a write-allocate cache may move one more word per write; not counted).
    One thread: NumPy's ufuncs and npae's compiled element-wise kernels run on one thread, so
    this is the bandwidth their passes can reach. Choose n for the working set that matters:
    the optimizer's arrays (P elements each) sit in the last-level cache on many hosts, a much
    larger n measures main memory. Returns ``summarize``'s dict in GB/s plus "n" and "bytes".
    """
    import numpy as np

    rng = np.random.default_rng(1)
    b = rng.random(n, dtype=np.float32)
    c = rng.random(n, dtype=np.float32)
    a = np.empty_like(b)
    s = np.float32(3.0)

    def triad():
        np.multiply(c, s, out=a)
        np.add(a, b, out=a)

    calls = max(1, int(2e7 // n))  # blocks of ~20M elements, so a small n is not timed at the clock's grain
    block = (lambda: [triad() for _ in range(calls)])
    block()
    rec = paired_timing({"triad": block}, repeats, budget_s=budget_s)["triad"]
    nbytes = TRIAD_WORDS * 4 * n
    out = summarize(rec, calls * nbytes / 1e9)
    out.update(n=n, bytes=nbytes)
    return out


# ------------------------------------------------------------------------------ data
def load_data(split: str = "train", rows: int | None = None):
    """(X float32 (N, 784) in [0, 1], C-contiguous; a sentence naming the source).

    Fashion-MNIST through ``npae.datasets.load_fashion_mnist`` (searched in ``$NPAE_DATA``, the
    user cache and the system data folder; nothing is downloaded); where its files are not
    found, the embedded 5,000 / 1,000-image subset (``npae.datasets.load_embedded``).
    """
    import numpy as np

    from npae import datasets

    try:
        X, _ = datasets.load_fashion_mnist(split)
        source = f"Fashion-MNIST {split} split (`npae.datasets.load_fashion_mnist`)"
    except FileNotFoundError:
        X, _ = datasets.load_embedded(split)
        source = (f"the embedded Fashion-MNIST subset, {split} split (`npae.datasets.load_embedded`; the full "
                  "IDX files were not found: set NPAE_DATA to use them)")
    if rows is not None and rows < X.shape[0]:
        X = X[:rows]
    return np.ascontiguousarray(X, dtype=np.float32), source


def batches_of(X, batch_size: int, count: int | None = None) -> list:
    """Consecutive C-contiguous batches of ``batch_size`` rows (at most ``count`` of them)."""
    import numpy as np

    n = X.shape[0] // batch_size if count is None else min(count, X.shape[0] // batch_size)
    if n == 0:
        raise ValueError(f"{X.shape[0]} rows are fewer than one batch of {batch_size}.")
    return [np.ascontiguousarray(X[i * batch_size:(i + 1) * batch_size]) for i in range(n)]


# ------------------------------------------------------------------------------ models
NOISE_LEVEL = 0.3
L1_WEIGHT, KL_WEIGHT, RHO = 0.1, 0.1, 0.05
HIDDEN, LATENT = (512, 128), 32
MODELS = {
    "ae": "AE 784-512-128-32 ReLU, identity code, BCE",
    "dae": f"DAE, same net, Gaussian noise σ = {NOISE_LEVEL}, clipped to [0, 1]",
    "dae_masking": f"DAE, same net, masking noise, rate {NOISE_LEVEL}",
    "sparse_l1": f"sparse, 784-512-128-32, sigmoid code, L1 λ = {L1_WEIGHT}",
    "sparse_kl": f"sparse, 784-512-128-32, sigmoid code, KL β = {KL_WEIGHT}, ρ = {RHO}",
    "vae": "VAE 784-400-20 ReLU, Bernoulli, β = 1",
}


def make_npae(name: str, batch_size: int = 128, seed: int = 0, **overrides):
    """The benchmarked npae model ``name`` (a key of ``MODELS``): float32, Adam lr 1e-3, NumPy."""
    import npae

    common = {"optimizer": "adam", "learning_rate": 1e-3, "batch_size": batch_size, "epochs": 1, "dtype": "float32",
              "random_state": seed, "backend": "numpy", "verbose": 0}
    ae = {"hidden_sizes": HIDDEN, "latent_dim": LATENT, "activation": "relu", "loss": "bce", **common}
    if name == "ae":
        model = npae.Autoencoder(latent_activation="identity", **ae)
    elif name == "dae":
        model = npae.DenoisingAutoencoder(noise="gaussian", noise_level=NOISE_LEVEL, **ae)
    elif name == "dae_masking":
        model = npae.DenoisingAutoencoder(noise="masking", noise_level=NOISE_LEVEL, **ae)
    elif name == "sparse_l1":
        model = npae.SparseAutoencoder(latent_activation="sigmoid", sparsity="l1", sparsity_weight=L1_WEIGHT, **ae)
    elif name == "sparse_kl":
        model = npae.SparseAutoencoder(latent_activation="sigmoid", sparsity="kl", sparsity_weight=KL_WEIGHT,
                                       target_sparsity=RHO, **ae)
    elif name == "vae":
        model = npae.VAE(hidden_sizes=(400,), latent_dim=20, activation="relu", likelihood="bernoulli", **common)
    else:
        raise ValueError(f"unknown model {name!r}; expected one of {', '.join(MODELS)}")
    return model.set_params(**overrides) if overrides else model


def parse_models(text: str, allowed) -> list:
    """Comma-separated model names, each checked against ``allowed``."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in allowed]
    if unknown:
        raise SystemExit(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(allowed)}")
    return names


def step_runner(model, batches):
    """``run(k)``: k calls of ``model.train_step`` over ``batches``, cycled."""

    def run(k: int) -> None:
        for i in range(k):
            model.train_step(batches[i % len(batches)])

    return run


# ------------------------------------------------------------------------------ kernels
def has_kernel_switch() -> bool:
    import npae

    return hasattr(npae, "set_kernels")


def npae_arms() -> tuple:
    """The npae arms this checkout can time: fast and reference, or only fast (no switch yet)."""
    return ("fast", "reference") if has_kernel_switch() else ("fast",)


@contextlib.contextmanager
def kernels(mode: str):
    """Run the block on npae's ``mode`` kernels ("fast" or "reference"), then restore the mode."""
    import npae

    if not has_kernel_switch():
        if mode != "fast":
            raise RuntimeError(f"this npae ({npae.__file__}) has no set_kernels: only the fast arm exists")
        yield
        return
    previous = npae.get_kernels()
    npae.set_kernels(mode)
    try:
        yield
    finally:
        npae.set_kernels(previous)


def in_mode(mode: str, fn):
    """``fn`` wrapped to run on npae's ``mode`` kernels."""

    def run(*args, **kwargs):
        with kernels(mode):
            return fn(*args, **kwargs)

    return run


# ------------------------------------------------------------------------------ timing
_HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
QUIET = 0.25  # cores used by other processes below which a timing block counts as quiet


def cpu_snapshot():
    """(busy seconds of the whole machine, CPU seconds of this process, wall clock)."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:9]]
        busy = (sum(fields) - fields[3] - fields[4]) / _HZ  # minus idle and iowait
    except (OSError, ValueError):
        busy = float("nan")
    t = os.times()
    return busy, t.user + t.system, time.perf_counter()


def since(snapshot):
    """(seconds, foreign load) since ``snapshot``: the load is the average number of cores kept
    busy by other processes meanwhile (machine busy time minus this process's CPU time)."""
    b0, own0, t0 = snapshot
    b1, own1, t1 = cpu_snapshot()
    wall = t1 - t0
    return wall, max(0.0, ((b1 - b0) - (own1 - own0)) / wall) if wall > 0 else 0.0


def timed(fn):
    """Run ``fn`` once; return (seconds, foreign load)."""
    snapshot = cpu_snapshot()
    fn()
    return since(snapshot)


class QuietWaiter:
    """Waits, within a total budget, for a second in which other processes are idle."""

    def __init__(self, budget_s: float = 0.0):
        self.budget_s = budget_s
        self.waited_s = 0.0

    def __call__(self, max_s: float = 15.0) -> None:
        deadline = time.perf_counter() + min(max_s, self.budget_s - self.waited_s)
        start = time.perf_counter()
        while time.perf_counter() < deadline:
            _, load = timed(lambda: time.sleep(1.0))
            if load < QUIET / 2:
                break
        self.waited_s += time.perf_counter() - start


WAIT = QuietWaiter(0.0)  # scripts set WAIT.budget_s from --wait-quiet


def paired_timing(fns: dict, repeats: int, budget_s: float) -> dict:
    """Time each callable in ``fns`` once per round, alternating their order every round.

    Rounds continue until every callable has ``repeats`` quiet blocks (other processes using
    < QUIET cores), or 3 × ``repeats`` rounds, or ``budget_s`` seconds (at least ``repeats``
    rounds are always run). Returns {name: {"times": [...], "loads": [...]}}, one entry per round.
    """
    out = {name: {"times": [], "loads": []} for name in fns}
    items = list(fns.items())
    start = time.perf_counter()
    for r in range(3 * repeats):
        if r >= repeats:
            quiet = min(sum(load < QUIET for load in v["loads"]) for v in out.values())
            if quiet >= repeats or time.perf_counter() - start > budget_s:
                break
        if r and max(v["loads"][-1] for v in out.values()) >= QUIET:
            WAIT(5.0)
        for name, fn in items if r % 2 == 0 else items[::-1]:
            wall, load = timed(fn)
            out[name]["times"].append(wall)
            out[name]["loads"].append(load)
    return out


def summarize(record: dict, units: float) -> dict:
    """Rates from a timing record: best (min time), median over quiet blocks (all if none)."""
    times, loads = record["times"], record["loads"]
    quiet = [t for t, load in zip(times, loads) if load < QUIET] or times
    return {"best": units / min(times), "median": units / statistics.median(quiet),
            "blocks": len(times), "quiet": sum(load < QUIET for load in loads),
            "load": statistics.median(loads)}


def paired_speedup(records: dict, a: str, b: str) -> float:
    """Median over rounds of (b's time / a's time) in the same round: a's speed over b's."""
    return statistics.median(tb / ta for ta, tb in zip(records[a]["times"], records[b]["times"]))


def summarize_arms(records: dict, units: float) -> dict:
    """{arm: summarize(...)} plus {"paired": {(a, b): a's speed over b's, paired}} for every pair."""
    out = {name: summarize(rec, units) for name, rec in records.items()}
    names = list(records)
    out["paired"] = {(a, b): paired_speedup(records, a, b) for a in names for b in names if a != b}
    return out


def best_us(fn, calls: int, rounds: int = 7) -> float:
    """Best over ``rounds`` of the mean time of ``calls`` calls, in µs (after a warm-up)."""
    for _ in range(max(3, calls // 10)):
        fn()
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - t0) / calls)
    return best * 1e6


def time_phases(phases, reps: int, log=None) -> list:
    """[(name, best ms, median ms, other load)] of each (name, callable), retried while busy.

    A phase that fails on its warm-up call (an internal it reaches for is gone, say) is left
    out and named through ``log``, so a profile of model internals never stops a benchmark.
    """
    out = []
    for name, fn in phases:
        try:
            fn()  # warm-up
        except (AttributeError, TypeError, KeyError, ImportError, ValueError, RuntimeError) as err:
            if log:
                log(f"phase {name!r} left out: {type(err).__name__}: {err}")
            continue
        attempts = []
        for _ in range(3):
            WAIT(5.0)
            times = []
            snapshot = cpu_snapshot()
            for _ in range(reps):
                t0 = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t0)
            load = since(snapshot)[1]
            attempts.append((1e3 * min(times), 1e3 * statistics.median(times), load))
            if load < QUIET:
                break
        best, med, load = min(attempts)
        out.append((name, best, med, load))
    return out


# ------------------------------------------------------------------------------ report
ARM_LABELS = {"fast": "npae fast", "reference": "npae reference", "npae_torch": "npae torch backend",
              "torch": "PyTorch", "torch_fused": "PyTorch fused Adam"}


def fmt(x: float, digits: int = 0) -> str:
    return f"{x:,.{digits}f}"


def timing_method(repeats: int) -> str:
    """The paragraph that explains best / median / paired / load to a reader of a table."""
    return ("Arms timed in interleaved blocks, order alternating every round, at least "
            f"{repeats} round(s): *best* = the fastest block, *median* = the median over quiet blocks "
            f"(other processes using < {QUIET} cores, from /proc/stat minus this process's CPU time; all "
            "blocks if none was quiet), *paired* = the median over rounds of the two arms' speed ratio "
            "within a round (the machine's drift cancels). Ratios above 1: the first arm is faster.")


def arm_table(label: str, rows, arms, unit_digits: int = 0) -> list:
    """Markdown lines: samples/s of every arm (best, median) and the ratios between the arms.

    ``rows`` is [(row label, summarize_arms(...) result)]; ``arms`` a subset of
    ("fast", "reference", "npae_torch", "torch") in that order.
    """
    pairs = [(a, b) for a, b in (("fast", "torch"), ("fast", "torch_fused"), ("reference", "torch"),
                                 ("npae_torch", "torch"), ("npae_torch", "torch_fused"), ("fast", "reference"))
             if a in arms and b in arms]
    head = [label] + [f"{ARM_LABELS[a]} best / median" for a in arms]
    head += [f"{ARM_LABELS[a].replace('npae ', '')} ÷ {ARM_LABELS[b].replace('npae ', '')}: best · median · paired"
             for a, b in pairs]
    head += ["quiet blocks", "other load (cores)"]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for name, res in rows:
        cells = [name]
        cells += [f"{fmt(res[a]['best'], unit_digits)} / {fmt(res[a]['median'], unit_digits)}" for a in arms]
        for a, b in pairs:
            cells.append(f"**{res[a]['best'] / res[b]['best']:.2f}×** · "
                         f"{res[a]['median'] / res[b]['median']:.2f}× · "
                         f"{res['paired'][(a, b)]:.2f}×")
        cells.append(" · ".join(f"{res[a]['quiet']}/{res[a]['blocks']}" for a in arms))
        cells.append(f"{max(res[a]['load'] for a in arms):.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def markers(name: str) -> tuple:
    return f"<!-- {name}: begin -->", f"<!-- {name}: end -->"


def write_section(name: str, report: str, path: Path = RESULTS, demote: int = 1) -> None:
    """Put ``report`` into ``path`` between the markers ``<!-- name: begin/end -->``.

    The section's headings are moved ``demote`` levels down (the file has its own title; a
    section under a host kind's heading goes two down). Any other text of the file is kept; a
    file without the markers gets the section appended.
    """
    begin, end = markers(name)
    body = "\n".join("#" * demote + line if line.startswith("#") else line for line in report.rstrip().splitlines())
    block = f"{begin}\n{body}\n{end}"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        tail = rest.split(end, 1)[1]
        text = f"{head}{block}{tail}"
    else:
        text = f"{text.rstrip()}\n\n{block}\n" if text else f"{block}\n"
    path.write_text(text, encoding="utf-8")


def host_section(section: str, kind: str | None = None) -> str:
    """The marker name of a script's section for a host kind: "run.py · Intel Xeon (2 vCPU, AVX-512)"."""
    return f"{section} · {host_kind() if kind is None else kind}"


def write_report(text: str, out: Path | None, section: str | None, results: bool, demote: int = 1) -> list:
    """Write ``text`` to ``out`` (if given) and to RESULTS.md's ``section`` (if ``results``);
    return the paths written."""
    written = []
    if out is not None:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        written.append(out)
    if results and section:
        write_section(section, text, demote=demote)
        written.append(RESULTS)
    return written


def logger(prefix: str):
    """``log(msg)``: a timestamped line on stderr."""
    started = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{prefix} {time.perf_counter() - started:6.1f}s] {msg}", file=sys.stderr, flush=True)

    return log


def git_state(root: Path = ROOT) -> str:
    """The short commit of ``root`` and whether npae/ has uncommitted changes there."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                                text=True, check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--short", "--", "npae"], cwd=root, capture_output=True,
                                text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + (" with uncommitted changes to npae/" if status.strip() else "")
