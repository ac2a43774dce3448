"""npae.kernels.ops against the references in npae.ops."""

import numpy as np
import pytest

from npae import backend as B
from npae import kernels, ops
from npae.kernels import ops as fast


def _reference(name):
    return kernels.reference(next(k for k in kernels.KERNELS if k.owner is ops and k.name == name))


EXTREMES = [-np.inf, -1e4, -745.0, -100.0, -30.0, -11.0, -1.0, -1e-8, -0.0, 0.0, 1e-8, 1.0, 11.0, 30.0, 100.0, 1e4, np.inf]


def _inputs(dtype, rng):
    z = np.concatenate([np.array(EXTREMES), rng.standard_normal(500) * 20])
    return z.astype(dtype).reshape(-1, 1) * np.ones((1, 3), dtype=dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sigmoid_kernel_is_bit_exact(dtype, rng):
    z = _inputs(dtype, rng)
    np.testing.assert_array_equal(fast.sigmoid(z), _reference("sigmoid")(z))


@pytest.mark.parametrize("dtype, rtol", [("float32", 4e-7), ("float64", 1e-15)])
def test_softplus_kernel_matches_logaddexp_within_a_few_ulp(dtype, rtol, rng):
    z = _inputs(dtype, rng)
    got, want = fast.softplus(z), _reference("softplus")(z)
    assert got.dtype == want.dtype == np.dtype(dtype)
    np.testing.assert_allclose(got, want, rtol=2 * rtol, atol=0)


def test_sigmoid_and_softplus_kernels_keep_nan(rng):
    z = np.array([[np.nan, 0.0, 1.0]])
    assert np.isnan(fast.sigmoid(z)[0, 0]) and np.isnan(fast.softplus(z)[0, 0])


@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 3, 4)])
def test_positive_and_negative_part_equal_max_and_min_with_zero(xp, shape, rng):
    z = rng.standard_normal(shape)
    z.flat[0], z.flat[-1] = -0.0, np.inf
    zb = xp.xp.asarray(z, device=xp.device)
    got_pos, got_neg = fast.positive_part(zb), fast.negative_part(zb)
    np.testing.assert_array_equal(B.to_numpy(got_pos), np.maximum(z, 0.0))
    np.testing.assert_array_equal(B.to_numpy(got_neg), np.minimum(z, 0.0))
