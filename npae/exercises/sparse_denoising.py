"""Chapter 3, sparse and denoising autoencoders: the gradients of the L1 and KL sparsity penalties,
and the masking and Gaussian corruptions of a denoiser's input.

References: ``npae.penalties.sparsity`` and ``npae.noise``.
"""

from __future__ import annotations

from array_api_compat import array_namespace

from npae import noise, ops, penalties
from npae.exercises.inputs import WEIGHT, away_from_zero, forgot_weight, normal
from npae.exercises.registry import Exercise, Mistake, register

__all__: list = []

def _per_unit(**inputs) -> dict:
    N, K = inputs["h"].shape
    return {"extra_1/K": ((1.0 / K, f"is 1/K = 1/{K} of the expected one: you averaged over the code units, but "
                                    "the penalty sums over them."),),
            "wrong_axis": ((N / K, "is N/K times the expected one: your mean runs over the code units where it runs "
                                   "over the batch (and the sum the other way)."),)}


# ---------------------------------------------------------------------- L1 activity
register(Exercise(
    name="l1_activity_grad", chapter=3, title="the L1 sparsity penalty's gradient",
    signature="l1_activity_grad(h, weight)",
    task="The L1 activity penalty on a batch of codes is P = λ · mean_n Σ_j |h_nj|. Return ∂P/∂h. "
         "(The inputs keep every |h_nj| ≥ 0.01, away from the kink at 0.)",
    given=(("h", "array of shape (N, K), the codes"), ("weight", "float, λ")),
    returns=(("grad", "array of shape (N, K), ∂P/∂h"),),
    make_inputs=lambda rng, N, K, weight=WEIGHT: {"h": away_from_zero(rng, N, K, scale=1.0), "weight": weight},
    cases=({"N": 5, "K": 4}, {"N": 3, "K": 6, "weight": 0.7}),
    reference=lambda h, weight: (weight * penalties.l1_activity_grad(h) * (1.0 / h.shape[0]),),
    mistakes=(
        Mistake("used_h", "your gradient grows with |h|: that is the gradient of a square, not of |h|.",
                lambda h, weight: (weight * h * (1.0 / h.shape[0]),)),
        Mistake("returned_abs", "you returned |h| (the penalty's terms), not the penalty's gradient.",
                lambda h, weight: (weight * array_namespace(h).abs(h) * (1.0 / h.shape[0]),)),
        Mistake("indicator", "your gradient is 0 where h < 0: |h| slopes there too, the other way.",
                lambda h, weight: (weight * array_namespace(h).astype(h > 0, h.dtype) * (1.0 / h.shape[0]),)),
        Mistake("returned_penalty", "you returned the penalty's value, not its gradient.",
                lambda h, weight: (array_namespace(h).zeros_like(h) + weight * array_namespace(h).mean(
                    array_namespace(h).sum(array_namespace(h).abs(h), axis=1)),)),
    ),
    objective=lambda h, weight: weight * array_namespace(h).mean(penalties.l1_activity(h)),
    grad_of={"grad": "h"}, factors=lambda **inputs: {**forgot_weight(**inputs), **_per_unit(**inputs)},
))


# ---------------------------------------------------------------------- KL sparsity
def _logit(h):
    xp = array_namespace(h)
    return xp.log(h) - xp.log1p(-h)


def _kl_inputs(rng, N, K, target=0.1):
    return {"h": ops.sigmoid(normal(rng, N, K)), "target": target}


def _kl_wrong(*, batch_mean=True, scale=True, both_terms=True, times_fprime=False, axis=0, term_sign=1.0,
              reverse=False, logs=False, sum_rho=False, swap=False):
    def variant(h, target):
        xp = array_namespace(h)
        rho_hat = xp.mean(h, axis=axis, keepdims=True) if batch_mean else h
        if sum_rho:
            rho_hat = xp.sum(h, axis=0, keepdims=True)
        if swap:
            return (xp.zeros_like(h) + (-rho_hat / target + (1.0 - rho_hat) / (1.0 - target)) / h.shape[0],)
        if reverse:  # d/dρ̂ KL(ρ̂ ‖ ρ)
            g = xp.log(rho_hat / target) - xp.log((1.0 - rho_hat) / (1.0 - target))
        elif logs:  # the KL's terms, not differentiated
            g = target * xp.log(target / rho_hat) + (1.0 - target) * xp.log((1.0 - target) / (1.0 - rho_hat))
        else:
            g = -target / rho_hat + term_sign * ((1.0 - target) / (1.0 - rho_hat) if both_terms else 0.0)
        g = xp.zeros_like(h) + g
        g = g * (1.0 / h.shape[0]) if scale else g
        return (g * h * (1.0 - h) if times_fprime else g,)
    return variant


_PER_ROW = ("per_row_kl", "you used each row's h_nj where the batch mean ρ̂_j belongs (a per-row KL, not the "
                          "KL of the batch mean).")

register(Exercise(
    name="kl_sparsity_grad", chapter=3, title="the KL sparsity penalty's gradient, through the batch mean",
    signature="kl_sparsity_grad(h, target)",
    task="With ρ̂_j = mean_n h_nj the mean activation of code unit j over the batch, the KL sparsity penalty "
         "is P = Σ_j KL(ρ ‖ ρ̂_j) = Σ_j [ρ log(ρ/ρ̂_j) + (1 − ρ) log((1 − ρ)/(1 − ρ̂_j))]. Return ∂P/∂h: "
         "every h_nj reaches P through the mean ρ̂_j.",
    given=(("h", "array of shape (N, K), codes in (0, 1) (sigmoid outputs)"), ("target", "float ρ in (0, 1)")),
    returns=(("grad", "array of shape (N, K), ∂P/∂h"),),
    make_inputs=_kl_inputs, cases=({"N": 5, "K": 4}, {"N": 3, "K": 6, "target": 0.3}),
    reference=lambda h, target: (penalties.kl_sparsity_grad(_logit(h), target),),
    mistakes=(
        Mistake(*_PER_ROW, _kl_wrong(batch_mean=False)),
        Mistake(*_PER_ROW, _kl_wrong(batch_mean=False, scale=False)),
        Mistake("forgot_term", "you dropped the (1 − ρ) term of the Bernoulli KL.", _kl_wrong(both_terms=False)),
        Mistake("wrt_z", "you multiplied by σ′(z) = h(1 − h): that is the gradient with respect to z, and this "
                         "exercise asks for ∂P/∂h.", _kl_wrong(times_fprime=True)),
        Mistake("wrong_axis", "your ρ̂ is a mean over the wrong axis: ρ̂_j averages unit j over the batch.",
                _kl_wrong(axis=1)),
        Mistake("wrong_axis", "your ρ̂ is a mean over the wrong axis: ρ̂_j averages unit j over the batch.",
                _kl_wrong(axis=1, scale=False)),
        Mistake("term_sign", "one term of the Bernoulli KL's derivative has the wrong sign.",
                _kl_wrong(term_sign=-1.0)),
        Mistake("reversed_kl", "you differentiated KL(ρ̂ ‖ ρ), the KL the other way round.", _kl_wrong(reverse=True)),
        Mistake("reversed_kl", "you differentiated KL(ρ̂ ‖ ρ), the KL the other way round.",
                _kl_wrong(reverse=True, scale=False)),
        Mistake("kl_value", "you returned the KL's terms (its logarithms), not their derivative.",
                _kl_wrong(logs=True)),
        Mistake("kl_value", "you returned the KL's terms (its logarithms), not their derivative.",
                _kl_wrong(logs=True, scale=False)),
        Mistake("sum_for_mean", "your ρ̂ is a sum over the batch where it is a mean.", _kl_wrong(sum_rho=True)),
        Mistake("swapped_rho", "ρ and ρ̂ are swapped in your derivative.", _kl_wrong(swap=True)),
    ),
    objective=lambda h, target: penalties.kl_sparsity(_logit(h), target), grad_of={"grad": "h"},
))


# ---------------------------------------------------------------------- corruption
def _masking_inputs(rng, N, D, rate=0.3):
    mask = rng.random((N, D)) >= rate
    mask[0, 0], mask[0, 1] = True, False  # both kinds, whatever the draw
    return {"x": rng.uniform(0.05, 1.0, (N, D)), "mask": mask, "rate": rate}


def _masking_reference(x, mask, rate):
    return (noise.MaskingNoise(rate).forward(x, mask=mask),)


register(Exercise(
    name="masking_noise", chapter=3, title="masking noise",
    signature="masking_noise(x, mask, rate)",
    task="Masking noise (Vincent et al., 2010) sets a random fraction ν of the input's entries to 0. Given the "
         "draw, a boolean mask that is True where an entry is kept, return the corrupted input x̃.",
    given=(("x", "array of shape (N, D)"), ("mask", "bool array of shape (N, D), True = kept"),
           ("rate", "float ν, the expected fraction set to 0 (the mask was drawn with it)")),
    returns=(("x_tilde", "array of shape (N, D), the dtype of x"),),
    make_inputs=_masking_inputs, cases=({"N": 5, "D": 7}, {"N": 3, "D": 4, "rate": 0.6}),
    reference=_masking_reference,
    mistakes=(
        Mistake("inverted_mask", "you zeroed the entries the mask keeps, and kept the others.",
                lambda x, mask, rate: (array_namespace(x).where(mask, 0.0, x),)),
        Mistake("rescaled", "you rescaled the kept entries, as dropout does; masking noise does not rescale.",
                lambda x, mask, rate: (array_namespace(x).where(mask, x / (1.0 - rate), 0.0),)),
        Mistake("rescaled", "you rescaled the kept entries; masking noise does not rescale.",
                lambda x, mask, rate: (array_namespace(x).where(mask, x / rate, 0.0),)),
        Mistake("rescaled", "you rescaled the kept entries; masking noise does not rescale.",
                lambda x, mask, rate: (array_namespace(x).where(mask, x * (1.0 - rate), 0.0),)),
        Mistake("ignored_mask", "your result does not follow the mask: every entry was scaled alike.",
                lambda x, mask, rate: (x * (1.0 - rate),)),
        Mistake("ignored_mask", "your result does not follow the mask: every entry was scaled alike.",
                lambda x, mask, rate: (x * rate,)),
        Mistake("returned_mask", "you returned the mask (as numbers), not the corrupted input.",
                lambda x, mask, rate: (array_namespace(x).astype(mask, x.dtype),)),
        Mistake("wrong_fill", "the dropped entries are not set to 0.",
                lambda x, mask, rate: (array_namespace(x).where(mask, x, rate),)),
        Mistake("wrong_fill", "the dropped entries are not set to 0.",
                lambda x, mask, rate: (array_namespace(x).where(mask, x, 1.0),)),
    ),
))


def _gaussian_inputs(rng, N, D, std=0.3):
    x, eps = rng.uniform(0.0, 1.0, (N, D)), normal(rng, N, D)
    x[0, 0], eps[0, 0], x[0, 1], eps[0, 1] = 0.95, 1.5, 0.05, -1.5  # the clip is met, whatever the draw
    return {"x": x, "eps": eps, "std": std}


def _gaussian(scale_of, clip=True, low=0.0, high=1.0, combine=None):
    def variant(x, eps, std):
        xp = array_namespace(x)
        v = x + scale_of(std) * eps if combine is None else combine(x, scale_of(std) * eps)
        if clip == "low":
            return (xp.maximum(v, low),)
        if clip == "high":
            return (xp.minimum(v, high),)
        return (xp.clip(v, low, high) if clip else v,)
    return variant


_VARIANCE = "you scaled ε by σ² (a variance) where σ (a standard deviation) belongs."

register(Exercise(
    name="gaussian_noise", chapter=3, title="Gaussian corruption, clipped to the data range",
    signature="gaussian_noise(x, eps, std)",
    task="Additive Gaussian noise with standard deviation σ, for data in [0, 1]: add σ·ε to x and clip the "
         "result to [0, 1]. ε is the standard-normal draw, given.",
    given=(("x", "array of shape (N, D), data in [0, 1]"), ("eps", "array of shape (N, D), ε ~ N(0, 1)"),
           ("std", "float σ, the noise's standard deviation")),
    returns=(("x_tilde", "array of shape (N, D)"),),
    make_inputs=_gaussian_inputs, cases=({"N": 5, "D": 7}, {"N": 3, "D": 4, "std": 0.6}),
    reference=lambda x, eps, std: (noise.GaussianNoise(std, low=0.0, high=1.0).forward(x, noise=eps),),
    mistakes=(
        Mistake("forgot_clip", "values leave the data range [0, 1]: clip them.", _gaussian(lambda s: s, clip=False)),
        Mistake("variance_for_std", _VARIANCE, _gaussian(lambda s: s * s)),
        Mistake("variance_for_std", "you scaled ε by √σ: σ is already a standard deviation.",
                _gaussian(lambda s: s**0.5)),
        Mistake("forgot_std", "you added ε without scaling it by σ.", _gaussian(lambda s: 1.0)),
        Mistake("divided_by_std", "you divided ε by σ where it is scaled by σ.", _gaussian(lambda s: 1.0 / s)),
        Mistake("half_clip", "your values leave the data range on one side: the clip is one-sided.",
                _gaussian(lambda s: s, clip="low")),
        Mistake("half_clip", "your values leave the data range on one side: the clip is one-sided.",
                _gaussian(lambda s: s, clip="high")),
        Mistake("wrong_clip_range", "you clipped to another range than the data's [0, 1].",
                _gaussian(lambda s: s, low=-1.0)),
        Mistake("multiplied_noise", "you multiplied the input by the noise where the noise is added.",
                _gaussian(lambda s: s, combine=lambda x, n: x * n)),
        Mistake("multiplied_noise", "you multiplied the input by the noise where the noise is added.",
                _gaussian(lambda s: s, combine=lambda x, n: x * (1.0 + n))),
        Mistake("subtracted_noise", "you subtracted the noise; it is added (ε is symmetric, but the draw given "
                                    "must be used as it is).", _gaussian(lambda s: s, combine=lambda x, n: x - n)),
        Mistake("returned_noise", "you returned the noise alone, not the corrupted input.",
                _gaussian(lambda s: s, combine=lambda x, n: n)),
        Mistake("clipped_noise", "you clipped the noise (or the input) before adding, not the sum.",
                lambda x, eps, std: (x + array_namespace(x).clip(std * eps, 0.0, 1.0),)),
    ),
))
