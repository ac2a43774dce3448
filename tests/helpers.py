"""Helpers shared by the tests (not a test module: nothing here is collected)."""

import numpy as np

import npae
from npae import backend as B


def to_backend(backend, a, dtype="float64"):
    """Host array -> the backend under test, in dtype."""
    return B.asarray(np.asarray(a), dtype=dtype, backend=backend)


#: Tiny configurations of every model, shared by the tests that run the whole family.
SMALL = {"hidden_sizes": (6,), "latent_dim": 2, "epochs": 2, "batch_size": 8, "random_state": 0, "verbose": 0}
SMALL_MODELS = {
    "ae": lambda **kw: npae.Autoencoder(**SMALL, **kw),
    "sparse_l1": lambda **kw: npae.SparseAutoencoder(**SMALL, sparsity="l1", **kw),
    "sparse_kl": lambda **kw: npae.SparseAutoencoder(**SMALL, sparsity="kl", latent_activation="sigmoid", **kw),
    "denoising": lambda **kw: npae.DenoisingAutoencoder(**SMALL, noise="gaussian", noise_level=0.2, **kw),
    "contractive": lambda **kw: npae.ContractiveAutoencoder(**SMALL, activation="tanh", **kw),
    "vae": lambda **kw: npae.VAE(**SMALL, **kw),
}
