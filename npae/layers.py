"""Layers with hand-written forward and backward passes.

A layer has ``params`` and ``grads`` (dicts with the same keys and shapes), ``forward(x)``,
``backward(grad_out)`` and ``zero_grad()``. Forward keeps exactly what backward needs in named
attributes; backward sits directly under it, **adds** parameter gradients with ``+=`` (a parameter
reached twice, as by the contractive penalty, gets both contributions) and returns the gradient
for its input. ``zero_grad(set_to_none=True)`` (as in PyTorch) sets the gradients to None instead,
and the next backward writes its gradient instead of adding it: the training step's form, which
saves the zero fill and one pass over every weight matrix.
"""

from __future__ import annotations

from array_api_compat import array_namespace

from npae import activations as A
from npae import backend as B
from npae import initializers

__all__ = ["Layer", "Dense", "Activation", "Sequential"]


class Layer:
    """Base class: no parameters, identity forward/backward."""

    def __init__(self):
        self.params: dict = {}
        self.grads: dict = {}

    def forward(self, x):
        raise NotImplementedError

    def backward(self, grad_out):
        raise NotImplementedError

    def zero_grad(self, set_to_none: bool = False) -> None:
        """Reset every gradient to a fresh zero array of the parameter's shape, dtype and device,
        or to None with ``set_to_none=True`` (the next backward then assigns instead of adding)."""
        for key, param in self.params.items():
            self.grads[key] = None if set_to_none else array_namespace(param).zeros_like(param)

    def _require_forward(self, cached) -> None:
        if cached is None:
            raise RuntimeError(
                f"{type(self).__name__}.backward() was called before forward(); "
                "run forward(x) on this batch first."
            )

    def __call__(self, x):
        return self.forward(x)


class Dense(Layer):
    """Affine layer, z = x @ W + b.

    Parameters
    ----------
    in_features, out_features : int
    init : str or callable
        Kernel initializer name (``npae.initializers.INITIALIZERS``); b starts at zero.
    rng : numpy.random.Generator or int or None
        Source of the initial weights.
    dtype : str
        ``"float32"`` or ``"float64"``.
    backend : npae.backend.Backend, optional
        Where the parameters live (default: the active backend).

    Attributes
    ----------
    params : {"W": (in_features, out_features), "b": (out_features,)}
    grads : same keys and shapes, accumulated by ``backward``.
    """

    def __init__(self, in_features: int, out_features: int, *, init="glorot_uniform", rng=None,
                 dtype: str = "float32", backend=None):
        super().__init__()
        backend = B.get_backend() if backend is None else backend
        rng = B.check_random_state(rng)
        self.in_features, self.out_features = int(in_features), int(out_features)
        W = initializers.get_initializer(init)((self.in_features, self.out_features), rng,
                                               dtype=dtype, backend=backend)
        b = initializers.zeros((self.out_features,), dtype=dtype, backend=backend)
        self.params = {"W": W, "b": b}
        xp = backend.xp
        self.grads = {"W": xp.zeros_like(W), "b": xp.zeros_like(b)}
        self._x = None

    def forward(self, x):
        """Apply the affine map; cache x for backward.

        Parameters
        ----------
        x : array of shape (N, in_features)

        Returns
        -------
        z : array of shape (N, out_features)
        """
        self._x = x
        return x @ self.params["W"] + self.params["b"]

    def backward(self, grad_out, input_grad: bool = True):
        """Add dL/dW = xᵀ g and dL/db = Σ_n g into self.grads (or store them where the gradient
        is None, after ``zero_grad(set_to_none=True)``); return dL/dx = g Wᵀ.

        Parameters
        ----------
        grad_out : array of shape (N, out_features)
            g = dL/dz, the gradient arriving from the layer above.
        input_grad : bool, default True
            False skips dL/dx (returns None): a network's first layer does not need the gradient
            for its data, which saves one of the layer's three matrix products.

        Returns
        -------
        grad_in : array of shape (N, in_features), or None
        """
        self._require_forward(self._x)
        x, g = self._x, grad_out
        xp = array_namespace(x, g)
        for key, grad in (("W", x.T @ g), ("b", xp.sum(g, axis=0))):
            if self.grads[key] is None:
                self.grads[key] = grad
            else:
                self.grads[key] += grad
        return g @ self.params["W"].T if input_grad else None

    def __repr__(self) -> str:
        return f"Dense({self.in_features}, {self.out_features})"


class Activation(Layer):
    """Element-wise h = f(z); backward is grad_out · f′(z).

    Parameters
    ----------
    activation : str or npae.activations.Activation
    """

    def __init__(self, activation):
        super().__init__()
        self.activation = A.get_activation(activation)
        self._z = None

    def forward(self, z):
        """h = f(z), z : (N, H) -> h : (N, H); cache z."""
        self._z = z
        return self.activation.f(z)

    def backward(self, grad_out):
        """dL/dz = dL/dh · f′(z), shapes (N, H)."""
        self._require_forward(self._z)
        return grad_out * self.activation.df(self._z)

    def __repr__(self) -> str:
        return f"Activation({self.activation.name!r})"


class Sequential(Layer):
    """Layers applied in order; backward runs them in reverse.

    ``params``/``grads`` are flat views keyed ``"{i}.{name}"`` where i counts only the layers
    that have parameters (so ``Dense, Activation, Dense`` gives ``0.W, 0.b, 1.W, 1.b``).
    """

    def __init__(self, layers):
        super().__init__()
        self.layers = list(layers)

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, grad_out, input_grad: bool = True):
        """Run every layer's backward in reverse; ``input_grad=False`` lets a first Dense layer
        skip the gradient for the network's input (returns None then)."""
        for i in range(len(self.layers) - 1, -1, -1):
            layer = self.layers[i]
            if i == 0 and not input_grad and isinstance(layer, Dense):
                return layer.backward(grad_out, input_grad=False)
            grad_out = layer.backward(grad_out)
        return grad_out

    def zero_grad(self, set_to_none: bool = False) -> None:
        for layer in self.layers:
            layer.zero_grad(set_to_none)

    def parameter_layers(self):
        """The layers that own parameters, in order (their index names them)."""
        return [layer for layer in self.layers if layer.params]

    @property
    def params(self):
        return {f"{i}.{k}": v for i, layer in enumerate(self.parameter_layers()) for k, v in layer.params.items()}

    @params.setter
    def params(self, value):
        if value:
            raise AttributeError("Set parameters on the individual layers of a Sequential.")

    @property
    def grads(self):
        return {f"{i}.{k}": v for i, layer in enumerate(self.parameter_layers()) for k, v in layer.grads.items()}

    @grads.setter
    def grads(self, value):
        if value:
            raise AttributeError("Gradients live on the individual layers of a Sequential.")

    def __repr__(self) -> str:
        inner = ", ".join(repr(layer) for layer in self.layers)
        return f"Sequential([{inner}])"
