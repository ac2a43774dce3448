"""set_params after fit (scikit-learn's rule): the fitted model follows the hyperparameters it was
fitted with until the next fit from scratch; warm starts apply the options that steer training and
refuse the ones that would need another network; save/load keeps whatever state the model is in."""

import re

import numpy as np
import pytest

import npae
from npae import backend as B

COMMON = {"hidden_sizes": (6,), "latent_dim": 2, "epochs": 2, "batch_size": 8, "random_state": 0, "verbose": 0}
MODELS = {
    "ae": lambda: npae.Autoencoder(**COMMON),
    "sparse": lambda: npae.SparseAutoencoder(**COMMON, sparsity="kl", latent_activation="sigmoid"),
    "denoising": lambda: npae.DenoisingAutoencoder(**COMMON, noise="masking", noise_level=0.3),
    "contractive": lambda: npae.ContractiveAutoencoder(**COMMON, activation="tanh"),
    "vae": lambda: npae.VAE(**COMMON),
}
# (hyperparameter, a new value) that change the network or its data space
NEEDS_REFIT = [("hidden_sizes", (7,)), ("latent_dim", 3), ("dtype", "float64"), ("activation", "sigmoid")]


@pytest.fixture(scope="module")
def X():
    return np.random.default_rng(0).random((24, 5))


def _params(model):
    return {k: B.to_numpy(v).copy() for k, v in model.parameters().items()}


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("param, value", NEEDS_REFIT)
def test_inference_follows_the_fitted_configuration_after_set_params(name, X, param, value):
    model = MODELS[name]().fit(X)
    codes, recon = model.transform(X), model.reconstruct(X)
    model.set_params(**{param: value})
    assert model.get_params()[param] == value  # get_params reports what the next fit will use
    np.testing.assert_array_equal(model.transform(X), codes)
    np.testing.assert_array_equal(model.reconstruct(X), recon)
    assert model.transform(X).dtype == codes.dtype
    assert model.inverse_transform(codes).shape == X.shape


@pytest.mark.parametrize("name", ["ae", "sparse", "denoising", "contractive"])
def test_score_samples_scores_with_the_fitted_loss_after_set_params(name, X):
    model = MODELS[name]().fit(X)  # loss="bce"
    scores, score = model.score_samples(X), model.score(X)
    model.set_params(loss="mse")
    np.testing.assert_array_equal(model.score_samples(X), scores)
    assert model.score(X) == score


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("param, value", NEEDS_REFIT)
@pytest.mark.parametrize("how", ["partial_fit", "warm_start"])
def test_a_warm_start_refuses_changes_that_need_a_new_network(name, X, param, value, how):
    model = MODELS[name]().fit(X)
    before, history = _params(model), {k: list(v) for k, v in model.history_.items()}
    model.set_params(**{param: value})
    fitted = re.escape(repr(MODELS[name]().get_params()[param]))
    with pytest.raises(ValueError, match=rf"was fitted with {param}={fitted}; training "
                                         r"cannot continue .*Fit from scratch"):
        if how == "partial_fit":
            model.partial_fit(X)
        else:
            model.set_params(warm_start=True).fit(X)
    for key, value_ in _params(model).items():
        np.testing.assert_array_equal(value_, before[key])
    assert model.history_ == history


@pytest.mark.parametrize("name", list(MODELS))
def test_a_fit_from_scratch_uses_the_new_configuration(name, X):
    model = MODELS[name]().fit(X)
    model.set_params(hidden_sizes=(7,), dtype="float64")
    model.fit(X)
    assert model.parameters()["encoder.0.W"].shape == (5, 7)
    assert model.transform(X).dtype == np.float64


def test_a_changed_learning_rate_is_applied_on_a_warm_start_and_keeps_the_optimizer_state(X):
    model = MODELS["ae"]().fit(X)
    optimizer, iterations = model.optimizer_, model.optimizer_.iterations
    model.set_params(learning_rate=1e-4).partial_fit(X)
    assert model.optimizer_ is optimizer and model.optimizer_.learning_rate == 1e-4
    assert model.optimizer_.iterations > iterations
    model.set_params(learning_rate=1e-5, warm_start=True).fit(X)
    assert model.optimizer_.learning_rate == 1e-5


def test_a_changed_optimizer_starts_a_new_one_on_a_warm_start(X):
    model = MODELS["ae"]().fit(X)
    model.set_params(optimizer="sgd", learning_rate=0.05, warm_start=True).fit(X)
    assert type(model.optimizer_).__name__ == "SGD" and model.optimizer_.learning_rate == 0.05
    assert model.optimizer_.iterations == 2 * 3  # two epochs of three batches, from a fresh optimizer


def test_a_changed_penalty_weight_is_applied_on_a_warm_start(X, tmp_path):
    model = MODELS["sparse"]().fit(X)
    scores = model.score_samples(X)
    model.set_params(sparsity_weight=5.0)
    np.testing.assert_array_equal(model.score_samples(X), scores)  # the fitted weight still scores
    model.save(tmp_path / "before.npz")
    config = npae.io.read_checkpoint(tmp_path / "before.npz")[1]
    assert config["params"]["sparsity_weight"] != 5.0 and config["set_params"] == {"sparsity_weight": 5.0}
    model.partial_fit(X)  # trains with the new weight, which is now the fitted one
    model.save(tmp_path / "after.npz")
    config = npae.io.read_checkpoint(tmp_path / "after.npz")[1]
    assert config["params"]["sparsity_weight"] == 5.0 and "set_params" not in config
    assert not np.array_equal(model.score_samples(X), scores)


@pytest.mark.parametrize("name", list(MODELS))
def test_save_and_load_round_trip_a_model_changed_by_set_params(name, X, tmp_path):
    model = MODELS[name]().fit(X)
    model.set_params(hidden_sizes=(7,), epochs=5)
    model.save(tmp_path / "m.npz")
    loaded = npae.load(tmp_path / "m.npz")
    assert loaded.get_params() == model.get_params()
    np.testing.assert_array_equal(loaded.transform(X), model.transform(X))
    with pytest.raises(ValueError, match="was fitted with hidden_sizes=\\(6,\\)"):
        loaded.partial_fit(X)
    loaded.fit(X)  # from scratch: the new width
    assert loaded.parameters()["encoder.0.W"].shape == (5, 7)


def test_save_refuses_a_changed_hyperparameter_that_is_not_plain_and_writes_nothing(X, tmp_path):
    model = MODELS["ae"]().fit(X)
    model.set_params(hidden_sizes={7: "wide"})
    with pytest.raises(TypeError, match=r"hidden_sizes=\{7: 'wide'\} is not a plain value"):
        model.save(tmp_path / "m.npz")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("param, value", [("latent_dim", 3), ("dtype", "float64"), ("likelihood", "gaussian")])
def test_vae_sampling_and_likelihoods_follow_the_fitted_configuration(X, param, value):
    vae = MODELS["vae"]().fit(X)
    before = (vae.sample(4, random_state=1), vae.elbo(X, random_state=2),
              vae.log_likelihood(X, k=3, random_state=3), vae.log_importance_weights(X, k=3, random_state=3))
    vae.set_params(**{param: value})
    after = (vae.sample(4, random_state=1), vae.elbo(X, random_state=2),
             vae.log_likelihood(X, k=3, random_state=3), vae.log_importance_weights(X, k=3, random_state=3))
    for got, want in zip(after, before):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


# ---------------------------------------------------------------- loss_and_grad, jacobian, corrupt
def _loss_and_grad(model, X):
    loss, grads = model.loss_and_grad(X)
    return loss, {k: B.to_numpy(v).copy() for k, v in grads.items()}


@pytest.mark.parametrize("name, change", [
    ("sparse", {"sparsity_weight": 100.0}),
    ("contractive", {"contractive_weight": 50.0}),
    ("denoising", {"noise": "gaussian", "noise_level": 0.9}),
    ("ae", {"loss": "mse"}),
])
def test_loss_and_grad_computes_the_fitted_objective_after_set_params(name, change, X):
    """loss_and_grad agrees with score_samples about the model's objective: a changed penalty
    weight or loss takes effect at the next fit, not before."""
    model = MODELS[name]().fit(X)
    loss, grads = _loss_and_grad(model, X)
    model.set_params(**change)
    loss_after, grads_after = _loss_and_grad(model, X)
    assert loss_after == loss
    for key, value in grads.items():
        np.testing.assert_array_equal(grads_after[key], value, err_msg=key)
    if name in ("ae", "contractive"):  # a per-row objective (KL sparsity is one of the batch)
        np.testing.assert_allclose(-float(np.mean(B.to_numpy(model.score_samples(X)))), loss, rtol=1e-5)


def test_loss_and_grad_checks_the_range_of_the_fitted_loss_after_set_params(X):
    model = MODELS["ae"]().fit(X)  # loss="bce"
    model.set_params(loss="mse")
    with pytest.raises(ValueError, match=r"loss='bce' expects X in \[0, 1\]"):
        model.loss_and_grad(3.0 * X)


@pytest.mark.parametrize("name", list(MODELS))
def test_loss_and_grad_keeps_the_fitted_dtype_after_set_params(name, X, xp):
    model = MODELS[name]().fit(X)  # float32
    loss, grads = _loss_and_grad(model, X)
    model.set_params(dtype="float64")
    loss_after, grads_after = _loss_and_grad(model, X)  # float64 gradients broke += on strict backends
    if name != "vae":  # the VAE draws its eps from the training stream, another draw each call
        assert loss_after == loss
    for key, param in model.parameters().items():
        assert grads_after[key].dtype == B.to_numpy(param).dtype == np.float32, key
        if name != "vae":
            np.testing.assert_array_equal(grads_after[key], grads[key], err_msg=key)


def test_contractive_jacobian_follows_the_fitted_configuration_after_set_params(X, xp):
    model = MODELS["contractive"]().fit(X)
    J = B.to_numpy(model.jacobian(X))
    model.set_params(dtype="float64", contractive_weight=5.0)
    J_after = B.to_numpy(model.jacobian(X))
    assert J_after.dtype == J.dtype == np.float32
    np.testing.assert_array_equal(J_after, J)


def test_denoising_corrupt_follows_the_fitted_noise_after_set_params(X, xp):
    model = npae.DenoisingAutoencoder(**COMMON, noise="gaussian", noise_level=0.1).fit(X)
    noisy = B.to_numpy(model.corrupt(X, random_state=0))
    model.set_params(noise="masking", noise_level=0.9, dtype="float64")
    noisy_after = B.to_numpy(model.corrupt(X, random_state=0))
    assert noisy_after.dtype == noisy.dtype == np.float32
    np.testing.assert_array_equal(noisy_after, noisy)
    masked = B.to_numpy(model.corrupt(X, random_state=0, noise="masking", noise_level=0.9))
    assert np.mean(masked == 0) > 0.5  # an explicit noise= still overrides the fitted one
