"""Quality of the five npae models against PyTorch twins on Fashion-MNIST (issue 4, "Quality, measured").

    python benchmarks/quality.py                  # full run; writes benchmarks/out/quality.md
    python benchmarks/quality.py --quick          # smoke run: a subset, 1 epoch, one seed

Each model is trained with ``fit`` on the 60,000 training images and, beside it, a PyTorch twin
(``benchmarks/quality_twins.py``) with the same architecture, hyperparameters, initialisation
scheme, objective, optimizer (Adam, lr 1e-3, batch 128) and number of epochs (5), in float32.
Data order, initial draws and noise draws differ (each framework uses its own generator). The
test loss, per model, is the full training objective on the 10,000 test images:

* ae: mean_n Σ_d BCE(x_nd, y_nd) (BCE on logits summed over pixels);
* sparse_l1: that + λ · mean_n Σ_j |h_nj|;
* sparse_kl: that + β · Σ_j KL(ρ ‖ ρ̂_j), with ρ̂_j the mean code over the whole test set;
* denoising: the clean-target BCE of the reconstruction of a fixed Gaussian corruption of the
  test set, x̃ = clip(x + σ·ε, 0, 1) (one draw, the same for both);
* contractive: mean_n [BCE + λ ‖∂h_n/∂x_n‖²_F] (exact);
* vae: the negative ELBO with one sampled z per image; also −IWAE, the negative
  importance-weighted estimate of log p(x) with k = 100 on the first 1,000 test images.

Before training, every objective is compared number for number on the same weights (npae's
initial weights copied into the twin, float64, a 256-row batch; for the VAE the same eps; for
IWAE the same eps as npae draws them), so a ratio away from 1 cannot come from a different
definition. The criterion: the mean over seeds of npae's test loss within 2% of the twin's.

Data: ``npae.datasets.load_fashion_mnist`` (``harness.load_data``; the embedded subset where the
full files are not found). Writes ``benchmarks/out/quality.md`` (the table, command, date, CPU,
versions) and ``quality.json`` (every seed's figures and per-epoch training losses);
``--results`` also writes the table's section of RESULTS.md.
"""

from __future__ import annotations

import os
import sys

# Idle torch (OpenMP) threads sleep instead of spinning: on a machine shared with other jobs the
# default active wait made a twin's training step up to 60x slower (818 ms against 14 ms per
# step of the 784-256-32 autoencoder with two other jobs running). libgomp reads it at load time.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import math
import statistics
import time
from pathlib import Path

import harness as H
import numpy as np
import torch
from quality_twins import (
    AETwin,
    VAETwin,
    bce_rows,
    check_jacobian_sq_norm,
    copy_from_npae,
    jacobian_sq_norm,
    kl_sparsity,
    train_twin,
)

from npae.models.autoencoder import Autoencoder
from npae.models.contractive import ContractiveAutoencoder
from npae.models.denoising import DenoisingAutoencoder
from npae.models.sparse import SparseAutoencoder
from npae.models.variational import VAE

OUT_DIR = H.OUT_DIR
SECTION = "quality.py"
TOLERANCE = 0.02
NOISE_SEED = 12345  # the fixed corruption of the test set
EVAL_CHUNK = 1000

COMMON = {"optimizer": "adam", "learning_rate": 1e-3, "batch_size": 128, "dtype": "float32", "backend": "numpy",
          "verbose": 0}


# ---------------------------------------------------------------------- the five (six) models
class Spec:
    """One benchmarked model: its npae constructor, twin constructor, twin objective, evaluations."""

    def __init__(self, name, label, kind, npae_cls, kwargs):
        self.name, self.label, self.kind, self.npae_cls, self.kwargs = name, label, kind, npae_cls, kwargs

    def npae_model(self, seed, epochs, dtype="float32"):
        return self.npae_cls(**{**COMMON, **self.kwargs, "epochs": epochs, "random_state": seed, "dtype": dtype})

    def twin(self, n_features, seed, dtype=torch.float32):
        kw = self.kwargs
        if self.kind == "vae":
            return VAETwin(n_features, kw["hidden_sizes"], kw["latent_dim"], kw.get("activation", "relu"),
                           seed=seed, dtype=dtype)
        return AETwin(n_features, kw["hidden_sizes"], kw["latent_dim"], kw.get("activation", "relu"),
                      kw.get("latent_activation", "identity"), seed=seed, dtype=dtype)

    # -- the objective of one batch, as the twin trains on it
    def twin_objective(self, twin, x, g, *, x_in=None, eps=None):
        """Batch objective; ``x_in`` is the corrupted input (denoising), ``eps`` the VAE's noise."""
        kw = self.kwargs
        if self.kind == "vae":
            if eps is None:
                eps = torch.randn((x.shape[0], kw["latent_dim"]), generator=g, dtype=x.dtype)
            nll, kl = twin.terms(x, eps)
            return (nll + kl).mean()
        if self.kind == "denoising" and x_in is None:
            x_in = torch.clamp(x + kw["noise_level"] * torch.randn(x.shape, generator=g, dtype=x.dtype), 0.0, 1.0)
        h, zs = twin.encode_all(x if x_in is None else x_in)
        recon = bce_rows(x, twin.decode(h)).mean()
        return recon + self._penalty(twin, h, zs)

    def _penalty(self, twin, h, zs):
        kw = self.kwargs
        if self.kind == "sparse" and kw["sparsity"] == "l1":
            return kw["sparsity_weight"] * h.abs().sum(dim=1).mean()
        if self.kind == "sparse":
            return kw["sparsity_weight"] * kl_sparsity(h, kw["target_sparsity"])
        if self.kind == "contractive":
            return kw["contractive_weight"] * jacobian_sq_norm(twin, zs).mean()
        return torch.zeros((), dtype=h.dtype)

    # -- test figures
    def npae_eval(self, model, data, seed):
        """{"loss": …, and components} on the test set for a fitted npae model."""
        if self.kind == "denoising":
            return {"loss": model.loss_and_grad(data["noisy"], target=data["test"])[0]}
        if self.kind == "vae":
            out = {"loss": -float(np.mean(model.elbo(data["test"], random_state=seed + 1000)))}
            out["iwae"] = -float(np.mean(model.log_likelihood(data["iwae"], k=data["k"], random_state=seed + 2000)))
            return out
        return {k: float(v) for k, v in model.evaluate_logs(data["test"]).items()}

    @torch.no_grad()
    def twin_eval(self, twin, data, seed):
        X = torch.as_tensor(data["test"])
        g = torch.Generator().manual_seed(seed + 1000)
        n = X.shape[0]
        if self.kind == "vae":
            K = self.kwargs["latent_dim"]
            total = 0.0
            for x in X.split(EVAL_CHUNK):
                nll, kl = twin.terms(x, torch.randn((x.shape[0], K), generator=g, dtype=x.dtype))
                total += float((nll + kl).sum())
            k = data["k"]
            Xi = torch.as_tensor(data["iwae"])
            g2 = torch.Generator().manual_seed(seed + 2000)
            ll = [torch.logsumexp(twin.log_weights(x, k, g2), dim=0) - math.log(k) for x in Xi.split(100)]
            return {"loss": total / n, "iwae": -float(torch.cat(ll).mean())}
        if self.kind == "denoising":
            Xn = torch.as_tensor(data["noisy"])
            recon = sum(float(bce_rows(x, twin(xn)).sum()) for x, xn in zip(X.split(EVAL_CHUNK), Xn.split(EVAL_CHUNK)))
            return {"loss": recon / n}
        hs, recon, pen_rows = [], 0.0, 0.0
        for x in X.split(EVAL_CHUNK):
            h, zs = twin.encode_all(x)
            hs.append(h)
            recon += float(bce_rows(x, twin.decode(h)).sum())
            if self.kind == "contractive":
                pen_rows += float(jacobian_sq_norm(twin, zs).sum())
        recon /= n
        out = {"loss": recon, "reconstruction": recon}
        kw = self.kwargs
        if self.kind == "sparse":
            H = torch.cat(hs)
            if kw["sparsity"] == "l1":
                pen = kw["sparsity_weight"] * float(H.abs().sum(dim=1).mean())
            else:
                pen = kw["sparsity_weight"] * float(kl_sparsity(H, kw["target_sparsity"]))
            out.update(loss=recon + pen, sparsity=pen)
        elif self.kind == "contractive":
            pen = kw["contractive_weight"] * pen_rows / n
            out.update(loss=recon + pen, contractive=pen)
        return out


_AE = {"hidden_sizes": (256,), "latent_dim": 32, "activation": "relu", "latent_activation": "identity", "loss": "bce"}

SPECS = [
    Spec("ae", "Autoencoder 784-256-32, relu, identity code", "ae", Autoencoder, _AE),
    Spec("sparse_l1", "SparseAutoencoder 784-256-32, relu, identity code, l1 λ=0.1", "sparse", SparseAutoencoder,
         {**_AE, "sparsity": "l1", "sparsity_weight": 0.1, "target_sparsity": 0.05}),
    Spec("sparse_kl", "SparseAutoencoder 784-256-32, relu, sigmoid code, kl β=1 ρ=0.05", "sparse", SparseAutoencoder,
         {**_AE, "latent_activation": "sigmoid", "sparsity": "kl", "sparsity_weight": 1.0, "target_sparsity": 0.05}),
    Spec("denoising", "DenoisingAutoencoder 784-256-32, relu, gaussian σ=0.2", "denoising", DenoisingAutoencoder,
         {**_AE, "noise": "gaussian", "noise_level": 0.2}),
    Spec("contractive", "ContractiveAutoencoder 784-256-32, tanh, sigmoid code, λ=10 (exact, Gram form)",
         "contractive", ContractiveAutoencoder,
         {**_AE, "activation": "tanh", "latent_activation": "sigmoid", "contractive_weight": 10.0}),
    Spec("contractive_1", "ContractiveAutoencoder 784-32, sigmoid code, λ=10 (exact, one layer)",
         "contractive", ContractiveAutoencoder,
         {**_AE, "hidden_sizes": (), "activation": "sigmoid", "latent_activation": "sigmoid",
          "contractive_weight": 10.0}),
    Spec("vae", "VAE 784-400-20, relu, bernoulli, β=1", "vae", VAE,
         {"hidden_sizes": (400,), "latent_dim": 20, "activation": "relu", "likelihood": "bernoulli", "beta": 1.0}),
]


# ---------------------------------------------------------------------- same weights, same objective
def _grad_rel(twin, grads, loss_fn):
    """max over parameters of ‖g_npae − g_twin‖ / ‖g_twin‖, g_twin by autograd of ``loss_fn()``."""
    twin.zero_grad(set_to_none=True)
    loss_fn().backward()
    named = dict(twin.named_parameters())
    worst = 0.0
    for key, g in grads.items():
        prefix, kind = key.rsplit(".", 1)
        mod, idx = prefix.split(".", 1)
        if mod == "encoder" and idx in ("mu", "logvar"):
            tname = idx
        else:
            tname = f"{'enc' if mod == 'encoder' else 'dec'}.{idx}"
        t = named[f"{tname}.{'weight' if kind == 'W' else 'bias'}"].grad
        t = t.T if kind == "W" else t
        worst = max(worst, float(torch.linalg.norm(torch.as_tensor(np.asarray(g)) - t) / torch.linalg.norm(t)))
    return worst


def objective_parity(spec, X, seed=0):
    """Relative differences, in float64 on one batch, between npae's and the twin's objective
    (and evaluation) on the same weights; a dict of floats."""
    Xb = np.asarray(X, dtype=np.float64)
    model = spec.npae_model(seed, 1, dtype="float64")
    twin = spec.twin(Xb.shape[1], seed, dtype=torch.float64)
    x = torch.as_tensor(Xb)
    if spec.kind == "vae":
        eps = np.random.default_rng(seed + 7).standard_normal((Xb.shape[0], spec.kwargs["latent_dim"]))
        loss, grads = model.loss_and_grad(Xb, eps=eps)
        objective = lambda: spec.twin_objective(twin, x, None, eps=torch.as_tensor(eps))
    elif spec.kind == "denoising":
        noisy = np.clip(Xb + 0.2 * np.random.default_rng(seed + 7).standard_normal(Xb.shape), 0.0, 1.0)
        loss, grads = model.loss_and_grad(noisy, target=Xb)
        objective = lambda: spec.twin_objective(twin, x, None, x_in=torch.as_tensor(noisy))
    else:
        loss, grads = model.loss_and_grad(Xb)
        objective = lambda: spec.twin_objective(twin, x, None)
    copy_from_npae(twin, model)
    ref = float(objective().detach())
    rel = {"objective": abs(loss - ref) / abs(ref), "gradient": _grad_rel(twin, grads, objective)}
    if spec.kind == "denoising":
        return rel
    if spec.kind == "vae":
        # IWAE: npae draws eps (k, N, K) in one chunk from default_rng(seed) when k·N ≤ 8192.
        k, xs = 20, Xb[:64]
        npae_ll = np.asarray(model.log_likelihood(xs, k=k, random_state=seed + 3))
        eps_k = torch.as_tensor(np.random.default_rng(seed + 3).standard_normal((k, 64, spec.kwargs["latent_dim"])))
        with torch.no_grad():
            lw = twin.log_weights(torch.as_tensor(xs), k, eps=eps_k)
            twin_ll = (torch.logsumexp(lw, dim=0) - math.log(k)).numpy()
        rel["iwae"] = float(np.max(np.abs(npae_ll - twin_ll) / np.abs(twin_ll)))
        return rel
    got = spec.npae_eval(model, {"test": Xb}, seed)["loss"]
    want = spec.twin_eval(twin, {"test": Xb}, seed)["loss"]
    rel["evaluation"] = abs(got - want) / abs(want)
    if spec.kind == "contractive":
        rel["jacobian_vs_jacrev"] = check_jacobian_sq_norm(twin, x[:16])
    return rel


# ---------------------------------------------------------------------- one seed of one model
def run_one(spec, data, seed, epochs):
    X = data["train"]
    model = spec.npae_model(seed, epochs)
    t0 = time.perf_counter()
    model.fit(X)
    t_npae = time.perf_counter() - t0
    res_npae = spec.npae_eval(model, data, seed)

    torch.manual_seed(seed)
    twin = spec.twin(X.shape[1], seed)
    Xt = torch.as_tensor(X)
    t0 = time.perf_counter()
    hist_twin = train_twin(twin, lambda x, g: spec.twin_objective(twin, x, g), Xt, epochs=epochs,
                           batch_size=COMMON["batch_size"], learning_rate=COMMON["learning_rate"], seed=seed)
    t_twin = time.perf_counter() - t0
    res_twin = spec.twin_eval(twin, data, seed)
    return {
        "seed": seed,
        "npae": res_npae, "twin": res_twin,
        "npae_train_loss": [float(v) for v in model.history_["loss"]], "twin_train_loss": hist_twin,
        "npae_seconds": t_npae, "twin_seconds": t_twin,
    }


# ---------------------------------------------------------------------- report
def _mean_spread(values):
    m = statistics.fmean(values)
    s = statistics.stdev(values) if len(values) > 1 else 0.0
    return m, s


def _fmt(values):
    m, s = _mean_spread(values)
    return f"{m:.2f} ± {s:.2f}" if len(values) > 1 else f"{m:.2f}"


def build_report(results, parity, args, data, wall):
    seeds = args.seeds
    lines = [
        "# Quality: npae against PyTorch twins on Fashion-MNIST (`quality.py`)",
        "",
        *H.machine_lines(args.machine, args.command),
        f"- git: {args.git}",
        (f"- data: {data['source']}: {data['train'].shape[0]} training images, {data['test'].shape[0]} test images "
        f"(IWAE on the first {data['iwae'].shape[0]}, k = {data['k']}); float32; {args.epochs} epochs; "
        f"Adam lr 1e-3, batch 128; seeds {', '.join(map(str, seeds))} (npae `random_state=seed`, twin "
        "`torch.Generator().manual_seed(seed)`)"),
        (f"- wall time {wall / 60:.1f} min on a machine shared with other jobs (1-minute load average "
         f"{args.load[0]:.1f} at the start, {os.getloadavg()[0]:.1f} at the end on {os.cpu_count()} cores; "
         f"times are indicative only); OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}"),
        "",
        ("Test loss = the full objective on the test set, per-sample sum over pixels, mean over images "
        "(lower is better); mean ± standard deviation over seeds. Ratio = mean npae / mean twin; "
        "per-seed ratios in brackets. Criterion: |ratio − 1| < 2%."),
        "",
        ("| model | npae test loss | twin test loss | ratio npae/twin [per seed] | within 2% | "
        "train s/run npae · twin |"),
        "|---|---|---|---|---|---|",
    ]
    summary = {}
    for spec in SPECS:
        runs = results.get(spec.name)
        if not runs:
            continue
        metrics = [("loss", spec.label if spec.kind != "vae" else spec.label + ", −ELBO (1 z)")]
        if spec.kind == "vae":
            metrics.append(("iwae", f"VAE, −IWAE (k = {data['k']})"))
        for key, label in metrics:
            a = [r["npae"][key] for r in runs]
            b = [r["twin"][key] for r in runs]
            ratio = statistics.fmean(a) / statistics.fmean(b)
            per = [x / y for x, y in zip(a, b)]
            ok = abs(ratio - 1.0) < TOLERANCE
            summary[f"{spec.name}.{key}"] = {"npae": a, "twin": b, "ratio": ratio, "per_seed": per, "ok": ok}
            times = (f"{statistics.fmean(r['npae_seconds'] for r in runs):.0f} · "
                     f"{statistics.fmean(r['twin_seconds'] for r in runs):.0f}") if key == "loss" else ""
            lines.append(f"| {label} | {_fmt(a)} | {_fmt(b)} | {ratio:.4f} "
                         f"[{', '.join(f'{p:.4f}' for p in per)}] | {'yes' if ok else '**no**'} | {times} |")
    lines += ["", "Components (mean over seeds, npae · twin):", ""]
    for spec in SPECS:
        runs = results.get(spec.name)
        if not runs:
            continue
        keys = [k for k in runs[0]["npae"] if k not in ("loss", "iwae") and k in runs[0]["twin"]]
        parts = [f"{k} {statistics.fmean(r['npae'][k] for r in runs):.3f} · "
                 f"{statistics.fmean(r['twin'][k] for r in runs):.3f}" for k in keys]
        train = (f"last-epoch training loss {statistics.fmean(r['npae_train_loss'][-1] for r in runs):.2f} · "
                 f"{statistics.fmean(r['twin_train_loss'][-1] for r in runs):.2f}")
        lines.append(f"- {spec.name}: " + "; ".join(parts + [train]))
    lines += ["", ("Same objective on the same weights (float64, 256 training images, npae's initial weights "
              "copied into the twin; max relative difference):"), ""]
    for name, rel in parity.items():
        lines.append(f"- {name}: " + ", ".join(f"{k} {v:.1e}" for k, v in rel.items()))
    lines += ["", ("Twins: `benchmarks/quality_twins.py` (nn.Linear, autograd, torch.optim.Adam; "
              "the contractive penalty from the product form of the Jacobian, checked against "
              "torch.func.jacrev). Same architecture, initialisation scheme (He-uniform for ReLU, "
              "Glorot-uniform for tanh, zero biases), objective, optimizer and epochs; the random "
              "draws (weights, data order, corruption, eps) differ."), ""]
    return "\n".join(lines), summary


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 6,000/2,000 images, 1 epoch, seed 0")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--seeds", type=int, nargs="+", default=None)
    parser.add_argument("--models", nargs="+", choices=[s.name for s in SPECS], default=None)
    parser.add_argument("--contractive-weight", type=float, default=None, help="override λ of the contractive model")
    parser.add_argument("--out", type=Path, default=None, help="markdown path (default benchmarks/out/quality.md)")
    parser.add_argument("--results", action="store_true", help="also write the report's section of RESULTS.md")
    H.add_common_arguments(parser)
    args = parser.parse_args(argv)
    args.epochs = args.epochs or (1 if args.quick else 5)
    args.seeds = args.seeds or ([0] if args.quick else [0, 1, 2])
    out = args.out or OUT_DIR / ("quality_quick.md" if args.quick else "quality.md")
    H.limit_threads(args.threads)
    args.machine, args.command = H.machine_info(), H.command_line("quality.py", sys.argv[1:] if argv is None else argv)

    X_train, source = H.load_data("train")
    X_test, _ = H.load_data("test")
    if args.quick:
        X_train, X_test = X_train[:6000], X_test[:2000]
    n_iwae = min(200 if args.quick else 1000, X_test.shape[0])
    data = {"train": X_train, "test": X_test, "iwae": X_test[:n_iwae], "k": 100, "source": source}
    dae = next(s for s in SPECS if s.name == "denoising")
    eps = np.random.default_rng(NOISE_SEED).standard_normal(X_test.shape, dtype=np.float32)
    data["noisy"] = np.clip(X_test + np.float32(dae.kwargs["noise_level"]) * eps, 0.0, 1.0).astype(np.float32)

    if args.contractive_weight is not None:
        for spec in SPECS:
            if spec.kind == "contractive":
                spec.kwargs["contractive_weight"] = args.contractive_weight
    specs = [s for s in SPECS if args.models is None or s.name in args.models]
    args.load, args.git = os.getloadavg(), H.git_state()
    t_start = time.perf_counter()
    parity = {}
    for spec in specs:
        parity[spec.name] = objective_parity(spec, X_train[:256])
        print(f"parity {spec.name}: " + ", ".join(f"{k} {v:.1e}" for k, v in parity[spec.name].items()), flush=True)
    results = {}
    for seed in args.seeds:
        for spec in specs:
            r = run_one(spec, data, seed, args.epochs)
            results.setdefault(spec.name, []).append(r)
            extra = f" iwae {r['npae']['iwae']:.2f} vs {r['twin']['iwae']:.2f}" if "iwae" in r["npae"] else ""
            print(f"seed {seed} {spec.name}: npae {r['npae']['loss']:.3f} ({r['npae_seconds']:.0f} s) "
                  f"twin {r['twin']['loss']:.3f} ({r['twin_seconds']:.0f} s){extra}", flush=True)
    wall = time.perf_counter() - t_start
    report, summary = build_report(results, parity, args, data, wall)
    H.write_report(report, out, SECTION, results=args.results and not args.quick)
    out.with_suffix(".json").write_text(json.dumps({"results": results, "parity": parity, "summary": summary,
                                                     "epochs": args.epochs, "seeds": args.seeds}, indent=1))
    print(report)
    print(f"wrote {out} and {out.with_suffix('.json')}")
    if args.quick:
        return 0  # a smoke run: one short epoch says nothing about the 2% criterion
    return 0 if all(v["ok"] for v in summary.values()) else 1


if __name__ == "__main__":
    H.reexec_without_openblas_env()
    sys.exit(main())
