"""Remind me daily, in real Chromium: the tap, the permission, the subscription reaching the
server, a real dispatch to the loopback push service, and the decrypted payload delivered
into our service worker through the DevTools protocol, which shows the notification.

The one stand-in: `PushManager.prototype.subscribe` hands the page the test subscriber's keys
and loopback endpoint, since no real push service is reachable from here. Everything after
that (the page script, CSRF, validation, storage, scheduling, VAPID, encryption, the push
service's checks, decryption, the worker's `push` handler) is the real thing.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from models import PushSubscription, User, db
from reminders import vapid
from tests.browser.conftest import FOCUSED, PHONES, goto_ready, reload_ready, wait_until

STUB = """
(() => {
  const info = %s;
  const fake = {
    endpoint: info.endpoint,
    expirationTime: null,
    options: { userVisibleOnly: true },
    toJSON() { return JSON.parse(JSON.stringify(info)); },
    unsubscribe() { return Promise.resolve(true); },
  };
  if (self.PushManager) {
    PushManager.prototype.subscribe = function (options) {
      self.__pushOptions = options;
      return Promise.resolve(fake);
    };
  }
})();
"""


@pytest.fixture
def push_server(live_server, tmp_path):
    key = tmp_path / "vapid.pem"
    vapid.create_key_file(key)
    live_server.app.config.update(
        VAPID_PRIVATE_KEY_PATH=str(key),
        VAPID_SUBJECT="mailto:reminders@closer.app",
        PUSH_ALLOW_INSECURE_ENDPOINTS=True,
        REMINDER_CONCURRENCY=2,
    )
    return live_server


def registration_id(cdp, page, scope: str) -> str:
    """The worker registration's id for CDP's deliverPushMessage, once its worker is
    activated, as a real push normally finds it."""
    wait_until(page, "navigator.serviceWorker.ready.then(r => r.active.state === 'activated')")
    found: dict[str, str] = {}

    def updated(event):
        for reg in event.get("registrations", []):
            if reg.get("scopeURL") == scope and not reg.get("isDeleted"):
                found["id"] = reg["registrationId"]

    cdp.on("ServiceWorker.workerRegistrationUpdated", updated)
    cdp.send("ServiceWorker.enable")
    deadline = time.monotonic() + 15
    while "id" not in found:
        assert time.monotonic() < deadline, "no service worker registration reported"
        page.wait_for_timeout(50)
    return found["id"]


# Notes, in the worker, what its next showNotification() came to. Chromium's getNotifications()
# deletes every stored notification that the platform does not report as on display yet (and
# that is older than the read): one read between the worker storing a notification and the
# platform showing it loses it for good, and every later read lists nothing. Polling for the
# notification did that under load; so the tests read notifications only after this settles.
WATCH_SHOW = """() => {
  const registration = self.registration;
  const show = registration.showNotification;
  self.__shown = "pending";
  registration.showNotification = (...args) => {
    delete registration.showNotification;
    return show.apply(registration, args).then(
      (result) => { self.__shown = "shown"; return result; },
      (error) => { self.__shown = `failed: ${error}`; throw error; },
    );
  };
}"""


def deliver_push(context, page, origin: str, data: str) -> None:
    """Hand `data` to the worker of `page` (scope `origin`/) as a push service would, through
    CDP, and wait until its `push` handler has shown the notification (see WATCH_SHOW)."""
    cdp = context.new_cdp_session(page)
    reg_id = registration_id(cdp, page, origin + "/")
    [worker] = context.service_workers
    worker.evaluate(WATCH_SHOW)
    cdp.send(
        "ServiceWorker.deliverPushMessage",
        {"origin": origin, "registrationId": reg_id, "data": data},
    )
    wait_until(worker, "self.__shown !== 'pending'")
    assert worker.evaluate("self.__shown") == "shown"


def stubbed_push_page(push_server, subscriber, new_context, guard, path: str):
    """A Pixel page at `path` with notifications allowed, whose push subscription is
    `subscriber`'s (Chromium cannot subscribe headless): (context, page)."""
    context = guard.watch(new_context(**PHONES["pixel"]))
    context.grant_permissions(["notifications"], origin=push_server.url)
    context.add_init_script(STUB % json.dumps(subscriber.subscription_info))
    page = context.new_page()
    goto_ready(page, push_server.url + path)
    return context, page


def test_remind_me_daily_then_a_dispatched_push_shows_the_notification(
    push_server, service, new_context, guard
):
    subscriber = service.new_subscriber()
    context, page = stubbed_push_page(push_server, subscriber, new_context, guard, "/")

    # No permission prompt before the tap: the page has not asked for anything.
    assert page.evaluate("self.__pushOptions === undefined")
    assert page.get_by_label("Reminder time").input_value() == "08:30"
    page.get_by_label("Reminder time").fill("07:45")
    page.get_by_role("button", name="Remind me daily").click()
    page.get_by_text("every day at 07:45").wait_for()
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")  # push.js registered it
    options = page.evaluate(
        "({visible: self.__pushOptions.userVisibleOnly,"
        " key: btoa(String.fromCharCode(...new Uint8Array(self.__pushOptions.applicationServerKey)))"
        ".replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, '')})"
    )
    with push_server.db():
        row = db.session.scalars(select(PushSubscription)).one()
        user = db.session.scalars(select(User)).one()
        assert row.endpoint == subscriber.endpoint
        assert user.reminder_time.strftime("%H:%M") == "07:45"
        due = user.next_reminder_at.replace(tzinfo=UTC)
        public = vapid.application_server_key(
            vapid.load_private_key(push_server.app.config["VAPID_PRIVATE_KEY_PATH"])
        )
    assert options == {"visible": True, "key": public}

    result = push_server.app.test_cli_runner().invoke(
        args=["reminders", "dispatch", "--now", (due + timedelta(minutes=1)).isoformat()]
    )
    assert result.exit_code == 0, result.output
    [message] = subscriber.messages  # verified and decrypted by the push service
    payload = json.loads(message.payload)
    assert payload["title"].startswith("Day ") and payload["url"] == f"/day/{payload['day']}"

    deliver_push(context, page, push_server.url, message.payload.decode())
    shown = page.evaluate(
        """navigator.serviceWorker.ready.then(r => r.getNotifications()).then(list =>
             list.map(n => ({title: n.title, body: n.body, tag: n.tag, url: n.data.url})))"""
    )
    assert shown == [
        {
            "title": payload["title"],
            "body": payload["body"],
            "tag": f"closer-{payload['day']}",
            "url": f"/day/{payload['day']}",
        }
    ]


def test_ios_outside_the_home_screen_gets_an_explanation_not_a_prompt(
    push_server, new_context, guard
):
    context = guard.watch(new_context(**PHONES["iphone"]))
    page = context.new_page()
    goto_ready(page, push_server.url + "/settings")
    button = page.get_by_role("button", name="Remind me daily")
    # It can only explain here: not the page's main action.
    assert button.get_attribute("class") == "secondary"
    button.click()
    note = page.locator('[data-push-note="ios"]')
    note.wait_for()
    # The install panel on the page shows the steps; the note points there, once.
    expect(page.locator("#install-ios")).to_contain_text("Add to Home Screen")
    assert "Keep Closer on your home screen" in note.inner_text()
    assert page.get_by_text("Add to Home Screen").count() == 1
    with push_server.db():
        assert db.session.scalars(select(PushSubscription)).all() == []


def test_denied_permission_is_explained(push_server, new_context, guard):
    context = guard.watch(new_context(**PHONES["pixel"]))
    page = context.new_page()
    goto_ready(page, push_server.url + "/")
    # No permission was granted to this context, so Chromium refuses the request, as when a
    # person taps Block: the page must say how to undo that.
    page.get_by_role("button", name="Remind me daily").click()
    note = page.locator('[data-push-note="denied"]')
    note.wait_for()
    assert "blocked" in note.inner_text()
    with push_server.db():
        assert db.session.scalars(select(PushSubscription)).all() == []


def test_a_picked_time_is_kept_when_reminders_cannot_start(push_server, new_context, guard):
    """As the form does without JavaScript ("Your reminder time is saved either way")."""
    context = guard.watch(new_context(**PHONES["pixel"]))
    page = context.new_page()
    goto_ready(page, push_server.url + "/")
    page.get_by_label("Reminder time").fill("21:15")
    page.get_by_role("button", name="Remind me daily").click()
    page.locator('[data-push-note="denied"]').wait_for()

    def saved_time():
        with push_server.db():
            saved = db.session.scalars(select(User.reminder_time)).one()
        return saved and saved.strftime("%H:%M")

    deadline = time.monotonic() + 10
    while saved_time() != "21:15":
        assert time.monotonic() < deadline, f"reminder time is {saved_time()}"
        page.wait_for_timeout(50)
    reload_ready(page)
    assert page.get_by_label("Reminder time").input_value() == "21:15"
    with push_server.db():
        assert db.session.scalars(select(PushSubscription)).all() == []


def test_keyboard_focus_stays_in_the_reminders_panel(push_server, service, new_context, guard):
    """Each button that swaps the panel hands focus to the one that takes its place."""
    subscriber = service.new_subscriber()
    _, page = stubbed_push_page(push_server, subscriber, new_context, guard, "/settings")
    page.get_by_role("button", name="Remind me daily").click()
    page.get_by_text("every day at 08:30").wait_for()

    def press(button_id: str, then: str) -> str:
        page.locator(f"#{button_id}").focus()
        page.keyboard.press("Enter")
        page.get_by_text(then).first.wait_for()
        return page.evaluate(FOCUSED)

    assert press("reminders-pause", "Paused.") == "reminders-pause Resume reminders now"
    assert press("reminders-pause", "Reminders are back on.") == "reminders-pause Pause"
    page.locator("#reminder-time").fill("07:15")
    assert press("reminders-save-time", "Saved: reminders at 07:15") == (
        "reminders-save-time Save time"
    )
    assert press("reminders-switch", "Remind me daily") == "reminders-switch Remind me daily"
