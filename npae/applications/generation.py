"""Generation: new images from an autoencoder's code space, and a distance to judge them by.

``LatentGMMSampler`` fits a Gaussian mixture to the codes of a plain autoencoder and decodes
its samples (latent diffusion in miniature, with a GMM as the latent prior); ``interpolate``
decodes straight lines between two codes; ``frechet_pca_distance`` is a Fréchet distance
between sample sets in a PCA feature space.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError

from npae import backend as B
from npae.applications._common import _fitted, _host2d
from npae.validation import check_int_at_least

__all__ = ["LatentGMMSampler", "frechet_pca_distance", "interpolate"]


class LatentGMMSampler(BaseEstimator):
    """A Gaussian mixture in the code space of a plain autoencoder, decoded into samples.

    The autoencoder compresses x to z = encode(x); a ``GaussianMixture`` with C components
    models p(z) = Σ_c π_c N(z; m_c, S_c); a sample is decode(z), z ~ p(z). This is latent
    generative modelling in miniature (latent diffusion replaces the GMM by a diffusion model):
    the autoencoder need not be variational, because the prior is fitted to its codes after
    training instead of being imposed on them.

    Parameters
    ----------
    autoencoder : npae estimator
        Used as it is if fitted; otherwise a clone is fitted on the data given to ``fit``.
    n_components : int, default=10
        C, the mixture components.
    covariance_type : {"full", "tied", "diag", "spherical"}, default="full"
    random_state : None or int, default=None
        Seeds the mixture's initialisation.

    Attributes
    ----------
    autoencoder_ : the fitted autoencoder
    gmm_ : sklearn.mixture.GaussianMixture, fitted on the codes (N, K)
    """

    def __init__(self, autoencoder, n_components=10, covariance_type="full", random_state=None):
        self.autoencoder = autoencoder
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.random_state = random_state

    def fit(self, X, y=None):
        """Fit the autoencoder (if needed) and the mixture on the codes of X (N, D); returns self."""
        from sklearn.mixture import GaussianMixture

        X = _host2d(X)
        self.autoencoder_ = _fitted(self.autoencoder, X)
        Z = _host2d(self.autoencoder_.transform(X))
        self.gmm_ = GaussianMixture(n_components=self.n_components, covariance_type=self.covariance_type,
                                    random_state=self.random_state).fit(Z)
        self.n_features_in_ = X.shape[1]
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "gmm_"):
            raise NotFittedError("This LatentGMMSampler instance is not fitted yet. Call 'fit' with appropriate "
                                 "arguments before using this estimator.")

    def sample_codes(self, n_samples: int, random_state=None) -> np.ndarray:
        """Draw z ~ Σ_c π_c N(m_c, S_c): a component by its weight, then m_c + L_c·eps (S_c = L_c L_cᵀ).

        Parameters
        ----------
        n_samples : int
        random_state : None, int or numpy.random.Generator

        Returns
        -------
        ndarray of shape (n_samples, K), float64
        """
        self._check_fitted()
        n = check_int_at_least(n_samples, "n_samples", 1)
        rng = B.check_random_state(random_state)
        gmm = self.gmm_
        K = gmm.means_.shape[1]
        comp = rng.choice(gmm.weights_.size, size=n, p=gmm.weights_ / gmm.weights_.sum())
        eps = rng.standard_normal((n, K))
        cov = gmm.covariances_
        if self.covariance_type == "full":
            L = np.linalg.cholesky(cov)  # (C, K, K)
            offset = np.einsum("nij,nj->ni", L[comp], eps)
        elif self.covariance_type == "tied":
            offset = eps @ np.linalg.cholesky(cov).T
        elif self.covariance_type == "diag":
            offset = eps * np.sqrt(cov[comp])
        else:
            offset = eps * np.sqrt(cov[comp])[:, None]
        return gmm.means_[comp] + offset

    def sample(self, n_samples: int, random_state=None) -> np.ndarray:
        """Decoded samples, shape (n_samples, D), on the host (data space: [0, 1] for BCE models)."""
        Z = self.sample_codes(n_samples, random_state)
        return B.to_numpy(self.autoencoder_.inverse_transform(Z))

    def score_samples(self, X) -> np.ndarray:
        """log p(z) of the codes of X under the mixture, shape (N,) (higher = more typical)."""
        self._check_fitted()
        return self.gmm_.score_samples(_host2d(self.autoencoder_.transform(_host2d(X))))


def interpolate(model, x_a, x_b, steps: int = 8) -> np.ndarray:
    """Decode the straight line between the codes of x_a and x_b.

        z_t = (1 − t)·encode(x_a) + t·encode(x_b),   t = 0, 1/(steps − 1), …, 1

    For a VAE, encode is the posterior mean mu.

    Parameters
    ----------
    model : fitted npae model
    x_a, x_b : arrays of shape (D,) or (P, D)
        One pair, or P pairs row by row.
    steps : int >= 2, default=8

    Returns
    -------
    ndarray of shape (steps, D) for one pair, (P·steps, D) for P pairs (pair by pair, so
    ``plot_samples(out, n_cols=steps)`` draws one pair per row)
    """
    steps = check_int_at_least(steps, "steps", 2)
    single = np.ndim(B.to_numpy(x_a)) == 1
    A = _host2d(np.atleast_2d(B.to_numpy(x_a)), "x_a")
    Bx = _host2d(np.atleast_2d(B.to_numpy(x_b)), "x_b")
    if A.shape != Bx.shape:
        raise ValueError(f"x_a and x_b must have the same shape; got {A.shape} and {Bx.shape}.")
    Za = _host2d(model.transform(A))
    Zb = _host2d(model.transform(Bx))
    t = np.linspace(0.0, 1.0, steps)[None, :, None]
    Z = ((1.0 - t) * Za[:, None, :] + t * Zb[:, None, :]).reshape(-1, Za.shape[1])
    out = B.to_numpy(model.inverse_transform(Z))
    return out if not single else out.reshape(steps, -1)


def frechet_pca_distance(X_a, X_b, *, reference=None, n_components: int = 50) -> float:
    """Fréchet distance between two sample sets in a PCA feature space (an FID without Inception).

        FD = ‖m_a − m_b‖² + Tr(S_a + S_b − 2 (S_a S_b)^½)

    where m, S are the mean and covariance of the PCA coefficients. PCA (``n_components``) is
    fitted on ``reference`` (default X_b). Lower is closer; two independent draws of the same
    distribution give a small positive floor that depends on the sample size, so compare
    generators at equal sample sizes and report a real-vs-real figure beside them.

    Parameters
    ----------
    X_a, X_b : arrays of shape (N_a, D), (N_b, D)
    reference : array of shape (N_r, D), optional
    n_components : int, default=50
        At least 1; at most min(N_r, D) are used.

    Returns
    -------
    float
        ≥ 0: a round-off below zero (two identical sets) is returned as 0.
    """
    from scipy.linalg import sqrtm
    from sklearn.decomposition import PCA

    n_components = check_int_at_least(n_components, "n_components", 1)
    X_a, X_b = _host2d(X_a, "X_a"), _host2d(X_b, "X_b")
    ref = X_b if reference is None else _host2d(reference, "reference")
    for name, X in (("X_a", X_a), ("X_b", X_b), ("reference", ref)):
        if X.shape[0] < 2:
            raise ValueError(f"frechet_pca_distance needs at least 2 rows in {name} to estimate a covariance; got "
                             f"{X.shape[0]}. A useful estimate needs many more (hundreds to thousands of rows).")
    if X_a.shape[1] != ref.shape[1] or X_b.shape[1] != ref.shape[1]:
        raise ValueError(f"X_a, X_b and reference must have the same number of features; got {X_a.shape[1]}, "
                         f"{X_b.shape[1]} and {ref.shape[1]}.")
    pca = PCA(n_components=min(n_components, ref.shape[1], ref.shape[0]), random_state=0).fit(ref)
    F_a, F_b = pca.transform(X_a), pca.transform(X_b)
    m_a, m_b = F_a.mean(axis=0), F_b.mean(axis=0)
    # atleast_2d: with one component np.cov returns a 0-d array.
    S_a, S_b = np.atleast_2d(np.cov(F_a, rowvar=False)), np.atleast_2d(np.cov(F_b, rowvar=False))
    # sqrtm of a product of two covariances may carry round-off imaginary parts; the true root is real.
    root = np.real(sqrtm(S_a @ S_b))
    return max(float(np.sum((m_a - m_b) ** 2) + np.trace(S_a + S_b - 2.0 * root)), 0.0)
