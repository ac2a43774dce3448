"""npae.export.to_torch: the PyTorch module computes what the npae estimator computes.

Models are small and trained for a few epochs on real data (the embedded Fashion-MNIST subset);
comparisons are in float64, where the module must agree with npae within 1e-6, and the torch
gradients of npae's objective must equal npae's hand-written ones (so training can continue).
"""

import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from npae import backend as B
from npae.datasets import load_embedded
from npae.models import VAE, Autoencoder, ContractiveAutoencoder, DenoisingAutoencoder, SparseAutoencoder

torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch==2.13.0)")
from npae.export import parameter_names, to_torch

TOL = 1e-6  # float64 agreement the issue asks for
SMALL = {"epochs": 2, "batch_size": 64, "learning_rate": 3e-3, "verbose": 0, "random_state": 0}


@pytest.fixture(scope="module")
def data():
    X_train, _ = load_embedded("train")
    X_test, _ = load_embedded("test")
    return X_train[:600].astype(np.float64), X_test[:100].astype(np.float64)


MODELS = {
    "ae-relu-bce": lambda: Autoencoder(hidden_sizes=(32,), latent_dim=8, dtype="float64", **SMALL),
    "ae-deep-tanh-sigmoid-code-mse": lambda: Autoencoder(hidden_sizes=(32, 16), latent_dim=6, activation="tanh",
                                                        latent_activation="sigmoid", loss="mse", dtype="float64",
                                                        **SMALL),
    "ae-softplus-elu-code": lambda: Autoencoder(hidden_sizes=(24,), latent_dim=5, activation="softplus",
                                               latent_activation="elu", dtype="float64", **SMALL),
    "ae-leaky-relu": lambda: Autoencoder(hidden_sizes=(24,), latent_dim=5, activation="leaky_relu",
                                        latent_activation="relu", dtype="float64", **SMALL),
    "sparse-l1": lambda: SparseAutoencoder(hidden_sizes=(32,), latent_dim=8, sparsity="l1", dtype="float64", **SMALL),
    "denoising": lambda: DenoisingAutoencoder(hidden_sizes=(32,), latent_dim=8, noise="masking", noise_level=0.3,
                                              dtype="float64", **SMALL),
    "contractive": lambda: ContractiveAutoencoder(hidden_sizes=(16,), latent_dim=6, activation="tanh",
                                                  contractive_weight=0.05, dtype="float64", **SMALL),
    "vae-bernoulli": lambda: VAE(hidden_sizes=(32,), latent_dim=4, dtype="float64", **SMALL),
    "vae-gaussian": lambda: VAE(hidden_sizes=(32, 16), latent_dim=4, activation="tanh", likelihood="gaussian",
                                sigma=0.5, dtype="float64", **SMALL),
}


@pytest.fixture(scope="module")
def fitted(data):
    X_train, _ = data
    return {name: make().fit(X_train) for name, make in MODELS.items()}


def _t(a):
    return torch.from_numpy(np.ascontiguousarray(a))


def _max_abs(a, b):
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))))


# --------------------------------------------------------------------------------------------
# outputs


@pytest.mark.parametrize("name", [n for n in MODELS if not n.startswith("vae")])
def test_autoencoder_module_encodes_decodes_and_reconstructs_like_npae(fitted, data, name):
    model, (_, X) = fitted[name], data
    net = to_torch(model)
    assert isinstance(net, torch.nn.Module)
    with torch.no_grad():
        code = net.encode(_t(X)).numpy()
        back = net.decode(_t(model.transform(X))).numpy()
        recon = net(_t(X)).numpy()
    assert code.dtype == np.float64 and code.shape == (X.shape[0], model.latent_dim)
    assert _max_abs(code, model.transform(X)) <= TOL
    assert _max_abs(back, model.inverse_transform(model.transform(X))) <= TOL
    assert _max_abs(recon, model.reconstruct(X)) <= TOL


@pytest.mark.parametrize("name", ["vae-bernoulli", "vae-gaussian"])
def test_vae_module_heads_decoder_and_sampled_forward_match_npae(fitted, data, name):
    model, (_, X) = fitted[name], data
    net = to_torch(model)
    assert isinstance(net.mu, torch.nn.Linear) and isinstance(net.logvar, torch.nn.Linear)
    with torch.no_grad():
        mu, log_var = net.encode(_t(X))
        decoded = net.decode(mu).numpy()
    assert _max_abs(mu.numpy(), model.transform(X)) <= TOL
    assert _max_abs(decoded, model.inverse_transform(model.transform(X))) <= TOL
    # log_var against npae's own head: the parameters are the same numbers, so is the head output
    W, b = (B.to_numpy(model.parameters()[f"encoder.logvar.{k}"]) for k in ("W", "b"))
    hidden = net.encoder(_t(X)).detach().numpy()
    assert _max_abs(log_var.numpy(), np.clip(hidden @ W + b, -30.0, 20.0)) <= TOL
    # a sampled forward with given eps is deterministic: z = mu + exp(log_var / 2) * eps
    eps = np.random.default_rng(1).standard_normal((X.shape[0], model.latent_dim))
    with torch.no_grad():
        x_hat, _, _ = net(_t(X), eps=_t(eps))
    z = model.transform(X) + np.exp(0.5 * log_var.numpy()) * eps
    assert _max_abs(x_hat.numpy(), model.inverse_transform(z)) <= TOL


def test_float32_model_gives_a_float32_module_that_agrees_to_float32_rounding(data):
    X_train, X = (a.astype(np.float32) for a in data)
    model = Autoencoder(hidden_sizes=(32,), latent_dim=8, **SMALL).fit(X_train)
    net = to_torch(model)
    assert all(p.dtype == torch.float32 for p in net.parameters())
    with torch.no_grad():
        code = net.encode(_t(X)).numpy()
    assert code.dtype == np.float32
    np.testing.assert_allclose(code, model.transform(X), rtol=1e-5, atol=1e-5)


def test_model_trained_on_another_backend_converts_through_the_host(data):
    pytest.importorskip("array_api_strict")
    X_train, X = data
    model = Autoencoder(hidden_sizes=(16,), latent_dim=4, dtype="float64", backend="array_api_strict",
                        **SMALL).fit(X_train[:200])
    net = to_torch(model)
    with torch.no_grad():
        code = net.encode(_t(X)).numpy()
    assert _max_abs(code, B.to_numpy(model.transform(B.asarray(X, backend=model.backend_)))) <= TOL


# --------------------------------------------------------------------------------------------
# training continues in PyTorch


def _torch_param(net, name):
    """npae parameter name ("encoder.0.W", "encoder.mu.b", ...) -> the torch tensor in npae's layout."""
    part, index, kind = name.split(".")
    if index in ("mu", "logvar"):
        linear = getattr(net, index)
    else:
        linear = [m for m in getattr(net, part) if isinstance(m, torch.nn.Linear)][int(index)]
    return linear.weight.grad.T if kind == "W" else linear.bias.grad


def _bce_sum(logits, x):
    return torch.nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="sum")


@pytest.mark.parametrize("name", ["ae-relu-bce", "ae-deep-tanh-sigmoid-code-mse", "sparse-l1"])
def test_torch_gradients_of_the_objective_equal_npae_backprop(fitted, data, name):
    model, (_, X) = fitted[name], data
    net = to_torch(model)
    x = _t(X)
    N = X.shape[0]
    h = net.encode(x)
    out = net.decoder(h)
    if model.loss == "bce":
        loss = _bce_sum(out, x) / N
    else:
        loss = torch.sum((out - x) ** 2) / N
    if name == "sparse-l1":
        loss = loss + model.sparsity_weight * torch.sum(torch.abs(h)) / N
    loss.backward()
    npae_loss, grads = model.loss_and_grad(X)
    assert abs(loss.item() - npae_loss) <= TOL * max(1.0, abs(npae_loss))
    for key, g in grads.items():
        t = _torch_param(net, key).numpy()
        assert np.linalg.norm(t - g) <= TOL * (np.linalg.norm(g) + 1e-12), key


def test_vae_torch_gradients_with_given_eps_equal_npae_backprop(fitted, data):
    model, (_, X) = fitted["vae-bernoulli"], data
    net = to_torch(model)
    eps = np.random.default_rng(2).standard_normal((X.shape[0], model.latent_dim))
    x = _t(X)
    mu, log_var = net.encode(x)
    logits = net.decoder(net.reparameterize(mu, log_var, _t(eps)))
    kl = -0.5 * torch.sum(1 + log_var - mu**2 - torch.exp(log_var))
    loss = (_bce_sum(logits, x) + model.beta * kl) / X.shape[0]
    loss.backward()
    npae_loss, grads = model.loss_and_grad(X, eps=eps)
    assert abs(loss.item() - npae_loss) <= TOL * max(1.0, abs(npae_loss))
    assert set(grads) >= {"encoder.mu.W", "encoder.logvar.W"}
    for key, g in grads.items():
        t = _torch_param(net, key).numpy()
        assert np.linalg.norm(t - g) <= TOL * (np.linalg.norm(g) + 1e-12), key


def test_training_continues_in_torch_and_lowers_the_loss(fitted, data):
    X_train, _ = data
    model = fitted["ae-relu-bce"]
    net = to_torch(model)
    x = _t(X_train)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    losses = []
    for _ in range(5):
        optimizer.zero_grad()
        loss = _bce_sum(net.decoder(net.encode(x)), x) / x.shape[0]
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert abs(losses[0] + model.score_samples(X_train).mean()) <= TOL * abs(losses[0])  # where npae stopped
    assert losses[-1] < losses[0]


def test_module_owns_copies_of_the_weights(fitted):
    model = fitted["ae-relu-bce"]
    before = B.to_numpy(model.parameters()["encoder.0.W"]).copy()
    net = to_torch(model)
    with torch.no_grad():
        net.encoder[0].weight.add_(1.0)
    np.testing.assert_array_equal(B.to_numpy(model.parameters()["encoder.0.W"]), before)


# --------------------------------------------------------------------------------------------
# refusals and laziness


def test_to_torch_refuses_what_is_not_an_npae_model():
    from sklearn.decomposition import PCA

    with pytest.raises(TypeError, match="to_torch converts npae models.*got PCA"):
        to_torch(PCA())


def test_to_torch_refuses_an_unfitted_model():
    with pytest.raises(NotFittedError, match="This Autoencoder instance is not fitted yet"):
        to_torch(Autoencoder())


def test_importing_npae_and_npae_export_never_imports_torch():
    code = "import sys, npae, npae.export; assert 'torch' not in sys.modules, 'torch was imported'"
    proc = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]


@pytest.mark.parametrize("name", ["ae-deep-tanh-sigmoid-code-mse", "vae-gaussian"])
def test_parameter_names_map_every_torch_tensor_to_its_npae_array(fitted, name):
    model = fitted[name]
    state, names = to_torch(model).state_dict(), parameter_names(model)
    assert set(names) == set(state) and sorted(names.values()) == sorted(model.parameters())
    for torch_key, npae_key in names.items():
        value = state[torch_key].numpy()
        np.testing.assert_array_equal(value.T if value.ndim == 2 else value, B.to_numpy(model.parameters()[npae_key]))
    assert names["encoder.2.weight"] == "encoder.1.W"  # the same-looking names differ beyond layer 0


@pytest.mark.parametrize("name", ["ae-relu-bce", "vae-bernoulli"])
def test_modules_pickle_save_and_script_like_any_torch_module(fitted, data, name, tmp_path):
    import pickle

    net = to_torch(fitted[name])
    x = _t(data[1][:5])
    torch.save(net, tmp_path / "net.pt")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch 2.13 deprecates TorchScript; it still works
        scripted = torch.jit.script(net)
    for other in (pickle.loads(pickle.dumps(net)), torch.load(tmp_path / "net.pt", weights_only=False), scripted):
        with torch.no_grad():
            got, want = other.encode(x), net.encode(x)
        for a, b in zip(got if isinstance(got, tuple) else (got,), want if isinstance(want, tuple) else (want,)):
            assert torch.equal(a, b)
