"""Installable: no installability errors in a normal profile, a valid manifest whose icons
and screenshots are real PNGs of the stated sizes, and the install UX for each platform."""

from __future__ import annotations

import struct

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PHONES, goto_ready, reload_ready, wait_for_worker

pytestmark = pytest.mark.browser


STANDALONE = """
window.addEventListener("beforeinstallprompt", () => { window.installOffered = true; });
const realMatchMedia = window.matchMedia.bind(window);
window.matchMedia = (query) =>
  realMatchMedia(/display-mode:\\s*standalone/.test(query) ? "all" : query);
"""


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_no_installability_errors_and_the_install_button_appears(
    live_server, launch_persistent, tmp_path, guard
):
    # A normal profile (installability is never reported in incognito), and Chromium's own
    # switch to offer installation without weeks of "engagement" first.
    context = launch_persistent(
        tmp_path / "profile",
        extra_args=["--bypass-app-banner-engagement-checks"],
        **PHONES["pixel"],
    )
    guard.watch(context)
    page = context.pages[0] if context.pages else context.new_page()
    goto_ready(page, live_server.url + "/")
    wait_for_worker(page)
    cdp = context.new_cdp_session(page)

    assert cdp.send("Page.getInstallabilityErrors")["installabilityErrors"] == []
    manifest = cdp.send("Page.getAppManifest")
    assert manifest["url"] == live_server.url + "/manifest.webmanifest"
    assert manifest["errors"] == []

    # Every icon and screenshot the manifest names loads, as a PNG of the stated size.
    body = page.request.get(manifest["url"]).json()
    for image in body["icons"] + body["screenshots"]:
        response = page.request.get(live_server.url + image["src"])
        assert response.ok and response.headers["content-type"] == "image/png"
        width, height = png_size(response.body())
        assert f"{width}x{height}" == image["sizes"], image["src"]

    # Chromium offers installation: our button, not the browser's mini-infobar.
    install = page.get_by_role("button", name="Install app")
    expect(install).to_be_visible()
    expect(page.locator("#install-ios")).to_be_hidden()

    # Running installed, neither the button nor the steps show, even when the browser still
    # offers installation. (Headless Chromium cannot open a real app window, so the page's
    # `display-mode: standalone` is emulated, as Safari's `navigator.standalone` is below.)
    context.add_init_script(STANDALONE)
    reload_ready(page)
    assert page.evaluate("matchMedia('(display-mode: standalone)').matches")
    page.wait_for_function("() => window.installOffered === true")
    expect(page.locator("#practice-title")).to_be_visible()
    expect(page.locator("#install")).to_be_hidden()
    expect(install).to_be_hidden()


def test_ios_safari_gets_add_to_home_screen_steps_with_the_reason(live_server, new_context, guard):
    context = guard.watch(new_context(**PHONES["iphone"]))
    page = context.new_page()
    goto_ready(page, live_server.url + "/")
    steps = page.locator("#install-ios")
    expect(steps).to_be_visible()
    assert "Add to Home Screen" in steps.inner_text()
    assert "reminders only work for apps added to the Home Screen" in steps.inner_text()
    expect(page.get_by_role("button", name="Install app")).to_be_hidden()

    # "Not now" hides the steps, and they stay hidden on the next visit.
    page.get_by_role("button", name="Not now").click()
    expect(page.locator("#install")).to_be_hidden()
    reload_ready(page)
    expect(page.locator("#install")).to_be_hidden()


def test_ios_home_screen_app_shows_no_install_steps(live_server, new_context, guard):
    context = guard.watch(new_context(**PHONES["iphone"]))
    # What iOS Safari reports for a page opened from the Home Screen.
    context.add_init_script("Object.defineProperty(navigator, 'standalone', { value: true })")
    page = context.new_page()
    goto_ready(page, live_server.url + "/")
    expect(page.locator("#practice-title")).to_be_visible()
    expect(page.locator("#install")).to_be_hidden()


def test_android_without_an_install_offer_shows_nothing(live_server, new_context, guard):
    """Incognito-like contexts never get `beforeinstallprompt`: no button, no iOS steps."""
    context = guard.watch(new_context(**PHONES["pixel"]))
    page = context.new_page()
    goto_ready(page, live_server.url + "/")
    wait_for_worker(page)
    expect(page.locator("#install")).to_be_hidden()
