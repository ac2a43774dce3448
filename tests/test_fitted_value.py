"""A fitted model is a value: every consumer reads one fitted snapshot (issue 21).

For every estimator, a fitted model is changed the ways users change models (``set_params`` of
hyperparameters that need a new network or steer training, ``partial_fit``, ``set_weights``), and
then npae's own methods, the ONNX graphs, the Dask wrappers, ``to_torch`` and ``save``/``load``
must compute the same numbers and declare the same shapes and dtypes. Tiny float64 models, so the
consumers agree to double rounding. A consumer whose library is absent is skipped.
"""

import functools

import numpy as np
import pytest

import npae

N, D = 40, 6
BASE = {"hidden_sizes": (4,), "latent_dim": 2, "epochs": 2, "batch_size": 8, "dtype": "float64",
        "random_state": 0, "verbose": 0}
#: estimator -> (constructor keywords, set_params needing a new network (ignored until a refit),
#:               set_params a warm start applies)
ESTIMATORS = {
    "Autoencoder": (npae.Autoencoder, {},
                    {"latent_dim": 3, "loss": "mse", "hidden_sizes": (5,), "dtype": "float32"},
                    {"learning_rate": 0.01}),
    "SparseAutoencoder": (npae.SparseAutoencoder, {"sparsity": "l1", "sparsity_weight": 0.5},
                          {"latent_dim": 3, "sparsity_weight": 5.0, "activation": "tanh"},
                          {"sparsity_weight": 2.0}),
    "DenoisingAutoencoder": (npae.DenoisingAutoencoder, {"noise": "gaussian", "noise_level": 0.2},
                             {"latent_dim": 3, "loss": "mse", "noise_level": 0.9},
                             {"noise_level": 0.5}),
    "ContractiveAutoencoder": (npae.ContractiveAutoencoder, {"contractive_weight": 0.5, "activation": "tanh"},
                               {"latent_dim": 3, "contractive_weight": 50.0, "dtype": "float32"},
                               {"contractive_weight": 5.0}),
    "VAE": (npae.VAE, {}, {"latent_dim": 3, "likelihood": "gaussian", "sigma": 0.3, "beta": 4.0},
            {"beta": 2.0}),
}
CHANGES = ["set_params", "partial_fit", "set_weights"]
CASES = [(name, change) for name in ESTIMATORS for change in CHANGES]
IDS = [f"{name}-{change}" for name, change in CASES]
TOL = {"rtol": 1e-9, "atol": 1e-10}


def _data():
    rng = np.random.default_rng(0)
    return 1.0 / (1.0 + np.exp(-rng.normal(size=(N, 2)) @ rng.normal(size=(2, D))))


@functools.cache
def _changed(name: str, change: str):
    """A fitted model changed by ``change``, then given hyperparameters it must ignore until a refit;
    and what npae's own methods give on it: {"transform", "inverse_transform", "reconstruct",
    "score_samples"} (no score_samples for the VAE: a sampled ELBO)."""
    cls, kwargs, refit_only, warm = ESTIMATORS[name]
    X = _data()
    model = cls(**BASE, **kwargs).fit(X)
    if change == "partial_fit":
        model.set_params(**warm).partial_fit(X)
    elif change == "set_weights":
        rng = np.random.default_rng(1)
        model.set_weights({k: v + 0.1 * rng.normal(size=v.shape) for k, v in model.get_weights().items()})
    model.set_params(**refit_only)
    Z = model.transform(X)
    want = {"transform": Z, "inverse_transform": model.inverse_transform(Z), "reconstruct": model.reconstruct(X)}
    if name != "VAE":
        want["score_samples"] = model.score_samples(X)
    return model, X, want


def test_npae_itself_follows_the_fitted_snapshot():
    """The premise the consumers below rely on: set_params after a fit changes nothing npae
    computes, and a warm start applies the training options it may change."""
    model, X, want = _changed("SparseAutoencoder", "set_params")
    assert want["transform"].shape == (N, BASE["latent_dim"]) and want["transform"].dtype == np.float64
    fresh = npae.SparseAutoencoder(**BASE, sparsity="l1", sparsity_weight=0.5).fit(X)
    np.testing.assert_array_equal(want["score_samples"], fresh.score_samples(X))
    warm, _, warm_want = _changed("SparseAutoencoder", "partial_fit")
    assert warm._as_fitted().sparsity_weight == 2.0 and warm.sparsity_weight == 5.0


@pytest.mark.parametrize("name, change", CASES, ids=IDS)
def test_onnx_graphs_compute_and_declare_what_npae_computes(name, change):
    pytest.importorskip("onnx", reason='the ONNX extra is not installed (pip install "npae[onnx]")')
    skl2onnx = pytest.importorskip("skl2onnx", reason='the ONNX extra is not installed (pip install "npae[onnx]")')
    ort = pytest.importorskip("onnxruntime", reason='the ONNX extra is not installed (pip install "npae[onnx]")')
    import npae.onnx

    model, X, want = _changed(name, change)

    def run(onx, x):
        session = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
        return session.run(None, {session.get_inputs()[0].name: x})[0]

    def declared_width(onx):
        return onx.graph.output[0].type.tensor_type.shape.dim[1].dim_value

    onx = skl2onnx.to_onnx(model, X[:1])
    assert declared_width(onx) == want["transform"].shape[1]
    np.testing.assert_allclose(run(onx, X), want["transform"], **TOL)
    decoder = npae.onnx.to_onnx_decoder(model, dtype="float64")
    assert decoder.graph.input[0].type.tensor_type.shape.dim[1].dim_value == want["transform"].shape[1]
    np.testing.assert_allclose(run(decoder, want["transform"]), want["inverse_transform"], **TOL)
    if "score_samples" in want:
        np.testing.assert_allclose(run(npae.onnx.to_onnx_score_samples(model, dtype="float64"), X),
                                   want["score_samples"], **TOL)


@pytest.mark.parametrize("name, change", CASES, ids=IDS)
def test_dask_blocks_compute_and_declare_what_npae_computes(name, change):
    pytest.importorskip("dask", reason='Dask is not installed (pip install "npae[dask]")')
    pytest.importorskip("dask_ml", reason='dask-ml is not installed (pip install "npae[dask]")')
    import dask.array as da

    import npae.dask as nd

    model, X, want = _changed(name, change)
    wrapper = nd.ParallelPostFit(model)
    for method, want_values in want.items():
        inputs = want["transform"] if method == "inverse_transform" else X
        lazy = getattr(wrapper, method)(da.from_array(inputs, chunks=(15, -1)))
        got = lazy.compute(scheduler="sync")
        assert lazy.shape == got.shape == want_values.shape, method
        assert lazy.dtype == got.dtype == want_values.dtype, method
        np.testing.assert_allclose(got, want_values, **TOL, err_msg=method)
    if name == "VAE":  # sampled: each row draws from its own stream, the same in any block as in memory
        lazy = wrapper.score_samples(da.from_array(X, chunks=(15, -1)))
        got = lazy.compute(scheduler="sync")
        assert lazy.dtype == got.dtype == np.float64 and got.shape == (N,)
        np.testing.assert_allclose(got, model.score_samples(X), **TOL)


@pytest.mark.parametrize("name, change", CASES, ids=IDS)
def test_to_torch_computes_what_npae_computes(name, change):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    from npae.export import to_torch

    model, X, want = _changed(name, change)
    net = to_torch(model)
    with torch.no_grad():
        codes = net.encode(torch.from_numpy(X))
        codes = codes[0] if name == "VAE" else codes  # (mu, log_var)
        decoded = net.decode(torch.from_numpy(want["transform"]))
    np.testing.assert_allclose(codes.numpy(), want["transform"], **TOL)
    np.testing.assert_allclose(decoded.numpy(), want["inverse_transform"], **TOL)


@pytest.mark.parametrize("name, change", CASES, ids=IDS)
def test_save_and_load_keep_the_fitted_model(name, change, tmp_path):
    model, X, want = _changed(name, change)
    model.save(tmp_path / "model.npz")
    loaded = npae.load(tmp_path / "model.npz")
    for method, want_values in want.items():
        inputs = want["transform"] if method == "inverse_transform" else X
        np.testing.assert_array_equal(getattr(loaded, method)(inputs), want_values, err_msg=method)
    if name == "VAE":
        np.testing.assert_array_equal(loaded.score_samples(X), model.score_samples(X))
