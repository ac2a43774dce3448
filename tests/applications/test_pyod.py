"""PyODDetector: an npae detector inside PyOD's BaseDetector contract and its combination tools
(LSCP, and standardized score averaging; ``pyod.models.combination`` itself needs the ``combo``
package, which PyOD does not install)."""

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.metrics import roc_auc_score

import npae

pytest.importorskip("pyod", reason="PyOD is not installed (pip install 'npae[pyod]')")

from pyod.models.base import BaseDetector
from pyod.models.lscp import LSCP
from pyod.utils.utility import standardizer

from npae.applications import PCAReconstructionDetector
from npae.applications.pyod import PyODDetector


@pytest.fixture(scope="module")
def cancer():
    """Raw breast-cancer features: 60 % of the benign rows to train on, the rest and the
    malignant rows to test (X_train, X_test, is_malignant)."""
    data = load_breast_cancer()
    malignant = data.target == 0
    benign = np.random.default_rng(0).permutation(np.flatnonzero(~malignant))
    test = np.r_[benign[214:], np.flatnonzero(malignant)]
    return data.data[benign[:214]], data.data[test], malignant[test]


def small(seed=0, **kw):
    model = npae.Autoencoder(hidden_sizes=(15,), latent_dim=4, activation="tanh", loss="mse", epochs=60,
                             batch_size=32, learning_rate=3e-3, random_state=seed, verbose=0)
    return npae.AnomalyDetector(model, anomaly_score="gaussian", scaler="standard", random_state=seed, **kw)


@pytest.fixture(scope="module")
def wrapped(cancer):
    return PyODDetector(small(), contamination=0.1).fit(cancer[0])


def test_is_a_pyod_detector_with_pyods_sign(wrapped, cancer):
    _, X_test, malignant = cancer
    assert isinstance(wrapped, BaseDetector)
    inner = wrapped.detector_
    np.testing.assert_allclose(wrapped.decision_function(X_test), -inner.score_samples(X_test))
    assert roc_auc_score(malignant, wrapped.decision_function(X_test)) > 0.9  # higher = more abnormal
    np.testing.assert_allclose(wrapped.decision_scores_, inner.decision_scores_)
    assert wrapped.threshold_ == pytest.approx(inner.threshold_)
    np.testing.assert_array_equal(wrapped.labels_, inner.labels_)
    np.testing.assert_array_equal(wrapped.predict(X_test), (inner.predict(X_test) == -1).astype(int))


def test_npae_detectors_pyod_methods_equal_pyods_own(wrapped, cancer):
    """AnomalyDetector's predict_proba and predict_confidence are PyOD's BaseDetector methods."""
    X_test = cancer[1]
    inner = wrapped.detector_
    for method in ("linear", "unify"):
        np.testing.assert_allclose(inner.predict_proba(X_test, method=method),
                                   wrapped.predict_proba(X_test, method=method), atol=1e-12)
    np.testing.assert_allclose(inner.predict_confidence(X_test), wrapped.predict_confidence(X_test), atol=1e-12)


def test_contamination_is_passed_to_the_wrapped_detector(cancer):
    det = PyODDetector(small(), contamination=0.2).fit(cancer[0])
    assert det.detector_.contamination == 0.2
    assert abs(det.labels_.mean() - 0.2) < 0.02
    assert PyODDetector().get_params()["contamination"] == 0.1


def test_unfitted_adapter_says_call_fit(cancer):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        PyODDetector().decision_function(cancer[1])


def test_runs_inside_pyods_combination_tools(cancer):
    X_train, X_test, malignant = cancer
    detectors = [PyODDetector(small(seed)) for seed in range(2)] + [PyODDetector(PCAReconstructionDetector(4))]
    lscp = LSCP(detectors, local_region_size=30, n_bins=len(detectors), random_state=0).fit(X_train)
    assert roc_auc_score(malignant, lscp.decision_function(X_test)) > 0.85
    for det in detectors:
        det.fit(X_train)
    _, test_scores = standardizer(np.column_stack([d.decision_scores_ for d in detectors]),
                                  np.column_stack([d.decision_function(X_test) for d in detectors]))
    assert roc_auc_score(malignant, test_scores.mean(axis=1)) > 0.9  # PyOD's "average" combination


def test_contamination_auto_is_npaes_far_out_rule_as_in_anomaly_detector(cancer):
    """PyOD reads a non-number contamination as a PyThresh object ('str' has no attribute 'fit');
    "auto" is forwarded to the wrapped detector and its threshold and labels are the detector's."""
    X_train, X_test, _ = cancer
    det = PyODDetector(small(), contamination="auto").fit(X_train)
    inner = det.detector_
    assert inner.contamination == "auto"
    assert det.threshold_ == pytest.approx(inner.threshold_)
    np.testing.assert_array_equal(det.labels_, inner.labels_)
    assert det.contamination_ == pytest.approx(inner.contamination_)
    np.testing.assert_array_equal(det.predict(X_test), (inner.predict(X_test) == -1).astype(int))
    np.testing.assert_allclose(det.predict_confidence(X_test), inner.predict_confidence(X_test), atol=1e-12)
    labels, confidence = det.predict(X_test, return_confidence=True)
    np.testing.assert_array_equal(labels, det.predict(X_test))
    np.testing.assert_allclose(confidence, inner.predict_confidence(X_test), atol=1e-12)
    for method in ("linear", "unify"):
        np.testing.assert_allclose(det.predict_proba(X_test, method=method),
                                   inner.predict_proba(X_test, method=method), atol=1e-12)


def test_contamination_auto_works_for_a_detector_without_its_own_auto(cancer):
    X_train, X_test, _ = cancer
    det = PyODDetector(PCAReconstructionDetector(4), contamination="auto").fit(X_train)
    assert det.threshold_ == pytest.approx(-npae.applications.detector.auto_offset(-det.decision_scores_))
    assert 0.0 <= det.contamination_ < 0.5
    np.testing.assert_array_equal(det.predict(X_test), (det.decision_function(X_test) > det.threshold_).astype(int))


@pytest.mark.parametrize("contamination", ["automatic", 0.7, object()])
def test_a_bad_contamination_is_refused_before_training(contamination, cancer):
    class MustNotTrain(npae.AnomalyDetector):
        def fit(self, X, y=None):
            raise AssertionError("trained before the contamination was checked")

    det = PyODDetector(MustNotTrain()).set_params(contamination=contamination)
    with pytest.raises(ValueError, match=r"contamination must be .*\(0, 0.5\].*got"):
        det.fit(cancer[0])
