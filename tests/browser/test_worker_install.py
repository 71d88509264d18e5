"""The service worker's install takes hashed static files from the HTTP cache: the page has
just fetched them and their URLs never change, so a phone on a slow network pays for each
file once on a first visit, not twice."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.browser.conftest import wait_for_worker

pytestmark = pytest.mark.browser


def precached_static_paths(page) -> list[str]:
    return page.evaluate(
        """async () => {
          const out = [];
          for (const name of await caches.keys()) {
            if (!name.startsWith("closer-static-")) continue;
            for (const r of await (await caches.open(name)).keys()) {
              const url = new URL(r.url);
              if (url.pathname.startsWith("/static/") && url.searchParams.get("v")) {
                out.push(url.pathname);
              }
            }
          }
          return out;
        }"""
    )


def test_first_visit_fetches_each_static_file_once(live_server, phone_context):
    page = phone_context.new_page()
    page.goto(live_server.url + "/")
    wait_for_worker(page)
    page.wait_for_function("() => document.documentElement.dataset.offlineReady")

    precached = precached_static_paths(page)
    assert "/static/css/app.css" in precached  # the worker did precache the hashed files
    # Chromium loads a new worker's importScripts() from the network, whatever the cache
    # holds: that one second fetch of the scripts the page shares with it is the browser's,
    # not the precache's.
    for shared in ("common.js", "outbox.js", "replay.js"):
        precached.remove(f"/static/js/{shared}")
    fetched = Counter(path for method, path, _ in live_server.faults.log if method == "GET")
    assert {path: fetched[path] for path in precached} == dict.fromkeys(precached, 1)
