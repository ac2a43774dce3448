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
_training_state()                what training continues from besides weights and optimizer, as
_restore_training_state(state)   plain JSON for ``save`` and back in ``load`` (the training stream;
                                 the denoiser adds its data range)

Architecture: a fitted model is a value
---------------------------------------
What a fitted model computes is a function of one snapshot: the configuration as fitted (the
hyperparameters it was built or last warm-started with, ``_fitted_params``) and its weights.
``set_params`` after a fit changes the next fit from scratch, not the snapshot. Every consumer
reads the snapshot through ``_as_fitted()``, never ``get_params()``: npae's own methods, the
ONNX converters (``npae.onnx``), the Dask wrappers (``npae.dask``: output shapes and dtypes),
``npae.export.to_torch`` and ``save``; so no two of them can disagree. Inference draws nothing
from the training stream (the VAE has its own inference stream). The model's identity for
caching is its content: ``__dask_tokenize__`` hashes the snapshot, so Dask never serves a
result of the model as it was before ``partial_fit``, a warm start, ``set_weights`` or an
in-place edit of a parameter.

_score_rows(X)                   per-row terms (N,) whose mean is ``score`` (default: minus the
                                 squared reconstruction error in data space; the VAE: its ELBO)

Inference (``_encode``, ``_decode_output``, ``_sample_losses``, ``_score_rows``) runs the layers'
``infer``, which keeps no cache; only training (``_forward_backward``) runs ``forward``/``backward``.
So inference writes nothing a training step reads, and may run beside a fit of the same model.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import math
import numbers
import sys
import threading
import weakref

from array_api_compat import array_namespace
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import _check_feature_names, _get_feature_names

from npae import backend as B
from npae import io
from npae import losses
from npae.optimizers import get_optimizer
from npae.training import DivergenceError, check_callbacks, train
from npae.validation import (
    check_array,
    check_hidden_sizes,
    check_option,
    check_positive_float,
    check_positive_int,
    check_seed,
    check_squares_finite,
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


#: The optimizer attributes a warm start changes in place (``_apply_changed_params`` sets exactly these).
_OPTIMIZER_SETTINGS = ("learning_rate", "clip_norm")


@contextlib.contextmanager
def _all_or_nothing(model):
    """Run a fit so that a failure leaves the model as it was before the call, or trained.

    Yields a record whose ``training`` the caller sets once the training loop starts. A Ctrl-C
    (or SIGTERM under a handler) during training keeps the new state (the last completed step:
    the training loop guarantees it). A divergence, or any other error during training (a
    callback's, e.g. ``OSError`` from ``ModelCheckpoint`` on a full disk), keeps the model as at
    the end of the last completed epoch (the last finite state), with its history, when an epoch
    of this call completed. Otherwise (no epoch completed, or a failure while the new network is
    being built) every attribute the model had is put back, and so are the optimizer's
    ``learning_rate`` and ``clip_norm``, which a warm start sets in place. Layers are replaced,
    not changed in place, when a network is rebuilt, so the old ones are intact; in-place
    changes to parameters and optimizer state during training are undone by the training loop.
    """
    previous = dict(model.__dict__)
    # A warm start sets a changed learning_rate / clip_norm on the optimizer object itself (its
    # state is kept), and training draws from the model's Generator in place: neither is undone
    # by the shallow copy above, so remember them too.
    optimizer = previous.get("optimizer_")
    settings = {k: getattr(optimizer, k) for k in _OPTIMIZER_SETTINGS if hasattr(optimizer, k)}
    rng = previous.get("_rng")
    rng_state = getattr(getattr(rng, "bit_generator", None), "state", None)

    def put_back():
        # every old attribute back in one update, then the new ones dropped: a thread reading the
        # model meanwhile never finds it empty
        model.__dict__.update(previous)
        for key in [k for k in model.__dict__ if k not in previous]:
            del model.__dict__[key]
        for key, value in settings.items():
            setattr(optimizer, key, value)
        if rng_state is not None:
            rng.bit_generator.state = rng_state

    record = type("FitRecord", (), {"training": False, "epochs_before": 0})()
    try:
        yield record
    except KeyboardInterrupt:
        if not record.training:
            put_back()
        raise
    except Exception as err:  # a DivergenceError too: a refit that diverges at once keeps the fitted model
        history = getattr(model, "history_", None) or {}
        if not (record.training and len(history.get("loss", [])) > record.epochs_before):
            put_back()
            if isinstance(err, DivergenceError) and err.what:
                raise DivergenceError(
                    f"{err.what} No epoch of this call completed, so the model is as it was before the call"
                    f"{' (not fitted)' if not model._is_built() else ''}. {err.advice}"
                ) from err
        raise


class BaseAutoencoder(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Common machinery for npae's autoencoders (see the module docstring for the hooks).

    scikit-learn's feature-name contract: fitted on a DataFrame with string column names, a model
    records them in ``feature_names_in_`` and every later call checks X's columns against them
    (a reordered or renamed column raises, as in scikit-learn); ``get_feature_names_out()`` names
    the codes after the class, ``autoencoder0 … autoencoder{K-1}`` (as PCA's ``pca0 …``), and
    ``set_output(transform="pandas")`` (or "polars") makes ``transform`` return a DataFrame.

    Inference (``transform``, ``inverse_transform``, ``reconstruct``, ``score_samples``,
    ``score``) reads the model and writes nothing: it runs the layers' cache-free ``infer``, so it
    may run in threads beside a ``fit`` of the same model without changing that fit.
    """

    #: Hyperparameters a warm start (``warm_start=True`` fit, ``partial_fit``) may change after
    #: a fit: they steer training, not the network or its data space. A changed ``optimizer``
    #: starts a new optimizer (fresh state); a changed ``learning_rate`` or ``clip_norm`` is set on
    #: the current one (its state is kept). Any other change needs a fit from scratch.
    _WARM_START_OPTIONS = frozenset({
        "epochs", "batch_size", "verbose", "random_state", "warm_start",
        "optimizer", "learning_rate", "clip_norm",
        "sparsity", "sparsity_weight", "target_sparsity",
        "contractive_weight", "contractive_method", "noise", "noise_level", "beta", "kl_warmup_epochs",
    })

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        MODEL_CLASSES[cls.__name__] = cls

    def __sklearn_clone__(self):
        """``sklearn.base.clone``, plus the cloning process's backend and kernel mode: scikit-learn
        clones estimators before sending them to joblib workers (``cross_validate``,
        ``GridSearchCV`` with ``n_jobs``), and a worker that unpickles the clone takes these
        settings (``npae.backend.apply_settings``), as ``sklearn.config_context`` reaches them.
        A fitted model unpickled elsewhere changes no settings there."""
        clone = super().__sklearn_clone__()
        try:
            clone._npae_settings = B.settings()
        except ValueError:  # an invalid NPAE_BACKEND / NPAE_KERNELS: the fit will say so
            pass
        return clone

    def __setstate__(self, state):
        super().__setstate__(state)
        if getattr(self, "backend_", None) is None:  # an unfitted clone sent to a worker, not a fitted model
            B.apply_settings(getattr(self, "_npae_settings", None))  # (only in another process)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # transform returns the model's dtype whatever came in (float32 by default)
        tags.transformer_tags.preserves_dtype = [self.dtype] if self.dtype in B.FLOAT_DTYPES else []
        return tags

    @property
    def stop_training(self) -> bool:
        """Set True (by a callback) to end ``fit`` after the current epoch, as in Keras.

        Stored privately, so that ``fit`` adds only trailing-underscore attributes (scikit-learn).
        """
        return getattr(self, "_stop_training", False)

    @stop_training.setter
    def stop_training(self, value) -> None:
        self._stop_training = bool(value)

    # ------------------------------------------------------------------ fitted configuration
    # scikit-learn's rule: set_params changes what the next fit from scratch builds, never the
    # fitted model. The hyperparameters the model was built with are recorded when it is built;
    # inference, scoring and save use them, and a warm start applies or refuses the changes.
    def _record_fitted_params(self) -> None:
        """Remember the current hyperparameters as the ones the fitted model follows."""
        self._fitted_params = {k: v if k == "random_state" else copy.deepcopy(v)  # a Generator stays itself
                               for k, v in self.get_params(deep=False).items()}

    def _changed_params(self) -> list:
        """Names of the hyperparameters changed (``set_params`` or assignment) since the fit."""
        fitted = getattr(self, "_fitted_params", None)
        if fitted is None:
            return []
        return [k for k, v in fitted.items() if not self._same_param(k, v, getattr(self, k, None))]

    def _same_param(self, name: str, fitted, current) -> bool:
        if fitted is current:
            return True
        if name == "backend":
            resolved = getattr(getattr(self, "backend_", None), "name", None)
            return current is None or current == fitted or current == resolved
        if name == "hidden_sizes":
            try:
                return check_hidden_sizes(fitted) == check_hidden_sizes(current)
            except ValueError:
                return False
        try:
            return _plain(fitted, name) == _plain(current, name)
        except TypeError:
            return False

    def _as_fitted(self):
        """This model as fitted: a shallow copy of its attributes, read in one go (it shares the
        layers, so nothing is copied but names), holding the fitted values of any hyperparameter
        changed since the fit. One read: a fit in another thread publishes a new network in one
        update (``_initialize``), so a caller works on the old network or the new one throughout."""
        view = object.__new__(type(self))
        view.__dict__.update(self.__dict__)
        changed = view._changed_params()
        if changed:
            view.__dict__.update({k: view._fitted_params[k] for k in changed})
        return view

    def __dask_tokenize__(self):
        """Dask's name for this model: a hash of its fitted snapshot (class, configuration as
        fitted, backend, dtype, number of features, every parameter's name, shape, dtype and
        bytes), so any change to the weights gives a new name. An unfitted model is named by
        its class and hyperparameters."""
        if not self._is_built():
            return (type(self).__qualname__, "unfitted", repr(sorted(self.get_params(deep=False).items())))
        model = self._as_fitted()
        config = json.dumps(_json_params(model.get_params(deep=False)), sort_keys=True)
        digest = hashlib.sha256(config.encode())
        for name, value in model.parameters().items():
            host = B.to_numpy(value)
            digest.update(f"{name}:{host.dtype.str}:{tuple(host.shape)}".encode())
            digest.update(host.tobytes())
        return (type(self).__qualname__, model.backend_.name, str(model.dtype), int(model.n_features_in_),
                digest.hexdigest())

    def _apply_changed_params(self) -> None:
        """Before a warm start: refuse changed hyperparameters that need a new network, apply the
        ones that steer training (see ``_WARM_START_OPTIONS``), and record them as fitted."""
        changed = self._changed_params()
        if not changed:
            return
        refit = [k for k in changed if k not in self._WARM_START_OPTIONS]
        if refit:
            was = ", ".join(f"{k}={self._fitted_params[k]!r}" for k in refit)
            now = ", ".join(f"{k}={getattr(self, k)!r}" for k in refit)
            raise ValueError(
                f"This {type(self).__name__} was fitted with {was}; training cannot continue with {now}, "
                "which changes the network or its data space. Fit from scratch to use them (warm_start=False, "
                "or a new model), or set them back with set_params."
            )
        if "optimizer" in changed:
            self.optimizer_ = self._new_optimizer()
        else:  # set in place (the optimizer's state is kept); _all_or_nothing puts them back on failure
            for name in _OPTIMIZER_SETTINGS:
                if name in changed:
                    value = getattr(self, name, None)
                    setattr(self.optimizer_, name, None if value is None else float(value))
        self._record_fitted_params()

    # ------------------------------------------------------------------ feature names
    @property
    def _n_features_out(self) -> int:
        """K, the width of ``transform``'s output (``get_feature_names_out`` names K codes)."""
        if not self._is_built():
            raise AttributeError("_n_features_out")  # not fitted: check_is_fitted says so
        return int(self._as_fitted().latent_dim)

    def _set_feature_names(self, X) -> None:
        """Record X's column names as ``feature_names_in_`` (or forget old ones): first contact."""
        _check_feature_names(self, X, reset=True)

    def _check_code_names(self, Z) -> None:
        """Codes given as a DataFrame must carry ``get_feature_names_out()``'s names, in order."""
        names = _get_feature_names(Z)
        if names is None:
            return
        expected = list(self.get_feature_names_out())
        if list(names) != expected:
            shown = ", ".join(expected[:5]) + (", …" if len(expected) > 5 else "")
            raise ValueError(
                f"The code names should match get_feature_names_out() ({shown}), in that order; got "
                f"{list(names)[:5]}{' …' if len(names) > 5 else ''}. Pass the output of transform "
                "(with set_output(transform='pandas')) or a plain array."
            )

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
        check_seed(self.random_state)
        _json_params(self.get_params(deep=False))  # a fitted model can always be saved

    def _resolve_backend(self):
        if getattr(self, "backend_", None) is not None:
            return self.backend_
        return B.get_backend(self.backend)

    # ------------------------------------------------------------------ construction
    def _check_network_size(self, n_features: int) -> None:
        """Refuse widths whose weight matrices no machine can hold, before anything is allocated.

        Every model has Dense weights between consecutive widths (D, H_1, …, K); one whose bytes
        pass ``sys.maxsize`` cannot be allocated anywhere (NumPy would say "Maximum allowed
        dimension exceeded" or "array is too big").
        """
        sizes = (int(n_features), *check_hidden_sizes(self.hidden_sizes), int(self.latent_dim))
        itemsize = 8 if self.dtype == "float64" else 4
        for fan_in, fan_out in zip(sizes, sizes[1:]):
            nbytes = fan_in * fan_out * itemsize
            if nbytes > sys.maxsize:
                raise ValueError(
                    f"{type(self).__name__} with hidden_sizes={self.hidden_sizes!r}, latent_dim={self.latent_dim!r} "
                    f"on {n_features} features needs a {fan_in} x {fan_out} weight matrix ({nbytes:.3g} bytes "
                    f"in {self.dtype}), more than any machine can allocate. Use smaller widths (a code of "
                    "2 to a few hundred units is usual)."
                )

    def _initialize(self, n_features: int, rng, backend) -> None:
        """Build a new network (layers, optimizer, empty history) for ``n_features`` inputs.

        It is built on a copy of the model and published in one update of the model's attributes,
        so a thread running inference meanwhile (``_as_fitted`` reads them in one go) sees the old
        network or the new one, never the new layers with the old configuration.
        """
        self._check_network_size(n_features)
        staged = object.__new__(type(self))
        staged.__dict__.update(self.__dict__)
        staged.backend_ = backend
        staged.n_features_in_ = int(n_features)
        staged._rng = rng
        staged._build(n_features, rng)
        staged.optimizer_ = staged._new_optimizer()
        staged.history_ = {}
        staged._record_fitted_params()
        self.__dict__.update(staged.__dict__)

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

    def _training_state(self) -> dict:
        """What training continues from besides the weights and the optimizer, as plain JSON
        (``save`` stores it): the training stream's state (``rng``, when its bit generator's
        state is plain JSON, as ``default_rng``'s PCG64 is) and the int seed it was started
        from (``rng_seed``), so that a loaded model's warm fit or ``partial_fit`` draws what
        the saved one would have drawn. Subclasses add their own entries."""
        seed = getattr(self, "_rng_seed", None)
        state = {"rng_seed": int(seed) if isinstance(seed, numbers.Integral) and not isinstance(seed, bool) else None}
        rng = io.generator_state(getattr(self, "_rng", None))
        if rng is not None:
            state["rng"] = rng
        return state

    def _restore_training_state(self, state: dict) -> None:
        """Set what ``_training_state`` returned on a loaded (built) model; ValueError or
        TypeError for anything malformed (``load`` reports it as a CheckpointError)."""
        seed = state.get("rng_seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"rng_seed must be an integer or null; got {seed!r}")
        if "rng" in state:
            self._rng = io.generator_from_state(state["rng"])
            self._rng_seed = seed

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
        """Clear every layer's accumulated gradients before the next backward pass.

        The reference sets them to zeros; the fast kernels leave them None until the backward
        writes them (PyTorch's ``zero_grad(set_to_none=True)``), saving a pass over every weight.
        Read ``gradients()`` after a backward pass (``loss_and_grad`` returns them), not between
        ``zero_grad`` and the next backward (see ``npae.layers.Layer.zero_grad``).
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
        self._record_fitted_params()

    # ------------------------------------------------------------------ input handling
    def _validate(self, X, name: str = "X", n_features: int | None = None, target_check: bool = True,
                  training: bool = False, names: str | None = "input"):
        """Check X and move it to the model's device; a NumPy memory map stays on the host.

        ``names`` says which column names a DataFrame must carry: "input" checks them against
        ``feature_names_in_`` (scikit-learn's rule: reordered or renamed columns raise, a name
        missing on one side warns), "codes" against ``get_feature_names_out()``, None checks
        nothing (first contact with data: ``fit`` records them).

        ``training`` (fit, partial_fit) also refuses data whose squares overflow the dtype, so
        that an infinite loss is blamed on the data and not on the learning rate.

        A memory map (data larger than memory) is validated chunk by chunk (INFERENCE_CHUNK rows
        on the device at a time) and returned as it is; ``fit`` and the inference methods then
        stream it. Returns (X, kind) where kind says what came in (see ``restore_kind``).
        """
        if names == "input":
            _check_feature_names(self, X, reset=False)
        elif names == "codes":
            self._check_code_names(X)
        else:
            _get_feature_names(X)  # mixed str/non-str column names: scikit-learn's TypeError, now
        backend = self._resolve_backend()
        if B.is_memmap(X) and len(X.shape) == 2 and X.shape[0] > 0:
            for start in range(0, X.shape[0], INFERENCE_CHUNK):
                stop = min(start + INFERENCE_CHUNK, X.shape[0])
                try:
                    chunk, _ = check_array(X[start:stop], backend=backend, dtype=self.dtype, name=name,
                                           n_features=n_features, estimator_name=type(self).__name__)
                    if target_check:
                        self._check_data_range(chunk, name)
                    if training:
                        check_squares_finite(chunk, name)
                except ValueError as err:
                    raise ValueError(f"{err} (in the memory-mapped rows {start}..{stop - 1})") from None
            return X, "numpy"
        Xb, kind = check_array(X, backend=backend, dtype=self.dtype, name=name, n_features=n_features,
                               estimator_name=type(self).__name__)
        if target_check:
            self._check_data_range(Xb, name)
        if training:
            check_squares_finite(Xb, name)
        return Xb, kind

    def _to_device(self, rows):
        """Host rows (a batch of a memory map) -> the model's device and dtype."""
        return B.asarray(rows, dtype=self.dtype, backend=self.backend_)

    def _check_data_range(self, Xb, name: str = "X") -> None:
        """Refuse data the reconstruction loss cannot score (BCE needs [0, 1]); changes nothing.
        ``name`` is the argument the data came in, for the message (X, validation_data)."""

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
            The rows alone, not Keras's ``(x_val, y_val)``: the target is the input.
        callbacks : list of npae.training.Callback, optional
            e.g. ``EarlyStopping``, ``TerminateOnNaN``, ``ModelCheckpoint``.

        Notes
        -----
        Everything is checked (hyperparameters, data, callbacks) before the model changes, and
        a new network is built before the old one is let go: if the fit fails before an epoch
        completes, the model is left exactly as it was. An error after that (a callback's, e.g.
        ``ModelCheckpoint`` on a full disk; a MemoryError) keeps the last completed epoch and
        its history (a warm start keeps its earlier epochs too) and propagates. A divergence
        raises ``npae.training.DivergenceError`` and keeps the last finite state of this call (the
        model as before the call when no epoch of it completed); Ctrl-C (and
        SIGTERM under the command line) keeps the last completed step and propagates (see
        ``npae.training``).
        """
        self._check_hyperparameters()
        warm = bool(getattr(self, "warm_start", False)) and self._is_built()
        Xb, _ = self._validate(X, n_features=self.n_features_in_ if warm else None, training=True,
                               names="input" if warm else None)
        Xval = None
        if validation_data is not None:
            _refuse_keras_validation_tuple(validation_data)
            _check_same_names(X, validation_data)
            Xval, _ = self._validate(validation_data, name="validation_data", n_features=Xb.shape[1],
                                     names="input" if warm else None)
        callbacks = check_callbacks(callbacks, validation=Xval is not None, logged=self._log_names(Xval is not None))
        with _all_or_nothing(self) as record:
            if warm:
                self._apply_changed_params()  # or refuse them (set_params since the fit)
            rng = self._training_rng(warm)
            if not warm:
                self._initialize(Xb.shape[1], rng, self._resolve_backend())
                self._set_feature_names(X)
            self._rng, self._rng_seed = rng, self.random_state
            self._observe_training_data(Xb, reset=not warm)
            record.training, record.epochs_before = True, len(self.history_.get("loss", []))
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
        Xb, _ = self._validate(X, n_features=self.n_features_in_ if built else None, training=True,
                               names="input" if built else None)
        with _all_or_nothing(self) as record:
            if built:
                self._apply_changed_params()  # or refuse them (set_params since the fit)
            if not built:
                self._initialize(Xb.shape[1], B.check_random_state(self.random_state), self._resolve_backend())
                self._set_feature_names(X)
                self._rng_seed = self.random_state
            self._observe_training_data(Xb, reset=not built)
            record.training, record.epochs_before = True, len(self.history_.get("loss", []))
            train(self, Xb, epochs=1, batch_size=self.batch_size, rng=self._rng, history=self.history_,
                  verbose=0, shuffle=True, to_device=self._to_device if B.is_memmap(Xb) else None)
        return self

    def _fixed_randomness(self, X, rng) -> dict:
        """``loss_and_grad`` keyword arguments that fix what its objective would sample on X (a
        gradient check needs a deterministic objective); none for a deterministic model."""
        return {}

    #: What ``train_step`` logs besides "loss", and what ``_evaluate`` returns besides "loss"
    #: (logged as ``val_*``): the names callbacks may read, checked before a fit starts.
    _TRAIN_LOGS: tuple = ()
    _VALIDATION_LOGS: tuple = ()

    def _log_names(self, validation: bool) -> list:
        """The per-epoch names a fit logs into ``history_`` (and hands callbacks)."""
        names = ["loss", *self._TRAIN_LOGS]
        return names + [f"val_{k}" for k in ("loss", *self._VALIDATION_LOGS)] if validation else names

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
        return {"loss": finite_row_mean(self._chunks(self._sample_losses, Xb))}

    def evaluate_logs(self, Xb) -> dict:
        """The validation figures of rows Xb (already on the model's backend, (N, D)) as host floats:
        ``{"loss": …}`` plus the model's other terms, what ``fit`` logs as ``val_*`` each epoch
        (the training loop's protocol, ``npae.training``). A row whose value overflows counts as the
        dtype's largest, as in ``score_samples``."""
        with B.ignoring_overflow():  # an overflowing row counts as the dtype's largest value
            return {k: float(v) for k, v in self._evaluate(Xb).items()}

    # ------------------------------------------------------------------ objective
    def loss_and_grad(self, X, **kwargs):
        """The full training objective on X and its gradient for every parameter.

        The loss is the batch mean of the per-sample objective (reconstruction summed over
        features, plus any penalty). Parameters are not updated (they are created on the first
        call if the model is not built yet). A built model computes the objective it was fitted
        with (loss, penalty weights, dtype), like ``score_samples``: hyperparameters changed by
        ``set_params`` since take effect at the next fit.

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
            built = self._is_built()
            if not built:
                self._check_hyperparameters()
            # A built model computes its fitted objective (loss, penalty weights, dtype), as
            # score_samples does, whatever set_params said since: the snapshot shares the layers.
            model = self._as_fitted() if built else self
            Xb, kind = model._validate(X, n_features=model.n_features_in_ if built else None,
                                       names="input" if built else None)
            kwargs = model._validate_loss_kwargs(Xb, kwargs)
            if not built:
                self._initialize(Xb.shape[1], B.check_random_state(self.random_state), self._resolve_backend())
                self._set_feature_names(X)
            if B.is_memmap(Xb):
                Xb = model._to_device(Xb)
            model.zero_grad()
            loss, _ = model._forward_backward(Xb, **kwargs)
            grads = {k: restore_kind(array_namespace(v).asarray(v, copy=True), kind)
                     for k, v in model.gradients().items()}
            return float(loss), grads

    def _validate_loss_kwargs(self, Xb, kwargs: dict) -> dict:
        if kwargs:
            raise TypeError(f"{type(self).__name__}.loss_and_grad() got unexpected arguments {sorted(kwargs)}.")
        return kwargs

    # ------------------------------------------------------------------ inference
    def transform(self, X):
        """Encode X (N, D) into codes Z (N, K); returns the kind of array given."""
        self._check_is_fitted()
        model = self._as_fitted()
        Xb, kind = model._validate(X, n_features=model.n_features_in_, target_check=False)
        return restore_kind(model._chunks(model._encode, Xb), kind)

    def encode(self, X):
        """Alias of ``transform``."""
        return self.transform(X)

    def inverse_transform(self, Z):
        """Decode codes Z (N, K) into data space (N, D) (probabilities for loss='bce')."""
        self._check_is_fitted()
        model = self._as_fitted()
        Zb, kind = model._validate(Z, name="Z", n_features=model.latent_dim, target_check=False, names="codes")
        return restore_kind(model._chunks(model._decode_output, Zb), kind)

    def decode(self, Z):
        """Alias of ``inverse_transform``."""
        return self.inverse_transform(Z)

    def reconstruct(self, X):
        """Decode(encode(X)), shape (N, D), in data space."""
        self._check_is_fitted()
        model = self._as_fitted()
        Xb, kind = model._validate(X, n_features=model.n_features_in_, target_check=False)
        return restore_kind(model._chunks(lambda x: model._decode_output(model._encode(x)), Xb), kind)

    def score_samples(self, X):
        """Minus the per-sample objective (N,): higher means more normal (scikit-learn's sign).

        The objective of one row is what training minimises for it: the reconstruction loss
        (BCE on logits or squared error, summed over features) plus the model's per-row penalty.
        Its scale therefore depends on ``loss`` and on penalty weights: it ranks rows for one
        model (anomaly detection), while ``score`` compares models. A row whose objective
        overflows the dtype (values near its limit, e.g. ±3e38 in float32) scores
        −finfo(dtype).max, the lowest finite score, instead of −inf or NaN.
        """
        self._check_is_fitted()
        model = self._as_fitted()
        Xb, kind = model._validate(X, n_features=model.n_features_in_)
        with B.ignoring_overflow():  # an overflowing row gets the lowest finite score here
            return restore_kind(-_finite_losses(model._chunks(model._sample_losses, Xb)), kind)

    def reconstruction_error(self, X):
        """Squared reconstruction error in data space per row, e_n = Σ_d (x̂_nd − x_nd)², shape (N,).

        x̂ = ``reconstruct(X)`` (probabilities for loss="bce", so both losses are measured on one
        scale); no penalty is included. A row whose error overflows the dtype gets
        finfo(dtype).max. Returns the kind of array given.
        """
        self._check_is_fitted()
        model = self._as_fitted()
        Xb, kind = model._validate(X, n_features=model.n_features_in_, target_check=False)
        with B.ignoring_overflow():  # an overflowing row gets finfo(dtype).max here
            return restore_kind(_finite_losses(model._chunks(model._reconstruction_errors, Xb)), kind)

    def _reconstruction_errors(self, X):
        """Σ_d (x̂_nd − x_nd)², x̂ = decode(encode(X)): (N, D) -> (N,)."""
        return losses.squared_error(X, self._decode_output(self._encode(X)))

    def _score_rows(self, X):
        """Per-row terms whose mean is ``score`` (device, (N,)): minus the reconstruction error."""
        return -_finite_losses(self._reconstruction_errors(X))

    def score(self, X, y=None) -> float:
        """Minus the mean squared reconstruction error in data space: −mean_n Σ_d (x̂_nd − x_nd)².

        One scale for every model of a class, whatever it was trained to minimise: x̂ is
        ``reconstruct(X)`` (probabilities for loss="bce"), and penalties (sparsity, contractive)
        are left out, so ``GridSearchCV`` over ``loss``, ``sparsity_weight``,
        ``contractive_weight`` or ``noise_level`` ranks models by how well they reconstruct, not
        by the size of their objective. It is therefore not the mean of ``score_samples`` (minus
        the training objective), except for loss="mse" without a penalty. The VAE scores its
        ELBO instead (see ``VAE.score``). For another criterion pass ``scoring=`` to the search.

        Data the model's loss cannot take is refused, as in ``score_samples`` (a BCE model: X in
        [0, 1]); in a Pipeline, ``MinMaxScaler(clip=True)`` keeps held-out rows in that range.
        """
        self._check_is_fitted()
        model = self._as_fitted()
        Xb, _ = model._validate(X, n_features=model.n_features_in_)
        with B.ignoring_overflow():  # overflowing rows count as the largest finite error
            return _finite_mean(model._chunks(model._row_scorer(), Xb))

    def _row_scorer(self):
        """The function ``score`` applies to each chunk of rows (the VAE binds one Generator to
        it, so that the chunks of one call draw different noise)."""
        return self._score_rows

    # ------------------------------------------------------------------ persistence
    def save(self, path, *, include_optimizer: bool = True) -> None:
        """Write the model to ``path`` (.npz: arrays + JSON config; atomic; no pickle).

        With ``include_optimizer`` the optimizer state is saved too, and so is the state of the
        training random stream (shuffles, noise, the VAE's eps) and what the model took from its
        training data (the denoiser's data range), so a loaded model resumes training
        (``warm_start=True`` or ``partial_fit``) exactly where it stopped: fit(2 epochs), save,
        load and a warm fit of 1 epoch give the weights of fit(3 epochs), bit for bit. (A
        ``random_state`` Generator whose bit generator's state is not plain JSON, MT19937 or
        Philox, is not stored: the loaded model's ``partial_fit`` then starts the stream of its
        ``random_state``.)

        The file holds the model as fitted: the hyperparameters it was built with, plus those
        changed since by ``set_params``, which ``load`` sets again, so the loaded model is in the
        same state. A ``numpy.random.Generator`` given as ``random_state`` is not saved (the
        loaded model has None). Only a regular file is replaced (see ``npae.io``). ``path`` is a
        str, bytes or PathLike path (``~`` expanded), or a binary file object such as
        ``io.BytesIO`` (written, not closed, as ``numpy.savez`` does).

        Parameters
        ----------
        path : str, bytes, os.PathLike or binary file object
            Written exactly there (no ``.npz`` is added, as ``torch.save``).
        include_optimizer : bool, default=True
            Save the optimizer state and the training stream too (to resume training exactly);
            False writes only what inference needs, and a loaded model's optimizer starts afresh.

        Raises
        ------
        ValueError
            A parameter or the optimizer state holds NaN or infinity (a diverged fit): no
            checkpoint stores those, since ``load`` refuses them.
        npae.io.CheckpointError
            ``path`` is a symbolic link, a directory, a FIFO or a device.
        """
        self._check_is_fitted()
        params = self.parameters()
        state = self.optimizer_.state_arrays() if include_optimizer else {}
        for what, values in (("parameter", params), ("optimizer state", state)):
            for name, value in values.items():
                xp = array_namespace(value)
                if not bool(xp.all(xp.isfinite(value))):
                    raise ValueError(
                        f"Cannot save this {type(self).__name__}: {what} {name} contains NaN or infinity (a "
                        "diverged fit), and load() refuses such files. Refit (e.g. with a lower learning_rate), "
                        "or keep the checkpoints npae.training.ModelCheckpoint wrote before the divergence."
                    )
        arrays = {f"param:{k}": B.to_numpy(v) for k, v in params.items()}
        arrays.update({f"optim:{k}": B.to_numpy(v) for k, v in state.items()})
        fitted = getattr(self, "_fitted_params", None) or self.get_params(deep=False)
        config = {
            "class": type(self).__name__,
            "params": _json_params(fitted),
            "n_features_in": int(self.n_features_in_),
            "history": {str(k): _plain(list(v), "history") for k, v in self.history_.items()},
            # without its state, a loaded optimizer starts afresh (Adam's bias correction from step 1)
            "optimizer_iterations": int(self.optimizer_.iterations) if include_optimizer else 0,
        }
        config["training"] = self._training_state()
        names = getattr(self, "feature_names_in_", None)
        if names is not None:  # a loaded model checks a DataFrame's columns as this one does
            config["feature_names_in"] = [str(name) for name in names]
        changed = self._changed_params()
        if changed:
            config["set_params"] = _json_params({k: getattr(self, k) for k in changed})
        _model_from_config(type(self), config, None, "this model's config")  # refuse what load would refuse
        io.write_checkpoint(path, arrays, config)


def _finite_losses(values):
    """values (N,) with NaN and ±inf replaced by the dtype's largest finite number: a row whose loss
    overflows (inputs near the dtype's limit) gets the largest loss, so it ranks last, not as NaN."""
    xp = array_namespace(values)
    return xp.where(xp.isfinite(values), values, float(xp.finfo(values.dtype).max))


def finite_row_mean(values) -> float:
    """The mean of per-row values (N,) as validation reports it: a row whose value overflowed
    (NaN or ±inf) counts as the dtype's largest finite number, as in ``score_samples``, so one
    extreme row gives a large ``val_loss``, never NaN."""
    return _finite_mean(_finite_losses(values))


def _finite_mean(values) -> float:
    """The mean of finite values (N,) as a float, in float64 and as Σ (v/N) so that it cannot
    overflow; ±finfo(float64).max if it still would."""
    xp = array_namespace(values)
    v = xp.astype(values, xp.float64)
    mean = float(xp.sum(v / v.shape[0]))
    return mean if math.isfinite(mean) else math.copysign(float(xp.finfo(xp.float64).max), mean)


def _refuse_keras_validation_tuple(validation_data) -> None:
    """Refuse Keras's ``validation_data=(X_val, y_val)``: a tuple whose first item is a 2-D array
    (a tuple of rows, 1-D each, is still an array-like and passes)."""
    if not (isinstance(validation_data, tuple) and 2 <= len(validation_data) <= 3):
        return
    first = validation_data[0]
    if len(getattr(first, "shape", ())) == 2:
        raise TypeError(
            f"validation_data must be one array-like of shape (N_val, D), the rows to reconstruct; got a "
            f"tuple of {len(validation_data)} arrays, as Keras takes (x_val, y_val). An autoencoder's "
            "target is its input: pass validation_data=X_val."
        )


def _check_same_names(X, X_val) -> None:
    """Validation data given as a DataFrame must have the training DataFrame's columns, in order."""
    names, val_names = _get_feature_names(X), _get_feature_names(X_val)
    if names is None or val_names is None:
        return
    if len(names) != len(val_names) or any(a != b for a, b in zip(names, val_names)):
        raise ValueError(
            "The feature names of validation_data should match those of X, in the same order; got "
            f"{list(val_names)[:5]} for {list(names)[:5]}. Select its columns as X's: validation_data[X.columns]."
        )


def _plain(value, name: str):
    """``value`` as plain JSON: NumPy scalars and arrays become Python numbers and lists, tuples
    lists; anything else (a dict, an object) is refused, naming the hyperparameter."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v, name) for v in value]
    if hasattr(value, "dtype") and callable(getattr(value, "tolist", None)):  # NumPy scalars and arrays
        return _plain(value.tolist(), name)
    raise TypeError(
        f"{name}={value!r} is not a plain value (None, a bool, a number, a string, or a list of them), so "
        "a model fitted with it could not be saved; pass e.g. a tuple of ints or a string instead."
    )


def _json_params(params: dict) -> dict:
    """Hyperparameters as plain JSON (see ``_plain``); a Generator or RandomState as
    ``random_state`` becomes None (the stream is not stored, and loading does not need it)."""
    out = {}
    for key, value in params.items():
        if key == "random_state" and not (value is None or isinstance(value, numbers.Integral)):
            out[key] = None
        else:
            out[key] = _plain(value, key)
    return out


def _tuples(value):
    return tuple(value) if isinstance(value, list) else value


def _model_from_config(cls, config: dict, backend, where: str):
    """(unbuilt model, n_features, history, optimizer iterations, pending set_params) from a
    checkpoint's config; every field checked, any problem a CheckpointError."""
    try:
        raw = config.get("params", {})
        if not isinstance(raw, dict):
            raise TypeError(f"'params' must be a mapping; got {type(raw).__name__}")
        params = {k: _tuples(v) for k, v in raw.items()}
        if backend is not None:
            params["backend"] = backend
        model = cls(**params)
        model._check_hyperparameters()
        n_features = config["n_features_in"]
        if isinstance(n_features, bool) or not isinstance(n_features, int) or n_features < 1:
            raise ValueError(f"n_features_in must be a positive integer; got {n_features!r}")
        history = config.get("history", {})
        if not isinstance(history, dict) or not all(
                isinstance(v, list) and all(x is None or (_is_number(x)) for x in v) for v in history.values()):
            raise ValueError("history must map names to lists of numbers")
        iterations = config.get("optimizer_iterations", 0)
        if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 0:
            raise ValueError(f"optimizer_iterations must be a non-negative integer; got {iterations!r}")
        pending = config.get("set_params", {})
        if not isinstance(pending, dict):
            raise TypeError(f"'set_params' must be a mapping; got {type(pending).__name__}")
        unknown = sorted(set(pending) - set(model.get_params(deep=False)))
        if unknown:
            raise ValueError(f"'set_params' names unknown hyperparameters {unknown}")
    except (TypeError, ValueError, KeyError, AttributeError, OverflowError, RecursionError) as err:
        message = f"{err.args[0]!r} is missing" if isinstance(err, KeyError) else str(err)
        raise io.CheckpointError(f"{where!r} has an invalid config for {cls.__name__}: {message}") from err
    # JSON has no NaN: save wrote a diverged epoch's value as null, which comes back as NaN
    history = {k: [math.nan if x is None else x for x in v] for k, v in history.items()}
    return model, n_features, history, iterations, \
        {k: _tuples(v) for k, v in pending.items()}


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _check_declared_size(model, n_features: int, shapes: dict, where: str) -> None:
    """Refuse a config that declares a bigger network than the file stores, before building it.

    Every npae model has at least the Dense weights of its encoder (n_features, hidden_sizes…,
    latent_dim) and of the mirrored decoder, so 2·Σ_l s_l·s_(l+1) values are a lower bound on
    what building allocates, and on what a matching file holds.
    """
    sizes = (n_features, *check_hidden_sizes(model.hidden_sizes), int(model.latent_dim))
    declared = 2 * sum(a * b for a, b in zip(sizes, sizes[1:]))
    stored = sum(math.prod(shape) for name, (shape, _) in shapes.items() if name.startswith("param:"))
    if declared > stored:
        raise io.CheckpointError(
            f"{where!r}: its config declares a {type(model).__name__} of at least {declared} weights "
            f"(n_features_in={n_features}, hidden_sizes={model.hidden_sizes!r}, latent_dim={model.latent_dim!r}) "
            f"but the file stores {stored} parameter values; nothing was built."
        )


def _load_optimizer_state(model, optim: dict, iterations: int, version, where: str) -> None:
    """Check the saved optimizer state (names, shapes, dtypes, finiteness) and load it."""
    params_in_order = [p for p, _ in model._parameter_gradient_pairs()]
    template = {f"{i}.{k}": p for i, p in enumerate(params_in_order) for k in model.optimizer_._init_state(p)}
    renamed = {(name[:-len("_sum")] if version == 2 and name.endswith(("m_sum", "v_sum")) else name): name
               for name in optim}
    if set(renamed) != set(template):
        raise io.CheckpointError(
            f"{where!r}: its optimizer state does not match a {type(model.optimizer_).__name__} for this model: "
            f"missing {sorted(set(template) - set(renamed))}, unexpected {sorted(set(renamed) - set(template))}."
        )
    for key, name in renamed.items():
        value, param = optim[name], template[key]
        if tuple(value.shape) != tuple(param.shape) or value.dtype.name != model.dtype:
            raise io.CheckpointError(
                f"{where!r}: optimizer state {name} is {value.dtype.name}{tuple(value.shape)}, expected "
                f"{model.dtype}{tuple(param.shape)}."
            )
        if not math.isfinite(float(abs(value).max())):
            raise io.CheckpointError(f"{where!r}: optimizer state {name} contains NaN or infinity.")
        if key.endswith(".v") and value.size and float(value.min()) < 0.0:
            raise io.CheckpointError(f"{where!r}: optimizer state {name}, Adam's second moment (a running mean of "
                                     f"squared gradients), has negative values: the file was altered or damaged.")
    model.optimizer_.load_state_arrays(
        {k: B.asarray(v, dtype=model.dtype, backend=model.backend_) for k, v in optim.items()}, params_in_order)
    model.optimizer_.iterations = iterations


def load(path, *, backend: str | None = None):
    """Load a model saved with ``model.save(path)``, on ``backend`` (default: the saved one).

    The config is checked first, and the sizes it declares against the arrays' headers, before
    any array is read or any layer built; then the class, parameter names, shapes, dtypes and
    values, and the optimizer state (names, shapes, dtypes, values, iteration count), are
    validated against what the saved hyperparameters build. Anything else is a
    ``npae.io.CheckpointError``. Hyperparameters changed by ``set_params`` after the fit are
    set again on the loaded model.

    The training stream and the denoiser's data range come back too (see ``save``), so training
    continues exactly. A checkpoint without them (written by an earlier npae) still loads: its
    ``partial_fit`` starts the stream of ``random_state`` and a warm fit restarts it, as a fresh
    fit would.

    ``path`` is a str, bytes or PathLike path (``~`` expanded) or a binary file object; the file
    is opened once and everything (weights, config, history, optimizer state) is read from that
    handle, so a checkpoint replaced meanwhile is read whole, old or new, never mixed.

    Parameters
    ----------
    path : str, bytes, os.PathLike or binary file object
        A file written by ``save`` (or by ``npae.training.ModelCheckpoint``).
    backend : {None, "numpy", "cupy", "torch", "array_api_strict"}, default=None
        Where the loaded model lives; None keeps the backend it was saved on (use "numpy" to
        load a GPU model on a machine without one).

    Returns
    -------
    Autoencoder, SparseAutoencoder, DenoisingAutoencoder, ContractiveAutoencoder or VAE
        The fitted model, ready for inference and for ``warm_start``/``partial_fit``.
    """
    if backend is not None:  # the caller's argument, checked before the file is read (not a CheckpointError)
        backend = B.get_backend(backend).name
    where = io.describe(path)
    found = {}

    def check(shapes, config):
        name = config.get("class")
        cls = MODEL_CLASSES.get(name) if isinstance(name, str) else None
        if cls is None:
            raise io.CheckpointError(
                f"{where!r} holds a {name!r}, which is not an npae model "
                f"(known: {', '.join(sorted(MODEL_CLASSES))})."
            )
        found["parts"] = _model_from_config(cls, config, backend, where)
        model, n_features = found["parts"][:2]
        _check_declared_size(model, n_features, shapes, where)

    arrays, config = io.read_checkpoint(path, check=check)
    model, n_features, history, iterations, pending = found["parts"]
    cls = type(model)
    # The generator that builds the layers (whose weights are then overwritten) is also the
    # training stream of a checkpoint that stores none (written before npae saved it): the
    # start of random_state's stream, never one seeded 0 for every model.
    try:
        backend_here = model._resolve_backend()
    except B.BackendUnavailableError as err:
        raise B.BackendUnavailableError(
            f"{where!r} holds a model saved on the {model.backend!r} backend, which this machine cannot run: "
            f"{' '.join(str(err).split())} To use the model here, load it onto another backend: "
            f"npae.load(path, backend=\"numpy\").") from err
    model._initialize(n_features, B.check_random_state(model.random_state), backend_here)
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
    model.history_ = history
    if config.get("feature_names_in") is not None:
        try:
            model.feature_names_in_ = io.feature_names_from_config(config["feature_names_in"], n_features)
        except ValueError as err:
            raise io.CheckpointError(f"{where!r}: {err}.") from err
    optim = {k[len("optim:"):]: v for k, v in arrays.items() if k.startswith("optim:")}
    if optim:
        _load_optimizer_state(model, optim, iterations, config["format_version"], where)
    elif not any(model.optimizer_._init_state(p) for p, _ in model._parameter_gradient_pairs()):
        model.optimizer_.iterations = iterations  # a stateless optimizer (plain SGD): only its step count
    training = config.get("training")
    if training is not None:
        try:
            if not isinstance(training, dict):
                raise TypeError(f"'training' must be a mapping; got {type(training).__name__}")
            model._restore_training_state(training)
        except (TypeError, ValueError) as err:
            raise io.CheckpointError(
                f"{where!r} has an invalid training state for {cls.__name__}: {err}. The weights are "
                "readable; resave the model, or delete the 'training' entry of its config to load it "
                "without (a warm fit then restarts the random stream of random_state)."
            ) from err
    if pending:
        model.set_params(**pending)
    return model
