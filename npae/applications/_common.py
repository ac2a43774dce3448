"""What every application shares: host copies of the inputs, and the model they fit by default.

The applications are host code: inputs of any npae backend pass through
``npae.backend.to_numpy`` here, and the rest is NumPy and scikit-learn.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import clone

from npae import backend as B
from npae.models import Autoencoder
from npae.validation import check_finite

__all__ = ["default_autoencoder"]


def _host2d(X, name: str = "X") -> np.ndarray:
    """X as a 2-D floating host array (float32 stays float32, saving memory on image data).

    Raises ValueError for another number of dimensions, a dtype that is not real, or a NaN or ±inf
    entry (named by row and column): no application gives a meaningful figure for them.
    """
    X = np.asarray(B.to_numpy(X))
    if X.ndim != 2:
        raise ValueError(f"Expected 2D array for {name}, got {X.ndim}D array instead: shape={X.shape}. "
                         "Reshape with X.reshape(-1, 1) for one feature or X.reshape(1, -1) for one sample.")
    if X.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers; got dtype {X.dtype}.")
    X = X if X.dtype.kind == "f" else X.astype(np.float64)
    check_finite(X, name)
    return X


def _host1d(y, name: str = "y") -> np.ndarray:
    """y as a 1-D host array (labels or per-row flags)."""
    y = np.asarray(B.to_numpy(y))
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got shape {y.shape}.")
    return y


def host_rows(X):
    """X on the host for scikit-learn's checks: any npae backend's array through
    ``npae.backend.to_numpy`` (detached, copied from a device); a DataFrame (its column names) and a
    sparse matrix (scikit-learn's message for it) as they are."""
    from scipy.sparse import issparse

    return X if hasattr(X, "iloc") or issparse(X) else B.to_numpy(X)


def model_without_feature_names(model):
    """A shallow view of a fitted model that checks no column names, for rows whose columns were
    checked already (a detector's scaled host arrays, a Dask block of a checked DataFrame).

    An npae model is viewed as fitted (``_as_fitted``); scikit-learn's ``FrozenEstimator`` is
    looked through. The model itself keeps its names (and keeps checking them)."""
    inner = getattr(model, "estimator", model) if type(model).__name__ == "FrozenEstimator" else model
    fitted = inner._as_fitted() if hasattr(inner, "_as_fitted") else inner
    if getattr(fitted, "feature_names_in_", None) is None:
        return fitted
    view = object.__new__(type(fitted))
    view.__dict__.update(fitted.__dict__)
    view.__dict__.pop("feature_names_in_", None)
    return view


def _is_fitted(model) -> bool:
    return getattr(model, "n_features_in_", None) is not None


def _fitted(model, X):
    """``model`` if it is fitted, else a clone fitted on X (the caller's object is not changed)."""
    return model if _is_fitted(model) else clone(model).fit(X)


def _latent_dim(model) -> int:
    return int(model.latent_dim)


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
    params.setdefault("verbose", 0)
    return Autoencoder(hidden_sizes=hidden_sizes, latent_dim=latent_dim, epochs=epochs, loss=loss,
                       random_state=random_state, **params)
