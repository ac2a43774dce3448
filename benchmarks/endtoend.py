"""End-to-end ``fit`` as users call it: npae fast, npae reference and a PyTorch loop over the same data.

Not a script: ``run.py`` calls it. One *block* is a whole fit from a fresh model:

* **npae** (each kernels mode): ``harness.make_npae(name, batch_size, epochs).fit(X)``: the
  estimator built, checked, initialised and trained for ``epochs`` epochs over X (NumPy float32
  rows), shuffled every epoch, the per-epoch loss recorded in ``history_``; everything ``fit``
  does beyond ``train_step`` is in the time;
* **PyTorch**: what a PyTorch user writes without a DataLoader: the twin and ``torch.optim.Adam``
  built (``twins.family_twin``, ``twins.make_step``), then per epoch a fresh ``torch.randperm``
  index, each batch gathered with ``X[idx[s:s + batch]]`` from the same rows as a tensor
  (``torch.from_numpy``, no copy), one step per batch, the epoch's mean loss accumulated as a
  tensor and read once per epoch (as npae's ``history_``);
* **npae on its torch backend** (``torch_backend_fit``): ``make_npae(name, backend="torch")``
  fitted on the same rows as a torch tensor, against the same PyTorch loop: npae's hand-written
  backprop on PyTorch's kernels vs autograd.

The arms run one block each per round, in alternating order (``harness.paired_timing``), after a
warm-up fit on a few batches (numba compiles, PyTorch's lazy start-up).
"""

from __future__ import annotations

import harness as H
import numpy as np
import torch
from twins import family_twin, make_step

FIT_MODELS = ("ae", "dae", "sparse_l1", "sparse_kl", "vae")


def npae_fit(name: str, X, batch_size: int, epochs: int, mode: str = "fast", backend: str = "numpy", seed: int = 0):
    """A callable that fits a fresh npae ``name`` on X under kernels ``mode``; returns the model."""

    def run():
        with H.kernels(mode):
            model = H.make_npae(name, batch_size=batch_size, epochs=epochs, seed=seed, backend=backend)
            return model.fit(X)

    return run


def torch_fit(name: str, X_t, batch_size: int, epochs: int, seed: int = 0, fused: bool = False):
    """A callable that trains a fresh twin of ``name`` on the tensor X_t, a shuffled index per epoch;
    returns the per-epoch mean losses. ``fused``: ``torch.optim.Adam(fused=True)``."""

    def run():
        torch.manual_seed(seed)
        twin, loss_fn = family_twin(name, seed=seed)
        step = make_step(twin, loss_fn, fused=fused)
        n = X_t.shape[0]
        history = []
        for _ in range(epochs):
            idx = torch.randperm(n)
            total = torch.zeros(())
            for s in range(0, n, batch_size):
                xb = X_t[idx[s:s + batch_size]]
                total += step(xb).detach() * xb.shape[0]
            history.append(float(total) / n)  # one host read per epoch
        return history

    return run


def warm_up(fns: dict) -> None:
    for fn in fns.values():
        fn()


def fit_throughput(name: str, X: np.ndarray, batch_size: int, epochs: int, repeats: int, budget_s: float,
                   arms, warm_rows: int = 2048) -> dict:
    """Samples/s of whole fits (``epochs`` × rows of X per block): every npae arm and the PyTorch loop.

    Returns ``harness.summarize_arms`` (best, quiet median, paired ratios) plus "history": the
    last block's per-epoch training losses per arm (to show the arms train alike).
    """
    X_t = torch.from_numpy(X)
    small = X[:max(warm_rows, batch_size)]
    warm_up({**{a: npae_fit(name, small, batch_size, 1, a) for a in arms},
             "torch": torch_fit(name, torch.from_numpy(small), batch_size, 1)})
    fns = {arm: npae_fit(name, X, batch_size, epochs, arm) for arm in arms}
    fns["torch"] = torch_fit(name, X_t, batch_size, epochs)
    last = {}

    def keep(arm, fn):
        def run():
            last[arm] = fn()
        return run

    rec = H.paired_timing({arm: keep(arm, fn) for arm, fn in fns.items()}, repeats, budget_s)
    out = H.summarize_arms(rec, epochs * X.shape[0])
    out["history"] = {arm: (list(map(float, v.history_["loss"])) if arm != "torch" else v) for arm, v in last.items()}
    return out


def torch_backend_fit(name: str, X: np.ndarray, batch_size: int, epochs: int, repeats: int, budget_s: float,
                      warm_rows: int = 2048) -> dict:
    """npae on its torch backend (rows as a torch tensor) against the PyTorch loop: arms "npae_torch", "torch"."""
    X_t = torch.from_numpy(X)
    small = X_t[:max(warm_rows, batch_size)]
    warm_up({"npae_torch": npae_fit(name, small, batch_size, 1, backend="torch"),
             "torch": torch_fit(name, small, batch_size, 1)})
    fns = {"npae_torch": npae_fit(name, X_t, batch_size, epochs, backend="torch"),
           "torch": torch_fit(name, X_t, batch_size, epochs)}
    rec = H.paired_timing(fns, repeats, budget_s)
    return H.summarize_arms(rec, epochs * X.shape[0])


#: The arms of ``suite_fit`` (issue 23): npae on NumPy, npae on its torch backend, and the two twins.
SUITE_ARMS = ("fast", "npae_torch", "torch", "torch_fused")


def suite_fit(name: str, X: np.ndarray, batch_size: int, epochs: int, repeats: int, budget_s: float,
              warm_rows: int = 2048) -> dict:
    """Whole fits, interleaved: npae fast on NumPy rows, npae fast on its torch backend (the rows as a
    tensor), the PyTorch loop with ``torch.optim.Adam()`` defaults and with ``Adam(fused=True)``.

    Returns ``harness.summarize_arms`` over ``SUITE_ARMS`` plus "history" (last block's losses).
    """
    X_t = torch.from_numpy(X)
    small = X[:max(warm_rows, batch_size)]
    small_t = torch.from_numpy(small)
    warm_up({"fast": npae_fit(name, small, batch_size, 1), "npae_torch": npae_fit(name, small_t, batch_size, 1,
                                                                                  backend="torch"),
             "torch": torch_fit(name, small_t, batch_size, 1), "torch_fused": torch_fit(name, small_t, batch_size, 1,
                                                                                         fused=True)})
    fns = {"fast": npae_fit(name, X, batch_size, epochs), "npae_torch": npae_fit(name, X_t, batch_size, epochs,
                                                                                 backend="torch"),
           "torch": torch_fit(name, X_t, batch_size, epochs), "torch_fused": torch_fit(name, X_t, batch_size, epochs,
                                                                                      fused=True)}
    last = {}

    def keep(arm, fn):
        def run():
            last[arm] = fn()
        return run

    rec = H.paired_timing({arm: keep(arm, fn) for arm, fn in fns.items()}, repeats, budget_s)
    out = H.summarize_arms(rec, epochs * X.shape[0])
    out["history"] = {arm: (list(map(float, v.history_["loss"])) if not arm.startswith("torch") else v)
                      for arm, v in last.items()}
    return out
