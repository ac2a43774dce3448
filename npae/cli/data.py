"""Data for the command line: ``--dataset`` values, saved models, and the test split they are scored on.

Host code: every array here is NumPy; the models move what they are given to their backend.
"""

from __future__ import annotations

import codecs
import difflib
import json
import math
import zipfile
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from npae import backend as B
from npae import datasets
from npae.cli.options import CLIError
from npae.cli.output import cli_path
from npae.models import load

__all__ = [
    "DATASETS",
    "DIGITS_TEST_SIZE",
    "data_range",
    "dataset_record",
    "held_out_split",
    "image_shape",
    "load_model",
    "load_training_data",
    "pick_examples",
]

#: Named datasets for --dataset (anything else must be a path to an .npz file).
DATASETS = ("embedded", "fashion-mnist", "mnist", "digits")

#: The digits set has no official split: a stratified, fixed-seed hold-out of this many images.
DIGITS_TEST_SIZE = 360


# ------------------------------------------------------------------------------ --dataset
def dataset_record(dataset):
    """The ``--dataset`` value as ``metrics.json`` records it: a name as its key, a file as its absolute
    path (so ``npae evaluate RUN`` finds the same file from any working directory); None stays None."""
    if dataset is None:
        return None
    key = dataset.strip().lower().replace("_", "-")
    return key if key in DATASETS else str(cli_path(dataset, "--dataset").resolve())


def load_training_data(dataset: str, *, data_dir=None, download: bool = False, splits=("train", "test")):
    """Load ``(X_train, y_train, X_test, y_test, info)`` for a ``--dataset`` value.

    ``splits=("test",)`` loads only the test split of a named dataset (the train entries are
    None), for commands that score a saved model; an .npz file is read whole.

    ``X_*`` are host float arrays (N, D); ``y_*`` int arrays (N,) or None; ``X_test`` is None for
    an .npz file without one. ``info`` is a dict: ``name`` (for run directories), ``title`` (for
    the report), ``image_shape`` ((h, w) or None).

    Raises
    ------
    ValueError
        For an unknown name (listing the valid ones), an .npz file without ``X_train``, or arrays
        of the wrong shape.
    FileNotFoundError
        For a missing file (the dataset loaders say where they looked and how to get the files).
    """
    key = dataset.strip().lower().replace("_", "-")
    if key not in ("mnist", "fashion-mnist") and (data_dir is not None or download):
        given = " and ".join(opt for opt, on in (("--data-dir", data_dir is not None), ("--download", download)) if on)
        what = (f"--dataset {key} ships with npae" if key == "embedded" else
                f"--dataset {key} comes with scikit-learn" if key == "digits" else f"--dataset {dataset} is a file")
        raise CLIError(f"{given} apply to --dataset mnist and fashion-mnist only; {what}. Leave {given} out.")
    if key in DATASETS:
        info = {"name": key, "image_shape": None}
        if key == "digits":
            X, y = datasets.load_digits()
            X_train, X_test, y_train, y_test = train_test_split(
                X, y, test_size=DIGITS_TEST_SIZE, stratify=y, random_state=0)
            info["title"] = f"digits (scikit-learn 8x8, stratified hold-out of {DIGITS_TEST_SIZE})"
            return X_train, y_train, X_test, y_test, info
        if data_dir is not None:
            data_dir = cli_path(data_dir, "--data-dir")
        kwargs = {} if key == "embedded" else {"data_dir": data_dir, "download": download}
        loaded = {split: datasets.load_dataset(key, split, **kwargs) for split in splits}
        (X_train, y_train), (X_test, y_test) = (loaded.get(split, (None, None)) for split in ("train", "test"))
        info["title"] = {"embedded": "embedded (Fashion-MNIST subset shipped with npae)",
                         "fashion-mnist": "Fashion-MNIST", "mnist": "MNIST"}[key]
        return X_train, y_train, X_test, y_test, info
    path = cli_path(dataset, "--dataset")
    if path.suffix.lower() != ".npz" and not path.is_file():
        close = difflib.get_close_matches(key, DATASETS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise CLIError(f"Unknown dataset {dataset!r}; expected one of {', '.join(map(repr, DATASETS))} "
                       f"or a path to an .npz file with X_train (and optionally X_test, y_train, y_test).{hint}")
    return _load_npz(path)


#: What --dataset accepts besides a name, for the messages below.
_NPZ_EXPECTED = "an .npz archive with X_train (N, D) and optionally X_test, y_train, y_test"
_NPY_MAGIC, _ZIP_MAGIC = b"\x93NUMPY", b"PK"


def _load_npz(path: Path):
    if not path.is_file():
        raise FileNotFoundError(f"Dataset file {str(path)!r} does not exist.")
    with open(path, "rb") as handle:
        head = handle.read(512)
    # What the file is decides the message: np.load returns a bare array for a .npy (which
    # `with` cannot manage) and blames pickles for any file it does not recognise, such as a CSV.
    if head.startswith(_NPY_MAGIC):
        raise CLIError(f"--dataset {str(path)!r} is a single NumPy array (.npy), not {_NPZ_EXPECTED}; "
                       f"save it as one, e.g. numpy.savez({path.with_suffix('.npz').name!r}, "
                       f"X_train=numpy.load({path.name!r})).")
    if not head.startswith(_ZIP_MAGIC):
        raise CLIError(f"--dataset {str(path)!r} is not an .npz archive ({_describe_head(head)}); expected "
                       f"{_NPZ_EXPECTED}. Convert it, e.g. numpy.savez({path.with_suffix('.npz').name!r}, "
                       f"X_train=numpy.loadtxt({path.name!r}, delimiter=',')) for a CSV of numbers.")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except ValueError as err:
        if "allow_pickle" not in str(err):
            raise CLIError(f"Could not read the .npz archive {str(path)!r}: {err}; expected {_NPZ_EXPECTED}.") from err
        raise CLIError(f"--dataset {str(path)!r} holds object arrays, which npae does not unpickle; expected "
                       f"{_NPZ_EXPECTED} as numeric arrays. Save them with numpy.savez after "
                       "X.astype(float) (and y.astype(int)).") from err
    except (OSError, EOFError, zipfile.BadZipFile) as err:
        raise CLIError(f"Could not read the .npz archive {str(path)!r} ({type(err).__name__}: {err}); the file "
                       f"may be truncated or damaged. Save {_NPZ_EXPECTED} again with numpy.savez.") from err
    if "X_train" not in arrays:
        raise CLIError(f"{str(path)!r} has no 'X_train' array (it has: {', '.join(sorted(arrays)) or 'nothing'}); "
                       "a dataset file needs X_train (N, D) and optionally X_test, y_train, y_test.")
    image_shape = None
    out = {}
    for split in ("train", "test"):
        X = arrays.get(f"X_{split}")
        y = arrays.get(f"y_{split}")
        if X is not None:
            if X.ndim == 3:  # a stack of (h, w) images: flatten rows, keep the shape for figures
                image_shape = tuple(int(s) for s in X.shape[1:])
                X = X.reshape(X.shape[0], -1)
            if X.ndim != 2:
                raise CLIError(f"X_{split} in {str(path)!r} must be 2-D (N, D) or a stack of images "
                               f"(N, h, w); got shape {X.shape}.")
        if y is not None:
            if X is None:
                raise CLIError(f"{str(path)!r} has y_{split} but no X_{split}.")
            if y.ndim != 1 or y.shape[0] != X.shape[0]:
                raise CLIError(f"y_{split} in {str(path)!r} must have one label per row of X_{split}: "
                               f"expected shape ({X.shape[0]},), got {y.shape}.")
        out[split] = (X, y)
    (X_train, y_train), (X_test, y_test) = out["train"], out["test"]
    if X_test is not None and X_test.shape[1] != X_train.shape[1]:
        raise CLIError(f"X_test in {str(path)!r} has {X_test.shape[1]} features but X_train has "
                       f"{X_train.shape[1]}.")
    info = {"name": path.stem, "title": f"{path.name}", "image_shape": image_shape}
    return X_train, y_train, X_test, y_test, info


def _describe_head(head: bytes) -> str:
    """What the first bytes of a file that is not an .npz suggest it is, for the error message."""
    if not head:
        return "it is empty"
    try:  # incremental: a character cut at the end of the bytes read is not an error
        text = codecs.getincrementaldecoder("utf-8")().decode(head)
    except UnicodeDecodeError:
        return f"it starts with the bytes {head[:8]!r}"
    first = text.splitlines()[0][:40] if text.strip() else ""
    kind = "a CSV text file" if "," in first else "a text file"
    return f"it looks like {kind}, starting {first!r}"


# ------------------------------------------------------------------------------ saved models
def load_model(path_text: str, backend_name=None):
    """(model, path) from a MODEL.npz path or a run directory holding model.npz."""
    path = cli_path(path_text, "MODEL.npz")
    if path.is_dir() and (path / "model.npz").is_file():
        path = path / "model.npz"
    if not path.is_file():
        where = f"{str(path)!r} is a directory without model.npz" if path.is_dir() else f"{str(path)!r} does not exist"
        raise CLIError(f"Model file {where}; pass the model.npz written by 'npae train' "
                       "(e.g. runs/<run>/model.npz) or its run directory.")
    if backend_name is not None:
        backend_name = B.get_backend(backend_name).name  # unknown or unusable: fails here, clearly
    try:
        return load(path, backend=backend_name), path
    except B.BackendUnavailableError as err:  # the backend the model was saved with
        raise CLIError(f"{str(path)!r} was saved with a backend that cannot run here: {err} On the command "
                       "line, pass --backend numpy to load it on the CPU.") from err


def _recorded_dataset(model_path: Path):
    """The --dataset recorded by 'npae train' in metrics.json beside the model, or None."""
    try:
        with open(model_path.parent / "metrics.json", encoding="utf-8") as handle:
            value = json.load(handle).get("dataset")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def held_out_split(args, model, model_path: Path):
    """(X, y, info, split) for a saved model: the test split of --dataset (or of the recorded one).

    Sets ``args.dataset`` to the dataset used, for the metrics written afterwards.
    """
    recorded = None if args.dataset else _recorded_dataset(model_path)
    dataset = args.dataset or recorded or "embedded"
    args.dataset = dataset
    try:
        X_train, y_train, X_test, y_test, info = load_training_data(dataset, data_dir=args.data_dir,
                                                                    download=args.download, splits=("test",))
    except (FileNotFoundError, CLIError) as err:
        if recorded is None:
            raise
        raise CLIError(f"{err} (--dataset {recorded!r} is the one 'npae train' recorded in "
                       f"{str(model_path.parent / 'metrics.json')!r}; pass --dataset to score another.)") from err
    X, y, split = (X_train, y_train, "train") if X_test is None else (X_test, y_test, "test")
    n_model = int(model.n_features_in_)
    if X.shape[1] != n_model:
        raise CLIError(f"{str(model_path)!r} expects {n_model} features but --dataset {dataset} has "
                       f"{X.shape[1]}; pass the --dataset the model was trained on.")
    return X, y, info, split


# ------------------------------------------------------------------------------ what figures and PSNR need
def image_shape(info, n_features: int):
    """(h, w) for figures: the dataset's, a square, or (1, D) strips for rows that are not images."""
    shape = info.get("image_shape")
    if shape is not None:
        return tuple(shape)
    side = math.isqrt(n_features)
    return (side, side) if side * side == n_features else (1, n_features)


def data_range(X) -> float:
    """R for PSNR: 1 for data in [0, 1], else the peak-to-peak range."""
    low, high = float(np.min(X)), float(np.max(X))
    return 1.0 if 0.0 <= low and high <= 1.0 else (high - low) or 1.0


def pick_examples(y, n_rows: int, n: int = 10) -> np.ndarray:
    """Indices of up to n rows: the first of each class when labels exist (then the next ones)."""
    n = min(n, n_rows)
    if y is None:
        return np.arange(n)
    y = np.asarray(y)
    first = [int(np.flatnonzero(y == c)[0]) for c in np.unique(y)][:n]
    taken = set(first)
    rest = [i for i in range(n_rows) if i not in taken][: n - len(first)]
    return np.array(sorted(first) + rest, dtype=np.int64)
