"""The contractive penalty by the exact Gram form, the cost model that chooses a method, and the
entry points the contractive autoencoder calls.

For an encoder of depth L ≥ 2 the Jacobian J_n = ∂h_L[n]/∂x[n] (K × D) reaches the input only
through the first layer's weights W_1, and ‖J_n‖²_F = tr(J_n J_nᵀ) only through the Gram matrix
Γ = W_1ᵀ W_1 (H_1 × H_1). Carrying ∂z_L/∂z_l right to left instead of ∂h_l/∂x left to right, the
penalty costs K·H_1² instead of D·H_1·K multiply-adds per row and never builds the D-wide
Jacobian. It is a different algorithm, exact, and tested against the recurrence of
``npae.penalties.contractive`` (the reference), which stays selectable (``method="recurrence"``).

``contractive_method`` picks the path ("auto": the one-layer closed form at depth 1, otherwise the
cheaper of the Gram form and the recurrence by ``contractive_costs``);
``contractive_penalty_and_grad`` and ``contractive_penalty_rows`` dispatch to it.
"""

from __future__ import annotations

import itertools

from array_api_compat import array_namespace, device

from npae.penalties.contractive import (
    MAX_JACOBIAN_ELEMENTS,
    check_encoder,
    one_layer_penalty_and_grad,
    one_layer_penalty_rows,
    recurrence_penalty_and_grad,
    recurrence_penalty_rows,
    rows_per_chunk,
)

__all__ = [
    "CONTRACTIVE_METHODS",
    "GRAM_CACHE_ELEMENTS",
    "RECURRENCE_COST_FACTOR",
    "contractive_costs",
    "contractive_method",
    "contractive_penalty_and_grad",
    "contractive_penalty_rows",
    "gram_penalty_and_grad",
    "gram_penalty_rows",
]

CONTRACTIVE_METHODS = ("auto", "gram", "recurrence", "one_layer")

#: "auto" counts each recurrence multiply-add as this many of the Gram form's: the recurrence
#: streams (rows, D, H_l) arrays through element-wise passes and batched products, while the Gram
#: form is mostly large GEMMs, so a plain count of multiply-adds favours the recurrence too early.
#: 2 lies between the cost ratios on either side of the measured crossover (784-H-64, a sweep of
#: H; benchmarks/RESULTS.md, contractive autoencoder section).
RECURRENCE_COST_FACTOR = 2.0

#: On the CPU the Gram form takes its rows in chunks whose (rows, K, H_1) arrays hold at most
#: this many numbers (2**18 float32 = 1 MiB, about one core's L2 cache), so its element-wise
#: passes run from cache rather than from memory: 16 rows for K = 64, H_1 = 256. The gain over
#: one chunk of all rows was measured (benchmarks/RESULTS.md, contractive autoencoder section).
GRAM_CACHE_ELEMENTS = 2**18


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
    * "gram": two or more layers; the Gram form (``gram_penalty_and_grad``).
    * "recurrence": any depth; the N × D × H_l Jacobian recurrence, the tested reference
      (``npae.penalties.contractive``).
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


def _gram_rows_per_chunk(Ws, zs, max_elements: int) -> int:
    """Rows per chunk of the Gram form: its ~3·rows·K·Σ_{l<L} H_l numbers stay under
    ``max_elements``, and on the CPU one (rows, K, H_1) array also under ``GRAM_CACHE_ELEMENTS``."""
    n, k = zs[0].shape[0], Ws[-1].shape[1]
    rows = rows_per_chunk(n, 3 * k * sum(W.shape[1] for W in Ws[:-1]), max_elements)
    if str(device(zs[0])) == "cpu":  # NumPy, or torch on the CPU; never a GPU
        rows = min(rows, rows_per_chunk(n, k * Ws[0].shape[1], GRAM_CACHE_ELEMENTS))
    return rows


def gram_penalty_rows(Ws, zs, activations, *, max_elements: int = MAX_JACOBIAN_ELEMENTS):
    """‖J_n‖²_F = Σ_k s_L[n, k]² · R_1[n, k, :] Γ R_1[n, k, :]ᵀ per row, shape (N,), in row chunks.

    The formulas are in ``gram_penalty_and_grad``; at depth 1 this is ``one_layer_penalty_rows``.

    Parameters
    ----------
    Ws : list of arrays, W_l of shape (H_{l−1}, H_l)
    zs : list of arrays, z_l of shape (N, H_l)
    activations : list of npae.activations.Activation (None for a linear layer)
    max_elements : int
        Bound on the numbers held at once per row chunk.

    Returns
    -------
    array of shape (N,)
    """
    activations = check_encoder(Ws, zs, activations)
    if len(Ws) == 1:
        return one_layer_penalty_rows(Ws[0], zs[0], activations[0])
    xp = array_namespace(*zs)
    n = zs[0].shape[0]
    gram, W_last_T = Ws[0].T @ Ws[0], _transposed(Ws[-1])
    rows = _gram_rows_per_chunk(Ws, zs, max_elements)
    parts = []
    for i in range(0, n, rows):
        s = [act.df(z[i:min(i + rows, n), ...]) for act, z in zip(activations, zs)]
        R1 = _gram_chain(xp, Ws, s, W_last_T)[0][0]
        w = xp.vecdot(_rows_matmul(xp, R1, gram), R1, axis=-1)
        parts.append(xp.sum(s[-1] * s[-1] * w, axis=1))
    return parts[0] if len(parts) == 1 else xp.concat(parts, axis=0)


def gram_penalty_and_grad(Ws, zs, activations, *, weight: float = 1.0,
                          max_elements: int = MAX_JACOBIAN_ELEMENTS):
    """P = mean_n ‖J_n‖²_F and the gradients of λ·P by the Gram form (depth L ≥ 2).

    With s_l = f′(z_l) (N, H_l) and c = λ/N,
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
    At depth 1 this is ``one_layer_penalty_and_grad`` (R_1 is empty and w = diag Γ).

    Parameters
    ----------
    Ws : list of arrays, W_l of shape (H_{l−1}, H_l), H_0 = D
    zs : list of arrays, z_l of shape (N, H_l)
    activations : list of npae.activations.Activation (None for a linear layer)
    weight : float
        λ; gradients are of λ·P (P itself is returned unscaled).
    max_elements : int
        Bound on the numbers held at once per row chunk.

    Returns
    -------
    P : 0-d array
    dWs : list of arrays, shapes of Ws
    dzs : list of arrays, shapes of zs
    """
    activations = check_encoder(Ws, zs, activations)
    if len(Ws) == 1:
        P, dW, dz = one_layer_penalty_and_grad(Ws[0], zs[0], activations[0], weight=weight)
        return P, [dW], [dz]
    xp = array_namespace(*zs)
    n, n_layers = zs[0].shape[0], len(Ws)
    c = float(weight) / n
    gram, W_last_T = Ws[0].T @ Ws[0], _transposed(Ws[-1])
    rows = _gram_rows_per_chunk(Ws, zs, max_elements)
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


# ------------------------------------------------------------ the entry points models call
def contractive_penalty_rows(Ws, zs, activations, *, method: str = "auto",
                             max_elements: int = MAX_JACOBIAN_ELEMENTS):
    """‖∂h_n/∂x_n‖²_F per row, shape (N,): the contractive penalty before λ and the mean.

    ``method`` (see ``contractive_method``): "recurrence" sums T_L² from the recurrence
    (``npae.penalties.contractive.recurrence_penalty_rows``); "gram" is
    Σ_k f′(z_L)[n, k]² · R_1[n, k] Γ R_1[n, k]ᵀ (``gram_penalty_rows``); "one_layer" is
    Σ_j f′(z_nj)² ‖W_{:,j}‖²; "auto" picks the cheapest exact one. All are exact; rows are
    chunked to stay under ``max_elements``.

    Parameters
    ----------
    Ws : list of arrays, W_l of shape (H_{l−1}, H_l)
    zs : list of arrays, z_l of shape (N, H_l)
    activations : list of npae.activations.Activation (None for a linear layer)
    method : {"auto", "gram", "recurrence", "one_layer"}
    max_elements : int
        Bound on the numbers held at once per row chunk.

    Returns
    -------
    array of shape (N,)
    """
    activations = check_encoder(Ws, zs, activations)
    path = contractive_method(Ws, zs[0].shape[0], method)
    if path == "one_layer":
        return one_layer_penalty_rows(Ws[0], zs[0], activations[0])
    if path == "gram":
        return gram_penalty_rows(Ws, zs, activations, max_elements=max_elements)
    return recurrence_penalty_rows(Ws, zs, activations, max_elements=max_elements)


def contractive_penalty_and_grad(Ws, zs, activations, *, weight: float = 1.0, method: str = "auto",
                                 max_elements: int = MAX_JACOBIAN_ELEMENTS):
    """P = mean_n ‖J_n‖²_F, J_n = ∂h_L[n]/∂x[n], and the gradients of λ·P (λ = ``weight``).

    P is a function of the weights W_l and the pre-activations z_l. ``dWs`` are its direct
    partials ∂(λP)/∂W_l (z held fixed); ``dzs`` are ∂(λP)/∂z_l, which the caller injects where its
    ordinary backward reaches the output of layer l's Dense, so they also flow into W_l, b_l and
    every earlier layer (hence Dense gradients accumulate with ``+=``).

    ``method`` chooses the exact algorithm (``contractive_method``); formulas beside each:

    * "recurrence": ``npae.penalties.contractive.recurrence_penalty_and_grad``, the reference;
    * "one_layer": ``npae.penalties.contractive.one_layer_penalty_and_grad``;
    * "gram": ``gram_penalty_and_grad`` (depth ≥ 2; at depth 1 it is the one-layer form);
    * "auto": "one_layer" at depth 1, else the cheaper of "gram" and "recurrence".

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
    activations = check_encoder(Ws, zs, activations)
    path = contractive_method(Ws, zs[0].shape[0], method)
    if path == "one_layer":
        P, dW, dz = one_layer_penalty_and_grad(Ws[0], zs[0], activations[0], weight=weight)
        return P, [dW], [dz]
    if path == "gram":
        return gram_penalty_and_grad(Ws, zs, activations, weight=weight, max_elements=max_elements)
    return recurrence_penalty_and_grad(Ws, zs, activations, weight=weight, max_elements=max_elements)
