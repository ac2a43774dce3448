"""Every model trains to the same results on the reference code as on the fast kernels."""

import numpy as np
import pytest

import npae
from npae import kernels

SMALL = dict(hidden_sizes=(12,), latent_dim=4, batch_size=16, epochs=3, random_state=0)
MODELS = {
    "ae_bce": lambda **kw: npae.Autoencoder(**SMALL, **kw),
    "ae_mse_relu": lambda **kw: npae.Autoencoder(**SMALL, loss="mse", activation="relu", **kw),
    "sparse_l1": lambda **kw: npae.SparseAutoencoder(**SMALL, sparsity="l1", **kw),
    "sparse_kl": lambda **kw: npae.SparseAutoencoder(**SMALL, sparsity="kl", latent_activation="sigmoid", **kw),
    "dae_gaussian": lambda **kw: npae.DenoisingAutoencoder(**SMALL, noise="gaussian", **kw),
    "dae_masking": lambda **kw: npae.DenoisingAutoencoder(**SMALL, noise="masking", **kw),
    "dae_salt_pepper": lambda **kw: npae.DenoisingAutoencoder(**SMALL, noise="salt_pepper", **kw),
    "contractive": lambda **kw: npae.ContractiveAutoencoder(**SMALL, **kw),
    "vae": lambda **kw: npae.VAE(**SMALL, **kw),
    "ae_adamw_sgd": lambda **kw: npae.Autoencoder(**SMALL, optimizer="momentum", learning_rate=0.05, **kw),
}


@pytest.fixture(scope="module")
def X():
    return np.random.default_rng(1).random((64, 20))


def _fit(name, X, mode, dtype):
    with kernels.use_kernels(mode):
        model = MODELS[name](dtype=dtype).fit(X.astype(dtype))
        return model, model.history_["loss"], model.score_samples(X.astype(dtype))


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("dtype, rtol", [("float64", 1e-9), ("float32", 2e-4)])
def test_reference_and_fast_kernels_train_to_the_same_model(name, dtype, rtol, X):
    fast, fast_loss, fast_scores = _fit(name, X, "fast", dtype)
    ref, ref_loss, ref_scores = _fit(name, X, "reference", dtype)
    np.testing.assert_allclose(fast_loss, ref_loss, rtol=rtol)
    np.testing.assert_allclose(fast_scores, ref_scores, rtol=rtol, atol=rtol)
    for key, value in fast.parameters().items():
        np.testing.assert_allclose(value, ref.parameters()[key], rtol=10 * rtol, atol=10 * rtol, err_msg=key)
