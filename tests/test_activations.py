import numpy as np
import pytest

from npae import activations as A
from npae import backend as B
from npae.gradcheck import check_activation
from tests.helpers import to_backend

NAMES = list(A.ACTIVATIONS)


@pytest.mark.parametrize("name", NAMES)
def test_first_and_second_derivatives_pass_gradcheck(xp, name, rng):
    z = rng.uniform(-3, 3, size=(6, 7))
    z = np.where(np.abs(z) < 1e-2, 0.5, z)  # keep ReLU-family kinks out of the differences
    assert np.min(np.abs(z)) > 1e-3
    result = check_activation(A.get_activation(name), to_backend(xp, z))
    assert result.passed, str(result)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_activations_are_finite_at_extreme_inputs(xp, name, dtype):
    z = to_backend(xp, [[-1e4, -88.0, 0.0, 88.0, 1e4]], dtype)
    act = A.get_activation(name)
    for fn in (act.f, act.df, act.d2f):
        out = fn(z)
        assert out.dtype == z.dtype
        assert np.all(np.isfinite(B.to_numpy(out)))


def test_formulas_against_numpy_references(rng):
    z = rng.standard_normal((4, 5))
    ref = {
        "identity": z, "relu": np.maximum(z, 0), "leaky_relu": np.where(z > 0, z, 0.01 * z),
        "elu": np.where(z > 0, z, np.exp(z) - 1), "sigmoid": 1 / (1 + np.exp(-z)), "tanh": np.tanh(z),
        "softplus": np.log1p(np.exp(z)),
    }
    for name, expected in ref.items():
        np.testing.assert_allclose(A.get_activation(name).f(z), expected, rtol=1e-12, err_msg=name)


def test_unknown_activation_lists_names_and_suggests():
    with pytest.raises(ValueError, match=r"Unknown activation 'rleu'.*'relu'.*Did you mean 'relu'"):
        A.get_activation("rleu")


def test_torch_parity_of_f_df_d2f():
    torch = pytest.importorskip("torch")
    z0 = np.random.default_rng(1).uniform(-3, 3, size=50)
    z0 = np.where(np.abs(z0) < 1e-2, 0.3, z0)
    funcs = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "softplus": torch.nn.functional.softplus,
             "elu": torch.nn.functional.elu, "relu": torch.relu,
             "leaky_relu": lambda t: torch.nn.functional.leaky_relu(t, 0.01)}
    for name, fn in funcs.items():
        z = torch.tensor(z0, requires_grad=True)
        y = fn(z)
        (d1,) = torch.autograd.grad(y.sum(), z, create_graph=True)
        d2 = torch.autograd.grad(d1.sum(), z, allow_unused=True)[0]
        d2 = torch.zeros_like(z) if d2 is None else d2
        act = A.get_activation(name)
        np.testing.assert_allclose(act.f(z0), y.detach().numpy(), rtol=1e-12, atol=1e-15, err_msg=name)
        np.testing.assert_allclose(act.df(z0), d1.detach().numpy(), rtol=1e-12, atol=1e-15, err_msg=name)
        np.testing.assert_allclose(act.d2f(z0), d2.detach().numpy(), rtol=1e-12, atol=1e-15, err_msg=name)
