"""``npae denoise``: PSNR of a seeded corruption before and after a saved model, and its figure."""

import json

import pytest

import npae
from npae import cli
from npae.metrics import psnr
from npae.noise import NOISE_KINDS, corrupt


def test_denoise_reports_psnr_of_the_seeded_corruption(digits_run, tmp_path, run):
    _, run_dir = digits_run
    fig = tmp_path / "sp.png"
    code, out, err = run("denoise", str(run_dir / "model.npz"), "--noise", "salt_pepper", "--noise-level", "0.2",
                         "--seed", "5", "--n-show", "4", "--out", str(fig))
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


def test_denoise_defaults_to_the_denoisers_own_noise(tmp_path, run, small):
    run_dir = tmp_path / "dae"
    code, _, err = run("train", *small, "--model", "denoising", "--noise", "masking", "--noise-level", "0.25",
                       "--out", str(run_dir), "--quiet")
    assert code == 0, err
    code, out, err = run("denoise", str(run_dir))
    assert code == 0, err
    metrics = json.loads((run_dir / "denoise-masking-0p25.json").read_text())
    assert (metrics["noise"], metrics["noise_level"]) == ("masking", 0.25)
    assert metrics["model_class"] == "DenoisingAutoencoder"
    assert (run_dir / "denoise-masking-0p25.png").is_file() and "masking noise, level 0.25" in out


def test_denoise_bad_noise_is_one_line(digits_run, run, assert_one_line_error):
    _, run_dir = digits_run
    code, _, err = run("denoise", str(run_dir), "--noise", "speckle")
    assert_one_line_error(code, err, "Unknown --noise 'speckle'", "'salt_pepper'")
    code, _, err = run("denoise", str(run_dir), "--noise", "masking", "--noise-level", "1.5")
    assert_one_line_error(code, err, "--noise-level", "(0, 1)", "1.5")
    code, _, err = run("denoise", str(run_dir), "--out", str(run_dir / "fig.txt"))
    assert_one_line_error(code, err, "--out", ".png")


def test_denoise_offers_every_noise_kind_of_the_library(run):
    code, out, _ = run("denoise", "--help")
    assert code == 0
    assert "--noise {" + ",".join(NOISE_KINDS) + "}" in out


def test_denoise_refuses_to_replace_an_existing_out_without_force(digits_run, tmp_path, run, assert_one_line_error):
    _, run_dir = digits_run
    fig = tmp_path / "fig.png"
    fig.write_bytes(b"keep me")
    args = ("denoise", str(run_dir / "model.npz"), "--noise", "masking", "--n-show", "2", "--out", str(fig))
    code, _, err = run(*args)
    assert_one_line_error(code, err, "already exist", "fig.png", "--force")
    assert fig.read_bytes() == b"keep me"
    code, _, err = run(*args, "--force")
    assert code == 0, err
    assert fig.read_bytes()[:4] == b"\x89PNG"
