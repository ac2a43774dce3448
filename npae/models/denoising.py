"""The denoising autoencoder: reconstruct the clean input from a corrupted copy.

During ``fit`` each minibatch x is corrupted into x̃ by a layer from ``npae.noise`` (drawn from
the model's random state), and the objective compares the reconstruction of x̃ with the clean x:

    L = mean_n ℓ(x_n, decoder(encoder(x̃_n)))

    noise="gaussian":     x̃ = clip(x + σ·ε, low, high), ε ~ N(0, 1)
    noise="masking":      a fraction ν of the entries set to 0
    noise="salt_pepper":  a fraction ν set to low or high (half each)

[low, high] is [0, 1] for loss="bce" and the minimum and maximum of the training data for
loss="mse" (``noise_range_``). The corruption is not differentiated through: it acts on the input,
so backward is the plain autoencoder's, with dL/dy = ∂ℓ(x, y)/∂y / N against the clean target.
Everything else (``transform``, ``reconstruct``, ``score_samples``, validation losses) is
deterministic and sees no noise.

``npae.metrics.psnr`` measures the result: 10·log10(range² / MSE) per image, in dB, averaged over images.
"""

from __future__ import annotations

import math

from array_api_compat import array_namespace

from npae.losses import get_loss
from npae.models.autoencoder import Autoencoder
from npae.noise import NOISE_KINDS, make_noise
from npae.validation import (
    check_array,
    check_in_unit_interval,
    check_open_fraction,
    check_option,
    check_positive_float,
    check_seed,
    restore_kind,
)

__all__ = ["NOISE_KINDS", "DenoisingAutoencoder"]


class DenoisingAutoencoder(Autoencoder):
    """An autoencoder trained to undo Gaussian, masking or salt-and-pepper corruption.

    It takes every parameter of [npae.Autoencoder][npae.models.autoencoder.Autoencoder], with the
    same defaults (``hidden_sizes``, ``latent_dim``, ``activation``, ``latent_activation``, ``loss``,
    ``optimizer``, ``learning_rate``, ``batch_size``, ``epochs``, ``dtype``, ``random_state``,
    ``backend``, ``verbose``, ``weight_init``, ``warm_start``, ``clip_norm``), and those below. ``random_state`` also seeds the corruption.

    Parameters
    ----------
    noise : {"gaussian", "masking", "salt_pepper"}, default="gaussian"
        The corruption applied to each training minibatch.
    noise_level : float, default=0.2
        "gaussian": σ > 0, the noise standard deviation in data units (the corrupted values are
        clipped to the data range). "masking" and "salt_pepper": ν in (0, 1), the expected
        fraction of entries corrupted.

    Attributes
    ----------
    data_min_, data_max_ : float
        The smallest and largest values of the data seen by ``fit``/``partial_fit`` (the union
        over calls with ``warm_start`` or ``partial_fit``).
    noise_range_ : tuple of float
        (low, high): the clip range of Gaussian noise and the pepper/salt values; (0.0, 1.0) for
        loss="bce", (data_min_, data_max_) for loss="mse".
    noise_layer_ : npae.noise.NoiseLayer
        The corruption layer used by ``fit``.
    history_ : dict[str, list[float]]
        Per-epoch "loss" (the denoising objective on corrupted batches) and, with validation
        data, "val_loss" (the clean reconstruction loss: validation is not corrupted).

    Notes
    -----
    ``loss_and_grad(X_noisy, target=X_clean)`` evaluates the objective for a given corruption,
    which makes it checkable by ``npae.gradcheck.check_model``; without ``target`` it is the
    plain reconstruction objective on X.

    Examples
    --------
    >>> import npae
    >>> from npae.models.denoising import DenoisingAutoencoder
    >>> from npae.metrics import psnr
    >>> X, _ = npae.datasets.load_digits()
    >>> dae = DenoisingAutoencoder(hidden_sizes=(64,), latent_dim=32, noise="masking",
    ...                            noise_level=0.3, epochs=2, verbose=0, random_state=0).fit(X)
    >>> X_noisy = dae.corrupt(X, random_state=1)
    >>> gain = psnr(X, dae.denoise(X_noisy)) - psnr(X, X_noisy)
    """

    def __init__(self, hidden_sizes=(256,), latent_dim=32, activation="relu", latent_activation="identity",
                 loss="bce", optimizer="adam", learning_rate=1e-3, batch_size=128, epochs=10,
                 dtype="float32", random_state=None, backend=None, verbose=1, weight_init=None,
                 warm_start=False, noise="gaussian", noise_level=0.2,
                 clip_norm=None):
        super().__init__(hidden_sizes=hidden_sizes, latent_dim=latent_dim, activation=activation,
                         latent_activation=latent_activation, loss=loss, optimizer=optimizer,
                         learning_rate=learning_rate, batch_size=batch_size, epochs=epochs, dtype=dtype,
                         random_state=random_state, backend=backend, verbose=verbose,
                         weight_init=weight_init, warm_start=warm_start,
                         clip_norm=clip_norm)
        self.noise = noise
        self.noise_level = noise_level

    # ------------------------------------------------------------------ checks
    def _check_hyperparameters(self) -> None:
        super()._check_hyperparameters()
        noise = check_option(self.noise, NOISE_KINDS, "noise")
        if noise == "gaussian":
            check_positive_float(self.noise_level, "noise_level",
                                 hint="It is the standard deviation σ of noise='gaussian'; a typical value "
                                      "for data in [0, 1] is 0.1 to 0.5.")
        else:
            check_open_fraction(self.noise_level, "noise_level",
                                hint=f"It is the fraction of entries noise={noise!r} corrupts; a typical "
                                     "value is 0.25.")

    # ------------------------------------------------------------------ the training data's range
    def _data_range(self, Xb) -> tuple[float, float]:
        """(min, max) over every entry of X (N, D), from per-row extremes computed in row chunks
        (``_chunks``), so a memory map is read a block at a time."""
        lows = self._chunks(lambda x: array_namespace(x).min(x, axis=1), Xb)
        highs = self._chunks(lambda x: array_namespace(x).max(x, axis=1), Xb)
        xp = array_namespace(lows, highs)
        return float(xp.min(lows)), float(xp.max(highs))

    def _observe_training_data(self, Xb, *, reset: bool) -> None:
        """Record the training data's range and build the corruption layer from it.

        ``data_min_``/``data_max_`` are X's range, merged with the earlier one when training
        continues; ``noise_range_`` is (0, 1) for loss="bce" and that range for loss="mse".
        """
        low, high = self._data_range(Xb)
        if not reset and getattr(self, "data_min_", None) is not None:
            low, high = min(low, self.data_min_), max(high, self.data_max_)
        self._set_data_range(low, high)

    def _set_data_range(self, low: float, high: float) -> None:
        """Set ``data_min_``, ``data_max_``, ``noise_range_`` and the corruption layer."""
        self.data_min_, self.data_max_ = low, high
        self.noise_range_ = (0.0, 1.0) if self.loss_.name == "bce" else (low, high)
        self.noise_layer_ = make_noise(self.noise, float(self.noise_level), low=self.noise_range_[0],
                                       high=self.noise_range_[1])

    def _training_state(self) -> dict:
        """The base class's (the training stream), plus the data range (``data_range``), so a
        loaded model clips noise, and merges a warm start's data, as the saved one would."""
        state = super()._training_state()
        if getattr(self, "data_min_", None) is not None:
            state["data_range"] = [float(self.data_min_), float(self.data_max_)]
        return state

    def _restore_training_state(self, state: dict) -> None:
        super()._restore_training_state(state)
        data_range = state.get("data_range")
        if data_range is None:
            return
        if (not isinstance(data_range, list) or len(data_range) != 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                           for v in data_range)
                or data_range[0] > data_range[1]):
            raise ValueError(f"data_range must be [low, high], two finite numbers with low <= high; got {data_range!r}")
        self._set_data_range(float(data_range[0]), float(data_range[1]))

    def _validate_loss_kwargs(self, Xb, kwargs: dict) -> dict:
        """Accept ``target`` (N, D), the clean data that X's reconstruction is compared with."""
        kwargs = dict(kwargs)
        target = kwargs.pop("target", None)
        if kwargs:
            raise TypeError(f"{type(self).__name__}.loss_and_grad() got unexpected arguments {sorted(kwargs)}; "
                            "it accepts only target= (the clean data).")
        if target is None:
            return {}
        name = type(self).__name__
        Tb, _ = check_array(target, backend=self._resolve_backend(), dtype=self.dtype, name="target",
                            n_features=Xb.shape[1], estimator_name=name)
        if tuple(Tb.shape) != tuple(Xb.shape):
            raise ValueError(f"target must have the shape of X, {tuple(Xb.shape)}; got {tuple(Tb.shape)}. "
                             "Pass the clean version of each corrupted row of X.")
        if get_loss(self.loss).name == "bce":
            check_in_unit_interval(Tb, "target", f"{name} with loss='bce'")
        return {"target": Tb}

    # ------------------------------------------------------------------ training
    def train_step(self, X):
        """One optimizer step on a freshly corrupted batch (see ``_training_objective``)."""
        if getattr(self, "noise_layer_", None) is None:
            raise RuntimeError(f"{type(self).__name__}.train_step() needs the noise layer that fit() or "
                               "partial_fit() builds from the data range; train through fit().")
        return super().train_step(X)

    def _training_objective(self, X):
        """Corrupt the batch X (N, D) with ``noise_layer_`` and the model's Generator; the step
        descends L = mean_n ℓ(x_n, decoder(encoder(x̃_n)))."""
        return self._forward_backward(self.noise_layer_.forward(X, rng=self._rng), target=X)

    # ------------------------------------------------------------------ inference
    def denoise(self, X):
        """The reconstruction of (corrupted) X, shape (N, D), in data space (= ``reconstruct``)."""
        return self.reconstruct(X)

    def corrupt(self, X, random_state=None, *, noise=None, noise_level=None):
        """Corrupt X (N, D) as training does, with a fresh draw from ``random_state``.

        For making noisy held-out data; the model's own random state is not touched.

        Parameters
        ----------
        X : array-like of shape (N, D)
        random_state : None, int or numpy.random.Generator
        noise, noise_level : optional
            Another corruption than the model's (e.g. to test a Gaussian-trained model on masking);
            default the ``noise`` and ``noise_level`` the model was fitted with (``set_params``
            since changes the next fit, not this).

        Returns
        -------
        X_noisy : array of shape (N, D), the kind of array given

        Notes
        -----
        Values are clipped to / replaced by ``noise_range_`` (saved with the model). A model
        loaded from a checkpoint without it (written by an earlier npae) uses [0, 1] for
        loss="bce" and X's own minimum and maximum for "mse".
        """
        self._check_is_fitted()
        model = self._as_fitted()  # the noise and dtype as fitted, whatever set_params said since
        Xb, kind = model._validate(X, n_features=model.n_features_in_, target_check=False)
        bounds = getattr(model, "noise_range_", None)
        if bounds is None:
            xp = array_namespace(Xb)
            bounds = (0.0, 1.0) if model.loss_.name == "bce" else (float(xp.min(Xb)), float(xp.max(Xb)))
        layer = make_noise(model.noise if noise is None else noise,
                           float(model.noise_level if noise_level is None else noise_level),
                           low=bounds[0], high=bounds[1])
        X_noisy = layer.corrupt(Xb, check_seed(random_state))
        return restore_kind(X_noisy, kind)

