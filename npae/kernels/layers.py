"""Kernels for ``npae.layers``: fewer passes in the Dense and Activation forward/backward.

* Gradients stored instead of zero-filled and added. The reference ``zero_grad`` fills every gradient with zeros and ``Dense.backward`` then adds
xᵀg into them: two passes over every weight matrix that a training step does not need, since
each Dense layer's backward runs once per step. As in PyTorch's ``zero_grad(set_to_none=True)``,
the kernel ``zero_grad`` sets the gradients to None and the kernel ``Dense.backward`` stores its
gradient where it finds None and adds where it finds an array — so a parameter reached twice
(the contractive penalty adds a second dW after the Dense backward) still gets both terms.
* The bias added in place after x @ W, and ReLU's backward as one compiled pass (with numba).
"""

from __future__ import annotations

from array_api_compat import array_namespace

from npae.activations import ReLU
from npae.kernels._compiled import c_contiguous, jit

__all__ = ["activation_backward", "dense_backward", "dense_forward", "dense_infer", "zero_grad"]


def zero_grad(layer) -> None:
    """Replaces ``npae.layers.Layer.zero_grad``: gradients become None until the next backward.

    Only for layers whose backward is the kernel below, which knows what None means. Any other
    layer (a learner's own subclass, or Dense with the backward kernel switched off) follows the
    reference contract, ``grads[k] += ...``, so it gets zeros as from the reference.
    """
    kernel_for = getattr(type(layer).backward, "kernel_for", None)
    param = next(iter(layer.params.values()), None)
    if kernel_for is None or not getattr(kernel_for(param), "stores_into_none", False):
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


dense_backward.stores_into_none = True  # what zero_grad above checks


def dense_forward(layer, x):
    """Replaces ``npae.layers.Dense.forward``; bit-exact.

    z = x @ W, then b added in place: the same sums without a second (N, out_features) array.
    """
    layer._x = x
    z = x @ layer.params["W"]
    z += layer.params["b"]
    return z


def dense_infer(layer, x):
    """Replaces ``npae.layers.Dense.infer``; bit-exact.

    z = x @ W, then b added in place, as ``dense_forward`` does, keeping no cache (inference).
    """
    z = x @ layer.params["W"]
    z += layer.params["b"]
    return z


def _relu_backward_loop(z, g, out):
    """out = g where z > 0, else 0 (dL/dz = dL/dh · f′(z) for ReLU), one pass."""
    flat_z, flat_g, flat_out = z.reshape(-1), g.reshape(-1), out.reshape(-1)
    for i in range(flat_z.size):
        flat_out[i] = flat_g[i] if flat_z[i] > 0 else 0.0


_relu_backward_compiled = jit(_relu_backward_loop)


def activation_backward(layer, grad_out, input_grad: bool = True):
    """Replaces ``npae.layers.Activation.backward`` (grad_out · f′(z)); bit-exact.

    For ReLU, f′(z) is 1 where z > 0 and 0 elsewhere: compiled, the product is one pass that
    reads z and g, with no f′ array. Other activations take the reference's product.
    """
    layer._require_forward(layer._z)
    if not input_grad:
        return None
    z = layer._z
    if (_relu_backward_compiled is not None and type(layer.activation) is ReLU
            and z.dtype == grad_out.dtype and z.shape == grad_out.shape and c_contiguous(z, grad_out)):
        out = array_namespace(z).empty_like(z)
        _relu_backward_compiled(z, grad_out, out)
        return out
    return grad_out * layer.activation.df(z)
