"""Scaling out with Dask: npae's estimators on arrays larger than one machine's memory.

``import npae`` never imports Dask; this module does, and needs ``pip install "npae[dask]"``
(dask[array], distributed, dask-ml). npae's estimators already travel as they are: a fitted model
pickles to its hyperparameters, its weights and its random Generator, so any Dask worker can call
its methods on a block of rows. This module adds what dask-ml leaves out.

Inference: ``ParallelPostFit(estimator)``
    dask-ml's meta-estimator with npae's row-wise inference methods (``METHODS``): ``transform``,
    ``inverse_transform``, ``reconstruct``, ``reconstruction_error``, ``score_samples``,
    ``score``, a VAE's ``elbo`` and ``log_likelihood``, and a detector's ``decision_function``,
    ``predict``, ``predict_proba`` and ``predict_confidence`` (those the wrapped estimator has;
    dask-ml's ``predict_proba`` reads a classifier's ``classes_``, which a detector has not). On
    a Dask array each returns a Dask array with the true output width (dask-ml's own
    ``transform`` declares the input's width; its ``*_meta`` arguments are therefore not used for
    npae estimators), one block of output per block of rows; a Dask DataFrame is checked against
    the estimator's column names on the client (codes against ``get_feature_names_out`` for
    ``inverse_transform``) and scored, without computing anything yet, as a Dask array of its
    partitions; on anything else the estimator's own method runs in memory. Any other estimator (a ``Pipeline``, a scikit-learn transformer) runs
    as dask-ml's wrapper runs it, or is refused by name for a method dask-ml does not run. Rows
    never interact in inference, so a block of rows gets the numbers it would get in memory,
    whatever the chunking, to float rounding (a matrix product over a block of rows may round
    differently from one over all rows: about 1e-7 relative in float32). A block of 0 rows (a
    chunking such as ``((5, 0, 15), (D,))``, a boolean-mask selection) gives 0 rows of output.
Streaming fit: ``Incremental(estimator)``
    dask-ml's ``Incremental`` (``partial_fit`` block after block) with the same inference
    methods; blocks of 0 rows are skipped.
Data: ``from_npy(path, rows_per_chunk)``, ``to_backend(X, name)``, ``to_numpy(X)``
    A Dask array over a ``.npy`` file that each worker opens as a memory map; each block moved
    to an array backend's device (CuPy, ``array_api_strict``), or back to host NumPy.

Architecture: a fitted model is a value
---------------------------------------
The graph holds the model as one key whose name is a hash of its fitted content (weights,
configuration as fitted, backend, dtype: ``BaseAutoencoder.__dask_tokenize__``; a detector's
name hashes its fitted attributes, its model's content included). After ``partial_fit``, a warm
start, ``set_weights`` or an in-place edit the model has a new name, so a result persisted or
cached under the old one is never served for the new model. Output shapes and dtypes are read
from the fitted snapshot (``_as_fitted()``), never from hyperparameters changed by
``set_params`` after the fit. Nothing a worker does changes the client's model: a VAE's sampled
scores draw each row's noise from a stream seeded by the row's content (the model's
``RowStreams``), so a row draws the same noise in any block as in memory and scores as a
deterministic method does (the in-memory value), the same numbers every time the graph runs,
and the client's generators never advance.

What runs where
---------------
The client (your Python session) holds the fitted estimator and builds the task graph: it never
touches the data. The estimator enters the graph as **one key**, so each worker receives it once
per computation and every block task on that worker reads the same copy (dask-ml's wrappers put it
inside every block task, so it is serialised once per block). Workers open, score and reduce their
blocks on the backend of the estimator (host NumPy, or CuPy when the blocks are CuPy arrays and the
model runs on ``backend="cupy"``); only the results travel back. ``Client()`` starts a cluster on
this machine; ``Client("tcp://scheduler-address:8786")`` joins one spanning many machines, and
nothing else in the code changes (the data paths must then be readable from every worker).

Streaming fit: epochs and shuffling
-----------------------------------
``Incremental.fit(X)`` clones the estimator and makes **one pass**: it orders the blocks at random
(``random_state``; ``shuffle_blocks=False`` keeps their order) and calls the model's
``partial_fit`` on each block in turn, which trains one epoch over that block in shuffled
minibatches of ``batch_size`` rows. One pass is therefore one epoch over all the rows, each seen
once; ``estimator.epochs`` is not used, so E epochs are ``fit`` and E − 1 calls of
``Incremental.partial_fit`` (another pass on the model trained so far), and
``history_["loss"]`` gains one entry per block.
Shuffling has two levels: the block order changes each pass (pass a ``numpy.random.RandomState``
as ``random_state``; an int gives every pass the same order), and rows are shuffled inside a block;
rows of different blocks never share a minibatch. Data sorted by class or time should be
shuffled once on disk, or chunked finely enough that a block is a fair sample. The blocks are
trained one after another (the model is the state carried from task to task), so a streaming fit
uses one worker at a time: it buys memory, not speed. A ``from_npy`` block reaches
``partial_fit`` as a memory map, which npae reads minibatch by minibatch.

Device blocks
-------------
``to_backend(X, "cupy")`` gives blocks that a ``backend="cupy"`` model scores on the GPU; Dask
concatenates CuPy results itself. It can also carry ``array_api_strict`` blocks (the test suite's
stand-in for a device), but cannot rechunk or concatenate them (it calls ``numpy.empty`` with their
dtype): give them one column block before the move, and gather results with ``to_numpy``.
"""

from __future__ import annotations

import math
import numbers
import os

import numpy as np
from array_api_compat import array_namespace, device, is_cupy_array
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import _check_feature_names, check_is_fitted

from npae import backend as B
from npae.applications._common import model_without_feature_names
from npae.applications.detector import AnomalyDetector
from npae.models.base import BaseAutoencoder
from npae.validation import check_option

try:
    import dask
    import dask.array as da
    from dask.base import normalize_token, tokenize
    from dask_ml._partial import fit as _partial_fit_blocks
    from dask_ml._utils import copy_learned_attributes
    from dask_ml.wrappers import Incremental as _DaskMLIncremental
    from dask_ml.wrappers import ParallelPostFit as _DaskMLParallelPostFit
except ImportError as err:
    raise ImportError(
        "npae.dask needs dask[array], distributed and dask-ml, which are not all installed. "
        'Install them with pip install "npae[dask]".'
    ) from err

__all__ = ["METHODS", "ROW_SCORES", "Incremental", "ParallelPostFit", "from_npy", "to_backend", "to_numpy"]

#: inference method -> what one block of it returns: "codes" (N, K), "data" (N, D), "rows" (N,),
#: "proba" (N, 2): a detector's [P(inlier), P(outlier)]
METHODS = {
    "transform": "codes",
    "inverse_transform": "data",
    "reconstruct": "data",
    "score_samples": "rows",
    "decision_function": "rows",
    "predict": "rows",
    "predict_proba": "proba",
    "predict_confidence": "rows",
    "reconstruction_error": "rows",
    "elbo": "rows",
    "log_likelihood": "rows",
}
#: methods that score each row on its own for any fitted scikit-learn estimator (outlier detectors
#: such as IsolationForest, npae's PCA baseline, PyODDetector; a classifier's decision_function),
#: so they run block by block for those too, as float64 rows
ROW_SCORES = ("score_samples", "decision_function")
#: predict_proba's ``method`` values (AnomalyDetector's and PyOD's), checked on the client
PROBA_METHODS = ("linear", "unify")


# ------------------------------------------------------------------ the model's name in a graph
# dask-ml names every scikit-learn estimator by its parameters and the repr of its public fitted
# attributes, which misses the weights (layers print without them); these more specific
# registrations win over its BaseEstimator one.
@normalize_token.register(BaseAutoencoder)
def _tokenize_model(model):
    return model.__dask_tokenize__()


@normalize_token.register(AnomalyDetector)
def _tokenize_detector(detector):
    return _content(detector)


def _content(value):
    """A name for ``value`` made from its content: an npae model's own token; a scikit-learn
    estimator's class, parameters and fitted attributes (``model_``, ``scaler_``, ``offset_``,
    ...), each by content (dask-ml's tokenizer keeps their repr, which elides long arrays);
    anything else as Dask names it (arrays by their bytes)."""
    if isinstance(value, BaseAutoencoder):
        return value.__dask_tokenize__()
    if isinstance(value, BaseEstimator):  # fitted attributes, and private plain values (a detector's score seed)
        fitted = sorted((k, v) for k, v in vars(value).items() if not k.startswith("__") and (
            k.endswith("_") or isinstance(v, (bool, int, float, str, type(None)))))
        return (type(value).__qualname__, normalize_token(value.get_params(deep=False)),
                tuple((k, _content(v)) for k, v in fitted))
    return normalize_token(value)


def _fitted(estimator):
    """The snapshot a consumer reads: a model as fitted (``_as_fitted``), a detector as it is."""
    return estimator._as_fitted() if isinstance(estimator, BaseAutoencoder) else estimator


def _without_feature_names(estimator):
    """A shallow view of ``estimator`` (as fitted) without ``feature_names_in_``, for blocks whose
    columns were checked against the names on the client."""
    return model_without_feature_names(estimator)


def _call_on_block(blocks, estimator, method, empty, params=None):
    """What a worker runs: the estimator's own method on one block of rows, in memory.

    ``blocks`` is the list of X's column blocks for these rows, which holds one block (X has one
    column block): Dask hands over the list instead of concatenating it into a fresh array,
    which would copy every block and fails on libraries Dask does not know (array_api_strict).
    The block's position plays no part: a VAE's rows draw their noise from streams seeded by their
    own content, so a block scores its rows as X in memory does. A block of 0 rows returns 0 rows
    (``empty``: width and dtype of the output, see ``_empty_like``) without calling the
    estimator, which refuses them.
    ``params`` are the method's keyword arguments (predict_proba's ``method``).
    """
    (block,) = blocks
    if block.shape[0] == 0:
        return _empty_like(block, *empty)
    return getattr(estimator, method)(block, **(params or {}))


def _empty_like(block, width, dtype: str, host: bool):
    """0 rows of output, (0,) or (0, width), of ``dtype``: host NumPy, or beside ``block``."""
    shape = (0,) if width is None else (0, int(width))
    if host:
        return np.empty(shape, dtype=dtype)
    xp = array_namespace(block)
    return xp.empty(shape, dtype=getattr(xp, dtype), device=device(block))


def _block_output(estimator, method: str, X):
    """(meta, (width, dtype, host)) of ``estimator.<method>`` on X's blocks, without running it.

    ``meta`` is an empty array of the kind and dtype each block returns; ``width`` its number of
    columns (None for one value per row). Running the method on a dummy row (dask-ml's way) would
    advance a VAE's random Generator on the client, so the output is read off the estimator's
    fitted snapshot (``_as_fitted``: a ``set_params`` after the fit changes nothing here).
    """
    if not isinstance(estimator, BaseAutoencoder):  # a detector: host NumPy, float64 scores, ±1 integer labels
        dtype = "int64" if method == "predict" else "float64"
        width = 2 if METHODS[method] == "proba" else None
        return np.empty((0,) if width is None else (0, width), dtype=dtype), (width, dtype, True)
    # a model returns the kind of array it is given (npae.validation.restore_kind), in its dtype
    model = _fitted(estimator)
    kind = METHODS[method]
    width = {"codes": model.latent_dim, "data": model.n_features_in_}.get(kind)
    width = None if width is None else int(width)
    xp = array_namespace(X._meta)
    shape = (0,) if width is None else (0, width)
    dtype = str(model.dtype)
    return xp.empty(shape, dtype=getattr(xp, dtype), device=device(X._meta)), (width, dtype, False)


def _as_dask_rows(estimator, X, method: str):
    """(estimator, X) with a Dask DataFrame X checked against the names it must carry, as in memory
    (the input's ``feature_names_in_``; codes for ``inverse_transform``: ``get_feature_names_out``),
    and turned into a Dask array of its partitions, lazily (row counts unknown until computed),
    scored by a view of the estimator that expects no names. Anything else passes through."""
    if not (dask.is_dask_collection(X) and hasattr(X, "to_dask_array")):
        return estimator, X
    if method == "inverse_transform" and isinstance(estimator, BaseAutoencoder):
        _fitted(estimator)._check_code_names(X._meta)
    else:
        _check_feature_names(estimator, X._meta, reset=False)
    return _without_feature_names(estimator), X.to_dask_array()


def _checked_rows(estimator, X, method: str):
    """X (a Dask array) checked on the client as the estimator checks it in memory (2-D, its
    width), with its columns in one block so that every block holds whole rows."""
    check_is_fitted(estimator)
    name = type(estimator).__name__
    if X.ndim != 2:
        raise ValueError(f"Expected 2D array, got {X.ndim}D array instead: shape={X.shape}. "
                         f"Flatten each sample, e.g. X.reshape(len(X), -1).")
    fitted = _fitted(estimator)
    expected = fitted.latent_dim if method == "inverse_transform" else getattr(fitted, "n_features_in_", X.shape[1])
    if X.shape[1] != expected:
        raise ValueError(f"X has {X.shape[1]} features, but {name} is expecting {expected} features as input.")
    if X.numblocks[1] > 1:  # a block must hold whole rows; the row chunks stay as they are
        if not isinstance(X._meta, np.ndarray) and not is_cupy_array(X._meta):
            raise ValueError(f"X's blocks are {type(X._meta).__module__.split('.')[0]} arrays split into "
                             f"{X.numblocks[1]} column blocks, which Dask cannot join; give X one column block "
                             "before moving it: to_backend(X.rechunk({1: -1}), ...).")
        X = X.rechunk({1: -1})
    return X


def _shipped(estimator):
    """The estimator as a single key of the task graph, named by its content.

    Every block task depends on this key instead of carrying the estimator itself, so a worker
    receives the model once per computation, not once per block. The name hashes the fitted
    content (see ``_tokenize_model``), so a changed model is a new key.
    """
    return dask.delayed(estimator, pure=True)


class ParallelPostFit(_DaskMLParallelPostFit):
    """Run a fitted npae estimator block by block on Dask arrays.

    dask-ml's ``ParallelPostFit`` with every npae inference method, the true output width, and
    the estimator shipped once per worker (see the module docstring). ``fit`` trains the wrapped
    estimator in memory, as dask-ml's does.

    Parameters
    ----------
    estimator : npae estimator or npae.AnomalyDetector
        Fitted already, or fitted by ``fit``.

    Examples
    --------
    >>> import dask.array as da
    >>> scorer = ParallelPostFit(npae.AnomalyDetector(npae.Autoencoder()).fit(X_train))
    >>> scores = scorer.score_samples(da.from_array(X_big, chunks=(100_000, -1)))   # lazy, (N,)
    >>> scores.compute()                                                            # NumPy
    """

    def _map(self, method: str, X, params=None):
        """``estimator.<method>(X, **params)`` on every block of X (a Dask array), or in memory otherwise."""
        params = params or {}
        estimator = self._postfit_estimator
        if not hasattr(estimator, method):
            raise AttributeError(f"{type(estimator).__name__} has no {method}(), so this wrapper has none either.")
        if not isinstance(estimator, (BaseAutoencoder, AnomalyDetector)) and method not in ROW_SCORES:
            return self._dask_ml(method, estimator, X, params)
        estimator, X = _as_dask_rows(estimator, X, method)
        if not isinstance(X, da.Array):
            return getattr(estimator, method)(X, **params)
        X = _checked_rows(estimator, X, method)
        meta, empty = _block_output(estimator, method, X)
        width = empty[0]
        # rows i of X's columns j -> rows i (of k output columns): the same row blocks
        out, new_axes = ("i", {}) if width is None else ("ik", {"k": width})
        return da.blockwise(_call_on_block, out, X, "ij", _shipped(estimator), None, method=method,
                            empty=empty, params=params or None, new_axes=new_axes, concatenate=False,
                            align_arrays=False, meta=meta, token=f"npae-{method}")

    def _dask_ml(self, method: str, estimator, X, params):
        """Another estimator (a Pipeline, a scikit-learn transformer): dask-ml's own method, which
        knows nothing of npae's output widths, or a clear error for a method dask-ml does not run."""
        own = getattr(_DaskMLParallelPostFit, method, None)
        if own is None:
            raise TypeError(f"npae.dask.ParallelPostFit runs {method}() block by block for npae estimators and "
                            f"AnomalyDetector; {type(estimator).__name__} is neither. Score it in memory, or map it "
                            "over the blocks yourself (dask.array.map_blocks).")
        return own(self, X, **params)

    def transform(self, X):
        """Codes Z (N, K), block by block."""
        return self._map("transform", X)

    def inverse_transform(self, Z):
        """Data-space decodings (N, D) of codes Z (N, K), block by block."""
        return self._map("inverse_transform", Z)

    def reconstruct(self, X):
        """decode(encode(X)), shape (N, D), block by block."""
        return self._map("reconstruct", X)

    def score_samples(self, X):
        """One score per row (N,), higher = more normal, block by block.

        A VAE's score is a Monte Carlo estimate whose noise each row draws from a stream seeded by
        its own content, so a block's scores are the in-memory ones (an
        AnomalyDetector's sampled scores draw from its ``random_state``); the same graph gives the
        same numbers every time, and the client's generators do not advance.
        """
        return self._map("score_samples", X)

    def decision_function(self, X):
        """score_samples − offset_ (N,), negative for outliers, block by block."""
        return self._map("decision_function", X)

    def predict(self, X):
        """+1 (inlier) / −1 (outlier) per row (N,), block by block."""
        return self._map("predict", X)

    def predict_proba(self, X, method: str = "linear"):
        """A detector's outlier probability (N, 2), [P(inlier), P(outlier)], block by block.

        Each row's figure depends only on the row and the fitted training scores
        (``decision_scores_``), so the blocks give the in-memory numbers. ``method`` is
        ``"linear"`` or ``"unify"``, as for ``AnomalyDetector.predict_proba``.
        """
        check_option(method, PROBA_METHODS, "method")  # on the client, before any block runs
        return self._map("predict_proba", X, {"method": method})

    def predict_confidence(self, X):
        """A detector's confidence in each row's label (N,), in [0, 1], block by block."""
        return self._map("predict_confidence", X)

    def reconstruction_error(self, X):
        """Squared reconstruction error in data space per row (N,), block by block."""
        return self._map("reconstruction_error", X)

    def elbo(self, X, random_state=None):
        """A VAE's per-row ELBO with one sampled z (N,), block by block; ``random_state`` None or an
        int (each row's noise comes from a stream of the seed and the row, so blocks give the
        in-memory numbers; a Generator would be copied into every block)."""
        return self._map("elbo", X, _row_seed(random_state))

    def log_likelihood(self, X, k: int = 100, random_state=None):
        """A VAE's importance-weighted log p(x) with ``k`` samples (N,), block by block;
        ``random_state`` as for ``elbo``."""
        return self._map("log_likelihood", X, {"k": k, **_row_seed(random_state)})

    def score(self, X, y=None, compute=True):
        """The estimator's ``score`` over every row (npae's scores are means over rows).

        For an npae estimator each block of a Dask array (or of a Dask DataFrame's partitions,
        checked as in memory) is scored where it lies, and the mean is reduced from (block mean,
        rows) pairs (a float, or a lazy 0-d Dask array with ``compute=False``), so X is never
        gathered in one place; row counts need not be known (a boolean-mask selection). With
        ``scoring=`` set, or for any other estimator (a classifier scored against y), dask-ml's
        own ``score`` runs.
        """
        estimator = self._postfit_estimator
        if self.scoring is not None or not isinstance(estimator, (BaseAutoencoder, AnomalyDetector)):
            return _DaskMLParallelPostFit.score(self, X, y, compute=compute)
        estimator, X = _as_dask_rows(estimator, X, "score")
        if not isinstance(X, da.Array):
            return estimator.score(X, y)
        X = _checked_rows(estimator, X, "score")
        shipped = _shipped(estimator)
        parts = [dask.delayed(_block_mean_and_rows)(shipped, block) for block in X.to_delayed().ravel()]
        mean = da.from_delayed(dask.delayed(_mean_of_blocks)(parts), shape=(), dtype=float)
        return float(mean.compute()) if compute else mean


def _row_seed(random_state) -> dict:
    """``random_state`` for a sampled method run block by block: None or an int (per-row streams)."""
    if random_state is not None and not (isinstance(random_state, (int, np.integer))
                                         and not isinstance(random_state, bool)):
        raise TypeError(f"random_state must be None or an int when scoring block by block; got "
                        f"{type(random_state).__name__}. A Generator would be copied into every block, "
                        "so the blocks would not draw the in-memory numbers.")
    return {} if random_state is None else {"random_state": int(random_state)}


def _block_mean_and_rows(estimator, block) -> tuple:
    """(the estimator's score of a block, its rows); (0.0, 0) for a block of 0 rows."""
    return (float(estimator.score(block)), int(block.shape[0])) if block.shape[0] else (0.0, 0)


def _mean_of_blocks(parts) -> float:
    """Σ_b mean_b · (n_b / N), which cannot overflow where Σ mean_b · n_b would, clamped to
    ±finfo(float64).max as the models clamp their own score; refuses N = 0 as memory does."""
    total = sum(n for _, n in parts)
    if total == 0:
        raise ValueError("Found array with 0 sample(s) while a minimum of 1 is required by score.")
    mean = math.fsum(m * (n / total) for m, n in parts if n)
    return mean if math.isfinite(mean) else math.copysign(float(np.finfo(np.float64).max), mean)


class Incremental(_DaskMLIncremental, ParallelPostFit):
    """Train on a Dask array one block at a time, then infer block by block.

    dask-ml's ``Incremental``: ``fit(X)`` is one pass over X's blocks in random order, each block
    one epoch of the model's ``partial_fit``; ``partial_fit(X)`` makes another pass on the same
    model. The inference methods are ``ParallelPostFit``'s. See the module docstring for what an
    epoch is here and how rows are shuffled.

    Parameters
    ----------
    estimator : npae estimator
    random_state : None, int or numpy.random.RandomState
        Orders the blocks of each pass; a RandomState gives every pass a new order.
    shuffle_blocks : bool, default=True
        False trains the blocks in their order in X.

    Notes
    -----
    Blocks of 0 rows (a boolean-mask selection, uneven chunks) are skipped; X with no rows at
    all is refused.
    """

    def _fit_for_estimator(self, estimator, X, y, **fit_kwargs):
        """dask-ml's, with blocks of 0 rows skipped (npae's ``partial_fit`` refuses them)."""
        if not hasattr(estimator, "partial_fit"):
            raise TypeError(f"Incremental trains with partial_fit, which {type(estimator).__name__} has not. Train "
                            "an npae model with Incremental, then wrap it: AnomalyDetector(inc.estimator_, "
                            "refit=False).fit(a sample of the rows).")
        if not (dask.is_dask_collection(X) or dask.is_dask_collection(y)):
            return super()._fit_for_estimator(estimator, X, y, **fit_kwargs)
        if isinstance(X, da.Array):
            if not np.isnan(X.shape[0]) and X.shape[0] == 0:
                raise ValueError(f"Found array with 0 sample(s) (shape={X.shape}) while a minimum of 1 is "
                                 f"required by {type(estimator).__name__}.")
            if X.ndim == 2 and X.numblocks[1] > 1:  # dask-ml trains on column block 0 only: whole rows here
                X = X.rechunk({1: -1})
        trained = _partial_fit_blocks(_SkipEmptyBlocks(estimator), X, y, random_state=self.random_state,
                                      shuffle_blocks=self.shuffle_blocks,
                                      assume_equal_chunks=self.assume_equal_chunks, **fit_kwargs).estimator
        try:
            check_is_fitted(trained)
        except NotFittedError:
            raise ValueError(f"Every block of X is empty, so {type(estimator).__name__} has nothing to "
                             "train on.") from None
        copy_learned_attributes(trained, self)
        self.estimator_ = trained
        return self


class _SkipEmptyBlocks:
    """Carries an estimator through dask-ml's block-after-block fit, skipping blocks of 0 rows."""

    def __init__(self, estimator):
        self.estimator = estimator

    def partial_fit(self, X, y=None, **kwargs):
        if X.shape[0] > 0:
            self.estimator.partial_fit(X, y, **kwargs)
        return self

    def __dask_tokenize__(self):
        return ("npae-skip-empty-blocks", normalize_token(self.estimator))


def _read_rows(path, block_info=None):
    start, stop = block_info[None]["array-location"][0]
    return np.load(path, mmap_mode="r")[start:stop]


def from_npy(path, rows_per_chunk: int = 100_000):
    """A Dask array over the rows of a 2-D ``.npy`` file, each block a memory map.

    The graph holds the path and the row ranges, never the data: each worker opens the file
    itself (``numpy.load(path, mmap_mode="r")``) and reads only its rows, so the file may be
    larger than any worker's memory. npae's ``partial_fit`` then streams each block in
    minibatches. (``dask.array.from_array`` on a memory map would instead pickle the whole
    array into the graph.) Every worker must be able to read ``path``.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.npy`` file of shape (N, D).
    rows_per_chunk : int, default=100_000

    Returns
    -------
    dask.array.Array of shape (N, D), chunks (rows_per_chunk, D), blocks ``numpy.memmap``
    """
    path = str(path)
    header = np.load(path, mmap_mode="r")  # reads the header only
    if header.ndim != 2:
        raise ValueError(f"{path!r} holds an array of shape {header.shape}; expected 2-D (N, D).")
    n, d = header.shape
    if isinstance(rows_per_chunk, (bool, np.bool_)) or not isinstance(rows_per_chunk, numbers.Integral) \
            or rows_per_chunk < 1:
        raise ValueError(f"rows_per_chunk must be a positive integer; got {rows_per_chunk!r}.")
    rows_per_chunk = int(rows_per_chunk)
    rows = tuple(min(rows_per_chunk, n - start) for start in range(0, n, rows_per_chunk)) or (0,)
    # named by the file's identity too (as Dask's own readers): a file rewritten with new rows is a
    # new graph, so results persisted for the old content are never served for the new
    stat = os.stat(path)
    identity = tokenize(os.path.realpath(path), stat.st_mtime_ns, stat.st_size, stat.st_ino, rows, header.dtype.str)
    return da.map_blocks(_read_rows, path, chunks=(rows, (d,)), dtype=header.dtype,
                         meta=np.empty((0, d), dtype=header.dtype), name=f"npae-from-npy-{identity}")


def _asarray_on(block, name, dtype):
    return B.asarray(block, dtype=dtype, backend=name)


def to_backend(X, name: str, dtype: str | None = None):
    """Each block of X moved onto an array backend (``"cupy"``, ``"array_api_strict"``, ...).

    The move happens on the workers, block by block (``npae.asarray``), so a model on that
    backend scores the blocks where they are. Dask gathers CuPy blocks natively; blocks of other
    libraries are brought home with ``to_numpy`` first.

    Parameters
    ----------
    X : dask.array.Array of shape (N, D)
    name : str
        One of ``npae.backend.BACKENDS``.
    dtype : {"float32", "float64"}, optional
        Cast on the way; default keeps X's dtype.
    """
    target = B.get_backend(name)
    if dtype is None:
        if np.dtype(X.dtype).kind != "f":
            raise ValueError(f"X has dtype {X.dtype}; pass dtype='float32' or 'float64' to cast the blocks on the "
                             "way (npae's models compute in floating point).")
        dtype = B.dtype_name(X.dtype)
    meta = B.asarray(np.empty((0,) * X.ndim), dtype=dtype, backend=target)
    # backend and dtype go positionally: map_blocks keeps the keywords name= and dtype= for itself
    return X.map_blocks(_asarray_on, target.name, dtype, meta=meta, token=f"npae-to-{target.name}")


def to_numpy(X):
    """Each block of X (any backend) copied to host NumPy (``npae.to_numpy``), so Dask can
    gather blocks of libraries it does not know how to concatenate (``array_api_strict``)."""
    meta = B.to_numpy(X._meta)
    return X.map_blocks(B.to_numpy, meta=meta, token="npae-to-numpy")
