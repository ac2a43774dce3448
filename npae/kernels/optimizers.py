"""Kernels for ``npae.optimizers``: Adam's update in one pass (numba) or in place (any backend).

The reference allocates new m, v, m̂, v̂ and a quotient at every step: about a dozen passes over
every parameter. Both kernels keep the reference's state (m and v, so checkpoints and
``moments()`` are unchanged) and move the bias corrections out of the arrays into two scalars:

    m̂ / (√v̂ + ε) = α_t · m / (√v + ε̂_t),   α_t = √(1 − β₂ᵗ) / (1 − β₁ᵗ),   ε̂_t = ε √(1 − β₂ᵗ)

(numerator and denominator multiplied by √(1 − β₂ᵗ)), the form PyTorch's Adam uses.

* With numba installed (``pip install "npae[fast]"``), one compiled loop reads g, m, v, θ and
  writes m, v, θ once per element. It runs on one thread: the BLAS threads own the cores
  during the products, and a second thread pool fights them.
* Otherwise, the same update in place with array operations.
"""

from __future__ import annotations

import math

from array_api_compat import array_namespace

from npae.kernels._compiled import EXACT_FASTMATH, HAVE_NUMBA, jit

__all__ = ["HAVE_NUMBA", "adam_update"]


def _adam_loop(theta, g, m, v, beta1, one_minus_beta1, beta2, one_minus_beta2, alpha, eps_hat, lr_decay):
    """One element at a time: m, v as in the reference, then θ ← θ − ηλθ − α m / (√v + ε̂).

    The scalars come in the arrays' dtype, so float32 parameters are updated in float32
    arithmetic (as the reference does); with NumPy's error model (no guarded division) the loop
    vectorises: packed sqrt and division (``_compiled``).
    """
    for i in range(theta.size):
        gi = g[i]
        mi = beta1 * m[i] + one_minus_beta1 * gi
        vi = beta2 * v[i] + one_minus_beta2 * gi * gi
        m[i] = mi
        v[i] = vi
        t = theta[i]
        t = t - lr_decay * t
        theta[i] = t - alpha * mi / (math.sqrt(vi) + eps_hat)


# FMA and a / b as a · (1/b): within a rounding of each step (the parity test's tolerance).
_adam_compiled = jit(_adam_loop, fastmath=EXACT_FASTMATH)


def _flat_view(a):
    """a as a 1-D view (no copy), or None when a is not C-contiguous."""
    return a.reshape(-1) if a.flags.c_contiguous else None


def adam_update(optimizer, param, grad, state) -> None:
    """Replaces ``npae.optimizers.Adam._update``; equal within float rounding.

    Decoupled weight decay θ ← θ − ηλθ comes first, as in the reference.
    """
    t = optimizer.iterations
    beta1, beta2, lr = optimizer.beta1, optimizer.beta2, optimizer.learning_rate
    correction2 = math.sqrt(1.0 - beta2**t)
    alpha = lr * correction2 / (1.0 - beta1**t)
    eps_hat = optimizer.epsilon * correction2
    lr_decay = lr * optimizer.weight_decay
    m, v = state["m"], state["v"]
    if _adam_compiled is not None:
        flat = [_flat_view(a) for a in (param, m, v)]
        if all(a is not None for a in flat) and grad.dtype == param.dtype:
            theta, m_flat, v_flat = flat
            scalar = param.dtype.type
            _adam_compiled(theta, grad.reshape(-1), m_flat, v_flat, scalar(beta1), scalar(1.0 - beta1),
                           scalar(beta2), scalar(1.0 - beta2), scalar(alpha), scalar(eps_hat), scalar(lr_decay))
            return
    xp = array_namespace(param, grad)
    m *= beta1
    m += (1.0 - beta1) * grad
    v *= beta2
    v += (1.0 - beta2) * (grad * grad)
    if optimizer.weight_decay:
        param -= lr_decay * param
    denom = xp.sqrt(v)
    denom += eps_hat
    step = m / denom
    step *= alpha
    param -= step
