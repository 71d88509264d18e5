"""1. Page weight of a first visit to `/` in Chromium with mobile emulation.

Bytes are what crossed the wire: each response's headers plus its body as sent (brotli,
zstd or gzip where the server compresses), from Playwright's `Request.sizes()` (DevTools'
`encodedDataLength`, the counter Lighthouse's `total-byte-weight` sums), for every request
of the browser context: the page's, its dedicated worker's and the service worker's.

- **first visit** (the target): every byte the page itself requests until the network is
  idle (no request for 1.5 s), scripts, the icon, the zone report and the manifest (which a
  phone's Chrome fetches to offer the install, and Lighthouse too) included, as Lighthouse
  counts it. `load` is only a moment inside it, reported beside it;
- **the service worker's precache**: what the worker fetches in the background for offline
  use (its precache, the coming week's pages). Paid once, after the page is usable, and not
  the page's own request, so reported beside it with no target.
"""

from __future__ import annotations

import time

from bench.common import (
    PHONE,
    AppServer,
    Context,
    launch_chromium,
    log,
)
from bench.report import Result, Target, median

GROUP = "page_weight"
HTML_LIMIT = 8 * 1024
TOTAL_LIMIT = 30 * 1024
SETTLE_QUIET = 1.5  # seconds without a new request: the worker is done
SETTLE_MAX = 25.0


def one_visit(browser, url: str) -> dict:
    """A first visit in a fresh context (no cookie, no cache, no service worker)."""
    context = browser.new_context(**PHONE)
    page = context.new_page()
    finished: list = []
    last_activity = [time.monotonic()]

    def on_request(request):
        last_activity[0] = time.monotonic()

    def on_request_finished(request):
        last_activity[0] = time.monotonic()
        finished.append(request)

    context.on("request", on_request)
    context.on("requestfinished", on_request_finished)
    page.goto(url + "/", wait_until="load")
    # A phone's Chrome fetches the manifest to see whether the app can be installed, and
    # Lighthouse asks for it the same way; headless Chromium only does when asked.
    context.new_cdp_session(page).send("Page.getAppManifest")
    deadline = time.monotonic() + SETTLE_MAX
    while time.monotonic() < deadline:
        page.wait_for_timeout(250)
        if time.monotonic() - last_activity[0] >= SETTLE_QUIET:
            break
    load = page.evaluate("() => performance.timing.loadEventStart")  # ms since the epoch

    html = own = until_load = worker = 0
    items = []
    for request in finished:
        if not request.url.startswith("http"):
            continue  # data: URLs carry no bytes
        sizes, timing = request.sizes(), request.timing
        size = sizes["responseHeadersSize"] + max(0, sizes["responseBodySize"])
        path = request.url[len(url) :]
        if request.service_worker is not None:
            worker += size
            items.append({"path": path, "bytes": size, "service_worker": True})
            continue
        before_load = timing["startTime"] + max(0, timing["responseEnd"]) <= load
        own += size
        until_load += size if before_load else 0
        if request.resource_type == "document" and html == 0:
            html = size
        items.append({"path": path, "bytes": size, "before_load": before_load})
    context.close()
    return {
        "html": html,
        "page": own,
        "until_load": until_load,
        "worker": worker,
        "requests": len(items),
        "items": items,
    }


def explain(ctx: Context, visit: dict) -> None:
    """Where the first visit's bytes go: the largest of the page's own responses."""
    own = sorted((i for i in visit["items"] if "before_load" in i), key=lambda i: -i["bytes"])
    largest = ", ".join(f"{i['path'].split('?', 1)[0]} {i['bytes']:,} B" for i in own[:5])
    ctx.note(
        f"page_weight: the first visit made {len(own)} requests of its own, "
        f"{visit['page']:,} B on the wire ({visit['until_load']:,} B of them until `load`). "
        f"Largest: {largest}."
    )


def run(ctx: Context) -> list[Result]:
    from playwright.sync_api import sync_playwright

    runs = ctx.size(3, 1)
    visits = []
    with AppServer() as server, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            for i in range(runs):
                visits.append(one_visit(browser, server.url))
                log(f"page_weight run {i + 1}/{runs}: {visits[-1]['page']} B, page's own")
        finally:
            browser.close()

    def figure(key):
        values = [v[key] for v in visits]
        return median(values), values

    html, html_runs = figure("html")
    total, total_runs = figure("page")
    load, load_runs = figure("until_load")
    worker, worker_runs = figure("worker")
    example = visits[len(visits) // 2]
    explain(ctx, example)
    return [
        Result(
            GROUP,
            "HTML document of `/` (headers + compressed body)",
            html,
            "B",
            Target("<=", HTML_LIMIT, "B"),
            html_runs,
        ),
        Result(
            GROUP,
            "first visit: every request of the page until the network is idle",
            total,
            "B",
            Target("<=", TOTAL_LIMIT, "B"),
            total_runs,
            note="as Lighthouse's total-byte-weight counts it; headers included",
            detail={"items": [i for i in example["items"] if "before_load" in i]},
        ),
        Result(GROUP, "of which until `load`", load, "B", None, load_runs),
        Result(
            GROUP,
            "service worker's precache and offline pages (background, not judged)",
            worker,
            "B",
            None,
            worker_runs,
            detail={"items": [i for i in example["items"] if i.get("service_worker")]},
        ),
    ]
