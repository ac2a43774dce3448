"""The checkpoint file format: one ``.npz`` holding arrays and a JSON config, never pickles.

Layout: every array under its own name (``param:…`` for parameters, ``optim:…`` for optimizer
state), plus ``__config__``, a uint8 array holding UTF-8 JSON with at least ``format_version``,
``class`` and ``npae_version``.

Writing goes to a temporary file in the same directory, which is read back (its container and
config) before it is renamed into place (atomic on POSIX), so a crash mid-save leaves any
previous file intact and a file that could not be read is never put at the path. A SIGTERM
during a save waits for it to finish (or to remove its temporary file) before it ends the
process, so no ``.npae-*.tmp`` file is left behind. Only a regular
file is replaced: a symbolic link, a directory, a FIFO, a socket or a device node at the path is
refused (a save does not write through a link; pass the link's target to overwrite that file).
A new file gets the permissions ``open()`` would give it (0666 less the umask); an overwritten
file keeps its own.

A checkpoint is read through one open file handle: the container check, the config and every
array come from the same file, so a writer atomically replacing the path meanwhile (a
checkpoint rewritten every epoch) is never seen half: a reader gets the old file or the new one.

Paths may be ``str``, ``bytes`` or ``os.PathLike``; a leading ``~`` or ``~user`` is expanded (an
unknown user is a ValueError, never a literal ``./~`` directory) and an empty path is refused.
A binary file object (``io.BytesIO``, an ``open(..., "wb")`` handle) is accepted as well, as
``numpy.savez`` and ``numpy.load`` accept them: the bytes are checked in memory, then written
to it (it is not atomic and not closed). Every ``OSError`` names the file.

Reading uses ``allow_pickle=False`` and looks at every member's header before any array is
read: unknown, duplicate and object-dtype members are refused, and so is a file whose arrays
would take more than ``MAX_CHECKPOINT_BYTES`` once decompressed (or a config larger than
``MAX_CONFIG_BYTES``); truncated, corrupted, foreign and newer-version files get a clear error.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import math
import os
import secrets
import signal
import stat
import threading
import zipfile

import numpy as np

from npae._version import __version__

__all__ = ["FORMAT_VERSION", "MAX_CHECKPOINT_BYTES", "MAX_CONFIG_BYTES", "CheckpointError",
           "describe", "expand_path", "write_checkpoint", "read_checkpoint",
           "generator_state", "generator_from_state", "feature_names_from_config"]

# 1: Adam's moments ``m``, ``v``.  2: Adam's moments as running sums ``m_sum`` = m / (1 − β₁),
#    ``v_sum`` = v / (1 − β₂).  3: ``m``, ``v`` again (``npae.optimizers.Adam``). Every format is
#    read; format-2 running sums are converted back to m and v.
FORMAT_VERSION = 3
CONFIG_KEY = "__config__"
#: The array-name prefixes a checkpoint may hold besides ``__config__``.
ARRAY_PREFIXES = ("param:", "optim:")
#: The most bytes a checkpoint's arrays may take once read (8 GiB); raise it to read bigger models.
MAX_CHECKPOINT_BYTES = 8 * 2**30
#: The most bytes the JSON config may take (64 MiB: hyperparameters and the per-epoch history).
MAX_CONFIG_BYTES = 64 * 2**20

_NPY_MAGIC = b"\x93NUMPY"


class CheckpointError(ValueError):
    """A file that is not a readable npae checkpoint, or a path a checkpoint may not replace."""


# ------------------------------------------------------------------------------ paths
def expand_path(path, what: str = "path") -> str:
    """``path`` (str, bytes or PathLike) as a str with a leading ``~`` / ``~user`` expanded.

    Raises ValueError for an empty path and for a ``~user`` that names no user (or a ``~``
    without a home directory), saying which; ``what`` names the setting in the message.
    """
    try:
        text = os.fsdecode(os.fspath(path))
    except TypeError:
        raise TypeError(f"{what} must be a str, bytes or os.PathLike path (or a binary file object for "
                        f"save/load); got {type(path).__name__}.") from None
    if text == "":
        raise ValueError(f"{what} is empty; give a file or directory name.")
    if text.startswith("~"):
        expanded = os.path.expanduser(text)
        if expanded.startswith("~"):
            user = text[1:].split(os.sep, 1)[0]
            who = f"no user {user!r} exists here" if user else "there is no home directory (HOME is not set)"
            raise ValueError(f"{what} {text!r} starts with ~{user}, but {who}; write the path out in full.")
        text = expanded
    return text


def _is_file_object(target) -> bool:
    return hasattr(target, "read") or hasattr(target, "write")


def describe(target) -> str:
    """How messages name ``target``: the expanded path, or a file object's ``name`` or type."""
    if _is_file_object(target):
        name = getattr(target, "name", None)
        return name if isinstance(name, str) else f"<{type(target).__name__}>"
    try:
        return expand_path(target)
    except (TypeError, ValueError):
        return repr(target)


def _naming(err: OSError, path: str) -> OSError:
    """``err`` with ``path`` as its file name when it has none (e.g. a write's ``File too large``)."""
    if err.filename is not None:
        return err
    named = OSError(err.errno, err.strerror or str(err), path) if err.errno else OSError(f"{path}: {err}")
    named.__cause__ = err
    return named


# ------------------------------------------------------------------------------ random streams
#: The bit generators whose state a checkpoint may hold (their states are plain JSON: ints, strs).
_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "SFC64")


def generator_state(rng) -> dict | None:
    """The state of ``rng`` (a ``numpy.random.Generator``) as plain JSON, or None when it has none.

    ``numpy.random.default_rng`` (PCG64) and the other bit generators of ``_BIT_GENERATORS``
    have a state of Python ints and strings (PCG64's 128-bit state and increment are JSON
    integers); others (MT19937, Philox) hold arrays and are not stored.
    """
    if not isinstance(rng, np.random.Generator):
        return None
    state = rng.bit_generator.state
    if state.get("bit_generator") not in _BIT_GENERATORS:
        return None
    try:
        return state if json.loads(json.dumps(state)) == state else None
    except (TypeError, ValueError):
        return None


def generator_from_state(state) -> np.random.Generator:
    """A Generator continuing the stream ``generator_state`` described.

    Raises ValueError (or TypeError) for a state that no supported bit generator accepts.
    """
    if not isinstance(state, dict) or state.get("bit_generator") not in _BIT_GENERATORS:
        kind = state.get("bit_generator") if isinstance(state, dict) else type(state).__name__
        raise ValueError(f"a random stream state must be a mapping naming one of {_BIT_GENERATORS}; got {kind!r}")
    bit_generator = getattr(np.random, state["bit_generator"])()
    try:
        bit_generator.state = state
    except (KeyError, TypeError, OverflowError) as err:
        raise ValueError(f"the {state['bit_generator']} random stream state is malformed ({err!r})") from err
    return np.random.Generator(bit_generator)


def feature_names_from_config(names, n_features: int) -> np.ndarray:
    """``feature_names_in_`` (an object array, as scikit-learn keeps it) from the list a checkpoint
    stores; ValueError unless it is ``n_features`` strings."""
    if not (isinstance(names, list) and len(names) == n_features and all(isinstance(n, str) for n in names)):
        raise ValueError(f"feature_names_in must be a list of {n_features} column names; got {names!r:.200}")
    return np.asarray(names, dtype=object)


# ------------------------------------------------------------------------------ writing
def _file_kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "directory"), (stat.S_ISFIFO, "FIFO (named pipe)"),
                       (stat.S_ISSOCK, "socket"), (stat.S_ISCHR, "character device"),
                       (stat.S_ISBLK, "block device"), (stat.S_ISLNK, "symbolic link")):
        if test(mode):
            return name
    return "special file"


def _check_target(path: str):
    """The ``os.lstat`` of the regular file at ``path`` (None if nothing is there); refuse anything
    else, so that a save never replaces a link, a directory, a pipe or a device node."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(st.st_mode):
        raise CheckpointError(
            f"{path!r} is a symbolic link; a save replaces the file at the path and does not write through "
            f"links. Save to its target, {os.path.realpath(path)!r}, or remove the link first."
        )
    if not stat.S_ISREG(st.st_mode):
        raise CheckpointError(
            f"{path!r} is a {_file_kind(st.st_mode)}, not a regular file; a checkpoint replaces only a "
            "regular file. Choose a file name such as model.npz."
        )
    return st


def _create_temporary(directory: str, mode: int | None) -> tuple[int, str]:
    """Create a new file in ``directory``: mode 0666 less the umask (as ``open`` would), or
    ``mode`` exactly (the file it will replace keeps its permissions)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = os.path.join(directory, f".npae-{secrets.token_hex(8)}.tmp")
        try:
            fd = os.open(tmp, flags, 0o600 if mode is not None else 0o666)
        except FileExistsError:
            continue
        if mode is not None:
            if hasattr(os, "fchmod"):
                os.fchmod(fd, mode)
            else:  # pragma: no cover - Windows keeps only a read-only bit
                os.chmod(tmp, mode)
        return fd, tmp
    raise FileExistsError(errno.EEXIST, "could not create a temporary file", directory)  # pragma: no cover


def _finite_json(value):
    """``value`` with every NaN or infinite float replaced by None: the config is strict JSON
    (RFC 8259 has no NaN or Infinity; e.g. a diverged epoch's loss in ``history``)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_json(v) for v in value]
    return value


def write_checkpoint(path, arrays: dict, config: dict) -> None:
    """Atomically write ``arrays`` (name -> NumPy array) and ``config`` (plain JSON) to ``path``.

    Array names start with ``param:`` or ``optim:``. The file is read back before it replaces
    anything; a regular file already at ``path`` keeps its permissions.

    Raises
    ------
    CheckpointError
        ``path`` is a symbolic link, a directory or a special file.
    TypeError
        ``config`` is not plain JSON (e.g. holds a NumPy integer or an array).
    """
    if CONFIG_KEY in arrays:
        raise ValueError(f"{CONFIG_KEY!r} is reserved for the config.")
    bad = [name for name in arrays if not (isinstance(name, str) and name.startswith(ARRAY_PREFIXES))]
    if bad:
        raise ValueError(f"Checkpoint array names start with one of {ARRAY_PREFIXES}; got {bad}.")
    config = _finite_json({"format_version": FORMAT_VERSION, "npae_version": __version__, **config})
    try:
        text = json.dumps(config, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as err:
        raise TypeError(f"The checkpoint config is not plain JSON ({err}); nothing was written.") from err
    payload = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    members = {CONFIG_KEY: payload, **{k: np.asarray(v) for k, v in arrays.items()}}
    if _is_file_object(path):
        _write_to_file_object(path, members, text, set(arrays))
        return
    path = expand_path(path)
    if path.endswith(tuple(sep for sep in (os.sep, os.altsep) if sep)):
        raise CheckpointError(f"{path!r} ends in a path separator, so it names a directory; give a file name "
                              "such as runs/best/model.npz. Nothing was written.")
    try:
        _write_to_path(path, members, text, set(arrays))
    except OSError as err:
        raise _naming(err, path) from None


def _check_read_back(source, text: str, names: set, target: str) -> None:
    """Refuse what was just written (``source``: the temporary file or buffer) unless it reads back
    with the same config and array names; nothing has replaced ``target`` yet."""
    try:
        headers, written = _inspect(source, max_bytes=math.inf)
    except CheckpointError as err:
        raise CheckpointError(f"The checkpoint written for {target!r} does not read back: {err} Nothing was "
                              "replaced.") from err
    except (zipfile.BadZipFile, EOFError, ValueError, KeyError, UnicodeDecodeError) as err:
        raise CheckpointError(f"The checkpoint written for {target!r} does not read back ({type(err).__name__}: "
                              f"{err}); nothing was replaced.") from err
    if json.dumps(written) != text or set(headers) != names:
        raise CheckpointError(f"The checkpoint written for {target!r} does not read back as written; nothing was "
                              "replaced.")


def _write_to_file_object(target, members: dict, text: str, names: set) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, **members)
    buffer.seek(0)
    _check_read_back(buffer, text, names, describe(target))
    try:
        target.write(buffer.getvalue())
    except OSError as err:
        raise _naming(err, describe(target)) from None


@contextlib.contextmanager
def _sigterm_after_cleanup():
    """A SIGTERM with its default action (end the process) waits until the save has finished or
    removed its temporary file, then ends the process as it would have; other dispositions (a
    handler, e.g. the command line's, or SIG_IGN) are left alone. Main thread only."""
    sigterm = getattr(signal, "SIGTERM", None)
    if sigterm is None or threading.current_thread() is not threading.main_thread() \
            or signal.getsignal(sigterm) is not signal.SIG_DFL:
        yield
        return
    received = []
    signal.signal(sigterm, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(sigterm, signal.SIG_DFL)
        if received:
            os.kill(os.getpid(), sigterm)


def _write_to_path(path: str, members: dict, text: str, names: set) -> None:
    with _sigterm_after_cleanup():
        _write_atomically(path, members, text, names)


def _write_atomically(path: str, members: dict, text: str, names: set) -> None:
    existing = _check_target(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = _create_temporary(directory, None if existing is None else stat.S_IMODE(existing.st_mode))
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, **members)
            handle.flush()
            os.fsync(handle.fileno())
        _check_read_back(tmp, text, names, path)
        _check_target(path)  # again: something may have appeared at the path meanwhile
        os.replace(tmp, path)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise


# ------------------------------------------------------------------------------ reading
def _read_header(handle, where: str, name: str):
    """(shape, dtype, data offset) from a .npy member's header, without reading its data."""
    version = np.lib.format.read_magic(handle)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
    else:
        raise CheckpointError(f"{where!r}: member {name!r} uses .npy format {version}, which npae does not write.")
    if dtype.hasobject:
        raise CheckpointError(f"{where!r} is not a readable npae checkpoint: member {name!r} holds Python "
                              "objects (a pickle), which npae never loads.")
    return tuple(int(n) for n in shape), dtype, handle.tell()


def _inspect(source, *, max_bytes, where: str | None = None) -> tuple[dict, dict]:
    """Check the container (a path or an open binary file, named ``where`` in messages) without
    reading the arrays; return ({name: (shape, dtype)}, config)."""
    headers, config = {}, None
    path = describe(source) if where is None else where
    if _is_file_object(source):
        source.seek(0)
    with zipfile.ZipFile(source) as archive:
        infos = archive.infolist()
        names = [info.filename for info in infos]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise CheckpointError(f"{path!r} holds the members {duplicates} more than once; a checkpoint "
                                  "names each array once.")
        if CONFIG_KEY + ".npy" not in names:
            raise CheckpointError(
                f"{path!r} is an .npz file but not an npae checkpoint (no {CONFIG_KEY!r} entry). "
                "Save models with model.save(path)."
            )
        unknown = [n for n in names if not (n.endswith(".npy") and (n == CONFIG_KEY + ".npy"
                                                                     or n.startswith(ARRAY_PREFIXES)))]
        if unknown:
            raise CheckpointError(f"{path!r} holds members that are not part of an npae checkpoint: {unknown}. "
                                  f"Expected {CONFIG_KEY!r} and arrays named {' or '.join(ARRAY_PREFIXES)}….")
        total = 0
        for info in infos:
            name = info.filename[:-len(".npy")]
            with archive.open(info) as handle:
                shape, dtype, offset = _read_header(handle, path, name)
                nbytes = math.prod(shape) * dtype.itemsize
                if nbytes != info.file_size - offset:
                    raise CheckpointError(f"{path!r}: member {name!r} declares {nbytes} bytes of data but holds "
                                          f"{info.file_size - offset} (truncated or corrupted?).")
                total += nbytes
                if name == CONFIG_KEY:
                    if nbytes > MAX_CONFIG_BYTES or dtype != np.uint8 or len(shape) != 1:
                        raise CheckpointError(f"{path!r}: its config is not a UTF-8 JSON text of at most "
                                              f"{MAX_CONFIG_BYTES} bytes (npae.io.MAX_CONFIG_BYTES).")
                    config = json.loads(handle.read(nbytes).decode("utf-8"))
                else:
                    headers[name] = (shape, dtype)
            if total > max_bytes:
                raise CheckpointError(
                    f"{path!r} holds more than {max_bytes} bytes of arrays once decompressed "
                    "(npae.io.MAX_CHECKPOINT_BYTES); raise that limit to read a model this large."
                )
    return headers, config


def _check_config(path: str, config) -> None:
    if not isinstance(config, dict) or "format_version" not in config or "class" not in config:
        raise CheckpointError(f"{path!r} has a config without 'format_version' and 'class'.")
    version = config["format_version"]
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise CheckpointError(f"{path!r} has format_version {version!r}; expected a positive integer.")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path!r} uses checkpoint format version {version!r}, newer than this npae "
            f"({__version__}) reads (≤ {FORMAT_VERSION}). Upgrade npae to load it."
        )


def read_checkpoint(path, *, max_bytes: int | None = None, check=None) -> tuple[dict, dict]:
    """Read ``(arrays, config)`` from an npae checkpoint, validating the container and version.

    Every member's header is checked (names, duplicates, dtype, declared size against the data
    and against ``max_bytes``, default ``MAX_CHECKPOINT_BYTES``) before any array is read; then
    ``check(shapes, config)``, if given, sees ``{name: (shape, dtype)}`` and the config and may
    raise to refuse the file, still before any array is read.
    """
    if _is_file_object(path):
        return _read(path, describe(path), max_bytes, check)
    path = expand_path(path)
    try:  # one open: everything below reads this handle (non-blocking, so a FIFO cannot hang us)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
                     | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        other = path[:-len(".npz")] if path.endswith(".npz") else path + ".npz"
        hint = (f" (but {other!r} exists: save writes exactly the path given and adds no .npz, as torch.save)"
                if os.path.isfile(other) else "")
        raise FileNotFoundError(errno.ENOENT, f"No checkpoint at this path{hint}", path) from None
    except IsADirectoryError:
        raise CheckpointError(f"{path!r} is a directory, not a checkpoint file.") from None
    except OSError as err:
        raise _naming(err, path) from None
    # Check the kind before fdopen: on Linux a directory opens read-only, and fdopen then raises
    # IsADirectoryError naming the fd number (not the path) and leaves the fd open.
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):  # a FIFO would block the reader, a directory is no archive
            raise CheckpointError(f"{path!r} is a {_file_kind(mode)}, not a checkpoint file.")
        handle = os.fdopen(fd, "rb")
    except BaseException as err:
        os.close(fd)
        if isinstance(err, OSError):
            raise _naming(err, path) from None
        raise
    with handle:
        if hasattr(os, "set_blocking"):
            os.set_blocking(handle.fileno(), True)
        return _read(handle, path, max_bytes, check)


def _read(handle, path: str, max_bytes, check) -> tuple[dict, dict]:
    """Read a checkpoint from one open binary file ``handle``, named ``path`` in messages."""
    limit = MAX_CHECKPOINT_BYTES if max_bytes is None else max_bytes
    try:
        handle.seek(0)
        magic = handle.read(len(_NPY_MAGIC))
        if magic == _NPY_MAGIC:
            raise CheckpointError(f"{path!r} is a .npy file (one NumPy array), not an npae checkpoint (an .npz "
                                  "archive written by model.save(path)).")
        headers, config = _inspect(handle, max_bytes=limit, where=path)
        _check_config(path, config)
        if check is not None:
            check(headers, config)
        arrays = {}
        handle.seek(0)
        with zipfile.ZipFile(handle) as archive:
            for name in headers:
                with archive.open(name + ".npy") as member:
                    arrays[name] = np.lib.format.read_array(member, allow_pickle=False)
    except CheckpointError:
        raise
    except RecursionError as err:
        raise CheckpointError(f"{path!r} has a config nested too deeply to be an npae checkpoint.") from err
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError, UnicodeDecodeError,
            NotImplementedError) as err:
        raise CheckpointError(
            f"{path!r} is not a readable npae checkpoint (truncated or corrupted?): {err}"
        ) from err
    return arrays, config
