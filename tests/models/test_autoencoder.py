import math

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

import npae
from npae import backend as B
from npae.gradcheck import check_model
from npae.training import EarlyStopping, ModelCheckpoint, TerminateOnNaN


@pytest.fixture
def data(rng):
    return rng.random((40, 12))


def small(**kw):
    params = dict(hidden_sizes=(8,), latent_dim=3, epochs=3, batch_size=16, random_state=0, verbose=0)
    params.update(kw)
    return npae.Autoencoder(**params)


# ---------------------------------------------------------------- structure
def test_parameter_names_and_shapes_mirror_the_encoder(data):
    ae = small(hidden_sizes=(10, 6)).fit(data)
    shapes = {k: tuple(v.shape) for k, v in ae.parameters().items()}
    assert shapes == {
        "encoder.0.W": (12, 10), "encoder.0.b": (10,), "encoder.1.W": (10, 6), "encoder.1.b": (6,),
        "encoder.2.W": (6, 3), "encoder.2.b": (3,), "decoder.0.W": (3, 6), "decoder.0.b": (6,),
        "decoder.1.W": (6, 10), "decoder.1.b": (10,), "decoder.2.W": (10, 12), "decoder.2.b": (12,),
    }
    assert ae.n_features_in_ == 12


def test_init_only_stores_hyperparameters():
    ae = npae.Autoencoder(hidden_sizes=(5,), activation="not-checked-yet")
    assert ae.get_params()["activation"] == "not-checked-yet"
    assert not hasattr(ae, "encoder_")


# ---------------------------------------------------------------- correctness
@pytest.mark.parametrize("activation, latent, loss, hidden", [
    ("tanh", "identity", "bce", (7,)),
    ("relu", "identity", "mse", (7, 5)),
    ("softplus", "sigmoid", "bce", (6, 5)),
    ("elu", "tanh", "mse", ()),
])
def test_full_loss_passes_gradcheck_on_every_backend(xp, data, activation, latent, loss, hidden):
    ae = small(hidden_sizes=hidden, activation=activation, latent_activation=latent, loss=loss,
               dtype="float64", backend=xp.name)
    result = check_model(ae, data)
    assert result.passed, str(result)
    assert len(result.errors) == 4 * (len(hidden) + 1)


def test_loss_and_grad_matches_pytorch_autograd(data):
    torch = pytest.importorskip("torch")
    for loss in ("bce", "mse"):
        ae = small(hidden_sizes=(7, 5), activation="tanh", loss=loss, dtype="float64")
        value, grads = ae.loss_and_grad(data)
        params = {k: torch.tensor(v, requires_grad=True) for k, v in ae.parameters().items()}
        h = torch.tensor(data)
        for prefix, n in (("encoder", 3), ("decoder", 3)):
            for i in range(n):
                h = h @ params[f"{prefix}.{i}.W"] + params[f"{prefix}.{i}.b"]
                if i < n - 1:  # tanh hidden layers; identity code and linear output last
                    h = torch.tanh(h)
        target = torch.tensor(data)
        if loss == "bce":
            ref = torch.nn.functional.binary_cross_entropy_with_logits(h, target, reduction="none").sum(1).mean()
        else:
            ref = ((h - target) ** 2).sum(1).mean()
        ref.backward()
        assert math.isclose(value, ref.item(), rel_tol=1e-12)
        for name, g in grads.items():
            assert npae.gradcheck.relative_error(g, params[name].grad.numpy()) < 1e-12, name


def test_loss_and_grad_does_not_update_parameters(data):
    ae = small().fit(data)
    before = {k: v.copy() for k, v in ae.parameters().items()}
    ae.loss_and_grad(data)
    for k, v in ae.parameters().items():
        np.testing.assert_array_equal(v, before[k])


def test_loss_and_grad_builds_an_unfitted_model(data):
    ae = small()
    loss, grads = ae.loss_and_grad(data)
    assert math.isfinite(loss) and set(grads) == set(ae.parameters())


# ---------------------------------------------------------------- training
def test_fit_lowers_the_loss_and_records_history(data):
    ae = small(epochs=30, learning_rate=1e-2).fit(data, validation_data=data[:10])
    assert len(ae.history_["loss"]) == 30 and len(ae.history_["val_loss"]) == 30
    assert ae.history_["loss"][-1] < 0.9 * ae.history_["loss"][0]


def test_fit_is_deterministic_and_seed_dependent(data):
    a, b = small().fit(data), small().fit(data)
    c = small(random_state=1).fit(data)
    for k in a.parameters():
        np.testing.assert_array_equal(a.parameters()[k], b.parameters()[k])
    assert not np.array_equal(a.parameters()["encoder.0.W"], c.parameters()["encoder.0.W"])


def test_float32_stays_float32_end_to_end(data):
    ae = small(dtype="float32").fit(data)
    assert all(v.dtype == np.float32 for v in ae.parameters().values())
    assert ae.transform(data).dtype == np.float32 and ae.score_samples(data).dtype == np.float32


def test_train_on_every_backend_agrees_with_numpy(xp, data):
    ref = small(dtype="float64", backend="numpy").fit(data)
    ae = small(dtype="float64", backend=xp.name).fit(data)
    np.testing.assert_allclose(ae.history_["loss"], ref.history_["loss"], rtol=1e-10)
    Xb = B.asarray(data, dtype="float64")
    Z = ae.transform(Xb)
    assert B.backend_of(Z).name == xp.name  # backend arrays in, backend arrays out
    np.testing.assert_allclose(B.to_numpy(Z), ref.transform(data), rtol=1e-8, atol=1e-12)
    assert isinstance(ae.transform(data), np.ndarray)  # NumPy in, NumPy out


def test_partial_fit_and_warm_start_continue_training(data):
    ae = small(epochs=2, warm_start=True).fit(data)
    W = ae.parameters()["encoder.0.W"].copy()
    ae.fit(data)
    assert len(ae.history_["loss"]) == 4
    assert not np.array_equal(W, ae.parameters()["encoder.0.W"])
    ae.partial_fit(data)
    assert len(ae.history_["loss"]) == 5


def test_progress_bar_shows_with_verbose_and_is_silent_without(data, capsys):
    small(verbose=0).fit(data)
    assert capsys.readouterr().err == ""
    small(verbose=1).fit(data)
    err = capsys.readouterr().err
    assert "epoch" in err and "loss" in err


def test_early_stopping_restores_best_weights(data):
    stopper = EarlyStopping(monitor="loss", patience=1)
    ae = small(epochs=50, learning_rate=5.0, optimizer="sgd")
    with pytest.warns(RuntimeWarning):
        ae.fit(data, callbacks=[stopper, TerminateOnNaN()])
    assert len(ae.history_["loss"]) < 50
    assert all(np.all(np.isfinite(v)) for v in ae.parameters().values())


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_divergence_raises_naming_the_epoch_and_keeps_finite_parameters(data):
    ae = small(epochs=20, learning_rate=1e3, optimizer="sgd", loss="mse")
    with pytest.raises(FloatingPointError, match=r"in epoch \d+"):
        ae.fit(data * 1e3)
    if ae._is_built():  # an epoch completed: its last finite state (otherwise the model stays unfitted)
        assert all(np.all(np.isfinite(v)) for v in ae.parameters().values())


def test_checkpoint_callback_writes_loadable_files(data, tmp_path):
    ae = small(epochs=2).fit(data, callbacks=[ModelCheckpoint(tmp_path / "ck-{epoch}.npz")])
    loaded = npae.load(tmp_path / "ck-2.npz")
    np.testing.assert_allclose(loaded.transform(data), ae.transform(data), rtol=1e-6)


# ---------------------------------------------------------------- scikit-learn contract
def test_clone_get_params_pipeline_and_grid_search(rng):
    X = rng.random((60, 10))
    y = (X[:, 0] > 0.5).astype(int)
    ae = small(epochs=2)
    assert clone(ae).get_params() == ae.get_params()
    pipe = Pipeline([("ae", small(epochs=2)), ("clf", LogisticRegression())]).fit(X, y)
    assert pipe.predict(X).shape == (60,)
    search = GridSearchCV(small(epochs=2), {"latent_dim": [2, 4]}, cv=2).fit(X)
    assert search.best_params_["latent_dim"] in (2, 4)
    assert small(epochs=2).fit_transform(X).shape == (60, 3)


def test_score_samples_is_minus_the_reconstruction_loss(data):
    ae = small(loss="mse").fit(data)
    X_hat = ae.reconstruct(data)
    np.testing.assert_allclose(ae.score_samples(data), -((X_hat - data) ** 2).sum(1), rtol=1e-5)
    np.testing.assert_allclose(ae.inverse_transform(ae.transform(data)), X_hat, rtol=1e-6)
    assert ae.score(data) == pytest.approx(ae.score_samples(data).mean(), rel=1e-5)


def test_bce_reconstructions_are_probabilities(data):
    X_hat = small().fit(data).reconstruct(data)
    assert X_hat.min() >= 0.0 and X_hat.max() <= 1.0


# ---------------------------------------------------------------- bad input
BAD_INPUTS = [
    (np.ones(12), ValueError, "Expected 2D array, got 1D array"),
    (np.ones((2, 3, 4)), ValueError, "Expected 2D array, got 3D array"),
    (np.ones((0, 12)), ValueError, "0 sample"),
    (np.ones((3, 0)), ValueError, "0 feature"),
    (np.where(np.eye(3, 12) > 0, np.nan, 0.5), ValueError, r"contains NaN \(first at row 0, column 0\)"),
    (np.full((3, 12), np.inf), ValueError, "contains infinity"),
    (np.ones((3, 12), dtype=bool), TypeError, "boolean dtype"),
    (np.ones((3, 12), dtype=complex), TypeError, "complex dtype"),
    (np.array([["a"] * 12]), TypeError, "string dtype"),
    (np.full((3, 12), 2.0), ValueError, r"expects X in \[0, 1\]; got min=2, max=2"),
]


@pytest.mark.parametrize("X, error, message", BAD_INPUTS)
def test_bad_input_is_refused_and_a_fitted_model_is_unchanged(data, X, error, message):
    ae = small().fit(data)
    before = {k: v.copy() for k, v in ae.parameters().items()}
    history = {k: list(v) for k, v in ae.history_.items()}
    for method in (ae.fit, ae.partial_fit, ae.loss_and_grad, ae.score_samples):
        with pytest.raises(error, match=message):
            method(X)
    for k, v in ae.parameters().items():
        np.testing.assert_array_equal(v, before[k])
    assert ae.history_ == history


def test_wrong_feature_count_names_both_widths(data):
    ae = small().fit(data)
    with pytest.raises(ValueError, match="X has 5 features, but Autoencoder is expecting 12 features as input"):
        ae.transform(np.ones((2, 5)))
    with pytest.raises(ValueError, match="Z has 5 features, but Autoencoder is expecting 3"):
        ae.inverse_transform(np.ones((2, 5)))


def test_unfitted_model_says_call_fit(data):
    with pytest.raises(NotFittedError, match="This Autoencoder instance is not fitted yet. Call 'fit'"):
        small().transform(data)


@pytest.mark.parametrize("param, value, message", [
    ("activation", "rleu", "Unknown activation 'rleu'.*Did you mean 'relu'"),
    ("loss", "bec", "Unknown loss 'bec'"),
    ("optimizer", "adma", "Unknown optimizer 'adma'"),
    ("backend", "cupyy", "Unknown backend 'cupyy'.*Did you mean 'cupy'"),
    ("epochs", 0, "epochs must be a positive integer"),
    ("batch_size", -1, "batch_size must be a positive integer"),
    ("learning_rate", 0.0, "learning_rate must be a positive finite number"),
    ("hidden_sizes", (4, 0), "positive integer"),
    ("dtype", "float16", "Unknown dtype 'float16'"),
])
def test_bad_hyperparameters_are_refused_with_the_valid_choices(data, param, value, message):
    with pytest.raises(ValueError, match=message):
        small(**{param: value}).fit(data)


def test_lists_are_accepted_when_numeric(data):
    ae = small().fit(data.tolist())
    assert isinstance(ae.transform(data[:2].tolist()), np.ndarray)


def test_input_from_another_backend_is_refused(data):
    strict = B.asarray(data, backend="array_api_strict")
    with pytest.raises(TypeError, match="array_api_strict array but this Autoencoder runs on the 'numpy' backend"):
        small(backend="numpy").fit(data).transform(strict)


# ---------------------------------------------------------------- persistence
def test_save_load_round_trip_across_backends(xp, data, tmp_path):
    ae = small(backend="numpy").fit(data)
    ae.save(tmp_path / "ae.npz")
    loaded = npae.load(tmp_path / "ae.npz", backend=xp.name)
    np.testing.assert_allclose(B.to_numpy(loaded.transform(B.asarray(data, dtype="float32"))), ae.transform(data), rtol=1e-5, atol=1e-6)
    assert loaded.history_ == ae.history_
    assert loaded.get_params()["hidden_sizes"] == (8,)


def test_resume_from_checkpoint_equals_uninterrupted_training(data, tmp_path):
    full = small(epochs=4, warm_start=True).fit(data)
    stream = np.random.default_rng(0)  # what random_state=0 seeds; a Generator is used as it is, and advances
    half = small(epochs=2, warm_start=True, random_state=stream).fit(data)
    half.save(tmp_path / "half.npz")
    resumed = npae.load(tmp_path / "half.npz")
    assert resumed.optimizer_.iterations == half.optimizer_.iterations
    resumed.set_params(random_state=stream)  # continue the same shuffling stream
    resumed.fit(data)  # 2 more epochs with optimizer state restored
    assert len(resumed.history_["loss"]) == 4
    assert resumed.history_["loss"][2] < full.history_["loss"][0]
