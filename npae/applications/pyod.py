"""PyOD interop: any npae detector as a ``pyod.models.base.BaseDetector``.

PyOD's combination and benchmark tools (``LSCP``, ``FeatureBagging``, ``SUOD``,
``pyod.models.combination``, ...) take ``BaseDetector`` objects and read PyOD's sign: **higher =
more abnormal**. npae's detectors follow scikit-learn's sign instead (``score_samples`` and
``decision_function`` higher = more normal). ``PyODDetector`` wraps one and flips the sign
once, in ``decision_function``::

    from pyod.models.lscp import LSCP
    from npae.applications.pyod import PyODDetector

    lscp = LSCP([PyODDetector(npae.AnomalyDetector(random_state=s)) for s in range(3)]).fit(X)
    lscp.decision_function(X_test)  # higher = more abnormal

Everything else (``predict`` → 0/1, ``predict_proba``, ``predict_confidence``, ``labels_``,
``threshold_``, ``decision_scores_``) is PyOD's own ``BaseDetector`` code, except for
``contamination="auto"``: PyOD reads any contamination that is not a number as a PyThresh
thresholder, so the wrapper sets the threshold itself with npae's rule (``upper_cut`` of the
training anomaly scores, as ``AnomalyDetector(contamination="auto")`` does).

Needs PyOD (``pip install "npae[pyod]"``); importing this module without it raises ImportError.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

try:
    from pyod.models.base import BaseDetector
except ImportError as err:  # pragma: no cover - exercised only where PyOD is absent
    raise ImportError("npae.applications.pyod needs PyOD: pip install 'npae[pyod]' (or pip install pyod).") from err

from npae import backend as B
from npae.applications.detector import AnomalyDetector, auto_offset, label_confidence

__all__ = ["PyODDetector"]


class PyODDetector(BaseDetector):
    """A PyOD detector around an npae detector (PyOD's sign: higher = more abnormal).

    Parameters
    ----------
    detector : estimator or None, default=None
        Anything with ``fit(X)`` and ``score_samples(X)`` higher = more normal:
        ``npae.AnomalyDetector`` (None builds ``AnomalyDetector()``), an npae autoencoder
        (its reconstruction score), ``npae.applications.PCAReconstructionDetector``, or a
        scikit-learn outlier detector. It is cloned at ``fit``.
    contamination : float in (0, 0.5], "auto" or a PyThresh thresholder, default=0.1
        PyOD's: sets ``threshold_`` and ``labels_``; also passed to the wrapped detector when it
        has a ``contamination`` parameter. ``"auto"`` is npae's rule (``AnomalyDetector``'s
        ``contamination="auto"``): ``threshold_`` is Tukey's far-out fence on the log-scaled
        training anomaly scores (``npae.applications.detector.upper_cut``), so the share
        flagged, ``contamination_``, follows from the data. A thresholder is any object with
        PyThresh's ``fit``, ``predict``, ``labels_`` and ``thresh_``.

    Attributes
    ----------
    detector_ : the fitted clone of ``detector``
    decision_scores_ : ndarray of shape (n_samples,)
        −score_samples of the training rows: higher = more abnormal.
    threshold_ : float
        The (1 − contamination) quantile of ``decision_scores_``.
    labels_ : ndarray of shape (n_samples,), int
        1 = outlier, 0 = inlier.
    contamination_ : float
        Only with ``contamination="auto"``: the share of training rows flagged (``labels_.mean()``).
    """

    def __init__(self, detector=None, contamination=0.1):
        super().__init__(contamination=contamination)
        self.detector = detector

    def fit(self, X, y=None):
        """Fit the wrapped detector on X and set PyOD's training attributes; returns self."""
        self._check_contamination()
        self._set_n_classes(y)
        detector = clone(self.detector) if self.detector is not None else AnomalyDetector()
        if "contamination" in detector.get_params() and self._contamination_is_forwarded(detector):
            detector.set_params(contamination=self.contamination)
        self.detector_ = detector.fit(X)
        self.decision_scores_ = self.decision_function(X)
        self._process_decision_scores()
        return self

    def _check_contamination(self) -> None:
        """Refuse, before any training, a contamination PyOD would only trip over after it."""
        c = self.contamination
        if isinstance(c, str) and c == "auto":
            return
        if isinstance(c, (int, float)) and not isinstance(c, bool):
            if not 0.0 < c <= 0.5:
                raise ValueError(f"contamination must be in (0, 0.5]; got {c!r}.")
            return
        if isinstance(c, (str, bool)) or not all(hasattr(c, name) for name in ("fit", "predict")):
            raise ValueError(f"contamination must be a float in (0, 0.5], 'auto' (npae's far-out rule) or a "
                             f"PyThresh thresholder (an object with fit and predict); got {c!r}.")

    def _contamination_is_forwarded(self, detector) -> bool:
        """A number always; "auto" only to npae's AnomalyDetector, whose "auto" is the same rule
        (other detectors keep their own contamination: it does not change their scores)."""
        if isinstance(self.contamination, (int, float)):
            return True
        return self.contamination == "auto" and isinstance(detector, AnomalyDetector)

    def _process_decision_scores(self):
        """PyOD's threshold_, labels_, _mu and _sigma; for "auto", npae's far-out rule."""
        if not self._is_auto():
            return super()._process_decision_scores()
        self.threshold_ = -auto_offset(-self.decision_scores_)
        self.labels_ = (self.decision_scores_ > self.threshold_).astype(int)
        self.contamination_ = float(np.mean(self.labels_))
        self._mu, self._sigma = np.mean(self.decision_scores_), np.std(self.decision_scores_)
        return self

    def _is_auto(self) -> bool:
        return isinstance(self.contamination, str) and self.contamination == "auto"

    def predict(self, X, return_confidence=False):
        """1 for outliers (decision_function > threshold_), 0 for inliers; PyOD's ``predict``."""
        if not self._is_auto():
            return super().predict(X, return_confidence=return_confidence)
        check_is_fitted(self, ["decision_scores_", "threshold_", "labels_"])
        prediction = (self.decision_function(X) > self.threshold_).astype(int)
        return (prediction, self.predict_confidence(X)) if return_confidence else prediction

    def predict_confidence(self, X):
        """PyOD's confidence in each label (N,), in [0, 1]; for "auto" its formula with the share
        flagged on the training rows (``contamination_``), as PyOD does for a thresholder."""
        if not self._is_auto():
            return super().predict_confidence(X)
        check_is_fitted(self, ["decision_scores_", "threshold_", "labels_"])
        return label_confidence(self.decision_function(X), self.decision_scores_, self.threshold_,
                                self.contamination_)

    def decision_function(self, X):
        """Anomaly scores (N,), PyOD's sign: −score_samples of the wrapped detector."""
        if not hasattr(self, "detector_"):
            raise NotFittedError("This PyODDetector instance is not fitted yet. Call 'fit' with appropriate "
                                 "arguments before using this estimator.")
        return -B.to_numpy(self.detector_.score_samples(X)).astype("float64").ravel()
