"""Anomaly protocols: evaluate_detectors, the PCA baseline, one-class, OOD and tabular AUROC."""

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError

from npae.applications import default_autoencoder
from npae.applications.anomaly import (
    PCAReconstructionDetector,
    breast_cancer_split,
    one_class_auroc,
    ood_auroc,
    tabular_auroc,
)
from npae.models import VAE


def test_pca_reconstruction_detector_scores_minus_the_squared_error(digits):
    X = digits[0]
    det = PCAReconstructionDetector(5).fit(X)
    pca = PCA(5).fit(X)
    expected = -np.sum((X - pca.inverse_transform(pca.transform(X))) ** 2, axis=1)
    np.testing.assert_allclose(det.score_samples(X), expected, rtol=1e-4, atol=1e-5)
    with pytest.raises(NotFittedError):
        PCAReconstructionDetector().score_samples(X)


def test_pca_reconstruction_detector_keeps_the_outlier_contract_of_isolation_forest(digits):
    import pandas as pd

    X = digits[0]
    det = PCAReconstructionDetector(5, contamination=0.1).fit(X)
    scores = det.score_samples(X)
    assert det.offset_ == np.quantile(scores, 0.1)
    np.testing.assert_array_equal(det.decision_function(X), scores - det.offset_)
    labels = det.predict(X)
    assert set(np.unique(labels)) == {-1, 1} and np.mean(labels == -1) == pytest.approx(0.1, abs=0.01)
    np.testing.assert_array_equal(PCAReconstructionDetector(5).fit_predict(X), labels)
    frame = pd.DataFrame(X, columns=[f"px{i}" for i in range(X.shape[1])])
    fitted = PCAReconstructionDetector(5).fit(frame)
    assert list(fitted.feature_names_in_) == list(frame.columns)
    np.testing.assert_allclose(fitted.score_samples(frame), scores, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="feature names"):
        fitted.score_samples(frame[frame.columns[::-1]])
    with pytest.raises(ValueError, match="features"):
        det.score_samples(X[:, :10])
    with pytest.raises(ValueError, match="contamination"):
        PCAReconstructionDetector(5, contamination=0.7).fit(X)


def test_protocols_check_the_pca_baseline_and_classes_before_training(digits, small_params, monkeypatch):
    from npae.models import Autoencoder

    def no_training(self, *args, **kwargs):
        raise AssertionError("a model was trained before the arguments were checked")

    monkeypatch.setattr(Autoencoder, "fit", no_training)
    X_train, y_train, X_test, y_test = digits
    model = {"ae": (default_autoencoder(4, **small_params), "reconstruction")}
    with pytest.raises(ValueError, match=r"n_components=80 .* at most min\(class 0's training rows, features\)"):
        one_class_auroc(X_train, y_train, X_test, y_test, classes=[0], models=model, n_components=80)
    with pytest.raises(ValueError, match="Class 42 has no rows in y_train and y_test"):
        one_class_auroc(X_train, y_train, X_test, y_test, classes=[0, 42], models=model)
    with pytest.raises(ValueError, match="Class 0 has no rows in y_test"):
        one_class_auroc(X_train, y_train, X_test[y_test != 0], y_test[y_test != 0], classes=[0], models=model)
    with pytest.raises(ValueError, match="n_components=40 .* min\\(training rows, features\\) = min\\(30, 64\\)"):
        ood_auroc(X_train[:30], X_test[:10], X_test[10:20], autoencoder=default_autoencoder(40), vae=False)
    with pytest.raises(ValueError, match="at most"):
        tabular_auroc(X_train[:3], X_test, y_test == 0, n_components=4)


def test_one_class_auroc_reports_ae_and_baselines_per_class_and_mean(digits, small_params):
    model = default_autoencoder(4, **small_params)
    rows, scores = one_class_auroc(*digits, classes=[0, 1], models={"autoencoder (reconstruction)":
                                                                    (model, "reconstruction")},
                                   return_scores=True)
    assert [r["class"] for r in rows] == [0, 1, "mean"]
    methods = {"autoencoder (reconstruction)", "PCA reconstruction (K=4)", "IsolationForest"}
    assert set(rows[0]) - {"class"} == methods
    assert rows[-1]["autoencoder (reconstruction)"] > 0.9
    for m in methods:
        assert 0.5 < rows[-1][m] <= 1.0
        assert rows[-1][m] == pytest.approx(np.mean([rows[0][m], rows[1][m]]))
    is_anomaly, by_method = scores[0]
    assert is_anomaly.sum() == (digits[3] != 0).sum() and by_method["IsolationForest"].shape == is_anomaly.shape


def test_ood_auroc_reports_every_score_and_the_likelihoods(digits, small_params):
    X_train, y_train, X_test, y_test = digits
    vae = VAE(hidden_sizes=(32,), latent_dim=4, epochs=30, batch_size=32, learning_rate=3e-3, verbose=0,
              random_state=0)
    rows, extra = ood_auroc(X_train[y_train < 5], X_test[y_test < 5], X_test[y_test >= 5],
                            autoencoder={"AE bce": default_autoencoder(4, **small_params),
                                         "AE mse": default_autoencoder(4, loss="mse", **small_params)},
                            vae=vae, n_samples=10,
                            return_scores=True)
    by = {r["method"]: r for r in rows}
    assert set(by) == {"AE bce", "AE mse", "VAE (elbo)", "VAE (iwae)", "VAE (elbo_complexity)",
                       "PCA reconstruction (K=4)", "IsolationForest"}
    assert by["AE mse"]["auroc"] > 0.8  # unseen digit classes are novel
    for name in ("VAE (elbo)", "VAE (iwae)"):
        assert by[name]["bits_per_dim_in"] > 0 and isinstance(by[name]["out_likelier"], bool)
    # IWAE is the tighter bound: a higher mean log-likelihood than the ELBO on the same rows
    assert by["VAE (iwae)"]["mean_score_normal"] > by["VAE (elbo)"]["mean_score_normal"]
    assert extra["is_anomaly"].sum() == (y_test >= 5).sum()
    assert extra["complexity_bits_out"].shape == ((y_test >= 5).sum(),)


def test_breast_cancer_split_trains_on_benign_standardized_rows():
    X_train, X_test, is_anomaly = breast_cancer_split(0.6, random_state=0)
    assert X_train.shape == (214, 30) and X_test.shape == (143 + 212, 30)
    assert is_anomaly.sum() == 212
    np.testing.assert_allclose(X_train.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(X_train.std(axis=0), 1.0, atol=1e-4)


@pytest.mark.parametrize("train_fraction", [0.0, 1.0, -0.5, True])
def test_breast_cancer_split_refuses_a_fraction_outside_the_open_interval(train_fraction):
    with pytest.raises(ValueError, match=r"train_fraction must be in \(0, 1\)"):
        breast_cancer_split(train_fraction)


def test_tabular_auroc_breast_cancer_autoencoder_above_0_9_with_baselines():
    rows = tabular_auroc(*breast_cancer_split(random_state=0))
    by = {r["method"]: r for r in rows}
    assert set(by) == {"autoencoder (mse)", "VAE gaussian (elbo)", "PCA reconstruction (K=4)", "IsolationForest"}
    assert by["autoencoder (mse)"]["auroc"] > 0.9
    for r in rows:
        assert 0.5 < r["auroc"] <= 1.0 and r["average_precision"] > r["prevalence"]


def test_the_pca_baseline_scores_extreme_rows_finitely_and_takes_every_backends_arrays():
    from npae import backend as B
    from npae.applications import evaluate_detectors

    rng = np.random.default_rng(0)
    X = rng.random((80, 5)).astype(np.float32)
    test = rng.random((20, 5)).astype(np.float32)
    test[0] = 1e30  # finite in float32, its squared error is not
    detector = PCAReconstructionDetector(2).fit(X)
    scores = detector.score_samples(test)
    assert np.all(np.isfinite(scores)) and scores[0] == scores.min() and detector.predict(test)[0] == -1
    rows, _ = evaluate_detectors({"pca": PCAReconstructionDetector(2)}, X, test, np.arange(20) == 0)
    assert rows[0]["auroc"] == 1.0
    torch = pytest.importorskip("torch")
    tensor = torch.tensor(X, requires_grad=True)
    np.testing.assert_allclose(PCAReconstructionDetector(2).fit(tensor).score_samples(tensor),
                               detector.score_samples(X), rtol=1e-6)
    pytest.importorskip("array_api_strict")
    strict = B.asarray(X, backend="array_api_strict")
    np.testing.assert_allclose(PCAReconstructionDetector(2).fit(strict).score_samples(strict),
                               detector.score_samples(X), rtol=1e-6)
