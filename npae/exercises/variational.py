"""Chapter 5, the variational autoencoder: the Gaussian KL and its gradient, the backward pass of the
reparameterization, and the importance-weighted bound with a stable logsumexp.

References: ``npae.losses.gaussian_kl`` / ``gaussian_kl_grad``, ``npae.models.variational``
(``reparameterize``, ``reparameterize_grad``) and ``npae.ops.logsumexp``.
"""

from __future__ import annotations

import math

from array_api_compat import array_namespace

from npae import losses, ops
from npae.exercises.inputs import host_namespace, normal
from npae.exercises.registry import Edge, Exercise, Mistake, register
from npae.models import variational

__all__: list = []

_MU_LOG_VAR = (("mu", "array of shape (N, K), the posterior means"),
               ("log_var", "array of shape (N, K), log σ², the posterior log-variances"))


def _stats(rng, N, K):
    return {"mu": normal(rng, N, K), "log_var": normal(rng, N, K, scale=0.7)}


def _per_latent(**inputs) -> dict:
    K = inputs["mu"].shape[1]
    return {"extra_1/K": ((1.0 / K, f"is 1/K = 1/{K} of the expected one: you averaged over the latent units, "
                                    "but the KL of independent units is their sum."),)}


def _kl(variance_of, one=1.0, log_of=lambda lv: lv, mean_of=lambda mu: mu * mu, axis=1):
    def variant(mu, log_var):
        xp = array_namespace(mu)
        return (-0.5 * xp.sum(one + log_of(log_var) - mean_of(mu) - variance_of(xp, log_var), axis=axis),)
    return variant


_LOG_STD = ("log_var_as_log_std", "you treated log_var as log σ (a log standard deviation); it is log σ², the log "
                                  "of the variance: look at every place log_var enters.")


register(Exercise(
    name="gaussian_kl", chapter=5, title="the KL of the posterior to the prior, in closed form",
    signature="gaussian_kl(mu, log_var)",
    task="The encoder's posterior for row n is q(z|x_n) = N(mu_n, diag(σ²_n)) with log_var = log σ²; the prior "
         "is p(z) = N(0, I). Return KL(q ‖ p) for each row, in closed form.",
    given=_MU_LOG_VAR,
    returns=(("kl", "array of shape (N,), one value per row"),),
    make_inputs=_stats, cases=({"N": 5, "K": 3}, {"N": 4, "K": 6}),
    reference=lambda mu, log_var: (losses.gaussian_kl(mu, log_var),),
    mistakes=(
        Mistake("variance_for_std", "you used σ = exp(½·log_var), a standard deviation, where the variance σ² "
                                    "belongs.", _kl(lambda xp, lv: xp.exp(0.5 * lv))),
        Mistake(*_LOG_STD, _kl(lambda xp, lv: xp.exp(2.0 * lv), log_of=lambda lv: 2.0 * lv)),
        Mistake(*_LOG_STD, _kl(lambda xp, lv: xp.exp(2.0 * lv))),
        Mistake(*_LOG_STD, _kl(lambda xp, lv: xp.exp(lv), log_of=lambda lv: 2.0 * lv)),
        Mistake("forgot_mu", "the means mu are missing from your KL.", _kl(lambda xp, lv: xp.exp(lv),
                                                                         mean_of=lambda mu: 0.0)),
        Mistake("mu_not_squared", "the means enter your KL unsquared.", _kl(lambda xp, lv: xp.exp(lv),
                                                                           mean_of=lambda mu: mu)),
        Mistake("log_sign", "log_var enters your KL with the wrong sign.",
                _kl(lambda xp, lv: xp.exp(lv), log_of=lambda lv: -lv)),
        Mistake("wrong_axis", "you summed over the wrong axis: one value per row is expected.",
                _kl(lambda xp, lv: xp.exp(lv), axis=0)),
        Mistake("wrong_axis", "you reduced over the wrong axis: one value per row is expected.",
                lambda mu, log_var: (-0.5 * array_namespace(mu).mean(
                    1.0 + log_var - mu * mu - array_namespace(mu).exp(log_var), axis=0),)),
        Mistake("forgot_exp", "log_var enters where the variance belongs: the variance is not its log.",
                _kl(lambda xp, lv: lv)),
        Mistake("log_var_as_std", "you treated log_var as σ itself; it is log σ².",
                _kl(lambda xp, lv: lv * lv, log_of=lambda lv: array_namespace(lv).log(lv * lv))),
        Mistake("reversed_kl", "you computed KL(p ‖ q), the KL the other way round (prior against posterior).",
                lambda mu, log_var: (array_namespace(mu).sum(
                    0.5 * (log_var + (1.0 + mu * mu) * array_namespace(mu).exp(-log_var) - 1.0), axis=1),)),
        Mistake("forgot_constant", "you dropped the constant term of the KL (the 1 per latent unit).",
                _kl(lambda xp, lv: xp.exp(lv), one=0.0)),
        Mistake("not_summed", "you returned one value per latent unit; sum them (one value per row).",
                lambda mu, log_var: (-0.5 * (1.0 + log_var - mu * mu - array_namespace(mu).exp(log_var)),)),
    ),
    factors=_per_latent,
))

register(Exercise(
    name="gaussian_kl_grad", chapter=5, title="the gradient of the Gaussian KL",
    signature="gaussian_kl_grad(mu, log_var)",
    task="Return the gradients of Σ_n KL(q_n ‖ p) (the per-row KL of gaussian_kl, summed over rows) with respect "
         "to mu and to log_var.",
    given=_MU_LOG_VAR,
    returns=(("dmu", "array of shape (N, K)"), ("dlog_var", "array of shape (N, K)")),
    make_inputs=_stats, cases=({"N": 5, "K": 3}, {"N": 4, "K": 6}),
    reference=lambda mu, log_var: losses.gaussian_kl_grad(mu, log_var),
    mistakes=(
        Mistake("variance_for_std", "your dlog_var uses σ = exp(½·log_var) where σ² = exp(log_var) belongs.",
                lambda mu, log_var: (mu, 0.5 * (array_namespace(mu).exp(0.5 * log_var) - 1.0))),
        Mistake("wrt_variance", "your dlog_var is the gradient with respect to σ², not to log σ²: look at the "
                                "last step of the chain rule.",
                lambda mu, log_var: (mu, 0.5 * (1.0 - array_namespace(mu).exp(-log_var)))),
        Mistake(*_LOG_STD, lambda mu, log_var: (mu, array_namespace(mu).exp(2.0 * log_var) - 1.0)),
        Mistake(*_LOG_STD, lambda mu, log_var: (mu, 0.5 * (array_namespace(mu).exp(2.0 * log_var) - 1.0))),
        Mistake(*_LOG_STD, lambda mu, log_var: (mu, array_namespace(mu).exp(2.0 * log_var) - 0.5)),
        Mistake("forgot_constant", "your dlog_var is missing the derivative of the constant-and-log part of the KL.",
                lambda mu, log_var: (mu, 0.5 * array_namespace(mu).exp(log_var))),
        Mistake("wrt_std", "your dlog_var is the gradient with respect to σ, not to log σ².",
                lambda mu, log_var: (mu, array_namespace(mu).exp(0.5 * log_var)
                                     - array_namespace(mu).exp(-0.5 * log_var))),
        Mistake("mu_not_squared", "your dmu is constant: it is the derivative of mu, not of mu².",
                lambda mu, log_var: (array_namespace(mu).ones_like(mu) * 0.5, None)),
        Mistake("returned_kl", "your dlog_var is the KL's terms, not their derivative.",
                lambda mu, log_var: (mu, -0.5 * (1.0 + log_var - mu * mu - array_namespace(mu).exp(log_var)))),
        Mistake("returned_kl", "your dlog_var is the KL's terms, not their derivative.",
                lambda mu, log_var: (mu, -0.5 * (1.0 + log_var - array_namespace(mu).exp(log_var)))),
    ),
    objective=lambda mu, log_var: array_namespace(mu).sum(losses.gaussian_kl(mu, log_var)),
    grad_of={"dmu": "mu", "dlog_var": "log_var"}, factors=_per_latent,
))


# ---------------------------------------------------------------------- reparameterization
def _reparam_inputs(rng, N, K):
    return {"dz": normal(rng, N, K), **_stats(rng, N, K), "eps": normal(rng, N, K)}


def _reparam_variant(dlog_var_of, dmu_of=lambda dz, std: dz):
    def variant(dz, mu, log_var, eps):
        std = array_namespace(dz).exp(0.5 * log_var)
        return dmu_of(dz, std), dlog_var_of(dz, std, eps)
    return variant


register(Exercise(
    name="reparameterize_backward", chapter=5, title="the backward pass of the reparameterization",
    signature="reparameterize_backward(dz, mu, log_var, eps)",
    task="The forward pass drew z = mu + σ·ε with σ = exp(½·log_var) and ε ~ N(0, I) given. Given dz = ∂L/∂z, "
         "return ∂L/∂mu and ∂L/∂log_var.",
    given=(("dz", "array of shape (N, K), ∂L/∂z"), *_MU_LOG_VAR, ("eps", "array of shape (N, K), the draw ε")),
    returns=(("dmu", "array of shape (N, K)"), ("dlog_var", "array of shape (N, K)")),
    make_inputs=_reparam_inputs, cases=({"N": 5, "K": 3}, {"N": 4, "K": 6}),
    reference=lambda dz, mu, log_var, eps: variational.reparameterize_grad(dz, log_var, eps),
    mistakes=(
        Mistake("variance_for_std", "your dlog_var uses the variance σ² = exp(log_var) where the standard "
                                    "deviation σ belongs.",
                _reparam_variant(lambda dz, std, eps: dz * 0.5 * std * std * eps)),
        Mistake("forgot_eps", "your dlog_var is missing the draw ε: z moves with σ·ε.",
                _reparam_variant(lambda dz, std, eps: dz * 0.5 * std)),
        Mistake("dmu_scaled", "your dmu is scaled by σ; z moves one-for-one with mu.",
                _reparam_variant(lambda dz, std, eps: dz * 0.5 * std * eps, lambda dz, std: dz * std)),
        Mistake("dmu_scaled", "your dmu is scaled by the draw ε; z moves one-for-one with mu.",
                lambda dz, mu, log_var, eps: (dz * eps, None)),
        Mistake("forgot_std", "your dlog_var is missing σ: the derivative of exp(½·log_var) is not ½ alone.",
                _reparam_variant(lambda dz, std, eps: dz * 0.5 * eps)),
        Mistake(*_LOG_STD, _reparam_variant(lambda dz, std, eps: dz * std * std * eps)),
        Mistake(*_LOG_STD, lambda dz, mu, log_var, eps: (dz, dz * array_namespace(dz).exp(log_var) * eps)),
        Mistake("added_kl", "you added the KL's gradient: this exercise is the reparameterization alone.",
                lambda dz, mu, log_var, eps: (dz + mu, dz * 0.5 * array_namespace(dz).exp(0.5 * log_var) * eps
                                              + 0.5 * (array_namespace(dz).exp(log_var) - 1.0))),
        Mistake("wrt_std", "your dlog_var is the gradient with respect to σ, not to log σ²: a chain-rule step "
                           "is missing.", _reparam_variant(lambda dz, std, eps: dz * eps)),
        Mistake("forgot_eps", "your dlog_var is missing the draw ε: z moves with σ·ε.",
                _reparam_variant(lambda dz, std, eps: dz * std)),
        Mistake("exp_sign", "a sign in an exponent is wrong: your σ is exp(−½·log_var).",
                _reparam_variant(lambda dz, std, eps: dz * 0.5 * eps / std)),
    ),
    objective=lambda dz, mu, log_var, eps: array_namespace(dz).sum(
        dz * variational.reparameterize(mu, log_var, eps)[0]),
    grad_of={"dmu": "mu", "dlog_var": "log_var"}, upstream="dz",
))


# ---------------------------------------------------------------------- the IWAE bound
def _iwae_reference(log_w):
    return (ops.logsumexp(log_w, axis=0) - math.log(log_w.shape[0]),)


def _log_w_edge(rng):
    xp = host_namespace(rng)
    base = xp.asarray([[-1000.0, -2000.0, 800.0]])  # log-likelihoods of real images are in the thousands
    return {"log_w": base + normal(rng, 6, 3, scale=3.0)}


register(Exercise(
    name="iwae_bound", chapter=5, title="the importance-weighted bound, with a stable logsumexp",
    signature="iwae_bound(log_w)",
    task="Given S log importance weights log w_s = log p(x, z_s) − log q(z_s|x) per row, z_s ~ q(z|x), return the "
         "importance-weighted estimate of log p(x): the log of the average of the S weights w_s, per row, "
         "computed without overflow or underflow where the log weights are in the thousands.",
    given=(("log_w", "array of shape (S, N), sample s of row n in log_w[s, n]"),),
    returns=(("bound", "array of shape (N,)"),),
    make_inputs=lambda rng, S, N: {"log_w": normal(rng, S, N, scale=3.0) - 50.0},
    cases=({"S": 6, "N": 4}, {"S": 3, "N": 5}), batch=("log_w", 1),
    reference=_iwae_reference,
    mistakes=(
        Mistake("elbo", "you averaged the log weights: that is the ELBO (the S = 1 bound), not the importance-"
                        "weighted one.", lambda log_w: (array_namespace(log_w).mean(log_w, axis=0),)),
        Mistake("forgot_log_S", "your estimate is log of the sum of the weights; it is the log of their average.",
                lambda log_w: (ops.logsumexp(log_w, axis=0),)),
        Mistake("wrong_axis", "you reduced over the rows instead of over the samples (axis 0).",
                lambda log_w: (ops.logsumexp(log_w, axis=1) - math.log(log_w.shape[1]),)),
        Mistake("wrong_axis", "you reduced over the rows instead of over the samples (axis 0).",
                lambda log_w: (ops.logsumexp(log_w, axis=1),)),
        Mistake("wrong_S", "your average divides by the wrong count: S is the number of samples (axis 0).",
                lambda log_w: (ops.logsumexp(log_w, axis=0) - math.log(log_w.shape[1]),)),
        Mistake("forgot_log_S", "you subtracted S itself where the average brings its log.",
                lambda log_w: (ops.logsumexp(log_w, axis=0) - float(log_w.shape[0]),)),
        Mistake("log_S_sign", "log S enters your estimate with the wrong sign.",
                lambda log_w: (ops.logsumexp(log_w, axis=0) + math.log(log_w.shape[0]),)),
        Mistake("divided_log", "you divided the log by S: the average is of the weights, inside the log.",
                lambda log_w: (ops.logsumexp(log_w, axis=0) / log_w.shape[0],)),
        Mistake("forgot_max", "the shift by the maximum is not undone: what was subtracted before the exp must "
                              "come back after the log.",
                lambda log_w: (ops.logsumexp(log_w, axis=0) - array_namespace(log_w).max(log_w, axis=0)
                               - math.log(log_w.shape[0]),)),
        Mistake("max_only", "your estimate is the largest log weight alone (plus constants): the other samples "
                            "are missing.", lambda log_w: (array_namespace(log_w).max(log_w, axis=0)
                                                           - math.log(log_w.shape[0]),)),
        Mistake("max_only", "your estimate is the largest log weight alone: the other samples are missing.",
                lambda log_w: (array_namespace(log_w).max(log_w, axis=0),)),
    ),
    edges=(Edge("log weights in the thousands (−2000 … 800)", _log_w_edge, "unstable",
                "exp overflowed or underflowed: the log of a sum of exponentials has a stable form (the "
                "log-sum-exp trick); look at what your exp is taken of."),),
))
