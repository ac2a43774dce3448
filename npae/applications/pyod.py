"""PyOD interop: any npae detector as a ``pyod.models.base.BaseDetector``.

PyOD's combination and benchmark tools (``LSCP``, ``FeatureBagging``, ``SUOD``,
``pyod.models.combination``, ...) take ``BaseDetector`` objects and read PyOD's sign: **higher =
more abnormal**. npae's detectors follow scikit-learn's sign instead (``score_samples`` and
``decision_function`` higher = more normal). :class:`PyODDetector` wraps one and flips the sign
once, in ``decision_function``::

    from pyod.models.lscp import LSCP
    from npae.applications.pyod import PyODDetector

    lscp = LSCP([PyODDetector(npae.AnomalyDetector(random_state=s)) for s in range(3)]).fit(X)
    lscp.decision_function(X_test)  # higher = more abnormal

Everything else (``predict`` → 0/1, ``predict_proba``, ``predict_confidence``, ``labels_``,
``threshold_``, ``decision_scores_``) is PyOD's own ``BaseDetector`` code.

Needs PyOD (``pip install "npae[pyod]"``); importing this module without it raises ImportError.
"""

from __future__ import annotations

from sklearn.base import clone
from sklearn.exceptions import NotFittedError

try:
    from pyod.models.base import BaseDetector
except ImportError as err:  # pragma: no cover - exercised only where PyOD is absent
    raise ImportError("npae.applications.pyod needs PyOD: pip install 'npae[pyod]' (or pip install pyod).") from err

from npae import backend as B
from npae.applications.detector import AnomalyDetector

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
    contamination : float in (0, 0.5], default=0.1
        PyOD's: sets ``threshold_`` and ``labels_``; also passed to the wrapped detector when it
        has a ``contamination`` parameter.

    Attributes
    ----------
    detector_ : the fitted clone of ``detector``
    decision_scores_ : ndarray of shape (n_samples,)
        −score_samples of the training rows: higher = more abnormal.
    threshold_ : float
        The (1 − contamination) quantile of ``decision_scores_``.
    labels_ : ndarray of shape (n_samples,), int
        1 = outlier, 0 = inlier.
    """

    def __init__(self, detector=None, contamination=0.1):
        super().__init__(contamination=contamination)
        self.detector = detector

    def fit(self, X, y=None):
        """Fit the wrapped detector on X and set PyOD's training attributes; returns self."""
        self._set_n_classes(y)
        detector = clone(self.detector) if self.detector is not None else AnomalyDetector()
        if "contamination" in detector.get_params() and isinstance(self.contamination, (int, float)):
            detector.set_params(contamination=self.contamination)
        self.detector_ = detector.fit(X)
        self.decision_scores_ = self.decision_function(X)
        self._process_decision_scores()
        return self

    def decision_function(self, X):
        """Anomaly scores (N,), PyOD's sign: −score_samples of the wrapped detector."""
        if not hasattr(self, "detector_"):
            raise NotFittedError("This PyODDetector instance is not fitted yet. Call 'fit' with appropriate "
                                 "arguments before using this estimator.")
        return -B.to_numpy(self.detector_.score_samples(X)).astype("float64").ravel()
