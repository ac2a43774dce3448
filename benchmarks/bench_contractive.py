"""Contractive autoencoder training throughput: npae against PyTorch twins of the same exact penalty.

    python benchmarks/bench_contractive.py            # full run; writes benchmarks/out/contractive.md
    python benchmarks/bench_contractive.py --quick    # smoke run, fewer and shorter rounds

Architecture 784-256-64: tanh hidden layer, sigmoid code, decoder mirrored (64-256 tanh, 256-784
linear logits), BCE on logits summed over pixels, plus λ · mean_n ‖∂h_n/∂x_n‖²_F (λ = 0.1, exact).
float32, batch 128, Adam (lr 1e-3), 2 threads for both (``--threads``). Each candidate runs a
fixed number of optimizer steps per timed block; candidates are interleaved round by round (order
alternating, ``harness.paired_timing``) so they share the machine's load, and the table reports
the best block (min time) and the median block in samples/s, with ratios computed inside this one
run.

Candidates
----------
* npae ``ContractiveAutoencoder`` with ``contractive_method="auto"`` (here the Gram form) on its
  fast kernels and on its reference code (``npae.set_kernels("reference")``, where the switch
  exists), and with ``"recurrence"`` (the N × D × H reference), all on NumPy.
* PyTorch autograd twins, same weights, same objective, differing only in how the penalty is
  written (autograd differentiates it, f″ included):
  - ``torch.func``: J = vmap(jacrev(encoder))(x), P = mean_n ‖J_n‖²;
  - recurrence: T_1 = W_1 · s_1, T_2 = (T_1 @ W_2) · s_2, P = mean_n ‖T_2[n]‖² (N × D × H);
  - Gram ("cheap exact form"): R[n, k, i] = W_2[i, k] s_1[n, i], Γ = W_1ᵀW_1,
    P = mean_n Σ_k s_2[n, k]² · (R Γ ⊙ R)[n, k, :].sum().

Data: Fashion-MNIST rows through ``npae.datasets`` (``harness.load_data``; the embedded subset
where the full files are not found). The report (markdown) is printed and written to
``benchmarks/out/contractive.md`` (git-ignored); ``--results`` also writes its section of
RESULTS.md. The machine may be shared: the report records, per candidate, the median number of
cores other processes kept busy during its blocks.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import harness as H
import numpy as np
import torch
from torch.func import jacrev, vmap
from torch.nn import functional as F

from npae import penalties
from npae.models.contractive import ContractiveAutoencoder

D, H_WIDTH, K = 784, 256, 64
BATCH = 128
WEIGHT = 0.1
LR = 1e-3
OUT = H.OUT_DIR / "contractive.md"
SECTION = "bench_contractive.py"


# ------------------------------------------------------------------------------------ data
def load_data(n: int) -> tuple[np.ndarray, str]:
    """n rows of Fashion-MNIST in [0, 1] (float32), through ``harness.load_data``."""
    X, source = H.load_data("train", rows=n)
    return X, f"{X.shape[0]} rows of {source}"


# ------------------------------------------------------------------------------------ npae
def make_npae(method: str) -> ContractiveAutoencoder:
    return ContractiveAutoencoder(hidden_sizes=(H_WIDTH,), latent_dim=K, activation="tanh", latent_activation="sigmoid",
                                  loss="bce", optimizer="adam", learning_rate=LR, batch_size=BATCH,
                                  dtype="float32", random_state=0, backend="numpy", verbose=0,
                                  contractive_weight=WEIGHT, contractive_method=method)


# ------------------------------------------------------------------------------------ torch twins
def _dtanh(z):
    t = torch.tanh(z)
    return 1.0 - t * t


def _dsigmoid(z):
    s = torch.sigmoid(z)
    return s * (1.0 - s)


class CAETwin(torch.nn.Module):
    """784-256-64 tanh/sigmoid encoder, mirrored decoder (tanh, linear logits), nn.Linear layers."""

    def __init__(self):
        super().__init__()
        self.enc1, self.enc2 = torch.nn.Linear(D, H_WIDTH), torch.nn.Linear(H_WIDTH, K)
        self.dec1, self.dec2 = torch.nn.Linear(K, H_WIDTH), torch.nn.Linear(H_WIDTH, D)

    def encode(self, x):
        return torch.sigmoid(self.enc2(torch.tanh(self.enc1(x))))

    def reconstruction(self, h, x):
        logits = self.dec2(torch.tanh(self.dec1(h)))
        return F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / x.shape[0]

    def copy_from_npae(self, params: dict) -> None:
        names = {"enc1": "encoder.0", "enc2": "encoder.1", "dec1": "decoder.0", "dec2": "decoder.1"}
        with torch.no_grad():
            for attr, prefix in names.items():
                layer = getattr(self, attr)
                layer.weight.copy_(torch.from_numpy(np.ascontiguousarray(params[f"{prefix}.W"].T)))
                layer.bias.copy_(torch.from_numpy(np.asarray(params[f"{prefix}.b"])))


def loss_torch_func(model: CAETwin, x):
    """Penalty by torch.func: the per-sample Jacobian (K × D) from vmap(jacrev)."""
    J = vmap(jacrev(model.encode))(x)
    h = model.encode(x)
    return model.reconstruction(h, x) + WEIGHT * (J * J).sum(dim=(1, 2)).mean()


def loss_recurrence(model: CAETwin, x):
    """Penalty by the explicit Jacobian recurrence, T (N, D, K), differentiated by autograd."""
    W1, W2 = model.enc1.weight.T, model.enc2.weight.T  # (D, H), (H, K) as in npae
    z1 = model.enc1(x)
    z2 = model.enc2(torch.tanh(z1))
    T1 = W1[None, :, :] * _dtanh(z1)[:, None, :]
    T2 = (T1 @ W2) * _dsigmoid(z2)[:, None, :]
    h = torch.sigmoid(z2)
    return model.reconstruction(h, x) + WEIGHT * (T2 * T2).sum() / x.shape[0]


def loss_gram(model: CAETwin, x):
    """Penalty by the Gram form: R[n,k,i] = W2[i,k] s1[n,i], Γ = W1ᵀW1, P = mean Σ_k s2² RΓRᵀ."""
    z1 = model.enc1(x)
    z2 = model.enc2(torch.tanh(z1))
    s1, s2 = _dtanh(z1), _dsigmoid(z2)
    gram = model.enc1.weight @ model.enc1.weight.T  # (H, H); nn.Linear keeps W1ᵀ (H, D)
    R = model.enc2.weight[None, :, :] * s1[:, None, :]  # (N, K, H)
    w = ((R @ gram) * R).sum(dim=2)
    h = torch.sigmoid(z2)
    return model.reconstruction(h, x) + WEIGHT * (s2 * s2 * w).sum(dim=1).mean()


TORCH_FORMS = {"torch.func vmap(jacrev)": loss_torch_func, "torch recurrence": loss_recurrence,
               "torch Gram form": loss_gram}


def make_torch_step(loss_fn, params: dict):
    model = CAETwin()
    model.copy_from_npae(params)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)

    def step(x):
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model, x)
        loss.backward()
        optimizer.step()
        return loss

    return model, step


# ------------------------------------------------------------------------------------ timing
def run_benchmark(repeats: int, budget_s: float, quick: bool, log) -> dict:
    X, data_name = load_data(BATCH * 16)
    batches = H.batches_of(X, BATCH)
    tbatches = [torch.from_numpy(b) for b in batches]

    candidates = {}  # name -> (step callable on batch index, steps per block)
    first_loss = {}
    npae_arms = [("auto", arm, 2 if quick else 10) for arm in H.npae_arms()]
    npae_arms.append(("recurrence", "fast", 1 if quick else 2))
    for method, arm, steps in npae_arms:
        with H.kernels(arm):
            model = make_npae(method)
            model.loss_and_grad(batches[0])  # builds the parameters (seeded) without a step
        if method == "auto" and arm == "fast":
            params = {k: np.array(v, copy=True) for k, v in model.parameters().items()}
            path = penalties.contractive_method([params["encoder.0.W"], params["encoder.1.W"]], BATCH)
        name = f"npae ({path if method == 'auto' else method}{', reference kernels' if arm == 'reference' else ''})"
        run = H.in_mode(arm, lambda i, m=model: m.train_step(batches[i % len(batches)]))
        first_loss[name] = float(run(0)[0])
        candidates[name] = (run, steps)
    for name, loss_fn in TORCH_FORMS.items():
        _, step = make_torch_step(loss_fn, params)
        first_loss[name] = float(step(tbatches[0]).detach())
        steps = (1 if quick else 2) if "recurrence" in name else (2 if quick else 5) if "func" in name else (
            2 if quick else 10)
        candidates[name] = (lambda i, s=step: s(tbatches[i % len(tbatches)]), steps)

    for name, (fn, steps) in candidates.items():  # warm-up
        for i in range(1, 1 + max(2, steps // 2)):
            fn(i)
        log(f"warmed up {name}")

    blocks = {name: (lambda fn=fn, steps=steps: [fn(i) for i in range(steps)])
              for name, (fn, steps) in candidates.items()}
    records = H.paired_timing(blocks, repeats, budget_s)
    results = {}
    for name, rec in records.items():
        steps = candidates[name][1]
        results[name] = {**H.summarize(rec, BATCH * steps), "steps": steps, "loss0": first_loss[name]}
    return {"results": results, "data": data_name}


# ------------------------------------------------------------------------------------ report
def build_report(res: dict, meta: dict, cfg) -> str:
    results = res["results"]
    torch_names = [n for n in results if n.startswith("torch")]
    fastest_best = max(torch_names, key=lambda n: results[n]["best"])
    fastest_median = max(torch_names, key=lambda n: results[n]["median"])
    ref_loss = results[torch_names[0]]["loss0"]
    costs = penalties.contractive_costs((D, H_WIDTH, K), BATCH)
    npae_name = next(n for n in results if n.startswith("npae"))  # the fast arm of method "auto"
    lines = [
        "# Contractive autoencoder, training throughput, CPU (`bench_contractive.py`)",
        "",
    ]
    if cfg.quick:
        lines += ["> **Quick smoke run** (`--quick`): not reference figures.", ""]
    lines += [
        (f"784-256-64 (tanh hidden, sigmoid code; decoder 64-256 tanh, 256-784 logits), BCE on logits + "
         f"{WEIGHT} · mean_n ‖∂h_n/∂x_n‖²_F (exact), float32, batch {BATCH}, Adam lr {LR}, "
         f"{cfg.threads} threads; data: {res['data']}. " + H.timing_method(cfg.repeats)),
        "",
        *H.machine_lines(meta["machine"], meta["command"]),
        "",
        ("| formulation | samples/s best | samples/s median (quiet blocks) | steps × blocks (quiet) "
         f"| other load (cores) | first-step loss | {npae_name} ÷ this, best | ÷ this, median |"),
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        ratio_b = results[npae_name]["best"] / r["best"]
        ratio_m = results[npae_name]["median"] / r["median"]
        lines.append(f"| {name} | {r['best']:,.0f} | {r['median']:,.0f} | {r['steps']} × {r['blocks']} ({r['quiet']}) "
                     f"| {r['load']:.2f} | {r['loss0']:.4f} | {ratio_b:.2f}× | {ratio_m:.2f}× |")
    ratio_best = results[npae_name]["best"] / results[fastest_best]["best"]
    ratio_median = results[npae_name]["median"] / results[fastest_median]["median"]
    loss_gap = max(abs(r["loss0"] - ref_loss) / abs(ref_loss) for r in results.values())
    lines += [
        "",
        (f"**{npae_name} ÷ fastest PyTorch formulation: {ratio_best:.2f}× (best blocks, vs {fastest_best}), "
         f"{ratio_median:.2f}× (median blocks, vs {fastest_median}).** Target ≥ 2×."),
        "",
        f"First-step losses (same initial weights, same batch) agree to {loss_gap:.1e} relative (float32).",
        (f"Penalty forward cost per row (multiply-adds, `npae.penalties.contractive_costs`): recurrence "
         f"{costs['recurrence'] / 1e6:.1f} M, Gram form {costs['gram'] / 1e6:.1f} M."),
        "",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=None, help="timed rounds (9; quick: 2)")
    parser.add_argument("--budget", type=float, default=240.0, help="seconds of timed rounds at most")
    parser.add_argument("--quick", action="store_true", help="2 rounds of short blocks, for a smoke run")
    parser.add_argument("--out", type=Path, default=OUT, help=f"markdown output (default {OUT})")
    parser.add_argument("--results", action="store_true", help="also write this report's section of RESULTS.md")
    H.add_common_arguments(parser)
    cfg = parser.parse_args(argv)
    cfg.repeats = cfg.repeats or (2 if cfg.quick else 9)
    H.WAIT.budget_s = max(0.0, cfg.wait_quiet)
    H.limit_threads(cfg.threads)
    log = H.logger("bench_contractive")
    meta = {"machine": H.machine_info(), "command": H.command_line("bench_contractive.py", argv)}
    res = run_benchmark(cfg.repeats, cfg.budget, cfg.quick, log)
    report = build_report(res, meta, cfg)
    print(report)
    for path in H.write_report(report, cfg.out, SECTION, results=cfg.results and not cfg.quick):
        log(f"wrote {path}")
    return 0


if __name__ == "__main__":
    H.reexec_without_openblas_env()
    sys.exit(main())
