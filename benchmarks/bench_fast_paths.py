"""Does each NumPy fast path pay? Whole training steps with it and with its pure reference, A/B.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /work/venv/bin/python benchmarks/bench_fast_paths.py
    python benchmarks/bench_fast_paths.py --quick      # smoke run

STYLE.md §11: a fast path needs a benchmark that shows it pays. This one switches each fast path
off in turn (monkeypatching npae back to the pure Array API reference the tests compare it
with) and times ``train_step`` of the AE 784-512-128-32 and the VAE 784-400-20 (float32, batch
128, Adam, 2 BLAS threads) with every variant in interleaved blocks (``benchmarks/run.py``'s
``paired_timing``, order alternating each round). Reported per variant: best and median
samples/s and the median over rounds of the per-round ratio (fast path on) / (variant), which
cancels most of the machine's drift. Then the primitives alone, best of many calls.

Measured:

* ``ops.positive_part`` / ``negative_part`` against a zero row (reference: the scalar 0.0, which
  NumPy 2.4 broadcasts in a loop that is not vectorised), used by ReLU, BCE, sigmoid and softplus;
* Adam's running sums m_sum = m / (1 − β₁), v_sum = v / (1 − β₂) with the constants folded into
  α_t and ε̂_t (10 passes) against the textbook normalised moments (12 passes), defined below.

(A blocked, ``out=`` Adam update was measured here too and dropped: 0.98–1.03× the reference
inside training steps; benchmarks/RESULTS.md.)

Writes ``benchmarks/out/fast_paths.md``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import argparse
import datetime
import math
import platform
import statistics
import time

import numpy as np
import run as R  # re-executes this script without OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE
import threadpoolctl

import npae
from npae import ops
from npae import optimizers as O

OUT = R.HERE / "out" / "fast_paths.md"


def _scalar_zero(z):
    return 0.0


def _textbook_init_state(self, param):
    return {"m": np.zeros_like(param), "v": np.zeros_like(param)}


def _textbook_step(self, pairs):
    t = self.iterations + 1
    correction2 = math.sqrt(1.0 - self.beta2**t)
    self._alpha = self.learning_rate * correction2 / (1.0 - self.beta1**t)
    self._eps_hat = self.epsilon * correction2
    O.Optimizer.step(self, pairs)


def _textbook_update(self, param, grad, state):
    """npae's Adam before the running sums: m ← β₁m + (1 − β₁)g, v ← β₂v + (1 − β₂)g²."""
    m, v = state["m"], state["v"]
    m *= self.beta1
    m += (1.0 - self.beta1) * grad
    v *= self.beta2
    v += (1.0 - self.beta2) * (grad * grad)
    param -= self._alpha * m / (np.sqrt(v) + self._eps_hat)


TEXTBOOK_ADAM = {(O.Adam, "_init_state"): _textbook_init_state, (O.Adam, "step"): _textbook_step,
                 (O.Adam, "_update"): _textbook_update}

VARIANTS = {
    "fast paths (default)": {},
    "scalar max/min (`maximum(z, 0.0)`)": {(ops, "_zero_row"): _scalar_zero},
    "textbook Adam (normalised m, v)": TEXTBOOK_ADAM,
}


class patched:
    """Context manager: set attributes for the duration of a timing block, then restore them."""

    def __init__(self, patches: dict):
        self.patches = patches

    def __enter__(self):
        self.saved = {key: getattr(*key) for key in self.patches}
        for (owner, name), value in self.patches.items():
            setattr(owner, name, value)

    def __exit__(self, *exc):
        for (owner, name), value in self.saved.items():
            setattr(owner, name, value)


def make_model(name: str):
    if name == "ae":
        return npae.Autoencoder(hidden_sizes=R.HIDDEN, latent_dim=R.LATENT, epochs=1, verbose=0, random_state=0)
    return npae.VAE(hidden_sizes=(400,), latent_dim=20, epochs=1, verbose=0, random_state=0)


def step_ab(name: str, X: np.ndarray, steps: int, warmup: int, repeats: int) -> dict:
    """{variant: {"best", "median", "paired"}} samples/s of train_step, variants interleaved."""
    model = make_model(name)
    model.partial_fit(X[:128])
    batches = [np.ascontiguousarray(X[i:i + 128]) for i in range(0, 128 * 16, 128)]

    states = {}  # each Adam form keeps its own state (the two store different moments)

    def block(variant, patches, k):
        def run():
            with patched(patches):
                model.optimizer_.state = states.get(variant, [])
                for i in range(k):
                    model.train_step(batches[i % len(batches)])
                states[variant] = model.optimizer_.state
        return run

    for variant, patches in VARIANTS.items():
        block(variant, patches, warmup)()
    rec = R.paired_timing({v: block(v, p, steps) for v, p in VARIANTS.items()}, repeats, budget_s=600.0)
    base = rec["fast paths (default)"]["times"]
    out = {}
    for variant, r in rec.items():
        s = R.summarize(r, steps * 128)
        s["paired"] = statistics.median(t / b for t, b in zip(r["times"], base))  # > 1: the fast path pays
        out[variant] = s
    return out


def best_us(fn, calls: int, rounds: int = 7) -> float:
    for _ in range(max(3, calls // 10)):
        fn()
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - t0) / calls)
    return best * 1e6


def primitives(quick: bool) -> list:
    """[(what, fast µs, reference µs)] of each primitive alone on the AE's shapes."""
    rng = np.random.default_rng(0)
    calls = 30 if quick else 300
    y = rng.standard_normal((128, 784), dtype=np.float32) * 3
    x = rng.random((128, 784), dtype=np.float32)
    z = rng.standard_normal((128, 512), dtype=np.float32)
    rows = []
    for label, fn in [("ReLU forward, 128 × 512 (`positive_part`)", lambda: ops.positive_part(z)),
                      ("BCE value + gradient, 128 × 784", lambda: npae.losses.bce_with_logits_and_grad(x, y))]:
        fast = best_us(fn, calls)
        with patched({(ops, "_zero_row"): _scalar_zero}):
            ref = best_us(fn, calls)
        rows.append((label, fast, ref))
    return rows


def report(cfg, results: dict, prims: list, wall: float) -> str:
    lines = [
        "## NumPy fast paths: does each one pay? (A/B inside whole training steps)",
        "",
        ("Generated by `benchmarks/bench_fast_paths.py`: every fast path switched off in turn "
         "(npae monkeypatched back to the pure reference its tests compare it with), `train_step` "
         f"timed for all variants in interleaved blocks of {cfg.steps} steps, order alternating, "
         f"at least {cfg.repeats} rounds. *Default faster by* = median over rounds of (variant "
         "time) / (default time) in the same round: above 1, the fast paths the variant turns "
         "off pay."),
        "",
        f"- Command: `{R.command_line(sys.argv)}`",
        f"- Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; wall time {wall:.0f} s",
        f"- CPU: {R.cpu_model()}; Python {platform.python_version()}, numpy {np.__version__}, npae {npae.__version__}",
        f"- Threads: BLAS {R.THREADS} (threadpoolctl); `OPENBLAS_CORETYPE`/`OPENBLAS_L2_SIZE` unset",
        "",
    ]
    for name, res in results.items():
        title = "AE 784-512-128-32 ReLU, BCE" if name == "ae" else "VAE 784-400-20 ReLU, Bernoulli"
        lines += [f"### `{name}`: {title}, batch 128", "",
                  "| variant | samples/s best | samples/s median | default faster by (paired) | quiet blocks |",
                  "|---|---:|---:|---:|---:|"]
        for variant, s in res.items():
            lines.append(f"| {variant} | {R.fmt(s['best'])} | {R.fmt(s['median'])} | "
                         f"**{s['paired']:.3f}×** | {s['quiet']}/{s['blocks']} |")
        lines.append("")
    lines += ["### The primitives alone (best of many calls, µs)", "",
              "| primitive | fast path | reference | reference ÷ fast |", "|---|---:|---:|---:|"]
    lines += [f"| {label} | {fast:.1f} | {ref:.1f} | {ref / fast:.2f}× |" for label, fast, ref in prims]
    lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--models", default="ae,vae")
    parser.add_argument("--repeats", type=int, default=None, help="rounds (16; quick: 2)")
    parser.add_argument("--steps", type=int, default=None, help="steps per block (40; quick: 5)")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--keep-openblas-env", action="store_true")
    cfg = parser.parse_args(sys.argv[1:] if argv is None else argv)
    cfg.repeats = cfg.repeats or (2 if cfg.quick else 16)
    cfg.steps = cfg.steps or (5 if cfg.quick else 40)
    threadpoolctl.threadpool_limits(R.THREADS, user_api="blas")
    started = time.perf_counter()
    X, _ = R.load_fashion_mnist("train")
    results = {}
    for name in [n.strip() for n in cfg.models.split(",") if n.strip()]:
        results[name] = step_ab(name, X, cfg.steps, warmup=max(3, cfg.steps // 4), repeats=cfg.repeats)
        print(f"[{time.perf_counter() - started:6.1f}s] {name}: " + ", ".join(
            f"{v} {s['paired']:.3f}x" for v, s in results[name].items()), flush=True)
    prims = primitives(cfg.quick)
    text = report(cfg, results, prims, time.perf_counter() - started)
    cfg.out.parent.mkdir(parents=True, exist_ok=True)
    cfg.out.write_text(text)
    print(text)
    print(f"wrote {cfg.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
