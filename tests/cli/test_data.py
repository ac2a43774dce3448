"""--dataset FILE: what npae/cli/data.py reads, and the one-line errors for files it cannot read."""

import numpy as np
import pytest


@pytest.fixture
def table(rng):
    return rng.random((20, 4))


def test_a_npy_file_is_named_as_such_with_the_savez_fix(tmp_path, run, table, assert_one_line_error):
    """np.load returns a bare array for a .npy, which `with` refused with a message about the
    context manager protocol, before the check written for this case could run."""
    np.save(tmp_path / "rows.npy", table)
    code, _, err = run("detect", "--normal-class", "1", "--dataset", str(tmp_path / "rows.npy"),
                       "--out", str(tmp_path / "d"))
    assert_one_line_error(code, err, "'rows.npy'", "single NumPy array (.npy)", "not an .npz archive with X_train",
                          "numpy.savez('rows.npz', X_train=numpy.load('rows.npy'))")
    assert "context manager" not in err
    assert not (tmp_path / "d").exists()


def test_a_csv_file_is_not_blamed_on_pickles(tmp_path, run, table, assert_one_line_error):
    np.savetxt(tmp_path / "rows.csv", table, delimiter=",")
    code, _, err = run("train", "--dataset", str(tmp_path / "rows.csv"), "--out", str(tmp_path / "r"))
    assert_one_line_error(code, err, "'rows.csv'", "is not an .npz archive", "looks like a CSV text file",
                          "expected an .npz archive with X_train",
                          "numpy.loadtxt('rows.csv', delimiter=',')")
    assert "pickle" not in err


@pytest.mark.parametrize("content, fragment", [(b"", "it is empty"), (b"\x00\x01\xff\xfe binary", "starts with the bytes")])
def test_other_files_say_what_they_start_with(tmp_path, run, content, fragment, assert_one_line_error):
    (tmp_path / "rows.dat").write_bytes(content)
    code, _, err = run("train", "--dataset", str(tmp_path / "rows.dat"), "--out", str(tmp_path / "r"))
    assert_one_line_error(code, err, "rows.dat'", "is not an .npz archive", fragment)


def test_object_arrays_and_damaged_archives_are_told_apart(tmp_path, run, table, assert_one_line_error):
    np.savez(tmp_path / "objects.npz", X_train=np.array([table[0], "text"], dtype=object))
    code, _, err = run("train", "--dataset", str(tmp_path / "objects.npz"), "--out", str(tmp_path / "r"))
    assert_one_line_error(code, err, "objects.npz'", "holds object arrays", "numeric arrays")
    np.savez(tmp_path / "cut.npz", X_train=table)
    data = (tmp_path / "cut.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    code, _, err = run("train", "--dataset", str(tmp_path / "cut.npz"), "--out", str(tmp_path / "r"))
    assert_one_line_error(code, err, "cut.npz'", "truncated or damaged", "numpy.savez")


def test_an_npz_archive_still_loads(tmp_path, table):
    from npae.cli.data import load_training_data

    np.savez(tmp_path / "rows.npz", X_train=table, y_train=np.arange(20) % 2)
    X_train, y_train, X_test, _, info = load_training_data(str(tmp_path / "rows.npz"))
    np.testing.assert_array_equal(X_train, table)
    assert y_train.tolist() == (np.arange(20) % 2).tolist() and X_test is None and info["name"] == "rows"


def test_data_dir_and_download_are_refused_where_they_do_not_apply(tmp_path, run, table, assert_one_line_error):
    """--data-dir /typo with a dataset that never reads it was dropped without a word."""
    code, _, err = run("train", "--dataset", "embedded", "--data-dir", str(tmp_path / "typo"),
                       "--out", str(tmp_path / "r"))
    assert_one_line_error(code, err, "--data-dir apply to --dataset mnist and fashion-mnist only",
                          "--dataset embedded ships with npae")
    code, _, err = run("train", "--dataset", "digits", "--download", "--out", str(tmp_path / "r"))
    assert_one_line_error(code, err, "--download apply to", "digits comes with scikit-learn")
    np.savez(tmp_path / "rows.npz", X_train=table)
    code, _, err = run("train", "--dataset", str(tmp_path / "rows.npz"), "--data-dir", str(tmp_path),
                       "--download", "--out", str(tmp_path / "r"))
    assert_one_line_error(code, err, "--data-dir and --download apply to", "is a file")
    assert not (tmp_path / "r").exists()
