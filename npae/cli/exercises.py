"""``npae exercises``: the learner's exercises from the command line, for editors and autograding.

* ``npae exercises list``: every exercise, chapter by chapter, with its title.
* ``npae exercises describe NAME``: what to implement (signature, shapes, what is checked).
* ``npae exercises check FILE.py``: run ``npae.exercises.check`` on every function of FILE.py whose
  name is an exercise, print the report of each one that fails and the progress table; exit status
  0 only when every one found passes, 1 otherwise (2, one line on stderr, when the file defines none
  or cannot be run).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import npae.exercises as ex
from npae import backend as B
from npae.cli.options import CLIError, add_backend_option, add_seed_option, one_line
from npae.exercises.progress import Progress
from npae.exercises.registry import REGISTRY

__all__ = ["add_parser", "run"]


def add_parser(subparsers) -> None:
    """Add ``exercises`` and its actions to the ``npae`` subcommands."""
    p = subparsers.add_parser(
        "exercises",
        help="list, describe and check the learner's exercises (your own forward and backward passes)",
        description="The exercises of the course notebooks, for learners who work in an editor and for\n"
                    "course autograding. Each exercise is a function you write (dense_backward,\n"
                    "gaussian_kl, ...); 'check' runs your file's functions against npae's reference on\n"
                    "fresh random inputs and names the mistake when one is wrong, never the answer.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
               "  npae exercises list\n"
               "  npae exercises describe dense_backward\n"
               "  npae exercises check my_answers.py\n"
               "  npae exercises check my_answers.py --backend array_api_strict\n"
               "In Python: npae.exercises.check(name, fn) and print(npae.exercises.progress(chapter=1)).",
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION", parser_class=type(p))
    actions.required = True
    actions.add_parser("list", help="every exercise, chapter by chapter",
                       description="List every exercise, chapter by chapter, with its title.")
    d = actions.add_parser("describe", help="what to implement for one exercise",
                           description="Print what to implement for exercise NAME: its signature, the shapes "
                                       "given and returned, and what the check runs.")
    d.add_argument("name", metavar="NAME", help="an exercise ('npae exercises list' lists them)")
    c = actions.add_parser(
        "check", help="check every exercise function in a Python file and print the progress table",
        description="Import FILE.py, check every function in it whose name is an exercise (see 'npae exercises "
                    "list'), print the report of each that fails and the progress table. Exit status 0 only "
                    "when every function found passes, 1 otherwise.")
    c.add_argument("file", metavar="FILE.py", help="your Python file, with functions named after the exercises")
    c.add_argument("--verbose", "-v", action="store_true", help="print the report of the passing exercises too")
    add_seed_option(c, "seeds the random inputs, for a repeatable check (default: fresh inputs every run)")
    add_backend_option(c)
    c.set_defaults(seed=None)
    p.set_defaults(handler=run)


def run(args) -> int:
    """``npae exercises``: see ``npae exercises --help``."""
    if args.action == "list":
        return _list()
    if args.action == "describe":
        print(ex.describe(args.name))
        return 0
    return _check_file(args)


def _list() -> int:
    names = ex.names()
    width = max(len(n) for n in names)
    chapter = None
    for name in names:
        exercise = REGISTRY[name]
        if exercise.chapter != chapter:
            chapter = exercise.chapter
            print(f"{'' if chapter == REGISTRY[names[0]].chapter else chr(10)}chapter {chapter}")
        print(f"  {name:<{width}}  {exercise.title}")
    print(f"\n{len(names)} exercises. 'npae exercises describe NAME' says what to write; "
          "'npae exercises check FILE.py' checks your file.")
    return 0


def _load(path_text: str):
    """Run FILE.py as a module; anything it raises becomes one line."""
    path = Path(path_text)
    if not path.is_file():
        raise CLIError(f"No such file: {path_text}.")
    if path.suffix != ".py":
        raise CLIError(f"Expected a Python file (FILE.py); got {path_text}.")
    spec = importlib.util.spec_from_file_location(f"_npae_exercises_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)  # so the file can import its neighbours
    try:
        spec.loader.exec_module(module)
    except Exception as err:  # the learner's file may raise anything while it runs
        line = ""
        tb = err.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == str(path):
                line = f" (line {tb.tb_lineno})"
            tb = tb.tb_next
        raise CLIError(f"{path_text} raised {type(err).__name__}{line} while being imported: {one_line(err)}") from err
    finally:
        sys.path.remove(folder)
    return module


def _check_file(args) -> int:
    module = _load(args.file)
    found = [name for name in ex.names() if callable(getattr(module, name, None))]
    if not found:
        defined = sorted(k for k, v in vars(module).items() if callable(v) and not k.startswith("_")
                         and getattr(v, "__module__", None) == module.__name__)
        close = ""
        if defined:
            import difflib

            pairs = [(d, difflib.get_close_matches(d, ex.names(), n=1)) for d in defined]
            hints = [f"{d} → {m[0]}?" for d, m in pairs if m]
            close = f"; it defines {', '.join(defined[:8])}" + (f" (did you mean: {', '.join(hints[:4])})"
                                                                  if hints else "")
        raise CLIError(f"{args.file} defines no function named after an exercise{close}. Name each function "
                       "after its exercise ('npae exercises list'), e.g. def dense_forward(x, W, b): ...")
    backend = B.get_backend(args.backend)
    results = {}
    for name in found:
        result = ex.check(name, getattr(module, name), backend=backend, random_state=args.seed)
        results[name] = result
        if args.verbose or (not result.passed and result.status != "not implemented"):
            print(result)
            print()
    progress = Progress.of(results, found, title=f"{args.file}")
    print(progress)
    skipped = [n for n in ex.names() if n not in results]
    if skipped:
        print(f"  ({len(skipped)} other exercises not in this file; 'npae exercises list' lists them)")
    return 0 if progress.all_done else 1
