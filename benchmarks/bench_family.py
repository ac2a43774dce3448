"""Training throughput of the model family against PyTorch twins, side by side in one run.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /work/venv/bin/python benchmarks/bench_family.py
    python benchmarks/bench_family.py --quick          # smoke run

Models (float32, batch 128, Adam lr 1e-3, 2 threads, Fashion-MNIST rows in [0, 1], BCE on logits):

* ``ae``: the plain autoencoder 784-512-128-32 ReLU (identity code), the reference row of
  ``benchmarks/run.py``;
* ``dae``: the same network with Gaussian corruption, ``DenoisingAutoencoder(noise="gaussian",
  noise_level=0.3)``: x̃ = clip(x + 0.3·ε, 0, 1); the twin draws ε with ``torch.randn_like``;
* ``sparse_l1`` / ``sparse_kl``: 784-512-128-32 with a sigmoid code and the L1 activity penalty
  (λ = 0.1) or the KL sparsity penalty (β = 0.1, ρ = 0.05), ``SparseAutoencoder``;
* ``vae``: ``VAE(hidden_sizes=(400,), latent_dim=20)``, 784-400-(20, 20)-20-400-784 ReLU,
  Bernoulli likelihood, β = 1; the twin draws eps with ``torch.randn_like``.

Each twin is written as a PyTorch user would (``nn.Linear``, autograd, ``torch.optim.Adam``,
the penalty as a formula of the code), starts from the same He-uniform weight scheme, and is
checked once against npae with copied weights and the same noise (loss and first-kernel gradient).
npae and the twin are timed in alternating blocks of optimizer steps with the quiet-block method
of ``benchmarks/run.py`` (importing it also re-executes this script without
``OPENBLAS_CORETYPE``/``OPENBLAS_L2_SIZE``). Then every phase of one npae step is timed on its
own, so the hot spots show. Writes a markdown report to ``benchmarks/out/family.md``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import argparse
import cProfile
import datetime
import io
import os
import platform
import pstats
import statistics
import time

import numpy as np
import run as R
import threadpoolctl
import torch
from torch import nn
from torch.nn import functional as F
from twins import he_uniform_

import npae
from npae import backend as B
from npae.models.autoencoder import Autoencoder
from npae.models.denoising import DenoisingAutoencoder
from npae.models.sparse import SparseAutoencoder
from npae.models.variational import (
    VAE,
    clamp_log_var,
    clamp_log_var_grad,
    gaussian_kl,
    gaussian_kl_grad,
    reparameterize,
    reparameterize_grad,
)

HERE = Path(__file__).resolve().parent
OUT = HERE / "out" / "family.md"
BATCH = 128
NOISE_LEVEL = 0.3
L1_WEIGHT, KL_WEIGHT, RHO = 0.1, 0.1, 0.05
MODELS = ("ae", "dae", "sparse_l1", "sparse_kl", "vae")
DESCRIPTIONS = {
    "ae": "AE 784-512-128-32 ReLU, identity code",
    "dae": f"DAE, same net, Gaussian noise σ = {NOISE_LEVEL}, clipped to [0, 1]",
    "sparse_l1": f"sparse, 784-512-128-32, sigmoid code, L1 λ = {L1_WEIGHT}",
    "sparse_kl": f"sparse, 784-512-128-32, sigmoid code, KL β = {KL_WEIGHT}, ρ = {RHO}",
    "vae": "VAE 784-400-20 ReLU, Bernoulli, β = 1",
}


# ------------------------------------------------------------------------------------ npae
def make_npae(name: str, seed: int = 0):
    common = dict(optimizer="adam", learning_rate=1e-3, batch_size=BATCH, epochs=1, dtype="float32",
                  random_state=seed, backend="numpy", verbose=0)
    ae = dict(hidden_sizes=(512, 128), latent_dim=32, activation="relu", loss="bce", **common)
    if name == "ae":
        return Autoencoder(**ae)
    if name == "dae":
        return DenoisingAutoencoder(noise="gaussian", noise_level=NOISE_LEVEL, **ae)
    if name == "sparse_l1":
        return SparseAutoencoder(latent_activation="sigmoid", sparsity="l1", sparsity_weight=L1_WEIGHT, **ae)
    if name == "sparse_kl":
        return SparseAutoencoder(latent_activation="sigmoid", sparsity="kl", sparsity_weight=KL_WEIGHT,
                                 target_sparsity=RHO, **ae)
    if name == "vae":
        return VAE(hidden_sizes=(400,), latent_dim=20, activation="relu", likelihood="bernoulli", **common)
    raise ValueError(f"unknown model {name!r}; expected one of {MODELS}")


# ------------------------------------------------------------------------------------ twins
def _stack(sizes, last):
    """Linear layers with ReLU between them; ``last`` is the module after the final Linear."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    if last is not None:
        layers.append(last)
    return nn.Sequential(*layers)


def _init(module: nn.Module, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, nn.Linear):
            he_uniform_(m, generator)


class AEFamilyTwin(nn.Module):
    """D-512-128-32 encoder (code: identity or sigmoid), mirrored decoder with linear output."""

    def __init__(self, n_features: int = 784, code: str = "identity", seed: int = 0):
        super().__init__()
        sizes = (n_features, 512, 128, 32)
        self.encoder = _stack(sizes, nn.Sigmoid() if code == "sigmoid" else None)
        self.decoder = _stack(sizes[::-1], None)
        _init(self, seed)

    def linears(self):
        return [m for part in (self.encoder, self.decoder) for m in part if isinstance(m, nn.Linear)]


class VAETwin(nn.Module):
    """784-400 ReLU encoder, mu and log_var heads (400 → 20), 20-400-784 decoder (logits)."""

    def __init__(self, n_features: int = 784, hidden: int = 400, latent: int = 20, seed: int = 0):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(n_features, hidden), nn.ReLU())
        self.mu = nn.Linear(hidden, latent)
        self.logvar = nn.Linear(hidden, latent)
        self.decoder = _stack((latent, hidden, n_features), None)
        _init(self, seed)

    def linears(self):
        return [self.encoder[0], self.mu, self.logvar] + [m for m in self.decoder if isinstance(m, nn.Linear)]


def _bce(logits, x):
    return F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / x.shape[0]


def make_twin(name: str, seed: int = 0):
    """(module, loss_fn(x, noise=None) -> 0-d tensor); ``noise`` fixes ε / eps for parity checks."""
    if name == "vae":
        twin = VAETwin(seed=seed)

        def loss_fn(x, noise=None):
            h = twin.encoder(x)
            mu, log_var = twin.mu(h), twin.logvar(h).clamp(-30.0, 20.0)
            eps = torch.randn_like(mu) if noise is None else noise
            z = mu + torch.exp(0.5 * log_var) * eps
            kl = -0.5 * torch.sum(1.0 + log_var - mu * mu - log_var.exp()) / x.shape[0]
            return _bce(twin.decoder(z), x) + kl

        return twin, loss_fn
    twin = AEFamilyTwin(code="sigmoid" if name.startswith("sparse") else "identity", seed=seed)
    if name == "ae":
        return twin, lambda x, noise=None: _bce(twin.decoder(twin.encoder(x)), x)
    if name == "dae":
        def loss_fn(x, noise=None):
            eps = torch.randn_like(x) if noise is None else noise
            x_noisy = (x + NOISE_LEVEL * eps).clamp_(0.0, 1.0)
            return _bce(twin.decoder(twin.encoder(x_noisy)), x)

        return twin, loss_fn
    if name == "sparse_l1":
        def loss_fn(x, noise=None):
            h = twin.encoder(x)
            return _bce(twin.decoder(h), x) + L1_WEIGHT * h.abs().sum(dim=1).mean()

        return twin, loss_fn
    if name == "sparse_kl":
        def loss_fn(x, noise=None):
            h = twin.encoder(x)
            rho_hat = h.mean(dim=0)
            kl = (RHO * torch.log(RHO / rho_hat) + (1 - RHO) * torch.log((1 - RHO) / (1 - rho_hat))).sum()
            return _bce(twin.decoder(h), x) + KL_WEIGHT * kl

        return twin, loss_fn
    raise ValueError(f"unknown model {name!r}")


def make_step(twin: nn.Module, loss_fn):
    optimizer = torch.optim.Adam(twin.parameters(), lr=1e-3)

    def step(x):
        optimizer.zero_grad()
        loss = loss_fn(x)
        loss.backward()
        optimizer.step()
        return loss

    return step


def copy_weights(twin: nn.Module, model) -> None:
    """npae's kernels (in, out) into the twin's Linear layers (out, in), in ``_named_layers`` order."""
    layers = [layer for _, layer in model._named_layers()]
    linears = twin.linears()
    if len(layers) != len(linears):
        raise RuntimeError(f"{len(layers)} npae layers but {len(linears)} twin layers")
    with torch.no_grad():
        for layer, linear in zip(layers, linears):
            linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(np.asarray(layer.params["W"]).T)))
            linear.bias.copy_(torch.from_numpy(np.array(layer.params["b"])))


def build(model, xb):
    """Create the parameters (and, for the DAE, its noise layer) with one partial_fit step."""
    model.partial_fit(xb)
    return model


# ------------------------------------------------------------------------------------ checks
def parity(name: str, xb: np.ndarray) -> dict:
    """Copied weights, same batch and noise: relative differences of loss and first-kernel gradient."""
    model = build(make_npae(name), xb)
    twin, loss_fn = make_twin(name)
    copy_weights(twin, model)
    rng = np.random.default_rng(1)
    tx = torch.from_numpy(xb)
    if name == "dae":
        eps = rng.standard_normal(xb.shape, dtype=np.float32)
        x_noisy = np.clip(xb + np.float32(NOISE_LEVEL) * eps, 0.0, 1.0)
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
def throughput(name: str, batches, steps: int, warmup: int, repeats: int, budget_s: float) -> dict:
    tbatches = [torch.from_numpy(b) for b in batches]
    model = build(make_npae(name), batches[0])
    twin, loss_fn = make_twin(name)
    tstep = make_step(twin, loss_fn)
    return R.paired_step_throughput(model, tstep, batches, tbatches, steps, warmup, repeats, budget_s)


def time_phases(phases, reps: int) -> list:
    """[(name, best ms, median ms, other load)] of each callable, retried while the machine is busy."""
    out = []
    for name, fn in phases:
        fn()  # warm-up
        attempts = []
        for _ in range(3):
            R.WAIT(5.0)
            times = []
            snapshot = R._cpu_snapshot()
            for _ in range(reps):
                t0 = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t0)
            load = R._since(snapshot)[1]
            attempts.append((1e3 * min(times), 1e3 * statistics.median(times), load))
            if load < R.QUIET:
                break
        best, med, load = min(attempts)
        out.append((name, best, med, load))
    return out


def phase_list(name: str, xb: np.ndarray) -> list:
    """The phases of one npae training step (model internals: this is a profiler), and the twin's."""
    model = build(make_npae(name), xb)
    for _ in range(3):
        model.train_step(xb)
    twin, loss_fn = make_twin(name)
    tstep = make_step(twin, loss_fn)
    tx = torch.from_numpy(xb)
    pairs = model._parameter_gradient_pairs()
    rng = np.random.default_rng(2)
    phases = [("npae whole step (`train_step`)", lambda: model.train_step(xb)),
              ("zero_grad(set_to_none=True)", lambda: model.zero_grad(set_to_none=True))]

    if name == "dae":
        layer = model.noise_layer_
        eps = layer._draw(xb, rng)["noise"]
        x_noisy = layer.forward(xb, noise=eps)
        phases += [
            ("noise draw ε ~ N(0, 1), 128×784 (`GaussianNoise._draw`)", lambda: layer._draw(xb, rng)),
            ("corruption clip(x + σε) and its mask (`forward(noise=ε)`)", lambda: layer.forward(xb, noise=eps)),
            ("forward + loss + backward (`_forward_backward`)",
             lambda: (model.zero_grad(set_to_none=True), model._forward_backward(x_noisy, target=xb))),
        ]
        torch_extra = [("torch: `randn_like` + clamp", lambda: (tx + NOISE_LEVEL * torch.randn_like(tx)).clamp_(0, 1))]
    elif name.startswith("sparse"):
        z = model._code_logits(xb)
        h = model.encoder_.layers[-1].forward(z)
        phases += [
            ("penalty value + dS/dh on the code, 128×32", lambda: (model._penalty(h, z), model._penalty_grad(h, z))),
            ("forward + loss + backward (`_forward_backward`)", lambda: (model.zero_grad(set_to_none=True), model._forward_backward(xb))),
        ]
        torch_extra = []
    elif name == "vae":
        h = model.encoder_.forward(xb)
        raw = model.logvar_head_.forward(h)
        mu, log_var = model.mu_head_.forward(h), clamp_log_var(raw)
        eps = B.standard_normal(rng, tuple(mu.shape), like=mu)
        z, _ = reparameterize(mu, log_var, eps)
        y = model.decoder_.forward(z)
        dz = np.asarray(model.decoder_.backward(model._nll_grad(xb, y) * (1.0 / BATCH)))

        def junction():
            reparameterize(mu, log_var, eps)
            gaussian_kl(mu, log_var)
            dmu, dlv = reparameterize_grad(dz, log_var, eps)
            dmu_kl, dlv_kl = gaussian_kl_grad(mu, log_var)
            clamp_log_var_grad(dlv + dlv_kl, raw)
            return dmu + dmu_kl

        phases += [
            ("eps draw, 128×20 (`backend.standard_normal`)", lambda: B.standard_normal(rng, tuple(mu.shape), like=mu)),
            ("junction: clamp, reparameterize, KL and their gradients (128×20)", junction),
            ("NLL value + gradient (BCE on logits, 128×784)", lambda: (model._nll(xb, y), model._nll_grad(xb, y))),
            ("forward + loss + backward (`_forward_backward`)", lambda: (model.zero_grad(set_to_none=True), model._forward_backward(xb))),
        ]
        torch_extra = []
    else:
        phases += [("forward + loss + backward (`_forward_backward`)",
                     lambda: (model.zero_grad(set_to_none=True), model._forward_backward(xb)))]
        torch_extra = []
    phases += [("Adam update", lambda: model.optimizer_.step(pairs)),
               ("torch whole step", lambda: tstep(tx))] + torch_extra
    return phases


def profile_steps(name: str, batches, steps: int, top: int = 14) -> str:
    model = build(make_npae(name), batches[0])
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
    lines = []
    add = lines.append
    add("# npae vs PyTorch: the model family (DAE, sparse, VAE)")
    add("")
    if cfg.quick:
        add("> **Quick smoke run** (`--quick`): few steps; not reference figures.")
        add("")
    add("Generated by `benchmarks/bench_family.py` (timing method of `benchmarks/run.py`: npae and its "
        "twin in alternating blocks; *best* = min time, *median* = median of the quiet blocks, other "
        f"processes using < {R.QUIET} cores). Float32, batch {BATCH}, Adam lr 1e-3, "
        f"{R.THREADS} threads (threadpoolctl, `torch.set_num_threads`), Fashion-MNIST training rows.")
    add("")
    add(f"- Command: `{meta['command']}`")
    add(f"- Date: {meta['date']}; wall time {meta['wall_s']:.0f} s ({meta['waited_s']:.0f} s waiting for quiet); "
        f"load average at start / end: {meta['load_start']} / {meta['load_end']}")
    add(f"- CPU: {R.cpu_model()} ({os.cpu_count()} logical CPUs); Python {platform.python_version()}, "
        f"numpy {np.__version__}, torch {torch.__version__}, npae {npae.__version__}")
    add(f"- Environment: {meta['env_note']}; BLAS: "
        + "; ".join(f"{p['internal_api']} {p['version']} ({p['architecture']}, {p['num_threads']} threads)"
                    for p in meta["pools"] if p["user_api"] == "blas")
        + f"; torch {R.torch_blas()}")
    add("- GPU: not measured on a GPU (no device was lent to this session).")
    add("")
    add("## Training throughput (samples/s)")
    add("")
    add(f"Blocks of {cfg.steps} optimizer steps after {cfg.warmup} warm-up steps, at least {cfg.repeats} rounds. "
        "Target: ratio ≥ 1.3×.")
    add("")
    add("| model " + R.RATIO_HEADER)
    add("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, res in train.items():
        add(R.ratio_row(f"`{name}`: {DESCRIPTIONS[name]}", res))
    add("")
    add("## Twin parity (copied weights, same batch and noise, one loss and gradient)")
    add("")
    add("| model | npae loss | torch loss | rel. diff loss | rel. diff dL/dW₁ (norm-wise) |")
    add("|---|---:|---:|---:|---:|")
    for name, c in checks.items():
        add(f"| `{name}` | {c['loss_npae']:.4f} | {c['loss_torch']:.4f} | {c['loss_rel']:.1e} | {c['grad_rel']:.1e} |")
    add("")
    add("## Where an npae step's time goes (batch 128)")
    add("")
    add(f"Each phase timed on its own, best / median of {cfg.phase_reps} calls, ms; share of the whole npae "
        "step (best). Phases are parts of the step (they overlap: the forward/backward row contains "
        "the penalty, noise rows are outside it).")
    for name, rows in phases.items():
        add("")
        add(f"### `{name}`")
        add("")
        add("| phase | best ms | median ms | share | other load (cores) |")
        add("|---|---:|---:|---:|---:|")
        whole = rows[0][1]
        for phase, best, med, load in rows:
            add(f"| {phase} | {best:.3f} | {med:.3f} | {100 * best / whole:.0f}% | {load:.2f} |")
    if profiles:
        add("")
        add("## cProfile of npae training steps (sorted by own time)")
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
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma-separated subset of {MODELS}")
    parser.add_argument("--repeats", type=int, default=None, help="timing rounds (5; quick: 2)")
    parser.add_argument("--steps", type=int, default=None, help="steps per block (40; quick: 10)")
    parser.add_argument("--warmup", type=int, default=None, help="warm-up steps (10; quick: 3)")
    parser.add_argument("--phase-reps", type=int, default=None, help="calls per phase timing (30; quick: 5)")
    parser.add_argument("--profile", action="store_true", help="add a cProfile listing per model")
    parser.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS",
                        help="total seconds the run may wait for other processes to go idle (default 0)")
    parser.add_argument("--out", default=str(OUT), help=f"markdown output (default {OUT})")
    parser.add_argument("--keep-openblas-env", action="store_true")
    cfg = parser.parse_args(argv)
    q = cfg.quick
    cfg.repeats = cfg.repeats or (2 if q else 5)
    cfg.steps = cfg.steps or (10 if q else 40)
    cfg.warmup = cfg.warmup or (3 if q else 10)
    cfg.phase_reps = cfg.phase_reps or (5 if q else 30)
    names = [n.strip() for n in cfg.models.split(",") if n.strip()]
    for n in names:
        if n not in MODELS:
            parser.error(f"unknown model {n!r}; choose from {', '.join(MODELS)}")

    R.WAIT.budget_s = max(0.0, cfg.wait_quiet)
    started = time.perf_counter()
    load_start = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    threadpoolctl.threadpool_limits(R.THREADS, user_api="blas")
    torch.set_num_threads(R.THREADS)
    was = os.environ.get(R._WAS_SET)
    env_note = (f"OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unset (the caller had {was.replace(';', ', ')})" if was
                else "OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE not set")
    if cfg.keep_openblas_env:
        env_note = "OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE kept as found"

    def log(msg):
        print(f"[{time.perf_counter() - started:6.1f}s] {msg}", file=sys.stderr, flush=True)

    X, source = R.load_fashion_mnist("train")
    X = X[:BATCH * 100]
    batches = [np.ascontiguousarray(X[s:s + BATCH]) for s in range(0, X.shape[0], BATCH)]
    log(f"data: {X.shape} from {source}")

    checks, train, phases, profiles = {}, {}, {}, {}
    for name in names:
        checks[name] = parity(name, batches[0])
        R.WAIT()
        train[name] = throughput(name, batches, cfg.steps, cfg.warmup, cfg.repeats, budget_s=15 if q else 40)
        a, b = train[name]["npae"], train[name]["torch"]
        log(f"{name}: npae {a['best']:.0f} torch {b['best']:.0f} samples/s, ratio {a['best'] / b['best']:.2f} "
            f"(median {a['median'] / b['median']:.2f}, load {max(a['load'], b['load']):.2f}); "
            f"parity loss {checks[name]['loss_rel']:.1e}, grad {checks[name]['grad_rel']:.1e}")
    for name in names:
        phases[name] = time_phases(phase_list(name, batches[0]), cfg.phase_reps)
        log(f"{name} phases: " + ", ".join(f"{p.split(' (')[0]} {b:.2f}" for p, b, _, _ in phases[name]))
        if cfg.profile:
            profiles[name] = profile_steps(name, batches, 10 if q else 60)

    unset = " ".join(f"-u {k}" for k in R._UNSET)
    meta = {"command": f"env {unset} {sys.executable} benchmarks/bench_family.py {' '.join(argv)}".rstrip(),
            "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
            "load_start": load_start, "load_end": ", ".join(f"{v:.2f}" for v in os.getloadavg()),
            "wall_s": time.perf_counter() - started, "waited_s": R.WAIT.waited_s,
            "env_note": env_note, "pools": R.blas_pools()}
    text = report(cfg, meta, checks, train, phases, profiles)
    print(text)
    out = Path(cfg.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    log(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
