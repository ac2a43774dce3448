"""Anomaly detection protocols, always scored with continuous scores, never 0/1 predictions.

Every protocol fits each detector on normal rows, scores a test set that mixes normal and
anomalous rows, and reports ROC AUC and average precision (``npae.metrics.anomaly_metrics``),
with the baselines fitted and scored in the same run:

* ``evaluate_detectors`` — any detectors with scikit-learn's outlier contract;
* ``PCAReconstructionDetector`` — the PCA baseline (the linear autoencoder's score);
* ``one_class_auroc`` — one class is normal, the rest of the test set anomalous;
* ``ood_auroc`` — an in-distribution test set against an out-of-distribution one, with the
  likelihood scores and the complexity correction of Serrà et al. (2020);
* ``tabular_auroc`` with ``breast_cancer_split`` — benign normal, malignant anomalous.

Anomaly scores returned here are "higher = more anomalous" (``−score_samples``), the convention
of ``roc_auc_score`` with anomalies as the positive class.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin

from npae import backend as B
from npae.applications._common import _fitted, _host1d, _host2d, _latent_dim, default_autoencoder, host_rows
from npae.applications.detector import EXTREME_SCORE, AnomalyDetector, complexity_bits
from npae.metrics import anomaly_labels, anomaly_metrics
from npae.models import VAE, Autoencoder
from npae.validation import check_float_in_range

__all__ = [
    "PCAReconstructionDetector",
    "breast_cancer_split",
    "evaluate_detectors",
    "one_class_auroc",
    "ood_auroc",
    "tabular_auroc",
]


class PCAReconstructionDetector(OutlierMixin, BaseEstimator):
    """The PCA baseline: minus the squared reconstruction error from K principal components.

        score(x) = −‖x − (m + (x − m) V Vᵀ)‖²,   V (D, K) the top principal directions

    This is the linear autoencoder's score (a linear autoencoder with MSE spans the same
    subspace), so it is the baseline an autoencoder has to beat. It keeps scikit-learn's outlier
    contract as ``IsolationForest`` does: ``decision_function`` = ``score_samples`` − ``offset_``
    (negative for outliers), ``predict`` gives −1 for outliers and 1 for inliers, and a DataFrame's
    column names are checked against the ones seen in ``fit``.

    Parameters
    ----------
    n_components : int or float, default=32
        As ``sklearn.decomposition.PCA``: a count (at most min(N, D)), or a share of variance in (0, 1).
    contamination : float in (0, 0.5], default=0.1
        The expected share of outliers in the training rows: ``offset_`` is that quantile of their scores.

    Attributes
    ----------
    pca_ : sklearn.decomposition.PCA
    offset_ : float
    n_features_in_ : int
    feature_names_in_ : ndarray of str, only when fitted on a DataFrame with string column names
    """

    def __init__(self, n_components=32, contamination=0.1):
        self.n_components = n_components
        self.contamination = contamination

    def fit(self, X, y=None):
        """Fit the principal directions on X (N, D) and the threshold ``offset_``; returns self."""
        from sklearn.decomposition import PCA
        from sklearn.utils.validation import validate_data

        contamination = check_float_in_range(self.contamination, "contamination", 0.0, 0.5, include_high=True)
        X = validate_data(self, host_rows(X), dtype=(np.float64, np.float32))
        pca = PCA(n_components=self.n_components, random_state=0).fit(X)
        self.pca_ = pca
        self.offset_ = float(np.quantile(self._scores(X), contamination))
        return self

    def _scores(self, X) -> np.ndarray:
        """−‖x − x̂‖² in float64; a row whose error overflows even that gets ``EXTREME_SCORE``, as in
        ``AnomalyDetector`` (an extreme row is the most abnormal, never −inf or NaN)."""
        X = np.asarray(X, dtype=np.float64)
        with np.errstate(over="ignore", invalid="ignore"):
            s = -np.sum((X - self.pca_.inverse_transform(self.pca_.transform(X))) ** 2, axis=1)
        return np.where(np.isfinite(s), s, EXTREME_SCORE)

    def score_samples(self, X) -> np.ndarray:
        """−‖x − x̂‖² per row, shape (N,): higher = more normal."""
        from sklearn.utils.validation import check_is_fitted, validate_data

        check_is_fitted(self, "pca_")
        return self._scores(validate_data(self, host_rows(X), dtype=(np.float64, np.float32), reset=False))

    def decision_function(self, X) -> np.ndarray:
        """``score_samples(X) − offset_``, shape (N,): negative for outliers."""
        return self.score_samples(X) - self.offset_

    def predict(self, X) -> np.ndarray:
        """−1 for outliers (``decision_function`` < 0), 1 for inliers, shape (N,)."""
        return np.where(self.decision_function(X) < 0.0, -1, 1)


def evaluate_detectors(detectors: dict, X_train, X_test, is_anomaly) -> tuple:
    """Fit each detector on X_train, score X_test, and measure ROC AUC and average precision.

    Parameters
    ----------
    detectors : dict[str, estimator]
        Anything with scikit-learn's outlier contract: ``fit(X)`` and ``score_samples(X)`` with
        higher = more normal (``npae.AnomalyDetector``, ``IsolationForest``,
        ``PCAReconstructionDetector``, ...). They are fitted in place.
    X_train : array of shape (N, D)
    X_test : array of shape (N_test, D)
    is_anomaly : array of shape (N_test,), bool

    Returns
    -------
    rows : list of dict
        ``method``, ``auroc``, ``average_precision``, ``prevalence``, ``mean_score_normal`` and
        ``mean_score_anomalous`` (the detector's own score_samples, higher = more normal).
    anomaly_scores : dict[str, ndarray of shape (N_test,)]
        −score_samples per method, for ROC curves and histograms.
    """
    X_train, X_test = _host2d(X_train, "X_train"), _host2d(X_test, "X_test")
    y = anomaly_labels(is_anomaly)
    rows, scores = [], {}
    for name, det in detectors.items():
        det.fit(X_train)
        s = np.asarray(B.to_numpy(det.score_samples(X_test)), dtype=np.float64)
        scores[name] = -s
        rows.append({"method": name, **anomaly_metrics(y, -s), "mean_score_normal": float(s[~y].mean()),
                     "mean_score_anomalous": float(s[y].mean())})
    return rows, scores


def _check_pca_components(n_components: int, n_rows: int, n_features: int, *, option: str = "n_components",
                         rows: str = "training rows") -> int:
    """Refuse a PCA baseline with more components than min(rows, features), before anything is trained.

    ``option`` and ``rows`` name what the caller calls them (the CLI: "--latent-dim"; one class's
    training rows), so that the message says what to change.
    """
    limit = min(n_rows, n_features)
    if not 1 <= n_components <= limit:
        raise ValueError(
            f"The PCA baseline would use {option}={n_components} components, but it can use at most "
            f"min({rows}, features) = min({n_rows}, {n_features}) = {limit}. Pass {option} between 1 and {limit}.")
    return n_components


def _baselines(n_components: int, random_state) -> dict:
    from sklearn.ensemble import IsolationForest

    return {
        f"PCA reconstruction (K={n_components})": PCAReconstructionDetector(n_components),
        "IsolationForest": IsolationForest(n_estimators=100, random_state=random_state),
    }


def one_class_auroc(X_train, y_train, X_test, y_test, *, classes=None, models: dict | None = None,
                    n_components: int | None = None, random_state=0, return_scores: bool = False):
    """The one-class protocol: train on one class, score the whole test set, AUROC per class.

    For each normal class c: the detectors are fitted on the training rows of class c; the test
    rows of class c are normal and every other test row is an anomaly (on Fashion-MNIST, 10 %
    normal). Detectors: ``npae.AnomalyDetector(model, anomaly_score=score)`` for each entry of
    ``models``, the PCA-reconstruction baseline with as many components as the first model's
    code, and ``IsolationForest`` on the raw input (100 trees), all measured in the same run.

    The loss matters: a BCE autoencoder's score −Σ_d BCE(x_d, x̂_d) contains the entropy of the
    grey levels of x itself (BCE ≥ H(x_d) > 0 for 0 < x_d < 1, even for a perfect
    reconstruction), so mostly-black images (sandals, trousers) look normal to a model of
    bright, textured classes; on Fashion-MNIST this pushes several classes below 0.5. A squared
    error score (``loss="mse"``) has no such floor.

    Parameters
    ----------
    X_train : array of shape (N, D)
    y_train : array of shape (N,)
    X_test : array of shape (N_test, D)
    y_test : array of shape (N_test,)
    classes : iterable of labels, optional
        Default every label in y_train.
    models : dict[str, (npae estimator, score)], optional
        Unfitted templates, cloned per class, with their ``AnomalyDetector`` score
        ("reconstruction"; "elbo", "iwae", ... need a VAE). Default
        ``{"autoencoder (reconstruction)": (default_autoencoder(), "reconstruction")}``.
    n_components : int, optional
        PCA components; default the first model's ``latent_dim``.
    random_state : int, default=0
    return_scores : bool, default=False

    Returns
    -------
    rows : list of dict
        One per class: ``class`` and one AUROC per method name; then a ``class="mean"`` row.
    scores : dict, only with ``return_scores``
        {class: (is_anomaly, {method: anomaly scores (N_test,)})}.
    """
    X_train, X_test = _host2d(X_train, "X_train"), _host2d(X_test, "X_test")
    y_train, y_test = _host1d(y_train, "y_train"), _host1d(y_test, "y_test")
    if models is None:
        models = {"autoencoder (reconstruction)": (default_autoencoder(random_state=random_state), "reconstruction")}
    K = _latent_dim(next(iter(models.values()))[0]) if n_components is None else int(n_components)
    classes = np.unique(y_train) if classes is None else list(classes)
    for c in classes:  # every check before the first model is trained
        missing = [name for name, y in (("y_train", y_train), ("y_test", y_test)) if not np.any(y == c)]
        if missing:
            raise ValueError(f"Class {c!r} has no rows in {' and '.join(missing)}: the one-class protocol trains on "
                             f"its training rows and needs it among the test rows. Pass classes= present in both.")
        _check_pca_components(K, int(np.sum(y_train == c)), X_train.shape[1], rows=f"class {c!r}'s training rows")
        if bool(np.all(y_test == c)):
            raise ValueError(f"Every test row is of class {c!r}: there is no anomaly to detect for it.")
    rows, all_scores = [], {}
    for c in classes:
        is_anomaly = y_test != c
        detectors = {name: AnomalyDetector(m, anomaly_score=score, random_state=random_state)
                     for name, (m, score) in models.items()}
        detectors.update(_baselines(K, random_state))
        result, scores = evaluate_detectors(detectors, X_train[y_train == c], X_test, is_anomaly)
        rows.append({"class": c.item() if hasattr(c, "item") else c, **{r["method"]: r["auroc"] for r in result}})
        all_scores[c.item() if hasattr(c, "item") else c] = (is_anomaly, scores)
    methods = [k for k in rows[0] if k != "class"]
    rows.append({"class": "mean", **{m: float(np.mean([r[m] for r in rows])) for m in methods}})
    return (rows, all_scores) if return_scores else rows


def ood_auroc(X_train, X_in, X_out, *, autoencoder=None, vae=None, n_samples: int = 100, offset_rows: int = 2000,
              n_components: int | None = None, random_state=0, return_scores: bool = False):
    """Out-of-distribution detection: fit on X_train, tell X_in (normal) from X_out (anomalous).

    Scores (``npae.AnomalyDetector``): "reconstruction" from a plain autoencoder; "elbo",
    "iwae" (``n_samples`` importance samples) and "elbo_complexity" from one VAE; beside the PCA
    reconstruction and IsolationForest baselines. Likelihood models are known to fail here
    (Nalisnick et al., 2019): trained on Fashion-MNIST they give MNIST a *higher* likelihood,
    which shows as an AUROC below 0.5 for "elbo"/"iwae". "elbo_complexity" subtracts the zlib
    length L(x) (Serrà et al., 2020); the table says whether that repairs the ranking.

    The models are fitted once on all of X_train; each detector's threshold (``offset_``, not
    used by AUROC) is set on the first ``offset_rows`` training rows, which bounds the cost of
    the importance-sampled scores.

    Parameters
    ----------
    X_train : array of shape (N, D)
    X_in : array of shape (N_in, D)
        Held-out in-distribution rows (normal).
    X_out : array of shape (N_out, D)
        Out-of-distribution rows (anomalies).
    autoencoder : npae estimator or dict[str, npae estimator], optional
        Fitted or unfitted (then fitted on X_train), scored by reconstruction; a dict names
        several (e.g. a BCE and an MSE autoencoder). Default ``default_autoencoder``.
        Pass ``False`` to skip the reconstruction score.
    vae : npae.VAE, optional
        Fitted or unfitted (then fitted on X_train); default
        ``VAE(hidden_sizes=(256,), latent_dim=16, epochs=20)``.
        Pass ``False`` to skip the likelihood scores.
    n_samples : int, default=100
    offset_rows : int, default=2000
    n_components : int, optional
        PCA components; default the autoencoder's ``latent_dim`` (else 32).
    random_state : int, default=0
    return_scores : bool, default=False

    Returns
    -------
    rows : list of dict
        As ``evaluate_detectors``, plus for the likelihood scores ``bits_per_dim_in`` and
        ``bits_per_dim_out`` (−score/(D·ln 2) for "elbo" and "iwae": lower = likelier) and
        ``out_likelier`` (True when X_out gets the higher mean likelihood).
    scores : dict, only with ``return_scores``
        {"is_anomaly": (N_in + N_out,), "anomaly_scores": {method: (N_in + N_out,)},
        "complexity_bits_in", "complexity_bits_out"}.
    """
    X_train, X_in, X_out = _host2d(X_train, "X_train"), _host2d(X_in, "X_in"), _host2d(X_out, "X_out")
    X_test = np.concatenate([X_in, X_out])
    is_anomaly = np.r_[np.zeros(X_in.shape[0], bool), np.ones(X_out.shape[0], bool)]
    X_fit = X_train[: min(offset_rows, X_train.shape[0])]
    detectors = {}
    if autoencoder is None:
        autoencoder = default_autoencoder(random_state=random_state)
    autoencoders = {} if autoencoder is False else (
        dict(autoencoder) if isinstance(autoencoder, dict) else {"autoencoder (reconstruction)": autoencoder})
    K = n_components or (_latent_dim(next(iter(autoencoders.values()))) if autoencoders else 32)
    K = _check_pca_components(int(K), X_train.shape[0], X_train.shape[1])  # before anything is trained
    for name, model in autoencoders.items():
        autoencoders[name] = _fitted(model, X_train)
        detectors[name] = AnomalyDetector(autoencoders[name], refit=False)
    if vae is not False:
        if vae is None:
            vae = VAE(hidden_sizes=(256,), latent_dim=16, epochs=20, verbose=0, random_state=random_state)
        vae = _fitted(vae, X_train)
        for s in ("elbo", "iwae", "elbo_complexity"):
            detectors[f"VAE ({s})"] = AnomalyDetector(vae, anomaly_score=s, n_samples=n_samples, refit=False,
                                                      random_state=random_state)
    rows, scores = evaluate_detectors(detectors, X_fit, X_test, is_anomaly)
    base_rows, base_scores = evaluate_detectors(_baselines(K, random_state), X_train, X_test, is_anomaly)
    rows += base_rows
    scores.update(base_scores)
    D = X_train.shape[1]
    for row in rows:
        if row["method"] in ("VAE (elbo)", "VAE (iwae)"):
            row["bits_per_dim_in"] = -row["mean_score_normal"] / (D * math.log(2.0))
            row["bits_per_dim_out"] = -row["mean_score_anomalous"] / (D * math.log(2.0))
            row["out_likelier"] = bool(row["mean_score_anomalous"] > row["mean_score_normal"])
    if not return_scores:
        return rows
    return rows, {"is_anomaly": is_anomaly, "anomaly_scores": scores,
                  "complexity_bits_in": complexity_bits(X_in), "complexity_bits_out": complexity_bits(X_out)}


def breast_cancer_split(train_fraction: float = 0.6, random_state=0):
    """scikit-learn's breast-cancer data as an anomaly task: benign normal, malignant anomalous.

    A random ``train_fraction`` of the 357 benign tumours is the training set (normal only);
    the test set is the other benign tumours and all 212 malignant ones. The 30 features are
    standardized with the mean and standard deviation of the training rows.

    Parameters
    ----------
    train_fraction : float in (0, 1), default=0.6
    random_state : None, int or Generator, default=0

    Returns
    -------
    X_train : ndarray of shape (N, 30), float32, benign
    X_test : ndarray of shape (N_test, 30), float32
    is_anomaly : ndarray of shape (N_test,), bool (True = malignant)
    """
    from sklearn.datasets import load_breast_cancer

    train_fraction = check_float_in_range(train_fraction, "train_fraction", 0.0, 1.0)
    data = load_breast_cancer()
    X, malignant = data.data, data.target == 0  # sklearn: 0 = malignant, 1 = benign
    benign = np.flatnonzero(~malignant)
    rng = B.check_random_state(random_state)
    benign = rng.permutation(benign)
    n_train = round(train_fraction * benign.size)
    train, test = benign[:n_train], np.r_[benign[n_train:], np.flatnonzero(malignant)]
    mean, std = X[train].mean(axis=0), X[train].std(axis=0)
    std = np.where(std > 0, std, 1.0)

    def scale(A):
        return ((A - mean) / std).astype(np.float32)

    return scale(X[train]), scale(X[test]), malignant[test]


def tabular_auroc(X_train, X_test, is_anomaly, *, models: dict | None = None, n_components: int = 4,
                  random_state=0, return_scores: bool = False):
    """AUROC and average precision on tabular data (e.g. ``breast_cancer_split``).

    Default models: an ``Autoencoder(loss="mse")`` 30-16-4 scored by reconstruction and a
    Gaussian VAE scored by the ELBO, beside PCA reconstruction (``n_components``) and
    IsolationForest.

    Parameters
    ----------
    X_train : array of shape (N, D), standardized normal rows
    X_test : array of shape (N_test, D)
    is_anomaly : array of shape (N_test,), bool
    models : dict[str, (npae estimator, score)], optional
        Each wrapped in ``npae.AnomalyDetector(model, anomaly_score=score)``.
    n_components : int, default=4
    random_state : int, default=0
    return_scores : bool, default=False

    Returns
    -------
    rows : list of dict, as ``evaluate_detectors``
    scores : dict[str, ndarray], only with ``return_scores``
    """
    if models is None:
        common = {"hidden_sizes": (16,), "latent_dim": 4, "epochs": 300, "batch_size": 32,
                  "learning_rate": 3e-3, "verbose": 0, "random_state": random_state}
        models = {"autoencoder (mse)": (Autoencoder(loss="mse", activation="tanh", **common), "reconstruction"),
                  "VAE gaussian (elbo)": (VAE(likelihood="gaussian", sigma=0.5, activation="tanh", **common),
                                          "elbo")}
    X_train = _host2d(X_train, "X_train")
    _check_pca_components(int(n_components), X_train.shape[0], X_train.shape[1])
    detectors = {name: AnomalyDetector(m, anomaly_score=s, random_state=random_state) for name, (m, s) in models.items()}
    detectors.update(_baselines(n_components, random_state))
    rows, scores = evaluate_detectors(detectors, X_train, X_test, is_anomaly)
    return (rows, scores) if return_scores else rows
