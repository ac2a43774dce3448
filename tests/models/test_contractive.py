"""ContractiveAutoencoder: Rifai's closed form, the Jacobian against finite differences, gradient
checks at depths 1 and 3 for smooth activations, a PyTorch autograd twin, and the measured effect
on the Jacobian's singular values."""

import numpy as np
import pytest
from sklearn.base import clone

import npae.models.contractive as contractive_module
from npae import backend as B
from npae import penalties
from npae.gradcheck import check_model, relative_error
from npae.models.autoencoder import Autoencoder
from npae.models.contractive import ContractiveAutoencoder


def to_backend(backend, a, dtype="float64"):
    """Host array -> the backend under test, in dtype."""
    return B.asarray(np.asarray(a), dtype=dtype, backend=backend)

SMOOTH = ["tanh", "sigmoid", "softplus", "elu"]
HIDDEN = {1: (), 2: (5,), 3: (5, 4)}


def _X(n=7, d=6, seed=0):
    return np.random.default_rng(seed).random((n, d))


def _digits(n=600):
    from sklearn.datasets import load_digits

    return (load_digits().data[:n] / 16.0).astype("float32")


def _model(depth=1, act="tanh", **kw):
    params = {"hidden_sizes": HIDDEN[depth], "latent_dim": 3, "activation": act, "latent_activation": act,
              "contractive_weight": 0.7, "random_state": 0, "verbose": 0}
    params.update(kw)
    return ContractiveAutoencoder(**params)


@pytest.mark.parametrize("act", SMOOTH)
@pytest.mark.parametrize("depth", [1, 3])
def test_contractive_loss_passes_gradient_check(xp, depth, act):
    # MSE on data in [0, 0.5] and λ = 10 keep the loss small next to its encoder gradients: a
    # 3-layer sigmoid encoder's first-layer gradients are otherwise near the rounding floor of
    # central differences (measured worst 4e-7 over 18 seeds and data sets in this setting).
    model = _model(depth, act, loss="mse", contractive_weight=10.0, backend=xp.name)
    result = check_model(model, 0.5 * _X())
    assert result.passed, str(result)


@pytest.mark.parametrize("depth", [1, 3])
def test_contractive_bce_loss_passes_gradient_check(xp, depth):
    result = check_model(_model(depth, "tanh", contractive_weight=1.0, backend=xp.name), _X())
    assert result.passed, str(result)


@pytest.mark.parametrize("method", ["gram", "recurrence"])
@pytest.mark.parametrize("depth", [2, 3])
def test_every_exact_method_passes_the_gradient_check(xp, depth, method):
    """The Gram form and the recurrence, each forced, on the full model (tanh hidden layers,
    sigmoid code, the benchmark's shape in small)."""
    model = _model(depth, "tanh", latent_activation="sigmoid", loss="mse", contractive_weight=10.0,
                   contractive_method=method, backend=xp.name)
    result = check_model(model, 0.5 * _X())
    assert result.passed, str(result)


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_gram_and_recurrence_models_agree_to_rounding(depth):
    X = _X()
    common = {"dtype": "float64", "latent_activation": "sigmoid"}
    loss_g, grads_g = _model(depth, "softplus", contractive_method="gram", **common).loss_and_grad(X)
    loss_r, grads_r = _model(depth, "softplus", contractive_method="recurrence", **common).loss_and_grad(X)
    assert abs(loss_g - loss_r) <= 1e-13 * abs(loss_r)
    for name, g in grads_r.items():
        assert relative_error(grads_g[name], g) < 1e-12, name
    model = _model(depth, "softplus", contractive_method="gram", **common)
    model.loss_and_grad(X)
    scores_g = model.score_samples(X)
    model.set_params(contractive_method="recurrence")
    np.testing.assert_allclose(scores_g, model.score_samples(X), rtol=1e-13)


@pytest.mark.parametrize("broken", ["one_sided_gram", "no_second_derivative"])
def test_gradcheck_catches_a_broken_gram_backward(monkeypatch, broken):
    """dW_1 = W_1 dΓ (one side of Γ = W_1ᵀW_1 forgotten) or the first layer's f″ term dropped:
    the model-level check must fail."""
    real = penalties.contractive_penalty_and_grad

    def wrong(*args, **kwargs):
        P, dWs, dzs = real(*args, **kwargs)
        if broken == "one_sided_gram":
            return P, [0.5 * dWs[0], *dWs[1:]], dzs
        return P, dWs, [0.0 * dzs[0], *dzs[1:]]

    monkeypatch.setattr(contractive_module.penalties, "contractive_penalty_and_grad", wrong)
    model = _model(3, "tanh", contractive_weight=1.0, contractive_method="gram")
    result = check_model(model, _X())
    assert not result.passed, str(result)


@pytest.mark.parametrize("depth", [1, 3])
def test_gradcheck_catches_a_backward_without_the_second_derivative_term(monkeypatch, depth):
    """Dropping dz_l = f″(z_l)·Σ_d(G_l·A_l) must fail the check: the test can fail."""
    real = penalties.contractive_penalty_and_grad

    def without_dz(*args, **kwargs):
        P, dWs, dzs = real(*args, **kwargs)
        return P, dWs, [0.0 * dz for dz in dzs]

    monkeypatch.setattr(contractive_module.penalties, "contractive_penalty_and_grad", without_dz)
    result = check_model(_model(depth, "tanh", contractive_weight=1.0), _X())
    assert not result.passed, str(result)


def test_one_sigmoid_layer_penalty_equals_rifai_closed_form():
    X = _X()
    model = _model(1, "sigmoid", contractive_weight=0.7, dtype="float64")
    loss, _ = model.loss_and_grad(X)
    p = {k: B.to_numpy(v) for k, v in model.parameters().items()}
    h = 1 / (1 + np.exp(-(X @ p["encoder.0.W"] + p["encoder.0.b"])))
    y = h @ p["decoder.0.W"] + p["decoder.0.b"]
    recon_rows = (np.logaddexp(0, y) - X * y).sum(axis=1)
    rifai_rows = 0.7 * ((h * (1 - h)) ** 2 * (p["encoder.0.W"] ** 2).sum(axis=0)).sum(axis=1)
    expected = recon_rows.mean() + rifai_rows.mean()
    assert abs(loss - expected) <= 1e-12 * expected
    np.testing.assert_allclose(model.score_samples(X), -(recon_rows + rifai_rows), rtol=1e-12)


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_jacobian_matches_finite_differences_of_transform(xp, depth):
    hidden = {1: (), 2: (5,), 3: (5, 4)}[depth]
    X = _X()
    model = ContractiveAutoencoder(hidden_sizes=hidden, latent_dim=3, activation="softplus",
                                   latent_activation="tanh", dtype="float64", epochs=1, random_state=0,
                                   verbose=0, backend=xp.name).fit(X)
    J = model.jacobian(X)
    assert isinstance(J, np.ndarray) and J.shape == (7, 3, 6)
    eps, numeric = 1e-6, np.zeros_like(J)
    for d in range(6):
        step = np.zeros_like(X)
        step[:, d] = eps
        numeric[:, :, d] = (model.transform(X + step) - model.transform(X - step)) / (2 * eps)
    assert relative_error(J, numeric) < 1e-8
    Jb = model.jacobian(to_backend(xp, X))
    assert B.backend_of(Jb).name == xp.name
    assert relative_error(Jb, J) == 0.0


@pytest.mark.parametrize("method", ["auto", "recurrence"])
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_loss_and_gradients_match_a_pytorch_autograd_twin(depth, method):
    torch = pytest.importorskip("torch")
    from torch.func import jacrev, vmap

    X = _X()
    model = _model(depth, "softplus", contractive_weight=0.7, dtype="float64", contractive_method=method)
    loss, grads = model.loss_and_grad(X)
    p = {k: torch.tensor(B.to_numpy(v), dtype=torch.float64, requires_grad=True)
         for k, v in model.parameters().items()}
    f = torch.nn.functional.softplus

    def encode(x):
        for i in range(depth):
            x = f(x @ p[f"encoder.{i}.W"] + p[f"encoder.{i}.b"])
        return x

    x = torch.tensor(X, dtype=torch.float64)
    y = encode(x)
    for i in range(depth):
        y = y @ p[f"decoder.{i}.W"] + p[f"decoder.{i}.b"]
        y = f(y) if i < depth - 1 else y
    recon = torch.nn.functional.binary_cross_entropy_with_logits(y, x, reduction="sum") / x.shape[0]
    J = vmap(jacrev(encode))(x)  # (N, K, D), differentiable with respect to p
    twin = recon + 0.7 * (J ** 2).sum(dim=(1, 2)).mean()
    twin.backward()
    assert abs(loss - twin.item()) <= 1e-9 * abs(twin.item())
    for name, g in grads.items():
        ref = p[name].grad.numpy()
        assert np.linalg.norm(g - ref) <= 1e-7 * np.linalg.norm(ref), name
    J_ours = model.jacobian(X)
    assert relative_error(J_ours, J.detach().numpy()) < 1e-12


def test_contractive_model_has_smaller_jacobian_singular_values_than_a_plain_one():
    """Digits, 600 rows, 64-32-8 tanh, 10 epochs, same seed. Measured: mean singular values
    (largest first) 1.80, 1.15, 0.55, … plain vs 1.12, 0.61, 0.28, … at λ = 0.1; singular values
    above 0.5 per sample 2.6 vs 1.6; reconstruction BCE 24.8 vs 25.1."""
    X = _digits()
    common = {"hidden_sizes": (32,), "latent_dim": 8, "activation": "tanh", "latent_activation": "tanh",
              "epochs": 10, "batch_size": 64, "learning_rate": 3e-3, "random_state": 0, "verbose": 0}
    plain_ae = Autoencoder(**common).fit(X)
    plain = ContractiveAutoencoder(contractive_weight=0.0, **common).fit(X)
    # with λ = 0 the model is the plain autoencoder, so its Jacobian stands for the plain one's
    np.testing.assert_allclose(plain.history_["loss"], plain_ae.history_["loss"], rtol=1e-6)
    cae = ContractiveAutoencoder(contractive_weight=0.1, **common).fit(X)
    s_plain = np.linalg.svd(plain.jacobian(X[:200]), compute_uv=False)
    s_cae = np.linalg.svd(cae.jacobian(X[:200]), compute_uv=False)
    assert s_cae.mean(axis=0)[0] < 0.75 * s_plain.mean(axis=0)[0]
    assert (s_cae > 0.5).sum(axis=1).mean() < (s_plain > 0.5).sum(axis=1).mean() - 0.5
    assert cae.history_["contractive"][-1] > 0


def test_history_reports_the_penalty_separately():
    X = _digits(200)
    model = ContractiveAutoencoder(hidden_sizes=(16, 8), latent_dim=4, activation="tanh", epochs=2, batch_size=64,
                                   contractive_weight=0.5, random_state=0, verbose=0)
    model.fit(X, validation_data=X[:50])
    h = model.history_
    for key in ("loss", "reconstruction", "contractive", "val_loss", "val_reconstruction", "val_contractive"):
        assert len(h[key]) == 2, key
    np.testing.assert_allclose(np.add(h["reconstruction"], h["contractive"]), h["loss"], rtol=1e-5)
    assert all(c > 0 for c in h["val_contractive"])


def test_bad_contractive_weight_is_refused_and_the_model_is_clonable():
    with pytest.raises(ValueError, match="contractive_weight must be a non-negative finite number; got -0.1"):
        _model(contractive_weight=-0.1).fit(_X())
    with pytest.raises(ValueError, match="Unknown contractive_method 'fast'"):
        _model(contractive_method="fast").fit(_X())
    with pytest.raises(ValueError, match=r"'one_layer' is exact only for a one-layer encoder; got hidden_sizes=\(5, 4\)"):
        _model(3, contractive_method="one_layer").fit(_X())
    assert _model(1, contractive_method="one_layer", epochs=1).fit(_X()).history_["contractive"][0] > 0
    assert clone(_model(contractive_weight=0.3)).get_params()["contractive_weight"] == 0.3


def test_jacobian_before_fit_raises_not_fitted():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError, match="This ContractiveAutoencoder instance is not fitted yet"):
        _model().jacobian(_X())
