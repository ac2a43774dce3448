"""npae: autoencoders written from scratch on a swappable array backend.

Every layer, activation, loss and optimizer is hand-written against the Python Array API
standard, so the same code runs on NumPy, CuPy, PyTorch tensors and array_api_strict. The
reference modules are the textbook; ``npae.kernels`` holds faster versions of some of their
operations, each tested equal to its reference: ``npae.set_kernels("reference")`` switches them off.
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
from npae.training import DivergenceError, EarlyStopping, ModelCheckpoint, TerminateOnNaN

# Last: the kernels import the reference modules above and put their dispatchers in place.
from npae import kernels  # noqa: E402  (isort: skip)
from npae.kernels import get_kernels, set_kernels  # noqa: E402

kernels.install()

__all__ = [
    "__version__",
    "AnomalyDetector",
    "Autoencoder",
    "ContractiveAutoencoder",
    "DivergenceError",
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
    "get_kernels",
    "gradcheck",
    "initializers",
    "kernels",
    "layers",
    "load",
    "losses",
    "noise",
    "ops",
    "optimizers",
    "penalties",
    "set_backend",
    "set_kernels",
    "to_numpy",
    "training",
]
