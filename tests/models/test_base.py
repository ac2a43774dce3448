"""The estimator contract every npae model keeps (npae.models.base), through public methods only:
hyperparameters stored as given, clone and get_params, NotFittedError wording, the fitted
attributes (n_features_in_, history_), loss_and_grad, weights, save/load, and results returned
as the kind of array that came in."""

import copy
import re

import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.exceptions import NotFittedError

import npae
from npae import backend as B
from npae.io import CheckpointError
from npae.kernels import use_kernels
from npae.models import MODEL_CLASSES, BaseAutoencoder

D, K = 5, 2
COMMON = {"hidden_sizes": (6,), "latent_dim": K, "epochs": 2, "batch_size": 8, "random_state": 0, "verbose": 0}
MODELS = {
    "Autoencoder": lambda **kw: npae.Autoencoder(**{**COMMON, **kw}),
    "SparseAutoencoder": lambda **kw: npae.SparseAutoencoder(**{**COMMON, "sparsity": "kl",
                                                                "latent_activation": "sigmoid", **kw}),
    "DenoisingAutoencoder": lambda **kw: npae.DenoisingAutoencoder(**{**COMMON, "noise": "masking",
                                                                      "noise_level": 0.3, **kw}),
    "ContractiveAutoencoder": lambda **kw: npae.ContractiveAutoencoder(**{**COMMON, "activation": "tanh", **kw}),
    "VAE": lambda **kw: npae.VAE(**{**COMMON, **kw}),
}
NEEDS_FIT = ["transform", "encode", "inverse_transform", "decode", "reconstruct", "score_samples", "score"]


@pytest.fixture(scope="module")
def data():
    return np.random.default_rng(0).random((24, D))


def _host(a):
    return B.to_numpy(a)


def test_every_model_class_is_registered_and_is_a_scikit_learn_transformer():
    assert set(MODELS) <= set(MODEL_CLASSES)
    for name in MODELS:
        cls = MODEL_CLASSES[name]
        assert issubclass(cls, BaseAutoencoder) and issubclass(cls, TransformerMixin)
        assert issubclass(cls, BaseEstimator)


# ---------------------------------------------------------------- __init__, get_params, clone
@pytest.mark.parametrize("name", list(MODELS))
def test_init_stores_the_arguments_as_given_and_nothing_else(name):
    model = MODELS[name](hidden_sizes=[7, 3], learning_rate="not checked until fit")
    params = model.get_params()
    assert params["hidden_sizes"] == [7, 3] and params["learning_rate"] == "not checked until fit"
    assert not [k for k in vars(model) if k.endswith("_")]  # no fitted attribute before fit


@pytest.mark.parametrize("name", list(MODELS))
def test_clone_gives_an_unfitted_model_with_equal_params(name, data):
    model = MODELS[name]().fit(data)
    twin = clone(model)
    assert twin.get_params() == model.get_params()
    assert not hasattr(twin, "n_features_in_")
    with pytest.raises(NotFittedError):
        twin.transform(data)


@pytest.mark.parametrize("name", list(MODELS))
def test_set_params_returns_the_model_and_changes_the_next_fit(name, data):
    model = MODELS[name]()
    assert model.set_params(epochs=3) is model
    assert len(model.fit(data).history_["loss"]) == 3


# ---------------------------------------------------------------- not fitted
@pytest.mark.parametrize("name", list(MODELS))
def test_unfitted_models_raise_not_fitted_error_in_scikit_learn_words(name, data):
    model = MODELS[name]()
    message = (rf"^This {name} instance is not fitted yet\. Call 'fit' with appropriate arguments before "
               r"using this estimator\.$")
    for method in NEEDS_FIT:
        arg = np.zeros((3, K)) if method in ("inverse_transform", "decode") else data
        with pytest.raises(NotFittedError, match=message):
            getattr(model, method)(arg)
    for method in ("parameters", "gradients", "get_weights"):
        with pytest.raises(NotFittedError, match=message):
            getattr(model, method)()
    with pytest.raises(NotFittedError, match=message):
        model.save("never-written.npz")


# ---------------------------------------------------------------- fitted attributes
@pytest.mark.parametrize("name", list(MODELS))
def test_fit_returns_self_and_sets_n_features_in_and_history(name, data):
    model = MODELS[name]()
    assert model.fit(data, validation_data=data[:6]) is model
    assert model.n_features_in_ == D
    history = model.history_
    assert len(history["loss"]) == 2 and len(history["val_loss"]) == 2
    assert all(isinstance(v, float) for values in history.values() for v in values)
    assert all(len(values) == 2 for values in history.values())


@pytest.mark.parametrize("name", list(MODELS))
def test_partial_fit_builds_on_first_call_and_adds_one_epoch_each_time(name, data):
    model = MODELS[name]()
    assert model.partial_fit(data) is model
    assert model.n_features_in_ == D and len(model.history_["loss"]) == 1
    model.partial_fit(data)
    assert len(model.history_["loss"]) == 2


@pytest.mark.parametrize("name", list(MODELS))
def test_a_fresh_fit_restarts_and_warm_start_continues(name, data):
    model = MODELS[name]().fit(data)
    model.fit(data)
    assert len(model.history_["loss"]) == 2  # a fresh fit: new history
    model.set_params(warm_start=True).fit(data)
    assert len(model.history_["loss"]) == 4
    wider = np.random.default_rng(1).random((10, D + 1))
    model.set_params(warm_start=False).fit(wider)
    assert model.n_features_in_ == D + 1  # a fresh fit may change the width (scikit-learn)


# ---------------------------------------------------------------- loss_and_grad and weights
@pytest.mark.parametrize("name", list(MODELS))
def test_loss_and_grad_builds_returns_every_gradient_and_leaves_parameters(name, data):
    model = MODELS[name](dtype="float64")
    loss, grads = model.loss_and_grad(data)
    assert isinstance(loss, float) and np.isfinite(loss)
    assert model.n_features_in_ == D
    params = model.parameters()
    assert list(grads) == list(params)
    for key, g in grads.items():
        assert isinstance(g, np.ndarray) and g.shape == tuple(params[key].shape)
    before = {k: _host(v).copy() for k, v in params.items()}
    kwargs = {"eps": np.zeros((data.shape[0], K))} if name == "VAE" else {}  # else the VAE draws a new eps
    first = model.loss_and_grad(data, **kwargs)
    again, grads_again = model.loss_and_grad(data, **kwargs)
    assert again == first[0]
    for key in grads:
        np.testing.assert_array_equal(grads_again[key], first[1][key])  # gradients do not pile up
    for key, value in model.parameters().items():
        np.testing.assert_array_equal(_host(value), before[key])


@pytest.mark.parametrize("name", list(MODELS))
def test_zero_grad_clears_the_gradients_of_the_last_backward(name, data):
    with use_kernels("reference"):  # the fast kernel clears to None instead, as set_to_none in PyTorch
        model = MODELS[name]()
        model.loss_and_grad(data)
        assert any(np.any(_host(g) != 0.0) for g in model.gradients().values())
        model.zero_grad()
        assert all(np.all(_host(g) == 0.0) for g in model.gradients().values())


@pytest.mark.parametrize("name", list(MODELS))
def test_train_step_returns_the_loss_and_changes_the_parameters(name, data):
    model = MODELS[name]().fit(data)
    before = model.get_weights()
    loss, logs = model.train_step(B.asarray(data, dtype="float32"))
    assert np.isfinite(float(loss)) and isinstance(logs, dict)
    assert any(not np.array_equal(_host(v), _host(before[k])) for k, v in model.parameters().items())


@pytest.mark.parametrize("name", list(MODELS))
def test_get_and_set_weights_round_trip_and_refuse_mismatches(name, data):
    model = MODELS[name]().fit(data)
    snapshot = model.get_weights()
    reference = model.transform(data)
    first = next(iter(model.parameters()))
    model.parameters()[first][...] = 0.0
    assert not np.array_equal(model.transform(data), reference)
    model.set_weights(snapshot)
    np.testing.assert_array_equal(model.transform(data), reference)
    with pytest.raises(ValueError, match=re.escape(f"set_weights is missing parameters {[first]}.")):
        model.set_weights({k: v for k, v in snapshot.items() if k != first})
    shape = tuple(snapshot[first].shape)
    with pytest.raises(ValueError, match=re.escape(f"{first} has shape {shape}; got (1, 1).")):
        model.set_weights({**snapshot, first: np.zeros((1, 1))})


def test_get_weights_are_copies_and_parameters_are_live(data):
    model = MODELS["Autoencoder"]().fit(data)
    weights = model.get_weights()
    key = next(iter(weights))
    weights[key][...] = 7.0
    assert not np.all(model.parameters()[key] == 7.0)
    model.parameters()[key][...] = 7.0  # the live arrays: the model changes
    assert np.all(model.get_weights()[key] == 7.0)


# ---------------------------------------------------------------- kinds returned
@pytest.mark.parametrize("name", list(MODELS))
def test_results_come_back_as_the_kind_of_array_given(name, data, xp):
    model = MODELS[name](backend=xp.name).fit(data)
    on_device = B.asarray(data, dtype="float32", backend=xp)
    Z_device = B.asarray(np.zeros((3, K)), dtype="float32", backend=xp)
    for method, host_arg, device_arg in [("transform", data, on_device), ("reconstruct", data, on_device),
                                         ("score_samples", data, on_device),
                                         ("inverse_transform", np.zeros((3, K)), Z_device)]:
        assert isinstance(getattr(model, method)(host_arg), np.ndarray), method
        assert isinstance(getattr(model, method)(host_arg.tolist()), np.ndarray), method
        out = getattr(model, method)(device_arg)
        assert B.backend_of(out).name == xp.name, method
        if not (name == "VAE" and method == "score_samples"):  # the ELBO is sampled afresh each call
            np.testing.assert_allclose(_host(out), getattr(model, method)(host_arg), rtol=1e-6, atol=1e-7)
    assert isinstance(model.score(on_device), float)


@pytest.mark.parametrize("name", [n for n in MODELS if n != "VAE"])  # the VAE scores its ELBO
def test_score_is_minus_the_mean_squared_reconstruction_error_in_data_space(name, data):
    model = MODELS[name]().fit(data)
    errors = ((model.reconstruct(data).astype(np.float64) - data) ** 2).sum(axis=1)
    np.testing.assert_allclose(model.reconstruction_error(data), errors, rtol=1e-5)
    assert model.score(data) == pytest.approx(-errors.mean(), rel=1e-5)


def test_a_minmax_pipeline_cross_validates_a_bce_model_with_clip(data):
    """Held-out rows past MinMaxScaler's training range are refused by a BCE model (its loss cannot
    take them); with MinMaxScaler(clip=True) every fold scores."""
    from sklearn.model_selection import cross_validate
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler

    model = npae.Autoencoder(hidden_sizes=(4,), latent_dim=K, epochs=2, verbose=0, random_state=0).fit(data)
    with pytest.raises(ValueError, match=r"expects X in \[0, 1\]"):
        model.score(data * 1.5 + 0.1)
    rng = np.random.default_rng(1)
    X = rng.random((90, D)) * rng.uniform(1, 50, size=D)
    pipe = make_pipeline(MinMaxScaler(clip=True), npae.Autoencoder(hidden_sizes=(4,), latent_dim=K, epochs=2,
                                                                   verbose=0))
    assert np.all(np.isfinite(cross_validate(pipe, X, cv=3, error_score="raise")["test_score"]))


def test_extreme_rows_score_without_overflow_warnings(data):
    """Their scores are defined (the lowest finite score); NumPy's overflow warning is not leaked, so code
    run under warnings-as-errors (pytest's filterwarnings = error) still gets them."""
    import warnings

    model = npae.Autoencoder(hidden_sizes=(4,), latent_dim=K, loss="mse", epochs=2, verbose=0).fit(data)
    extreme = data[:4].copy()
    extreme[1] = 1e30
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        scores = model.score_samples(extreme)
        errors = model.reconstruction_error(extreme)
        mean = model.score(extreme)
    assert scores[1] == -np.finfo(np.float32).max and errors[1] == np.finfo(np.float32).max
    assert np.isfinite(mean)


@pytest.mark.parametrize("name", list(MODELS))
def test_shapes_of_the_transformer_methods(name, data):
    model = MODELS[name]().fit(data)
    assert model.transform(data).shape == (24, K) and model.encode(data).shape == (24, K)
    assert model.inverse_transform(np.zeros((3, K))).shape == (3, D)
    assert model.decode(np.zeros((3, K))).shape == (3, D)
    assert model.reconstruct(data).shape == (24, D) and model.score_samples(data).shape == (24,)
    assert model.fit_transform(data).shape == (24, K)


# ---------------------------------------------------------------- save / load
@pytest.mark.parametrize("name", list(MODELS))
def test_save_load_round_trip_keeps_class_params_weights_and_history(name, data, tmp_path):
    model = MODELS[name]().fit(data, validation_data=data[:6])
    path = tmp_path / f"{name}.npz"
    model.save(path)
    loaded = npae.load(path)
    assert type(loaded) is type(model) and loaded.get_params() == model.get_params()
    assert loaded.n_features_in_ == D and loaded.history_ == model.history_
    for key, value in model.parameters().items():
        np.testing.assert_array_equal(_host(loaded.parameters()[key]), _host(value))
    np.testing.assert_array_equal(loaded.transform(data), model.transform(data))
    np.testing.assert_array_equal(loaded.reconstruct(data), model.reconstruct(data))


@pytest.mark.parametrize("include_optimizer", [True, False])
def test_a_loaded_model_resumes_training(data, tmp_path, include_optimizer):
    model = MODELS["Autoencoder"](warm_start=True).fit(data)
    model.save(tmp_path / "ae.npz", include_optimizer=include_optimizer)
    loaded = npae.load(tmp_path / "ae.npz")
    assert loaded.optimizer_.iterations == (model.optimizer_.iterations if include_optimizer else 0)
    loaded.fit(data)
    assert len(loaded.history_["loss"]) == 4


def _assert_same_weights(a, b):
    assert sorted(a.parameters()) == sorted(b.parameters())
    for key, value in a.parameters().items():
        np.testing.assert_array_equal(_host(b.parameters()[key]), _host(value), err_msg=key)


@pytest.mark.parametrize("name", list(MODELS))
def test_a_loaded_model_resumes_training_exactly_where_it_stopped(name, data, tmp_path):
    """save's promise: fit(2 epochs) -> save -> load -> warm fit(1 epoch) is fit(3 epochs), bit
    for bit (the training stream, i.e. shuffles, noise and eps, is saved with the weights)."""
    three = MODELS[name](epochs=3, random_state=7).fit(data)
    MODELS[name](epochs=2, random_state=7).fit(data).save(tmp_path / "m.npz")
    resumed = npae.load(tmp_path / "m.npz").set_params(warm_start=True, epochs=1).fit(data)
    _assert_same_weights(three, resumed)
    assert resumed.history_["loss"] == three.history_["loss"]


@pytest.mark.parametrize("name", list(MODELS))
def test_partial_fit_after_load_continues_the_models_own_stream(name, data, tmp_path):
    model = MODELS[name](random_state=7).fit(data)
    model.save(tmp_path / "m.npz")
    loaded = npae.load(tmp_path / "m.npz")
    model.partial_fit(data)
    loaded.partial_fit(data)  # not a stream seeded 0, nor a replay of random_state's first epoch
    _assert_same_weights(model, loaded)


def test_a_loaded_denoiser_keeps_the_data_range_it_was_trained_on(tmp_path):
    X = np.random.default_rng(0).random((24, D)) * 4.0 - 1.0  # in [-1, 3]
    model = MODELS["DenoisingAutoencoder"](loss="mse", noise="gaussian", noise_level=0.5).fit(X)
    model.save(tmp_path / "d.npz")
    loaded = npae.load(tmp_path / "d.npz")
    assert (loaded.data_min_, loaded.data_max_) == (model.data_min_, model.data_max_)
    assert loaded.noise_range_ == model.noise_range_
    part = X[:4] * 0.1  # a narrower range: the corruption still clips to the trained one
    np.testing.assert_array_equal(loaded.corrupt(part, random_state=1), model.corrupt(part, random_state=1))
    model.set_params(warm_start=True, epochs=1).fit(part)
    loaded.set_params(warm_start=True, epochs=1).fit(part)
    _assert_same_weights(model, loaded)


def test_load_refuses_a_file_that_does_not_hold_an_npae_model(tmp_path):
    from npae import io

    path = tmp_path / "other.npz"
    io.write_checkpoint(path, {"param:w": np.zeros(2)}, {"class": "RandomForest", "params": {}})
    with pytest.raises(CheckpointError, match=r"holds a 'RandomForest', which is not an npae model \(known: "):
        npae.load(path)


def test_a_generator_as_random_state_is_used_and_advanced(data):
    rng = np.random.default_rng(5)
    first = MODELS["Autoencoder"](random_state=rng).fit(data)
    second = MODELS["Autoencoder"](random_state=rng).fit(data)  # the stream moved on
    assert not np.array_equal(first.transform(data), second.transform(data))
    again = MODELS["Autoencoder"](random_state=np.random.default_rng(5)).fit(data)
    np.testing.assert_array_equal(again.transform(data), first.transform(data))


# ---------------------------------------------------------------- failed refits (issue 15, item 9)
def _state(model):
    return ({k: _host(v).copy() for k, v in model.parameters().items()},
            {k: list(v) for k, v in model.history_.items()}, model.n_features_in_, model.optimizer_.iterations)


def _assert_same_state(model, state, data):
    params, history, n_features, iterations = state
    assert model.n_features_in_ == n_features and model.optimizer_.iterations == iterations
    assert {k: list(v) for k, v in model.history_.items()} == history
    assert sorted(model.parameters()) == sorted(params)
    for key, value in params.items():
        np.testing.assert_array_equal(_host(model.parameters()[key]), value, err_msg=key)
    assert model.transform(data).shape == (data.shape[0], K)


@pytest.mark.parametrize("name", list(MODELS))
def test_a_refit_that_runs_out_of_memory_building_keeps_the_fitted_model(name, data, monkeypatch):
    model = MODELS[name]().fit(data)
    state = _state(model)
    original = type(model)._build

    def build_then_fail(self, n_features, rng):
        original(self, n_features, rng)  # half the new network is in place when memory runs out
        raise MemoryError("simulated: no memory for the new width")

    monkeypatch.setattr(type(model), "_build", build_then_fail)
    wider = np.random.default_rng(1).random((10, D + 1))
    with pytest.raises(MemoryError, match="simulated"):
        model.fit(wider)
    monkeypatch.undo()
    _assert_same_state(model, state, data)


@pytest.mark.parametrize("warm_start", [False, True])
def test_a_refit_whose_callback_fails_before_an_epoch_completes_keeps_the_fitted_model(data, warm_start):
    model = MODELS["Autoencoder"]().fit(data)
    state = _state(model)

    class Broken(npae.training.Callback):
        def on_train_begin(self, logs=None):
            raise RuntimeError("broken callback")

    with pytest.raises(RuntimeError, match="broken callback"):
        model.set_params(warm_start=warm_start).fit(data, callbacks=[Broken()])
    _assert_same_state(model, state, data)


@pytest.mark.parametrize("warm_start", [False, True])
def test_a_fit_that_fails_mid_epoch_leaves_the_training_stream_where_it_was(data, warm_start, monkeypatch):
    """The weights come back, and so does the Generator the failed call drew its shuffles from: the
    next partial_fit (and a saved file) are what they would have been without the failed call."""
    model = MODELS["Autoencoder"](batch_size=4).fit(data)
    twin = copy.deepcopy(model)
    calls = []
    real = type(model).train_step

    def fail_on_the_third_step(self, X):
        calls.append(1)
        if len(calls) == 3:
            raise MemoryError("simulated")
        return real(self, X)

    monkeypatch.setattr(type(model), "train_step", fail_on_the_third_step)
    with pytest.raises(MemoryError, match="simulated"):
        model.set_params(warm_start=warm_start).fit(data)
    monkeypatch.undo()
    assert model._rng.bit_generator.state == twin._rng.bit_generator.state
    model.set_params(warm_start=False).partial_fit(data)
    twin.partial_fit(data)
    for name, value in twin.parameters().items():
        np.testing.assert_array_equal(_host(model.parameters()[name]), _host(value))


def test_a_new_network_is_published_whole_while_it_is_built(data, monkeypatch):
    """A fit from scratch builds the new layers beside the old model: a thread reading the model
    meanwhile sees the old layers with the old configuration, then the new ones with the new."""
    model = MODELS["Autoencoder"]().fit(data)
    old_decoder, old_fitted = model.decoder_, model._fitted_params
    real_build = type(model)._build
    seen = []

    def build(self, n_features, rng):
        real_build(self, n_features, rng)
        seen.append((model.decoder_ is old_decoder, model._fitted_params is old_fitted))

    monkeypatch.setattr(type(model), "_build", build)
    model.set_params(latent_dim=model.latent_dim + 1).fit(data)
    assert seen == [(True, True)]
    assert model.decoder_ is not old_decoder and model._fitted_params["latent_dim"] == model.latent_dim


@pytest.mark.parametrize("changed", [{"learning_rate": 0.5}, {"clip_norm": 0.25}])
def test_a_failed_warm_fit_leaves_the_optimizer_settings_as_fitted(data, changed):
    """A warm start sets a changed learning_rate / clip_norm on the optimizer itself; a fit that
    fails before an epoch completes must put them back, and the next warm fit, with the
    hyperparameters set back, must train as before (not at the failed call's rate)."""
    model = MODELS["Autoencoder"](learning_rate=1e-3).fit(data)
    before = {key: getattr(model.optimizer_, key) for key in changed}

    class Broken(npae.training.Callback):
        def on_train_begin(self, logs=None):
            raise RuntimeError("broken callback")

    with pytest.raises(RuntimeError, match="broken callback"):
        model.set_params(warm_start=True, **changed).fit(data, callbacks=[Broken()])
    assert {key: getattr(model.optimizer_, key) for key in changed} == before
    model.set_params(learning_rate=1e-3, clip_norm=None).fit(data)
    assert {key: getattr(model.optimizer_, key) for key in changed} == before


def test_misconfigured_callbacks_are_refused_before_the_model_changes(data, tmp_path):
    model = MODELS["Autoencoder"]().fit(data)
    state = _state(model)
    with pytest.raises(ValueError, match="pass validation_data for 'val_loss'"):
        model.fit(data, callbacks=[npae.EarlyStopping()])
    with pytest.raises(ValueError, match="pass validation_data for 'val_loss'"):
        model.fit(data, callbacks=[npae.ModelCheckpoint(tmp_path / "m.npz", save_best_only=True)])
    with pytest.raises(ValueError, match=r"\{val_loss\}"):
        model.fit(data, callbacks=[npae.ModelCheckpoint(tmp_path / "m-{val_loss}.npz")])
    with pytest.raises(TypeError, match="Callback"):
        model.fit(data, callbacks=[object()])
    _assert_same_state(model, state, data)
    assert not list(tmp_path.iterdir())


# ---------------------------------------------------------------- warm starts (issue 15, item 11)
@pytest.mark.parametrize("name", list(MODELS))
def test_warm_fits_continue_the_seeded_stream_instead_of_replaying_it(name, data):
    """Two warm fits of one epoch draw what one fit of two epochs draws (new shuffles and noise
    each time, still determined by the int seed)."""
    two_fits = MODELS[name](epochs=1, warm_start=True).fit(data).fit(data)
    one_fit = MODELS[name](epochs=2).fit(data)
    for key, value in one_fit.parameters().items():
        np.testing.assert_array_equal(_host(two_fits.parameters()[key]), _host(value), err_msg=key)


# ---------------------------------------------------------------- threads (issue 15, item 13)
def test_loss_and_grad_from_two_threads_returns_each_call_its_own_gradients():
    import threading

    rng = np.random.default_rng(0)
    model = npae.Autoencoder(hidden_sizes=(64,), latent_dim=8, dtype="float64", random_state=0, verbose=0)
    Xs = [rng.random((300, 40)), rng.random((300, 40))]
    expected = []
    for X in Xs:
        loss, grads = model.loss_and_grad(X)
        expected.append((loss, {k: np.array(v, copy=True) for k, v in grads.items()}))
    wrong = []

    def work(i):
        for _ in range(40):
            loss, grads = model.loss_and_grad(Xs[i])
            if loss != expected[i][0] or any(not np.array_equal(v, expected[i][1][k]) for k, v in grads.items()):
                wrong.append(i)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []
