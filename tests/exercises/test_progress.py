"""``npae.exercises.progress()``: an honest record of the session's checks, per exercise."""

import pytest

import npae.exercises as ex
from npae import layers


@pytest.fixture(autouse=True)
def fresh_session():
    ex.reset_progress()
    yield
    ex.reset_progress()


def _dense_forward(x, W, b):
    layer = layers.Dense(W.shape[0], W.shape[1], dtype="float64")
    layer.params = {"W": W, "b": b}
    return layer.forward(x)


def _stub(*args):
    raise NotImplementedError


def test_progress_counts_passed_failing_stubs_and_unchecked():
    ex.check("dense_forward", _dense_forward, random_state=0)
    ex.check("dense_backward", _stub, random_state=0)
    ex.check("relu_derivative", lambda z: None, random_state=0)  # a `pass` body
    ex.check("tanh_derivative", lambda z: ..., random_state=0)
    ex.check("sigmoid_derivative", lambda z: 1.0 - z * z, random_state=0)  # wrong: not σ at all
    ex.check("mse_grad", lambda x, x_hat: x_hat - x, random_state=0)  # half the gradient
    p = ex.progress(chapter=1)
    assert (p.done, p.total) == (1, len(ex.names(chapter=1))) == (1, 9)
    assert p.passed == ["dense_forward"]
    assert set(p.not_implemented) == {"dense_backward", "relu_derivative", "tanh_derivative"}
    assert set(p.failing) == {"sigmoid_derivative", "mse_grad"}
    assert p.failing["mse_grad"] == ["factor_2"]
    assert set(p.not_checked) == {"bce_with_logits", "bce_with_logits_grad", "adam_step"}
    assert not p and not p.all_done
    text = str(p)
    first = text.splitlines()[0]
    assert first.startswith("chapter 1: 1 of 9 exercises done; not implemented yet: dense_backward")
    assert "failing: " in first and "mse_grad (factor_2)" in first
    assert len(text.splitlines()) == 1 + 9
    assert "all checks passed" not in text


def test_the_latest_check_counts_and_scopes():
    assert ex.check("dense_forward", lambda x, W, b: x @ W, random_state=1).status == "failing"
    assert ex.progress(names=["dense_forward"]).failing == {"dense_forward": ["forgot_bias"]}
    result = ex.check("dense_forward", _dense_forward, random_state=1)
    assert result.status == "passed"
    p = ex.progress(names=["dense_forward"])
    assert (p.done, p.total) == (1, 1) and p and "all passed" in str(p)
    everything = ex.progress()
    assert everything.total == len(ex.names()) and everything.done == 1
    assert ex.progress(chapter=[1, 2]).total == len(ex.names(chapter=1)) + len(ex.names(chapter=2))
    assert ex.progress(chapter=2).done == 0
    assert [n for n, _, _ in ex.progress(chapter="contractive").entries] == ex.names(chapter=4)


def test_progress_refuses_unknown_scopes():
    with pytest.raises(ValueError, match="No exercises in chapter 7"):
        ex.progress(chapter=7)
    with pytest.raises(ValueError, match="Did you mean"):
        ex.progress(names=["dense_fowrard"])
    with pytest.raises(ValueError, match="not both"):
        ex.progress(chapter=1, names=["dense_forward"])



def test_reveal_shows_npaes_code_only_after_the_exercise_passed(capsys):
    def answer():  # stands for npae's code that answers dense_forward
        return "the answer"

    assert ex.reveal("dense_forward", answer) is False
    out = capsys.readouterr().out
    assert "the answer" not in out and "npae.exercises.check('dense_forward'" in out
    ex.check("dense_forward", _stub, random_state=0)
    assert ex.reveal("dense_forward", answer) is False  # a stub has not earned it
    assert "the answer" not in capsys.readouterr().out
    ex.check("dense_forward", _dense_forward, random_state=0)
    assert ex.reveal("dense_forward", answer) is True
    assert 'return "the answer"' in capsys.readouterr().out


def test_reveal_refuses_an_unknown_exercise():
    with pytest.raises((KeyError, ValueError)):
        ex.reveal("no_such_exercise", print)
