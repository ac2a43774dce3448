import numpy as np
import pytest

from npae import backend as B
from npae import optimizers as O
from tests.helpers import to_backend

CASES = [
    ("sgd", {}, "SGD", {}),
    ("momentum", {}, "SGD", {"momentum": 0.9}),
    ("nesterov", {}, "SGD", {"momentum": 0.9, "nesterov": True}),
    ("sgd", {"weight_decay": 0.1, "momentum": 0.5}, "SGD", {"weight_decay": 0.1, "momentum": 0.5}),
    ("adam", {}, "Adam", {}),
    ("adamw", {"weight_decay": 0.05}, "AdamW", {"weight_decay": 0.05}),
]


@pytest.mark.parametrize("name, kwargs, torch_name, torch_kwargs", CASES)
def test_optimizer_steps_match_pytorch(name, kwargs, torch_name, torch_kwargs, rng):
    torch = pytest.importorskip("torch")
    p0 = [rng.standard_normal((3, 4)), rng.standard_normal(4)]
    grads = [[rng.standard_normal(p.shape) for p in p0] for _ in range(5)]
    params = [p.copy() for p in p0]
    opt = O.get_optimizer(name, 0.01, **kwargs)
    tparams = [torch.tensor(p, requires_grad=True) for p in p0]
    topt = getattr(torch.optim, torch_name)(tparams, lr=0.01, **torch_kwargs)
    for step in grads:
        opt.step(list(zip(params, step)))
        for t, g in zip(tparams, step):
            t.grad = torch.tensor(g)
        topt.step()
    for p, t in zip(params, tparams):
        np.testing.assert_allclose(p, t.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_updates_happen_in_place_on_every_backend(xp):
    p = to_backend(xp, np.ones((2, 2)), "float32")
    before = p
    O.Adam(0.1).step([(p, to_backend(xp, np.ones((2, 2)), "float32"))])
    assert p is before and p.dtype == xp.xp.float32
    assert np.allclose(B.to_numpy(p), 0.9)


def test_global_norm_clipping_matches_pytorch(rng):
    torch = pytest.importorskip("torch")
    grads = [rng.standard_normal((5, 3)) * 10, rng.standard_normal(3)]
    clipped = O.clip_grad_norm(grads, 1.0)
    ts = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for t, g in zip(ts, grads):
        t.grad = torch.tensor(g)
    torch.nn.utils.clip_grad_norm_(ts, 1.0)
    for c, t in zip(clipped, ts):
        np.testing.assert_allclose(c, t.grad.numpy(), rtol=1e-6)
    total = np.sqrt(sum((c**2).sum() for c in clipped))
    assert total == pytest.approx(1.0, rel=1e-5)


def test_clip_norm_leaves_small_gradients_alone():
    g = [np.array([0.3, 0.4])]
    np.testing.assert_allclose(O.clip_grad_norm(g, 1.0)[0], g[0], rtol=1e-5)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), "0.1"])
def test_bad_learning_rate_is_refused(bad):
    with pytest.raises(ValueError, match="learning_rate must be a positive finite number"):
        O.Adam(bad)


def test_unknown_optimizer_lists_choices():
    with pytest.raises(ValueError, match=r"Unknown optimizer 'adma'.*Did you mean 'adam'"):
        O.get_optimizer("adma", 0.1)


def test_optimizer_refuses_a_different_parameter_count():
    opt = O.SGD(0.1, momentum=0.9)
    opt.step([(np.zeros(2), np.ones(2))])
    with pytest.raises(ValueError, match="set up for 1 parameters but step\\(\\) got 2"):
        opt.step([(np.zeros(2), np.ones(2)), (np.zeros(2), np.ones(2))])


def test_adam_moments_match_pytorch_exp_avg(rng):
    torch = pytest.importorskip("torch")
    p0 = rng.standard_normal((4, 3))
    param, tparam = p0.copy(), torch.tensor(p0, requires_grad=True)
    opt, topt = O.Adam(0.01), torch.optim.Adam([tparam], lr=0.01)
    for _ in range(3):
        g = rng.standard_normal(p0.shape)
        opt.step([(param, g)])
        tparam.grad = torch.tensor(g)
        topt.step()
    (m, v), = opt.moments()
    np.testing.assert_allclose(m, topt.state[tparam]["exp_avg"].numpy(), rtol=1e-12)
    np.testing.assert_allclose(v, topt.state[tparam]["exp_avg_sq"].numpy(), rtol=1e-12)
