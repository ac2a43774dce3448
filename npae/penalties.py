"""Regularisation penalties on the code h, each value with its gradient beside it.

* L1 activity (sparse autoencoder): λ · mean_n Σ_j |h_nj|, gradient λ·sign(h)/N.
* KL sparsity (sparse autoencoder): β · Σ_j KL(ρ ‖ ρ̂_j), ρ̂_j = mean_n h_nj, for codes in (0, 1).
* Contractive (Rifai et al., 2011): λ · mean_n ‖∂h_n/∂x_n‖²_F, exact for an encoder of any depth
  and any activation, with its hand-written backward (which needs f″): the N × D × H_l Jacobian
  recurrence (the reference) and the Gram form, which reaches the input only through
  Γ = W_1ᵀ W_1 and costs K·H_1² instead of D·H_1·K per row (``contractive_penalty_and_grad``).

Functions take arrays of any backend and use only the Array API standard. Models scale by the
penalty weight and add the gradients where their backward passes meet the code (see
``npae.models.sparse`` and ``npae.models.contractive``).
"""

from __future__ import annotations

import itertools
import math

from array_api_compat import array_namespace, device

from npae import ops
from npae.activations import Identity

__all__ = [
    "CONTRACTIVE_METHODS",
    "MAX_JACOBIAN_ELEMENTS",
    "RECURRENCE_COST_FACTOR",
    "contractive_costs",
    "contractive_method",
    "contractive_penalty_and_grad",
    "contractive_penalty_rows",
    "encoder_jacobian",
    "kl_sparsity",
    "kl_sparsity_and_grad",
    "kl_sparsity_grad",
    "l1_activity",
    "l1_activity_grad",
    "log_mean_sigmoid",
]

#: Upper bound on the floats the contractive recurrence holds at once (per row chunk: the
#: Jacobians T_l, the products A_l and their gradients, about 2·rows·D·Σ_l H_l numbers).
#: 2**24 floats is 64 MiB in float32, 128 MiB in float64.
MAX_JACOBIAN_ELEMENTS = 2**24

CONTRACTIVE_METHODS = ("auto", "gram", "recurrence", "one_layer")

#: "auto" counts each recurrence multiply-add as this many of the Gram form's: the recurrence
#: streams (rows, D, H_l) arrays through element-wise passes and batched products, the Gram form
#: is mostly large GEMMs. Measured on 784-H-64 (tanh, sigmoid code, batch 128, 2 threads), the
#: Gram form was faster up to H = 1280 (2.5 vs 3.0 ms per row, cost ratio 1.79) and slower from
#: H = 1536 (5.0 vs 3.6 ms, cost ratio 2.15); with the plain count "auto" took the recurrence above
#: H = 716, 1.36× slower at H = 1024 (1.9 vs 2.6 ms per row).
RECURRENCE_COST_FACTOR = 2.0

#: On the CPU the Gram form takes its rows in chunks whose (rows, K, H_1) arrays hold at most
#: this many numbers (2**18 float32 = 1 MiB, a core's L2 cache on current x86), so its
#: element-wise passes run from cache: 16 rows for K = 64, H_1 = 256, where a 784-256-64 penalty
#: step took 13 ms of CPU time against 20 ms for all 128 rows at once (one thread, NumPy).
GRAM_CACHE_ELEMENTS = 2**18


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

    Notes
    -----
    log σ(z) = −softplus(−z) and log σ(−z) = −softplus(z) share the term log1p(e^(−|z|)) of
    ``ops.softplus`` (max(·, 0) + log1p(e^(−|·|))); it is computed once, which gives the same
    numbers as two ``ops.log_sigmoid`` calls with one exp and one log1p fewer.
    """
    xp = array_namespace(z)
    log_n = math.log(z.shape[0])
    shared = xp.log1p(xp.exp(-xp.abs(z)))
    log_sig = -(ops.positive_part(-z) + shared)      # = ops.log_sigmoid(z)
    log_sig_neg = -(ops.positive_part(z) + shared)   # = ops.log_sigmoid(-z)
    return (ops.logsumexp(log_sig, axis=0) - log_n,
            ops.logsumexp(log_sig_neg, axis=0) - log_n)


def _kl_value(log_p, log_q, rho: float):
    """Σ_j KL(ρ ‖ ρ̂_j) from log ρ̂_j and log(1 − ρ̂_j), (K,) each; a 0-d array."""
    xp = array_namespace(log_p, log_q)
    return xp.sum(rho * (math.log(rho) - log_p) + (1.0 - rho) * (math.log1p(-rho) - log_q))


def _kl_column_grad(log_p, log_q, rho: float, n: int):
    """The per-column factor (1/N)(−ρ/ρ̂_j + (1 − ρ)/(1 − ρ̂_j)), (K,)."""
    xp = array_namespace(log_p, log_q)
    return (-rho * xp.exp(-log_p) + (1.0 - rho) * xp.exp(-log_q)) * (1.0 / n)


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
    log_p, log_q = log_mean_sigmoid(z)
    return _kl_value(log_p, log_q, float(target))


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
    log_p, log_q = log_mean_sigmoid(z)
    col = _kl_column_grad(log_p, log_q, float(target), z.shape[0])
    return xp.zeros_like(z) + col[None, :]


def kl_sparsity_and_grad(z, target: float):
    """``kl_sparsity(z, target)`` and ``kl_sparsity_grad(z, target)`` from one ``log_mean_sigmoid``.

    The same numbers as the two calls (which each evaluate the two column logsumexps); a
    training step needs both, so this halves the penalty's work.

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
    xp = array_namespace(z)
    log_p, log_q = log_mean_sigmoid(z)
    rho = float(target)
    col = _kl_column_grad(log_p, log_q, rho, z.shape[0])
    return _kl_value(log_p, log_q, rho), xp.zeros_like(z) + col[None, :]


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


# ------------------------------------------------------------ choosing the exact method
def contractive_costs(sizes, n_rows: int) -> dict:
    """Multiply-adds per row of the two exact deep methods' forward passes (backward ≈ 2×).

    With sizes = (D, H_1, …, H_{L−1}, K):

        recurrence:  D · Σ_{l=2}^{L} H_{l−1} H_l
        gram:        K · (H_1² + Σ_{l=2}^{L−1} H_{l−1} H_l) + D · H_1² / N

    (the last term is the Gram matrix Γ = W_1ᵀ W_1, made once per batch of N rows). For
    784-256-64 and N = 128 these are 12.8 M and 4.6 M.

    Parameters
    ----------
    sizes : sequence of int
        (D, H_1, …, K), at least three entries (two layers).
    n_rows : int
        N, the rows that share one Gram matrix.

    Returns
    -------
    dict with keys "recurrence" and "gram" (floats)
    """
    sizes = [int(v) for v in sizes]
    d, k, h1 = sizes[0], sizes[-1], sizes[1]
    pairs = list(itertools.pairwise(sizes[1:]))  # (H_{l−1}, H_l) for l = 2 … L
    recurrence = d * sum(a * b for a, b in pairs)
    gram = k * (h1 * h1 + sum(a * b for a, b in pairs[:-1])) + d * h1 * h1 / max(1, int(n_rows))
    return {"recurrence": float(recurrence), "gram": float(gram)}


def contractive_method(Ws, n_rows: int, method: str = "auto") -> str:
    """The exact path that ``method`` runs for this encoder: "one_layer", "gram" or "recurrence".

    * "one_layer": one layer only; Σ_j f′(z_nj)² ‖W_{:,j}‖² (what "gram" is at depth 1).
    * "gram": two or more layers; the Gram form (see ``contractive_penalty_and_grad``).
    * "recurrence": any depth; the N × D × H_l Jacobian recurrence, the tested reference.
    * "auto": "one_layer" at depth 1; otherwise "gram" unless its ``contractive_costs`` exceed
      ``RECURRENCE_COST_FACTOR`` (2) times the recurrence's (the Gram form loses when H_1 is
      wide next to K, or much wider than D).

    Parameters
    ----------
    Ws : list of arrays, W_l of shape (H_{l−1}, H_l)
    n_rows : int
        N, the batch rows.
    method : {"auto", "gram", "recurrence", "one_layer"}

    Returns
    -------
    str
    """
    if method not in CONTRACTIVE_METHODS:
        raise ValueError(f"Unknown contractive method {method!r}; expected one of "
                         f"{', '.join(map(repr, CONTRACTIVE_METHODS))}.")
    n_layers = len(Ws)
    if method == "one_layer" and n_layers != 1:
        raise ValueError(f"method='one_layer' is exact only for a one-layer encoder; this one has "
                         f"{n_layers} layers. Use method='gram', 'recurrence' or 'auto'.")
    if n_layers == 1:
        return "recurrence" if method == "recurrence" else "one_layer"
    if method == "auto":
        sizes = [Ws[0].shape[0], *(W.shape[1] for W in Ws)]
        costs = contractive_costs(sizes, n_rows)
        return "gram" if costs["gram"] <= RECURRENCE_COST_FACTOR * costs["recurrence"] else "recurrence"
    return method


# ------------------------------------------------------------ the Gram form
def _rows_matmul(xp, X, M):
    """X (N, K, a) @ M (a, b) -> (N, K, b) as one (N·K, a) @ (a, b) product (one large GEMM)."""
    flat = xp.reshape(X, (X.shape[0] * X.shape[1], X.shape[2]))
    return xp.reshape(flat @ M, (X.shape[0], X.shape[1], M.shape[1]))


def _transposed(W):
    """Wᵀ (b, a) for W (a, b), laid out row-major.

    ``W.T`` is a strided view; (N, K, ·) products broadcast from it inherit its column-major
    layout (NumPy and torch both), and every later (N·K, ·) reshape then copies. Reshaping the
    view to 1-D copies it once, in row-major order (b·a numbers, negligible).
    """
    xp = array_namespace(W)
    return xp.reshape(xp.reshape(W.T, (-1,)), (W.shape[1], W.shape[0]))


def _flat_rows(xp, X):
    """(N, K, H) -> (N·K, H)."""
    return xp.reshape(X, (X.shape[0] * X.shape[1], X.shape[2]))


def _gram_chain(xp, Ws, s, W_last_T):
    """R_l = ∂z_L/∂z_l (N, K, H_l) and A_l for l = 1 … L−1, right to left (0-based lists: R[i]
    is R_{i+1} of the text; A[L−2] is None, as R_{L−1} = W_Lᵀ · s_{L−1} needs no product).

    ``s`` holds s_l = f′(z_l) (N, H_l) for every layer; ``W_last_T`` is W_Lᵀ (K, H_{L−1}),
    row-major.
    """
    n_layers = len(Ws)
    Rs = [None] * (n_layers - 1)
    As = [None] * (n_layers - 1)
    Rs[-1] = W_last_T[None, :, :] * s[-2][:, None, :]
    for i in range(n_layers - 3, -1, -1):
        As[i] = _rows_matmul(xp, Rs[i + 1], Ws[i + 1].T)
        Rs[i] = As[i] * s[i][:, None, :]
    return Rs, As


def _gram_row_chunk(Ws, zs, max_elements: int) -> int:
    """Rows per chunk of the Gram form: its ~3·rows·K·Σ_{l<L} H_l numbers stay under
    ``max_elements``, and on the CPU one (rows, K, H_1) array also under ``GRAM_CACHE_ELEMENTS``."""
    n, k = zs[0].shape[0], Ws[-1].shape[1]
    rows = _row_chunk(n, 3 * k * sum(W.shape[1] for W in Ws[:-1]), max_elements)
    if str(device(zs[0])) == "cpu":  # NumPy, or torch on the CPU; never a GPU
        rows = min(rows, _row_chunk(n, k * Ws[0].shape[1], GRAM_CACHE_ELEMENTS))
    return rows


def _gram_rows(Ws, zs, activations, *, max_elements: int):
    """‖J_n‖²_F = Σ_k s_L[n, k]² · w[n, k] per row, shape (N,), in row chunks."""
    xp = array_namespace(*zs)
    n = zs[0].shape[0]
    gram, W_last_T = Ws[0].T @ Ws[0], _transposed(Ws[-1])
    rows = _gram_row_chunk(Ws, zs, max_elements)
    parts = []
    for i in range(0, n, rows):
        s = [act.df(z[i:min(i + rows, n), ...]) for act, z in zip(activations, zs)]
        R1 = _gram_chain(xp, Ws, s, W_last_T)[0][0]
        w = xp.vecdot(_rows_matmul(xp, R1, gram), R1, axis=-1)
        parts.append(xp.sum(s[-1] * s[-1] * w, axis=1))
    return parts[0] if len(parts) == 1 else xp.concat(parts, axis=0)


def _gram_penalty_and_grad(Ws, zs, activations, *, weight: float, max_elements: int):
    """P, dWs, dzs by the Gram form (the formulas are in ``contractive_penalty_and_grad``)."""
    xp = array_namespace(*zs)
    n, n_layers = zs[0].shape[0], len(Ws)
    c = float(weight) / n
    gram, W_last_T = Ws[0].T @ Ws[0], _transposed(Ws[-1])
    rows = _gram_row_chunk(Ws, zs, max_elements)
    total = dgram = None
    dWs = [None] * n_layers

    def add(i, dW):
        dWs[i] = dW if dWs[i] is None else dWs[i] + dW

    ds_parts = [[] for _ in Ws]
    s_all = [act.df(z) for act, z in zip(activations, zs)]
    for start in range(0, n, rows):
        s = [s_l[start:min(start + rows, n), ...] for s_l in s_all]
        Rs, As = _gram_chain(xp, Ws, s, W_last_T)
        C = _rows_matmul(xp, Rs[0], gram)
        w = xp.vecdot(C, Rs[0], axis=-1)
        sL2 = s[-1] * s[-1]
        part = xp.sum(sL2 * w)
        total = part if total is None else total + part
        B = _flat_rows(xp, s[-1][:, :, None] * Rs[0])
        gram_part = B.T @ B  # Σ_{n,k} s_L² R_1ᵀ R_1, symmetric (a SYRK on NumPy)
        dgram = gram_part if dgram is None else dgram + gram_part
        ds = [None] * n_layers
        ds[-1] = (2.0 * c) * s[-1] * w
        v = (2.0 * c) * sL2  # dR_1 = v[:, :, None] · C
        if n_layers == 2:
            # Fold the row scale v into the two contractions instead of forming dR_1 (one pass
            # over (rows, K, H_1) fewer): ds_1[n] = v[n] @ (C[n] · W_2ᵀ), dW_2ᵀ[k] = v[:, k] @ (C · s_1)[:, k].
            ds[0] = (v[:, None, :] @ (C * W_last_T[None, :, :]))[:, 0, :]
            Z = xp.permute_dims(C * s[0][:, None, :], (1, 0, 2))
            add(1, (xp.permute_dims(v, (1, 0))[:, None, :] @ Z)[:, 0, :].T)
        else:
            dR = v[:, :, None] * C
            for i in range(n_layers - 2):
                ds[i] = xp.sum(dR * As[i], axis=1)
                dA = dR * s[i][:, None, :]
                add(i + 1, _flat_rows(xp, dA).T @ _flat_rows(xp, Rs[i + 1]))
                dR = _rows_matmul(xp, dA, Ws[i + 1])
            ds[-2] = xp.sum(dR * W_last_T[None, :, :], axis=1)
            add(n_layers - 1, xp.sum(dR * s[-2][:, None, :], axis=0).T)
        for parts, d in zip(ds_parts, ds):
            parts.append(d)
    dWs[0] = (2.0 * c) * (Ws[0] @ dgram)
    dzs = [act.d2f(z) * (parts[0] if len(parts) == 1 else xp.concat(parts, axis=0))
           for act, z, parts in zip(activations, zs, ds_parts)]
    return total * (1.0 / n), dWs, dzs


# ------------------------------------------------------------ public entry points
def contractive_penalty_rows(Ws, zs, activations, *, method: str = "auto",
                             max_elements: int = MAX_JACOBIAN_ELEMENTS):
    """‖∂h_n/∂x_n‖²_F per row, shape (N,): the contractive penalty before λ and the mean.

    ``method`` (see ``contractive_method``): "recurrence" sums T_L² from ``encoder_jacobian``'s
    recurrence; "gram" is Σ_k f′(z_L)[n, k]² · R_1[n, k] Γ R_1[n, k]ᵀ (formulas in
    ``contractive_penalty_and_grad``); "one_layer" is Σ_j f′(z_nj)² ‖W_{:,j}‖²; "auto" picks the
    cheapest exact one. All are exact; rows are chunked to stay under ``max_elements``.

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
    path = contractive_method(Ws, zs[0].shape[0], method)
    if path == "one_layer":
        W, z, act = Ws[0], zs[0], activations[0]
        d1 = act.df(z)
        return xp.sum(d1 * d1 * xp.sum(W * W, axis=0)[None, :], axis=1)
    if path == "gram":
        return _gram_rows(Ws, zs, activations, max_elements=max_elements)
    n, d = zs[0].shape[0], Ws[0].shape[0]
    rows = _row_chunk(n, 2 * d * sum(W.shape[1] for W in Ws), max_elements)
    parts = []
    for i in range(0, n, rows):
        T = _jacobian_chunk(Ws, [z[i:min(i + rows, n), ...] for z in zs], activations)[0][-1]
        parts.append(xp.sum(T * T, axis=(1, 2)))
    return parts[0] if len(parts) == 1 else xp.concat(parts, axis=0)


def contractive_penalty_and_grad(Ws, zs, activations, *, weight: float = 1.0, method: str = "auto",
                                 max_elements: int = MAX_JACOBIAN_ELEMENTS):
    """P = mean_n ‖J_n‖²_F, J_n = ∂h_L[n]/∂x[n], and the gradients of λ·P (λ = ``weight``).

    P is a function of the kernels W_l and the pre-activations z_l. ``dWs`` are its direct
    partials ∂(λP)/∂W_l (z held fixed); ``dzs`` are ∂(λP)/∂z_l, which the caller injects where its
    ordinary backward reaches the output of layer l's Dense, so they also flow into W_l, b_l and
    every earlier layer (hence Dense gradients accumulate with ``+=``). Write s_l = f′_l(z_l)
    (N, H_l) and c = λ/N.

    Recurrence (``method="recurrence"``, the reference; ``encoder_jacobian``). Forward
    T_1 = W_1[None] · s_1[:, None, :], A_l = T_{l−1} @ W_l, T_l = A_l · s_l[:, None, :]; backward
    from G_L = 2c·T_L, for l = L … 1:

        Ĝ_l   = G_l · s_l[:, None, :]
        dW_l  = Σ_n T_{l−1}[n]ᵀ Ĝ_l[n]                  (l = 1: Σ_n Ĝ_1[n], as T_0 = I)
        dz_l  = f″(z_l) · Σ_d (G_l · A_l)                (A_1 = W_1)
        G_{l−1} = Ĝ_l @ W_lᵀ

    Memory about 2·rows·D·Σ_l H_l numbers per chunk (N = 128, D = 784, H = 512 in one go:
    51 M per array, 205 MB in float32); rows are chunked to stay under ``max_elements``.

    One layer (``"one_layer"``; also what "gram" and "auto" do at depth 1). With
    γ_j = ‖W_{:,j}‖² (the diagonal of WᵀW), P = mean_n Σ_j s_nj² γ_j, so

        dW = 2c · W · Σ_n s_n²[None, :],    dz = 2c · s · f″(z) · γ[None, :]

    Gram form (``"gram"``, depth L ≥ 2; what "auto" takes when it is cheaper, e.g. 784-256-64).
    J_n = diag(s_L[n]) W_Lᵀ diag(s_{L−1}[n]) W_{L−1}ᵀ ⋯ diag(s_1[n]) W_1ᵀ (K × D). Carry, right
    to left, R_l[n] = ∂z_L[n]/∂z_l[n] (K × H_l), for l = L−1 … 1:

        R_{L−1}[n, k, i] = W_L[i, k] · s_{L−1}[n, i]             (no product needed)
        R_l = A_l · s_l[:, None, :],   A_l = R_{l+1} @ W_{l+1}ᵀ

    so J_n = diag(s_L[n]) R_1[n] W_1ᵀ, and W_1 enters ‖J_n‖²_F = tr(J_n J_nᵀ) only through the
    Gram matrix Γ = W_1ᵀ W_1 (H_1 × H_1, once per batch): the D-wide Jacobian is never built,

        ‖J_n‖²_F = Σ_k s_L[n, k]² · w[n, k],   w[n, k] = R_1[n, k, :] Γ R_1[n, k, :]ᵀ,
        C = R_1 @ Γ (N, K, H_1),                w = Σ_i C · R_1.

    Backward, with ∂(λP)/∂w = c·s_L² and Γ symmetric (so ∂(rΓrᵀ)/∂r = 2rΓ):

        dz_L  = f″(z_L) · 2c · s_L · w
        dΓ    = c · Σ_{n,k} s_L[n,k]² R_1[n,k]ᵀ R_1[n,k] = c · BᵀB,   B = s_L[:, :, None] · R_1
        dW_1  = W_1 (dΓ + dΓᵀ) = 2 W_1 dΓ
        dR_1  = 2c · s_L²[:, :, None] · C
        for l = 1 … L−2:   dz_l = f″(z_l) · Σ_k dR_l · A_l
                           dA_l = dR_l · s_l[:, None, :]
                           dW_{l+1} = Σ_{n,k} dA_l[n, k]ᵀ R_{l+1}[n, k]     (H_l × H_{l+1})
                           dR_{l+1} = dA_l @ W_{l+1}
        l = L−1:           dz_{L−1}[n, i] = f″(z_{L−1})[n, i] · Σ_k dR_{L−1}[n, k, i] W_L[i, k]
                           dW_L[i, k] = Σ_n dR_{L−1}[n, k, i] · s_{L−1}[n, i]

    (B and the (N, K, ·) arrays are flattened to (N·K, ·), so every product is one large GEMM.)
    Cost per row: K·(H_1² + Σ_{l=2}^{L−1} H_{l−1}H_l) multiply-adds forward against the
    recurrence's D·Σ_{l=2}^{L} H_{l−1}H_l (``contractive_costs``): for 784-256-64, 4.2 M against
    12.8 M. The backward of the Gram contraction needs one more product, BᵀB (symmetric: half
    the work of C), as C already holds RΓ; autograd through w = Σ (R @ Γ) · R needs two
    (dR = (v·C) + (v·R) @ Γᵀ and dΓ = Rᵀ(v·R)). At L = 2, dR_1 is never formed: v = 2c·s_L² is
    folded into ds_1[n] = v[n] @ (C[n] · W_2ᵀ) and dW_2ᵀ[k] = v[:, k] @ (C · s_1)[:, k].
    Memory about 3·rows·K·Σ_{l<L} H_l numbers per chunk; on the CPU, chunks are also cut to
    ``GRAM_CACHE_ELEMENTS`` per (rows, K, H_1) array (16 rows for K = 64, H_1 = 256).

    Parameters
    ----------
    Ws : list of arrays, W_l of shape (H_{l−1}, H_l), H_0 = D
    zs : list of arrays, z_l of shape (N, H_l)
    activations : list of npae.activations.Activation (None for a linear layer)
    weight : float
        λ; gradients are of λ·P (P itself is returned unscaled).
    method : {"auto", "gram", "recurrence", "one_layer"}
        See ``contractive_method``; all are exact.
    max_elements : int
        Bound on the numbers held at once per row chunk.

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
    path = contractive_method(Ws, n, method)
    c = float(weight) / n
    if path == "one_layer":
        W, z, act = Ws[0], zs[0], activations[0]
        s = act.df(z)
        gamma = xp.sum(W * W, axis=0)
        P = xp.mean(xp.sum(s * s * gamma[None, :], axis=1))
        dW = (2.0 * c) * W * xp.sum(s * s, axis=0)[None, :]
        dz = (2.0 * c) * s * act.d2f(z) * gamma[None, :]
        return P, [dW], [dz]
    if path == "gram":
        return _gram_penalty_and_grad(Ws, zs, activations, weight=weight, max_elements=max_elements)
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
        G = (2.0 * c) * T
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
