"""The ``npae`` command line, run in-process through ``npae.cli.main`` (plus one subprocess smoke
test of ``python -m npae``): what ``train`` writes, and that user errors are one line, exit 2."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import npae
from npae import cli

SMALL = ["--dataset", "digits", "--epochs", "1", "--hidden-sizes", "16", "--latent-dim", "4",
         "--batch-size", "256"]
METRIC_KEYS = {"npae_version", "model", "model_class", "params", "dataset", "n_train", "n_test", "n_features",
               "backend", "device", "epochs", "seconds", "samples_per_second", "objective", "train_loss",
               "test_loss", "train_loss_per_pixel", "test_loss_per_pixel", "history", "files"}


def run(capsys, *argv):
    """(exit status, stdout, stderr) of ``npae argv...``."""
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, *fragments):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """One small training run on digits, shared by the tests that read its outputs."""
    out = tmp_path_factory.mktemp("run") / "digits"
    code = cli.main(["train", *SMALL, "--out", str(out), "--quiet"])
    return code, out


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
    assert -model.score(X_test) == pytest.approx(metrics["test_loss"], rel=1e-6)
    assert metrics["history"]["val_loss"][-1] == pytest.approx(metrics["test_loss"], rel=1e-6)


def test_train_report_names_dataset_shapes_and_losses(tmp_path, capsys):
    code, out, err = run(capsys, "train", *SMALL, "--out", str(tmp_path / "r"))
    assert code == 0, err
    for fragment in ("digits", "(1437, 64)", "(360, 64)", "Autoencoder 64-16-4-16-64", "numpy",
                     "1 epoch in", "train loss", "test loss", "per sample", "per pixel"):
        assert fragment in out
    assert "fit" in err  # the tqdm progress bar goes to stderr


def test_quiet_default_run_dir_is_under_runs(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "train", *SMALL, "--quiet")
    assert code == 0, err
    assert err == ""
    run_dir = tmp_path / out.strip()
    assert run_dir.parent == tmp_path / "runs" and run_dir.name.startswith("ae-digits-")
    assert (run_dir / "model.npz").is_file()


def test_bad_dataset_name_lists_the_valid_ones(tmp_path, capsys):
    code, _, err = run(capsys, "train", "--dataset", "fashion", "--out", str(tmp_path / "r"))
    assert_one_line_error(code, err, "'fashion'", "'embedded'", "'fashion-mnist'", "'mnist'", "'digits'", ".npz")
    assert not (tmp_path / "r").exists()


def test_unknown_backend_is_one_line(tmp_path, capsys):
    code, _, err = run(capsys, "train", *SMALL, "--backend", "nump", "--out", str(tmp_path / "r"))
    assert_one_line_error(code, err, "Unknown backend 'nump'", "'numpy'")


def test_existing_non_empty_out_dir_needs_force(tmp_path, capsys):
    out = tmp_path / "r"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    code, _, err = run(capsys, "train", *SMALL, "--out", str(out))
    assert_one_line_error(code, err, "not empty", "--force")
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    code, _, err = run(capsys, "train", *SMALL, "--out", str(out), "--force", "--quiet")
    assert code == 0, err
    assert (out / "notes.txt").read_text() == "keep me" and (out / "model.npz").is_file()


def test_usage_errors_are_one_line(capsys):
    code, _, err = run(capsys, "train", "--epochs", "many")
    assert_one_line_error(code, err, "--epochs", "invalid int value")
    code, _, err = run(capsys, "train", "--model", "gan")
    assert_one_line_error(code, err, "--model", "'gan'")
    code, _, err = run(capsys, "train", "--hidden-sizes", "64,x")
    assert_one_line_error(code, err, "--hidden-sizes", "'x'")


def test_bad_hyperparameter_is_refused_before_training(tmp_path, capsys):
    code, _, err = run(capsys, "train", *SMALL, "--activation", "relu6", "--out", str(tmp_path / "r"))
    assert_one_line_error(code, err, "relu6")
    assert not (tmp_path / "r").exists()


def test_option_of_another_model_is_refused(tmp_path, capsys):
    code, _, err = run(capsys, "train", *SMALL, "--noise", "masking", "--out", str(tmp_path / "r"))
    assert_one_line_error(code, err, "--noise does not apply to --model ae")


@pytest.mark.parametrize("model, options, param, value", [
    ("sparse", ["--sparsity-weight", "0.01"], "sparsity_weight", 0.01),
    ("denoising", ["--noise", "masking", "--noise-level", "0.3"], "noise", "masking"),
    ("contractive", ["--contractive-weight", "0.05", "--activation", "tanh"], "contractive_weight", 0.05),
    ("vae", ["--beta", "0.5"], "beta", 0.5),
])
def test_model_specific_options_reach_their_model(tmp_path, capsys, model, options, param, value):
    try:
        cli.get_model_class(model)
    except ImportError as err:
        pytest.skip(str(err))
    out = tmp_path / "r"
    code, _, err = run(capsys, "train", *SMALL, "--model", model, *options, "--out", str(out), "--quiet")
    assert code == 0, err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["model"] == model and metrics["params"][param] == value
    assert type(npae.load(out / "model.npz")).__name__ == metrics["model_class"]


def test_missing_model_module_is_a_clear_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(cli.MODELS, "ghost", ("npae.models.ghost", "GhostAutoencoder"))
    with pytest.raises(ImportError, match="npae.models.ghost"):
        cli.get_model_class("ghost")
    code, _, err = run(capsys, "train", *SMALL, "--model", "ghost", "--out", str(tmp_path / "r"))
    assert_one_line_error(code, err, "--model ghost needs npae.models.ghost", "ae")


def test_npz_dataset_with_tabular_rows(tmp_path, capsys, rng):
    path = tmp_path / "table.npz"
    X = rng.random((200, 30)).astype(np.float32)
    np.savez(path, X_train=X[:150], X_test=X[150:], y_train=np.zeros(150, dtype=np.int64))
    out = tmp_path / "r"
    code, _, err = run(capsys, "train", "--dataset", str(path), "--epochs", "1", "--hidden-sizes", "8",
                       "--latent-dim", "3", "--out", str(out), "--quiet")
    assert code == 0, err
    metrics = json.loads((out / "metrics.json").read_text())
    assert (metrics["n_train"], metrics["n_test"], metrics["n_features"]) == (150, 50, 30)
    assert "test_loss_per_feature" in metrics
    assert (out / "reconstructions.png").is_file()


def test_npz_dataset_without_x_train(tmp_path, capsys):
    path = tmp_path / "bad.npz"
    np.savez(path, X=np.zeros((4, 4)))
    code, _, err = run(capsys, "train", "--dataset", str(path), "--out", str(tmp_path / "r"))
    assert_one_line_error(code, err, "no 'X_train'", "X")
    code, _, err = run(capsys, "train", "--dataset", str(tmp_path / "absent.npz"), "--out", str(tmp_path / "r"))
    assert_one_line_error(code, err, "absent.npz", "does not exist")


def test_info_lists_version_and_backends(capsys):
    code, out, _ = run(capsys, "info")
    assert code == 0
    assert f"npae {npae.__version__}" in out
    for name in ("numpy", "cupy", "torch", "array_api_strict"):
        assert name in out
    assert "numpy             ok, device cpu" in out


@pytest.mark.parametrize("command", [[], ["train"], ["info"], ["evaluate"], ["sample"], ["denoise"], ["detect"],
                                     ["gradcheck"]])
def test_help_explains_every_option(capsys, command):
    code, out, _ = run(capsys, *command, "--help")
    assert code == 0
    parser = cli.build_parser()
    if command:
        parser = parser._subparsers._group_actions[0].choices[command[0]]
    for action in parser._actions:
        assert action.help, action.option_strings
        for flag in action.option_strings:
            assert flag in out


def test_python_dash_m_npae_help():
    result = subprocess.run([sys.executable, "-m", "npae", "--help"], capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    for command in ("train", "evaluate", "sample", "denoise", "detect", "gradcheck", "info"):
        assert command in result.stdout


def test_failed_run_leaves_no_empty_run_dir(tmp_path, capsys, rng):
    path = tmp_path / "raw.npz"
    np.savez(path, X_train=rng.integers(0, 256, size=(20, 16)).astype(np.float32))
    out = tmp_path / "r"
    code, _, err = run(capsys, "train", "--dataset", str(path), "--epochs", "1", "--out", str(out), "--quiet")
    assert_one_line_error(code, err, "[0, 1]")
    assert not out.exists()



# ------------------------------------------------------------------------------ saved-model commands
MNIST_DIR = Path("/work/shared/data/mnist")
TINY = ["--epochs", "1", "--hidden-sizes", "16", "--latent-dim", "4", "--batch-size", "256"]


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    """A tiny VAE on digits, shared by the evaluate and sample tests."""
    out = tmp_path_factory.mktemp("run") / "vae"
    code = cli.main(["train", *SMALL, "--model", "vae", "--out", str(out), "--quiet"])
    assert code == 0
    return out


def test_evaluate_autoencoder_reports_the_test_loss(digits_run, capsys):
    _, run_dir = digits_run
    code, out, err = run(capsys, "evaluate", str(run_dir / "model.npz"))
    assert code == 0, err
    eval_dir = run_dir / "evaluate-digits"  # default: inside the run dir, dataset from its metrics.json
    metrics = json.loads((eval_dir / "metrics.json").read_text())
    _, _, X_test, _, _ = cli.load_training_data("digits")
    model = npae.load(run_dir / "model.npz")
    assert metrics["dataset"] == "digits" and metrics["split"] == "test" and metrics["n"] == 360
    assert metrics["test_loss"] == pytest.approx(-model.score(X_test), rel=1e-9)
    mse = float(np.mean((X_test - npae.to_numpy(model.reconstruct(X_test))) ** 2))
    assert metrics["reconstruction_mse"] == pytest.approx(mse, rel=1e-5)
    assert metrics["reconstruction_psnr_db"] > 0 and "elbo" not in metrics
    assert (eval_dir / "reconstructions.png").read_bytes()[:4] == b"\x89PNG"
    assert "test loss (BCE)" in out and "reconstruction PSNR (dB)" in out
    code, _, err = run(capsys, "evaluate", str(run_dir))  # a run directory works; the default dir is replaced
    assert code == 0, err


def test_evaluate_vae_reports_elbo_and_iwae(vae_run, tmp_path, capsys):
    out_dir = tmp_path / "eval"
    code, out, err = run(capsys, "evaluate", str(vae_run / "model.npz"), "--k", "20", "--n", "50",
                         "--out", str(out_dir))
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


def test_evaluate_errors_are_one_line(digits_run, tmp_path, capsys):
    _, run_dir = digits_run
    code, _, err = run(capsys, "evaluate", str(tmp_path / "nothing.npz"))
    assert_one_line_error(code, err, "nothing.npz", "does not exist", "npae train")
    code, _, err = run(capsys, "evaluate", str(run_dir / "model.npz"), "--dataset", "embedded",
                       "--out", str(tmp_path / "e"))
    assert_one_line_error(code, err, "expects 64 features", "784")
    assert not (tmp_path / "e").exists()
    code, _, err = run(capsys, "evaluate", str(run_dir / "model.npz"), "--k", "0")
    assert_one_line_error(code, err, "--k must be a positive integer")


def test_sample_draws_a_seeded_grid(vae_run, tmp_path, capsys):
    grid = tmp_path / "grid.png"
    code, out, err = run(capsys, "sample", str(vae_run / "model.npz"), "-n", "12", "--cols", "4", "--seed", "3",
                         "--out", str(grid))
    assert code == 0, err
    assert grid.read_bytes()[:4] == b"\x89PNG" and str(grid) in out
    metrics = json.loads(grid.with_suffix(".json").read_text())
    X = npae.to_numpy(npae.load(vae_run / "model.npz").sample(12, random_state=3))
    assert metrics["n_samples"] == 12 and metrics["mean"] == pytest.approx(float(X.mean()), rel=1e-6)
    code, _, err = run(capsys, "sample", str(vae_run), "-n", "4", "--out", str(tmp_path / "dir"))
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "dir").iterdir()) == ["metrics.json", "samples.png"]


def test_sample_from_a_non_vae_suggests_a_vae(digits_run, tmp_path, capsys):
    _, run_dir = digits_run
    code, _, err = run(capsys, "sample", str(run_dir / "model.npz"), "--out", str(tmp_path / "g.png"))
    assert_one_line_error(code, err, "needs a VAE", "an Autoencoder", "npae train --model vae")
    assert not (tmp_path / "g.png").exists()


def test_denoise_reports_psnr_of_the_seeded_corruption(digits_run, tmp_path, capsys):
    from npae.models.denoising import psnr
    from npae.noise import corrupt

    _, run_dir = digits_run
    fig = tmp_path / "sp.png"
    code, out, err = run(capsys, "denoise", str(run_dir / "model.npz"), "--noise", "salt_pepper",
                         "--noise-level", "0.2", "--seed", "5", "--n-show", "4", "--out", str(fig))
    assert code == 0, err
    assert fig.read_bytes()[:4] == b"\x89PNG"
    metrics = json.loads(fig.with_suffix(".json").read_text())
    _, _, X_test, _, _ = cli.load_training_data("digits")
    X_noisy = corrupt(X_test, 5, noise="salt_pepper", noise_level=0.2)
    denoised = npae.load(run_dir / "model.npz").reconstruct(X_noisy)
    assert metrics["psnr_noisy_db"] == pytest.approx(psnr(X_test, X_noisy), rel=1e-6)
    assert metrics["psnr_denoised_db"] == pytest.approx(psnr(X_test, denoised), rel=1e-5)
    assert metrics["psnr_gain_db"] == pytest.approx(metrics["psnr_denoised_db"] - metrics["psnr_noisy_db"])
    assert (metrics["noise"], metrics["noise_level"]) == ("salt_pepper", 0.2)
    assert "noisy vs clean" in out and "denoised vs clean" in out


def test_denoise_defaults_to_the_denoisers_own_noise(tmp_path, capsys):
    run_dir = tmp_path / "dae"
    code, _, err = run(capsys, "train", *SMALL, "--model", "denoising", "--noise", "masking", "--noise-level",
                       "0.25", "--out", str(run_dir), "--quiet")
    assert code == 0, err
    code, out, err = run(capsys, "denoise", str(run_dir))
    assert code == 0, err
    metrics = json.loads((run_dir / "denoise-masking-0p25.json").read_text())
    assert (metrics["noise"], metrics["noise_level"]) == ("masking", 0.25)
    assert metrics["model_class"] == "DenoisingAutoencoder"
    assert (run_dir / "denoise-masking-0p25.png").is_file() and "masking noise, level 0.25" in out


def test_denoise_bad_noise_is_one_line(digits_run, capsys):
    _, run_dir = digits_run
    code, _, err = run(capsys, "denoise", str(run_dir), "--noise", "speckle")
    assert_one_line_error(code, err, "Unknown --noise 'speckle'", "'salt_pepper'")
    code, _, err = run(capsys, "denoise", str(run_dir), "--noise", "masking", "--noise-level", "1.5")
    assert_one_line_error(code, err, "--noise-level", "(0, 1)", "1.5")
    code, _, err = run(capsys, "denoise", str(run_dir), "--out", str(run_dir / "fig.txt"))
    assert_one_line_error(code, err, "--out", ".png")


def test_noise_kinds_match_the_library():
    from npae.anomaly import SCORES
    from npae.noise import NOISE_KINDS

    assert cli._NOISE_KINDS == NOISE_KINDS and cli._ANOMALY_SCORES == SCORES


# ------------------------------------------------------------------------------ detect
def test_detect_one_class_matches_an_independent_pca_baseline(tmp_path, capsys):
    from sklearn.decomposition import PCA
    from sklearn.metrics import roc_auc_score

    out = tmp_path / "det"
    code, text, err = run(capsys, "detect", "--dataset", "digits", "--normal-class", "0", *TINY, "--max-test", "0",
                          "--out", str(out))
    assert code == 0, err
    metrics = json.loads((out / "metrics.json").read_text())
    assert sorted(metrics["files"]) == ["metrics.json", "roc.png", "scores.png"]
    assert (out / "roc.png").read_bytes()[:4] == b"\x89PNG"
    auroc = metrics["auroc"]["class-0"]
    assert set(auroc) == {"ae (reconstruction)", "PCA reconstruction (K=4)", "IsolationForest"}
    assert all(0.0 <= v <= 1.0 for v in auroc.values())
    X_train, y_train, X_test, y_test, _ = cli.load_training_data("digits")
    pca = PCA(4, random_state=0).fit(X_train[y_train == 0])
    error = np.sum((X_test - pca.inverse_transform(pca.transform(X_test))) ** 2, axis=1)
    assert auroc["PCA reconstruction (K=4)"] == pytest.approx(roc_auc_score(y_test != 0, error), abs=1e-9)
    assert metrics["params"]["loss"] == "mse"  # detect's default loss
    assert "AUROC" in text and "PCA reconstruction (K=4)" in text


def test_detect_several_classes_have_a_mean_row(tmp_path, capsys):
    out = tmp_path / "det"
    code, text, err = run(capsys, "detect", "--dataset", "digits", "--normal-class", "1,7", *TINY, "--max-test",
                          "100", "--out", str(out))
    assert code == 0, err
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["auroc"]) == {"class-1", "class-7"}
    for method, mean in metrics["mean_auroc"].items():
        assert mean == pytest.approx((metrics["auroc"]["class-1"][method] + metrics["auroc"]["class-7"][method]) / 2)
    assert metrics["results"]["class-1"]["n_test"] == 100
    assert (out / "roc-class-7.png").is_file() and "mean" in text


def test_detect_errors_are_one_line(tmp_path, capsys, monkeypatch):
    from npae import datasets

    for var in ("NPAE_DATA", "NPAE_CACHE"):  # so that MNIST is found nowhere
        monkeypatch.setenv(var, str(tmp_path / "empty"))
    monkeypatch.setattr(datasets, "SYSTEM_DATA_DIR", tmp_path / "empty")
    code, _, err = run(capsys, "detect", "--normal-class", "0", "--score", "elbo", "--out", str(tmp_path / "d"))
    assert_one_line_error(code, err, "--score elbo", "--model vae")
    code, _, err = run(capsys, "detect", "--dataset", "digits")
    assert_one_line_error(code, err, "--normal-class", "--ood")
    code, _, err = run(capsys, "detect", "--dataset", "digits", "--normal-class", "11")
    assert_one_line_error(code, err, "--normal-class 11", "labels: 0, 1")
    code, _, err = run(capsys, "detect", "--dataset", "digits", "--ood", "mnist")
    assert_one_line_error(code, err, "Fashion-MNIST", "embedded")
    code, _, err = run(capsys, "detect", "--ood", "mnist", "--mnist-dir", str(tmp_path), "--out", str(tmp_path / "d"))
    assert_one_line_error(code, err, "MNIST test files", "--mnist-dir")
    assert not (tmp_path / "d").exists()


@pytest.mark.skipif(not (MNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file(), reason="no MNIST test set here")
def test_detect_ood_mnist_with_vae_scores(tmp_path, capsys):
    out = tmp_path / "ood"
    code, text, err = run(capsys, "detect", "--model", "vae", "--ood", "mnist", "--mnist-dir", str(MNIST_DIR),
                          "--score", "elbo", "elbo_complexity", "--k", "4", *TINY, "--max-test", "60",
                          "--out", str(out))
    assert code == 0, err
    metrics = json.loads((out / "metrics.json").read_text())
    result = metrics["results"]["ood-mnist"]
    assert (result["n_test"], result["n_anomalous"]) == (120, 60)
    assert set(metrics["auroc"]["ood-mnist"]) == {"vae (elbo)", "vae (elbo_complexity)",
                                                  "PCA reconstruction (K=4)", "IsolationForest"}
    assert (out / "roc.png").is_file() and "mean log-likelihood" in text


# ------------------------------------------------------------------------------ gradcheck
@pytest.mark.parametrize("backend", ["numpy", "array_api_strict"])
@pytest.mark.parametrize("model", ["ae", "sparse", "denoising", "contractive", "vae"])
def test_gradcheck_prints_every_parameter_and_passes(capsys, model, backend):
    code, out, err = run(capsys, "gradcheck", "--model", model, "--backend", backend)
    assert code == 0, out + err
    expected = {"ae": 8, "sparse": 8, "denoising": 8, "contractive": 8, "vae": 10}[model]
    rows = [line.split() for line in out.splitlines() if line.strip().startswith(("encoder.", "decoder."))]
    assert len(rows) == expected and all(row[-1] == "ok" and float(row[-2]) < 1e-6 for row in rows)
    assert ("encoder.logvar.W" in out) == (model == "vae")
    assert "passed: worst" in out


def test_gradcheck_exit_status_1_when_a_check_fails(capsys):
    code, out, _ = run(capsys, "gradcheck", "--model", "ae", "--tol", "1e-30")
    assert code == 1
    assert "FAIL" in out and "FAILED" in out


def test_gradcheck_bad_option_is_one_line(capsys):
    code, _, err = run(capsys, "gradcheck", "--model", "ae", "--n", "0")
    assert_one_line_error(code, err, "--n must be a positive integer")
