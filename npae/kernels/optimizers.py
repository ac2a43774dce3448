"""Kernels for ``npae.optimizers``: Adam's update in place, with its scalars folded together."""

from __future__ import annotations

import math

from array_api_compat import array_namespace

__all__ = ["adam_update"]


def adam_update(optimizer, param, grad, state) -> None:
    """Replaces ``npae.optimizers.Adam._update``; equal within float rounding.

    The reference allocates new m, v, m̂, v̂ and a quotient each step. Here m and v are updated in
    place, and the bias corrections move out of the arrays into two scalars:

        m̂ / (√v̂ + ε) = α_t · m / (√v + ε̂_t),   α_t = √(1 − β₂ᵗ) / (1 − β₁ᵗ),   ε̂_t = ε √(1 − β₂ᵗ)

    (multiply the numerator and denominator by √(1 − β₂ᵗ)), the form PyTorch's Adam uses. The
    state keeps the reference's m and v, so checkpoints and ``moments()`` are unchanged.
    """
    xp = array_namespace(param, grad)
    t = optimizer.iterations
    beta1, beta2, lr = optimizer.beta1, optimizer.beta2, optimizer.learning_rate
    m, v = state["m"], state["v"]
    m *= beta1
    m += (1.0 - beta1) * grad
    v *= beta2
    v += (1.0 - beta2) * (grad * grad)
    correction2 = math.sqrt(1.0 - beta2**t)
    alpha = lr * correction2 / (1.0 - beta1**t)
    if optimizer.weight_decay:
        param -= (lr * optimizer.weight_decay) * param
    denom = xp.sqrt(v)
    denom += optimizer.epsilon * correction2
    step = m / denom
    step *= alpha
    param -= step
