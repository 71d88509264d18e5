"""1. Page weight of a first visit to `/` in Chromium with mobile emulation.

Bytes are what crossed the wire: each response's headers plus its body as sent (brotli or
gzip where the server compresses), from the DevTools protocol's
`Network.loadingFinished.encodedDataLength` for the page's own requests and Playwright's
`Request.sizes()` (the same counter) for the service worker's, which the page's DevTools
session cannot see.

Two totals, both reported:
- **until `load`**: what the person waits for before the page is complete; the target is
  judged on this one. The page's scripts (htmx, the offline layer, reminders) load after
  `load` and the first paint, and are reported beside it;
- **after the service worker settles**: plus everything the worker fetches in the background
  after load (its precache and the coming week, library and progress pages for offline use).
  That is the price of working offline, paid once, after the page is usable.
"""

from __future__ import annotations

import time

from bench.common import (
    PHONE,
    AppServer,
    Context,
    Result,
    Target,
    launch_chromium,
    log,
    median,
    wait_ready,
)

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
    wait_ready(page)  # the page's scripts come after `load`; then the worker's fetches
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
    body_until_load = _bodies_until_load(page, load)
    context.close()
    return {
        "html": html,
        "until_load": until_load,
        "page_after_load": after_load,
        "worker": worker,
        "total": until_load + after_load + worker,
        "body_until_load": body_until_load,
        "requests": len(items),
        "items": items,
    }


def _bodies_until_load(page, load_timestamp: float) -> int:
    """Compressed body bytes (no headers) of the resources the page loaded before `load`."""
    return int(
        page.evaluate(
            """() => {
                const nav = performance.getEntriesByType('navigation')[0];
                const loadEnd = nav.loadEventStart;
                let total = nav.encodedBodySize;
                for (const r of performance.getEntriesByType('resource')) {
                    if (r.responseEnd <= loadEnd) total += r.encodedBodySize;
                }
                return total;
            }"""
        )
    )


def explain(ctx: Context, visit: dict) -> None:
    """Say where the bytes until `load` go: the largest responses, and the headers' share."""
    before = sorted((i for i in visit["items"] if i.get("before_load")), key=lambda i: -i["bytes"])
    headers = visit["until_load"] - visit["body_until_load"]
    largest = ", ".join(f"{_short(i['path'])} {i['bytes']:,} B" for i in before[:4])
    ctx.note(
        f"page_weight: until `load`, {len(before)} responses, {visit['until_load']:,} B on the "
        f"wire, of which {headers:,} B are response headers (~{headers // max(1, len(before))} B "
        f"each) and {visit['body_until_load']:,} B compressed bodies. Largest: {largest}."
    )


def _short(path: str) -> str:
    return path.split("?", 1)[0]


def run(ctx: Context) -> list[Result]:
    from playwright.sync_api import sync_playwright

    runs = ctx.size(3, 1)
    visits = []
    with AppServer() as server, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            for i in range(runs):
                visits.append(one_visit(browser, server.url))
                log(f"page_weight run {i + 1}/{runs}: {visits[-1]['until_load']} B until load")
        finally:
            browser.close()

    def figure(key):
        values = [v[key] for v in visits]
        return median(values), values

    html, html_runs = figure("html")
    load, load_runs = figure("until_load")
    body, body_runs = figure("body_until_load")
    total, total_runs = figure("total")
    worker, worker_runs = figure("worker")
    after, after_runs = figure("page_after_load")
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
            "first visit until `load` (headers + compressed bodies)",
            load,
            "B",
            Target("<=", TOTAL_LIMIT, "B"),
            load_runs,
            note="the target is judged on this total: what the person waits for",
            detail={"items": [i for i in example["items"] if i.get("before_load")]},
        ),
        Result(
            GROUP,
            "first visit until `load`, compressed bodies only (no headers)",
            body,
            "B",
            None,
            body_runs,
        ),
        Result(
            GROUP,
            "the page's own requests after `load` (its scripts, the icon, the zone report)",
            after,
            "B",
            None,
            after_runs,
        ),
        Result(
            GROUP,
            "service worker's background fetches after load (precache + offline pages)",
            worker,
            "B",
            None,
            worker_runs,
        ),
        Result(
            GROUP,
            "first visit including the worker's background fetches",
            total,
            "B",
            None,
            total_runs,
            detail={"items": example["items"]},
        ),
    ]
