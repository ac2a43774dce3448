"""``npae train``: what it writes, what it reports, and that user errors are one line, exit 2."""

import json

import numpy as np
import pytest

import npae
from npae import cli

METRIC_KEYS = {"npae_version", "model", "model_class", "params", "dataset", "n_train", "n_test", "n_features",
               "backend", "device", "epochs", "seconds", "samples_per_second", "objective", "train_loss",
               "test_loss", "train_loss_per_pixel", "test_loss_per_pixel", "history", "files"}


def test_train_writes_the_four_run_files(digits_run):
    code, out = digits_run
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(cli.RUN_FILES)
    for name in ("loss.png", "reconstructions.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_train_metrics_have_the_documented_keys(digits_run):
    _, out = digits_run
    metrics = json.loads((out / "metrics.json").read_text())
    assert METRIC_KEYS <= set(metrics)
    assert metrics["n_train"] + metrics["n_test"] == 1797 and metrics["n_features"] == 64
    assert metrics["epochs"] == 1 and len(metrics["history"]["loss"]) == 1
    assert metrics["params"]["hidden_sizes"] == [16] and metrics["params"]["latent_dim"] == 4
    assert metrics["test_loss_per_pixel"] == pytest.approx(metrics["test_loss"] / 64, rel=1e-12)


def test_saved_model_reproduces_the_reported_test_loss(digits_run):
    _, out = digits_run
    metrics = json.loads((out / "metrics.json").read_text())
    _, _, X_test, _, _ = cli.load_training_data("digits")
    model = npae.load(out / "model.npz")
    assert type(model).__name__ == "Autoencoder"
    assert -model.score_samples(X_test).mean() == pytest.approx(metrics["test_loss"], rel=1e-6)
    assert metrics["history"]["val_loss"][-1] == pytest.approx(metrics["test_loss"], rel=1e-6)


def test_train_report_names_dataset_shapes_and_losses(tmp_path, run, small):
    code, out, err = run("train", *small, "--out", str(tmp_path / "r"))
    assert code == 0, err
    for fragment in ("digits", "(1437, 64)", "(360, 64)", "Autoencoder 64-16-4-16-64", "numpy",
                     "1 epoch in", "train loss", "test loss", "per sample", "per pixel"):
        assert fragment in out
    assert "fit" in err  # the tqdm progress bar goes to stderr


def test_quiet_default_run_dir_is_under_runs(tmp_path, run, small, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run("train", *small, "--quiet")
    assert code == 0, err
    assert err == ""
    run_dir = tmp_path / out.strip()
    assert run_dir.parent == tmp_path / "runs" and run_dir.name.startswith("ae-digits-")
    assert (run_dir / "model.npz").is_file()


def test_bad_dataset_name_lists_the_valid_ones(tmp_path, run, assert_one_line_error):
    code, _, err = run("train", "--dataset", "fashion", "--out", str(tmp_path / "r"))
    assert_one_line_error(code, err, "'fashion'", "'embedded'", "'fashion-mnist'", "'mnist'", "'digits'", ".npz")
    assert not (tmp_path / "r").exists()


def test_unknown_backend_is_one_line(tmp_path, run, small, assert_one_line_error):
    code, _, err = run("train", *small, "--backend", "nump", "--out", str(tmp_path / "r"))
    assert_one_line_error(code, err, "Unknown backend 'nump'", "'numpy'")


def test_existing_non_empty_out_dir_needs_force(tmp_path, run, small, assert_one_line_error):
    out = tmp_path / "r"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    code, _, err = run("train", *small, "--out", str(out))
    assert_one_line_error(code, err, "not empty", "--force")
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    code, _, err = run("train", *small, "--out", str(out), "--force", "--quiet")
    assert code == 0, err
    assert (out / "notes.txt").read_text() == "keep me" and (out / "model.npz").is_file()


def test_usage_errors_are_one_line(run, assert_one_line_error):
    code, _, err = run("train", "--epochs", "many")
    assert_one_line_error(code, err, "--epochs", "invalid int value")
    code, _, err = run("train", "--model", "gan")
    assert_one_line_error(code, err, "--model", "'gan'")
    code, _, err = run("train", "--hidden-sizes", "64,x")
    assert_one_line_error(code, err, "--hidden-sizes", "'x'")


def test_bad_hyperparameter_is_refused_before_training(tmp_path, run, small, assert_one_line_error):
    code, _, err = run("train", *small, "--activation", "relu6", "--out", str(tmp_path / "r"))
    assert_one_line_error(code, err, "relu6")
    assert not (tmp_path / "r").exists()


def test_option_of_another_model_is_refused(tmp_path, run, small, assert_one_line_error):
    code, _, err = run("train", *small, "--noise", "masking", "--out", str(tmp_path / "r"))
    assert_one_line_error(code, err, "--noise does not apply to --model ae")
    assert "It is used by --model denoising" in err


@pytest.mark.parametrize("model, options, param, value", [
    ("sparse", ["--sparsity-weight", "0.01"], "sparsity_weight", 0.01),
    ("denoising", ["--noise", "masking", "--noise-level", "0.3"], "noise", "masking"),
    ("contractive", ["--contractive-weight", "0.05", "--activation", "tanh"], "contractive_weight", 0.05),
    ("vae", ["--beta", "0.5"], "beta", 0.5),
])
def test_model_specific_options_reach_their_model(tmp_path, run, small, model, options, param, value):
    out = tmp_path / "r"
    code, _, err = run("train", *small, "--model", model, *options, "--out", str(out), "--quiet")
    assert code == 0, err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["model"] == model and metrics["params"][param] == value
    assert type(npae.load(out / "model.npz")).__name__ == metrics["model_class"]


def test_npz_dataset_with_tabular_rows(tmp_path, run, rng):
    path = tmp_path / "table.npz"
    X = rng.random((200, 30)).astype(np.float32)
    np.savez(path, X_train=X[:150], X_test=X[150:], y_train=np.zeros(150, dtype=np.int64))
    out = tmp_path / "r"
    code, _, err = run("train", "--dataset", str(path), "--epochs", "1", "--hidden-sizes", "8",
                       "--latent-dim", "3", "--out", str(out), "--quiet")
    assert code == 0, err
    metrics = json.loads((out / "metrics.json").read_text())
    assert (metrics["n_train"], metrics["n_test"], metrics["n_features"]) == (150, 50, 30)
    assert "test_loss_per_feature" in metrics
    assert (out / "reconstructions.png").is_file()


def test_npz_dataset_without_x_train(tmp_path, run, assert_one_line_error):
    path = tmp_path / "bad.npz"
    np.savez(path, X=np.zeros((4, 4)))
    code, _, err = run("train", "--dataset", str(path), "--out", str(tmp_path / "r"))
    assert_one_line_error(code, err, "no 'X_train'", "X")
    code, _, err = run("train", "--dataset", str(tmp_path / "absent.npz"), "--out", str(tmp_path / "r"))
    assert_one_line_error(code, err, "absent.npz", "does not exist")


def test_failed_run_leaves_no_empty_run_dir(tmp_path, run, rng, assert_one_line_error):
    path = tmp_path / "raw.npz"
    np.savez(path, X_train=rng.integers(0, 256, size=(20, 16)).astype(np.float32))
    out = tmp_path / "r"
    code, _, err = run("train", "--dataset", str(path), "--epochs", "1", "--out", str(out), "--quiet")
    assert_one_line_error(code, err, "[0, 1]")
    assert not out.exists()


# ---------------------------------------------------------------- divergence and Ctrl-C (issue 15)
def _strict_json(path):
    """Parse as RFC 8259 JSON: bare NaN / Infinity are refused."""
    def refuse(name):
        raise ValueError(f"{name} is not JSON")

    return json.loads(path.read_text(), parse_constant=refuse)


def test_completed_run_is_marked_completed(digits_run):
    _, out = digits_run
    assert _strict_json(out / "metrics.json")["status"] == "completed"


def test_diverged_run_exits_non_zero_with_valid_json_and_a_finite_model(tmp_path, run, small):
    out = tmp_path / "r"
    code, _, err = run("train", *small, "--optimizer", "sgd", "--learning-rate", "1e38", "--loss", "mse",
                       "--batch-size", "5000", "--out", str(out), "--quiet")
    assert code != 0
    assert "diverged" in err and "Traceback" not in err
    metrics = _strict_json(out / "metrics.json")
    assert metrics["status"] == "diverged" and "diverged" in metrics["error"]
    # it diverged in its first epoch: the fit left no model (as it was before the call), so no model.npz
    assert metrics["epochs"] == 0 and metrics["files"] == ["metrics.json"] and "not fitted" in metrics["error"]
    assert not (out / "model.npz").exists()


def test_non_finite_figures_are_written_as_null_and_listed(tmp_path, run, small, monkeypatch):
    monkeypatch.setattr(npae.Autoencoder, "score_samples", lambda self, X: np.full(X.shape[0], -np.inf))
    out = tmp_path / "r"
    code, _, err = run("train", *small, "--out", str(out), "--quiet")
    assert code != 0 and "not finite" in err
    metrics = _strict_json(out / "metrics.json")
    assert metrics["train_loss"] is None and metrics["test_loss"] is None
    assert {"train_loss", "test_loss"} <= set(metrics["non_finite"])
    assert metrics["status"] == "diverged"


def test_sigint_exits_130_and_marks_the_run_interrupted(tmp_path, run, small, monkeypatch):
    import os
    import signal

    from npae.models.base import BaseAutoencoder

    original = BaseAutoencoder.train_step
    calls = {"n": 0}

    def step_then_ctrl_c(self, X):
        calls["n"] += 1
        if calls["n"] == 4:
            os.kill(os.getpid(), signal.SIGINT)
        return original(self, X)

    monkeypatch.setattr(BaseAutoencoder, "train_step", step_then_ctrl_c)
    out = tmp_path / "r"
    small[small.index("--epochs") + 1] = "3"
    small[small.index("--batch-size") + 1] = "512"  # 3 steps per epoch: Ctrl-C in the second epoch
    # the test relies on Python's SIGINT handler (a suite run as a background job inherits SIGINT ignored)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        code, _, err = run("train", *small, "--out", str(out), "--quiet")
    finally:
        signal.signal(signal.SIGINT, previous)
    assert code == 130 and "interrupted" in err
    metrics = _strict_json(out / "metrics.json")
    assert metrics["status"] == "interrupted" and metrics["epochs"] == 1
    assert len(metrics["history"]["loss"]) == 1
    assert npae.load(out / "model.npz").optimizer_.iterations == 4
