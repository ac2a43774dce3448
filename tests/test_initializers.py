"""npae.initializers: shapes, dtypes and devices, the Glorot/He variances and uniform limits
(statistically, with a fixed seed and a few standard errors), and the default choice."""

import math

import numpy as np
import pytest
from array_api_compat import device

from npae import backend as B
from npae import initializers as I

FAN_IN, FAN_OUT = 400, 300
N = FAN_IN * FAN_OUT

# name -> (variance, uniform limit or None) for a (FAN_IN, FAN_OUT) kernel
EXPECTED = {
    "glorot_uniform": (2.0 / (FAN_IN + FAN_OUT), math.sqrt(6.0 / (FAN_IN + FAN_OUT))),
    "glorot_normal": (2.0 / (FAN_IN + FAN_OUT), None),
    "he_uniform": (2.0 / FAN_IN, math.sqrt(6.0 / FAN_IN)),
    "he_normal": (2.0 / FAN_IN, None),
}


@pytest.mark.parametrize("name", sorted(I.INITIALIZERS))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_initializers_make_the_shape_dtype_and_device_asked_for(xp, name, dtype):
    W = I.get_initializer(name)((5, 3), np.random.default_rng(0), dtype=dtype, backend=xp)
    assert tuple(W.shape) == (5, 3)
    assert B.dtype_name(W.dtype) == dtype
    assert B.backend_of(W).name == xp.name and device(W) == xp.device


@pytest.mark.parametrize("name", sorted(I.INITIALIZERS))
def test_the_same_seed_gives_the_same_weights_on_every_backend(xp, name):
    init = I.get_initializer(name)
    on_numpy = init((6, 4), np.random.default_rng(3), dtype="float64", backend=B.get_backend("numpy"))
    here = init((6, 4), np.random.default_rng(3), dtype="float64", backend=xp)
    np.testing.assert_array_equal(B.to_numpy(here), on_numpy)
    other = init((6, 4), np.random.default_rng(4), dtype="float64", backend=xp)
    assert not np.array_equal(B.to_numpy(other), on_numpy)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_variance_matches_glorot_and_he_within_four_standard_errors(name):
    var, limit = EXPECTED[name]
    W = B.to_numpy(I.get_initializer(name)((FAN_IN, FAN_OUT), np.random.default_rng(0), dtype="float64",
                                           backend=B.get_backend("numpy")))
    # Var of the sample variance: (μ4 − σ⁴)/N, μ4 = 3σ⁴ for a normal, 9σ⁴/5 for a uniform (a²/3 = σ²)
    mu4 = 3.0 * var**2 if limit is None else 1.8 * var**2
    se_var = math.sqrt((mu4 - var**2) / N)
    assert abs(W.var() - var) < 4.0 * se_var
    assert abs(W.mean()) < 4.0 * math.sqrt(var / N)


@pytest.mark.parametrize("name", ["glorot_uniform", "he_uniform"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_uniform_initializers_stay_inside_their_limit_and_reach_near_it(name, dtype):
    _, limit = EXPECTED[name]
    W = B.to_numpy(I.get_initializer(name)((FAN_IN, FAN_OUT), np.random.default_rng(1), dtype=dtype,
                                           backend=B.get_backend("numpy")))
    assert np.abs(W).max() <= limit * (1.0 + 1e-6)
    # with N draws the largest |w| misses the limit by about limit/N: a wrong limit shows at once
    assert np.abs(W).max() > limit * (1.0 - 100.0 / N)
    assert W.min() < 0.0 < W.max()


@pytest.mark.parametrize("name", ["glorot_normal", "he_normal"])
def test_normal_initializers_are_not_truncated(name):
    var, _ = EXPECTED[name]
    W = B.to_numpy(I.get_initializer(name)((FAN_IN, FAN_OUT), np.random.default_rng(2), dtype="float64",
                                           backend=B.get_backend("numpy")))
    # about N·P(|z| > 3) = 324 draws lie beyond 3σ for an untruncated normal
    beyond = np.mean(np.abs(W) > 3.0 * math.sqrt(var))
    assert abs(beyond - 0.0027) < 4.0 * math.sqrt(0.0027 / N)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_zeros_are_zeros_of_the_dtype_on_the_device(xp, dtype):
    b = I.zeros((7,), dtype=dtype, backend=xp)
    assert tuple(b.shape) == (7,) and B.dtype_name(b.dtype) == dtype and device(b) == xp.device
    np.testing.assert_array_equal(B.to_numpy(b), np.zeros(7))


def test_get_initializer_takes_a_name_or_a_callable_and_refuses_unknown_names():
    assert I.get_initializer("he_normal") is I.he_normal

    def custom(shape, rng, *, dtype, backend):
        return I.zeros(shape, dtype=dtype, backend=backend)

    assert I.get_initializer(custom) is custom
    with pytest.raises(ValueError, match=r"^Unknown initializer 'glorot'; expected one of 'glorot_uniform', "
                                         r"'glorot_normal', 'he_uniform', 'he_normal'\. Did you mean"):
        I.get_initializer("glorot")


@pytest.mark.parametrize("activation, expected", [
    ("relu", "he_uniform"), ("leaky_relu", "he_uniform"), ("elu", "he_uniform"),
    ("tanh", "glorot_uniform"), ("sigmoid", "glorot_uniform"), ("softplus", "glorot_uniform"),
    ("identity", "glorot_uniform"),
])
def test_default_init_is_he_for_the_relu_family_and_glorot_otherwise(activation, expected):
    assert I.default_init(activation) == expected
    assert expected in I.INITIALIZERS
