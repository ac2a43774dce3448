"""npae.datasets: IDX reading, lookup order, checksums, downloads and the embedded subset.

Downloads are tested against an HTTP server on 127.0.0.1 serving a temporary directory; nothing
leaves the machine. The full Fashion-MNIST (Debian's dataset-fashion-mnist) and the shared MNIST
test set are used when present and skipped, with the reason, when not.
"""

import ast
import functools
import gzip
import hashlib
import importlib.util
import logging
import re
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from npae import datasets
from npae.datasets import (
    ChecksumError,
    DownloadError,
    load_dataset,
    load_digits,
    load_embedded,
    load_fashion_mnist,
    load_mnist,
    read_idx,
)

REPO = Path(__file__).resolve().parents[1]
SHARED_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
OFFICIAL = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
# Published class counts of the MNIST test set (LeCun et al.), digits 0-9.
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


# --------------------------------------------------------------------------------------------
# helpers


def idx_bytes(array, magic=None):
    """Hand-made IDX: big-endian magic 0x000008nn, one uint32 per dimension, raw bytes."""
    array = np.asarray(array, dtype=np.uint8)
    magic = 0x00000800 | array.ndim if magic is None else magic
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


def fake_split(n=6, marker=7, seed=0):
    """n images whose pixel (0, 0) is `marker` (to tell copies apart), labels cycling 0-9."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    images[:, 0, 0] = marker
    labels = (np.arange(n) % 10).astype(np.uint8)
    return images, labels


def write_split(directory, split="test", marker=7, gz=True, n=6):
    """Write a fake split in the official file names into `directory`; return the uint8 arrays."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    images, labels = fake_split(n=n, marker=marker)
    for stem, array in zip(OFFICIAL[split], (images, labels)):
        data = idx_bytes(array)
        if gz:
            (directory / (stem + ".gz")).write_bytes(gzip.compress(data, mtime=0))
        else:
            (directory / stem).write_bytes(data)
    return images, labels


def files_under(directory):
    """Every file below `directory` (hidden temp files included), relative paths, sorted."""
    directory = Path(directory)
    if not directory.exists():
        return []
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch, tmp_path):
    """No user settings leak in, the cache is a temporary directory, 127.0.0.1 skips proxies."""
    monkeypatch.delenv("NPAE_DATA", raising=False)
    monkeypatch.delenv("NPAE_MIRROR", raising=False)
    monkeypatch.setenv("NPAE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def no_system_data(monkeypatch, tmp_path):
    """Point the /usr/share/datasets fallback at an empty directory."""
    system = tmp_path / "system"
    monkeypatch.setattr(datasets, "SYSTEM_DATA_DIR", system)
    return system


# --------------------------------------------------------------------------------------------
# the module itself


def _imported_top_names(path):
    top = set()
    for node in ast.walk(ast.parse(Path(path).read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            top |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            top.add((node.module or "").split(".")[0])
    return top


def test_datasets_imports_only_the_standard_library_numpy_and_pooch():
    top = _imported_top_names(datasets.__file__)
    assert not top & {"npae", "torch", "cupy", "array_api_strict", "array_api_compat"}
    assert top - {"__future__", "sklearn", "scipy", "numpy", "pooch"} <= set(sys.stdlib_module_names)


def test_datasets_carries_no_http_code_of_its_own():
    """HTTP, temporary files and hashing are pooch's (issue 17): none of the modules that did
    them by hand is imported any more."""
    assert not _imported_top_names(datasets.__file__) & {"http", "tempfile", "hashlib", "requests", "urllib3"}
    assert "urlopen" not in Path(datasets.__file__).read_text(encoding="utf-8")


def test_default_cache_is_poochs_cache_for_npae(monkeypatch):
    pooch = pytest.importorskip("pooch")
    monkeypatch.delenv("NPAE_CACHE")
    assert datasets._cache_dir("mnist") == Path(pooch.os_cache("npae")) / "mnist"


def test_all_lists_public_names_that_exist():
    for name in datasets.__all__:
        assert hasattr(datasets, name), name
    assert {
        "read_idx",
        "load_mnist",
        "load_fashion_mnist",
        "load_digits",
        "load_embedded",
        "load_dataset",
        "FASHION_MNIST_CLASSES",
    } <= set(datasets.__all__)


def test_fashion_mnist_classes_are_ten_distinct_names():
    classes = datasets.FASHION_MNIST_CLASSES
    assert isinstance(classes, tuple) and len(classes) == 10 and len(set(classes)) == 10
    assert all(isinstance(c, str) and c for c in classes)


# --------------------------------------------------------------------------------------------
# read_idx


@settings(max_examples=25, deadline=None)
@given(
    shape=st.one_of(
        st.tuples(st.integers(0, 20)),
        st.tuples(st.integers(0, 4), st.integers(1, 7), st.integers(1, 7)),
    ),
    gz=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_read_idx_round_trips_hand_made_files(shape, gz, seed):
    array = np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)
    data = idx_bytes(array)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ("file.gz" if gz else "file")
        path.write_bytes(gzip.compress(data) if gz else data)
        out = read_idx(path)
    assert out.dtype == np.uint8 and out.shape == shape
    np.testing.assert_array_equal(out, array)
    assert out.flags.writeable


def test_read_idx_detects_gzip_by_content_not_name(tmp_path):
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    path = tmp_path / "labels-without-gz-suffix"
    path.write_bytes(gzip.compress(idx_bytes(labels)))
    np.testing.assert_array_equal(read_idx(str(path)), labels)


@pytest.mark.parametrize(
    "magic, shown",
    [(0x00000B03, "0x00000b03"), (0x00000802, "0x00000802"), (0x504B0304, "0x504b0304")],
    ids=["int32-dtype", "two-dims", "zip-file"],
)
def test_read_idx_refuses_a_bad_magic_number(tmp_path, magic, shown):
    path = tmp_path / "bad"
    path.write_bytes(idx_bytes(np.zeros((2, 3), np.uint8), magic=magic))
    with pytest.raises(ValueError, match=rf"(?s)bad.*0x00000801.*0x00000803.*got {shown}"):
        read_idx(path)


def test_read_idx_reports_a_truncated_payload_with_both_sizes(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(idx_bytes(np.zeros((2, 28, 28), np.uint8))[:-1])
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte' is truncated.*2 x 28 x 28 = 1568 bytes.*got 1567"):
        read_idx(path)


def test_read_idx_reports_a_header_too_large_for_int64_with_its_true_size(tmp_path):
    path = tmp_path / "images"
    dims = (2**32 - 1,) * 3  # the product overflows int64
    path.write_bytes((0x0803).to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims) + bytes(10))
    with pytest.raises(ValueError, match=rf"truncated.*= {(2**32 - 1) ** 3} bytes of data, got 10"):
        read_idx(path)


def test_read_idx_reports_an_oversized_payload(tmp_path):
    path = tmp_path / "labels"
    path.write_bytes(idx_bytes(np.zeros(5, np.uint8)) + b"\x00\x00")
    with pytest.raises(ValueError, match=r"oversized.*5 = 5 bytes.*got 7"):
        read_idx(path)


def test_read_idx_reports_a_truncated_gzip_payload(tmp_path):
    path = tmp_path / "images.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.ones((2, 28, 28), np.uint8))[:-10]))
    with pytest.raises(ValueError, match=r"images.gz' is truncated.*1568 bytes.*got 1558"):
        read_idx(path)


def test_read_idx_reports_a_cut_gzip_stream(tmp_path):
    good = gzip.compress(idx_bytes(np.arange(200, dtype=np.uint8)))
    path = tmp_path / "cut.gz"
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(ValueError, match=r"cut.gz' is not a readable gzip file"):
        read_idx(path)


@pytest.mark.parametrize("content, match", [(b"", "too short"), (b"\x00\x00\x08\x03\x00\x00\x00\x02", "header")])
def test_read_idx_reports_a_missing_header(tmp_path, content, match):
    path = tmp_path / "short"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=match):
        read_idx(path)


def test_read_idx_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nope")


# --------------------------------------------------------------------------------------------
# digits


def test_load_digits_is_sklearn_digits_scaled_to_unit_interval():
    from sklearn.datasets import load_digits as sklearn_digits

    X, y = load_digits()
    reference = sklearn_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float32
    assert y.shape == (1797,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    np.testing.assert_array_equal(X * 16, reference.data)
    np.testing.assert_array_equal(y, reference.target)
    assert set(np.unique(y)) == set(range(10))


# --------------------------------------------------------------------------------------------
# embedded subset


@pytest.mark.parametrize("split, n", [("train", 500), ("test", 100)])
def test_load_embedded_is_a_stratified_uint8_subset(split, n):
    X, y = load_embedded(split)
    assert X.shape == (10 * n, 784) and X.dtype == np.float32
    assert y.shape == (10 * n,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    pixels = X * 255
    np.testing.assert_array_equal(pixels, np.rint(pixels))  # exactly k / 255
    np.testing.assert_array_equal(np.bincount(y, minlength=10), np.full(10, n))
    assert not np.all(y[: 10 * n // 2] == np.sort(y[: 10 * n // 2]))  # classes are interleaved


def test_load_embedded_file_holds_exactly_the_documented_arrays():
    with np.load(datasets.EMBEDDED_PATH, allow_pickle=False) as data:
        assert sorted(data.files) == ["X_test", "X_train", "y_test", "y_train"]
        assert data["X_train"].dtype == np.uint8 and data["X_train"].shape == (5000, 784)
        assert data["X_test"].dtype == np.uint8 and data["X_test"].shape == (1000, 784)
        assert data["y_train"].shape == (5000,) and data["y_test"].shape == (1000,)


def test_load_embedded_refuses_an_unknown_split():
    with pytest.raises(ValueError, match=r"split must be one of \('train', 'test'\); got 'val'"):
        load_embedded("val")


def test_load_embedded_checksum_mismatch_names_file_hashes_and_fix(monkeypatch):
    actual = sha256(datasets.EMBEDDED_PATH.read_bytes())
    monkeypatch.setattr(datasets, "EMBEDDED_SHA256", "0" * 64)
    with pytest.raises(ChecksumError) as info:
        load_embedded()
    message = str(info.value)
    assert str(datasets.EMBEDDED_PATH) in message
    assert "0" * 64 in message and actual in message
    assert "make_embedded_dataset.py" in message and "einstall" in message
    assert isinstance(info.value, ValueError)


def test_load_embedded_detects_a_modified_file(monkeypatch, tmp_path):
    copy = tmp_path / "fashion_mnist_subset.npz"
    data = bytearray(datasets.EMBEDDED_PATH.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    monkeypatch.setattr(datasets, "EMBEDDED_PATH", copy)
    with pytest.raises(ChecksumError, match=str(datasets.EMBEDDED_SHA256)):
        load_embedded("test")


def test_load_embedded_missing_file_says_how_to_fix(monkeypatch, tmp_path):
    monkeypatch.setattr(datasets, "EMBEDDED_PATH", tmp_path / "gone.npz")
    with pytest.raises(FileNotFoundError, match=r"gone.npz.*(?i:reinstall).*make_embedded_dataset.py"):
        load_embedded()


def test_load_embedded_never_unpickles(monkeypatch, tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, X_train=np.array([{"a": 1}], dtype=object), y_train=np.zeros(1, np.uint8))
    monkeypatch.setattr(datasets, "EMBEDDED_PATH", path)
    monkeypatch.setattr(datasets, "EMBEDDED_SHA256", sha256(path.read_bytes()))
    with pytest.raises(ValueError, match="allow_pickle=False"):
        load_embedded()


def _load_script():
    spec = importlib.util.spec_from_file_location(
        "make_embedded_dataset", REPO / "scripts" / "make_embedded_dataset.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif("zlib-ng" in zlib.ZLIB_RUNTIME_VERSION, reason="zlib-ng deflates to other bytes")
def test_shipped_file_is_byte_for_byte_what_the_script_writes(tmp_path):
    script = _load_script()
    with np.load(datasets.EMBEDDED_PATH, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    digest = script.write_npz(tmp_path / "again.npz", arrays)
    assert digest == sha256((tmp_path / "again.npz").read_bytes())
    assert digest == datasets.EMBEDDED_SHA256


# --------------------------------------------------------------------------------------------
# lookup order, SHA256SUMS, not-found message (small fake IDX files)

LOADERS = [("mnist", load_mnist), ("fashion-mnist", load_fashion_mnist)]
PLACES = ["data_dir", "npae_data_named", "npae_data_root", "cache", "system"]


@pytest.mark.parametrize("name, loader", LOADERS, ids=[n for n, _ in LOADERS])
@pytest.mark.parametrize("first", range(len(PLACES)), ids=PLACES)
def test_lookup_order_data_dir_then_npae_data_then_cache_then_system(
    monkeypatch, tmp_path, no_system_data, name, loader, first
):
    """Fill every place from `first` on, each with its own marker; the earliest place must win."""
    npae_data = tmp_path / "npae_data"
    dirs = {
        "data_dir": tmp_path / "given",
        "npae_data_named": npae_data / name,
        "npae_data_root": npae_data,
        "cache": tmp_path / "cache" / name,
        "system": no_system_data / name,
    }
    for marker, place in enumerate(PLACES[first:], start=first + 1):
        write_split(dirs[place], marker=marker)
    if first <= 2:
        monkeypatch.setenv("NPAE_DATA", str(npae_data))
    X, y = loader("test", data_dir=dirs["data_dir"] if first == 0 else None)
    assert X.shape == (6, 784) and X.dtype == np.float32 and y.dtype == np.int64
    assert np.all(np.rint(X[:, 0] * 255) == first + 1)


def test_a_directory_needs_both_files_of_the_split(monkeypatch, tmp_path, no_system_data):
    given = tmp_path / "given"
    write_split(given, marker=1)
    (given / "t10k-labels-idx1-ubyte.gz").unlink()
    write_split(tmp_path / "cache" / "mnist", marker=2)
    X, _ = load_mnist("test", data_dir=given)
    assert np.all(np.rint(X[:, 0] * 255) == 2)


def test_plain_uncompressed_files_are_accepted(tmp_path, no_system_data):
    images, labels = write_split(tmp_path / "plain", split="train", gz=False, n=11)
    X, y = load_fashion_mnist("train", data_dir=tmp_path / "plain")
    np.testing.assert_array_equal(X, images.reshape(11, 784) / np.float32(255))
    np.testing.assert_array_equal(y, labels)


def test_sha256sums_beside_the_files_is_checked(tmp_path, no_system_data):
    directory = tmp_path / "given"
    write_split(directory)
    good = {f: sha256((directory / f).read_bytes()) for f in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}
    (directory / "SHA256SUMS").write_text("".join(f"{h}  {f}\n" for f, h in good.items()))
    assert load_mnist("test", data_dir=directory)[0].shape == (6, 784)

    wrong = "ab" * 32
    (directory / "SHA256SUMS").write_text(
        f"{good['t10k-images-idx3-ubyte.gz']}  t10k-images-idx3-ubyte.gz\n{wrong} *t10k-labels-idx1-ubyte.gz\n"
    )
    with pytest.raises(
        ChecksumError,
        match=rf"t10k-labels-idx1-ubyte.gz.*SHA256SUMS.*expected {wrong}, got "
        rf"{good['t10k-labels-idx1-ubyte.gz']}",
    ):
        load_mnist("test", data_dir=directory)


def test_malformed_sha256sums_is_refused_with_its_line(tmp_path, no_system_data):
    write_split(tmp_path / "given")
    (tmp_path / "given" / "SHA256SUMS").write_text("# comment\nnot-a-hash  file\n")
    with pytest.raises(ValueError, match=r"SHA256SUMS' line 2 is not in sha256sum format"):
        load_mnist("test", data_dir=tmp_path / "given")


@pytest.mark.parametrize("name, loader", LOADERS, ids=[n for n, _ in LOADERS])
def test_not_found_lists_every_place_looked_and_how_to_get_the_files(
    monkeypatch, tmp_path, no_system_data, name, loader
):
    monkeypatch.setenv("NPAE_DATA", str(tmp_path / "npae_data"))
    (tmp_path / "given").mkdir()  # there, but empty (a data_dir that does not exist is its own error)
    with pytest.raises(FileNotFoundError) as info:
        loader("train", data_dir=tmp_path / "given")
    message = str(info.value)
    for place in (
        tmp_path / "given",
        tmp_path / "npae_data" / name,
        tmp_path / "npae_data",
        tmp_path / "cache" / name,
        no_system_data / name,
    ):
        assert f"- {place} (" in message
    assert message.index(str(tmp_path / "given")) < message.index(str(tmp_path / "cache"))
    assert "train-images-idx3-ubyte[.gz]" in message and "download=True" in message
    assert "NPAE_DATA" in message
    assert ("apt-get install dataset-fashion-mnist" in message) == (name == "fashion-mnist")
    assert files_under(tmp_path / "cache") == []  # looking never creates anything


@pytest.mark.parametrize("split", ["val", "TRAIN", None])
def test_idx_loaders_refuse_an_unknown_split_listing_valid_ones(split):
    with pytest.raises(ValueError, match=r"one of \('train', 'test'\)"):
        load_mnist(split)


def test_files_that_do_not_belong_together_are_refused(tmp_path, no_system_data):
    write_split(tmp_path / "given", n=6)
    (tmp_path / "given" / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.zeros(5, np.uint8))))
    with pytest.raises(ValueError, match=r"expected shape \(6,\), got \(5,\)"):
        load_mnist("test", data_dir=tmp_path / "given")


# --------------------------------------------------------------------------------------------
# real data: the shared MNIST test set, Debian's Fashion-MNIST

needs_shared_mnist = pytest.mark.skipif(
    not (SHARED_MNIST / "t10k-images-idx3-ubyte.gz").is_file(),
    reason=f"the shared MNIST test set is not at {SHARED_MNIST}",
)


def test_the_other_datasets_files_are_never_taken_for_this_one(monkeypatch, tmp_path, no_system_data):
    """MNIST and Fashion-MNIST share file names: MNIST's files loose in $NPAE_DATA (searched for both)
    must not load as Fashion-MNIST. Told apart by the labels archive's known digest."""
    flat = tmp_path / "data"
    write_split(flat, marker=1)
    labels = (flat / "t10k-labels-idx1-ubyte.gz").read_bytes()
    monkeypatch.setitem(datasets.MNIST_SHA256, "t10k-labels-idx1-ubyte.gz", (sha256(labels),))
    monkeypatch.setenv("NPAE_DATA", str(flat))
    assert load_mnist("test")[0][0, 0] == 1 / 255  # MNIST's own loader takes them
    with pytest.raises(FileNotFoundError, match=rf"{flat} \(\$NPAE_DATA\): holds the MNIST files, skipped"):
        load_fashion_mnist("test")
    with pytest.raises(ValueError, match=r"data_dir .* holds the MNIST files, not Fashion-MNIST"):
        load_fashion_mnist("test", data_dir=flat)
    write_split(no_system_data / "fashion-mnist", marker=2, n=8)  # Fashion-MNIST (other labels), further on
    assert load_fashion_mnist("test")[0][0, 0] == 2 / 255


@needs_shared_mnist
def test_mnist_test_split_from_the_shared_directory(monkeypatch, no_system_data):
    X, y = load_mnist("test", data_dir=SHARED_MNIST)
    assert X.shape == (10000, 784) and X.dtype == np.float32
    assert y.shape == (10000,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    assert np.bincount(y, minlength=10).tolist() == MNIST_TEST_COUNTS

    monkeypatch.chdir(REPO)
    monkeypatch.setenv("NPAE_DATA", "../shared/data")  # as the project docs say
    X2, y2 = load_mnist("test")
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(y2, y)


@needs_shared_mnist
def test_mnist_shared_directory_sha256sums_catches_a_swapped_file(tmp_path, no_system_data):
    copy = tmp_path / "mnist"
    shutil.copytree(SHARED_MNIST, copy)
    _, labels = fake_split(n=10000)
    (copy / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels)))
    with pytest.raises(ChecksumError, match=r"t10k-labels-idx1-ubyte.gz.*SHA256SUMS"):
        load_mnist("test", data_dir=copy)


@pytest.fixture(scope="module")
def fashion_full():
    """Debian's full Fashion-MNIST through load_fashion_mnist, read once for the whole module."""
    missing = [s for pair in OFFICIAL.values() for s in pair if not (DEBIAN_FASHION / (s + ".gz")).is_file()]
    if missing:
        pytest.skip(f"Fashion-MNIST not at {DEBIAN_FASHION} (apt-get install dataset-fashion-mnist)")
    return {split: load_fashion_mnist(split, data_dir=DEBIAN_FASHION) for split in ("train", "test")}


def test_full_fashion_mnist_shapes_dtypes_and_class_balance(fashion_full):
    for split, n in (("train", 60000), ("test", 10000)):
        X, y = fashion_full[split]
        assert X.shape == (n, 784) and X.dtype == np.float32
        assert y.shape == (n,) and y.dtype == np.int64
        assert X.min() == 0.0 and X.max() == 1.0
        assert np.bincount(y, minlength=10).tolist() == [n // 10] * 10


def test_fashion_mnist_falls_back_to_the_system_directory(fashion_full):
    X, y = load_fashion_mnist("test")  # no data_dir, no NPAE_DATA, empty cache
    np.testing.assert_array_equal(X, fashion_full["test"][0])
    np.testing.assert_array_equal(y, fashion_full["test"][1])


def test_embedded_subset_is_the_scripts_draw_from_the_matching_official_split(fashion_full):
    """Shipped rows = official rows at the script's indices: train from train, test from test,
    labels carried along, no row twice. Also pins the seed: another one draws other rows."""
    script = _load_script()
    X_train, y_train = fashion_full["train"]
    X_test, y_test = fashion_full["test"]
    train_idx, test_idx = script.draw_indices(y_train, y_test)
    with np.load(datasets.EMBEDDED_PATH, allow_pickle=False) as shipped:
        for split, X, y, idx in (("train", X_train, y_train, train_idx), ("test", X_test, y_test, test_idx)):
            assert np.unique(idx).shape == idx.shape
            np.testing.assert_array_equal(np.rint(X[idx] * 255).astype(np.uint8), shipped[f"X_{split}"])
            np.testing.assert_array_equal(y[idx], shipped[f"y_{split}"])
    other, _ = script.draw_indices(y_train, y_test, seed=script.SEED + 1)
    assert not np.array_equal(other, train_idx)


# --------------------------------------------------------------------------------------------
# downloads from a local HTTP server


#: seconds the slow/ folder waits before answering, and the download timeout the slow tests set
SLOW_DELAY, SLOW_TIMEOUT = 1.0, 0.25


class _Handler(SimpleHTTPRequestHandler):
    """Serves the mirror directory, with three misbehaving folders: short/ announces the full
    length but sends half; slow/ waits SLOW_DELAY s before answering; trickle/ sends the file in
    small pieces with pauses, each shorter than SLOW_TIMEOUT (slow but alive)."""

    def log_message(self, *args):
        pass

    def send_head(self):
        if "/slow/" in self.path:
            time.sleep(SLOW_DELAY)
        return super().send_head()

    def copyfile(self, source, outputfile):
        if "/short/" in self.path:
            data = source.read()
            outputfile.write(data[: len(data) // 2])
        elif "/trickle/" in self.path:
            data = source.read()
            for start in range(0, len(data), max(1, len(data) // 4)):
                outputfile.write(data[start : start + max(1, len(data) // 4)])
                outputfile.flush()
                time.sleep(SLOW_TIMEOUT / 5)
        else:
            super().copyfile(source, outputfile)


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # a client that gave up on slow/ leaves a broken pipe: expected, not worth a traceback


@pytest.fixture(scope="module")
def http_server(tmp_path_factory):
    """(root directory, base URL) of one HTTP server on 127.0.0.1 for the module."""
    root = tmp_path_factory.mktemp("mirror")
    server = _QuietServer(("127.0.0.1", 0), functools.partial(_Handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def mirror(http_server, tmp_path):
    """A fresh folder on the server for this test: (directory, its URL)."""
    root, url = http_server
    folder = root / tmp_path.name
    folder.mkdir()
    return folder, f"{url}/{tmp_path.name}"


def _publish(directory, marker=7):
    """Put a fake MNIST test split on the mirror; return (images, labels, checksums)."""
    images, labels = write_split(directory, marker=marker)
    checksums = {
        f: sha256((directory / f).read_bytes()) for f in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    }
    return images, labels, checksums


def test_download_fetches_verifies_and_caches(mirror, tmp_path, no_system_data):
    root, url = mirror
    images, labels, checksums = _publish(root / "good")
    X, y = load_mnist("test", download=True, base_url=f"{url}/good", checksums=checksums)
    np.testing.assert_array_equal(X, images.reshape(6, 784) / np.float32(255))
    np.testing.assert_array_equal(y, labels)
    assert files_under(tmp_path / "cache") == ["mnist/t10k-images-idx3-ubyte.gz", "mnist/t10k-labels-idx1-ubyte.gz"]
    shutil.rmtree(root / "good")  # the second load must come from the cache
    X2, _ = load_mnist("test")
    np.testing.assert_array_equal(X2, X)


def test_download_uses_npae_mirror_with_a_folder_per_dataset(monkeypatch, mirror, tmp_path, no_system_data):
    root, url = mirror
    _, _, checksums = _publish(root / "m" / "fashion-mnist", marker=9)
    monkeypatch.setenv("NPAE_MIRROR", f"{url}/m")
    X, _ = load_fashion_mnist("test", download=True, checksums=checksums)
    assert np.all(np.rint(X[:, 0] * 255) == 9)
    assert files_under(tmp_path / "cache") == [
        "fashion-mnist/t10k-images-idx3-ubyte.gz",
        "fashion-mnist/t10k-labels-idx1-ubyte.gz",
    ]


def _corrupt(root, good):
    data = bytearray((good / "t10k-images-idx3-ubyte.gz").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (root / "bad").mkdir()
    (root / "bad" / "t10k-images-idx3-ubyte.gz").write_bytes(bytes(data))
    return "bad"


def _truncated_file(root, good):
    data = (good / "t10k-images-idx3-ubyte.gz").read_bytes()
    (root / "cut").mkdir()
    (root / "cut" / "t10k-images-idx3-ubyte.gz").write_bytes(data[:100])
    return "cut"


def _truncated_transfer(root, good):
    shutil.copytree(good, root / "short")
    return "short"


def _missing(root, good):
    (root / "empty").mkdir()
    return "empty"


@pytest.mark.parametrize(
    "make, error, match",
    [
        (_corrupt, ChecksumError, r"failed its checksum: expected SHA-256 {good}, got [0-9a-f]{{64}}"),
        (
            _truncated_file,
            ChecksumError,
            r"failed its checksum: expected SHA-256 {good}, got [0-9a-f]{{64}} \(100 bytes\)",
        ),
        (_truncated_transfer, DownloadError, r"was truncated: expected {size} bytes \(Content-Length\), got {half}"),
        (_missing, DownloadError, r"failed: HTTP 404"),
    ],
    ids=["corrupt", "truncated-file", "truncated-transfer", "http-404"],
)
def test_failed_download_raises_clearly_and_leaves_nothing(mirror, tmp_path, no_system_data, make, error, match):
    root, url = mirror
    _, _, checksums = _publish(root / "good")
    size = (root / "good" / "t10k-images-idx3-ubyte.gz").stat().st_size
    base = f"{url}/{make(root, root / 'good')}"
    with pytest.raises(error) as info:
        load_mnist("test", download=True, base_url=base, checksums=checksums)
    message = str(info.value)
    assert f"{base}/t10k-images-idx3-ubyte.gz" in message
    assert re.search(match.format(good=checksums["t10k-images-idx3-ubyte.gz"], size=size, half=size // 2), message), (
        message
    )
    assert "nothing was saved" in message
    assert "}}" not in message  # the checksums={...} hint is one dict, as written
    assert files_under(tmp_path / "cache") == []


def test_download_from_a_slow_server_times_out_and_leaves_nothing(monkeypatch, mirror, tmp_path, no_system_data):
    root, url = mirror
    _, _, checksums = _publish(root / "slow")
    monkeypatch.setattr(datasets, "DOWNLOAD_TIMEOUT", SLOW_TIMEOUT)
    base = f"{url}/slow"
    with pytest.raises(DownloadError, match=rf"Could not download {base}/t10k-images-idx3-ubyte.gz: .*timed out"):
        load_mnist("test", download=True, base_url=base, checksums=checksums)
    assert files_under(tmp_path / "cache") == []


def test_download_from_a_slow_but_steady_server_completes(monkeypatch, mirror, tmp_path, no_system_data):
    """The timeout bounds each wait for data, not the whole transfer."""
    root, url = mirror
    images, _, checksums = _publish(root / "trickle")
    monkeypatch.setattr(datasets, "DOWNLOAD_TIMEOUT", SLOW_TIMEOUT)
    X, _ = load_mnist("test", download=True, base_url=f"{url}/trickle", checksums=checksums)
    np.testing.assert_array_equal(X, images.reshape(6, 784) / np.float32(255))
    assert files_under(tmp_path / "cache") == ["mnist/t10k-images-idx3-ubyte.gz", "mnist/t10k-labels-idx1-ubyte.gz"]


def test_download_from_a_file_url_mirror(tmp_path, no_system_data):
    images, _, checksums = _publish(tmp_path / "local-mirror")
    X, _ = load_mnist("test", download=True, base_url=(tmp_path / "local-mirror").as_uri(), checksums=checksums)
    np.testing.assert_array_equal(X, images.reshape(6, 784) / np.float32(255))
    assert files_under(tmp_path / "cache") == ["mnist/t10k-images-idx3-ubyte.gz", "mnist/t10k-labels-idx1-ubyte.gz"]


def test_download_accepts_any_of_several_known_digests(mirror, tmp_path, no_system_data):
    """Fashion-MNIST has two accepted digests per file (upstream's and Debian's copy)."""
    root, url = mirror
    _, _, checksums = _publish(root / "second")
    either = {name: ("0" * 64, digest) for name, digest in checksums.items()}
    X, _ = load_mnist("test", download=True, base_url=f"{url}/second", checksums=either)
    assert X.shape == (6, 784)


def test_download_prints_nothing(mirror, no_system_data):
    """pooch logs each download at INFO (with advice on known_hash that does not apply here);
    npae's loaders stay silent, and leave pooch's logger as they found it."""
    pooch = pytest.importorskip("pooch")
    root, url = mirror
    _, _, checksums = _publish(root / "quiet")
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = pooch.get_logger()
    level = logger.level
    logger.addHandler(handler)
    try:
        load_mnist("test", download=True, base_url=f"{url}/quiet", checksums=checksums)
    finally:
        logger.removeHandler(handler)
    assert records == [] and logger.level == level


def test_download_from_a_server_that_is_down_leaves_nothing(tmp_path, no_system_data):
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base = f"http://127.0.0.1:{port}/mnist"
    with pytest.raises(DownloadError, match=rf"Could not download {base}/t10k-images-idx3-ubyte.gz: .*refused") as info:
        load_mnist("test", download=True, base_url=base, checksums={"t10k-images-idx3-ubyte.gz": "0" * 64})
    assert isinstance(info.value, OSError)
    assert files_under(tmp_path / "cache") == []


def test_download_checks_the_official_checksums_by_default(mirror, tmp_path, no_system_data):
    root, url = mirror
    _publish(root / "impostor")  # fake files: they cannot match the official Fashion-MNIST digests
    with pytest.raises(ChecksumError, match=datasets.FASHION_MNIST_SHA256["t10k-images-idx3-ubyte.gz"][0]):
        load_fashion_mnist("test", download=True, base_url=f"{url}/impostor")
    assert files_under(tmp_path / "cache") == []


def test_download_refuses_a_file_without_a_known_checksum(monkeypatch, mirror, tmp_path, no_system_data):
    root, url = mirror
    _publish(root / "good")
    monkeypatch.setattr(datasets, "MNIST_SHA256", {})
    with pytest.raises(ValueError, match=r"No known SHA-256 for MNIST file 't10k-images-idx3-ubyte.gz'.*checksums="):
        load_mnist("test", download=True, base_url=f"{url}/good")
    assert files_under(tmp_path / "cache") == []


def test_download_refuses_a_non_http_url(tmp_path, no_system_data):
    with pytest.raises(ValueError, match=r"http\(s\):// or file:// URL; got 'ftp://example.org/'"):
        load_mnist(
            "test", download=True, base_url="ftp://example.org/", checksums={"t10k-images-idx3-ubyte.gz": "0" * 64}
        )


# --------------------------------------------------------------------------------------------
# load_dataset


def test_load_dataset_dispatches_by_name(tmp_path, no_system_data):
    for a, b in zip(load_dataset("embedded", "test"), load_embedded("test")):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(load_dataset("digits"), load_digits()):
        np.testing.assert_array_equal(a, b)
    write_split(tmp_path / "fake", marker=3)
    for name in ("mnist", "fashion-mnist", "Fashion_MNIST"):
        X, _ = load_dataset(name, "test", data_dir=tmp_path / "fake")
        assert X.shape == (6, 784) and np.all(np.rint(X[:, 0] * 255) == 3)


def test_load_dataset_unknown_name_lists_names_and_suggests_the_closest():
    with pytest.raises(
        ValueError,
        match=r"Unknown dataset 'fashon-mnist'.*'digits', 'embedded', 'fashion-mnist', 'mnist'.*Did you mean 'fashion-mnist'\?",
    ):
        load_dataset("fashon-mnist")
    with pytest.raises(ValueError, match=r"Unknown dataset 'cifar10'; valid names") as info:
        load_dataset("cifar10")
    assert "Did you mean" not in str(info.value)


def test_load_dataset_refuses_a_non_string_name_and_a_digits_test_split():
    with pytest.raises(TypeError, match="name must be a str"):
        load_dataset(3)
    with pytest.raises(ValueError, match="no official train/test split"):
        load_dataset("digits", split="test")


# ---------------------------------------------------------------- ~ in paths (issue 21, item 18)
@pytest.mark.skipif(not Path("/work/shared/data/mnist/t10k-images-idx3-ubyte.gz").is_file() and
                    not (Path(__import__("os").environ.get("NPAE_DATA", "/nonexistent")) / "mnist").is_dir(),
                    reason="the MNIST test files are not available (set NPAE_DATA)")
def test_a_tilde_in_npae_data_and_npae_cache_is_expanded(tmp_path, monkeypatch):
    import os

    source = Path(os.environ.get("NPAE_DATA", "/work/shared/data")) / "mnist"
    home = tmp_path / "home"
    (home / "data").mkdir(parents=True)
    (home / "data" / "mnist").symlink_to(source.resolve())
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("NPAE_DATA", "~/data")
    monkeypatch.setenv("NPAE_CACHE", "~/cache")
    X, y = datasets.load_mnist("test")
    assert X.shape == (10000, 784)
    assert datasets._cache_dir("mnist") == home / "cache" / "mnist"


@pytest.mark.parametrize("variable", ["NPAE_DATA", "NPAE_CACHE"])
def test_a_tilde_user_that_does_not_exist_is_one_clear_error(tmp_path, monkeypatch, variable):
    monkeypatch.setenv("NPAE_DATA", str(tmp_path))
    monkeypatch.setenv(variable, "~nouser-npae/data")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=rf"\${variable} '~nouser-npae/data' starts with ~nouser-npae, but no user"):
        datasets.load_mnist("test", data_dir=tmp_path / "empty")


# --------------------------------------------------------------------------------------------
# ODDS tables (load_odds): small .mat fixtures written here, served from 127.0.0.1 only


def write_odds(directory, name="glass", n=12, d=3, seed=0, y_dtype=np.uint8):
    """A small ODDS-style table <name>.mat (X float64 (n, d), y (n, 1)); returns (X, y, sha256)."""
    scipy_io = pytest.importorskip("scipy.io")
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = (np.arange(n) % 4 == 0).astype(y_dtype).reshape(-1, 1)
    directory.mkdir(parents=True, exist_ok=True)
    scipy_io.savemat(directory / f"{name}.mat", {"X": X, "y": y})
    return X, y.ravel(), sha256((directory / f"{name}.mat").read_bytes())


def test_odds_registry_has_a_checksum_for_each_of_the_17_tables_at_a_pinned_commit():
    assert len(datasets.ODDS_NAMES) == 17 and len(set(datasets.ODDS_NAMES)) == 17
    assert set(datasets.ODDS_SHA256) == {f"{name}.mat" for name in datasets.ODDS_NAMES}
    for digests in datasets.ODDS_SHA256.values():
        assert all(re.fullmatch(r"[0-9a-f]{64}", d) for d in digests)
    assert re.search(r"/pyod/[0-9a-f]{40}/notebooks/data/$", datasets.ODDS_URL)


@pytest.mark.parametrize("y_dtype", [np.uint8, np.float64])
def test_load_odds_reads_a_local_table_as_float64_and_0_1_labels(tmp_path, no_system_data, y_dtype):
    X, y, _ = write_odds(tmp_path / "local", y_dtype=y_dtype)
    X2, y2 = datasets.load_odds("glass", data_dir=tmp_path / "local")
    assert X2.dtype == np.float64 and y2.dtype == np.int64 and X2.shape == (12, 3) and y2.shape == (12,)
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(y2, y)
    X3, _ = datasets.load_odds("GLASS.mat", data_dir=tmp_path / "local")  # case and suffix are forgiven
    np.testing.assert_array_equal(X3, X)


def test_load_odds_looks_in_npae_data_odds(monkeypatch, tmp_path, no_system_data):
    X, _, _ = write_odds(tmp_path / "data" / "odds", name="satimage-2")
    monkeypatch.setenv("NPAE_DATA", str(tmp_path / "data"))
    np.testing.assert_array_equal(datasets.load_odds("satimage_2")[0], X)


def test_load_odds_download_fetches_verifies_and_caches(mirror, tmp_path, no_system_data):
    root, url = mirror
    X, y, digest = write_odds(root / "good", name="wbc")
    X2, y2 = datasets.load_odds("wbc", download=True, base_url=f"{url}/good", checksums={"wbc.mat": digest})
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(y2, y)
    assert files_under(tmp_path / "cache") == ["odds/wbc.mat"]
    shutil.rmtree(root / "good")  # the second load comes from the cache, without a server
    np.testing.assert_array_equal(datasets.load_odds("wbc")[0], X)


def test_load_odds_download_uses_npae_mirror(monkeypatch, mirror, tmp_path, no_system_data):
    root, url = mirror
    X, _, digest = write_odds(root / "m" / "odds", name="pima", seed=3)
    monkeypatch.setenv("NPAE_MIRROR", f"{url}/m")
    np.testing.assert_array_equal(datasets.load_odds("pima", download=True, checksums={"pima.mat": digest})[0], X)


def test_load_odds_refuses_a_file_that_is_not_the_published_one(mirror, tmp_path, no_system_data):
    """Without checksums=, the file must be the one in ODDS_SHA256: a fixture never is."""
    root, url = mirror
    write_odds(root / "other", name="lympho")
    with pytest.raises(ChecksumError, match=r"lympho.mat failed its checksum: expected SHA-256 "
                       + datasets.ODDS_SHA256["lympho.mat"][0]):
        datasets.load_odds("lympho", download=True, base_url=f"{url}/other")
    assert files_under(tmp_path / "cache") == []


def test_load_odds_http_404_leaves_nothing(mirror, tmp_path, no_system_data):
    root, url = mirror
    (root / "empty").mkdir()
    with pytest.raises(DownloadError, match="HTTP 404"):
        datasets.load_odds("vowels", download=True, base_url=f"{url}/empty")
    assert files_under(tmp_path / "cache") == []


def test_load_odds_not_found_lists_the_places_and_how_to_get_it(tmp_path, no_system_data):
    (tmp_path / "nowhere").mkdir()
    with pytest.raises(FileNotFoundError) as info:
        datasets.load_odds("cardio", data_dir=tmp_path / "nowhere")  # there, but empty
    message = str(info.value)
    for part in ("cardio.mat", str(tmp_path / "nowhere"), str(tmp_path / "cache" / "odds"), "download=True",
                 "$NPAE_DATA (not set)"):
        assert part in message


def test_load_odds_unknown_name_suggests_the_closest():
    with pytest.raises(ValueError, match=r"Unknown ODDS table 'cardoi'.*Did you mean 'cardio'"):
        datasets.load_odds("cardoi")
    with pytest.raises(TypeError, match="name must be a str"):
        datasets.load_odds(3)


def test_load_odds_refuses_a_malformed_table(tmp_path, no_system_data):
    scipy_io = pytest.importorskip("scipy.io")
    (tmp_path / "bad").mkdir()
    scipy_io.savemat(tmp_path / "bad" / "glass.mat", {"X": np.zeros((4, 2)), "y": np.array([[0], [2], [1], [0]])})
    with pytest.raises(ValueError, match=r"y must hold 0 \(inlier\) and 1 \(outlier\); got values \[0, 1, 2\]"):
        datasets.load_odds("glass", data_dir=tmp_path / "bad")
    (tmp_path / "bad" / "glass.mat").write_bytes(b"not a mat file")
    with pytest.raises(ValueError, match="is not a readable ODDS .mat file"):
        datasets.load_odds("glass", data_dir=tmp_path / "bad")


# --------------------------------------------------------------------------------------------
# ADBench tables (load_adbench): small .npz fixtures written here, served from 127.0.0.1 only


def write_adbench(directory, fname="1_ALOI.npz", n=10, d=4, seed=0, x_dtype=np.float32, y=None):
    """A small ADBench-style table (X (n, d), y (n,) int) saved as ``directory/fname``; returns (X, y, sha256)."""
    rng = np.random.default_rng(seed)
    X = (rng.normal(size=(n, d)) * 10).astype(x_dtype)
    y = (np.arange(n) % 5 == 0).astype(np.int32) if y is None else y
    directory.mkdir(parents=True, exist_ok=True)
    np.savez(directory / fname, X=X, y=y)
    return X, y, sha256((directory / fname).read_bytes())


def accept(path):
    """``checksums=`` accepting the fixture at ``path`` (every file found on disk is checked too)."""
    return {Path(path).name: sha256(Path(path).read_bytes())}


def test_adbench_registry_pins_one_commit_and_has_a_checksum_for_every_table():
    assert re.search(r"/Minqi824/ADBench/[0-9a-f]{40}/adbench/datasets/$", datasets.ADBENCH_URL)
    assert datasets.ADBENCH_NAMES == tuple(datasets.ADBENCH_TABLES) and len(datasets.ADBENCH_NAMES) == 58
    files = [Path(rel).name for rel, _ in datasets.ADBENCH_TABLES.values()]
    assert len(set(files)) == len(files)  # the cache is flat: no two tables may share a file name
    for rel, digest in datasets.ADBENCH_TABLES.values():
        assert re.fullmatch(r"(Classical|CV_by_ResNet18)/[\w.\-]+\.npz", rel) and re.fullmatch(r"[0-9a-f]{64}", digest)
    assert {"ALOI", "Cardiotocography", "magic.gamma", "MVTec-AD_bottle"} <= set(datasets.ADBENCH_NAMES)


def test_load_adbench_reads_flat_and_adbench_layout_as_float64_and_0_1_labels(tmp_path, no_system_data):
    X, y, digest = write_adbench(tmp_path / "flat", x_dtype=np.int16)
    X2, y2 = datasets.load_adbench("ALOI", data_dir=tmp_path / "flat", checksums={"1_ALOI.npz": digest})
    assert X2.dtype == np.float64 and y2.dtype == np.int64 and X2.shape == (10, 4) and y2.shape == (10,)
    np.testing.assert_array_equal(X2, X.astype(np.float64))
    np.testing.assert_array_equal(y2, y)
    # ADBench's own layout (data_dir = a clone's adbench/datasets), ADBench's stem, any case, .npz suffix
    X, _, digest = write_adbench(tmp_path / "clone" / "CV_by_ResNet18", fname="MVTec-AD_bottle.npz", seed=1)
    for name in ("MVTec-AD_bottle", "mvtec-ad_BOTTLE.npz", "MVTEC-AD_BOTTLE.NPZ"):
        got = datasets.load_adbench(name, data_dir=tmp_path / "clone", checksums={"MVTec-AD_bottle.npz": digest})
        np.testing.assert_array_equal(got[0], X)
    X, _, digest = write_adbench(tmp_path / "clone" / "Classical", fname="22_magic.gamma.npz", seed=2)
    got = datasets.load_adbench("22_magic.gamma", data_dir=tmp_path / "clone", checksums={"22_magic.gamma.npz": digest})
    np.testing.assert_array_equal(got[0], X)


def test_load_adbench_refuses_a_found_file_that_is_another_table_of_the_same_name(tmp_path, no_system_data):
    """ADBench's CV_by_ViT/ holds other tables under the CV_by_ResNet18/ names: a found file is checked too."""
    write_adbench(tmp_path / "flat", fname="MVTec-AD_bottle.npz", d=6)
    with pytest.raises(ChecksumError, match=r"is not the ADBench file 'CV_by_ResNet18/MVTec-AD_bottle.npz': expected "
                       r"SHA-256 " + datasets.ADBENCH_TABLES["MVTec-AD_bottle"][1] + r".*CV_by_ViT.*checksums="):
        datasets.load_adbench("MVTec-AD_bottle", data_dir=tmp_path / "flat")
    path = tmp_path / "flat" / "MVTec-AD_bottle.npz"
    assert datasets.load_adbench("MVTec-AD_bottle", data_dir=tmp_path / "flat", checksums=accept(path))[0].shape == (10, 6)


def test_load_adbench_lookup_order_and_sha256sums_beside_the_file(monkeypatch, tmp_path, no_system_data):
    flat, _, _ = write_adbench(tmp_path / "dir", fname="44_Wilt.npz", seed=1)
    write_adbench(tmp_path / "dir" / "Classical", fname="44_Wilt.npz", seed=2)
    X_env, _, _ = write_adbench(tmp_path / "env" / "adbench", fname="44_Wilt.npz", seed=3)
    monkeypatch.setenv("NPAE_DATA", str(tmp_path / "env"))
    sums = {"44_Wilt.npz": tuple(sha256(p.read_bytes()) for p in tmp_path.rglob("44_Wilt.npz"))}
    np.testing.assert_array_equal(datasets.load_adbench("Wilt", data_dir=tmp_path / "dir", checksums=sums)[0], flat)
    np.testing.assert_array_equal(datasets.load_adbench("Wilt", checksums=sums)[0], X_env)  # $NPAE_DATA/adbench/
    (tmp_path / "env" / "adbench" / "SHA256SUMS").write_text("0" * 64 + "  44_Wilt.npz\n")
    with pytest.raises(ChecksumError, match="listed in"):
        datasets.load_adbench("Wilt", checksums=sums)
    # A file checked against both its digest and a SHA256SUMS line is read and hashed once, not twice.
    env_file = tmp_path / "env" / "adbench" / "44_Wilt.npz"
    (env_file.parent / "SHA256SUMS").write_text(f"{sha256(env_file.read_bytes())}  44_Wilt.npz\n")
    hashed = []
    real_hash = datasets._sha256_file
    monkeypatch.setattr(datasets, "_sha256_file", lambda path: hashed.append(path) or real_hash(path))
    np.testing.assert_array_equal(datasets.load_adbench("Wilt", checksums=sums)[0], X_env)
    assert hashed == [env_file]


def test_load_adbench_looks_in_npae_data_adbench(monkeypatch, tmp_path, no_system_data):
    X, _, digest = write_adbench(tmp_path / "data" / "adbench", fname="7_Cardiotocography.npz")
    monkeypatch.setenv("NPAE_DATA", str(tmp_path / "data"))
    got = datasets.load_adbench("cardiotocography", checksums={"7_Cardiotocography.npz": digest})
    np.testing.assert_array_equal(got[0], X)


def test_load_adbench_download_fetches_adbench_layout_verifies_and_caches_flat(mirror, tmp_path, no_system_data):
    root, url = mirror
    X, y, digest = write_adbench(root / "good" / "Classical", fname="44_Wilt.npz")
    X2, y2 = datasets.load_adbench("Wilt", download=True, base_url=f"{url}/good", checksums={"44_Wilt.npz": digest})
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(y2, y)
    assert files_under(tmp_path / "cache") == ["adbench/44_Wilt.npz"]
    shutil.rmtree(root / "good")  # the second load comes from the cache, without a server
    np.testing.assert_array_equal(datasets.load_adbench("wilt", checksums={"44_Wilt.npz": digest})[0], X)


def test_load_adbench_download_uses_npae_mirror(monkeypatch, mirror, tmp_path, no_system_data):
    root, url = mirror
    X, _, digest = write_adbench(root / "m" / "adbench" / "CV_by_ResNet18", fname="MVTec-AD_zipper.npz", seed=4)
    monkeypatch.setenv("NPAE_MIRROR", f"{url}/m")
    got = datasets.load_adbench("MVTec-AD_zipper", download=True, checksums={"MVTec-AD_zipper.npz": digest})[0]
    np.testing.assert_array_equal(got, X)


def test_load_adbench_refuses_a_file_that_is_not_the_published_one(mirror, tmp_path, no_system_data):
    """Without checksums=, the file must be the one in ADBENCH_TABLES: a fixture never is."""
    root, url = mirror
    write_adbench(root / "other" / "Classical", fname="47_yeast.npz")
    with pytest.raises(ChecksumError, match=r"47_yeast.npz failed its checksum: expected SHA-256 "
                       + datasets.ADBENCH_TABLES["yeast"][1]):
        datasets.load_adbench("yeast", download=True, base_url=f"{url}/other")
    assert files_under(tmp_path / "cache") == []


def test_load_adbench_not_found_lists_the_places_and_unknown_names_get_a_suggestion(tmp_path, no_system_data):
    (tmp_path / "nowhere").mkdir()
    with pytest.raises(FileNotFoundError) as info:
        datasets.load_adbench("ALOI", data_dir=tmp_path / "nowhere")  # there, but empty
    for part in ("ADBench table '1_ALOI.npz'", str(tmp_path / "nowhere"), str(tmp_path / "cache" / "adbench"),
                 "download=True"):
        assert part in str(info.value)
    with pytest.raises(ValueError, match=r"Unknown ADBench table 'Cardiotocograpy'.*Did you mean 'Cardiotocography'"):
        datasets.load_adbench("Cardiotocograpy")
    with pytest.raises(TypeError, match="name must be a str"):
        datasets.load_adbench(None)


def test_load_adbench_refuses_a_malformed_table(tmp_path, no_system_data):
    path = tmp_path / "bad" / "45_wine.npz"

    def load():
        return datasets.load_adbench("wine", data_dir=tmp_path / "bad", checksums=accept(path))

    write_adbench(tmp_path / "bad", fname="45_wine.npz", y=np.array([0, 1, 2, 0, 0, 0, 0, 0, 0, 0]))
    with pytest.raises(ValueError, match=r"y must hold 0 \(inlier\) and 1 \(outlier\); got values \[0, 1, 2\]"):
        load()
    np.savez(path, X=np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"should hold the arrays 'X' and 'y'; found \['X'\]"):
        load()
    np.savez(path, X=np.zeros(3), y=np.zeros(3))
    with pytest.raises(ValueError, match=r"expected a numeric X of shape \(N, D\)"):
        load()
    np.savez(path, X=np.zeros((3, 2)), y=np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"got X \(3, 2\) \(float64\) and y \(3, 2\)"):  # the shape as stored
        load()
    np.savez(path, X=np.array([["a"], ["b"]]), y=np.zeros(2))
    with pytest.raises(ValueError, match=r"expected a numeric X"):
        load()
    path.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="is not a readable ADBench .npz file"):
        load()
    np.savez(path, X=np.array([object()], dtype=object).reshape(1, 1), y=np.zeros(1))
    with pytest.raises(ValueError, match="is not a readable ADBench .npz file"):  # pickled arrays are refused
        load()
    with open(path, "wb") as f:  # a bare .npy saved under the .npz name
        np.save(f, np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"is not a readable ADBench .npz file \(it holds one array"):
        load()


@pytest.mark.parametrize("make", [lambda p: p / "typo", lambda p: (p / "a_file").write_text("x") and p / "a_file"])
def test_an_explicit_data_dir_that_is_not_a_directory_is_an_error_not_a_fallback(tmp_path, make):
    """A typo in data_dir must not load another copy of the data from $NPAE_DATA or the cache."""
    where = make(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"data_dir .*(does not exist|is not a directory)"):
        load_mnist("test", data_dir=where)


@pytest.mark.skipif(not hasattr(signal, "SIGTERM") or os.name != "posix", reason="POSIX signals")
def test_sigterm_mid_download_leaves_no_partial_file_and_still_ends_the_process(tmp_path):
    """``timeout`` or a scheduler sends SIGTERM: the temporary file is removed as on Ctrl-C."""
    cache = tmp_path / "cache"
    child = f"""
import os, signal, pathlib
os.environ["NPAE_CACHE"] = {str(cache)!r}
os.environ.pop("NPAE_DATA", None)
from npae import datasets
datasets.SYSTEM_DATA_DIR = pathlib.Path({str(tmp_path / "none")!r})

def fetch(self, url, output_file, pup):
    with open(output_file, "wb") as partial:
        partial.write(b"half a file")
        partial.flush()
        os.kill(os.getpid(), signal.SIGTERM)

datasets._VerifiedDownloader._fetch = fetch
datasets.load_mnist("test", download=True, base_url="http://127.0.0.1:9/")
print("not reached")
"""
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=120)
    assert done.returncode == -signal.SIGTERM, done.stderr
    assert "not reached" not in done.stdout
    assert files_under(cache) == []  # the cache directory may exist, empty


def test_load_dataset_refuses_options_the_dataset_does_not_take():
    with pytest.raises(TypeError, match=r"load_dataset\('embedded'\) got data_dir, but this dataset takes no options"):
        datasets.load_dataset("embedded", data_dir="/nowhere")
    with pytest.raises(TypeError, match=r"got bogus, but this dataset takes only data_dir, download"):
        datasets.load_dataset("mnist", "test", bogus=1)
