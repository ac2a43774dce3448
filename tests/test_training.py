import os
import re
import signal
import tracemalloc
import warnings

import numpy as np
import pytest

import npae
from npae import backend as B
from npae.training import EarlyStopping, ModelCheckpoint, minibatches
from tests.helpers import SMALL_MODELS


@pytest.fixture(autouse=True)
def sigint_raises_keyboard_interrupt():
    """The tests that send SIGINT rely on Python's default handler; a suite started as a
    background job inherits SIGINT as ignored, so set it here and restore it after."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def small(**kw):
    params = dict(hidden_sizes=(8,), latent_dim=3, epochs=3, batch_size=16, random_state=0, verbose=0)
    params.update(kw)
    return npae.Autoencoder(**params)


def test_minibatches_cover_every_row_once_in_a_seeded_order(xp):
    X = B.asarray(np.arange(50.0)[:, None], backend=xp)
    batches = [B.to_numpy(b) for b in minibatches(X, 16, rng=0)]
    assert [b.shape[0] for b in batches] == [16, 16, 16, 2]
    rows = np.concatenate(batches)[:, 0]
    assert sorted(rows) == list(range(50)) and not np.array_equal(rows, np.arange(50))
    again = np.concatenate([B.to_numpy(b) for b in minibatches(X, 16, rng=0)])[:, 0]
    np.testing.assert_array_equal(rows, again)


def test_ctrl_c_mid_step_finishes_the_step_and_keeps_a_usable_model(rng):
    X = rng.random((64, 10))
    ae = small(epochs=5, warm_start=True)
    calls = {"n": 0}
    original = npae.optimizers.Adam._update

    def interrupted_update(self, param, grad, state):
        calls["n"] += 1
        if calls["n"] == 8 * 4 + 3:  # 8 arrays per step: in the 5th step, between two updates
            os.kill(os.getpid(), signal.SIGINT)
        original(self, param, grad, state)

    npae.optimizers.Adam._update = interrupted_update
    try:
        with pytest.raises(KeyboardInterrupt):  # it propagates, as in Keras and Lightning
            ae.fit(X)
    finally:
        npae.optimizers.Adam._update = original
    assert calls["n"] == 5 * 8  # the interrupted step still updated all eight arrays
    assert ae.optimizer_.iterations == 5
    assert len(ae.history_["loss"]) == 1  # only the completed epoch is recorded
    assert set(ae.history_) == {"loss"}
    # the parameters are exactly those of 5 uninterrupted steps
    ref = small(epochs=1, warm_start=True).fit(X)
    first_batch = next(minibatches(B.asarray(X, dtype="float32"), 16, rng=ref._rng))
    ref.train_step(first_batch)
    for k, v in ref.parameters().items():
        np.testing.assert_allclose(ae.parameters()[k], v, rtol=1e-6)
    ae.fit(X)  # and training continues
    assert len(ae.history_["loss"]) == 6


def test_early_stopping_with_validation_restores_the_best_epoch(rng):
    X, X_val = rng.random((64, 10)), rng.random((32, 10))
    ae = small(epochs=40, learning_rate=0.05)
    stopper = EarlyStopping(patience=2)
    ae.fit(X, validation_data=X_val, callbacks=[stopper])
    best = min(ae.history_["val_loss"])
    assert ae.evaluate_logs(B.asarray(X_val, dtype="float32"))["loss"] == pytest.approx(best, rel=1e-5)


def test_early_stopping_without_the_monitored_value_says_what_to_pass(rng):
    with pytest.raises(ValueError, match="pass validation_data for 'val_loss'"):
        small().fit(rng.random((20, 5)), callbacks=[EarlyStopping()])


def test_fit_streams_a_memory_map_without_materialising_it(tmp_path):
    n, d = 20_000, 784  # 63 MB of float32 on disk; the peak stays a few batches' worth
    path = tmp_path / "big.npy"
    X = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, d))
    for start in range(0, n, 4096):
        X[start:start + 4096] = np.random.default_rng(start).random((min(4096, n - start), d), dtype=np.float32)
    X.flush()
    del X
    X = np.load(path, mmap_mode="r")
    ae = small(hidden_sizes=(32,), latent_dim=8, epochs=1, batch_size=256)
    small(hidden_sizes=(32,), latent_dim=8, epochs=1, batch_size=256).fit(X[:512])  # compile kernels, warm caches
    tracemalloc.start()
    ae.fit(X)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 0.25 * X.nbytes, f"peak {peak / 1e6:.1f} MB for {X.nbytes / 1e6:.1f} MB of data"
    assert ae.transform(X).shape == (n, 8)
    assert np.isfinite(ae.history_["loss"][0])


def test_a_memory_map_is_batched_row_for_row_like_the_array_in_memory(tmp_path):
    X = np.arange(50.0, dtype=np.float32)[:, None]
    path = tmp_path / "rows.npy"
    np.save(path, X)
    mm = np.load(path, mmap_mode="r")
    in_memory = [B.to_numpy(b) for b in minibatches(B.asarray(X), 16, rng=3)]
    streamed = [B.to_numpy(b) for b in minibatches(mm, 16, rng=3, to_device=B.asarray)]
    assert len(streamed) == len(in_memory)
    for a, b in zip(in_memory, streamed):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", ["ae", "denoising", "vae"])
def test_a_memory_map_trains_the_same_model_as_the_array_in_memory(tmp_path, rng, name):
    """Noise and eps are drawn per row position, so the batches must match row for row."""
    X = rng.random((40, 5)).astype(np.float32)
    path = tmp_path / "X.npy"
    np.save(path, X)
    in_memory = SMALL_MODELS[name]().fit(X)
    streamed = SMALL_MODELS[name]().fit(np.load(path, mmap_mode="r"))
    for key, W in in_memory.get_weights().items():
        np.testing.assert_array_equal(B.to_numpy(streamed.get_weights()[key]), B.to_numpy(W), err_msg=key)


def test_memory_map_with_bad_rows_names_the_chunk(tmp_path):
    path = tmp_path / "bad.npy"
    X = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(100, 4))
    X[:] = 0.5
    X[70, 2] = np.nan
    X.flush()
    with pytest.raises(ValueError, match="contains NaN"):
        small().fit(np.load(path, mmap_mode="r"))


def test_diverging_with_terminate_on_nan_warns_instead_of_raising(rng):
    ae = small(epochs=10, learning_rate=1e3, optimizer="sgd", loss="mse")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ae.fit(rng.random((30, 5)) * 1e3, callbacks=[npae.TerminateOnNaN()])
    assert all(np.all(np.isfinite(v)) for v in ae.parameters().values())


@pytest.mark.parametrize("name", ["ae", "sparse_l1", "sparse_kl", "contractive"])
def test_train_step_moves_parameters_by_the_gradient_of_loss_and_grad(xp, name):
    """train_step clears the gradients and the contractive model adds its penalty's dW after each
    Dense's backward: one SGD step must equal θ − η ∇L(θ)."""
    X = B.asarray(np.random.default_rng(1).random((12, 5)), dtype="float64", backend=xp)
    model = SMALL_MODELS[name](backend=xp.name, dtype="float64", optimizer="sgd", learning_rate=0.1).fit(X)
    before = {k: B.to_numpy(v).copy() for k, v in model.parameters().items()}
    _, grads = model.loss_and_grad(X)
    model.train_step(X)
    for key, value in model.parameters().items():
        np.testing.assert_allclose(B.to_numpy(value), before[key] - 0.1 * B.to_numpy(grads[key]),
                                   rtol=1e-12, atol=1e-14, err_msg=key)


# ---------------------------------------------------------------- divergence (issue 15, items 1-2)
def _finite(model):
    return all(np.all(np.isfinite(B.to_numpy(v))) for v in model.parameters().values())


def _optimizer_finite(model):
    return all(np.all(np.isfinite(B.to_numpy(v))) for v in model.optimizer_.state_arrays().values())


def _initial_parameters(model, X):
    """The parameters a fresh fit of ``model`` starts from (loss_and_grad builds, never updates)."""
    twin = npae.Autoencoder(**model.get_params())
    twin.loss_and_grad(X)
    return {k: B.to_numpy(v).copy() for k, v in twin.parameters().items()}


def blow_up(**kw):
    """One step per epoch at a learning rate that makes that step's update non-finite: the epoch's
    loss (measured before the update) is finite, the parameters after it are not."""
    return small(**{"optimizer": "sgd", "learning_rate": 1e38, "batch_size": 1000, "epochs": 1, "loss": "mse", **kw})


def test_a_blow_up_in_the_last_step_of_train_keeps_the_last_finite_parameters(rng):
    """The training loop itself (any object with its interface): the state it started from."""
    from npae.training import DivergenceError, train

    X = rng.random((30, 5))
    ae = blow_up()
    start = _initial_parameters(ae, X)
    ae.loss_and_grad(X)  # built with the parameters a fit starts from, not fitted further
    with pytest.raises(DivergenceError, match=r"epoch 1.*initial parameters"):
        train(ae, B.asarray(X, dtype="float32"), epochs=1, batch_size=1000, rng=0, history=ae.history_)
    assert _finite(ae)
    for key, value in start.items():
        np.testing.assert_array_equal(B.to_numpy(ae.parameters()[key]), value, err_msg=key)
    assert ae.history_.get("loss", []) == []  # the diverged epoch is not recorded


def test_a_fit_that_diverges_before_an_epoch_completes_changes_nothing(rng):
    """A first fit leaves the model unfitted; a refit from scratch leaves the earlier fit, as any
    other failure before an epoch completes does (it used to keep fresh random weights, fitted-looking)."""
    from sklearn.exceptions import NotFittedError

    X = rng.random((30, 5))
    ae = blow_up()
    with pytest.raises(FloatingPointError, match=r"epoch 1.*as it was before the call \(not fitted\)"):
        ae.fit(X)
    with pytest.raises(NotFittedError):
        ae.transform(X)
    good = small(loss="mse").fit(X)
    kept = {k: B.to_numpy(v).copy() for k, v in good.parameters().items()}
    history = {k: list(v) for k, v in good.history_.items()}
    with pytest.raises(FloatingPointError, match=r"epoch 1.*as it was before the call\. Lower"):
        good.set_params(optimizer="sgd", learning_rate=1e38, batch_size=1000).fit(X)
    for key, value in kept.items():
        np.testing.assert_array_equal(B.to_numpy(good.parameters()[key]), value, err_msg=key)
    assert good.history_ == history


def test_a_blow_up_in_a_later_epoch_keeps_the_end_of_the_previous_epoch(rng):
    X = rng.random((30, 5))
    kept = {}

    class BlowUpAfterTheSecondEpoch(npae.training.Callback):
        def on_epoch_end(self, epoch, logs):
            if epoch == 1:
                kept.update({k: B.to_numpy(v).copy() for k, v in self.model.parameters().items()})
                self.model.optimizer_.learning_rate = float("inf")  # the next step (epoch 3's) blows up

    good = small(optimizer="sgd", learning_rate=0.01, batch_size=1000, epochs=4, loss="mse")
    with pytest.raises(FloatingPointError, match=r"epoch 3.*end of epoch 2"):
        good.fit(X, callbacks=[BlowUpAfterTheSecondEpoch()])
    for key, value in kept.items():
        np.testing.assert_array_equal(B.to_numpy(good.parameters()[key]), value, err_msg=key)
    assert len(good.history_["loss"]) == 2


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("learning_rate", [1e3, 1e12, 1e38])
def test_no_fit_ends_with_non_finite_parameters_or_optimizer_state(rng, optimizer, learning_rate):
    X = rng.random((30, 5)) * 10.0
    for callbacks in ([], [npae.TerminateOnNaN()]):
        ae = small(optimizer=optimizer, learning_rate=learning_rate, batch_size=10, epochs=4, loss="mse")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            try:
                ae.fit(X, callbacks=callbacks)
            except FloatingPointError as err:
                assert "were kept" in str(err) or "as it was before the call (not fitted)" in str(err)
                if not ae._is_built():  # diverged in its first epoch: a first fit leaves no model
                    continue
        assert _finite(ae) and _optimizer_finite(ae)


def test_terminate_on_nan_ends_with_the_last_finite_parameters(rng):
    X = rng.random((30, 5))
    ae = blow_up(epochs=3)
    start = _initial_parameters(ae, X)
    with pytest.warns(RuntimeWarning, match="epoch 1"):
        ae.fit(X, callbacks=[npae.TerminateOnNaN()])
    for key, value in start.items():
        np.testing.assert_array_equal(B.to_numpy(ae.parameters()[key]), value, err_msg=key)


@pytest.mark.parametrize("save_best_only", [False, True])
def test_model_checkpoint_never_replaces_a_good_file_with_a_diverged_state(rng, tmp_path, save_best_only):
    X = rng.random((30, 5))
    path = tmp_path / "ckpt.npz"
    small(loss="mse").fit(X).save(path)
    good = path.read_bytes()
    checkpoint = npae.ModelCheckpoint(path, monitor="loss", save_best_only=save_best_only)
    with pytest.raises(FloatingPointError):
        blow_up(epochs=2).fit(X, callbacks=[checkpoint])
    assert path.read_bytes() == good
    assert _finite(npae.load(path))


def test_optimizer_state_is_restored_with_the_weights(rng):
    X = rng.random((30, 5))
    ae = small(optimizer="momentum", learning_rate=0.01, batch_size=10, epochs=1, loss="mse").fit(X)
    before = {k: B.to_numpy(v).copy() for k, v in ae.optimizer_.state_arrays().items()}
    iterations = ae.optimizer_.iterations
    ae.set_params(warm_start=True)
    ae.optimizer_.learning_rate = 1e38
    with pytest.raises(FloatingPointError):
        ae.fit(X)
    assert ae.optimizer_.iterations == iterations
    after = ae.optimizer_.state_arrays()
    assert sorted(after) == sorted(before)
    for key, value in before.items():
        np.testing.assert_array_equal(B.to_numpy(after[key]), value, err_msg=key)
    ae.optimizer_.learning_rate = 1e-3  # a warm restart with a small step trains again
    ae.fit(X)
    assert _finite(ae) and np.isfinite(ae.history_["loss"][-1])


def test_adam_stalled_on_an_infinite_second_moment_is_reported(rng):
    """Adam at a huge step: v overflows to inf, every update m̂/√v̂ is 0 and the loss freezes at a
    finite value. That is a divergence too, and the message says how to avoid it."""
    X = rng.random((30, 5)) * 10.0
    ae = small(optimizer="adam", learning_rate=1e3, batch_size=10, epochs=6, loss="mse")
    with pytest.raises(FloatingPointError, match=r"(?s)optimizer state.*clip_norm="):
        ae.fit(X)
    assert not ae._is_built() or (_finite(ae) and _optimizer_finite(ae))  # a first epoch's stall: unfitted


@pytest.mark.parametrize("name", ["Autoencoder", "SparseAutoencoder", "DenoisingAutoencoder",
                                  "ContractiveAutoencoder", "VAE"])
def test_estimators_expose_gradient_clipping(rng, name):
    cls = getattr(npae, name)
    assert cls().get_params()["clip_norm"] is None
    X = rng.random((20, 5))
    model = cls(hidden_sizes=(4,), latent_dim=2, epochs=1, verbose=0, random_state=0, clip_norm=0.5).fit(X)
    assert model.optimizer_.clip_norm == 0.5
    with pytest.raises(ValueError, match="clip_norm"):
        cls(clip_norm=-1.0, verbose=0).fit(X)


def test_clipping_keeps_a_huge_step_finite(rng):
    X = rng.random((30, 5)) * 10.0
    ae = small(optimizer="sgd", learning_rate=1e3, batch_size=10, epochs=2, loss="mse", clip_norm=1e-6)
    ae.fit(X)
    assert _finite(ae)


def test_ctrl_c_in_a_loop_of_fits_stops_the_loop(rng):
    """A KeyboardInterrupt is not turned into a warning: a grid of fits stops at the first one."""
    X = rng.random((40, 6))

    class CtrlC(npae.training.Callback):
        def on_epoch_end(self, epoch, logs):
            os.kill(os.getpid(), signal.SIGINT)

    fitted = []
    with pytest.raises(KeyboardInterrupt):
        for rate in (1e-3, 1e-2, 1e-1):
            fitted.append(small(learning_rate=rate).fit(X, callbacks=[CtrlC()]))
    assert fitted == []


# ---------------------------------------------------------------- ModelCheckpoint (issue 15, item 10)
def test_model_checkpoint_reused_across_fits_starts_each_fit_with_a_new_best(rng, tmp_path):
    X = rng.random((30, 5))
    path = tmp_path / "best.npz"
    checkpoint = ModelCheckpoint(path, monitor="loss", save_best_only=True)
    small(epochs=30, learning_rate=0.05, loss="mse").fit(X, callbacks=[checkpoint])
    second = small(epochs=1, learning_rate=1e-6, loss="mse", random_state=1).fit(X, callbacks=[checkpoint])
    saved = npae.load(path)
    for key, value in second.parameters().items():
        np.testing.assert_array_equal(B.to_numpy(saved.parameters()[key]), B.to_numpy(value), err_msg=key)


def test_model_checkpoint_keeps_its_best_over_warm_start_rounds_of_one_model(rng, tmp_path):
    """As Keras: a worse round of the same training run never replaces the best file."""
    X = rng.random((30, 5))
    path = tmp_path / "best.npz"
    checkpoint = ModelCheckpoint(path, monitor="loss", save_best_only=True)
    model = small(epochs=20, learning_rate=0.05, loss="mse", warm_start=True).fit(X, callbacks=[checkpoint])
    best = npae.load(path).get_weights()
    best_loss = checkpoint.best
    assert best_loss == min(model.history_["loss"])
    model.set_params(learning_rate=50.0, epochs=1, clip_norm=1e3)  # a bad round: the loss goes up
    model.fit(X, callbacks=[checkpoint])
    assert model.history_["loss"][-1] > best_loss and checkpoint.best == best_loss
    for key, value in npae.load(path).get_weights().items():
        np.testing.assert_array_equal(value, best[key], err_msg=key)
    fresh = ModelCheckpoint(tmp_path / "other.npz", monitor="loss", save_best_only=True,
                            initial_value_threshold=best_loss)
    model.fit(X, callbacks=[fresh])  # a new callback told the value of the existing best file
    assert not (tmp_path / "other.npz").exists()


@pytest.mark.parametrize("template, message", [
    ("m-{loss:d}.npz", r"cannot be formatted \(ValueError: Unknown format code 'd'"),
    ("m-{epoch:.2q}.npz", "cannot be formatted"),
    ("m-{loss.foo}.npz", r"cannot be formatted \(AttributeError"),
    ("m-{loss[0]}.npz", r"cannot be formatted \(TypeError"),
    ("sub/", "names a directory"),
    (".", "names a directory"),
])
def test_model_checkpoint_file_names_that_cannot_be_written_are_refused_before_training(rng, tmp_path, template,
                                                                                         message):
    X = rng.random((20, 5))
    ae = small()
    path = os.path.join(str(tmp_path), template) if template != "." else str(tmp_path)
    with pytest.raises(ValueError, match=rf"ModelCheckpoint filepath .* {message}"):
        ae.fit(X, callbacks=[ModelCheckpoint(path)])
    assert not hasattr(ae, "history_")  # refused before training
    ModelCheckpoint(os.fsencode(tmp_path / "b-{epoch}.npz")).check(validation=False)  # bytes paths as save takes


def test_model_checkpoint_save_best_only_needs_its_monitored_value(rng, tmp_path):
    X = rng.random((20, 5))
    ae = small()
    with pytest.raises(ValueError, match="pass validation_data for 'val_loss' or monitor='loss'"):
        ae.fit(X, callbacks=[ModelCheckpoint(tmp_path / "m.npz", save_best_only=True)])
    assert not hasattr(ae, "history_")  # refused before training
    with pytest.raises(ValueError, match=r"ModelCheckpoint reads 'kl', which this fit does not log; it logs loss\."):
        small().fit(X, callbacks=[ModelCheckpoint(tmp_path / "m.npz", monitor="kl", save_best_only=True)])
    assert not list(tmp_path.iterdir())


def test_model_checkpoint_path_fields_are_checked_with_the_logged_names(rng, tmp_path):
    X = rng.random((20, 5))
    ae = small()
    with pytest.raises(ValueError, match=r"\{val_loss\}.*pass validation_data"):
        ae.fit(X, callbacks=[ModelCheckpoint(tmp_path / "m-{val_loss}.npz")])
    assert not hasattr(ae, "history_")  # refused before training
    with pytest.raises(ValueError, match=r"ModelCheckpoint reads 'kl', which this fit does not log; it logs loss\."):
        small().fit(X, callbacks=[ModelCheckpoint(tmp_path / "m-{kl}.npz")])
    with pytest.raises(ValueError, match="positional"):
        small().fit(X, callbacks=[ModelCheckpoint(tmp_path / "m-{}.npz")])
    with pytest.raises(ValueError, match="filepath"):
        small().fit(X, callbacks=[ModelCheckpoint(tmp_path / "m-{epoch.npz")])
    assert not list(tmp_path.iterdir())
    small(epochs=2).fit(X, validation_data=X, callbacks=[ModelCheckpoint(tmp_path / "m-{epoch}-{val_loss:.3f}.npz")])
    assert len(list(tmp_path.iterdir())) == 2


# ---------------------------------------------------------------- failing callbacks (issue 21, item 13)
class _FullDisk(npae.training.Callback):
    """Fails like ModelCheckpoint on a full disk at the end of epoch ``at`` (0-based)."""

    def __init__(self, at):
        self.at = at

    def on_epoch_end(self, epoch, logs):
        if epoch == self.at:
            raise OSError(28, "No space left on device", "ckpt.npz")


def test_a_failing_callback_keeps_the_trained_epochs_and_reraises(rng):
    X = rng.random((40, 6))
    reference = small(epochs=3).fit(X)  # the same seed and data: the state after epoch 3
    model = small(epochs=10)
    with pytest.raises(OSError, match="No space left"):
        model.fit(X, callbacks=[_FullDisk(at=2)])
    assert len(model.history_["loss"]) == 3
    assert model.history_ == reference.history_
    for key, value in reference.parameters().items():
        np.testing.assert_array_equal(B.to_numpy(model.parameters()[key]), B.to_numpy(value), err_msg=key)
    assert model.transform(X).shape == (40, 3)


def test_a_failing_callback_in_a_warm_start_keeps_the_earlier_and_the_new_epochs(rng):
    X = rng.random((40, 6))
    model = small(epochs=4).fit(X)
    earlier = list(model.history_["loss"])
    model.set_params(warm_start=True, epochs=5)
    with pytest.raises(OSError, match="No space left"):
        model.fit(X, callbacks=[_FullDisk(at=5)])  # epochs are numbered on: the 2nd new one fails
    assert model.history_["loss"][:4] == earlier and len(model.history_["loss"]) == 6
    assert model.optimizer_.iterations > 0


def test_an_error_inside_an_epoch_keeps_the_last_completed_epoch(rng, monkeypatch):
    X = rng.random((40, 6))
    model = small(epochs=5, batch_size=10)
    after_two = small(epochs=2, batch_size=10).fit(X)
    steps = {"n": 0}
    original = type(model).train_step

    def failing_step(self, batch):
        steps["n"] += 1
        if steps["n"] == 10:  # the 2nd step of epoch 3
            raise MemoryError("simulated")
        return original(self, batch)

    monkeypatch.setattr(type(model), "train_step", failing_step)
    with pytest.raises(MemoryError):
        model.fit(X)
    assert model.history_ == after_two.history_
    for key, value in after_two.parameters().items():
        np.testing.assert_array_equal(B.to_numpy(model.parameters()[key]), B.to_numpy(value), err_msg=key)




# ---------------------------------------------------------------- what a fit logs, and callbacks that read it
@pytest.mark.parametrize("name", sorted(SMALL_MODELS))
def test_each_model_declares_exactly_the_names_its_fit_logs(rng, name):
    X = rng.random((40, 6))
    model = SMALL_MODELS[name]().fit(X, validation_data=X[:10])
    assert sorted(model.history_) == sorted(model._log_names(validation=True))
    assert sorted(SMALL_MODELS[name]().fit(X).history_) == sorted(model._log_names(validation=False))


@pytest.mark.parametrize("name", sorted(SMALL_MODELS))
def test_validation_data_does_not_change_what_a_fit_trains(rng, name):
    """Validation draws nothing from the training stream (the VAE's validation ELBO used to)."""
    X = rng.random((40, 6))
    plain = SMALL_MODELS[name]().fit(X)
    watched = SMALL_MODELS[name]().fit(X, validation_data=X[:10])
    for key, value in plain.parameters().items():
        np.testing.assert_array_equal(B.to_numpy(watched.parameters()[key]), B.to_numpy(value), err_msg=key)


@pytest.mark.parametrize("callback, fragment", [
    (lambda tmp: EarlyStopping(monitor="val_los"), "EarlyStopping reads 'val_los', which this fit does not log; "
                                                   "it logs loss, val_loss. Did you mean 'val_loss'?"),
    (lambda tmp: ModelCheckpoint(tmp / "ck-{val_acc}.npz"), "ModelCheckpoint reads 'val_acc'"),
])
def test_a_name_the_fit_does_not_log_is_refused_before_a_refit_changes_anything(rng, tmp_path, callback, fragment):
    X = rng.random((40, 6))
    model = small(epochs=4).fit(X)
    weights = {k: B.to_numpy(v).copy() for k, v in model.parameters().items()}
    with pytest.raises(ValueError, match=re.escape(fragment)):
        model.fit(X, validation_data=X[:10], callbacks=[callback(tmp_path)])
    assert len(model.history_["loss"]) == 4
    for key, value in weights.items():
        np.testing.assert_array_equal(B.to_numpy(model.parameters()[key]), value, err_msg=key)


def test_early_stopping_restores_the_best_epoch_also_when_the_epochs_run_out(rng):
    X = rng.random((40, 6))
    best = {}

    class Spy(npae.training.Callback):
        def on_epoch_end(self, epoch, logs):
            if logs["loss"] <= best.get("loss", np.inf):
                best.update(loss=logs["loss"], weights=self.model.get_weights())
            self.model.optimizer_.learning_rate = 0.5 if epoch == 4 else 0.01  # the last epoch overshoots

    model = small(epochs=6, optimizer="sgd", learning_rate=0.01, loss="mse")
    model.fit(X, callbacks=[Spy(), EarlyStopping(monitor="loss", patience=10)])
    assert len(model.history_["loss"]) == 6 and model.history_["loss"][-1] > best["loss"]  # ran out, last not best
    for key, value in best["weights"].items():
        np.testing.assert_array_equal(B.to_numpy(model.parameters()[key]), B.to_numpy(value), err_msg=key)


def test_patience_zero_stops_at_the_first_epoch_that_does_not_improve(rng):
    X = rng.random((40, 6))
    stopper = EarlyStopping(monitor="loss", patience=0)
    model = small(epochs=50, optimizer="sgd", learning_rate=5.0, loss="mse")  # overshoots soon
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            model.fit(X, callbacks=[stopper])
        except FloatingPointError:
            pytest.skip("diverged before an epoch failed to improve")
    losses = model.history_["loss"]
    assert len(losses) < 50 and losses[-1] >= min(losses[:-1])
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(patience=-1)


def test_verbose_2_prints_one_line_per_epoch(rng, capsys):
    small(epochs=3, verbose=2).fit(rng.random((20, 5)), validation_data=rng.random((5, 5)))
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 3 and lines[0].startswith("epoch 1/3 - loss: ") and "val_loss: " in lines[0]
    assert lines[2].startswith("epoch 3/3")


def test_on_epoch_begin_is_called_and_batch_hooks_are_warned_about(rng):
    seen = []

    class Hooks(npae.training.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            seen.append(epoch)

        def on_train_batch_end(self, batch, logs=None):
            raise AssertionError("never called")

    with pytest.warns(UserWarning, match="defines on_train_batch_end, which npae never calls"):
        small(epochs=3).fit(rng.random((20, 5)), callbacks=[Hooks()])
    assert seen == [0, 1, 2]


def test_adam_takes_numpy_scalars_for_its_betas():
    adam = npae.optimizers.Adam(beta1=np.float32(0.9), beta2=np.float64(0.99))
    assert (adam.beta1, adam.beta2) == (pytest.approx(0.9), 0.99)
    with pytest.raises(ValueError, match=r"beta1 must be in \[0, 1\); got"):
        npae.optimizers.Adam(beta1=1.0)


@pytest.mark.parametrize("name", sorted(SMALL_MODELS))
def test_one_extreme_validation_row_gives_a_large_finite_val_loss_not_nan(rng, name):
    """As score_samples: a finite row whose loss overflows counts as the dtype's largest value."""
    kwargs = {"likelihood": "gaussian"} if name == "vae" else {"loss": "mse"}
    X = rng.random((40, 6)).astype(np.float32)
    X_val = rng.random((10, 6)).astype(np.float32)
    X_val[3, 2] = 3e38
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the overflow itself, in the products
        model = SMALL_MODELS[name](**kwargs).fit(X, validation_data=X_val)
    for key, values in model.history_.items():
        assert np.all(np.isfinite(values)), (key, values)
    assert min(model.history_["val_loss"]) > float(np.finfo(np.float32).max) / X_val.shape[0] / 2
