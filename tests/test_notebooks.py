"""Every notebook in notebooks/ runs top to bottom in its QUICK setting and is a valid jupytext
percent-format notebook that teaches (markdown with math, an Exercises section); its "your turn"
exercises pass in the solved chapter and fail, without stopping the chapter, in the learner's copy.

Notebooks are plain Python files (``# %%`` cells), so each one runs as a script in a subprocess
with ``NPAE_QUICK=1``, ``MPLBACKEND=Agg`` and ``TQDM_DISABLE=1``, from an empty working
directory (nothing it writes lands in the repository). ``NPAE_DATA`` points at the MNIST files in
``../shared/data`` when that folder exists, so chapter 6's out-of-distribution sections run.
New notebooks join automatically.

A "your turn" cell calls ``npae.exercises.check("<name>", fn)`` and prints the result, whose first
line is ``<name>: passed — every check`` or ``<name>: FAILED — ...``. The learner's copy comes from
``scripts/make_learner_notebooks.py``, which replaces each ``# BEGIN SOLUTION`` … ``# END SOLUTION``
block by ``raise NotImplementedError``.
"""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9]*.py"))
SHARED_DATA = ROOT.parent / "shared" / "data"  # MNIST for chapter 6, beside the repository, never inside it
LEARNER_SCRIPT = ROOT / "scripts" / "make_learner_notebooks.py"
TIMEOUT_S = 300  # generous for a shared 2-core machine; QUICK notebooks take seconds

CHECK_CALL = re.compile(r'npae\.exercises\.check\(\s*"([a-z0-9_]+)"')
RESULT_LINE = re.compile(r"^([a-z0-9_]+): (passed — every check|FAILED)", re.MULTILINE)
#: Optional packages a chapter cannot run without (its extra), so a bare ``pip install -e ".[test]"`` skips it.
REQUIRES = {"09_scaling_out": ("dask", "distributed", "dask_ml")}
#: Chapters that must have "your turn" exercises.
CHAPTERS_WITH_EXERCISES = ("01", "02", "03", "04", "05")


def _ids(paths):
    return [p.stem for p in paths]


def _exercises(path) -> list:
    return CHECK_CALL.findall(path.read_text(encoding="utf-8"))


WITH_EXERCISES = [p for p in NOTEBOOKS if _exercises(p)]


def _learner_module():
    spec = importlib.util.spec_from_file_location("make_learner_notebooks", LEARNER_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(path, cwd):
    env = dict(os.environ, NPAE_QUICK="1", MPLBACKEND="Agg", TQDM_DISABLE="1", PYTHONDONTWRITEBYTECODE="1",
               OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env.pop("NPAE_BACKEND", None)  # notebooks choose their own backend
    if "NPAE_DATA" not in env and (SHARED_DATA / "mnist").is_dir():
        env["NPAE_DATA"] = str(SHARED_DATA)
    proc = subprocess.run([sys.executable, str(path)], check=False, env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=TIMEOUT_S)
    assert proc.returncode == 0, (
        f"{path.name} failed with exit code {proc.returncode}.\n"
        f"--- stdout (last 3000 chars) ---\n{proc.stdout[-3000:]}\n"
        f"--- stderr (last 6000 chars) ---\n{proc.stderr[-6000:]}"
    )
    return proc.stdout


def test_notebooks_are_found():
    assert NOTEBOOKS, f"no notebooks found in {NOTEBOOK_DIR}"


@pytest.mark.parametrize("chapter", CHAPTERS_WITH_EXERCISES)
def test_chapter_has_your_turn_exercises(chapter):
    paths = [p for p in NOTEBOOKS if p.name.startswith(chapter + "_")]
    assert paths and _exercises(paths[0]), f"chapter {chapter} has no npae.exercises.check(...) cell"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_runs_top_to_bottom_in_quick_mode(path, tmp_path):
    missing = [m for m in REQUIRES.get(path.stem, ()) if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"{path.name} needs {', '.join(missing)} (pip install -e '.[dask]')")
    stdout = _run(path, tmp_path)
    results = dict(RESULT_LINE.findall(stdout))
    for name in _exercises(path):
        assert results.get(name, "").startswith("passed"), f"{path.name}: the solved exercise {name!r} did not pass"


@pytest.mark.parametrize("path", WITH_EXERCISES, ids=_ids(WITH_EXERCISES))
def test_learner_copy_has_stubs_that_fail_their_checks_and_still_runs(path, tmp_path):
    names = _exercises(path)
    learner, n_stubs = _learner_module().make_learner(path, tmp_path / "learner")
    text = learner.read_text(encoding="utf-8")
    assert "SOLUTION" not in text, f"{learner.name}: a solution marker survived"
    assert n_stubs == len(names), f"{path.name}: {n_stubs} solution blocks for {len(names)} checks {names}"
    stdout = _run(learner, tmp_path)
    results = dict(RESULT_LINE.findall(stdout))
    for name in names:
        assert results.get(name) == "FAILED", f"{learner.name}: the stub of {name!r} did not fail its check"
    assert stdout.count("not implemented yet") >= len(names), stdout[-3000:]


def test_learner_script_refuses_unbalanced_markers():
    strip = _learner_module().strip_solutions
    body = "def f(x):\n    # BEGIN SOLUTION\n    return 2 * x\n    # END SOLUTION\n"
    text, n = strip(body)
    assert n == 1 and "return 2 * x" not in text and "    raise NotImplementedError" in text
    for broken in ("    # BEGIN SOLUTION\n    return 1\n",  # never closed
                   "    return 1\n    # END SOLUTION\n",  # no BEGIN
                   "    # BEGIN SOLUTION\n    # BEGIN SOLUTION\n    # END SOLUTION\n",  # nested
                   "    # BEGIN SOLUTION\n    return 1\n# END SOLUTION\n"):  # another indentation
        with pytest.raises(ValueError):
            strip(broken)


#: Every chapter is reviewed for answers beside its questions (issue 14).
REVIEWED = NOTEBOOKS


@pytest.mark.parametrize("path", REVIEWED, ids=_ids(REVIEWED))
def test_no_answers_beside_the_questions(path):
    text = path.read_text(encoding="utf-8")
    assert "source_hidden" not in text, f"{path.name}: a 'collapsed' cell hides nothing in a .py notebook"
    assert "the answer is" not in text.lower(), f"{path.name}: a message prints an answer"


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
    code_cells = [cell.source for cell in nb.cells if cell.cell_type == "code"]
    for source in code_cells:
        stray = [line for line in source.splitlines() if re.match(r"# #{1,3} \S", line)]
        assert not stray, f"{path.name}: a markdown heading sits in a code cell: {stray}"
    code = "\n".join(code_cells)
    assert 'os.environ.get("NPAE_QUICK") == "1"' in code, f"{path.name} lacks the QUICK knob (STYLE.md §13)"
    assert "assert " in code_cells[-1], f"{path.name} should end with a cell of assertions (STYLE.md §13)"
