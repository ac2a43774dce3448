"""Figures the applications share: PSNR for images, ROC AUC and average precision for anomaly scores.

Host code: each function takes NumPy arrays, lists or arrays of any npae backend (copied to the
host by ``npae.backend.to_numpy``) and returns plain Python numbers, ready for a table.

* ``psnr`` — peak signal-to-noise ratio in dB, per image then averaged (denoising,
  compression).
* ``anomaly_metrics`` — ROC AUC and average precision of continuous anomaly scores, computed
  by scikit-learn, with the prevalence that is the average precision of chance.
"""

from __future__ import annotations

import math

from array_api_compat import array_namespace

from npae import backend as B
from npae.validation import check_positive_float

__all__ = ["anomaly_labels", "anomaly_metrics", "psnr"]


def psnr(clean, other, data_range: float | None = None) -> float:
    """Peak signal-to-noise ratio in dB, per image then averaged over images.

        PSNR_n = 10·log10(R² / MSE_n),   MSE_n = mean_d (clean_nd − other_nd)²,   PSNR = mean_n PSNR_n

    Computed on the host in float64 (arrays of any backend are copied there). An image with
    MSE_n = 0 has PSNR_n = +inf, and then so has the mean.

    Parameters
    ----------
    clean, other : arrays of shape (N, D), or (N, ...) images (flattened per image), or (D,)
        The reference and the image to score (noisy or denoised).
    data_range : float, optional
        R, the peak-to-peak range the data can take: 1.0 for images in [0, 1], 255.0 for 8-bit.
        By default (as scikit-image's ``peak_signal_noise_ratio``) it comes from ``clean``'s
        dtype: the integer type's range (255 for uint8), 1 for bool, and 1.0 for floating-point
        images, which must then lie in [0, 1] — other float data raises, since a wrong R shifts
        every figure by 20·log10 of the ratio (−48 dB for 0–255 images scored with R = 1).

    Returns
    -------
    float
    """
    a, b = B.to_numpy(clean), B.to_numpy(other)
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(f"psnr needs arrays of the same shape; got {tuple(a.shape)} and {tuple(b.shape)}.")
    xp = array_namespace(a, b)
    R = _default_data_range(a) if data_range is None else check_positive_float(data_range, "data_range")
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


def _default_data_range(clean) -> float:
    """The peak-to-peak range of ``clean``'s dtype (host array): an integer type's, 1 for bool, and
    1.0 for floating-point data, which must then lie in [0, 1]."""
    xp = array_namespace(clean)
    if xp.isdtype(clean.dtype, "bool"):
        return 1.0
    if xp.isdtype(clean.dtype, "integral"):
        info = xp.iinfo(clean.dtype)
        return float(info.max) - float(info.min)
    if clean.size and bool(xp.all(xp.isfinite(clean))):
        low, high = float(xp.min(clean)), float(xp.max(clean))
        if low < 0.0 or high > 1.0:
            raise ValueError(
                f"psnr: clean has values in [{low:.6g}, {high:.6g}], outside the [0, 1] assumed for floating-point "
                f"images when data_range is not given. Pass the range the data can take, e.g. data_range=255.0 "
                f"for 8-bit images stored as floats.")
    return 1.0


def anomaly_labels(is_anomaly):
    """``is_anomaly`` as a 1-D bool host array, accepting bool or 0/1 values only.

    Class labels, −1/+1 outlier labels (scikit-learn's ``predict``), NaN or other numbers raise
    instead of being read as "non-zero is an anomaly".
    """
    y = _host1d(is_anomaly, "is_anomaly")
    xp = array_namespace(y)
    if xp.isdtype(y.dtype, "bool"):
        return y
    if not xp.isdtype(y.dtype, "numeric"):
        raise ValueError(f"is_anomaly must be bool or 0/1; got an array of dtype {y.dtype}. For class labels pass "
                         f"y != normal_class.")
    values = xp.unique_values(y)
    if not bool(xp.all((values == 0) | (values == 1))):
        shown = ", ".join(f"{float(v):g}" for v in values[:6]) + (", …" if values.shape[0] > 6 else "")
        hint = ("these are scikit-learn's predict labels: pass y == -1 (−1 marks an outlier)"
                if bool(xp.all((values == -1) | (values == 1))) else
                "for class labels pass y != normal_class (or y == anomalous_class)")
        raise ValueError(f"is_anomaly must be bool or 0/1; got the values {shown}: {hint}.")
    return y == 1


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
        True or 1 marks an anomaly. Anything else (class labels, scikit-learn's −1/+1) raises.
    anomaly_scores : array of shape (N,)

    Returns
    -------
    dict
        ``auroc`` (0.5 = chance), ``average_precision`` (chance = ``prevalence``), ``prevalence``.
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    y, s = anomaly_labels(is_anomaly), _host1d(anomaly_scores, "anomaly_scores")
    xp = array_namespace(y, s)
    s = xp.astype(s, xp.float64)
    if y.shape != s.shape:
        raise ValueError(f"is_anomaly {y.shape} and anomaly_scores {s.shape} must have the same shape.")
    if bool(xp.all(y)) or not bool(xp.any(y)):
        raise ValueError("is_anomaly must contain both normal (False) and anomalous (True) rows.")
    if not bool(xp.all(xp.isfinite(s))):
        raise ValueError("anomaly_scores contains NaN or infinity.")
    return {"auroc": float(roc_auc_score(y, s)), "average_precision": float(average_precision_score(y, s)),
            "prevalence": float(xp.mean(xp.astype(y, xp.float64)))}
