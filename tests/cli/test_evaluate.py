"""``npae evaluate``: the test loss and PSNR of a saved model, and a VAE's ELBO and IWAE estimate."""

import json

import numpy as np
import pytest

import npae
from npae import cli


def test_evaluate_autoencoder_reports_the_test_loss(digits_run, run):
    _, run_dir = digits_run
    code, out, err = run("evaluate", str(run_dir / "model.npz"))
    assert code == 0, err
    eval_dir = run_dir / "evaluate-digits"  # default: inside the run dir, dataset from its metrics.json
    metrics = json.loads((eval_dir / "metrics.json").read_text())
    _, _, X_test, _, _ = cli.load_training_data("digits")
    model = npae.load(run_dir / "model.npz")
    assert metrics["dataset"] == "digits" and metrics["split"] == "test" and metrics["n"] == 360
    assert metrics["test_loss"] == pytest.approx(-model.score_samples(X_test).mean(), rel=1e-6)
    mse = float(np.mean((X_test - npae.to_numpy(model.reconstruct(X_test))) ** 2))
    assert metrics["reconstruction_mse"] == pytest.approx(mse, rel=1e-5)
    assert metrics["reconstruction_psnr_db"] > 0 and "elbo" not in metrics
    assert (eval_dir / "reconstructions.png").read_bytes()[:4] == b"\x89PNG"
    assert "test loss (BCE)" in out and "reconstruction PSNR (dB)" in out
    code, _, err = run("evaluate", str(run_dir))  # a run directory works; the default dir is replaced
    assert code == 0, err


def test_evaluate_vae_reports_elbo_and_iwae(vae_run, tmp_path, run):
    out_dir = tmp_path / "eval"
    code, out, err = run("evaluate", str(vae_run / "model.npz"), "--k", "20", "--n", "50", "--out", str(out_dir))
    assert code == 0, err
    metrics = json.loads((out_dir / "metrics.json").read_text())
    _, _, X_test, _, _ = cli.load_training_data("digits")
    model = npae.load(vae_run / "model.npz")
    elbo = npae.to_numpy(model.elbo(X_test, random_state=0))
    assert metrics["elbo"] == pytest.approx(float(elbo.mean()), rel=1e-6)
    assert metrics["test_loss"] == pytest.approx(-metrics["elbo"], rel=1e-12)
    assert metrics["iwae_k"] == 20 and metrics["iwae_n"] == 50
    assert metrics["elbo_on_iwae_rows"] == pytest.approx(float(elbo[:50].mean()), rel=1e-6)
    assert metrics["iwae"] > metrics["elbo_on_iwae_rows"]  # k = 20 tightens the bound on average
    assert "IWAE log p(x), k=20, first 50" in out and "BCE-ELBO" in out


def test_evaluate_errors_are_one_line(digits_run, tmp_path, run, assert_one_line_error):
    _, run_dir = digits_run
    code, _, err = run("evaluate", str(tmp_path / "nothing.npz"))
    assert_one_line_error(code, err, "nothing.npz", "does not exist", "npae train")
    code, _, err = run("evaluate", str(run_dir / "model.npz"), "--dataset", "embedded", "--out", str(tmp_path / "e"))
    assert_one_line_error(code, err, "expects 64 features", "784")
    assert not (tmp_path / "e").exists()
    code, _, err = run("evaluate", str(run_dir / "model.npz"), "--k", "0")
    assert_one_line_error(code, err, "--k must be a positive integer")


def test_evaluate_bounds_k(vae_run, tmp_path, run, assert_one_line_error):
    from npae.cli.evaluate import MAX_K

    code, _, err = run("evaluate", str(vae_run / "model.npz"), "--k", str(MAX_K + 1), "--n", "1",
                       "--out", str(tmp_path / "e"))
    assert_one_line_error(code, err, "--k", f"at most {MAX_K:,}")
    assert not (tmp_path / "e").exists()
