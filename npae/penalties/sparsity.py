"""Sparsity penalties on the code h of a sparse autoencoder, each value with its gradient beside it.

* L1 activity: λ · mean_n Σ_j |h_nj|, gradient λ·sign(h)/N.
* KL sparsity: β · Σ_j KL(ρ ‖ ρ̂_j), ρ̂_j = mean_n h_nj, for codes h = σ(z) in (0, 1).

The model scales by its penalty weight and adds the gradient where its backward reaches the code
(``npae.models.sparse``).
"""

from __future__ import annotations

import math

from array_api_compat import array_namespace

from npae import ops

__all__ = [
    "kl_column_grad",
    "kl_from_log_means",
    "kl_logit_grad_from_logs",
    "kl_sparsity",
    "kl_sparsity_and_grad",
    "kl_sparsity_and_logit_grad",
    "kl_sparsity_grad",
    "kl_sparsity_logit_grad",
    "l1_activity",
    "l1_activity_grad",
    "log_mean_sigmoid",
    "log_means",
]


# ---------------------------------------------------------------------- L1 activity
def l1_activity(h):
    """Per-row L1 activity Σ_j |h_nj|.

    The model's term is λ · mean_n of this; its gradient with respect to h is λ·sign(h)/N
    (``l1_activity_grad`` gives sign(h); sign(0) = 0, a subgradient, so gradient checks keep h
    away from 0).

    Parameters
    ----------
    h : array of shape (N, K)
        Codes.

    Returns
    -------
    array of shape (N,)
    """
    xp = array_namespace(h)
    return xp.sum(xp.abs(h), axis=1)


def l1_activity_grad(h):
    """d/dh_nj of Σ_j |h_nj|: sign(h), shape (N, K)."""
    return array_namespace(h).sign(h)


# ---------------------------------------------------------------------- KL sparsity
def log_mean_sigmoid(z):
    """log ρ̂_j and log(1 − ρ̂_j) for ρ̂_j = mean_n σ(z_nj), without rounding σ first.

        log ρ̂_j       = logsumexp_n(log σ(z_nj))  − log N
        log(1 − ρ̂_j)  = logsumexp_n(log σ(−z_nj)) − log N        (1 − σ(z) = σ(−z))

    Where every unit of a column saturates, σ(z) rounds to 0 or 1 and log(mean(σ)) is −inf, or
    1 − ρ̂ is 0; these forms stay finite and exact, as log σ(z) = −softplus(−z) never rounds σ.

    Parameters
    ----------
    z : array of shape (N, K)
        Pre-sigmoid code logits, h = σ(z).

    Returns
    -------
    log_rho_hat, log_one_minus_rho_hat : arrays of shape (K,)
    """
    return log_means(ops.log_sigmoid(z), ops.log_sigmoid(-z))


def log_means(log_sig, log_sig_neg):
    """log ρ̂_j and log(1 − ρ̂_j), shape (K,), from log σ(z) and log σ(−z), both (N, K): the
    column logsumexps of ``log_mean_sigmoid`` minus log N."""
    log_n = math.log(log_sig.shape[0])
    return ops.logsumexp(log_sig, axis=0) - log_n, ops.logsumexp(log_sig_neg, axis=0) - log_n


def kl_from_log_means(log_rho_hat, log_one_minus_rho_hat, rho: float):
    """Σ_j ρ (log ρ − log ρ̂_j) + (1 − ρ) (log(1 − ρ) − log(1 − ρ̂_j)) from the (K,) logs; 0-d."""
    xp = array_namespace(log_rho_hat, log_one_minus_rho_hat)
    kl = rho * (math.log(rho) - log_rho_hat) + (1.0 - rho) * (math.log1p(-rho) - log_one_minus_rho_hat)
    return xp.sum(kl)


def kl_column_grad(log_rho_hat, log_one_minus_rho_hat, rho: float, n: int):
    """(1/N) (−ρ/ρ̂_j + (1 − ρ)/(1 − ρ̂_j)) from the (K,) logs: every row's dKL/dh, shape (K,)."""
    xp = array_namespace(log_rho_hat, log_one_minus_rho_hat)
    return (-rho * xp.exp(-log_rho_hat) + (1.0 - rho) * xp.exp(-log_one_minus_rho_hat)) * (1.0 / n)


def kl_sparsity(z, target: float):
    """Σ_j KL(ρ ‖ ρ̂_j) for codes h = σ(z), with ρ̂_j = mean_n h_nj (the batch mean).

        KL(ρ ‖ ρ̂) = ρ (log ρ − log ρ̂) + (1 − ρ) (log(1 − ρ) − log(1 − ρ̂))

    with log ρ̂ and log(1 − ρ̂) from ``log_mean_sigmoid`` (stable where units saturate).

    Parameters
    ----------
    z : array of shape (N, K)
        Pre-sigmoid code logits.
    target : float
        ρ, the target mean activation, in (0, 1).

    Returns
    -------
    0-d array
    """
    return kl_from_log_means(*log_mean_sigmoid(z), float(target))


def kl_sparsity_grad(z, target: float):
    """d/dh_nj of Σ_j KL(ρ ‖ ρ̂_j), through the batch mean ρ̂_j = mean_n h_nj; shape (N, K).

        ∂/∂h_nj = (1/N) (−ρ/ρ̂_j + (1 − ρ)/(1 − ρ̂_j))        (∂ρ̂_j/∂h_nj = 1/N)

    the same for every row n of a column. The ratios are exp(−log ρ̂_j) and exp(−log(1 − ρ̂_j))
    with the stable logs of ``log_mean_sigmoid``; they overflow only when a whole column's mean
    is below about 1e-308 (float64) or 1e-38 (float32). Times σ′(z) (the code activation's
    backward) this is dKL/dz; ``kl_sparsity_logit_grad`` gives that product in a form that stays
    finite there too, and is what the sparse autoencoder trains with.

    Parameters
    ----------
    z : array of shape (N, K)
        Pre-sigmoid code logits.
    target : float
        ρ in (0, 1).

    Returns
    -------
    array of shape (N, K)
    """
    column = kl_column_grad(*log_mean_sigmoid(z), float(target), z.shape[0])
    return array_namespace(z).zeros_like(z) + column[None, :]


def kl_logit_grad_from_logs(log_sig, log_sig_neg, log_rho_hat, log_one_minus_rho_hat, rho: float):
    """dKL/dz (N, K) from log σ(z), log σ(−z) (N, K) and the column logs (K,) of ``log_means``.

        ∂/∂z_nj = (1/N) (−ρ e^(a_nj − log ρ̂_j) + (1 − ρ) e^(a_nj − log(1 − ρ̂_j))),
        a_nj = log σ′(z_nj) = log σ(z_nj) + log σ(−z_nj)

    Each exponent is at most log N (σ(z_nj) ≤ N ρ̂_j and σ(−z_nj) ≤ N (1 − ρ̂_j)), so neither term
    can overflow, however far a column saturates.
    """
    xp = array_namespace(log_sig, log_sig_neg, log_rho_hat, log_one_minus_rho_hat)
    log_fprime = log_sig + log_sig_neg
    rows = (-rho * xp.exp(log_fprime - log_rho_hat[None, :])
            + (1.0 - rho) * xp.exp(log_fprime - log_one_minus_rho_hat[None, :]))
    return rows * (1.0 / log_sig.shape[0])


def kl_sparsity_logit_grad(z, target: float):
    """d/dz_nj of Σ_j KL(ρ ‖ ρ̂_j) for codes h = σ(z): ``kl_sparsity_grad`` times σ′(z), shape (N, K).

        ∂/∂z_nj = (1/N) (−ρ/ρ̂_j + (1 − ρ)/(1 − ρ̂_j)) · σ(z_nj) σ(−z_nj)

    The product taken in that order overflows, or loses σ′ to rounding, where a whole column
    saturates (ρ̂_j below about 1e-38 in float32: 1/ρ̂_j is inf and σ′ is 0; or σ′ rounded to 0
    near ρ̂_j = 1), exactly where the penalty should pull the units back. Here each ratio times σ′ is
    one exponential of a difference of logs (``kl_logit_grad_from_logs``), finite for every finite z;
    the sparse autoencoder adds this at z, after the code activation's backward.

    Parameters
    ----------
    z : array of shape (N, K)
        Pre-sigmoid code logits.
    target : float
        ρ in (0, 1).

    Returns
    -------
    array of shape (N, K)
    """
    log_sig, log_sig_neg = ops.log_sigmoid(z), ops.log_sigmoid(-z)
    return kl_logit_grad_from_logs(log_sig, log_sig_neg, *log_means(log_sig, log_sig_neg), float(target))


def kl_sparsity_and_logit_grad(z, target: float):
    """``kl_sparsity(z, target)`` and ``kl_sparsity_logit_grad(z, target)``: the pair the sparse
    autoencoder's training step needs. Here simply the two calls.

    Parameters
    ----------
    z : array of shape (N, K)
        Pre-sigmoid code logits.
    target : float
        ρ in (0, 1).

    Returns
    -------
    value : 0-d array
    grad : array of shape (N, K), dKL/dz
    """
    return kl_sparsity(z, target), kl_sparsity_logit_grad(z, target)


def kl_sparsity_and_grad(z, target: float):
    """``kl_sparsity(z, target)`` and ``kl_sparsity_grad(z, target)``, the pair a training step needs.

    Here simply the two calls.

    Parameters
    ----------
    z : array of shape (N, K)
        Pre-sigmoid code logits.
    target : float
        ρ in (0, 1).

    Returns
    -------
    value : 0-d array
    grad : array of shape (N, K)
    """
    return kl_sparsity(z, target), kl_sparsity_grad(z, target)
