"""Input checks with scikit-learn-style messages: what was expected, what came, how to fix it.

Nothing here coerces silently: a float64 array becomes the model's dtype (as scikit-learn casts
to float), but booleans, complex numbers, text, objects, NaN and infinity are refused by name, and
so are sparse matrices (the layers are dense) and masked arrays with masked entries (a mask would
be dropped, and the values under it used). A pandas DataFrame is read column by column: numeric
columns (NumPy or pandas' nullable ``Float32``/``Int64``… types) are accepted, any other column is
refused by name and dtype.
"""

from __future__ import annotations

import difflib
import math
import numbers
import struct
from typing import NoReturn

from array_api_compat import array_namespace

from npae import backend as B

__all__ = [
    "ComplexDataError",
    "all_finite",
    "check_option",
    "check_array",
    "check_in_unit_interval",
    "UNIT_INTERVAL_TOLERANCE",
    "shortest_repr",
    "check_positive_int",
    "check_nonnegative_int",
    "check_positive_float",
    "check_nonnegative_float",
    "check_fraction",
    "check_open_fraction",
    "check_finite_or_none",
    "check_ordered_range",
    "check_verbose",
    "check_hidden_sizes",
    "check_seed",
    "restore_kind",
    "check_int_at_least",
    "check_float_in_range",
    "check_squares_finite",
    "check_finite",
]


class ComplexDataError(TypeError, ValueError):
    """Complex input: a TypeError (the wrong kind of number) that is also the ValueError with
    "Complex data not supported" scikit-learn's estimator checks expect."""


def check_option(value, valid, what: str):
    """Return ``value`` if it is one of ``valid``; else ValueError listing them (and the closest)."""
    if isinstance(value, str) and value in valid:
        return value
    lowered = {str(v).lower(): v for v in valid}
    close = [lowered[m] for m in difflib.get_close_matches(str(value).lower(), list(lowered), n=1)]
    spelled = [v for v in valid if not isinstance(value, str) and str(v) in str(value)]  # e.g. numpy.float64
    hint = (f" Pass it as the string {spelled[0]!r}." if spelled else f" Did you mean {close[0]!r}?" if close
            else "")
    raise ValueError(f"Unknown {what} {value!r}; expected one of {', '.join(map(repr, valid))}.{hint}")


def _refuse(message: str, hint: str) -> NoReturn:
    """Raise ValueError(message), with the hint (how to fix it) after it when one is given."""
    raise ValueError(f"{message} {hint}" if hint else message)


def _is_real(value) -> bool:
    """A real number that is not a bool (``True`` is an ``int`` in Python, never a hyperparameter)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_positive_int(value, name: str, *, hint: str = "") -> int:
    """An int > 0 (bools refused). ``hint`` is appended to the message (how to fix it)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        _refuse(f"{name} must be a positive integer; got {value!r}.", hint)
    return int(value)


def check_nonnegative_int(value, name: str, *, hint: str = "") -> int:
    """An int ≥ 0 (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        _refuse(f"{name} must be a non-negative integer; got {value!r}.", hint)
    return int(value)


def check_positive_float(value, name: str, *, hint: str = "") -> float:
    """A finite real > 0."""
    if not _is_real(value) or not math.isfinite(value) or value <= 0:
        _refuse(f"{name} must be a positive finite number; got {value!r}.", hint)
    return float(value)


def check_nonnegative_float(value, name: str, *, hint: str = "") -> float:
    """A finite real ≥ 0."""
    if not _is_real(value) or not math.isfinite(value) or value < 0:
        _refuse(f"{name} must be a non-negative finite number; got {value!r}.", hint)
    return float(value)


def check_fraction(value, name: str, *, hint: str = "") -> float:
    """A real in [0, 1], e.g. the rate of a corruption (NaN refused)."""
    if not _is_real(value) or not 0.0 <= value <= 1.0:
        _refuse(f"{name} must be a fraction in [0, 1]; got {value!r}.", hint)
    return float(value)


def check_open_fraction(value, name: str, *, hint: str = "") -> float:
    """A real strictly between 0 and 1, e.g. a target activation ρ whose log and log(1 − ρ) are taken."""
    if not _is_real(value) or not 0.0 < value < 1.0:
        _refuse(f"{name} must be a number strictly between 0 and 1; got {value!r}.", hint)
    return float(value)


def check_finite_or_none(value, name: str):
    """None, or a finite real returned as a float (e.g. an optional clip bound)."""
    if value is None:
        return None
    if not _is_real(value) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number or None; got {value!r}.")
    return float(value)


def check_ordered_range(low, high, low_name: str = "low", high_name: str = "high") -> None:
    """Refuse low > high (either may be None: an open end)."""
    if low is not None and high is not None and low > high:
        raise ValueError(f"{low_name} must not exceed {high_name}; got {low_name}={low!r}, {high_name}={high!r}. "
                         f"Pass the data range, e.g. {low_name}=0.0, {high_name}=1.0.")


def check_seed(value, name: str = "random_state"):
    """``value`` as ``backend.check_random_state`` takes it (None, an int ≥ 0 or a Generator),
    refusing a negative int by name, where NumPy would only say "expected non-negative integer".
    Returns the numpy.random.Generator it gives."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and value < 0:
        raise ValueError(
            f"{name} must be None, a non-negative int or a numpy.random.Generator; got {value!r}. "
            f"Pass a seed such as 0 or 42 (or None for fresh entropy each fit)."
        )
    return B.check_random_state(value)


def check_verbose(verbose) -> int:
    """0 (silent), 1 (a progress bar over epochs) or 2 (one line per epoch, for logs); False and
    True mean 0 and 1."""
    if verbose not in (0, 1, 2, False, True):
        raise ValueError(f"verbose must be 0, 1 or 2; got {verbose!r}.")
    return int(verbose)


def check_hidden_sizes(hidden_sizes, name: str = "hidden_sizes") -> tuple[int, ...]:
    """A tuple of positive ints (an int alone means one hidden layer; () means none).

    Lists, tuples and 1-D integer arrays are sequences (``np.arange(16, 64, 16)`` works, and NumPy
    integers become Python ints); text, mappings and sets are refused, since their iteration
    order or items are not widths.
    """
    if isinstance(hidden_sizes, numbers.Integral) and not isinstance(hidden_sizes, bool):
        hidden_sizes = (hidden_sizes,)
    ordered = isinstance(hidden_sizes, (list, tuple)) or (
        hasattr(hidden_sizes, "shape") and hasattr(hidden_sizes, "dtype") and len(hidden_sizes.shape) == 1)
    if not ordered:
        raise ValueError(f"{name} must be a sequence of positive integers; got {hidden_sizes!r}.")
    sizes = tuple(hidden_sizes)
    for size in sizes:
        check_positive_int(size, f"each entry of {name}")
    return tuple(int(s) for s in sizes)


_KIND_NAMES = {"b": "boolean", "c": "complex", "O": "object", "U": "string", "S": "bytes", "V": "void", "M": "datetime", "m": "timedelta"}


#: how messages name each library's arrays
_LIBRARY_ARRAYS = {"torch": "a torch tensor", "cupy": "a CuPy array", "array_api_strict": "an array_api_strict array",
                   "numpy": "a NumPy array"}


def _cast_hint(name: str, kind: str) -> str:
    """How to make float32 from an array called ``name``, in its library's words."""
    if kind == "torch":
        return f"{name}.float()"
    if kind == "array_api_strict":
        return f"xp.astype({name}, xp.float32)"
    return f"{name}.astype('float32')" if kind != "sequence" else f"numpy.asarray({name}, dtype='float32')"


def check_array(X, *, backend, dtype, name: str = "X", n_features: int | None = None,
                estimator_name: str = "estimator", allow_empty: bool = False):
    """Validate a 2-D numeric input and move it onto ``backend`` in ``dtype``.

    Parameters
    ----------
    X : array-like of shape (N, D)
        A NumPy array, a numeric nested list, or an array of ``backend``'s library.
    backend : npae.backend.Backend
    dtype : str
        ``"float32"`` or ``"float64"``.
    n_features : int, optional
        The width a fitted model expects.

    Returns
    -------
    X : backend array of shape (N, D)
    kind : str
        ``"numpy"``, ``"sequence"`` or the backend name: what came in, for ``restore_kind``.
    """
    _refuse_sparse_or_masked(X, name)
    if _is_dataframe(X):
        X = _dataframe_values(X, name)
    kind, letter = B.input_kind(X)
    if kind not in ("numpy", "sequence") and kind != backend.name:
        other = "" if backend.name == "numpy" else f" or {_LIBRARY_ARRAYS.get(backend.name, backend.name + ' arrays')}"
        raise TypeError(
            f"{name} is {_LIBRARY_ARRAYS.get(kind, 'a ' + kind + ' array')} but this {estimator_name} runs on the "
            f"{backend.name!r} backend. Pass a NumPy array{other} (convert with npae.to_numpy({name}))."
        )
    if kind == backend.name and kind != "numpy" and B.device_of(X) != backend.device:
        raise ValueError(  # scikit-learn's array API rule: no silent move, results on the caller's device
            f"{name} is on device {B.device_of(X)} but this {estimator_name} runs on {backend.device}. Move it "
            f"there first ({B.move_hint(name, backend)}), or pass a NumPy array (copied to the device and back)."
        )
    if letter == "c":
        raise ComplexDataError(
            f"{name} has complex dtype; expected real numbers (float or int). Complex data not supported: "
            f"pass the part that carries the signal, e.g. {name}.real or abs({name}), as float32."
        )
    if letter == "V" and not str(getattr(X, "dtype", "void")).startswith(("void", "[", "(", "{")):
        raise TypeError(  # e.g. ml_dtypes.bfloat16: NumPy stores it as opaque 'void' records
            f"{name} has dtype {X.dtype}, which NumPy only stores and npae cannot compute with; expected "
            f"float32 or float64 (or ints). Convert it first, e.g. {_cast_hint(name, kind)} (exact for "
            "bfloat16 and float8 types)."
        )
    if letter not in "fiu":
        what = _KIND_NAMES.get(letter, f"dtype kind {letter!r}")
        raise TypeError(
            f"{name} has {what} dtype; expected real numbers (float or int). "
            f"Convert it first, e.g. {_cast_hint(name, kind)}."
        )
    ndim = len(X.shape) if kind != "sequence" else B.to_numpy(X).ndim
    shape = tuple(X.shape) if kind != "sequence" else B.to_numpy(X).shape
    if ndim != 2:
        if ndim == 1:
            raise ValueError(
                f"Expected 2D array, got 1D array instead: shape={shape}. Reshape your data either "
                f"using X.reshape(-1, 1) if your data has a single feature or X.reshape(1, -1) if it "
                f"contains a single sample."
            )
        raise ValueError(f"Expected 2D array, got {ndim}D array instead: shape={shape}. "
                         f"Flatten each sample, e.g. X.reshape(len(X), -1).")
    if shape[0] == 0 and not allow_empty:
        raise ValueError(f"Found array with 0 sample(s) (shape={shape}) while a minimum of 1 is required.")
    if shape[1] == 0:
        raise ValueError(f"Found array with 0 feature(s) (shape={shape}) while a minimum of 1 is required.")
    if n_features is not None and shape[1] != n_features:
        raise ValueError(
            f"{name} has {shape[1]} features, but {estimator_name} is expecting {n_features} features as input."
        )
    Xb = B.asarray(X, dtype=dtype, backend=backend)
    check_finite(Xb, name)
    return Xb, kind


def _is_dataframe(X) -> bool:
    """A pandas DataFrame (duck-typed: columns, per-column dtypes and ``to_numpy``)."""
    return all(hasattr(X, a) for a in ("columns", "dtypes", "iloc", "to_numpy"))


def _dataframe_values(X, name: str):
    """The values of a DataFrame as a host float64 array, or a TypeError naming the columns that
    are not numbers (a bool, text or category column would make NumPy see one "object" array).

    pandas' nullable numeric columns (``Float32``, ``Int64``, …) are numbers: missing entries
    become NaN, which ``check_array`` then refuses as missing values.
    """
    bad = [(column, dtype) for column, dtype in zip(X.columns, X.dtypes)
           if getattr(dtype, "kind", "O") not in "fiu"]
    if bad:
        shown = ", ".join(f"{column!r} ({dtype})" for column, dtype in bad[:5]) + (", …" if len(bad) > 5 else "")
        raise TypeError(
            f"{name} is a DataFrame with {len(bad)} column(s) that are not real numbers: {shown}; expected "
            f"float or int columns. Convert them first, e.g. {name}.astype('float32') (booleans become "
            "0.0/1.0), or drop them (text and categories need an encoder such as sklearn's OneHotEncoder)."
        )
    return X.to_numpy(dtype="float64", na_value=float("nan"))


def _refuse_sparse_or_masked(X, name: str) -> None:
    """Sparse matrices (SciPy, PyData ``sparse``, sparse torch tensors) and masked arrays with
    masked entries, each refused with its own fix rather than as "object dtype" or silently unmasked."""
    module = type(X).__module__
    if module.startswith(("scipy.sparse", "sparse.")) or getattr(X, "is_sparse", False) is True:
        raise TypeError(
            f"Sparse data was passed for {name}, but dense data is required: npae's layers work on dense "
            f"arrays. Convert it with {name}.toarray() (it then holds every zero), or keep data larger than "
            "memory in a dense np.memmap, which fit and the inference methods stream."
        )
    if module.startswith("numpy.ma") and hasattr(X, "mask"):
        masked = int(B.to_numpy(X.mask).sum())
        if masked:
            raise ValueError(
                f"{name} is a masked array with {masked} masked entr{'y' if masked == 1 else 'ies'}; npae does "
                f"not honour masks, and converting it would use the values under the mask. Fill them first, "
                f"e.g. {name}.filled({name}.mean()), or drop the masked rows: "
                f"{name}.data[~{name}.mask.any(axis=1)]."
            )


def check_squares_finite(X, name: str = "X") -> None:
    """Refuse data whose rows' sums of squares overflow the dtype (a reconstruction error that is
    infinite from the first step, whatever the learning rate), with the data named as the cause.

    X : array of shape (N, D), finite. Cheap when max|x|²·D fits the dtype (the usual case).
    """
    xp = array_namespace(X)
    largest = max(float(xp.max(X)), -float(xp.min(X)))  # max |x| without an (N, D) temporary
    top = float(xp.finfo(X.dtype).max)
    if largest * largest * X.shape[1] <= top:
        return
    sums = xp.sum(X * X, axis=1)
    if bool(xp.all(xp.isfinite(sums))):
        return
    dtype = B.dtype_name(X.dtype)
    fix = "Scale it first (e.g. sklearn.preprocessing.StandardScaler)"
    fix += ", or use dtype='float64'." if dtype == "float32" else "."
    raise ValueError(
        f"Input {name} has values up to {largest:.3g} in absolute value: a row's sum of squares overflows "
        f"{dtype} (max {top:.3g}), so the reconstruction error is infinite from the first step whatever the "
        f"learning rate. {fix}"
    )


def all_finite(arrays) -> bool:
    """Whether every array holds only finite numbers: one host sync (inputs, parameters, optimizer state).

    First the sum of every array's sum: a NaN or ±inf anywhere makes it NaN or ±inf, so a finite
    total proves every entry finite, at the cost of one summing pass (which every backend runs
    fast; ``isfinite`` writes a mask first, and runs one element at a time on some). Only a total
    that is not finite (a divergence, or finite entries whose sum overflows) is checked entry by
    entry."""
    if not arrays:
        return True
    total = None
    for a in arrays:
        part = array_namespace(a).sum(a)
        total = part if total is None else total + part
    if bool(array_namespace(total).isfinite(total)):
        return True
    flags = [array_namespace(a).all(array_namespace(a).isfinite(a)) for a in arrays]
    ok = flags[0]
    for flag in flags[1:]:
        ok = ok & flag
    return bool(ok)


def check_finite(X, name: str) -> None:
    """Raise ValueError naming the first NaN or ±inf in X (row and column), with how to fix it."""
    if all_finite([X]):  # a sum first: PyTorch's isfinite + all takes ~10x as long on a CPU tensor
        return
    row, col, is_nan = B.first_nonfinite(X)
    where = f" (first at row {row}, column {col})"
    if is_nan:
        raise ValueError(f"Input {name} contains NaN{where}. Remove or impute missing values first.")
    raise ValueError(
        f"Input {name} contains infinity or a value too large for dtype('{B.dtype_name(X.dtype)}'){where}."
    )


#: How far outside [0, 1] ``check_in_unit_interval`` lets values be: 4 units in the last place of
#: float32 at 1.0 (2**-21 ≈ 4.8e-7), float rounding of data scaled in float32 (MinMaxScaler on
#: float32 data can give 1.0000001). Such values are scored as they are: the BCE on logits,
#: softplus(y) − x·y, is finite for any finite x.
UNIT_INTERVAL_TOLERANCE = 2.0**-21


def shortest_repr(value: float, dtype=None) -> str:
    """The shortest decimal that reads back as ``value`` in ``dtype`` (float32 or float64): 1.0000001
    for float32's next number after 1, 255 for 255.0 (as NumPy prints its scalars)."""
    single = dtype is not None and "float32" in str(dtype)
    for digits in range(1, 18):
        text = f"{value:.{digits}g}"
        back = float(text)
        if single:
            back = struct.unpack("f", struct.pack("f", back))[0]
        if back == value:
            return text
    return repr(value)


def check_in_unit_interval(X, name: str, who: str, alternative: str = "loss='mse'") -> None:
    """Refuse data outside [0, 1] (BCE / Bernoulli targets), quoting min and max.

    Values within ``UNIT_INTERVAL_TOLERANCE`` of the bounds (float rounding) are accepted. The
    message quotes min and max with the digits that tell them apart in X's dtype
    (``shortest_repr``), so a float32 1.0000001 does not read as 1.
    ``who`` names the model and option ("VAE with likelihood='bernoulli'"); ``alternative`` is
    the option that accepts any real data, suggested as the other fix.
    """
    xp = array_namespace(X)
    lo, hi = float(xp.min(X)), float(xp.max(X))
    if lo < -UNIT_INTERVAL_TOLERANCE or hi > 1.0 + UNIT_INTERVAL_TOLERANCE:
        raise ValueError(
            f"{who} expects {name} in [0, 1]; got min={shortest_repr(lo, X.dtype)}, "
            f"max={shortest_repr(hi, X.dtype)}. "
            f"Scale it first, e.g. {name} / 255.0 for 8-bit images, or use {alternative}."
        )


def restore_kind(result, kind: str):
    """Return ``result`` as the kind of array the caller passed in (NumPy for lists)."""
    if kind in ("numpy", "sequence"):
        return B.to_numpy(result)
    return result


def check_int_at_least(value, name: str, minimum: int) -> int:
    """An int ≥ ``minimum`` (bools refused), e.g. ``steps >= 2`` for a path with both ends."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}.")
    return int(value)


def check_float_in_range(value, name: str, low: float, high: float, *, include_low: bool = False,
                         include_high: bool = False) -> float:
    """A real in the interval from ``low`` to ``high``, open at each end unless included (NaN refused).

    The message writes the interval as mathematics does: ``contamination must be in (0, 0.5]``.
    """
    lo_ok = isinstance(value, numbers.Real) and (value >= low if include_low else value > low)
    hi_ok = isinstance(value, numbers.Real) and (value <= high if include_high else value < high)
    if isinstance(value, bool) or not (lo_ok and hi_ok):
        interval = f"{'[' if include_low else '('}{low:g}, {high:g}{']' if include_high else ')'}"
        raise ValueError(f"{name} must be in {interval}; got {value!r}.")
    return float(value)
