"""AnomalyDetector: scikit-learn's outlier contract on an autoencoder's per-sample score."""

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.metrics import roc_auc_score

import npae
from npae.applications.detector import AnomalyDetector, complexity_bits
from npae.datasets import load_digits


@pytest.fixture(scope="module")
def all_digits():
    """All 1,797 digits, (X, y)."""
    return load_digits()


def ae(**kw):
    params = dict(hidden_sizes=(32,), latent_dim=4, epochs=30, batch_size=32, learning_rate=3e-3,
                  random_state=0, verbose=0)
    params.update(kw)
    return npae.Autoencoder(**params)


def test_follows_the_outlier_detector_contract(all_digits):
    X, _ = all_digits
    det = AnomalyDetector(ae(epochs=3), contamination=0.1).fit(X[:500])
    scores = det.score_samples(X[:500])
    np.testing.assert_allclose(det.decision_function(X[:500]), scores - det.offset_)
    labels = det.predict(X[:500])
    assert set(np.unique(labels)) <= {-1, 1}
    assert abs(np.mean(labels == -1) - 0.1) < 0.02  # the training quantile
    assert det.threshold_ == det.offset_
    assert np.array_equal(AnomalyDetector(ae(epochs=3), contamination=0.1).fit_predict(X[:500]), labels)


def test_one_class_digits_beats_chance_and_is_measured_with_auroc(all_digits):
    X, y = all_digits
    normal = y == 0
    det = AnomalyDetector(ae()).fit(X[normal][:150])
    held_out = np.r_[np.flatnonzero(normal)[150:], np.flatnonzero(~normal)]
    auroc = roc_auc_score(y[held_out] == 0, det.score_samples(X[held_out]))
    assert auroc > 0.9


def test_prefit_model_is_used_as_is_without_refit(all_digits):
    X, _ = all_digits
    model = ae(epochs=2).fit(X[:200])
    W = model.parameters()["encoder.0.W"].copy()
    det = AnomalyDetector(model, refit=False).fit(X[:200])
    assert det.model_ is model
    np.testing.assert_array_equal(model.parameters()["encoder.0.W"], W)


@pytest.mark.parametrize("contamination", [0.0, -0.1, 0.51, "0.1", True, float("nan")])
def test_contamination_outside_the_interval_is_refused(all_digits, contamination):
    with pytest.raises(ValueError, match=r"contamination must be in \(0, 0.5\]"):
        AnomalyDetector(ae(), contamination=contamination).fit(all_digits[0][:50])


@pytest.mark.parametrize("n_samples", [0, 2.5, True])
def test_n_samples_must_be_a_positive_integer(all_digits, n_samples):
    with pytest.raises(ValueError, match="n_samples must be a positive integer"):
        AnomalyDetector(ae(), n_samples=n_samples).fit(all_digits[0][:50])


def test_likelihood_scores_need_a_vae(all_digits):
    with pytest.raises(ValueError, match="needs a likelihood model with elbo"):
        AnomalyDetector(ae(), score="elbo").fit(all_digits[0][:50])
    with pytest.raises(ValueError, match="Unknown score 'iwea'.*Did you mean 'iwae'"):
        AnomalyDetector(ae(), score="iwea").fit(all_digits[0][:50])


def test_unfitted_detector_says_call_fit(all_digits):
    with pytest.raises(NotFittedError):
        AnomalyDetector(ae()).score_samples(all_digits[0][:5])


def test_complexity_is_larger_for_noisy_images():
    rng = np.random.default_rng(0)
    flat = np.zeros((3, 784))
    noisy = rng.random((3, 784))
    assert np.all(complexity_bits(noisy) > 4 * complexity_bits(flat))
