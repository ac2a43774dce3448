"""Write the learner's copy of every chapter: the solved notebooks with the solutions taken out.

The solved chapters in ``notebooks/`` are the source of truth. In a "your turn" cell the
solution sits between two marker lines,

    def dense_backward(x, W, b, grad_out):
        # BEGIN SOLUTION
        ...
        # END SOLUTION

and the learner's copy replaces everything from ``# BEGIN SOLUTION`` to ``# END SOLUTION``
(markers included) by one ``raise NotImplementedError`` at the markers' indentation, the
convention of nbgrader and otter-grader. The ``npae.exercises.check(...)`` call under the stub
then reports "not implemented yet" and the rest of the chapter runs on.

Usage::

    python scripts/make_learner_notebooks.py                  # notebooks/learner/*.py
    python scripts/make_learner_notebooks.py --ipynb          # notebooks/learner/*.ipynb (needs jupytext:
                                                              # pip install -e ".[notebooks]")
    python scripts/make_learner_notebooks.py --out DIR 01_autoencoder_from_scratch.py

Learner copies are generated, never committed (``notebooks/learner/`` is in .gitignore).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
DEFAULT_OUT = NOTEBOOK_DIR / "learner"

BEGIN = re.compile(r"^(?P<indent>[ \t]*)# BEGIN SOLUTION\s*$")
END = re.compile(r"^(?P<indent>[ \t]*)# END SOLUTION\s*$")
STUB = "raise NotImplementedError  # your turn: write this, then run the check below"


def chapters(names=()) -> list[Path]:
    """The solved chapters (``notebooks/NN_*.py``), or the ones named."""
    if not names:
        return sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.py"))
    paths = []
    for name in names:
        path = Path(name)
        if not path.exists():
            path = NOTEBOOK_DIR / name
        if not path.exists():
            raise SystemExit(f"No notebook {name!r} (looked in {NOTEBOOK_DIR}).")
        paths.append(path)
    return paths


def strip_solutions(text: str, where: str = "<notebook>") -> tuple[str, int]:
    """``text`` with every solution block replaced by a stub, and the number of blocks.

    A block that is not closed, a nested ``BEGIN``, an ``END`` without its ``BEGIN`` or an
    ``END`` at another indentation is an error (a half-stripped answer would leak).
    """
    out, n_blocks, indent, start = [], 0, None, 0
    for number, line in enumerate(text.splitlines(keepends=True), start=1):
        begin, end = BEGIN.match(line), END.match(line)
        if indent is None:
            if end:
                raise ValueError(f"{where}:{number}: '# END SOLUTION' without a '# BEGIN SOLUTION' above it.")
            if begin:
                indent, start = begin["indent"], number
                continue
            out.append(line)
        else:
            if begin:
                raise ValueError(f"{where}:{number}: '# BEGIN SOLUTION' inside the block opened on line {start}.")
            if end:
                if end["indent"] != indent:
                    raise ValueError(f"{where}:{number}: '# END SOLUTION' is indented differently from line {start}.")
                out.append(f"{indent}{STUB}\n")
                n_blocks += 1
                indent = None
    if indent is not None:
        raise ValueError(f"{where}:{start}: '# BEGIN SOLUTION' is never closed.")
    return "".join(out), n_blocks


def make_learner(path: Path, out_dir: Path, ipynb: bool = False) -> tuple[Path, int]:
    """Write the learner's copy of ``path`` into ``out_dir``; returns its path and the stub count."""
    text, n_blocks = strip_solutions(path.read_text(encoding="utf-8"), where=str(path))
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / path.name
    if ipynb:
        try:
            import jupytext
        except ImportError:
            raise SystemExit("--ipynb needs jupytext: pip install -e \".[notebooks]\" (or pip install jupytext).") from None

        target = target.with_suffix(".ipynb")
        jupytext.write(jupytext.reads(text, fmt="py:percent"), target)
    else:
        target.write_text(text, encoding="utf-8")
    return target, n_blocks


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", help="chapters to convert (default: every notebooks/NN_*.py)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default: {DEFAULT_OUT})")
    parser.add_argument("--ipynb", action="store_true", help="write .ipynb notebooks (needs jupytext)")
    args = parser.parse_args(argv)
    for path in chapters(args.notebooks):
        target, n_blocks = make_learner(path, args.out, ipynb=args.ipynb)
        print(f"{target}: {n_blocks} exercise stub{'s' if n_blocks != 1 else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
