"""Every notebook in notebooks/ runs top to bottom in its QUICK setting and is a valid jupytext
percent-format notebook that teaches (markdown with math, an Exercises section).

Notebooks are plain Python files (``# %%`` cells), so each one runs as a script in a subprocess
with ``NPAE_QUICK=1``, ``MPLBACKEND=Agg`` and ``TQDM_DISABLE=1``, from an empty working
directory (nothing it writes lands in the repository). New notebooks join automatically.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9]*.py"))
TIMEOUT_S = 300  # generous for a shared 2-core machine; QUICK notebooks take seconds


def _ids(paths):
    return [p.stem for p in paths]


def test_notebooks_are_found():
    assert NOTEBOOKS, f"no notebooks found in {NOTEBOOK_DIR}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_runs_top_to_bottom_in_quick_mode(path, tmp_path):
    env = dict(os.environ, NPAE_QUICK="1", MPLBACKEND="Agg", TQDM_DISABLE="1", PYTHONDONTWRITEBYTECODE="1",
               OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env.pop("NPAE_BACKEND", None)  # notebooks choose their own backend
    proc = subprocess.run([sys.executable, str(path)], check=False, env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=TIMEOUT_S)
    assert proc.returncode == 0, (
        f"{path.name} failed with exit code {proc.returncode}.\n"
        f"--- stdout (last 3000 chars) ---\n{proc.stdout[-3000:]}\n"
        f"--- stderr (last 6000 chars) ---\n{proc.stderr[-6000:]}"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_converts_with_jupytext_and_teaches(path):
    jupytext = pytest.importorskip("jupytext")
    nb = jupytext.read(path)
    kinds = [cell.cell_type for cell in nb.cells]
    assert "markdown" in kinds and "code" in kinds, f"{path.name}: cells are {kinds}"
    assert kinds[0] == "markdown", f"{path.name} should open with a markdown cell stating what it teaches"
    markdown = [cell.source for cell in nb.cells if cell.cell_type == "markdown"]
    assert any("$" in text for text in markdown), f"{path.name} has no LaTeX math in its markdown cells"
    assert any(line.lstrip("#").strip().lower() == "exercises" and line.startswith("#")
               for text in markdown for line in text.splitlines()), f"{path.name} has no 'Exercises' heading"
    code = "\n".join(cell.source for cell in nb.cells if cell.cell_type == "code")
    assert 'os.environ.get("NPAE_QUICK") == "1"' in code, f"{path.name} lacks the QUICK knob (STYLE.md §13)"
    last_code = [cell.source for cell in nb.cells if cell.cell_type == "code"][-1]
    assert "assert " in last_code, f"{path.name} should end with a cell of assertions (STYLE.md §13)"
