"""``npae sample``: a seeded grid of images from a saved VAE's prior."""

import json

import pytest

import npae


def test_sample_draws_a_seeded_grid(vae_run, tmp_path, run):
    grid = tmp_path / "grid.png"
    code, out, err = run("sample", str(vae_run / "model.npz"), "-n", "12", "--cols", "4", "--seed", "3",
                         "--out", str(grid))
    assert code == 0, err
    assert grid.read_bytes()[:4] == b"\x89PNG" and str(grid) in out
    metrics = json.loads(grid.with_suffix(".json").read_text())
    X = npae.to_numpy(npae.load(vae_run / "model.npz").sample(12, random_state=3))
    assert metrics["n_samples"] == 12 and metrics["mean"] == pytest.approx(float(X.mean()), rel=1e-6)
    code, _, err = run("sample", str(vae_run), "-n", "4", "--out", str(tmp_path / "dir"))
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "dir").iterdir()) == ["metrics.json", "samples.png"]


def test_sample_from_a_non_vae_suggests_a_vae(digits_run, tmp_path, run, assert_one_line_error):
    _, run_dir = digits_run
    code, _, err = run("sample", str(run_dir / "model.npz"), "--out", str(tmp_path / "g.png"))
    assert_one_line_error(code, err, "needs a VAE", "an Autoencoder", "npae train --model vae")
    assert not (tmp_path / "g.png").exists()


@pytest.mark.parametrize("out, existing", [("grid.png", "grid.png"), ("grid.png", "grid.json"),
                                           ("dir", "dir/samples.png"), ("dir", "dir/metrics.json")])
def test_sample_refuses_to_replace_an_existing_out_without_force(vae_run, tmp_path, run, assert_one_line_error,
                                                                 out, existing):
    target = tmp_path / existing
    target.parent.mkdir(exist_ok=True)
    target.write_bytes(b"keep me")
    code, _, err = run("sample", str(vae_run / "model.npz"), "-n", "4", "--out", str(tmp_path / out))
    assert_one_line_error(code, err, "already exist", existing.split("/")[-1], "--force")
    assert target.read_bytes() == b"keep me"
    code, _, err = run("sample", str(vae_run / "model.npz"), "-n", "4", "--out", str(tmp_path / out), "--force")
    assert code == 0, err
    assert target.read_bytes() != b"keep me"


def test_no_command_writes_over_a_training_runs_own_record(vae_run, tmp_path, run, assert_one_line_error):
    """--out RUN (with --force) would replace the metrics.json 'npae evaluate RUN' reads its dataset from."""
    record = (vae_run / "metrics.json").read_bytes()
    for argv in (("sample", str(vae_run), "-n", "4"), ("evaluate", str(vae_run))):
        code, _, err = run(*argv, "--out", str(vae_run), "--force")
        assert_one_line_error(code, err, "is a training run directory", "choose another --out")
    assert (vae_run / "metrics.json").read_bytes() == record
