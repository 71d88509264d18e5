"""1. Page weight of a first visit to `/` in Chromium with mobile emulation.

Bytes are what crossed the wire: each response's headers plus its body as sent (brotli,
zstd or gzip where the server compresses), from the DevTools protocol's
`Network.loadingFinished.encodedDataLength`, the counter Lighthouse's `total-byte-weight`
sums, for the page's own requests; Playwright's `Request.sizes()` (the same counter) for
the service worker's, which the page's DevTools session cannot see.

- **first visit** (the target): every byte the page itself requests until the network is
  idle (no request for 1.5 s), scripts and the icon loaded after `load` included, as
  Lighthouse counts it. `load` is only a moment inside it, reported beside it;
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
    cdp = context.new_cdp_session(page)
    responses: dict[str, dict] = {}
    finished: dict[str, dict] = {}
    load_at: list[float] = []
    worker_requests: list = []
    last_activity = [time.monotonic()]

    def on_response(event):
        response = event["response"]
        responses[event["requestId"]] = {
            "url": response["url"],
            "type": event.get("type", ""),
            "from_sw": bool(response.get("fromServiceWorker")),
            "from_cache": bool(response.get("fromDiskCache")),
        }
        last_activity[0] = time.monotonic()

    def on_finished(event):
        finished[event["requestId"]] = {
            "bytes": int(event["encodedDataLength"]),
            "t": event["timestamp"],
        }
        last_activity[0] = time.monotonic()

    def on_request(request):
        last_activity[0] = time.monotonic()

    def on_request_finished(request):
        last_activity[0] = time.monotonic()
        if request.service_worker is not None:
            worker_requests.append(request)

    cdp.on("Network.responseReceived", on_response)
    cdp.on("Network.loadingFinished", on_finished)
    cdp.on("Page.loadEventFired", lambda event: load_at.append(event["timestamp"]))
    cdp.send("Network.enable")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": False})
    cdp.send("Page.enable")
    context.on("request", on_request)
    context.on("requestfinished", on_request_finished)

    page.goto(url + "/", wait_until="load")
    deadline = time.monotonic() + SETTLE_MAX
    while time.monotonic() < deadline:
        page.wait_for_timeout(250)
        if time.monotonic() - last_activity[0] >= SETTLE_QUIET:
            break
    if not load_at:
        raise RuntimeError("no load event seen")
    load = load_at[0]

    html = until_load = after_load = 0
    items = []
    for request_id, info in responses.items():
        done = finished.get(request_id)
        if done is None or not info["url"].startswith("http"):
            continue  # data: URLs and requests that never finished carry no bytes
        size = done["bytes"]
        path = info["url"].split("://", 1)[1].split("/", 1)[-1]
        if info["type"] == "Document" and html == 0:
            html = size
        if done["t"] <= load:
            until_load += size
        else:
            after_load += size
        items.append({"path": "/" + path, "bytes": size, "before_load": done["t"] <= load})
    worker = 0
    for request in worker_requests:
        sizes = request.sizes()
        size = max(0, sizes["responseBodySize"]) + sizes["responseHeadersSize"]
        worker += size
        items.append({"path": request.url[len(url) :], "bytes": size, "service_worker": True})
    context.close()
    return {
        "html": html,
        "page": until_load + after_load,
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
