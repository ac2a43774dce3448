"""npae vs a PyTorch twin, side by side in one run; writes a markdown report.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /work/venv/bin/python benchmarks/run.py
    python benchmarks/run.py --quick            # smoke run (prints, writes nothing unless --out)

What it measures (float32, CPU, Fashion-MNIST 60k train / 10k test):

* GEMM peak GFLOP/s, float32, 2 threads, NumPy (its BLAS) and PyTorch (its BLAS);
* training throughput in samples/s of the autoencoder 784-512-128-32 (ReLU, identity code,
  mirrored decoder, linear output, BCE on logits), Adam lr 1e-3, batch 128 (and 512): a fixed
  number of optimizer steps timed after warm-up, repeated, npae and the twin interleaved, min
  time (best) and median over the repeats;
* achieved training FLOP/s ÷ GEMM peak, counting 6 · parameters FLOPs per sample;
* inference throughput: ``transform`` (encoder) and ``score_samples`` (per-sample loss) against
  the twin under ``torch.no_grad()``, both taking and returning NumPy arrays;
* test loss (per-sample BCE summed over pixels, mean over the test set) after ``--epochs``
  epochs of ``fit`` for npae and the same loop in PyTorch; the ratio must be within 2%.

``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` are removed from the environment (the script
re-executes itself without them if they are set) because they pin OpenBLAS to a slower kernel;
the report says what they were and which kernel threadpoolctl reports.
"""

from __future__ import annotations

import os
import sys

_UNSET = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
_WAS_SET = "NPAE_BENCH_UNSET_ENV"

if any(name in os.environ for name in _UNSET) and "--keep-openblas-env" not in sys.argv:
    _env = {k: v for k, v in os.environ.items() if k not in _UNSET}
    _env[_WAS_SET] = ";".join(f"{k}={os.environ[k]}" for k in _UNSET if k in os.environ)
    os.execve(sys.executable, [sys.executable, *sys.argv], _env)

import argparse
import cProfile
import datetime
import gzip
import io
import itertools
import platform
import pstats
import shlex
import statistics
import struct
import time
from pathlib import Path

import numpy as np
import threadpoolctl
import torch

import npae
from npae.models.autoencoder import Autoencoder
from npae.training import Callback

sys.path.insert(0, str(Path(__file__).resolve().parent))
from twins import AETwin, bce_per_sample, copy_from_npae, make_train_step

HERE = Path(__file__).resolve().parent
THREADS = 2
HIDDEN, LATENT = (512, 128), 32
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
LOSS_TOLERANCE = 0.02


# ---------------------------------------------------------------------------------------- data
def _read_idx_gz(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file (header {data[:4]!r}).")
    shape = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise ValueError(f"{path}: expected {int(np.prod(shape))} values for shape {shape}, found {body.size}.")
    return body.reshape(shape)


def load_fashion_mnist(split: str):
    """(X float32 (N, 784) in [0, 1], source description)."""
    try:
        from npae.datasets import load_fashion_mnist as npae_loader
    except ImportError:
        npae_loader = None
    if npae_loader is not None:
        X, _ = npae_loader(split)
        return np.ascontiguousarray(X, dtype=np.float32), "npae.datasets.load_fashion_mnist"
    stem = "train" if split == "train" else "t10k"
    images = _read_idx_gz(FASHION_DIR / f"{stem}-images-idx3-ubyte.gz")
    X = images.reshape(images.shape[0], -1).astype(np.float32) / np.float32(255.0)
    return X, f"IDX files in {FASHION_DIR}"


# ----------------------------------------------------------------------------------- machine
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def blas_pools() -> list[dict]:
    return [
        {k: info.get(k) for k in ("user_api", "internal_api", "version", "num_threads", "architecture",
                                  "threading_layer", "prefix", "filepath")}
        for info in threadpoolctl.threadpool_info()
    ]


def torch_blas() -> str:
    """e.g. "BLAS_INFO=mkl (Intel(R) oneAPI Math Kernel Library Version 2024.2 ...)", from the build config."""
    config = torch.__config__.show()
    info = next((t.split("BLAS_INFO=")[1].strip() for t in config.split(",") if "BLAS_INFO=" in t), "unknown")
    library = next((line.strip(" -") for line in config.splitlines() if "Math Kernel Library" in line
                    or "OpenBLAS" in line), "")
    return f"BLAS_INFO={info}" + (f" ({library})" if library else "")


# ------------------------------------------------------------------------------------ timing
_HZ = os.sysconf("SC_CLK_TCK")


def _cpu_snapshot():
    """(busy seconds of the whole machine, CPU seconds of this process, wall clock)."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:9]]
        busy = (sum(fields) - fields[3] - fields[4]) / _HZ  # minus idle and iowait
    except (OSError, ValueError):
        busy = float("nan")
    t = os.times()
    return busy, t.user + t.system, time.perf_counter()


def timed(fn):
    """Run fn once; return (seconds, foreign load), the foreign load being the average number of
    cores kept busy by other processes meanwhile (machine busy time minus this process's CPU time)."""
    b0, own0, t0 = _cpu_snapshot()
    fn()
    b1, own1, t1 = _cpu_snapshot()
    wall = t1 - t0
    return wall, max(0.0, ((b1 - b0) - (own1 - own0)) / wall)


QUIET = 0.25  # cores used by other processes below which a timing block counts as quiet


class QuietWaiter:
    """Waits, within a total budget, for a few seconds in which other processes are idle."""

    def __init__(self, budget_s: float):
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


WAIT = QuietWaiter(0.0)


def paired_timing(fns: dict, repeats: int, budget_s: float) -> dict:
    """Time each callable in ``fns`` once per round, alternating their order every round.

    Rounds continue until every callable has ``repeats`` quiet blocks (other processes using
    < QUIET cores), or 3 × ``repeats`` rounds, or ``budget_s`` seconds (at least ``repeats``
    rounds are always run). Returns {name: {"times": [...], "loads": [...]}}.
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


def gemm_peak(n: int, repeats: int) -> dict:
    """Best and median GFLOP/s of an n×n×n float32 product (2n³ FLOPs) for NumPy and torch."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    ta, tb = torch.from_numpy(a.copy()), torch.from_numpy(b.copy())
    c = np.empty((n, n), dtype=np.float32)
    tc = torch.empty((n, n))
    flops = 2.0 * n**3
    np.matmul(a, b, out=c)
    torch.mm(ta, tb, out=tc)
    rec = paired_timing({"numpy": lambda: np.matmul(a, b, out=c), "torch": lambda: torch.mm(ta, tb, out=tc)},
                        repeats, budget_s=30.0)
    return {name: summarize(r, flops / 1e9) for name, r in rec.items()}


def n_parameters(sizes) -> int:
    return sum(a * b + b for a, b in itertools.pairwise(sizes))


# ------------------------------------------------------------------------------------ models
def make_npae(epochs: int, batch_size: int = 128, seed: int = 0) -> Autoencoder:
    return Autoencoder(hidden_sizes=HIDDEN, latent_dim=LATENT, activation="relu", latent_activation="identity",
                       loss="bce", optimizer="adam", learning_rate=1e-3, batch_size=batch_size, epochs=epochs,
                       dtype="float32", random_state=seed, backend="numpy", verbose=0)


def make_twin(n_features: int, seed: int = 0):
    twin = AETwin(n_features, HIDDEN, LATENT, seed=seed)
    optimizer = torch.optim.Adam(twin.parameters(), lr=1e-3)
    return twin, optimizer


def parity_check(X: np.ndarray) -> dict:
    """Same initial weights, same batch: loss before and after one Adam step, both frameworks."""
    xb = X[:128]
    model = make_npae(1)
    model.loss_and_grad(xb)  # builds the parameters without updating them
    twin, optimizer = make_twin(X.shape[1])
    copy_from_npae(twin, model.parameters())
    step = make_train_step(twin, optimizer)
    tx = torch.from_numpy(xb)
    loss_np = float(model.train_step(xb)[0])
    loss_t = float(step(tx).detach())
    after_np = -model.score(xb)
    with torch.no_grad():
        after_t = float(bce_per_sample(twin(tx), tx).mean())
    return {"loss0_npae": loss_np, "loss0_torch": loss_t, "loss1_npae": after_np, "loss1_torch": after_t}


def training_throughput(X: np.ndarray, batch_size: int, steps: int, warmup: int, repeats: int,
                        budget_s: float) -> dict:
    """Samples/s of ``steps`` optimizer steps, npae and twin interleaved, over ``repeats``."""
    n = X.shape[0]
    starts = [s for s in range(0, n - batch_size + 1, batch_size)]
    batches = [X[s:s + batch_size] for s in starts]
    tbatches = [torch.from_numpy(b) for b in batches]

    model = make_npae(1, batch_size)
    model.loss_and_grad(batches[0])
    twin, optimizer = make_twin(X.shape[1])
    tstep = make_train_step(twin, optimizer)
    return paired_step_throughput(model, tstep, batches, tbatches, steps, warmup, repeats, budget_s)


def paired_step_throughput(model, tstep, batches, tbatches, steps: int, warmup: int, repeats: int,
                           budget_s: float) -> dict:
    """Samples/s of ``model.train_step`` and the twin's ``tstep`` over the same batches, cycled:
    ``warmup`` steps each, then blocks of ``steps`` steps interleaved by ``paired_timing``."""

    def run_npae(k):
        for i in range(k):
            model.train_step(batches[i % len(batches)])

    def run_torch(k):
        for i in range(k):
            tstep(tbatches[i % len(tbatches)])

    run_npae(warmup)
    run_torch(warmup)
    rec = paired_timing({"npae": lambda: run_npae(steps), "torch": lambda: run_torch(steps)}, repeats, budget_s)
    return {name: summarize(r, steps * batches[0].shape[0]) for name, r in rec.items()}


def inference_throughput(Xtr: np.ndarray, Xte: np.ndarray, repeats: int, budget_s: float) -> dict:
    """Rows/s of transform and score_samples on the test set vs the twin in torch.no_grad()."""
    model = make_npae(1)
    model.loss_and_grad(Xtr[:128])
    twin, _ = make_twin(Xtr.shape[1])
    copy_from_npae(twin, model.parameters())

    def twin_transform():
        with torch.no_grad():
            return twin.encoder(torch.from_numpy(Xte)).numpy()

    def twin_score():
        with torch.no_grad():
            x = torch.from_numpy(Xte)
            return (-bce_per_sample(twin(x), x)).numpy()

    z_np, z_t = model.transform(Xte), twin_transform()
    s_np, s_t = model.score_samples(Xte), twin_score()
    agree = {"transform": float(np.max(np.abs(z_np - z_t)) / np.max(np.abs(z_t))),
             "score_samples": float(np.max(np.abs(s_np - s_t)) / np.max(np.abs(s_t)))}
    tasks = {"transform": (lambda: model.transform(Xte), twin_transform),
             "score_samples": (lambda: model.score_samples(Xte), twin_score)}
    out = {}
    n = Xte.shape[0]
    for task, (f_np, f_t) in tasks.items():
        f_np(), f_t()  # warm-up
        rec = paired_timing({"npae": f_np, "torch": f_t}, repeats, budget_s)
        out[task] = {name: summarize(r, n) for name, r in rec.items()}
        out[task]["max_rel_diff"] = agree[task]
    return out


class EpochClock(Callback):
    """Records (seconds, foreign load) of every epoch of ``fit``."""

    def __init__(self):
        self.epochs = []

    def on_train_begin(self, logs=None) -> None:
        self._last = _cpu_snapshot()

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        self.epochs.append(_since(self._last))
        self._last = _cpu_snapshot()


def _since(snapshot):
    b0, own0, t0 = snapshot
    b1, own1, t1 = _cpu_snapshot()
    return t1 - t0, max(0.0, ((b1 - b0) - (own1 - own0)) / (t1 - t0))


def train_to_test_loss(Xtr: np.ndarray, Xte: np.ndarray, epochs: int) -> dict:
    """Train both for ``epochs`` epochs (batch 128, shuffled per epoch); test loss, wall time."""
    model = make_npae(epochs)
    clock = EpochClock()
    WAIT()
    fit_np, load_np = timed(lambda: model.fit(Xtr, callbacks=[clock]))
    test_np = -model.score(Xte)

    twin, optimizer = make_twin(Xtr.shape[1])
    step = make_train_step(twin, optimizer)
    rng = np.random.default_rng(0)
    X_t = torch.from_numpy(Xtr)
    n = X_t.shape[0]
    history_t, epochs_t = [], []

    def fit_twin():
        for _ in range(epochs):
            snapshot = _cpu_snapshot()
            shuffled = X_t.index_select(0, torch.from_numpy(rng.permutation(n)))
            total = torch.zeros(())
            for s in range(0, n, 128):
                xb = shuffled[s:min(s + 128, n)]
                total += step(xb).detach() * xb.shape[0]
            history_t.append(float(total) / n)
            epochs_t.append(_since(snapshot))

    WAIT()
    fit_t, load_t = timed(fit_twin)
    with torch.no_grad():
        x = torch.from_numpy(Xte)
        test_t = float(bce_per_sample(twin(x), x).double().mean())
    samples = epochs * n
    return {"test_npae": test_np, "test_torch": test_t, "fit_s_npae": fit_np, "fit_s_torch": fit_t,
            "fit_sps_npae": samples / fit_np, "fit_sps_torch": samples / fit_t,
            "load_npae": load_np, "load_torch": load_t,
            "epoch_sps_npae": n / min(t for t, _ in clock.epochs), "epoch_sps_torch": n / min(t for t, _ in epochs_t),
            "epochs_npae": clock.epochs, "epochs_torch": epochs_t,
            "history_npae": list(model.history_["loss"]), "history_torch": history_t}


def phase_breakdown(X: np.ndarray, reps: int = 30) -> list:
    """Best-of-``reps`` milliseconds of each phase of one npae training step at batch 128, and the
    whole step of both frameworks. Uses the model's internals (this is a profiler)."""
    xb = X[:128]
    model = make_npae(1)
    model.loss_and_grad(xb)
    for _ in range(5):
        model.train_step(xb)
    enc, dec, loss = model.encoder_, model.decoder_, model.loss_
    y = dec.forward(enc.forward(xb))
    dy = loss.grad(xb, y) * (1.0 / 128)
    pairs = model._parameter_gradient_pairs()
    twin, optimizer = make_twin(X.shape[1])
    tstep = make_train_step(twin, optimizer)
    tx = torch.from_numpy(xb)
    for _ in range(5):
        tstep(tx)
    Ws = [layer.params["W"] for _, layer in model._named_layers()]

    def gemms():
        hs, h = [], xb
        for W in Ws:
            hs.append(h)
            h = h @ W
        g = h
        for i in range(len(Ws) - 1, -1, -1):
            hs[i].T @ g
            if i:
                g = g @ Ws[i].T

    phases = [
        ("npae whole step (`train_step`)", lambda: model.train_step(xb)),
        ("zero_grad(set_to_none=True)", lambda: model.zero_grad(set_to_none=True)),
        ("forward, encoder + decoder (GEMMs, bias, ReLU)", lambda: dec.forward(enc.forward(xb))),
        ("loss value and gradient (BCE: softplus(y) − x·y and σ(y) − x, one exp)",
         lambda: loss.value_and_grad(xb, y)),
        ("backward, decoder + encoder", lambda: enc.backward(dec.backward(dy))),
        ("Adam update", lambda: model.optimizer_.step(pairs)),
        ("for reference: the step's GEMMs alone (no dx for the data)", gemms),
        ("torch whole step", lambda: tstep(tx)),
    ]
    out = []
    for name, fn in phases:
        attempts = []
        for _ in range(3):  # retry a phase timed while other processes were busy
            WAIT(5.0)
            times = []
            snapshot = _cpu_snapshot()
            for _ in range(reps):
                t0 = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t0)
            load = _since(snapshot)[1]
            attempts.append((1e3 * min(times), 1e3 * statistics.median(times), load))
            if load < QUIET:
                break
        best, med, load = min(attempts)
        out.append((name, best, med, load))
    return out


def profile_npae_steps(X: np.ndarray, steps: int, top: int = 18) -> str:
    """cProfile of ``steps`` npae training steps (batch 128), sorted by own time."""
    model = make_npae(1)
    model.loss_and_grad(X[:128])
    batches = [X[s:s + 128] for s in range(0, 128 * steps, 128)]
    for b in batches[:5]:
        model.train_step(b)
    prof = cProfile.Profile()
    prof.enable()
    for b in batches:
        model.train_step(b)
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).strip_dirs().sort_stats("tottime").print_stats(top)
    lines = buf.getvalue().splitlines()
    keep = [line for line in lines if line.strip()]
    # drop the pstats preamble up to the column header
    for i, line in enumerate(keep):
        if line.lstrip().startswith("ncalls"):
            keep = keep[i - 1:] if i else keep
            break
    return "\n".join(keep)


# ------------------------------------------------------------------------------------ report
def fmt(x: float, digits: int = 0) -> str:
    return f"{x:,.{digits}f}"


RATIO_HEADER = ("| npae best | npae median | torch best | torch median | ratio best | ratio median "
                "| quiet blocks npae / torch | other load (cores) |")


def ratio_row(label, res, unit_digits=0) -> str:
    a, b = res["npae"], res["torch"]
    return (f"| {label} | {fmt(a['best'], unit_digits)} | {fmt(a['median'], unit_digits)} | "
            f"{fmt(b['best'], unit_digits)} | {fmt(b['median'], unit_digits)} | "
            f"**{a['best'] / b['best']:.2f}×** | {a['median'] / b['median']:.2f}× | "
            f"{a['quiet']}/{a['blocks']} · {b['quiet']}/{b['blocks']} | "
            f"{max(a['load'], b['load']):.2f} |")


def command_line(argv) -> str:
    unset = " ".join(f"-u {k}" for k in _UNSET)
    return f"env {unset} {sys.executable} benchmarks/run.py {shlex.join(argv)}".rstrip()


def build_report(cfg, meta, peak, parity, train, infer, fit, phases, profile) -> str:
    P = meta["n_params"]
    lines = []
    add = lines.append
    add("# npae vs PyTorch: side-by-side benchmark")
    add("")
    if cfg.quick:
        add("> **Quick smoke run** (`--quick`): few steps, 1 epoch; not reference figures.")
        add("")
    add("Generated by `benchmarks/run.py`; every ratio below comes from the same run "
        "(npae and the twin interleaved). Absolute numbers on this shared 2-core machine are noisy: "
        "*best* is from the minimum time over repeats, *median* from the median time of the quiet "
        f"blocks (other processes using < {QUIET} cores, measured from /proc/stat minus this process's "
        "CPU time; all blocks if none was quiet). Rounds go on past `--repeats` (up to 3×, within a time "
        "budget) until each side has that many quiet blocks. With 2 BLAS threads on 2 shared cores, one "
        "busy neighbour can slow a block down many times over, so compare *best* figures and check "
        "the load columns.")
    add("")
    add(f"- Command: `{meta['command']}`")
    add(f"- Date: {meta['date']}; wall time of the whole run: {meta['wall_s']:.0f} s (of which "
        f"{meta['waited_s']:.0f} s waiting for a quiet machine, `--wait-quiet {cfg.wait_quiet:g}`); "
        f"load average at start / end: {meta['load_start']} / {meta['load_end']}")
    add(f"- CPU: {meta['cpu']} ({os.cpu_count()} logical CPUs), {platform.system()} {platform.release()}")
    add(f"- Versions: Python {platform.python_version()}, numpy {np.__version__}, torch {torch.__version__}, "
        f"npae {npae.__version__}, threadpoolctl {threadpoolctl.__version__}")
    add(f"- Environment: {meta['env_note']}")
    add(f"- Threads: BLAS limited to {THREADS} with threadpoolctl; `torch.set_num_threads({THREADS})` "
        f"(`torch.get_num_threads()` = {meta['torch_threads']}); torch {meta['torch_blas']}")
    add("- Thread pools (threadpoolctl):")
    for pool in meta["pools"]:
        add(f"  - {pool['user_api']} / {pool['internal_api']} {pool['version'] or ''}: "
            f"num_threads={pool['num_threads']}, kernel/architecture={pool['architecture']}, "
            f"`{'/'.join(Path(pool['filepath'] or '?').parts[-3:])}`")
    add(f"- Data: Fashion-MNIST, {meta['n_train']:,} train / {meta['n_test']:,} test rows, float32 in [0, 1] "
        f"({meta['data_source']})")
    add(f"- Model: 784-512-128-32 ReLU autoencoder, identity code, mirrored decoder with linear output, "
        f"BCE on logits summed over pixels, Adam lr 1e-3, float32; {P:,} parameters. npae "
        f"`Autoencoder(hidden_sizes=(512, 128), latent_dim=32)` on the numpy backend; twin: "
        f"`benchmarks/twins.py` (`nn.Linear` + autograd + `torch.optim.Adam` defaults), "
        f"same He-uniform U(±√(6/fan_in)) weights scheme and zero biases.")
    add("- GPU: not measured on a GPU (no device was lent to this session).")
    add("")

    add("## Training throughput (samples/s)")
    add("")
    add(f"Blocks of {cfg.steps} optimizer steps at batch 128 (the same number of samples at larger batches) "
        f"after {cfg.warmup} warm-up steps, at least {cfg.repeats} rounds "
        "(`model.train_step(batch)` vs zero_grad/forward/backward/step in PyTorch, no per-step host sync).")
    add("")
    add("| batch " + RATIO_HEADER)
    add("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for bs, res in train.items():
        add(ratio_row(str(bs), res))
    add("")

    add("## Efficiency: achieved training FLOP/s ÷ GEMM peak")
    add("")
    add(f"Training FLOPs counted as 6 · parameters per sample (2 forward + 4 backward per weight; "
        f"{6 * P / 1e6:.2f} MFLOP per sample). GEMM peak: {peak['n']}×{peak['n']}×{peak['n']} float32 "
        f"product, {THREADS} threads, best / quiet median of {peak['repeats']}+ calls: NumPy "
        f"{peak['numpy']['best']:.0f} / {peak['numpy']['median']:.0f} GFLOP/s, PyTorch "
        f"{peak['torch']['best']:.0f} / {peak['torch']['median']:.0f} GFLOP/s. Each framework is divided "
        "by its own peak (best throughput ÷ best peak).")
    add("")
    add("| batch | npae GFLOP/s | npae ÷ NumPy peak | torch GFLOP/s | torch ÷ PyTorch peak |")
    add("|---|---:|---:|---:|---:|")
    for bs, res in train.items():
        g_np = res["npae"]["best"] * 6 * P / 1e9
        g_t = res["torch"]["best"] * 6 * P / 1e9
        add(f"| {bs} | {g_np:.0f} | {100 * g_np / peak['numpy']['best']:.0f}% | {g_t:.0f} | "
            f"{100 * g_t / peak['torch']['best']:.0f}% |")
    add("")

    add("## Inference throughput (rows/s, test set, NumPy in and out)")
    add("")
    add(f"{meta['n_test']:,} rows per call, {cfg.repeats} repeats; the twin runs under `torch.no_grad()`.")
    add("")
    add("| task " + RATIO_HEADER)
    add("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for task, res in infer.items():
        add(ratio_row(f"`{task}`", res))
    add("")
    add("Same weights in both: max relative difference of the outputs "
        + ", ".join(f"{k} {v['max_rel_diff']:.1e}" for k, v in infer.items()) + ".")
    add("")

    ratio = fit["test_npae"] / fit["test_torch"]
    ok = abs(ratio - 1.0) <= LOSS_TOLERANCE
    add(f"## Test loss after {cfg.epochs} epoch(s)")
    add("")
    add("Per-sample BCE summed over the 784 pixels, mean over the test set. npae: "
        "`Autoencoder(epochs=E, random_state=0).fit(X_train)` then `-score(X_test)`; twin: the same loop "
        "(batch 128, reshuffled every epoch, last partial batch kept) from its own seed-0 He-uniform draw.")
    add("")
    add("| | npae | torch | ratio npae/torch |")
    add("|---|---:|---:|---:|")
    add(f"| test loss | {fit['test_npae']:.3f} | {fit['test_torch']:.3f} | **{ratio:.4f}** "
        f"({'within' if ok else 'NOT within'} {100 * LOSS_TOLERANCE:.0f}%) |")
    add(f"| final-epoch train loss | {fit['history_npae'][-1]:.3f} | {fit['history_torch'][-1]:.3f} | "
        f"{fit['history_npae'][-1] / fit['history_torch'][-1]:.4f} |")
    add(f"| fit wall time, s | {fit['fit_s_npae']:.1f} | {fit['fit_s_torch']:.1f} | "
        f"{fit['fit_s_npae'] / fit['fit_s_torch']:.2f} |")
    add(f"| end-to-end fit samples/s | {fmt(fit['fit_sps_npae'])} | {fmt(fit['fit_sps_torch'])} | "
        f"**{fit['fit_sps_npae'] / fit['fit_sps_torch']:.2f}×** |")
    add(f"| other load during fit (cores) | {fit['load_npae']:.2f} | {fit['load_torch']:.2f} | |")
    add(f"| fastest epoch, samples/s | {fmt(fit['epoch_sps_npae'])} | {fmt(fit['epoch_sps_torch'])} | "
        f"**{fit['epoch_sps_npae'] / fit['epoch_sps_torch']:.2f}×** |")
    add("")
    add("Epoch seconds (other load in cores): npae "
        + ", ".join(f"{t:.1f} ({load:.2f})" for t, load in fit["epochs_npae"]) + "; torch "
        + ", ".join(f"{t:.1f} ({load:.2f})" for t, load in fit["epochs_torch"]) + ".")
    add("")
    add("Train loss per epoch: npae " + ", ".join(f"{v:.2f}" for v in fit["history_npae"])
        + "; torch " + ", ".join(f"{v:.2f}" for v in fit["history_torch"]) + ".")
    add("")

    add("## Twin parity check")
    add("")
    add("npae's initial weights copied into the twin, one Adam step on the same batch of 128 (float32): "
        f"loss before the step npae {parity['loss0_npae']:.6f} vs torch {parity['loss0_torch']:.6f} "
        f"(rel. diff {abs(parity['loss0_npae'] / parity['loss0_torch'] - 1):.1e}); after it "
        f"{parity['loss1_npae']:.6f} vs {parity['loss1_torch']:.6f} "
        f"(rel. diff {abs(parity['loss1_npae'] / parity['loss1_torch'] - 1):.1e}).")
    add("")

    add("## Where a training step's time goes (batch 128)")
    add("")
    add("Each phase of one npae step timed on its own, best / median of 30 calls, in ms (the phases run "
        "on the same batch, so their sum is close to the whole step; a phase timed while other processes "
        "were busy is retried up to twice and the fastest attempt kept).")
    add("")
    add("| phase | best ms | median ms | share of npae step (best) | other load (cores) |")
    add("|---|---:|---:|---:|---:|")
    whole = phases[0][1]
    for name, best, med, load in phases:
        add(f"| {name} | {best:.3f} | {med:.3f} | {100 * best / whole:.0f}% | {load:.2f} |")
    add("")

    if profile:
        add("## Profile of npae training steps (cProfile, batch 128, sorted by own time)")
        add("")
        add(f"{cfg.profile_steps} steps. Matrix products run inside the Python function that calls `@` "
            "(`Dense.forward`/`backward`), so their time is that function's own time.")
        add("")
        add("```")
        add(profile)
        add("```")
        add("")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: few steps, 1 epoch, small GEMM")
    parser.add_argument("--epochs", type=int, default=None, help="epochs for the test-loss comparison (5)")
    parser.add_argument("--repeats", type=int, default=None, help="timing repeats (5; quick: 2)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per block at batch 128 (60; quick: 20)")
    parser.add_argument("--warmup", type=int, default=None, help="warm-up steps (20; quick: 5)")
    parser.add_argument("--batch-sizes", default="128,512", help="batch sizes for throughput (128,512)")
    parser.add_argument("--gemm-n", type=int, default=None, help="GEMM size for the peak (2048; quick: 1024)")
    parser.add_argument("--profile", choices=("auto", "always", "never"), default="auto",
                        help="cProfile npae steps: auto = when npae is slower than torch at batch 128")
    parser.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS",
                        help="total seconds the run may spend waiting for other processes to go idle "
                             "before timing blocks (default 0: never wait)")
    parser.add_argument("--out", default=None,
                        help="markdown output (default benchmarks/RESULTS.md; quick: none, print only)")
    parser.add_argument("--keep-openblas-env", action="store_true",
                        help="do not unset OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE")
    cfg = parser.parse_args(argv)
    q = cfg.quick
    cfg.epochs = cfg.epochs or (1 if q else 5)
    cfg.repeats = cfg.repeats or (2 if q else 5)
    cfg.steps = cfg.steps or (20 if q else 60)
    cfg.warmup = cfg.warmup or (5 if q else 20)
    cfg.gemm_n = cfg.gemm_n or (1024 if q else 2048)
    cfg.profile_steps = 20 if q else 100
    out = cfg.out or (None if q else str(HERE / "RESULTS.md"))
    batch_sizes = [int(b) for b in cfg.batch_sizes.split(",") if b.strip()]
    if 128 not in batch_sizes:
        batch_sizes.insert(0, 128)

    WAIT.budget_s = max(0.0, cfg.wait_quiet)
    started = time.perf_counter()
    load_start = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    threadpoolctl.threadpool_limits(THREADS, user_api="blas")
    torch.set_num_threads(THREADS)

    was = os.environ.get(_WAS_SET)
    if cfg.keep_openblas_env:
        kept = ", ".join(f"{k}={os.environ[k]}" for k in _UNSET if k in os.environ) or "neither was set"
        env_note = f"OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE kept as found ({kept})"
    elif was:
        env_note = f"OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (the caller had {was.replace(';', ', ')})"
    else:
        env_note = "OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (neither was set by the caller)"

    def log(msg):
        print(f"[{time.perf_counter() - started:6.1f}s] {msg}", file=sys.stderr, flush=True)

    Xtr, source = load_fashion_mnist("train")
    Xte, _ = load_fashion_mnist("test")
    log(f"data: train {Xtr.shape}, test {Xte.shape} from {source}")

    WAIT()
    peak = gemm_peak(cfg.gemm_n, 3 if q else 7)
    peak.update(n=cfg.gemm_n, repeats=3 if q else 7)
    log(f"GEMM peak GFLOP/s: numpy {peak['numpy']['best']:.0f}, torch {peak['torch']['best']:.0f}")

    parity = parity_check(Xtr)
    log(f"parity: loss0 {parity['loss0_npae']:.6f} vs {parity['loss0_torch']:.6f}")

    train = {}
    for bs in batch_sizes:
        steps = max(1, cfg.steps * 128 // bs) if bs > 128 else cfg.steps
        WAIT()
        train[bs] = training_throughput(Xtr, bs, steps, cfg.warmup, cfg.repeats, budget_s=20 if q else 45)
        log(f"train batch {bs}: npae {train[bs]['npae']['best']:.0f}, torch {train[bs]['torch']['best']:.0f} samples/s")

    WAIT()
    infer = inference_throughput(Xtr, Xte, max(cfg.repeats, 3), budget_s=10 if q else 20)
    log("inference: " + ", ".join(f"{k} npae {v['npae']['best']:.0f} torch {v['torch']['best']:.0f}"
                                  for k, v in infer.items()))

    fit = train_to_test_loss(Xtr, Xte, cfg.epochs)
    log(f"test loss after {cfg.epochs} epochs: npae {fit['test_npae']:.3f}, torch {fit['test_torch']:.3f}")

    phases = phase_breakdown(Xtr, 10 if q else 30)
    log("timed the phases of a training step")

    slower = train[128]["npae"]["best"] < train[128]["torch"]["best"]
    profile = None
    if cfg.profile == "always" or (cfg.profile == "auto" and slower):
        profile = profile_npae_steps(Xtr, cfg.profile_steps)
        log("profiled npae training steps")

    meta = {
        "command": command_line(argv),
        "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "cpu": cpu_model(),
        "env_note": env_note,
        "torch_threads": torch.get_num_threads(),
        "torch_blas": torch_blas(),
        "pools": blas_pools(),
        "n_train": Xtr.shape[0],
        "n_test": Xte.shape[0],
        "data_source": source,
        "n_params": n_parameters((784, *HIDDEN, LATENT)) + n_parameters((LATENT, *HIDDEN[::-1], 784)),
        "load_start": load_start,
        "load_end": ", ".join(f"{v:.2f}" for v in os.getloadavg()),
        "wall_s": time.perf_counter() - started,
        "waited_s": WAIT.waited_s,
    }
    report = build_report(cfg, meta, peak, parity, train, infer, fit, phases, profile)
    print(report)
    if out:
        write_section(Path(out), report)
        log(f"wrote {out}")
    return 0


BEGIN, END = "<!-- benchmarks/run.py: begin -->", "<!-- benchmarks/run.py: end -->"


def write_section(path: Path, report: str) -> None:
    """Replace this script's section of RESULTS.md (between the markers), keeping the other
    benchmarks' sections; a file without the markers is written whole."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        report = "\n".join("#" + line if line.startswith("#") else line for line in report.splitlines())
        path.write_text(f"{head}{BEGIN}\n{report.rstrip()}\n{END}{tail}", encoding="utf-8")
    else:
        path.write_text(report, encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
