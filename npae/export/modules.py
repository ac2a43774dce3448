"""The ``torch.nn.Module`` classes ``npae.export.to_torch`` returns (this module imports torch).

Defined at module level, so that a module pickles (``torch.save``, multiprocessing, MLflow) and
scripts (``torch.jit.script``); imported by ``to_torch`` only, so ``import npae`` never imports
torch.

Parameter names follow ``nn.Sequential``, which numbers every module, activations included:
npae's ``encoder.i.W`` (the i-th Dense) is ``encoder.{2i}.weight``ᵀ here when every Dense is
followed by its activation (the encoder's last Dense is followed by the latent activation, an
``nn.Identity`` for "identity"), and npae's ``encoder.mu.W`` / ``encoder.logvar.W`` (the VAE's
heads) are ``mu.weight``ᵀ / ``logvar.weight``ᵀ. ``npae.export.parameter_names`` gives the map.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from npae.models.variational import LOG_VAR_MAX, LOG_VAR_MIN

__all__ = ["AutoencoderModule", "VAEModule"]


class AutoencoderModule(nn.Module):
    """An npae autoencoder in PyTorch: ``encoder`` and ``decoder`` are ``nn.Sequential``.

    ``encode(x)`` = npae's ``transform``, ``decode(z)`` = ``inverse_transform`` (data space),
    ``forward(x)`` = ``reconstruct``. For loss="bce" the decoder ends in logits and
    ``output`` is ``nn.Sigmoid``: train on ``self.decoder(self.encoder(x))`` with
    ``torch.nn.functional.binary_cross_entropy_with_logits(..., reduction="sum") / N`` to
    keep npae's objective (summed over features, averaged over rows).
    """

    def __init__(self, encoder, decoder, output):
        super().__init__()
        self.encoder, self.decoder, self.output = encoder, decoder, output

    def encode(self, x):
        """h = encoder(x): (N, D) -> (N, K)."""
        return self.encoder(x)

    def decode(self, z):
        """x̂ = output(decoder(z)): (N, K) -> (N, D), in data space."""
        return self.output(self.decoder(z))

    def forward(self, x):
        """decode(encode(x)): (N, D) -> (N, D)."""
        return self.decode(self.encode(x))


class VAEModule(nn.Module):
    """An npae VAE in PyTorch: hidden stack ``encoder``, heads ``mu`` and ``logvar``, ``decoder``.

    ``encode(x)`` returns (mu, log_var), log_var = log σ² clamped to [LOG_VAR_MIN, LOG_VAR_MAX]
    as npae does; mu is npae's ``transform``. ``decode(z)`` is ``inverse_transform``;
    ``forward(x, eps=None)`` samples z = mu + exp(½·log_var)·eps and returns
    (decode(z), mu, log_var), eps ~ N(0, I) from torch's generator unless given.
    """

    def __init__(self, encoder, mu, logvar, decoder, output):
        super().__init__()
        self.encoder, self.mu, self.logvar = encoder, mu, logvar
        self.decoder, self.output = decoder, output
        self.log_var_min, self.log_var_max = float(LOG_VAR_MIN), float(LOG_VAR_MAX)  # attributes: TorchScript

    def encode(self, x):
        """(mu, log_var), each (N, K), from x (N, D)."""
        h = self.encoder(x)
        return self.mu(h), torch.clamp(self.logvar(h), self.log_var_min, self.log_var_max)

    def reparameterize(self, mu: torch.Tensor, log_var: torch.Tensor,
                       eps: Optional[torch.Tensor] = None) -> torch.Tensor:  # noqa: UP045 (TorchScript)
        """z = mu + std·eps with std = exp(½·log_var), (N, K)."""
        if eps is None:
            eps = torch.randn_like(mu)
        return mu + torch.exp(0.5 * log_var) * eps

    def decode(self, z):
        """x̂ = output(decoder(z)): (N, K) -> (N, D), in data space."""
        return self.output(self.decoder(z))

    def forward(self, x: torch.Tensor, eps: Optional[torch.Tensor] = None):  # noqa: UP045 (TorchScript)
        """(x̂ (N, D), mu (N, K), log_var (N, K)) with z sampled by reparameterization."""
        mu, log_var = self.encode(x)
        return self.decode(self.reparameterize(mu, log_var, eps)), mu, log_var
