"""Contractive autoencoder training throughput: npae against PyTorch twins of the same exact penalty.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /work/venv/bin/python benchmarks/bench_contractive.py
    python benchmarks/bench_contractive.py --quick        # smoke run, fewer repeats

Architecture 784-256-64: tanh hidden layer, sigmoid code, decoder mirrored (64-256 tanh, 256-784
linear logits), BCE on logits summed over pixels, plus λ · mean_n ‖∂h_n/∂x_n‖²_F (λ = 0.1, exact).
float32, batch 128, Adam (lr 1e-3), 2 threads (``torch.set_num_threads(2)``; OpenBLAS's own
default of 2 for NumPy). Each candidate runs a fixed number of optimizer steps per timed block;
candidates are interleaved round by round (order alternating) so they share the machine's load,
and the table reports the best block (min time) and the median block in samples/s, with ratios
computed inside this one run.

Candidates
----------
* npae ``ContractiveAutoencoder`` with ``contractive_method="auto"`` (here the Gram form) and with
  ``"recurrence"`` (the N × D × H reference), both on NumPy.
* PyTorch autograd twins, same weights, same objective, differing only in how the penalty is
  written (autograd differentiates it, f″ included):
  - ``torch.func``: J = vmap(jacrev(encoder))(x), P = mean_n ‖J_n‖²;
  - recurrence: T_1 = W_1 · s_1, T_2 = (T_1 @ W_2) · s_2, P = mean_n ‖T_2[n]‖² (N × D × H);
  - Gram ("cheap exact form"): R[n, k, i] = W_2[i, k] s_1[n, i], Γ = W_1ᵀW_1,
    P = mean_n Σ_k s_2[n, k]² · (R Γ ⊙ R)[n, k, :].sum().

The report (markdown) is printed and written to ``benchmarks/out/contractive.md`` (git-ignored).
The machine may be shared: the report records ``uptime`` before and after and, per candidate, the
median number of cores other processes kept busy during its blocks.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import argparse
import os
import platform
import statistics
import subprocess
import time

import numpy as np
import threadpoolctl
import torch
from run import _UNSET, QUIET, timed  # re-executes without OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE; shared timing
from torch.func import jacrev, vmap
from torch.nn import functional as F

import npae
from npae import penalties
from npae.models.contractive import ContractiveAutoencoder

HERE = Path(__file__).resolve().parent
THREADS = 2
D, H, K = 784, 256, 64
BATCH = 128
WEIGHT = 0.1
LR = 1e-3
FASHION = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")


# ------------------------------------------------------------------------------------ data
def load_data(n: int) -> tuple[np.ndarray, str]:
    """n rows of Fashion-MNIST in [0, 1] (float32) if the file is there, else uniform noise."""
    if FASHION.exists():
        X = npae.datasets.read_idx(FASHION)[:n].reshape(n, -1).astype(np.float32) / 255.0
        return X, f"Fashion-MNIST train[:{n}]"
    return np.random.default_rng(0).random((n, D), dtype=np.float32), f"uniform noise ({n} rows)"


# ------------------------------------------------------------------------------------ npae
def make_npae(method: str) -> ContractiveAutoencoder:
    return ContractiveAutoencoder(hidden_sizes=(H,), latent_dim=K, activation="tanh", latent_activation="sigmoid",
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
        self.enc1, self.enc2 = torch.nn.Linear(D, H), torch.nn.Linear(H, K)
        self.dec1, self.dec2 = torch.nn.Linear(K, H), torch.nn.Linear(H, D)

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
def uptime() -> str:
    try:
        return subprocess.run(["uptime"], check=False, capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unavailable"


def run_benchmark(repeats: int, budget_s: float, log) -> dict:
    X, data_name = load_data(BATCH * 16)
    batches = [X[i:i + BATCH] for i in range(0, X.shape[0], BATCH)]
    tbatches = [torch.from_numpy(b) for b in batches]

    candidates = {}  # name -> (step callable on batch index, steps per block)
    first_loss = {}
    for method, steps in (("auto", 10), ("recurrence", 2)):
        model = make_npae(method)
        model.loss_and_grad(batches[0])  # builds the parameters (seeded) without a step
        if method == "auto":
            params = {k: np.array(v, copy=True) for k, v in model.parameters().items()}
            path = penalties.contractive_method([params["encoder.0.W"], params["encoder.1.W"]], BATCH)
        name = f"npae ({path if method == 'auto' else method})"
        first_loss[name] = float(model.train_step(batches[0])[0])
        candidates[name] = (lambda i, m=model: m.train_step(batches[i % len(batches)]), steps)
    for name, loss_fn in TORCH_FORMS.items():
        _, step = make_torch_step(loss_fn, params)
        first_loss[name] = float(step(tbatches[0]).detach())
        steps = 2 if "recurrence" in name else 5 if "func" in name else 10
        candidates[name] = (lambda i, s=step: s(tbatches[i % len(tbatches)]), steps)

    for name, (fn, steps) in candidates.items():  # warm-up
        for i in range(1, 1 + max(2, steps // 2)):
            fn(i)
        log(f"warmed up {name}")

    records = {name: {"times": [], "loads": []} for name in candidates}
    items = list(candidates.items())
    start = time.perf_counter()
    for r in range(3 * repeats):
        quiet = min(sum(load < QUIET for load in rec["loads"]) for rec in records.values())
        elapsed = time.perf_counter() - start
        if r >= repeats and (quiet >= repeats or elapsed > budget_s):
            break
        if r >= 3 and elapsed > budget_s:
            log(f"time budget reached after {r} rounds")
            break
        for name, (fn, steps) in items if r % 2 == 0 else items[::-1]:
            wall, load = timed(lambda fn=fn, steps=steps: [fn(i) for i in range(steps)])
            records[name]["times"].append(wall / steps)
            records[name]["loads"].append(load)
        log(f"round {r + 1} done ({time.perf_counter() - start:.0f} s, {quiet} quiet blocks each so far)")

    results = {}
    for name, rec in records.items():
        times, loads = rec["times"], rec["loads"]
        quiet_times = [t for t, load in zip(times, loads) if load < QUIET] or times
        results[name] = {"best": BATCH / min(times), "median": BATCH / statistics.median(quiet_times),
                         "blocks": len(times), "quiet": sum(load < QUIET for load in loads),
                         "steps": candidates[name][1], "load": statistics.median(loads),
                         "loss0": first_loss[name]}
    return {"results": results, "data": data_name}


# ------------------------------------------------------------------------------------ report
def build_report(res: dict, meta: dict) -> str:
    results = res["results"]
    torch_names = [n for n in results if n.startswith("torch")]
    fastest_best = max(torch_names, key=lambda n: results[n]["best"])
    fastest_median = max(torch_names, key=lambda n: results[n]["median"])
    ref_loss = results[torch_names[0]]["loss0"]
    costs = penalties.contractive_costs((D, H, K), BATCH)
    lines = [
        "## Contractive autoencoder, training throughput (CPU)",
        "",
        (f"784-256-64 (tanh hidden, sigmoid code; decoder 64-256 tanh, 256-784 logits), BCE on logits + "
        f"{WEIGHT} · mean_n ‖∂h_n/∂x_n‖²_F (exact), float32, batch {BATCH}, Adam lr {LR}, "
        f"{meta['torch_threads']} threads; data: {res['data']}. Samples/s: best block (min time) and median over quiet "
        f"blocks (other processes below {QUIET} cores; all blocks if none was quiet); candidates "
        "interleaved in the same run, order alternating."),
        "",
        ("| formulation | samples/s best | samples/s median (quiet blocks) | steps × blocks (quiet) "
        "| other load (cores) | first-step loss | npae (gram) ÷ this, best | ÷ this, median |"),
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    npae_name = next(n for n in results if n.startswith("npae") and "recurrence" not in n)
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
        (f"**npae ÷ fastest PyTorch formulation: {ratio_best:.2f}× (best blocks, vs {fastest_best}), "
        f"{ratio_median:.2f}× (median blocks, vs {fastest_median}).** Target ≥ 2×."),
        "",
        f"First-step losses (same initial weights, same batch) agree to {loss_gap:.1e} relative (float32).",
        (f"Penalty forward cost per row (multiply-adds, `npae.penalties.contractive_costs`): recurrence "
        f"{costs['recurrence'] / 1e6:.1f} M, Gram form {costs['gram'] / 1e6:.1f} M."),
        "",
        (f"Machine: {meta['cpu']}, {os.cpu_count()} cores; Python {platform.python_version()}, NumPy "
        f"{np.__version__} ({meta['blas']}), PyTorch {torch.__version__} ({meta['torch_threads']} threads), "
        f"npae {getattr(npae, '__version__', '?')}. `OPENBLAS_CORETYPE`/`OPENBLAS_L2_SIZE`: "
        f"{meta['openblas_env']}."),
        (f"Load before: `{meta['uptime_before']}`; after: `{meta['uptime_after']}`. Shared machine: "
        "absolute figures are noisy, compare the ratios."),
        "",
    ]
    return "\n".join(lines)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def blas_summary() -> str:
    for info in threadpoolctl.threadpool_info():
        if info.get("user_api") == "blas" and "numpy" in str(info.get("filepath", "")):
            return f"{info.get('internal_api')} {info.get('version')}, {info.get('architecture')}, " \
                   f"{info.get('num_threads')} threads"
    return "BLAS unknown"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=9, help="timed rounds (default 9)")
    parser.add_argument("--budget", type=float, default=240.0, help="seconds of timed rounds at most")
    parser.add_argument("--quick", action="store_true", help="3 rounds, for a smoke run")
    parser.add_argument("--threads", type=int, default=THREADS,
                        help=f"BLAS / torch threads for both sides (default {THREADS}, the issue's setting)")
    parser.add_argument("--out", type=Path, default=HERE / "out" / "contractive.md")
    parser.add_argument("--keep-openblas-env", action="store_true",
                        help="do not remove OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    threadpoolctl.threadpool_limits(args.threads, user_api="blas")

    def log(msg):
        print(f"[bench_contractive] {msg}", file=sys.stderr, flush=True)

    meta = {"cpu": cpu_model(), "blas": blas_summary(), "torch_threads": torch.get_num_threads(),
            "openblas_env": ", ".join(f"{k}={os.environ[k]}" for k in _UNSET if k in os.environ) or "unset",
            "uptime_before": uptime()}
    res = run_benchmark(3 if args.quick else args.repeats, args.budget, log)
    meta["uptime_after"] = uptime()
    report = build_report(res, meta)
    print(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
