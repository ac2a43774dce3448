"""Checkpoints: exact round trips, atomic writes, and refusal of every kind of bad file."""

import json
import os
import zipfile

import numpy as np
import pytest

import npae
from npae import io
from npae.io import CheckpointError


@pytest.fixture
def saved(tmp_path, rng):
    X = rng.random((30, 6))
    ae = npae.Autoencoder(hidden_sizes=(5,), latent_dim=2, epochs=2, batch_size=8, random_state=0, verbose=0).fit(X)
    path = tmp_path / "ae.npz"
    ae.save(path)
    return ae, path, X


def _rewrite(path, out, mutate_arrays=None, mutate_config=None):
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    config = json.loads(bytes(arrays.pop("__config__")).decode())
    if mutate_arrays:
        mutate_arrays(arrays)
    if mutate_config:
        mutate_config(config)
    payload = np.frombuffer(json.dumps(config).encode(), dtype=np.uint8)
    np.savez(out, __config__=payload, **arrays)
    return out


def test_round_trip_is_exact(saved):
    ae, path, X = saved
    loaded = npae.load(path)
    for k, v in ae.parameters().items():
        np.testing.assert_array_equal(loaded.parameters()[k], v)
    assert loaded.get_params() == ae.get_params()
    np.testing.assert_array_equal(loaded.score_samples(X), ae.score_samples(X))


def test_load_never_unpickles(saved, tmp_path):
    _, path, _ = saved
    evil = tmp_path / "evil.npz"
    _rewrite(path, evil, mutate_arrays=lambda a: a.__setitem__("param:encoder.0.W", np.array([object()], dtype=object)))
    with pytest.raises(CheckpointError, match="not a readable npae checkpoint"):
        npae.load(evil)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_damaged_files_are_refused(saved, tmp_path, damage):
    _, path, _ = saved
    bad = tmp_path / "bad.npz"
    raw = path.read_bytes()
    bad.write_bytes({"truncated": raw[: len(raw) // 2], "garbage": os.urandom(len(raw)), "empty": b""}[damage])
    with pytest.raises(CheckpointError, match="truncated or corrupted"):
        npae.load(bad)


def test_corrupted_member_is_refused(saved, tmp_path):
    _, path, _ = saved
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 3] ^= 0xFF  # flip bits inside a stored array: the zip CRC catches it
    bad = tmp_path / "flipped.npz"
    bad.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError):
        npae.load(bad)


def test_foreign_npz_is_refused(tmp_path):
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, weights=np.ones(3))
    with pytest.raises(CheckpointError, match="not an npae checkpoint"):
        npae.load(foreign)


def test_newer_format_version_is_refused(saved, tmp_path):
    _, path, _ = saved
    newer = _rewrite(path, tmp_path / "newer.npz", mutate_config=lambda c: c.update(format_version=99))
    with pytest.raises(CheckpointError, match="format version 99, newer than this npae"):
        npae.load(newer)


def test_unknown_class_is_refused(saved, tmp_path):
    _, path, _ = saved
    other = _rewrite(path, tmp_path / "other.npz", mutate_config=lambda c: c.update({"class": "Pickle"}))
    with pytest.raises(CheckpointError, match="'Pickle', which is not an npae model"):
        npae.load(other)


def test_renamed_parameter_is_refused(saved, tmp_path):
    _, path, _ = saved

    def rename(arrays):
        arrays["param:encoder.9.W"] = arrays.pop("param:encoder.0.W")

    renamed = _rewrite(path, tmp_path / "renamed.npz", mutate_arrays=rename)
    with pytest.raises(CheckpointError, match=r"missing \['encoder.0.W'\], unexpected \['encoder.9.W'\]"):
        npae.load(renamed)


@pytest.mark.parametrize("what", ["shape", "dtype", "nan"])
def test_wrong_shape_dtype_or_values_are_refused(saved, tmp_path, what):
    _, path, _ = saved

    def damage(arrays):
        W = arrays["param:encoder.0.W"]
        arrays["param:encoder.0.W"] = {"shape": W[:-1], "dtype": W.astype(np.float64), "nan": W * np.nan}[what]

    bad = _rewrite(path, tmp_path / f"{what}.npz", mutate_arrays=damage)
    with pytest.raises(CheckpointError, match="parameter encoder.0.W"):
        npae.load(bad)


def test_crash_mid_save_keeps_the_previous_checkpoint(saved, monkeypatch):
    ae, path, X = saved
    before = path.read_bytes()

    def crash(handle, **arrays):
        handle.write(b"PK\x03\x04 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(io.np, "savez", crash)
    ae.fit(X)  # the model changes...
    with pytest.raises(OSError, match="disk full"):
        ae.save(path)  # ...but the save fails midway
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == ["ae.npz"]  # no temporary file left behind
    npae.load(path)


def test_missing_file_is_a_file_not_found_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="No checkpoint at"):
        npae.load(tmp_path / "nope.npz")


def test_saving_an_unfitted_model_is_refused(tmp_path):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        npae.Autoencoder().save(tmp_path / "x.npz")


def test_the_file_is_a_plain_zip_with_a_json_config(saved):
    _, path, _ = saved
    with zipfile.ZipFile(path) as z:
        assert "__config__.npy" in z.namelist()
    _, config = io.read_checkpoint(path)
    assert config["class"] == "Autoencoder" and config["format_version"] == io.FORMAT_VERSION
    assert config["npae_version"] == npae.__version__


def test_optimizer_state_round_trip_is_exact(saved):
    ae, path, _ = saved
    loaded = npae.load(path)
    assert loaded.optimizer_.iterations == ae.optimizer_.iterations
    for before, after in zip(ae.optimizer_.state, loaded.optimizer_.state):
        assert sorted(after) == ["m", "v"]
        for key in before:
            np.testing.assert_array_equal(after[key], before[key])


def test_format_2_checkpoint_with_adam_running_sums_is_read_and_converted(saved, tmp_path):
    ae, path, X = saved
    moments = ae.optimizer_.moments()

    def to_format_2(arrays):  # what npae wrote while Adam kept running sums m / (1 − β₁), v / (1 − β₂)
        for i, (m, v) in enumerate(moments):
            del arrays[f"optim:{i}.m"], arrays[f"optim:{i}.v"]
            arrays[f"optim:{i}.m_sum"] = m / (1 - ae.optimizer_.beta1)
            arrays[f"optim:{i}.v_sum"] = v / (1 - ae.optimizer_.beta2)

    old = _rewrite(path, tmp_path / "v2.npz", mutate_arrays=to_format_2,
                   mutate_config=lambda c: c.update(format_version=2))
    loaded = npae.load(old)
    for before, after in zip(ae.optimizer_.state, loaded.optimizer_.state):
        assert sorted(after) == ["m", "v"]
        for key in ("m", "v"):
            assert after[key].dtype == before[key].dtype
            np.testing.assert_allclose(after[key], before[key], rtol=1e-6, atol=1e-12)
    loaded.set_params(warm_start=True, epochs=1).fit(X)  # and training resumes from it
    assert loaded.optimizer_.iterations > ae.optimizer_.iterations


def test_format_1_checkpoint_is_read_as_it_is(saved, tmp_path):
    ae, path, _ = saved
    old = _rewrite(path, tmp_path / "v1.npz", mutate_config=lambda c: c.update(format_version=1))
    loaded = npae.load(old)
    for before, after in zip(ae.optimizer_.state, loaded.optimizer_.state):
        for key in ("m", "v"):
            np.testing.assert_array_equal(after[key], before[key])
