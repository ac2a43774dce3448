"""npae's fast kernels, npae's reference code and a PyTorch twin, side by side in one run.

    python benchmarks/run.py --wait-quiet 90        # full run; writes its host kind's section of RESULTS.md
    python benchmarks/run.py --quick                # smoke run: prints, writes nothing unless --out
    python benchmarks/run.py --ab-tree PATH         # A/B: this checkout's npae against PATH's npae
    python benchmarks/run.py --suite issue23        # issue 23's table: npae (NumPy, torch) vs default and fused-Adam twins

Three arms, timed in interleaved blocks in the same process (``harness.paired_timing``):

* **fast**: npae with its kernels (``npae.set_kernels("fast")``, the default);
* **reference**: npae on its textbook code only (``npae.set_kernels("reference")``);
* **torch**: a PyTorch twin (``twins.py``: the same network and initial-weight scheme written with
  ``nn.Linear``, autograd and ``torch.optim.Adam``).

On a checkout whose npae has no ``set_kernels`` (before the kernels existed) only the fast arm
and the twin run. Measured (float32, CPU, Fashion-MNIST through ``npae.datasets``, or the
embedded subset where its files are not found):

* GEMM peak GFLOP/s, float32, of NumPy's BLAS and PyTorch's, with the same thread count;
* training throughput in samples/s of the autoencoder 784-512-128-32 (ReLU, identity code,
  mirrored decoder, linear output, BCE on logits), Adam lr 1e-3, batch 128 (and 512), and the
  ratios fast ÷ torch, reference ÷ torch, fast ÷ reference;
* achieved training FLOP/s ÷ GEMM peak, counting 6 · parameters FLOPs per sample;
* end-to-end ``fit`` as users call it (``endtoend.py``): 2 epochs of 20,000 rows, batch 128 and
  512, the AE, DAE, sparse L1 / KL and VAE, npae fast / reference against a PyTorch loop over the
  same rows (a shuffled index per epoch, no DataLoader); and npae on its torch backend against the
  same loop;
* the roofline (``roofline.py``): every step's GEMM FLOPs at the measured GEMM peak plus its
  element-wise bytes at the measured triad bandwidth, and the step's fraction of that limit;
* inference throughput: ``transform`` and ``score_samples`` of the AE and the VAE against the
  twins under ``torch.no_grad()``, NumPy in and out;
* test loss after ``--epochs`` epochs of ``fit`` for every arm (within 2% of the twin);
* the phases of one training step, fast and reference, and a cProfile listing.

``--ab-tree PATH`` runs another measurement instead: the same timing code in alternating
subprocesses, one importing this checkout's npae and one importing the npae found in PATH (a
checkout of an earlier commit, e.g. ``git worktree add ../npae-before <commit>``), several
rounds, and reports the per-round ratio of their training throughputs (see benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import statistics
import subprocess
import sys
import time
from pathlib import Path

import endtoend as E2E
import harness as H
import numpy as np
import roofline as R
import torch
from twins import AETwin, bce_per_sample, copy_from_npae, copy_weights, family_twin, make_train_step

import npae
from npae.training import Callback

LOSS_TOLERANCE = 0.02
SECTION = "run.py"
AB_SECTION = "run.py --ab-tree"
AB_PREFIX = "AB-RESULT "


# ------------------------------------------------------------------------------------ models
N_PARAMS = R.n_parameters("ae")


def make_twin(n_features: int, seed: int = 0):
    twin = AETwin(n_features, H.HIDDEN, H.LATENT, seed=seed)
    return twin, torch.optim.Adam(twin.parameters(), lr=1e-3)


def built_models(xb: np.ndarray, arms, batch_size: int = 128, epochs: int = 1) -> dict:
    """{arm: the AE, parameters created (same seed: same weights) under that arm's kernels}."""
    models = {}
    for arm in arms:
        with H.kernels(arm):
            model = H.make_npae("ae", batch_size=batch_size, epochs=epochs)
            model.loss_and_grad(xb)  # creates the parameters without a step
        models[arm] = model
    return models


# ------------------------------------------------------------------------------------ measurements
def parity_check(X: np.ndarray, arms) -> dict:
    """Same initial weights, same batch: loss before and after one Adam step, every arm."""
    xb = X[:128]
    models = built_models(xb, arms)
    twin, optimizer = make_twin(X.shape[1])
    copy_from_npae(twin, models["fast"].parameters())
    step = make_train_step(twin, optimizer)
    tx = torch.from_numpy(xb)
    out = {}
    for arm, model in models.items():
        with H.kernels(arm):
            out[arm] = (float(model.train_step(xb)[0]), -float(model.score_samples(xb).mean()))
    before = float(step(tx).detach())
    with torch.no_grad():
        out["torch"] = (before, float(bce_per_sample(twin(tx), tx).mean()))
    return out


def training_throughput(X: np.ndarray, batch_size: int, steps: int, warmup: int, repeats: int,
                        budget_s: float, arms) -> dict:
    """Samples/s of ``steps`` optimizer steps per block, every arm, interleaved."""
    batches = H.batches_of(X, batch_size, count=16)
    tbatches = [torch.from_numpy(b) for b in batches]
    models = built_models(batches[0], arms, batch_size)
    twin, optimizer = make_twin(X.shape[1])
    tstep = make_train_step(twin, optimizer)

    def run_torch(k):
        for i in range(k):
            tstep(tbatches[i % len(tbatches)])

    fns = {arm: H.in_mode(arm, H.step_runner(model, batches)) for arm, model in models.items()}
    fns["torch"] = run_torch
    for fn in fns.values():
        fn(warmup)
    rec = H.paired_timing({name: (lambda fn=fn: fn(steps)) for name, fn in fns.items()}, repeats, budget_s)
    return H.summarize_arms(rec, steps * batch_size)


def inference_throughput(Xtr: np.ndarray, Xte: np.ndarray, repeats: int, budget_s: float, arms) -> dict:
    """Rows/s of ``transform`` and ``score_samples`` on the test set, AE and VAE, every arm.

    The twins run under ``torch.no_grad()`` with npae's weights copied in (fast arm's), NumPy in
    and out. Keys ("ae", "transform"), …; each value is ``summarize_arms`` plus "diff": the
    outputs' difference from the twin's per npae arm: the max relative difference, or for the
    VAE's ``score_samples`` (an ELBO with a sampled z, different draws) the relative difference
    of the means.
    """
    tx = torch.from_numpy(Xte)
    aes = built_models(Xtr[:128], arms)
    twin, _ = make_twin(Xtr.shape[1])
    copy_from_npae(twin, aes["fast"].parameters())
    vaes = {}
    for arm in arms:
        with H.kernels(arm):
            vaes[arm] = H.make_npae("vae").partial_fit(Xtr[:128])
    vtwin, _ = family_twin("vae")
    copy_weights(vtwin, vaes["fast"])

    def ae_transform():
        with torch.no_grad():
            return twin.encoder(tx).numpy()

    def ae_score():
        with torch.no_grad():
            return (-bce_per_sample(twin(tx), tx)).numpy()

    def vae_transform():
        with torch.no_grad():
            return vtwin.mu(vtwin.encoder(tx)).numpy()

    def vae_score():
        with torch.no_grad():
            h = vtwin.encoder(tx)
            mu, log_var = vtwin.mu(h), vtwin.logvar(h).clamp(-30.0, 20.0)
            z = mu + torch.exp(0.5 * log_var) * torch.randn_like(mu)
            kl = -0.5 * torch.sum(1.0 + log_var - mu * mu - log_var.exp(), dim=1)
            return (-(bce_per_sample(vtwin.decoder(z), tx) + kl)).numpy()

    out = {}
    for key, models, twin_fn in ((("ae", "transform"), aes, ae_transform), (("ae", "score_samples"), aes, ae_score),
                                 (("vae", "transform"), vaes, vae_transform),
                                 (("vae", "score_samples"), vaes, vae_score)):
        task = key[1]
        fns = {arm: H.in_mode(arm, lambda m=model, t=task: getattr(m, t)(Xte)) for arm, model in models.items()}
        fns["torch"] = twin_fn
        results = {name: np.asarray(fn()) for name, fn in fns.items()}  # warm-up, and the outputs to compare
        want = results["torch"]
        rec = H.paired_timing(fns, repeats, budget_s)
        out[key] = H.summarize_arms(rec, Xte.shape[0])
        if key == ("vae", "score_samples"):
            out[key]["diff"] = {arm: ("mean", float(abs(results[arm].mean() / want.mean() - 1))) for arm in arms}
        else:
            out[key]["diff"] = {arm: ("max", float(np.max(np.abs(results[arm] - want)) / np.max(np.abs(want))))
                                for arm in arms}
    return out


class EpochClock(Callback):
    """Records (seconds, foreign load) of every epoch of ``fit``."""

    def __init__(self):
        self.epochs = []

    def on_train_begin(self, logs=None) -> None:
        self._last = H.cpu_snapshot()

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        self.epochs.append(H.since(self._last))
        self._last = H.cpu_snapshot()


def train_to_test_loss(Xtr: np.ndarray, Xte: np.ndarray, epochs: int, arms) -> dict:
    """Train every arm for ``epochs`` epochs (batch 128, shuffled per epoch): test loss, times."""
    out = {}
    n = Xtr.shape[0]
    for arm in arms:
        with H.kernels(arm):
            model = H.make_npae("ae", epochs=epochs)
            clock = EpochClock()
            H.WAIT()
            fit_s, load = H.timed(lambda m=model, c=clock: m.fit(Xtr, callbacks=[c]))
            out[arm] = {"test": -float(model.score_samples(Xte).mean()), "fit_s": fit_s, "load": load, "epochs": clock.epochs,
                        "history": list(model.history_["loss"])}

    twin, optimizer = make_twin(Xtr.shape[1])
    step = make_train_step(twin, optimizer)
    rng = np.random.default_rng(0)
    X_t = torch.from_numpy(Xtr)
    history, epoch_times = [], []

    def fit_twin():
        for _ in range(epochs):
            snapshot = H.cpu_snapshot()
            shuffled = X_t.index_select(0, torch.from_numpy(rng.permutation(n)))
            total = torch.zeros(())
            for s in range(0, n, 128):
                xb = shuffled[s:min(s + 128, n)]
                total += step(xb).detach() * xb.shape[0]
            history.append(float(total) / n)
            epoch_times.append(H.since(snapshot))

    H.WAIT()
    fit_s, load = H.timed(fit_twin)
    with torch.no_grad():
        x = torch.from_numpy(Xte)
        test = float(bce_per_sample(twin(x), x).double().mean())
    out["torch"] = {"test": test, "fit_s": fit_s, "load": load, "epochs": epoch_times, "history": history}
    for r in out.values():
        r["fit_sps"] = epochs * n / r["fit_s"]
        r["epoch_sps"] = n / min(t for t, _ in r["epochs"])
    return out


def phase_list(model, xb: np.ndarray) -> list:
    """The phases of one npae training step at batch 128 (model internals: this is a profiler)."""
    for _ in range(5):
        model.train_step(xb)
    enc, dec, loss = model.encoder_, model.decoder_, model.loss_
    y = dec.forward(enc.forward(xb))
    pairs = model._parameter_gradient_pairs()
    Ws = [W for key, W in model.parameters().items() if key.endswith(".W")]

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

    def forward_backward():
        model.zero_grad()
        model._forward_backward(xb)

    return [
        ("whole step (`train_step`)", lambda: model.train_step(xb)),
        ("`zero_grad()`", model.zero_grad),
        ("forward, encoder + decoder (GEMMs, bias, ReLU)", lambda: dec.forward(enc.forward(xb))),
        ("loss value and gradient (BCE on logits)", lambda: loss.value_and_grad(xb, y)),
        ("zero_grad + forward + loss + backward (`_forward_backward`)", forward_backward),
        ("Adam update", lambda: model.optimizer_.step(pairs)),
        ("for comparison: the step's GEMMs alone (no dx for the data)", gemms),
    ]


def phase_breakdown(X: np.ndarray, reps: int, arms, log) -> dict:
    """{arm: [(phase, best ms, median ms, load)]}; the twin's whole step is a "torch" entry."""
    xb = X[:128]
    models = built_models(xb, arms)
    out = {}
    for arm, model in models.items():
        with H.kernels(arm):
            out[arm] = H.time_phases(phase_list(model, xb), reps, log)
    twin, optimizer = make_twin(X.shape[1])
    tstep = make_train_step(twin, optimizer)
    tx = torch.from_numpy(xb)
    for _ in range(5):
        tstep(tx)
    out["torch"] = H.time_phases([("PyTorch whole step", lambda: tstep(tx))], reps, log)
    return out


def profile_npae_steps(X: np.ndarray, steps: int, top: int = 18) -> str:
    """cProfile of ``steps`` npae training steps (fast kernels, batch 128), sorted by own time."""
    batches = H.batches_of(X, 128, count=steps)
    with H.kernels("fast"):
        model = H.make_npae("ae")
        model.loss_and_grad(batches[0])
        for b in batches[:5]:
            model.train_step(b)
        prof = cProfile.Profile()
        prof.enable()
        for b in batches:
            model.train_step(b)
        prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).strip_dirs().sort_stats("tottime").print_stats(top)
    lines = [line for line in buf.getvalue().splitlines() if line.strip()]
    start = next((i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls")), 0)
    return "\n".join(lines[start:])


def profile_npae_fit(X: np.ndarray, epochs: int, top: int = 22) -> str:
    """cProfile of one AE ``fit`` (fast kernels, batch 128) as users call it, sorted by own time:
    what ``fit`` adds over ``train_step`` (checks, batching, history, callbacks) shows here."""
    with H.kernels("fast"):
        H.make_npae("ae", epochs=1).fit(X[:1024])  # warm-up
        model = H.make_npae("ae", epochs=epochs)
        prof = cProfile.Profile()
        prof.enable()
        model.fit(X)
        prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).strip_dirs().sort_stats("tottime").print_stats(top)
    lines = [line for line in buf.getvalue().splitlines() if line.strip()]
    start = next((i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls")), 0)
    return "\n".join(lines[start:])


# ------------------------------------------------------------------------------------ report
def fit_lines(cfg, meta, peak, bw, e2e, tb, train) -> list:
    """The report's end-to-end ``fit``, torch-backend and roofline sections (markdown lines)."""
    arms = meta["arms"]
    all_arms = (*arms, "torch")
    lines = []
    add = lines.append
    n_rows, epochs = meta["fit_rows"], cfg.fit_epochs
    if e2e:
        lines += e2e_lines(cfg, e2e, train, all_arms, n_rows, epochs)
    if tb is not None:
        add("## npae on its torch backend vs the PyTorch twin")
        add("")
        add(f"`harness.make_npae(\"ae\", backend=\"torch\").fit(X_t)` on the same rows as a torch tensor (PyTorch's "
            "GEMMs, npae's hand-written backprop, no autograd) against the same PyTorch loop, "
            f"batch {cfg.torch_backend_batch}, {epochs} epoch(s) of {n_rows:,} rows, interleaved.")
        add("")
        lines.extend(H.arm_table("model, batch", [(f"`ae` {cfg.torch_backend_batch}", tb)], ("npae_torch", "torch")))
        add("")
    lines += roofline_lines(cfg, peak, bw, e2e, train)
    return lines


def e2e_lines(cfg, e2e, train, all_arms, n_rows, epochs) -> list:
    lines = []
    add = lines.append
    add("## End-to-end `fit` (samples/s)")
    add("")
    add(f"`fit` as users call it: {epochs} epoch(s) of {n_rows:,} Fashion-MNIST training rows, a fresh model "
        "per block (built, checked, initialised, trained, `history_` recorded), Adam lr 1e-3, float32 "
        "(`benchmarks/endtoend.py`). npae fast and npae reference: `harness.make_npae(model, batch_size, "
        "epochs).fit(X)` on NumPy rows; PyTorch: the twin (`twins.family_twin`) and `torch.optim.Adam` "
        "built per block, then per epoch a `torch.randperm` index and `X[idx[s:s + batch]]` per step (no "
        "DataLoader), the epoch's loss read once per epoch. Samples/s = epochs × rows ÷ the block's "
        f"seconds; {cfg.fit_repeats}+ interleaved rounds; every arm warmed up by a small fit first.")
    add("")
    lines += H.arm_table("model, batch", [(f"`{m}` {bs}", res) for (m, bs), res in e2e.items()], all_arms)
    add("")
    add("Last epoch's training loss in the last block (the arms train alike): " + "; ".join(
        f"`{m}` {bs}: " + ", ".join(f"{a} {res['history'][a][-1]:.2f}" for a in all_arms if a in res["history"])
        for (m, bs), res in e2e.items()) + ".")
    add("")
    over = [(bs, e2e[("ae", bs)]["fast"]["best"] / train[bs]["fast"]["best"],
             e2e[("ae", bs)]["torch"]["best"] / train[bs]["torch"]["best"])
            for bs in train if ("ae", bs) in e2e]
    if over:
        add("What `fit` costs over bare steps, AE, best blocks: end-to-end `fit` samples/s ÷ `train_step`-block "
            "samples/s (the training-throughput table): " + "; ".join(
                f"batch {bs}: npae fast {r:.2f}, PyTorch loop {t:.2f}" for bs, r, t in over) + ".")
        add("")
    return lines


def roofline_lines(cfg, peak, bw, e2e, train) -> list:
    lines = []
    add = lines.append
    add("## Roofline: each step against this host's limit")
    add("")
    opt, mem = bw["optimizer"], bw["memory"]
    add("Limit of one step = GEMM FLOPs ÷ the measured GEMM peak + bytes of the element-wise passes ÷ the "
        "measured bandwidth (`benchmarks/roofline.py`, whose docstring and `BYTE_MODEL` define both counts); "
        "fraction = limit ÷ measured step time (1 = at the limit). GEMM FLOPs counted exactly from the layers "
        "(forward 2·N·in·out per Dense, backward twice that minus the first layer's data gradient); 6·P is "
        "the rule of thumb. Peaks (best): NumPy "
        f"{peak['numpy']['best']:.0f} GFLOP/s for npae, PyTorch {peak['torch']['best']:.0f} GFLOP/s for the twin "
        f"({peak['n']}³ float32, {cfg.threads} threads). Bandwidth (NumPy triad a = b + s·c, one thread, "
        f"{H.TRIAD_WORDS} words per element as NumPy moves them, best / median): {opt['best']:.1f} / "
        f"{opt['median']:.1f} GB/s at {opt['n']:,} elements per array (the optimizer's working set, used for "
        f"the limit), {mem['best']:.1f} / {mem['median']:.1f} GB/s at {mem['n']:,} (main memory, for "
        "reference). Step times from the best blocks: `fit` steps include the batch gather, `train_step` "
        "blocks do not.")
    add("")
    add("| model, batch, measured as | GEMM MFLOP / step (exact · 6·P) | MB / step | limit ms (GEMM + memory) "
        "| npae fast ms / step | **fast ÷ limit** | PyTorch ms / step | PyTorch ÷ its limit "
        "| efficiency 6·P ÷ peak: fast · PyTorch |")
    add("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    rows = [(f"`ae` {bs}, `train_step` blocks", "ae", bs, train[bs], False) for bs in train]
    rows += [(f"`{m}` {bs}, `fit`", m, bs, res, True) for (m, bs), res in e2e.items()]
    above = False
    for label, m, bs, res, gather in rows:
        npk = R.step_limit(m, bs, peak["numpy"]["best"], opt["best"], gather=gather)
        tlim = R.step_limit(m, bs, peak["torch"]["best"], opt["best"], gather=gather)
        fast_ms = 1e3 * bs / res["fast"]["best"]
        torch_ms = 1e3 * bs / res["torch"]["best"]
        six_p = 6 * R.n_parameters(m) * bs
        add(f"| {label} | {npk['flops'] / 1e6:.0f} · {six_p / 1e6:.0f} | {npk['bytes'] / 1e6:.1f} | "
            f"{1e3 * npk['limit_s']:.2f} ({1e3 * npk['gemm_s']:.2f} + {1e3 * npk['memory_s']:.2f}) | {fast_ms:.2f} | "
            f"**{R.roofline_fraction(npk['limit_s'], res['fast']['best'], bs):.0%}** | {torch_ms:.2f} | "
            f"{R.roofline_fraction(tlim['limit_s'], res['torch']['best'], bs):.0%} | "
            f"{R.efficiency(m, res['fast']['best'], peak['numpy']['best']):.0%} · "
            f"{R.efficiency(m, res['torch']['best'], peak['torch']['best']):.0%} |")
        above = above or npk["limit_s"] > bs / res["fast"]["best"] or tlim["limit_s"] > bs / res["torch"]["best"]
    add("")
    if above:
        add("**A fraction above 100% is not possible on an honest limit**: the GEMM peak or the bandwidth was "
            "measured low (other processes busy during their measurement, or a small `--gemm-n`); rerun on a "
            "quiet machine before quoting these fractions.")
        add("")
    add("The byte model, words of 4 bytes per element (`roofline.BYTE_MODEL`): " + "; ".join(
        f"{name}: {words} per {what}" for name, words, what in R.BYTE_MODEL) + ".")
    add("")
    return lines


def build_report(cfg, meta, peak, parity, train, infer, fit, phases, profile, extra=None) -> str:
    arms = meta["arms"]
    all_arms = (*arms, "torch")
    P = N_PARAMS
    lines = []
    add = lines.append
    add(f"# `run.py` on {meta['machine']['host_kind']}: npae fast vs npae reference vs PyTorch")
    add("")
    if cfg.quick:
        add("> **Quick smoke run** (`--quick`): few steps, 1 epoch; not reference figures.")
        add("")
    add("Generated by `benchmarks/run.py`: npae with its kernels (*fast*, the default), npae on its "
        "textbook code only (*reference*, `npae.set_kernels(\"reference\")`) and the PyTorch twin "
        "(*torch*, `benchmarks/twins.py`), every ratio from the same run. " + H.timing_method(cfg.repeats)
        + " With as many BLAS threads as cores, one busy neighbour can slow a block down several times "
        "over: check the load columns.")
    add("")
    lines += H.machine_lines(meta["machine"], meta["command"])
    add(f"- Wall time {meta['wall_s']:.0f} s, of which {H.WAIT.waited_s:.0f} s waiting for a quiet machine "
        f"(`--wait-quiet {cfg.wait_quiet:g}`); load average at the end: {meta['load_end']}")
    add(f"- Threads: BLAS limited to {cfg.threads} with threadpoolctl, `torch.set_num_threads({cfg.threads})`")
    add(f"- Data: {meta['data_source']}: {meta['n_train']:,} train / {meta['n_test']:,} test rows, float32 in [0, 1]")
    add(f"- Model: 784-512-128-32 ReLU autoencoder, identity code, mirrored decoder with linear output, "
        f"BCE on logits summed over pixels, Adam lr 1e-3, float32, {P:,} parameters: "
        "`harness.make_npae(\"ae\")` on the numpy backend; twin: `nn.Linear` + autograd + `torch.optim.Adam` "
        "defaults, the same He-uniform U(±√(6/fan_in)) weight scheme and zero biases.")
    if len(arms) == 1:
        add("- This npae has no `set_kernels`: only its (fast) path and the twin were timed.")
    add("")

    add("## Training throughput (samples/s)")
    add("")
    add(f"Blocks of {cfg.steps} optimizer steps at batch 128 (the same number of samples at larger batches) "
        f"after {cfg.warmup} warm-up steps (`model.train_step(batch)` against zero_grad/forward/backward/step "
        "in PyTorch, no per-step host sync).")
    add("")
    lines += H.arm_table("batch", [(str(bs), res) for bs, res in train.items()], all_arms)
    add("")

    add("## Efficiency: achieved training FLOP/s ÷ GEMM peak")
    add("")
    add(f"Training FLOPs counted as 6 · parameters per sample ({6 * P / 1e6:.2f} MFLOP). GEMM peak: "
        f"{peak['n']}×{peak['n']}×{peak['n']} float32 product, {cfg.threads} threads, best / quiet median: NumPy "
        f"{peak['numpy']['best']:.0f} / {peak['numpy']['median']:.0f} GFLOP/s, PyTorch "
        f"{peak['torch']['best']:.0f} / {peak['torch']['median']:.0f} GFLOP/s. Each arm is divided by its own "
        "library's peak (best throughput ÷ best peak).")
    add("")
    add("| batch | " + " | ".join(f"{H.ARM_LABELS[a]} GFLOP/s (÷ peak)" for a in all_arms) + " |")
    add("|---|" + "---:|" * len(all_arms))
    for bs, res in train.items():
        cells = []
        for a in all_arms:
            g = res[a]["best"] * 6 * P / 1e9
            cells.append(f"{g:.0f} ({100 * g / peak['torch' if a == 'torch' else 'numpy']['best']:.0f}%)")
        add(f"| {bs} | " + " | ".join(cells) + " |")
    add("")

    if extra is not None:
        lines += fit_lines(cfg, meta, peak, extra["bw"], extra["e2e"], extra["tb"], train)

    add("## Inference throughput (rows/s, test set, NumPy in and out)")
    add("")
    add(f"{meta['n_test']:,} rows per call; the twins run under `torch.no_grad()` with npae's weights copied in. "
        "AE: `transform` = the code, `score_samples` = −BCE per row; VAE 784-400-20: `transform` = the posterior "
        "mean, `score_samples` = the ELBO with one sampled z per row.")
    add("")
    lines += H.arm_table("model, task", [(f"{m.upper()} `{task}`", res) for (m, task), res in infer.items()],
                         all_arms)
    add("")
    add("Outputs against the twin's: " + "; ".join(
        f"{m.upper()} {task} " + ", ".join(f"{a} {d:.1e}" + (" (means)" if kind == "mean" else "")
                                           for a, (kind, d) in res["diff"].items())
        for (m, task), res in infer.items()) + " (max relative difference; the VAE's score compares the means, "
        "its z being sampled).")
    add("")

    add(f"## Test loss after {cfg.epochs} epoch(s)")
    add("")
    add("Per-sample BCE summed over the 784 pixels, mean over the test set. npae: "
        "`fit(X_train)` with `random_state=0`, then `-score(X_test)`; twin: the same loop (batch 128, "
        "reshuffled every epoch, last partial batch kept) from its own seed-0 He-uniform draw.")
    add("")
    add("| | " + " | ".join(H.ARM_LABELS[a] for a in all_arms) + " |")
    add("|---|" + "---:|" * len(all_arms))
    tw = fit["torch"]

    def verdict(a):
        ratio = fit[a]["test"] / tw["test"]
        within = "within" if abs(ratio - 1) <= LOSS_TOLERANCE else "NOT within"
        return f"{fit[a]['test']:.3f} (÷ torch **{ratio:.4f}**, {within} {100 * LOSS_TOLERANCE:.0f}%)"

    add("| test loss | " + " | ".join(verdict(a) for a in arms) + f" | {tw['test']:.3f} |")
    add("| final-epoch train loss | " + " | ".join(f"{fit[a]['history'][-1]:.3f}" for a in all_arms) + " |")
    add("| fit wall time, s | " + " | ".join(f"{fit[a]['fit_s']:.1f}" for a in all_arms) + " |")
    add("| other load during fit (cores) | " + " | ".join(f"{fit[a]['load']:.2f}" for a in all_arms) + " |")
    add("")
    add("Epoch seconds (other load in cores): " + "; ".join(
        f"{a} " + ", ".join(f"{t:.1f} ({load:.2f})" for t, load in fit[a]["epochs"]) for a in all_arms) + ".")
    add("")
    add("Train loss per epoch: " + "; ".join(
        f"{a} " + ", ".join(f"{v:.2f}" for v in fit[a]["history"]) for a in all_arms) + ".")
    if "reference" in arms:
        rel = abs(fit["fast"]["test"] / fit["reference"]["test"] - 1)
        add("")
        add(f"Fast and reference test losses differ by {rel:.1e} relative (kernels that are not bit-exact "
            "in float32 let the two runs drift apart slowly).")
    add("")

    add("## Parity check")
    add("")
    add("npae's initial weights (identical in every npae arm: same seed) copied into the twin, one Adam step "
        "on the same batch of 128 (float32): loss before / after the step: "
        + "; ".join(f"{a} {b:.6f} / {c:.6f}" for a, (b, c) in parity.items()) + ".")
    add("")

    add("## Where a training step's time goes (batch 128)")
    add("")
    add(f"Each phase timed on its own, best / median of {cfg.phase_reps} calls, in ms, in every npae arm "
        "(a phase timed while other processes were busy is retried up to twice, the fastest attempt kept).")
    add("")
    fast_rows = {name: (best, med, load) for name, best, med, load in phases["fast"]}
    ref_rows = {name: (best, med, load) for name, best, med, load in phases.get("reference", [])}
    whole = phases["fast"][0][1] if phases["fast"] else float("nan")
    if ref_rows:
        add("| phase | fast best / median ms | reference best / median ms | reference ÷ fast (best) "
            "| share of the fast step | other load (cores) |")
        add("|---|---:|---:|---:|---:|---:|")
    else:
        add("| phase | fast best / median ms | share of the fast step | other load (cores) |")
        add("|---|---:|---:|---:|")
    for name, (best, med, load) in fast_rows.items():
        if ref_rows:
            rb, rm, rl = ref_rows.get(name, (float("nan"),) * 3)
            add(f"| {name} | {best:.3f} / {med:.3f} | {rb:.3f} / {rm:.3f} | {rb / best:.2f}× | "
                f"{100 * best / whole:.0f}% | {max(load, rl):.2f} |")
        else:
            add(f"| {name} | {best:.3f} / {med:.3f} | {100 * best / whole:.0f}% | {load:.2f} |")
    for name, best, med, load in phases["torch"]:
        ref_cells = "– | – | " if ref_rows else ""
        add(f"| {name} | {best:.3f} / {med:.3f} | {ref_cells}{100 * best / whole:.0f}% | {load:.2f} |")
    add("")

    if profile:
        add("## Profile of npae training steps (fast kernels, cProfile, batch 128, sorted by own time)")
        add("")
        add(f"{cfg.profile_steps} steps. Matrix products run inside the Python function that calls `@`, "
            "so their time is that function's own time.")
        add("")
        add("```")
        add(profile)
        add("```")
        add("")
    if extra is not None and extra.get("profile_fit"):
        add("## Profile of one AE `fit` (fast kernels, cProfile, batch 128, sorted by own time)")
        add("")
        add(f"`make_npae(\"ae\", epochs={cfg.fit_epochs}).fit(X)` on {meta['fit_rows']:,} rows, as users call it: "
            "what `fit` adds over `train_step` (checks, batching, history, callbacks) shows beside the step's "
            "own functions.")
        add("")
        add("```")
        add(extra["profile_fit"])
        add("```")
        add("")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------ A/B of two checkouts
def ab_worker(cfg) -> int:
    """Time this process's npae (whatever PYTHONPATH found) and print one JSON line."""
    arms = [a for a in cfg.arms.split(",") if a in H.npae_arms()]
    X, source = H.load_data("train", rows=128 * 16)
    batches = H.batches_of(X, 128)
    results = {}
    for name in H.parse_models(cfg.models, H.MODELS):
        runners = {}
        for arm in arms:
            with H.kernels(arm):
                model = H.make_npae(name)
                model.partial_fit(batches[0])
            runners[arm] = H.in_mode(arm, H.step_runner(model, batches))
            runners[arm](cfg.warmup)
        rec = H.paired_timing({arm: (lambda run=run: run(cfg.steps)) for arm, run in runners.items()},
                              cfg.repeats, budget_s=120.0)
        results[name] = {arm: H.summarize(r, cfg.steps * 128) for arm, r in rec.items()}
    print(AB_PREFIX + json.dumps({"npae_file": npae.__file__, "version": getattr(npae, "__version__", "?"),
                                  "arms": arms, "data": source, "results": results}), flush=True)
    return 0


def ab_compare(cfg, argv, log) -> int:
    """Alternate worker subprocesses on this checkout's npae and on ``cfg.ab_tree``'s; report."""
    trees = {"new": H.ROOT, "old": Path(cfg.ab_tree).expanduser().resolve()}
    if not (trees["old"] / "npae" / "__init__.py").is_file():
        raise SystemExit(f"--ab-tree {cfg.ab_tree}: no npae/__init__.py there; pass the root of a checkout.")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NPAE_KERNELS")}
    base = [sys.executable, str(Path(__file__).resolve()), "--ab-worker", "--models", cfg.models,
            "--steps", str(cfg.steps), "--warmup", str(cfg.warmup), "--repeats", str(cfg.repeats),
            "--threads", str(cfg.threads)]
    if cfg.keep_openblas_env:
        base.append(H.KEEP_FLAG)
    runs = {"new": [], "old": []}
    for r in range(cfg.ab_rounds):
        for side in ("new", "old") if r % 2 == 0 else ("old", "new"):
            arms = "fast,reference" if side == "new" and cfg.ab_reference else "fast"
            proc = subprocess.run([*base, "--arms", arms], env={**env, "PYTHONPATH": str(trees[side])},
                                  cwd=H.ROOT, capture_output=True, text=True, check=False)
            line = next((ln for ln in proc.stdout.splitlines() if ln.startswith(AB_PREFIX)), None)
            if proc.returncode or line is None:
                sys.stderr.write(proc.stdout + proc.stderr)
                raise SystemExit(f"the {side} worker failed (exit {proc.returncode})")
            res = json.loads(line[len(AB_PREFIX):])
            expected = trees[side] / "npae"
            if Path(res["npae_file"]).resolve().parent != expected:
                raise SystemExit(f"the {side} worker imported {res['npae_file']}, not npae from {expected}")
            runs[side].append(res)
            log(f"round {r + 1} {side}: " + ", ".join(f"{m} {v['fast']['best']:,.0f}"
                                                      for m, v in res["results"].items()) + " samples/s (best)")
    text = ab_report(cfg, argv, trees, runs)
    print(text)
    for path in H.write_report(text, cfg.out, AB_SECTION, results=cfg.out is None and not cfg.quick):
        log(f"wrote {path}")
    return 0


def ab_report(cfg, argv, trees, runs) -> str:
    models = list(runs["new"][0]["results"])
    old_commit, new_commit = H.git_state(trees["old"]), H.git_state(trees["new"])
    info = H.machine_info(torch_used=False)
    info["kernels"] = "fast (the default) on both sides" + (", and the new side's reference arm"
                                                           if cfg.ab_reference else "")
    command = H.command_line("run.py", argv).replace(cfg.ab_tree, f"<checkout of {old_commit.split()[0]}>")
    lines = ["# Before and after: this checkout's npae against an earlier checkout's (`run.py --ab-tree`)", ""]
    if cfg.quick:
        lines += ["> **Quick smoke run** (`--quick`): not reference figures.", ""]
    lines += [
        (f"The same timing code (`benchmarks/run.py --ab-worker`, this checkout's harness) in alternating "
         f"subprocesses, {cfg.ab_rounds} rounds, the order swapped every round: *new* imports npae from this "
         f"checkout ({new_commit}), *old* from a checkout of {old_commit} (`PYTHONPATH`). Each subprocess "
         f"times blocks of {cfg.steps} `train_step`s at batch 128 after {cfg.warmup} warm-up steps, "
         f"{cfg.repeats}+ blocks, and reports its best and median block. Per-round ratio = new ÷ old "
         "samples/s of the two subprocesses of that round (adjacent in time, so the machine's drift mostly "
         "cancels); above 1, the new code is faster."),
        "",
        *H.machine_lines(info, command),
        f"- Threads: BLAS {cfg.threads} (threadpoolctl); data: {runs['new'][0]['data']}",
        "",
        "| model | per-round new fast ÷ old (best blocks) | median | min – max | median-block ratio, median "
        + ("| new reference ÷ old (best, median over rounds) " if cfg.ab_reference else "")
        + "| new / old samples/s (median of best blocks) |",
        "|---|---|---:|---:|---:|" + ("---:|" if cfg.ab_reference else "") + "---:|",
    ]
    for m in models:
        new = [r["results"][m] for r in runs["new"]]
        old = [r["results"][m]["fast"] for r in runs["old"]]
        ratios = [n["fast"]["best"] / o["best"] for n, o in zip(new, old)]
        med_ratios = [n["fast"]["median"] / o["median"] for n, o in zip(new, old)]
        cells = [f"`{m}`: {H.MODELS[m]}", ", ".join(f"{x:.3f}" for x in ratios),
                 f"**{statistics.median(ratios):.3f}×**", f"{min(ratios):.3f} – {max(ratios):.3f}",
                 f"{statistics.median(med_ratios):.3f}×"]
        if cfg.ab_reference:
            cells.append(f"{statistics.median(n['reference']['best'] / o['best'] for n, o in zip(new, old)):.3f}×")
        cells.append(f"{H.fmt(statistics.median(n['fast']['best'] for n in new))} / "
                     f"{H.fmt(statistics.median(o['best'] for o in old))}")
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------ main
def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: few steps, 1 epoch, small GEMM")
    parser.add_argument("--epochs", type=int, default=None, help="epochs for the test-loss comparison (5; quick: 1)")
    parser.add_argument("--repeats", type=int, default=None, help="timing rounds (5; quick: 2)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per block at batch 128 (60; quick: 10)")
    parser.add_argument("--warmup", type=int, default=None, help="warm-up steps (20; quick: 3)")
    parser.add_argument("--batch-sizes", default="128,512", help="batch sizes for throughput (128,512)")
    parser.add_argument("--gemm-n", type=int, default=None, help="GEMM size for the peak (2048; quick: 512)")
    parser.add_argument("--phase-reps", type=int, default=None, help="calls per phase timing (30; quick: 5)")
    parser.add_argument("--profile", choices=("auto", "always", "never"), default="auto",
                        help="cProfile npae steps: auto = when npae's fast arm is slower than torch at batch 128")
    parser.add_argument("--out", type=Path, default=None,
                        help="write the report to this file instead of RESULTS.md's section (quick: print only)")
    parser.add_argument("--ab-tree", default=None, metavar="PATH",
                        help="A/B this checkout's npae against the npae of the checkout at PATH instead")
    parser.add_argument("--ab-rounds", type=int, default=None,
                        help="A/B rounds, one subprocess per side each (6; quick: 2)")
    parser.add_argument("--ab-reference", action="store_true", help="A/B: also time the new side's reference arm")
    parser.add_argument("--models", default=None,
                        help=f"A/B: models, from {', '.join(H.MODELS)} "
                             "(default ae,dae,sparse_l1,sparse_kl,vae; quick: ae)")
    parser.add_argument("--fit-rows", type=int, default=None,
                        help="end-to-end fit: training rows (20000; quick: 1024)")
    parser.add_argument("--fit-epochs", type=int, default=None, help="end-to-end fit: epochs per fit (2; quick: 1)")
    parser.add_argument("--fit-repeats", type=int, default=None,
                        help="end-to-end fit: interleaved rounds per model and batch (3; quick: 2)")
    parser.add_argument("--fit-models", default=",".join(E2E.FIT_MODELS),
                        help=f"end-to-end fit: models, from {', '.join(E2E.FIT_MODELS)} (all)")
    parser.add_argument("--fit-batch-sizes", default="128,512", help="end-to-end fit: batch sizes (128,512)")
    parser.add_argument("--torch-backend-batch", type=int, default=128,
                        help="batch of the npae-on-torch-backend row (128; 0 leaves the row out)")
    parser.add_argument("--triad-n", type=int, default=None,
                        help="elements per array of the main-memory triad (2**24; quick: 2**20)")
    parser.add_argument("--skip-fit", action="store_true",
                        help="leave out the end-to-end fit, torch-backend and roofline-of-fit rows")
    parser.add_argument("--suite", choices=("issue23",), default=None,
                        help="issue23: end-to-end fit of every model at batch 128 and 512, npae on NumPy and on its "
                             "torch backend against the default-Adam and fused-Adam PyTorch twins, the roofline per "
                             "model, each kernel against its bound, inference and the contractive penalty (~7 min)")
    parser.add_argument("--no-contractive", action="store_true", help="suite: leave out the contractive penalty")
    parser.add_argument("--ab-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--arms", default="fast", help=argparse.SUPPRESS)
    H.add_common_arguments(parser)
    cfg = parser.parse_args(argv)
    q = cfg.quick
    cfg.epochs = cfg.epochs or (1 if q else 5)
    cfg.repeats = cfg.repeats or (2 if q else 5)
    cfg.steps = cfg.steps or (10 if q else 60 if not cfg.ab_tree else 40)
    cfg.warmup = cfg.warmup or (3 if q else 20 if not cfg.ab_tree else 10)
    cfg.gemm_n = cfg.gemm_n or (512 if q else 2048)
    cfg.phase_reps = cfg.phase_reps or (5 if q else 30)
    cfg.profile_steps = 10 if q else 100
    cfg.ab_rounds = cfg.ab_rounds or (2 if q else 6)
    cfg.models = cfg.models or ("ae" if q else "ae,dae,sparse_l1,sparse_kl,vae")
    cfg.fit_rows = cfg.fit_rows or (1024 if q else 20_000)
    cfg.fit_epochs = cfg.fit_epochs or (1 if q else 2)
    cfg.fit_repeats = cfg.fit_repeats or (2 if q else 3)
    cfg.fit_budget_s = 5.0 if q else 25.0  # per model and batch: extra rounds only while a round is short
    cfg.triad_n = cfg.triad_n or (2**20 if q else 2**24)
    cfg.loss_rows = 5000 if q else None  # the test-loss fits: all training rows unless quick
    return cfg


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    cfg = parse_args(argv)
    H.WAIT.budget_s = max(0.0, cfg.wait_quiet)
    H.limit_threads(cfg.threads, torch_too=not cfg.ab_worker)
    if cfg.ab_worker:
        return ab_worker(cfg)
    log = H.logger("run.py")
    if cfg.ab_tree:
        return ab_compare(cfg, argv, log)
    if cfg.suite == "issue23":
        import suite_issue23

        return suite_issue23.run(cfg, argv, log)

    started = time.perf_counter()
    machine = H.machine_info()
    arms = H.npae_arms()
    batch_sizes = [int(b) for b in cfg.batch_sizes.split(",") if b.strip()]
    if 128 not in batch_sizes:
        batch_sizes.insert(0, 128)
    q = cfg.quick

    Xtr, source = H.load_data("train")
    Xte, _ = H.load_data("test")
    log(f"data: train {Xtr.shape}, test {Xte.shape} from {source}; arms {', '.join(arms)} and torch")

    H.WAIT()
    peak = H.gemm_peak(cfg.gemm_n, 3 if q else 7)
    log(f"GEMM peak GFLOP/s: numpy {peak['numpy']['best']:.0f}, torch {peak['torch']['best']:.0f}")

    parity = parity_check(Xtr, arms)
    log("parity: " + ", ".join(f"{a} {b:.6f}" for a, (b, _) in parity.items()))

    train = {}
    for bs in batch_sizes:
        steps = max(1, cfg.steps * 128 // bs)
        H.WAIT()
        train[bs] = training_throughput(Xtr, bs, steps, cfg.warmup, cfg.repeats, 20 if q else 60, arms)
        log(f"train batch {bs}: " + ", ".join(f"{a} {train[bs][a]['best']:,.0f}" for a in (*arms, "torch"))
            + " samples/s (best)")

    H.WAIT()
    infer = inference_throughput(Xtr, Xte, max(cfg.repeats, 3), 10 if q else 30, arms)
    log("inference: " + "; ".join(f"{k} " + ", ".join(f"{a} {v[a]['best']:,.0f}" for a in (*arms, "torch"))
                                  for k, v in infer.items()))

    H.WAIT()
    bw = {"optimizer": H.triad_bandwidth(N_PARAMS, 3 if q else 7),
          "memory": H.triad_bandwidth(cfg.triad_n, 3 if q else 5)}
    log(f"triad bandwidth GB/s: {bw['optimizer']['best']:.1f} at {N_PARAMS:,} elements, "
        f"{bw['memory']['best']:.1f} at {cfg.triad_n:,}")

    extra = {"bw": bw, "e2e": {}, "tb": None}
    Xfit = Xtr[:cfg.fit_rows]
    if not cfg.skip_fit:
        Xfit = Xtr[:cfg.fit_rows]
        fit_batches = [int(b) for b in cfg.fit_batch_sizes.split(",") if b.strip()]
        for name in H.parse_models(cfg.fit_models, E2E.FIT_MODELS):
            R.check_layers(name, H.make_npae(name).partial_fit(Xtr[:128]))
            for bs in fit_batches:
                H.WAIT()
                res = E2E.fit_throughput(name, Xfit, bs, cfg.fit_epochs, cfg.fit_repeats, cfg.fit_budget_s, arms)
                extra["e2e"][(name, bs)] = res
                log(f"fit {name} batch {bs}: " + ", ".join(f"{a} {res[a]['best']:,.0f}" for a in (*arms, "torch"))
                    + f" samples/s (best); fast ÷ torch paired {res['paired'][('fast', 'torch')]:.2f}")
        if cfg.torch_backend_batch:
            H.WAIT()
            tb = E2E.torch_backend_fit("ae", Xfit, cfg.torch_backend_batch, cfg.fit_epochs, cfg.fit_repeats,
                                       cfg.fit_budget_s)
            extra["tb"] = tb
            log(f"fit ae on npae's torch backend: {tb['npae_torch']['best']:,.0f} vs PyTorch {tb['torch']['best']:,.0f}"
                " samples/s (best)")
    meta_fit_rows = min(cfg.fit_rows, Xtr.shape[0])

    fit = train_to_test_loss(Xtr if cfg.loss_rows is None else Xtr[:cfg.loss_rows], Xte, cfg.epochs, arms)
    log(f"test loss after {cfg.epochs} epoch(s): " + ", ".join(f"{a} {v['test']:.3f}" for a, v in fit.items()))

    phases = phase_breakdown(Xtr, cfg.phase_reps, arms, log)
    log("timed the phases of a training step")

    slower = train[128]["fast"]["best"] < train[128]["torch"]["best"]
    profile = profile_fit = None
    fit_slower = ("ae", 128) in extra["e2e"] and (extra["e2e"][("ae", 128)]["fast"]["best"]
                                                  < extra["e2e"][("ae", 128)]["torch"]["best"])
    if cfg.profile == "always" or (cfg.profile == "auto" and (slower or fit_slower)):
        profile = profile_npae_steps(Xtr, cfg.profile_steps)
        profile_fit = profile_npae_fit(Xfit, cfg.fit_epochs)
        log("profiled npae training steps and an AE fit")

    meta = {"command": H.command_line("run.py", argv), "machine": machine, "arms": arms,
            "n_train": Xtr.shape[0], "n_test": Xte.shape[0], "data_source": source, "fit_rows": meta_fit_rows,
            "load_end": ", ".join(f"{v:.2f}" for v in os.getloadavg()),
            "wall_s": time.perf_counter() - started}
    extra["profile_fit"] = profile_fit
    report = build_report(cfg, meta, peak, parity, train, infer, fit, phases, profile, extra)
    print(report)
    for path in H.write_report(report, cfg.out, H.host_section(SECTION, machine["host_kind"]),
                               results=cfg.out is None and not q, demote=2):
        log(f"wrote {path}")
    return 0


if __name__ == "__main__":
    H.reexec_without_openblas_env()
    sys.exit(main())
