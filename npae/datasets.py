"""Datasets on the host: scikit-learn's digits, MNIST and Fashion-MNIST from IDX files, checksummed
downloads through pooch, and a small stratified Fashion-MNIST subset shipped inside the package.

Every loader returns ``(X, y)`` as host NumPy arrays: ``X`` float32 of shape (N, D) scaled to
[0, 1], ``y`` int64 of shape (N,). Move them to a backend with ``npae.asarray`` when needed; this
module imports NumPy and pooch only (and scikit-learn inside ``load_digits``, SciPy inside
``load_odds``), never another npae module. The anomaly-detection tables (``load_odds``,
``load_adbench``) are the exception to the float32 rule: ``X`` float64 as stored, ``y`` 1 = outlier.

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
``base_url`` (argument), else ``$NPAE_MIRROR/<name>/``, else ``MNIST_URL`` /
``FASHION_MNIST_URL``, with ``pooch.retrieve``. pooch streams each file into a temporary file
in the cache directory and moves it into place only once it is complete and its SHA-256 is one of
the known digests (``MNIST_SHA256``, ``FASHION_MNIST_SHA256``, or the ``checksums=``
override); on any failure the temporary file is removed, so the cache never holds a partial or
unverified file. A file without a known checksum is refused, never fetched unchecked.
"""

from __future__ import annotations

import contextlib
import difflib
import gzip
import logging
import math
import os
import shutil
import signal
import threading
import urllib.parse
import urllib.request
import zlib
from pathlib import Path

import numpy as np

__all__ = [
    "ADBENCH_NAMES",
    "ADBENCH_TABLES",
    "ADBENCH_URL",
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
    "load_adbench",
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

#: The 17 ODDS tables of PyOD's benchmark (``notebooks/benchmark.py``), loaded by ``load_odds``.
ODDS_NAMES = ("arrhythmia", "cardio", "glass", "ionosphere", "letter", "lympho", "mnist", "musk", "optdigits", "pendigits", "pima", "satellite", "satimage-2", "shuttle", "vertebral", "vowels", "wbc")
#: PyOD's copy of the ODDS tables, pinned to the last commit that changed them (2018-06-12).
ODDS_URL = "https://raw.githubusercontent.com/yzhao062/pyod/bd110115c680d29561dd7e05d8f4b7af4f3512f7/notebooks/data/"
#: SHA-256 digests of the ODDS ``.mat`` files as served by ``ODDS_URL``.
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
#: ADBench (Han, Hu, Huang, Jiang & Zhao, NeurIPS 2022), pinned to one commit of its repository.
ADBENCH_URL = "https://raw.githubusercontent.com/Minqi824/ADBench/3dac8221081e190f157d78e93bfa8867f90d0965/adbench/datasets/"
#: The ADBench tables ``load_adbench`` knows: name -> (path under ``ADBENCH_URL``, SHA-256 of
#: the ``.npz`` served there). 43 of its 47 "Classical" tables (backdoor, census, fraud and speech are
#: left out: npae has no verified copy of them to take a checksum from) and the 15 MVTec-AD categories
#: as ResNet-18 embeddings (512 features).
ADBENCH_TABLES = {
    "ALOI": ("Classical/1_ALOI.npz", "792d0b5bd1147bfc9574a1974f157b39fbd4cbed8ecd04cf983fd554498ed477"),
    "annthyroid": ("Classical/2_annthyroid.npz", "e738f7c58a8740d2c4aac4c71ff49ce5e1d1aa16f44178135fc9c09df05fad1b"),
    "breastw": ("Classical/4_breastw.npz", "4f37ce07dbc25ddad8178fdc6d664ab46d2d0000ee28c2787c3c7ff3c03ef9f6"),
    "campaign": ("Classical/5_campaign.npz", "74dd4d0072d6c6f1aabab63bc102f9633454f32bb936fa9bcfbd38f9f2386bcd"),
    "cardio": ("Classical/6_cardio.npz", "bc5009bde6930b4d298b594f31b34485a9a17210cff0e8fb00a8c3068b885a2d"),
    "Cardiotocography": ("Classical/7_Cardiotocography.npz", "5ae84910430f05923e11b6f537243263977c9136949dabd891e3570aeec51e29"),
    "celeba": ("Classical/8_celeba.npz", "1cadfdea14cd8d240eca715a70c09c88af8621d086a7478c63f602d97adef0b5"),
    "cover": ("Classical/10_cover.npz", "945a097c3542ae81a551bf1c06dcad78a755d94f84fcaf1d60687e42d1a656df"),
    "donors": ("Classical/11_donors.npz", "5824ec854465f2763b4bfe3da1ae9f25ed5433b5c6e265d42e37da4f82a58679"),
    "fault": ("Classical/12_fault.npz", "ec27301f9a4cf7c5d8b22c360cf37ddb043b7fb062465723dfd8b34e2771e5dd"),
    "glass": ("Classical/14_glass.npz", "aa7a8db1d475ba01a10488af454bc15220a3d5951b010b03b7020567d8152cdc"),
    "Hepatitis": ("Classical/15_Hepatitis.npz", "4a87a2f7d8013e5bfde63294fae61ec7a612322de72f338a7f9491749025ad98"),
    "http": ("Classical/16_http.npz", "9d98710091551587f4740cfc851a6b064fff6319a337c2dc77ee6da4bcc2e02c"),
    "InternetAds": ("Classical/17_InternetAds.npz", "bdd8ad5cf5bf2cb96cba53dde30d522d0f6a279083a8e2bc7efbac5981b04385"),
    "Ionosphere": ("Classical/18_Ionosphere.npz", "bca46cb0cfd1bf9ddef6cde5ad2215d54fb0189508d0d4c4eb98e788cad69001"),
    "landsat": ("Classical/19_landsat.npz", "ba17e2158c07469597b89db49d3982c874c6b713ff6670721ddc88969da77987"),
    "letter": ("Classical/20_letter.npz", "f986d3da80cf1fa2aea83a5ebe73b7d4800e0d4c01fdd1ae074b58d20f10d039"),
    "Lymphography": ("Classical/21_Lymphography.npz", "dad977b04f4ea65b78ccd0e9f76b45175bad605165b37e63f3cc177845e67037"),
    "magic.gamma": ("Classical/22_magic.gamma.npz", "0be375984d7af9ea7a63b12206c240840d8b7daa3607021c5fb8756407dd86f1"),
    "mammography": ("Classical/23_mammography.npz", "a0308ac9712d78321073b1c2dc98dc37665c0f35c1cc33019416fe8f8d7de7ea"),
    "mnist": ("Classical/24_mnist.npz", "be7706272325fdd3592c1be555ae1a82f916a2f8545f4f8cbaa548ab102cc44c"),
    "musk": ("Classical/25_musk.npz", "2ed3f4392197b76a1e59116ff880c7720a4b026cf4842073a53b56fdea265017"),
    "optdigits": ("Classical/26_optdigits.npz", "60de17a375a278ba220a7849727d998aa02b5e2f9fd17732a004bba28de4656e"),
    "PageBlocks": ("Classical/27_PageBlocks.npz", "10a9b4d5bb5d3b9083caab4c4062f665610eada703c3d927bf7c34b1f2d0d223"),
    "pendigits": ("Classical/28_pendigits.npz", "c4936b89dcdad59d303020e492f763a0f54170080d787c77497609acbb9c2d79"),
    "Pima": ("Classical/29_Pima.npz", "215454bb263a2f040945c9ea7bd7f06f1e89a61a3143bdb6f196e3887e801a7d"),
    "satellite": ("Classical/30_satellite.npz", "1f048f5686f1b8c16a227fdfa3c81a62cd9a92715714a6b24c69b1c5ad96b46e"),
    "satimage-2": ("Classical/31_satimage-2.npz", "1b056e357f801b8b20c3f380a30224a3c4088d7ed764ec5a24828dc9b1918d6f"),
    "shuttle": ("Classical/32_shuttle.npz", "26900b0f6be45d9ddb7a402c9b2f956ceda42d23a8ca4cf4406b8bc1352823d1"),
    "skin": ("Classical/33_skin.npz", "d02aa01ffc1b6bf2b8b1ac250c90e8a8eacd0cefc962940ed5cc4bf5deac9c95"),
    "smtp": ("Classical/34_smtp.npz", "d2569fc9bc12115419e3f5b37d19921e10e6c26e5ad1e61064cfb0fbc402dfdd"),
    "SpamBase": ("Classical/35_SpamBase.npz", "d0c46c7928e43f6496bcd06e09de0b70f6bc8143792dfa0a43f450263d254e9b"),
    "Stamps": ("Classical/37_Stamps.npz", "99fe739447284f613fa54bf2dccdb51c5120175ce6260adec6dad77576c42509"),
    "thyroid": ("Classical/38_thyroid.npz", "8de161b3f235b7647bb0b39a836d983ff61d67bf234edac461da2d71e889cb87"),
    "vertebral": ("Classical/39_vertebral.npz", "0816286f92b96fe6867664a41a031ac7228dcfbf1a5feefe50ca3883b2e9073d"),
    "vowels": ("Classical/40_vowels.npz", "4bfc4244d1c882773bbbc50d4a5db5e52276e53506e46b2d45e02d074cfcb1b6"),
    "Waveform": ("Classical/41_Waveform.npz", "6c9d867337ad1a2f8372c1d27f4c032f0401237e2041b7c45f00de8d319ff30f"),
    "WBC": ("Classical/42_WBC.npz", "650f9dcb129248f67a291be0974f533ef259fcbde50fce5c8ad2a1cb2652d03b"),
    "WDBC": ("Classical/43_WDBC.npz", "78d4606a1ab516f5b60b00c196497f3bbd6bd5e4548fd04cf5f2475209b34b85"),
    "Wilt": ("Classical/44_Wilt.npz", "c70b72aa611ec87b20efb400943ef3ce4f8bf7aa58fcef825fbd28cc5cee3cc9"),
    "wine": ("Classical/45_wine.npz", "d5ad8965d92cc57122fe1e6572bb301adbaf795b3e166d187ae00a704d8f6e20"),
    "WPBC": ("Classical/46_WPBC.npz", "68a6d67242643855713bcdad07d89ecc472bd00000dccc17ba87916eb2693d19"),
    "yeast": ("Classical/47_yeast.npz", "bbb15c873d78a4f6a589f46d0f75814595e2282d2ae7ce7779c750f276c3770d"),
    "MVTec-AD_bottle": ("CV_by_ResNet18/MVTec-AD_bottle.npz", "9eb7a78f1f6ecfcd00391ea01fe06f998e3fb7b8e89a34c06d69786ee38a8059"),
    "MVTec-AD_cable": ("CV_by_ResNet18/MVTec-AD_cable.npz", "65f36182cf75ba1b2629af7bee3eec87ed9b050796e0b7c06493993e0ba4cee1"),
    "MVTec-AD_capsule": ("CV_by_ResNet18/MVTec-AD_capsule.npz", "b5d97c3b3c08b0c25fdb3b0fd50e9b9fd24bd75b4e36956d47159e715d52470d"),
    "MVTec-AD_carpet": ("CV_by_ResNet18/MVTec-AD_carpet.npz", "7c9e1f06b185baae2c72b922aa29cb219d2b8d6a9fe1b03f86ccf1fd34a0b6c0"),
    "MVTec-AD_grid": ("CV_by_ResNet18/MVTec-AD_grid.npz", "376fe5d7568fb3c1b9056a03aef6c0c350476a11b4f4579e6b7d8f8e5405f837"),
    "MVTec-AD_hazelnut": ("CV_by_ResNet18/MVTec-AD_hazelnut.npz", "3c40cf88d6c16827c9609c5ef4f0c7d81f8b8509905c9c4c68a79d8ba1696bdf"),
    "MVTec-AD_leather": ("CV_by_ResNet18/MVTec-AD_leather.npz", "c4615f05409b0ae785a007889b4521cf3c3a43ce5b7ff7623f2255c121ef1e29"),
    "MVTec-AD_metal_nut": ("CV_by_ResNet18/MVTec-AD_metal_nut.npz", "c00f29018bbf304c8e50d366fccc635ded7da90dea7e4a2fd41afb1a62609796"),
    "MVTec-AD_pill": ("CV_by_ResNet18/MVTec-AD_pill.npz", "878407b2700e3414dec26f2bae153f28d9b8e9e2367a0775b082efe641531188"),
    "MVTec-AD_screw": ("CV_by_ResNet18/MVTec-AD_screw.npz", "a143cbb84cb2a8bbd5b86065bf56fffbc5c9a52d5da4ba9826c844fe35ef68fa"),
    "MVTec-AD_tile": ("CV_by_ResNet18/MVTec-AD_tile.npz", "6d4564cd2844ff91274612b0dba39c3cfbabedf4535ec3573889bbd575075086"),
    "MVTec-AD_toothbrush": ("CV_by_ResNet18/MVTec-AD_toothbrush.npz", "798a5edef4291e0466d2a7234101ee496927ddd96d0cbb620da008f4ed06753e"),
    "MVTec-AD_transistor": ("CV_by_ResNet18/MVTec-AD_transistor.npz", "4c045fa018a2f4ffd828683b1d35580533662b2336c356e7e579c04da899b98e"),
    "MVTec-AD_wood": ("CV_by_ResNet18/MVTec-AD_wood.npz", "5fb9b4b57f6d66ab06ca3575d51359b0110943d4df4a20b495b1583730fc8d98"),
    "MVTec-AD_zipper": ("CV_by_ResNet18/MVTec-AD_zipper.npz", "d60591ab34dced348b32574c4c0ff680068bbf5017d06d2bc5f9b15521f38bb8"),
}
ADBENCH_NAMES = tuple(ADBENCH_TABLES)

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
    expected = math.prod(dims)  # Python ints: 3 dimensions of up to 2³² - 1 overflow int64
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


def _verify_listed(path: Path, sums: dict, sums_path: Path, actual: str | None = None) -> None:
    """Check ``path`` against its line in a SHA256SUMS file, if it has one (``actual``: its digest, if
    already computed)."""
    expected = sums.get(path.name)
    if expected is None:
        return
    actual = _sha256_file(path) if actual is None else actual
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
        directory = _expand(data_dir, "data_dir")
        if not directory.is_dir():  # a typo must not fall through to another copy of the data
            what = "is not a directory" if directory.exists() else "does not exist"
            raise FileNotFoundError(f"data_dir {str(directory)!r} {what}; pass the directory that holds the "
                                    f"{_PRETTY.get(name, name)} files (or leave data_dir out to search $NPAE_DATA "
                                    "and the user cache).")
        found.append((directory, "data_dir"))
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


def _find_or_fetch(collection: str, fname: str, relpath: str, known: dict, default_url: str, label: str, *,
                   data_dir, download: bool, base_url, checksums, verify_found: str | None = None) -> Path:
    """The path of one table file: ``fname`` (or ``relpath``, the file's path in the published layout)
    in the first of ``_candidate_dirs`` holding it, else, with ``download``, fetched from
    ``<base_url>/<relpath>`` into the cache and kept only if its SHA-256 is in ``known`` (or
    ``checksums``). A ``SHA256SUMS`` file beside the file found is honoured. With ``verify_found``
    (a sentence saying why, for the error message) a file found on disk must also have one of the
    accepted digests."""
    accepted = _accepted({**known, **(checksums or {})}, fname)
    dirs = _candidate_dirs(collection, data_dir)
    names = dict.fromkeys((fname, relpath))
    path = next((d / n for d, _origin in dirs for n in names if (d / n).is_file()), None)
    actual = None  # the file's SHA-256, once computed (a SHA256SUMS beside it needs it too)
    if path is None:
        if not download:
            places = "\n".join(f"  - {d} ({origin})" for d, origin in dirs)
            if not os.environ.get("NPAE_DATA"):
                places += "\n  - $NPAE_DATA (not set)"
            raise FileNotFoundError(
                f"{label} table {fname!r} was not found. Looked in, in order:\n{places}\nTo get it: pass "
                f"download=True to fetch it into {_cache_dir(collection)}; or put the file in a directory and "
                f"pass data_dir=..., or set NPAE_DATA to it (searched as $NPAE_DATA/{collection}/ and $NPAE_DATA/)."
            )
        if not accepted:
            raise ValueError(f"No known SHA-256 for {label} file {fname!r}, and npae never downloads a file it "
                             f"cannot verify. Pass checksums={{{fname!r}: '<sha256>'}}.")
        if base_url is None:
            mirror = os.environ.get("NPAE_MIRROR")
            base_url = mirror.rstrip("/") + "/" + collection if mirror else default_url
        scheme = urllib.parse.urlparse(base_url).scheme
        if scheme not in _URL_SCHEMES:
            raise ValueError(f"base_url must be an http(s):// or file:// URL; got {base_url!r} (scheme {scheme!r}).")
        path = _download(base_url.rstrip("/") + "/" + relpath, _cache_dir(collection) / fname, accepted,
                         DOWNLOAD_TIMEOUT)
    elif verify_found is not None:
        actual = _sha256_file(path)
        if actual not in accepted:
            raise ChecksumError(
                f"{str(path)!r} is not the {label} file {relpath!r}: expected SHA-256 "
                f"{accepted[0] if accepted else '(none known)'}, got {actual}. ({verify_found}) Put the right "
                f"file there, delete it and load with download=True, or pass checksums={{{fname!r}: '<sha256>'}} "
                "to accept your copy."
            )
    sums_path = path.parent / "SHA256SUMS"
    if sums_path.is_file():
        _verify_listed(path, _read_sha256sums(sums_path), sums_path, actual)
    return path


def _find_file(directory: Path, stem: str):
    for fname in (stem + ".gz", stem):
        path = directory / fname
        if path.is_file():
            return path
    return None


def _not_found(name: str, split: str, dirs: list, wrong: list = ()) -> FileNotFoundError:
    stems = ", ".join(f"{stem}[.gz]" for stem in _SPLIT_FILES[split])
    other_files = {directory: other for directory, _origin, other in wrong}
    places = "\n".join(f"  - {directory} ({origin})" + (f": holds the {_PRETTY[other_files[directory]]} files, "
                                                        "skipped" if directory in other_files else "")
                       for directory, origin in dirs)
    if not os.environ.get("NPAE_DATA"):
        places += "\n  - $NPAE_DATA (not set)"
    how = []
    if name == "fashion-mnist":
        how.append("install Debian's package: apt-get install dataset-fashion-mnist")
    how += [
        f"pass download=True (--download on the command line) to fetch them into {_cache_dir(name)}",
        (
            "put the files in a directory and pass data_dir=... (--data-dir DIR), or set NPAE_DATA to it "
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
                "'<sha256>'} if you trust this file."
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


class _Terminated(BaseException):
    """SIGTERM arrived during a download (raised by ``_sigterm_interrupts``)."""


@contextlib.contextmanager
def _sigterm_interrupts():
    """A SIGTERM with its default action (end the process: ``timeout``, a scheduler, ``docker
    stop``) raises inside the download, so that pooch removes its temporary file as it does on
    Ctrl-C, and then ends the process as the signal would have. Other dispositions (a handler,
    SIG_IGN) are left alone. Main thread only (signal handlers run there)."""
    sigterm = getattr(signal, "SIGTERM", None)
    if sigterm is None or threading.current_thread() is not threading.main_thread() \
            or signal.getsignal(sigterm) is not signal.SIG_DFL:
        yield
        return

    def interrupt(signum, frame):
        raise _Terminated

    signal.signal(sigterm, interrupt)
    try:
        yield
    except _Terminated:
        signal.signal(sigterm, signal.SIG_DFL)
        os.kill(os.getpid(), sigterm)  # the temporary file is gone: now end as SIGTERM would have
        raise
    finally:
        signal.signal(sigterm, signal.SIG_DFL)


def _download(url: str, dest: Path, accepted: tuple, timeout: float) -> Path:
    """Fetch ``url`` to ``dest`` with ``pooch.retrieve``, keeping it only if its SHA-256 is in
    ``accepted``; on any failure (an error, Ctrl-C, SIGTERM) nothing is left behind."""
    import pooch

    with _quiet_pooch(), _sigterm_interrupts():
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
                    "'<sha256>'} with the digest published for it."
                )
            path = _download(_base_url(name, base_url) + fname, cache / fname, accepted, DOWNLOAD_TIMEOUT)
        paths.append(path)
    return cache, paths


def _other_dataset(name: str, labels_path: Path):
    """The other IDX dataset's name if ``labels_path`` is one of its known archives, else None.

    MNIST and Fashion-MNIST use the same file names, so a directory that holds one of them (e.g.
    ``$NPAE_DATA`` itself, searched for both) would otherwise pass for the other. The labels
    archive is small and its digest differs between the two.
    """
    other = {"mnist": "fashion-mnist", "fashion-mnist": "mnist"}[name]
    known = {"mnist": MNIST_SHA256, "fashion-mnist": FASHION_MNIST_SHA256}[other].get(labels_path.name, ())
    return other if known and _sha256_file(labels_path) in known else None


def _load_idx_dataset(name, split, data_dir, download, base_url, checksums):
    _check_split(split)
    dirs = _candidate_dirs(name, data_dir)
    wrong = []  # (directory, origin, other dataset): same file names, the other dataset's files
    for directory, origin in dirs:
        paths = [_find_file(directory, stem) for stem in _SPLIT_FILES[split]]
        if not all(paths):
            continue
        other = _other_dataset(name, paths[1])
        if other is None:
            break
        if origin == "data_dir":
            raise ValueError(f"data_dir {str(directory)!r} holds the {_PRETTY[other]} files, not {_PRETTY[name]} "
                             f"({paths[1].name} is {_PRETTY[other]}'s, by its SHA-256). Pass the directory of the "
                             f"{_PRETTY[name]} files.")
        wrong.append((directory, origin, other))
    else:
        if not download:
            raise _not_found(name, split, dirs, wrong)
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
    order; see the module docstring. Class names are ``FASHION_MNIST_CLASSES``.

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
        if set, else ``FASHION_MNIST_URL``.
    checksums : dict, optional
        File name -> SHA-256 hex digest (or a tuple of accepted digests) overriding
        ``FASHION_MNIST_SHA256`` for downloads.

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
        else ``MNIST_URL``.
    checksums : dict, optional
        File name -> SHA-256 hex digest (or a tuple of accepted digests) overriding
        ``MNIST_SHA256`` for downloads.

    Returns
    -------
    X : ndarray of shape (N, 784), float32
        Pixels divided by 255, in [0, 1].
    y : ndarray of shape (N,), int64
        Digits 0-9.

    Raises
    ------
    ValueError, FileNotFoundError, ChecksumError, DownloadError
        As for ``load_fashion_mnist``.
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

    The tables (``ODDS_NAMES``: arrhythmia, cardio, glass, ionosphere, letter, lympho, mnist,
    musk, optdigits, pendigits, pima, satellite, satimage-2, shuttle, vertebral, vowels, wbc) are
    the ``.mat`` files PyOD benchmarks on (``notebooks/data/`` in its repository), taken from the
    ODDS library. Cite it when you use them, as ODDS asks: Shebuti Rayana (2016). ODDS Library
    [http://odds.cs.stonybrook.edu]. Stony Brook, NY: Stony Brook University, Department of
    Computer Science.

    ``<name>.mat`` is looked up in ``data_dir``, ``$NPAE_DATA/odds/``, ``$NPAE_DATA``, the user
    cache (``$NPAE_CACHE/odds/``, default ``~/.cache/npae/odds/`` on Linux) and
    ``/usr/share/datasets/odds/``, in that order, as for ``load_fashion_mnist`` (a
    ``SHA256SUMS`` file beside it is honoured). With ``download=True`` a table found nowhere is
    fetched once through pooch from ``base_url`` (default ``$NPAE_MIRROR/odds/`` if set, else
    ``ODDS_URL``, PyOD's repository at a fixed commit) into the cache, and kept only if its
    SHA-256 is the one in ``ODDS_SHA256`` (or ``checksums=``).

    Parameters
    ----------
    name : str
        One of ``ODDS_NAMES`` (case-insensitive; ``_`` may stand for ``-``; ``.mat`` optional).
    data_dir : str or os.PathLike, optional
        A directory holding ``<name>.mat``; searched first.
    download : bool, default False
        If the file is found nowhere, fetch it into the user cache, verified by SHA-256.
    base_url : str, optional
        Where to download from (``<base_url>/<name>.mat``).
    checksums : dict, optional
        File name (``"<name>.mat"``) -> SHA-256 hex digest (or a tuple of accepted digests)
        overriding ``ODDS_SHA256`` for downloads.

    Returns
    -------
    X : ndarray of shape (N, D), float64
        The features as stored (not scaled).
    y : ndarray of shape (N,), int64
        1 = outlier, 0 = inlier.

    Raises
    ------
    TypeError, ValueError
        For a name that is not one of ``ODDS_NAMES`` (the message suggests the closest), or a
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
    path = _find_or_fetch("odds", fname, fname, ODDS_SHA256, ODDS_URL, "ODDS", data_dir=data_dir,
                          download=download, base_url=base_url, checksums=checksums)
    return _read_odds_mat(path)


def _adbench_key(name) -> str:
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, one of npae.datasets.ADBENCH_NAMES; got {type(name).__name__}.")
    wanted = name.strip()
    if wanted.lower().endswith(".npz"):
        wanted = wanted[:-4]
    by_lower = {key.lower(): key for key in ADBENCH_NAMES}
    by_lower.update({Path(rel).stem.lower(): key for key, (rel, _sha) in ADBENCH_TABLES.items()})  # "1_ALOI"
    key = by_lower.get(wanted.lower())
    if key is None:
        close = difflib.get_close_matches(wanted, ADBENCH_NAMES, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"Unknown ADBench table {name!r}; valid names are npae.datasets.ADBENCH_NAMES "
                         f"({len(ADBENCH_NAMES)} tables, e.g. 'ALOI', 'Cardiotocography', 'MVTec-AD_bottle').{hint}")
    return key


def _read_table_npz(path: Path, label: str):
    """(X float64 (N, D), y int64 (N,) of 0/1) from a ``.npz`` holding the arrays ``X`` and ``y``."""
    import zipfile

    try:  # never unpickles: a table holds numbers only
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):  # a bare .npy saved under the .npz name
            raise ValueError(f"it holds one array ({type(loaded).__name__}), not an .npz archive of X and y")
        with loaded as data:
            found = sorted(data.files)
            arrays = {key: np.asarray(data[key]) for key in ("X", "y") if key in found}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise ValueError(f"{str(path)!r} is not a readable {label} .npz file ({err}). Delete it and load again "
                         "(download=True fetches a verified copy).") from err
    if len(arrays) != 2:
        raise ValueError(f"{str(path)!r} should hold the arrays 'X' and 'y'; found {found}.")
    X, y_stored = arrays["X"], arrays["y"]
    y = y_stored.reshape(-1)
    if (X.ndim != 2 or y_stored.ndim > 2 or y.shape[0] != X.shape[0] or not np.issubdtype(X.dtype, np.number)):
        raise ValueError(f"{str(path)!r}: expected a numeric X of shape (N, D) and y of shape (N,) or (N, 1); got X "
                         f"{X.shape} ({X.dtype}) and y {y_stored.shape}.")
    if not np.isin(y, (0, 1)).all():
        raise ValueError(f"{str(path)!r}: y must hold 0 (inlier) and 1 (outlier); got values "
                         f"{np.unique(y)[:10].tolist()}.")
    return np.ascontiguousarray(X, dtype=np.float64), y.astype(np.int64)


def load_adbench(name: str, data_dir=None, download: bool = False, *, base_url=None, checksums=None):
    """Load one table of ADBench, the anomaly-detection benchmark of Han et al. (2022).

    ``ADBENCH_NAMES`` lists the tables npae knows, with ADBench's spelling: 43 "Classical"
    tables (``"ALOI"``, ``"annthyroid"``, ``"Cardiotocography"``, ``"magic.gamma"``, …) and the 15
    MVTec-AD categories as ResNet-18 embeddings (``"MVTec-AD_bottle"``, …). Cite ADBench when you
    use them: Songqiao Han, Xiyang Hu, Hailiang Huang, Minqi Jiang and Yue Zhao (2022). ADBench:
    Anomaly Detection Benchmark. NeurIPS 2022 (and the sources it names for each table).

    The file (ADBench's name, e.g. ``1_ALOI.npz``) is looked up in ``data_dir``,
    ``$NPAE_DATA/adbench/``, ``$NPAE_DATA``, the user cache (``$NPAE_CACHE/adbench/``, default
    ``~/.cache/npae/adbench/`` on Linux) and ``/usr/share/datasets/adbench/``, in that order, each
    also under ADBench's own layout (``Classical/1_ALOI.npz``), so ``data_dir`` may be the
    ``adbench/datasets`` folder of a copy of ADBench's repository. With ``download=True`` a table
    found nowhere is fetched once through pooch from ``base_url`` (default
    ``$NPAE_MIRROR/adbench/`` if set, else ``ADBENCH_URL``, ADBench's repository at a fixed
    commit) into the cache, and kept only if its SHA-256 is the one in ``ADBENCH_TABLES`` (or
    ``checksums=``). A file found on disk is checked against the same digest too, because ADBench's
    folders hold different tables under one file name (``CV_by_ViT/MVTec-AD_bottle.npz`` has 768
    ViT features, not the 512 ResNet-18 ones); a ``SHA256SUMS`` file in the folder holding the file
    is honoured as well.

    Parameters
    ----------
    name : str
        One of ``ADBENCH_NAMES`` (case-insensitive; ADBench's file stem such as ``"1_ALOI"`` and
        a ``.npz`` suffix are accepted too).
    data_dir : str or os.PathLike, optional
        A directory holding the file (flat, or in ADBench's layout); searched first.
    download : bool, default False
        If the file is found nowhere, fetch it into the user cache, verified by SHA-256.
    base_url : str, optional
        Where to download from (``<base_url>/<folder>/<file>``, ADBench's layout).
    checksums : dict, optional
        File name (``"1_ALOI.npz"``, without its folder) -> SHA-256 hex digest (or a tuple of
        accepted digests) overriding ``ADBENCH_TABLES``, for downloads and files found on disk.

    Returns
    -------
    X : ndarray of shape (N, D), float64
        The features as stored (not scaled; some tables store integers).
    y : ndarray of shape (N,), int64
        1 = outlier, 0 = inlier.

    Raises
    ------
    TypeError, ValueError, FileNotFoundError, ChecksumError, DownloadError
        As for ``load_odds`` (an unknown name gets the closest known one suggested).
    """
    key = _adbench_key(name)
    relpath, digest = ADBENCH_TABLES[key]
    fname = Path(relpath).name
    path = _find_or_fetch("adbench", fname, relpath, {fname: (digest,)}, ADBENCH_URL, "ADBench", data_dir=data_dir,
                          download=download, base_url=base_url, checksums=checksums,
                          verify_found="ADBench's folders hold different tables under the same file name, e.g. "
                                       "CV_by_ResNet18/ and CV_by_ViT/.")
    return _read_table_npz(path, "ADBench")


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
    ``EMBEDDED_SHA256`` on every load.

    Parameters
    ----------
    split : {"train", "test"}

    Returns
    -------
    X : ndarray of shape (5000, 784) for "train" or (1000, 784) for "test", float32
        Pixels divided by 255, in [0, 1].
    y : ndarray of shape (N,), int64
        Class indices 0-9; names in ``FASHION_MNIST_CLASSES``.

    Raises
    ------
    ValueError
        For a split other than "train" / "test".
    FileNotFoundError
        If the package was installed without its data file.
    ChecksumError
        If the file's SHA-256 is not ``EMBEDDED_SHA256``.
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


#: the options the IDX loaders take (``load_mnist``, ``load_fashion_mnist``)
_IDX_OPTIONS = ("data_dir", "download", "base_url", "checksums")


def load_dataset(name: str, split: str = "train", **kwargs):
    """Load a dataset by name: ``"embedded"``, ``"fashion-mnist"``, ``"mnist"`` or ``"digits"``.

    Parameters
    ----------
    name : str
        One of ``DATASET_NAMES`` (case-insensitive; ``_`` may stand for ``-``).
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
        If ``name`` is not a string, or an option the dataset does not take is given.
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
    takes = {"digits": (), "embedded": (), "mnist": _IDX_OPTIONS, "fashion-mnist": _IDX_OPTIONS}[key]
    unknown = sorted(set(kwargs) - set(takes))
    if unknown:
        where = f"takes only {', '.join(takes)}" if takes else "takes no options (it ships with " + (
            "scikit-learn)" if key == "digits" else "npae)")
        raise TypeError(f"load_dataset({name!r}) got {', '.join(unknown)}, but this dataset {where}.")
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
