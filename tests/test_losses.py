import math

import numpy as np
import pytest

from npae import backend as B
from npae import losses
from npae.gradcheck import check_loss
from tests.conftest import to_backend


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
