"""Shared fixtures: every backend-aware test runs on numpy and array_api_strict (Device "device1"),
and on cupy / torch when they are installed and usable, else skips."""

import importlib.util
import os

import numpy as np
import pytest

from npae import backend as B

os.environ.setdefault("MPLBACKEND", "Agg")

try:  # torch's own thread pool fights OpenBLAS for the 2 cores; its tests are tiny anyway
    import torch

    torch.set_num_threads(1)
except ImportError:
    pass

BACKEND_PARAMS = ["numpy", "array_api_strict", "cupy", "torch"]


def _skip_reason(name):
    if name == "cupy":
        if importlib.util.find_spec("cupy") is None:
            return "CuPy is not installed (pip install 'npae[gpu]')"
        import cupy

        if not cupy.is_available():
            return "CuPy is installed but no CUDA device is usable"
    if name == "torch" and importlib.util.find_spec("torch") is None:
        return "PyTorch is not installed (pip install torch==2.13.0)"
    if name == "array_api_strict" and importlib.util.find_spec("array_api_strict") is None:
        return "array-api-strict is not installed (pip install 'npae[test]')"
    return None


@pytest.fixture(params=BACKEND_PARAMS)
def xp(request):
    """The backend under test (a npae.backend.Backend with .name, .xp, .device), made active."""
    reason = _skip_reason(request.param)
    if reason:
        pytest.skip(reason)
    previous = B.get_backend()
    backend = B.set_backend(request.param)
    yield backend
    B.set_backend(previous.name)


@pytest.fixture
def rng():
    return np.random.default_rng(0)
