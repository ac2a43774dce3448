import math

import numpy as np
import pytest

from npae import backend as B
from npae import losses
from npae.gradcheck import check_gradients, check_loss


def to_backend(backend, a, dtype="float64"):
    return B.asarray(np.asarray(a), dtype=dtype, backend=backend)


@pytest.mark.parametrize("name", ["bce", "mse"])
def test_loss_gradients_pass_gradcheck(xp, name, rng):
    x = to_backend(xp, rng.random((5, 7)))
    out = to_backend(xp, rng.standard_normal((5, 7)))
    result = check_loss(losses.get_loss(name), x, out)
    assert result.passed, str(result)


def test_bce_matches_the_probability_form(rng):
    x, y = rng.random((4, 6)), rng.standard_normal((4, 6))
    p = 1 / (1 + np.exp(-y))
    expected = -(x * np.log(p) + (1 - x) * np.log(1 - p)).sum(axis=1)
    np.testing.assert_allclose(losses.bce_with_logits(x, y), expected, rtol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_bce_is_exact_and_finite_for_huge_logits(xp, dtype):
    x = to_backend(xp, [[0.0, 1.0, 0.0, 1.0, 0.5]], dtype)
    y = to_backend(xp, [[-1e4, 1e4, 1e4, -1e4, 0.0]], dtype)
    value = float(B.to_numpy(losses.bce_with_logits(x, y))[0])
    assert math.isclose(value, 1e4 + 1e4 + math.log(2), rel_tol=1e-6)  # confident and wrong costs |y|
    grad = B.to_numpy(losses.bce_with_logits_grad(x, y))
    np.testing.assert_allclose(grad, [[0.0, 0.0, 1.0, -1.0, 0.0]], atol=1e-7)


def test_mse_is_sum_of_squares_per_row(rng):
    x, x_hat = rng.random((3, 4)), rng.random((3, 4))
    np.testing.assert_allclose(losses.squared_error(x, x_hat), ((x_hat - x) ** 2).sum(axis=1))


def test_bce_target_outside_unit_interval_is_a_clear_error(xp):
    with pytest.raises(ValueError, match=r"expects X in \[0, 1\]; got min=-0.5, max=255.*X / 255.0"):
        losses.get_loss("bce").check_target(to_backend(xp, [[-0.5, 255.0]]), "Autoencoder")


def test_unknown_loss_lists_valid_names():
    with pytest.raises(ValueError, match=r"Unknown loss 'bec'.*'bce', 'mse'.*Did you mean 'bce'"):
        losses.get_loss("bec")


def test_torch_parity_of_losses(rng):
    torch = pytest.importorskip("torch")
    x, y = rng.random((5, 8)), rng.standard_normal((5, 8)) * 5
    yt = torch.tensor(y, requires_grad=True)
    ref = torch.nn.functional.binary_cross_entropy_with_logits(yt, torch.tensor(x), reduction="none").sum(1)
    (g,) = torch.autograd.grad(ref.sum(), yt)
    np.testing.assert_allclose(losses.bce_with_logits(x, y), ref.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(losses.bce_with_logits_grad(x, y), g.numpy(), rtol=1e-10, atol=1e-15)
    ref = ((yt - torch.tensor(x)) ** 2).sum(1)
    (g,) = torch.autograd.grad(ref.sum(), yt)
    np.testing.assert_allclose(losses.squared_error_grad(x, y), g.numpy(), rtol=1e-12)


# ---------------------------------------------------------------- Gaussian NLL, Bernoulli NLL, Gaussian KL
@pytest.mark.parametrize("sigma", [1.0, 0.3, 2.5])
def test_gaussian_nll_is_minus_the_sum_of_normal_log_densities(xp, rng, sigma):
    norm = pytest.importorskip("scipy.stats").norm
    x, mean = rng.standard_normal((4, 6)), rng.standard_normal((4, 6))
    value = B.to_numpy(losses.gaussian_nll(to_backend(xp, x), to_backend(xp, mean), sigma))
    np.testing.assert_allclose(value, -norm.logpdf(x, loc=mean, scale=sigma).sum(axis=1), rtol=1e-12)
    assert value.shape == (4,)


def test_gaussian_nll_closed_form_at_the_mean():
    x = np.zeros((2, 5))
    # ‖x − mean‖ = 0 leaves the constant D·(log σ + ½ log 2π) per row
    np.testing.assert_allclose(losses.gaussian_nll(x, x, 2.0), 5 * (math.log(2.0) + 0.5 * math.log(2 * math.pi)))
    np.testing.assert_array_equal(losses.gaussian_nll_grad(x, x, 2.0), np.zeros((2, 5)))


@pytest.mark.parametrize("sigma", [1.0, 0.6, 1.7])
def test_gaussian_nll_gradient_passes_gradcheck(xp, rng, sigma):
    x = to_backend(xp, rng.standard_normal((5, 7)))
    mean = to_backend(xp, rng.standard_normal((5, 7)))
    result = check_loss(losses.GaussianNLL(sigma), x, mean)
    assert result.passed, str(result)
    assert max(result.errors.values()) < 1e-6


def test_gaussian_nll_object_is_the_functions_with_an_identity_output(rng):
    x, mean = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    loss = losses.GaussianNLL(sigma=0.5)
    np.testing.assert_array_equal(loss.value(x, mean), losses.gaussian_nll(x, mean, 0.5))
    np.testing.assert_array_equal(loss.grad(x, mean), losses.gaussian_nll_grad(x, mean, 0.5))
    value, grad = loss.value_and_grad(x, mean)
    np.testing.assert_array_equal(value, loss.value(x, mean))
    np.testing.assert_array_equal(grad, loss.grad(x, mean))
    assert loss.output(mean) is mean
    loss.check_target(np.array([[-3.0, 255.0]]))  # any real data is scored
    assert repr(loss) == "GaussianNLL(sigma=0.5)" and loss.name == "gaussian"
    with pytest.raises(ValueError, match="sigma must be a positive finite number; got 0.0"):
        losses.GaussianNLL(sigma=0.0)


def test_bernoulli_nll_is_bce_on_logits_with_likelihood_wording(xp, rng):
    x, y = rng.random((3, 5)), 3.0 * rng.standard_normal((3, 5))
    loss = losses.BernoulliNLL()
    assert isinstance(loss, losses.BCE) and loss.name == "bernoulli"
    np.testing.assert_array_equal(loss.value(x, y), losses.bce_with_logits(x, y))
    np.testing.assert_array_equal(loss.grad(x, y), losses.bce_with_logits_grad(x, y))
    np.testing.assert_allclose(loss.output(y), 1.0 / (1.0 + np.exp(-y)), rtol=1e-12)
    result = check_loss(loss, to_backend(xp, x), to_backend(xp, y))
    assert result.passed, str(result)
    with pytest.raises(ValueError, match=r"^VAE with likelihood='bernoulli' expects X in \[0, 1\]; got min=-0.5, "
                                         r"max=255\. Scale it first, e\.g\. X / 255\.0 for 8-bit images, or use "
                                         r"likelihood='gaussian'\.$"):
        loss.check_target(to_backend(xp, [[-0.5, 255.0]]), "VAE")


def test_get_likelihood_picks_the_loss_object():
    assert type(losses.get_likelihood("bernoulli")) is losses.BernoulliNLL
    gaussian = losses.get_likelihood("gaussian", sigma=0.25)
    assert type(gaussian) is losses.GaussianNLL and gaussian.sigma == 0.25
    assert tuple(losses.LIKELIHOODS) == ("bernoulli", "gaussian")
    with pytest.raises(ValueError, match=r"Unknown likelihood 'bernouli'.*Did you mean 'bernoulli'"):
        losses.get_likelihood("bernouli")


def test_gaussian_nll_matches_pytorch(rng):
    torch = pytest.importorskip("torch")
    x, mean = rng.standard_normal((5, 8)), rng.standard_normal((5, 8))
    mt = torch.tensor(mean, requires_grad=True)
    ref = -torch.distributions.Normal(mt, 0.6).log_prob(torch.tensor(x)).sum(1)
    (g,) = torch.autograd.grad(ref.sum(), mt)
    np.testing.assert_allclose(losses.gaussian_nll(x, mean, 0.6), ref.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(losses.gaussian_nll_grad(x, mean, 0.6), g.numpy(), rtol=1e-12)


def test_kl_closed_form_matches_monte_carlo(xp):
    mu = np.array([[0.0, 0.0], [1.0, -0.5], [0.3, 2.0]])
    log_var = np.array([[0.0, 0.0], [-1.0, 0.7], [1.5, -2.0]])
    kl = B.to_numpy(losses.gaussian_kl(to_backend(xp, mu), to_backend(xp, log_var)))
    assert kl[0] == 0.0
    M = 200000
    e = np.random.default_rng(1).standard_normal((M, 3, 2))
    z = mu + np.exp(0.5 * log_var) * e
    log_q_minus_log_p = (-0.5 * (log_var + e**2) + 0.5 * z**2).sum(-1)  # the log 2π terms cancel
    se = log_q_minus_log_p.std(0, ddof=1) / np.sqrt(M)
    assert np.all(np.abs(log_q_minus_log_p.mean(0) - kl)[1:] < 4 * se[1:])
    dmu, dlv = losses.gaussian_kl_grad(to_backend(xp, mu), to_backend(xp, log_var))
    np.testing.assert_allclose(B.to_numpy(dmu), mu)
    np.testing.assert_allclose(B.to_numpy(dlv), 0.5 * (np.exp(log_var) - 1.0))


def test_kl_matches_the_closed_form_of_two_normals(rng):
    mu, log_var = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    var = np.exp(log_var)
    # KL(N(m, s²) ‖ N(0, 1)) = log(1/s) + (s² + m²)/2 − ½, per coordinate
    expected = (-0.5 * log_var + 0.5 * (var + mu**2) - 0.5).sum(axis=1)
    np.testing.assert_allclose(losses.gaussian_kl(mu, log_var), expected, rtol=1e-12)
    assert np.all(losses.gaussian_kl(mu, log_var) >= 0.0)


def test_kl_gradients_pass_gradcheck(xp, rng):
    mu = to_backend(xp, rng.standard_normal((4, 3)))
    log_var = to_backend(xp, rng.standard_normal((4, 3)))
    w = to_backend(xp, rng.standard_normal(4))  # a random upstream gradient for the (N,) rows
    xpn = xp.xp

    def f():
        return xpn.sum(w * losses.gaussian_kl(mu, log_var))

    dmu, dlog_var = losses.gaussian_kl_grad(mu, log_var)
    result = check_gradients(f, {"mu": mu, "log_var": log_var},
                             {"mu": dmu * w[:, None], "log_var": dlog_var * w[:, None]})
    assert result.passed, str(result)
    assert max(result.errors.values()) < 1e-6


def test_gradcheck_catches_a_kl_gradient_without_the_half(rng):
    mu, log_var = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))

    def f():
        return float(np.sum(losses.gaussian_kl(mu, log_var)))

    dmu, _ = losses.gaussian_kl_grad(mu, log_var)
    wrong = np.exp(log_var) - 1.0  # the factor ½ dropped
    result = check_gradients(f, {"mu": mu, "log_var": log_var}, {"mu": dmu, "log_var": wrong})
    assert not result.passed and result.errors["mu"] < 1e-6
