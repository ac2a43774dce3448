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


# ------------------------------------------------------------------------------ keyed row streams, as specified
#: 2⁶⁴ − 1: the spec's arithmetic is on Python ints, reduced mod 2⁶⁴ (independent of npae's vectorised code).
M64 = 2**64 - 1


def mix64(z):
    """SplitMix64's finaliser on a Python int, from its published constants."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def splitmix64(seed, i):
    """Output i (from 0) of SplitMix64 seeded ``seed``."""
    return mix64((seed + (i + 1) * 0x9E3779B97F4A7C15) & M64)


def spec_row_seed(row, key):
    """The seed of a row's stream from the spec of ``npae.backend.hash_rows``, in Python ints:
    mix64(k₁ ⊕ Σ_d m_d·w_d mod 2⁶⁴), w_d the row's 32-bit words (−0.0 read as 0.0),
    m_d = splitmix64(k₀, d) | 1."""
    k0, k1 = int.from_bytes(key[:8], "little"), int.from_bytes(key[8:], "little")
    words = np.frombuffer((np.asarray(row) + 0.0).tobytes(), dtype="<u4")
    return mix64((sum((splitmix64(k0, d) | 1) * int(w) for d, w in enumerate(words)) & M64) ^ k1)
