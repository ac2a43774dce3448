"""Corruption layers: gradient checks with fixed corruption, values, statistics of the draws,
determinism across backends, and the training/eval switch."""

import numpy as np
import pytest

from npae import backend as B
from npae.gradcheck import check_layer
from npae.layers import Layer
from npae.noise import GaussianNoise, MaskingNoise, SaltAndPepperNoise, corrupt, make_noise
from tests.helpers import to_backend


class _Fixed(Layer):
    """A noise layer with its corruption frozen, so check_layer differences a fixed function."""

    def __init__(self, layer, **corruption):
        super().__init__()
        self.layer, self.corruption = layer, corruption

    def forward(self, x):
        return self.layer.forward(x, **self.corruption)

    def backward(self, grad_out):
        return self.layer.backward(grad_out)


def _x(shape=(6, 5), seed=0):
    return np.random.default_rng(seed).uniform(0.1, 0.9, shape)


def _keep(shape, rate, seed):
    return np.random.default_rng(seed).random(shape) >= rate


# ---------------------------------------------------------------- gradient checks
def test_gaussian_noise_with_clipping_passes_gradcheck(xp):
    x, eps = _x(), np.random.default_rng(1).standard_normal((6, 5))
    v = x + 0.4 * eps
    clipped = (v <= 0.0) | (v >= 1.0)
    assert 0 < clipped.sum() < clipped.size  # both branches are exercised
    assert np.min(np.minimum(np.abs(v), np.abs(v - 1.0))) > 1e-3  # away from the clip kinks
    layer = GaussianNoise(0.4, low=0.0, high=1.0)
    result = check_layer(_Fixed(layer, noise=to_backend(xp, eps)), to_backend(xp, x))
    assert result.passed, str(result)
    grad_in = B.to_numpy(layer.backward(to_backend(xp, np.ones((6, 5)))))
    np.testing.assert_array_equal(grad_in, np.where(clipped, 0.0, 1.0))


def test_gaussian_noise_without_clipping_is_additive_and_passes_gradcheck(xp):
    x, eps = _x(), np.random.default_rng(1).standard_normal((6, 5))
    layer = GaussianNoise(0.4)
    out = B.to_numpy(layer.forward(to_backend(xp, x), noise=to_backend(xp, eps)))
    np.testing.assert_allclose(out, x + 0.4 * eps, rtol=1e-15)
    assert out.min() < 0.0  # nothing was clipped
    result = check_layer(_Fixed(layer, noise=to_backend(xp, eps)), to_backend(xp, x))
    assert result.passed, str(result)


def test_masking_noise_passes_gradcheck_and_zeroes_masked_entries(xp):
    x, keep = _x(), _keep((6, 5), 0.4, 2)
    assert 0 < keep.sum() < keep.size
    layer = MaskingNoise(0.4)
    out = B.to_numpy(layer.forward(to_backend(xp, x), mask=B.asarray(keep, backend=xp)))
    np.testing.assert_array_equal(out, np.where(keep, x, 0.0))
    result = check_layer(_Fixed(layer, mask=B.asarray(keep, backend=xp)), to_backend(xp, x))
    assert result.passed, str(result)
    grad_in = B.to_numpy(layer.backward(to_backend(xp, np.ones((6, 5)))))
    np.testing.assert_array_equal(grad_in, keep.astype(float))


def test_salt_and_pepper_noise_passes_gradcheck_and_sets_low_or_high(xp):
    x, keep, salt = _x(), _keep((6, 5), 0.5, 3), _keep((6, 5), 0.5, 4)
    layer = SaltAndPepperNoise(0.5, low=-1.0, high=2.0)
    mask_b, salt_b = B.asarray(keep, backend=xp), B.asarray(salt, backend=xp)
    out = B.to_numpy(layer.forward(to_backend(xp, x), mask=mask_b, salt=salt_b))
    np.testing.assert_array_equal(out, np.where(keep, x, np.where(salt, 2.0, -1.0)))
    result = check_layer(_Fixed(layer, mask=mask_b, salt=salt_b), to_backend(xp, x))
    assert result.passed, str(result)
    grad_in = B.to_numpy(layer.backward(to_backend(xp, np.ones((6, 5)))))
    np.testing.assert_array_equal(grad_in, keep.astype(float))


class _LeakyMasking(MaskingNoise):
    """A wrong backward that forgets the mask."""

    def backward(self, grad_out):
        return grad_out


def test_gradcheck_catches_a_backward_that_ignores_the_mask():
    x, keep = _x(), _keep((6, 5), 0.4, 2)
    result = check_layer(_Fixed(_LeakyMasking(0.4), mask=keep), x)
    assert not result.passed
    assert result.errors["input"] > 0.1


# ---------------------------------------------------------------- statistics of the draws
N_STAT = (400, 250)  # 100,000 entries


def test_masking_rate_matches_noise_level():
    rate = 0.3
    out = MaskingNoise(rate, rng=0).forward(np.ones(N_STAT))
    observed = float(np.mean(out == 0.0))
    se = np.sqrt(rate * (1 - rate) / out.size)
    assert abs(observed - rate) < 4 * se


def test_salt_and_pepper_rate_and_even_split():
    rate, x = 0.2, _x(N_STAT, seed=5)
    out = SaltAndPepperNoise(rate, rng=1).forward(x)
    corrupted = out != x
    observed = float(np.mean(corrupted))
    assert abs(observed - rate) < 4 * np.sqrt(rate * (1 - rate) / x.size)
    assert set(np.unique(out[corrupted])) == {0.0, 1.0}
    salt_share = float(np.mean(out[corrupted] == 1.0))
    assert abs(salt_share - 0.5) < 4 * np.sqrt(0.25 / corrupted.sum())


def test_gaussian_noise_has_mean_zero_and_the_given_std():
    std, x = 0.25, _x(N_STAT, seed=6)
    diff = GaussianNoise(std, rng=2).forward(x) - x
    n = diff.size
    assert abs(diff.mean()) < 4 * std / np.sqrt(n)
    assert abs(diff.std() - std) < 4 * std / np.sqrt(2 * n)


def test_clipped_gaussian_noise_stays_in_range():
    out = GaussianNoise(0.5, low=0.0, high=1.0, rng=3).forward(_x((50, 40)))
    assert out.min() == 0.0 and out.max() == 1.0  # the clip was reached on both sides


# ---------------------------------------------------------------- determinism and modes
@pytest.mark.parametrize("kind", ["gaussian", "masking", "salt_pepper"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_same_seed_gives_the_same_corruption_on_every_backend(xp, kind, dtype):
    x = _x((20, 7), seed=7)
    expected = corrupt(x.astype(dtype), 11, noise=kind, noise_level=0.3)
    got = corrupt(to_backend(xp, x, dtype), 11, noise=kind, noise_level=0.3)
    assert B.dtype_name(got.dtype) == dtype
    np.testing.assert_array_equal(B.to_numpy(got), expected)
    assert not np.array_equal(expected, corrupt(x.astype(dtype), 12, noise=kind, noise_level=0.3))


@pytest.mark.parametrize("kind", ["gaussian", "masking", "salt_pepper"])
def test_forward_with_rng_equals_the_functional_form(xp, kind):
    x = to_backend(xp, _x((8, 6)))
    layer = make_noise(kind, 0.3)
    via_layer = B.to_numpy(layer.forward(x, rng=np.random.default_rng(4)))
    via_function = B.to_numpy(corrupt(x, np.random.default_rng(4), noise=kind, noise_level=0.3))
    np.testing.assert_array_equal(via_layer, via_function)
    assert not np.array_equal(via_layer, B.to_numpy(x))


@pytest.mark.parametrize("kind", ["gaussian", "masking", "salt_pepper"])
def test_eval_mode_is_the_identity_forward_and_backward(xp, kind):
    x, g = to_backend(xp, _x()), to_backend(xp, np.random.default_rng(8).standard_normal((6, 5)))
    layer = make_noise(kind, 0.5, low=0.0, high=1.0).eval()
    assert layer.training is False
    np.testing.assert_array_equal(B.to_numpy(layer.forward(x, rng=0)), B.to_numpy(x))
    np.testing.assert_array_equal(B.to_numpy(layer.backward(g)), B.to_numpy(g))
    assert not np.array_equal(B.to_numpy(layer.train().forward(x, rng=0)), B.to_numpy(x))


def test_given_corruption_is_applied_even_in_eval_mode():
    keep = _keep((6, 5), 0.5, 9)
    out = MaskingNoise(0.5).eval().forward(_x(), mask=keep)
    np.testing.assert_array_equal(out == 0.0, ~keep)


# ---------------------------------------------------------------- errors
def test_backward_before_forward_is_a_clear_error():
    with pytest.raises(RuntimeError, match=r"MaskingNoise.backward\(\) was called before forward\(\)"):
        MaskingNoise(0.2).backward(np.ones((2, 3)))


def test_corrupt_does_not_cache_for_backward():
    layer = GaussianNoise(0.1)
    layer.corrupt(_x(), rng=0)
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(np.ones((6, 5)))


def test_given_corruption_must_match_x(xp):
    x = to_backend(xp, _x())
    with pytest.raises(ValueError, match=r"mask must have the shape of x, \(6, 5\); got \(6, 4\)"):
        MaskingNoise(0.2).forward(x, mask=B.asarray(np.ones((6, 4), dtype=bool), backend=xp))
    with pytest.raises(TypeError, match="mask must be a boolean array"):
        MaskingNoise(0.2).forward(x, mask=to_backend(xp, np.ones((6, 5))))
    with pytest.raises(ValueError, match="noise must have the shape of x"):
        GaussianNoise(0.2).forward(x, noise=to_backend(xp, np.ones((5, 5))))
    with pytest.raises(ValueError, match="Pass mask and salt together"):
        SaltAndPepperNoise(0.2).forward(x, mask=B.asarray(np.ones((6, 5), dtype=bool), backend=xp))


def test_bad_noise_parameters_are_refused():
    with pytest.raises(ValueError, match="expected one of 'gaussian', 'masking', 'salt_pepper'"):
        make_noise("gauss", 0.1)
    with pytest.raises(ValueError, match=r"rate must be a fraction in \[0, 1\]; got 1.5"):
        MaskingNoise(1.5)
    with pytest.raises(ValueError, match="std must be a non-negative finite number"):
        GaussianNoise(-0.1)
    with pytest.raises(ValueError, match="low must not exceed high"):
        SaltAndPepperNoise(0.1, low=1.0, high=0.0)
