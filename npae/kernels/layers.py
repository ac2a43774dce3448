"""Kernels for ``npae.layers``: gradients written in place of zero-fill-then-add.

The reference ``zero_grad`` fills every gradient with zeros and ``Dense.backward`` then adds
xᵀg into them: two passes over every weight matrix that a training step does not need, since
each Dense layer's backward runs once per step. As in PyTorch's ``zero_grad(set_to_none=True)``,
the kernel ``zero_grad`` sets the gradients to None and the kernel ``Dense.backward`` stores its
gradient where it finds None and adds where it finds an array — so a parameter reached twice
(the contractive penalty adds a second dW after the Dense backward) still gets both terms.
"""

from __future__ import annotations

from array_api_compat import array_namespace

__all__ = ["dense_backward", "zero_grad"]


def zero_grad(layer) -> None:
    """Replaces ``npae.layers.Layer.zero_grad``: gradients become None until the next backward.

    Only for layers whose backward is the kernel below, which knows what None means. Any other
    layer (a learner's own subclass, or Dense with the backward kernel switched off) follows the
    reference contract, ``grads[k] += ...``, so it gets zeros as from the reference.
    """
    spec = getattr(type(layer).backward, "__npae_kernel__", None)
    if spec is None or spec.kernel is not dense_backward:
        for key, param in layer.params.items():
            layer.grads[key] = array_namespace(param).zeros_like(param)
        return
    for key in layer.params:
        layer.grads[key] = None


def dense_backward(layer, grad_out, input_grad: bool = True):
    """Replaces ``npae.layers.Dense.backward``; bit-exact (x + 0 is x).

    dW = xᵀ g and db = Σ_n g are stored where the gradient is None (after the kernel
    ``zero_grad``) and added otherwise; dx = g Wᵀ unless ``input_grad`` is False.
    """
    layer._require_forward(layer._x)
    x, g = layer._x, grad_out
    xp = array_namespace(x, g)
    for key, grad in (("W", x.T @ g), ("b", xp.sum(g, axis=0))):
        if layer.grads[key] is None:
            layer.grads[key] = grad
        else:
            layer.grads[key] += grad
    return g @ layer.params["W"].T if input_grad else None
