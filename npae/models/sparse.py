"""The sparse autoencoder: a plain autoencoder plus an activity penalty on the code h.

    L = mean_n ℓ(x_n, y_n) + S(h)

    sparsity="l1":  S = λ · mean_n Σ_j |h_nj|,                     dS/dh = (λ/N)·sign(h)
    sparsity="kl":  S = β · Σ_j KL(ρ ‖ ρ̂_j),  ρ̂_j = mean_n h_nj,
                    dS/dh_nj = (β/N)(−ρ/ρ̂_j + (1 − ρ)/(1 − ρ̂_j)),  dS/dz_nj = dS/dh_nj · σ′(z_nj)

(λ and β are both ``sparsity_weight``, ρ is ``target_sparsity``.) The KL form needs codes in
(0, 1), so it requires ``latent_activation="sigmoid"``; ρ̂ and its logs are computed from the
code logits z (h = σ(z)) in the stable form of ``npae.penalties.log_mean_sigmoid``.

Backward: the decoder's backward gives dL/dh. The L1 term's dS/dh is added there, then the
encoder's backward runs as usual. The KL term is added one layer further down, at z: the code
activation's backward turns dL/dh into dL/dz, and dS/dz comes from
``npae.penalties.kl_sparsity_logit_grad``, which stays finite when a whole code column saturates
(there 1/ρ̂_j overflows and σ′(z) rounds to 0, so dS/dh · σ′ would be NaN or 0 exactly where the
penalty should pull the units back). Either way the KL term's coupling through the batch mean
reaches every row.
"""

from __future__ import annotations

import math

from array_api_compat import array_namespace

from npae import penalties
from npae.activations import get_activation
from npae.layers import Sequential
from npae.models.autoencoder import Autoencoder
from npae.models.base import finite_row_mean
from npae.validation import check_nonnegative_float, check_open_fraction, check_option

__all__ = ["SPARSITY_KINDS", "SparseAutoencoder"]

SPARSITY_KINDS = ("l1", "kl")


class SparseAutoencoder(Autoencoder):
    """An autoencoder whose code is pushed towards sparsity by an L1 or a KL penalty.

    It takes every parameter of [npae.Autoencoder][npae.models.autoencoder.Autoencoder], with the
    same defaults (``hidden_sizes``, ``latent_dim``, ``activation``, ``latent_activation``, ``loss``,
    ``optimizer``, ``learning_rate``, ``batch_size``, ``epochs``, ``dtype``, ``random_state``,
    ``backend``, ``verbose``, ``weight_init``, ``warm_start``, ``clip_norm``), and those below.

    Parameters
    ----------
    sparsity : {"l1", "kl"}, default="l1"
        "l1": λ · mean_n Σ_j |h_nj|. "kl": β · Σ_j KL(ρ ‖ ρ̂_j) with ρ̂_j the batch mean of h_j;
        needs ``latent_activation="sigmoid"``.
    sparsity_weight : float, default=0.1
        λ (or β), ≥ 0. Losses are summed over features, so the weight means the same for any D.
    target_sparsity : float, default=0.05
        ρ in (0, 1), the target mean activation of each code unit ("kl" only).

    Attributes
    ----------
    history_ : dict[str, list[float]]
        Per-epoch "loss" (= "reconstruction" + "sparsity"), "reconstruction", "sparsity" (the
        weighted penalty), and their "val_" versions with validation data.

    Notes
    -----
    ``score_samples`` is minus the per-sample objective: reconstruction plus λ Σ_j |h_nj| for
    "l1"; for "kl", whose penalty belongs to a batch and not a row, the reconstruction alone.

    Examples
    --------
    >>> from npae.models.sparse import SparseAutoencoder
    >>> sae = SparseAutoencoder(hidden_sizes=(32,), latent_dim=16, latent_activation="sigmoid",
    ...                         sparsity="kl", sparsity_weight=1.0, epochs=2, verbose=0)
    """

    _TRAIN_LOGS = ("reconstruction", "sparsity")
    _VALIDATION_LOGS = ("reconstruction", "sparsity")

    def __init__(self, hidden_sizes=(256,), latent_dim=32, activation="relu", latent_activation="identity",
                 loss="bce", optimizer="adam", learning_rate=1e-3, batch_size=128, epochs=10,
                 dtype="float32", random_state=None, backend=None, verbose=1, weight_init=None,
                 warm_start=False, sparsity="l1", sparsity_weight=0.1, target_sparsity=0.05,
                 clip_norm=None):
        super().__init__(hidden_sizes=hidden_sizes, latent_dim=latent_dim, activation=activation,
                         latent_activation=latent_activation, loss=loss, optimizer=optimizer,
                         learning_rate=learning_rate, batch_size=batch_size, epochs=epochs, dtype=dtype,
                         random_state=random_state, backend=backend, verbose=verbose,
                         weight_init=weight_init, warm_start=warm_start,
                         clip_norm=clip_norm)
        self.sparsity = sparsity
        self.sparsity_weight = sparsity_weight
        self.target_sparsity = target_sparsity

    # ------------------------------------------------------------------ checks
    def _check_hyperparameters(self) -> None:
        super()._check_hyperparameters()
        check_option(self.sparsity, SPARSITY_KINDS, "sparsity")
        check_nonnegative_float(self.sparsity_weight, "sparsity_weight")
        check_open_fraction(self.target_sparsity, "target_sparsity", hint="A typical value is 0.05.")
        if self.sparsity == "kl" and get_activation(self.latent_activation).name != "sigmoid":
            raise ValueError(
                f"SparseAutoencoder with sparsity='kl' needs codes in (0, 1), so it requires "
                f"latent_activation='sigmoid'; got latent_activation={self.latent_activation!r}. "
                "Set latent_activation='sigmoid', or use sparsity='l1'."
            )

    # ------------------------------------------------------------------ forward pieces
    def _code_logits(self, X, training: bool = False):
        """z, the code layer's pre-activation (N, K); the last encoder layer maps it to h.

        ``training`` runs the layers' ``forward`` (keeping caches for backward), else ``infer``.
        """
        z = X
        for layer in self.encoder_.layers[:-1]:
            z = layer.forward(z) if training else layer.infer(z)
        return z

    def _reconstruction_losses(self, X):
        """ℓ(x_n, decoder(encoder(x_n))) per row, shape (N,)."""
        return self.loss_.value(X, self.decoder_.infer(self.encoder_.infer(X)))

    def _penalty(self, h, z):
        """S(h) as a 0-d array (weighted), from codes h and logits z, both (N, K)."""
        weight = float(self.sparsity_weight)
        if self.sparsity == "kl":
            return weight * penalties.kl_sparsity(z, self.target_sparsity)
        xp = array_namespace(h)
        return weight * xp.mean(penalties.l1_activity(h))

    def _penalty_grad(self, h, z):
        """dS/dh, shape (N, K)."""
        weight = float(self.sparsity_weight)
        if self.sparsity == "kl":
            return weight * penalties.kl_sparsity_grad(z, self.target_sparsity)
        return (weight / h.shape[0]) * penalties.l1_activity_grad(h)

    # ------------------------------------------------------------------ objective
    def _sample_losses(self, X):
        """Reconstruction per row, plus λ Σ_j |h_nj| for "l1" (the KL term is not per row)."""
        h = self.encoder_.infer(X)
        recon = self.loss_.value(X, self.decoder_.infer(h))
        if self.sparsity == "l1":
            return recon + float(self.sparsity_weight) * penalties.l1_activity(h)
        return recon

    def _evaluate(self, Xb) -> dict:
        """Validation figures over all of Xb: loss, reconstruction and sparsity (ρ̂ over Xb)."""
        recon = finite_row_mean(self._chunks(self._reconstruction_losses, Xb))
        z = self._chunks(self._code_logits, Xb)
        h = self.encoder_.layers[-1].infer(z)
        penalty = float(self._penalty(h, z))
        if not math.isfinite(penalty):  # codes of an extreme row overflowed: the largest value, as for the rows
            penalty = float(array_namespace(h).finfo(h.dtype).max)
        return {"loss": recon + penalty, "reconstruction": recon, "sparsity": penalty}

    def _forward_backward(self, X):
        """L = mean_n ℓ(x_n, y_n) + S(h); backward injects dS/dh (L1) or dS/dz (KL) on its way down.

        Returns (L as a 0-d array, {"reconstruction": …, "sparsity": S}); gradients accumulate in
        the layers.
        """
        z = self._code_logits(X, training=True)
        h = self.encoder_.layers[-1].forward(z)
        y = self.decoder_.forward(h)
        xp = array_namespace(y)
        losses, dy = self.loss_.value_and_grad(X, y)  # = (loss_.value, loss_.grad)
        recon = xp.mean(losses)
        dh = self.decoder_.backward(dy * (1.0 / X.shape[0]))
        weight = float(self.sparsity_weight)
        *below_code, code_activation = self.encoder_.layers
        if weight > 0.0 and self.sparsity == "kl":
            # = _penalty, and _penalty_grad times σ′(z), as the one call a training step makes
            value, grad_z = penalties.kl_sparsity_and_logit_grad(z, self.target_sparsity)
            penalty = weight * value
            dz = code_activation.backward(dh) + weight * grad_z
        else:
            if weight > 0.0:
                penalty = self._penalty(h, z)
                dh = dh + self._penalty_grad(h, z)
            else:
                penalty = xp.zeros_like(recon)
            dz = code_activation.backward(dh)
        Sequential(below_code).backward(dz, input_grad=False)
        return recon + penalty, {"reconstruction": recon, "sparsity": penalty}
