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

The learner's copy shows no exercise's answer before that exercise's check has passed (issue 22):
no line of a solution and no npae source that answers an exercise in its outputs (``reveal()``
prints those only after the check passed), and no final formula of a derivation outside a
``<details>`` hint. Every chapter ends with ``npae.exercises.progress()``: "0 of N" in the learner's
copy, "N of N" in the solved chapter.
"""

import importlib
import importlib.util
import inspect
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
RESULT_LINE = re.compile(r"^([a-z0-9_]+): (passed — every check|FAILED|not implemented yet)", re.MULTILINE)
#: Optional packages a chapter cannot run without (its extra), so a bare ``pip install -e ".[test]"`` skips it.
REQUIRES = {"09_scaling_out": ("dask", "distributed", "dask_ml")}
#: Chapters that must have "your turn" exercises.
CHAPTERS_WITH_EXERCISES = ("01", "02", "03", "04", "05")
#: npae code that answers an exercise (``module:qualname``): a learner's copy prints it only after that
#: exercise's check passed, so with stubs it never appears in any chapter's output.
ANSWER_SOURCES = ("npae.layers:Dense.forward", "npae.layers:Dense.backward", "npae.optimizers:Adam._update",
                  "npae.activations:Sigmoid.d2f", "npae.activations:Tanh.d2f", "npae.losses:gaussian_kl",
                  "npae.losses:gaussian_kl_grad", "npae.models.variational:reparameterize_grad",
                  "npae.ops:softplus", "npae.ops:sigmoid")  # stable softplus and sigmoid: chapter 1's BCE
#: Final formulas and NumPy lines that answer an exercise; in a learner's copy only inside a <details> hint.
ANSWER_TEXT = (
    r"(x^\top g)_{ij}", r"(g W^\top)_{ni}", r"\sigma(y_d) - x_d",  # dense_backward, bce_with_logits_grad
    r"\operatorname{sign}(h_{nj})", r"-\frac{\rho}{\hat\rho_j} + \frac{1-\rho}{1-\hat\rho_j}",  # ch. 3 penalties
    r"-\rho/\hat\rho_j + (1-\rho)/(1-\hat\rho_j)", r"-\rho/h_{nj} + (1-\rho)/(1-h_{nj})",
    "np.sign(H)", "-rho / rho_hat", "-rho / H", "x_np.T @ g_np", "g_np @ W_np.T",
    r"1 + \log\sigma_k^2 - \mu_k^2 - \sigma_k^2", r"\tfrac12\big(\sigma_k^2 - 1\big)",  # ch. 5 KL
    r"\tfrac12\,\sigma_k\,\varepsilon_k", r"\tfrac12\,\sigma\odot\varepsilon",  # reparameterization
    r"\operatorname{logsumexp}_s",  # iwae_bound
)
DETAILS = re.compile(r"<details>.*?</details>", re.DOTALL)
PROGRESS_LINE = re.compile(r"^(chapter \d+|all exercises): (\d+) of (\d+) exercises? done", re.MULTILINE)


def _ids(paths):
    return [p.stem for p in paths]


def _exercises(path) -> list:
    return CHECK_CALL.findall(path.read_text(encoding="utf-8"))


WITH_EXERCISES = [p for p in NOTEBOOKS if _exercises(p)]


def _answer_lines(spec) -> list:
    """The code lines of an npae function that answers an exercise (long enough to be unambiguous)."""
    module, qualname = spec.split(":")
    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    lines = [line.strip() for line in inspect.getsource(obj).splitlines()]
    return [line for line in lines if len(line) >= 16 and not line.startswith(("#", '"', "def ", "@", "xp = "))
            and ("=" in line or line.startswith("return"))
            and not re.search(r"[a-z]{3,},? [a-z]{2,} [a-z]{3,}", line)]  # docstring prose, not code


def _solution_lines(text) -> list:
    """The lines inside every ``# BEGIN SOLUTION`` … ``# END SOLUTION`` block, stripped."""
    blocks = re.findall(r"# BEGIN SOLUTION\n(.*?)# END SOLUTION", text, re.DOTALL)
    lines = [line.split("#")[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if len(line) >= 16]


def _assert_no_answers(where, shown, solved_text):
    """Nothing in ``shown`` (a learner's outputs or text) answers an exercise."""
    for line in _solution_lines(solved_text):
        assert line not in shown, f"{where}: a solution line is shown: {line!r}"
    for spec in ANSWER_SOURCES:
        leaked = [line for line in _answer_lines(spec) if line in shown]
        assert not leaked, f"{where}: npae's {spec} is shown before its exercise passed: {leaked[:2]}"


def _assert_ends_with_progress(where, stdout, done_is_total):
    """The output ends with npae.exercises.progress(): "0 of N" with stubs, "N of N" when solved."""
    assert "all checks passed" not in stdout, f"{where}: the old blanket 'all checks passed' is back"
    tail = "\n".join(stdout.rstrip().splitlines()[-30:])
    found = PROGRESS_LINE.findall(tail)
    assert found, f"{where} does not end with npae.exercises.progress():\n{tail}"
    scope, done, total = found[-1]
    if scope.startswith("chapter"):
        assert int(total) > 0 and (int(done) == int(total) if done_is_total else int(done) == 0), (where, found[-1])


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
    _assert_ends_with_progress(path.name, stdout, done_is_total=True)
    if not _exercises(path):  # chapters 6-9: the learner's copy is this very file, so its outputs are theirs
        _assert_no_answers(path.name, stdout, "")


@pytest.mark.parametrize("path", WITH_EXERCISES, ids=_ids(WITH_EXERCISES))
def test_learner_copy_has_stubs_that_fail_their_checks_and_still_runs(path, tmp_path):
    names = _exercises(path)
    learner, n_stubs = _learner_module().make_learner(path, tmp_path / "learner")
    text = learner.read_text(encoding="utf-8")
    assert "SOLUTION" not in text, f"{learner.name}: a solution marker survived"
    assert n_stubs == len(names), f"{path.name}: {n_stubs} solution blocks for {len(names)} checks {names}"
    stdout = _run(learner, tmp_path)
    results = dict(RESULT_LINE.findall(stdout))
    for name in names:  # the check of an untouched stub says what it is, not FAILED
        assert results.get(name) == "not implemented yet", f"{learner.name}: the stub of {name!r} did not fail its check"
    assert "FAILED" not in stdout, stdout[-3000:]
    _assert_no_answers(f"{learner.name} (outputs)", stdout, path.read_text(encoding="utf-8"))
    _assert_ends_with_progress(f"{learner.name} (learner's copy)", stdout, done_is_total=False)
    assert f": 0 of {len(names)} exercises done" in stdout, stdout[-2000:]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_learner_copy_text_shows_no_answer_outside_a_hint(path, tmp_path):
    solved = path.read_text(encoding="utf-8")
    assert solved.count("<details>") == solved.count("</details>"), f"{path.name}: an unclosed <details> hint"
    learner, _ = _learner_module().make_learner(path, tmp_path)
    text = learner.read_text(encoding="utf-8")
    visible = DETAILS.sub("", text)
    _assert_no_answers(learner.name, visible, solved)
    for answer in ANSWER_TEXT:
        assert answer not in visible, f"{learner.name}: {answer!r} is shown outside a <details> hint"


def test_answer_checks_can_fail():
    """The helpers above do catch an answer: npae's Dense.backward printed, a solution line, a formula."""
    printed = inspect.getsource(importlib.import_module("npae.layers").Dense.backward)
    with pytest.raises(AssertionError, match="Dense.backward"):
        _assert_no_answers("printed", printed, "")
    solved = "def f(x):\n    # BEGIN SOLUTION\n    return x @ W_transposed + b\n    # END SOLUTION\n"
    with pytest.raises(AssertionError, match="solution line"):
        _assert_no_answers("echoed", "out: return x @ W_transposed + b", solved)
    assert ANSWER_TEXT[0] not in DETAILS.sub("", f"<details><summary>hint</summary>\n{ANSWER_TEXT[0]}\n</details>")
    with pytest.raises(AssertionError, match="all checks passed"):
        _assert_ends_with_progress("old ending", "x: passed\nall checks passed\n", done_is_total=False)
    with pytest.raises(AssertionError, match="progress"):
        _assert_ends_with_progress("no report", "x: passed\n", done_is_total=False)
    with pytest.raises(AssertionError):
        _assert_ends_with_progress("dishonest", "chapter 1: 9 of 9 exercises done — all passed\n", done_is_total=False)


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
