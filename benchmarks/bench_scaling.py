"""How training cost grows with batch size and width: the plain AE against the contractive AE.

    python benchmarks/bench_scaling.py                  # full grid; writes benchmarks/out/scaling.md
    python benchmarks/bench_scaling.py --quick          # smoke run, smaller grid

Both models are 784-H-64 with a tanh hidden layer, a sigmoid code, a mirrored decoder with
linear output and BCE on logits (float32, Adam lr 1e-3, 2 BLAS threads, Fashion-MNIST rows through
``npae.datasets``, or the embedded subset where the full files are not found):
``npae.Autoencoder`` and ``ContractiveAutoencoder(contractive_weight=0.1)`` with the exact
penalty (``contractive_method="auto"``, whose choice is recorded). Two sweeps:

* batch size N ∈ {32, 64, 128, 256, 512, 1024, 2048} at H = 512;
* width H ∈ {128, 256, 512, 1024, 2048} at N = 128.

For each point: training throughput (samples/s, best of a few timed blocks after warm-up, with
the other processes' load measured by ``harness.timed``) and memory: the peak of
``tracemalloc`` (NumPy reports its buffers to it) during one ``train_step`` above what was
allocated before it (the step's working memory: activations, gradients, the penalty's
temporaries), beside the model state (parameters, gradients and Adam's two moments, 4 × P floats).
Then, across the width sweep, the contractive model with the exact method ``auto`` did not pick
(the Gram form or the recurrence, forced), so every run checks that ``auto`` took the faster one.

Writes ``benchmarks/out/scaling.md`` (git-ignored; ``--results`` also writes its section of
RESULTS.md) and the log-log figure ``benchmarks/scaling.png`` (``--figure``).
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

import harness as H
import numpy as np

from npae import penalties
from npae.models.autoencoder import Autoencoder
from npae.models.contractive import ContractiveAutoencoder

OUT = H.OUT_DIR / "scaling.md"
FIGURE = H.HERE / "scaling.png"
SECTION = "bench_scaling.py"
LATENT = 64
BATCHES, WIDTHS = (32, 64, 128, 256, 512, 1024, 2048), (128, 256, 512, 1024, 2048)
BASE_WIDTH, BASE_BATCH = 512, 128
MODELS = ("plain", "contractive")


def make_model(kind: str, width: int, batch: int, method: str = "auto"):
    common = {"hidden_sizes": (width,), "latent_dim": LATENT, "activation": "tanh", "latent_activation": "sigmoid",
              "loss": "bce", "optimizer": "adam", "learning_rate": 1e-3, "batch_size": batch, "epochs": 1,
              "dtype": "float32", "random_state": 0, "backend": "numpy", "verbose": 0}
    if kind == "plain":
        return Autoencoder(**common)
    return ContractiveAutoencoder(contractive_weight=0.1, contractive_method=method, **common)


def n_parameters(width: int, n_features: int = 784) -> int:
    return 2 * (n_features * width + width * LATENT) + width + LATENT + width + n_features


def measure(kind: str, width: int, batch: int, X: np.ndarray, target_s: float, blocks: int,
            method: str = "auto") -> dict:
    """Throughput and step memory of one (model, H, N) point (``method``: the contractive path)."""
    n_batches = max(1, min(8, X.shape[0] // batch))
    batches = [np.ascontiguousarray(X[i * batch:(i + 1) * batch]) for i in range(n_batches)]
    model = make_model(kind, width, batch, method)
    model.partial_fit(batches[0])
    model.train_step(batches[0])  # warm-up
    t0 = time.perf_counter()
    model.train_step(batches[-1])
    one = time.perf_counter() - t0
    steps = max(1, min(50, round(target_s / max(one, 1e-6))))
    counter = iter(range(10**9))

    def block():
        for _ in range(steps):
            model.train_step(batches[next(counter) % n_batches])

    times, loads = [], []
    for _ in range(blocks):
        H.WAIT(5.0)
        wall, load = H.timed(block)
        times.append(wall)
        loads.append(load)
    best = min(times)
    i_best = times.index(best)

    tracemalloc.start()
    before, _ = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    model.train_step(batches[0])
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    method_used = "—"
    if kind == "contractive":
        params = model.parameters()
        Ws = [params[k] for k in params if k.startswith("encoder.") and k.endswith(".W")]
        method_used = penalties.contractive_method(Ws, batch, method)
    P = n_parameters(width)
    return {"kind": kind, "width": width, "batch": batch, "steps": steps, "blocks": blocks,
            "sps": steps * batch / best, "us_per_sample": 1e6 * best / (steps * batch),
            "load": loads[i_best], "max_load": max(loads),
            "step_peak_mib": (peak - before) / 2**20, "state_mib": 4 * P * 4 / 2**20,
            "params": P, "method": method_used}


def slope(xs, ys) -> float:
    """Least-squares slope of log y against log x."""
    lx, ly = np.log(np.asarray(xs, float)), np.log(np.asarray(ys, float))
    return float(np.polyfit(lx, ly, 1)[0])


def plot(points, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(10, 7.5))
    styles = {"plain": {"color": "C0", "marker": "o"}, "contractive": {"color": "C3", "marker": "s"}}
    for kind in MODELS:
        by_batch = sorted((p for p in points if p["kind"] == kind and p["width"] == BASE_WIDTH),
                          key=lambda p: p["batch"])
        by_width = sorted((p for p in points if p["kind"] == kind and p["batch"] == BASE_BATCH),
                          key=lambda p: p["width"])
        label = "plain AE" if kind == "plain" else "contractive AE (exact penalty)"
        if by_batch:
            axes[0, 0].plot([p["batch"] for p in by_batch], [p["sps"] for p in by_batch], label=label, **styles[kind])
            axes[1, 0].plot([p["batch"] for p in by_batch], [p["step_peak_mib"] for p in by_batch], label=label,
                            **styles[kind])
        if by_width:
            axes[0, 1].plot([p["width"] for p in by_width], [p["us_per_sample"] for p in by_width], label=label,
                            **styles[kind])
            axes[1, 1].plot([p["width"] for p in by_width], [p["step_peak_mib"] for p in by_width], label=label,
                            **styles[kind])
    # reference slopes through the plain model's first width point
    plain_w = sorted((p for p in points if p["kind"] == "plain" and p["batch"] == BASE_BATCH), key=lambda p: p["width"])
    contr_w = sorted((p for p in points if p["kind"] == "contractive" and p["batch"] == BASE_BATCH),
                     key=lambda p: p["width"])
    if len(plain_w) >= 2:
        w = np.array([p["width"] for p in plain_w], float)
        axes[0, 1].plot(w, plain_w[0]["us_per_sample"] * (w / w[0]), ":", color="C0", lw=1, label="∝ H")
    if len(contr_w) >= 2:
        w = np.array([p["width"] for p in contr_w], float)
        axes[0, 1].plot(w, contr_w[0]["us_per_sample"] * (w / w[0]) ** 2, ":", color="C3", lw=1, label="∝ H²")
    titles = [[f"throughput vs batch size (H = {BASE_WIDTH})", f"time per sample vs width (N = {BASE_BATCH})"],
              [f"step working memory vs batch size (H = {BASE_WIDTH})",
               f"step working memory vs width (N = {BASE_BATCH})"]]
    ylabels = [["samples / s", "µs per sample"],
               ["tracemalloc peak of one step, MiB", "tracemalloc peak of one step, MiB"]]
    xlabels = ["batch size N", "hidden width H"]
    for i in range(2):
        for j in range(2):
            ax = axes[i, j]
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_title(titles[i][j], fontsize=10)
            ax.set_ylabel(ylabels[i][j])
            ax.set_xlabel(xlabels[j])
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=8)
    fig.suptitle("npae 784-H-64 (tanh, sigmoid code), float32, Adam, 2 threads: plain vs contractive", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def report(cfg, meta, points, growth, methods) -> str:
    lines = []
    add = lines.append
    add("# npae scaling: throughput and memory vs batch size and width (plain vs contractive)")
    add("")
    if cfg.quick:
        add("> **Quick smoke run** (`--quick`): not reference figures.")
        add("")
    add("Generated by `benchmarks/bench_scaling.py`; figure: `benchmarks/scaling.png`. Models 784-H-64, tanh "
        "hidden layer, sigmoid code, mirrored decoder, BCE on logits, Adam, float32, NumPy backend, "
        f"{cfg.threads} BLAS threads; the contractive model adds λ = 0.1 times the exact ‖∂h/∂x‖²_F "
        "(`contractive_method=\"auto\"`). Throughput: best of the timed blocks (each ≈ "
        f"{cfg.target_s:g} s of steps after warm-up). Memory: tracemalloc peak during one `train_step` above "
        "what was allocated before it (the step's working memory); model state = parameters + gradients + "
        "Adam's two moments (4 · P float32).")
    add("")
    lines.extend(H.machine_lines(meta["machine"], meta["command"]))
    add(f"- Wall time {meta['wall_s']:.0f} s ({H.WAIT.waited_s:.0f} s waiting for quiet); data: {meta['data']}")
    add("")
    add("| model | H | N | exact method | samples/s | µs / sample | step working memory, MiB | "
        "model state, MiB | steps × blocks | other load (cores) |")
    add("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|")
    for p in points:
        add(f"| {p['kind']} | {p['width']} | {p['batch']} | {p['method']} | {p['sps']:,.0f} | "
            f"{p['us_per_sample']:.1f} | {p['step_peak_mib']:.1f} | {p['state_mib']:.1f} | "
            f"{p['steps']} × {p['blocks']} | {p['load']:.2f} (max {p['max_load']:.2f}) |")
    add("")
    add("## How cost grows")
    add("")
    for line in growth:
        add(f"- {line}")
    if methods:
        add("")
        add(f"## The two exact contractive methods side by side (N = {BASE_BATCH})")
        add("")
        add("Both forced (`contractive_method=\"gram\"` / `\"recurrence\"`), µs per sample, best block; "
            "`auto` weighs the recurrence's multiply-adds `penalties.RECURRENCE_COST_FACTOR` times the Gram "
            "form's (`penalties.contractive_costs`).")
        add("")
        add("| H | Gram form | recurrence | recurrence ÷ Gram | cost ratio Gram ÷ recurrence | `auto` takes | right? |")
        add("|---:|---:|---:|---:|---:|---|---|")
        for m in methods:
            faster = "gram" if m["gram"] <= m["recurrence"] else "recurrence"
            add(f"| {m['width']} | {m['gram']:.0f} | {m['recurrence']:.0f} | {m['recurrence'] / m['gram']:.2f}× | "
                f"{m['cost_ratio']:.2f} | {m['auto']} | {'yes' if faster == m['auto'] else 'no'} |")
    return "\n".join(lines) + "\n"


def growth_lines(points) -> list:
    out = []
    get = {(p["kind"], p["width"], p["batch"]): p for p in points}
    w_sl, b_sl = {}, {}
    for kind in MODELS:
        ws = [w for w in WIDTHS if (kind, w, BASE_BATCH) in get]
        if len(ws) >= 2:
            w_sl[kind] = slope(ws, [get[(kind, w, BASE_BATCH)]["us_per_sample"] for w in ws])
        bs = [b for b in BATCHES if (kind, BASE_WIDTH, b) in get]
        if len(bs) >= 2:
            b_sl[kind] = slope(bs, [get[(kind, BASE_WIDTH, b)]["step_peak_mib"] for b in bs])
    if w_sl:
        out.append("Time per sample vs width H (N = 128, log-log slope over the measured widths): "
                   + ", ".join(f"{k} ∝ H^{v:.2f}" for k, v in w_sl.items()) + ".")
    for w in WIDTHS:
        a, b = get.get(("plain", w, BASE_BATCH)), get.get(("contractive", w, BASE_BATCH))
        if a and b:
            out.append(f"H = {w}, N = 128: contractive / plain time per sample = "
                       f"{b['us_per_sample'] / a['us_per_sample']:.1f}× (exact method: {b['method']}).")
    for bsz in BATCHES:
        a, b = get.get(("plain", BASE_WIDTH, bsz)), get.get(("contractive", BASE_WIDTH, bsz))
        if a and b:
            out.append(f"N = {bsz}, H = 512: plain {a['sps']:,.0f}, contractive {b['sps']:,.0f} samples/s "
                       f"({b['us_per_sample'] / a['us_per_sample']:.1f}×); step memory "
                       f"{a['step_peak_mib']:.1f} vs {b['step_peak_mib']:.1f} MiB.")
    if b_sl:
        out.append("Step working memory vs batch size (H = 512, log-log slope): "
                   + ", ".join(f"{k} ∝ N^{v:.2f}" for k, v in b_sl.items()) + ".")
    return out


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller grid and shorter blocks")
    parser.add_argument("--blocks", type=int, default=None, help="timed blocks per point (3; quick: 2)")
    parser.add_argument("--target-s", type=float, default=None, help="seconds per block (0.4; quick: 0.05)")
    parser.add_argument("--out", type=Path, default=OUT, help=f"markdown output (default {OUT})")
    parser.add_argument("--figure", type=Path, default=None,
                        help=f"log-log figure (default {FIGURE}; quick: {H.OUT_DIR / 'scaling_quick.png'})")
    parser.add_argument("--results", action="store_true", help="also write this report's section of RESULTS.md")
    H.add_common_arguments(parser)
    cfg = parser.parse_args(argv)
    q = cfg.quick
    cfg.blocks = cfg.blocks or (2 if q else 3)
    cfg.target_s = cfg.target_s or (0.05 if q else 0.4)
    cfg.figure = cfg.figure or (H.OUT_DIR / "scaling_quick.png" if q else FIGURE)
    batches = (32, 128, 512) if q else BATCHES
    widths = (128, 512) if q else WIDTHS

    H.WAIT.budget_s = max(0.0, cfg.wait_quiet)
    H.limit_threads(cfg.threads, torch_too=False)
    started = time.perf_counter()
    machine = H.machine_info(torch_used=False)
    log = H.logger("bench_scaling")

    X, source = H.load_data("train", rows=8 * max(batches))
    grid = [(BASE_WIDTH, b) for b in batches] + [(w, BASE_BATCH) for w in widths if w != BASE_WIDTH]
    points = []
    for width, batch in grid:
        for kind in MODELS:
            p = measure(kind, width, batch, X, cfg.target_s, cfg.blocks)
            points.append(p)
            log(f"{kind:11s} H={width:5d} N={batch:5d}: {p['sps']:9,.0f} samples/s, {p['us_per_sample']:8.1f} "
                f"µs/sample, step memory {p['step_peak_mib']:7.1f} MiB, {p['method']}, load {p['load']:.2f}")
    methods = []
    for width in widths:  # the Gram form and the recurrence, both forced, across the width sweep
        auto = next(p for p in points
                    if p["kind"] == "contractive" and p["width"] == width and p["batch"] == BASE_BATCH)
        other = "recurrence" if auto["method"] == "gram" else "gram"
        forced = measure("contractive", width, BASE_BATCH, X, cfg.target_s, cfg.blocks, method=other)
        costs = penalties.contractive_costs((784, width, LATENT), BASE_BATCH)
        methods.append({"width": width, "auto": auto["method"], auto["method"]: auto["us_per_sample"],
                        other: forced["us_per_sample"], "cost_ratio": costs["gram"] / costs["recurrence"]})
        log(f"contractive H={width:5d}: {other} {forced['us_per_sample']:8.1f} µs/sample (auto: {auto['method']})")
    points.sort(key=lambda p: (p["kind"] != "plain", p["width"], p["batch"]))
    growth = growth_lines(points)
    meta = {"command": H.command_line("bench_scaling.py", argv), "machine": machine, "data": source,
            "wall_s": time.perf_counter() - started}
    text = report(cfg, meta, points, growth, methods)
    print(text)
    for path in H.write_report(text, cfg.out, SECTION, results=cfg.results and not q):
        log(f"wrote {path}")
    plot(points, cfg.figure)
    log(f"wrote {cfg.figure}")
    return 0


if __name__ == "__main__":
    H.reexec_without_openblas_env()
    sys.exit(main())
