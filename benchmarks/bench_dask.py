"""npae on Dask (issue 16): scoring rows/s with 1 and 2 workers against in-memory NumPy, peak
memory per worker, and a streaming fit against ``fit`` on a memory map.

Writes an (N, D) float32 ``.npy`` file block by block (never holding it in memory): rows near a
4-dimensional manifold, x = tanh(c A) + 0.1 ε, c ~ N(0, I_4), so an autoencoder has something to
learn. Then, on this machine:

1. trains a small Autoencoder (D-64-8, tanh, squared error) on the first 50,000 rows;
2. times ``score_samples`` on all N rows four ways, in ``--rounds`` rounds whose order alternates
   (the machine is shared; a busy minute then slows every arm of a round): in memory
   (``numpy.load`` first, not timed) with 1 and with 2 BLAS threads, and
   ``npae.dask.ParallelPostFit(model).score_samples(npae.dask.from_npy(path))`` on a
   ``distributed.LocalCluster`` of 1 and of 2 worker processes (one thread each, 127.0.0.1,
   both clusters up throughout), results gathered to the client, after a warm-up; the RSS of
   each worker before the run and its peak (sampled every 10 ms), which counts the file pages a
   worker has mapped;
3. counts how often each worker unpickles the model while transforming 12 blocks, with
   ``npae.dask.ParallelPostFit`` and with dask-ml's own ``ParallelPostFit``;
4. trains the same architecture from the same initial weights for ``--epochs`` epochs two ways,
   their epochs alternating: streaming, ``npae.dask.Incremental`` over ``from_npy`` blocks on 2
   workers whose ``--memory-limit`` is less than the file, one ``partial_fit`` pass per epoch,
   the block order reshuffled every pass; and in memory, epochs of ``fit`` on
   ``numpy.load(path, mmap_mode="r")``. Reports rows/s and the loss each reaches on 100,000
   held-out rows.

    python benchmarks/bench_dask.py --results         # 10,000,000 x 32 rows (1.3 GB), 10-15 min
    python benchmarks/bench_dask.py --quick           # 200,000 rows, 1 epoch: a smoke run

Prints a markdown report under the machine header (``harness.machine_lines``); ``--results``
puts it into RESULTS.md's ``bench_dask.py`` section, ``--out`` into a file.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import harness as H
import numpy as np

import npae

LATENT_TRUE = 4  # dimension of the manifold the rows lie near
HELD_OUT = 100_000
BATCH = 1024  # minibatch rows of every fit


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
    return npae.Autoencoder(hidden_sizes=(64,), latent_dim=8, activation="tanh", loss="mse", batch_size=BATCH,
                            learning_rate=3e-3, epochs=epochs, random_state=0, verbose=0)


# ------------------------------------------------------------------------------ on the workers
def _rss_mb() -> float:
    import psutil

    return psutil.Process(os.getpid()).memory_info().rss / 2**20


def _start_peak_sampler(dask_worker) -> float:
    """Sample this worker's RSS every 10 ms from now on; returns the RSS now (MB).

    (``ru_maxrss`` cannot serve: a worker process starts with the maximum of the process it was
    forked from.)"""
    import threading

    import psutil

    proc = psutil.Process(os.getpid())
    state = {"peak": proc.memory_info().rss, "stop": False}

    def sample():
        while not state["stop"]:
            state["peak"] = max(state["peak"], proc.memory_info().rss)
            time.sleep(0.01)

    old = getattr(dask_worker, "_bench_peak", None)
    if old is not None:
        old["stop"] = True
    dask_worker._bench_peak = state
    threading.Thread(target=sample, daemon=True).start()
    return state["peak"] / 2**20


def _peak_rss_mb(dask_worker) -> float:
    return dask_worker._bench_peak["peak"] / 2**20


def _blas_threads() -> str:
    import threadpoolctl

    return ", ".join(f"{p['internal_api']} {p['num_threads']}" for p in threadpoolctl.threadpool_info()) or "none"


def _warm_up_training() -> None:
    """One tiny fit, so the first timed epoch does not include numba compiling the Adam kernel."""
    import numpy as np

    import npae

    npae.Autoencoder(hidden_sizes=(4,), latent_dim=2, epochs=1, verbose=0).fit(np.zeros((8, 3), np.float32))


def _count_unpickling() -> None:
    """On a worker: count every npae model unpickled from now on (its class's ``__setstate__``)."""
    from npae.models.base import BaseAutoencoder

    inherited = BaseAutoencoder.__setstate__  # BaseEstimator's, unless npae defines its own

    def counting_setstate(self, state):
        counting_setstate.calls += 1
        return inherited(self, state)

    counting_setstate.calls = 0
    counting_setstate.own = BaseAutoencoder.__dict__.get("__setstate__")
    BaseAutoencoder.__setstate__ = counting_setstate


def _unpickled() -> int:
    from npae.models.base import BaseAutoencoder

    counting = BaseAutoencoder.__setstate__
    if counting.own is None:
        del BaseAutoencoder.__setstate__
    else:
        BaseAutoencoder.__setstate__ = counting.own
    return counting.calls


# ------------------------------------------------------------------------------ arms
def cluster(n_workers: int, memory_limit: str):
    from distributed import Client, LocalCluster

    lc = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, memory_limit=memory_limit)
    return lc, Client(lc)


def score_arms(model, path: Path, chunk: int, memory_limit: str, rounds: int, log) -> dict:
    """Seconds of every scoring arm, ``rounds`` rounds, the order reversed every other round.

    The machine is shared, so the arms alternate instead of running one after the other: a busy
    minute then slows every arm of a round, not one arm. Both clusters stay up throughout.
    """
    import threadpoolctl

    import npae.dask as nd

    X = np.load(path)  # in memory, not timed
    clusters = {w: cluster(w, memory_limit) for w in (1, 2)}
    try:
        lazy = {w: nd.ParallelPostFit(model).score_samples(nd.from_npy(path, rows_per_chunk=chunk)) for w in (1, 2)}
        for _, client in clusters.values():  # warm-up: workers import npae, receive the model
            with client.as_current():
                nd.ParallelPostFit(model).score_samples(nd.from_npy(path, rows_per_chunk=chunk)[:chunk]).compute()
        rss = {w: {"before": [], "peak": []} for w in (1, 2)}
        results = {}

        def in_memory(threads):
            def run():
                with threadpoolctl.threadpool_limits(threads, user_api="blas"):
                    results[f"mem{threads}"] = model.score_samples(X)
            return run

        def on_dask(w):
            def run():
                client = clusters[w][1]
                before = client.run(_start_peak_sampler)
                with client.as_current():
                    results[f"dask{w}"] = lazy[w].compute()
                peak = client.run(_peak_rss_mb)
                rss[w]["before"].append(list(before.values()))
                rss[w]["peak"].append(list(peak.values()))
            return run

        arms = {"mem1": in_memory(1), "mem2": in_memory(2), "dask1": on_dask(1), "dask2": on_dask(2)}
        times = {name: [] for name in arms}
        loads = []
        for r in range(rounds):
            order = list(arms) if r % 2 == 0 else list(arms)[::-1]
            for name in order:
                t0 = time.perf_counter()
                arms[name]()
                times[name].append(time.perf_counter() - t0)
                loads.append(os.getloadavg()[0])
                log(f"round {r + 1} {name}: {times[name][-1]:.1f} s (load {loads[-1]:.1f})")
        threads = sorted(set(clusters[2][1].run(_blas_threads).values()))
        counts = unpickling_counts(model, clusters[2][1], path)
        agree = max(float(np.max(np.abs(results[f"dask{w}"] - results["mem1"]))) for w in (1, 2))
        return {"times": times, "rss": rss, "threads": threads, "counts": counts, "agree": agree,
                "scale": float(np.mean(np.abs(results["mem1"]))), "loads": loads}
    finally:
        for lc, client in clusters.values():
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
        with client.as_current():
            wrapper.transform(X).compute()
        out[name] = sorted(client.run(_unpickled).values())
    return out


def held_out_loss(model, X_held) -> float:
    return -model.score(X_held)  # mean over rows of the per-row squared error summed over features


def fit_arms(path: Path, epochs: int, chunk: int, memory_limit: str, X_held, log) -> dict:
    """Streaming and in-memory training from the same initial model, their epochs interleaved.

    In memory, an epoch is ``partial_fit`` on the whole memory map: the same epoch ``fit`` runs
    (``fit(X)`` with epochs=E equals E calls of ``partial_fit(X)``, both shuffling across the
    whole file).
    """
    import npae.dask as nd

    lc, client = cluster(2, memory_limit)
    try:
        X = nd.from_npy(path, rows_per_chunk=chunk)
        _warm_up_training()
        client.run(_warm_up_training)  # import npae and compile its kernels on the workers before timing
        streaming = nd.Incremental(make_model(), random_state=np.random.RandomState(0))
        memory, mm = make_model(), np.load(path, mmap_mode="r")
        out = {"streaming": {"seconds": [], "train_loss": []}, "memory": {"seconds": [], "train_loss": []}}
        before = client.run(_start_peak_sampler)
        for epoch in range(epochs):
            t0 = time.perf_counter()
            with client.as_current():
                streaming.partial_fit(X)
            out["streaming"]["seconds"].append(time.perf_counter() - t0)
            blocks = streaming.estimator_.history_["loss"][-X.numblocks[0]:]
            out["streaming"]["train_loss"].append(float(np.average(blocks, weights=X.chunks[0])))
            t0 = time.perf_counter()
            memory.partial_fit(mm)
            out["memory"]["seconds"].append(time.perf_counter() - t0)
            out["memory"]["train_loss"].append(memory.history_["loss"][-1])
            log(f"epoch {epoch + 1}: streaming {out['streaming']['seconds'][-1]:.1f} s, in memory "
                f"{out['memory']['seconds'][-1]:.1f} s; losses {out['streaming']['train_loss'][-1]:.4f}, "
                f"{out['memory']['train_loss'][-1]:.4f}")
        peak = client.run(_peak_rss_mb)
        out["streaming"].update(held_out=held_out_loss(streaming.estimator_, X_held), before=list(before.values()),
                                peak=list(peak.values()))
        out["memory"].update(held_out=held_out_loss(memory, X_held))
        return out
    finally:
        client.close()
        lc.close()


# ------------------------------------------------------------------------------ report
def _stats(times) -> str:
    return f"{min(times):.1f} / {statistics.median(times):.1f}"


def report(args, command, info, n, d, size_mb, score, fits) -> str:
    def rate(seconds):  # million rows/s
        return f"{n / seconds / 1e6:.2f}"

    times = score["times"]
    lines = ["# npae on Dask: scoring throughput and a streaming fit (`bench_dask.py`)", "",
             *H.machine_lines(info, command), "",
             (f"Data: {n:,} × {d} float32 rows = {size_mb:,.0f} MB in one `.npy` file (page cache warm); "
             f"model {d}-64-8-64-{d} (tanh, squared error), float32. Dask: `distributed.LocalCluster`s on "
             f"127.0.0.1, worker processes with 1 thread each (BLAS pools on the workers: "
             f"{'; '.join(score['threads'])}), `memory_limit={args.memory_limit}` each, blocks of "
             f"{args.chunk:,} rows read by `npae.dask.from_npy`, all scores gathered to the client."), "",
             "## Scoring: `score_samples` on every row", "",
             (f"{args.rounds} rounds, the four arms in alternating order within each round (the machine is "
             f"shared: load average {min(score['loads']):.1f}–{max(score['loads']):.1f} during the runs). "
             f"Best / median seconds; rows/s and the ratio from the best."), "",
             ("| arm | cores | seconds, best / median | million rows/s | vs NumPy, 1 thread | "
             "worker RSS before → peak (MB) |"), "|---|---:|---:|---:|---:|---|"]
    base = min(times["mem1"])
    for name, label, cores in [("mem1", "NumPy in memory, `model.score_samples(X)`", 1),
                               ("mem2", "NumPy in memory, `model.score_samples(X)`", 2),
                               ("dask1", "`npae.dask.ParallelPostFit`, 1 worker", 1),
                               ("dask2", "`npae.dask.ParallelPostFit`, 2 workers", 2)]:
        best = min(times[name])
        memory = "(one process)"
        if name.startswith("dask"):
            r = score["rss"][int(name[-1])]
            worst = max(range(len(r["peak"])), key=lambda i: max(r["peak"][i]))
            memory = ", ".join(f"{b:.0f} → {p:.0f}" for b, p in zip(r["before"][worst], r["peak"][worst]))
        lines.append(f"| {label} | {cores} | {_stats(times[name])} | {rate(best)} | {base / best:.2f}× | {memory} |")
    lines += ["", (f"Largest difference between the Dask and in-memory scores: {score['agree']:.2e} "
              f"(scores of order {score['scale']:.2f})."), "",
              "Model unpicklings per worker while transforming 12 blocks of 1,000 rows (2 workers):", "",
              "| wrapper | unpicklings per worker |", "|---|---|"]
    lines += [f"| `{name}` | {', '.join(map(str, c))} |" for name, c in score["counts"].items()]
    stream, memory = fits["streaming"], fits["memory"]
    lines += ["", "## Streaming fit against `fit` on a memory map", "",
              (f"The same architecture from the same initial weights, {args.epochs} epoch(s), batch {BATCH}, "
              f"Adam 3e-3, the two arms' epochs alternating. Streaming: `npae.dask.Incremental` over "
              f"`from_npy` blocks of {args.chunk:,} rows on 2 workers with `memory_limit={args.memory_limit}` "
              f"each (the file is {size_mb:,.0f} MB), one `partial_fit` pass per epoch, the block order "
              f"reshuffled every pass, rows shuffled within each block. In memory: one epoch of `fit` on "
              f"`numpy.load(path, mmap_mode=\"r\")` (`partial_fit` on the whole map), rows shuffled across the "
              f"whole file. Training loss: mean over the epoch's rows (streaming: the row-weighted mean of the "
              f"per-block losses). Held-out loss: squared error summed over the {d} features, mean over "
              f"{HELD_OUT:,} fresh rows."), "",
              "| arm | epoch | seconds | million rows/s | training loss | held-out loss after the last epoch |",
              "|---|---:|---:|---:|---:|---:|"]
    for label, r in [("streaming (`Incremental`)", stream), ("in memory (`fit` on the memory map)", memory)]:
        for e, (t, loss) in enumerate(zip(r["seconds"], r["train_loss"]), start=1):
            last = f"{r['held_out']:.4f}" if e == len(r["seconds"]) else ""
            lines.append(f"| {label} | {e} | {t:.1f} | {rate(t)} | {loss:.4f} | {last} |")
    rss = ", ".join(f"{b:.0f} → {p:.0f}" for b, p in zip(stream["before"], stream["peak"]))
    lines += ["", f"Worker RSS during the streaming fit, before → peak (MB): {rss}."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=None, help="rows of the data file (10,000,000; quick: 200,000)")
    parser.add_argument("--features", type=int, default=32, help="columns D (32)")
    parser.add_argument("--chunk", type=int, default=None, help="rows per Dask block (250,000; quick: 20,000)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs of both fits (2; quick: 1)")
    parser.add_argument("--memory-limit", default="768MiB", help="memory_limit of each worker (768MiB)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds of the scoring arms (2; quick: 1)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 200,000 rows, 1 epoch")
    parser.add_argument("--results", action="store_true", help="write the report into RESULTS.md's section")
    parser.add_argument("--out", type=Path, default=None, help="also write the report to this markdown file")
    parser.add_argument(H.KEEP_FLAG, action="store_true", help="do not unset OPENBLAS_* variables")
    args = parser.parse_args(argv)
    args.rows = args.rows or (200_000 if args.quick else 10_000_000)
    args.chunk = args.chunk or (20_000 if args.quick else 250_000)
    args.epochs = args.epochs or (1 if args.quick else 2)
    args.rounds = args.rounds or (1 if args.quick else 2)
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
        model = make_model(epochs=5).fit(np.load(path, mmap_mode="r")[:50_000])
        score = score_arms(model, path, args.chunk, args.memory_limit, args.rounds, log)
        fits = fit_arms(path, args.epochs, args.chunk, args.memory_limit, X_held, log)
    text = report(args, command, info, n, d, size_mb, score, fits)
    print(text)
    H.write_report(text, args.out, "bench_dask.py", results=args.results)


if __name__ == "__main__":
    H.reexec_without_openblas_env()
    main()
