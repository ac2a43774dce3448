"""AnomalyDetector: scikit-learn's outlier contract on an autoencoder's per-sample score, PyOD's
attributes beside it, the built-in defaults, robust training and the inputs it cannot score."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.exceptions import NotFittedError
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import cross_val_score

import npae
from npae.applications.detector import EXTREME_SCORE, AnomalyDetector, complexity_bits, default_model
from npae.datasets import load_digits

F32_MAX = float(np.finfo(np.float32).max)


@pytest.fixture(scope="module")
def all_digits():
    """All 1,797 digits, (X, y)."""
    return load_digits()


@pytest.fixture(scope="module")
def cancer():
    """Breast cancer, raw features: 60 % of the benign rows to train on; the rest and every
    malignant row to test, (X_train, X_test, is_malignant)."""
    data = load_breast_cancer()
    malignant = data.target == 0
    benign = np.random.default_rng(0).permutation(np.flatnonzero(~malignant))
    n = round(0.6 * benign.size)
    test = np.r_[benign[n:], np.flatnonzero(malignant)]
    return data.data[benign[:n]], data.data[test], malignant[test]


@pytest.fixture(scope="module")
def default_detector(cancer):
    """AnomalyDetector() with no arguments but a seed, fitted on the benign training rows."""
    return AnomalyDetector(random_state=0).fit(cancer[0])


def ae(**kw):
    params = {"hidden_sizes": (32,), "latent_dim": 4, "epochs": 30, "batch_size": 32, "learning_rate": 3e-3,
              "random_state": 0, "verbose": 0}
    params.update(kw)
    return npae.Autoencoder(**params)


# ---------------------------------------------------------------------- scikit-learn's contract
def test_follows_the_outlier_detector_contract(all_digits):
    X, _ = all_digits
    det = AnomalyDetector(ae(epochs=3), contamination=0.1).fit(X[:500])
    scores = det.score_samples(X[:500])
    np.testing.assert_allclose(det.decision_function(X[:500]), scores - det.offset_)
    labels = det.predict(X[:500])
    assert set(np.unique(labels)) <= {-1, 1}
    assert abs(np.mean(labels == -1) - 0.1) < 0.02  # the training quantile
    assert det.threshold_ == -det.offset_  # PyOD's threshold, on the anomaly-score scale
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
    np.testing.assert_array_equal(model.parameters()["encoder.0.W"], W)  # not trained further
    np.testing.assert_array_equal(det.model_.parameters()["encoder.0.W"], W)
    np.testing.assert_array_equal(det.score_samples(X[:50]), model.score_samples(X[:50]))


@pytest.mark.parametrize("anomaly_score", ["reconstruction", "gaussian"])
def test_prefit_model_is_a_snapshot_retraining_it_later_changes_nothing(all_digits, anomaly_score):
    """Issue 21 item 7: the detector keeps the model as it was at fit, not the user's object."""
    X, _ = all_digits
    model = ae(epochs=2, loss="mse").fit(X[:200])
    det = AnomalyDetector(model, refit=False, anomaly_score=anomaly_score).fit(X[:200])
    scores, offset, share = det.score_samples(X[:300]), det.offset_, np.mean(det.predict(X[:200]) == -1)
    assert det.model_ is not model
    model.set_params(epochs=20).fit(X[200:400] * 3.0)  # the user retrains their model on other data
    assert not np.allclose(model.score_samples(X[:300]), det.model_.score_samples(X[:300]))
    np.testing.assert_array_equal(det.score_samples(X[:300]), scores)
    assert det.offset_ == offset and np.mean(det.predict(X[:200]) == -1) == share


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
        AnomalyDetector(ae(), anomaly_score="elbo").fit(all_digits[0][:50])
    with pytest.raises(ValueError, match="Unknown anomaly_score 'iwea'.*Did you mean 'iwae'"):
        AnomalyDetector(ae(), anomaly_score="iwea").fit(all_digits[0][:50])


def test_unfitted_detector_says_call_fit(all_digits):
    with pytest.raises(NotFittedError):
        AnomalyDetector(ae()).score_samples(all_digits[0][:5])
    with pytest.raises(NotFittedError):
        AnomalyDetector().predict_proba(all_digits[0][:5])


def test_complexity_is_larger_for_noisy_images():
    rng = np.random.default_rng(0)
    flat = np.zeros((3, 784))
    noisy = rng.random((3, 784))
    assert np.all(complexity_bits(noisy) > 4 * complexity_bits(flat))


# ---------------------------------------------------------------------- score: the method, not a string
def test_score_is_the_mean_of_score_samples_and_grid_search_can_call_it(default_detector, cancer):
    X_train, X_test, _ = cancer
    assert default_detector.score(X_test) == pytest.approx(np.mean(default_detector.score_samples(X_test)))
    assert callable(default_detector.score)
    folds = cross_val_score(AnomalyDetector(ae(epochs=2, loss="mse")), X_train, cv=2)  # no `scoring`: uses score
    assert folds.shape == (2,) and np.all(np.isfinite(folds))


def test_the_old_score_keyword_is_gone():
    with pytest.raises(TypeError, match="score"):
        AnomalyDetector(score="reconstruction")


# ---------------------------------------------------------------------- defaults
def test_default_detector_scales_picks_a_size_and_scores_with_the_gaussian(default_detector, cancer):
    X_train, X_test, malignant = cancer
    det = default_detector
    assert det.anomaly_score_ == "gaussian"
    np.testing.assert_allclose(det.scaler_.mean_, X_train.mean(axis=0))  # fitted on the training rows
    assert det.model_.loss == "mse" and det.model_.hidden_sizes == (15,) and det.model_.latent_dim == 4
    assert det.residual_var_.shape == (30,) and np.all(det.residual_var_ > 0)
    assert roc_auc_score(malignant, -det.score_samples(X_test)) > 0.93  # raw features, no preprocessing


def test_default_model_follows_the_data_width():
    small, images = default_model(214, 30), default_model(6000, 784)
    assert (small.hidden_sizes, small.latent_dim, small.batch_size, small.epochs) == ((15,), 4, 32, 94)
    assert (images.hidden_sizes, images.latent_dim, images.batch_size, images.epochs) == ((256,), 16, 128, 10)
    assert default_model(5, 1).latent_dim == 2 and default_model(60_000, 2).epochs == 10


@pytest.mark.parametrize(("n_features", "floor", "latent", "hidden"), [
    (1, 3, 2, 4), (2, 3, 2, 4), (3, 3, 3, 6), (9, 3, 3, 6), (16, 3, 3, 8), (24, 3, 3, 12), (30, 3, 4, 15),
    (9, 2, 2, 4), (16, 2, 2, 8), (6, 4, 4, 8), (3, 4, 3, 6), (200, 4, 16, 100),
])
def test_default_code_width_has_a_floor_of_three_units_below_the_width_rule(n_features, floor, latent, hidden):
    """K = ⌈D/8⌉ clipped to [floor, 16], never above D, never below 2; the hidden layer ⌊D/2⌋ in [2K, 256]."""
    model = default_model(500, n_features, min_code_width=floor)
    assert (model.latent_dim, model.hidden_sizes) == (latent, (hidden,))
    if floor == 3:
        assert default_model(500, n_features).latent_dim == latent


@pytest.mark.parametrize("floor", [0, 17, 2.5, True, "3"])
def test_default_model_rejects_a_code_width_floor_it_cannot_build(floor):
    with pytest.raises(ValueError, match="min_code_width must be an integer from 1 to 16"):
        default_model(500, 9, min_code_width=floor)


def test_a_model_you_pass_keeps_its_own_score_and_unscaled_input(all_digits):
    det = AnomalyDetector(ae(epochs=2)).fit(all_digits[0][:100] / 16.0)
    assert det.anomaly_score_ == "reconstruction" and det.scaler_ is None
    np.testing.assert_allclose(det.score_samples(all_digits[0][:7] / 16.0),
                               det.model_.score_samples(all_digits[0][:7] / 16.0), rtol=1e-6)


def test_gaussian_score_is_the_log_density_of_residuals_and_codes(all_digits):
    X = all_digits[0][:300]
    det = AnomalyDetector(ae(epochs=3, loss="mse"), anomaly_score="gaussian").fit(X)
    x = X[:4].astype(np.float32)
    r = x - det.model_.reconstruct(x)
    v = det.residual_var_
    log_r = -0.5 * np.sum(r**2 / v + np.log(2 * np.pi * v), axis=1)
    h = det.model_.transform(x) - det.code_mean_
    C = det.code_cov_
    log_h = -0.5 * (np.einsum("ij,jk,ik->i", h, np.linalg.inv(C), h) + np.linalg.slogdet(2 * np.pi * C)[1])
    np.testing.assert_allclose(det.score_samples(x), log_r + log_h, rtol=1e-6)


@pytest.mark.parametrize("random_state", [None, 3, "generator"])
def test_sampled_scores_are_the_same_on_every_call(all_digits, random_state):
    X = all_digits[0][:200] / 16.0
    seed = np.random.default_rng(1) if random_state == "generator" else random_state
    vae = npae.VAE(hidden_sizes=(16,), latent_dim=4, epochs=2, verbose=0, random_state=0)
    for score in ("elbo", "iwae"):
        det = AnomalyDetector(vae, anomaly_score=score, n_samples=4, random_state=seed).fit(X)
        np.testing.assert_array_equal(det.score_samples(X[:20]), det.score_samples(X[:20]))


# ---------------------------------------------------------------------- robust training
def test_robust_training_keeps_contaminating_rows_from_shaping_the_model():
    """Breast cancer with 37 % malignant rows in the training data (the contaminated protocol)."""
    data = load_breast_cancer()
    order = np.random.default_rng(0).permutation(data.target.size)
    train, test = order[:341], order[341:]
    malignant = data.target[test] == 0
    auroc = {}
    for robust in (False, True):
        det = AnomalyDetector(contamination=0.4, robust=robust, random_state=0).fit(data.data[train])
        auroc[robust] = roc_auc_score(malignant, -det.score_samples(data.data[test]))
    assert auroc[True] > auroc[False] + 0.03, auroc


def test_robust_needs_training(all_digits):
    model = ae(epochs=1).fit(all_digits[0][:50])
    with pytest.raises(ValueError, match="robust=True trims rows while training"):
        AnomalyDetector(model, refit=False, robust=True).fit(all_digits[0][:50])
    with pytest.raises(TypeError, match="robust must be True, False or 'auto'"):
        AnomalyDetector(robust="yes").fit(all_digits[0][:50])


# ---------------------------------------------------------------------- PyOD's attributes
def test_pyod_attributes_have_pyods_sign(default_detector, cancer):
    X_train, X_test, malignant = cancer
    det = default_detector
    np.testing.assert_allclose(det.decision_scores_, -det.score_samples(X_train))
    assert set(np.unique(det.labels_)) <= {0, 1}
    np.testing.assert_array_equal(det.labels_ == 1, det.predict(X_train) == -1)
    np.testing.assert_array_equal(det.labels_, (det.decision_scores_ > det.threshold_).astype(int))
    proba = det.predict_proba(X_test)
    assert proba.shape == (X_test.shape[0], 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert roc_auc_score(malignant, proba[:, 1]) > 0.9  # higher = more abnormal, as in PyOD
    unify = det.predict_proba(X_test, method="unify")[:, 1]
    assert np.all((unify >= 0) & (unify <= 1))
    with pytest.raises(ValueError, match="Unknown method 'lin'"):
        det.predict_proba(X_test, method="lin")
    confidence = det.predict_confidence(X_test)
    assert confidence.shape == (X_test.shape[0],) and np.all((confidence >= 0) & (confidence <= 1))


# ---------------------------------------------------------------------- inputs it cannot score
def _extreme_rows(X):
    """Four copies of X's first row: float32's largest, minus it, one huge entry, float64 1e300."""
    E = np.repeat(X[:1].astype(np.float64), 4, axis=0)
    E[0], E[1] = F32_MAX, -F32_MAX
    E[2, 0] = F32_MAX
    E[3, -1] = 1e300
    return E


@pytest.mark.parametrize("kind", ["default", "reconstruction", "gaussian", "elbo"])
def test_extreme_rows_get_a_finite_score_and_are_outliers(all_digits, kind):
    X = all_digits[0][:200]
    if kind == "default":
        det = AnomalyDetector(random_state=0).fit(X)
    elif kind == "elbo":
        vae = npae.VAE(hidden_sizes=(16,), latent_dim=4, epochs=2, verbose=0, likelihood="gaussian", random_state=0)
        det = AnomalyDetector(vae, anomaly_score="elbo").fit(X)
    else:
        det = AnomalyDetector(ae(epochs=2, loss="mse"), anomaly_score=kind).fit(X)
    lowest_normal = det.score_samples(X).min()
    E = np.r_[_extreme_rows(X), X[:3]]
    E32 = E[:3].astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warning escapes either
        for rows in (E, E32):
            scores = det.score_samples(rows)
            assert np.all(np.isfinite(scores))
            assert np.all(scores[:3] < lowest_normal)
            assert np.all(np.isfinite(det.decision_function(rows)))
            np.testing.assert_array_equal(det.predict(rows)[:3], -1)
            np.testing.assert_array_equal(det.predict_proba(rows)[:3, 1], 1.0)
        assert det.score_samples(E)[3] == EXTREME_SCORE  # 1e300 has no float32 value: never evaluated


@pytest.mark.parametrize("value, message", [(np.nan, "Input X contains NaN"), (np.inf, "infinity"),
                                            (-np.inf, "infinity")])
@pytest.mark.parametrize("method", ["score_samples", "decision_function", "predict", "predict_proba", "fit"])
def test_nan_and_infinity_are_refused_by_every_method(default_detector, cancer, value, message, method):
    X = cancer[1][:5].copy()
    X[1, 2] = value
    target = AnomalyDetector() if method == "fit" else default_detector
    with pytest.raises(ValueError, match=message):
        getattr(target, method)(X)


# ---------------------------------------------------------------------- contamination="auto"
def test_auto_offset_is_tukeys_far_out_fence_on_log_scaled_scores():
    from npae.applications.detector import auto_offset

    rng = np.random.default_rng(0)
    normal = rng.normal(size=20_000)
    assert np.mean(normal < auto_offset(normal)) < 0.005  # about the 3-sigma tail of a normal sample
    planted = np.r_[rng.normal(size=900), rng.normal(-10.0, 1.0, size=100)]  # 10 % far below
    assert np.mean(planted < auto_offset(planted)) == pytest.approx(0.1, abs=0.01)
    skewed = -rng.chisquare(20, size=20_000)  # a log-likelihood's long abnormal tail
    assert np.mean(skewed < auto_offset(skewed)) < 0.01
    assert auto_offset(np.zeros(10)) == 0.0  # all equal: nothing below, nothing flagged


def _planted(n=400, d=6, share=0.08, seed=0):
    """Gaussian rows on a 2-D plane in d dimensions, and a share of rows far off the plane."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2)) @ rng.normal(size=(2, d)) + 0.05 * rng.normal(size=(n, d))
    outlier = np.arange(n) < int(share * n)
    X[outlier] += rng.choice([-6.0, 6.0], size=(outlier.sum(), d))
    return X, outlier


def test_contamination_auto_finds_the_planted_share_without_being_told():
    X, outlier = _planted()
    det = AnomalyDetector(contamination="auto", random_state=0).fit(X)
    assert det.contamination_ == pytest.approx(np.mean(det.labels_))
    assert 0.06 <= det.contamination_ <= 0.15, det.contamination_
    assert np.mean(det.labels_[outlier]) == 1.0  # every planted row is flagged
    fixed = AnomalyDetector(contamination=0.3, random_state=0).fit(X)  # a float keeps its meaning
    assert fixed.contamination_ == pytest.approx(0.3, abs=0.01)
    np.testing.assert_array_equal(det.score_samples(X), fixed.score_samples(X))  # only the threshold differs


def test_contamination_auto_flags_few_clean_rows(cancer):
    det = AnomalyDetector(contamination="auto", random_state=0).fit(cancer[0])
    assert det.contamination_ < 0.08
    np.testing.assert_array_equal(det.predict(cancer[0]) == -1, det.labels_ == 1)


def test_robust_true_needs_a_share(all_digits):
    with pytest.raises(ValueError, match="robust=True trims the contamination share"):
        AnomalyDetector(contamination="auto", robust=True).fit(all_digits[0][:50])


# ---------------------------------------------------------------------- the built-in ensemble
def test_an_ensemble_of_small_models_on_row_subsamples():
    X, _ = _planted(n=1500, d=5)
    det = AnomalyDetector(n_estimators=5, random_state=0).fit(X)
    assert det.n_estimators_ == 5 and det.max_samples_ == 1024 and len(det.estimators_) == 5
    assert det.model_ is det.estimators_[0].model_
    for member in det.estimators_:
        assert member.model_.n_features_in_ == 5 and member.scale_ > 0
    weights = [m.model_.parameters()["encoder.0.W"] for m in det.estimators_]
    assert not np.allclose(weights[0], weights[1])  # different rows and seeds
    s = det.score_samples(X[:20])
    member_z = [(m.gaussian(det.scaler_.transform(X[:20]).astype(np.float32)) - m.loc_) / m.scale_
                for m in det.estimators_]
    np.testing.assert_allclose(s, np.mean(member_z, axis=0), rtol=1e-10)
    rows = [m.model_.history_ for m in det.estimators_]
    assert all(len(h["loss"]) >= 5 for h in rows)


def test_without_trimming_the_default_is_issue_18s_single_model_detector(cancer):
    X = cancer[0]
    det = AnomalyDetector(robust=False, random_state=0).fit(X)
    assert det.n_estimators_ == 1 and len(det.estimators_) == 1
    model = default_model(*X.shape, random_state=0)
    from sklearn.preprocessing import StandardScaler

    Z = StandardScaler().fit_transform(X).astype(np.float32)
    model.fit(Z)
    np.testing.assert_array_equal(det.model_.parameters()["encoder.0.W"], model.parameters()["encoder.0.W"])
    assert det.max_samples_ == X.shape[0]


def test_a_model_you_pass_can_be_bagged(all_digits):
    X = all_digits[0][:300]
    det = AnomalyDetector(ae(epochs=2, loss="mse"), n_estimators=3, max_samples=0.5, random_state=0).fit(X)
    assert det.n_estimators_ == 3 and det.max_samples_ == 150
    seeds = {m.model_.random_state for m in det.estimators_}
    assert len(seeds) == 3
    assert np.all(np.isfinite(det.score_samples(X[:10])))


@pytest.mark.parametrize("kw, match", [({"n_estimators": 0}, "n_estimators must be a positive integer"),
                                       ({"max_samples": 0}, "max_samples must be a positive integer"),
                                       ({"max_samples": 1.5}, r"max_samples must be in \(0, 1\]"),
                                       ({"n_estimators": 2, "refit": False}, "n_estimators=2 trains several")])
def test_ensemble_parameters_are_checked(all_digits, kw, match):
    model = ae(epochs=1).fit(all_digits[0][:50] / 16.0)
    with pytest.raises(ValueError, match=match):
        AnomalyDetector(model, **kw).fit(all_digits[0][:50] / 16.0)


# ---------------------------------------------------------------------- determinism
_DETERMINISM_SCRIPT = """
import hashlib, sys
import numpy as np
from npae import AnomalyDetector
rng = np.random.default_rng(5)
X = rng.normal(size=(240, 7)) @ rng.normal(size=(7, 7))
det = AnomalyDetector(random_state=11, contamination="auto").fit(X)
s = np.ascontiguousarray(det.score_samples(X), dtype=np.float64)
sys.stdout.write(hashlib.sha256(s.tobytes() + np.float64(det.offset_).tobytes()).hexdigest())
"""


def test_same_random_state_gives_bit_identical_scores_in_separate_processes():
    """The README's promise: a seed fixes every score, across processes (not only within one)."""
    import subprocess
    import sys

    digests = [subprocess.run([sys.executable, "-c", _DETERMINISM_SCRIPT], capture_output=True, text=True,
                              check=True, timeout=300).stdout for _ in range(2)]
    assert len(digests[0]) == 64 and digests[0] == digests[1]


def test_onnx_refuses_an_ensemble_rather_than_exporting_one_member():
    pytest.importorskip("onnx")
    skl2onnx = pytest.importorskip("skl2onnx")
    import npae.onnx  # noqa: F401  (registers the converters)

    X, _ = _planted(n=200, d=4)
    det = AnomalyDetector(ae(epochs=1, loss="mse"), n_estimators=2, anomaly_score="gaussian",
                          scaler="standard", random_state=0).fit(X)
    with pytest.raises(ValueError, match="averages n_estimators_=2 models"):
        skl2onnx.to_onnx(det, X[:1].astype(np.float32))


# ---------------------------------------------------------------------- the code Gaussian's robust statistics
def test_robust_code_statistics_ignore_a_far_minority_and_match_the_sample_on_clean_codes():
    from npae.applications.detector import robust_location_covariance

    rng = np.random.default_rng(0)
    A = np.array([[2.0, 0.0, 0.0], [0.8, 1.0, 0.0], [0.0, 0.3, 0.5]])
    clean = rng.normal(size=(2000, 3)) @ A.T
    mean, cov = robust_location_covariance(clean, random_state=0)
    # the far-out fence leaves every code of a normal sample in: the sample statistics themselves
    np.testing.assert_allclose(mean, clean.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(cov, np.cov(clean, rowvar=False, bias=True), rtol=1e-12)
    # 5 % of the codes in a far cluster (the raw step trims 10 %: it breaks down past that share)
    dirty = np.r_[clean, rng.normal(8.0, 1.0, size=(100, 3))]
    mean_r, cov_r = robust_location_covariance(dirty, random_state=0)
    assert np.abs(mean_r).max() < 0.15 < np.abs(dirty.mean(axis=0)).min()
    assert np.trace(cov_r) < 1.1 * np.trace(cov) and np.trace(np.cov(dirty, rowvar=False)) > 2 * np.trace(cov)
    again = robust_location_covariance(dirty, random_state=0)  # seeded: the same estimate
    np.testing.assert_array_equal(again[0], mean_r)
    np.testing.assert_array_equal(again[1], cov_r)


def test_robust_code_statistics_fall_back_to_the_sample_when_they_cannot_apply(monkeypatch):
    import npae.applications.detector as module

    few = np.random.default_rng(0).normal(size=(7, 3))  # fewer than 2 (K + 1) rows
    mean, cov = module.robust_location_covariance(few)
    np.testing.assert_allclose(mean, few.mean(axis=0))
    np.testing.assert_allclose(cov, np.cov(few, rowvar=False, bias=True))
    constant = np.ones((50, 2))  # every code equal
    mean, cov = module.robust_location_covariance(constant)
    np.testing.assert_allclose(mean, [1.0, 1.0])
    np.testing.assert_allclose(cov, np.zeros((2, 2)))
    rows = np.random.default_rng(1).normal(size=(300, 2))
    monkeypatch.setattr(module, "CODE_SUPPORT_FRACTION", None)  # the sample mean and covariance
    mean, cov = module.robust_location_covariance(rows)
    np.testing.assert_allclose(cov, np.cov(rows, rowvar=False, bias=True))


def test_contaminating_codes_do_not_widen_the_code_gaussian(monkeypatch):
    """A contaminating cluster that the network learns to reconstruct is caught by the code term:
    the robust code statistics score it lower than the sample statistics would."""
    import npae.applications.detector as module

    rng = np.random.default_rng(0)
    normal = rng.normal(size=(900, 2)) @ rng.normal(size=(2, 8))
    cluster = rng.normal(size=(100, 2)) @ rng.normal(size=(2, 8)) * 0.2 + 4.0  # 10 %, on its own plane
    X = np.r_[normal, cluster]
    outlier = np.r_[np.zeros(900, bool), np.ones(100, bool)]
    auroc = {}
    for support in (None, 0.9):
        monkeypatch.setattr(module, "CODE_SUPPORT_FRACTION", support)
        det = AnomalyDetector(random_state=0).fit(X)
        auroc[support] = roc_auc_score(outlier, -det.score_samples(X))
    assert auroc[0.9] > max(0.95, auroc[None] + 0.05), auroc  # 1.000 against 0.870 when written


# ---------------------------------------------------------------------- ties, NumPy booleans, failed fits
def test_the_fence_ignores_a_pile_of_values_tied_at_the_minimum():
    from npae.applications.detector import upper_cut

    rng = np.random.default_rng(0)
    tail = rng.exponential(1.0, 200)
    piled = np.r_[np.zeros(800), tail]  # 80 % identical rows: the quartiles alone would collapse
    assert np.mean(piled > upper_cut(piled)) == 0.0
    assert upper_cut(piled) == pytest.approx(upper_cut(tail), rel=0.05)  # the fence of the values that vary
    assert upper_cut(np.full(5, 2.0)) == 2.0  # all equal: nothing is far out


def test_count_data_with_many_identical_rows_is_neither_trimmed_away_nor_flagged():
    rng = np.random.default_rng(0)
    X = rng.poisson(0.05, size=(1000, 5)).astype(float)  # clean; 78 % of the rows are all zeros
    det = AnomalyDetector(contamination="auto", random_state=0).fit(X)
    ones = X.sum(axis=1) == 1
    assert det.contamination_ < 0.05, det.contamination_
    assert det.labels_[ones].mean() < 0.2


@pytest.mark.parametrize("robust", [False, True])
def test_numpy_booleans_mean_what_python_booleans_mean(cancer, robust):
    X = cancer[0][:150]
    python = AnomalyDetector(robust=robust, random_state=0).fit(X)
    numpy = AnomalyDetector(robust=np.bool_(robust), random_state=0).fit(X)
    assert numpy.offset_ == python.offset_
    with pytest.raises(ValueError, match="robust=True trims the contamination share"):
        AnomalyDetector(robust=np.True_, contamination="auto").fit(X)


def test_likelihood_scores_are_refused_for_the_built_in_model_before_training(cancer):
    for score in ("elbo", "iwae", "elbo_complexity"):
        with pytest.raises(ValueError, match="the built-in model .* is an Autoencoder"):
            AnomalyDetector(anomaly_score=score).fit(cancer[0][:50])


def test_a_feature_whose_variance_overflows_is_named(cancer):
    X = cancer[0][:100].copy()
    X[3, 7] = 1e160  # the variance overflows (StandardScaler then sets scale_ to 1), the mean does not
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and no RuntimeWarning leaks out
        with pytest.raises(ValueError, match=r"feature\(s\) \[7\] overflows float64"):
            AnomalyDetector().fit(X)
        X[3, 7] = 1e300  # further out: the same message
        with pytest.raises(ValueError, match=r"feature\(s\) \[7\] overflows float64"):
            AnomalyDetector().fit(X)


@pytest.mark.parametrize("failing", ["out of range", "bad model parameter", "likelihood score"])
def test_a_failed_fit_leaves_a_fitted_detector_as_it_was(cancer, failing):
    X_train, X_test, _ = cancer
    det = AnomalyDetector(ae(epochs=3, loss="mse"), scaler="standard", anomaly_score="gaussian").fit(X_train)
    before = det.score_samples(X_test)
    state = {k: v for k, v in det.__dict__.items()}
    with pytest.raises((ValueError, TypeError)):
        if failing == "out of range":
            det.fit(X_train * 1e300)
        elif failing == "bad model parameter":
            det.set_params(model__learning_rate=-1.0).fit(X_train)
        else:
            det.set_params(anomaly_score="elbo").fit(X_train)
    det.set_params(model__learning_rate=3e-3, anomaly_score="gaussian")
    assert det.__dict__.keys() == state.keys() and all(det.__dict__[k] is state[k] for k in state)
    np.testing.assert_array_equal(det.score_samples(X_test), before)


def test_complexity_bits_refuses_depths_and_data_it_cannot_quantise():
    X = np.random.default_rng(0).random((3, 20))
    assert np.all(complexity_bits(X, bit_depth=1) < complexity_bits(X))  # fewer levels compress better
    for depth in (0, 9, 2.0, True):
        with pytest.raises(ValueError, match="bit_depth"):
            complexity_bits(X, bit_depth=depth)
    with pytest.raises(ValueError, match=r"expects X in \[0, 1\].*anomaly_score='elbo'"):
        complexity_bits(3.0 * X)  # standardized or 0–255 data: L(x) of clipped values would measure nothing
    with pytest.raises(ValueError, match=r"shape \(N, D\)"):
        complexity_bits(X[0])


def test_a_prefit_model_fitted_on_a_dataframe_checks_its_columns_once_without_warnings():
    import warnings

    import pandas as pd

    X = np.random.default_rng(0).random((100, 5))
    frame = pd.DataFrame(X, columns=list("abcde"))
    model = npae.Autoencoder(hidden_sizes=(4,), latent_dim=2, epochs=2, verbose=0, loss="mse", random_state=0).fit(frame)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # scikit-learn's "X does not have valid feature names" came on every call
        detector = AnomalyDetector(model, refit=False).fit(frame)
        scores = detector.score_samples(frame)
    assert list(detector.feature_names_in_) == list("abcde") and list(model.feature_names_in_) == list("abcde")
    np.testing.assert_allclose(scores, AnomalyDetector(model, refit=False).fit(X).score_samples(X), rtol=1e-6)
    with pytest.raises(ValueError, match=r"fitted on the columns \['a', .* X has \['e'"):
        AnomalyDetector(model, refit=False).fit(frame[list("edcba")])


def test_threads_scoring_during_refits_get_one_fit_or_the_other_never_a_mix():
    """A serving thread scores while another refits the detector (the models' thread promise, one level up)."""
    import threading

    rng = np.random.default_rng(0)
    X_a, X_b = rng.normal(size=(120, 6)), rng.normal(loc=5.0, scale=3.0, size=(120, 6))

    def make():
        return AnomalyDetector(npae.Autoencoder(loss="mse", hidden_sizes=(4,), latent_dim=2, epochs=1, verbose=0,
                                                random_state=0), scaler="standard", random_state=0)

    Q = X_a[:10]
    expected = [make().fit(X).score_samples(Q) for X in (X_a, X_b)]
    detector, stop, bad = make().fit(X_a), threading.Event(), []

    def score():
        while not stop.is_set():
            try:
                s = detector.score_samples(Q)
                if not any(np.array_equal(s, e) for e in expected):
                    bad.append("mixed")
            except Exception as err:  # noqa: BLE001 - any error here is the failure being tested
                bad.append(repr(err))

    threads = [threading.Thread(target=score) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for i in range(40):
            detector.fit(X_b if i % 2 == 0 else X_a)
            with pytest.raises(ValueError):
                detector.fit(X_a[:, :3].tolist() + [["x"] * 3])  # a refused refit: the detector stays as it was
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert bad == []


def test_a_prefit_model_that_lost_its_fit_to_a_clone_is_refused_and_frozen_models_survive():
    from sklearn.base import clone
    from sklearn.frozen import FrozenEstimator
    from sklearn.model_selection import cross_validate

    from npae.applications.pyod import PyODDetector

    X = np.random.default_rng(0).random((120, 5))
    ae = npae.Autoencoder(hidden_sizes=(4,), latent_dim=2, epochs=2, verbose=0, loss="mse", random_state=0).fit(X)
    with pytest.raises(NotFittedError, match="FrozenEstimator"):
        clone(AnomalyDetector(ae, refit=False)).fit(X)  # a clone drops the fit: never retrain it silently
    frozen = AnomalyDetector(FrozenEstimator(ae), refit=False)
    np.testing.assert_allclose(clone(frozen).fit(X).model_.score_samples(X), ae.score_samples(X))
    pyod = PyODDetector(frozen).fit(X)
    np.testing.assert_allclose(-pyod.decision_scores_, AnomalyDetector(ae, refit=False).fit(X).score_samples(X))
    assert np.all(np.isfinite(cross_validate(frozen, X, cv=3)["test_score"]))


def test_a_prefit_dataframe_model_keeps_checking_its_columns_inside_the_detector():
    import pandas as pd
    from sklearn.frozen import FrozenEstimator

    frame = pd.DataFrame(np.random.default_rng(0).random((100, 5)), columns=list("abcde"))
    model = npae.Autoencoder(hidden_sizes=(4,), latent_dim=2, epochs=2, verbose=0, loss="mse", random_state=0).fit(frame)
    detector = AnomalyDetector(model, refit=False).fit(frame)
    assert list(detector.model_.feature_names_in_) == list("abcde")
    with pytest.raises(ValueError, match="feature names"):
        detector.model_.transform(frame[list("edcba")])
    frozen = AnomalyDetector(FrozenEstimator(model), refit=False).fit(frame)
    np.testing.assert_allclose(frozen.score_samples(frame), detector.score_samples(frame))
