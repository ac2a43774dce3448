"""The checkpoint file format: one ``.npz`` holding arrays and a JSON config, never pickles.

Layout: every array under its own name, plus ``__config__``, a uint8 array holding UTF-8 JSON
with at least ``format_version``, ``class`` and ``npae_version``. Files are written to a
temporary file in the same directory and renamed into place (atomic on POSIX), so a crash
mid-save leaves any previous file intact. Reading uses ``allow_pickle=False`` and refuses
truncated, corrupted, foreign and newer-version files with a clear error.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile

import numpy as np

from npae._version import __version__

__all__ = ["FORMAT_VERSION", "CheckpointError", "write_checkpoint", "read_checkpoint"]

# 1: Adam's moments ``m``, ``v``.  2: Adam's moments as running sums ``m_sum`` = m / (1 − β₁),
#    ``v_sum`` = v / (1 − β₂).  3: ``m``, ``v`` again (``npae.optimizers.Adam``). Every format is
#    read; format-2 running sums are converted back to m and v.
FORMAT_VERSION = 3
CONFIG_KEY = "__config__"


class CheckpointError(ValueError):
    """A file that is not a readable npae checkpoint."""


def write_checkpoint(path, arrays: dict, config: dict) -> None:
    """Atomically write ``arrays`` (name -> NumPy array) and ``config`` (JSON-able) to ``path``."""
    path = os.fspath(path)
    if CONFIG_KEY in arrays:
        raise ValueError(f"{CONFIG_KEY!r} is reserved for the config.")
    config = {"format_version": FORMAT_VERSION, "npae_version": __version__, **config}
    payload = np.frombuffer(json.dumps(config).encode("utf-8"), dtype=np.uint8)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".npae-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, **{CONFIG_KEY: payload}, **{k: np.asarray(v) for k, v in arrays.items()})
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_checkpoint(path) -> tuple[dict, dict]:
    """Read ``(arrays, config)`` from an npae checkpoint, validating the container and version."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No checkpoint at {path!r}.")
    try:
        with np.load(path, allow_pickle=False) as data:
            names = list(data.files)
            if CONFIG_KEY not in names:
                raise CheckpointError(
                    f"{path!r} is an .npz file but not an npae checkpoint (no {CONFIG_KEY!r} entry). "
                    "Save models with model.save(path)."
                )
            config = json.loads(bytes(data[CONFIG_KEY]).decode("utf-8"))
            arrays = {name: data[name] for name in names if name != CONFIG_KEY}
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError, UnicodeDecodeError) as err:
        raise CheckpointError(
            f"{path!r} is not a readable npae checkpoint (truncated or corrupted?): {err}"
        ) from err
    if not isinstance(config, dict) or "format_version" not in config or "class" not in config:
        raise CheckpointError(f"{path!r} has a config without 'format_version' and 'class'.")
    version = config["format_version"]
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path!r} uses checkpoint format version {version!r}, newer than this npae "
            f"({__version__}) reads (≤ {FORMAT_VERSION}). Upgrade npae to load it."
        )
    return arrays, config
