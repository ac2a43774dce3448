"""Optimizers that update (parameter, gradient) pairs in place.

``step(pairs)`` takes a list of ``(param, grad)`` arrays in a fixed order (the model's
``parameters()`` order) and updates each ``param`` in place, so every reference to it (the layer,
the model) sees the new value. State (momenta, Adam moments) is kept per position.

Hyperparameters are Python floats: on float32 arrays they stay float32 (a NumPy scalar would
upcast, NEP 50).
"""

from __future__ import annotations

from array_api_compat import array_namespace

from npae.validation import check_float_in_range, check_nonnegative_float, check_option, check_positive_float

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "OPTIMIZERS", "get_optimizer", "clip_grad_norm"]


def clip_grad_norm(grads, max_norm: float):
    """Scale gradients so their global L2 norm ‖g‖ = √(Σ_i ‖g_i‖²) is at most ``max_norm``.

    The factor min(1, max_norm / (‖g‖ + 1e-6)) is computed on the device, so clipping never
    forces a host synchronisation. Returns the scaled list (new arrays).
    """
    xp = array_namespace(*grads)
    total = sum(xp.sum(g * g) for g in grads)
    scale = xp.minimum(max_norm / (xp.sqrt(total) + 1e-6), xp.ones_like(total))
    return [g * scale for g in grads]


def _copy(x):
    return array_namespace(x).asarray(x, copy=True)


class Optimizer:
    """Base class: learning rate, optional global-norm clipping and per-position state."""

    def __init__(self, learning_rate: float = 1e-3, *, clip_norm: float | None = None):
        self.learning_rate = check_positive_float(learning_rate, "learning_rate")
        self.clip_norm = None if clip_norm is None else check_positive_float(clip_norm, "clip_norm")
        self.iterations = 0
        self.state: list[dict] = []

    def step(self, pairs) -> None:
        """Update every ``param`` in ``pairs`` [(param, grad), ...] in place."""
        pairs = list(pairs)
        if not pairs:
            return
        grads = [g for _, g in pairs]
        if self.clip_norm is not None:
            grads = clip_grad_norm(grads, self.clip_norm)
        if not self.state:
            self.state = [self._init_state(p) for p, _ in pairs]
        elif len(self.state) != len(pairs):
            raise ValueError(
                f"{type(self).__name__} was set up for {len(self.state)} parameters but step() got "
                f"{len(pairs)}; use a new optimizer for a different model."
            )
        self.iterations += 1
        for (param, _), grad, state in zip(pairs, grads, self.state):
            self._update(param, grad, state)

    def _init_state(self, param) -> dict:
        return {}

    def _update(self, param, grad, state) -> None:
        raise NotImplementedError

    def state_arrays(self) -> dict:
        """Flat {"{i}.{name}": array} view of the state, for checkpoints."""
        return {f"{i}.{k}": v for i, s in enumerate(self.state) for k, v in s.items()}

    def snapshot(self) -> tuple:
        """A copy of the whole state (iteration count and every state array), for ``restore``.

        The training loop keeps one per epoch beside the weights: after a divergence the momenta
        are as poisoned as the weights (a NaN velocity, an infinite second moment), so both go
        back together.
        """
        return self.iterations, [{k: _copy(v) for k, v in s.items()} for s in self.state]

    def restore(self, snapshot: tuple) -> None:
        """Put back the state ``snapshot()`` returned (copied again, so it can be restored twice)."""
        iterations, state = snapshot
        self.iterations = iterations
        self.state = [{k: _copy(v) for k, v in s.items()} for s in state]

    def load_state_arrays(self, arrays: dict, params) -> None:
        """Restore ``state_arrays()`` output onto ``params`` (list of arrays, same order)."""
        self.state = [self._init_state(p) for p in params]
        for i, state in enumerate(self.state):
            for key in state:
                state[key] = arrays[f"{i}.{key}"]


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum and L2 weight decay.

    g ← g + λθ (weight decay, coupled);  v ← μ v + g;
    plain: θ ← θ − η g;  momentum: θ ← θ − η v;  Nesterov: θ ← θ − η (g + μ v).

    Parameters
    ----------
    learning_rate : float, default=0.01
        η. (A model's ``optimizer="sgd"`` uses the model's ``learning_rate`` instead.)
    momentum : float in [0, 1), default=0.0
        μ; a model's "momentum" and "nesterov" use 0.9.
    nesterov : bool, default=False
        Nesterov's look-ahead (needs momentum > 0).
    weight_decay : float, default=0.0
        λ ≥ 0, L2 weight decay added to the gradient.
    clip_norm : float or None, default=None
        Scale the gradients so their global L2 norm is at most this (``clip_grad_norm``).
    """

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0, *, clip_norm: float | None = None):
        super().__init__(learning_rate, clip_norm=clip_norm)
        self.momentum = check_nonnegative_float(momentum, "momentum")
        if self.momentum >= 1.0:
            raise ValueError(f"momentum must be in [0, 1); got {momentum!r}.")
        if nesterov and self.momentum == 0.0:
            raise ValueError("nesterov=True needs momentum > 0.")
        self.nesterov = bool(nesterov)
        self.weight_decay = check_nonnegative_float(weight_decay, "weight_decay")

    def _init_state(self, param) -> dict:
        if self.momentum == 0.0:
            return {}
        return {"velocity": array_namespace(param).zeros_like(param)}

    def _update(self, param, grad, state) -> None:
        if self.weight_decay:
            grad = grad + self.weight_decay * param
        if self.momentum == 0.0:
            param -= self.learning_rate * grad
            return
        v = state["velocity"]
        v *= self.momentum
        v += grad
        step = grad + self.momentum * v if self.nesterov else v
        param -= self.learning_rate * step


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015), with optional decoupled weight decay (AdamW, Loshchilov & Hutter).

    At step t, for every parameter θ with gradient g:

        m ← β₁ m + (1 − β₁) g            first moment (mean) of the gradients
        v ← β₂ v + (1 − β₂) g²           second moment (uncentred variance)
        m̂ = m / (1 − β₁ᵗ),  v̂ = v / (1 − β₂ᵗ)    bias corrections (m, v start at zero)
        θ ← θ − η λ θ                      decoupled weight decay (AdamW), if λ > 0
        θ ← θ − η m̂ / (√v̂ + ε)

    ``state`` holds m and v per parameter, the same numbers as PyTorch's ``exp_avg`` and
    ``exp_avg_sq``.

    Parameters
    ----------
    learning_rate : float, default=1e-3
        η.
    beta1 : float in [0, 1), default=0.9
        β₁, the decay rate of the first moment.
    beta2 : float in [0, 1), default=0.999
        β₂, the decay rate of the second moment.
    epsilon : float, default=1e-8
        ε, added to √v̂.
    weight_decay : float, default=0.0
        λ ≥ 0, decoupled weight decay (AdamW).
    clip_norm : float or None, default=None
        Scale the gradients so their global L2 norm is at most this (``clip_grad_norm``).
    """

    def __init__(self, learning_rate: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999,
                 epsilon: float = 1e-8, weight_decay: float = 0.0, *, clip_norm: float | None = None):
        super().__init__(learning_rate, clip_norm=clip_norm)
        self.beta1 = check_float_in_range(beta1, "beta1", 0.0, 1.0, include_low=True)
        self.beta2 = check_float_in_range(beta2, "beta2", 0.0, 1.0, include_low=True)
        self.epsilon = check_positive_float(epsilon, "epsilon")
        self.weight_decay = check_nonnegative_float(weight_decay, "weight_decay")

    def _init_state(self, param) -> dict:
        xp = array_namespace(param)
        return {"m": xp.zeros_like(param), "v": xp.zeros_like(param)}

    def moments(self) -> list[tuple]:
        """[(m, v)] per parameter, in ``parameters()`` order."""
        return [(s["m"], s["v"]) for s in self.state]

    def _update(self, param, grad, state) -> None:
        xp = array_namespace(param, grad)
        t = self.iterations
        state["m"] = self.beta1 * state["m"] + (1.0 - self.beta1) * grad
        state["v"] = self.beta2 * state["v"] + (1.0 - self.beta2) * grad * grad
        m_hat = state["m"] / (1.0 - self.beta1**t)
        v_hat = state["v"] / (1.0 - self.beta2**t)
        if self.weight_decay:
            param -= self.learning_rate * self.weight_decay * param
        param -= self.learning_rate * m_hat / (xp.sqrt(v_hat) + self.epsilon)

    def load_state_arrays(self, arrays: dict, params) -> None:
        """Restore ``state_arrays()`` output. Also reads checkpoint format 2, which stored the
        moments as running sums ``{i}.m_sum`` = m / (1 − β₁) and ``{i}.v_sum`` = v / (1 − β₂)."""
        if any(key.endswith(".m_sum") for key in arrays):
            arrays = {k: v for i in range(len(params)) for k, v in (
                (f"{i}.m", (1.0 - self.beta1) * arrays[f"{i}.m_sum"]),
                (f"{i}.v", (1.0 - self.beta2) * arrays[f"{i}.v_sum"]))}
        super().load_state_arrays(arrays, params)


class AdamW(Adam):
    """Adam with decoupled weight decay, default λ = 0.01 (as in PyTorch's AdamW)."""

    def __init__(self, learning_rate: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999,
                 epsilon: float = 1e-8, weight_decay: float = 0.01, *, clip_norm: float | None = None):
        super().__init__(learning_rate, beta1, beta2, epsilon, weight_decay, clip_norm=clip_norm)


OPTIMIZERS = {"sgd": SGD, "momentum": SGD, "nesterov": SGD, "adam": Adam, "adamw": AdamW}


def get_optimizer(name, learning_rate: float, **kwargs) -> Optimizer:
    """Build the optimizer called ``name`` ("sgd", "momentum", "nesterov", "adam", "adamw")."""
    if isinstance(name, Optimizer):
        return name
    name = check_option(name, tuple(OPTIMIZERS), "optimizer")
    if name == "momentum":
        kwargs.setdefault("momentum", 0.9)
    if name == "nesterov":
        kwargs.setdefault("momentum", 0.9)
        kwargs["nesterov"] = True
    return OPTIMIZERS[name](learning_rate, **kwargs)
