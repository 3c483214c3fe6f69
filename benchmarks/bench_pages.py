"""The storefront in a real browser: how soon is the first page drawn, and how soon are suggestions
drawn once their answer is in?

Debian's headless Chromium, driven by Playwright and launched exactly as ``tests/e2e/test_pages.py``
launches it, against a live ``uvicorn`` on 127.0.0.1 serving a bundle (one worker, development mode:
the storefront calls the API without a key). Both figures are the page's own clock
(``service/pages/storefront.js``):

1. ``first_render``: the ``performance`` mark ``omnirank:first-render``, from navigation start to the
   trending cards drawn (page, config, the trending API call), over ``--runs`` reloads of ``/``
   after one unmeasured load (the browser and the server have started: their start-up is not timed).
   Target 1000 ms.
2. ``suggest_render``: the ``omnirank:suggest-render`` measures, from a ``GET /v1/suggest`` answer
   parsed to the suggestion list drawn, over ``--queries`` prefixes typed key by key (40 ms between
   keys, as a person types; the page waits 90 ms after the last key before it asks). Target 16 ms
   (one frame at 60 Hz).

Baselines, in the same run: for (1) the first contentful paint of a static page with one line of
text (a stdlib HTTP server on 127.0.0.1: the browser's own floor for navigating and painting) and of
the storefront's HTML and CSS from the same omnirank server with its scripts blocked (the shell
without the work the script does), and the trending call's time as the page saw it (Resource Timing);
for (2) the same suggest URLs the page called, answered to ``httpx`` (the API's own answer time,
measured by the client), and those calls as the page saw them (Resource Timing).

The verdict is on p95 (a test once asserted one value against each target: flaky on a busy machine;
``tests/e2e/test_pages.py`` now only checks that the marks exist).

Run: ``.venv/bin/python benchmarks/bench_pages.py --bundle var/cache/bench/sample_bundles``
(``--runs 5 --queries 5`` for a quick look; ``omnirank bench pages --bundle B``).
"""

from __future__ import annotations

import argparse
import http.server
import re
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CACHE, LiveServer, console, machine_info, print_table, verdict, write_result  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update"]
FIRST_RENDER_TARGET_MS = 1000.0
SUGGEST_RENDER_TARGET_MS = 16.0
TYPING_DELAY_MS = 40  # as tests/e2e/test_pages.py types
EMPTY_PAGE = b"<!doctype html><html lang=en><meta charset=utf-8><title>empty</title><p>omnirank</p></html>"
TIMEOUT_MS = 30_000

FCP = "(performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime ?? null"
FIRST_RENDER = "performance.getEntriesByName('omnirank:first-render').map(m => m.startTime)"
TRENDING = """performance.getEntriesByType('resource')
  .filter(r => r.name.includes('/v1/recommendations/trending')).map(r => r.responseEnd - r.startTime)"""
SUGGEST_DRAWN = """(q) => {
  const asked = performance.getEntriesByType('resource')
    .filter(r => r.name.includes('/v1/suggest') && new URL(r.name).searchParams.get('q') === q);
  if (!asked.length) return null;
  const last = asked[asked.length - 1];
  const drawn = performance.getEntriesByName('omnirank:suggest-render');
  if (!drawn.length || drawn[drawn.length - 1].startTime < last.responseEnd) return null;
  return { url: last.name, answer_ms: last.responseEnd - last.startTime, drawn_ms: drawn.map(m => m.duration) };
}"""


# --- pure helpers (tests/test_benchmarks_smoke.py) -------------------------------------------
def ms_stats(values_ms: Iterable[float]) -> dict[str, Any]:
    """n, mean, p50, p95 and max of milliseconds (numpy's linear percentiles), NaNs dropped."""
    ms = np.asarray([v for v in values_ms if v is not None], dtype=np.float64)
    ms = ms[~np.isnan(ms)]
    if ms.size == 0:
        return {"n": 0}
    return {
        "n": int(ms.size),
        "mean_ms": float(ms.mean()),
        "p50_ms": float(np.percentile(ms, 50)),
        "p95_ms": float(np.percentile(ms, 95)),
        "max_ms": float(ms.max()),
    }


def typed_prefixes(titles: Iterable[str], n: int, lengths: Sequence[int] = (4, 5, 3)) -> list[str]:
    """``n`` distinct prefixes a shopper might type: the start of the catalog's most frequent title
    words (letters only, at least 5 long), cut to each of ``lengths`` in turn. Deterministic."""
    words = Counter(w for t in titles for w in re.findall(r"[^\W\d_]{5,}", str(t).casefold()) if w.isalpha())
    out: list[str] = []
    for i, (word, _) in enumerate(sorted(words.items(), key=lambda kv: (-kv[1], kv[0]))):
        prefix = word[: lengths[i % len(lengths)]]
        if prefix not in out:
            out.append(prefix)
        if len(out) == n:
            break
    return out


# --- the browser -------------------------------------------------------------------------------
@contextmanager
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def new_page(browser: Any, block_scripts: bool = False) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="en-US")
    context.set_default_timeout(TIMEOUT_MS)
    if block_scripts:
        context.route("**/*.js", lambda route: route.abort())
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield page
    finally:
        context.close()
    if errors:
        raise RuntimeError(f"JavaScript errors on the page: {errors[:3]}")


@contextmanager
def empty_page_server() -> Iterator[str]:
    """A stdlib HTTP server on 127.0.0.1 answering every GET with ``EMPTY_PAGE``."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("content-type", "text/html; charset=utf-8")
            self.send_header("cache-control", "no-cache")
            self.send_header("content-length", str(len(EMPTY_PAGE)))
            self.end_headers()
            self.wfile.write(EMPTY_PAGE)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/empty.html"
    finally:
        server.shutdown()
        server.server_close()


def paints(browser: Any, url: str, runs: int, max_seconds: float, block_scripts: bool = False) -> list[float]:
    """First contentful paint (ms from navigation start) of ``url`` over ``runs`` reloads, after one
    unmeasured load."""
    out: list[float] = []
    with new_page(browser, block_scripts) as page:
        page.goto(url)
        deadline = time.monotonic() + max_seconds
        for _ in range(runs):
            if time.monotonic() > deadline:
                break
            page.reload()
            page.wait_for_function(f"() => ({FCP}) !== null")  # a function: the CSP forbids eval
            out.append(float(page.evaluate(FCP)))
    return out


def first_renders(browser: Any, base: str, runs: int, max_seconds: float) -> dict[str, list[float]]:
    """The storefront's ``omnirank:first-render`` mark and its trending call over ``runs`` reloads."""
    rendered: list[float] = []
    trending: list[float] = []
    with new_page(browser) as page:
        page.goto(f"{base}/")
        page.locator("#trending .card").first.wait_for()
        deadline = time.monotonic() + max_seconds
        for _ in range(runs):
            if time.monotonic() > deadline:
                break
            page.reload()
            page.wait_for_function(f"() => ({FIRST_RENDER}).length > 0")
            rendered.append(float(page.evaluate(FIRST_RENDER)[0]))
            trending.extend(float(v) for v in page.evaluate(TRENDING)[:1])
    return {"first_render_ms": rendered, "trending_answer_ms": trending}


def suggest_draws(browser: Any, base: str, prefixes: Sequence[str], max_seconds: float) -> list[dict]:
    """Each prefix typed key by key into the storefront's box; per prefix the last suggest call (its
    URL and its time as the page saw it) and every ``omnirank:suggest-render`` measure."""
    out: list[dict] = []
    with new_page(browser) as page:
        page.goto(f"{base}/")
        page.locator("#trending .card").first.wait_for()
        box = page.locator("#q")
        deadline = time.monotonic() + max_seconds
        for prefix in prefixes:
            if time.monotonic() > deadline:
                break
            box.fill("")
            page.evaluate(
                "performance.clearMeasures('omnirank:suggest-render'); performance.clearResourceTimings()"
            )
            box.press_sequentially(prefix, delay=TYPING_DELAY_MS)
            handle = page.wait_for_function(SUGGEST_DRAWN, arg=prefix)
            out.append({"prefix": prefix, **handle.json_value()})
    return out


def api_answers(urls: Sequence[str], repeat: int = 3) -> list[float]:
    """The same suggest URLs answered to one keep-alive ``httpx`` client, ``repeat`` rounds: ms per
    call, every call counted."""
    out: list[float] = []
    with httpx.Client(timeout=30) as client:
        for _ in range(repeat):
            for url in urls:
                t = time.perf_counter()
                r = client.get(url)
                elapsed = time.perf_counter() - t
                r.raise_for_status()
                out.append(elapsed * 1e3)
    return out


def answering_prefixes(base: str, candidates: Sequence[str], n: int) -> list[str]:
    """The first ``n`` candidates the API has suggestions for (it also warms the server)."""
    kept = []
    with httpx.Client(base_url=base, timeout=30) as client:
        for prefix in candidates:
            r = client.get("/v1/suggest", params={"q": prefix, "k": 8})
            r.raise_for_status()
            if r.json().get("suggestions"):
                kept.append(prefix)
            if len(kept) == n:
                break
    return kept


def catalog_titles(bundles: Path) -> list[str]:
    from models.bundle import resolve_bundle_path

    return pd.read_parquet(resolve_bundle_path(bundles) / "catalog" / "products.parquet", columns=["title"])[
        "title"
    ].tolist()


# --- report ------------------------------------------------------------------------------------
def row(part: str, what: str, stats: dict[str, Any], target: float | None = None) -> dict[str, Any]:
    return {
        "part": part,
        "what": what,
        **stats,
        "target_ms": target,
        "verdict": verdict(stats.get("p95_ms"), target) if target else "-",
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--bundle", type=Path, default=CACHE / "sample_bundles", help="bundles dir (with latest) to serve"
    )
    parser.add_argument("--runs", type=int, default=20, help="measured reloads of each page")
    parser.add_argument("--queries", type=int, default=None, help="typed queries (default: --runs)")
    parser.add_argument("--max-seconds", type=float, default=300.0, help="cap of each part")
    parser.add_argument("--out", type=Path, default=None, help="JSON path (default results/pages.json)")
    args = parser.parse_args(argv)
    args.queries = args.runs if args.queries is None else args.queries
    return args


def main() -> None:
    args = parse_args()
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} not found: apt-get install -y chromium")
    machine = machine_info()
    candidates = typed_prefixes(catalog_titles(args.bundle), 4 * args.queries)
    with tempfile.TemporaryDirectory(prefix="bench-pages-") as tmp:
        with LiveServer(args.bundle, Path(tmp) / "state") as server, chromium() as browser:
            base = server.url
            prefixes = answering_prefixes(base, candidates, args.queries)
            console.print(f"server {base}; typing {len(prefixes)} prefixes: {', '.join(prefixes)}")
            with empty_page_server() as empty_url:
                empty = paints(browser, empty_url, args.runs, args.max_seconds)
            shell = paints(browser, f"{base}/", args.runs, args.max_seconds, block_scripts=True)
            first = first_renders(browser, base, args.runs, args.max_seconds)
            typed = suggest_draws(browser, base, prefixes, args.max_seconds)
            direct = api_answers([t["url"] for t in typed])
    drawn = [ms for t in typed for ms in t["drawn_ms"]]
    rows = [
        row(
            "first_render",
            "storefront reload: navigation start -> trending cards drawn (omnirank:first-render)",
            ms_stats(first["first_render_ms"]),
            FIRST_RENDER_TARGET_MS,
        ),
        row("first_render", "baseline: static one-line page, first contentful paint", ms_stats(empty)),
        row(
            "first_render",
            "baseline: storefront HTML + CSS, scripts blocked, first contentful paint",
            ms_stats(shell),
        ),
        row(
            "first_render",
            "baseline: its trending call as the page saw it (Resource Timing)",
            ms_stats(first["trending_answer_ms"]),
        ),
        row(
            "suggest_render",
            "typed prefix: suggest answer -> list drawn (omnirank:suggest-render)",
            ms_stats(drawn),
            SUGGEST_RENDER_TARGET_MS,
        ),
        row(
            "suggest_render",
            "baseline: the same suggest calls as the page saw them (Resource Timing)",
            ms_stats(t["answer_ms"] for t in typed),
        ),
        row(
            "suggest_render",
            "baseline: the same suggest URLs to httpx (API answer, 3 each)",
            ms_stats(direct),
        ),
    ]
    print_table(
        f"Storefront in headless Chromium ({args.runs} reloads, {len(typed)} typed queries; verdict on p95)",
        ["part", "what", "n", "p50 ms", "p95 ms", "max ms", "target ms", ""],
        [
            [
                r["part"],
                r["what"],
                r.get("n"),
                r.get("p50_ms"),
                r.get("p95_ms"),
                r.get("max_ms"),
                r["target_ms"],
                r["verdict"],
            ]
            for r in rows
        ],
    )
    write_result(
        "pages",
        {
            "machine": machine,
            "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
            "browser": {"executable": CHROMIUM, "args": CHROMIUM_ARGS, "headless": True},
            "rows": rows,
            "raw": {
                "first_render_ms": first["first_render_ms"],
                "trending_answer_ms": first["trending_answer_ms"],
                "empty_page_fcp_ms": empty,
                "shell_fcp_ms": shell,
                "typed": typed,
                "suggest_httpx_ms": direct,
            },
            "notes": [
                "one uvicorn worker, development mode (no key), on the same cores as the browser",
                "the server starts before the browser; a first unmeasured load warms both",
                "suggest_render ends when the list is built in the DOM (the page's measure), before paint",
            ],
        },
        args.out,
    )


if __name__ == "__main__":
    main()
