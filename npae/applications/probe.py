"""Representation: how much of the label a linear classifier can read off the codes.

``linear_probe`` gives the test accuracy of a logistic regression on the codes, beside the
same probe on the raw pixels and on PCA with as many components as the code has dimensions.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from npae.applications._common import _fitted, _host1d, _host2d, _latent_dim

__all__ = ["linear_probe"]


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
