"""Figures the applications share: PSNR for images, ROC AUC and average precision for anomaly scores.

Host code: each function takes NumPy arrays, lists or arrays of any npae backend (copied to the
host by ``npae.backend.to_numpy``) and returns plain Python numbers, ready for a table.

* :func:`psnr` — peak signal-to-noise ratio in dB, per image then averaged (denoising,
  compression).
* :func:`anomaly_metrics` — ROC AUC and average precision of continuous anomaly scores, computed
  by scikit-learn, with the prevalence that is the average precision of chance.
"""

from __future__ import annotations

import math

from array_api_compat import array_namespace

from npae import backend as B
from npae.validation import check_positive_float

__all__ = ["anomaly_metrics", "psnr"]


def psnr(clean, other, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB, per image then averaged over images.

        PSNR_n = 10·log10(R² / MSE_n),   MSE_n = mean_d (clean_nd − other_nd)²,   PSNR = mean_n PSNR_n

    Computed on the host in float64 (arrays of any backend are copied there). An image with
    MSE_n = 0 has PSNR_n = +inf, and then so has the mean.

    Parameters
    ----------
    clean, other : arrays of shape (N, D), or (N, ...) images (flattened per image), or (D,)
        The reference and the image to score (noisy or denoised).
    data_range : float, default=1.0
        R, the peak-to-peak range of the data: 1.0 for images in [0, 1], 255.0 for 8-bit.

    Returns
    -------
    float
    """
    R = check_positive_float(data_range, "data_range")
    a, b = B.to_numpy(clean), B.to_numpy(other)
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(f"psnr needs arrays of the same shape; got {tuple(a.shape)} and {tuple(b.shape)}.")
    xp = array_namespace(a, b)
    a = xp.astype(a, xp.float64)
    b = xp.astype(b, xp.float64)
    if a.ndim == 1:
        a, b = xp.reshape(a, (1, -1)), xp.reshape(b, (1, -1))
    elif a.ndim > 2:
        a, b = xp.reshape(a, (a.shape[0], -1)), xp.reshape(b, (b.shape[0], -1))
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"psnr needs at least one image with at least one value; got shape {tuple(a.shape)}.")
    if not bool(xp.all(xp.isfinite(a))) or not bool(xp.all(xp.isfinite(b))):
        raise ValueError("psnr got NaN or infinity; pass finite images.")
    mse = xp.mean((a - b) ** 2, axis=1)
    positive = mse > 0.0
    # 10·log10(R²/MSE) split as 20·log10(R) − 10·log10(MSE); the inner where keeps log10 off 0.
    per_image = xp.where(positive, 20.0 * math.log10(R) - 10.0 * xp.log10(xp.where(positive, mse, 1.0)), math.inf)
    return float(xp.mean(per_image))


def _host1d(y, name: str):
    """y as a 1-D host array (lists and arrays of any backend accepted)."""
    y = B.to_numpy(y)
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got shape {y.shape}.")
    return y


def anomaly_metrics(is_anomaly, anomaly_scores) -> dict:
    """ROC AUC and average precision of continuous anomaly scores (higher = more anomalous).

    AUROC is the probability that a random anomaly scores above a random normal row (ties
    count ½); average precision is the area under the precision–recall curve, whose chance
    level is the share of anomalies. Both come from ``sklearn.metrics`` with anomalies as the
    positive class.

    Parameters
    ----------
    is_anomaly : array of shape (N,), bool or 0/1
    anomaly_scores : array of shape (N,)

    Returns
    -------
    dict
        ``auroc`` (0.5 = chance), ``average_precision`` (chance = ``prevalence``), ``prevalence``.
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    y, s = _host1d(is_anomaly, "is_anomaly"), _host1d(anomaly_scores, "anomaly_scores")
    xp = array_namespace(y, s)
    y, s = xp.astype(y, xp.bool), xp.astype(s, xp.float64)
    if y.shape != s.shape:
        raise ValueError(f"is_anomaly {y.shape} and anomaly_scores {s.shape} must have the same shape.")
    if bool(xp.all(y)) or not bool(xp.any(y)):
        raise ValueError("is_anomaly must contain both normal (False) and anomalous (True) rows.")
    if not bool(xp.all(xp.isfinite(s))):
        raise ValueError("anomaly_scores contains NaN or infinity.")
    return {"auroc": float(roc_auc_score(y, s)), "average_precision": float(average_precision_score(y, s)),
            "prevalence": float(xp.mean(xp.astype(y, xp.float64)))}
