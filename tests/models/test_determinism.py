"""Same seed, data and backend: bit-identical fits, noise and eps draws; another seed differs."""

import numpy as np
import pytest

from tests.helpers import SMALL_MODELS

MODELS = SMALL_MODELS


@pytest.mark.parametrize("name", list(MODELS))
def test_same_seed_gives_bit_identical_parameters_and_another_seed_does_not(name):
    X = np.random.default_rng(0).random((30, 5))
    a, b = MODELS[name]().fit(X), MODELS[name]().fit(X)
    for k, v in a.parameters().items():
        np.testing.assert_array_equal(v, b.parameters()[k])
    assert a.history_ == b.history_
    c = MODELS[name]().set_params(random_state=1).fit(X)
    assert not np.array_equal(a.parameters()["encoder.0.W"], c.parameters()["encoder.0.W"])


def test_sampled_quantities_repeat_with_a_seed_and_change_without():
    X = np.random.default_rng(0).random((30, 5))
    vae = MODELS["vae"]().fit(X)
    np.testing.assert_array_equal(vae.elbo(X, random_state=3), vae.elbo(X, random_state=3))
    np.testing.assert_array_equal(vae.sample(4, random_state=3), vae.sample(4, random_state=3))
    assert not np.array_equal(vae.sample(4, random_state=3), vae.sample(4, random_state=4))
    dae = MODELS["denoising"]().fit(X)
    np.testing.assert_array_equal(dae.corrupt(X, random_state=5), dae.corrupt(X, random_state=5))
    assert not np.array_equal(dae.corrupt(X, random_state=5), dae.corrupt(X, random_state=6))
