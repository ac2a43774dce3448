"""Fast paths of the model family (issue 6) against their readable references.

* ``noise.box_muller_normal`` against ``backend.standard_normal``: a different stream from the
  same seed, the same N(0, 1) distribution;
* the arithmetic masks of MaskingNoise / SaltAndPepperNoise and the lazily derived Gaussian clip
  mask against the ``where`` formulas;
* ``losses.bce_with_logits_and_grad``, ``penalties.kl_sparsity_and_grad`` and the shared-softplus
  ``log_mean_sigmoid``, and ``VAE._nll_and_grad``: the same numbers as the separate functions.
"""

import numpy as np
import pytest

from npae import backend as B
from npae import losses, ops, penalties
from npae.models.variational import VAE
from npae.noise import GaussianNoise, MaskingNoise, SaltAndPepperNoise, box_muller_normal
from tests.conftest import to_backend


def _same(a, b):
    np.testing.assert_array_equal(B.to_numpy(a), B.to_numpy(b))


# ---------------------------------------------------------------- Box–Muller normals
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_box_muller_draws_standard_normals_like_the_reference_sampler(dtype):
    stats = pytest.importorskip("scipy.stats")
    like = np.zeros(1, dtype=dtype)
    fast = B.to_numpy(box_muller_normal(np.random.default_rng(0), (400, 500), like=like)).ravel()
    ref = B.to_numpy(B.standard_normal(np.random.default_rng(1), (400, 500), like=like)).ravel()
    n = fast.size
    assert fast.dtype == ref.dtype == np.dtype(dtype)
    assert abs(fast.mean()) < 4 / np.sqrt(n)
    assert abs(fast.std() - 1.0) < 4 / np.sqrt(2 * n)
    kurtosis = np.mean(fast.astype(np.float64) ** 4)
    assert abs(kurtosis - 3.0) < 4 * np.sqrt(96 / n)  # Var(ε⁴) = 105 − 9 = 96
    assert stats.ks_2samp(fast, ref).pvalue > 1e-3
    assert stats.kstest(fast, "norm").pvalue > 1e-3
    # the two halves of each pair (cos and sin) are uncorrelated
    pairs = fast[: 2 * (n // 2)].reshape(2, -1)
    assert abs(np.corrcoef(pairs)[0, 1]) < 4 / np.sqrt(n / 2)


def test_box_muller_tail_is_bounded_and_finite_in_float32():
    eps = box_muller_normal(np.random.default_rng(3), (1000, 1000), like=np.zeros(1, np.float32))
    assert np.all(np.isfinite(eps))
    assert np.max(np.abs(eps)) <= np.sqrt(2 * 24 * np.log(2)) + 1e-5


@pytest.mark.parametrize("shape", [(7, 3), (5,), (1, 1), (4, 6)])
def test_box_muller_shape_backend_dtype_and_seed(xp, shape):
    like = to_backend(xp, np.zeros((2, 2)), "float32")
    eps = box_muller_normal(np.random.default_rng(5), shape, like=like)
    assert tuple(eps.shape) == shape
    assert B.dtype_name(eps.dtype) == "float32"
    assert B.backend_of(eps).name == xp.name
    host = box_muller_normal(np.random.default_rng(5), shape, like=np.zeros(1, np.float32))
    _same(eps, host)  # the transform runs on the host: the same numbers on every backend


def test_gaussian_noise_layer_draws_through_box_muller():
    x = np.full((6, 9), 0.5, dtype=np.float32)
    layer = GaussianNoise(0.25)
    out = layer.forward(x, rng=np.random.default_rng(8))
    eps = box_muller_normal(np.random.default_rng(8), (6, 9), like=x)
    np.testing.assert_array_equal(out, x + 0.25 * eps)


# ---------------------------------------------------------------- masks without where
def test_gaussian_backward_mask_from_the_clipped_output_equals_the_mask_of_v(xp):
    rng = np.random.default_rng(4)
    x = rng.uniform(0.0, 1.0, (40, 30))
    eps = rng.standard_normal((40, 30))
    eps[0, :3] = [(0.0 - x[0, 0]) / 0.5, (1.0 - x[0, 1]) / 0.5, 0.0]  # v on (or next to) the bounds
    v = x + 0.5 * eps
    for low, high in [(0.0, 1.0), (None, 1.0), (0.0, None)]:
        layer = GaussianNoise(0.5, low=low, high=high)
        layer.forward(to_backend(xp, x), noise=to_backend(xp, eps))
        inside = np.ones_like(v, dtype=bool)
        if low is not None:
            inside &= v > low
        if high is not None:
            inside &= v < high
        grad = B.to_numpy(layer.backward(to_backend(xp, np.full((40, 30), 2.0))))
        np.testing.assert_array_equal(grad, np.where(inside, 2.0, 0.0))
        assert 0 < inside.sum() < inside.size


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_masking_and_salt_pepper_equal_their_where_formulas(xp, dtype):
    rng = np.random.default_rng(6)
    x = rng.uniform(-3.0, 3.0, (50, 40)).astype(dtype)
    u = rng.random((50, 40))
    keep, salt = u >= 0.3, u >= 0.15
    xb = to_backend(xp, x, dtype)
    kb, sb = B.asarray(keep, backend=xp), B.asarray(salt, backend=xp)
    _same(MaskingNoise(0.3).forward(xb, mask=kb), np.where(keep, x, 0.0).astype(dtype))
    for low, high in [(0.0, 1.0), (0.1, 0.7), (-2.5, 1e-3)]:
        layer = SaltAndPepperNoise(0.3, low=low, high=high)
        out = layer.forward(xb, mask=kb, salt=sb)
        expected = np.where(keep, x, np.where(salt, np.asarray(high, dtype), np.asarray(low, dtype)))
        _same(out, expected)
        g = rng.standard_normal((50, 40)).astype(dtype)
        _same(layer.backward(to_backend(xp, g, dtype)), np.where(keep, g, 0.0))


# ---------------------------------------------------------------- fused value-and-gradient
def test_bce_value_and_grad_equal_the_separate_functions(xp, rng):
    x = to_backend(xp, rng.random((16, 12)), "float32")
    y = to_backend(xp, 30.0 * rng.standard_normal((16, 12)), "float32")
    value, grad = losses.bce_with_logits_and_grad(x, y)
    _same(value, losses.bce_with_logits(x, y))
    _same(grad, losses.bce_with_logits_grad(x, y))
    for name in ("bce", "mse"):
        loss = losses.get_loss(name)
        v, g = loss.value_and_grad(x, y)
        _same(v, loss.value(x, y))
        _same(g, loss.grad(x, y))


def test_log_mean_sigmoid_equals_the_log_sigmoid_reference(xp, rng):
    z = to_backend(xp, np.concatenate([rng.standard_normal((20, 5)) * 4, np.full((3, 5), -120.0)]))
    log_p, log_q = penalties.log_mean_sigmoid(z)
    log_n = float(np.log(23.0))
    _same(log_p, ops.logsumexp(ops.log_sigmoid(z), axis=0) - log_n)
    _same(log_q, ops.logsumexp(ops.log_sigmoid(-z), axis=0) - log_n)


@pytest.mark.parametrize("rho", [0.05, 0.5])
def test_kl_sparsity_and_grad_equal_the_separate_functions(xp, rng, rho):
    z = to_backend(xp, rng.standard_normal((24, 7)) * 2 - 1)
    value, grad = penalties.kl_sparsity_and_grad(z, rho)
    _same(value, penalties.kl_sparsity(z, rho))
    _same(grad, penalties.kl_sparsity_grad(z, rho))
    assert tuple(grad.shape) == (24, 7)


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_vae_nll_and_grad_equal_the_separate_methods(rng, likelihood):
    model = VAE(likelihood=likelihood, sigma=0.7)
    x = rng.random((9, 11))
    y = 5.0 * rng.standard_normal((9, 11))
    nll, grad = model._nll_and_grad(x, y)
    np.testing.assert_array_equal(nll, model._nll(x, y))
    np.testing.assert_array_equal(grad, model._nll_grad(x, y))
