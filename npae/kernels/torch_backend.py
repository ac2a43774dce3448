"""Kernels for the torch backend: PyTorch's own operations where the reference goes through the
Array API wrapper, and PyTorch's fused Adam step behind the reference Adam.

On torch tensors the reference code runs as written, through ``array_api_compat``'s torch
namespace: one ``array_namespace`` lookup and one wrapper call per operation, and a fresh tensor
for every intermediate. These kernels are the same mathematics in PyTorch's own calls, the path a
CUDA device takes as well:

* ``Adam._update``: ``torch._fused_adam_``, the one-pass update behind
  ``torch.optim.Adam(fused=True)`` (decoupled decay θ ← θ − ηλθ, when asked, one pass before it,
  as in the reference). It reads the same m and v (the reference's ``state``, PyTorch's ``exp_avg`` and
  ``exp_avg_sq``) and the step number t from the optimizer, so checkpoints, ``moments()`` and
  switching modes between steps are unchanged. Equal to the reference within rounding.
* ``Dense.forward``: ``addmm(b, x, W)``, the bias added inside the product.
* ``Dense.backward``: dW = xᵀ g stored where the gradient is None (after the kernel
  ``zero_grad``, as in ``npae.kernels.layers``) or added in place by ``addmm_``; db = Σ_n g.
* ``Activation.backward`` for ReLU: ``threshold_backward(g, z, 0)`` (g where z > 0, else 0, one
  pass: what autograd runs); other activations take the reference's product.
* ``ReLU.f``: ``torch.relu``; ``ops.sigmoid``: ``torch.sigmoid`` on z ≥ −80 only (see
  ``sigmoid``); BCE on logits: on CPU float32 tensors npae's own compiled pass
  (``npae.kernels.losses``, run on the tensors' memory), otherwise PyTorch's fused
  ``binary_cross_entropy_with_logits`` for the value, ``torch.sigmoid(y) − x`` for the gradient.

torch is imported on the first call of a kernel, which only happens for a torch tensor (so torch
is already loaded); ``import npae`` never imports it.
"""

from __future__ import annotations

import sys

from npae.activations import ReLU
from npae.kernels import losses as _array_losses

__all__ = ["activation_backward", "adam_update", "bce_with_logits_and_grad", "dense_backward", "dense_forward",
           "dense_infer", "relu", "sigmoid"]


def _torch():
    return sys.modules["torch"]  # loaded: a torch tensor reached the dispatcher


def adam_update(optimizer, param, grad, state) -> None:
    """Replaces ``npae.optimizers.Adam._update`` on torch tensors; equal within float rounding.

    One ``torch._fused_adam_`` call on this parameter (after θ ← θ − ηλθ when λ > 0): m ← β₁ m + (1 − β₁) g,
    v ← β₂ v + (1 − β₂) g², θ ← θ − ηλθ, θ ← θ − η m̂ / (√v̂ + ε), in one pass, in place.
    """
    torch = _torch()
    m, v = state["m"], state["v"]
    if grad.dtype != param.dtype or grad.device != param.device:
        grad = grad.to(dtype=param.dtype, device=param.device)
    # The fused kernel reads the step count from a tensor (its own optimizer increments it first).
    step = torch.full((), float(optimizer.iterations), dtype=torch.float32, device=param.device)
    if optimizer.weight_decay:
        # θ − (ηλ)θ as the reference computes it: the fused kernel's θ·(1 − ηλ) rounds 1 − ηλ in
        # the parameter's dtype, a bias that adds up over steps in float32.
        param.add_(param, alpha=-optimizer.learning_rate * optimizer.weight_decay)
    torch._fused_adam_([param], [grad], [m], [v], [], [step], lr=optimizer.learning_rate,
                       beta1=optimizer.beta1, beta2=optimizer.beta2, weight_decay=0.0,
                       eps=optimizer.epsilon, amsgrad=False, maximize=False)


def dense_forward(layer, x):
    """Replaces ``npae.layers.Dense.forward`` on torch tensors: z = addmm(b, x, W); equal within rounding."""
    layer._x = x
    return _torch().addmm(layer.params["b"], x, layer.params["W"])


def dense_infer(layer, x):
    """Replaces ``npae.layers.Dense.infer`` on torch tensors: addmm(b, x, W), no cache; equal within rounding."""
    return _torch().addmm(layer.params["b"], x, layer.params["W"])


def dense_backward(layer, grad_out, input_grad: bool = True):
    """Replaces ``npae.layers.Dense.backward`` on torch tensors; bit-exact.

    dW = xᵀ g and db = Σ_n g stored where the gradient is None (``npae.kernels.layers.zero_grad``)
    and added in place otherwise; dx = g Wᵀ unless ``input_grad`` is False.
    """
    layer._require_forward(layer._x)
    x, g = layer._x, grad_out
    grads = layer.grads
    dW = x.T @ g
    db = g.sum(dim=0)
    if grads["W"] is None:
        grads["W"] = dW
    else:
        grads["W"] += dW
    if grads["b"] is None:
        grads["b"] = db
    else:
        grads["b"] += db
    return g @ layer.params["W"].T if input_grad else None


dense_backward.stores_into_none = True  # what npae.kernels.layers.zero_grad checks


def activation_backward(layer, grad_out, input_grad: bool = True):
    """Replaces ``npae.layers.Activation.backward`` on torch tensors (grad_out · f′(z)); bit-exact.

    For ReLU, f′(z) is 1 where z > 0 and 0 elsewhere: ``threshold_backward`` writes g or 0 in one
    pass, with no f′ tensor. Other activations take the reference's product.
    """
    layer._require_forward(layer._z)
    if not input_grad:
        return None
    z = layer._z
    if type(layer.activation) is ReLU and z.shape == grad_out.shape and z.dtype == grad_out.dtype:
        return _torch().ops.aten.threshold_backward(grad_out, z, 0)
    return grad_out * layer.activation.df(z)


def relu(activation, z):
    """Replaces ``npae.activations.ReLU.f`` (``maximum(z, 0.0)``) on torch tensors; bit-exact."""
    return _torch().relu(z)


# Below this, 1/(1 + e^(−z)) loses digits: e^(−z) overflows float32 near z = −88.7 and the quotient
# flushes to 0 where the reference keeps subnormal values. −80 leaves a margin in both dtypes.
_SIGMOID_SAFE = -80.0


def sigmoid(z):
    """Replaces ``npae.ops.sigmoid`` on torch tensors; equal within a few ulp.

    ``torch.sigmoid`` is 1/(1 + e^(−z)): accurate where e^(−z) is finite, which a network's
    pre-activations almost always are. If any z lies below −80, the stable form of
    ``npae.kernels.ops`` (exp(min(z, 0)) / (1 + e^(−|z|))) is taken for the whole tensor instead.
    The check is one reduction (on a GPU, one host read per call).
    """
    torch = _torch()
    if bool((z < _SIGMOID_SAFE).any()):  # any(): a NaN elsewhere does not hide a z below the bound
        return torch.exp(torch.clamp(z, max=0.0)) / (1.0 + torch.exp(-torch.abs(z)))
    return torch.sigmoid(z)


def _shares_host_memory(*tensors) -> bool:
    """True when every tensor is a plain CPU tensor NumPy can view without a copy."""
    return all(t.device.type == "cpu" and not t.requires_grad and t.layout == _torch().strided for t in tensors)


def bce_with_logits_and_grad(x, logits):
    """Replaces ``npae.losses.bce_with_logits_and_grad`` on torch tensors; equal within float rounding.

    CPU float32 tensors run npae's compiled pass (``npae.kernels.losses``) on their memory;
    the rest (CUDA, float64, no numba) the PyTorch calls below.

    The value is PyTorch's own one-pass ``binary_cross_entropy_with_logits`` (the same stable
    softplus(y) − x·y), summed per row; the gradient σ(y) − x is ``torch.sigmoid`` minus x in place.
    Where e^(−y) overflows (y below about −88 in float32) torch.sigmoid gives 0 instead of the
    reference's subnormal σ(y): the gradient then differs by less than 1e-37 in absolute terms.

    Parameters
    ----------
    x : array of shape (N, D)
        Targets in [0, 1].
    logits : array of shape (N, D)

    Returns
    -------
    value : array of shape (N,)
    grad : array of shape (N, D)
    """
    torch = _torch()
    if _shares_host_memory(x, logits):
        host_x, host_logits = x.numpy(), logits.numpy()  # views of the tensors' memory, no copy
        if _array_losses._compiled_applies(host_x, host_logits):
            # CPU float32: npae's compiled pass, 3-4x PyTorch's two passes on hosts without
            # AVX-512 (benchmarks/RESULTS.md).
            terms, grad = torch.empty_like(logits), torch.empty_like(logits)
            _array_losses._bce_terms_compiled(host_x, host_logits, terms.numpy(), grad.numpy())
            return terms.sum(dim=1), grad
    value = torch.nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dim=1)
    grad = torch.sigmoid(logits)
    grad -= x
    return value, grad
