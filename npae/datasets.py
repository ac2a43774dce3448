"""Datasets on the host: scikit-learn's digits, MNIST and Fashion-MNIST from IDX files, checksummed
downloads through pooch, and a small stratified Fashion-MNIST subset shipped inside the package.

Every loader returns ``(X, y)`` as host NumPy arrays: ``X`` float32 of shape (N, D) scaled to
[0, 1], ``y`` int64 of shape (N,). Move them to a backend with ``npae.asarray`` when needed; this
module imports NumPy and pooch only (and scikit-learn inside :func:`load_digits`, SciPy inside
:func:`load_odds`), never another npae module.

Where the IDX files are looked for, in order (``<name>`` is ``"mnist"`` or ``"fashion-mnist"``):

1. the ``data_dir`` argument;
2. ``$NPAE_DATA/<name>/``, then ``$NPAE_DATA`` itself;
3. the user cache, ``$NPAE_CACHE/<name>/``, by default ``pooch.os_cache("npae")/<name>/``
   (``~/.cache/npae/<name>/`` on Linux), where ``download=True`` stores what it fetches;
4. ``/usr/share/datasets/<name>/`` (Debian's ``dataset-fashion-mnist`` installs there).

The first directory holding both files of the split (``train-images-idx3-ubyte.gz`` and
``train-labels-idx1-ubyte.gz``, or the ``t10k-`` pair; plain files without ``.gz`` are accepted
too) is used. When that directory has a ``SHA256SUMS`` file (``sha256sum`` format), every file
read that it lists is checked against it; files it does not list are read unchecked.

Downloads (``download=True``) fetch the missing ``.gz`` files of the split into the cache from
``base_url`` (argument), else ``$NPAE_MIRROR/<name>/``, else :data:`MNIST_URL` /
:data:`FASHION_MNIST_URL`, with ``pooch.retrieve``. pooch streams each file into a temporary file
in the cache directory and moves it into place only once it is complete and its SHA-256 is one of
the known digests (:data:`MNIST_SHA256`, :data:`FASHION_MNIST_SHA256`, or the ``checksums=``
override); on any failure the temporary file is removed, so the cache never holds a partial or
unverified file. A file without a known checksum is refused, never fetched unchecked.
"""

from __future__ import annotations

import contextlib
import difflib
import gzip
import logging
import os
import shutil
import urllib.parse
import urllib.request
import zlib
from pathlib import Path

import numpy as np

__all__ = [
    "DATASET_NAMES",
    "EMBEDDED_PATH",
    "EMBEDDED_SHA256",
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_SHA256",
    "FASHION_MNIST_URL",
    "MNIST_SHA256",
    "MNIST_URL",
    "ODDS_NAMES",
    "ODDS_SHA256",
    "ODDS_URL",
    "SPLITS",
    "ChecksumError",
    "DownloadError",
    "load_dataset",
    "load_digits",
    "load_embedded",
    "load_fashion_mnist",
    "load_mnist",
    "load_odds",
    "read_idx",
]

SPLITS = ("train", "test")
DATASET_NAMES = ("digits", "embedded", "fashion-mnist", "mnist")

FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

#: The stratified Fashion-MNIST subset shipped with npae, built by
#: ``scripts/make_embedded_dataset.py``: 500 train images per class from the official train split,
#: 100 test images per class from the official test split, uint8, flattened to 784.
EMBEDDED_PATH = Path(__file__).resolve().parent / "data" / "fashion_mnist_subset.npz"
EMBEDDED_SHA256 = "c07aa26eca0aff2b2e4e01cfda3510d32c262e348b1da74ca92546f05e144a08"

FASHION_MNIST_URL = "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"
MNIST_URL = "https://storage.googleapis.com/cvdf-datasets/mnist/"

#: Accepted SHA-256 digests of the Fashion-MNIST archives. The first is the upstream file
#: (zalandoresearch/fashion-mnist); the second is Debian's ``dataset-fashion-mnist`` copy, the same
#: data re-gzipped without the original file name in the gzip header (hence 23-24 bytes shorter).
FASHION_MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz": (
        "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
    ),
    "train-labels-idx1-ubyte.gz": (
        "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
    ),
    "t10k-images-idx3-ubyte.gz": (
        "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
    ),
    "t10k-labels-idx1-ubyte.gz": (
        "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
    ),
}

#: SHA-256 digests of the MNIST archives as served by MNIST_URL (the same files as LeCun's).
MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz": ("440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",),
    "train-labels-idx1-ubyte.gz": ("3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",),
    "t10k-images-idx3-ubyte.gz": ("8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",),
    "t10k-labels-idx1-ubyte.gz": ("f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",),
}

#: The 17 ODDS tables of PyOD's benchmark (``notebooks/benchmark.py``), loaded by :func:`load_odds`.
ODDS_NAMES = ("arrhythmia", "cardio", "glass", "ionosphere", "letter", "lympho", "mnist", "musk", "optdigits", "pendigits", "pima", "satellite", "satimage-2", "shuttle", "vertebral", "vowels", "wbc")
#: PyOD's copy of the ODDS tables, pinned to the last commit that changed them (2018-06-12).
ODDS_URL = "https://raw.githubusercontent.com/yzhao062/pyod/bd110115c680d29561dd7e05d8f4b7af4f3512f7/notebooks/data/"
#: SHA-256 digests of the ODDS ``.mat`` files as served by :data:`ODDS_URL`.
ODDS_SHA256 = {
    "arrhythmia.mat": ("e4d47e499591ae31e5d7f0cd983367092353eac240f48e14c9b36457edb3460d",),
    "cardio.mat": ("5e568b6a73711012c481fa6cc984ab9c68e9a4fa44d6aeb3b43efa381c3f695b",),
    "glass.mat": ("2c506e6e1e2ca1e82a905d10a90773151ff812c4bd969c71a12db5b2bb6e7921",),
    "ionosphere.mat": ("8ac5dfa6f47db4acdfe10615489b7f7dd015d79d5b381ce641e72baca3cfefb0",),
    "letter.mat": ("f4a229b0e2a6b0c9157ce27fa760bcbac0f948cd690b2f5d51c120e5450f2195",),
    "lympho.mat": ("031b907ecb50347720b08b38f8139d05635adeca9335a064d89d5569c27a5834",),
    "mnist.mat": ("9479e221f236684c09f3e11c7ad124725d34ecd301b9450425e8b113368413a6",),
    "musk.mat": ("50bbf414caceb66cfe6f6b1eb7c1ff7c6eb1e6d87173f7bb597ba55cd3dc5493",),
    "optdigits.mat": ("30c664cd6f3740a173277a27cd1028d471b06f0835a9902c9712749cec58c1c4",),
    "pendigits.mat": ("7bc32ac83b3d583443acea8b1342a54aaa59eaedb9996af405322f473f3c22bc",),
    "pima.mat": ("b6a5be8d548b9293d6958beceb1c77055591714d25d40d957eba87808456468f",),
    "satellite.mat": ("6feac3112b9c14e1c3e60afc437f2f3d29dc1000119c9f950c628078778d6aa0",),
    "satimage-2.mat": ("95c37a07cea2cb201f6900d14f521510e10b6b2f0074c06ac46d3157440ec67b",),
    "shuttle.mat": ("b6e396c92354d5dcf5036901e36dc58e2913f2d1a5e138c35a2bedf9c69db899",),
    "vertebral.mat": ("84b50b055f118f54b5c976650ccd284ab7c1adee822f8b3eb517c7e2c890d15e",),
    "vowels.mat": ("51d5397bad1ceeda22b7cd44fd58125c5d603c9c2edb53aa59933330e259ac7b",),
    "wbc.mat": ("afe6b26953cc196b9a480318c903e0edef22529c2f61bd02082438c6e70630a7",),
}

SYSTEM_DATA_DIR = Path("/usr/share/datasets")
DOWNLOAD_TIMEOUT = 60.0  # seconds without data before a download is abandoned

_IDX_MAGIC = {0x00000801: "labels", 0x00000803: "images"}
_GZIP_MAGIC = b"\x1f\x8b"
_IMAGE_SIDE = 28
_N_CLASSES = 10
_SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_PRETTY = {"fashion-mnist": "Fashion-MNIST", "mnist": "MNIST"}
_URL_SCHEMES = ("http", "https", "file")


class ChecksumError(ValueError):
    """A file whose SHA-256 differs from the one it must have (corrupt, truncated or replaced)."""


class DownloadError(OSError):
    """A download that failed: HTTP error, unreachable server, timeout or truncated transfer."""


# --------------------------------------------------------------------------------------------
# IDX files


def read_idx(path) -> np.ndarray:
    """Read an unsigned-byte IDX file (the MNIST format), plain or gzip-compressed.

    Layout (big-endian): a 4-byte magic number ``0x000008nn`` (``0x08`` = unsigned byte,
    ``nn`` = number of dimensions: ``01`` labels, ``03`` images), one uint32 per dimension, then
    exactly prod(dims) bytes. Compression is detected from the content (gzip magic), not the name.

    Parameters
    ----------
    path : str or os.PathLike
        The file, e.g. ``train-images-idx3-ubyte.gz``.

    Returns
    -------
    data : ndarray of uint8, shape (N, 28, 28) for images or (N,) for labels
        The dimensions stored in the header; a writable copy.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the gzip stream is corrupt, the magic number is not 0x00000801 / 0x00000803, or the
        payload is shorter or longer than the header's dimensions promise.
    """
    name = os.fspath(path)
    with open(name, "rb") as handle:
        raw = handle.read()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as err:
            raise ValueError(
                f"IDX file {name!r} is not a readable gzip file (truncated or corrupted?): {err}. "
                "Delete it and fetch it again (download=True, or apt-get install --reinstall)."
            ) from err
    if len(raw) < 4:
        raise ValueError(
            f"IDX file {name!r} is too short to be an IDX file: expected at least a 4-byte "
            f"magic number, got {len(raw)} bytes. Delete it and fetch it again."
        )
    magic = int.from_bytes(raw[:4], "big")
    if magic not in _IDX_MAGIC:
        raise ValueError(
            f"{name!r} is not an unsigned-byte IDX file: expected magic number 0x00000801 "
            f"(labels) or 0x00000803 (images), got 0x{magic:08x}. Point the loader at the "
            "official MNIST / Fashion-MNIST files (train-images-idx3-ubyte.gz, ...)."
        )
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(
            f"IDX file {name!r} is truncated: expected a {header}-byte header for {ndim} "
            f"dimension(s), got {len(raw)} bytes. Delete it and fetch it again."
        )
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(dims, dtype=np.int64))
    actual = len(raw) - header
    if actual != expected:
        kind = "truncated" if actual < expected else "oversized"
        shape = " x ".join(map(str, dims))
        raise ValueError(
            f"IDX file {name!r} is {kind}: its header promises {shape} = {expected} bytes of "
            f"data, got {actual}. Delete it and fetch it again (download=True)."
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims).copy()


# --------------------------------------------------------------------------------------------
# Checksums


def _sha256_file(path) -> str:
    import pooch

    return pooch.file_hash(os.fspath(path), alg="sha256")


def _read_sha256sums(path: Path) -> dict:
    """Parse a ``sha256sum``-style file: ``<64 hex>  <name>`` (or `` *<name>``) per line."""
    sums = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        digest, _, fname = line.partition(" ")
        fname = fname.strip().lstrip("*")
        if len(digest) != 64 or not fname or any(c not in "0123456789abcdefABCDEF" for c in digest):
            raise ValueError(
                f"{str(path)!r} line {number} is not in sha256sum format: expected "
                f"'<64 hex digits>  <file name>', got {line!r}. Fix or remove the line."
            )
        sums[fname] = digest.lower()
    return sums


def _verify_listed(path: Path, sums: dict, sums_path: Path) -> None:
    expected = sums.get(path.name)
    if expected is None:
        return
    actual = _sha256_file(path)
    if actual != expected:
        raise ChecksumError(
            f"SHA-256 mismatch for {str(path)!r} (listed in {str(sums_path)!r}): expected "
            f"{expected}, got {actual}. The file is corrupted or not the one listed; replace it "
            "with a good copy (or delete it and load with download=True)."
        )


def _accepted(checksums: dict, fname: str) -> tuple:
    value = checksums.get(fname)
    if value is None:
        return ()
    return (value.lower(),) if isinstance(value, str) else tuple(v.lower() for v in value)


# --------------------------------------------------------------------------------------------
# Lookup and download


def _check_split(split) -> None:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS!r}; got {split!r}.")


def _expand(path, what: str) -> Path:
    """``path`` with a leading ``~`` / ``~user`` expanded as a shell does; a ValueError naming
    ``what`` when that user does not exist (never a literal ``~`` directory)."""
    text = os.fsdecode(os.fspath(path))
    expanded = os.path.expanduser(text)
    if expanded.startswith("~"):
        user = text[1:].split(os.sep, 1)[0]
        who = f"no user {user!r} exists here" if user else "there is no home directory (HOME is not set)"
        raise ValueError(f"{what} {text!r} starts with ~{user}, but {who}; write the path out in full.")
    return Path(expanded)


def _cache_dir(name: str) -> Path:
    """``$NPAE_CACHE/<name>``, else pooch's per-user cache for npae (``~/.cache/npae`` on Linux)."""
    root = os.environ.get("NPAE_CACHE")
    if root:
        return _expand(root, "$NPAE_CACHE") / name
    import pooch  # imported here, not at the top: ``import npae`` does not need it

    return Path(pooch.os_cache("npae")) / name


def _candidate_dirs(name: str, data_dir) -> list:
    """(directory, where it came from) in lookup order; duplicates dropped."""
    found = []
    if data_dir is not None:
        found.append((_expand(data_dir, "data_dir"), "data_dir"))
    npae_data = os.environ.get("NPAE_DATA")
    if npae_data:
        found.append((_expand(npae_data, "$NPAE_DATA") / name, f"$NPAE_DATA/{name}"))
        found.append((_expand(npae_data, "$NPAE_DATA"), "$NPAE_DATA"))
    found.append((_cache_dir(name), "user cache"))
    found.append((SYSTEM_DATA_DIR / name, "system data"))
    unique, seen = [], set()
    for directory, origin in found:
        key = os.path.abspath(directory)
        if key not in seen:
            seen.add(key)
            unique.append((directory, origin))
    return unique


def _find_file(directory: Path, stem: str):
    for fname in (stem + ".gz", stem):
        path = directory / fname
        if path.is_file():
            return path
    return None


def _not_found(name: str, split: str, dirs: list) -> FileNotFoundError:
    stems = ", ".join(f"{stem}[.gz]" for stem in _SPLIT_FILES[split])
    places = "\n".join(f"  - {directory} ({origin})" for directory, origin in dirs)
    if not os.environ.get("NPAE_DATA"):
        places += "\n  - $NPAE_DATA (not set)"
    how = []
    if name == "fashion-mnist":
        how.append("install Debian's package: apt-get install dataset-fashion-mnist")
    how += [
        f"pass download=True to fetch them into {_cache_dir(name)}",
        (
            "put the files in a directory and pass data_dir=..., or set NPAE_DATA to it "
            f"(searched as $NPAE_DATA/{name}/ and $NPAE_DATA/)"
        ),
    ]
    return FileNotFoundError(
        f"{_PRETTY[name]} {split} files ({stems}) were not found. Looked in, in order:\n"
        f"{places}\nTo get them: " + "; or ".join(how) + "."
    )


def _base_url(name: str, base_url) -> str:
    if base_url is None:
        mirror = os.environ.get("NPAE_MIRROR")
        if mirror:
            base_url = mirror.rstrip("/") + "/" + name
        else:
            base_url = {"mnist": MNIST_URL, "fashion-mnist": FASHION_MNIST_URL}[name]
    scheme = urllib.parse.urlparse(base_url).scheme
    if scheme not in _URL_SCHEMES:
        raise ValueError(f"base_url must be an http(s):// or file:// URL; got {base_url!r} (scheme {scheme!r}).")
    return base_url.rstrip("/") + "/"


def _causes(err: BaseException):
    """``err`` and what it wraps, outermost first: requests wraps urllib3, which wraps the socket
    error ("[Errno 111] Connection refused", "timed out") or an ``IncompleteRead``."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        yield err
        wrapped = [a for a in (getattr(err, "reason", None), *err.args) if isinstance(a, BaseException)]
        err = wrapped[0] if wrapped else (err.__cause__ or err.__context__)


class _VerifiedDownloader:
    """A pooch downloader that refuses a file whose SHA-256 is not one of ``accepted``.

    pooch streams into a temporary file beside the destination and moves it into place only when
    the downloader returns; an exception raised here makes pooch delete the temporary file, so the
    cache never holds a partial or unverified file. The digest is checked here rather than through
    pooch's ``known_hash`` because a file may have several accepted digests (upstream's and
    Debian's re-gzipped copy) and the refusal reports the size received. HTTP(S) goes through
    ``pooch.HTTPDownloader``; ``file://`` URLs (a local mirror) are copied.
    """

    def __init__(self, accepted: tuple, timeout: float):
        self.accepted = accepted
        self.timeout = timeout

    def _fetch(self, url: str, output_file: str, pup) -> None:
        import pooch

        if urllib.parse.urlparse(url).scheme == "file":
            local = urllib.request.url2pathname(urllib.parse.urlparse(url).path)
            with open(local, "rb") as source, open(output_file, "wb") as target:
                shutil.copyfileobj(source, target)
            return
        pooch.HTTPDownloader(timeout=self.timeout, progressbar=False, chunk_size=1 << 16)(url, output_file, pup)

    def __call__(self, url: str, output_file: str, pup) -> None:
        import pooch

        try:
            self._fetch(url, output_file, pup)
        except OSError as err:  # requests' exceptions are OSErrors too
            response = getattr(err, "response", None)  # set by requests' HTTPError
            if response is not None:
                raise DownloadError(
                    f"Downloading {url} failed: HTTP {response.status_code} {response.reason}. Check the "
                    "URL, or use another mirror (base_url= or $NPAE_MIRROR); nothing was saved."
                ) from err
            causes = list(_causes(err))
            for cause in causes:  # urllib3's IncompleteRead(bytes read, bytes still expected)
                received, missing = getattr(cause, "partial", None), getattr(cause, "expected", None)
                if isinstance(received, int) and isinstance(missing, int):
                    raise DownloadError(
                        f"Download of {url} was truncated: expected {received + missing} bytes "
                        f"(Content-Length), got {received}. Try again; nothing was saved."
                    ) from err
            raise DownloadError(
                f"Could not download {url}: {causes[-1]}. Check the network connection and "
                "that the server is up, or use another mirror (base_url= or $NPAE_MIRROR); "
                "nothing was saved."
            ) from err
        actual = pooch.file_hash(output_file, alg="sha256")
        if actual not in self.accepted:
            received = os.path.getsize(output_file)
            name = urllib.parse.urlparse(url).path.rsplit("/", 1)[-1]
            raise ChecksumError(
                f"Downloaded {url} failed its checksum: expected SHA-256 "
                f"{' or '.join(self.accepted)}, got {actual} ({received} bytes). The file is corrupt, "
                "truncated or not the official one; nothing was saved. Try again or use another "
                f"mirror (base_url= or $NPAE_MIRROR), or pass checksums={{{name!r}: "
                "'<sha256>'}} if you trust this file."
            )


@contextlib.contextmanager
def _quiet_pooch():
    """Silence pooch's INFO lines for one call: with the digest checked by the downloader, its
    "use this value as known_hash" advice would be wrong, and npae's loaders print nothing."""
    import pooch

    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _download(url: str, dest: Path, accepted: tuple, timeout: float) -> Path:
    """Fetch ``url`` to ``dest`` with ``pooch.retrieve``, keeping it only if its SHA-256 is in
    ``accepted``; on any failure nothing is left behind."""
    import pooch

    with _quiet_pooch():
        path = pooch.retrieve(url, known_hash=None, fname=dest.name, path=dest.parent,
                              downloader=_VerifiedDownloader(accepted, timeout))
    return Path(path)


def _fetch_split(name, split, base_url, checksums) -> tuple:
    """Make sure the split's files are in the cache, downloading the missing ones."""
    cache = _cache_dir(name)
    known = dict({"mnist": MNIST_SHA256, "fashion-mnist": FASHION_MNIST_SHA256}[name])
    known.update(checksums or {})
    paths = []
    for stem in _SPLIT_FILES[split]:
        path = _find_file(cache, stem)
        if path is None:
            fname = stem + ".gz"
            accepted = _accepted(known, fname)
            if not accepted:
                raise ValueError(
                    f"No known SHA-256 for {_PRETTY[name]} file {fname!r}, and npae never "
                    f"downloads a file it cannot verify. Pass checksums={{{fname!r}: "
                    "'<sha256>'}} with the digest published for it."
                )
            path = _download(_base_url(name, base_url) + fname, cache / fname, accepted, DOWNLOAD_TIMEOUT)
        paths.append(path)
    return cache, paths


def _load_idx_dataset(name, split, data_dir, download, base_url, checksums):
    _check_split(split)
    dirs = _candidate_dirs(name, data_dir)
    for directory, _origin in dirs:
        paths = [_find_file(directory, stem) for stem in _SPLIT_FILES[split]]
        if all(paths):
            break
    else:
        if not download:
            raise _not_found(name, split, dirs)
        directory, paths = _fetch_split(name, split, base_url, checksums)
    sums_path = directory / "SHA256SUMS"
    if sums_path.is_file():
        sums = _read_sha256sums(sums_path)
        for path in paths:
            _verify_listed(path, sums, sums_path)
    images, labels = (read_idx(path) for path in paths)
    if images.ndim != 3 or images.shape[1:] != (_IMAGE_SIDE, _IMAGE_SIDE):
        raise ValueError(
            f"{str(paths[0])!r} should hold 28 x 28 images: expected shape (N, 28, 28), got "
            f"{images.shape}. Is it the images file of {_PRETTY[name]}?"
        )
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise ValueError(
            f"{str(paths[1])!r} should hold one label per image of {str(paths[0])!r}: expected "
            f"shape ({images.shape[0]},), got {labels.shape}. The two files do not belong together."
        )
    if labels.size and int(labels.max()) >= _N_CLASSES:
        raise ValueError(
            f"{str(paths[1])!r} holds label {int(labels.max())}; expected 0-9. Is it a {_PRETTY[name]} labels file?"
        )
    return _scale(images.reshape(images.shape[0], -1), 255.0), labels.astype(np.int64)


def _scale(data: np.ndarray, top: float) -> np.ndarray:
    """uint8 counts (N, D) -> float32 (N, D) in [0, 1], each value count / top.

    Divided in place: the full training set is 188 MB in float32, and ``astype(...) / top``
    would hold a second copy of it at once.
    """
    X = data.astype(np.float32)
    X /= top
    return X


# --------------------------------------------------------------------------------------------
# Public loaders


def load_fashion_mnist(split: str = "train", data_dir=None, download: bool = False, *, base_url=None, checksums=None):
    """Load Fashion-MNIST (Xiao, Rasul & Vollgraf, 2017): 28 x 28 grey clothing images.

    Files are looked up in ``data_dir``, ``$NPAE_DATA/fashion-mnist/``, ``$NPAE_DATA``, the user
    cache (``$NPAE_CACHE/fashion-mnist/``, default ``~/.cache/npae/fashion-mnist/`` on Linux) and
    ``/usr/share/datasets/fashion-mnist/`` (``apt-get install dataset-fashion-mnist``), in that
    order; see the module docstring. Class names are :data:`FASHION_MNIST_CLASSES`.

    Parameters
    ----------
    split : {"train", "test"}
        60,000 training or 10,000 test images.
    data_dir : str or os.PathLike, optional
        A directory holding the official files; searched first.
    download : bool, default False
        If the files are found nowhere, fetch them into the user cache, verified by SHA-256.
    base_url : str, optional
        Where to download from (``<base_url>/<file>``); default ``$NPAE_MIRROR/fashion-mnist/``
        if set, else :data:`FASHION_MNIST_URL`.
    checksums : dict, optional
        File name -> SHA-256 hex digest (or a tuple of accepted digests) overriding
        :data:`FASHION_MNIST_SHA256` for downloads.

    Returns
    -------
    X : ndarray of shape (N, 784), float32
        Pixels divided by 255, in [0, 1]; rows are images flattened row by row.
    y : ndarray of shape (N,), int64
        Class indices 0-9.

    Raises
    ------
    ValueError
        For a split other than "train" / "test", or a malformed file.
    FileNotFoundError
        If the files are nowhere and ``download`` is False; the message lists every place looked.
    ChecksumError
        If a file differs from its ``SHA256SUMS`` entry or a download from its known digest.
    DownloadError
        If a download fails (HTTP error, server unreachable, truncated transfer).
    """
    return _load_idx_dataset("fashion-mnist", split, data_dir, download, base_url, checksums)


def load_mnist(split: str = "train", data_dir=None, download: bool = False, *, base_url=None, checksums=None):
    """Load MNIST (LeCun, Cortes & Burges): 28 x 28 grey handwritten digits.

    Files are looked up in ``data_dir``, ``$NPAE_DATA/mnist/``, ``$NPAE_DATA``, the user cache
    (``$NPAE_CACHE/mnist/``, default ``~/.cache/npae/mnist/`` on Linux) and ``/usr/share/datasets/mnist/``,
    in that order; see the module docstring. A ``SHA256SUMS`` file beside them is honoured.

    Parameters
    ----------
    split : {"train", "test"}
        60,000 training or 10,000 test images.
    data_dir : str or os.PathLike, optional
        A directory holding the official files; searched first.
    download : bool, default False
        If the files are found nowhere, fetch them into the user cache, verified by SHA-256.
    base_url : str, optional
        Where to download from (``<base_url>/<file>``); default ``$NPAE_MIRROR/mnist/`` if set,
        else :data:`MNIST_URL`.
    checksums : dict, optional
        File name -> SHA-256 hex digest (or a tuple of accepted digests) overriding
        :data:`MNIST_SHA256` for downloads.

    Returns
    -------
    X : ndarray of shape (N, 784), float32
        Pixels divided by 255, in [0, 1].
    y : ndarray of shape (N,), int64
        Digits 0-9.

    Raises
    ------
    ValueError, FileNotFoundError, ChecksumError, DownloadError
        As for :func:`load_fashion_mnist`.
    """
    return _load_idx_dataset("mnist", split, data_dir, download, base_url, checksums)


def _odds_key(name) -> str:
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, one of {ODDS_NAMES!r}; got {type(name).__name__}.")
    key = name.strip().lower().replace("_", "-")
    if key.endswith(".mat"):
        key = key[:-4]
    if key not in ODDS_NAMES:
        close = difflib.get_close_matches(key, ODDS_NAMES, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"Unknown ODDS table {name!r}; valid names are {ODDS_NAMES!r}.{hint}")
    return key


def _read_odds_mat(path: Path):
    """(X float64 (N, D), y int64 (N,) of 0/1) from an ODDS ``.mat`` file (MATLAB v4-v7.2)."""
    import scipy.io  # scikit-learn's dependency; imported here so ``import npae`` does not need it

    try:
        data = scipy.io.loadmat(os.fspath(path))
    except (ValueError, TypeError, OSError, NotImplementedError, scipy.io.matlab.MatReadError) as err:
        raise ValueError(f"{str(path)!r} is not a readable ODDS .mat file ({err}). Delete it and "
                         "load again (download=True fetches a verified copy).") from err
    if "X" not in data or "y" not in data:
        found = sorted(k for k in data if not k.startswith("__"))
        raise ValueError(f"{str(path)!r} should hold the variables 'X' and 'y'; found {found}.")
    X, y = np.asarray(data["X"], dtype=np.float64), np.asarray(data["y"]).reshape(-1)
    if X.ndim != 2 or X.shape[0] != y.shape[0]:
        raise ValueError(f"{str(path)!r}: expected X of shape (N, D) and y of shape (N,) or (N, 1); got "
                         f"X {X.shape} and y {np.asarray(data['y']).shape}.")
    if not np.isin(y, (0, 1)).all():
        raise ValueError(f"{str(path)!r}: y must hold 0 (inlier) and 1 (outlier); got values "
                         f"{np.unique(y)[:10].tolist()}.")
    return np.ascontiguousarray(X), y.astype(np.int64)


def load_odds(name: str, data_dir=None, download: bool = False, *, base_url=None, checksums=None):
    """Load one of the 17 ODDS outlier-detection tables of PyOD's benchmark.

    The tables (:data:`ODDS_NAMES`: arrhythmia, cardio, glass, ionosphere, letter, lympho, mnist,
    musk, optdigits, pendigits, pima, satellite, satimage-2, shuttle, vertebral, vowels, wbc) are
    the ``.mat`` files PyOD benchmarks on (``notebooks/data/`` in its repository), taken from the
    ODDS library. Cite it when you use them, as ODDS asks: Shebuti Rayana (2016). ODDS Library
    [http://odds.cs.stonybrook.edu]. Stony Brook, NY: Stony Brook University, Department of
    Computer Science.

    ``<name>.mat`` is looked up in ``data_dir``, ``$NPAE_DATA/odds/``, ``$NPAE_DATA``, the user
    cache (``$NPAE_CACHE/odds/``, default ``~/.cache/npae/odds/`` on Linux) and
    ``/usr/share/datasets/odds/``, in that order, as for :func:`load_fashion_mnist` (a
    ``SHA256SUMS`` file beside it is honoured). With ``download=True`` a table found nowhere is
    fetched once through pooch from ``base_url`` (default ``$NPAE_MIRROR/odds/`` if set, else
    :data:`ODDS_URL`, PyOD's repository at a fixed commit) into the cache, and kept only if its
    SHA-256 is the one in :data:`ODDS_SHA256` (or ``checksums=``).

    Parameters
    ----------
    name : str
        One of :data:`ODDS_NAMES` (case-insensitive; ``_`` may stand for ``-``; ``.mat`` optional).
    data_dir : str or os.PathLike, optional
        A directory holding ``<name>.mat``; searched first.
    download : bool, default False
        If the file is found nowhere, fetch it into the user cache, verified by SHA-256.
    base_url : str, optional
        Where to download from (``<base_url>/<name>.mat``).
    checksums : dict, optional
        File name (``"<name>.mat"``) -> SHA-256 hex digest (or a tuple of accepted digests)
        overriding :data:`ODDS_SHA256` for downloads.

    Returns
    -------
    X : ndarray of shape (N, D), float64
        The features as stored (not scaled).
    y : ndarray of shape (N,), int64
        1 = outlier, 0 = inlier.

    Raises
    ------
    TypeError, ValueError
        For a name that is not one of :data:`ODDS_NAMES` (the message suggests the closest), or a
        malformed file.
    FileNotFoundError
        If the file is nowhere and ``download`` is False; the message lists every place looked.
    ChecksumError
        If a file differs from its ``SHA256SUMS`` entry or a download from its known digest.
    DownloadError
        If a download fails (HTTP error, server unreachable, truncated transfer).
    """
    key = _odds_key(name)
    fname = key + ".mat"
    dirs = _candidate_dirs("odds", data_dir)
    path = next((d / fname for d, _origin in dirs if (d / fname).is_file()), None)
    if path is None:
        if not download:
            places = "\n".join(f"  - {d} ({origin})" for d, origin in dirs)
            if not os.environ.get("NPAE_DATA"):
                places += "\n  - $NPAE_DATA (not set)"
            raise FileNotFoundError(
                f"ODDS table {fname!r} was not found. Looked in, in order:\n{places}\nTo get it: pass "
                f"download=True to fetch it into {_cache_dir('odds')}; or put the file in a directory and "
                "pass data_dir=..., or set NPAE_DATA to it (searched as $NPAE_DATA/odds/ and $NPAE_DATA/)."
            )
        known = dict(ODDS_SHA256)
        known.update(checksums or {})
        accepted = _accepted(known, fname)
        if not accepted:
            raise ValueError(f"No known SHA-256 for ODDS file {fname!r}, and npae never downloads a file it "
                             f"cannot verify. Pass checksums={{{fname!r}: '<sha256>'}}.")
        if base_url is None:
            mirror = os.environ.get("NPAE_MIRROR")
            base_url = mirror.rstrip("/") + "/odds" if mirror else ODDS_URL
        scheme = urllib.parse.urlparse(base_url).scheme
        if scheme not in _URL_SCHEMES:
            raise ValueError(f"base_url must be an http(s):// or file:// URL; got {base_url!r} (scheme {scheme!r}).")
        path = _download(base_url.rstrip("/") + "/" + fname, _cache_dir("odds") / fname, accepted, DOWNLOAD_TIMEOUT)
    sums_path = path.parent / "SHA256SUMS"
    if sums_path.is_file():
        _verify_listed(path, _read_sha256sums(sums_path), sums_path)
    return _read_odds_mat(path)


def load_digits():
    """Load scikit-learn's bundled 8 x 8 digits (1,797 images, UCI optdigits test set).

    Returns
    -------
    X : ndarray of shape (1797, 64), float32
        Counts 0-16 divided by 16, in [0, 1].
    y : ndarray of shape (1797,), int64
        Digits 0-9.
    """
    try:
        from sklearn.datasets import load_digits as sklearn_load_digits
    except ImportError as err:
        raise ImportError("load_digits needs scikit-learn: pip install scikit-learn") from err
    bunch = sklearn_load_digits()
    return _scale(np.asarray(bunch.data), 16.0), np.asarray(bunch.target, dtype=np.int64)


def load_embedded(split: str = "train"):
    """Load the stratified Fashion-MNIST subset shipped with npae (no download, no extra files).

    5,000 training images (500 per class, from the official train split) and 1,000 test images
    (100 per class, from the official test split), drawn with a fixed seed by
    ``scripts/make_embedded_dataset.py``. The file's SHA-256 is checked against
    :data:`EMBEDDED_SHA256` on every load.

    Parameters
    ----------
    split : {"train", "test"}

    Returns
    -------
    X : ndarray of shape (5000, 784) for "train" or (1000, 784) for "test", float32
        Pixels divided by 255, in [0, 1].
    y : ndarray of shape (N,), int64
        Class indices 0-9; names in :data:`FASHION_MNIST_CLASSES`.

    Raises
    ------
    ValueError
        For a split other than "train" / "test".
    FileNotFoundError
        If the package was installed without its data file.
    ChecksumError
        If the file's SHA-256 is not :data:`EMBEDDED_SHA256`.
    """
    _check_split(split)
    path = EMBEDDED_PATH
    fix = (
        "Reinstall npae (pip install --force-reinstall npae), or regenerate the file with "
        "'python scripts/make_embedded_dataset.py' and record the SHA-256 it prints as "
        "EMBEDDED_SHA256 in npae/datasets.py."
    )
    if not Path(path).is_file():
        raise FileNotFoundError(f"The embedded dataset {str(path)!r} is missing. {fix}")
    actual = _sha256_file(path)
    if actual != EMBEDDED_SHA256:
        raise ChecksumError(
            f"The embedded dataset {str(path)!r} failed its integrity check: expected SHA-256 "
            f"{EMBEDDED_SHA256}, got {actual}. {fix}"
        )
    with np.load(path, allow_pickle=False) as data:
        images, labels = data[f"X_{split}"], data[f"y_{split}"]
    return _scale(images, 255.0), labels.astype(np.int64)


def load_dataset(name: str, split: str = "train", **kwargs):
    """Load a dataset by name: ``"embedded"``, ``"fashion-mnist"``, ``"mnist"`` or ``"digits"``.

    Parameters
    ----------
    name : str
        One of :data:`DATASET_NAMES` (case-insensitive; ``_`` may stand for ``-``).
    split : {"train", "test"}
        For ``"digits"``, which has no official split, only ``"train"`` is accepted and the whole
        set is returned.
    **kwargs
        Passed to the loader (``data_dir``, ``download``, ``base_url``, ``checksums`` for the IDX
        datasets).

    Returns
    -------
    X : ndarray of shape (N, D), float32, in [0, 1]
    y : ndarray of shape (N,), int64

    Raises
    ------
    TypeError
        If ``name`` is not a string.
    ValueError
        For an unknown name (the message suggests the closest valid one) or split.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, one of {DATASET_NAMES!r}; got {type(name).__name__}.")
    key = name.strip().lower().replace("_", "-")
    if key not in DATASET_NAMES:
        close = difflib.get_close_matches(key, DATASET_NAMES, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"Unknown dataset {name!r}; valid names are {DATASET_NAMES!r}.{hint}")
    if key == "digits":
        if split != "train":
            raise ValueError(
                f"The digits dataset has no official train/test split; got split={split!r}. "
                "Use split='train' (the whole 1,797 images) and split it yourself, e.g. with "
                "sklearn.model_selection.train_test_split."
            )
        return load_digits(**kwargs)
    if key == "embedded":
        return load_embedded(split, **kwargs)
    if key == "mnist":
        return load_mnist(split, **kwargs)
    return load_fashion_mnist(split, **kwargs)
