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
    elbo = npae.to_numpy(model.elbo(X_test))  # the model's own inference stream (no --seed)
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


def test_a_relative_dataset_path_is_recorded_absolute_and_scored_from_anywhere(tmp_path, run, small, monkeypatch):
    """'npae train --dataset data/my.npz' then 'npae evaluate RUN' from another directory: the run's own
    file is scored, not a data/my.npz that happens to sit beside the new working directory."""
    rng = np.random.default_rng(0)
    first, second = tmp_path / "a", tmp_path / "b"
    for where, scale in ((first, 1.0), (second, 0.5)):
        (where / "data").mkdir(parents=True)
        np.savez(where / "data" / "my.npz", X_train=rng.random((60, 5)) * scale, X_test=rng.random((20, 5)) * scale)
    monkeypatch.chdir(first)
    options = [o for o in small if o not in ("--dataset", "digits")]
    code, _, err = run("train", *options, "--dataset", "data/my.npz", "--out", "runs/my", "--quiet")
    assert code == 0, err
    recorded = json.loads((first / "runs/my/metrics.json").read_text())["dataset"]
    assert recorded == str(first / "data" / "my.npz")
    monkeypatch.chdir(second)
    code, _, err = run("evaluate", str(first / "runs/my"), "--out", str(tmp_path / "e"))
    assert code == 0, err
    metrics = json.loads((tmp_path / "e" / "metrics.json").read_text())
    with np.load(first / "data" / "my.npz") as data:
        X_test = data["X_test"]
    model = npae.load(first / "runs/my/model.npz")
    assert metrics["dataset"] == recorded
    assert metrics["test_loss"] == pytest.approx(-model.score_samples(X_test).mean(), rel=1e-6)


def test_a_missing_recorded_dataset_says_where_it_was_recorded(tmp_path, run, small, assert_one_line_error):
    data = tmp_path / "my.npz"
    np.savez(data, X_train=np.random.default_rng(0).random((40, 5)))
    options = [o for o in small if o not in ("--dataset", "digits")]
    assert run("train", *options, "--dataset", str(data), "--out", str(tmp_path / "r"), "--quiet")[0] == 0
    data.unlink()
    code, _, err = run("evaluate", str(tmp_path / "r"), "--out", str(tmp_path / "e"))
    assert_one_line_error(code, err, "does not exist", "'npae train' recorded in", "metrics.json", "pass --dataset")


def test_scoring_a_named_dataset_reads_only_its_test_split(digits_run, tmp_path, run, monkeypatch):
    """evaluate and denoise score the test split: the 60,000 training images are neither needed nor read."""
    from npae import datasets

    read = []
    real = datasets.load_dataset
    monkeypatch.setattr(datasets, "load_dataset", lambda name, split, **kw: read.append(split) or real(name, split, **kw))
    model = npae.Autoencoder(hidden_sizes=(8,), latent_dim=2, epochs=1, verbose=0, random_state=0)
    model.fit(real("embedded", "test")[0][:100]).save(tmp_path / "m.npz")
    code, _, err = run("evaluate", str(tmp_path / "m.npz"), "--dataset", "embedded", "--out", str(tmp_path / "e"))
    assert code == 0, err
    assert read == ["test"]


def test_a_model_saved_on_an_unusable_backend_says_to_pass_backend_numpy(digits_run, run, monkeypatch,
                                                                          assert_one_line_error):
    from npae import backend as B
    from npae.cli import data

    def saved_on_cupy(path, backend=None):
        raise B.BackendUnavailableError("The 'cupy' backend needs CuPy, which is not installed.")

    monkeypatch.setattr(data, "load", saved_on_cupy)
    code, _, err = run("evaluate", str(digits_run[1]))
    assert_one_line_error(code, err, "was saved with a backend that cannot run here", "--backend numpy")


def test_a_vae_evaluates_to_the_test_loss_its_training_run_reported(vae_run, tmp_path, run):
    """Both read the model's own inference stream (``--seed`` picks another one)."""
    trained = json.loads((vae_run / "metrics.json").read_text())
    code, _, err = run("evaluate", str(vae_run), "--k", "5", "--n", "20", "--out", str(tmp_path / "e"))
    assert code == 0, err
    evaluated = json.loads((tmp_path / "e" / "metrics.json").read_text())
    assert evaluated["test_loss"] == pytest.approx(trained["test_loss"], rel=1e-6)  # float32 vs float64 means
    code, _, err = run("evaluate", str(vae_run), "--k", "5", "--n", "20", "--seed", "3", "--out", str(tmp_path / "s"))
    assert code == 0, err
    assert json.loads((tmp_path / "s" / "metrics.json").read_text())["test_loss"] != evaluated["test_loss"]
