"""npae on Dask (issue 16): scoring rows/s with 1 and 2 workers against in-memory NumPy, peak
memory per worker, and a streaming fit against ``fit`` on a memory map.

Writes an (N, D) float32 ``.npy`` file block by block (never holding it in memory): rows near a
4-dimensional manifold, x = tanh(c A) + 0.1 ε, c ~ N(0, I_4), so an autoencoder has something to
learn. Then, on this machine:

1. trains a small Autoencoder (D-64-8, tanh, squared error) on the first 50,000 rows;
2. times ``score_samples`` on all N rows in memory (``numpy.load`` first, not timed), with 1 and
   with 2 BLAS threads;
3. times ``npae.dask.ParallelPostFit(model).score_samples(npae.dask.from_npy(path))`` on a
   ``distributed.LocalCluster`` of 1 and of 2 worker processes (one thread each, 127.0.0.1),
   results gathered to the client, after a warm-up; peak RSS of each worker (``ru_maxrss``, which
   counts the file pages a worker has mapped) against its RSS before the timed run;
4. counts how often each worker unpickles the model while transforming 12 blocks, with
   ``npae.dask.ParallelPostFit`` and with dask-ml's own ``ParallelPostFit``;
5. trains the same architecture from scratch for ``--epochs`` epochs two ways: streaming,
   ``npae.dask.Incremental`` over ``from_npy`` blocks on the 2-worker cluster whose workers each
   have ``--memory-limit`` (less than the file), one ``partial_fit`` pass per epoch, block order
   reshuffled every pass; and in memory, ``fit`` on ``numpy.load(path, mmap_mode="r")``. Reports
   rows/s and the loss each reaches on 100,000 held-out rows.

    python benchmarks/bench_dask.py --results         # 10,000,000 x 32 rows (1.3 GB), about 10 min
    python benchmarks/bench_dask.py --quick           # 200,000 rows, 1 epoch: a smoke run

Prints a markdown report under the machine header (``harness.machine_lines``); ``--results``
puts it into RESULTS.md's ``bench_dask.py`` section, ``--out`` into a file.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import harness as H
import numpy as np

import npae
import npae.training

LATENT_TRUE = 4  # dimension of the manifold the rows lie near
HELD_OUT = 100_000


def write_rows(path: Path, rows: int, d: int, seed: int, block: int = 262_144) -> None:
    """x = tanh(c A) + 0.1 ε row block by row block into a float32 .npy file (A fixed by d)."""
    A = np.random.default_rng(12345).normal(size=(LATENT_TRUE, d)) / np.sqrt(LATENT_TRUE) * 1.5
    rng = np.random.default_rng(seed)
    X = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(rows, d))
    for start in range(0, rows, block):
        n = min(block, rows - start)
        codes = rng.standard_normal((n, LATENT_TRUE))
        X[start:start + n] = np.tanh(codes @ A) + 0.1 * rng.standard_normal((n, d))
    X.flush()
    del X


def make_model(epochs: int = 1) -> npae.Autoencoder:
    return npae.Autoencoder(hidden_sizes=(64,), latent_dim=8, activation="tanh", loss="mse", batch_size=256,
                            learning_rate=1e-3, epochs=epochs, random_state=0, verbose=0)


# ------------------------------------------------------------------------------ on the workers
def _rss_mb() -> float:
    import psutil

    return psutil.Process(os.getpid()).memory_info().rss / 2**20


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _blas_threads() -> str:
    import threadpoolctl

    return ", ".join(f"{p['internal_api']} {p['num_threads']}" for p in threadpoolctl.threadpool_info()) or "none"


def _count_unpickling() -> None:
    from sklearn.base import BaseEstimator

    from npae.models.base import BaseAutoencoder

    def counting_setstate(self, state):
        counting_setstate.calls += 1
        return BaseEstimator.__setstate__(self, state)

    counting_setstate.calls = 0
    BaseAutoencoder.__setstate__ = counting_setstate


def _unpickled() -> int:
    from npae.models.base import BaseAutoencoder

    calls = BaseAutoencoder.__setstate__.calls
    del BaseAutoencoder.__setstate__
    return calls


# ------------------------------------------------------------------------------ arms
def cluster(n_workers: int, memory_limit: str):
    from distributed import Client, LocalCluster

    lc = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, memory_limit=memory_limit)
    return lc, Client(lc)


def score_in_memory(model, path: Path, threads: int) -> dict:
    import threadpoolctl

    X = np.load(path)
    with threadpoolctl.threadpool_limits(threads, user_api="blas"):
        model.score_samples(X[:10_000])  # warm-up
        t0 = time.perf_counter()
        scores = model.score_samples(X)
        seconds = time.perf_counter() - t0
    del X
    return {"seconds": seconds, "scores": scores}


def score_on_dask(model, path: Path, n_workers: int, chunk: int, memory_limit: str, log) -> dict:
    import npae.dask as nd

    lc, client = cluster(n_workers, memory_limit)
    try:
        X = nd.from_npy(path, rows_per_chunk=chunk)
        scorer = nd.ParallelPostFit(model)
        scorer.score_samples(X[:chunk]).compute()  # warm-up: workers import npae, receive the model
        before = client.run(_rss_mb)
        t0 = time.perf_counter()
        scores = scorer.score_samples(X).compute()
        seconds = time.perf_counter() - t0
        peak = client.run(_peak_rss_mb)
        threads = sorted(set(client.run(_blas_threads).values()))
        log(f"{n_workers} worker(s): {seconds:.1f} s, RSS before {before}, peak {peak}")
        counts = None
        if n_workers == 2:
            counts = unpickling_counts(model, client, path)
        return {"seconds": seconds, "scores": scores, "before": list(before.values()),
                "peak": list(peak.values()), "threads": threads, "counts": counts}
    finally:
        client.close()
        lc.close()


def unpickling_counts(model, client, path: Path) -> dict:
    """Model unpicklings per worker while transforming 12 blocks: npae.dask vs dask-ml."""
    from dask_ml.wrappers import ParallelPostFit as DaskMLParallelPostFit

    import npae.dask as nd

    X = nd.from_npy(path, rows_per_chunk=1000)[:12_000]
    out = {}
    for name, wrapper in [("npae.dask.ParallelPostFit", nd.ParallelPostFit(model)),
                          ("dask_ml.wrappers.ParallelPostFit", DaskMLParallelPostFit(model))]:
        client.run(_count_unpickling)
        wrapper.transform(X).compute()
        out[name] = sorted(client.run(_unpickled).values())
    return out


def held_out_loss(model, X_held) -> float:
    return -model.score(X_held)  # mean over rows of the per-row squared error summed over features


def fit_streaming(path: Path, epochs: int, chunk: int, memory_limit: str, X_held, log) -> dict:
    import npae.dask as nd

    lc, client = cluster(2, memory_limit)
    try:
        X = nd.from_npy(path, rows_per_chunk=chunk)
        client.run(lambda: __import__("npae"))  # import on the workers before timing
        inc = nd.Incremental(make_model(), random_state=np.random.RandomState(0))
        before = client.run(_rss_mb)
        seconds, losses = [], []
        for epoch in range(epochs):
            t0 = time.perf_counter()
            inc.partial_fit(X)
            seconds.append(time.perf_counter() - t0)
            blocks = inc.estimator_.history_["loss"][-X.numblocks[0]:]
            losses.append(float(np.average(blocks, weights=X.chunks[0])))
            log(f"streaming epoch {epoch + 1}: {seconds[-1]:.1f} s, train loss {losses[-1]:.4f}")
        peak = client.run(_peak_rss_mb)
        return {"seconds": seconds, "train_loss": losses, "held_out": held_out_loss(inc.estimator_, X_held),
                "before": list(before.values()), "peak": list(peak.values())}
    finally:
        client.close()
        lc.close()


class EpochTimer(npae.training.Callback):
    """Seconds of each epoch of ``fit``, from the end of the previous one."""

    def on_train_begin(self, logs=None) -> None:
        self.seconds, self._last = [], time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        now = time.perf_counter()
        self.seconds.append(now - self._last)
        self._last = now


def fit_in_memory(path: Path, epochs: int, X_held, log) -> dict:
    X = np.load(path, mmap_mode="r")
    model = make_model(epochs)
    timer = EpochTimer()
    rss0 = _peak_rss_mb()
    model.fit(X, callbacks=[timer])
    log(f"in-memory fit: {timer.seconds} s, losses {model.history_['loss']}")
    return {"seconds": timer.seconds, "train_loss": list(model.history_["loss"]),
            "held_out": held_out_loss(model, X_held), "rss_growth": _peak_rss_mb() - rss0}


# ------------------------------------------------------------------------------ report
def report(args, command, info, n, d, size_mb, mem, dsk, stream, memfit) -> str:
    rate = lambda s: f"{n / s / 1e6:.2f}"  # noqa: E731  million rows/s
    lines = ["# npae on Dask: scoring throughput and a streaming fit (`bench_dask.py`)", "",
             *H.machine_lines(info, command), "",
             f"Data: {n:,} × {d} float32 rows = {size_mb:,.0f} MB in one `.npy` file (page cache warm); "
             f"model {d}-64-8-64-{d} (tanh, squared error), float32. Dask: `distributed.LocalCluster` on "
             f"127.0.0.1, worker processes with 1 thread each (BLAS pools on the workers: "
             f"{'; '.join(dsk[1]['threads'])}), blocks of {args.chunk:,} rows read by `npae.dask.from_npy`, "
             f"scores gathered to the client.", "",
             "## Scoring: `score_samples` on every row", "",
             "| arm | cores | seconds | million rows/s | vs NumPy, 1 thread | worker RSS before → peak (MB) |",
             "|---|---:|---:|---:|---:|---|"]
    base = mem[1]["seconds"]
    for threads in (1, 2):
        s = mem[threads]["seconds"]
        lines.append(f"| NumPy in memory (`model.score_samples(X)`) | {threads} | {s:.1f} | {rate(s)} | "
                     f"{base / s:.2f}× | (one process) |")
    for workers in (1, 2):
        r = dsk[workers]
        rss = ", ".join(f"{b:.0f} → {p:.0f}" for b, p in zip(r["before"], r["peak"]))
        lines.append(f"| `npae.dask.ParallelPostFit`, {workers} worker{'s' if workers > 1 else ''} | {workers} | "
                     f"{r['seconds']:.1f} | {rate(r['seconds'])} | {base / r['seconds']:.2f}× | {rss} |")
    agree = max(float(np.max(np.abs(dsk[w]["scores"] - mem[1]["scores"]))) for w in (1, 2))
    lines += ["", f"Largest difference between the Dask and in-memory scores: {agree:.2e} "
              f"(scores of order {float(np.mean(np.abs(mem[1]['scores']))):.2f}).", ""]
    counts = dsk[2]["counts"]
    lines += ["Model unpicklings per worker while transforming 12 blocks of 1,000 rows (2 workers):", "",
              "| wrapper | unpicklings per worker |", "|---|---|"]
    lines += [f"| `{name}` | {', '.join(map(str, c))} |" for name, c in counts.items()]
    lines += ["", "## Streaming fit against `fit` on a memory map", "",
              f"The same architecture trained from scratch for {args.epochs} epoch(s), batch 256, Adam 1e-3. "
              f"Streaming: `npae.dask.Incremental` over `from_npy` blocks of {args.chunk:,} rows on 2 workers with "
              f"`memory_limit={args.memory_limit}` each (the file is {size_mb:,.0f} MB), one `partial_fit` pass "
              f"per epoch, block order reshuffled every pass, rows shuffled within each block. In memory: "
              f"`fit` on `numpy.load(path, mmap_mode=\"r\")`, rows shuffled across the whole file. Held-out loss: "
              f"mean squared error summed over the {d} features, on {HELD_OUT:,} fresh rows.", "",
              "| arm | epoch | seconds | million rows/s | training loss | held-out loss after the last epoch |",
              "|---|---:|---:|---:|---:|---:|"]
    for label, r in [("streaming (`Incremental`)", stream), ("in memory (`fit` on the memory map)", memfit)]:
        for e, (s, loss) in enumerate(zip(r["seconds"], r["train_loss"]), start=1):
            last = f"{r['held_out']:.4f}" if e == len(r["seconds"]) else ""
            lines.append(f"| {label} | {e} | {s:.1f} | {rate(s)} | {loss:.4f} | {last} |")
    rss = ", ".join(f"{b:.0f} → {p:.0f}" for b, p in zip(stream["before"], stream["peak"]))
    lines += ["", f"Worker RSS during the streaming fit, before → peak (MB): {rss}. In-memory fit: the "
              f"process's peak RSS grew by {memfit['rss_growth']:.0f} MB (mapped file pages count in RSS). "
              f"In-memory `fit` reports one loss per epoch over all rows; the streaming loss is the "
              f"row-weighted mean of the per-block `partial_fit` losses of the pass."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=None, help="rows of the data file (10,000,000; quick: 200,000)")
    parser.add_argument("--features", type=int, default=32, help="columns D (32)")
    parser.add_argument("--chunk", type=int, default=None, help="rows per Dask block (250,000; quick: 20,000)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs of both fits (2; quick: 1)")
    parser.add_argument("--memory-limit", default="1GiB", help="memory_limit of each worker (1GiB)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 200,000 rows, 1 epoch")
    parser.add_argument("--results", action="store_true", help="write the report into RESULTS.md's section")
    parser.add_argument("--out", type=Path, default=None, help="also write the report to this markdown file")
    parser.add_argument(H.KEEP_FLAG, action="store_true", help="do not unset OPENBLAS_* variables")
    args = parser.parse_args(argv)
    args.rows = args.rows or (200_000 if args.quick else 10_000_000)
    args.chunk = args.chunk or (20_000 if args.quick else 250_000)
    args.epochs = args.epochs or (1 if args.quick else 2)
    command = H.command_line("bench_dask.py", sys.argv[1:] if argv is None else argv)
    log = H.logger("bench_dask")
    info = H.machine_info(torch_used=False)
    n, d = args.rows, args.features
    with tempfile.TemporaryDirectory() as tmp:
        path, held_path = Path(tmp) / "rows.npy", Path(tmp) / "held_out.npy"
        write_rows(path, n, d, seed=0)
        write_rows(held_path, HELD_OUT, d, seed=1)
        X_held = np.load(held_path)
        size_mb = path.stat().st_size / 1e6
        log(f"wrote {n:,} x {d} rows ({size_mb:,.0f} MB)")
        model = make_model(epochs=3).fit(np.load(path, mmap_mode="r")[:50_000])
        mem = {threads: score_in_memory(model, path, threads) for threads in (1, 2)}
        log(f"in memory: {mem[1]['seconds']:.1f} s (1 thread), {mem[2]['seconds']:.1f} s (2 threads)")
        dsk = {w: score_on_dask(model, path, w, args.chunk, args.memory_limit, log) for w in (1, 2)}
        stream = fit_streaming(path, args.epochs, args.chunk, args.memory_limit, X_held, log)
        memfit = fit_in_memory(path, args.epochs, X_held, log)
    text = report(args, command, info, n, d, size_mb, mem, dsk, stream, memfit)
    print(text)
    H.write_report(text, args.out, "bench_dask.py", results=args.results)


if __name__ == "__main__":
    H.reexec_without_openblas_env()
    main()
