"""SparseAutoencoder: gradient checks, closed-form values, a PyTorch twin, and the measured
effect of the penalty on the code."""

import numpy as np
import pytest
from sklearn.base import clone

from npae import backend as B
from npae.gradcheck import check_model
from npae.models.sparse import SparseAutoencoder


def _small(**kw):
    params = {"hidden_sizes": (5,), "latent_dim": 3, "activation": "tanh", "sparsity_weight": 0.7,
              "random_state": 0, "verbose": 0}
    params.update(kw)
    return SparseAutoencoder(**params)


def _X(n=7, d=6, seed=0):
    return np.random.default_rng(seed).random((n, d))


def _digits(n=600):
    from sklearn.datasets import load_digits

    return (load_digits().data[:n] / 16.0).astype("float32")


def _np_act(name, z):
    return {"tanh": np.tanh, "sigmoid": lambda v: 1 / (1 + np.exp(-v)), "identity": lambda v: v}[name](z)


def _np_forward(model, X):
    """h and decoder logits from the model's parameters, in NumPy float64."""
    p = {k: B.to_numpy(v).astype("float64") for k, v in model.parameters().items()}
    h = _np_act(model.activation, X @ p["encoder.0.W"] + p["encoder.0.b"])
    h = _np_act(model.latent_activation, h @ p["encoder.1.W"] + p["encoder.1.b"])
    a = _np_act(model.activation, h @ p["decoder.0.W"] + p["decoder.0.b"])
    return h, a @ p["decoder.1.W"] + p["decoder.1.b"]


@pytest.mark.parametrize("sparsity, latent", [("l1", "tanh"), ("l1", "identity"), ("kl", "sigmoid")])
def test_sparse_loss_passes_gradient_check(xp, sparsity, latent):
    model = _small(sparsity=sparsity, latent_activation=latent, backend=xp.name, dtype="float64")
    twin = clone(model)  # same seed, same weights; built here to look at the codes
    twin.loss_and_grad(_X())
    assert float(np.abs(B.to_numpy(twin.transform(_X()))).min()) > 1e-3  # off the kink of |h|
    result = check_model(model, _X())
    assert result.passed, str(result)


def test_kl_gradient_check_at_a_target_far_from_the_codes(xp):
    model = _small(sparsity="kl", latent_activation="sigmoid", target_sparsity=0.9, sparsity_weight=3.0,
                   backend=xp.name)
    result = check_model(model, _X(n=5, seed=1))
    assert result.passed, str(result)


def test_kl_model_keeps_training_when_a_whole_code_column_saturates():
    """float32, learning rate 1: after the first epoch every code logit is below −120, so ρ̂ underflows
    float32 and dS/dh = −ρ/ρ̂ … overflows. Taken at z in log form, dS/dz stays finite, the penalty pulls
    the units back and the fit goes on (it used to stop with a DivergenceError while the loss was finite)."""
    X = _digits(300)
    model = SparseAutoencoder(hidden_sizes=(16,), latent_dim=4, latent_activation="sigmoid", sparsity="kl",
                              sparsity_weight=1.0, learning_rate=1.0, epochs=3, batch_size=32, random_state=0,
                              verbose=0).fit(X)
    assert np.isfinite(model.history_["loss"]).all()
    rho_hat = B.to_numpy(model.transform(X)).mean(axis=0)
    assert (rho_hat > 1e-3).all()  # every unit pulled back towards ρ = 0.05 (ρ̂ was below 1e-50)
    _, grads = model.loss_and_grad(X[:32])
    assert all(np.isfinite(B.to_numpy(g)).all() for g in grads.values())


def test_l1_loss_equals_reconstruction_plus_closed_form_penalty():
    X = _X()
    model = _small(sparsity="l1", latent_activation="tanh", dtype="float64")
    loss, _ = model.loss_and_grad(X)
    h, y = _np_forward(model, X)
    bce = (np.logaddexp(0, y) - X * y).sum(axis=1).mean()
    expected = bce + 0.7 * np.abs(h).sum(axis=1).mean()
    assert abs(loss - expected) <= 1e-12 * expected


def test_kl_loss_equals_reconstruction_plus_closed_form_penalty():
    X = _X()
    model = _small(sparsity="kl", latent_activation="sigmoid", target_sparsity=0.1, dtype="float64")
    loss, _ = model.loss_and_grad(X)
    h, y = _np_forward(model, X)
    rho, rho_hat = 0.1, h.mean(axis=0)
    kl = np.sum(rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat)))
    expected = (np.logaddexp(0, y) - X * y).sum(axis=1).mean() + 0.7 * kl
    assert abs(loss - expected) <= 1e-12 * expected


@pytest.mark.parametrize("latent", ["identity", "tanh", "relu"])
def test_kl_refuses_codes_that_are_not_sigmoid_before_anything_changes(latent):
    model = _small(sparsity="kl", latent_activation=latent)
    with pytest.raises(ValueError, match="requires latent_activation='sigmoid'; got latent_activation="):
        model.fit(_X())
    with pytest.raises(ValueError, match="Set latent_activation='sigmoid', or use sparsity='l1'"):
        model.loss_and_grad(_X())
    assert not hasattr(model, "n_features_in_")


@pytest.mark.parametrize("kw, message", [
    ({"sparsity": "l2"}, "Unknown sparsity 'l2'"),
    ({"sparsity_weight": -1.0}, "sparsity_weight must be a non-negative"),
    ({"target_sparsity": 1.0}, "target_sparsity must be a number strictly between 0 and 1"),
    ({"target_sparsity": 0.0}, "target_sparsity must be a number strictly between 0 and 1"),
])
def test_bad_hyperparameters_are_refused(kw, message):
    with pytest.raises(ValueError, match=message):
        _small(**kw).fit(_X())


def test_sparse_is_a_clonable_estimator():
    model = _small(sparsity="kl", latent_activation="sigmoid", target_sparsity=0.2)
    params = clone(model).get_params()
    assert (params["sparsity"], params["sparsity_weight"], params["target_sparsity"]) == ("kl", 0.7, 0.2)


def test_history_reports_the_penalty_separately():
    X = _digits(200)
    model = SparseAutoencoder(hidden_sizes=(16,), latent_dim=8, latent_activation="sigmoid", sparsity="kl",
                              sparsity_weight=1.0, epochs=2, batch_size=64, random_state=0, verbose=0)
    model.fit(X, validation_data=X[:50])
    h = model.history_
    for key in ("loss", "reconstruction", "sparsity", "val_loss", "val_reconstruction", "val_sparsity"):
        assert len(h[key]) == 2, key
    np.testing.assert_allclose(np.add(h["reconstruction"], h["sparsity"]), h["loss"], rtol=1e-5)
    assert all(s > 0 for s in h["sparsity"])


@pytest.mark.parametrize("sparsity, latent, weight", [("l1", "identity", 1.0), ("kl", "sigmoid", 3.0)])
def test_penalty_lowers_the_mean_code_activation(sparsity, latent, weight):
    """Same seed and data, penalty on vs off. Measured on digits (600 rows, 20 epochs):
    l1: mean |h| 1.29 -> 0.125; kl (ρ = 0.05): mean h 0.59 -> 0.056 (reconstruction BCE
    20.5 -> 21.8 and 24.5 -> 26.9 nats per image)."""
    X = _digits()
    common = {"hidden_sizes": (32,), "latent_dim": 16, "activation": "tanh", "latent_activation": latent,
              "sparsity": sparsity, "epochs": 20, "batch_size": 64, "learning_rate": 3e-3, "random_state": 0,
              "verbose": 0}
    plain = SparseAutoencoder(sparsity_weight=0.0, **common).fit(X)
    sparse = SparseAutoencoder(sparsity_weight=weight, **common).fit(X)
    activity = [np.abs(m.transform(X)).mean() for m in (plain, sparse)]
    assert activity[1] < 0.5 * activity[0], activity
    if sparsity == "kl":
        assert abs(activity[1] - 0.05) < abs(activity[0] - 0.05)


@pytest.mark.parametrize("sparsity, latent", [("l1", "tanh"), ("kl", "sigmoid")])
def test_loss_and_gradients_match_a_pytorch_autograd_twin(sparsity, latent):
    torch = pytest.importorskip("torch")
    X = _X()
    model = _small(sparsity=sparsity, latent_activation=latent, target_sparsity=0.2, dtype="float64")
    loss, grads = model.loss_and_grad(X)
    p = {k: torch.tensor(B.to_numpy(v), dtype=torch.float64, requires_grad=True)
         for k, v in model.parameters().items()}
    x = torch.tensor(X, dtype=torch.float64)
    act = {"tanh": torch.tanh, "sigmoid": torch.sigmoid}
    h = act[latent](torch.tanh(x @ p["encoder.0.W"] + p["encoder.0.b"]) @ p["encoder.1.W"] + p["encoder.1.b"])
    y = torch.tanh(h @ p["decoder.0.W"] + p["decoder.0.b"]) @ p["decoder.1.W"] + p["decoder.1.b"]
    recon = torch.nn.functional.binary_cross_entropy_with_logits(y, x, reduction="sum") / x.shape[0]
    if sparsity == "l1":
        penalty = h.abs().sum(dim=1).mean()
    else:
        rho, rho_hat = 0.2, h.mean(dim=0)
        penalty = (rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))).sum()
    twin = recon + 0.7 * penalty
    twin.backward()
    assert abs(loss - twin.item()) <= 1e-9 * abs(twin.item())
    for name, g in grads.items():
        ref = p[name].grad.numpy()
        assert np.linalg.norm(g - ref) <= 1e-7 * np.linalg.norm(ref), name
