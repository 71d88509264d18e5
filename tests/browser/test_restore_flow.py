"""Restore from a file in a real browser: a phone's export chosen on another phone's
Settings → Restore from a file, previewed, restored; CSRF and rate limits on, no CSP error."""

from __future__ import annotations

import pytest

from tests.browser.conftest import PHONES, goto_ready

pytestmark = pytest.mark.browser

WORDS = "We walked to the lake & talked <quietly>"

# The export as the old phone saved it (its writes through the app's own forms).
WRITE_A_DAY = """async ([text]) => {
  const token = document.querySelector('meta[name="csrf-token"]').content;
  const today = document.querySelector("form[action$='/done']").action;
  const post = (url, fields) => fetch(url, {method: "POST", body: new URLSearchParams(
      {csrf_token: token, ...fields})});
  await post(today, {});
  await post(today.replace(/done$/, "reflection"), {text});
}"""


def test_a_phones_export_restores_on_another_phone(live_server, new_context, guard):
    old_phone = guard.watch(new_context(**PHONES["pixel"]))
    page = old_phone.new_page()
    goto_ready(page, live_server.url + "/")
    page.evaluate(WRITE_A_DAY, [WORDS])
    export = page.request.get(live_server.url + "/settings/export")
    assert export.ok

    new_phone = guard.watch(new_context(**PHONES["iphone"]))
    page = new_phone.new_page()
    goto_ready(page, live_server.url + "/")
    goto_ready(page, live_server.url + "/settings/restore")
    page.locator("#restore-file").set_input_files(
        files=[
            {
                "name": "closer-export-2026-12-07.json",
                "mimeType": "application/json",
                "buffer": export.body(),
            }
        ]
    )
    page.get_by_role("button", name="Show what it holds").click()
    summary = page.locator("#restore-summary")
    summary.wait_for()
    assert summary.inner_text() == "1 day practised, 1 reflection."
    fits = "() => document.documentElement.scrollWidth <= window.innerWidth"
    assert page.evaluate(fits), "the preview is wider than the phone"

    page.get_by_role("button", name="Restore", exact=True).click()
    page.get_by_role("heading", name="Restored").wait_for()
    assert "Added 1 day practised and 1 reflection." in page.inner_text("main")
    goto_ready(page, live_server.url + "/progress")
    assert WORDS in page.inner_text("main")
