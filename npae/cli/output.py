"""What the subcommands write: run directories, figure files, metrics.json, and the printed tables.

A command that writes a directory (``train``, ``evaluate``, ``detect``) refuses a non-empty
``--out`` unless ``--force`` is given, and leaves no empty directory behind when it fails
(:func:`run_directory`). A command that writes one figure (``sample``, ``denoise``) takes
``--out FILE.png`` (its numbers go to ``FILE.json`` beside it) or ``--out DIR``
(:func:`figure_target`); ``sample`` refuses to replace files an explicit ``--out`` names
unless ``--force`` is given.
"""

from __future__ import annotations

import contextlib
import json
import math
from datetime import datetime
from pathlib import Path

import numpy as np

from npae.cli.options import CLIError

__all__ = [
    "FIGURE_SUFFIXES",
    "architecture",
    "figure_target",
    "jsonable",
    "objective_name",
    "prepare_run_dir",
    "run_directory",
    "safe_name",
    "table",
    "write_metrics",
]

FIGURE_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg")


# ------------------------------------------------------------------------------ run directories
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
        run_dir = Path(out).expanduser()
        if run_dir.exists() and not run_dir.is_dir():
            raise CLIError(f"--out {str(run_dir)!r} exists and is not a directory; choose another --out.")
        if run_dir.is_dir() and any(run_dir.iterdir()) and not force:
            raise CLIError(f"Run directory {str(run_dir)!r} exists and is not empty; choose another --out, "
                           "or pass --force to write into it (its run files are replaced).")
    created = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir, created


@contextlib.contextmanager
def run_directory(out, model_name: str, dataset_name: str, force: bool):
    """:func:`prepare_run_dir` as a context: a directory it created is removed if the body fails
    before writing anything into it (no empty run directory is left behind a failed run)."""
    run_dir, created = prepare_run_dir(out, model_name, dataset_name, force)
    try:
        yield run_dir
    except BaseException:
        if created and not any(run_dir.iterdir()):
            run_dir.rmdir()
        raise


def figure_target(out, model_path: Path, default_name: str, dir_name: str,
                  force: bool = True) -> tuple[Path, Path]:
    """(figure path, metrics path) for --out FILE.png (metrics in FILE.json) or --out DIR.

    With ``force`` False an explicit ``--out`` whose figure or metrics file exists is refused (pass
    ``--force`` to replace them); the default target beside the model is always rewritten.
    """
    if out is None:
        figure = model_path.parent / default_name
        return figure, figure.with_suffix(".json")
    target = Path(out).expanduser()
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


def write_metrics(path: Path, metrics: dict) -> None:
    """Write ``jsonable(metrics)`` as indented JSON."""
    with open(path, "w", encoding="utf-8") as handle:
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
