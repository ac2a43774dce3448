"""Open the built documentation site in a real browser and check what a reader sees.

Serves ``site/`` (``mkdocs build``'s output) on 127.0.0.1 and drives Debian's Chromium with
playwright (``executable_path=/usr/bin/chromium``: no browser download) with the network blocked:
every request that leaves 127.0.0.1 is refused, and reported, since the site must work offline
(its MathJax and fonts are its own). For every page:

* nothing asks for the network, and nothing local is missing (no request answered 404);
* the math renders: MathJax has typeset the page (``mjx-container`` elements; at least one on
  every chapter page and on the exercises page), and no raw ``$$`` or ``$…\\cmd…$`` is left in
  its text outside code;
* no code is cut off: a ``<pre>`` whose content is wider than its box must scroll (or wrap);
* a chapter page executed with the quick setting (its notebook's metadata) says so at the top;

* every chapter page (``chapters/*.html``, one per ``notebooks/NN_*.py``) shows figures: it has
  ``<img>`` elements and every one of them has loaded (``complete`` and ``naturalWidth > 0``);
  it shows no error output: no traceback text and no rendered error output; and each of its
  "your turn" checks is rendered ("not implemented yet" at least once per check, since the site
  shows the learner's copies);
* the home page, the exercises page and every API reference page load, show no traceback and
  document something (the API pages at least one documented object).

Usage::

    python scripts/check_docs_site.py [--site site] [--screenshots DIR]

Exits 1, listing every problem, when a check fails.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import re
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|\w+Error Traceback|CellExecutionError")
CHECK_CALL = re.compile(r'npae\.exercises\.check\(\s*"([a-z0-9_]+)"')
RAW_MATH = re.compile(r"\$\$|\$[^$\n]*\\[A-Za-z]+[^$\n]*\$")
QUICK_NOTE = "Quick build."
MATHJAX_READY_JS = """() => (window.MathJax && MathJax.startup && MathJax.startup.promise)
    ? MathJax.startup.promise.then(() => true) : false"""
#: The page's text with code, scripts and MathJax's own output left out: what raw math would be left in.
PROSE_TEXT_JS = """() => { const body = document.body.cloneNode(true);
    body.querySelectorAll('pre, code, script, style, mjx-container, .MathJax').forEach(e => e.remove());
    return body.textContent; }"""
#: <pre> blocks whose text reaches past the first box that clips it (an ancestor whose overflow is not
#: visible), unless that box scrolls sideways: text a reader cannot see, nor scroll to.
CUT_OFF_JS = """() => Array.from(document.querySelectorAll('pre')).filter(pre => {
    if (pre.offsetParent === null) return false;
    const range = document.createRange();
    range.selectNodeContents(pre);
    const right = range.getBoundingClientRect().right;
    for (let el = pre; el && el !== document.body; el = el.parentElement) {
      const style = getComputedStyle(el);
      if (style.overflowX === 'visible') continue;
      if (right <= el.getBoundingClientRect().right + 1) return false;
      return !(['auto', 'scroll'].includes(style.overflowX) && el.scrollWidth > el.clientWidth + 1);
    }
    return right > document.documentElement.clientWidth + 1;
  }).map(pre => pre.textContent.trim().slice(0, 60))"""

IMAGES_JS = """() => Array.from(document.images).map(img => ({
    src: img.currentSrc || img.src, complete: img.complete, width: img.naturalWidth}))"""
ERROR_OUTPUTS_JS = """() => document.querySelectorAll(
    '[data-mime-type="application/vnd.jupyter.error"], .jp-OutputArea-output.jp-mod-error, .output_error').length"""


def _serve(site: Path):
    handler = functools.partial(QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # one line per request would drown the report
        pass


def _expected_checks(page: Path) -> int:
    source = ROOT / "notebooks" / f"{page.stem}.py"
    return len(CHECK_CALL.findall(source.read_text(encoding="utf-8"))) if source.exists() else 0


def _built_quick(page: Path) -> bool:
    """Whether docs/chapters/<page>.ipynb (the hook's output) was executed with the quick setting."""
    import json

    notebook = ROOT / "docs" / "chapters" / f"{page.stem}.ipynb"
    if not notebook.exists():
        return False
    meta = json.loads(notebook.read_text(encoding="utf-8")).get("metadata", {})
    return meta.get("npae_docs", {}).get("settings") == "quick"


def check_site(site: Path, screenshots: Path | None = None) -> tuple[int, list[str]]:
    from playwright.sync_api import sync_playwright

    chapters = sorted((site / "chapters").glob("*.html"))
    api_pages = sorted((site / "api").glob("*.html"))
    other = [site / "index.html", site / "exercises.html"]
    problems = []
    if not chapters:
        problems.append(f"no chapter pages in {site / 'chapters'}")
    server, base = _serve(site)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            outside, missing = [], []

            def offline(route):  # the network is blocked: anything not served by the site fails
                if route.request.url.startswith(base):
                    route.continue_()
                else:
                    outside.append(route.request.url)
                    route.abort()

            page.route("**/*", offline)
            page.on("response", lambda r: missing.append(r.url) if r.status >= 400 else None)
            for path in chapters + other + api_pages:
                rel = path.relative_to(site).as_posix()
                outside.clear()
                missing.clear()
                response = page.goto(f"{base}/{rel}", wait_until="load")
                if response is None or response.status != 200:
                    problems.append(f"{rel}: HTTP {None if response is None else response.status}")
                    continue
                typeset = page.evaluate(MATHJAX_READY_JS)
                page.wait_for_load_state("networkidle")
                text = page.inner_text("body")
                found = []
                if outside:
                    found.append(f"{len(outside)} request(s) need the network: {sorted(set(outside))[:3]}")
                if missing:
                    found.append(f"{len(missing)} local file(s) missing: {sorted(set(missing))[:3]}")
                n_math = page.locator("mjx-container").count()
                raw = RAW_MATH.search(page.evaluate(PROSE_TEXT_JS))
                if not typeset:
                    found.append("MathJax did not load")
                if raw:
                    found.append(f"raw math left in the text: {raw.group(0)[:40]!r}")
                if (path in chapters or rel == "exercises.html") and n_math == 0:
                    found.append("no typeset math")
                cut = page.evaluate(CUT_OFF_JS)
                if cut:
                    found.append(f"{len(cut)} code block(s) cut off: {cut[:2]}")
                if TRACEBACK.search(text):
                    found.append("traceback text: " + TRACEBACK.search(text).group(0))
                if page.evaluate(ERROR_OUTPUTS_JS):
                    found.append(f"{page.evaluate(ERROR_OUTPUTS_JS)} error output(s)")
                images = page.evaluate(IMAGES_JS)
                if path in chapters:
                    figures = [img for img in images if "data:image" in img["src"] or img["src"].endswith(".png")]
                    broken = [img["src"][:80] for img in images if not img["complete"] or img["width"] == 0]
                    if not figures:
                        found.append("no figures")
                    if broken:
                        found.append(f"{len(broken)} image(s) not loaded: {broken[:3]}")
                    expected = _expected_checks(path)
                    if text.count("not implemented yet") < expected:
                        found.append(f"{text.count('not implemented yet')} 'not implemented yet' outputs for "
                                     f"{expected} your-turn checks")
                    if _built_quick(path) and QUICK_NOTE not in text:
                        found.append("built with the quick setting but does not say so")
                    summary = f"{len(figures)} figures, {expected} exercises, {n_math} formulas"
                elif path in api_pages:
                    documented = page.locator(".doc-object, .doc-heading").count()
                    if documented == 0:
                        found.append("documents nothing")
                    summary = f"{documented} documented objects"
                else:
                    summary = f"{len(text)} characters, {n_math} formulas"
                if screenshots is not None:
                    screenshots.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(screenshots / (rel.replace("/", "_") + ".png")))
                status = "ok" if not found else "PROBLEM: " + "; ".join(found)
                print(f"{rel}: {summary} — {status}", flush=True)
                problems += [f"{rel}: {f}" for f in found]
            browser.close()
    finally:
        server.shutdown()
    return len(chapters + other + api_pages), problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", type=Path, default=ROOT / "site", help="the built site (default: site/)")
    parser.add_argument("--screenshots", type=Path, default=None, help="save a PNG of every page here")
    args = parser.parse_args(argv)
    if not (args.site / "index.html").exists():
        print(f"{args.site} holds no built site: run `mkdocs build` first.", file=sys.stderr)
        return 1
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        print("check_docs_site.py needs playwright: pip install -e \".[docs]\"", file=sys.stderr)
        return 2
    if not Path(CHROMIUM).exists():
        print(f"check_docs_site.py needs Chromium at {CHROMIUM}: apt-get install chromium "
              "(playwright drives the system's browser, it downloads none)", file=sys.stderr)
        return 2
    n_pages, problems = check_site(args.site, args.screenshots)
    bad = min(n_pages, len({problem.split(":")[0] for problem in problems})) if n_pages else int(bool(problems))
    if problems:
        print(f"\n{len(problems)} problem(s):", *problems, sep="\n  ", file=sys.stderr)
    print(f"docs: {n_pages - bad} passed, {bad} failed")  # one line per page checked in Chromium
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
