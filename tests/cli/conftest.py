"""Fixtures the command-line tests share: an in-process ``npae`` runner, the one-line error check,
the options of a small run on digits, and small trained runs (one per test module)."""

import pytest

from npae import cli

SMALL = ["--dataset", "digits", "--epochs", "1", "--hidden-sizes", "16", "--latent-dim", "4",
         "--batch-size", "256"]


@pytest.fixture
def run(capsys):
    """``run(*argv)`` -> (exit status, stdout, stderr) of ``npae argv...``, run in-process."""

    def run_npae(*argv):
        code = cli.main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run_npae


@pytest.fixture
def assert_one_line_error():
    """``assert_one_line_error(code, err, *fragments)``: exit status 2 and one line on stderr, no
    traceback, holding every fragment."""

    def check(code, err, *fragments):
        assert code == 2
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert "Traceback" not in err
        for fragment in fragments:
            assert fragment in lines[0], lines[0]

    return check


@pytest.fixture
def small():
    """The options of a small, one-epoch training run on digits (a fresh list per test)."""
    return list(SMALL)


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """One small training run on digits, shared by the tests of a module that read its outputs."""
    out = tmp_path_factory.mktemp("run") / "digits"
    code = cli.main(["train", *SMALL, "--out", str(out), "--quiet"])
    return code, out


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    """A tiny VAE on digits, shared by the evaluate and sample tests of a module."""
    out = tmp_path_factory.mktemp("run") / "vae"
    code = cli.main(["train", *SMALL, "--model", "vae", "--out", str(out), "--quiet"])
    assert code == 0
    return out
