"""npae on CuPy against PyTorch CUDA eager: AE, VAE and the exact contractive penalty (issue 6, GPU).

    python benchmarks/bench_gpu.py                                   # on a CUDA machine: cupy vs cuda
    python benchmarks/bench_gpu.py --npae-backend numpy --torch-device cpu --quick   # dry run on a CPU

Models (float32, Adam lr 1e-3), each at batch 128 and 1024:

* ``ae``: Autoencoder 784-512-128-32 ReLU, identity code (``harness.make_npae("ae")``; twin:
  ``twins.family_twin("ae")``);
* ``vae``: VAE 784-400-20 ReLU, Bernoulli (``harness.make_npae("vae")``; twin:
  ``twins.family_twin("vae")``);
* ``contractive``: 784-256-64 tanh/sigmoid, λ = 0.1, exact penalty, npae's Gram form against the
  PyTorch Gram form and torch.func vmap(jacrev) (``bench_contractive``).

Every step is timed with the device synchronised at the end of each block only (no per-step host
sync on either side), blocks interleaved, warm-up first (CuPy compiles its kernels on first use).
The twins start from npae's initial weights (copied through the host). Writes a markdown report
(default ``benchmarks/out/gpu.md``) with the device, CUDA, CuPy and PyTorch versions.

``benchmarks/gpu_session.sh`` runs the CuPy test suite and this script in one call on a lent
device.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import bench_contractive as BC
import harness as H
import numpy as np
import torch
import twins as TW

from npae import backend as B

OUT = H.OUT_DIR / "gpu.md"
MODELS = ("ae", "vae", "contractive")


def synchronizer(npae_backend: str, torch_device: str):
    """A function that waits for both devices' queued work (a no-op on the CPU)."""
    waits = []
    if npae_backend == "cupy":
        import cupy

        waits.append(lambda: cupy.cuda.Device().synchronize())
    if torch_device.startswith("cuda"):
        waits.append(torch.cuda.synchronize)

    def sync():
        for wait in waits:
            wait()

    return sync


def make_npae(name: str, backend: str, batch: int):
    """The benchmark's npae model on ``backend``; its twin is built from the same seed."""
    model = BC.make_npae("gram") if name == "contractive" else H.make_npae(name)
    return model.set_params(backend=backend, batch_size=batch)


def make_twin_step(name: str, model, device: str):
    """(twin step function on ``device``) starting from ``model``'s weights."""
    params = {k: B.to_numpy(v) for k, v in model.parameters().items()}
    if name == "contractive":
        twin, _ = BC.make_torch_step(BC.loss_gram, params)
        twin.to(device)
        optimizer = torch.optim.Adam(twin.parameters(), lr=BC.LR)  # after .to(): state on the device

        def contractive_step(x):
            optimizer.zero_grad(set_to_none=True)
            loss = BC.loss_gram(twin, x)
            loss.backward()
            optimizer.step()
            return loss

        return contractive_step
    twin, loss_fn = TW.family_twin(name)
    with torch.no_grad():
        for linear, key in zip(twin.linears(), _layer_keys(model)):
            linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(params[f"{key}.W"].T)))
            linear.bias.copy_(torch.from_numpy(params[f"{key}.b"]))
    twin.to(device)
    return TW.make_step(twin, loss_fn)


def _layer_keys(model) -> list:
    """The layer prefixes ("encoder.0", …) in ``parameters()`` order."""
    return list(dict.fromkeys(key.rsplit(".", 1)[0] for key in model.parameters()))


def time_pair(fns: dict, sync, steps: int, repeats: int) -> dict:
    """{name: [seconds per block]} with blocks of ``steps`` calls, interleaved, synced per block."""
    times = {name: [] for name in fns}
    for r in range(repeats):
        order = list(fns) if r % 2 == 0 else list(reversed(list(fns)))
        for name in order:
            sync()
            t0 = time.perf_counter()
            fns[name](steps)
            sync()
            times[name].append(time.perf_counter() - t0)
    return times


def run_model(name: str, batch: int, cfg, sync, X: np.ndarray) -> dict:
    n_batches = max(1, min(8, X.shape[0] // batch))
    host_batches = [X[i * batch:(i + 1) * batch] for i in range(n_batches)]
    model = make_npae(name, cfg.npae_backend, batch)
    model.partial_fit(host_batches[0])
    dev_batches = [B.asarray(b, backend=model.backend_) for b in host_batches]
    t_batches = [torch.from_numpy(b).to(cfg.torch_device) for b in host_batches]
    twin_step = make_twin_step(name, model, cfg.torch_device)
    fns = {
        "npae": lambda k: [model.train_step(dev_batches[i % n_batches]) for i in range(k)],
        "torch": lambda k: [twin_step(t_batches[i % n_batches]) for i in range(k)],
    }
    for fn in fns.values():
        fn(cfg.warmup)
    sync()
    times = time_pair(fns, sync, cfg.steps, cfg.repeats)
    rates = {k: {"best": cfg.steps * batch / min(v), "median": cfg.steps * batch / statistics.median(v)}
             for k, v in times.items()}
    return rates


def versions(cfg) -> list:
    lines = H.machine_lines(H.machine_info(), H.command_line("bench_gpu.py", cfg.argv))
    if cfg.torch_device.startswith("cuda"):
        lines.append(f"- device: {torch.cuda.get_device_name()} (PyTorch CUDA {torch.version.cuda}, "
                     f"cuDNN {torch.backends.cudnn.version()})")
    else:
        lines.append("- device: the CPU above, a dry run, not GPU figures")
    if cfg.npae_backend == "cupy":
        import cupy

        lines.append(f"- CuPy {cupy.__version__}, CUDA runtime {cupy.cuda.runtime.runtimeGetVersion()}, "
                     f"driver {cupy.cuda.runtime.driverGetVersion()}")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--npae-backend", default="cupy", choices=B.BACKENDS)
    parser.add_argument("--torch-device", default="cuda")
    parser.add_argument("--batch-sizes", default="128,1024")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--steps", type=int, default=None, help="steps per block (50; quick: 5)")
    parser.add_argument("--repeats", type=int, default=None, help="blocks per side (7; quick: 2)")
    parser.add_argument("--warmup", type=int, default=None, help="warm-up steps (20; quick: 2)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=OUT)
    cfg = parser.parse_args(argv)
    cfg.argv = sys.argv[1:] if argv is None else argv
    cfg.steps = cfg.steps or (5 if cfg.quick else 50)
    cfg.repeats = cfg.repeats or (2 if cfg.quick else 7)
    cfg.warmup = cfg.warmup or (2 if cfg.quick else 20)
    batches = [int(b) for b in cfg.batch_sizes.split(",")]
    models = cfg.models.split(",")
    unknown = set(models) - set(MODELS)
    if unknown:
        parser.error(f"unknown model(s) {sorted(unknown)}; choose from {MODELS}")
    torch.manual_seed(0)
    sync = synchronizer(cfg.npae_backend, cfg.torch_device)
    X = H.load_data("train", rows=max(batches) * 8)[0]
    started = time.perf_counter()
    lines = [
        f"# npae ({cfg.npae_backend}) vs PyTorch eager ({cfg.torch_device}): training throughput",
        "",
        *versions(cfg),
        (f"- float32, Adam lr 1e-3; blocks of {cfg.steps} steps after {cfg.warmup} warm-up steps, "
         f"{cfg.repeats} blocks each, interleaved, device synchronised per block; twins start from "
         "npae's weights"),
        "",
        "| model | batch | npae best | npae median | torch best | torch median | ratio best | ratio median |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in models:
        for batch in batches:
            r = run_model(name, batch, cfg, sync, X)
            a, b = r["npae"], r["torch"]
            row = (f"| {name} | {batch} | {a['best']:,.0f} | {a['median']:,.0f} | {b['best']:,.0f} | "
                   f"{b['median']:,.0f} | **{a['best'] / b['best']:.2f}×** | {a['median'] / b['median']:.2f}× |")
            print(row, flush=True)
            lines.append(row)
    lines += ["", (f"Wall time {time.perf_counter() - started:.0f} s. Targets (issue 6): ≥ 1.0× for ae and "
                   "vae, ≥ 2× for contractive (here against PyTorch's Gram form, its fastest CPU formulation).")]
    cfg.out.parent.mkdir(parents=True, exist_ok=True)
    cfg.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {cfg.out}")
    return 0


if __name__ == "__main__":
    H.reexec_without_openblas_env()
    sys.exit(main())
