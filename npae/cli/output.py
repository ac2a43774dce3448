"""What the subcommands write: run directories, figure files, metrics.json, and the printed tables.

A command that writes a directory (``train``, ``evaluate``, ``detect``) refuses a non-empty
``--out`` unless ``--force`` is given, and leaves no empty directory behind when it fails
(``run_directory``). Its files are written into a hidden staging directory inside the run
directory and moved into place (``os.replace``) only once all of them are written, with
``metrics.json`` last: a run that fails while writing (a full disk, ``ulimit -f``, SIGTERM) leaves
the previous run's files as they were, and an ``OSError`` always names the file it was writing.
Paths given on the command line (``--out``, ``--dataset``, ``--data-dir``, model files) expand a
leading ``~`` / ``~user``; an empty path or an unknown user is a one-line error. A command that writes one figure (``sample``, ``denoise``) takes
``--out FILE.png`` (its numbers go to ``FILE.json`` beside it) or ``--out DIR``
(``figure_target``); ``sample`` refuses to replace files an explicit ``--out`` names
unless ``--force`` is given.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import tempfile
from datetime import datetime
from pathlib import Path

import numpy as np

from npae import io
from npae.cli.options import CLIError

__all__ = [
    "FIGURE_SUFFIXES",
    "RunDirectory",
    "architecture",
    "cli_path",
    "figure_target",
    "jsonable",
    "objective_name",
    "prepare_run_dir",
    "refuse_a_training_run",
    "run_directory",
    "safe_name",
    "save_figure",
    "table",
    "write_metrics",
    "writing",
]

FIGURE_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg")


# ------------------------------------------------------------------------------ paths
def cli_path(value, option: str) -> Path:
    """A path given as ``option`` on the command line, ``~`` expanded; a CLIError (one line, exit
    status 2) for an empty path or a ``~user`` that names no user."""
    try:
        return Path(io.expand_path(value, option))
    except ValueError as err:
        raise CLIError(str(err)) from None


# ------------------------------------------------------------------------------ run directories
class RunDirectory:
    """A run directory whose files are staged, then moved into place together.

    ``run / "model.npz"`` is where to write that file now (in a hidden staging directory inside
    the run directory, so the final move is a rename on one file system); ``str(run)`` and
    ``run.path`` are the run directory itself, for messages. ``commit`` moves every staged
    file into place, ``metrics.json`` last, and removes the files of ``replaces`` that this run
    did not write (so an interrupted run never sits beside an older run's figures).
    """

    def __init__(self, path: Path, created: bool, replaces=()):
        self.path, self.created, self.replaces = path, created, tuple(replaces)
        self.staging = Path(tempfile.mkdtemp(prefix=".npae-run-", dir=path))
        self.written: list = []
        self.keep = False

    def __truediv__(self, name: str) -> Path:
        if name not in self.written:
            self.written.append(name)
        return self.staging / name

    def __str__(self) -> str:
        return str(self.path)

    def __repr__(self) -> str:
        return f"RunDirectory({str(self.path)!r})"

    def keep_on_error(self) -> None:
        """Commit the files written so far even though the command goes on to fail (a run marked
        interrupted or diverged)."""
        self.keep = True

    def final(self, path) -> str:
        """The path in the run directory of a staged ``path`` (for error messages)."""
        text = os.fsdecode(path)
        staging = str(self.staging)
        return str(self.path) + text[len(staging):] if text.startswith(staging) else text

    def commit(self) -> None:
        written = [n for n in self.written if (self.staging / n).exists()]
        for name in sorted(written, key=lambda n: n == "metrics.json"):
            if name == "metrics.json":
                for stale in self.replaces:
                    if stale not in written and (self.path / stale).is_file():
                        (self.path / stale).unlink()
            os.replace(self.staging / name, self.path / name)
        self.abort()

    def abort(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)


def safe_name(text: str) -> str:
    """``text`` with every character but letters, digits and ``-_.`` replaced by ``_``."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text) or "data"


def prepare_run_dir(out, model_name: str, dataset_name: str, force: bool) -> tuple[Path, bool]:
    """Create the run directory; refuse a non-empty existing one unless ``force``.

    With ``out`` None the directory is ``runs/<model_name>-<dataset_name>-<time>``.
    Returns the directory and whether this call created it.
    """
    if out is None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        base = Path("runs") / f"{model_name}-{safe_name(dataset_name)}-{stamp}"
        run_dir, i = base, 1
        while run_dir.exists():  # two runs in the same second get -2, -3, ...
            i += 1
            run_dir = base.with_name(f"{base.name}-{i}")
    else:
        run_dir = cli_path(out, "--out")
        if run_dir.exists() and not run_dir.is_dir():
            raise CLIError(f"--out {str(run_dir)!r} exists and is not a directory; choose another --out.")
        if run_dir.is_dir() and any(run_dir.iterdir()) and not force:
            raise CLIError(f"Run directory {str(run_dir)!r} exists and is not empty; choose another --out, "
                           "or pass --force to write into it (its run files are replaced).")
    created = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir, created


@contextlib.contextmanager
def run_directory(out, model_name: str, dataset_name: str, force: bool, replaces=()):
    """``prepare_run_dir`` as a context yielding a ``RunDirectory``: its files are moved
    into place when the body ends normally (or after ``keep_on_error()``); when the body fails
    they are discarded, the previous run's files stay as they were, and a directory this call
    created is removed if empty. An ``OSError`` raised while writing names the file in the run
    directory (the message of e.g. ``File too large`` from a figure writer has no file name)."""
    run_dir, created = prepare_run_dir(out, model_name, dataset_name, force)
    try:
        run = RunDirectory(run_dir, created, replaces)
    except BaseException:
        if created:
            run_dir.rmdir()
        raise
    try:
        yield run
    except BaseException as err:
        if run.keep:
            run.commit()
        else:
            run.abort()
        if created and not any(run_dir.iterdir()):
            run_dir.rmdir()
        named = _naming_file(err, run) if isinstance(err, OSError) else err
        if named is not err:
            raise named from err
        raise
    run.commit()


def _naming_file(err: OSError, run: RunDirectory) -> OSError:
    """``err`` naming the run file it was about (the last one opened when it names none)."""
    if err.filename is not None:
        name = run.final(err.filename)
    elif run.written:
        name = str(run.path / run.written[-1])
    else:
        return err
    if name == err.filename:
        return err
    return OSError(err.errno, err.strerror or str(err), name) if err.errno else OSError(f"{name}: {err}")


def refuse_a_training_run(target: Path) -> None:
    """A CLIError if ``target`` is a training run directory (it holds model.npz): its metrics.json is
    the record 'npae evaluate RUN' reads the dataset from, so no other command writes over it, even
    with --force."""
    if target.is_dir() and (target / "model.npz").is_file():
        raise CLIError(f"--out {str(target)!r} is a training run directory (it holds model.npz, and its "
                       "metrics.json is the training record); choose another --out, or leave --out out to "
                       "write beside the model under its own name.")


def figure_target(out, model_path: Path, default_name: str, dir_name: str,
                  force: bool = True) -> tuple[Path, Path]:
    """(figure path, metrics path) for --out FILE.png (metrics in FILE.json) or --out DIR.

    With ``force`` False an explicit ``--out`` whose figure or metrics file exists is refused (pass
    ``--force`` to replace them); the default target beside the model is always rewritten.
    """
    if out is None:
        figure = model_path.parent / default_name
        return figure, figure.with_suffix(".json")
    target = cli_path(out, "--out")
    if target.suffix.lower() in FIGURE_SUFFIXES:
        if target.is_dir():
            raise CLIError(f"--out {str(target)!r} is a directory; give a file name such as grid.png.")
        paths = target, target.with_suffix(".json")
    elif target.suffix:
        raise CLIError(f"--out {str(target)!r}: expected a figure file ending in "
                       f"{', '.join(FIGURE_SUFFIXES)} or a directory name.")
    else:
        if target.exists() and not target.is_dir():
            raise CLIError(f"--out {str(target)!r} exists and is not a directory.")
        refuse_a_training_run(target)
        paths = target / dir_name, target / "metrics.json"
    existing = [str(p) for p in paths if p.exists() or p.is_symlink()]
    if existing and not force:
        raise CLIError(f"--out: {' and '.join(map(repr, existing))} already exist{'s' if len(existing) == 1 else ''}; "
                       "choose another --out, or pass --force to replace "
                       f"{'it' if len(existing) == 1 else 'them'}.")
    paths[0].parent.mkdir(parents=True, exist_ok=True)
    return paths


# ------------------------------------------------------------------------------ metrics.json
def jsonable(value):
    """``value`` with NumPy scalars as Python numbers, tuples as lists, non-finite floats as None."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (bool, str)) or value is None:
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    return repr(value)


@contextlib.contextmanager
def writing(path):
    """Re-raise an ``OSError`` of the block naming ``path`` when it names no file (a figure
    writer's ``[Errno 27] File too large``, a full disk)."""
    try:
        yield
    except OSError as err:
        if err.filename is not None:
            raise
        raise (OSError(err.errno, err.strerror or str(err), str(path)) if err.errno
               else OSError(f"{path}: {err}")) from err


def save_figure(fig, path) -> None:
    """``fig.savefig(path, dpi=100)``; an OSError names ``path``."""
    with writing(path):
        fig.savefig(path, dpi=100)


def write_metrics(path: Path, metrics: dict) -> None:
    """Write ``jsonable(metrics)`` as indented JSON; an OSError names ``path``."""
    with writing(path), open(path, "w", encoding="utf-8") as handle:
        json.dump(jsonable(metrics), handle, indent=2)
        handle.write("\n")


# ------------------------------------------------------------------------------ reports
def table(rows, headers) -> str:
    """A plain text table: the first column left-aligned, the others right-aligned."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for r in cells:
        parts = [r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:])]
        lines.append("  " + "  ".join(parts).rstrip())
    lines.insert(1, "  " + "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def architecture(model, n_features: int) -> str:
    """Layer widths of encoder and decoder, e.g. ``784-256-32-256-784``."""
    hidden = getattr(model, "hidden_sizes", ()) or ()
    hidden = (hidden,) if isinstance(hidden, int) else tuple(hidden)
    sizes = [n_features, *hidden, getattr(model, "latent_dim", "?")]
    return "-".join(map(str, sizes + sizes[-2::-1]))


def objective_name(model) -> str:
    """What the model minimises, for reports: ``BCE``, ``MSE + sparsity penalty``, ``negative ELBO``."""
    likelihood = getattr(model, "likelihood", None)
    if likelihood is not None:
        return "negative BCE-ELBO" if likelihood == "bernoulli" else "negative ELBO"
    name = str(getattr(model, "loss", "loss")).upper()
    if hasattr(model, "sparsity_weight"):
        return f"{name} + sparsity penalty"
    if hasattr(model, "contractive_weight"):
        return f"{name} + contractive penalty"
    return name
