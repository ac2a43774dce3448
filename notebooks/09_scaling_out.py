# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 9. Scaling out: from the embedded demo to a Dask cluster
#
# Every chapter so far fitted and scored arrays that fit in memory. A practitioner who trained an
# anomaly detector on a sample now wants to score a stream of a billion rows, or to train on data
# that does not fit in memory. npae does not grow a distributed engine of its own: it hands its
# estimators to **Dask**, the engine the scikit-learn world already uses, which splits an array into
# row **blocks**, runs a task per block on a pool of **workers** and gathers the results.
#
# In this chapter you will
#
# 1. train a detector in memory on the embedded Fashion-MNIST subset, as in chapter 6;
# 2. score a stream of images stored on disk block by block on a cluster with
#    `npae.dask.ParallelPostFit`, and check that the scores are the in-memory scores;
# 3. see **what runs where**: the client builds a graph, the workers read, score and reduce their
#    blocks, and the model travels to each worker once;
# 4. train on the stream without ever holding it in memory (`npae.dask.Incremental`), and learn
#    what an *epoch* and *shuffling* mean when the data arrive in blocks;
# 5. see what changes for a cluster of many machines: one line.
#
# `pip install "npae[dask]"` installs Dask, distributed and dask-ml. `NPAE_QUICK=1` (how the test
# suite runs this file) shrinks every size. The cluster here is `LocalCluster(processes=False)`:
# its workers are threads of this process, which start in a second and let this file run as a
# plain script too (section 9.3 says why worker *processes* need one more line in a script).

# %%
import os
import shutil
import tempfile
import time
from pathlib import Path

import dask
import matplotlib.pyplot as plt
import numpy as np
from distributed import Client, LocalCluster

import npae
import npae.dask as nd
import npae.datasets
import npae.exercises

QUICK = os.environ.get("NPAE_QUICK") == "1"
EPOCHS = 3 if QUICK else 30  # in-memory training of the detector
N_STREAM = 12_000 if QUICK else 100_000  # images in the stream on disk (314 MB in the full setting)
ROWS_PER_CHUNK = 3_000 if QUICK else 25_000  # rows per Dask block
PASSES = 2 if QUICK else 5  # epochs of the streaming fit
INVERTED = 0.01  # share of stream images that arrive inverted (a camera fault)
SEED = 0

npae.set_backend("numpy")
rng = np.random.default_rng(SEED)
X_train, y_train = npae.datasets.load_embedded("train")  # 5,000 images in [0, 1], 784 pixels
X_test, y_test = npae.datasets.load_embedded("test")  # 1,000 images
if QUICK:
    X_train = X_train[:1000]

# %% [markdown]
# ## 9.1 The detector, in memory
#
# As in chapter 6: an autoencoder 784-64-16-64-784 with squared error, and an `AnomalyDetector`
# whose score is minus the reconstruction error,
# $$s(x) = -\lVert x - \hat x \rVert^2, \qquad \hat x = \mathrm{decode}(\mathrm{encode}(x)),$$
# higher = more normal, thresholded at the 1 % quantile of the training scores
# (`contamination=0.01`).

# %%
model = npae.Autoencoder(hidden_sizes=(64,), latent_dim=16, loss="mse", epochs=EPOCHS, batch_size=64,
                         random_state=SEED, verbose=0)
detector = npae.AnomalyDetector(model, 0.01).fit(X_train)  # contamination = 1 %
print(f"offset_ = {detector.offset_:.3f}; training loss {detector.model_.history_['loss'][0]:.2f} → "
      f"{detector.model_.history_['loss'][-1]:.2f}")

# %% [markdown]
# ## 9.2 A stream on disk
#
# The stream: $N$ test images drawn with replacement, 1 % of them arriving inverted,
# $x \mapsto 1 - x$ (a camera fault), written block by block to one `.npy` file, the format
# `numpy.load(..., mmap_mode="r")` maps without reading it. `npae.dask.from_npy` turns the file into
# a Dask array: the **graph** holds the path and the row range of each block, never the data, so the
# file can be larger than any machine's memory. Nothing is read until something is computed.

# %%
workdir = Path(tempfile.mkdtemp(prefix="npae-stream-"))
path = workdir / "stream.npy"
stream = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(N_STREAM, 784))
is_inverted = rng.random(N_STREAM) < INVERTED
for start in range(0, N_STREAM, ROWS_PER_CHUNK):
    stop = min(start + ROWS_PER_CHUNK, N_STREAM)
    rows = X_test[rng.integers(0, len(X_test), stop - start)].copy()
    hit = is_inverted[start:stop]
    rows[hit] = 1.0 - rows[hit]
    stream[start:stop] = rows
stream.flush()
del stream

X_stream = nd.from_npy(path, rows_per_chunk=ROWS_PER_CHUNK)
print(X_stream)

# %% [markdown]
# ## 9.3 What runs where
#
# A **client** (this notebook) describes the work; a **scheduler** hands tasks to **workers**; each
# worker runs its tasks and keeps their results until they are gathered.
#
# | where | what |
# |---|---|
# | client | holds the fitted detector, builds the graph: one task per block, plus one key holding the model |
# | scheduler | orders the tasks, sends each to a worker, moves results between workers |
# | worker | opens its block of the file (a memory map), runs `detector.score_samples(block)` in memory, keeps $n_b$ scores |
# | client | gathers the $N$ scores (`compute`) or a reduction of them (a count, a mean) |
#
# For $B$ blocks on $W$ workers, dask-ml's own `ParallelPostFit` puts the model inside every block
# task, so it is serialised and sent $B$ times; `npae.dask.ParallelPostFit` makes it one key of
# the graph, which reaches each worker once: $W$ times. `Client()` with a `LocalCluster` runs all
# three roles on this machine.
#
# Below, the two workers are threads of this process (`processes=False`): nothing is pickled, and
# they start at once. A deployment runs workers as processes (`LocalCluster()`'s default, and
# every worker of a real cluster), each with its own interpreter, so that Python code in one never
# waits for another's. A worker process starts by importing the script that launched it; in a
# script (not in Jupyter) the code that starts the cluster must therefore sit under
# `if __name__ == "__main__":`, or every worker would start a cluster of its own.
# `benchmarks/bench_dask.py` is written that way.

# %%
cluster = LocalCluster(processes=False, n_workers=2, threads_per_worker=1, dashboard_address=None)
client = Client(cluster)

scorer = nd.ParallelPostFit(detector)
scores_lazy = scorer.score_samples(X_stream)  # a Dask array, shape (N,), nothing computed yet
labels_lazy = scorer.predict(X_stream)
print(scores_lazy)
t0 = time.perf_counter()
scores, labels = dask.compute(scores_lazy, labels_lazy)  # one read of each block serves both
seconds = time.perf_counter() - t0
print(f"scored {N_STREAM:,} images in {seconds:.1f} s ({N_STREAM / seconds:,.0f} rows/s) on "
      f"{len(client.scheduler_info()['workers'])} workers")

# %% [markdown]
# The scores are the in-memory scores: rows never interact in inference, so each block gets the
# numbers it would get in memory, whatever the chunking. (That holds for a VAE's sampled ELBO too:
# each row draws its Monte Carlo noise from its own stream, keyed by the row and the model, so a
# row scores the same in any block, order or company.) The inverted images score far below the
# threshold:

# %%
in_memory = detector.score_samples(np.load(path, mmap_mode="r"))
print("largest difference from the in-memory scores:", float(np.max(np.abs(scores - in_memory))))
recall = float(np.mean(labels[is_inverted] == -1))
false_alarms = float(np.mean(labels[~is_inverted] == -1))
print(f"inverted images flagged: {recall:.1%}; clean images flagged: {false_alarms:.1%}")

fig, ax = plt.subplots(figsize=(6, 3))
bins = np.linspace(scores.min(), scores.max(), 60)
ax.hist(scores[~is_inverted], bins=bins, alpha=0.6, label="clean", density=True)
ax.hist(scores[is_inverted], bins=bins, alpha=0.6, label="inverted", density=True)
ax.axvline(detector.offset_, color="k", ls="--", label="offset_")
ax.set_xlabel("score_samples (higher = more normal)")
ax.legend()
plt.show()

# %% [markdown]
# The histogram separates the two populations: an inverted image turns the dark background the
# autoencoder learned into a bright one it cannot reconstruct, and the threshold fitted on clean
# training images sits between them.
#
# ## 9.4 Training on the stream
#
# `npae.dask.Incremental(model)` (dask-ml's `Incremental`) trains without ever loading the array:
# one call of `partial_fit(X)` is **one pass** over the blocks, in an order $\pi$ drawn at random,
# and the model's own `partial_fit` trains one epoch over each block in shuffled minibatches of $B$
# rows. With blocks of $n_1, \dots, n_m$ rows a pass therefore makes
# $$\sum_{b=1}^{m} \left\lceil n_b / B \right\rceil$$
# optimizer steps and sees every row once: a pass is an epoch. Shuffling has two levels, the block
# order (a new $\pi$ each pass when `random_state` is a `numpy.random.RandomState`) and the rows
# inside a block; rows of different blocks never meet in a minibatch, so data sorted by class or
# time must be shuffled once on disk, or cut into blocks that are each a fair sample. The model is
# the state carried from one block to the next, so the blocks are trained one after another: a
# streaming fit buys memory, not speed. Here the stream holds the test images, so we fit a fresh
# autoencoder on it and compare with `fit` on the memory map, which shuffles across the whole file.

# %%
streaming = nd.Incremental(npae.Autoencoder(hidden_sizes=(64,), latent_dim=16, loss="mse", batch_size=64,
                                            random_state=SEED, verbose=0),
                           random_state=np.random.RandomState(SEED))
for _ in range(PASSES):
    streaming.partial_fit(X_stream)
block_losses = streaming.estimator_.history_["loss"]  # one entry per block per pass
memory_fit = npae.Autoencoder(hidden_sizes=(64,), latent_dim=16, loss="mse", batch_size=64, epochs=PASSES,
                              random_state=SEED, verbose=0).fit(np.load(path, mmap_mode="r"))
streaming_loss, memory_loss = -streaming.estimator_.score(X_test), -memory_fit.score(X_test)
print(f"test loss after {PASSES} epochs: streaming {streaming_loss:.2f}, fit on the memory map {memory_loss:.2f}")

fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(np.arange(1, len(block_losses) + 1), block_losses, marker=".")
ax.set_xlabel(f"block trained ({X_stream.numblocks[0]} blocks per pass)")
ax.set_ylabel("loss over the block")
plt.show()
client.close()
cluster.close()
shutil.rmtree(workdir)  # the stream file

# %% [markdown]
# The loss falls block after block and pass after pass. When every block is a fair sample of the
# rows, shuffling within blocks costs little: on ten million rows (`benchmarks/RESULTS.md`, section
# `bench_dask.py`) the streaming fit matches the in-memory training loss to four digits and ends
# 2.5 % above its held-out loss after two epochs. With as few steps as the quick setting takes, the
# two can end further apart, and which one wins depends on the seed as much as on the shuffling
# (try `SEED = 1`).
#
# ## 9.5 From one machine to many
#
# Nothing above depends on where the workers are. For a cluster of many machines, start a
# scheduler and workers there (`dask scheduler` on one machine, `dask worker
# tcp://scheduler-address:8786` on each of the others, or a deployment such as dask-kubernetes or
# dask-jobqueue), and replace the `LocalCluster` cell by
#
# ```python
# client = Client("tcp://scheduler-address:8786")
# ```
#
# Every other line stays as it is. Two things must hold on the cluster: each worker has npae
# installed (the same version as the client: the model travels as a pickle), and each can read the
# data path (a shared file system, or an object store through Zarr). On GPU workers, move the
# blocks to the device with `nd.to_backend(X_stream, "cupy")` and fit the model with
# `backend="cupy"`: each block is then scored where it lies, and only the scores come back.
#
# ## Exercises
#
# 1. **How often does the model travel?** A stream of $B = 400$ blocks is scored on $W = 8$
#    workers. How many times does each wrapper send the model to a worker? Check yourself: list the
#    keys of the graph each wrapper builds (`scores.dask`) and find the one(s) holding the model.
# 2. **Steps in a pass.** Write `steps_per_pass(block_rows, batch_size)` that returns the number of
#    optimizer steps one `partial_fit` pass makes over blocks of `block_rows` rows (a tuple of
#    ints, e.g. `X_stream.chunks[0]`). Check yourself against `model.optimizer_.iterations` before
#    and after one `Incremental` pass.
# 3. **Sorted data.** Sort the stream file by class, stream it with `shuffle_blocks=False`, and
#    watch the block losses: what happens to the model at each class boundary? Then try
#    `shuffle_blocks=True` with blocks of 1,000 rows and of 50,000 rows.

# %% [markdown]
# ## What must hold
#
# The cluster's scores are the in-memory scores; the detector flags the inverted images and few
# clean ones; the streaming fit trained every block of every pass, its loss fell, and it ends
# within reach of the in-memory fit.

# %%
assert scores.shape == (N_STREAM,) and np.allclose(scores, in_memory, rtol=1e-5, atol=1e-5)
assert set(np.unique(labels)) <= {-1, 1}
assert recall > 0.9 and false_alarms < 0.05, (recall, false_alarms)
assert len(block_losses) == PASSES * X_stream.numblocks[0]
assert np.mean(block_losses[-X_stream.numblocks[0]:]) < np.mean(block_losses[:X_stream.numblocks[0]])
assert streaming_loss < 1.5 * memory_loss, (streaming_loss, memory_loss)
print("Chapter 9 has no checked \"your turn\" exercises (its Exercises section asks for derivations "
      "and experiments); the checked ones are in chapters 1-5. In this session:")
print(npae.exercises.progress().summary)
