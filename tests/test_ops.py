import math

import numpy as np
import pytest

from npae import backend as B
from npae import ops
from tests.helpers import to_backend


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sigmoid_is_finite_and_accurate_at_extremes(xp, dtype):
    z = to_backend(xp, [-1e4, -100.0, -30.0, -5.0, 0.0, 5.0, 30.0, 1e4], dtype)
    s = B.to_numpy(ops.sigmoid(z)).astype(np.float64)
    assert np.all(np.isfinite(s))
    expected = np.array([0.0, math.exp(-100) / (1 + math.exp(-100)), 1 / (1 + math.exp(30)), 1 / (1 + math.exp(5)),
                         0.5, 1 / (1 + math.exp(-5)), 1 / (1 + math.exp(-30)), 1.0])
    # full relative accuracy for negative z (float32 from -30 on: e^-100 is subnormal there)
    first = 2 if dtype == "float32" else 1
    rtol = 1e-6 if dtype == "float32" else 1e-14
    np.testing.assert_allclose(s[first:], expected[first:], rtol=rtol)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_softplus_and_log_sigmoid_have_no_overflow(xp, dtype):
    z = to_backend(xp, [-1e4, -50.0, 0.0, 50.0, 1e4], dtype)
    sp = B.to_numpy(ops.softplus(z)).astype(np.float64)
    np.testing.assert_allclose(sp, [0.0, math.log1p(math.exp(-50)), math.log(2), 50.0, 1e4], rtol=1e-6, atol=1e-30)
    ls = B.to_numpy(ops.log_sigmoid(z)).astype(np.float64)
    np.testing.assert_allclose(ls, [-1e4, -50.0, -math.log(2), -math.log1p(math.exp(-50)), 0.0], rtol=1e-6, atol=1e-30)


def test_logsumexp_matches_direct_formula_and_survives_large_values(xp):
    a = np.array([[1000.0, 1000.0], [-1000.0, 1.0], [0.5, -2.0]])
    out = B.to_numpy(ops.logsumexp(to_backend(xp, a), axis=1))
    np.testing.assert_allclose(out[0], 1000.0 + math.log(2))
    np.testing.assert_allclose(out[2], math.log(math.exp(0.5) + math.exp(-2.0)))
    keep = ops.logsumexp(to_backend(xp, a), axis=0, keepdims=True)
    assert tuple(keep.shape) == (1, 2)


@pytest.mark.filterwarnings("ignore:divide by zero")
def test_logsumexp_of_all_minus_inf_is_minus_inf(xp):
    a = to_backend(xp, [[-np.inf, -np.inf]])
    assert B.to_numpy(ops.logsumexp(a, axis=1))[0] == -np.inf


def test_fast_forms_equal_the_reference_formulas(xp):
    z = np.linspace(-60, 60, 2001)
    sp = B.to_numpy(ops.softplus(to_backend(xp, z)))
    np.testing.assert_allclose(sp, np.logaddexp(0.0, z), rtol=1e-15, atol=1e-300)
    s = B.to_numpy(ops.sigmoid(to_backend(xp, z)))
    reference = np.where(z >= 0, 1 / (1 + np.exp(-np.abs(z))), np.exp(-np.abs(z)) / (1 + np.exp(-np.abs(z))))
    np.testing.assert_allclose(s, reference, rtol=1e-15)
