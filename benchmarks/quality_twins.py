"""PyTorch twins of the five npae models, for the quality benchmark (``benchmarks/quality.py``).

Each twin is what a PyTorch user would write for the same model: ``nn.Linear`` layers, autograd,
``torch.optim.Adam``. It matches npae in everything but the random draws:

* Architecture. Encoder D → H_1 → … → K with ``activation`` on the hidden layers and
  ``latent_activation`` on the code; decoder K → … → H_1 → D, hidden sizes reversed,
  ``activation`` on its hidden layers and a linear output (logits). The VAE's encoder ends with the
  hidden stack and two linear heads (mu, log_var), its decoder mirrors the hidden stack.
* Initialisation (``npae.initializers.default_init``): every Dense layer, heads and output
  included, draws its kernel He-uniform U(−√(6/fan_in), √(6/fan_in)) when the model's
  ``activation`` is in the ReLU family and Glorot-uniform U(−√(6/(fan_in+fan_out)), …)
  otherwise; biases start at zero. npae keeps W as (in, out); ``nn.Linear`` keeps (out, in).
* Objective: the batch mean of a per-sample sum over features (BCE on logits,
  ℓ(x, y) = Σ_d softplus(y_d) − x_d·y_d), plus the same penalty as ``npae.penalties``:

  - L1 activity: λ · mean_n Σ_j |h_nj|;
  - KL sparsity: β · Σ_j KL(ρ ‖ ρ̂_j), ρ̂_j = mean_n h_nj over the batch, h = σ(z);
  - contractive: λ · mean_n ‖∂h_n/∂x_n‖²_F, exact, from the product form of the Jacobian
    J_n = diag(s_L) W_L diag(s_{L−1}) ⋯ W_2 diag(s_1) W_1 (s_l = f′_l(z_l), torch W (out, in)),
    with autograd for the gradient (``jacobian_sq_norm``; ``check_jacobian_sq_norm`` compares it
    with ``torch.func.jacrev``);
  - VAE: mean_n [NLL(x_n | z_n) + β·KL_n], log_var clamped to [−30, 20], z = mu + exp(½ log_var)·eps.

* Optimizer: ``torch.optim.Adam(lr, betas=(0.9, 0.999), eps=1e-8)`` (npae's Adam is the same
  update written in Kingma & Ba's "efficient" form), minibatches of ``batch_size`` rows in a fresh
  random order every epoch, the last batch partial.

``copy_from_npae`` writes an npae model's parameters into a twin (transposing kernels) so the
objectives can be compared number for number on the same weights.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "ACTIVATIONS",
    "AETwin",
    "VAETwin",
    "bce_rows",
    "check_jacobian_sq_norm",
    "copy_from_npae",
    "init_linear_",
    "jacobian_sq_norm",
    "kl_sparsity",
    "train_twin",
]

#: name → (f, f′) for the activations the benchmark uses (f′ as a function of the pre-activation z).
ACTIVATIONS = {
    "identity": (lambda z: z, lambda z: torch.ones_like(z)),
    "relu": (torch.relu, lambda z: (z > 0).to(z.dtype)),
    "sigmoid": (torch.sigmoid, lambda z: torch.sigmoid(z) * (1.0 - torch.sigmoid(z))),
    "tanh": (torch.tanh, lambda z: 1.0 - torch.tanh(z) ** 2),
    "softplus": (F.softplus, torch.sigmoid),
}

LOG_VAR_MIN, LOG_VAR_MAX = -30.0, 20.0


def init_linear_(linear: nn.Linear, activation: str, generator: torch.Generator) -> None:
    """npae's default initialisation: He-uniform for the ReLU family, Glorot-uniform otherwise;
    zero bias."""
    fan_in, fan_out = linear.in_features, linear.out_features
    if activation in ("relu", "leaky_relu", "elu"):
        bound = math.sqrt(6.0 / fan_in)
    else:
        bound = math.sqrt(6.0 / (fan_in + fan_out))
    with torch.no_grad():
        linear.weight.uniform_(-bound, bound, generator=generator)
        linear.bias.zero_()


def _linears(sizes, activation, generator, dtype):
    layers = nn.ModuleList(nn.Linear(a, b, dtype=dtype) for a, b in itertools.pairwise(sizes))
    for layer in layers:
        init_linear_(layer, activation, generator)
    return layers


def bce_rows(x, logits):
    """Σ_d softplus(y_d) − x_d·y_d per row, (N, D) → (N,)."""
    return (F.softplus(logits) - x * logits).sum(dim=1)


class AETwin(nn.Module):
    """Twin of ``npae.Autoencoder`` (and of the sparse, denoising and contractive variants).

    Parameters
    ----------
    n_features : int
    hidden_sizes : tuple of int
    latent_dim : int
    activation, latent_activation : str
        Keys of ``ACTIVATIONS``.
    seed : int
        Seeds the initial weights.
    """

    def __init__(self, n_features, hidden_sizes, latent_dim, activation="relu", latent_activation="identity",
                 seed=0, dtype=torch.float32):
        super().__init__()
        g = torch.Generator().manual_seed(int(seed))
        sizes = (n_features, *hidden_sizes, latent_dim)
        self.acts = [activation] * len(hidden_sizes) + [latent_activation]
        self.dec_acts = [activation] * len(hidden_sizes) + ["identity"]
        self.enc = _linears(sizes, activation, g, dtype)
        self.dec = _linears(sizes[::-1], activation, g, dtype)

    def encode_all(self, x):
        """h and the pre-activations [z_1, …, z_L] of the encoder."""
        zs, h = [], x
        for layer, act in zip(self.enc, self.acts):
            z = layer(h)
            zs.append(z)
            h = ACTIVATIONS[act][0](z)
        return h, zs

    def decode(self, h):
        """Logits (N, D)."""
        for layer, act in zip(self.dec, self.dec_acts):
            h = ACTIVATIONS[act][0](layer(h))
        return h

    def forward(self, x):
        return self.decode(self.encode_all(x)[0])


def kl_sparsity(h, rho):
    """Σ_j KL(ρ ‖ ρ̂_j) with ρ̂_j = mean_n h_nj, h in (0, 1); 0-d."""
    rho_hat = h.mean(dim=0)
    return (rho * torch.log(rho / rho_hat) + (1.0 - rho) * torch.log((1.0 - rho) / (1.0 - rho_hat))).sum()


def jacobian_sq_norm(twin: AETwin, zs):
    """‖∂h_n/∂x_n‖²_F per row (N,), exact, differentiable by autograd.

    With torch kernels W_l (H_l, H_{l−1}) and s_l = f′_l(z_l), J_n = diag(s_L) W_L ⋯ diag(s_1) W_1.
    One layer: ‖J_n‖² = Σ_j s_nj² ‖W_1[j, :]‖². Deeper: M_n = diag(s_L) W_L ⋯ W_2 diag(s_1)
    (K × H_1), then ‖J_n‖² = ‖M_n W_1‖² = Σ (M_n Γ) ⊙ M_n with Γ = W_1 W_1ᵀ (H_1 × H_1).
    """
    Ws = [layer.weight for layer in twin.enc]
    ss = [ACTIVATIONS[act][1](z) for act, z in zip(twin.acts, zs)]
    if len(Ws) == 1:
        return (ss[0] ** 2 * (Ws[0] ** 2).sum(dim=1)[None, :]).sum(dim=1)
    M = ss[-1][:, :, None] * Ws[-1][None, :, :]  # (N, K, H_{L−1})
    for l in range(len(Ws) - 2, -1, -1):
        M = M * ss[l][:, None, :]
        if l > 0:
            M = M @ Ws[l]
    gram = Ws[0] @ Ws[0].T
    return ((M @ gram) * M).sum(dim=(1, 2))


def check_jacobian_sq_norm(twin: AETwin, x) -> float:
    """Relative error of ``jacobian_sq_norm`` against ‖torch.func.jacrev(encoder)‖², per row."""
    def encoder(row):
        return twin.encode_all(row[None, :])[0][0]

    with torch.no_grad():
        J = torch.vmap(torch.func.jacrev(encoder))(x)  # (N, K, D)
        ref = (J**2).sum(dim=(1, 2))
        got = jacobian_sq_norm(twin, twin.encode_all(x)[1])
    return float(((got - ref).abs() / ref.abs()).max())


class VAETwin(nn.Module):
    """Twin of ``npae.VAE(likelihood="bernoulli")``: hidden stack, mu and log_var heads, decoder."""

    def __init__(self, n_features, hidden_sizes, latent_dim, activation="relu", seed=0, dtype=torch.float32):
        super().__init__()
        g = torch.Generator().manual_seed(int(seed))
        self.act = ACTIVATIONS[activation][0]
        sizes = (n_features, *hidden_sizes)
        self.enc = _linears(sizes, activation, g, dtype)
        self.mu = nn.Linear(sizes[-1], latent_dim, dtype=dtype)
        self.logvar = nn.Linear(sizes[-1], latent_dim, dtype=dtype)
        init_linear_(self.mu, activation, g)
        init_linear_(self.logvar, activation, g)
        self.dec = _linears((latent_dim, *hidden_sizes[::-1], n_features), activation, g, dtype)

    def stats(self, x):
        h = x
        for layer in self.enc:
            h = self.act(layer(h))
        return self.mu(h), torch.clamp(self.logvar(h), LOG_VAR_MIN, LOG_VAR_MAX)

    def decode(self, z):
        for i, layer in enumerate(self.dec):
            z = layer(z)
            if i < len(self.dec) - 1:
                z = self.act(z)
        return z

    def terms(self, x, eps):
        """Per-row NLL and KL with z = mu + exp(½ log_var)·eps: two (N,) tensors."""
        mu, log_var = self.stats(x)
        z = mu + torch.exp(0.5 * log_var) * eps
        nll = bce_rows(x, self.decode(z))
        kl = -0.5 * (1.0 + log_var - mu**2 - torch.exp(log_var)).sum(dim=1)
        return nll, kl

    def log_weights(self, x, k, generator=None, eps=None):
        """log p(x|z_s) + log N(z_s; 0, I) − log q(z_s|x), s = 1 … k: (k, N).

        ``eps`` (k, N, K) is drawn from ``generator`` unless given.
        """
        mu, log_var = self.stats(x)
        std = torch.exp(0.5 * log_var)
        if eps is None:
            eps = torch.randn((k, *mu.shape), generator=generator, dtype=mu.dtype)
        z = mu[None] + std[None] * eps
        y = self.decode(z.reshape(-1, z.shape[-1])).reshape(k, x.shape[0], -1)
        log_px = -(F.softplus(y) - x[None] * y).sum(dim=-1)
        return log_px - 0.5 * (z**2 - log_var[None] - eps**2).sum(dim=-1)


def copy_from_npae(twin: nn.Module, model) -> None:
    """Write ``model.parameters()`` (npae, W as (in, out)) into the twin's ``nn.Linear`` layers."""
    params = {k: torch.as_tensor(np.asarray(v)) for k, v in model.parameters().items()}
    if isinstance(twin, VAETwin):
        pairs = [(f"encoder.{i}", m) for i, m in enumerate(twin.enc)] + [("encoder.mu", twin.mu),
                                                                           ("encoder.logvar", twin.logvar)]
    else:
        pairs = [(f"encoder.{i}", m) for i, m in enumerate(twin.enc)]
    pairs += [(f"decoder.{i}", m) for i, m in enumerate(twin.dec)]
    if len(pairs) * 2 != len(params):
        raise ValueError(f"twin has {len(pairs)} linear layers, npae model has {len(params) // 2}.")
    with torch.no_grad():
        for prefix, linear in pairs:
            linear.weight.copy_(params[f"{prefix}.W"].T)
            linear.bias.copy_(params[f"{prefix}.b"])


def train_twin(twin: nn.Module, objective, X, *, epochs, batch_size, learning_rate, seed):
    """Adam on ``objective(batch, generator) -> 0-d loss`` over shuffled minibatches; returns the
    per-epoch mean training losses (weighted by batch size)."""
    g = torch.Generator().manual_seed(int(seed) + 1)
    opt = torch.optim.Adam(twin.parameters(), lr=learning_rate)
    n, history = X.shape[0], []
    for _ in range(epochs):
        perm = torch.randperm(n, generator=g)
        total = 0.0
        for start in range(0, n, batch_size):
            batch = X[perm[start:start + batch_size]]
            opt.zero_grad(set_to_none=True)
            loss = objective(batch, g)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * batch.shape[0]
        history.append(total / n)
    return history
