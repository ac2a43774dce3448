"""The training loop: minibatches, epochs, callbacks, history and the progress bar.

``train`` drives any object with the small interface below (models implement it in
``npae.models.base``), the way Keras builds ``Model.fit`` on a trainer:

* ``train_step(batch) -> (loss, logs)``: one optimizer step on a device batch; ``loss`` is a
  0-d device array (batch mean), ``logs`` maps extra names (e.g. "kl") to 0-d device arrays.
* ``evaluate_logs(X) -> dict[str, float]``: validation figures on the host.
* ``get_weights()`` / ``set_weights(weights)``: copies of the parameters, for snapshots.
* ``optimizer_`` (optional): an ``npae.optimizers.Optimizer``; its state (``snapshot`` /
  ``restore``) is kept and put back together with the weights.

What a fit leaves behind
------------------------
* It ends normally: the parameters of its last step (or what a callback such as
  ``EarlyStopping`` put back).
* It diverges (a NaN or infinite loss, parameters or optimizer state, checked once per epoch):
  the parameters *and* optimizer state of the last finite state are put back (the end of the
  last good epoch, or the state training started from) and ``DivergenceError`` (a
  ``FloatingPointError``) says which; ``TerminateOnNaN`` turns the error into a warning. No
  callback ever sees a non-finite state, so ``ModelCheckpoint`` never writes one.
* Ctrl-C (``KeyboardInterrupt``), or SIGTERM where a Python handler is installed for it (the
  ``npae`` command line installs one): the step in progress completes, the model keeps the last
  completed step (the last finite state if that step diverged), ``history`` holds the completed
  epochs, and the interrupt propagates, as in Keras and PyTorch Lightning.
* Any other error (a callback's, e.g. ``ModelCheckpoint`` on a full disk; a MemoryError): the
  model keeps the state at the end of the last completed epoch, with ``history`` holding exactly
  the completed epochs (earlier fits' included), and the error propagates. (``fit`` puts the
  model back as it was before the call when no epoch of that call completed, after this error
  or a divergence.)

The kernel mode (``npae.set_kernels``) in force when ``train`` starts is pinned for its whole
run in this thread, so another thread switching it never changes a fit mid-step.

The running loss stays on the device and is brought to the host **once per epoch**: each
``float(...)`` of a device array waits for the GPU, so doing it per step would serialise it.
"""

from __future__ import annotations

import difflib
import math
import os
import signal
import string
import sys
import threading
import warnings

from array_api_compat import array_namespace

from npae import backend as B
from npae.validation import all_finite, check_nonnegative_float, check_nonnegative_int

__all__ = [
    "minibatches",
    "DivergenceError",
    "Callback",
    "EarlyStopping",
    "TerminateOnNaN",
    "ModelCheckpoint",
    "check_callbacks",
    "train",
]


def minibatches(X, batch_size: int, rng=None, shuffle: bool = True, to_device=None):
    """Yield consecutive row blocks of X (N, D), each of shape (≤ batch_size, D).

    With ``shuffle`` the rows follow a host permutation from ``rng``, moved to the device once;
    each batch gathers its rows with ``take`` (the standard has no integer-array indexing).
    Gathering per batch keeps the working set in cache: one gather of the whole epoch would make
    a fresh copy of X every epoch (benchmarks/RESULTS.md has the measurement).

    ``to_device`` streams a host array (e.g. a NumPy memory map larger than memory): each
    batch's rows are read from the host in ascending order, so the file is read forward, then put
    back in the permutation's order and converted by ``to_device`` on their own, so at most one
    batch is ever materialised. The batches are the same, row for row, as for the array in
    memory: noise and eps are drawn per row position, so a different order within a batch would
    give every row another draw and the model would depend on the container.
    """
    n = X.shape[0]
    if to_device is not None:
        order = B.check_random_state(rng).permutation(n) if shuffle else None
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)
            if order is None:
                yield to_device(X[start:stop])
                continue
            idx = order[start:stop]
            by_position = idx.argsort()  # idx[by_position] ascending: the forward read
            rows_sorted = X[idx[by_position]]
            yield to_device(rows_sorted[by_position.argsort()])  # back to idx's order
        return
    if not shuffle:
        for start in range(0, n, batch_size):
            yield X[start:min(start + batch_size, n), ...]
        return
    xp = array_namespace(X)
    perm = B.asarray(B.check_random_state(rng).permutation(n), backend=B.backend_of(X))
    for start in range(0, n, batch_size):
        yield xp.take(X, perm[start:min(start + batch_size, n)], axis=0)


class Callback:
    """Hooks called by ``train``; ``self.model`` is set before training starts.

    ``on_train_begin``, ``on_epoch_begin``, ``on_epoch_end`` and ``on_train_end`` (Keras' names
    and arguments); there are no per-batch hooks (a callback that defines one is warned about
    at the start of ``fit``). Set ``self.model.stop_training = True`` in ``on_epoch_end`` to stop
    after that epoch.
    """

    model = None

    def check(self, *, validation: bool) -> None:
        """Refuse a configuration that cannot work, before training changes anything.

        ``validation`` says whether ``fit`` has validation data (so whether ``val_*`` values
        will be logged). The default accepts everything.
        """

    def set_model(self, model) -> None:
        """Called once per fit before ``on_train_begin``: the estimator being trained."""
        self.model = model

    def on_train_begin(self, logs=None) -> None:
        """Before the first epoch of a fit. ``logs``: ``{"initial_epoch": n}``, the epochs the model
        had already trained (> 0 for a warm start or ``partial_fit``; 0 for a fit from scratch)."""

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        """Before each epoch; ``epoch`` is 0-based and counts on across warm starts."""

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        """After each epoch; ``logs`` holds this epoch's figures (``loss``, ``val_loss``, … as in
        ``history_``). Set ``self.model.stop_training = True`` to stop after it."""

    def on_train_end(self, logs=None) -> None:
        """After the last epoch, also when a callback stopped training early."""

    def logged_names(self) -> list:
        """The logged values this callback reads (``fit`` checks them against what the model logs
        before training starts). The default: none."""
        return []


#: Keras' per-batch hooks, which ``train`` never calls.
_BATCH_HOOKS = ("on_batch_begin", "on_batch_end", "on_train_batch_begin", "on_train_batch_end")


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs (0: at the
    first epoch that does not improve).

    With ``restore_best_weights`` (default) the parameters of the best epoch are put back when
    training ends, whether it stopped early, ran all its epochs or was ended by ``TerminateOnNaN``
    (as in Keras 3); ``history_`` keeps every epoch that ran.

    Parameters
    ----------
    monitor : str, default="val_loss"
        The logged value to watch (lower is better): "loss", "val_loss" or another name the
        model logs (``history_``'s keys); checked before training.
    patience : int, default=5
        Epochs without improvement before stopping.
    min_delta : float, default=0.0
        The least decrease that counts as an improvement.
    restore_best_weights : bool, default=True
        Put back the parameters of the best epoch when training ends.

    Attributes
    ----------
    best : float
        The best ``monitor`` value of the fit.
    best_epoch : int or None
        Its epoch (0-based).
    stopped_epoch : int or None
        The epoch after which training stopped early (None if it ran all its epochs).
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 5, min_delta: float = 0.0,
                 restore_best_weights: bool = True):
        self.monitor = monitor
        self.patience = check_nonnegative_int(patience, "patience")
        self.min_delta = check_nonnegative_float(min_delta, "min_delta")
        self.restore_best_weights = restore_best_weights

    def check(self, *, validation: bool) -> None:
        _check_monitor_can_be_logged("EarlyStopping", self.monitor, validation)

    def logged_names(self) -> list:
        return [self.monitor]

    def on_train_begin(self, logs=None) -> None:
        self.best, self.best_epoch, self.wait, self.best_weights = math.inf, None, 0, None
        self.stopped_epoch, self.last_epoch = None, None

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        value = _monitored_value("EarlyStopping", self.monitor, logs)
        self.last_epoch = epoch
        if value < self.best - self.min_delta:
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None) -> None:
        if self.restore_best_weights and self.best_weights is not None and self.best_epoch != self.last_epoch:
            self.model.set_weights(self.best_weights)


def _check_monitor_can_be_logged(owner: str, monitor: str, validation: bool) -> None:
    """A ``val_*`` monitor needs validation data: say so before training, not after an epoch."""
    if str(monitor).startswith("val_") and not validation:
        raise ValueError(
            f"{owner} monitors {monitor!r}, which is logged only with validation data; "
            f"pass validation_data for {monitor!r} or monitor='loss'."
        )


def _monitored_value(owner: str, monitor: str, logs: dict) -> float:
    if monitor not in logs:
        raise ValueError(_not_logged(owner, f"monitors {monitor!r}", monitor, logs))
    return logs[monitor]


def _not_logged(owner: str, what: str, name: str, logged) -> str:
    """The message for a callback that reads ``name``, which is not among ``logged``."""
    close = difflib.get_close_matches(name, list(logged), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    if not close and name.startswith("val_") and not any(str(k).startswith("val_") for k in logged):
        hint = f" Pass validation_data for {name!r}."
    return f"{owner} {what}, which this fit does not log; it logs {', '.join(sorted(logged))}.{hint}"


class TerminateOnNaN(Callback):
    """Stop with a warning (instead of ``fit``'s ``DivergenceError``) when training diverges.

    Either way the model keeps the last finite state: the parameters and optimizer state from
    the end of the last good epoch (or those training started from), never NaN weights.
    """


class ModelCheckpoint(Callback):
    """Save the model after every epoch (or only on improvement) to ``filepath``.

    ``filepath`` may name ``{epoch}`` (1-based) and any logged value, e.g.
    ``"ckpt-{epoch:03d}-{val_loss:.3f}.npz"``; the names are checked before training (a
    ``val_*`` name needs validation data) and at each epoch against what was logged. Files are
    written atomically (temporary file, then rename), so a crash mid-save leaves the previous
    checkpoint intact, and only from finite states (``train`` restores the last finite state
    before any callback sees a diverged one).

    With ``save_best_only`` a file is written when ``monitor`` improves on the best value of the
    training run: a fit that continues the model this callback last saw (``warm_start``,
    ``partial_fit``: its epochs go on from the earlier ones) keeps the best value, as Keras does,
    so a worse round never replaces the best file; a fit from scratch, or of another model, starts
    again from ``initial_value_threshold`` (+inf by default; pass the value of an existing best
    file to keep it). Like ``EarlyStopping``, a ``val_*`` monitor without validation data is
    refused.

    Parameters
    ----------
    filepath : str or os.PathLike
        The file to write, a format string of ``{epoch}`` and logged values; checked before
        training (names, format specs, not a directory).
    monitor : str, default="val_loss"
        The logged value ``save_best_only`` compares (lower is better).
    save_best_only : bool, default=False
    initial_value_threshold : float, optional
        The value a first save must beat; default +inf.

    Attributes
    ----------
    best : float
        The lowest ``monitor`` value saved so far.
    """

    def __init__(self, filepath, monitor: str = "val_loss", save_best_only: bool = False,
                 initial_value_threshold: float | None = None):
        self.filepath = os.fsdecode(filepath)
        self.monitor = monitor
        self.save_best_only = save_best_only
        self.initial_value_threshold = initial_value_threshold
        self.best = self._initial_best()
        self._run = None  # (model, epochs done) at the end of the last epoch seen: what a continuation starts from

    def _initial_best(self) -> float:
        return math.inf if self.initial_value_threshold is None else float(self.initial_value_threshold)

    def _fields(self) -> list:
        """The names ``filepath`` formats, e.g. ["epoch", "val_loss"]."""
        try:
            parsed = list(string.Formatter().parse(self.filepath))
        except ValueError as err:
            raise ValueError(
                f"ModelCheckpoint filepath {self.filepath!r} is not a valid format string ({err}); "
                "write fields as {epoch} or {val_loss:.3f}, and literal braces as {{ }}."
            ) from None
        fields = []
        for _, field, _, _ in parsed:
            if field is None:
                continue
            name = field.split(".")[0].split("[")[0]
            if name == "" or name.isdigit():
                raise ValueError(
                    f"ModelCheckpoint filepath {self.filepath!r} has a positional field {{{field}}}; "
                    "name the value, e.g. {epoch} or {val_loss}."
                )
            fields.append(name)
        return fields

    def check(self, *, validation: bool) -> None:
        for name in self._fields():
            if name.startswith("val_") and not validation:
                raise ValueError(
                    f"ModelCheckpoint filepath {self.filepath!r} uses {{{name}}}, which is logged only "
                    "with validation data; pass validation_data to fit, or use {epoch} or {loss}."
                )
        example = self._example_path()
        if example.endswith(tuple(sep for sep in (os.sep, os.altsep) if sep)) or os.path.isdir(example):
            raise ValueError(f"ModelCheckpoint filepath {self.filepath!r} names a directory; give a file name "
                             "such as runs/best.npz or runs/ckpt-{epoch:03d}.npz.")
        if self.save_best_only:
            _check_monitor_can_be_logged("ModelCheckpoint", self.monitor, validation)

    def _example_path(self) -> str:
        """``filepath`` formatted with epoch 1 and 1.0 for every logged value: a format spec that
        cannot format them (``{loss:d}``, ``{loss.real.x}``) fails here, before training."""
        fields = self._fields()
        try:
            return self.filepath.format(**{**{name: 1.0 for name in fields}, "epoch": 1})
        except (ValueError, TypeError, AttributeError, IndexError, KeyError) as err:
            raise ValueError(
                f"ModelCheckpoint filepath {self.filepath!r} cannot be formatted ({type(err).__name__}: {err}); "
                "{epoch} is an int and logged values are floats, e.g. ckpt-{epoch:03d}-{val_loss:.3f}.npz."
            ) from None

    def logged_names(self) -> list:
        names = [name for name in self._fields() if name != "epoch"]
        return names + [self.monitor] if self.save_best_only else names

    def on_train_begin(self, logs=None) -> None:
        initial_epoch = (logs or {}).get("initial_epoch", 0)
        if self._run is None or self._run[0] is not self.model or initial_epoch == 0 or initial_epoch < self._run[1]:
            self.best = self._initial_best()  # a new training run: from scratch, or another model

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        self._run = (self.model, epoch + 1)
        missing = [name for name in self._fields() if name != "epoch" and name not in logs]
        if missing:
            raise ValueError(
                f"ModelCheckpoint filepath {self.filepath!r} uses {{{missing[0]}}}, which is not among "
                f"the logged values {['epoch', *sorted(logs)]}."
            )
        if self.save_best_only:
            value = _monitored_value("ModelCheckpoint", self.monitor, logs)
            if not value < self.best:
                return
            self.best = value
        self.model.save(self.filepath.format(**{**logs, "epoch": epoch + 1}))


def check_callbacks(callbacks, *, validation: bool, logged=None) -> list:
    """The callbacks as a list, each a ``Callback`` whose ``check`` accepts this fit.

    ``logged``, the names the fit will log (the model's ``log_names``), when given: every name a
    callback reads (``Callback.logged_names``: a monitor, a checkpoint file name's fields) must be
    among them, so a misspelt ``monitor="val_los"`` is refused now, not after the first epoch.
    ``fit`` calls this before it builds or changes anything, so a misconfigured callback costs
    no training and leaves a fitted model as it was. A callback defining a per-batch hook, which
    ``train`` never calls, is warned about.
    """
    callbacks = list(callbacks or ())
    for cb in callbacks:
        if not isinstance(cb, Callback):
            raise TypeError(
                f"callbacks must be npae.training.Callback instances; got {type(cb).__name__} "
                f"({cb!r}). Subclass Callback and override the hooks you need."
            )
        cb.check(validation=validation)
        if logged is not None:
            for name in cb.logged_names():
                if name not in logged:
                    raise ValueError(_not_logged(type(cb).__name__, f"reads {name!r}", name, logged))
        ignored = [hook for hook in _BATCH_HOOKS if callable(getattr(cb, hook, None))]
        if ignored:
            warnings.warn(f"{type(cb).__name__} defines {', '.join(ignored)}, which npae never calls: its "
                          "callbacks are on_train_begin, on_epoch_begin, on_epoch_end and on_train_end.",
                          UserWarning, stacklevel=3)
    return callbacks


class DivergenceError(FloatingPointError):
    """Training diverged: a loss, a parameter or the optimizer state became NaN or infinite.

    Raised by ``train`` (so by ``fit`` and ``partial_fit``) after the last finite parameters and
    optimizer state were put back; the message says which state that is. ``what`` (where and what
    diverged) and ``advice`` (what to change) are its two ends, for a caller that restores more.
    """

    what = advice = ""


class _TrainingState:
    """Copies of a model's weights and optimizer state (iteration count, momenta, moments)."""

    def __init__(self, model):
        self.weights = model.get_weights()
        optimizer = getattr(model, "optimizer_", None)
        self.optimizer = optimizer.snapshot() if hasattr(optimizer, "snapshot") else None

    def optimizer_arrays(self) -> list:
        return [] if self.optimizer is None else [v for s in self.optimizer[1] for v in s.values()]

    def restore(self, model) -> None:
        with _DeferInterrupt():  # half-restored weights would belong to no state
            model.set_weights(self.weights)
            if self.optimizer is not None:
                model.optimizer_.restore(self.optimizer)

    def problem(self) -> str | None:
        """What is not finite, in words, or None (one host sync when all is well)."""
        weights, optim = list(self.weights.values()), self.optimizer_arrays()
        if all_finite(weights + optim):
            return None
        if not all_finite(weights):
            return "the parameters became NaN or infinite (in a step after the loss was measured)"
        return ("the optimizer state became NaN or infinite (e.g. Adam's second moment overflowed, "
                "so every update m̂/(√v̂ + ε) was 0 and training stalled at a finite loss)")


class _DeferInterrupt:
    """Hold Ctrl-C (SIGINT), and SIGTERM where a Python handler takes it, until the block ends.

    An optimizer step updates many arrays in place; an interrupt between two of them would leave
    a model that belongs to no step. Inside this block the signal waits for the step to finish,
    then the handler that was in place runs (for SIGINT by default: KeyboardInterrupt). A signal
    that is ignored or has its default action (SIGTERM killing the process) is left alone. Only
    the main thread can handle signals; elsewhere this does nothing.
    """

    SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM") if hasattr(signal, name))

    def __enter__(self):
        self.received, self.previous = [], {}
        if threading.current_thread() is threading.main_thread():
            for signum in self.SIGNALS:
                handler = signal.getsignal(signum)
                if callable(handler):  # not SIG_IGN, SIG_DFL, or a handler installed outside Python
                    self.previous[signum] = signal.signal(signum, self._hold)
        return self

    def _hold(self, signum, frame):
        self.received.append(signum)

    def __exit__(self, *exc):
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        for signum in dict.fromkeys(self.received):
            self.previous[signum](signum, None)
        return False


def _progress(epochs: int, verbose: int, initial: int):
    """verbose 1: a tqdm bar over epochs; 2: one plain line per epoch (for logs, as Keras'
    verbose=2); 0: nothing."""
    if verbose == 1:
        from tqdm.auto import tqdm

        return tqdm(total=initial + epochs, initial=initial, desc="fit", unit="epoch", leave=True)
    return _EpochLines(initial, initial + epochs) if verbose else None


class _EpochLines:
    """verbose=2: "epoch 3/10 - loss: 0.1234 - val_loss: 0.1301", a line per epoch on stderr
    (where tqdm writes its bar), with tqdm's ``set_postfix`` / ``update`` / ``close``."""

    def __init__(self, done: int, total: int):
        self.done, self.total, self.logs = done, total, {}

    def set_postfix(self, logs: dict) -> None:
        self.logs = logs

    def update(self, n: int) -> None:
        self.done += n
        figures = " - ".join(f"{k}: {v}" for k, v in self.logs.items())
        print(f"epoch {self.done}/{self.total} - {figures}", file=sys.stderr, flush=True)

    def close(self) -> None:
        pass


def train(model, X, *, epochs: int, batch_size: int, rng, history: dict, validation_data=None,
          callbacks=(), verbose: int = 0, shuffle: bool = True, to_device=None) -> dict:
    """Run ``epochs`` passes over X (a device array (N, D)); append per-epoch figures to ``history``.

    ``to_device`` streams a host array batch by batch (see ``minibatches``). What the model holds
    when this returns or raises is described in the module docstring: never a non-finite state.

    Raises
    ------
    DivergenceError
        A ``FloatingPointError``: an epoch's loss, the parameters or the optimizer state became
        NaN or infinite (unless a ``TerminateOnNaN`` callback is given, which turns it into a
        warning). The last finite parameters and optimizer state are restored first.
    KeyboardInterrupt
        On Ctrl-C, after the step in progress; the model keeps the last completed step.
    ValueError
        If the model's state is not finite before training starts.
    """
    callbacks = check_callbacks(callbacks, validation=validation_data is not None)
    on_nan_warn = any(isinstance(cb, TerminateOnNaN) for cb in callbacks)
    start_state = _TrainingState(model)
    if start_state.problem() is not None:
        raise ValueError(
            f"{type(model).__name__} holds NaN or infinite parameters or optimizer state before "
            "training; fit it from scratch (warm_start=False) or load a good checkpoint."
        )
    with B.use_kernel_mode():  # this fit runs in one kernel mode, whatever other threads set
        return _train(model, X, start_state, callbacks, epochs=epochs, batch_size=batch_size, rng=rng,
                      history=history, validation_data=validation_data, verbose=verbose, shuffle=shuffle,
                      to_device=to_device, on_nan_warn=on_nan_warn)


def _train(model, X, start_state, callbacks, *, epochs, batch_size, rng, history, validation_data, verbose,
           shuffle, to_device, on_nan_warn) -> dict:
    lengths = {key: len(values) for key, values in history.items()}
    done_before = len(history.get("loss", []))
    last_good, last_good_epoch = start_state, done_before
    model.stop_training = False
    bar = None
    n = X.shape[0]
    try:
        for cb in callbacks:
            cb.set_model(model)
            cb.on_train_begin({"initial_epoch": done_before})
        bar = _progress(epochs, verbose, done_before)
        for epoch in range(done_before, done_before + epochs):
            for cb in callbacks:
                cb.on_epoch_begin(epoch)
            total, extra = None, {}
            for batch in minibatches(X, batch_size, rng, shuffle, to_device):
                with _DeferInterrupt():
                    loss, logs = model.train_step(batch)
                rows = batch.shape[0]
                total = loss * rows if total is None else total + loss * rows
                for key, value in logs.items():
                    extra[key] = value * rows if key not in extra else extra[key] + value * rows
            epoch_logs = {"loss": float(total) / n}
            epoch_logs.update({key: float(value) / n for key, value in extra.items()})
            state = _TrainingState(model)
            bad_logs = [key for key, value in epoch_logs.items() if not math.isfinite(value)]
            problem = (f"the {bad_logs[0]} became {epoch_logs[bad_logs[0]]}" if bad_logs else state.problem())
            if problem is not None:
                last_good.restore(model)
                kept = (f"The parameters and optimizer state from the end of epoch {last_good_epoch}"
                        if last_good_epoch > 0 else "The initial parameters and optimizer state")
                what = f"Training diverged in epoch {epoch + 1}: {problem}."
                advice = "Lower learning_rate, or clip the gradient norm with clip_norm= (e.g. clip_norm=1.0)."
                message = f"{what} {kept} (the last finite state; checked once per epoch) were kept. {advice}"
                if on_nan_warn:
                    warnings.warn(message, RuntimeWarning, stacklevel=3)
                    break
                error = DivergenceError(message)
                error.what, error.advice = what, advice
                raise error
            if validation_data is not None:
                epoch_logs.update({f"val_{k}": v for k, v in model.evaluate_logs(validation_data).items()})
            with _DeferInterrupt():  # an epoch is recorded under every key or under none
                for key, value in epoch_logs.items():
                    history.setdefault(key, []).append(value)
                last_good, last_good_epoch = state, epoch + 1
                lengths = {key: len(values) for key, values in history.items()}
            for cb in callbacks:
                cb.on_epoch_end(epoch, epoch_logs)
            if bar is not None:
                bar.set_postfix({k: f"{v:.4g}" for k, v in epoch_logs.items()})
                bar.update(1)
            if model.stop_training:
                break
    except (KeyboardInterrupt, DivergenceError):
        if _TrainingState(model).problem() is not None:
            last_good.restore(model)
        raise
    except Exception:
        last_good.restore(model)  # the end of the last completed epoch (or the start)
        _truncate(history, lengths)
        raise
    finally:
        if bar is not None:
            bar.close()
    for cb in callbacks:
        cb.on_train_end()
    return history


def _truncate(history: dict, lengths: dict) -> None:
    """Put ``history`` back to ``lengths`` (keys it did not have are removed)."""
    for key in list(history):
        if key in lengths:
            del history[key][lengths[key]:]
        else:
            del history[key]
