"""Regularisation penalties on the code h, each value with its gradient beside it.

* ``sparsity``: L1 activity, λ · mean_n Σ_j |h_nj|, and KL sparsity, β · Σ_j KL(ρ ‖ ρ̂_j) with
  ρ̂_j = mean_n h_nj, for the sparse autoencoder.
* ``contractive``: the contractive penalty λ · mean_n ‖∂h_n/∂x_n‖²_F (Rifai et al., 2011), exact
  for an encoder of any depth and activation, with its hand-written backward (which needs f″):
  the one-layer closed form and the N × D × H_l Jacobian recurrence, the reference.
* ``gram``: the same penalty by the Gram form, which reaches the input only through
  Γ = W_1ᵀ W_1; the cost model that picks a method (``method="auto"``); and the entry points
  ``contractive_penalty_and_grad`` / ``contractive_penalty_rows``.

Models scale by the penalty weight and add the gradients where their backward passes meet the
code (``npae.models.sparse``, ``npae.models.contractive``). Everything below is importable from
``npae.penalties`` directly.
"""

from __future__ import annotations

from npae.penalties import contractive, gram, sparsity
from npae.penalties.contractive import MAX_JACOBIAN_ELEMENTS, encoder_jacobian
from npae.penalties.gram import (
    CONTRACTIVE_METHODS,
    RECURRENCE_COST_FACTOR,
    contractive_costs,
    contractive_method,
    contractive_penalty_and_grad,
    contractive_penalty_rows,
)
from npae.penalties.sparsity import (
    kl_sparsity,
    kl_sparsity_and_grad,
    kl_sparsity_and_logit_grad,
    kl_sparsity_grad,
    kl_sparsity_logit_grad,
    l1_activity,
    l1_activity_grad,
    log_mean_sigmoid,
)

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
    "kl_sparsity_and_logit_grad",
    "kl_sparsity_grad",
    "kl_sparsity_logit_grad",
    "l1_activity",
    "l1_activity_grad",
    "log_mean_sigmoid",
]

