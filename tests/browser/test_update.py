"""A new version: the worker waits, the page offers "Update available", and after the tap the
new worker takes over and the new assets are served. The outbox survives the update."""

from __future__ import annotations

import shutil

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import (
    ROOT,
    goto_ready,
    pixel_only,
    reload_ready,
    wait_for_worker,
    wait_until,
)

pytestmark = pytest.mark.browser

MARKER = "\n:root { --deploy: 2; }\n"


def deploy_css_change(app, static_dir) -> str:
    """Change app.css in the app's (copied) static folder the way a deploy would, and
    re-hash it in place: new asset URL, new asset version, new worker bytes."""
    css = static_dir / "css" / "app.css"
    css.write_text(css.read_text() + MARKER)
    assets = app.extensions["assets"]
    assets.folder = static_dir
    assets.reload()  # what a restarted server does at start-up
    return assets.hashes["css/app.css"]


def cache_names(page) -> list[str]:
    return page.evaluate("caches.keys()")


@pixel_only
def test_new_version_waits_for_the_tap_then_serves_new_assets(
    live_server, phone_context, guard, tmp_path
):
    static_dir = tmp_path / "static"
    shutil.copytree(ROOT / "static", static_dir)
    live_server.app.static_folder = str(static_dir)
    old_version = live_server.app.extensions["asset_version"]

    guard.allow_offline_noise()
    page = phone_context.new_page()
    goto_ready(page, live_server.url + "/")
    wait_for_worker(page)
    page.wait_for_function("() => document.documentElement.dataset.offlineReady")
    assert sorted(cache_names(page)) == [
        f"closer-pages-{old_version}",
        f"closer-static-{old_version}",
    ]
    page.evaluate("caches.open('not-ours').then((c) => c.put('/x', new Response('x')))")

    # A write waits in the outbox (the server applies it but the answer is lost every time).
    live_server.lose_responses("POST", r"/done$", times=1000)
    page.get_by_role("button", name="Done", exact=True).click()
    expect(page.locator("#done").get_by_text("Saved on this phone")).to_be_visible()
    assert page.evaluate("CloserOutbox.count()") == 1

    new_hash = deploy_css_change(live_server.app, static_dir)
    new_version = live_server.app.extensions["asset_version"]
    assert new_version != old_version

    # The next visit finds the new worker; it installs and waits, the old one stays in charge.
    reload_ready(page)
    banner = page.locator("#update-banner")
    expect(banner).to_be_visible(timeout=15000)
    expect(banner).to_have_text("Update available. Tap to update.")
    assert page.evaluate("navigator.serviceWorker.getRegistration().then((r) => !!r.waiting)")
    assert sorted(cache_names(page)) == sorted(
        [f"closer-{kind}-{v}" for kind in ("pages", "static") for v in (old_version, new_version)]
        + ["not-ours"]
    )

    stylesheets = []
    page.on(
        "response",
        lambda r: (
            stylesheets.append((r.url, r.from_service_worker)) if "/app.css" in r.url else None
        ),
    )
    with page.expect_navigation():
        banner.click()
    expect(page.locator("#practice-title")).to_be_visible()
    assert new_hash in page.locator('link[rel="stylesheet"]').get_attribute("href")
    assert stylesheets == [(f"{live_server.url}/static/css/app.css?v={new_hash}", True)]
    assert (
        page.evaluate(
            "getComputedStyle(document.documentElement).getPropertyValue('--deploy').trim()"
        )
        == "2"
    )
    wait_until(page, "navigator.serviceWorker.getRegistration().then((r) => !r.waiting)")
    expect(banner).to_be_hidden()
    wait_until(page, f"caches.keys().then((k) => !k.some((n) => n.endsWith('-{old_version}')))")
    # Only our own stale caches go; someone else's cache on the origin is left alone.
    assert sorted(cache_names(page)) == [
        f"closer-pages-{new_version}",
        f"closer-static-{new_version}",
        "not-ours",
    ]

    # Offline, the new version's own pages and assets (prepared while it was installing).
    phone_context.set_offline(True)
    reload_ready(page)
    expect(page.locator("#practice-title")).to_be_visible()
    assert new_hash in page.locator('link[rel="stylesheet"]').get_attribute("href")
    assert (
        page.evaluate(
            "getComputedStyle(document.documentElement).getPropertyValue('--deploy').trim()"
        )
        == "2"
    )
    phone_context.set_offline(False)

    # The new static cache really serves the new stylesheet (minified, assets.py).
    assert page.evaluate(
        f"""caches.open('closer-static-{new_version}')
              .then((c) => c.match('/static/css/app.css?v={new_hash}'))
              .then((r) => r ? r.text() : '')
              .then((t) => t.includes('--deploy:2'))"""
    )

    # The write made before the update is still waiting, and goes through once answered.
    assert page.evaluate("CloserOutbox.count()") == 1
    live_server.answer_again()
    page.evaluate("CloserOutbox.replay()")
    wait_until(page, "CloserOutbox.count().then((n) => n === 0)")
    from sqlalchemy import func, select

    from models import Completion, db

    with live_server.db():
        assert db.session.scalar(select(func.count()).select_from(Completion)) == 1
