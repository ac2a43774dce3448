"""Fixtures the application tests share: the digits split, a small autoencoder fitted once, and
one BLAS thread."""

import pytest
import threadpoolctl

from npae.applications import default_autoencoder
from npae.datasets import load_digits

SMALL = {"hidden_sizes": (32,), "epochs": 30, "batch_size": 32, "learning_rate": 3e-3}


@pytest.fixture(scope="package", autouse=True)
def one_blas_thread():
    """One BLAS thread: on the shared 2-core machine two threads per process oversubscribe the
    cores and OpenBLAS's spinning made training up to 25x slower."""
    with threadpoolctl.threadpool_limits(1):
        yield


@pytest.fixture
def small_params():
    """Hyperparameters of the small, quick autoencoders the tests train (a fresh dict per test)."""
    return dict(SMALL)


@pytest.fixture(scope="package")
def digits():
    """(X_train, y_train, X_test, y_test): the embedded digits, 1200 rows to train on."""
    X, y = load_digits()
    return X[:1200], y[:1200], X[1200:], y[1200:]


@pytest.fixture(scope="package")
def fitted_ae(digits):
    """An 8-dimensional default autoencoder fitted on the training digits (do not refit it)."""
    return default_autoencoder(8, **SMALL).fit(digits[0])
