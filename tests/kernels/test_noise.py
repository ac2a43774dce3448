"""npae.kernels.noise: masks applied by multiplication, against the where forms."""

import numpy as np
import pytest

from npae import kernels
from npae.noise import GaussianNoise, MaskingNoise, SaltAndPepperNoise


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_masking_kernel_equals_the_where_form(dtype, rng):
    x = rng.random((20, 30)).astype(dtype)
    mask = rng.random((20, 30)) >= 0.3
    layer = MaskingNoise(0.3)
    fast = layer.forward(x, mask=mask)
    g = rng.standard_normal((20, 30)).astype(dtype)
    fast_dx = layer.backward(g)
    with kernels.use_kernels("reference"):
        ref = layer.forward(x, mask=mask)
        ref_dx = layer.backward(g)
    np.testing.assert_array_equal(fast, ref)
    np.testing.assert_array_equal(fast_dx, ref_dx)
    np.testing.assert_array_equal(ref, np.where(mask, x, 0.0))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_salt_and_pepper_kernel_equals_the_where_form(dtype, rng):
    x = rng.random((20, 30)).astype(dtype)
    u = rng.random((20, 30))
    mask, salt = u >= 0.4, u >= 0.2
    layer = SaltAndPepperNoise(0.4, low=-1.0, high=2.0)
    fast = layer.forward(x, mask=mask, salt=salt)
    with kernels.use_kernels("reference"):
        ref = layer.forward(x, mask=mask, salt=salt)
    np.testing.assert_array_equal(fast, ref)
    np.testing.assert_array_equal(ref, np.where(mask, x, np.where(salt, 2.0, -1.0)))


def test_gaussian_noise_backward_kernel_equals_the_where_form(rng):
    x = rng.random((10, 12))
    eps = rng.standard_normal((10, 12))
    layer = GaussianNoise(0.5, low=0.0, high=1.0)
    layer.forward(x, noise=eps)
    g = rng.standard_normal((10, 12))
    fast_dx = layer.backward(g)
    with kernels.use_kernels("reference"):
        ref_dx = layer.backward(g)
    v = x + 0.5 * eps
    np.testing.assert_array_equal(fast_dx, ref_dx)
    np.testing.assert_array_equal(ref_dx, np.where((v > 0.0) & (v < 1.0), g, 0.0))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("low, high", [(0.0, 1.0), (None, 1.0), (0.0, None), (None, None)])
def test_gaussian_apply_kernel_is_bit_exact(dtype, low, high, rng):
    from npae.kernels import noise as fast

    if not fast.HAVE_NUMBA:
        pytest.skip("numba is not installed (pip install 'npae[fast]')")
    x = rng.random((20, 30)).astype(dtype)
    eps = rng.standard_normal((20, 30)).astype(dtype)
    eps[0, :3] = [10.0, -10.0, 0.0]
    layer = GaussianNoise(0.5, low=low, high=high)
    got, got_mask = fast.gaussian_apply(layer, x, eps)
    with kernels.use_kernels("reference"):
        want, want_mask = layer._apply(x, eps)
    np.testing.assert_array_equal(got, want)
    if want_mask is True:
        assert got_mask is True
    else:
        np.testing.assert_array_equal(got_mask, want_mask)
