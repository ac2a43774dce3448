"""Helpers shared by the tests (not a test module: nothing here is collected)."""

import numpy as np

from npae import backend as B


def to_backend(backend, a, dtype="float64"):
    """Host array -> the backend under test, in dtype."""
    return B.asarray(np.asarray(a), dtype=dtype, backend=backend)
