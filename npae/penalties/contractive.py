"""The contractive penalty (Rifai et al., 2011), reference form: P = mean_n ‖∂h_n/∂x_n‖²_F.

Two exact algorithms, each with its hand-written backward (which needs f″):

* one layer, h = f(x W + b): the closed form P = mean_n Σ_j f′(z_nj)² ‖W_{:,j}‖²;
* any depth: the Jacobian recurrence, which carries T_l = ∂h_l/∂x, shape (N, D, H_l), forward
  beside the activations and back-propagates through it. It is the tested reference for
  ``npae.penalties.gram``, which computes the same numbers without building the D-wide Jacobian.

Functions take arrays of any backend and use only the Array API standard. Write s_l = f′_l(z_l)
(N, H_l) and c = λ/N, λ the penalty weight. Every ``*_and_grad`` returns P unscaled with the
gradients of λ·P: ``dWs``, the direct partials ∂(λP)/∂W_l (z held fixed), and ``dzs``,
∂(λP)/∂z_l, which the model injects where its ordinary backward reaches the output of layer l's
Dense, so they also flow into W_l, b_l and every earlier layer (hence Dense gradients accumulate
with ``+=``; see ``npae.models.contractive``).
"""

from __future__ import annotations

from array_api_compat import array_namespace

from npae.activations import Identity

__all__ = [
    "MAX_JACOBIAN_ELEMENTS",
    "check_encoder",
    "encoder_jacobian",
    "one_layer_penalty_and_grad",
    "one_layer_penalty_rows",
    "recurrence_penalty_and_grad",
    "recurrence_penalty_rows",
    "rows_per_chunk",
]

#: Upper bound on the floats the contractive recurrence holds at once (per row chunk: the
#: Jacobians T_l, the products A_l and their gradients, about 2·rows·D·Σ_l H_l numbers).
#: 2**24 floats is 64 MiB in float32, 128 MiB in float64.
MAX_JACOBIAN_ELEMENTS = 2**24


def check_encoder(Ws, zs, activations) -> list:
    """Refuse mismatched lists; return the activations with ``None`` (a linear layer) as Identity.

    Parameters
    ----------
    Ws : list of arrays, W_l of shape (H_{l−1}, H_l)
    zs : list of arrays, z_l of shape (N, H_l)
    activations : list of npae.activations.Activation or None

    Returns
    -------
    list of npae.activations.Activation
    """
    if not (len(Ws) == len(zs) == len(activations)) or not Ws:
        raise ValueError(
            f"Expected one W, z and activation per encoder layer; got {len(Ws)} W, {len(zs)} z and "
            f"{len(activations)} activations."
        )
    return [Identity() if act is None else act for act in activations]


def rows_per_chunk(n: int, width: int, max_elements: int) -> int:
    """Rows per chunk so that rows · width stays under ``max_elements`` (at least one row)."""
    return max(1, min(n, int(max_elements) // max(1, width)))


# ---------------------------------------------------------------------- one layer
def one_layer_penalty_rows(W, z, activation):
    """‖∂h_n/∂x_n‖²_F per row for one layer h = f(z), z = x W + b: Σ_j f′(z_nj)² ‖W_{:,j}‖².

    ∂h_nj/∂x_nd = f′(z_nj) W_dj, so the squared Frobenius norm sums f′(z_nj)² γ_j with
    γ_j = Σ_d W_dj² (the diagonal of WᵀW). For a sigmoid code this is Rifai's
    Σ_j (h_nj(1 − h_nj))² ‖W_{:,j}‖².

    Parameters
    ----------
    W : array of shape (D, H)
    z : array of shape (N, H)
    activation : npae.activations.Activation

    Returns
    -------
    array of shape (N,)
    """
    xp = array_namespace(z)
    s = activation.df(z)
    return xp.sum(s * s * xp.sum(W * W, axis=0)[None, :], axis=1)


def one_layer_penalty_and_grad(W, z, activation, *, weight: float = 1.0):
    """P = mean_n Σ_j s_nj² γ_j (γ_j = ‖W_{:,j}‖²) and the gradients of λ·P, one layer.

        dW = 2c · W · Σ_n s_n²[None, :],    dz = 2c · s · f″(z) · γ[None, :]

    (γ_j depends on W_{:,j} as Σ_d W_dj², whence 2·W; s = f′(z) depends on z, whence f″.)

    Parameters
    ----------
    W : array of shape (D, H)
    z : array of shape (N, H)
    activation : npae.activations.Activation
    weight : float
        λ; gradients are of λ·P (P itself is returned unscaled).

    Returns
    -------
    P : 0-d array
    dW : array of shape (D, H)
    dz : array of shape (N, H)
    """
    xp = array_namespace(z)
    c = float(weight) / z.shape[0]
    s = activation.df(z)
    gamma = xp.sum(W * W, axis=0)
    P = xp.mean(xp.sum(s * s * gamma[None, :], axis=1))
    dW = (2.0 * c) * W * xp.sum(s * s, axis=0)[None, :]
    dz = (2.0 * c) * s * activation.d2f(z) * gamma[None, :]
    return P, dW, dz


# ---------------------------------------------------------------------- the recurrence
def _jacobian_chunk(Ws, zs, activations):
    """The recurrence on one row chunk; returns (Ts, As, ss), lists over layers l = 1 … L.

    T_1 = W_1[None] · s_1[:, None, :]   (A_1 = W_1: no identity matrix is ever built)
    T_l = A_l · s_l[:, None, :],  A_l = T_{l−1} @ W_l
    """
    Ts, As, ss = [], [], []
    for l, (W, z, act) in enumerate(zip(Ws, zs, activations)):
        s = act.df(z)
        A = W[None, :, :] if l == 0 else Ts[-1] @ W
        Ts.append(A * s[:, None, :])
        As.append(A)
        ss.append(s)
    return Ts, As, ss


def _recurrence_rows_per_chunk(Ws, zs, max_elements: int) -> int:
    """The recurrence holds about 2·rows·D·Σ_l H_l numbers (T_l and A_l) per chunk."""
    n, d = zs[0].shape[0], Ws[0].shape[0]
    return rows_per_chunk(n, 2 * d * sum(W.shape[1] for W in Ws), max_elements)


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
    max_elements : int
        Bound on the numbers held at once per row chunk.

    Returns
    -------
    T : array of shape (N, D, K)
    """
    activations = check_encoder(Ws, zs, activations)
    xp = array_namespace(*zs)
    n = zs[0].shape[0]
    rows = _recurrence_rows_per_chunk(Ws, zs, max_elements)
    parts = []
    for i in range(0, n, rows):
        chunk = [z[i:min(i + rows, n), ...] for z in zs]
        parts.append(_jacobian_chunk(Ws, chunk, activations)[0][-1])
    return parts[0] if len(parts) == 1 else xp.concat(parts, axis=0)


def recurrence_penalty_rows(Ws, zs, activations, *, max_elements: int = MAX_JACOBIAN_ELEMENTS):
    """‖T_L[n]‖²_F per row, shape (N,), from the recurrence of ``encoder_jacobian``.

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
    xp = array_namespace(*zs)
    n = zs[0].shape[0]
    rows = _recurrence_rows_per_chunk(Ws, zs, max_elements)
    parts = []
    for i in range(0, n, rows):
        T = _jacobian_chunk(Ws, [z[i:min(i + rows, n), ...] for z in zs], activations)[0][-1]
        parts.append(xp.sum(T * T, axis=(1, 2)))
    return parts[0] if len(parts) == 1 else xp.concat(parts, axis=0)


def recurrence_penalty_and_grad(Ws, zs, activations, *, weight: float = 1.0,
                                max_elements: int = MAX_JACOBIAN_ELEMENTS):
    """P = mean_n ‖T_L[n]‖²_F and the gradients of λ·P, by the recurrence and its backward.

    Forward (``encoder_jacobian``): T_1 = W_1[None] · s_1[:, None, :], A_l = T_{l−1} @ W_l,
    T_l = A_l · s_l[:, None, :]. Backward from G_L = ∂(λP)/∂T_L = 2c·T_L, for l = L … 1:

        Ĝ_l     = G_l · s_l[:, None, :]
        dW_l    = Σ_n T_{l−1}[n]ᵀ Ĝ_l[n]                (l = 1: Σ_n Ĝ_1[n], as T_0 = I)
        dz_l    = f″(z_l) · Σ_d (G_l · A_l)              (A_1 = W_1)
        G_{l−1} = Ĝ_l @ W_lᵀ

    W_l is reached twice, through A_l and through s_l = f′(z_l); the second is the dz_l the model
    injects. Memory: about 2·rows·D·Σ_l H_l numbers per row chunk (all N = 128 rows of a
    784-512 layer at once: 51 M numbers per array, 205 MB in float32), so rows are chunked to stay
    under ``max_elements``.

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
    xp = array_namespace(*zs)
    n = zs[0].shape[0]
    c = float(weight) / n
    rows = _recurrence_rows_per_chunk(Ws, zs, max_elements)
    total = None
    dWs = [xp.zeros_like(W) for W in Ws]
    dz_parts = [[] for _ in Ws]
    for i in range(0, n, rows):
        chunk = [z[i:min(i + rows, n), ...] for z in zs]
        Ts, As, ss = _jacobian_chunk(Ws, chunk, activations)
        T = Ts[-1]
        sq = xp.sum(T * T)
        total = sq if total is None else total + sq
        G = (2.0 * c) * T
        for l in range(len(Ws) - 1, -1, -1):
            G_hat = G * ss[l][:, None, :]
            dz_parts[l].append(activations[l].d2f(chunk[l]) * xp.sum(G * As[l], axis=1))
            if l == 0:
                dWs[0] = dWs[0] + xp.sum(G_hat, axis=0)
            else:
                T_prev = Ts[l - 1]
                # Σ_n T_{l−1}[n]ᵀ Ĝ_l[n] as one (rows·D, H_{l−1})ᵀ @ (rows·D, H_l) product
                flat_T = xp.reshape(T_prev, (-1, T_prev.shape[2]))
                flat_G = xp.reshape(G_hat, (-1, G_hat.shape[2]))
                dWs[l] = dWs[l] + flat_T.T @ flat_G
                G = G_hat @ Ws[l].T
    dzs = [parts[0] if len(parts) == 1 else xp.concat(parts, axis=0) for parts in dz_parts]
    return total * (1.0 / n), dWs, dzs
