"""Generation: a Gaussian mixture in code space, decoded interpolations, a Fréchet distance."""

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from npae.applications.generation import LatentGMMSampler, frechet_pca_distance, interpolate
from npae.models import VAE, Autoencoder


def test_latent_gmm_sampler_decodes_reproducible_samples_in_range(digits, fitted_ae):
    X_train = digits[0]
    sampler = LatentGMMSampler(fitted_ae, n_components=5, random_state=0).fit(X_train)
    assert sampler.autoencoder_ is fitted_ae
    S = sampler.sample(16, random_state=1)
    assert S.shape == (16, 64) and S.min() >= 0.0 and S.max() <= 1.0
    np.testing.assert_array_equal(S, sampler.sample(16, random_state=1))
    assert not np.array_equal(S, sampler.sample(16, random_state=2))
    assert sampler.score_samples(X_train[:10]).shape == (10,)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_latent_gmm_codes_have_the_mixture_mean_and_covariance(digits, fitted_ae, covariance_type):
    sampler = LatentGMMSampler(fitted_ae, n_components=1, covariance_type=covariance_type,
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
        LatentGMMSampler(Autoencoder()).sample(2)


def test_latent_gmm_sampler_refuses_a_sample_count_below_one(digits, fitted_ae):
    sampler = LatentGMMSampler(fitted_ae, n_components=1, random_state=0).fit(digits[0][:200])
    with pytest.raises(ValueError, match="n_samples must be an integer >= 1; got 0"):
        sampler.sample_codes(0)


def test_interpolate_starts_and_ends_at_the_reconstructions(digits, fitted_ae):
    X = digits[2]
    path = interpolate(fitted_ae, X[0], X[1], steps=5)
    assert path.shape == (5, 64)
    np.testing.assert_allclose(path[0], fitted_ae.reconstruct(X[:1])[0], atol=1e-6)
    np.testing.assert_allclose(path[-1], fitted_ae.reconstruct(X[1:2])[0], atol=1e-6)
    grid = interpolate(fitted_ae, X[:3], X[3:6], steps=4)
    assert grid.shape == (12, 64)
    np.testing.assert_allclose(grid[4], fitted_ae.reconstruct(X[1:2])[0], atol=1e-6)  # pair 1, t = 0


def test_interpolate_needs_both_ends(digits, fitted_ae):
    X = digits[2]
    with pytest.raises(ValueError, match="steps must be an integer >= 2; got 1"):
        interpolate(fitted_ae, X[0], X[1], steps=1)


def test_interpolate_with_a_vae_decodes_the_posterior_means(digits):
    X = digits[0]
    vae = VAE(hidden_sizes=(32,), latent_dim=4, epochs=3, verbose=0, random_state=0).fit(X)
    path = interpolate(vae, X[0], X[1], steps=3)
    mid = vae.inverse_transform(0.5 * (vae.transform(X[:1]) + vae.transform(X[1:2])))
    np.testing.assert_allclose(path[1], mid[0], atol=1e-6)


def test_frechet_pca_distance_is_small_within_and_large_between_distributions():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2000, 10)), rng.normal(size=(2000, 10))
    assert 0.0 <= frechet_pca_distance(a, a, n_components=5) < 1e-6  # never a round-off below zero
    same = frechet_pca_distance(a, b, n_components=5)
    shifted = frechet_pca_distance(a + 1.0, b, n_components=5)
    assert same < 0.1 and shifted > 2.0  # ‖shift in the top 5 directions‖² is about 5


def test_frechet_pca_distance_names_a_missing_value():
    a = np.random.default_rng(0).normal(size=(50, 4))
    b = a.copy()
    b[7, 3] = np.nan
    with pytest.raises(ValueError, match="X_b contains NaN.*row 7, column 3"):
        frechet_pca_distance(a, b, n_components=2)


def test_frechet_pca_distance_in_one_dimension_is_the_closed_form():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0.0, 1.0, size=(4000, 1)), rng.normal(1.0, 2.0, size=(4000, 1))
    m_a, m_b, s_a, s_b = a.mean(), b.mean(), a.std(ddof=1), b.std(ddof=1)
    expected = (m_a - m_b) ** 2 + (s_a - s_b) ** 2  # 1-D: (m_a − m_b)² + (σ_a − σ_b)²
    assert frechet_pca_distance(a, b) == pytest.approx(expected, rel=1e-9)
    c = np.hstack([a, 0.1 * a])  # one component, u = (1, 0.1)/√1.01: the shift (1, 1) projects to 1.1/√1.01
    assert frechet_pca_distance(c, c + 1.0, n_components=1) == pytest.approx(1.21 / 1.01, rel=1e-9)


def test_frechet_pca_distance_refuses_no_components_and_single_rows():
    a = np.random.default_rng(0).normal(size=(50, 4))
    with pytest.raises(ValueError, match="n_components must be an integer >= 1; got 0"):
        frechet_pca_distance(a, a, n_components=0)
    with pytest.raises(ValueError, match="at least 2 rows in X_a"):
        frechet_pca_distance(a[:1], a)
    with pytest.raises(ValueError, match="same number of features"):
        frechet_pca_distance(a[:, :3], a)
