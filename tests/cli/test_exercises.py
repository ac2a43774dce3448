"""``npae exercises``: list, describe, and check a learner's file with the progress table and exit status."""

import npae.exercises as ex

RIGHT = '''
from array_api_compat import array_namespace


def dense_forward(x, W, b):
    return x @ W + b


def tanh_derivative(z):
    xp = array_namespace(z)
    return 1.0 - xp.tanh(z) ** 2
'''

WRONG = RIGHT + '''

def dense_backward(x, W, b, grad_out):
    xp = array_namespace(x)
    return grad_out @ W.T, x.T @ grad_out, xp.sum(grad_out, axis=1)   # db over the wrong axis


def gaussian_kl(mu, log_var):
    raise NotImplementedError


def helper(a):   # not an exercise: ignored
    return a
'''


def _write(tmp_path, text, name="answers.py"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_list_shows_every_exercise_by_chapter(run):
    code, out, _ = run("exercises", "list")
    assert code == 0
    for name in ex.names():
        assert name in out
    assert "chapter 1" in out and "chapter 5" in out
    assert out.index("dense_forward") < out.index("gaussian_kl")


def test_describe_prints_the_task(run, assert_one_line_error):
    code, out, _ = run("exercises", "describe", "dense_backward")
    assert code == 0 and out.strip() == ex.describe("dense_backward").strip()
    code, _, err = run("exercises", "describe", "dense_backwards")
    assert_one_line_error(code, err, "Unknown exercise", "dense_backward")


def test_check_passes_a_right_file_with_exit_0(run, tmp_path):
    code, out, _ = run("exercises", "check", _write(tmp_path, RIGHT), "--seed", "0")
    assert code == 0, out
    assert "2 of 2 exercises done — all passed" in out
    assert "✓ dense_forward" in out and "✓ tanh_derivative" in out


def test_check_names_mistakes_stubs_and_exits_1(run, tmp_path):
    code, out, _ = run("exercises", "check", _write(tmp_path, WRONG), "--seed", "0")
    assert code == 1
    assert "2 of 4 exercises done" in out
    assert "not implemented yet: gaussian_kl" in out
    assert "failing: dense_backward (wrong_axis)" in out
    assert "dense_backward: FAILED" in out  # the failing exercise's report is printed
    assert "helper" not in out


def test_check_runs_on_the_strict_backend(run, tmp_path):
    code, out, _ = run("exercises", "check", _write(tmp_path, RIGHT), "--backend", "array_api_strict", "-v")
    assert code == 0, out
    assert "array_api_strict" in out


def test_a_file_without_exercises_is_one_clear_line(run, tmp_path, assert_one_line_error):
    path = _write(tmp_path, "def dense_foward(x, W, b):\n    return x @ W + b\n")
    code, _, err = run("exercises", "check", path)
    assert_one_line_error(code, err, "defines no function named after an exercise", "dense_foward → dense_forward")


def test_a_missing_or_broken_file_is_one_line(run, tmp_path, assert_one_line_error):
    code, _, err = run("exercises", "check", str(tmp_path / "nope.py"))
    assert_one_line_error(code, err, "No such file")
    path = _write(tmp_path, "import numpy as np\nx = 1 / 0\n", name="broken.py")
    code, _, err = run("exercises", "check", path)
    assert_one_line_error(code, err, "ZeroDivisionError", "line 2")
