"""The applications: linear probe, compression, denoising, generation and anomaly protocols."""

import numpy as np
import pytest
import threadpoolctl
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError

from npae import applications as A
from npae.datasets import load_digits
from npae.models.autoencoder import Autoencoder
from npae.models.variational import VAE

SMALL = {"hidden_sizes": (32,), "epochs": 30, "batch_size": 32, "learning_rate": 3e-3}


@pytest.fixture(scope="module", autouse=True)
def one_blas_thread():
    """One BLAS thread: on the shared 2-core machine two threads per process oversubscribe the
    cores and OpenBLAS's spinning made training up to 25x slower."""
    with threadpoolctl.threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits()
    return X[:1200], y[:1200], X[1200:], y[1200:]


@pytest.fixture(scope="module")
def fitted_ae(digits):
    X_train = digits[0]
    return A.default_autoencoder(8, **SMALL).fit(X_train)


# ------------------------------------------------------------------------------ representation
def test_linear_probe_codes_beat_chance_and_report_pca_and_raw(digits, fitted_ae):
    result = A.linear_probe(fitted_ae, *digits)
    assert result["latent_dim"] == 8
    assert result["chance"] == pytest.approx(0.1)
    assert result["codes"] > 0.75  # chance is 0.10
    assert 0.5 < result["pca"] <= 1.0 and 0.5 < result["raw"] <= 1.0
    assert set(result["converged"]) == {"codes", "pca", "raw"}


def test_linear_probe_fits_a_clone_of_an_unfitted_model(digits):
    model = A.default_autoencoder(4, **{**SMALL, "epochs": 3})
    result = A.linear_probe(model, *digits, raw=False)
    assert "raw" not in result and result["codes"] > 0.3
    assert getattr(model, "n_features_in_", None) is None


# ------------------------------------------------------------------------------ compression
@pytest.mark.parametrize("bits", [2, 8, 12])
def test_quantize_round_trip_errs_by_at_most_half_a_step(bits):
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(200, 5)) * np.array([0.01, 1.0, 10.0, 100.0, 3.0]) + 5.0
    Q, ranges = A.quantize_codes(Z, bits)
    assert Q.dtype == (np.uint8 if bits <= 8 else np.uint16)
    assert Q.min() == 0 and Q.max() == 2**bits - 1
    step = (ranges[:, 1] - ranges[:, 0]) / (2**bits - 1)
    err = np.abs(A.dequantize(Q, ranges, bits) - Z)
    assert np.all(err <= step / 2 * (1 + 1e-9))
    assert err.max() > step.min() / 10  # the quantiser does something


def test_quantize_clips_to_given_ranges_and_handles_constant_columns():
    Z = np.array([[-5.0, 2.0], [0.5, 2.0], [5.0, 2.0]])
    Q, ranges = A.quantize_codes(Z, 8, ranges=[[0.0, 1.0], [2.0, 2.0]])
    np.testing.assert_array_equal(Q[:, 0], [0, 128, 255])
    np.testing.assert_array_equal(Q[:, 1], [0, 0, 0])
    np.testing.assert_allclose(A.dequantize(Q, ranges, 8)[:, 1], 2.0)


def test_quantize_refuses_bad_arguments():
    with pytest.raises(ValueError, match="bits must be"):
        A.quantize_codes(np.zeros((2, 2)), 0)
    with pytest.raises(ValueError, match="bits must be in 1"):
        A.quantize_codes(np.zeros((2, 2)), 17)
    with pytest.raises(ValueError, match=r"ranges must have shape \(K, 2\)"):
        A.quantize_codes(np.zeros((2, 2)), 8, ranges=np.zeros((3, 2)))
    with pytest.raises(ValueError, match="outside 0"):
        A.dequantize(np.full((1, 1), 300), [[0.0, 1.0]], 8)


def test_rate_distortion_psnr_rises_with_latent_size_for_ae_and_pca(digits):
    X_train, _, X_test, _ = digits
    rows = A.rate_distortion([2, 8, 24], X_train, X_test, model_params=SMALL)
    assert [r["latent_dim"] for r in rows] == [2, 8, 24]
    assert [r["bits_per_image"] for r in rows] == [16, 64, 192]
    for key in ("psnr_ae", "psnr_pca"):
        values = [r[key] for r in rows]
        assert values[0] < values[1] < values[2], (key, values)
    for r in rows:  # 8-bit quantisation costs little
        assert abs(r["psnr_ae"] - r["psnr_ae_float"]) < 0.5
        assert abs(r["psnr_pca"] - r["psnr_pca_float"]) < 0.5


def test_rate_distortion_accepts_fitted_models(digits, fitted_ae):
    X_train, _, X_test, _ = digits
    (row,) = A.rate_distortion([fitted_ae], X_train, X_test, bits=4)
    assert row["latent_dim"] == 8 and row["bits_per_image"] == 32 and row["range_bits"] == 2 * 8 * 32
    assert row["psnr_ae"] < row["psnr_ae_float"] + 0.05  # 4 bits lose something, never gain much


# ------------------------------------------------------------------------------ denoising
def test_psnr_is_the_per_image_mean_of_ten_log10_range2_over_mse():
    clean = np.zeros((2, 4))
    other = np.array([[0.1] * 4, [0.01] * 4])  # MSE 1e-2 and 1e-4: 20 dB and 40 dB
    assert A.psnr(clean, other) == pytest.approx(30.0)
    assert A.psnr(clean * 255, other * 255, data_range=255.0) == pytest.approx(30.0)


def test_median_filter_removes_an_isolated_salt_pixel():
    img = np.zeros((1, 25))
    img[0, 12] = 1.0
    assert np.all(A.median_filter_images(img) == 0.0)
    with pytest.raises(ValueError, match="not a square"):
        A.median_filter_images(np.zeros((1, 10)))


def test_denoising_table_denoiser_beats_the_noisy_input(digits):
    X_train, _, X_test, _ = digits
    rows = A.denoising_table(X_train, X_test[:300], noise_levels={"masking": (0.5,), "salt_pepper": (0.2,)},
                             model_params={**SMALL, "hidden_sizes": (64,), "latent_dim": 32})
    assert [(r["noise"], r["noise_level"]) for r in rows] == [("masking", 0.5), ("salt_pepper", 0.2)]
    for r in rows:
        assert r["gain"] > 2.0, r
        assert r["psnr_denoised"] > r["psnr_plain_ae"], r  # training on noise matters
        assert r["psnr_median"] is not None


# ------------------------------------------------------------------------------ generation
def test_latent_gmm_sampler_decodes_reproducible_samples_in_range(digits, fitted_ae):
    X_train = digits[0]
    sampler = A.LatentGMMSampler(fitted_ae, n_components=5, random_state=0).fit(X_train)
    assert sampler.autoencoder_ is fitted_ae
    S = sampler.sample(16, random_state=1)
    assert S.shape == (16, 64) and S.min() >= 0.0 and S.max() <= 1.0
    np.testing.assert_array_equal(S, sampler.sample(16, random_state=1))
    assert not np.array_equal(S, sampler.sample(16, random_state=2))
    assert sampler.score_samples(X_train[:10]).shape == (10,)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_latent_gmm_codes_have_the_mixture_mean_and_covariance(digits, fitted_ae, covariance_type):
    sampler = A.LatentGMMSampler(fitted_ae, n_components=1, covariance_type=covariance_type,
                                 random_state=0).fit(digits[0])
    Z = sampler.sample_codes(20000, random_state=0)
    gmm = sampler.gmm_
    cov = {"full": lambda c: c[0], "tied": lambda c: c, "diag": lambda c: np.diag(c[0]),
           "spherical": lambda c: c[0] * np.eye(8)}[covariance_type](gmm.covariances_)
    se = np.sqrt(np.diag(cov) / Z.shape[0])
    assert np.all(np.abs(Z.mean(axis=0) - gmm.means_[0]) < 5 * se)
    np.testing.assert_allclose(np.cov(Z, rowvar=False), cov, atol=0.05 * np.abs(cov).max())


def test_latent_gmm_sampler_requires_fit():
    with pytest.raises(NotFittedError):
        A.LatentGMMSampler(Autoencoder()).sample(2)


def test_interpolate_starts_and_ends_at_the_reconstructions(digits, fitted_ae):
    X = digits[2]
    path = A.interpolate(fitted_ae, X[0], X[1], steps=5)
    assert path.shape == (5, 64)
    np.testing.assert_allclose(path[0], fitted_ae.reconstruct(X[:1])[0], atol=1e-6)
    np.testing.assert_allclose(path[-1], fitted_ae.reconstruct(X[1:2])[0], atol=1e-6)
    grid = A.interpolate(fitted_ae, X[:3], X[3:6], steps=4)
    assert grid.shape == (12, 64)
    np.testing.assert_allclose(grid[4], fitted_ae.reconstruct(X[1:2])[0], atol=1e-6)  # pair 1, t = 0


def test_interpolate_with_a_vae_decodes_the_posterior_means(digits):
    X = digits[0]
    vae = VAE(hidden_sizes=(32,), latent_dim=4, epochs=3, verbose=0, random_state=0).fit(X)
    path = A.interpolate(vae, X[0], X[1], steps=3)
    mid = vae.inverse_transform(0.5 * (vae.transform(X[:1]) + vae.transform(X[1:2])))
    np.testing.assert_allclose(path[1], mid[0], atol=1e-6)


def test_frechet_pca_distance_is_small_within_and_large_between_distributions():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2000, 10)), rng.normal(size=(2000, 10))
    assert A.frechet_pca_distance(a, a, n_components=5) == pytest.approx(0.0, abs=1e-6)
    same = A.frechet_pca_distance(a, b, n_components=5)
    shifted = A.frechet_pca_distance(a + 1.0, b, n_components=5)
    assert same < 0.1 and shifted > 2.0  # ‖shift in the top 5 directions‖² is about 5


# ------------------------------------------------------------------------------ anomaly detection
def test_anomaly_metrics_on_perfect_and_reversed_scores():
    y = np.array([0, 0, 1, 1])
    assert A.anomaly_metrics(y, [0.1, 0.2, 0.8, 0.9]) == {"auroc": 1.0, "average_precision": 1.0,
                                                          "prevalence": 0.5}
    assert A.anomaly_metrics(y, [0.9, 0.8, 0.2, 0.1])["auroc"] == 0.0
    with pytest.raises(ValueError, match="both normal"):
        A.anomaly_metrics([1, 1], [0.1, 0.2])


def test_pca_reconstruction_detector_scores_minus_the_squared_error(digits):
    X = digits[0]
    det = A.PCAReconstructionDetector(5).fit(X)
    pca = PCA(5).fit(X)
    expected = -np.sum((X - pca.inverse_transform(pca.transform(X))) ** 2, axis=1)
    np.testing.assert_allclose(det.score_samples(X), expected, rtol=1e-4, atol=1e-5)
    with pytest.raises(NotFittedError):
        A.PCAReconstructionDetector().score_samples(X)


def test_one_class_auroc_reports_ae_and_baselines_per_class_and_mean(digits):
    model = A.default_autoencoder(4, **SMALL)
    rows, scores = A.one_class_auroc(*digits, classes=[0, 1], models={"autoencoder (reconstruction)":
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


def test_ood_auroc_reports_every_score_and_the_likelihoods(digits):
    X_train, y_train, X_test, y_test = digits
    vae = VAE(hidden_sizes=(32,), latent_dim=4, epochs=30, batch_size=32, learning_rate=3e-3, verbose=0,
              random_state=0)
    rows, extra = A.ood_auroc(X_train[y_train < 5], X_test[y_test < 5], X_test[y_test >= 5],
                              autoencoder={"AE bce": A.default_autoencoder(4, **SMALL),
                                           "AE mse": A.default_autoencoder(4, loss="mse", **SMALL)},
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
    X_train, X_test, is_anomaly = A.breast_cancer_split(0.6, random_state=0)
    assert X_train.shape == (214, 30) and X_test.shape == (143 + 212, 30)
    assert is_anomaly.sum() == 212
    np.testing.assert_allclose(X_train.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(X_train.std(axis=0), 1.0, atol=1e-4)


def test_tabular_auroc_breast_cancer_autoencoder_above_0_9_with_baselines():
    rows = A.tabular_auroc(*A.breast_cancer_split(random_state=0))
    by = {r["method"]: r for r in rows}
    assert set(by) == {"autoencoder (mse)", "VAE gaussian (elbo)", "PCA reconstruction (K=4)", "IsolationForest"}
    assert by["autoencoder (mse)"]["auroc"] > 0.9
    for r in rows:
        assert 0.5 < r["auroc"] <= 1.0 and r["average_precision"] > r["prevalence"]
