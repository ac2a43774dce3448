"""npae: autoencoders written from scratch on a swappable array backend.

Every layer, activation, loss and optimizer is hand-written against the Python Array API
standard, so the same code runs on NumPy, CuPy, PyTorch tensors and array_api_strict.
"""

from npae import (
    activations,
    applications,
    backend,
    datasets,
    exercises,
    gradcheck,
    initializers,
    layers,
    losses,
    noise,
    ops,
    optimizers,
    penalties,
    training,
)
from npae._version import __version__
from npae.applications import AnomalyDetector
from npae.backend import asarray, get_backend, set_backend, to_numpy
from npae.models import VAE, Autoencoder, ContractiveAutoencoder, DenoisingAutoencoder, SparseAutoencoder, load
from npae.training import EarlyStopping, ModelCheckpoint, TerminateOnNaN

__all__ = [
    "__version__",
    "AnomalyDetector",
    "Autoencoder",
    "ContractiveAutoencoder",
    "DenoisingAutoencoder",
    "SparseAutoencoder",
    "VAE",
    "EarlyStopping",
    "ModelCheckpoint",
    "TerminateOnNaN",
    "activations",
    "applications",
    "asarray",
    "backend",
    "datasets",
    "exercises",
    "get_backend",
    "gradcheck",
    "initializers",
    "layers",
    "load",
    "losses",
    "noise",
    "ops",
    "optimizers",
    "penalties",
    "set_backend",
    "to_numpy",
    "training",
]
