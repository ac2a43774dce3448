"""The contractive autoencoder (Rifai et al., 2011), exact for an encoder of any depth.

    L = mean_n [ ℓ(x_n, y_n) + λ ‖∂h_n/∂x_n‖²_F ]

The encoder is h_l = f_l(z_l), z_l = h_{l−1} W_l + b_l, h_0 = x, h = h_L, and s_l = f′_l(z_l).
``npae.penalties`` computes ‖J_n‖²_F, J_n = ∂h_n/∂x_n, exactly, by one of three paths
(``contractive_method``):

* one layer: ‖J_n‖² = Σ_j s_nj² ‖W_{:,j}‖², for a sigmoid code Rifai's
  Σ_j (h_nj(1 − h_nj))² ‖W_{:,j}‖²;
* "gram" (deep, an exact algorithm of its own): R_l = ∂z_L/∂z_l (N, K, H_l) carried right to
  left, and ‖J_n‖² = Σ_k s_L[n, k]² · R_1[n, k] Γ R_1[n, k]ᵀ with Γ = W_1ᵀ W_1, so the D-wide
  Jacobian is never built (K·H_1² instead of D·H_1·K multiply-adds per row for two layers);
* "recurrence" (deep, the reference): T_1 = W_1[None] · s_1[:, None, :],
  T_l = (T_{l−1} @ W_l) · s_l[:, None, :], the N × D × H_l Jacobians themselves.

"auto" takes the one-layer form at depth 1 and the cheaper of the other two otherwise.

Backward: the penalty's backward (``penalties.contractive_penalty_and_grad``, derivations in its
docstring) gives a direct dW_l for every encoder weight matrix and an extra dz_l = ∂(λP)/∂z_l (which
holds f″(z_l)) per layer. The model runs the encoder's backward layer by layer and adds dz_l to
the gradient that leaves layer l's activation, so it flows into W_l, b_l and every earlier layer
like any other gradient.
"""

from __future__ import annotations

from array_api_compat import array_namespace

from npae import penalties
from npae.layers import Activation, Dense
from npae.models.autoencoder import Autoencoder
from npae.models.base import finite_row_mean
from npae.validation import check_hidden_sizes, check_nonnegative_float, check_option, restore_kind

__all__ = ["ContractiveAutoencoder"]


class ContractiveAutoencoder(Autoencoder):
    """An autoencoder penalised by the squared Frobenius norm of its encoder's Jacobian.

    It takes every parameter of [npae.Autoencoder][npae.models.autoencoder.Autoencoder], with the
    same defaults (``hidden_sizes``, ``latent_dim``, ``activation``, ``latent_activation``, ``loss``,
    ``optimizer``, ``learning_rate``, ``batch_size``, ``epochs``, ``dtype``, ``random_state``,
    ``backend``, ``verbose``, ``weight_init``, ``warm_start``, ``clip_norm``), and those below. Smooth activations (sigmoid, tanh,
    softplus, elu) suit the penalty best: its gradient uses f″, which is 0 almost everywhere for
    the ReLU family.

    Parameters
    ----------
    contractive_weight : float, default=0.1
        λ ≥ 0 in λ · mean_n ‖∂h_n/∂x_n‖²_F.
    contractive_method : {"auto", "gram", "recurrence", "one_layer"}, default="auto"
        How the exact penalty is computed (``npae.penalties.contractive_method``): all give the
        same value and gradients to rounding; "auto" picks the cheapest ("one_layer" needs
        ``hidden_sizes=()``).

    Attributes
    ----------
    history_ : dict[str, list[float]]
        Per-epoch "loss" (= "reconstruction" + "contractive"), "reconstruction", "contractive"
        (λ times the mean squared Jacobian norm), and "val_" versions with validation data.

    Notes
    -----
    The Gram form holds about 3·rows·K·Σ_{l<L} H_l numbers at once, the recurrence about
    2·rows·D·Σ_l H_l; batches are processed in row chunks so that stays under
    ``npae.penalties.MAX_JACOBIAN_ELEMENTS`` (2**24). A one-layer encoder uses the O(N·K + D·K)
    shortcut. ``jacobian`` always uses the recurrence (it returns the N·K·D Jacobian itself).

    Examples
    --------
    >>> from npae.models.contractive import ContractiveAutoencoder
    >>> cae = ContractiveAutoencoder(hidden_sizes=(64,), latent_dim=8, activation="tanh",
    ...                              contractive_weight=0.1, epochs=2, verbose=0)
    """

    _TRAIN_LOGS = ("reconstruction", "contractive")
    _VALIDATION_LOGS = ("reconstruction", "contractive")

    def __init__(self, hidden_sizes=(256,), latent_dim=32, activation="relu", latent_activation="identity",
                 loss="bce", optimizer="adam", learning_rate=1e-3, batch_size=128, epochs=10,
                 dtype="float32", random_state=None, backend=None, verbose=1, weight_init=None,
                 warm_start=False, contractive_weight=0.1, contractive_method="auto",
                 clip_norm=None):
        super().__init__(hidden_sizes=hidden_sizes, latent_dim=latent_dim, activation=activation,
                         latent_activation=latent_activation, loss=loss, optimizer=optimizer,
                         learning_rate=learning_rate, batch_size=batch_size, epochs=epochs, dtype=dtype,
                         random_state=random_state, backend=backend, verbose=verbose,
                         weight_init=weight_init, warm_start=warm_start,
                         clip_norm=clip_norm)
        self.contractive_weight = contractive_weight
        self.contractive_method = contractive_method

    def _check_hyperparameters(self) -> None:
        super()._check_hyperparameters()
        check_nonnegative_float(self.contractive_weight, "contractive_weight")
        check_option(self.contractive_method, penalties.CONTRACTIVE_METHODS, "contractive_method")
        if self.contractive_method == "one_layer" and check_hidden_sizes(self.hidden_sizes):
            raise ValueError(
                f"contractive_method='one_layer' is exact only for a one-layer encoder; got "
                f"hidden_sizes={self.hidden_sizes!r}. Use 'auto', 'gram' or 'recurrence', or "
                "hidden_sizes=()."
            )

    # ------------------------------------------------------------------ encoder, layer by layer
    def _encoder_pairs(self):
        """[(Dense, Activation layer or None)] for each encoder layer l = 1 … L, in order."""
        pairs, layers = [], self.encoder_.layers
        for i, layer in enumerate(layers):
            if isinstance(layer, Dense):
                nxt = layers[i + 1] if i + 1 < len(layers) else None
                pairs.append((layer, nxt if isinstance(nxt, Activation) else None))
        return pairs

    def _encoder_forward(self, X, training: bool = False):
        """h = encoder(X) and the pre-activations z_l (N, H_l) of every layer.

        ``training`` runs the layers' ``forward`` (keeping caches for backward), else ``infer``.
        """
        h, zs = X, []
        for dense, act in self._encoder_pairs():
            z = dense.forward(h) if training else dense.infer(h)
            zs.append(z)
            if act is not None:
                h = act.forward(z) if training else act.infer(z)
            else:
                h = z
        return h, zs

    def _penalty_inputs(self):
        pairs = self._encoder_pairs()
        return [d.params["W"] for d, _ in pairs], [None if a is None else a.activation for _, a in pairs]

    # ------------------------------------------------------------------ objective
    def _reconstruction_losses(self, X):
        return self.loss_.value(X, self.decoder_.infer(self.encoder_.infer(X)))

    def _sample_losses(self, X):
        """ℓ(x_n, y_n) + λ ‖∂h_n/∂x_n‖²_F per row, shape (N,)."""
        h, zs = self._encoder_forward(X)
        recon = self.loss_.value(X, self.decoder_.infer(h))
        Ws, acts = self._penalty_inputs()
        rows = penalties.contractive_penalty_rows(Ws, zs, acts, method=self.contractive_method)
        return recon + float(self.contractive_weight) * rows

    def _evaluate(self, Xb) -> dict:
        """Validation figures: loss, reconstruction and contractive (all batch means over Xb)."""
        total = finite_row_mean(self._chunks(self._sample_losses, Xb))
        recon = finite_row_mean(self._chunks(self._reconstruction_losses, Xb))
        return {"loss": total, "reconstruction": recon, "contractive": total - recon}

    def _forward_backward(self, X):
        """L = mean_n ℓ(x_n, y_n) + λ·mean_n ‖T_L[n]‖²_F with its hand-written backward.

        The decoder's backward gives dL/dh; the encoder's backward then runs layer by layer,
        adding the penalty's dz_l after each activation's backward and its direct dW_l into
        each Dense's gradient (``+=``, after the Dense's backward has added xᵀg).

        Returns (L as a 0-d array, {"reconstruction": …, "contractive": λ·P}).
        """
        h, zs = self._encoder_forward(X, training=True)
        y = self.decoder_.forward(h)
        xp = array_namespace(y)
        losses, dy = self.loss_.value_and_grad(X, y)  # = (loss_.value, loss_.grad)
        recon = xp.mean(losses)
        g = self.decoder_.backward(dy * (1.0 / X.shape[0]))
        weight = float(self.contractive_weight)
        pairs = self._encoder_pairs()
        if weight > 0.0:
            Ws, acts = self._penalty_inputs()
            P, dWs, dzs = penalties.contractive_penalty_and_grad(Ws, zs, acts, weight=weight,
                                                                 method=self.contractive_method)
            penalty = weight * P
        else:
            dWs = dzs = [None] * len(pairs)
            penalty = xp.zeros_like(recon)
        for (dense, act), dW, dz in zip(reversed(pairs), reversed(dWs), reversed(dzs)):
            if act is not None:
                g = act.backward(g)
            if dz is not None:
                g = g + dz
            g = dense.backward(g, input_grad=dense is not pairs[0][0])  # dL/dX is never needed
            if dW is not None:
                dense.grads["W"] += dW
        return recon + penalty, {"reconstruction": recon, "contractive": penalty}

    # ------------------------------------------------------------------ Jacobian
    def _jacobian(self, X):
        _, zs = self._encoder_forward(X)
        Ws, acts = self._penalty_inputs()
        T = penalties.encoder_jacobian(Ws, zs, acts)
        return array_namespace(T).permute_dims(T, (0, 2, 1))

    def jacobian(self, X):
        """∂h_n/∂x_n for every row: J[n, k, d] = ∂h[n, k]/∂x[n, d].

        Computed by the exact recurrence in row chunks (hidden Jacobians stay under
        ``npae.penalties.MAX_JACOBIAN_ELEMENTS`` numbers; the result itself is N·K·D).

        Parameters
        ----------
        X : array-like of shape (N, D)

        Returns
        -------
        J : array of shape (N, K, D), the kind of array given.
        """
        self._check_is_fitted()
        model = self._as_fitted()
        Xb, kind = model._validate(X, n_features=model.n_features_in_, target_check=False)
        return restore_kind(model._chunks(model._jacobian, Xb), kind)
