"""The plain (deep) autoencoder.

Encoder: x → Dense → f → … → Dense → g = h (the code, K units); decoder mirrors it with the
hidden sizes reversed and ends with a linear Dense layer whose output y is compared with x:

    BCE:  ℓ(x, y) = Σ_d softplus(y_d) − x_d·y_d   (y are logits; x̂ = σ(y))
    MSE:  ℓ(x, y) = Σ_d (y_d − x_d)²              (x̂ = y)

The objective is the batch mean of ℓ over rows. Backward: dL/dy = ∂ℓ/∂y / N, then the
decoder's and the encoder's backward passes in reverse order. Training runs the layers'
``forward`` (which keeps what backward needs); inference (``_encode``, ``_decode_output``,
``_sample_losses``) runs their ``infer``, which keeps nothing.
"""

from __future__ import annotations

from array_api_compat import array_namespace

from npae.activations import get_activation
from npae.initializers import default_init, get_initializer
from npae.layers import dense_stack
from npae.losses import get_loss
from npae.models.base import BaseAutoencoder
from npae.optimizers import OPTIMIZERS
from npae.validation import check_hidden_sizes, check_option

__all__ = ["Autoencoder"]


class Autoencoder(BaseAutoencoder):
    """A deep autoencoder with hand-written backpropagation; a scikit-learn transformer.

    Parameters
    ----------
    hidden_sizes : tuple of int, default=(256,)
        Encoder hidden widths H_1, …; the decoder uses them reversed.
    latent_dim : int, default=32
        K, the code width.
    activation : {"relu", "leaky_relu", "elu", "sigmoid", "tanh", "softplus", "identity"}, default="relu"
        Hidden activation (``npae.activations.ACTIVATIONS``).
    latent_activation : str, default="identity"
        Activation of the code layer (the same names).
    loss : {"bce", "mse"}, default="bce"
        Reconstruction loss summed over features; "bce" needs X in [0, 1] and decodes logits.
    optimizer : {"adam", "adamw", "sgd", "momentum", "nesterov"}, default="adam"
        Adam (β₁ = 0.9, β₂ = 0.999, ε = 1e-8); AdamW (also weight decay 0.01); plain SGD; SGD with
        momentum μ = 0.9, heavy-ball or Nesterov (``npae.optimizers``).
    learning_rate : float, default=1e-3
        The step size of whichever optimizer (also for "sgd", whose class default is 0.01).
    batch_size : int, default=128
        Rows per minibatch (the last one of an epoch may be smaller).
    epochs : int, default=10
        Passes over X per ``fit`` (``partial_fit`` makes one).
    dtype : {"float32", "float64"}, default="float32"
        The parameters' and the computation's float type; inputs are converted to it.
    random_state : None, int or numpy.random.Generator
        Seeds the initial weights and the minibatch order.
    backend : {None, "numpy", "cupy", "torch", "array_api_strict"}
        None uses the active backend (``npae.set_backend`` / ``NPAE_BACKEND``) when fitting.
    verbose : {0, 1, 2}, default=1
        1 shows a tqdm progress bar over epochs; 2 prints one line per epoch (for logs and CI, as
        Keras); 0 is silent.
    weight_init : str or None, default=None
        Kernel initializer; None picks He for ReLU-like activations and Glorot otherwise.
    warm_start : bool, default=False
        If True, ``fit`` continues from the current parameters and optimizer state.
    clip_norm : float or None, default=None
        If set, each step scales the gradients so their global L2 norm is at most ``clip_norm``
        (``npae.optimizers.clip_grad_norm``): a guard against one huge step blowing training up.

    Attributes
    ----------
    encoder_ : npae.layers.Sequential
    decoder_ : npae.layers.Sequential
    loss_ : npae.losses.Loss
        The reconstruction loss, chosen from ``loss`` when the layers are built.
    n_features_in_ : int
    feature_names_in_ : ndarray of str, shape (n_features_in_,)
        Defined only when X had string column names (a DataFrame); later calls check them.
    backend_ : npae.backend.Backend
        The backend the model was built on.
    history_ : dict[str, list[float]]
        Per-epoch "loss" and, with validation data, "val_loss".
    optimizer_ : npae.optimizers.Optimizer

    Examples
    --------
    >>> import npae
    >>> X, _ = npae.datasets.load_digits()
    >>> ae = npae.Autoencoder(hidden_sizes=(32,), latent_dim=8, epochs=2, verbose=0).fit(X)
    >>> ae.transform(X).shape
    (1797, 8)
    """

    def __init__(self, hidden_sizes=(256,), latent_dim=32, activation="relu", latent_activation="identity",
                 loss="bce", optimizer="adam", learning_rate=1e-3, batch_size=128, epochs=10,
                 dtype="float32", random_state=None, backend=None, verbose=1, weight_init=None,
                 warm_start=False, clip_norm=None):
        self.hidden_sizes = hidden_sizes
        self.latent_dim = latent_dim
        self.activation = activation
        self.latent_activation = latent_activation
        self.loss = loss
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.epochs = epochs
        self.dtype = dtype
        self.random_state = random_state
        self.backend = backend
        self.verbose = verbose
        self.weight_init = weight_init
        self.warm_start = warm_start
        self.clip_norm = clip_norm

    # ------------------------------------------------------------------ checks and layers
    def _check_hyperparameters(self) -> None:
        super()._check_hyperparameters()
        get_activation(self.activation)
        get_activation(self.latent_activation)
        get_loss(self.loss)
        check_option(self.optimizer, tuple(OPTIMIZERS), "optimizer")
        if self.weight_init is not None:
            get_initializer(self.weight_init)

    def _check_data_range(self, Xb, name: str = "X") -> None:
        """The loss's own check (BCE refuses data outside [0, 1]); changes nothing."""
        get_loss(self.loss).check_target(Xb, type(self).__name__, name)

    def _encoder_sizes(self, n_features: int):
        return (n_features, *check_hidden_sizes(self.hidden_sizes), self.latent_dim)

    def _build(self, n_features: int, rng) -> None:
        self.loss_ = get_loss(self.loss)
        init = self.weight_init or default_init(self.activation)
        sizes = self._encoder_sizes(n_features)
        hidden = [self.activation] * (len(sizes) - 2)
        common = dict(init=init, rng=rng, dtype=self.dtype, backend=self.backend_)
        self.encoder_ = dense_stack(sizes, hidden + [self.latent_activation], **common)
        self.decoder_ = dense_stack(sizes[::-1], hidden + [None], **common)

    def _named_layers(self):
        return [(f"encoder.{i}", layer) for i, layer in enumerate(self.encoder_.parameter_layers())] + [
            (f"decoder.{i}", layer) for i, layer in enumerate(self.decoder_.parameter_layers())
        ]

    # ------------------------------------------------------------------ forward and backward
    def _encode(self, X):
        """h = encoder(x): (N, D) -> (N, K)."""
        return self.encoder_.infer(X)

    def _decode_output(self, Z):
        """x̂ = output(decoder(z)): (N, K) -> (N, D) in data space (σ of logits for BCE)."""
        return self.loss_.output(self.decoder_.infer(Z))

    def _sample_losses(self, X):
        """ℓ(x_n, decoder(encoder(x_n))) per row, shape (N,)."""
        return self.loss_.value(X, self.decoder_.infer(self.encoder_.infer(X)))

    def _forward_backward(self, X, target=None):
        """L = mean_n ℓ(t_n, y_n) with y = decoder(encoder(X)) and t = target (default X).

        Backward: dL/dy = ∂ℓ/∂y / N through the decoder, then the encoder.
        Returns (L as a 0-d array, {}); gradients accumulate in the layers.
        """
        target = X if target is None else target
        y = self.decoder_.forward(self.encoder_.forward(X))
        xp = array_namespace(y)
        losses, dy = self.loss_.value_and_grad(target, y)  # = (loss_.value, loss_.grad)
        self.encoder_.backward(self.decoder_.backward(dy * (1.0 / X.shape[0])), input_grad=False)
        loss = xp.mean(losses)
        return loss, {}
