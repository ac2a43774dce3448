"""Peak memory while fitting a memory-mapped dataset larger than the working budget (issue 7).

Writes an (N, 784) float32 .npy file batch by batch (never holding it in memory), opens it with
``np.load(..., mmap_mode="r")`` and fits one epoch of an Autoencoder, a ContractiveAutoencoder
and a VAE (plus ``log_likelihood`` with k=100 on 2,000 rows). Peak memory is reported two ways:
tracemalloc's peak of Python/NumPy allocations during the call (the memory map's pages are file
cache, not allocations) and the growth of the process's peak RSS.

    python benchmarks/bench_memmap.py --rows 200000     # 627 MB on disk, a few minutes
    python benchmarks/bench_memmap.py --quick           # smoke run: 5,000 rows

Prints a markdown table under the machine header (``harness.machine_lines``); ``--out`` writes it
to a file too.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import harness as H
import numpy as np

import npae


def write_memmap(path: Path, rows: int, d: int = 784, block: int = 8192) -> None:
    X = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(rows, d))
    rng = np.random.default_rng(0)
    for start in range(0, rows, block):
        stop = min(start + block, rows)
        X[start:stop] = rng.random((stop - start, d), dtype=np.float32)
    X.flush()
    del X


def measure(label: str, fn) -> dict:
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    tracemalloc.start()
    t0 = time.perf_counter()
    fn()
    seconds = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"what": label, "seconds": seconds, "traced_peak_mb": peak / 1e6, "rss_growth_mb": rss_after - rss_before}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=None, help="rows of the memory-mapped file (200,000; quick: 5,000)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 5,000 rows")
    parser.add_argument("--out", type=Path, default=None, help="also write the report to this markdown file")
    parser.add_argument(H.KEEP_FLAG, action="store_true", help="do not unset OPENBLAS_* variables")
    args = parser.parse_args(argv)
    args.rows = args.rows or (5_000 if args.quick else 200_000)
    command = H.command_line("bench_memmap.py", sys.argv[1:] if argv is None else argv)
    common = {"epochs": 1, "batch_size": 256, "random_state": 0, "verbose": 0}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.npy"
        write_memmap(path, args.rows)
        X = np.load(path, mmap_mode="r")
        size_mb = X.nbytes / 1e6
        ae = npae.Autoencoder(hidden_sizes=(256,), latent_dim=32, **common)
        cae = npae.ContractiveAutoencoder(hidden_sizes=(256,), latent_dim=32, activation="tanh",
                                          latent_activation="sigmoid", **common)
        vae = npae.VAE(hidden_sizes=(256,), latent_dim=16, **common)
        rows = [
            measure("Autoencoder.fit (1 epoch)", lambda: ae.fit(X)),
            measure("Autoencoder.transform (all rows)", lambda: ae.transform(X)),
            measure("ContractiveAutoencoder.fit (1 epoch)", lambda: cae.fit(X)),
            measure("VAE.fit (1 epoch)", lambda: vae.fit(X)),
            measure("VAE.log_likelihood (2,000 rows, k=100)", lambda: vae.log_likelihood(X[:2000], k=100)),
        ]
    lines = ["# Peak memory while fitting a memory-mapped array (`bench_memmap.py`)", "",
             *H.machine_lines(H.machine_info(torch_used=False), command), "",
             f"Memory-mapped data: {args.rows:,} x 784 float32 = {size_mb:,.0f} MB on disk", "",
             "| call | seconds | traced peak (MB) | peak RSS growth (MB) |", "|---|---:|---:|---:|"]
    lines += [f"| {r['what']} | {r['seconds']:.1f} | {r['traced_peak_mb']:.1f} | {r['rss_growth_mb']:.0f} |"
              for r in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    H.write_report(text, args.out, None, results=False)


if __name__ == "__main__":
    H.reexec_without_openblas_env()
    main()
