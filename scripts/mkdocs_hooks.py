"""mkdocs hooks: the site's chapters are the learner's notebooks, executed with the full settings.

* ``on_config`` lists every ``notebooks/NN_*.py`` under "Chapters" in the navigation.
* ``on_page_markdown`` fills the API page of the ``npae`` command with its ``--help`` texts.
* ``on_config`` also makes sure MathJax is installed (``npm ci``, from ``package.json``), and
  ``on_post_build`` copies it, fonts included, into ``site/javascripts/vendor/mathjax/``: the site
  renders its math with no network (no CDN; ``theme.font: false`` drops Google Fonts too).
* ``on_pre_build`` writes the learner's copy of each chapter (``make_learner_notebooks.py``: the
  solutions replaced by ``raise NotImplementedError``), executes it in a Jupyter kernel, two
  chapters at a time, and saves it with its outputs as ``docs/chapters/NN_*.ipynb``, which
  mkdocs-jupyter renders. A chapter is executed again only when its source, npae's source or the
  settings changed (a key in the notebook's metadata says which run it is).

The kernels run in a temporary folder (nothing lands in the repository) with matplotlib's inline
backend (``--matplotlib=inline``, ``MPLBACKEND`` removed), ``TQDM_DISABLE=1``, ``NPAE_DATA`` pointing at ``../shared/data``
when it holds MNIST, and ``NPAE_QUICK=1`` only when ``NPAE_DOCS_QUICK=1`` asks for the quick
settings (``NPAE_DOCS_CHAPTERS=01,05`` builds only those chapters). A cell that raises fails the build. A quick build says so at the top of every chapter
page: its numbers come from the quick setting, while the prose quotes the full one.

Run as a script, ``python scripts/mkdocs_hooks.py SOURCE.py TARGET.ipynb KEY`` executes one
chapter (that is how the hook runs them in parallel).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
CHAPTER_DIR = ROOT / "docs" / "chapters"
SHARED_DATA = ROOT.parent / "shared" / "data"
PARALLEL = 2
MATHJAX = ROOT / "node_modules" / "mathjax" / "es5"  # `npm ci` puts it there (package.json, package-lock.json)
MATHJAX_SITE = Path("javascripts") / "vendor" / "mathjax"  # where mkdocs.yml's extra_javascript expects it
#: MathJax's other ready-made bundles; the site loads tex-mml-chtml.js only (with its fonts and extensions).
MATHJAX_SKIP = ("mml-chtml.js", "mml-svg.js", "tex-chtml-full-speech.js", "tex-chtml-full.js", "tex-chtml.js",
                "tex-mml-svg.js", "tex-svg-full.js", "tex-svg.js", "node-main.js")
QUICK_NOTE = (
    "> **Quick build.** This page was executed with the quick setting (`NPAE_DOCS_QUICK=1`, which runs the "
    "chapter with `NPAE_QUICK=1`): fewer images and epochs. Every number, figure and timing printed below "
    "comes from the quick setting, while the text quotes the full one, so the two differ. "
    "`mkdocs build` without `NPAE_DOCS_QUICK` builds the full setting."
)
CELL_TIMEOUT_S = 1800

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_learner_notebooks  # noqa: E402  (the script beside this one)


def _chapters() -> list[Path]:
    """Every chapter, or those named in ``NPAE_DOCS_CHAPTERS`` ("01,05": a fast look at two pages)."""
    chapters = make_learner_notebooks.chapters()
    wanted = [c.strip() for c in os.environ.get("NPAE_DOCS_CHAPTERS", "").split(",") if c.strip()]
    return [path for path in chapters if not wanted or path.name[:2] in wanted]


def _quick() -> bool:
    return os.environ.get("NPAE_DOCS_QUICK") == "1"


def _npae_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted((ROOT / "npae").rglob("*.py")):
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _key(learner_text: str, npae_digest: str) -> str:
    settings = "quick" if _quick() else "full"
    return hashlib.sha256(f"{settings}\n{npae_digest}\n{learner_text}".encode()).hexdigest()[:16]


def _stored_key(target: Path) -> str | None:
    if not target.exists():
        return None
    import nbformat

    try:
        return nbformat.read(target, as_version=4).metadata.get("npae_docs", {}).get("key")
    except Exception:  # noqa: BLE001 (an unreadable leftover is executed again)
        return None


def on_config(config, **kwargs):
    if not (MATHJAX / "tex-mml-chtml.js").is_file():
        from mkdocs.exceptions import PluginError

        raise PluginError(f"MathJax is not installed in {MATHJAX.parent}: run `npm ci` in {ROOT} first "
                          "(needs Node.js's npm, e.g. `apt-get install nodejs npm`); the site serves MathJax itself.")
    pages = [f"chapters/{path.stem}.ipynb" for path in _chapters()]
    for item in config["nav"]:
        if isinstance(item, dict) and "Chapters" in item:
            item["Chapters"] = pages
    return config


#: where docs/api/cli.md wants the command line's help text
CLI_HELP_MARKER = "<!-- npae-cli-help -->"
#: the width the help text is wrapped at, so that no line of it is cut off on the page
CLI_HELP_COLUMNS = 80


def cli_help_markdown() -> str:
    """``npae --help`` and every ``npae COMMAND --help``, as the installed parser prints them."""
    from npae import cli

    columns = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(CLI_HELP_COLUMNS)  # argparse wraps at the terminal's width: the page's here
    try:
        parser = cli.build_parser()
        sections = [("npae", parser.format_help())]
        subparsers = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
        sections += [(f"npae {name}", sub.format_help()) for name, sub in subparsers.choices.items()]
    finally:
        if columns is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = columns
    return "\n\n".join(f"## `{title}`\n\n```text\n{_wrap(text.rstrip())}\n```" for title, text in sections)


def _wrap(text: str) -> str:
    """Lines argparse keeps as written (raw descriptions, examples) wrapped at CLI_HELP_COLUMNS,
    continuations indented under their line."""
    import textwrap

    lines = []
    for line in text.splitlines():
        indent = line[:len(line) - len(line.lstrip())]
        lines += textwrap.wrap(line, CLI_HELP_COLUMNS, subsequent_indent=indent + "  ", break_on_hyphens=False,
                               break_long_words=False) or [""] if len(line) > CLI_HELP_COLUMNS else [line]
    return "\n".join(lines)


def on_page_markdown(markdown, page=None, config=None, files=None, **kwargs):
    """Fill docs/api/cli.md's marker with the command line's help text (never out of date)."""
    if CLI_HELP_MARKER not in markdown:
        return markdown
    return markdown.replace(CLI_HELP_MARKER, cli_help_markdown())


def on_pre_build(config, **kwargs):
    CHAPTER_DIR.mkdir(parents=True, exist_ok=True)
    wanted = {f"{path.stem}.ipynb" for path in _chapters()}
    for stale in CHAPTER_DIR.glob("*.ipynb"):
        if stale.name not in wanted:
            stale.unlink()
    digest = _npae_digest()
    jobs = []
    with tempfile.TemporaryDirectory() as tmp:
        for path in _chapters():
            learner, _ = make_learner_notebooks.make_learner(path, Path(tmp))
            key = _key(learner.read_text(encoding="utf-8"), digest)
            target = CHAPTER_DIR / f"{path.stem}.ipynb"
            if _stored_key(target) == key:
                print(f"docs: {target.name} is up to date", flush=True)
                continue
            jobs.append((learner, target, key))
        _execute_all(jobs)


def on_post_build(config, **kwargs):
    """Copy MathJax (script, extensions, fonts) from node_modules into the built site."""
    target = Path(config["site_dir"]) / MATHJAX_SITE
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(MATHJAX, target, ignore=lambda folder, names: [n for n in names if n in MATHJAX_SKIP])


def _execute_all(jobs) -> None:
    running, failed = [], []
    pending = list(jobs)
    while pending or running:
        while pending and len(running) < PARALLEL:
            learner, target, key = pending.pop(0)
            print(f"docs: executing {target.name} ({'quick' if _quick() else 'full'} settings)", flush=True)
            proc = subprocess.Popen([sys.executable, __file__, str(learner), str(target), key])
            running.append((proc, target, time.perf_counter()))
        time.sleep(0.5)
        for entry in list(running):
            proc, target, start = entry
            if proc.poll() is not None:
                running.remove(entry)
                print(f"docs: {target.name} {'done' if proc.returncode == 0 else 'FAILED'} "
                      f"in {time.perf_counter() - start:.0f} s", flush=True)
                if proc.returncode != 0:
                    failed.append(target.name)
    if failed:
        from mkdocs.exceptions import PluginError

        raise PluginError(f"Executing the chapters failed: {', '.join(failed)} (the traceback is above).")


def _kernel_env() -> dict:
    env = dict(os.environ, TQDM_DISABLE="1", PYTHONDONTWRITEBYTECODE="1",
               OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env.pop("MPLBACKEND", None)  # the kernel's inline backend turns every figure into a PNG output
    env.pop("NPAE_BACKEND", None)
    env.pop("NPAE_QUICK", None)
    if _quick():
        env["NPAE_QUICK"] = "1"
    if "NPAE_DATA" not in env and (SHARED_DATA / "mnist").is_dir():
        env["NPAE_DATA"] = str(SHARED_DATA)
    return env


def execute(source: Path, target: Path, key: str) -> None:
    """Execute the jupytext notebook ``source`` and write it, outputs included, to ``target``."""
    import jupytext
    import nbformat
    from nbclient import NotebookClient

    nb = jupytext.read(source)
    if _quick():  # under the chapter's title
        nb.cells.insert(1, nbformat.v4.new_markdown_cell(QUICK_NOTE))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata.pop("jupytext", None)
    with tempfile.TemporaryDirectory() as workdir:
        # --matplotlib=inline: a Figure left as a cell's value (npae.plotting's figures) becomes a PNG too
        client = NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3", extra_arguments=["--matplotlib=inline"],
                                resources={"metadata": {"path": workdir}})
        client.execute(env=_kernel_env())  # the kernel starts in resources' path, workdir
    nb.metadata["npae_docs"] = {"key": key, "settings": "quick" if _quick() else "full"}
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)


if __name__ == "__main__":
    execute(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3])
