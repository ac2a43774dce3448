"""Chapter 5 exercises: npae's own code passes, and each catalogued mistake fails with its name."""

import math

import pytest
from array_api_compat import array_namespace

from npae import losses, ops
from npae.exercises import check
from npae.models import variational

NPAE = {
    "gaussian_kl": losses.gaussian_kl,
    "gaussian_kl_grad": losses.gaussian_kl_grad,
    "reparameterize_backward": lambda dz, mu, log_var, eps: variational.reparameterize_grad(dz, log_var, eps),
    "iwae_bound": lambda log_w: ops.logsumexp(log_w, axis=0) - math.log(log_w.shape[0]),
}


def _xp(a):
    return array_namespace(a)


def _kl(variance_of=lambda xp, lv: xp.exp(lv), one=1.0, half=0.5, reduce="sum"):
    def kl(mu, log_var):
        xp = _xp(mu)
        terms = one + log_var - mu**2 - variance_of(xp, log_var)
        if reduce == "none":
            return -half * terms
        return -half * (xp.sum(terms, axis=1) if reduce == "sum" else xp.mean(terms, axis=1))
    return kl


def _reparam(dlog_var, dmu=lambda dz, std: dz):
    def backward(dz, mu, log_var, eps):
        std = _xp(dz).exp(0.5 * log_var)
        return dmu(dz, std), dlog_var(dz, std, eps)
    return backward


def _naive_iwae(log_w):
    xp = _xp(log_w)
    return xp.log(xp.mean(xp.exp(log_w), axis=0))


MISTAKES = [
    ("gaussian_kl", "variance_for_std", _kl(lambda xp, lv: xp.exp(0.5 * lv))),
    ("gaussian_kl", "log_var_as_log_std", _kl(lambda xp, lv: xp.exp(2 * lv))),
    ("gaussian_kl", "forgot_constant", _kl(one=0.0)),
    ("gaussian_kl", "factor_2", _kl(half=1.0)),
    ("gaussian_kl", "sign", _kl(half=-0.5)),
    ("gaussian_kl", "extra_1/K", _kl(reduce="mean")),
    ("gaussian_kl", "not_summed", _kl(reduce="none")),
    ("gaussian_kl_grad", "factor_2", lambda mu, lv: (mu, _xp(mu).exp(lv) - 1)),
    ("gaussian_kl_grad", "variance_for_std", lambda mu, lv: (mu, 0.5 * (_xp(mu).exp(0.5 * lv) - 1))),
    ("gaussian_kl_grad", "wrt_variance", lambda mu, lv: (mu, 0.5 * (1 - _xp(mu).exp(-lv)))),
    ("gaussian_kl_grad", "sign", lambda mu, lv: (-mu, 0.5 * (_xp(mu).exp(lv) - 1))),
    ("gaussian_kl_grad", "factor_2", lambda mu, lv: (2 * mu, 0.5 * (_xp(mu).exp(lv) - 1))),
    ("reparameterize_backward", "variance_for_std", _reparam(lambda dz, std, eps: dz * 0.5 * std**2 * eps)),
    ("reparameterize_backward", "factor_2", _reparam(lambda dz, std, eps: dz * std * eps)),
    ("reparameterize_backward", "forgot_eps", _reparam(lambda dz, std, eps: dz * 0.5 * std)),
    ("reparameterize_backward", "dmu_scaled",
     _reparam(lambda dz, std, eps: dz * 0.5 * std * eps, lambda dz, std: dz * std)),
    ("reparameterize_backward", "sign", _reparam(lambda dz, std, eps: -dz * 0.5 * std * eps)),
    ("iwae_bound", "elbo", lambda log_w: _xp(log_w).mean(log_w, axis=0)),
    ("iwae_bound", "forgot_log_S", lambda log_w: ops.logsumexp(log_w, axis=0)),
    ("iwae_bound", "wrong_axis", lambda log_w: ops.logsumexp(log_w, axis=1) - math.log(log_w.shape[1])),
    ("iwae_bound", "unstable", _naive_iwae),
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
