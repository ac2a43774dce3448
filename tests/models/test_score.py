"""``score`` compares the models of one class whatever their objective: minus the squared
reconstruction error in data space for the autoencoders (no penalty; probabilities for BCE), the
β-free ELBO for the VAE; and rows whose loss overflows the dtype get a defined, finite score."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV

import npae
from tests.helpers import SMALL_MODELS


@pytest.fixture(scope="module")
def grey():
    """Grey-level data around 0.5: a perfect BCE model still has a loss of about D·log 2, far
    above the squared error of a poor MSE model, so ranking by the objective picks the MSE one."""
    rng = np.random.default_rng(0)
    codes = rng.uniform(size=(120, 2))
    return (0.5 + 0.3 * np.tanh(codes @ rng.standard_normal((2, 10)))).astype(np.float32)


def _errors(model, X):
    return ((model.reconstruct(X).astype(np.float64) - X) ** 2).sum(axis=1)


def test_grid_search_over_loss_picks_the_better_reconstruction_not_the_smaller_objective(grey):
    base = npae.Autoencoder(hidden_sizes=(8,), latent_dim=2, epochs=40, batch_size=16, random_state=0, verbose=0)
    grid = [{"loss": ["bce"], "learning_rate": [1e-2]},               # reconstructs well, objective near D·H(x)
            {"loss": ["mse"], "learning_rate": [1e-3], "epochs": [5]}]  # stopped early: a poor reconstruction
    search = GridSearchCV(base, grid, cv=2).fit(grey)
    bce, mse = (clone(base).set_params(**p).fit(grey) for p in ({"loss": "bce", "learning_rate": 1e-2},
                                                               {"loss": "mse", "learning_rate": 1e-3, "epochs": 5}))
    assert _errors(bce, grey).mean() < _errors(mse, grey).mean()           # bce reconstructs better
    assert -bce.score_samples(grey).mean() > -mse.score_samples(grey).mean()  # yet its objective is larger
    assert search.best_params_["loss"] == "bce"
    for model in (bce, mse):
        assert model.score(grey) == pytest.approx(-_errors(model, grey).mean(), rel=1e-5)


@pytest.mark.parametrize("name, param", [("sparse_l1", "sparsity_weight"), ("sparse_kl", "sparsity_weight"),
                                         ("contractive", "contractive_weight")])
def test_score_does_not_depend_on_the_penalty_weight(name, param, grey):
    """Two models with the same weights and different penalty weights reconstruct identically,
    so they score identically (their objectives and score_samples differ)."""
    light = SMALL_MODELS[name](**{param: 0.01}).fit(grey)
    heavy = SMALL_MODELS[name](**{param: 100.0}).fit(grey)
    heavy.set_weights(light.get_weights())
    assert heavy.score(grey) == light.score(grey) == pytest.approx(-_errors(light, grey).mean(), rel=1e-5)
    if name != "sparse_kl":  # the KL term belongs to a batch, not to a row
        assert heavy.score_samples(grey).mean() < light.score_samples(grey).mean()


@pytest.mark.parametrize("name, grid", [("sparse_l1", {"sparsity_weight": [0.0, 3.0]}),
                                        ("contractive", {"contractive_weight": [0.0, 3.0]}),
                                        ("denoising", {"noise_level": [0.05, 0.5]})])
def test_grid_search_scores_are_the_reconstruction_error_of_each_candidate(name, grid, grey):
    search = GridSearchCV(SMALL_MODELS[name](loss="mse"), grid, cv=[(np.arange(60), np.arange(60, 120))]).fit(grey)
    for params, score in zip(search.cv_results_["params"], search.cv_results_["mean_test_score"]):
        model = SMALL_MODELS[name](loss="mse").set_params(**params).fit(grey[:60])
        assert score == pytest.approx(-_errors(model, grey[60:]).mean(), rel=1e-5)


def test_vae_score_is_the_elbo_at_beta_one_whatever_beta(grey):
    low = SMALL_MODELS["vae"](beta=0.1).fit(grey)
    high = SMALL_MODELS["vae"](beta=10.0).fit(grey)
    high.set_weights(low.get_weights())
    draws = [m.elbo(grey, random_state=3).mean() for m in (low, high)]
    assert draws[0] == draws[1]
    # score draws its eps from the model's inference stream, the one elbo uses without random_state
    assert low.score(grey) == pytest.approx(float(np.mean(low.elbo(grey))), rel=1e-6)
    assert high.score(grey) == pytest.approx(low.score(grey), rel=1e-6)


@pytest.mark.parametrize("name", sorted(SMALL_MODELS))
def test_rows_near_the_float32_limit_get_finite_scores(name):
    """±3e38 are finite float32 inputs; their losses overflow, and score the lowest finite value."""
    rng = np.random.default_rng(1)
    X = rng.uniform(size=(30, 5)).astype(np.float32)
    kw = {"likelihood": "gaussian"} if name == "vae" else {"loss": "mse"}
    model = SMALL_MODELS[name](**kw).fit(X)
    huge = X[:4].copy()
    huge[0, :] = 3e38
    huge[1, 0] = -3e38
    with np.errstate(all="ignore"):
        scores = model.score_samples(huge)
        score = model.score(huge)
        errors = model.reconstruction_error(huge)
    lowest = -np.finfo(np.float32).max
    assert np.all(np.isfinite(scores)) and np.isfinite(score) and np.all(np.isfinite(errors))
    assert scores[0] == scores[1] == lowest and np.all(scores[2:] > lowest)
    assert lowest <= score < -1e37
    if name == "vae":
        with np.errstate(all="ignore"):
            log_p = model.log_likelihood(huge, k=3, random_state=0)
        assert np.all(np.isfinite(log_p)) and log_p[0] == lowest


def test_score_refuses_data_the_bce_loss_cannot_model(grey):
    model = SMALL_MODELS["ae"]().fit(grey)
    with pytest.raises(ValueError, match=r"expects X in \[0, 1\]"):
        model.score(grey * 255.0)
