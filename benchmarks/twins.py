"""PyTorch twins of npae models, for side-by-side benchmarks (``benchmarks/run.py``).

A twin computes the same function with the same initial-weight scheme as its npae model, written
the way a PyTorch user would write it (``nn.Linear``, autograd, ``torch.optim``):

* ``AETwin``: the plain autoencoder ``npae.Autoencoder(hidden_sizes, latent_dim)``. Encoder
  D → H_1 → … → K with ReLU on hidden layers and an identity code; decoder K → … → H_1 → D, the
  hidden sizes reversed, ReLU on hidden layers and a linear output (logits). Objective: mean over
  the batch of Σ_d softplus(y_d) − x_d·y_d (BCE on logits summed over pixels).
* The model family of ``harness.MODELS`` (``family_twin``): the AE, the DAE (Gaussian noise
  drawn with ``torch.randn_like``, clipped to [0, 1]), the sparse AE with a sigmoid code and the
  L1 or KL penalty as a formula of the code, and the VAE 784-400-20 (mu and log_var heads, the
  log-variance clamped to [−30, 20], eps from ``torch.randn_like``), each with ``make_step``
  (Adam) and ``copy_weights`` (npae's parameters into the twin, in ``parameters()`` order).
* Initial weights as npae draws them for ReLU (``npae.initializers.default_init``):
  He-uniform W ~ U(−√(6/fan_in), √(6/fan_in)), zero biases.

npae keeps kernels as (in, out) and computes ``x @ W + b``; ``nn.Linear`` keeps (out, in) and
computes ``x @ Wᵀ + b``. ``copy_from_npae`` transposes accordingly.
"""

from __future__ import annotations

import itertools
import math

import harness as H
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["FAMILY", "AEFamilyTwin", "AETwin", "VAETwin", "bce_per_sample", "copy_from_npae", "copy_weights",
           "family_twin", "he_uniform_", "make_step", "make_train_step"]

FAMILY = ("ae", "dae", "sparse_l1", "sparse_kl", "vae")


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


# ------------------------------------------------------------------------------------ the model family
def _family_stack(sizes, last):
    """Linear layers with ReLU between them; ``last`` is the module after the final Linear."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    if last is not None:
        layers.append(last)
    return nn.Sequential(*layers)


def _family_init(module: nn.Module, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, nn.Linear):
            he_uniform_(m, generator)


class AEFamilyTwin(nn.Module):
    """D-512-128-32 encoder (code: identity or sigmoid), mirrored decoder with linear output."""

    def __init__(self, n_features: int = 784, code: str = "identity", seed: int = 0):
        super().__init__()
        sizes = (n_features, *H.HIDDEN, H.LATENT)
        self.encoder = _family_stack(sizes, nn.Sigmoid() if code == "sigmoid" else None)
        self.decoder = _family_stack(sizes[::-1], None)
        _family_init(self, seed)

    def linears(self):
        return [m for part in (self.encoder, self.decoder) for m in part if isinstance(m, nn.Linear)]


class VAETwin(nn.Module):
    """784-400 ReLU encoder, mu and log_var heads (400 → 20), 20-400-784 decoder (logits)."""

    def __init__(self, n_features: int = 784, hidden: int = 400, latent: int = 20, seed: int = 0):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(n_features, hidden), nn.ReLU())
        self.mu = nn.Linear(hidden, latent)
        self.logvar = nn.Linear(hidden, latent)
        self.decoder = _family_stack((latent, hidden, n_features), None)
        _family_init(self, seed)

    def linears(self):
        return [self.encoder[0], self.mu, self.logvar] + [m for m in self.decoder if isinstance(m, nn.Linear)]


def _bce(logits, x):
    return F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / x.shape[0]


def family_twin(name: str, seed: int = 0):
    """The twin of ``harness.make_npae(name)`` for ``name`` in ``FAMILY``: (module, loss_fn).

    ``loss_fn(x, noise=None)`` returns the 0-d objective of a batch; ``noise`` fixes ε (DAE) or
    eps (VAE) for parity checks, else they are drawn with ``torch.randn_like``.
    """
    if name == "vae":
        twin = VAETwin(seed=seed)

        def loss_fn(x, noise=None):
            h = twin.encoder(x)
            mu, log_var = twin.mu(h), twin.logvar(h).clamp(-30.0, 20.0)
            eps = torch.randn_like(mu) if noise is None else noise
            z = mu + torch.exp(0.5 * log_var) * eps
            kl = -0.5 * torch.sum(1.0 + log_var - mu * mu - log_var.exp()) / x.shape[0]
            return _bce(twin.decoder(z), x) + kl

        return twin, loss_fn
    twin = AEFamilyTwin(code="sigmoid" if name.startswith("sparse") else "identity", seed=seed)
    if name == "ae":
        return twin, lambda x, noise=None: _bce(twin.decoder(twin.encoder(x)), x)
    if name == "dae":
        def loss_fn(x, noise=None):
            eps = torch.randn_like(x) if noise is None else noise
            x_noisy = (x + H.NOISE_LEVEL * eps).clamp_(0.0, 1.0)
            return _bce(twin.decoder(twin.encoder(x_noisy)), x)

        return twin, loss_fn
    if name == "sparse_l1":
        def loss_fn(x, noise=None):
            h = twin.encoder(x)
            return _bce(twin.decoder(h), x) + H.L1_WEIGHT * h.abs().sum(dim=1).mean()

        return twin, loss_fn
    if name == "sparse_kl":
        def loss_fn(x, noise=None):
            h = twin.encoder(x)
            rho_hat, rho = h.mean(dim=0), H.RHO
            kl = (rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))).sum()
            return _bce(twin.decoder(h), x) + H.KL_WEIGHT * kl

        return twin, loss_fn
    raise ValueError(f"unknown model {name!r}; expected one of {FAMILY}")


def make_step(twin: nn.Module, loss_fn, fused: bool = False):
    """One Adam step (lr 1e-3) of ``loss_fn`` on a batch: zero_grad, loss, backward, step; returns
    the loss tensor (no ``.item()``: no per-step host sync).

    ``fused=False``: ``torch.optim.Adam``'s defaults, what a user writes (the for-each or for-loop
    implementation PyTorch picks); ``fused=True``: ``Adam(fused=True)``, the fastest CPU
    configuration (one fused kernel per parameter group)."""
    optimizer = torch.optim.Adam(twin.parameters(), lr=1e-3, fused=True) if fused else \
        torch.optim.Adam(twin.parameters(), lr=1e-3)

    def step(x):
        optimizer.zero_grad()
        loss = loss_fn(x)
        loss.backward()
        optimizer.step()
        return loss

    return step


def copy_weights(twin: nn.Module, model) -> None:
    """npae's kernels (in, out) into the twin's Linear layers (out, in), in ``parameters()`` order."""
    params = model.parameters()
    prefixes = list(dict.fromkeys(key.rsplit(".", 1)[0] for key in params))
    linears = twin.linears()
    if len(prefixes) != len(linears):
        raise RuntimeError(f"{len(prefixes)} npae layers but {len(linears)} twin layers")
    with torch.no_grad():
        for prefix, linear in zip(prefixes, linears):
            linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(np.asarray(params[f"{prefix}.W"]).T)))
            linear.bias.copy_(torch.from_numpy(np.array(params[f"{prefix}.b"])))
