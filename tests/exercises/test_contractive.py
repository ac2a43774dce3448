"""Chapter 4 exercises: npae's own code passes, and each catalogued mistake fails with its name."""

import pytest
from array_api_compat import array_namespace

from npae import penalties
from npae.exercises import check
from npae.penalties import contractive as C

NPAE = {
    "contractive_penalty": lambda W, z, act: array_namespace(z).mean(C.one_layer_penalty_rows(W, z, act)),
    "contractive_penalty_grad": lambda W, z, act, weight: C.one_layer_penalty_and_grad(W, z, act, weight=weight)[1:],
    "contractive_jacobian": penalties.encoder_jacobian,
}


def _xp(a):
    return array_namespace(a)


def _penalty(s_of, gamma_axis=0, gamma_power=1.0, mean=True):
    def penalty(W, z, act):
        xp = _xp(z)
        gamma = xp.sum(W * W, axis=gamma_axis) ** gamma_power
        rows = xp.sum(s_of(z, act) * gamma, axis=1)
        return xp.mean(rows) if mean else xp.sum(rows)
    return penalty


def _grad(dz_factor=lambda z, a: a.d2f(z), scale=2.0, n=True, weighted=True):
    def grad(W, z, act, weight):
        xp = _xp(z)
        c = (weight if weighted else 1.0) / (z.shape[0] if n else 1)
        s = act.df(z)
        dW = scale * c * W * xp.sum(s * s, axis=0)
        dz = scale * c * s * dz_factor(z, act) * xp.sum(W * W, axis=0)
        return dW, dz
    return grad


def _jacobian(scale_axis=1, fprime=True, all_layers=True):
    def jacobian(Ws, zs, acts):
        T = None
        pairs = list(zip(Ws, zs, acts))
        if not all_layers:
            pairs = pairs[-1:]
        for W, z, act in pairs:
            A = W[None, :, :] if T is None else T @ W
            s = act.df(z) if fprime else _xp(z).ones_like(z)
            T = A * (s[:, None, :] if scale_axis == 1 else s[:, :, None])
        return T
    return jacobian


MISTAKES = [
    ("contractive_penalty", "missing_1/N", _penalty(lambda z, a: a.df(z) ** 2, mean=False)),
    ("contractive_penalty", "wrong_axis", _penalty(lambda z, a: a.df(z) ** 2, gamma_axis=1)),
    ("contractive_penalty", "forgot_square", _penalty(lambda z, a: a.df(z))),
    ("contractive_penalty", "forgot_square", _penalty(lambda z, a: a.df(z) ** 2, gamma_power=0.5)),
    ("contractive_penalty", "used_f", _penalty(lambda z, a: a.f(z) ** 2)),
    ("contractive_penalty_grad", "forgot_fsecond", _grad(lambda z, a: 0.0)),
    ("contractive_penalty_grad", "forgot_fsecond", _grad(lambda z, a: 1.0)),
    ("contractive_penalty_grad", "fprime_for_fsecond", _grad(lambda z, a: a.df(z))),
    ("contractive_penalty_grad", "factor_2", _grad(scale=1.0)),
    ("contractive_penalty_grad", "missing_1/N", _grad(n=False)),
    ("contractive_penalty_grad", "forgot_weight", _grad(weighted=False)),
    ("contractive_jacobian", "forgot_fprime", _jacobian(fprime=False)),
    ("contractive_jacobian", "wrong_axis", _jacobian(scale_axis=2)),
    ("contractive_jacobian", "last_layer_only", _jacobian(all_layers=False)),
    ("contractive_jacobian", "transposed", lambda Ws, zs, acts: _xp(zs[0]).permute_dims(
        penalties.encoder_jacobian(Ws, zs, acts), (0, 2, 1))),
]


@pytest.mark.parametrize("name", sorted(NPAE))
def test_npae_reference_passes(xp, name):
    result = check(name, NPAE[name], backend=xp, random_state=0)
    assert result.passed, str(result)


@pytest.mark.parametrize("name, mistake, fn", MISTAKES, ids=[f"{n}-{m}-{i}" for i, (n, m, _) in enumerate(MISTAKES)])
def test_each_mistake_fails_and_is_named(xp, name, mistake, fn):
    result = check(name, fn, backend=xp, random_state=3)
    assert not result.passed
    assert mistake in result.mistakes, str(result)
