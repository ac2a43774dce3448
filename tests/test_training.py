import os
import signal
import tracemalloc
import warnings

import numpy as np
import pytest

import npae
from npae import backend as B
from npae.training import EarlyStopping, minibatches


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
        with pytest.warns(RuntimeWarning, match="Training interrupted in epoch 2"):
            ae.fit(X)
    finally:
        npae.optimizers.Adam._update = original
    assert calls["n"] == 5 * 8  # the interrupted step still updated all eight arrays
    assert ae.optimizer_.iterations == 5
    assert len(ae.history_["loss"]) == 1  # only the completed epoch is recorded
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
    tracemalloc.start()
    ae.fit(X)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 0.25 * X.nbytes, f"peak {peak / 1e6:.1f} MB for {X.nbytes / 1e6:.1f} MB of data"
    assert ae.transform(X).shape == (n, 8)
    assert np.isfinite(ae.history_["loss"][0])


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
    """train_step writes fresh gradients (zero_grad(set_to_none=True)) and the contractive model adds
    its penalty's dW after each Dense's backward: one SGD step must equal θ − η ∇L(θ)."""
    from tests.models.test_dtypes import MODELS

    X = B.asarray(np.random.default_rng(1).random((12, 5)), dtype="float64", backend=xp)
    model = MODELS[name](backend=xp.name, dtype="float64", optimizer="sgd", learning_rate=0.1).fit(X)
    before = {k: B.to_numpy(v).copy() for k, v in model.parameters().items()}
    _, grads = model.loss_and_grad(X)
    model.train_step(X)
    for key, value in model.parameters().items():
        np.testing.assert_allclose(B.to_numpy(value), before[key] - 0.1 * B.to_numpy(grads[key]),
                                   rtol=1e-12, atol=1e-14, err_msg=key)
