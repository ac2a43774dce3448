"""float32 stays float32 end to end in every model: no accidental float64 upcasts (issue 6)."""

import numpy as np
import pytest

from npae import backend as B
from tests.helpers import SMALL_MODELS

MODELS = SMALL_MODELS


@pytest.mark.parametrize("name", list(MODELS))
def test_float32_models_keep_float32_everywhere(xp, name):
    X = B.asarray(np.random.default_rng(0).random((20, 5)), dtype="float32")
    model = MODELS[name](backend=xp.name, dtype="float32").fit(X)
    f32 = xp.xp.float32
    assert all(p.dtype == f32 for p in model.parameters().values())
    assert all(s.dtype == f32 for s in model.optimizer_.state_arrays().values())
    _, grads = model.loss_and_grad(X)
    assert all(g.dtype == f32 for g in grads.values())
    for out in (model.transform(X), model.reconstruct(X), model.score_samples(X)):
        assert out.dtype == f32
    if name == "vae":
        assert model.sample(3, random_state=0).dtype == f32
    assert all(np.isfinite(v) for values in model.history_.values() for v in values)
