"""Issue 21: SIGTERM handled like Ctrl-C, run directories written atomically, ``~`` in paths, and
honest labels in evaluate / detect."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import npae
from tests.cli.conftest import SMALL

TINY = ["--dataset", "digits", "--epochs", "1", "--hidden-sizes", "4", "--latent-dim", "2", "--batch-size", "256"]

# A file-size limit (ulimit -f) must not apply to the test process itself: it runs in a child.
CHILD = r"""
import resource, sys
from npae import cli

resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]), resource.RLIM_INFINITY))
sys.exit(cli.main(sys.argv[2:]))
"""


def _child(*argv):
    return subprocess.run([sys.executable, "-c", CHILD, *argv], capture_output=True, text=True, timeout=300)


def _leftovers(directory: Path) -> list:
    return [p.name for p in directory.rglob("*") if p.name.startswith(".npae-")]


def _snapshot(directory: Path) -> dict:
    return {p.name: p.read_bytes() for p in directory.iterdir()}


@pytest.fixture
def good_run(tmp_path):
    from npae import cli

    out = tmp_path / "run"
    assert cli.main(["train", *TINY, "--out", str(out), "--quiet"]) == 0
    return out


def test_sigterm_during_training_keeps_the_last_step_marks_the_run_and_exits_143(tmp_path, run, monkeypatch):
    """(In-process, as the Ctrl-C test: ``npae.cli.main`` installs the SIGTERM handler it relies on.)"""
    import signal

    from npae.models.base import BaseAutoencoder

    original, calls = BaseAutoencoder.train_step, {"n": 0}

    def step_then_sigterm(self, X):
        calls["n"] += 1
        if calls["n"] == 4:
            os.kill(os.getpid(), signal.SIGTERM)
        return original(self, X)

    monkeypatch.setattr(BaseAutoencoder, "train_step", step_then_sigterm)
    out = tmp_path / "run"
    argv = list(SMALL)
    argv[argv.index("--epochs") + 1] = "3"
    argv[argv.index("--batch-size") + 1] = "512"  # 3 steps per epoch: SIGTERM in the second epoch
    previous = signal.getsignal(signal.SIGTERM)
    code, _, err = run("train", *argv, "--out", str(out), "--quiet")
    assert signal.getsignal(signal.SIGTERM) is previous  # main put the handler back
    assert code == 143 and "terminated (SIGTERM)" in err and "Traceback" not in err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "interrupted" and "SIGTERM" in metrics["error"] and metrics["epochs"] == 1
    assert npae.load(out / "model.npz").optimizer_.iterations == 4  # the step in progress completed
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "model.npz"]


def test_sigterm_during_save_leaves_no_temporary_file_and_the_old_run_intact(good_run, run, monkeypatch):
    import signal

    before = _snapshot(good_run)
    real_fsync = os.fsync

    def fsync_then_sigterm(fd):  # model.npz's temporary file is written when the signal comes
        real_fsync(fd)
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(os, "fsync", fsync_then_sigterm)
    code, _, err = run("train", *TINY, "--out", str(good_run), "--force", "--quiet")
    monkeypatch.undo()
    assert code == 143, err
    assert _leftovers(good_run) == []
    assert _snapshot(good_run) == before


def test_a_run_that_hits_the_file_size_limit_leaves_the_old_run_intact_and_names_the_file(good_run):
    before = _snapshot(good_run)
    limit = len(before["model.npz"]) + 2000  # the model fits, a figure does not
    too_large = [name for name, data in before.items() if len(data) > limit]
    assert too_large and all(name.endswith(".png") for name in too_large)
    done = _child(str(limit), "train", *TINY, "--seed", "1", "--out", str(good_run), "--force", "--quiet")
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "File too large" in lines[0], lines
    assert any(str(good_run / name) in lines[0] for name in too_large), lines
    assert _snapshot(good_run) == before and _leftovers(good_run) == []


def test_a_rerun_over_a_finished_run_replaces_every_run_file(good_run, run):
    code, _, _ = run("train", *TINY, "--seed", "3", "--out", str(good_run), "--force", "--quiet")
    assert code == 0 and _leftovers(good_run) == []
    assert json.loads((good_run / "metrics.json").read_text())["status"] == "completed"


# ---------------------------------------------------------------- paths (item 18)
@pytest.mark.parametrize("option", ["--out", "--dataset", "--data-dir"])
def test_a_tilde_user_that_does_not_exist_is_a_one_line_error(tmp_path, run, assert_one_line_error, option,
                                                                monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = {"--out": ["train", *TINY, "--out", "~nouser-npae/run"],
            "--dataset": ["train", "--dataset", "~nouser-npae/data.npz", "--out", "r"],
            "--data-dir": ["train", "--dataset", "mnist", "--data-dir", "~nouser-npae/d", "--out", "r"]}[option]
    code, _, err = run(*argv)
    assert_one_line_error(code, err, option, "'~nouser-npae", "no user 'nouser-npae'")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("variable", ["NPAE_DATA", "NPAE_CACHE"])
def test_a_tilde_user_in_the_data_variables_is_a_one_line_error(tmp_path, run, assert_one_line_error, variable,
                                                                  monkeypatch):
    monkeypatch.setenv(variable, "~nouser-npae/data")
    code, _, err = run("train", "--dataset", "mnist", "--data-dir", str(tmp_path), "--out", str(tmp_path / "r"))
    assert_one_line_error(code, err, f"${variable} '~nouser-npae/data'", "no user")


def test_out_and_dataset_expand_a_tilde(tmp_path, run, monkeypatch, rng):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    np.savez(tmp_path / "home" / "rows.npz", X_train=rng.random((40, 6)))
    monkeypatch.chdir(tmp_path)
    code, _, err = run("train", "--dataset", "~/rows.npz", "--epochs", "1", "--hidden-sizes", "3", "--latent-dim",
                       "2", "--out", "~/runs/r", "--quiet")
    assert code == 0, err
    assert (tmp_path / "home" / "runs" / "r" / "model.npz").is_file() and not (tmp_path / "~").exists()


def test_an_empty_out_is_refused(tmp_path, run, assert_one_line_error, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run("train", *TINY, "--out", "")
    assert_one_line_error(code, err, "--out is empty")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- evaluate and detect (item 20)
def test_evaluate_without_a_test_split_does_not_call_its_loss_a_test_loss(tmp_path, run, rng):
    data = tmp_path / "rows.npz"
    np.savez(data, X_train=rng.random((40, 6)))
    code, _, err = run("train", "--dataset", str(data), "--epochs", "1", "--hidden-sizes", "3", "--latent-dim", "2",
                       "--out", str(tmp_path / "r"), "--quiet")
    assert code == 0, err
    code, out, err = run("evaluate", str(tmp_path / "r" / "model.npz"), "--dataset", str(data),
                         "--out", str(tmp_path / "e"))
    assert code == 0, err
    metrics = json.loads((tmp_path / "e" / "metrics.json").read_text())
    assert metrics["split"] == "train" and "test_loss" not in metrics and "train_loss" in metrics
    assert "no test split" in metrics["note"]
    assert "test loss" not in out and "train loss" in out and "no test split" in out


def test_detect_runs_a_repeated_normal_class_once(tmp_path, run):
    code, out, err = run("detect", "--dataset", "digits", "--normal-class", "0,0", "--epochs", "1",
                         "--hidden-sizes", "8", "--latent-dim", "2", "--max-test", "100", "--out",
                         str(tmp_path / "d"), "--quiet")
    assert code == 0, err
    metrics = json.loads((tmp_path / "d" / "metrics.json").read_text())
    assert list(metrics["results"]) == ["class-0"]
    assert sorted(p.name for p in (tmp_path / "d").iterdir() if p.suffix == ".png") == ["roc.png", "scores.png"]


def test_detect_names_no_internal_variable_when_the_test_set_has_one_class(tmp_path, run, rng,
                                                                           assert_one_line_error):
    data = tmp_path / "two.npz"
    np.savez(data, X_train=rng.random((40, 6)), y_train=np.repeat([0, 1], 20),
             X_test=rng.random((10, 6)), y_test=np.zeros(10, int))
    code, _, err = run("detect", "--dataset", str(data), "--normal-class", "0", "--epochs", "1",
                       "--hidden-sizes", "3", "--latent-dim", "2", "--out", str(tmp_path / "d"))
    assert_one_line_error(code, err, "--normal-class 0", "only test rows of class 0")
    assert "is_anomaly" not in err


def test_a_figure_or_metrics_write_error_names_the_file(tmp_path):
    import errno

    from npae.cli import output

    class FullDisk:
        def savefig(self, path, dpi):
            raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError, match=r"No space left on device: '.*grid.png'") as info:
        output.save_figure(FullDisk(), tmp_path / "grid.png")
    assert info.value.errno == errno.ENOSPC
    with pytest.raises(OSError, match=r"grid.json"):
        output.write_metrics(tmp_path / "grid.json", {"x": FullDiskValue()})


class FullDiskValue:
    def __repr__(self):
        raise OSError(28, "No space left on device")
