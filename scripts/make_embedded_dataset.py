"""Build npae/data/fashion_mnist_subset.npz, the stratified Fashion-MNIST subset npae ships.

From Debian's ``dataset-fashion-mnist`` (``apt-get install dataset-fashion-mnist``, files under
``/usr/share/datasets/fashion-mnist/``) it draws, with a fixed seed, 500 images per class from
the official train split and 100 per class from the official test split, and writes them as
uint8 arrays ``X_train`` (5000, 784), ``y_train`` (5000,), ``X_test`` (1000, 784), ``y_test``
(1000,). The source archives are checked against ``npae.datasets.FASHION_MNIST_SHA256`` first.

The output is byte-for-byte reproducible: ``np.savez_compressed`` stamps each zip member with the
current time, so the zip is written here with a fixed date, fixed member order and permissions,
and deflate level 6 (the same zlib gives the same bytes). It prints the file's SHA-256, which
must be recorded as ``EMBEDDED_SHA256`` in ``npae/datasets.py`` whenever the file changes.

Usage (from the repository root)::

    python scripts/make_embedded_dataset.py [--source DIR] [--output FILE]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run from a checkout without installing npae

from npae.datasets import EMBEDDED_SHA256, FASHION_MNIST_SHA256, read_idx

__all__ = ["SEED", "TEST_PER_CLASS", "TRAIN_PER_CLASS", "build_subset", "draw_indices", "main", "write_npz"]

SEED = 20170825  # Fashion-MNIST's release date; changing it changes the file and its hash
TRAIN_PER_CLASS = 500
TEST_PER_CLASS = 100
N_CLASSES = 10
DEFAULT_SOURCE = Path("/usr/share/datasets/fashion-mnist")
DEFAULT_OUTPUT = ROOT / "npae" / "data" / "fashion_mnist_subset.npz"
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip can hold
COMPRESS_LEVEL = 6  # zlib default; level 9 takes ten times as long for a 0.8% smaller file
_ORDER = ("X_train", "y_train", "X_test", "y_test")


def _stratified(labels, per_class: int, rng) -> np.ndarray:
    """Indices of ``per_class`` rows of each class 0-9, drawn without replacement, shuffled."""
    picked = []
    for c in range(N_CLASSES):
        members = np.flatnonzero(labels == c)
        if members.shape[0] < per_class:
            raise ValueError(f"class {c} has {members.shape[0]} images; need {per_class}.")
        picked.append(rng.choice(members, size=per_class, replace=False))
    return rng.permutation(np.concatenate(picked))


def draw_indices(train_labels, test_labels, seed: int = SEED) -> tuple:
    """Pick the subset's rows: 500 per class from the train split, then 100 per class from test.

    Parameters
    ----------
    train_labels : ndarray of shape (60000,), integer
    test_labels : ndarray of shape (10000,), integer
    seed : int
        Seed of the one ``numpy.random.Generator`` used for both draws (train first).

    Returns
    -------
    train_idx : ndarray of shape (5000,), int64
        Rows of the official train split, classes interleaved.
    test_idx : ndarray of shape (1000,), int64
        Rows of the official test split.
    """
    rng = np.random.default_rng(seed)
    train_idx = _stratified(np.asarray(train_labels), TRAIN_PER_CLASS, rng)
    test_idx = _stratified(np.asarray(test_labels), TEST_PER_CLASS, rng)
    return train_idx, test_idx


def build_subset(train_images, train_labels, test_images, test_labels, seed: int = SEED) -> dict:
    """Draw the stratified subset (rows chosen by :func:`draw_indices`).

    Parameters
    ----------
    train_images : ndarray of shape (60000, 28, 28) or (60000, 784), uint8
    train_labels : ndarray of shape (60000,), uint8
    test_images : ndarray of shape (10000, 28, 28) or (10000, 784), uint8
    test_labels : ndarray of shape (10000,), uint8
    seed : int

    Returns
    -------
    arrays : dict
        ``X_train`` (5000, 784), ``y_train`` (5000,), ``X_test`` (1000, 784), ``y_test`` (1000,),
        all uint8.
    """
    train_idx, test_idx = draw_indices(train_labels, test_labels, seed)
    arrays = {}
    for split, images, labels, idx in (
        ("train", train_images, train_labels, train_idx),
        ("test", test_images, test_labels, test_idx),
    ):
        images = np.asarray(images, dtype=np.uint8)
        arrays[f"X_{split}"] = np.ascontiguousarray(images[idx].reshape(idx.shape[0], -1))
        arrays[f"y_{split}"] = np.asarray(labels, dtype=np.uint8)[idx]
    return arrays


def write_npz(path, arrays: dict) -> str:
    """Write ``arrays`` as a deterministic compressed ``.npz``; return its SHA-256.

    Same layout ``np.load`` reads from ``np.savez_compressed`` (one ``<name>.npy`` member each),
    but with a fixed timestamp and member order, so equal arrays give equal bytes.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL) as archive:
        for name in _ORDER:
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, arrays[name], allow_pickle=False)
            info = zipfile.ZipInfo(name + ".npy", date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, buffer.getvalue(), compresslevel=COMPRESS_LEVEL)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read_source(source: Path, stem: str) -> np.ndarray:
    path = source / (stem + ".gz")
    if not path.is_file():
        raise SystemExit(
            f"{path} not found. Install Debian's dataset-fashion-mnist "
            "(apt-get install dataset-fashion-mnist) or pass --source DIR."
        )
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest not in FASHION_MNIST_SHA256[path.name]:
        raise SystemExit(
            f"{path} has SHA-256 {digest}; expected one of {FASHION_MNIST_SHA256[path.name]}. "
            "The subset would not match the published one; use the official files."
        )
    return read_idx(path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="Fashion-MNIST IDX dir")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="the .npz to write")
    args = parser.parse_args(argv)
    arrays = build_subset(
        _read_source(args.source, "train-images-idx3-ubyte"),
        _read_source(args.source, "train-labels-idx1-ubyte"),
        _read_source(args.source, "t10k-images-idx3-ubyte"),
        _read_source(args.source, "t10k-labels-idx1-ubyte"),
    )
    digest = write_npz(args.output, arrays)
    print(f"wrote {args.output} ({args.output.stat().st_size} bytes)")
    print(f"SHA-256 {digest}")
    if digest != EMBEDDED_SHA256:
        print("This differs from npae.datasets.EMBEDDED_SHA256; record the new digest there.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
