"""Regularisation penalties on the code h, each value with its gradient beside it.

* L1 activity (sparse autoencoder): λ · mean_n Σ_j |h_nj|, gradient λ·sign(h)/N.
* KL sparsity (sparse autoencoder): β · Σ_j KL(ρ ‖ ρ̂_j), ρ̂_j = mean_n h_nj, for codes in (0, 1).
* Contractive (Rifai et al., 2011): λ · mean_n ‖∂h_n/∂x_n‖²_F, exact for an encoder of any depth
  and any activation, with its hand-written backward (which needs f″).

Functions take arrays of any backend and use only the Array API standard. Models scale by the
penalty weight and add the gradients where their backward passes meet the code (see
``npae.models.sparse`` and ``npae.models.contractive``).
"""

from __future__ import annotations

import math

from array_api_compat import array_namespace

from npae import ops
from npae.activations import Identity

__all__ = [
    "CONTRACTIVE_METHODS",
    "MAX_JACOBIAN_ELEMENTS",
    "contractive_penalty_and_grad",
    "contractive_penalty_rows",
    "encoder_jacobian",
    "kl_sparsity",
    "kl_sparsity_grad",
    "l1_activity",
    "l1_activity_grad",
    "log_mean_sigmoid",
]

#: Upper bound on the floats the contractive recurrence holds at once (per row chunk: the
#: Jacobians T_l, the products A_l and their gradients, about 2·rows·D·Σ_l H_l numbers).
#: 2**24 floats is 64 MiB in float32, 128 MiB in float64.
MAX_JACOBIAN_ELEMENTS = 2**24

CONTRACTIVE_METHODS = ("auto", "recurrence", "one_layer")


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

    log ρ̂_j = logsumexp_n(log σ(z_nj)) − log N and log(1 − ρ̂_j) = logsumexp_n(log σ(−z_nj)) − log N
    (as 1 − σ(z) = σ(−z)). Where every unit of a column saturates, σ(z) rounds to 0 or 1 and
    log(mean(σ)) is −inf or log(0) of 1 − ρ̂; these forms stay finite and exact.

    Parameters
    ----------
    z : array of shape (N, K)
        Pre-sigmoid code logits, h = σ(z).

    Returns
    -------
    log_rho_hat, log_one_minus_rho_hat : arrays of shape (K,)
    """
    log_n = math.log(z.shape[0])
    return (ops.logsumexp(ops.log_sigmoid(z), axis=0) - log_n,
            ops.logsumexp(ops.log_sigmoid(-z), axis=0) - log_n)


def kl_sparsity(z, target: float):
    """Σ_j KL(ρ ‖ ρ̂_j) for codes h = σ(z), with ρ̂_j = mean_n h_nj (the batch mean).

    KL(ρ ‖ ρ̂) = ρ (log ρ − log ρ̂) + (1 − ρ) (log(1 − ρ) − log(1 − ρ̂)), with log ρ̂ and
    log(1 − ρ̂) from ``log_mean_sigmoid`` (stable where units saturate).

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
    xp = array_namespace(z)
    rho = float(target)
    log_p, log_q = log_mean_sigmoid(z)
    kl = rho * (math.log(rho) - log_p) + (1.0 - rho) * (math.log1p(-rho) - log_q)
    return xp.sum(kl)


def kl_sparsity_grad(z, target: float):
    """d/dh_nj of Σ_j KL(ρ ‖ ρ̂_j), through the batch mean ρ̂_j = mean_n h_nj; shape (N, K).

    Every row gets the same (1/N)(−ρ/ρ̂_j + (1 − ρ)/(1 − ρ̂_j)), since ∂ρ̂_j/∂h_nj = 1/N. The
    ratios are exp(−log ρ̂_j) with the stable logs of ``log_mean_sigmoid``; they overflow only
    when a whole column is below about 1e-308 (float64) or 1e-38 (float32). The model multiplies
    by σ′(z) in the code activation's backward.

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
    xp = array_namespace(z)
    rho = float(target)
    log_p, log_q = log_mean_sigmoid(z)
    col = (-rho * xp.exp(-log_p) + (1.0 - rho) * xp.exp(-log_q)) * (1.0 / z.shape[0])
    return xp.zeros_like(z) + col[None, :]


# ---------------------------------------------------------------------- contractive
def _check_encoder(Ws, zs, activations) -> list:
    if not (len(Ws) == len(zs) == len(activations)) or not Ws:
        raise ValueError(
            f"Expected one W, z and activation per encoder layer; got {len(Ws)} W, {len(zs)} z and "
            f"{len(activations)} activations."
        )
    return [Identity() if act is None else act for act in activations]


def _row_chunk(n: int, width: int, max_elements: int) -> int:
    """Rows per chunk so that rows · width stays under max_elements (at least one row)."""
    return max(1, min(n, int(max_elements) // max(1, width)))


def _jacobian_chunk(Ws, zs, activations):
    """The recurrence on one row chunk; returns (Ts, As, dfs), lists over layers l = 1 … L.

    T_1 = W_1[None] · f′(z_1)[:, None, :]   (A_1 = W_1, never an identity matrix)
    T_l = A_l · f′(z_l)[:, None, :],  A_l = T_{l−1} @ W_l
    """
    Ts, As, dfs = [], [], []
    for l, (W, z, act) in enumerate(zip(Ws, zs, activations)):
        d1 = act.df(z)
        A = W[None, :, :] if l == 0 else Ts[-1] @ W
        Ts.append(A * d1[:, None, :])
        As.append(A)
        dfs.append(d1)
    return Ts, As, dfs


def encoder_jacobian(Ws, zs, activations, *, max_elements: int = MAX_JACOBIAN_ELEMENTS):
    """T[n, d, k] = ∂h_L[n, k]/∂x[n, d] by the forward recurrence (the tested reference).

    For an encoder h_l = f_l(z_l), z_l = h_{l−1} W_l + b_l, h_0 = x:

        T_1 = W_1[None, :, :] · f′(z_1)[:, None, :]
        T_l = (T_{l−1} @ W_l) · f′(z_l)[:, None, :]

    Rows are processed in chunks so the hidden layers' Jacobians hold at most about
    ``max_elements`` numbers at once (the result itself is N·D·K).

    Parameters
    ----------
    Ws : list of arrays, W_l of shape (H_{l−1}, H_l), H_0 = D, H_L = K
    zs : list of arrays, z_l of shape (N, H_l)
        Pre-activations of a forward pass.
    activations : list of npae.activations.Activation (None for a linear layer)

    Returns
    -------
    T : array of shape (N, D, K)
    """
    activations = _check_encoder(Ws, zs, activations)
    xp = array_namespace(*zs)
    n, d = zs[0].shape[0], Ws[0].shape[0]
    rows = _row_chunk(n, 2 * d * sum(W.shape[1] for W in Ws), max_elements)
    parts = []
    for i in range(0, n, rows):
        chunk = [z[i:min(i + rows, n), ...] for z in zs]
        parts.append(_jacobian_chunk(Ws, chunk, activations)[0][-1])
    return parts[0] if len(parts) == 1 else xp.concat(parts, axis=0)


def _resolve_method(method: str, n_layers: int) -> str:
    if method not in CONTRACTIVE_METHODS:
        raise ValueError(f"Unknown contractive method {method!r}; expected one of "
                         f"{', '.join(map(repr, CONTRACTIVE_METHODS))}.")
    if method == "one_layer" and n_layers != 1:
        raise ValueError(f"method='one_layer' is exact only for a one-layer encoder; this one has "
                         f"{n_layers} layers. Use method='recurrence' (or 'auto').")
    if method == "auto":
        return "one_layer" if n_layers == 1 else "recurrence"
    return method


def contractive_penalty_rows(Ws, zs, activations, *, method: str = "auto",
                             max_elements: int = MAX_JACOBIAN_ELEMENTS):
    """‖∂h_n/∂x_n‖²_F per row, shape (N,): the contractive penalty before λ and the mean.

    ``method="recurrence"`` sums T_L² from ``encoder_jacobian``'s recurrence (any depth; memory
    about 2·rows·D·Σ_l H_l numbers per chunk, bounded by ``max_elements``). ``"one_layer"`` is the
    exact one-layer shortcut Σ_j f′(z_nj)² ‖W_{:,j}‖², O(N·K + D·K); ``"auto"`` takes it when
    the encoder has one layer.

    Parameters
    ----------
    Ws : list of arrays, W_l of shape (H_{l−1}, H_l)
    zs : list of arrays, z_l of shape (N, H_l)
    activations : list of npae.activations.Activation (None for a linear layer)

    Returns
    -------
    array of shape (N,)
    """
    activations = _check_encoder(Ws, zs, activations)
    xp = array_namespace(*zs)
    if _resolve_method(method, len(Ws)) == "one_layer":
        W, z, act = Ws[0], zs[0], activations[0]
        d1 = act.df(z)
        return xp.sum(d1 * d1 * xp.sum(W * W, axis=0)[None, :], axis=1)
    n, d = zs[0].shape[0], Ws[0].shape[0]
    rows = _row_chunk(n, 2 * d * sum(W.shape[1] for W in Ws), max_elements)
    parts = []
    for i in range(0, n, rows):
        T = _jacobian_chunk(Ws, [z[i:min(i + rows, n), ...] for z in zs], activations)[0][-1]
        parts.append(xp.sum(T * T, axis=(1, 2)))
    return parts[0] if len(parts) == 1 else xp.concat(parts, axis=0)


def contractive_penalty_and_grad(Ws, zs, activations, *, weight: float = 1.0, method: str = "auto",
                                 max_elements: int = MAX_JACOBIAN_ELEMENTS):
    """P = mean_n ‖T_L[n]‖²_F and the gradients of λ·P (λ = ``weight``).

    Backward of the recurrence (``encoder_jacobian``), from G_L = (2λ/N)·T_L, for l = L … 1:

        Ĝ_l   = G_l · f′(z_l)[:, None, :]
        dW_l  = Σ_n T_{l−1}[n]ᵀ Ĝ_l[n]                  (l = 1: Σ_n Ĝ_1[n], as T_0 = I)
        dz_l  = f″(z_l) · Σ_d (G_l · A_l),  A_l = T_{l−1} @ W_l   (A_1 = W_1)
        G_{l−1} = Ĝ_l @ W_lᵀ

    dW_l is only the path through T; the caller injects dz_l where its ordinary backward
    reaches the output of layer l's Dense (so it also flows into W_l, b_l and every earlier
    layer), which is why Dense gradients accumulate with ``+=``.

    One-layer shortcut (``method="one_layer"``, exact, what ``"auto"`` takes for L = 1): with
    c_j = ‖W_{:,j}‖² and s = f′(z), P = mean_n Σ_j s_nj² c_j, so

        dW = (2λ/N) · W · Σ_n s_n²[None, :],    dz = (2λ/N) · s · f″(z) · c[None, :]

    Memory of the recurrence: about 2·rows·D·Σ_l H_l numbers per chunk of rows (for N = 128,
    D = 784, H = 512 in one go, 51 M per array, 205 MB in float32); rows are chunked so that
    stays under ``max_elements``.

    Parameters
    ----------
    Ws : list of arrays, W_l of shape (H_{l−1}, H_l), H_0 = D
    zs : list of arrays, z_l of shape (N, H_l)
    activations : list of npae.activations.Activation (None for a linear layer)
    weight : float
        λ; gradients are of λ·P (P itself is returned unscaled).

    Returns
    -------
    P : 0-d array
        mean_n ‖∂h_n/∂x_n‖²_F.
    dWs : list of arrays, shapes of Ws
    dzs : list of arrays, shapes of zs
    """
    activations = _check_encoder(Ws, zs, activations)
    xp = array_namespace(*zs)
    n = zs[0].shape[0]
    scale = 2.0 * float(weight) / n
    if _resolve_method(method, len(Ws)) == "one_layer":
        W, z, act = Ws[0], zs[0], activations[0]
        s = act.df(z)
        c = xp.sum(W * W, axis=0)
        P = xp.mean(xp.sum(s * s * c[None, :], axis=1))
        dW = scale * W * xp.sum(s * s, axis=0)[None, :]
        dz = scale * s * act.d2f(z) * c[None, :]
        return P, [dW], [dz]
    d = Ws[0].shape[0]
    rows = _row_chunk(n, 2 * d * sum(W.shape[1] for W in Ws), max_elements)
    total = None
    dWs = [xp.zeros_like(W) for W in Ws]
    dz_parts = [[] for _ in Ws]
    for i in range(0, n, rows):
        chunk = [z[i:min(i + rows, n), ...] for z in zs]
        Ts, As, dfs = _jacobian_chunk(Ws, chunk, activations)
        T = Ts[-1]
        sq = xp.sum(T * T)
        total = sq if total is None else total + sq
        G = scale * T
        for l in range(len(Ws) - 1, -1, -1):
            G_hat = G * dfs[l][:, None, :]
            dz_parts[l].append(activations[l].d2f(chunk[l]) * xp.sum(G * As[l], axis=1))
            if l == 0:
                dWs[0] = dWs[0] + xp.sum(G_hat, axis=0)
            else:
                T_prev = Ts[l - 1]
                flat_T = xp.reshape(T_prev, (-1, T_prev.shape[2]))
                flat_G = xp.reshape(G_hat, (-1, G_hat.shape[2]))
                dWs[l] = dWs[l] + flat_T.T @ flat_G
                G = G_hat @ Ws[l].T
    dzs = [parts[0] if len(parts) == 1 else xp.concat(parts, axis=0) for parts in dz_parts]
    return total * (1.0 / n), dWs, dzs
