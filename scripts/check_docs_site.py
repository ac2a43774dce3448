"""Open the built documentation site in a real browser and check what a reader sees.

Serves ``site/`` (``mkdocs build``'s output) on 127.0.0.1 and drives Debian's Chromium with
playwright (``executable_path=/usr/bin/chromium``: no browser download). Requests that leave
127.0.0.1 (the MathJax CDN) are refused, so the check needs no network. For every page:

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
            page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(base)
                       else route.abort())
            for path in chapters + other + api_pages:
                rel = path.relative_to(site).as_posix()
                response = page.goto(f"{base}/{rel}", wait_until="load")
                if response is None or response.status != 200:
                    problems.append(f"{rel}: HTTP {None if response is None else response.status}")
                    continue
                text = page.inner_text("body")
                found = []
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
                    summary = f"{len(figures)} figures, {expected} exercises"
                elif path in api_pages:
                    documented = page.locator(".doc-object, .doc-heading").count()
                    if documented == 0:
                        found.append("documents nothing")
                    summary = f"{documented} documented objects"
                else:
                    summary = f"{len(text)} characters"
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
    n_pages, problems = check_site(args.site, args.screenshots)
    bad = min(n_pages, len({problem.split(":")[0] for problem in problems})) if n_pages else int(bool(problems))
    if problems:
        print(f"\n{len(problems)} problem(s):", *problems, sep="\n  ", file=sys.stderr)
    print(f"docs: {n_pages - bad} passed, {bad} failed")  # one line per page checked in Chromium
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
