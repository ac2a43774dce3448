"""Anomaly detection with autoencoders, following scikit-learn's outlier-detector contract.

``AnomalyDetector(model)`` scores each sample with a fitted autoencoder (higher = more normal):

* ``"reconstruction"``: minus the reconstruction loss, ``model.score_samples``;
* ``"elbo"``: the VAE's evidence lower bound log p(x) ≥ ELBO(x) (nats), ``model.elbo``;
* ``"iwae"``: the importance-weighted estimate of log p(x) with ``n_samples`` samples;
* ``"elbo_complexity"``: the input-complexity correction of Serrà et al. (2020),
  S(x) = −log₂ p(x) − L(x), where L(x) is the length in bits of x compressed losslessly (zlib,
  level 9, of the 8-bit image). Likelihood models give simple images (MNIST) a higher
  likelihood than the complex ones they were trained on (Fashion-MNIST) — Nalisnick et al.
  (2019) — because −log p(x) is dominated by how compressible x is; subtracting L(x) removes
  that part. The detector's score is −S(x) (higher = more normal).

``decision_function = score_samples − offset_``, where ``offset_`` (= ``threshold_``) is the
``contamination`` quantile of the training scores, and ``predict`` gives +1 (inlier) / −1.
Evaluate with continuous scores (ROC AUC, average precision), not the 0/1 predictions.

This module works on host NumPy arrays (scores, quantiles, compression).
"""

from __future__ import annotations

import math
import zlib

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin, clone
from sklearn.exceptions import NotFittedError

from npae import backend as B
from npae.applications._common import _is_fitted
from npae.validation import check_float_in_range, check_option, check_positive_int

__all__ = ["SCORES", "AnomalyDetector", "complexity_bits"]

SCORES = ("reconstruction", "elbo", "iwae", "elbo_complexity")


def complexity_bits(X, *, bit_depth: int = 8):
    """L(x): zlib-compressed length in bits of each row quantised to ``bit_depth`` bits.

    Parameters
    ----------
    X : array of shape (N, D) in [0, 1]

    Returns
    -------
    ndarray of shape (N,), float64
    """
    X = B.to_numpy(X)
    levels = 2**bit_depth - 1
    q = np.clip(np.rint(X * levels), 0, levels).astype(np.uint8)
    return np.array([8.0 * len(zlib.compress(row.tobytes(), 9)) for row in q])


class AnomalyDetector(OutlierMixin, BaseEstimator):
    """Outlier detection with an autoencoder's per-sample score.

    Parameters
    ----------
    model : npae estimator
        An autoencoder (any npae model); it is cloned and fitted on the normal data unless
        ``refit=False`` and it is already fitted.
    contamination : float in (0, 0.5], default=0.1
        Expected share of outliers in the training data; sets ``offset_``.
    score : {"reconstruction", "elbo", "iwae", "elbo_complexity"}, default="reconstruction"
        "elbo", "iwae" and "elbo_complexity" need a VAE.
    n_samples : int, default=100
        Importance samples k for "iwae".
    refit : bool, default=True
        If False, an already fitted ``model`` is used as it is.
    random_state : None, int or Generator
        For the sampled scores (ELBO, IWAE).

    Attributes
    ----------
    model_ : the fitted autoencoder
    offset_, threshold_ : float
        The ``contamination`` quantile of the training scores.
    """

    def __init__(self, model, contamination=0.1, score="reconstruction", n_samples=100, refit=True,
                 random_state=None):
        self.model = model
        self.contamination = contamination
        self.score = score
        self.n_samples = n_samples
        self.refit = refit
        self.random_state = random_state

    def _check_params(self) -> None:
        check_option(self.score, SCORES, "score")
        check_float_in_range(self.contamination, "contamination", 0.0, 0.5, include_high=True)
        check_positive_int(self.n_samples, "n_samples")
        if not hasattr(self.model, "fit") or not hasattr(self.model, "score_samples"):
            raise TypeError(f"model must be an npae autoencoder; got {type(self.model).__name__}.")
        if self.score != "reconstruction" and not hasattr(self.model, "elbo"):
            raise ValueError(
                f"score={self.score!r} needs a likelihood model with elbo() (npae.VAE); "
                f"{type(self.model).__name__} only supports score='reconstruction'."
            )

    def fit(self, X, y=None):
        """Fit the autoencoder on (mostly normal) X and set the threshold; returns self."""
        self._check_params()
        model = self.model if (not self.refit and _is_fitted(self.model)) else clone(self.model).fit(X)
        self.model_ = model
        train_scores = self._scores(model, X)
        self.offset_ = float(np.quantile(train_scores, self.contamination))
        self.threshold_ = self.offset_
        self.n_features_in_ = model.n_features_in_
        return self

    def _scores(self, model, X):
        if self.score == "reconstruction":
            return B.to_numpy(model.score_samples(X)).astype(np.float64)
        if self.score == "elbo":
            return B.to_numpy(model.elbo(X, random_state=self.random_state)).astype(np.float64)
        log_p = B.to_numpy(model.log_likelihood(X, k=self.n_samples, random_state=self.random_state)).astype(np.float64)
        if self.score == "iwae":
            return log_p
        return log_p / math.log(2.0) + complexity_bits(X)  # −S(x) = log₂ p(x) + L(x)

    def _require_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError(
                "This AnomalyDetector instance is not fitted yet. Call 'fit' with appropriate arguments "
                "before using this estimator."
            )

    def score_samples(self, X):
        """Per-sample normality score (N,), higher = more normal."""
        self._require_fitted()
        return self._scores(self.model_, X)

    def decision_function(self, X):
        """score_samples − offset_: negative for outliers."""
        return self.score_samples(X) - self.offset_

    def predict(self, X):
        """+1 for inliers, −1 for outliers (decision_function < 0)."""
        return np.where(self.decision_function(X) < 0, -1, 1)
