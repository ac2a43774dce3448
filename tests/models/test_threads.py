"""Inference never writes what training reads: a thread calling transform / score_samples /
reconstruct on a model (other batch sizes included) while another thread fits it leaves the fit
bit-identical to an undisturbed one (inference runs the layers' ``infer``, which keeps no cache)."""

import threading

import numpy as np
import pytest

from tests.helpers import SMALL_MODELS


def _data():
    rng = np.random.default_rng(0)
    return rng.uniform(0.05, 0.95, size=(96, 7)).astype(np.float32)


def _inference_calls(name, model, X):
    calls = [model.transform, model.reconstruct, lambda x: model.inverse_transform(model.transform(x))]
    if name == "vae":  # score_samples draws from the model's stream; elbo with its own seed does not
        calls += [lambda x: model.elbo(x, random_state=1), lambda x: model.log_likelihood(x, k=3, random_state=1)]
    else:
        calls += [model.score_samples, model.score]
    if name == "contractive":
        calls.append(model.jacobian)
    return calls


def _fit(name, X, hammer: bool):
    model = SMALL_MODELS[name]().set_params(epochs=1).fit(X)  # built: inference works during the refit
    model.set_params(epochs=12, warm_start=True, batch_size=16)
    errors, stop = [], threading.Event()

    def hammer_loop():
        calls = _inference_calls(name, model, X)
        i = 0
        while not stop.is_set():
            rows = X[: (3, 50, 96)[i % 3]]  # batch sizes other than the fit's
            try:
                calls[i % len(calls)](rows)
            except Exception as err:  # noqa: BLE001 - recorded and asserted below
                errors.append(err)
            i += 1

    thread = threading.Thread(target=hammer_loop) if hammer else None
    if thread is not None:
        thread.start()
    try:
        model.fit(X)
    finally:
        stop.set()
        if thread is not None:
            thread.join()
    return model, errors


@pytest.mark.parametrize("name", sorted(SMALL_MODELS))
def test_inference_from_another_thread_does_not_change_the_fit(name):
    X = _data()
    quiet, _ = _fit(name, X, hammer=False)
    busy, errors = _fit(name, X, hammer=True)
    assert errors == []
    for key, value in quiet.get_weights().items():
        np.testing.assert_array_equal(busy.get_weights()[key], value, err_msg=key)
    assert busy.history_ == quiet.history_
