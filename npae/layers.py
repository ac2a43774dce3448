"""Layers with hand-written forward and backward passes.

A layer has ``params`` and ``grads`` (dicts with the same keys and shapes), ``forward(x)``,
``backward(grad_out)`` and ``zero_grad()``. Forward keeps exactly what backward needs in named
attributes; backward sits directly under it, **adds** parameter gradients with ``+=`` (a parameter
reached twice, as by the contractive penalty, gets both contributions) and returns the gradient
for its input; ``zero_grad()`` sets the gradients back to zero.

``infer(x)`` computes what ``forward`` returns and keeps nothing: the inference path (PyTorch's
``torch.no_grad()``, Keras' ``training=False``). Training runs ``forward``/``backward``; a model's
``transform``, ``score_samples``, … run ``infer``, so inference never writes the caches a training
step reads, and a model can be used while another thread fits it.

``dense_stack`` builds the Dense/Activation stacks every model uses.
"""

from __future__ import annotations

from array_api_compat import array_namespace

from npae import activations as A
from npae import backend as B
from npae import initializers

__all__ = ["Layer", "Dense", "Activation", "Sequential", "dense_stack"]


class Layer:
    """Base class: no parameters, identity forward/backward."""

    def __init__(self):
        self.params: dict = {}
        self.grads: dict = {}

    def forward(self, x):
        """The layer's output for a batch x, (N, in) -> (N, out), keeping what ``backward`` needs
        (the input, a mask, ...) on the layer: the training pass. ``infer`` is the same without
        the cache."""
        raise NotImplementedError

    def backward(self, grad_out, input_grad: bool = True):
        """Add the parameter gradients into ``grads`` and return dL/dx for the layer's input.

        ``input_grad=False`` says the caller has no use for dL/dx (the input is the data): a
        layer may then skip computing it and return None.
        """
        raise NotImplementedError

    def infer(self, x):
        """What ``forward(x)`` returns, keeping no cache (inference; nothing on the layer changes)."""
        raise NotImplementedError(
            f"{type(self).__name__} has no infer(x): a layer used for inference (transform, score_samples, ...) "
            "computes forward's output there without storing a cache, so a fit in another thread is untouched."
        )

    def zero_grad(self) -> None:
        """Reset every gradient to zeros of its parameter's shape, dtype and device.

        Read gradients after a backward pass, not between ``zero_grad`` and the next backward: a
        faster implementation may leave them unset until the backward writes them (PyTorch's
        ``zero_grad`` leaves None too).
        """
        for key, param in self.params.items():
            self.grads[key] = array_namespace(param).zeros_like(param)

    def _require_forward(self, cached) -> None:
        if cached is None:
            raise RuntimeError(
                f"{type(self).__name__}.backward() was called before forward(); "
                "run forward(x) on this batch first."
            )

    def __call__(self, x):
        return self.forward(x)

    #: attributes that hold what forward keeps for backward (dropped when the layer is pickled)
    _caches: tuple = ()

    def __getstate__(self):
        """Pickle the parameters, not the last batch: the forward caches go out as None (a model
        that has just scored 5,000 rows would otherwise ship them to every Dask worker)."""
        state = self.__dict__.copy()
        for name in self._caches:
            if name in state:
                state[name] = None
        return state


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

    _caches = ("_x",)

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
        """Add dL/dW = xᵀ g and dL/db = Σ_n g into self.grads; return dL/dx = g Wᵀ.

        Parameters
        ----------
        grad_out : array of shape (N, out_features)
            g = dL/dz, the gradient arriving from the layer above.
        input_grad : bool, default True
            False skips dL/dx and returns None: the first layer of a network has no use for the
            gradient of its data (autograd skips it too), and it is one of the three products.

        Returns
        -------
        grad_in : array of shape (N, in_features), or None
        """
        self._require_forward(self._x)
        x, g = self._x, grad_out
        xp = array_namespace(x, g)
        self.grads["W"] += x.T @ g
        self.grads["b"] += xp.sum(g, axis=0)
        return g @ self.params["W"].T if input_grad else None

    def infer(self, x):
        """z = x @ W + b, x : (N, in_features) -> z : (N, out_features); no cache."""
        return x @ self.params["W"] + self.params["b"]

    def __repr__(self) -> str:
        return f"Dense({self.in_features}, {self.out_features})"


class Activation(Layer):
    """Element-wise h = f(z); backward is grad_out · f′(z).

    Parameters
    ----------
    activation : str or npae.activations.Activation
    """

    _caches = ("_z",)

    def __init__(self, activation):
        super().__init__()
        self.activation = A.get_activation(activation)
        self._z = None

    def forward(self, z):
        """h = f(z), z : (N, H) -> h : (N, H); cache z."""
        self._z = z
        return self.activation.f(z)

    def backward(self, grad_out, input_grad: bool = True):
        """dL/dz = dL/dh · f′(z), shapes (N, H); None with ``input_grad=False``."""
        self._require_forward(self._z)
        if not input_grad:
            return None
        return grad_out * self.activation.df(self._z)

    def infer(self, z):
        """h = f(z), shapes (N, H); no cache."""
        return self.activation.f(z)

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
        """Run every layer's backward in reverse order; return dL/dx for the network's input.

        ``input_grad=False`` is passed on to the first layer only (the network's input is data).
        """
        if not self.layers:  # the identity network
            return grad_out if input_grad else None
        for layer in reversed(self.layers[1:]):
            grad_out = layer.backward(grad_out)
        return self.layers[0].backward(grad_out, input_grad=input_grad)

    def infer(self, x):
        """Every layer's ``infer`` in order: the network's output, no layer keeping a cache."""
        for layer in self.layers:
            x = layer.infer(x)
        return x

    def zero_grad(self) -> None:
        for layer in self.layers:
            layer.zero_grad()

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


def dense_stack(sizes, activations, *, init, rng, dtype, backend):
    """A Sequential of Dense layers sizes[i] → sizes[i+1], each followed by ``activations[i]``.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths, input first: (D, H_1, ..., K) gives len(sizes) − 1 Dense layers.
    activations : sequence of str, Activation or None
        One per Dense layer; None leaves that layer linear.
    init, rng, dtype, backend
        Passed to every ``Dense``.
    """
    stack = []
    for fan_in, fan_out, act in zip(sizes[:-1], sizes[1:], activations):
        stack.append(Dense(fan_in, fan_out, init=init, rng=rng, dtype=dtype, backend=backend))
        if act is not None:
            stack.append(Activation(act))
    return Sequential(stack)
