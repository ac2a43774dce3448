"""Checkpoints: exact round trips, atomic writes, and refusal of every kind of bad file."""

import json
import os
import re
import stat
import zipfile
from io import BytesIO

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
    ae, path, _ = saved
    raw = bytearray(path.read_bytes())
    start = bytes(raw).find(np.asarray(ae.parameters()["encoder.0.W"]).tobytes())
    assert start > 0
    raw[start + 5] ^= 0xFF  # flip bits inside a stored array: the zip CRC catches it
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


# ---------------------------------------------------------------- what a save may replace (item 4)
def test_save_refuses_a_fifo_and_leaves_it_a_fifo(saved, tmp_path):
    ae, _, _ = saved
    fifo = tmp_path / "pipe.npz"
    os.mkfifo(fifo)
    with pytest.raises(CheckpointError, match=r"pipe\.npz' is a FIFO \(named pipe\), not a regular file"):
        ae.save(fifo)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ae.npz", "pipe.npz"]  # no temporary file left


def test_save_refuses_a_device_node_it_would_replace(saved, tmp_path):
    ae, _, _ = saved
    node = tmp_path / "null.npz"
    try:
        os.mknod(node, stat.S_IFCHR | 0o600, os.makedev(1, 3))  # a /dev/null twin, inside tmp_path only
    except (PermissionError, AttributeError):
        pytest.skip("creating a device node needs root")
    with pytest.raises(CheckpointError, match="is a character device, not a regular file"):
        ae.save(node)
    assert stat.S_ISCHR(os.lstat(node).st_mode)


def test_save_refuses_a_symlink_and_changes_neither_link_nor_target(saved, tmp_path):
    ae, path, _ = saved
    link = tmp_path / "latest.npz"
    link.symlink_to(path)
    before = path.read_bytes()
    with pytest.raises(CheckpointError, match=r"latest\.npz' is a symbolic link; .*Save to its target, .*ae\.npz"):
        ae.save(link)
    assert link.is_symlink() and os.readlink(link) == str(path) and path.read_bytes() == before
    dangling = tmp_path / "dangling.npz"
    dangling.symlink_to(tmp_path / "nowhere.npz")
    with pytest.raises(CheckpointError, match="is a symbolic link"):
        ae.save(dangling)
    assert not (tmp_path / "nowhere.npz").exists()


def test_save_refuses_a_directory(saved, tmp_path):
    ae, _, _ = saved
    (tmp_path / "dir.npz").mkdir()
    with pytest.raises(CheckpointError, match=r"dir\.npz' is a directory, not a regular file"):
        ae.save(tmp_path / "dir.npz")


def test_save_into_a_symlinked_directory_works(saved, tmp_path):
    ae, _, X = saved
    (tmp_path / "real").mkdir()
    (tmp_path / "via").symlink_to(tmp_path / "real", target_is_directory=True)
    ae.save(tmp_path / "via" / "m.npz")
    assert (tmp_path / "real" / "m.npz").is_file()
    np.testing.assert_array_equal(npae.load(tmp_path / "via" / "m.npz").transform(X), ae.transform(X))


def test_load_refuses_a_fifo_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.npz"
    os.mkfifo(fifo)
    with pytest.raises(CheckpointError, match="FIFO"):
        npae.load(fifo)


def _without_training_state(config):
    del config["training"]


def test_a_checkpoint_without_a_training_state_still_loads_and_trains(saved, tmp_path):
    """Checkpoints written before npae saved the training stream load as before; partial_fit
    then starts the stream of random_state."""
    ae, path, X = saved
    old = _rewrite(path, tmp_path / "old.npz", mutate_config=_without_training_state)
    loaded = npae.load(old)
    np.testing.assert_array_equal(loaded.transform(X), ae.transform(X))
    loaded.partial_fit(X)
    assert len(loaded.history_["loss"]) == 3


@pytest.mark.parametrize("training, match", [
    ("not a mapping", "'training' must be a mapping"),
    ({"rng_seed": 0, "rng": {"bit_generator": "MT19937"}}, "random stream state must be a mapping naming one of"),
    ({"rng_seed": 0, "rng": {"bit_generator": "PCG64", "state": {"state": "x", "inc": 1},
                             "has_uint32": 0, "uinteger": 0}}, "PCG64 random stream state is malformed"),
    ({"rng_seed": 1.5}, "rng_seed must be an integer or null"),
])
def test_a_malformed_training_state_is_a_checkpoint_error(saved, tmp_path, training, match):
    _, path, _ = saved
    bad = _rewrite(path, tmp_path / "bad.npz", mutate_config=lambda c: c.__setitem__("training", training))
    with pytest.raises(CheckpointError, match=re.escape("has an invalid training state for Autoencoder: ")
                       + ".*" + match):
        npae.load(bad)


def test_a_malformed_denoiser_data_range_is_a_checkpoint_error(tmp_path, rng):
    X = rng.random((30, 6))
    dae = npae.DenoisingAutoencoder(hidden_sizes=(5,), latent_dim=2, epochs=1, batch_size=8, random_state=0,
                                    verbose=0, loss="mse").fit(X)
    dae.save(tmp_path / "d.npz")
    bad = _rewrite(tmp_path / "d.npz", tmp_path / "bad.npz",
                   mutate_config=lambda c: c["training"].__setitem__("data_range", [2.0, 1.0]))
    with pytest.raises(CheckpointError, match=r"data_range must be \[low, high\].*got \[2\.0, 1\.0\]"):
        npae.load(bad)


def test_the_training_stream_is_saved_for_a_pcg64_generator_only(tmp_path, rng):
    X = rng.random((30, 6))
    kw = dict(hidden_sizes=(5,), latent_dim=2, epochs=1, batch_size=8, verbose=0)
    mt = npae.Autoencoder(random_state=np.random.Generator(np.random.MT19937(1)), **kw).fit(X)
    mt.save(tmp_path / "mt.npz")
    with np.load(tmp_path / "mt.npz", allow_pickle=False) as data:
        config = json.loads(bytes(data["__config__"]).decode())
    assert config["training"] == {"rng_seed": None}  # MT19937's state holds an array: not stored
    npae.load(tmp_path / "mt.npz").partial_fit(X)  # and the model still trains


def _open_fds():
    return len(os.listdir("/proc/self/fd"))


def test_load_refuses_a_directory_naming_it_and_closes_its_fd(tmp_path):
    folder = tmp_path / "model.npz"
    folder.mkdir()
    with pytest.raises(CheckpointError, match=re.escape(f"{str(folder)!r} is a directory, not a checkpoint file")):
        npae.load(folder)
    if not os.path.isdir("/proc/self/fd"):
        return
    before = _open_fds()
    for _ in range(20):
        with pytest.raises(CheckpointError):
            npae.load(folder)
    assert _open_fds() == before


def test_save_refuses_non_finite_weights_and_writes_nothing(saved, tmp_path):
    ae, path, _ = saved
    before = path.read_bytes()
    ae.parameters()["decoder.0.b"][0] = np.nan
    with pytest.raises(ValueError, match=r"parameter decoder\.0\.b contains NaN or infinity \(a diverged fit\)"):
        ae.save(path)
    assert path.read_bytes() == before
    with pytest.raises(ValueError, match="contains NaN or infinity"):
        ae.save(tmp_path / "new.npz")
    assert not (tmp_path / "new.npz").exists()


def test_save_refuses_a_non_finite_optimizer_state(saved, tmp_path):
    ae, _, _ = saved
    ae.optimizer_.state[0]["v"][...] = np.inf
    with pytest.raises(ValueError, match=r"optimizer state 0\.v contains NaN or infinity"):
        ae.save(tmp_path / "new.npz")
    ae.save(tmp_path / "new.npz", include_optimizer=False)  # the weights alone are fine
    assert npae.load(tmp_path / "new.npz").optimizer_.state == []


# ---------------------------------------------------------------- permissions (item 17)
@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_a_new_checkpoint_gets_the_mode_open_would_give_it(saved, tmp_path, umask, mode):
    ae, _, _ = saved
    old = os.umask(umask)
    try:
        ae.save(tmp_path / "new.npz")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "new.npz").st_mode) == mode


def test_overwriting_keeps_the_existing_files_mode(saved):
    ae, path, _ = saved
    os.chmod(path, 0o640)
    ae.save(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    os.chmod(path, 0o604)
    ae.save(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o604


# ---------------------------------------------------------------- never write what cannot be read (item 7)
def test_a_file_that_does_not_read_back_is_never_put_at_the_path(saved, monkeypatch):
    ae, path, _ = saved
    before = path.read_bytes()
    real = io._inspect
    monkeypatch.setattr(io, "_inspect", lambda p, max_bytes: (real(p, max_bytes=max_bytes)[0], {"class": "Other"}))
    with pytest.raises(CheckpointError, match="does not read back as written"):
        ae.save(path)
    assert path.read_bytes() == before and [p.name for p in path.parent.iterdir()] == ["ae.npz"]


def test_bytes_that_are_not_a_zip_are_a_checkpoint_error_naming_the_path(saved, monkeypatch):
    ae, path, _ = saved
    before = path.read_bytes()
    monkeypatch.setattr(io.np, "savez", lambda handle, **members: handle.write(b"PK\x03\x04 cut short"))
    with pytest.raises(CheckpointError, match=rf"written for '{path}' does not read back \(BadZipFile.*nothing was"):
        ae.save(path)
    assert path.read_bytes() == before and [p.name for p in path.parent.iterdir()] == ["ae.npz"]
    with pytest.raises(CheckpointError, match="does not read back"):
        ae.save(BytesIO())


def test_a_path_ending_in_a_separator_is_refused_before_anything_is_created(saved, tmp_path):
    ae, _, _ = saved
    with pytest.raises(CheckpointError, match=r"ends in a path separator.*runs/best/model\.npz"):
        ae.save(str(tmp_path / "runs" / "best") + os.sep)
    assert not (tmp_path / "runs").exists()


def test_a_stateless_optimizer_keeps_its_step_count_and_a_model_saved_without_state_starts_afresh(tmp_path, rng):
    X = rng.random((30, 6))
    sgd = npae.Autoencoder(hidden_sizes=(5,), latent_dim=2, epochs=2, batch_size=8, optimizer="sgd",
                           random_state=0, verbose=0).fit(X)
    assert sgd.optimizer_.iterations == 8
    sgd.save(tmp_path / "sgd.npz")
    assert npae.load(tmp_path / "sgd.npz").optimizer_.iterations == 8
    adam = npae.Autoencoder(hidden_sizes=(5,), latent_dim=2, epochs=2, batch_size=8, random_state=0,
                            verbose=0).fit(X)
    adam.save(tmp_path / "adam.npz", include_optimizer=False)
    assert npae.load(tmp_path / "adam.npz").optimizer_.iterations == 0  # zero moments: bias correction from step 1


def test_write_checkpoint_refuses_a_config_that_is_not_plain_json(tmp_path):
    with pytest.raises(TypeError, match="not plain JSON .*nothing was written"):
        io.write_checkpoint(tmp_path / "x.npz", {"param:w": np.zeros(2)}, {"class": "X", "n": np.int64(3)})
    assert list(tmp_path.iterdir()) == []


def test_numpy_hyperparameters_from_a_grid_are_saved_as_plain_numbers(tmp_path, rng):
    X = rng.random((20, 6))
    ae = npae.Autoencoder(hidden_sizes=np.arange(4, 12, 4), latent_dim=np.int64(2), epochs=np.int64(1),
                          batch_size=np.int32(8), learning_rate=np.float32(0.01), verbose=np.int64(0),
                          random_state=np.int64(0)).fit(X)
    ae.save(tmp_path / "grid.npz")
    loaded = npae.load(tmp_path / "grid.npz")
    assert loaded.hidden_sizes == (4, 8) and type(loaded.latent_dim) is int and loaded.epochs == 1
    np.testing.assert_array_equal(loaded.transform(X), ae.transform(X))


@pytest.mark.parametrize("value", [{"a": 1}, object()])
def test_a_hyperparameter_that_is_not_plain_is_refused_at_fit(rng, value):
    X = rng.random((10, 4))
    ae = npae.Autoencoder(hidden_sizes=(3,), latent_dim=2, epochs=1, verbose=0, warm_start=value)
    with pytest.raises(TypeError, match=r"^warm_start=.* is not a plain value .*could not be saved"):
        ae.fit(X)
    assert not hasattr(ae, "n_features_in_")


def test_a_generator_random_state_is_saved_as_none(tmp_path, rng):
    X = rng.random((10, 4))
    ae = npae.Autoencoder(hidden_sizes=(3,), latent_dim=2, epochs=1, verbose=0,
                          random_state=np.random.default_rng(1)).fit(X)
    ae.save(tmp_path / "g.npz")
    assert npae.load(tmp_path / "g.npz").random_state is None


# ---------------------------------------------------------------- what load trusts (items 6 and 12)
def test_a_renamed_npy_file_is_not_an_npae_checkpoint(tmp_path):
    fake = tmp_path / "weights.npz"
    with open(fake, "wb") as handle:
        np.save(handle, np.ones((3, 3)))
    with pytest.raises(CheckpointError, match=r"weights\.npz' is a \.npy file \(one NumPy array\), not an npae "
                                              r"checkpoint"):
        npae.load(fake)


def _zip_members(path):
    with zipfile.ZipFile(path) as z:
        return {info.filename: z.read(info) for info in z.infolist()}


def _write_zip(out, members):
    with zipfile.ZipFile(out, "w") as z:
        for name, data in members:
            z.writestr(name, data)
    return out


def test_duplicate_members_are_refused(saved, tmp_path):
    _, path, _ = saved
    members = list(_zip_members(path).items())
    name, data = next((n, d) for n, d in members if n.startswith("param:"))
    with pytest.warns(UserWarning, match="Duplicate name"):
        bad = _write_zip(tmp_path / "dup.npz", members + [(name, data)])
    with pytest.raises(CheckpointError, match=r"holds the members \['param:encoder\.0\.W\.npy'\] more than once"):
        npae.load(bad)


@pytest.mark.parametrize("extra", ["junk.npy", "param:x.txt", "optim", "../escape.npy"])
def test_unknown_members_are_refused_before_any_array_is_read(saved, tmp_path, extra):
    _, path, _ = saved
    buffer = __import__("io").BytesIO()
    np.save(buffer, np.zeros(4))
    bad = _write_zip(tmp_path / "extra.npz", list(_zip_members(path).items()) + [(extra, buffer.getvalue())])
    with pytest.raises(CheckpointError, match="members that are not part of an npae checkpoint"):
        npae.load(bad)


def test_the_decompressed_size_is_capped(saved, monkeypatch):
    _, path, _ = saved
    monkeypatch.setattr(io, "MAX_CHECKPOINT_BYTES", 1000)
    with pytest.raises(CheckpointError, match=r"more than 1000 bytes of arrays once decompressed "
                                              r"\(npae\.io\.MAX_CHECKPOINT_BYTES\)"):
        npae.load(path)
    assert io.read_checkpoint(path, max_bytes=10**6)[1]["class"] == "Autoencoder"


def test_a_member_declaring_more_data_than_it_holds_is_refused_before_reading(saved, tmp_path):
    _, path, _ = saved
    header = __import__("io").BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (10**9,)})
    members = [(n, d) for n, d in _zip_members(path).items() if n != "param:encoder.0.W.npy"]
    bad = _write_zip(tmp_path / "liar.npz", members + [("param:encoder.0.W.npy", header.getvalue() + b"\0" * 16)])
    with pytest.raises(CheckpointError, match=r"member 'param:encoder\.0\.W' declares 4000000000 bytes of data "
                                              r"but holds 16"):
        npae.load(bad)


def test_a_config_declaring_a_huge_network_is_refused_before_anything_is_built(saved, tmp_path, monkeypatch):
    _, path, _ = saved
    big = _rewrite(path, tmp_path / "big.npz", mutate_config=lambda c: c["params"].update(hidden_sizes=[5_000_000]))

    def no_build(*args, **kwargs):
        raise AssertionError("load built the network before checking the config against the file")

    monkeypatch.setattr(npae.Autoencoder, "_build", no_build)
    with pytest.raises(CheckpointError, match=r"declares a Autoencoder of at least 80000000 weights .*but the file "
                                              r"stores 98 parameter values; nothing was built"):
        npae.load(big)
    wide = _rewrite(path, tmp_path / "wide.npz", mutate_config=lambda c: c.update(n_features_in=10**7))
    with pytest.raises(CheckpointError, match="nothing was built"):
        npae.load(wide)


BAD_CONFIGS = [
    ("params not a mapping", lambda c: c.update(params=5), "'params' must be a mapping"),
    ("unknown hyperparameter", lambda c: c["params"].update(nope=1), "nope"),
    ("bad hyperparameter", lambda c: c["params"].update(hidden_sizes="abc"), "hidden_sizes"),
    ("n_features text", lambda c: c.update(n_features_in="6"), "n_features_in must be a positive integer"),
    ("n_features negative", lambda c: c.update(n_features_in=-6), "n_features_in must be a positive integer"),
    ("n_features bool", lambda c: c.update(n_features_in=True), "n_features_in must be a positive integer"),
    ("n_features missing", lambda c: c.pop("n_features_in"), "'n_features_in' is missing"),
    ("history text", lambda c: c.update(history="abc"), "history must map names to lists of numbers"),
    ("history of a number", lambda c: c.update(history={"loss": 5}), "history must map names"),
    ("negative iterations", lambda c: c.update(optimizer_iterations=-1),
     "optimizer_iterations must be a non-negative integer"),
    ("text iterations", lambda c: c.update(optimizer_iterations="3"), "optimizer_iterations must be"),
    ("set_params list", lambda c: c.update(set_params=[1]), "'set_params' must be a mapping"),
    ("set_params unknown", lambda c: c.update(set_params={"nope": 1}), "unknown hyperparameters"),
    ("format text", lambda c: c.update(format_version="3"), "format_version '3'; expected a positive integer"),
    ("class a list", lambda c: c.update({"class": ["Autoencoder"]}), "which is not an npae model"),
]


@pytest.mark.parametrize("label, mutate, message", BAD_CONFIGS, ids=[b[0] for b in BAD_CONFIGS])
def test_malformed_config_fields_are_one_checkpoint_error(saved, tmp_path, label, mutate, message):
    _, path, _ = saved
    bad = _rewrite(path, tmp_path / "bad.npz", mutate_config=mutate)
    with pytest.raises(CheckpointError, match=re.escape(message)):
        npae.load(bad)


def test_a_deeply_nested_config_is_a_checkpoint_error(saved, tmp_path):
    _, path, _ = saved
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    text = bytes(arrays.pop("__config__")).decode()
    text = text[:-1] + ', "deep": ' + "[" * 100_000 + "]" * 100_000 + "}"
    np.savez(tmp_path / "deep.npz", __config__=np.frombuffer(text.encode(), dtype=np.uint8), **arrays)
    with pytest.raises(CheckpointError, match="nested too deeply"):
        npae.load(tmp_path / "deep.npz")


@pytest.mark.parametrize("what, message", [
    ("shape", r"optimizer state 0\.m is float32\(5,\), expected float32\(6, 5\)"),
    ("dtype", r"optimizer state 0\.m is float64\(6, 5\), expected float32\(6, 5\)"),
    ("nan", r"optimizer state 0\.v contains NaN or infinity"),
    ("unknown", r"optimizer state does not match a Adam for this model: missing \[\], unexpected \['99\.m'\]"),
    ("missing", r"missing \['0\.v'\], unexpected \[\]"),
    ("negative", r"optimizer state 0\.v, Adam's second moment .* has negative values"),
])
def test_bad_optimizer_state_is_refused_at_load(saved, tmp_path, what, message):
    _, path, _ = saved

    def damage(arrays):
        m = arrays["optim:0.m"]
        if what == "shape":
            arrays["optim:0.m"] = m[0]
        elif what == "dtype":
            arrays["optim:0.m"] = m.astype(np.float64)
        elif what == "nan":
            arrays["optim:0.v"] = arrays["optim:0.v"] * np.nan
        elif what == "unknown":
            arrays["optim:99.m"] = m
        elif what == "negative":  # a running mean of squares: a negative entry would make the step NaN
            arrays["optim:0.v"] = arrays["optim:0.v"] - 1.0
        else:
            del arrays["optim:0.v"]

    bad = _rewrite(path, tmp_path / f"{what}.npz", mutate_arrays=damage)
    with pytest.raises(CheckpointError, match=message):
        npae.load(bad)


def test_checkpoint_config_is_strict_json_even_with_a_non_finite_history(saved, tmp_path):
    ae, _, _ = saved
    ae.history_["loss"][-1] = float("nan")
    ae.history_["loss"].append(float("inf"))
    path = tmp_path / "nan_history.npz"
    ae.save(path)
    with zipfile.ZipFile(path) as z:
        text = bytes(np.load(z.open("__config__.npy"), allow_pickle=False)).decode()
    json.loads(text, parse_constant=lambda name: pytest.fail(f"bare {name} in the config"))
    assert np.isnan(npae.load(path).history_["loss"][-2:]).all()  # null in the JSON, NaN again after load


# ---------------------------------------------------------------- one open per load (issue 21, item 5)
def _two_checkpoints(tmp_path, rng):
    X = rng.random((30, 6))
    a = npae.Autoencoder(hidden_sizes=(5,), latent_dim=2, epochs=2, batch_size=8, random_state=0, verbose=0).fit(X)
    b = npae.Autoencoder(hidden_sizes=(5,), latent_dim=2, epochs=5, batch_size=8, random_state=1, verbose=0).fit(X)
    a.save(tmp_path / "a.npz")
    b.save(tmp_path / "b.npz")
    return a, b


def _which(model, a, b):
    """'a' or 'b' when ``model`` is wholly one of them (weights, history, optimizer), else None."""
    for name, ref in (("a", a), ("b", b)):
        if model.history_ == ref.history_ and model.optimizer_.iterations == ref.optimizer_.iterations and all(
                np.array_equal(model.parameters()[k], v) for k, v in ref.parameters().items()) and all(
                np.array_equal(model.optimizer_.state_arrays()[k], v)
                for k, v in ref.optimizer_.state_arrays().items()):
            return name
    return None


def test_a_file_replaced_between_reading_the_config_and_the_arrays_is_read_whole(tmp_path, rng):
    a, b = _two_checkpoints(tmp_path, rng)
    path = tmp_path / "live.npz"
    os.replace(tmp_path / "a.npz", path)

    def replace_meanwhile(shapes, config):  # runs after the config is read, before any array
        os.replace(tmp_path / "b.npz", path)

    arrays, config = io.read_checkpoint(path, check=replace_meanwhile)
    assert config["history"] == a.history_
    for key, value in a.parameters().items():
        np.testing.assert_array_equal(arrays[f"param:{key}"], value)


def test_loads_while_a_writer_replaces_the_file_are_each_one_checkpoint(tmp_path, rng):
    import threading

    a, b = _two_checkpoints(tmp_path, rng)
    path = tmp_path / "live.npz"
    a.save(path)
    stop = threading.Event()

    def writer():
        while not stop.is_set():
            for model in (b, a):
                model.save(path)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        seen = [_which(npae.load(path), a, b) for _ in range(25)]
    finally:
        stop.set()
        thread.join()
    assert None not in seen
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".npae-")]


# ---------------------------------------------------------------- paths and file objects (issue 21, item 18)
def test_save_and_load_take_binary_file_objects(saved):
    import io as stdio

    ae, _, X = saved
    buffer = stdio.BytesIO()
    ae.save(buffer)
    assert not buffer.closed and buffer.getvalue()[:2] == b"PK"
    buffer.seek(0)
    loaded = npae.load(buffer)
    np.testing.assert_array_equal(loaded.transform(X), ae.transform(X))
    with pytest.raises(CheckpointError, match="<BytesIO>.* not a readable npae checkpoint"):
        npae.load(stdio.BytesIO(b"not a zip"))


def test_save_and_load_take_bytes_and_pathlike_paths(saved, tmp_path):
    ae, _, X = saved
    target = os.fsencode(tmp_path / "bytes.npz")
    ae.save(target)
    np.testing.assert_array_equal(npae.load(target).transform(X), ae.transform(X))
    np.testing.assert_array_equal(npae.load(tmp_path / "bytes.npz").transform(X), ae.transform(X))


def test_a_tilde_is_expanded_like_a_shell_does(saved, tmp_path, monkeypatch):
    ae, _, X = saved
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    ae.save("~/models/x.npz")
    assert (tmp_path / "home" / "models" / "x.npz").is_file() and not (tmp_path / "~").exists()
    np.testing.assert_array_equal(npae.load("~/models/x.npz").transform(X), ae.transform(X))


def test_a_tilde_user_that_does_not_exist_and_an_empty_path_are_clear_errors(saved, tmp_path, monkeypatch):
    ae, _, _ = saved
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=r"'~nouser-npae/x.npz' starts with ~nouser-npae, but no user 'nouser-npae'"):
        ae.save("~nouser-npae/x.npz")
    with pytest.raises(ValueError, match="no user 'nouser-npae'"):
        npae.load("~nouser-npae/x.npz")
    with pytest.raises(ValueError, match="path is empty"):
        ae.save("")
    assert list(tmp_path.iterdir()) == [tmp_path / "ae.npz"]


def test_a_write_error_names_the_file(saved, tmp_path, monkeypatch):
    import errno

    ae, path, _ = saved
    before = path.read_bytes()

    def file_too_large(*args, **kwargs):
        raise OSError(errno.EFBIG, "File too large")

    monkeypatch.setattr(io.np, "savez", file_too_large)
    with pytest.raises(OSError, match=re.escape(f"File too large: '{path}'")) as info:
        ae.save(path)
    assert info.value.errno == errno.EFBIG and info.value.filename == str(path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["ae.npz"]


def test_sigterm_during_a_save_ends_the_process_after_the_save_without_a_temporary_file(saved, tmp_path):
    """(Default SIGTERM disposition, so in a child process.)"""
    import signal
    import subprocess
    import sys

    _, path, X = saved
    target = tmp_path / "again.npz"
    code = (
        "import os, signal, sys, npae\n"
        "model = npae.load(sys.argv[1])\n"
        "real = os.fsync\n"
        "def fsync(fd):\n"
        "    real(fd)\n"
        "    os.kill(os.getpid(), signal.SIGTERM)  # the temporary file is written\n"
        "os.fsync = fsync\n"
        "model.save(sys.argv[2])\n"
        "print('not reached')\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(path), str(target)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == -signal.SIGTERM, done.stderr
    assert "not reached" not in done.stdout
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".npae-")] == []
    np.testing.assert_array_equal(npae.load(target).transform(X), npae.load(path).transform(X))


def test_an_unknown_backend_argument_is_the_callers_error_not_the_files(saved):
    _, path, _ = saved
    with pytest.raises(ValueError, match="nope") as info:
        npae.load(path, backend="nope")
    assert not isinstance(info.value, CheckpointError)


def test_a_missing_npz_names_the_file_save_wrote_without_the_suffix(saved, tmp_path):
    ae, _, _ = saved
    ae.save(tmp_path / "model")  # exactly this path, as torch.save: no .npz added
    with pytest.raises(FileNotFoundError, match=r"but '.*model' exists: save writes exactly the path given"):
        npae.load(tmp_path / "model.npz")
    with pytest.raises(FileNotFoundError, match=r"No checkpoint at this path: "):
        npae.load(tmp_path / "elsewhere.npz")
