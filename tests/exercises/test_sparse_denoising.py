"""Chapter 3 exercises: npae's own code passes, and each catalogued mistake fails with its name."""

import pytest
from array_api_compat import array_namespace

from npae import noise, penalties
from npae.exercises import check


def _logit(h):
    xp = array_namespace(h)
    return xp.log(h) - xp.log1p(-h)


NPAE = {
    "l1_activity_grad": lambda h, weight: weight * penalties.l1_activity_grad(h) / h.shape[0],
    "kl_sparsity_grad": lambda h, target: penalties.kl_sparsity_grad(_logit(h), target),
    "masking_noise": lambda x, mask, rate: noise.MaskingNoise(rate).forward(x, mask=mask),
    "gaussian_noise": lambda x, eps, std: noise.GaussianNoise(std, low=0.0, high=1.0).forward(x, noise=eps),
}


def _xp(a):
    return array_namespace(a)


def _kl(*, mean=True, n=True, second=True, fprime=False):
    def grad(h, target):
        xp = _xp(h)
        rho_hat = xp.mean(h, axis=0) if mean else h
        g = -target / rho_hat + ((1 - target) / (1 - rho_hat) if second else 0.0)
        g = xp.zeros_like(h) + g
        g = g / h.shape[0] if n else g
        return g * h * (1 - h) if fprime else g
    return grad


def _gauss(scale_of, clip=True):
    def corrupt(x, eps, std):
        v = x + scale_of(std) * eps
        return _xp(x).clip(v, 0.0, 1.0) if clip else v
    return corrupt


MISTAKES = [
    ("l1_activity_grad", "missing_1/N", lambda h, weight: weight * _xp(h).sign(h)),
    ("l1_activity_grad", "forgot_weight", lambda h, weight: _xp(h).sign(h) / h.shape[0]),
    ("l1_activity_grad", "used_h", lambda h, weight: weight * h / h.shape[0]),
    ("l1_activity_grad", "sign", lambda h, weight: -weight * _xp(h).sign(h) / h.shape[0]),
    ("kl_sparsity_grad", "missing_1/N", _kl(n=False)),
    ("kl_sparsity_grad", "per_row_kl", _kl(mean=False)),
    ("kl_sparsity_grad", "per_row_kl", _kl(mean=False, n=False)),
    ("kl_sparsity_grad", "forgot_term", _kl(second=False)),
    ("kl_sparsity_grad", "wrt_z", _kl(fprime=True)),
    ("kl_sparsity_grad", "sign", lambda h, target: -_kl()(h, target)),
    ("masking_noise", "inverted_mask", lambda x, mask, rate: _xp(x).where(mask, 0.0, x)),
    ("masking_noise", "rescaled", lambda x, mask, rate: _xp(x).where(mask, x / (1 - rate), 0.0)),
    ("gaussian_noise", "forgot_clip", _gauss(lambda s: s, clip=False)),
    ("gaussian_noise", "variance_for_std", _gauss(lambda s: s**2)),
    ("gaussian_noise", "variance_for_std", _gauss(lambda s: s**0.5)),
    ("gaussian_noise", "forgot_std", _gauss(lambda s: 1.0)),
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


def test_bool_times_float_mask_fails_on_the_strict_device_with_advice():
    result = check("masking_noise", lambda x, mask, rate: x * mask, backend="array_api_strict", random_state=0)
    assert not result.passed and "bool_arithmetic" in result.mistakes and "xp.where" in str(result)
    assert check("masking_noise", lambda x, mask, rate: x * mask, backend="numpy", random_state=0).passed
