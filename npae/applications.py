"""What autoencoders are used for, each measured beside a classical baseline in the same run.

Host code: every function takes NumPy arrays or arrays of any npae backend (they pass through
``npae.backend.to_numpy`` at the door), works in NumPy and scikit-learn, and returns plain Python
numbers, dicts and NumPy arrays, ready for a table or a plot.

* Representation: :func:`linear_probe` — test accuracy of a logistic regression on the codes,
  on the raw pixels and on PCA with as many components as the code has dimensions.
* Compression: :func:`quantize_codes` / :func:`dequantize` (per-dimension uniform quantisation)
  and :func:`rate_distortion` — bits per image against PSNR over latent sizes, beside PCA.
* Denoising: :func:`psnr` (from ``npae.models.denoising``) and :func:`denoising_table` — PSNR of
  the noisy and the denoised images for the three corruptions, with a plain autoencoder and a
  3 × 3 median filter as baselines.
* Generation: :class:`LatentGMMSampler` — a Gaussian mixture fitted in the code space of a plain
  autoencoder and decoded (latent diffusion in miniature, with a GMM as the latent prior);
  :func:`interpolate` — decoded straight lines between two codes; :func:`frechet_pca_distance` —
  a Fréchet distance between sample sets in a PCA feature space.
* Anomaly detection, always scored with continuous scores (ROC AUC, average precision), never
  0/1 predictions: :func:`evaluate_detectors` (any detectors with scikit-learn's outlier
  contract), :class:`PCAReconstructionDetector` (the PCA baseline), and three protocols:
  :func:`one_class_auroc` (one class is normal, the rest of the test set anomalous),
  :func:`ood_auroc` (in-distribution test set vs an out-of-distribution one, with the
  likelihood scores and the complexity correction of Serrà et al., 2020) and
  :func:`tabular_auroc` with :func:`breast_cancer_split` (benign normal, malignant anomalous).

Anomaly scores returned here are "higher = more anomalous" (``−score_samples``), the convention
of ``roc_auc_score`` with anomalies as the positive class.
"""

from __future__ import annotations

import math
import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin, clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from npae import backend as B
from npae.models.denoising import psnr

__all__ = [
    "LatentGMMSampler",
    "PCAReconstructionDetector",
    "anomaly_metrics",
    "breast_cancer_split",
    "default_autoencoder",
    "denoising_table",
    "dequantize",
    "evaluate_detectors",
    "frechet_pca_distance",
    "interpolate",
    "linear_probe",
    "median_filter_images",
    "one_class_auroc",
    "ood_auroc",
    "psnr",
    "quantize_codes",
    "rate_distortion",
    "tabular_auroc",
]


# ------------------------------------------------------------------------------ helpers
def _host2d(X, name: str = "X") -> np.ndarray:
    """X as a 2-D floating host array (float32 stays float32, saving memory on image data)."""
    X = np.asarray(B.to_numpy(X))
    if X.ndim != 2:
        raise ValueError(f"Expected 2D array for {name}, got {X.ndim}D array instead: shape={X.shape}. "
                         "Reshape with X.reshape(-1, 1) for one feature or X.reshape(1, -1) for one sample.")
    if X.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers; got dtype {X.dtype}.")
    return X if X.dtype.kind == "f" else X.astype(np.float64)


def _host1d(y, name: str = "y") -> np.ndarray:
    y = np.asarray(B.to_numpy(y))
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got shape {y.shape}.")
    return y


def _is_fitted(model) -> bool:
    return getattr(model, "n_features_in_", None) is not None


def _latent_dim(model) -> int:
    return int(model.latent_dim)


def _check_int(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}.")
    return int(value)


def default_autoencoder(latent_dim: int = 32, *, hidden_sizes=(256,), epochs: int = 20, loss: str = "bce",
                        random_state=0, **params):
    """The plain autoencoder the helpers build when given only a latent size.

    Parameters
    ----------
    latent_dim : int, default=32
    hidden_sizes : tuple of int, default=(256,)
    epochs : int, default=20
    loss : {"bce", "mse"}, default="bce"
    random_state : None, int or Generator, default=0
    **params
        Any other ``npae.Autoencoder`` hyperparameter.

    Returns
    -------
    npae.Autoencoder (unfitted, ``verbose=0`` unless given)
    """
    from npae.models.autoencoder import Autoencoder

    params.setdefault("verbose", 0)
    return Autoencoder(hidden_sizes=hidden_sizes, latent_dim=latent_dim, epochs=epochs, loss=loss,
                       random_state=random_state, **params)


def _fitted(model, X):
    """``model`` if it is fitted, else a clone fitted on X (the caller's object is not changed)."""
    return model if _is_fitted(model) else clone(model).fit(X)


# ------------------------------------------------------------------------------ representation
def linear_probe(model, X_train, y_train, X_test, y_test, *, max_iter: int = 2000, C: float = 1.0,
                 raw: bool = True) -> dict:
    """Linear-probe accuracy: logistic regression on codes vs raw pixels vs PCA of the same size.

    Each representation is standardized (``StandardScaler`` fitted on the training rows) and
    classified by scikit-learn's multinomial ``LogisticRegression`` (L2, strength 1/C, lbfgs);
    the figure is the accuracy on the test rows. PCA has K = ``model.latent_dim`` components and
    is fitted on X_train, as the autoencoder was; both are unsupervised, only the probe sees labels.

    Parameters
    ----------
    model : npae estimator
        A fitted model with ``transform`` (an unfitted one is cloned and fitted on X_train).
    X_train : array of shape (N, D)
    y_train : array of shape (N,)
    X_test : array of shape (N_test, D)
    y_test : array of shape (N_test,)
    max_iter : int, default=2000
        lbfgs iterations of each probe.
    C : float, default=1.0
        Inverse L2 strength of the probes.
    raw : bool, default=True
        Also probe the raw D-dimensional input (the slowest of the three for images).

    Returns
    -------
    dict
        ``{"latent_dim": K, "codes": acc, "pca": acc, "raw": acc (if raw), "chance": 1/n_classes,
        "converged": {name: bool}}``; accuracies in [0, 1].
    """
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X_train, X_test = _host2d(X_train, "X_train"), _host2d(X_test, "X_test")
    y_train, y_test = _host1d(y_train, "y_train"), _host1d(y_test, "y_test")
    model = _fitted(model, X_train)
    K = _latent_dim(model)
    features = {
        "codes": (_host2d(model.transform(X_train)), _host2d(model.transform(X_test))),
    }
    pca = PCA(n_components=K, random_state=0).fit(X_train)
    features["pca"] = (pca.transform(X_train), pca.transform(X_test))
    if raw:
        features["raw"] = (X_train, X_test)
    out = {"latent_dim": K, "chance": 1.0 / np.unique(y_train).size, "converged": {}}
    for name, (F_train, F_test) in features.items():
        probe = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            probe.fit(F_train, y_train)
        out["converged"][name] = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
        out[name] = float(probe.score(F_test, y_test))
    return out


# ------------------------------------------------------------------------------ compression
def quantize_codes(Z, bits: int = 8, ranges=None):
    """Uniform scalar quantisation of each code dimension to ``bits`` bits.

        step_k = (max_k − min_k) / (2^bits − 1),   q_nk = round((z_nk − min_k) / step_k) ∈ {0 … 2^bits − 1}

    Values outside [min_k, max_k] (codes of new data, with ``ranges`` from the training codes)
    are clipped to it. A constant dimension (max_k = min_k) gets q = 0.

    Parameters
    ----------
    Z : array of shape (N, K)
    bits : int in 1 … 16, default=8
    ranges : array of shape (K, 2), optional
        [min_k, max_k] per dimension; default the column minima and maxima of Z.

    Returns
    -------
    Q : ndarray of shape (N, K), uint8 (bits ≤ 8) or uint16
    ranges : ndarray of shape (K, 2), float64
        What :func:`dequantize` needs, besides ``bits``.

    Notes
    -----
    Inside the range the round trip errs by at most step_k / 2 per entry.
    """
    Z = _host2d(Z, "Z")
    bits = _check_int(bits, "bits")
    if bits > 16:
        raise ValueError(f"bits must be in 1 … 16; got {bits}.")
    if ranges is None:
        ranges = np.stack([Z.min(axis=0), Z.max(axis=0)], axis=1)
    ranges = np.asarray(ranges, dtype=np.float64)
    if ranges.shape != (Z.shape[1], 2):
        raise ValueError(f"ranges must have shape (K, 2) = ({Z.shape[1]}, 2); got {ranges.shape}.")
    if np.any(ranges[:, 1] < ranges[:, 0]):
        raise ValueError("ranges must hold [min, max] rows with min <= max.")
    levels = 2**bits - 1
    span = ranges[:, 1] - ranges[:, 0]
    step = np.where(span > 0, span / levels, 1.0)
    q = np.rint((np.clip(Z, ranges[:, 0], ranges[:, 1]) - ranges[:, 0]) / step)
    return np.clip(q, 0, levels).astype(np.uint8 if bits <= 8 else np.uint16), ranges


def dequantize(Q, ranges, bits: int = 8) -> np.ndarray:
    """Invert :func:`quantize_codes`: ẑ_nk = min_k + q_nk · step_k.

    Parameters
    ----------
    Q : array of shape (N, K), integers in 0 … 2^bits − 1
    ranges : array of shape (K, 2)
    bits : int, default=8
        As given to :func:`quantize_codes`.

    Returns
    -------
    Z_hat : ndarray of shape (N, K), float64
    """
    Q = np.asarray(B.to_numpy(Q))
    ranges = np.asarray(ranges, dtype=np.float64)
    bits = _check_int(bits, "bits")
    if Q.ndim != 2 or ranges.shape != (Q.shape[1], 2):
        raise ValueError(f"Q must be (N, K) and ranges (K, 2); got {Q.shape} and {ranges.shape}.")
    levels = 2**bits - 1
    if Q.size and (Q.min() < 0 or Q.max() > levels):
        raise ValueError(f"Q holds values outside 0 … {levels} (bits={bits}); pass the bits used to quantize.")
    span = ranges[:, 1] - ranges[:, 0]
    return ranges[:, 0] + Q.astype(np.float64) * (span / levels)


def rate_distortion(models_or_latent_sizes, X_train, X_test, *, bits: int = 8, data_range: float = 1.0,
                    clip: bool = True, model_params: dict | None = None) -> list:
    """Bits per image vs PSNR of decoded quantised codes, autoencoder beside PCA of the same size.

    For each model (or latent size K, for which :func:`default_autoencoder` is fitted on
    X_train), the codes of X_train give the per-dimension ranges, the codes of X_test are
    quantised with them to ``bits`` bits (:func:`quantize_codes`), dequantised, decoded and
    compared with X_test by :func:`psnr`. PCA with K components, fitted on X_train, goes through
    the same quantiser (ranges from the training coefficients) and ``inverse_transform``.

    Rate: **K·bits per image**. The 2·K range values (and the decoder: network weights, or the
    PCA mean and basis) are fitted once on the training set and shared by encoder and decoder,
    like a codebook, so they are not counted per image; sending the ranges as float32 would cost
    2·K·32 bits once per data set (``range_bits``), e.g. 0.06 bit per image over 10,000 images
    at K = 10. No entropy coding: the figure is a fixed-length code.

    Parameters
    ----------
    models_or_latent_sizes : iterable of int or npae models
        Latent sizes K, or fitted (or unfitted, then fitted on X_train) models with
        ``transform``/``inverse_transform`` and ``latent_dim``.
    X_train : array of shape (N, D)
    X_test : array of shape (N_test, D)
    bits : int, default=8
    data_range : float, default=1.0
        R in PSNR = 10·log10(R²/MSE).
    clip : bool, default=True
        Clip every decoded image (autoencoder and PCA) to [min X_train, max X_train], a free
        improvement for PCA whose reconstructions leave the data range (a BCE decoder's do not).
    model_params : dict, optional
        Passed to :func:`default_autoencoder` for integer entries.

    Returns
    -------
    list of dict, one per entry, sorted by K
        ``latent_dim``, ``bits_per_image`` (= K·bits), ``range_bits`` (= 2·K·32, sent once),
        ``psnr_ae`` and ``psnr_pca`` (quantised), ``psnr_ae_float`` and ``psnr_pca_float``
        (unquantised codes, to show what quantisation costs).
    """
    from sklearn.decomposition import PCA

    X_train, X_test = _host2d(X_train, "X_train"), _host2d(X_test, "X_test")
    bits = _check_int(bits, "bits")
    lo, hi = float(X_train.min()), float(X_train.max())
    finish = (lambda A: np.clip(A, lo, hi)) if clip else (lambda A: A)
    rows = []
    for entry in models_or_latent_sizes:
        if isinstance(entry, numbers.Integral) and not isinstance(entry, bool):
            model = default_autoencoder(int(entry), **(model_params or {})).fit(X_train)
        else:
            model = _fitted(entry, X_train)
        K = _latent_dim(model)
        Z_train = _host2d(model.transform(X_train))
        Z_test = _host2d(model.transform(X_test))
        Q, ranges = quantize_codes(Z_test, bits, ranges=quantize_codes(Z_train, bits)[1])

        def decode(Z, model=model):
            return finish(_host2d(model.inverse_transform(Z)))

        pca = PCA(n_components=K, random_state=0).fit(X_train)
        C_test = pca.transform(X_test)
        Qp, ranges_p = quantize_codes(C_test, bits, ranges=quantize_codes(pca.transform(X_train), bits)[1])
        rows.append({
            "latent_dim": K,
            "bits_per_image": K * bits,
            "range_bits": 2 * K * 32,
            "psnr_ae": psnr(X_test, decode(dequantize(Q, ranges, bits)), data_range),
            "psnr_pca": psnr(X_test, finish(pca.inverse_transform(dequantize(Qp, ranges_p, bits))), data_range),
            "psnr_ae_float": psnr(X_test, decode(Z_test), data_range),
            "psnr_pca_float": psnr(X_test, finish(pca.inverse_transform(C_test)), data_range),
        })
    return sorted(rows, key=lambda r: r["latent_dim"])


# ------------------------------------------------------------------------------ denoising
def median_filter_images(X, image_shape=None, size: int = 3) -> np.ndarray:
    """A ``size`` × ``size`` median filter on each row seen as an image (the classical denoiser).

    Parameters
    ----------
    X : array of shape (N, D)
    image_shape : (h, w), optional
        Default a square, D = h·w with h = w.
    size : int, default=3

    Returns
    -------
    ndarray of shape (N, D), float64
    """
    from scipy.ndimage import median_filter

    X = _host2d(X)
    if image_shape is None:
        side = math.isqrt(X.shape[1])
        if side * side != X.shape[1]:
            raise ValueError(f"D = {X.shape[1]} is not a square; pass image_shape=(h, w).")
        image_shape = (side, side)
    images = X.reshape(X.shape[0], *image_shape)
    return median_filter(images, size=(1, size, size), mode="nearest").reshape(X.shape)


DEFAULT_NOISE_LEVELS = {"gaussian": (0.1, 0.3), "masking": (0.25, 0.5), "salt_pepper": (0.1, 0.25)}


def denoising_table(X_train, X_test, *, noise_levels: dict | None = None, model_params: dict | None = None,
                    baselines: bool = True, data_range: float = 1.0, random_state=0) -> list:
    """PSNR of noisy and denoised test images for each corruption and noise level.

    For every (noise, level) a ``DenoisingAutoencoder`` is trained on X_train with that
    corruption; X_test is corrupted once with a fixed draw (``model.corrupt``) and denoised.
    Baselines on the same noisy images: a plain ``Autoencoder`` of the same architecture trained
    on clean data only (fitted once), and a 3 × 3 median filter (images only).

    Parameters
    ----------
    X_train : array of shape (N, D), in [0, 1] for the default BCE loss
    X_test : array of shape (N_test, D)
    noise_levels : dict[str, tuple of float], optional
        Default ``{"gaussian": (0.1, 0.3), "masking": (0.25, 0.5), "salt_pepper": (0.1, 0.25)}``:
        σ for Gaussian noise, the corrupted fraction otherwise.
    model_params : dict, optional
        Hyperparameters of both autoencoders (default: those of :func:`default_autoencoder`).
    baselines : bool, default=True
    data_range : float, default=1.0
    random_state : int, default=0
        Seeds the models and the test corruption.

    Returns
    -------
    list of dict
        ``noise``, ``noise_level``, ``psnr_noisy``, ``psnr_denoised`` (dB), ``gain`` (dB) and,
        with baselines, ``psnr_plain_ae`` and ``psnr_median`` (None when D is not a square).
    """
    from npae.models.denoising import DenoisingAutoencoder

    X_train, X_test = _host2d(X_train, "X_train"), _host2d(X_test, "X_test")
    levels = DEFAULT_NOISE_LEVELS if noise_levels is None else noise_levels
    params = {"hidden_sizes": (256,), "latent_dim": 32, "epochs": 20, "verbose": 0, **(model_params or {})}
    params.setdefault("random_state", random_state)
    plain = default_autoencoder(**params).fit(X_train) if baselines else None
    square = math.isqrt(X_test.shape[1]) ** 2 == X_test.shape[1]
    rows = []
    for noise, values in levels.items():
        for level in values:
            dae = DenoisingAutoencoder(noise=noise, noise_level=float(level), **params).fit(X_train)
            X_noisy = _host2d(dae.corrupt(X_test, random_state=random_state))
            row = {
                "noise": noise,
                "noise_level": float(level),
                "psnr_noisy": psnr(X_test, X_noisy, data_range),
                "psnr_denoised": psnr(X_test, _host2d(dae.denoise(X_noisy)), data_range),
            }
            row["gain"] = row["psnr_denoised"] - row["psnr_noisy"]
            if baselines:
                row["psnr_plain_ae"] = psnr(X_test, _host2d(plain.reconstruct(X_noisy)), data_range)
                row["psnr_median"] = psnr(X_test, median_filter_images(X_noisy), data_range) if square else None
            rows.append(row)
    return rows


# ------------------------------------------------------------------------------ generation
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
        n = _check_int(n_samples, "n_samples")
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
    steps = _check_int(steps, "steps", 2)
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

    Returns
    -------
    float
    """
    from scipy.linalg import sqrtm
    from sklearn.decomposition import PCA

    X_a, X_b = _host2d(X_a, "X_a"), _host2d(X_b, "X_b")
    ref = X_b if reference is None else _host2d(reference, "reference")
    pca = PCA(n_components=min(n_components, ref.shape[1], ref.shape[0]), random_state=0).fit(ref)
    F_a, F_b = pca.transform(X_a), pca.transform(X_b)
    m_a, m_b = F_a.mean(axis=0), F_b.mean(axis=0)
    S_a, S_b = np.cov(F_a, rowvar=False), np.cov(F_b, rowvar=False)
    root = sqrtm(S_a @ S_b)
    root = np.real(root)
    return float(np.sum((m_a - m_b) ** 2) + np.trace(S_a + S_b - 2.0 * root))


# ------------------------------------------------------------------------------ anomaly detection
class PCAReconstructionDetector(OutlierMixin, BaseEstimator):
    """The PCA baseline: minus the squared reconstruction error from K principal components.

        score(x) = −‖x − (m + (x − m) V Vᵀ)‖²,   V (D, K) the top principal directions

    This is the linear autoencoder's score (a linear autoencoder with MSE spans the same
    subspace), so it is the baseline an autoencoder has to beat.

    Parameters
    ----------
    n_components : int or float, default=32
        As ``sklearn.decomposition.PCA``: a count, or a share of variance in (0, 1).
    """

    def __init__(self, n_components=32):
        self.n_components = n_components

    def fit(self, X, y=None):
        """Fit the principal directions on X (N, D); returns self."""
        from sklearn.decomposition import PCA

        X = _host2d(X)
        self.pca_ = PCA(n_components=self.n_components, random_state=0).fit(X)
        self.n_features_in_ = X.shape[1]
        return self

    def score_samples(self, X) -> np.ndarray:
        """−‖x − x̂‖² per row, shape (N,): higher = more normal."""
        if not hasattr(self, "pca_"):
            raise NotFittedError("This PCAReconstructionDetector instance is not fitted yet. Call 'fit' with "
                                 "appropriate arguments before using this estimator.")
        X = _host2d(X)
        return -np.sum((X - self.pca_.inverse_transform(self.pca_.transform(X))) ** 2, axis=1)


def anomaly_metrics(is_anomaly, anomaly_scores) -> dict:
    """ROC AUC and average precision of continuous anomaly scores (higher = more anomalous).

    Parameters
    ----------
    is_anomaly : array of shape (N,), bool or 0/1
    anomaly_scores : array of shape (N,)

    Returns
    -------
    dict
        ``auroc`` (0.5 = chance), ``average_precision`` (chance = ``prevalence``), ``prevalence``.
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    y = _host1d(is_anomaly, "is_anomaly").astype(bool)
    s = _host1d(anomaly_scores, "anomaly_scores").astype(np.float64)
    if y.shape != s.shape:
        raise ValueError(f"is_anomaly {y.shape} and anomaly_scores {s.shape} must have the same shape.")
    if y.all() or not y.any():
        raise ValueError("is_anomaly must contain both normal (False) and anomalous (True) rows.")
    if not np.all(np.isfinite(s)):
        raise ValueError("anomaly_scores contains NaN or infinity.")
    return {"auroc": float(roc_auc_score(y, s)), "average_precision": float(average_precision_score(y, s)),
            "prevalence": float(y.mean())}


def evaluate_detectors(detectors: dict, X_train, X_test, is_anomaly) -> tuple:
    """Fit each detector on X_train, score X_test, and measure ROC AUC and average precision.

    Parameters
    ----------
    detectors : dict[str, estimator]
        Anything with scikit-learn's outlier contract: ``fit(X)`` and ``score_samples(X)`` with
        higher = more normal (``npae.AnomalyDetector``, ``IsolationForest``,
        :class:`PCAReconstructionDetector`, ...). They are fitted in place.
    X_train : array of shape (N, D)
    X_test : array of shape (N_test, D)
    is_anomaly : array of shape (N_test,), bool

    Returns
    -------
    rows : list of dict
        ``method``, ``auroc``, ``average_precision``, ``prevalence``, ``mean_score_normal`` and
        ``mean_score_anomalous`` (the detector's own score_samples, higher = more normal).
    anomaly_scores : dict[str, ndarray of shape (N_test,)]
        −score_samples per method, for ROC curves and histograms.
    """
    X_train, X_test = _host2d(X_train, "X_train"), _host2d(X_test, "X_test")
    y = _host1d(is_anomaly, "is_anomaly").astype(bool)
    rows, scores = [], {}
    for name, det in detectors.items():
        det.fit(X_train)
        s = np.asarray(B.to_numpy(det.score_samples(X_test)), dtype=np.float64)
        scores[name] = -s
        rows.append({"method": name, **anomaly_metrics(y, -s), "mean_score_normal": float(s[~y].mean()),
                     "mean_score_anomalous": float(s[y].mean())})
    return rows, scores


def _baselines(n_components: int, random_state) -> dict:
    from sklearn.ensemble import IsolationForest

    return {
        f"PCA reconstruction (K={n_components})": PCAReconstructionDetector(n_components),
        "IsolationForest": IsolationForest(n_estimators=100, random_state=random_state),
    }


def one_class_auroc(X_train, y_train, X_test, y_test, *, classes=None, models: dict | None = None,
                    n_components: int | None = None, random_state=0, return_scores: bool = False):
    """The one-class protocol: train on one class, score the whole test set, AUROC per class.

    For each normal class c: the detectors are fitted on the training rows of class c; the test
    rows of class c are normal and every other test row is an anomaly (on Fashion-MNIST, 10 %
    normal). Detectors: ``npae.AnomalyDetector(model, score=score)`` for each entry of
    ``models``, the PCA-reconstruction baseline with as many components as the first model's
    code, and ``IsolationForest`` on the raw input (100 trees), all measured in the same run.

    The loss matters: a BCE autoencoder's score −Σ_d BCE(x_d, x̂_d) contains the entropy of the
    grey levels of x itself (BCE ≥ H(x_d) > 0 for 0 < x_d < 1, even for a perfect
    reconstruction), so mostly-black images (sandals, trousers) look normal to a model of
    bright, textured classes; on Fashion-MNIST this pushes several classes below 0.5. A squared
    error score (``loss="mse"``) has no such floor.

    Parameters
    ----------
    X_train : array of shape (N, D)
    y_train : array of shape (N,)
    X_test : array of shape (N_test, D)
    y_test : array of shape (N_test,)
    classes : iterable of labels, optional
        Default every label in y_train.
    models : dict[str, (npae estimator, score)], optional
        Unfitted templates, cloned per class, with their ``AnomalyDetector`` score
        ("reconstruction"; "elbo", "iwae", ... need a VAE). Default
        ``{"autoencoder (reconstruction)": (default_autoencoder(), "reconstruction")}``.
    n_components : int, optional
        PCA components; default the first model's ``latent_dim``.
    random_state : int, default=0
    return_scores : bool, default=False

    Returns
    -------
    rows : list of dict
        One per class: ``class`` and one AUROC per method name; then a ``class="mean"`` row.
    scores : dict, only with ``return_scores``
        {class: (is_anomaly, {method: anomaly scores (N_test,)})}.
    """
    from npae.anomaly import AnomalyDetector

    X_train, X_test = _host2d(X_train, "X_train"), _host2d(X_test, "X_test")
    y_train, y_test = _host1d(y_train, "y_train"), _host1d(y_test, "y_test")
    if models is None:
        models = {"autoencoder (reconstruction)": (default_autoencoder(random_state=random_state), "reconstruction")}
    K = _latent_dim(next(iter(models.values()))[0]) if n_components is None else int(n_components)
    classes = np.unique(y_train) if classes is None else list(classes)
    rows, all_scores = [], {}
    for c in classes:
        is_anomaly = y_test != c
        detectors = {name: AnomalyDetector(m, score=score, random_state=random_state)
                     for name, (m, score) in models.items()}
        detectors.update(_baselines(K, random_state))
        result, scores = evaluate_detectors(detectors, X_train[y_train == c], X_test, is_anomaly)
        rows.append({"class": c.item() if hasattr(c, "item") else c, **{r["method"]: r["auroc"] for r in result}})
        all_scores[c.item() if hasattr(c, "item") else c] = (is_anomaly, scores)
    methods = [k for k in rows[0] if k != "class"]
    rows.append({"class": "mean", **{m: float(np.mean([r[m] for r in rows])) for m in methods}})
    return (rows, all_scores) if return_scores else rows


def ood_auroc(X_train, X_in, X_out, *, autoencoder=None, vae=None, n_samples: int = 100, offset_rows: int = 2000,
              n_components: int | None = None, random_state=0, return_scores: bool = False):
    """Out-of-distribution detection: fit on X_train, tell X_in (normal) from X_out (anomalous).

    Scores (``npae.AnomalyDetector``): "reconstruction" from a plain autoencoder; "elbo",
    "iwae" (``n_samples`` importance samples) and "elbo_complexity" from one VAE; beside the PCA
    reconstruction and IsolationForest baselines. Likelihood models are known to fail here
    (Nalisnick et al., 2019): trained on Fashion-MNIST they give MNIST a *higher* likelihood,
    which shows as an AUROC below 0.5 for "elbo"/"iwae". "elbo_complexity" subtracts the zlib
    length L(x) (Serrà et al., 2020); the table says whether that repairs the ranking.

    The models are fitted once on all of X_train; each detector's threshold (``offset_``, not
    used by AUROC) is set on the first ``offset_rows`` training rows, which bounds the cost of
    the importance-sampled scores.

    Parameters
    ----------
    X_train : array of shape (N, D)
    X_in : array of shape (N_in, D)
        Held-out in-distribution rows (normal).
    X_out : array of shape (N_out, D)
        Out-of-distribution rows (anomalies).
    autoencoder : npae estimator or dict[str, npae estimator], optional
        Fitted or unfitted (then fitted on X_train), scored by reconstruction; a dict names
        several (e.g. a BCE and an MSE autoencoder). Default :func:`default_autoencoder`.
        Pass ``False`` to skip the reconstruction score.
    vae : npae.models.variational.VAE, optional
        Fitted or unfitted (then fitted on X_train); default
        ``VAE(hidden_sizes=(256,), latent_dim=16, epochs=20)``.
        Pass ``False`` to skip the likelihood scores.
    n_samples : int, default=100
    offset_rows : int, default=2000
    n_components : int, optional
        PCA components; default the autoencoder's ``latent_dim`` (else 32).
    random_state : int, default=0
    return_scores : bool, default=False

    Returns
    -------
    rows : list of dict
        As :func:`evaluate_detectors`, plus for the likelihood scores ``bits_per_dim_in`` and
        ``bits_per_dim_out`` (−score/(D·ln 2) for "elbo" and "iwae": lower = likelier) and
        ``out_likelier`` (True when X_out gets the higher mean likelihood).
    scores : dict, only with ``return_scores``
        {"is_anomaly": (N_in + N_out,), "anomaly_scores": {method: (N_in + N_out,)},
        "complexity_bits_in", "complexity_bits_out"}.
    """
    from npae.anomaly import AnomalyDetector, complexity_bits

    X_train, X_in, X_out = _host2d(X_train, "X_train"), _host2d(X_in, "X_in"), _host2d(X_out, "X_out")
    X_test = np.concatenate([X_in, X_out])
    is_anomaly = np.r_[np.zeros(X_in.shape[0], bool), np.ones(X_out.shape[0], bool)]
    X_fit = X_train[: min(offset_rows, X_train.shape[0])]
    detectors = {}
    if autoencoder is None:
        autoencoder = default_autoencoder(random_state=random_state)
    autoencoders = {} if autoencoder is False else (
        dict(autoencoder) if isinstance(autoencoder, dict) else {"autoencoder (reconstruction)": autoencoder})
    for name, model in autoencoders.items():
        autoencoders[name] = _fitted(model, X_train)
        detectors[name] = AnomalyDetector(autoencoders[name], refit=False)
    if vae is not False:
        from npae.models.variational import VAE

        if vae is None:
            vae = VAE(hidden_sizes=(256,), latent_dim=16, epochs=20, verbose=0, random_state=random_state)
        vae = _fitted(vae, X_train)
        for s in ("elbo", "iwae", "elbo_complexity"):
            detectors[f"VAE ({s})"] = AnomalyDetector(vae, score=s, n_samples=n_samples, refit=False,
                                                      random_state=random_state)
    K = n_components or (_latent_dim(next(iter(autoencoders.values()))) if autoencoders else 32)
    rows, scores = evaluate_detectors(detectors, X_fit, X_test, is_anomaly)
    base_rows, base_scores = evaluate_detectors(_baselines(K, random_state), X_train, X_test, is_anomaly)
    rows += base_rows
    scores.update(base_scores)
    D = X_train.shape[1]
    for row in rows:
        if row["method"] in ("VAE (elbo)", "VAE (iwae)"):
            row["bits_per_dim_in"] = -row["mean_score_normal"] / (D * math.log(2.0))
            row["bits_per_dim_out"] = -row["mean_score_anomalous"] / (D * math.log(2.0))
            row["out_likelier"] = bool(row["mean_score_anomalous"] > row["mean_score_normal"])
    if not return_scores:
        return rows
    return rows, {"is_anomaly": is_anomaly, "anomaly_scores": scores,
                  "complexity_bits_in": complexity_bits(X_in), "complexity_bits_out": complexity_bits(X_out)}


def breast_cancer_split(train_fraction: float = 0.6, random_state=0):
    """scikit-learn's breast-cancer data as an anomaly task: benign normal, malignant anomalous.

    A random ``train_fraction`` of the 357 benign tumours is the training set (normal only);
    the test set is the other benign tumours and all 212 malignant ones. The 30 features are
    standardized with the mean and standard deviation of the training rows.

    Parameters
    ----------
    train_fraction : float in (0, 1), default=0.6
    random_state : None, int or Generator, default=0

    Returns
    -------
    X_train : ndarray of shape (N, 30), float32, benign
    X_test : ndarray of shape (N_test, 30), float32
    is_anomaly : ndarray of shape (N_test,), bool (True = malignant)
    """
    from sklearn.datasets import load_breast_cancer

    if not 0.0 < float(train_fraction) < 1.0:
        raise ValueError(f"train_fraction must be in (0, 1); got {train_fraction!r}.")
    data = load_breast_cancer()
    X, malignant = data.data, data.target == 0  # sklearn: 0 = malignant, 1 = benign
    benign = np.flatnonzero(~malignant)
    rng = B.check_random_state(random_state)
    benign = rng.permutation(benign)
    n_train = round(train_fraction * benign.size)
    train, test = benign[:n_train], np.r_[benign[n_train:], np.flatnonzero(malignant)]
    mean, std = X[train].mean(axis=0), X[train].std(axis=0)
    std = np.where(std > 0, std, 1.0)

    def scale(A):
        return ((A - mean) / std).astype(np.float32)

    return scale(X[train]), scale(X[test]), malignant[test]


def tabular_auroc(X_train, X_test, is_anomaly, *, models: dict | None = None, n_components: int = 4,
                  random_state=0, return_scores: bool = False):
    """AUROC and average precision on tabular data (e.g. :func:`breast_cancer_split`).

    Default models: an ``Autoencoder(loss="mse")`` 30-16-4 scored by reconstruction and a
    Gaussian VAE scored by the ELBO, beside PCA reconstruction (``n_components``) and
    IsolationForest.

    Parameters
    ----------
    X_train : array of shape (N, D), standardized normal rows
    X_test : array of shape (N_test, D)
    is_anomaly : array of shape (N_test,), bool
    models : dict[str, (npae estimator, score)], optional
        Each wrapped in ``npae.AnomalyDetector(model, score=score)``.
    n_components : int, default=4
    random_state : int, default=0
    return_scores : bool, default=False

    Returns
    -------
    rows : list of dict, as :func:`evaluate_detectors`
    scores : dict[str, ndarray], only with ``return_scores``
    """
    from npae.anomaly import AnomalyDetector
    from npae.models.autoencoder import Autoencoder
    from npae.models.variational import VAE

    if models is None:
        common = {"hidden_sizes": (16,), "latent_dim": 4, "epochs": 300, "batch_size": 32,
                  "learning_rate": 3e-3, "verbose": 0, "random_state": random_state}
        models = {"autoencoder (mse)": (Autoencoder(loss="mse", activation="tanh", **common), "reconstruction"),
                  "VAE gaussian (elbo)": (VAE(likelihood="gaussian", sigma=0.5, activation="tanh", **common),
                                          "elbo")}
    detectors = {name: AnomalyDetector(m, score=s, random_state=random_state) for name, (m, s) in models.items()}
    detectors.update(_baselines(n_components, random_state))
    rows, scores = evaluate_detectors(detectors, X_train, X_test, is_anomaly)
    return (rows, scores) if return_scores else rows
