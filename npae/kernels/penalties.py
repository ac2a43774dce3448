"""Kernels for ``npae.penalties``: the KL sparsity value and gradient from one pass of logs, and
the two-layer Gram form of the contractive penalty with its element-wise work in two compiled passes.
"""

from __future__ import annotations

from array_api_compat import array_namespace

from npae.kernels._compiled import HAVE_NUMBA, c_contiguous, jit
from npae.kernels.ops import positive_part
from npae.penalties.contractive import MAX_JACOBIAN_ELEMENTS, check_encoder
from npae.penalties.gram import _gram_rows_per_chunk, _rows_matmul, _transposed
from npae.penalties.gram import gram_penalty_and_grad as _reference_gram_penalty_and_grad
from npae.penalties.sparsity import kl_column_grad, kl_from_log_means, kl_logit_grad_from_logs, log_means

__all__ = ["HAVE_NUMBA", "gram_penalty_and_grad", "kl_sparsity_and_grad", "kl_sparsity_and_logit_grad", "log_mean_sigmoid",
           "log_sigmoid_pair"]


def log_mean_sigmoid(z):
    """``npae.penalties.sparsity.log_mean_sigmoid`` with one log1p(exp(−|z|)) for both logs.

    log σ(z) = −softplus(−z) = −(max(−z, 0) + log1p(e^(−|z|))) and
    log σ(−z) = −softplus(z) = −(max(z, 0) + log1p(e^(−|z|))) share the term log1p(e^(−|z|));
    it is computed once, saving an exponential and a log1p over the (N, K) logits. Equal to the
    reference within a few ulp (softplus there is ``logaddexp``).

    Parameters
    ----------
    z : array of shape (N, K)
        Pre-sigmoid code logits.

    Returns
    -------
    log_rho_hat, log_one_minus_rho_hat : arrays of shape (K,)
    """
    return log_means(*log_sigmoid_pair(z))


def log_sigmoid_pair(z):
    """log σ(z) and log σ(−z), both (N, K), sharing their log1p(e^(−|z|)) term (see above)."""
    xp = array_namespace(z)
    shared = xp.log1p(xp.exp(-xp.abs(z)))
    return -(positive_part(-z) + shared), -(positive_part(z) + shared)


def kl_sparsity_and_grad(z, target: float):
    """Replaces ``npae.penalties.sparsity.kl_sparsity_and_grad``; equal within a few ulp.

    The reference calls ``kl_sparsity`` and ``kl_sparsity_grad``, which each evaluate
    ``log_mean_sigmoid`` (two column logsumexps over (N, K)). Value and gradient need the same
    log ρ̂_j and log(1 − ρ̂_j), so this computes them once, by the shared-softplus
    ``log_mean_sigmoid`` above, then

        value = Σ_j ρ (log ρ − log ρ̂_j) + (1 − ρ) (log(1 − ρ) − log(1 − ρ̂_j))
        grad  = (1/N) (−ρ/ρ̂_j + (1 − ρ)/(1 − ρ̂_j)), the same for every row.

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
    rho = float(target)
    logs = log_mean_sigmoid(z)
    column = kl_column_grad(*logs, rho, z.shape[0])
    return kl_from_log_means(*logs, rho), array_namespace(z).zeros_like(z) + column[None, :]


def kl_sparsity_and_logit_grad(z, target: float):
    """Replaces ``npae.penalties.sparsity.kl_sparsity_and_logit_grad``; equal within a few ulp.

    The reference evaluates log σ(z) and log σ(−z) once for the value (``log_mean_sigmoid``) and
    again for the gradient. Here ``log_sigmoid_pair`` computes them once, from one shared
    log1p(e^(−|z|)), and both the value and dKL/dz are taken from them:

        value = Σ_j ρ (log ρ − log ρ̂_j) + (1 − ρ) (log(1 − ρ) − log(1 − ρ̂_j))
        grad  = (1/N) (−ρ e^(a − log ρ̂_j) + (1 − ρ) e^(a − log(1 − ρ̂_j))),  a = log σ(z) + log σ(−z)

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
    rho = float(target)
    log_sig, log_sig_neg = log_sigmoid_pair(z)
    logs = log_means(log_sig, log_sig_neg)
    return kl_from_log_means(*logs, rho), kl_logit_grad_from_logs(log_sig, log_sig_neg, *logs, rho)


# ------------------------------------------------------------ the contractive penalty, Gram form
def _gram_factors_loop(W_last_T, s1, s2, R, B):
    """R[n, k, i] = W_2[i, k] · s_1[n, i] and B[n, k, i] = s_2[n, k] · R[n, k, i], one pass writing both.

    R is R_1 of ``npae.penalties.gram.gram_penalty_and_grad`` (the factor of C = R Γ), B the factor
    of dΓ = BᵀB; the reference builds them in two broadcast passes.
    """
    rows, k_dim, h_dim = R.shape
    for n in range(rows):
        for k in range(k_dim):
            scale = s2[n, k]
            for i in range(h_dim):
                r = W_last_T[k, i] * s1[n, i]
                R[n, k, i] = r
                B[n, k, i] = scale * r


def _gram_backward_loop(C, W_last_T, s1, v, ds1, dW_last_T):
    """ds1[n, i] = Σ_k v[n, k] C[n, k, i] W_2[i, k] and dW_last_T[k, i] += Σ_n v[n, k] C[n, k, i] s_1[n, i].

    One pass over C for the two contractions the reference makes from it (the batched products
    v[n] @ (C[n] · W_2ᵀ) and v[:, k] @ (C · s_1)[:, k], each after an element-wise pass). The
    inner loop runs along i, contiguous in every array, with no reduction in it, so it vectorises.
    """
    rows, k_dim, h_dim = C.shape
    for n in range(rows):
        for i in range(h_dim):
            ds1[n, i] = 0.0
        for k in range(k_dim):
            vk = v[n, k]
            for i in range(h_dim):
                scaled = vk * C[n, k, i]
                ds1[n, i] += scaled * W_last_T[k, i]
                dW_last_T[k, i] += scaled * s1[n, i]


# Exact IEEE (no fastmath): the loops vectorise without reassociation, having no reduction inside.
_gram_factors_compiled = jit(_gram_factors_loop)
_gram_backward_compiled = jit(_gram_backward_loop)


def _gram_compiled_applies(Ws, zs) -> bool:
    """The compiled passes serve a two-layer encoder of float32 or float64 NumPy arrays, one dtype."""
    if _gram_factors_compiled is None or len(Ws) != 2 or len(zs) != 2:
        return False
    dtypes = {str(a.dtype) for a in (*Ws, *zs)}
    return len(dtypes) == 1 and dtypes <= {"float32", "float64"} and c_contiguous(*Ws, *zs)


def gram_penalty_and_grad(Ws, zs, activations, *, weight: float = 1.0, max_elements: int = MAX_JACOBIAN_ELEMENTS):
    """Replaces ``npae.penalties.gram.gram_penalty_and_grad`` at depth 2; equal within a few roundings.

    The same algorithm, chunks and products (C = R_1 Γ and dΓ = BᵀB per row chunk, w = Σ_i C · R_1
    by the same ``vecdot``); what changes is the element-wise work around the products, in two
    compiled passes per chunk (numba): ``_gram_factors_loop`` writes R_1 and B together, into two
    buffers reused by every chunk, and ``_gram_backward_loop`` reads C once for ds_1 and dW_2 (the
    reference: five broadcast passes, a transposed copy and two batched products). Summation
    orders differ from the reference's batched products (rtol 1e-5 in float32, 1e-12 in float64,
    tested). Deeper encoders, other dtypes and installs without numba run the reference.

    Parameters and returns are the reference's: Ws = [W_1 (D, H), W_2 (H, K)], zs = [z_1 (N, H),
    z_2 (N, K)]; P (0-d), [dW_1, dW_2] and [dz_1, dz_2] of λ·P.
    """
    if not _gram_compiled_applies(Ws, zs):
        return _reference_gram_penalty_and_grad(Ws, zs, activations, weight=weight, max_elements=max_elements)
    activations = check_encoder(Ws, zs, activations)
    xp = array_namespace(*zs)
    W1, W2 = Ws
    n, (h_dim, k_dim) = zs[0].shape[0], W2.shape
    c = float(weight) / n
    gram, W_last_T = W1.T @ W1, _transposed(W2)
    rows = _gram_rows_per_chunk(Ws, zs, max_elements)
    s1_all, s2_all = (act.df(z) for act, z in zip(activations, zs))
    R_buffer = xp.empty((min(rows, n), k_dim, h_dim), dtype=W1.dtype)
    B_buffer = xp.empty_like(R_buffer)
    ds1_all, ds2_parts = xp.empty((n, h_dim), dtype=W1.dtype), []
    dW_last_T = xp.zeros((k_dim, h_dim), dtype=W1.dtype)
    total = dgram = None
    for start in range(0, n, rows):
        stop = min(start + rows, n)
        s1, s2 = s1_all[start:stop, ...], s2_all[start:stop, ...]
        R, B = R_buffer[:stop - start, ...], B_buffer[:stop - start, ...]
        _gram_factors_compiled(W_last_T, s1, s2, R, B)
        C = _rows_matmul(xp, R, gram)
        w = xp.vecdot(C, R, axis=-1)
        sL2 = s2 * s2
        part = xp.sum(sL2 * w)
        total = part if total is None else total + part
        B_flat = xp.reshape(B, ((stop - start) * k_dim, h_dim))
        gram_part = B_flat.T @ B_flat  # a SYRK on NumPy, as in the reference
        dgram = gram_part if dgram is None else dgram + gram_part
        ds2_parts.append((2.0 * c) * s2 * w)
        _gram_backward_compiled(C, W_last_T, s1, (2.0 * c) * sL2, ds1_all[start:stop, ...], dW_last_T)
    dW1 = (2.0 * c) * (W1 @ dgram)
    ds2_all = ds2_parts[0] if len(ds2_parts) == 1 else xp.concat(ds2_parts, axis=0)
    dzs = [act.d2f(z) * d for act, z, d in zip(activations, zs, (ds1_all, ds2_all))]
    return total * (1.0 / n), [dW1, dW_last_T.T], dzs
