"""Does each kernel pay? Whole training steps with it and with its reference, A/B, kernel by kernel.

    python benchmarks/bench_fast_paths.py                 # full run; writes benchmarks/out/fast_paths.md
    python benchmarks/bench_fast_paths.py --results       # … and its section of RESULTS.md
    python benchmarks/bench_fast_paths.py --quick         # smoke run

STYLE.md §11: a kernel needs a benchmark that shows it pays in whole training steps. For every
model (``harness.make_npae``: by default the AE, the Gaussian and the masking DAE, the KL-sparse
AE and the VAE; float32, batch 128, Adam), this script

1. finds the kernels a training step calls: every entry of ``npae.kernels.KERNELS`` is wrapped
   for two steps by a function that notes the call;
2. builds one model per variant, all from the same seed: *all kernels* (the default), *no
   kernels* (``npae.set_kernels("reference")``) and, for each kernel the step calls, *without
   it*: that one reference put back in the dispatcher's place,
   ``setattr(spec.owner, spec.name, npae.kernels.reference(spec))``, for the variant's blocks
   only (the dispatcher is restored after each block). A kernel that cannot be switched off
   alone (its partner kernel expects it, e.g. a backward that stores into gradients a kernel
   ``zero_grad`` set to None) is switched off together with the first partner that makes the
   step run, and the report names both;
3. times ``train_step`` of every variant in interleaved blocks, order alternating each round
   (``harness.paired_timing``), and reports best and median samples/s and the *paired* ratio:
   the median over rounds of (variant time) / (default time) in the same round. Above 1, the
   kernels the variant switches off pay.

Then the simplest kernels alone on the AE's shapes (best of many calls, µs), kernel and reference.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from pathlib import Path

import harness as H
import numpy as np

import npae

OUT = H.OUT_DIR / "fast_paths.md"
SECTION = "bench_fast_paths.py"
MODELS = ("ae", "dae", "dae_masking", "sparse_kl", "vae")
DEFAULT = "all kernels (default)"
NONE = 'no kernels (`set_kernels("reference")`)'


def registry():
    """``npae.kernels`` (the table and ``reference``); exits with a message on an npae without it."""
    try:
        from npae import kernels
    except ImportError as err:
        raise SystemExit(f"this npae ({npae.__file__}) has no npae.kernels: nothing to A/B ({err})") from err
    return kernels


def short(spec) -> str:
    """``Dense.backward``, ``ops.sigmoid``: the reference's owner and name, module path dropped."""
    owner = getattr(spec.owner, "__qualname__", None) or spec.owner.__name__.rsplit(".", 1)[-1]
    return f"{owner}.{spec.name}"


def dispatcher_of(spec):
    """What ``spec.owner.name`` holds now (the dispatcher ``install`` put there)."""
    return spec.owner.__dict__[spec.name] if isinstance(spec.owner, type) else getattr(spec.owner, spec.name)


@contextlib.contextmanager
def switched_off(specs, K):
    """Put each spec's reference back in its dispatcher's place for the block, then restore."""
    saved = [(spec, dispatcher_of(spec)) for spec in specs]
    try:
        for spec in specs:
            setattr(spec.owner, spec.name, K.reference(spec))
        yield
    finally:
        for spec, dispatcher in saved:
            setattr(spec.owner, spec.name, dispatcher)


def kernels_called(name: str, xb: np.ndarray, K) -> list:
    """The entries of ``K.KERNELS`` that two fast training steps of model ``name`` call."""
    hits = set()

    def noting(spec, dispatcher):
        def call(*args, **kwargs):
            hits.add(spec)
            return dispatcher(*args, **kwargs)

        return call

    saved = [(spec, dispatcher_of(spec)) for spec in K.kernels_for("numpy")]
    try:
        for spec, dispatcher in saved:
            setattr(spec.owner, spec.name, noting(spec, dispatcher))
        with H.kernels("fast"):
            model = H.make_npae(name)
            model.partial_fit(xb)
            model.train_step(xb)
    finally:
        for spec, dispatcher in saved:
            setattr(spec.owner, spec.name, dispatcher)
    return [spec for spec in K.kernels_for("numpy") if spec in hits]


class Variant:
    """A model built and stepped in kernels ``mode`` with ``off`` kernels switched back to their reference."""

    def __init__(self, name: str, mode: str, off, K, batches):
        self.mode, self.off, self.K, self.batches = mode, tuple(off), K, batches
        with self.active():
            self.model = H.make_npae(name)
            self.model.partial_fit(batches[0])
            self.model.train_step(batches[1 % len(batches)])  # raises here if the variant cannot run

    @contextlib.contextmanager
    def active(self):
        with switched_off(self.off, self.K), H.kernels(self.mode):
            yield

    def block(self, k: int):
        def run():
            with self.active():
                for i in range(k):
                    self.model.train_step(self.batches[i % len(self.batches)])

        return run


def variants_for(name: str, batches, K, log) -> tuple:
    """({label: Variant}, [notes], [kernels the step calls]) for model ``name``."""
    out = {DEFAULT: Variant(name, "fast", (), K, batches), NONE: Variant(name, "reference", (), K, batches)}
    notes, measured = [], set()
    called = kernels_called(name, batches[0], K)
    for spec in called:
        try:
            out[f"without `{short(spec)}`"] = Variant(name, "fast", (spec,), K, batches)
            measured.add(frozenset((spec,)))
            continue
        except Exception as err:  # noqa: BLE001 - any failure means "not separable alone"; reported
            error = f"{type(err).__name__}: {err}"
        for partner in (p for p in called if p is not spec):
            pair = frozenset((spec, partner))
            if pair in measured:
                notes.append(f"`{short(spec)}` alone fails ({error}); measured with `{short(partner)}` above.")
                break
            try:
                out[f"without `{short(spec)}` + `{short(partner)}`"] = Variant(name, "fast", pair, K, batches)
            except Exception as err:  # noqa: BLE001 - this partner does not make the step run; try the next
                log(f"{name}: `{short(spec)}` + `{short(partner)}` off together fails too ({type(err).__name__})")
                continue
            measured.add(pair)
            notes.append(f"`{short(spec)}` alone fails ({error}); switched off together with `{short(partner)}`.")
            break
        else:
            notes.append(f"`{short(spec)}` cannot be switched off alone ({error}) nor with one partner.")
    log(f"{name}: kernels called: {', '.join(short(s) for s in called) or 'none'}")
    return out, notes, called


def step_ab(name: str, X: np.ndarray, steps: int, warmup: int, repeats: int, K, log) -> dict:
    """{variant: summary with "paired"}, the variants of model ``name`` timed interleaved."""
    batches = H.batches_of(X, 128, count=16)
    variants, notes, called = variants_for(name, batches, K, log)
    for v in variants.values():
        v.block(warmup)()
    rec = H.paired_timing({label: v.block(steps) for label, v in variants.items()}, repeats, budget_s=600.0)
    base = rec[DEFAULT]["times"]
    rows = {}
    for label, r in rec.items():
        s = H.summarize(r, steps * 128)
        s["paired"] = statistics.median(t / b for t, b in zip(r["times"], base))  # > 1: the kernels pay
        rows[label] = s
    return {"rows": rows, "notes": notes, "called": [s.reference_name for s in called]}


def primitives(K, quick: bool, log) -> list:
    """[(kernel, fast µs, reference µs)] of the simplest kernels alone, on the AE's shapes."""
    rng = np.random.default_rng(0)
    z = rng.standard_normal((128, 512), dtype=np.float32) * 3
    y = rng.standard_normal((128, 784), dtype=np.float32) * 3
    x = rng.random((128, 784), dtype=np.float32)
    code = rng.standard_normal((128, 32), dtype=np.float32)
    args = {
        "npae.ops.sigmoid": (z,),
        "npae.ops.softplus": (z,),
        "npae.activations.ReLU.f": (npae.activations.ReLU(), z),
        "npae.losses.bce_with_logits_and_grad": (x, y),
        "npae.penalties.sparsity.kl_sparsity_and_grad": (code, 0.05),
        "npae.penalties.sparsity.kl_sparsity_and_logit_grad": (code, 0.05),
    }
    calls = 20 if quick else 300
    rows = []
    for spec in K.kernels_for("numpy"):
        a = args.get(spec.reference_name)
        if a is None:
            continue
        try:
            kernel, ref_fn = spec.kernel, K.reference(spec)
            fast = H.best_us(lambda k=kernel, a=a: k(*a), calls)
            ref = H.best_us(lambda r=ref_fn, a=a: r(*a), calls)
        except Exception as err:  # noqa: BLE001 - a changed signature leaves the row out, named in the log
            log(f"primitive {spec.reference_name} left out: {type(err).__name__}: {err}")
            continue
        shape = " × ".join(str(d) for d in a[-1 if spec.reference_name.endswith("ReLU.f") else 0].shape)
        rows.append((f"`{short(spec)}`, {shape}", fast, ref))
    return rows


def report(cfg, meta, results: dict, prims: list) -> str:
    lines = [
        "# Does each kernel pay? A/B inside whole training steps (`bench_fast_paths.py`)",
        "",
    ]
    if cfg.quick:
        lines += ["> **Quick smoke run** (`--quick`): not reference figures.", ""]
    lines += [
        ("Generated by `benchmarks/bench_fast_paths.py`: per model, one variant with every kernel, one with "
         "none (`npae.set_kernels(\"reference\")`) and one per kernel the step calls with that kernel's "
         "reference put back (`setattr(spec.owner, spec.name, npae.kernels.reference(spec))`), `train_step` "
         f"timed for all variants in interleaved blocks of {cfg.steps} steps, order alternating, at least "
         f"{cfg.repeats} round(s). *Default faster by* = median over rounds of (variant time) / (default time) "
         "in the same round: above 1, what the variant switches off pays."),
        "",
        *H.machine_lines(meta["machine"], meta["command"]),
        f"- Wall time {meta['wall_s']:.0f} s; threads: BLAS {cfg.threads} (threadpoolctl); data: {meta['data']}",
        "",
    ]
    for name, res in results.items():
        lines += [f"## `{name}`: {H.MODELS[name]}, batch 128", "",
                  "| variant | samples/s best | samples/s median | default faster by (paired) | quiet blocks |",
                  "|---|---:|---:|---:|---:|"]
        for label, s in res["rows"].items():
            lines.append(f"| {label} | {H.fmt(s['best'])} | {H.fmt(s['median'])} | **{s['paired']:.3f}×** | "
                         f"{s['quiet']}/{s['blocks']} |")
        lines.append("")
        lines += [f"- {note}" for note in res["notes"]]
        if res["notes"]:
            lines.append("")
    if prims:
        lines += ["## The simplest kernels alone (best of many calls, µs)", "",
                  "| kernel, input shape | kernel | reference | reference ÷ kernel |", "|---|---:|---:|---:|"]
        lines += [f"| {label} | {fast:.1f} | {ref:.1f} | {ref / fast:.2f}× |" for label, fast, ref in prims]
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: the AE only, 2 rounds of 3 steps")
    parser.add_argument("--models", default=None, help=f"comma-separated subset of {','.join(MODELS)} "
                                                       "(default all; quick: ae)")
    parser.add_argument("--repeats", type=int, default=None, help="rounds (16; quick: 2)")
    parser.add_argument("--steps", type=int, default=None, help="steps per block (40; quick: 3)")
    parser.add_argument("--out", type=Path, default=OUT, help=f"markdown output (default {OUT})")
    parser.add_argument("--results", action="store_true", help="also write this report's section of RESULTS.md")
    H.add_common_arguments(parser)
    cfg = parser.parse_args(argv)
    cfg.repeats = cfg.repeats or (2 if cfg.quick else 16)
    cfg.steps = cfg.steps or (3 if cfg.quick else 40)
    names = H.parse_models(cfg.models or ("ae" if cfg.quick else ",".join(MODELS)), MODELS)
    H.WAIT.budget_s = max(0.0, cfg.wait_quiet)
    H.limit_threads(cfg.threads, torch_too=False)
    K = registry()
    log = H.logger("bench_fast_paths")
    started = time.perf_counter()
    machine = H.machine_info(torch_used=False)
    X, source = H.load_data("train", rows=128 * 16)
    results = {}
    for name in names:
        results[name] = step_ab(name, X, cfg.steps, max(2, cfg.steps // 4), cfg.repeats, K, log)
        log(f"{name}: " + ", ".join(f"{v} {s['paired']:.3f}x" for v, s in results[name]["rows"].items()))
    prims = primitives(K, cfg.quick, log)
    meta = {"machine": machine, "command": H.command_line("bench_fast_paths.py", argv), "data": source,
            "wall_s": time.perf_counter() - started}
    text = report(cfg, meta, results, prims)
    print(text)
    for path in H.write_report(text, cfg.out, SECTION, results=cfg.results and not cfg.quick):
        log(f"wrote {path}")
    return 0


if __name__ == "__main__":
    H.reexec_without_openblas_env()
    sys.exit(main())
