"""Issue 23's whole table in one run: ``python benchmarks/run.py --suite issue23``.

Not a script of its own: ``run.py --suite issue23`` calls ``run``, after re-executing itself without
OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (``harness.reexec_without_openblas_env``) and setting the BLAS
and PyTorch threads (``--threads``, 2). In order, every figure a same-run ratio:

1. the host's limits: the GEMM peak of NumPy's BLAS and of PyTorch's (``harness.gemm_peak``), the
   triad bandwidth at the optimizer's working set and at main-memory size (``harness.triad_bandwidth``);
2. each compiled or fused kernel against its bound (``bench_kernels.py``);
3. end-to-end ``fit`` (``endtoend.suite_fit``): AE, DAE, sparse L1, sparse KL and VAE, batch 128 and
   512, float32, ``--fit-rows`` rows × ``--fit-epochs`` epochs, ``--fit-repeats`` interleaved rounds
   of four arms: npae on NumPy, npae on its torch backend, the PyTorch twin with
   ``torch.optim.Adam()`` defaults and with ``Adam(fused=True)``;
4. the roofline of every one of those fits (``roofline.step_limit``), npae on NumPy against NumPy's
   limit, npae-torch and the fused twin against PyTorch's;
5. inference (``transform``, ``score_samples``) against the twins under ``torch.no_grad()``;
6. the exact contractive penalty against PyTorch's exact forms (``bench_contractive.py``, shortened).

Targets (issue 23), printed beside the figures: npae-NumPy ≥ 1.3× the default twin and ≥ 1.0× the
fused twin on AMD (≥ 1.0× the default twin on Intel), npae-torch ≥ 1.0× the fused twin, roofline
≥ 80% at batch 512 and ≥ 70% at 128, inference ≥ 1.3×, contractive ≥ 2×.
"""

from __future__ import annotations

import os
import time

import bench_kernels as BK
import endtoend as E2E
import harness as H
import roofline as R

SECTION = "run.py --suite issue23"


def _targets(kind: str) -> dict:
    amd = kind.startswith("AMD")
    return {("fast", "torch"): 1.3 if amd else 1.0, ("fast", "torch_fused"): 1.0 if amd else None,
            ("npae_torch", "torch_fused"): 1.0}


def run(cfg, argv, log) -> int:
    started = time.perf_counter()
    q = cfg.quick
    machine = H.machine_info()
    Xtr, source = H.load_data("train")
    Xte, _ = H.load_data("test")
    Xfit = Xtr[:cfg.fit_rows]
    if Xfit.shape[0] < cfg.fit_rows:  # the embedded subset (5,000 rows): repeat it, same shapes, same work
        import numpy as np

        Xfit = np.ascontiguousarray(np.resize(Xtr, (cfg.fit_rows, Xtr.shape[1])))
        source += f"; its {Xtr.shape[0]:,} rows repeated to {cfg.fit_rows:,} for the fits"
    log(f"suite issue23: data {source}; fit {Xfit.shape[0]} rows × {cfg.fit_epochs} epochs")

    H.WAIT()
    peak = H.gemm_peak(cfg.gemm_n, 3 if q else 5)
    log(f"GEMM peak GFLOP/s: numpy {peak['numpy']['best']:.0f}, torch {peak['torch']['best']:.0f}")
    n_params = R.n_parameters("ae")
    bw = {"optimizer": H.triad_bandwidth(n_params, 3 if q else 5),
          "memory": H.triad_bandwidth(cfg.triad_n, 3 if q else 3)}
    log(f"triad GB/s: {bw['optimizer']['best']:.1f} at {n_params:,}, {bw['memory']['best']:.1f} at {cfg.triad_n:,}")

    kernel_rows = BK.kernel_bounds(log=log)

    fits = {}
    batches = [int(b) for b in cfg.fit_batch_sizes.split(",") if b.strip()]
    for name in H.parse_models(cfg.fit_models, E2E.FIT_MODELS):
        for bs in batches:
            H.WAIT()
            res = E2E.suite_fit(name, Xfit, bs, cfg.fit_epochs, cfg.fit_repeats, cfg.fit_budget_s)
            fits[(name, bs)] = res
            log(f"fit {name} {bs}: " + ", ".join(f"{a} {res[a]['best']:,.0f}" for a in E2E.SUITE_ARMS)
                + " samples/s (best); paired fast÷torch {:.2f}, fast÷fused {:.2f}, npae_torch÷fused {:.2f}".format(
                    res["paired"][("fast", "torch")], res["paired"][("fast", "torch_fused")],
                    res["paired"][("npae_torch", "torch_fused")]))

    import run as RUN

    H.WAIT()
    infer = RUN.inference_throughput(Xtr, Xte, 3, 10 if q else 20, ("fast",))
    log("inference: " + "; ".join(f"{k}: fast ÷ torch {v['paired'][('fast', 'torch')]:.2f}" for k, v in infer.items()))

    phases = step_phases(Xtr, 10 if q else 20, log)
    log("timed the phases of an AE step on both npae backends and the twins' whole steps")

    contractive = None
    if not cfg.no_contractive:
        import bench_contractive as BC

        H.WAIT()
        contractive = BC.run_benchmark(2 if q else 3, 15.0 if q else 30.0, q, log)

    meta = {"command": H.command_line("run.py", argv), "machine": machine, "data": source,
            "fit_rows": Xfit.shape[0], "wall_s": time.perf_counter() - started,
            "load_end": ", ".join(f"{v:.2f}" for v in os.getloadavg())}
    text = report(cfg, meta, peak, bw, kernel_rows, fits, infer, contractive, phases)
    print(text)
    for path in H.write_report(text, cfg.out, H.host_section(SECTION, machine["host_kind"]),
                               results=cfg.out is None and not q, demote=2):
        log(f"wrote {path}")
    return 0


def step_phases(X, reps: int, log) -> dict:
    """{arm: [(phase, best ms, median ms, load)]}: where one AE step's time goes, batch 128 and 512,
    npae on NumPy and on its torch backend (``run.phase_list``), and the twins' whole steps."""
    import run as RUN
    import torch
    from twins import family_twin, make_step

    out = {}
    for bs in (128, 512):
        xb = X[:bs]
        for arm, batch, backend in (("npae-NumPy", xb, "numpy"), ("npae-torch", torch.from_numpy(xb), "torch")):
            model = H.make_npae("ae", batch_size=bs, backend=backend)
            model.loss_and_grad(batch)
            out[(arm, bs)] = H.time_phases(RUN.phase_list(model, batch), reps, log)
        tx = torch.from_numpy(xb)
        twins = []
        for label, fused in (("PyTorch twin, default Adam: whole step", False),
                             ("PyTorch twin, fused Adam: whole step", True)):
            twin, loss_fn = family_twin("ae")
            step = make_step(twin, loss_fn, fused=fused)
            twins.append((label, lambda s=step: s(tx)))
        out[("PyTorch", bs)] = H.time_phases(twins, reps, log)
    return out


def _verdict(value: float, target) -> str:
    if target is None:
        return f"{value:.2f}×"
    return f"**{value:.2f}×** {'✓' if value >= target else '✗'}"


def report(cfg, meta, peak, bw, kernel_rows, fits, infer, contractive, phases=None) -> str:
    kind = meta["machine"]["host_kind"]
    targets = _targets(kind)
    lines = [f"# Issue 23: npae on NumPy and on its torch backend vs PyTorch's default and fused Adam ({kind})", ""]
    if cfg.quick:
        lines += ["> **Quick smoke run** (`--quick`): not reference figures.", ""]
    lines += [*H.machine_lines(meta["machine"], meta["command"]),
              f"- Threads: {cfg.threads} (BLAS pools and PyTorch); data: {meta['data']}; "
              f"wall time {meta['wall_s'] / 60:.1f} min; load average at the end {meta['load_end']}", ""]
    lines += ["## End-to-end `fit`: same-run ratios", "",
              f"`fit` as users call it, {cfg.fit_epochs} epoch(s) of {meta['fit_rows']:,} Fashion-MNIST rows, "
              "float32, Adam lr 1e-3, a fresh model per block (`endtoend.suite_fit`): npae on NumPy "
              "(`make_npae(name, batch_size).fit(X)`), npae on its torch backend (`backend=\"torch\"`, the rows as a "
              "tensor), and the PyTorch loop (twin of `twins.family_twin`, `torch.randperm` index per epoch, no "
              "DataLoader) with `torch.optim.Adam()` defaults (*default twin*) and `Adam(fused=True)` (*fused "
              "twin*). Ratios are *paired*: the median over rounds of the two arms' speed ratio within a round. "
              + H.timing_method(cfg.fit_repeats), "",
              "| model, batch | npae-NumPy ÷ default twin (target "
              f"{targets[('fast', 'torch')]}) | npae-NumPy ÷ fused twin"
              + (f" (target {targets[('fast', 'torch_fused')]})" if targets[("fast", "torch_fused")] else " (reported)")
              + " | npae-torch ÷ fused twin (target 1.0) | npae-torch ÷ default twin | fused ÷ default twin "
              "| samples/s best: NumPy · torch backend · default · fused | quiet blocks | other load |",
              "|---|---:|---:|---:|---:|---:|---|---:|---:|"]
    for (name, bs), res in fits.items():
        p = res["paired"]
        lines.append(
            f"| `{name}` {bs} | {_verdict(p[('fast', 'torch')], targets[('fast', 'torch')])} | "
            f"{_verdict(p[('fast', 'torch_fused')], targets[('fast', 'torch_fused')])} | "
            f"{_verdict(p[('npae_torch', 'torch_fused')], 1.0)} | {p[('npae_torch', 'torch')]:.2f}× | "
            f"{p[('torch_fused', 'torch')]:.2f}× | "
            + " · ".join(H.fmt(res[a]["best"]) for a in E2E.SUITE_ARMS) + " | "
            + " · ".join(f"{res[a]['quiet']}/{res[a]['blocks']}" for a in E2E.SUITE_ARMS)
            + f" | {max(res[a]['load'] for a in E2E.SUITE_ARMS):.2f} |")
    lines.append("")
    lines.append("Last epoch's training loss, last block (the arms train alike): " + "; ".join(
        f"`{m}` {bs}: " + ", ".join(f"{H.ARM_LABELS[a]} {res['history'][a][-1]:.2f}" for a in E2E.SUITE_ARMS
                                    if a in res["history"])
        for (m, bs), res in fits.items()) + ".")
    lines.append("")

    opt = bw["optimizer"]
    lines += ["## Roofline: each model's step against this host's limit", "",
              "Limit of one step = its GEMM FLOPs ÷ the measured GEMM peak + the bytes of its element-wise passes "
              "÷ the measured bandwidth (`benchmarks/roofline.py`: exact FLOP count, `BYTE_MODEL`, batch gather "
              "included). Peaks (best, "
              f"{peak['n']}³ float32): NumPy {peak['numpy']['best']:.0f} GFLOP/s (npae-NumPy's limit), PyTorch "
              f"{peak['torch']['best']:.0f} GFLOP/s (npae-torch's and the twins'); bandwidth: triad "
              f"{opt['best']:.1f} GB/s at {opt['n']:,} elements (the optimizer's working set), "
              f"{bw['memory']['best']:.1f} GB/s at {bw['memory']['n']:,} (main memory). Fraction = limit ÷ the "
              "step time of the best `fit` block. Targets: ≥ 80% at batch 512, ≥ 70% at 128.", "",
              "| model, batch | GEMM MFLOP / step | MB / step | limit ms NumPy (GEMM + memory) | npae-NumPy ms "
              "| **npae-NumPy ÷ limit** | limit ms torch | npae-torch ms | npae-torch ÷ limit | fused twin ms "
              "| fused twin ÷ limit |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    above = False
    for (name, bs), res in fits.items():
        lim_np = R.step_limit(name, bs, peak["numpy"]["best"], opt["best"], gather=True)
        lim_t = R.step_limit(name, bs, peak["torch"]["best"], opt["best"], gather=True)
        cells = []
        for arm, lim in (("fast", lim_np), ("npae_torch", lim_t), ("torch_fused", lim_t)):
            frac = R.roofline_fraction(lim["limit_s"], res[arm]["best"], bs)
            above = above or frac > 1.0
            target = 0.8 if bs >= 512 else 0.7
            mark = (" ✓" if frac >= target else " ✗") if arm == "fast" else ""
            cells.append((1e3 * bs / res[arm]["best"], frac, mark))
        lines.append(
            f"| `{name}` {bs} | {lim_np['flops'] / 1e6:.0f} | {lim_np['bytes'] / 1e6:.1f} | "
            f"{1e3 * lim_np['limit_s']:.2f} ({1e3 * lim_np['gemm_s']:.2f} + {1e3 * lim_np['memory_s']:.2f}) | "
            f"{cells[0][0]:.2f} | **{cells[0][1]:.0%}**{cells[0][2]} | {1e3 * lim_t['limit_s']:.2f} | "
            f"{cells[1][0]:.2f} | {cells[1][1]:.0%} | {cells[2][0]:.2f} | {cells[2][1]:.0%} |")
    lines.append("")
    if above:
        lines += ["A fraction above 100% means the peak or the bandwidth was measured low (a busy machine during "
                  "their measurement): rerun on a quiet machine before quoting fractions.", ""]

    lines += BK.kernel_lines(kernel_rows)

    if phases:
        lines += ["## Where an AE step's time goes (profile by phase)", "",
                  "`run.phase_list`: each phase of one `train_step` of the AE 784-512-128-32 timed alone "
                  "(best and median of repeated calls, ms); the twins' whole steps for comparison.", "",
                  "| arm, batch | phase | best ms | median ms |", "|---|---|---:|---:|"]
        for (arm, bs), rows in phases.items():
            for name, best, med, _ in rows:
                lines.append(f"| {arm} {bs} | {name} | {best:.2f} | {med:.2f} |")
        lines.append("")

    lines += ["## Inference against the twins under `torch.no_grad()` (target ≥ 1.3×)", "",
              "`transform` and `score_samples` on the 10,000 test rows, NumPy in and out, npae on NumPy (fast "
              "kernels) against the twin with npae's weights copied in (`run.inference_throughput`).", "",
              "| model, task | npae rows/s best | PyTorch rows/s best | **npae ÷ PyTorch, paired** | output difference |",
              "|---|---:|---:|---:|---|"]
    for (m, task), v in infer.items():
        kind_, diff = v["diff"]["fast"]
        lines.append(f"| `{m}` `{task}` | {H.fmt(v['fast']['best'])} | {H.fmt(v['torch']['best'])} | "
                     f"{_verdict(v['paired'][('fast', 'torch')], 1.3)} | {kind_} rel. {diff:.1e} |")
    lines.append("")

    if contractive is not None:
        results = contractive["results"]
        torch_names = [n for n in results if n.startswith("torch")]
        npae_name = next(n for n in results if n.startswith("npae"))
        fastest = max(torch_names, key=lambda n: results[n]["best"])
        lines += ["## The exact contractive penalty against PyTorch's fastest exact form (target ≥ 2×)", "",
                  "`bench_contractive.run_benchmark`, shortened (784-256-64, tanh/sigmoid, batch 128, float32, Adam): "
                  f"{contractive['data']}.", "",
                  "| formulation | samples/s best | samples/s median | blocks (quiet) | npae ÷ this, best |",
                  "|---|---:|---:|---:|---:|"]
        for name, r in results.items():
            lines.append(f"| {name} | {r['best']:,.0f} | {r['median']:,.0f} | {r['blocks']} ({r['quiet']}) | "
                         f"{results[npae_name]['best'] / r['best']:.2f}× |")
        ratio = results[npae_name]["best"] / results[fastest]["best"]
        lines += ["", f"{npae_name} ÷ the fastest PyTorch form ({fastest}): {_verdict(ratio, 2.0)} (best blocks).", ""]
    return "\n".join(lines) + "\n"
