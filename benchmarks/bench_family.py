"""Training throughput of the model family: npae fast, npae reference and PyTorch twins in one run.

    python benchmarks/bench_family.py --wait-quiet 30      # full run; writes benchmarks/out/family.md
    python benchmarks/bench_family.py --results            # … and its section of RESULTS.md
    python benchmarks/bench_family.py --quick              # smoke run

Models (``harness.make_npae``; float32, batch 128, Adam lr 1e-3, Fashion-MNIST rows in [0, 1],
BCE on logits):

* ``ae``: the plain autoencoder 784-512-128-32 ReLU (identity code), the row of ``run.py``;
* ``dae``: the same network with Gaussian corruption, ``DenoisingAutoencoder(noise="gaussian",
  noise_level=0.3)``: x̃ = clip(x + 0.3·ε, 0, 1); the twin draws ε with ``torch.randn_like``;
* ``sparse_l1`` / ``sparse_kl``: 784-512-128-32 with a sigmoid code and the L1 activity penalty
  (λ = 0.1) or the KL sparsity penalty (β = 0.1, ρ = 0.05), ``SparseAutoencoder``;
* ``vae``: ``VAE(hidden_sizes=(400,), latent_dim=20)``, 784-400-(20, 20)-20-400-784 ReLU,
  Bernoulli likelihood, β = 1; the twin draws eps with ``torch.randn_like``.

Three arms per model, timed in interleaved blocks of optimizer steps (``harness.paired_timing``):
npae with its kernels (*fast*), npae on its reference code (*reference*,
``npae.set_kernels("reference")``; absent on a checkout without the switch) and the PyTorch twin
(``twins.family_twin``), written as a PyTorch user would (``nn.Linear``, autograd,
``torch.optim.Adam``, the penalty as a formula of the code), from the same He-uniform weight
scheme and checked once against npae with copied weights and the same noise (loss and
first-kernel gradient). Then the phases of one npae step are timed alone in both npae arms, so
the hot spots and what the kernels buy show.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time
from pathlib import Path

import harness as H
import numpy as np
import torch
from twins import FAMILY, copy_weights, family_twin, make_step

BATCH = 128
OUT = H.OUT_DIR / "family.md"
SECTION = "bench_family.py"


def built(name: str, xb: np.ndarray, arm: str = "fast"):
    """The npae model ``name``, parameters created by one ``partial_fit`` step under ``arm``."""
    with H.kernels(arm):
        model = H.make_npae(name, batch_size=BATCH)
        model.partial_fit(xb)
    return model


# ------------------------------------------------------------------------------------ checks
def parity(name: str, xb: np.ndarray) -> dict:
    """Copied weights, same batch and noise: relative differences of loss and first-kernel gradient."""
    model = built(name, xb)
    twin, loss_fn = family_twin(name)
    copy_weights(twin, model)
    rng = np.random.default_rng(1)
    tx = torch.from_numpy(xb)
    if name == "dae":
        eps = rng.standard_normal(xb.shape, dtype=np.float32)
        x_noisy = np.clip(xb + np.float32(H.NOISE_LEVEL) * eps, 0.0, 1.0)
        loss, grads = model.loss_and_grad(x_noisy, target=xb)
        noise = torch.from_numpy(eps)
    elif name == "vae":
        eps = rng.standard_normal((xb.shape[0], 20), dtype=np.float32)
        loss, grads = model.loss_and_grad(xb, eps=eps)
        noise = torch.from_numpy(eps)
    else:
        loss, grads = model.loss_and_grad(xb)
        noise = None
    twin.zero_grad()
    loss_t = loss_fn(tx, noise=noise)
    loss_t.backward()
    g_np = np.asarray(grads["encoder.0.W"])
    g_t = twin.linears()[0].weight.grad.numpy().T
    return {"loss_npae": loss, "loss_torch": float(loss_t),
            "loss_rel": abs(loss / float(loss_t) - 1.0),
            "grad_rel": float(np.linalg.norm(g_np - g_t) / (np.linalg.norm(g_np) + np.linalg.norm(g_t)))}


# ------------------------------------------------------------------------------------ timing
def throughput(name: str, batches, steps: int, warmup: int, repeats: int, budget_s: float, arms) -> dict:
    """Samples/s of every arm (npae arms and the twin), blocks of ``steps`` steps interleaved."""
    tbatches = [torch.from_numpy(b) for b in batches]
    fns = {arm: H.in_mode(arm, H.step_runner(built(name, batches[0], arm), batches)) for arm in arms}
    tstep = make_step(*family_twin(name))

    def run_torch(k):
        for i in range(k):
            tstep(tbatches[i % len(tbatches)])

    fns["torch"] = run_torch
    for fn in fns.values():
        fn(warmup)
    rec = H.paired_timing({arm: (lambda fn=fn: fn(steps)) for arm, fn in fns.items()}, repeats, budget_s)
    return H.summarize_arms(rec, steps * BATCH)


def phase_list(name: str, model, xb: np.ndarray) -> list:
    """The phases of one npae training step (model internals: this is a profiler). A phase whose
    internal is gone fails its warm-up and is left out by ``harness.time_phases``."""
    for _ in range(3):
        model.train_step(xb)
    pairs = model._parameter_gradient_pairs()
    rng = np.random.default_rng(2)

    def objective():
        model.zero_grad()
        model._training_objective(xb)

    phases = [("whole step (`train_step`)", lambda: model.train_step(xb)),
              ("`zero_grad()`", model.zero_grad),
              ("zero_grad + objective and its backward (`_training_objective`)", objective)]
    if name == "dae":
        phases.append(("corruption alone (public `corrupt`: checks, draw, clip)",
                       lambda: model.corrupt(xb, random_state=rng)))
    elif name.startswith("sparse"):
        def penalty():
            z = model._code_logits(xb)
            h = model.encoder_.layers[-1].forward(z)
            return model._penalty(h, z), model._penalty_grad(h, z)

        phases.append(("code logits, penalty value + dS/dh (`_penalty`, `_penalty_grad`)", penalty))
    phases.append(("Adam update", lambda: model.optimizer_.step(pairs)))
    return phases


def torch_phases(name: str, xb: np.ndarray) -> list:
    tstep = make_step(*family_twin(name))
    tx = torch.from_numpy(xb)
    for _ in range(3):
        tstep(tx)
    phases = [("PyTorch whole step", lambda: tstep(tx))]
    if name == "dae":
        phases.append(("PyTorch: `randn_like` + clamp",
                       lambda: (tx + H.NOISE_LEVEL * torch.randn_like(tx)).clamp_(0, 1)))
    return phases


def profile_steps(name: str, batches, steps: int, top: int = 14) -> str:
    model = built(name, batches[0])
    with H.kernels("fast"):
        for b in batches[:3]:
            model.train_step(b)
        prof = cProfile.Profile()
        prof.enable()
        for i in range(steps):
            model.train_step(batches[i % len(batches)])
        prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).strip_dirs().sort_stats("tottime").print_stats(top)
    lines = [line for line in buf.getvalue().splitlines() if line.strip()]
    start = next((i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls")), 0)
    return "\n".join(lines[start:])


# ------------------------------------------------------------------------------------ report
def report(cfg, meta, checks, train, phases, profiles) -> str:
    arms = meta["arms"]
    lines = []
    add = lines.append
    add("# npae fast vs npae reference vs PyTorch: the model family (`bench_family.py`)")
    add("")
    if cfg.quick:
        add("> **Quick smoke run** (`--quick`): few steps; not reference figures.")
        add("")
    add(f"Generated by `benchmarks/bench_family.py`. Float32, batch {BATCH}, Adam lr 1e-3, {cfg.threads} threads "
        "(threadpoolctl, `torch.set_num_threads`). " + H.timing_method(cfg.repeats))
    add("")
    lines += H.machine_lines(meta["machine"], meta["command"])
    add(f"- Wall time {meta['wall_s']:.0f} s ({H.WAIT.waited_s:.0f} s waiting for quiet); data: {meta['data']}")
    if len(arms) == 1:
        add("- This npae has no `set_kernels`: only its (fast) path and the twins were timed.")
    add("")
    add("## Training throughput (samples/s)")
    add("")
    add(f"Blocks of {cfg.steps} optimizer steps after {cfg.warmup} warm-up steps.")
    add("")
    lines += H.arm_table("model", [(f"`{name}`: {H.MODELS[name]}", res) for name, res in train.items()],
                         (*arms, "torch"))
    add("")
    add("## Twin parity (copied weights, same batch and noise, one loss and gradient, fast arm)")
    add("")
    add("| model | npae loss | torch loss | rel. diff loss | rel. diff dL/dW₁ (norm-wise) |")
    add("|---|---:|---:|---:|---:|")
    for name, c in checks.items():
        add(f"| `{name}` | {c['loss_npae']:.4f} | {c['loss_torch']:.4f} | {c['loss_rel']:.1e} | {c['grad_rel']:.1e} |")
    add("")
    add("## Where an npae step's time goes (batch 128)")
    add("")
    add(f"Each phase timed on its own, best / median of {cfg.phase_reps} calls, ms, in both npae arms; share "
        "of the whole fast step (best). Phases are parts of the step and may overlap (the objective row "
        "contains the penalty and, for the DAE, the corruption).")
    for name, per_arm in phases.items():
        add("")
        add(f"### `{name}`")
        add("")
        ref = {p: (b, m, load) for p, b, m, load in per_arm.get("reference", [])}
        whole = per_arm["fast"][0][1] if per_arm["fast"] else float("nan")
        add("| phase | fast best / median ms | " + ("reference best / median ms | reference ÷ fast | " if ref else "")
            + "share of the fast step | other load (cores) |")
        add("|---|---:|" + ("---:|---:|" if ref else "") + "---:|---:|")
        for phase, best, med, load in per_arm["fast"]:
            cells = [phase, f"{best:.3f} / {med:.3f}"]
            if ref:
                rb, rm, rl = ref.get(phase, (float("nan"),) * 3)
                cells += [f"{rb:.3f} / {rm:.3f}", f"{rb / best:.2f}×"]
                load = max(load, rl)
            cells += [f"{100 * best / whole:.0f}%", f"{load:.2f}"]
            add("| " + " | ".join(cells) + " |")
        for phase, best, med, load in per_arm["torch"]:
            cells = [phase, f"{best:.3f} / {med:.3f}"] + (["–", "–"] if ref else [])
            add("| " + " | ".join(cells + [f"{100 * best / whole:.0f}%", f"{load:.2f}"]) + " |")
    if profiles:
        add("")
        add("## cProfile of npae training steps (fast kernels, sorted by own time)")
        for name, text in profiles.items():
            add("")
            add(f"### `{name}`")
            add("")
            add("```")
            add(text)
            add("```")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 rounds of a few steps")
    parser.add_argument("--models", default=",".join(FAMILY), help=f"comma-separated subset of {','.join(FAMILY)}")
    parser.add_argument("--repeats", type=int, default=None, help="timing rounds (5; quick: 2)")
    parser.add_argument("--steps", type=int, default=None, help="steps per block (40; quick: 5)")
    parser.add_argument("--warmup", type=int, default=None, help="warm-up steps (10; quick: 2)")
    parser.add_argument("--phase-reps", type=int, default=None, help="calls per phase timing (30; quick: 3)")
    parser.add_argument("--profile", action="store_true", help="add a cProfile listing per model")
    parser.add_argument("--out", type=Path, default=OUT, help=f"markdown output (default {OUT})")
    parser.add_argument("--results", action="store_true", help="also write this report's section of RESULTS.md")
    H.add_common_arguments(parser)
    cfg = parser.parse_args(argv)
    q = cfg.quick
    cfg.repeats = cfg.repeats or (2 if q else 5)
    cfg.steps = cfg.steps or (5 if q else 40)
    cfg.warmup = cfg.warmup or (2 if q else 10)
    cfg.phase_reps = cfg.phase_reps or (3 if q else 30)
    names = H.parse_models(cfg.models, FAMILY)

    H.WAIT.budget_s = max(0.0, cfg.wait_quiet)
    H.limit_threads(cfg.threads)
    started = time.perf_counter()
    machine = H.machine_info()
    arms = H.npae_arms()
    log = H.logger("bench_family")

    X, source = H.load_data("train", rows=BATCH * 100)
    batches = H.batches_of(X, BATCH)
    log(f"data: {X.shape} from {source}; arms {', '.join(arms)} and torch")

    checks, train, phases, profiles = {}, {}, {}, {}
    for name in names:
        checks[name] = parity(name, batches[0])
        H.WAIT()
        train[name] = throughput(name, batches, cfg.steps, cfg.warmup, cfg.repeats, 15 if q else 60, arms)
        res = train[name]
        log(f"{name}: " + ", ".join(f"{a} {res[a]['best']:,.0f}" for a in (*arms, "torch")) + " samples/s (best); "
            f"fast ÷ torch paired {res['paired'][('fast', 'torch')]:.2f}"
            + (f", fast ÷ reference paired {res['paired'][('fast', 'reference')]:.2f}" if "reference" in arms else "")
            + f"; parity loss {checks[name]['loss_rel']:.1e}, grad {checks[name]['grad_rel']:.1e}")
    for name in names:
        per_arm = {}
        for arm in arms:
            model = built(name, batches[0], arm)
            with H.kernels(arm):
                per_arm[arm] = H.time_phases(phase_list(name, model, batches[0]), cfg.phase_reps, log)
        per_arm["torch"] = H.time_phases(torch_phases(name, batches[0]), cfg.phase_reps, log)
        phases[name] = per_arm
        log(f"{name} phases (fast): " + ", ".join(f"{p.split(' (')[0]} {b:.2f}" for p, b, _, _ in per_arm["fast"]))
        if cfg.profile:
            profiles[name] = profile_steps(name, batches, 10 if q else 60)

    meta = {"command": H.command_line("bench_family.py", argv), "machine": machine, "arms": arms,
            "wall_s": time.perf_counter() - started, "data": source}
    text = report(cfg, meta, checks, train, phases, profiles)
    print(text)
    for path in H.write_report(text, cfg.out, SECTION, results=cfg.results and not q):
        log(f"wrote {path}")
    return 0


if __name__ == "__main__":
    H.reexec_without_openblas_env()
    sys.exit(main())
