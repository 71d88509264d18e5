"""3. Repeat visit offline: from navigation to the practice text painted, served by the
service worker.

One online visit to `/` installs the worker and lets it cache the coming week; then the
context goes offline (Playwright's network emulation: every request fails, as in a tunnel)
and `/` is opened again and again. The worker answers `/` from its pages cache (the page of
the device's current date). The paint is read with the browser's Element Timing API: an init
script marks the practice title and the steps' list items with `elementtiming` as the parser
inserts them (no change to the templates), and the figure is the latest of their `renderTime`s,
counted
from the navigation's start (`performance.timeOrigin`). FCP, LCP and the navigation's
`responseStart` are kept beside it in results.json. Each navigation also checks that the
worker served it (`workerStart > 0`) and that the page is the practice card.
"""

from __future__ import annotations

import time
from datetime import date

from bench.common import PHONE, AppServer, Context, launch_chromium, log
from bench.report import Result, Target, median

GROUP = "offline_repeat"
LIMIT_MS = 200.0

MARK_SCRIPT = """
(() => {
  window.__paint = {element: {}, lcp: 0, fcp: 0};
  const mark = (node) => {
    if (node.nodeType !== 1) return;
    if (node.id === 'practice-title') node.setAttribute('elementtiming', 'title');
    // Element Timing reports text against the element that holds it: the steps' <li>s.
    const list = node.parentElement;
    const inCard = node.closest && node.closest('#card');
    if (node.tagName === 'LI' && list && list.classList.contains('steps') && inCard) {
      node.setAttribute('elementtiming', 'steps');
    }
  };
  new MutationObserver((records) => {
    for (const r of records) for (const n of r.addedNodes) mark(n);
  }).observe(document, {childList: true, subtree: true});
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const t = e.renderTime || e.loadTime;
      window.__paint.element[e.identifier] = Math.max(window.__paint.element[e.identifier] || 0, t);
    }
  }).observe({type: 'element', buffered: true});
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) window.__paint.lcp = e.renderTime || e.startTime;
  }).observe({type: 'largest-contentful-paint', buffered: true});
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if (e.name === 'first-contentful-paint') window.__paint.fcp = e.startTime;
    }
  }).observe({type: 'paint', buffered: true});
})();
"""

READ_SCRIPT = """
() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const p = window.__paint;
  return {
    title: p.element.title || 0,
    steps: p.element.steps || 0,
    fcp: p.fcp, lcp: p.lcp,
    workerStart: nav.workerStart, responseStart: nav.responseStart,
    card: document.getElementById('card') ? document.getElementById('card').dataset.day : null,
  };
}
"""


def wait_offline_ready(page, today: str, timeout: float = 30.0) -> None:
    """Until the worker controls the page and has `/day/<today>` in one of its caches
    (whichever: their names are the worker's business)."""
    deadline = time.monotonic() + timeout
    script = """async (day) => {
        if (!navigator.serviceWorker || !navigator.serviceWorker.controller) return false;
        return Boolean(await caches.match('/day/' + day));
    }"""
    while time.monotonic() < deadline:
        if page.evaluate(script, today):
            return
        page.wait_for_timeout(200)
    raise RuntimeError("the service worker never cached today's page")


def measure(page, url: str) -> dict:
    page.goto(url + "/", wait_until="load")
    page.wait_for_function(
        "() => window.__paint && window.__paint.element.title && window.__paint.element.steps",
        timeout=10000,
    )
    page.wait_for_timeout(50)  # let LCP settle
    return page.evaluate(READ_SCRIPT)


def run(ctx: Context) -> list[Result]:
    from playwright.sync_api import sync_playwright

    visits = ctx.size(15, 4)
    samples = []
    with AppServer() as server, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            context = browser.new_context(**PHONE)
            context.add_init_script(MARK_SCRIPT)
            page = context.new_page()
            page.goto(server.url + "/", wait_until="load")
            today = page.evaluate(
                "() => new Intl.DateTimeFormat('en-CA', "
                "{year:'numeric',month:'2-digit',day:'2-digit'}).format(new Date())"
            )
            date.fromisoformat(today)
            wait_offline_ready(page, today)
            context.set_offline(True)
            measure(page, server.url)  # the first offline open warms the worker's script
            for _ in range(visits):
                sample = measure(page, server.url)
                if not sample["workerStart"] or sample["card"] != today:
                    raise RuntimeError(f"offline visit not served by the worker: {sample}")
                samples.append(sample)
            context.close()
        finally:
            browser.close()
    painted = [max(s["title"], s["steps"]) for s in samples]
    log(f"offline_repeat: painted {painted}")
    return [
        Result(
            GROUP,
            "navigation to practice text painted, offline, served by the worker (median)",
            median(painted),
            "ms",
            Target("<=", LIMIT_MS, "ms"),
            painted,
            detail={
                "fcp": [s["fcp"] for s in samples],
                "lcp": [s["lcp"] for s in samples],
                "response_start": [s["responseStart"] for s in samples],
                "worker_start": [s["workerStart"] for s in samples],
            },
        ),
        Result(
            GROUP,
            "worker's response started (navigation `responseStart`, median)",
            median(s["responseStart"] for s in samples),
            "ms",
            None,
            [s["responseStart"] for s in samples],
        ),
    ]
