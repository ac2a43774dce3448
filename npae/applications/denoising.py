"""Denoising: PSNR of noisy and denoised images, with a plain autoencoder and a median filter beside.

``denoising_table`` trains a ``DenoisingAutoencoder`` per corruption and level and scores it
with ``npae.metrics.psnr``; ``median_filter_images`` is the classical baseline.
"""

from __future__ import annotations

import math

import numpy as np

from npae.applications._common import _host2d, default_autoencoder
from npae.metrics import psnr
from npae.models import DenoisingAutoencoder

__all__ = ["DEFAULT_NOISE_LEVELS", "denoising_table", "median_filter_images"]

DEFAULT_NOISE_LEVELS = {"gaussian": (0.1, 0.3), "masking": (0.25, 0.5), "salt_pepper": (0.1, 0.25)}


def median_filter_images(X, image_shape=None, size: int = 3) -> np.ndarray:
    """A ``size`` × ``size`` median filter on each row seen as an image (the classical denoiser).

    Parameters
    ----------
    X : array of shape (N, D)
    image_shape : (h, w), optional
        Default a square, D = h·w with h = w.
    size : int, default=3

    Returns
    -------
    ndarray of shape (N, D), float64
    """
    from scipy.ndimage import median_filter

    X = _host2d(X)
    if image_shape is None:
        side = math.isqrt(X.shape[1])
        if side * side != X.shape[1]:
            raise ValueError(f"D = {X.shape[1]} is not a square; pass image_shape=(h, w).")
        image_shape = (side, side)
    images = X.reshape(X.shape[0], *image_shape)
    return median_filter(images, size=(1, size, size), mode="nearest").reshape(X.shape)


def denoising_table(X_train, X_test, *, noise_levels: dict | None = None, model_params: dict | None = None,
                    baselines: bool = True, data_range: float = 1.0, random_state=0) -> list:
    """PSNR of noisy and denoised test images for each corruption and noise level.

    For every (noise, level) a ``DenoisingAutoencoder`` is trained on X_train with that
    corruption; X_test is corrupted once with a fixed draw (``model.corrupt``) and denoised.
    Baselines on the same noisy images: a plain ``Autoencoder`` of the same architecture trained
    on clean data only (fitted once), and a 3 × 3 median filter (images only).

    Parameters
    ----------
    X_train : array of shape (N, D), in [0, 1] for the default BCE loss
    X_test : array of shape (N_test, D)
    noise_levels : dict[str, tuple of float], optional
        Default ``{"gaussian": (0.1, 0.3), "masking": (0.25, 0.5), "salt_pepper": (0.1, 0.25)}``:
        σ for Gaussian noise, the corrupted fraction otherwise.
    model_params : dict, optional
        Hyperparameters of both autoencoders (default: those of ``default_autoencoder``).
    baselines : bool, default=True
    data_range : float, default=1.0
    random_state : int, default=0
        Seeds the models and the test corruption.

    Returns
    -------
    list of dict
        ``noise``, ``noise_level``, ``psnr_noisy``, ``psnr_denoised`` (dB), ``gain`` (dB) and,
        with baselines, ``psnr_plain_ae`` and ``psnr_median`` (None when D is not a square).
    """
    X_train, X_test = _host2d(X_train, "X_train"), _host2d(X_test, "X_test")
    levels = DEFAULT_NOISE_LEVELS if noise_levels is None else noise_levels
    params = {"hidden_sizes": (256,), "latent_dim": 32, "epochs": 20, "verbose": 0, **(model_params or {})}
    params.setdefault("random_state", random_state)
    plain = default_autoencoder(**params).fit(X_train) if baselines else None
    square = math.isqrt(X_test.shape[1]) ** 2 == X_test.shape[1]
    rows = []
    for noise, values in levels.items():
        for level in values:
            dae = DenoisingAutoencoder(noise=noise, noise_level=float(level), **params).fit(X_train)
            X_noisy = _host2d(dae.corrupt(X_test, random_state=random_state))
            row = {
                "noise": noise,
                "noise_level": float(level),
                "psnr_noisy": psnr(X_test, X_noisy, data_range),
                "psnr_denoised": psnr(X_test, _host2d(dae.denoise(X_noisy)), data_range),
            }
            row["gain"] = row["psnr_denoised"] - row["psnr_noisy"]
            if baselines:
                row["psnr_plain_ae"] = psnr(X_test, _host2d(plain.reconstruct(X_noisy)), data_range)
                row["psnr_median"] = psnr(X_test, median_filter_images(X_noisy), data_range) if square else None
            rows.append(row)
    return rows
