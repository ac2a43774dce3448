"""The documentation site works offline and says how it was built (issue 22, items 5 and 6).

Fast, static checks; the built site itself is opened in Chromium with the network blocked by
``scripts/check_docs_site.py`` in CI (.ci/run), after ``npm ci`` and ``mkdocs build``.

* mkdocs.yml loads nothing from the network: no http(s) script or stylesheet, no Google Fonts
  (``theme.font: false``), and mkdocs-jupyter's MathJax 2 CDN default replaced by a local file;
* MathJax comes from npm (package.json, package-lock.json), and the hook copies it, fonts included,
  to the path mkdocs.yml's ``extra_javascript`` names;
* a quick build says so on every chapter page; missing jupytext, playwright or Chromium give one
  line saying what to install, not a traceback.
"""

import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    return module


def _mkdocs_config() -> dict:
    yaml = pytest.importorskip("yaml")
    return yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))


def test_mkdocs_config_loads_nothing_from_the_network():
    config = _mkdocs_config()
    assert config["theme"].get("font") is False, "theme.font must be false: Google Fonts need the network"
    assets = list(config.get("extra_javascript", [])) + list(config.get("extra_css", []))
    remote = [a for a in assets if re.match(r"(https?:)?//", str(a))]
    assert not remote, f"assets loaded from the network: {remote}"
    jupyter = next(p["mkdocs-jupyter"] for p in config["plugins"] if isinstance(p, dict) and "mkdocs-jupyter" in p)
    url = jupyter.get("custom_mathjax_url", "")
    assert url and not re.match(r"(https?:)?//", url), "mkdocs-jupyter would load MathJax 2 from a CDN"
    assert (ROOT / "docs" / url.replace("../", "")).is_file(), url
    assert (ROOT / "docs" / "stylesheets" / "extra.css").is_file()


def test_mathjax_comes_from_npm_and_the_hook_copies_it_where_the_pages_look(tmp_path):
    package = json.loads((ROOT / "package.json").read_text(encoding="utf-8"))
    assert "mathjax" in package["dependencies"]
    lock = json.loads((ROOT / "package-lock.json").read_text(encoding="utf-8"))
    assert "node_modules/mathjax" in lock["packages"], "package-lock.json does not pin MathJax (run npm install)"
    hooks = _load("mkdocs_hooks")
    if not (hooks.MATHJAX / "tex-mml-chtml.js").is_file():
        pytest.skip("MathJax is not installed: run `npm ci`")
    script = next(a for a in _mkdocs_config()["extra_javascript"] if "mathjax/" in a)
    hooks.on_post_build({"site_dir": str(tmp_path)})
    assert (tmp_path / script).is_file(), f"the pages load {script}, which the hook did not copy"
    fonts = list((tmp_path / hooks.MATHJAX_SITE / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff"))
    assert fonts, "MathJax's fonts were not copied"
    assert not (tmp_path / hooks.MATHJAX_SITE / "tex-svg-full.js").exists(), "unused bundles copied"


def test_missing_mathjax_is_one_line_saying_what_to_run(monkeypatch, tmp_path):
    PluginError = pytest.importorskip("mkdocs.exceptions").PluginError
    hooks = _load("mkdocs_hooks")
    monkeypatch.setattr(hooks, "MATHJAX", tmp_path / "nothing")

    with pytest.raises(PluginError, match="npm ci"):
        hooks.on_config({"nav": []})


def test_quick_build_says_so_on_every_chapter_page(monkeypatch, tmp_path):
    pytest.importorskip("jupytext")
    nbformat = pytest.importorskip("nbformat")
    hooks = _load("mkdocs_hooks")
    source = tmp_path / "00_tiny.py"
    source.write_text("# %% [markdown]\n# # 0. Tiny\n\n# %%\nprint(6 * 7)\n", encoding="utf-8")

    class FakeClient:  # the kernel is not what this test is about
        def __init__(self, nb, **kwargs):
            self.nb = nb

        def execute(self, env=None):
            return self.nb

    monkeypatch.setitem(sys.modules, "nbclient", type(sys)("nbclient"))
    sys.modules["nbclient"].NotebookClient = FakeClient
    for quick, expected in (("1", True), ("", False)):
        monkeypatch.setenv("NPAE_DOCS_QUICK", quick)
        target = tmp_path / f"out{quick}.ipynb"
        hooks.execute(source, target, "key")
        cells = nbformat.read(target, as_version=4).cells
        assert (hooks.QUICK_NOTE in cells[1].source) is expected
        assert cells[0].source.startswith("# 0. Tiny")


def test_missing_jupytext_is_one_line(monkeypatch, tmp_path):
    learner = _load("make_learner_notebooks")
    monkeypatch.setitem(sys.modules, "jupytext", None)  # import jupytext now raises ImportError
    with pytest.raises(SystemExit, match=r"needs jupytext: pip install -e \"\.\[notebooks\]\""):
        learner.make_learner(ROOT / "notebooks" / "01_autoencoder_from_scratch.py", tmp_path, ipynb=True)


def test_missing_chromium_is_one_line(monkeypatch, tmp_path, capsys):
    pytest.importorskip("playwright")
    check = _load("check_docs_site")
    (tmp_path / "index.html").write_text("<html></html>", encoding="utf-8")
    monkeypatch.setattr(check, "CHROMIUM", str(tmp_path / "no-chromium"))
    assert check.main(["--site", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "apt-get install chromium" in err and len(err.splitlines()) == 1


# ---------------------------------------------------------------- the API reference covers the package (review s10)
#: what a user imports, each with a page: the deploy paths, Dask, the applications, the penalties
DOCUMENTED_MODULES = (
    "npae.models.base", "npae.models.autoencoder", "npae.models.sparse", "npae.models.denoising",
    "npae.models.contractive", "npae.models.variational", "npae.layers", "npae.activations", "npae.losses",
    "npae.penalties", "npae.optimizers", "npae.training", "npae.noise", "npae.gradcheck", "npae.exercises",
    "npae.applications", "npae.applications.detector", "npae.applications.pyod", "npae.applications.anomaly",
    "npae.applications.denoising", "npae.applications.compression", "npae.applications.generation",
    "npae.applications.probe", "npae.metrics", "npae.datasets", "npae.plotting", "npae.io", "npae.backend",
    "npae.kernels", "npae.onnx", "npae.export", "npae.dask",
)


def test_every_public_module_has_a_place_in_the_api_reference():
    pages = {page: page.read_text(encoding="utf-8") for page in (ROOT / "docs" / "api").glob("*.md")}
    rendered = {line[4:].strip() for text in pages.values() for line in text.splitlines() if line.startswith("::: ")}
    assert set(DOCUMENTED_MODULES) <= rendered, sorted(set(DOCUMENTED_MODULES) - rendered)
    nav = json.dumps(_mkdocs_config()["nav"])
    assert all(f"api/{page.name}" in nav for page in pages), "an API page is missing from mkdocs.yml's nav"


def test_the_cli_page_is_the_help_text_of_every_command():
    from npae import cli

    hooks = _load("mkdocs_hooks")
    page = (ROOT / "docs" / "api" / "cli.md").read_text(encoding="utf-8")
    assert hooks.CLI_HELP_MARKER in page
    filled = hooks.on_page_markdown(page)
    assert hooks.CLI_HELP_MARKER not in filled and "usage: npae [-h]" in filled
    for command in cli.COMMANDS:
        name = command.__name__.rsplit(".", 1)[-1]
        assert f"## `npae {name}`" in filled and f"usage: npae {name}" in filled
    assert hooks.on_page_markdown("no marker here") == "no marker here"
    blocks = re.findall(r"```text\n(.*?)```", filled, re.S)
    assert len(blocks) == len(cli.COMMANDS) + 1
    longest = max(len(line) for block in blocks for line in block.splitlines())
    assert longest <= hooks.CLI_HELP_COLUMNS, longest  # wider lines were cut off on the page
