"""``npae detect``: AUROC of an autoencoder's anomaly score beside PCA and IsolationForest."""

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.metrics import roc_auc_score

from npae import cli, datasets
from npae.applications.detector import SCORES
from npae.cli.detect import CLI_SCORES

MNIST_DIR = Path("/work/shared/data/mnist")
TINY = ["--epochs", "1", "--hidden-sizes", "16", "--latent-dim", "4", "--batch-size", "256"]


def test_detect_one_class_matches_an_independent_pca_baseline(tmp_path, run):
    out = tmp_path / "det"
    code, text, err = run("detect", "--dataset", "digits", "--normal-class", "0", *TINY, "--max-test", "0",
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


def test_detect_several_classes_have_a_mean_row(tmp_path, run):
    out = tmp_path / "det"
    code, text, err = run("detect", "--dataset", "digits", "--normal-class", "1,7", *TINY, "--max-test", "100",
                          "--out", str(out))
    assert code == 0, err
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["auroc"]) == {"class-1", "class-7"}
    for method, mean in metrics["mean_auroc"].items():
        assert mean == pytest.approx((metrics["auroc"]["class-1"][method] + metrics["auroc"]["class-7"][method]) / 2)
    assert metrics["results"]["class-1"]["n_test"] == 100
    assert (out / "roc-class-7.png").is_file() and "mean" in text


def test_detect_errors_are_one_line(tmp_path, run, assert_one_line_error, monkeypatch):
    for var in ("NPAE_DATA", "NPAE_CACHE"):  # so that MNIST is found nowhere
        monkeypatch.setenv(var, str(tmp_path / "empty"))
    monkeypatch.setattr(datasets, "SYSTEM_DATA_DIR", tmp_path / "empty")
    code, _, err = run("detect", "--normal-class", "0", "--score", "elbo", "--out", str(tmp_path / "d"))
    assert_one_line_error(code, err, "--score elbo", "--model vae")
    code, _, err = run("detect", "--dataset", "digits")
    assert_one_line_error(code, err, "--normal-class", "--ood")
    code, _, err = run("detect", "--dataset", "digits", "--normal-class", "11")
    assert_one_line_error(code, err, "--normal-class 11", "labels: 0, 1")
    code, _, err = run("detect", "--dataset", "digits", "--ood", "mnist")
    assert_one_line_error(code, err, "Fashion-MNIST", "embedded")
    code, _, err = run("detect", "--ood", "mnist", "--mnist-dir", str(tmp_path), "--out", str(tmp_path / "d"))
    assert_one_line_error(code, err, "MNIST test files", "--mnist-dir")
    assert not (tmp_path / "d").exists()


def test_detect_refuses_a_pca_baseline_wider_than_the_table_before_training(tmp_path, run, assert_one_line_error):
    rng = np.random.default_rng(0)
    table = tmp_path / "table.npz"
    np.savez(table, X_train=rng.normal(size=(60, 6)), y_train=np.repeat([0, 1], 30),
             X_test=rng.normal(size=(20, 6)), y_test=np.repeat([0, 1], 10))
    code, _, err = run("detect", "--dataset", str(table), "--normal-class", "0", "--out", str(tmp_path / "d"))
    assert_one_line_error(code, err, "--latent-dim=32", "min(class-0's training rows, features) = min(30, 6) = 6",
                          "Pass --latent-dim between 1 and 6")
    assert "Epoch" not in err and not (tmp_path / "d").exists()  # refused before any training
    code, text, err = run("detect", "--dataset", str(table), "--normal-class", "0", *TINY, "--out",
                          str(tmp_path / "ok"))
    assert code == 0, err
    assert "10 of 20 test rows are anomalies" in text and "test images" not in text  # a table has rows


def test_detect_offers_every_score_of_the_library(run, assert_one_line_error):
    code, out, _ = run("detect", "--help")
    assert code == 0
    assert set(SCORES) < set(CLI_SCORES) and "gaussian" in CLI_SCORES
    assert "one or more of " + ", ".join(CLI_SCORES) + ";" in " ".join(out.split())
    code, _, err = run("detect", "--normal-class", "0", "--score", "elbo_complexit")
    assert_one_line_error(code, err, "Unknown --score 'elbo_complexit'", *map(repr, CLI_SCORES),
                          "Did you mean 'elbo_complexity'?")


def test_detect_scores_one_model_with_its_reconstruction_and_the_gaussian_score(tmp_path, run):
    out = tmp_path / "gauss"
    code, text, err = run("detect", "--dataset", "digits", "--normal-class", "0", *TINY, "--max-test", "0",
                          "--score", "reconstruction", "gaussian", "--out", str(out))
    assert code == 0, err
    auroc = json.loads((out / "metrics.json").read_text())["auroc"]["class-0"]
    assert {"ae (reconstruction)", "ae (gaussian)"} <= set(auroc)
    assert all(0.0 <= v <= 1.0 for v in auroc.values()) and auroc["ae (gaussian)"] != auroc["ae (reconstruction)"]


@pytest.mark.skipif(not (MNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file(), reason="no MNIST test set here")
def test_detect_ood_mnist_with_vae_scores(tmp_path, run):
    out = tmp_path / "ood"
    code, text, err = run("detect", "--model", "vae", "--ood", "mnist", "--mnist-dir", str(MNIST_DIR),
                          "--score", "elbo", "elbo_complexity", "--k", "4", *TINY, "--max-test", "60",
                          "--out", str(out))
    assert code == 0, err
    metrics = json.loads((out / "metrics.json").read_text())
    result = metrics["results"]["ood-mnist"]
    assert (result["n_test"], result["n_anomalous"]) == (120, 60)
    assert set(metrics["auroc"]["ood-mnist"]) == {"vae (elbo)", "vae (elbo_complexity)",
                                                  "PCA reconstruction (K=4)", "IsolationForest"}
    assert (out / "roc.png").is_file() and "mean log-likelihood" in text
