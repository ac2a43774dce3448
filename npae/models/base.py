"""The estimator contract shared by every npae model, and checkpoint save/load.

Models are scikit-learn estimators: ``__init__`` stores hyperparameters only; parameters are
created on first contact with data (``fit``, ``partial_fit``, ``loss_and_grad``) with X's width,
the model's dtype and its backend's device. Subclasses build their layers and write the forward
and backward passes; this class owns validation, the training loop, conversions between host and
device, and persistence.

Subclass hooks
--------------
_build(n_features, rng)          create the layers (``encoder_``, ``decoder_``, ...) and the loss object
_check_data_range(X)             refuse data the loss cannot score; a pure check (raises or returns)
_observe_training_data(X, reset) record what training takes from the training data itself (the
                                 denoiser's clip range); fit and partial_fit call it, nothing else
_named_layers()                  [(prefix, layer)] of parameter-holding layers, in order
_encode(X) / _decode_output(Z)   device forward passes; ``_decode_output`` returns data space
_forward_backward(X, **kw)       batch objective (0-d array), extra logs, and gradients in layers
_training_objective(X)           what ``train_step`` descends (default ``_forward_backward(X)``;
                                 the denoiser corrupts X first, the VAE passes its warm-up β)
_sample_losses(X)                per-sample objective (N,) used by ``score_samples``
"""

from __future__ import annotations

import contextlib
import math
import numbers
import os
import threading
import weakref

from array_api_compat import array_namespace
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import NotFittedError

from npae import backend as B
from npae import io
from npae.optimizers import get_optimizer
from npae.training import DivergenceError, check_callbacks, train
from npae.validation import (
    check_array,
    check_hidden_sizes,
    check_option,
    check_positive_float,
    check_positive_int,
    check_verbose,
    restore_kind,
)

__all__ = ["BaseAutoencoder", "load", "MODEL_CLASSES"]

MODEL_CLASSES: dict = {}
INFERENCE_CHUNK = 8192

# One re-entrant lock per model, for the calls that write the layers' caches and gradients
# (``loss_and_grad``, ``train_step``): two threads interleaving forward and backward on one model
# would read each other's caches. Kept outside the instance so models still pickle and deepcopy.
_LOCKS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def _model_lock(model) -> threading.RLock:
    with _LOCKS_GUARD:
        lock = _LOCKS.get(model)
        if lock is None:
            lock = _LOCKS[model] = threading.RLock()
        return lock


@contextlib.contextmanager
def _all_or_nothing(model):
    """Run a fit so that a failure leaves the model as it was before the call.

    Yields a record whose ``training`` the caller sets once the training loop starts. A Ctrl-C
    during training, or a divergence, keeps the new state (the last completed step, the last
    finite state: the training loop guarantees both); any other failure, or a Ctrl-C while the
    new network is being built, puts back every attribute the model had. Layers are replaced,
    not changed in place, when a network is rebuilt, so the old ones are intact; in-place
    changes to parameters during training are undone by the training loop itself.
    """
    previous = dict(model.__dict__)
    record = type("FitRecord", (), {"training": False})()
    try:
        yield record
    except (KeyboardInterrupt, DivergenceError):
        if not record.training:
            model.__dict__.clear()
            model.__dict__.update(previous)
        raise
    except Exception:
        model.__dict__.clear()
        model.__dict__.update(previous)
        raise


class BaseAutoencoder(TransformerMixin, BaseEstimator):
    """Common machinery for npae's autoencoders (see the module docstring for the hooks)."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        MODEL_CLASSES[cls.__name__] = cls

    # ------------------------------------------------------------------ hyperparameters
    def _check_hyperparameters(self) -> None:
        """Refuse bad hyperparameters before anything changes. Subclasses extend it."""
        check_hidden_sizes(self.hidden_sizes)
        check_positive_int(self.latent_dim, "latent_dim")
        check_positive_int(self.batch_size, "batch_size")
        check_positive_int(self.epochs, "epochs")
        check_positive_float(self.learning_rate, "learning_rate")
        if getattr(self, "clip_norm", None) is not None:
            check_positive_float(self.clip_norm, "clip_norm")
        check_option(self.dtype, B.FLOAT_DTYPES, "dtype")
        check_verbose(self.verbose)
        if self.backend is not None:
            check_option(self.backend, B.BACKENDS, "backend")
        B.check_random_state(self.random_state)

    def _resolve_backend(self):
        if getattr(self, "backend_", None) is not None:
            return self.backend_
        return B.get_backend(self.backend)

    # ------------------------------------------------------------------ construction
    def _initialize(self, n_features: int, rng, backend) -> None:
        self.backend_ = backend
        self.n_features_in_ = int(n_features)
        self._rng = rng
        self._build(n_features, rng)
        self.optimizer_ = self._new_optimizer()
        self.history_ = {}

    def _new_optimizer(self):
        """The optimizer named by the hyperparameters, with ``clip_norm`` when it is set."""
        clip_norm = getattr(self, "clip_norm", None)
        options = {} if clip_norm is None else {"clip_norm": float(clip_norm)}
        return get_optimizer(self.optimizer, self.learning_rate, **options)

    def _training_rng(self, warm: bool):
        """The Generator a fit draws shuffles and noise from.

        A fresh fit seeds it from ``random_state``. A warm-started fit with the same int seed
        continues the stream the previous fit left off (as ``partial_fit`` does), so successive
        warm fits draw new shuffles and noise, still determined by the seed: two warm fits of one
        epoch draw what one fit of two epochs draws. A Generator given as ``random_state``
        advances by itself; None draws fresh entropy every time.
        """
        seed = self.random_state
        same_int_seed = (isinstance(seed, numbers.Integral) and not isinstance(seed, bool)
                         and getattr(self, "_rng_seed", None) == seed)
        if warm and same_int_seed and getattr(self, "_rng", None) is not None:
            return self._rng
        return B.check_random_state(seed)

    def _build(self, n_features: int, rng) -> None:
        raise NotImplementedError

    def _named_layers(self):
        raise NotImplementedError

    def _is_built(self) -> bool:
        return getattr(self, "n_features_in_", None) is not None and hasattr(self, "optimizer_")

    def _check_is_fitted(self) -> None:
        if not self._is_built():
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                "appropriate arguments before using this estimator."
            )

    # ------------------------------------------------------------------ parameters
    def parameters(self) -> dict:
        """The live parameter arrays, {"encoder.0.W": (in, out), "encoder.0.b": (out,), ...}.

        The arrays are the model's own (as in PyTorch): changing them in place changes the model.
        """
        self._check_is_fitted()
        return {f"{prefix}.{k}": v for prefix, layer in self._named_layers() for k, v in layer.params.items()}

    def gradients(self) -> dict:
        """The gradient arrays accumulated by the last backward pass, same keys as ``parameters``."""
        self._check_is_fitted()
        return {f"{prefix}.{k}": v for prefix, layer in self._named_layers() for k, v in layer.grads.items()}

    def zero_grad(self) -> None:
        """Set every layer's accumulated gradients back to zero.

        (With the fast kernels on NumPy, as with PyTorch's ``zero_grad()``, the gradients are None
        until the next backward pass writes them; ``npae.set_kernels("reference")`` zero-fills.)
        """
        for _, layer in self._named_layers():
            layer.zero_grad()

    def get_weights(self) -> dict:
        """Copies of the parameters (device arrays), for snapshots and early stopping."""
        return {k: array_namespace(v).asarray(v, copy=True) for k, v in self.parameters().items()}

    def set_weights(self, weights: dict) -> None:
        """Write ``weights`` (as from ``get_weights``) into the live parameter arrays, in place."""
        params = self.parameters()
        missing = set(params) - set(weights)
        if missing:
            raise ValueError(f"set_weights is missing parameters {sorted(missing)}.")
        for name, param in params.items():
            value = B.asarray(weights[name], dtype=param.dtype, backend=self.backend_)
            if tuple(value.shape) != tuple(param.shape):
                raise ValueError(f"{name} has shape {tuple(param.shape)}; got {tuple(value.shape)}.")
            param[...] = value

    def _ensure_float64(self, X) -> None:
        """Make this (copied) model float64, building it on X if needed (for gradient checks)."""
        if not self._is_built():
            self.dtype = "float64"
            Xb, _ = check_array(X, backend=self._resolve_backend(), dtype="float64",
                                estimator_name=type(self).__name__)
            self._initialize(Xb.shape[1], B.check_random_state(self.random_state), self._resolve_backend())
            return
        if self.dtype == "float64":
            return
        self.dtype = "float64"
        for _, layer in self._named_layers():
            for key in layer.params:
                layer.params[key] = array_namespace(layer.params[key]).astype(layer.params[key], self.backend_.xp.float64)
            layer.zero_grad()  # zeros of the new dtype
        self.optimizer_ = get_optimizer(self.optimizer, self.learning_rate)

    # ------------------------------------------------------------------ input handling
    def _validate(self, X, name: str = "X", n_features: int | None = None, target_check: bool = True):
        """Check X and move it to the model's device; a NumPy memory map stays on the host.

        A memory map (data larger than memory) is validated chunk by chunk (INFERENCE_CHUNK rows
        on the device at a time) and returned as it is; ``fit`` and the inference methods then
        stream it. Returns (X, kind) where kind says what came in (see ``restore_kind``).
        """
        backend = self._resolve_backend()
        if B.is_memmap(X) and len(X.shape) == 2 and X.shape[0] > 0:
            for start in range(0, X.shape[0], INFERENCE_CHUNK):
                stop = min(start + INFERENCE_CHUNK, X.shape[0])
                try:
                    chunk, _ = check_array(X[start:stop], backend=backend, dtype=self.dtype, name=name,
                                           n_features=n_features, estimator_name=type(self).__name__)
                    if target_check:
                        self._check_data_range(chunk)
                except ValueError as err:
                    raise ValueError(f"{err} (in the memory-mapped rows {start}..{stop - 1})") from None
            return X, "numpy"
        Xb, kind = check_array(X, backend=backend, dtype=self.dtype, name=name, n_features=n_features,
                               estimator_name=type(self).__name__)
        if target_check:
            self._check_data_range(Xb)
        return Xb, kind

    def _to_device(self, rows):
        """Host rows (a batch of a memory map) -> the model's device and dtype."""
        return B.asarray(rows, dtype=self.dtype, backend=self.backend_)

    def _check_data_range(self, Xb) -> None:
        """Refuse data the reconstruction loss cannot score (BCE needs [0, 1]); changes nothing."""

    def _observe_training_data(self, Xb, *, reset: bool) -> None:
        """Record what training takes from the training data X (N, D) itself, never from validation
        data: nothing by default. ``reset`` is False when training continues (``warm_start``,
        ``partial_fit``), so a subclass can merge with what it saw before."""

    def _chunks(self, fn, Xb):
        """Apply ``fn`` to row chunks of Xb and concatenate: bounded memory for big inputs."""
        n = Xb.shape[0]
        if B.is_memmap(Xb):
            parts = [fn(self._to_device(Xb[i:min(i + INFERENCE_CHUNK, n)])) for i in range(0, n, INFERENCE_CHUNK)]
            return parts[0] if len(parts) == 1 else array_namespace(parts[0]).concat(parts, axis=0)
        if n <= INFERENCE_CHUNK:
            return fn(Xb)
        xp = array_namespace(Xb)
        return xp.concat([fn(Xb[i:min(i + INFERENCE_CHUNK, n), ...]) for i in range(0, n, INFERENCE_CHUNK)], axis=0)

    # ------------------------------------------------------------------ training
    def fit(self, X, y=None, *, validation_data=None, callbacks=None):
        """Train on X for ``epochs`` epochs; returns self.

        Parameters
        ----------
        X : array-like of shape (N, D)
        y : ignored
            Present for scikit-learn pipelines.
        validation_data : array-like of shape (N_val, D), optional
            Evaluated once per epoch into ``history_["val_loss"]`` (and other ``val_`` terms).
        callbacks : list of npae.training.Callback, optional
            e.g. ``EarlyStopping``, ``TerminateOnNaN``, ``ModelCheckpoint``.

        Notes
        -----
        Everything is checked (hyperparameters, data, callbacks) before the model changes, and
        a new network is built before the old one is let go: if the fit then fails (a
        MemoryError, a callback's error), the model is left exactly as it was. A divergence
        raises ``npae.training.DivergenceError`` and keeps the last finite state; Ctrl-C keeps
        the last completed step and propagates (see ``npae.training``).
        """
        self._check_hyperparameters()
        warm = bool(getattr(self, "warm_start", False)) and self._is_built()
        Xb, _ = self._validate(X, n_features=self.n_features_in_ if warm else None)
        Xval = None
        if validation_data is not None:
            Xval, _ = self._validate(validation_data, name="validation_data", n_features=Xb.shape[1])
        callbacks = check_callbacks(callbacks, validation=Xval is not None)
        with _all_or_nothing(self) as record:
            rng = self._training_rng(warm)
            if not warm:
                self._initialize(Xb.shape[1], rng, self._resolve_backend())
            self._rng, self._rng_seed = rng, self.random_state
            self._observe_training_data(Xb, reset=not warm)
            record.training = True
            train(self, Xb, epochs=self.epochs, batch_size=self.batch_size, rng=self._rng,
                  history=self.history_, validation_data=Xval, callbacks=callbacks,
                  verbose=int(self.verbose), shuffle=True,
                  to_device=self._to_device if B.is_memmap(Xb) else None)
        return self

    def partial_fit(self, X, y=None):
        """One epoch over X (building the model on the first call); returns self.

        Failures leave the model as ``fit``'s do (see its Notes).
        """
        self._check_hyperparameters()
        built = self._is_built()
        Xb, _ = self._validate(X, n_features=self.n_features_in_ if built else None)
        with _all_or_nothing(self) as record:
            if not built:
                self._initialize(Xb.shape[1], B.check_random_state(self.random_state), self._resolve_backend())
                self._rng_seed = self.random_state
            self._observe_training_data(Xb, reset=not built)
            record.training = True
            train(self, Xb, epochs=1, batch_size=self.batch_size, rng=self._rng, history=self.history_,
                  verbose=0, shuffle=True, to_device=self._to_device if B.is_memmap(Xb) else None)
        return self

    def train_step(self, X):
        """One optimizer step on a device batch X (N, D); returns (loss, logs) as device scalars."""
        with _model_lock(self):
            self.zero_grad()
            loss, logs = self._training_objective(X)
            self.optimizer_.step(self._parameter_gradient_pairs())
        return loss, logs

    def _training_objective(self, X):
        """The objective a training step descends, with its gradients left in the layers: by
        default ``_forward_backward(X)``; a model that corrupts or anneals during training
        overrides this."""
        return self._forward_backward(X)

    def _parameter_gradient_pairs(self):
        """[(param, grad)] in ``parameters()`` order."""
        return [(param, layer.grads[k]) for _, layer in self._named_layers() for k, param in layer.params.items()]

    def _evaluate(self, Xb) -> dict:
        """Device scalars for validation: by default the mean per-sample objective."""
        xp = array_namespace(Xb)
        return {"loss": xp.mean(self._chunks(self._sample_losses, Xb))}

    def evaluate_logs(self, Xb) -> dict:
        return {k: float(v) for k, v in self._evaluate(Xb).items()}

    # ------------------------------------------------------------------ objective
    def loss_and_grad(self, X, **kwargs):
        """The full training objective on X and its gradient for every parameter.

        The loss is the batch mean of the per-sample objective (reconstruction summed over
        features, plus any penalty). Parameters are not updated (they are created on the first
        call if the model is not built yet).

        Returns
        -------
        loss : float
        grads : dict[str, array]
            Same keys and shapes as ``parameters()``, as the kind of array X was: copies, which
            later calls do not change.

        Notes
        -----
        Safe to call from several threads on one model: the forward and backward passes write
        per-layer caches and gradients, so calls on the same model take a lock and run one at a
        time (calls on different models run in parallel).
        """
        with _model_lock(self):
            self._check_hyperparameters()
            built = self._is_built()
            Xb, kind = self._validate(X, n_features=self.n_features_in_ if built else None)
            kwargs = self._validate_loss_kwargs(Xb, kwargs)
            if not built:
                self._initialize(Xb.shape[1], B.check_random_state(self.random_state), self._resolve_backend())
            if B.is_memmap(Xb):
                Xb = self._to_device(Xb)
            self.zero_grad()
            loss, _ = self._forward_backward(Xb, **kwargs)
            grads = {k: restore_kind(array_namespace(v).asarray(v, copy=True), kind)
                     for k, v in self.gradients().items()}
            return float(loss), grads

    def _validate_loss_kwargs(self, Xb, kwargs: dict) -> dict:
        if kwargs:
            raise TypeError(f"{type(self).__name__}.loss_and_grad() got unexpected arguments {sorted(kwargs)}.")
        return kwargs

    # ------------------------------------------------------------------ inference
    def transform(self, X):
        """Encode X (N, D) into codes Z (N, K); returns the kind of array given."""
        self._check_is_fitted()
        Xb, kind = self._validate(X, n_features=self.n_features_in_, target_check=False)
        return restore_kind(self._chunks(self._encode, Xb), kind)

    def encode(self, X):
        """Alias of ``transform``."""
        return self.transform(X)

    def inverse_transform(self, Z):
        """Decode codes Z (N, K) into data space (N, D) (probabilities for loss='bce')."""
        self._check_is_fitted()
        Zb, kind = self._validate(Z, name="Z", n_features=self.latent_dim, target_check=False)
        return restore_kind(self._chunks(self._decode_output, Zb), kind)

    def decode(self, Z):
        """Alias of ``inverse_transform``."""
        return self.inverse_transform(Z)

    def reconstruct(self, X):
        """Decode(encode(X)), shape (N, D), in data space."""
        self._check_is_fitted()
        Xb, kind = self._validate(X, n_features=self.n_features_in_, target_check=False)
        return restore_kind(self._chunks(lambda x: self._decode_output(self._encode(x)), Xb), kind)

    def score_samples(self, X):
        """Minus the per-sample objective (N,): higher means more normal (scikit-learn's sign)."""
        self._check_is_fitted()
        Xb, kind = self._validate(X, n_features=self.n_features_in_)
        return restore_kind(-self._chunks(self._sample_losses, Xb), kind)

    def score(self, X, y=None) -> float:
        """Mean of ``score_samples`` (higher is better), so ``GridSearchCV`` can rank models."""
        self._check_is_fitted()
        Xb, _ = self._validate(X, n_features=self.n_features_in_)
        xp = array_namespace(Xb)
        return -float(xp.mean(self._chunks(self._sample_losses, Xb)))

    # ------------------------------------------------------------------ persistence
    def save(self, path, *, include_optimizer: bool = True) -> None:
        """Write the model to ``path`` (.npz: arrays + JSON config; atomic; no pickle).

        With ``include_optimizer`` the optimizer state is saved too, so a loaded model can resume
        training (``warm_start=True`` or ``partial_fit``) exactly where it stopped.
        """
        self._check_is_fitted()
        arrays = {f"param:{k}": B.to_numpy(v) for k, v in self.parameters().items()}
        config = {
            "class": type(self).__name__,
            "params": _json_params(self.get_params(deep=False)),
            "n_features_in": self.n_features_in_,
            "history": self.history_,
            "optimizer_iterations": self.optimizer_.iterations,
        }
        if include_optimizer:
            arrays.update({f"optim:{k}": B.to_numpy(v) for k, v in self.optimizer_.state_arrays().items()})
        io.write_checkpoint(path, arrays, config)


def _json_params(params: dict) -> dict:
    out = {}
    for key, value in params.items():
        if isinstance(value, tuple):
            value = list(value)
        if value is None or isinstance(value, (bool, int, float, str, list)):
            out[key] = value
        elif isinstance(value, numbers.Integral):
            out[key] = int(value)
        elif isinstance(value, numbers.Real):
            out[key] = float(value)
        else:
            out[key] = None  # e.g. a Generator as random_state: not serialisable, not needed to load
    return out


def load(path, *, backend: str | None = None):
    """Load a model saved with ``model.save(path)``, on ``backend`` (default: the saved one).

    The class, parameter names, shapes and dtypes are validated against what the saved
    hyperparameters build; anything else is a ``npae.io.CheckpointError``.
    """
    arrays, config = io.read_checkpoint(path)
    where = os.fspath(path)
    cls = MODEL_CLASSES.get(config.get("class"))
    if cls is None:
        raise io.CheckpointError(
            f"{where!r} holds a {config.get('class')!r}, which is not an npae model "
            f"(known: {', '.join(sorted(MODEL_CLASSES))})."
        )
    params = {k: tuple(v) if isinstance(v, list) else v for k, v in dict(config.get("params", {})).items()}
    if backend is not None:
        params["backend"] = backend
    try:
        model = cls(**params)
        model._check_hyperparameters()
        n_features = int(config["n_features_in"])
    except (TypeError, ValueError, KeyError) as err:
        raise io.CheckpointError(f"{where!r} has an invalid config for {cls.__name__}: {err}") from err
    model._initialize(n_features, B.check_random_state(0), model._resolve_backend())
    expected = model.parameters()
    saved = {k[len("param:"):]: v for k, v in arrays.items() if k.startswith("param:")}
    if set(saved) != set(expected):
        raise io.CheckpointError(
            f"{where!r} does not match a {cls.__name__} with these hyperparameters: missing "
            f"{sorted(set(expected) - set(saved))}, unexpected {sorted(set(saved) - set(expected))}."
        )
    for name, param in expected.items():
        value = saved[name]
        if tuple(value.shape) != tuple(param.shape) or value.dtype.name != model.dtype:
            raise io.CheckpointError(
                f"{where!r}: parameter {name} is {value.dtype.name}{tuple(value.shape)}, expected "
                f"{model.dtype}{tuple(param.shape)}."
            )
        if not bool(math.isfinite(float(abs(value).max()))):
            raise io.CheckpointError(f"{where!r}: parameter {name} contains NaN or infinity.")
    model.set_weights(saved)
    model.history_ = {k: list(v) for k, v in dict(config.get("history", {})).items()}
    optim = {k[len("optim:"):]: v for k, v in arrays.items() if k.startswith("optim:")}
    if optim:
        params_in_order = [p for p, _ in model._parameter_gradient_pairs()]
        try:
            model.optimizer_.load_state_arrays(
                {k: B.asarray(v, dtype=model.dtype, backend=model.backend_) for k, v in optim.items()}, params_in_order)
        except KeyError as err:
            raise io.CheckpointError(f"{where!r}: optimizer state is incomplete ({err}).") from err
        model.optimizer_.iterations = int(config.get("optimizer_iterations", 0))
    return model
