"""npae.kernels.penalties against npae.penalties.sparsity: the fused KL value and gradient."""

import numpy as np
import pytest

from npae import backend as B
from npae import kernels, penalties
from npae.kernels import penalties as fast
from npae.penalties import sparsity

RTOL = {"float32": 1e-6, "float64": 1e-12}


def _logits(rng, dtype):
    """(40, 8) logits: ordinary columns, saturated ones (|z| ~ 50) and one column all ~ −100."""
    z = rng.standard_normal((40, 8)) * 3 - 1
    z[:, 4] = 50.0 + rng.standard_normal(40)
    z[:, 5] = -50.0 + rng.standard_normal(40)
    z[:, 6] = np.where(rng.random(40) < 0.5, 50.0, -50.0) + rng.standard_normal(40)
    z[:, 7] = -100.0 + rng.standard_normal(40)
    return z.astype(dtype)


def _host(a):
    return np.asarray(B.to_numpy(a))


@pytest.mark.filterwarnings("ignore:overflow encountered in exp:RuntimeWarning")  # float32, column 7
@pytest.mark.parametrize("rho", [0.05, 0.5])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_kl_kernel_matches_the_two_reference_functions(xp, rng, dtype, rho):
    zn = _logits(rng, dtype)
    z = B.asarray(zn, dtype=dtype, backend=xp)
    value, grad = fast.kl_sparsity_and_grad(z, rho)
    want_value, want_grad = penalties.kl_sparsity(z, rho), penalties.kl_sparsity_grad(z, rho)
    assert value.dtype == want_value.dtype and grad.dtype == want_grad.dtype
    assert tuple(grad.shape) == (40, 8)
    assert np.isfinite(float(value))
    np.testing.assert_allclose(float(value), float(want_value), rtol=RTOL[dtype])
    # the all −100 column: ρ̂ = e^(−100) and 1/ρ̂ overflows float32 to −inf in both; float64 holds it
    got, want = _host(grad), _host(want_grad)
    assert np.isfinite(got[:, :7]).all()
    assert np.isfinite(got).all() == (dtype == "float64")
    np.testing.assert_allclose(got, want, rtol=RTOL[dtype])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_shared_softplus_log_mean_sigmoid_matches_the_reference(xp, rng, dtype):
    z = B.asarray(_logits(rng, dtype), dtype=dtype, backend=xp)
    for got, want in zip(fast.log_mean_sigmoid(z), sparsity.log_mean_sigmoid(z)):
        np.testing.assert_allclose(_host(got), _host(want), rtol=RTOL[dtype])


def test_kl_kernel_is_what_the_package_runs_on_numpy(rng):
    z = rng.standard_normal((9, 5))
    with kernels.use_kernels("fast"):
        value, grad = penalties.kl_sparsity_and_grad(z, 0.1)
        same_value, same_grad = sparsity.kl_sparsity_and_grad(z, 0.1)
    want_value, want_grad = fast.kl_sparsity_and_grad(z, 0.1)
    np.testing.assert_array_equal(value, want_value)
    np.testing.assert_array_equal(grad, want_grad)
    np.testing.assert_array_equal(same_value, want_value)
    np.testing.assert_array_equal(same_grad, want_grad)
    with kernels.use_kernels("reference"):
        ref_value, ref_grad = penalties.kl_sparsity_and_grad(z, 0.1)
    np.testing.assert_array_equal(ref_value, penalties.kl_sparsity(z, 0.1))
    np.testing.assert_array_equal(ref_grad, penalties.kl_sparsity_grad(z, 0.1))
