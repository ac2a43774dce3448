"""PyTorch twins of npae models, for side-by-side benchmarks (``benchmarks/run.py``).

A twin computes the same function with the same initial-weight scheme as its npae model, written
the way a PyTorch user would write it (``nn.Linear``, autograd, ``torch.optim``):

* ``AETwin``: the plain autoencoder ``npae.Autoencoder(hidden_sizes, latent_dim)``. Encoder
  D → H_1 → … → K with ReLU on hidden layers and an identity code; decoder K → … → H_1 → D, the
  hidden sizes reversed, ReLU on hidden layers and a linear output (logits). Objective: mean over
  the batch of Σ_d softplus(y_d) − x_d·y_d (BCE on logits summed over pixels).
* Initial weights as npae draws them for ReLU (``npae.initializers.default_init``):
  He-uniform W ~ U(−√(6/fan_in), √(6/fan_in)), zero biases.

npae keeps kernels as (in, out) and computes ``x @ W + b``; ``nn.Linear`` keeps (out, in) and
computes ``x @ Wᵀ + b``. ``copy_from_npae`` transposes accordingly.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["AETwin", "bce_per_sample", "copy_from_npae", "he_uniform_", "make_train_step"]


def he_uniform_(linear: nn.Linear, generator: torch.Generator) -> None:
    """W ~ U(−a, a), a = √(6 / fan_in); b = 0 (npae's "he_uniform" and zero-bias scheme)."""
    fan_in = linear.in_features
    bound = math.sqrt(6.0 / fan_in)
    with torch.no_grad():
        linear.weight.uniform_(-bound, bound, generator=generator)
        linear.bias.zero_()


def _stack(sizes, last_activation: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(fan_in, fan_out))
        if i < len(sizes) - 2 or last_activation:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class AETwin(nn.Module):
    """PyTorch twin of ``npae.Autoencoder(hidden_sizes, latent_dim, activation="relu",
    latent_activation="identity", loss="bce")``.

    Parameters
    ----------
    n_features : int
        D, the input width.
    hidden_sizes : tuple of int
        Encoder hidden widths; the decoder uses them reversed.
    latent_dim : int
        K, the code width (identity activation).
    seed : int
        Seeds the He-uniform initial weights.
    """

    def __init__(self, n_features: int, hidden_sizes=(512, 128), latent_dim: int = 32, seed: int = 0):
        super().__init__()
        sizes = (n_features, *hidden_sizes, latent_dim)
        self.encoder = _stack(sizes, last_activation=False)   # identity code
        self.decoder = _stack(sizes[::-1], last_activation=False)  # linear output (logits)
        generator = torch.Generator().manual_seed(seed)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                he_uniform_(module, generator)

    def forward(self, x):
        """Logits y = decoder(encoder(x)): (N, D) -> (N, D)."""
        return self.decoder(self.encoder(x))


def bce_per_sample(logits, x):
    """Σ_d softplus(y_d) − x_d·y_d per row, shape (N,) (PyTorch's stable BCE with logits)."""
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dim=1)


def make_train_step(model: nn.Module, optimizer: torch.optim.Optimizer):
    """One Adam step on a batch x (N, D): zero_grad, forward, L = Σ BCE / N, backward, step.

    Returns the loss tensor (not ``.item()``: no per-step host sync, as in npae's loop).
    """

    def step(x):
        optimizer.zero_grad()
        logits = model(x)
        loss = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / x.shape[0]
        loss.backward()
        optimizer.step()
        return loss

    return step


def copy_from_npae(twin: AETwin, params: dict) -> None:
    """Copy npae's parameters ({"encoder.0.W": (in, out), ...}, NumPy arrays) into the twin."""
    for part in ("encoder", "decoder"):
        linears = [m for m in getattr(twin, part) if isinstance(m, nn.Linear)]
        for i, linear in enumerate(linears):
            W = np.asarray(params[f"{part}.{i}.W"])
            b = np.asarray(params[f"{part}.{i}.b"])
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(W.T)))
                linear.bias.copy_(torch.from_numpy(b.copy()))
