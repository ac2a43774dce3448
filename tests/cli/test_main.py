"""The ``npae`` entry points: the parser of every subcommand builds, each ``--help`` exits 0 and
explains every option, and ``python -m npae`` runs the same command line."""

import importlib
import subprocess
import sys

import pytest

import npae
from npae import cli

SUBCOMMANDS = ("train", "evaluate", "sample", "denoise", "detect", "gradcheck", "exercises", "info")


def _subparsers(parser):
    return parser._subparsers._group_actions[0].choices


def test_every_subcommand_parser_builds_and_its_help_exits_0(run):
    parser = cli.build_parser()
    assert tuple(_subparsers(parser)) == SUBCOMMANDS
    for name in SUBCOMMANDS:
        code, out, err = run(name, "--help")
        assert code == 0, err
        assert out.startswith(f"usage: npae {name} ")
        assert err == ""


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_each_subcommand_module_adds_its_parser_with_its_run_as_handler(name):
    module = importlib.import_module(f"npae.cli.{name}")
    parser = cli.build_parser()
    assert _subparsers(parser)[name].get_default("handler") is module.run


@pytest.mark.parametrize("command", [[], ["train"], ["info"], ["evaluate"], ["sample"], ["denoise"], ["detect"],
                                     ["gradcheck"]])
def test_help_explains_every_option(run, command):
    code, out, _ = run(*command, "--help")
    assert code == 0
    parser = cli.build_parser()
    if command:
        parser = _subparsers(parser)[command[0]]
    for action in parser._actions:
        assert action.help, action.option_strings
        for flag in action.option_strings:
            assert flag in out


def test_no_command_is_a_one_line_usage_error(run, assert_one_line_error):
    code, _, err = run()
    assert_one_line_error(code, err, "npae: error:", "COMMAND", "npae --help")


def test_version(run):
    code, out, _ = run("--version")
    assert code == 0 and out.strip() == f"npae {npae.__version__}"


def test_python_dash_m_npae_help():
    result = subprocess.run([sys.executable, "-m", "npae", "--help"], capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    for command in SUBCOMMANDS:
        assert command in result.stdout


def test_unknown_model_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="Unknown model 'ghost'; expected one of 'ae', 'sparse'"):
        cli.get_model_class("ghost")
    assert cli.get_model_class("vae") is cli.MODELS["vae"]


@pytest.mark.parametrize("error, fragments", [
    (MemoryError(), ["npae: error: out of memory;", "--batch-size", "NPAE_DEBUG=1"]),
    (MemoryError("Unable to allocate 3.2 GiB\nfor an array"),
     ["out of memory (Unable to allocate 3.2 GiB for an array)"]),
    (RecursionError("maximum recursion depth exceeded"), ["npae: error: RecursionError: maximum recursion depth"]),
])
def test_memory_and_recursion_errors_are_one_line(run, assert_one_line_error, monkeypatch, error, fragments):
    def fail(args):
        raise error

    monkeypatch.delenv("NPAE_DEBUG", raising=False)
    monkeypatch.setattr(importlib.import_module("npae.cli.info"), "run", fail)
    code, _, err = run("info")
    assert_one_line_error(code, err, *fragments)


def test_npae_debug_keeps_the_traceback_of_a_memory_error(run, monkeypatch):
    def fail(args):
        raise MemoryError("Unable to allocate")

    monkeypatch.setenv("NPAE_DEBUG", "1")
    monkeypatch.setattr(importlib.import_module("npae.cli.info"), "run", fail)
    with pytest.raises(MemoryError, match="Unable to allocate"):
        run("info")


def test_a_reader_that_goes_away_ends_the_command_quietly(monkeypatch, capsys):
    """`npae info | head -1`: the write after head exits raises BrokenPipeError, which a Unix tool
    answers with silence and status 141 (128 + SIGPIPE), not 'npae: error: [Errno 32] Broken pipe'."""
    import io

    from npae import cli

    class ClosedPipe(io.StringIO):
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr("sys.stdout", ClosedPipe())
    assert cli.main(["info"]) == 141
    assert capsys.readouterr().err == ""
