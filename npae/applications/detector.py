"""Anomaly detection with autoencoders: scikit-learn's outlier-detector contract, PyOD's attributes.

``AnomalyDetector()`` with no arguments is a complete detector for a numeric table or a batch of
flattened images, whether or not its training rows hold anomalies. ``fit(X)`` runs three steps,
each an attribute you can inspect:

1. **Scale** (``scaler_``): a ``sklearn.preprocessing.StandardScaler`` fitted on the training
   rows, so features of any unit weigh alike and the network sees inputs of unit scale.
2. **Train** (``model_``): an ``npae.Autoencoder`` with squared error whose size follows the data
   (``default_model``: a code of ⌈D/8⌉ units clipped to [3, 16], one tanh hidden layer of
   ⌊D/2⌋ units clipped to [2K, 256], about 20,000 row visits in 10 to 300 epochs), trained
   **robustly** (``robust="auto"``, below): rows the model finds abnormal are left out.
3. **Score** (``anomaly_score_``): the Gaussian log-likelihood below, whose per-feature
   residual variances adapt the score to each feature's scale.

Scores (``anomaly_score``), higher = more normal, as every ``score_samples`` in scikit-learn:

* ``"gaussian"`` (the default for the built-in model): with residuals r = x − x̂ and codes
  h = encode(x), the log-density of a Gaussian model of both, fitted on the training rows:

      log p(x) ≈ log N(r; 0, diag v) + log N(h; μ_h, Σ_h)

  where v_d is the mean squared training residual of feature d (plus 1 % of their mean, so a
  feature the network reconstructs perfectly cannot dominate), and μ_h, Σ_h a robust mean and
  covariance of the training codes (``robust_location_covariance``: a minimum covariance
  determinant fitted on the 90 % of codes it finds most central, then the sample statistics of
  every code whose distance from it is not far out by the rule below, ``upper_cut``).
  Anomalies left in contaminated training data are often
  reconstructed well — the network learns them — but sit apart in code space; with the plain
  sample covariance their codes widen Σ_h toward themselves and the code term stops seeing them.
  On PyOD's ODDS benchmark the robust statistics raised the mean AUROC and the rank against PyOD's
  detectors on both sets of three seeds, and kept the clean-data results of issue 18
  (``benchmarks/RESULTS.md``). Dividing each residual by its own v_d is what matters: a
  plain squared error lets the features that are hard to reconstruct for *every* row drown the
  ones that are easy for normal rows and hard only for anomalies. The code term adds a
  PPCA-like distance inside the learned manifold. Measured in ``benchmarks/bench_pyod.py``
  (``benchmarks/RESULTS.md``): on scikit-learn's breast-cancer data the per-feature variance
  lifts a squared-error score by about 0.02 AUROC; on one-class Fashion-MNIST it is level with
  or above the squared error. Unlike a BCE or Bernoulli score, it does not reward simple inputs:
  a BCE loss is bounded below by the entropy of x's own grey levels (BCE ≥ H(x) > 0), so nearly
  black images score as normal whatever the model learned.
* ``"reconstruction"`` (the default for a model you pass): the model's own ``score_samples``,
  minus its reconstruction loss (for a VAE, minus its ELBO loss);
* ``"elbo"``: the VAE's evidence lower bound log p(x) ≥ ELBO(x) (nats), ``model.elbo``;
* ``"iwae"``: the importance-weighted estimate of log p(x) with ``n_samples`` samples;
* ``"elbo_complexity"``: the input-complexity correction of Serrà et al. (2020),
  S(x) = −log₂ p(x) − L(x), where L(x) is the length in bits of x compressed losslessly (zlib,
  level 9, of the 8-bit image). Likelihood models give simple images (MNIST) a higher
  likelihood than the complex ones they were trained on (Fashion-MNIST) — Nalisnick et al.
  (2019) — because −log p(x) is dominated by how compressible x is; subtracting L(x) removes
  that part. The detector's score is −S(x) (higher = more normal).

The sampled scores ("elbo", "iwae", "elbo_complexity") draw their noise from a seed fixed at
``fit`` (``random_state`` if it is an int, else one integer drawn from it), so a fitted detector
gives the same scores for the same X on every call.

**Contaminated training data: trimmed training** (``robust``). Unsupervised training data hold
anomalies, and an autoencoder that learns to reconstruct them stops flagging them. With
``robust="auto"`` (the default for the built-in model) the model is trained on the rows whose
normalised reconstruction error e(x) = Σ_d r_d² / v_d is not "far out" among the training rows'
errors (``upper_cut``: Tukey's fence Q₃ + 3 IQR on log-scaled errors) — a textbook robust
outlier rule that needs no outlier share: on clean data it leaves out almost nothing, on
contaminated data the rows that stand out. The rows kept are re-chosen after epochs 1, 2, 4,
8, … (the early epochs matter most; doubling costs about log₂(epochs) extra passes); the residual variances and code
statistics are fitted on the rows kept last. ``robust=True`` leaves out a fixed
``contamination`` share instead; ``robust=False`` trains on every row (issue 18's default; the
default for a model you pass). The fence's constant is Tukey's, not tuned here; it replaced a
median + 3 MAD rule that trimmed rare benign rows of clean data (breast cancer, issue 18's
protocol: 0.949 against 0.966 untrimmed; the fence keeps 0.962). The choice among the three
settings is checked leave-one-dataset-out on PyOD's ODDS benchmark in
``benchmarks/bench_odds.py`` (``benchmarks/RESULTS.md``).

**Threshold** (``contamination``): a float is the expected share of outliers, ``offset_`` the
training scores' quantile (PyOD's and scikit-learn's meaning). ``"auto"`` derives the threshold
from the training scores alone (``auto_offset``): a row is an outlier when its anomaly score
is far out by the same rule (``upper_cut``: Tukey's Q₃ + 3 IQR fence on log-scaled scores;
likelihood scores have a long χ²-like tail, which the log makes nearly symmetric). The share
flagged on the training rows is ``contamination_``.

The threshold is set on the rows the model was trained on, as PyOD and IsolationForest set
theirs. An autoencoder fits its training rows better than new ones, and the built-in model trains
many epochs on a small table (⌈20,000 / N⌉, up to 300), so on **new** rows of the same
distribution ``predict`` flags more than ``contamination`` — far more on a table of about a hundred
rows (one digits class: most new normal rows; MNIST, 600 rows: about 40 %). The ranking (AUROC,
``score_samples``) is not affected. To flag a share of new rows, set the threshold on rows the
model has not seen: ``offset_ = numpy.quantile(detector.score_samples(X_held_out), share)``.

**Ensembles** (``n_estimators``, ``max_samples``): ``n_estimators > 1`` trains that many models,
each on its own random subsample of ``max_samples`` rows (``"auto"``: at most 1,024; the built-in
members get a smaller budget, about 4,000 row visits, so the cost stays near one model's) with
its own seed, and averages their scores after putting each on a common scale (the robust z-score
of its training scores: (s − median) / (1.4826 · MAD)). On PyOD's benchmark this did not beat one
trimmed model (RESULTS.md), so the default is one model.

**Determinism.** With an int ``random_state`` every step (initialisation, shuffling, subsamples,
sampled scores) draws from generators seeded by it, so the same data and seed give bit-identical
scores and thresholds in any process on the same machine and software (tested across processes).

**A fitted model you pass** with ``refit=False`` is copied at ``fit`` (``model_`` is a snapshot):
training or changing your object afterwards does not change the detector's scores or threshold.

**Two sign conventions, read this.** ``score_samples`` and ``decision_function`` follow
scikit-learn: *higher = more normal*; ``decision_function = score_samples − offset_`` is
negative for outliers and ``predict`` gives +1 (inlier) / −1 (outlier). PyOD's attributes
follow PyOD: ``decision_scores_`` (the training rows' anomaly scores, −score_samples),
``threshold_`` (on that scale, = −offset_) and ``labels_`` (1 = outlier) are *higher = more
abnormal*, as are ``predict_proba(X)[:, 1]`` and PyOD's own ``decision_function``. Passing
npae's ``decision_function`` to ``roc_auc_score`` with anomalies as the positive class gives
1 − AUROC; use ``-det.decision_function(X)`` or ``-det.score_samples(X)``, or wrap the detector
in ``npae.applications.pyod.PyODDetector`` for PyOD's sign.

**Inputs npae cannot score.** NaN and ±inf are refused with scikit-learn's ``ValueError``
("Input X contains NaN.") by every method. A finite row the model cannot evaluate — scaled
beyond the range of the model's dtype (float32 by default), or whose score overflows — gets
``EXTREME_SCORE`` (−1e300, below any score a model computes), so it ranks as the most
abnormal row and ``predict`` calls it an outlier; such a row is never called normal.

This module works on host NumPy arrays (scores, quantiles, compression).
"""

from __future__ import annotations

import copy
import math
import warnings
import zlib

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin, clone
from sklearn.exceptions import NotFittedError
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import validate_data

from npae import backend as B
from npae.applications._common import _is_fitted, host_rows, model_without_feature_names
from npae.models import Autoencoder
from npae.validation import (
    check_finite,
    check_float_in_range,
    check_in_unit_interval,
    check_int_at_least,
    check_option,
    check_positive_int,
)

__all__ = ["ANOMALY_SCORES", "EXTREME_SCORE", "SCALERS", "SCORES", "AnomalyDetector", "auto_offset", "upper_cut", "complexity_bits", "default_model",
           "label_confidence", "robust_location_covariance"]

#: The scores computed by the model itself (the CLI's ``--score`` choices).
SCORES = ("reconstruction", "elbo", "iwae", "elbo_complexity")
#: Every value of ``anomaly_score``: "auto", the Gaussian score and the model's own.
ANOMALY_SCORES = ("auto", "gaussian", *SCORES)
SCALERS = ("auto", "standard", "none")

#: The score of a finite row the model cannot evaluate (out of its dtype's range, or an
#: overflowing score): lower than any computed score, so the row is the most abnormal.
EXTREME_SCORE = -1e300

#: Rows each member of an ensemble (``n_estimators > 1``) trains on at most (``max_samples="auto"``),
#: and the training budget of each built-in member (rows visited, at least MEMBER_MIN_EPOCHS epochs).
AUTO_MAX_SAMPLES = 1024
MEMBER_VISITS = 4000
MEMBER_MIN_EPOCHS = 5
#: The robust outlier rule (``contamination="auto"``, ``robust="auto"``): Tukey's "far out" fence,
#: Q₃ + 3 IQR, on log-transformed scores or errors (``upper_cut``).
TUKEY_FAR_OUT = 3.0

VARIANCE_FLOOR = 0.01  # share of the mean residual variance added to each feature's variance
CODE_RIDGE = 1e-3  # share of the mean code variance added to the diagonal of Σ_h
#: The code Gaussian's μ_h and Σ_h are a reweighted minimum covariance determinant of the training
#: codes (``robust_location_covariance``): its raw step fits the CODE_SUPPORT_FRACTION of codes
#: whose covariance has the smallest determinant. None: the sample mean and covariance.
CODE_SUPPORT_FRACTION = 0.9
#: Which codes the reweighting step keeps: "fence", those whose squared distance from the raw MCD is
#: not far out by ``upper_cut``; "chi2", those inside the χ²_K 97.5 % quantile (the textbook rule).
CODE_REWEIGHTING = "fence"
MCD_MAX_ROWS = 500  # rows the raw MCD step is fitted on (a seeded subsample above); the reweighting uses all
MIN_CODE_WIDTH = 3  # the built-in model's narrowest code for tables of D ≥ 3 features (see default_model)


def complexity_bits(X, *, bit_depth: int = 8):
    """L(x): zlib-compressed length in bits of each row quantised to ``bit_depth`` bits.

    Parameters
    ----------
    X : array of shape (N, D) in [0, 1]
        Image intensities; other data raises (L(x) of standardized data measures nothing).
    bit_depth : int in 1…8, default=8

    Returns
    -------
    ndarray of shape (N,), float64
    """
    bit_depth = check_int_at_least(bit_depth, "bit_depth", 1)
    if bit_depth > 8:
        raise ValueError(f"bit_depth must be at most 8 (rows are compressed as 8-bit bytes); got {bit_depth}.")
    X = B.to_numpy(X)
    if X.ndim != 2:
        raise ValueError(f"complexity_bits expects X of shape (N, D); got shape {tuple(X.shape)}.")
    check_finite(X, "X")
    if X.size:
        check_in_unit_interval(X, "X", "complexity_bits (the L(x) of the elbo_complexity score)",
                               alternative="anomaly_score='elbo' or 'iwae'")
    levels = 2**bit_depth - 1
    q = np.clip(np.rint(X * levels), 0, levels).astype(np.uint8)
    return np.array([8.0 * len(zlib.compress(row.tobytes(), 9)) for row in q])


def default_model(n_samples: int, n_features: int, random_state=None, *, row_visits: int = 20_000,
                  min_epochs: int = 10, min_code_width: int = MIN_CODE_WIDTH) -> Autoencoder:
    """The autoencoder ``AnomalyDetector()`` builds for data of shape (n_samples, n_features).

    Squared error (the data are standardized, not in [0, 1]); code width K = ⌈D/8⌉ clipped to
    [``min_code_width``, 16], never above D, and never below 2 (the floor wins: D = 1 gives K = 2); one tanh hidden layer of ⌊D/2⌋
    units clipped to [2K, 256]; batches of 32 rows under 2,048 rows, else 128; ⌈20,000 / N⌉ epochs
    clipped to [10, 300] (small tables get enough steps without fitting their noise, large sets a
    short budget). D = 9 gives 9-6-3, D = 30 gives 30-15-4, D = 784 gives 784-256-16. The sizes and
    the budget were chosen on the protocols of ``benchmarks/bench_pyod.py`` (breast cancer,
    one-class Fashion-MNIST); the floor of 3 code units on PyOD's ODDS benchmark
    (``benchmarks/bench_odds.py``): without it, every table of 3 to 16 features gets a two-unit
    code, and floors of 3 and 4 both scored higher on the six ODDS tables of 6 to 16 features
    (``benchmarks/RESULTS.md``; 3 ranks better against PyOD's detectors, 4 has the higher mean
    AUROC). Tables of 17 or more features are unchanged by the floor.

    Parameters
    ----------
    n_samples, n_features : int
        The training data's shape (N, D).
    random_state : int, Generator or None
        Passed to the Autoencoder.
    row_visits : int, default=20,000
        Training budget in rows seen: ⌈row_visits / N⌉ epochs, clipped to [min_epochs, 300].
    min_epochs : int, default=10
    min_code_width : int, default=MIN_CODE_WIDTH (3)
        The narrowest code for tables of at least that many features.

    Returns
    -------
    npae.Autoencoder (unfitted, ``verbose=0``)
    """
    integer = isinstance(min_code_width, (int, np.integer)) and not isinstance(min_code_width, bool)
    if not (integer and 1 <= min_code_width <= 16):
        raise ValueError(f"min_code_width must be an integer from 1 to 16 (the widest default code); got "
                         f"{min_code_width!r}.")
    latent = max(2, min(n_features, int(np.clip(math.ceil(n_features / 8), min_code_width, 16))))
    hidden = int(np.clip(n_features // 2, 2 * latent, 256))
    batch_size = 32 if n_samples < 2048 else 128
    epochs = int(np.clip(math.ceil(row_visits / max(n_samples, 1)), min_epochs, 300))
    return Autoencoder(hidden_sizes=(hidden,), latent_dim=latent, activation="tanh", loss="mse",
                       learning_rate=3e-3, batch_size=batch_size, epochs=epochs, random_state=random_state,
                       verbose=0)


class AnomalyDetector(OutlierMixin, BaseEstimator):
    """Outlier detection with an autoencoder's per-sample score (see the module docstring).

    ``AnomalyDetector()`` scales X, trains ``default_model`` on the rows a robust rule keeps
    (``robust="auto"``) and scores with the Gaussian log-likelihood of residuals and codes. **``decision_function`` follows scikit-learn's sign
    (higher = more normal), unlike PyOD's**; ``decision_scores_``, ``threshold_``, ``labels_`` and
    ``predict_proba`` follow PyOD's (higher = more abnormal).

    Parameters
    ----------
    model : npae estimator or None, default=None
        None builds ``default_model`` from the training data's shape. An npae autoencoder
        (any npae model) is cloned and fitted on the training data unless ``refit=False`` and it
        is already fitted; then it is copied as it is (a snapshot, not your object).
    contamination : float in (0, 0.5] or "auto", default=0.1
        Expected share of outliers in the training data; sets ``offset_`` and, with
        ``robust=True``, the share of rows left out of training. "auto" sets ``offset_`` from the
        training scores by the rule of ``auto_offset`` (no share needed).
    anomaly_score : {"auto", "gaussian", "reconstruction", "elbo", "iwae", "elbo_complexity"}, default="auto"
        "auto" is "gaussian" for the built-in model and "reconstruction" for a model you pass.
        "elbo", "iwae" and "elbo_complexity" need a VAE.
    n_samples : int, default=100
        Importance samples k for "iwae" and "elbo_complexity".
    refit : bool, default=True
        If False, an already fitted ``model`` is used as it is.
    random_state : None, int or Generator
        Seeds the built-in model and the sampled scores (ELBO, IWAE).
    scaler : {"auto", "standard", "none"}, default="auto"
        "standard" fits a ``StandardScaler`` on the training rows and feeds the model scaled
        data; "auto" is "standard" for the built-in model and "none" for a model you pass (a BCE
        or Bernoulli model needs X in [0, 1]).
    robust : bool or "auto", default="auto"
        Trimmed training (see the module docstring). "auto": for the built-in model, train on the
        rows whose normalised reconstruction error is not far out (``upper_cut``); for a model
        you pass, False. True: leave out the ``contamination`` share of highest-error rows (needs training,
        so not with ``refit=False`` and a fitted model). False: train on every row.
    n_estimators : int, default=1
        Models averaged (each on its own subsample of ``max_samples`` rows and its own seed).
    max_samples : "auto", int or float in (0, 1], default="auto"
        Rows per model: "auto" is every row for one model, at most 1,024 for an ensemble; an int
        is a count, a float a share of the training rows.

    Attributes
    ----------
    model_ : the fitted autoencoder (the first one, for an ensemble)
    estimators_ : list
        The fitted models with their scores' statistics (``model_``, ``residual_var_``, ...,
        ``loc_``, ``scale_``), one per member.
    n_estimators_, max_samples_ : int
        Members and rows per member, "auto" resolved.
    contamination_ : float
        The share of training rows above the threshold (``labels_.mean()``).
    scaler_ : sklearn.preprocessing.StandardScaler or None
    anomaly_score_ : str
        The score in use ("auto" resolved).
    offset_ : float
        The ``contamination`` quantile of the training scores (scikit-learn's sign).
    decision_scores_ : ndarray of shape (N_train,)
        PyOD's training anomaly scores, −score_samples(X_train): higher = more abnormal.
    threshold_ : float
        PyOD's threshold on ``decision_scores_`` (= −offset_).
    labels_ : ndarray of shape (N_train,), int
        PyOD's training labels: 1 = outlier (decision_scores_ > threshold_), 0 = inlier.
    residual_var_ : ndarray of shape (D,), only with the "gaussian" score
        The per-feature variance of the training residuals x − x̂.
    code_mean_ : ndarray of shape (K,), only with the "gaussian" score
    code_cov_ : ndarray of shape (K, K), only with the "gaussian" score
        The mean and covariance of the training codes.
    n_features_in_ : int
    feature_names_in_ : ndarray of str, shape (n_features_in_,)
        Defined only when X had string column names (a DataFrame).
    """

    def __init__(self, model=None, contamination=0.1, anomaly_score="auto", n_samples=100, refit=True,
                 random_state=None, scaler="auto", robust="auto", n_estimators=1, max_samples="auto"):
        self.model = model
        self.contamination = contamination
        self.anomaly_score = anomaly_score
        self.n_samples = n_samples
        self.refit = refit
        self.random_state = random_state
        self.scaler = scaler
        self.robust = robust
        self.n_estimators = n_estimators
        self.max_samples = max_samples

    # ------------------------------------------------------------------ checks
    def _check_params(self) -> None:
        check_option(self.anomaly_score, ANOMALY_SCORES, "anomaly_score")
        check_option(self.scaler, SCALERS, "scaler")
        if not (isinstance(self.contamination, str) and self.contamination == "auto"):
            check_float_in_range(self.contamination, "contamination", 0.0, 0.5, include_high=True)
        check_positive_int(self.n_samples, "n_samples")
        if not (isinstance(self.robust, (bool, np.bool_)) or (isinstance(self.robust, str) and self.robust == "auto")):
            raise TypeError(f"robust must be True, False or 'auto'; got {self.robust!r}.")
        if self._robust() is True and self.contamination == "auto":
            raise ValueError("robust=True trims the contamination share of rows, and contamination='auto' gives "
                             "none. Set robust='auto' (trim by the robust rule) or a float contamination.")
        check_positive_int(self.n_estimators, "n_estimators")
        if isinstance(self.max_samples, (float, np.floating)):
            check_float_in_range(self.max_samples, "max_samples", 0.0, 1.0, include_high=True)
        elif not (isinstance(self.max_samples, str) and self.max_samples == "auto"):
            check_positive_int(self.max_samples, "max_samples",
                               hint="Use an int (rows), a float in (0, 1] (share of rows) or 'auto'.")
        if self.model is None:
            if self.anomaly_score in ("elbo", "iwae", "elbo_complexity"):
                raise ValueError(
                    f"anomaly_score={self.anomaly_score!r} needs a likelihood model with elbo() (npae.VAE), and "
                    "the built-in model (model=None) is an Autoencoder. Pass model=npae.VAE(...), or use "
                    "anomaly_score='auto' ('gaussian') or 'reconstruction'."
                )
            return
        if not hasattr(self.model, "fit") or not hasattr(self.model, "score_samples"):
            raise TypeError(f"model must be an npae autoencoder or None; got {type(self.model).__name__}.")
        if self.anomaly_score in ("elbo", "iwae", "elbo_complexity") and not hasattr(self.model, "elbo"):
            raise ValueError(
                f"anomaly_score={self.anomaly_score!r} needs a likelihood model with elbo() (npae.VAE); "
                f"{type(self.model).__name__} supports anomaly_score='reconstruction' or 'gaussian'."
            )
        if self._robust() is True and not self.refit and _is_fitted(self.model):
            raise ValueError("robust=True trims rows while training; it cannot apply to a fitted model used "
                             "as it is (refit=False). Set refit=True or robust=False.")

    def _robust(self):
        """``robust`` as True, False or "auto" (NumPy booleans, as a parameter grid gives them, become bool)."""
        return self.robust if isinstance(self.robust, str) else bool(self.robust)

    def _resolved(self):
        builtin = self.model is None
        score = self.anomaly_score if self.anomaly_score != "auto" else ("gaussian" if builtin else "reconstruction")
        scaler = self.scaler if self.scaler != "auto" else ("standard" if builtin else "none")
        return score, scaler

    def _require_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError(
                "This AnomalyDetector instance is not fitted yet. Call 'fit' with appropriate arguments "
                "before using this estimator."
            )

    # ------------------------------------------------------------------ fit
    def fit(self, X, y=None):
        """Scale, train the autoencoder(s) on (mostly normal) X and set the threshold; returns self.

        A fit that fails (bad parameters, data the model cannot take, an error while training) leaves
        the detector as it was: a fitted detector keeps scoring with its earlier fit."""
        # Fit a shadow with a copy of the attributes, then publish them in one assignment: a failed
        # fit changes nothing, and a call in another thread reads the old fit or the new, never
        # parts of both (each inference call reads ``self.__dict__`` once, ``_view``).
        shadow = object.__new__(type(self))
        shadow.__dict__ = dict(self.__dict__)
        shadow._fit(X)
        self.__dict__ = shadow.__dict__
        return self

    def _view(self):
        """The detector as fitted, read once: an inference call works on this, so a refit in
        another thread (which replaces ``__dict__`` whole) cannot change it halfway."""
        view = object.__new__(type(self))
        view.__dict__ = self.__dict__
        return view

    def _fit(self, X):
        self._check_params()
        X = self._host(X, reset=True)
        score, scaler = self._resolved()
        self.anomaly_score_ = score
        self.scaler_ = _fit_scaler(X) if scaler == "standard" else None
        Z, ok = self._model_input(X, self._dtype_of(self.model))
        if not ok.all():
            raise ValueError(f"{int((~ok).sum())} training rows are out of the model's float range after "
                             "scaling; scale the data first or use scaler='standard'.")
        rng = B.check_random_state(self.random_state)
        self._score_seed = (int(self.random_state) if isinstance(self.random_state, (int, np.integer))
                            else int(rng.integers(2**31 - 1)))
        prefit = self.model is not None and not self.refit and _is_fitted(self.model)
        if self.model is not None and not self.refit and not prefit:
            raise NotFittedError(
                f"refit=False uses a fitted model as it is, and this {type(self.model).__name__} is not fitted. A "
                "clone (cross_validate, GridSearchCV, PyODDetector) drops the fit: wrap the fitted model as "
                "sklearn.frozen.FrozenEstimator(model), which survives cloning, or use refit=True to train it.")
        n_members, max_rows, trim = self._ensemble_plan(X.shape[0], prefit)
        self.n_estimators_, self.max_samples_ = n_members, max_rows
        member_rng = np.random.default_rng(rng.integers(2**63)) if n_members > 1 else rng
        members = []
        for _ in range(n_members):
            rows = (np.sort(member_rng.choice(X.shape[0], max_rows, replace=False)) if max_rows < X.shape[0]
                    else slice(None))
            if prefit:  # a snapshot: retraining the user's model later does not change this detector
                model, keep = self._snapshot(self.model), None
            else:
                template = self.model
                if template is None:
                    n = X.shape[0] if max_rows >= X.shape[0] else max_rows
                    visits = {} if n_members == 1 else {"row_visits": MEMBER_VISITS, "min_epochs": MEMBER_MIN_EPOCHS}
                    template = default_model(n, X.shape[1], random_state=self._model_seed(member_rng), **visits)
                elif n_members > 1 and "random_state" in template.get_params():
                    template = clone(template).set_params(random_state=int(member_rng.integers(2**31 - 1)))
                model, keep = self._train(clone(template), Z[rows], trim)
            member = _Member(model)
            if score == "gaussian":
                Zm = Z[rows]
                member.fit_gaussian(Zm if keep is None else Zm[keep], random_state=self._score_seed)
            members.append(member)
        self.estimators_ = members
        first = members[0]
        self.model_ = first.model_
        if score == "gaussian":
            self.residual_var_, self.code_mean_, self.code_cov_ = first.residual_var_, first.code_mean_, first.code_cov_
        if n_members > 1:  # each member's scores on a common scale: robust z-scores of the training rows
            for member in members:
                s = self._scores(X, Z, ok, [member])
                member.loc_, member.scale_ = _robust_location_scale(s[s > EXTREME_SCORE])
        train_scores = self._scores(X, Z, ok)
        if self.contamination == "auto":
            self.offset_ = auto_offset(train_scores)
        else:
            self.offset_ = float(np.quantile(train_scores, self.contamination))
        self.decision_scores_ = -train_scores
        self.threshold_ = -self.offset_
        self.labels_ = (self.decision_scores_ > self.threshold_).astype(int)
        self.contamination_ = float(np.mean(self.labels_))
        self._mu, self._sigma = float(np.mean(self.decision_scores_)), float(np.std(self.decision_scores_))
        return self

    def _ensemble_plan(self, n_rows: int, prefit: bool):
        """(members, rows per member, trimming rule: None, "share" or "mad") after "auto"."""
        builtin = self.model is None
        n_members = int(self.n_estimators)
        if prefit and n_members != 1:
            raise ValueError(f"n_estimators={n_members} trains several models; a fitted model used as it is "
                             "(refit=False) is one. Set n_estimators=1 or refit=True.")
        if self.max_samples == "auto":
            max_rows = min(n_rows, AUTO_MAX_SAMPLES) if n_members > 1 else n_rows
        elif isinstance(self.max_samples, (float, np.floating)):
            max_rows = max(2, int(math.ceil(self.max_samples * n_rows)))
        else:
            max_rows = int(self.max_samples)
        max_rows = min(max_rows, n_rows)
        robust = self._robust() if self._robust() != "auto" else ("auto" if builtin else False)
        trim = None if prefit or robust is False else ("mad" if robust == "auto" else "share")
        return int(n_members), int(max_rows), trim

    def _model_seed(self, rng):
        """The built-in model's random_state: the detector's int (or None), else a draw from its Generator."""
        if self.random_state is None or isinstance(self.random_state, (int, np.integer)):
            return self.random_state
        return int(rng.integers(2**31 - 1))

    def _train(self, model, Z, trim):
        """Fit ``model`` on Z; with a trimming rule, on the rows with the smallest normalised
        reconstruction error ("share": all but the ``contamination`` share; "mad": those not above
        ``upper_cut`` of the errors), re-chosen after epochs 1, 2, 4, 8, … (the
        first epochs matter most; doubling keeps the cost at about log₂(epochs) extra passes).
        Returns (model, rows kept last or None)."""
        if trim is None:
            return model.fit(Z), None
        epochs, warm = int(model.epochs), model.get_params().get("warm_start", False)
        keep = np.ones(Z.shape[0], dtype=bool)
        done = 0
        while done < epochs:
            if done:
                r2 = _residual2(model, Z)
                err = np.sum(r2 / _floored(np.mean(r2[keep], axis=0)), axis=1)
                err = np.where(np.isfinite(err), err, np.inf)
                if trim == "share":
                    keep = err <= np.quantile(err, 1.0 - self.contamination)
                else:
                    keep = err <= upper_cut(err)
            chunk = min(max(done, 1), epochs - done)  # 1, 1, 2, 4, 8, ... epochs
            model.set_params(warm_start=True, epochs=chunk).fit(Z[keep])
            done += chunk
        model.set_params(warm_start=warm, epochs=epochs)
        return model, keep

    @staticmethod
    def _residual2(model, Z):
        """(z − x̂)² per entry, float64, on the host."""
        return _residual2(model, Z)

    def _snapshot(self, model):
        """A copy of a fitted model the detector scores with as it is. Column names are the
        detector's to check (it feeds the model scaled host arrays): a model fitted on a DataFrame
        must have been fitted on the detector's columns, in order; the copy then forgets them."""
        names = getattr(model, "feature_names_in_", None)
        mine = getattr(self, "feature_names_in_", None)
        if names is not None and mine is not None and list(names) != list(mine):
            raise ValueError(f"The model was fitted on the columns {list(names)[:5]}…, X has {list(mine)[:5]}…: "
                             "fit the detector on the model's columns, in the same order.")
        if names is not None and mine is None:
            warnings.warn(f"X does not have valid feature names, but {type(model).__name__} was fitted with feature "
                          "names", UserWarning, stacklevel=4)
        return copy.deepcopy(model)  # whole: its names stay; the detector scores through _Member.scorer

    # ------------------------------------------------------------------ inputs
    def _host(self, X, *, reset: bool):
        """X as a finite 2-D host float array (scikit-learn's checks and messages)."""
        if not reset:
            self._require_fitted()
        with np.errstate(over="ignore", invalid="ignore"):  # its finiteness test sums X: max + (−max)
            return validate_data(self, host_rows(X), reset=reset, dtype=[np.float64, np.float32])

    @staticmethod
    def _dtype_of(model):
        return np.dtype(getattr(model, "dtype", None) or "float32") if model is not None else np.dtype("float32")

    def _model_input(self, X, dtype):
        """(Z, ok): the rows as the model sees them (scaled, in the model's dtype), and which rows
        are inside that dtype's range (the others are left as zeros and never evaluated)."""
        Z = self.scaler_.transform(X.astype(np.float64)) if self.scaler_ is not None else X
        ok = np.all(np.abs(Z) <= np.finfo(dtype).max, axis=1)
        if not ok.all():
            Z = np.where(ok[:, None], Z, 0.0)
        return np.asarray(Z, dtype=dtype), ok

    # ------------------------------------------------------------------ scores
    def _scores(self, X, Z, ok, members=None):
        """Scores (N,) float64 of host rows X (model input Z): EXTREME_SCORE where not ``ok`` or
        where a computed score is not finite. With several members, the mean of their robust
        z-scores (``members`` given: those members' raw scores, for fitting the z-scores)."""
        members = self.estimators_ if members is None else members
        s = np.full(X.shape[0], EXTREME_SCORE)
        if ok.any():
            total = np.zeros(int(ok.sum()))
            with np.errstate(over="ignore", invalid="ignore"):
                for member in members:
                    computed = self._compute(member, X[ok], Z[ok])
                    total += (computed - member.loc_) / member.scale_
                computed = total / len(members)
            s[ok] = np.where(np.isfinite(computed), computed, EXTREME_SCORE)
        return s

    def _compute(self, member, X, Z):
        model, score = member.scorer, self.anomaly_score_
        if score == "gaussian":
            return member.gaussian(Z)
        if score == "reconstruction":
            return B.to_numpy(model.score_samples(Z)).astype(np.float64)
        if score == "elbo":
            return B.to_numpy(model.elbo(Z, random_state=self._score_seed)).astype(np.float64)
        log_p = B.to_numpy(model.log_likelihood(Z, k=self.n_samples, random_state=self._score_seed))
        log_p = log_p.astype(np.float64)
        if score == "iwae":
            return log_p
        return log_p / math.log(2.0) + complexity_bits(X)  # −S(x) = log₂ p(x) + L(x)

    def score_samples(self, X):
        """Per-sample normality score (N,), higher = more normal (scikit-learn's sign)."""
        return self._view()._score_samples(X)

    def _score_samples(self, X):
        X = self._host(X, reset=False)
        Z, ok = self._model_input(X, self._dtype_of(self.model_))
        return self._scores(X, Z, ok)

    def score(self, X, y=None) -> float:
        """Mean of ``score_samples`` (as ``GaussianMixture.score``), so model selection can rank fits."""
        return float(np.mean(self.score_samples(X)))

    def decision_function(self, X):
        """score_samples − offset_: negative for outliers (scikit-learn's sign, higher = more normal;
        PyOD's ``decision_function`` has the opposite sign)."""
        view = self._view()
        return np.maximum(view._score_samples(X) - view.offset_, EXTREME_SCORE)

    def predict(self, X):
        """+1 for inliers, −1 for outliers (decision_function < 0)."""
        return np.where(self.decision_function(X) < 0, -1, 1)

    # ------------------------------------------------------------------ PyOD's outputs
    def predict_proba(self, X, method: str = "linear"):
        """PyOD's outlier probability, shape (N, 2): [P(inlier), P(outlier)].

        ``method="linear"``: the anomaly score −score_samples min-max scaled by the training
        scores ``decision_scores_`` and clipped to [0, 1]; ``"unify"``: erf((s − mean)/(std·√2))
        of the training scores' mean and standard deviation, clipped to [0, 1] (Kriegel et al.,
        2011). Both are PyOD's ``BaseDetector.predict_proba``.
        """
        from scipy.special import erf

        check_option(method, ("linear", "unify"), "method")
        view = self._view()
        s = -view._score_samples(X)
        if method == "linear":
            lo, hi = float(view.decision_scores_.min()), float(view.decision_scores_.max())
            p = (s - lo) / (hi - lo if hi > lo else 1.0)
        else:
            p = erf((s - view._mu) / ((view._sigma if view._sigma > 0 else 1.0) * math.sqrt(2.0)))
        p = np.clip(np.nan_to_num(p, nan=1.0), 0.0, 1.0)
        return np.column_stack([1.0 - p, p])

    def predict_confidence(self, X):
        """PyOD's confidence in each row's label, shape (N,), in [0, 1] (Perini et al., 2020):
        ``label_confidence`` of the row's anomaly score against the training rows', with the
        ``contamination`` share (for "auto", the share flagged, ``contamination_``)."""
        view = self._view()
        share = view.contamination_ if view.contamination == "auto" else view.contamination  # PyOD's: the parameter
        return label_confidence(-view._score_samples(X), view.decision_scores_, view.threshold_, share)


def label_confidence(scores, train_scores, threshold: float, share: float):
    """PyOD's confidence in each label (Perini et al., 2020), shape (N,), in [0, 1].

    ``scores`` (N,) and ``train_scores`` (n,) are anomaly scores (higher = more abnormal), a row
    is an outlier above ``threshold``, ``share`` the outlier share the threshold stands for. With
    k training scores at most the row's, p = (1 + k)/(2 + n), and the confidence that the label
    would stay the same under a resampled training set is P(Binomial(n, p) > n − ⌊n·share⌋) for
    an outlier, one minus that for an inlier.
    """
    from scipy.stats import binom

    scores = np.asarray(scores, dtype=np.float64)
    n = train_scores.shape[0]
    k = np.searchsorted(np.sort(train_scores), scores, side="right")
    p = (1.0 + k) / (2.0 + n)
    confidence = 1.0 - binom.cdf(n - int(n * share), n, p)
    return np.where(scores > threshold, confidence, 1.0 - confidence)


def _fit_scaler(X):
    """A StandardScaler fitted on X, refused when a feature's mean or variance overflows float64."""
    with np.errstate(over="ignore", invalid="ignore"):
        scaler = StandardScaler().fit(X)
    bad = ~(np.isfinite(scaler.mean_) & np.isfinite(scaler.var_) & np.isfinite(scaler.scale_))  # inf var: scale_ 1
    if bad.any():
        columns = np.flatnonzero(bad)
        largest = float(np.max(np.abs(X[:, columns])))
        raise ValueError(
            f"The mean or variance of feature(s) {columns[:10].tolist()} overflows float64 (largest |x| "
            f"{largest:.3g}), so the training data cannot be standardised. Rescale those features (e.g. divide "
            "by a power of ten or take a logarithm) or clip the extreme values before fit."
        )
    return scaler


def _residual2(model, Z):
    """(z − x̂)² per entry, float64, on the host."""
    R = B.to_numpy(model.reconstruct(Z))
    return (Z.astype(np.float64) - R) ** 2


def _robust_location_scale(values):
    """(median, 1.4826 · MAD) of ``values`` — the standard deviation's robust estimate for a normal
    sample; falls back to √(π/2) · mean absolute deviation, then 1, when the MAD is 0."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return 0.0, 1.0
    loc = float(np.median(values))
    dev = np.abs(values - loc)
    scale = 1.4826 * float(np.median(dev))
    if not scale > 0:
        scale = math.sqrt(math.pi / 2.0) * float(np.mean(dev))
    return loc, scale if scale > 0 and math.isfinite(scale) else 1.0


def upper_cut(values) -> float:
    """The robust outlier rule for values whose large side is abnormal (anomaly scores, errors).

    The values, shifted to start at 0 and divided by their median, are log-transformed,
    t = log(1 + (v − min v) / median(v − min v)): anomaly scores and squared errors are sums of
    squares with a long χ²-like tail toward the abnormal side, and the log makes that tail nearly
    symmetric. The cut is Tukey's "far out" fence on t, Q₃ + 3 (Q₃ − Q₁) (Tukey, 1977; about
    4.7 standard deviations above the mean of a normal sample), mapped back to the values' scale:
    quartiles are robust to the outliers themselves, and the far-out fence leaves the rare but
    normal rows of clean data alone. Invariant to the values' shift and scale. Values tied at the
    minimum (identical rows reconstructed alike: count data, duplicated records) are left out of the
    median and quartiles when there are several: a pile of equal values has no spread, and with it
    the fence would collapse onto the minimum and call every other value far out.
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return math.inf
    low = float(v.min())
    u = v - low
    tied = u == 0.0
    if tied.sum() > 1:  # duplicated rows at the bottom (count data, repeated records) carry no spread:
        u = u[~tied]  # the quartiles of the others set the fence, not a pile of equal values
        if u.size == 0:
            return low
    m = float(np.median(u))
    t = np.log1p(u / m) if m > 0 else u
    q1, q3 = np.percentile(t, [25.0, 75.0])
    cut = float(q3 + TUKEY_FAR_OUT * (q3 - q1))
    return float(low + (m * math.expm1(cut) if m > 0 else cut))


def auto_offset(scores) -> float:
    """``offset_`` for ``contamination="auto"``: minus ``upper_cut`` of the anomaly scores
    (−scores of the training rows, without the rows at EXTREME_SCORE)."""
    s = np.asarray(scores, dtype=np.float64)
    s = s[s > EXTREME_SCORE]
    return EXTREME_SCORE if s.size == 0 else -upper_cut(-s)


class _Member:
    """One trained model of the detector and its Gaussian score (residual variances, code mean and
    covariance), with the location and scale that put its scores on the ensemble's common scale."""

    def __init__(self, model):
        self.model_ = model
        self.loc_, self.scale_ = 0.0, 1.0

    @property
    def scorer(self):
        """``model_`` as the detector calls it: on scaled host rows whose columns the detector has
        checked, so without the column names a DataFrame-fitted model would check (and warn about)."""
        return model_without_feature_names(self.model_)

    def fit_gaussian(self, Z, random_state=None) -> None:
        """Residual variances v (D,) and the code Gaussian (μ_h, Σ_h) from the training rows Z:
        v the mean squared residuals, (μ_h, Σ_h) ``robust_location_covariance`` of the codes
        (``random_state`` seeds its subsample and its raw step)."""
        self.residual_var_ = _floored(np.mean(_residual2(self.scorer, Z), axis=0))
        H = B.to_numpy(self.scorer.transform(Z)).astype(np.float64)
        self.code_mean_, C = robust_location_covariance(H, random_state=random_state)
        self.code_cov_ = _ridged(C)

    def gaussian(self, Z):
        """log N(r; 0, diag v) + log N(h; μ_h, Σ_h) per row, nats."""
        v = self.residual_var_
        r2 = _residual2(self.scorer, Z)
        log_p_r = -0.5 * (np.sum(r2 / v, axis=1) + np.sum(np.log(2.0 * math.pi * v)))
        H = B.to_numpy(self.scorer.transform(Z)).astype(np.float64) - self.code_mean_
        L = np.linalg.cholesky(self.code_cov_)
        U = np.linalg.solve(L, H.T)  # L⁻¹(h − μ): squared norm = Mahalanobis distance
        K = H.shape[1]
        log_p_h = -0.5 * (np.sum(U**2, axis=0) + 2.0 * np.sum(np.log(np.diag(L))) + K * math.log(2.0 * math.pi))
        return log_p_r + log_p_h


def _ridged(C):
    """C + CODE_RIDGE · (mean variance) · I, so that Σ_h is positive definite."""
    C = np.atleast_2d(np.asarray(C, dtype=np.float64))
    return C + CODE_RIDGE * (np.trace(C) / C.shape[0] + 1e-12) * np.eye(C.shape[0])


def robust_location_covariance(H, support_fraction=None, random_state=None):
    """Location and covariance of rows H (N, K) that a minority of outlying rows cannot pull.

    A reweighted minimum covariance determinant (MCD; Rousseeuw, 1984; Rousseeuw and Van Driessen,
    1999). The raw step, scikit-learn's ``MinCovDet``, finds the ``support_fraction`` of the rows
    whose sample covariance has the smallest determinant — on at most MCD_MAX_ROWS of them, a seeded
    subsample, as FastMCD's own subsets do. Every row's squared Mahalanobis distance d² from that
    raw fit is then computed, and the estimate is the sample mean and covariance of the rows whose d²
    is not far out: by default (CODE_REWEIGHTING = "fence") the detector's one robust rule,
    ``upper_cut`` (Tukey's far-out fence on log-scaled values), which on clean data leaves out
    almost nothing, so the estimate stays the sample's; with "chi2" the textbook rule, d² (scaled to be
    consistent at a normal model) inside χ²_K's 97.5 % quantile, which also leaves out the rare but
    normal codes of clean data. Rows far from the bulk — the anomalies left in contaminated training
    data, whose codes would otherwise widen Σ_h toward themselves — do not count.

    ``support_fraction`` None is CODE_SUPPORT_FRACTION; CODE_SUPPORT_FRACTION None, or too few rows
    for the raw step (N < 2(K + 1)), gives the sample mean and covariance (bias=True).

    Returns
    -------
    (ndarray (K,), ndarray (K, K)), float64
    """
    import warnings

    from scipy.stats import chi2
    from sklearn.covariance import MinCovDet

    H = np.asarray(H, dtype=np.float64)
    n, k = H.shape
    support = CODE_SUPPORT_FRACTION if support_fraction is None else support_fraction

    def sample(rows):
        return rows.mean(axis=0), np.atleast_2d(np.cov(rows, rowvar=False, bias=True))

    if support is None or n < 2 * (k + 1):
        return sample(H)
    rng = np.random.default_rng(random_state)
    fit_rows = H if n <= MCD_MAX_ROWS else H[np.sort(rng.choice(n, MCD_MAX_ROWS, replace=False))]
    try:
        with warnings.catch_warnings():  # a singular support only warns; the ridge below handles it
            warnings.simplefilter("ignore")
            raw = MinCovDet(support_fraction=support, random_state=int(rng.integers(2**31 - 1))).fit(fit_rows)
    except ValueError:  # e.g. every code equal: nothing to be robust about
        return sample(H)
    L = np.linalg.cholesky(_ridged(raw.raw_covariance_))
    d2 = np.sum(np.linalg.solve(L, (H - raw.raw_location_).T) ** 2, axis=0)
    if CODE_REWEIGHTING == "chi2":
        median = float(np.median(d2))
        inside = d2 * (chi2.ppf(0.5, k) / median) <= chi2.ppf(0.975, k) if median > 0 else np.ones(n, bool)
    else:
        inside = d2 <= upper_cut(d2)
    return sample(H[inside]) if inside.sum() > k else sample(H)


def _floored(v):
    """Per-feature variances plus VARIANCE_FLOOR of their mean (and a tiny absolute floor)."""
    v = np.asarray(v, dtype=np.float64)
    return v + VARIANCE_FLOOR * float(np.mean(v)) + 1e-12
