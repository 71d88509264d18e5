"""Storing browser subscriptions: validation (never store a bad one), devices, settings forms,
keys, and the production refusals."""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import stat

import pytest
from sqlalchemy import func, select

from app import create_app
from models import Device, PushSubscription, User, db
from reminders import vapid
from reminders.config import subject_is_real
from reminders.subscriptions import is_public
from tests.conftest import HTMX
from tests.reminders_support import SUBJECT, push_app, subscribe, the_user


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture
def strict_app(tmp_path):
    """Production-like validation: https only, public hosts only."""
    app = push_app(tmp_path, PUSH_ALLOW_INSECURE_ENDPOINTS=False)
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def keys(service):
    return service.new_subscriber().subscription_info["keys"]


def rows(app) -> tuple[int, int]:
    with app.app_context():
        subs = db.session.scalar(select(func.count()).select_from(PushSubscription))
        users = db.session.scalar(select(func.count()).select_from(User))
        return subs, users


PUBLIC = "https://8.8.8.8/push/abc"  # an IP literal resolves without any network


def test_a_valid_subscription_on_a_public_https_host_is_stored(strict_app, keys):
    client = strict_app.test_client()
    body = {"endpoint": PUBLIC, "expirationTime": None, "keys": keys, "junk": {"a": 1}}
    response = client.post("/push/subscriptions", json=body)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["reminderTime"] == "08:30"
    with strict_app.app_context():
        row = db.session.scalars(select(PushSubscription)).one()
        assert (row.endpoint, row.p256dh, row.auth) == (PUBLIC, keys["p256dh"], keys["auth"])
        stored = json.dumps({c.key: str(getattr(row, c.key)) for c in row.__table__.columns})
        assert "junk" not in stored


def test_a_subscription_belongs_to_the_device_that_made_it(strict_app, keys):
    """Removing a device drops its reminders (devices.remove), so each row names its device,
    and a browser that re-subscribes the same endpoint under another device re-points it."""
    body = {"endpoint": PUBLIC, "keys": keys}
    phones = [strict_app.test_client(), strict_app.test_client()]
    for client in phones:
        assert client.get("/").status_code == 200
        assert client.post("/push/subscriptions", json=body).status_code == 201
        with strict_app.app_context():
            row = db.session.scalars(select(PushSubscription)).one()
            device = db.session.scalars(select(Device).where(Device.user_id == row.user_id)).one()
            assert row.device_id == device.id


BAD_ENDPOINTS = [
    ("http://8.8.8.8/push/abc", "https"),
    ("https://127.0.0.1/push/abc", "public"),
    ("https://localhost/push/abc", "public"),  # a name that resolves to loopback
    ("https://10.1.2.3/push/abc", "public"),
    ("https://192.168.1.10/push/abc", "public"),
    ("https://172.16.0.1/push/abc", "public"),
    ("https://169.254.169.254/latest/meta-data", "public"),  # cloud metadata, link-local
    ("https://224.0.0.1/push/abc", "public"),
    ("https://0.0.0.0/push/abc", "public"),
    ("https://240.0.0.1/push/abc", "public"),
    ("https://[::1]/push/abc", "public"),
    ("https://[fe80::1]/push/abc", "public"),
    ("https://[fc00::1]/push/abc", "public"),
    ("https://[::ffff:127.0.0.1]/push/abc", "public"),
    ("https://[::ffff:10.0.0.1]/push/abc", "public"),
    ("https://[64:ff9b::a00:1]/push/abc", "public"),
    ("https://[2002:a00:1::1]/push/abc", "public"),
    ("https://user:pw@8.8.8.8/push/abc", "user name"),
    ("https://8.8.8.8:99999/push", "port"),
    ("https://no-such-host.invalid/push/abc", "could not find"),
    ("ftp://8.8.8.8/push", "https"),
    ("javascript:alert(1)", "https"),
    ("https:///push", "host"),
    ("https://8.8.8.8/push/a b", "spaces"),
    ("https://8.8.8.8/push#frag", "fragment"),
    ("https://8.8.8.8/" + "a" * 1100, "1024"),
    ("", "no endpoint"),
    (42, "no endpoint"),
]


@pytest.mark.parametrize(("endpoint", "says"), BAD_ENDPOINTS)
def test_bad_endpoints_are_refused_and_nothing_is_stored(strict_app, keys, endpoint, says):
    client = strict_app.test_client()
    response = client.post("/push/subscriptions", json={"endpoint": endpoint, "keys": keys})
    assert response.status_code == 422, endpoint
    assert says in response.get_json()["error"], response.get_json()
    assert rows(strict_app) == (0, 0)  # not even a user row


def test_loopback_and_http_need_the_insecure_switch(tmp_path, service):
    app = push_app(tmp_path, PUSH_ALLOW_INSECURE_ENDPOINTS=True)
    info = service.new_subscriber().subscription_info
    assert app.test_client().post("/push/subscriptions", json=info).status_code == 201
    # but even then, private networks stay out of reach
    private = {**info, "endpoint": "http://10.0.0.1/push/x"}
    assert app.test_client().post("/push/subscriptions", json=private).status_code == 422


def _off_curve() -> str:
    return b64(b"\x04" + b"\x01" * 64)


@pytest.mark.parametrize(
    ("mutate", "says"),
    [
        (lambda k: {**k, "p256dh": b64(os.urandom(33))}, "65-byte"),
        (lambda k: {**k, "p256dh": b64(b"\x03" + os.urandom(64))}, "65-byte"),
        (lambda k: {**k, "p256dh": _off_curve()}, "curve"),
        (lambda k: {**k, "p256dh": "not base64!"}, "base64url"),
        (lambda k: {**k, "p256dh": 12}, "base64url"),
        (lambda k: {**k, "auth": b64(os.urandom(15))}, "16 bytes"),
        (lambda k: {**k, "auth": b64(os.urandom(32))}, "16 bytes"),
        (lambda k: {"p256dh": k["p256dh"]}, "base64url"),
        (lambda k: "keys", "no keys"),
    ],
)
def test_bad_keys_are_refused(strict_app, keys, mutate, says):
    client = strict_app.test_client()
    response = client.post("/push/subscriptions", json={"endpoint": PUBLIC, "keys": mutate(keys)})
    assert response.status_code == 422
    assert says in response.get_json()["error"]
    assert rows(strict_app) == (0, 0)


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        (b"{not json", "application/json", 400),
        (b"\xff\xfe", "application/json", 400),
        (b"[1, 2]", "application/json", 400),
        (b"null", "application/json", 400),
        (b'{"endpoint": ' + b"[" * 3000 + b"]" * 3000 + b"}", "application/json", 413),
        (b'{"a": {"b": {"c": {"d": {"e": 1}}}}}', "application/json", 400),
        (b'{"endpoint": "' + b"x" * 5000 + b'"}', "application/json", 413),
        (b'{"endpoint": "https://8.8.8.8/x"}', "text/plain", 415),
        (b"endpoint=https://8.8.8.8/x", "application/x-www-form-urlencoded", 415),
    ],
)
def test_junk_bodies_are_refused(strict_app, data, content_type, status):
    client = strict_app.test_client()
    response = client.post("/push/subscriptions", data=data, content_type=content_type)
    assert response.status_code == status
    assert response.get_json()["error"]
    assert rows(strict_app) == (0, 0)


def test_deep_nesting_within_the_size_limit_is_refused(strict_app):
    body = b'{"keys": ' + b"[" * 900 + b"]" * 900 + b"}"
    response = strict_app.test_client().post(
        "/push/subscriptions", data=body, content_type="application/json"
    )
    assert response.status_code == 400 and rows(strict_app) == (0, 0)


def test_a_huge_body_is_refused_before_it_is_read(strict_app):
    response = strict_app.test_client().post(
        "/push/subscriptions", data=b"x" * 60_000, content_type="application/json"
    )
    assert response.status_code == 413


def test_bad_reminder_time_is_refused(strict_app, keys):
    body = {"endpoint": PUBLIC, "keys": keys, "reminderTime": "25:00"}
    response = strict_app.test_client().post("/push/subscriptions", json=body)
    assert response.status_code == 422 and rows(strict_app) == (0, 0)


def test_the_same_endpoint_twice_stays_one_row(tmp_path, service):
    app = push_app(tmp_path)
    client = app.test_client()
    subscriber = service.new_subscriber()
    assert subscribe(client, subscriber).status_code == 201
    assert subscribe(client, subscriber, "19:45").status_code == 201
    assert rows(app) == (1, 1)
    assert the_user(app).reminder_time.strftime("%H:%M") == "19:45"


def test_several_devices_per_user_and_delete_removes_only_this_one(tmp_path, service):
    app = push_app(tmp_path)
    client = app.test_client()
    phone, laptop = service.new_subscriber(), service.new_subscriber()
    subscribe(client, phone)
    subscribe(client, laptop)
    assert rows(app) == (2, 1)

    response = client.delete("/push/subscriptions", json={"endpoint": phone.endpoint})
    assert response.status_code == 200 and response.get_json()["removed"] == 1
    assert rows(app) == (1, 1)
    assert the_user(app).next_reminder_at is not None  # the laptop still gets them

    client.delete("/push/subscriptions", json={"endpoint": laptop.endpoint})
    assert rows(app) == (0, 1)
    assert the_user(app).next_reminder_at is None  # no device left: reminders stop


def test_delete_cannot_remove_another_users_device(tmp_path, service):
    app = push_app(tmp_path)
    owner, stranger = app.test_client(), app.test_client()
    subscriber = service.new_subscriber()
    subscribe(owner, subscriber)
    response = stranger.delete("/push/subscriptions", json={"endpoint": subscriber.endpoint})
    assert response.status_code == 200 and response.get_json()["removed"] == 0
    assert rows(app)[0] == 1


@pytest.mark.parametrize("body", [b"{", b'{"endpoint": 5}', b'{"endpoint": ""}', b"[]"])
def test_delete_with_junk_is_refused(tmp_path, body):
    app = push_app(tmp_path)
    response = app.test_client().delete(
        "/push/subscriptions", data=body, content_type="application/json"
    )
    assert 400 <= response.status_code < 500


def test_the_eleventh_device_replaces_the_oldest(tmp_path, service):
    app = push_app(tmp_path)
    client = app.test_client()
    subscribers = [service.new_subscriber() for _ in range(11)]
    for s in subscribers:
        assert subscribe(client, s).status_code == 201
    with app.app_context():
        endpoints = set(db.session.scalars(select(PushSubscription.endpoint)))
    assert len(endpoints) == 10 and subscribers[0].endpoint not in endpoints


# -- settings forms -------------------------------------------------------------------------


def test_reminder_time_form_without_javascript(tmp_path):
    app = push_app(tmp_path)
    client = app.test_client()
    page = client.get("/settings").get_data(as_text=True)
    assert "Reminder time" in page and 'value="08:30"' in page and "Remind me daily" in page
    response = client.post("/push/time", data={"reminder_time": "07:05", "from": "settings"})
    assert response.status_code == 303 and response.headers["Location"].endswith(
        "/settings#reminders"
    )
    assert the_user(app).reminder_time.strftime("%H:%M") == "07:05"
    assert the_user(app).next_reminder_at is None  # no device yet: nothing to send to
    bad = client.post("/push/time", data={"reminder_time": "7 o'clock"})
    assert bad.status_code == 422 and "like 08:30" in bad.get_data(as_text=True)


def test_htmx_forms_answer_with_the_panel(tmp_path, service):
    app = push_app(tmp_path)
    client = app.test_client()
    subscribe(client, service.new_subscriber())
    response = client.post("/push/pause", data={"days": "7"}, headers=HTMX)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in html and 'id="reminders"' in html
    assert "Paused" in html and "Resume reminders now" in html
    html = client.post("/push/resume", headers=HTMX).get_data(as_text=True)
    assert "every day at 08:30" in html
    assert client.post("/push/pause", data={"days": "99"}, headers=HTMX).status_code == 422
    assert client.post("/push/pause", data={"days": "x"}, headers=HTMX).status_code == 422


def test_today_page_shows_the_compact_panel_and_settings_the_full_one(tmp_path, service):
    app = push_app(tmp_path)
    client = app.test_client()
    today = client.get("/").get_data(as_text=True)
    assert 'id="reminders"' in today and "Remind me daily" in today and "Reminder time" in today
    subscribe(client, service.new_subscriber())
    today = client.get("/").get_data(as_text=True)
    assert "every day at 08:30" in today and "Pause for" not in today
    settings = client.get("/settings").get_data(as_text=True)
    assert "Pause for" in settings and "Turn off reminders everywhere" in settings
    assert 'style="' not in today + settings and "hx-on" not in today + settings
    assert "<script>" not in today + settings


def test_public_key_is_served(tmp_path):
    app = push_app(tmp_path)
    with app.app_context():
        expected = vapid.application_server_key(
            vapid.load_private_key(app.config["VAPID_PRIVATE_KEY_PATH"])
        )
    client = app.test_client()
    assert client.get("/push/key").get_json() == {"publicKey": expected}
    assert f'data-vapid-key="{expected}"' in client.get("/settings").get_data(as_text=True)


def test_without_keys_the_page_still_renders_and_the_key_route_says_why(tmp_path):
    app = push_app(tmp_path, VAPID_PRIVATE_KEY_PATH=str(tmp_path / "absent.pem"))
    client = app.test_client()
    assert client.get("/settings").status_code == 200
    response = client.get("/push/key")
    assert response.status_code == 404 and "not set up" in response.get_json()["error"]


# -- keys and production ------------------------------------------------------------------


def test_init_keys_creates_once_owner_only_and_prints_the_path(tmp_path):
    path = tmp_path / "inst" / "vapid.pem"
    app = push_app(tmp_path, VAPID_PRIVATE_KEY_PATH=str(path))
    runner = app.test_cli_runner()
    first = runner.invoke(args=["push", "init-keys"])
    assert first.exit_code == 0 and str(path) in first.output and "created" in first.output
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    original = path.read_bytes()
    second = runner.invoke(args=["push", "init-keys"])
    assert second.exit_code == 0 and "already present" in second.output
    assert path.read_bytes() == original


def _production(tmp_path, **config):
    key = tmp_path / "prod.pem"
    if not key.exists():
        vapid.create_key_file(key)
    base = {
        "DEPLOYMENT": "production",
        "SECRET_KEY": "p" * 40,
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'p.db'}",
        "VAPID_PRIVATE_KEY_PATH": str(key),
        "VAPID_SUBJECT": "mailto:care@closer.app",
    }
    base.update(config)
    return create_app(base)


def test_production_starts_with_a_key_and_a_real_subject(tmp_path):
    assert _production(tmp_path).config["VAPID_SUBJECT"] == "mailto:care@closer.app"


@pytest.mark.parametrize(
    ("config", "says"),
    [
        ({"VAPID_PRIVATE_KEY_PATH": "/nonexistent/vapid.pem"}, "init-keys"),
        ({"VAPID_SUBJECT": "mailto:reminders@closer.invalid"}, "VAPID_SUBJECT"),
        ({"VAPID_SUBJECT": "mailto:me@localhost"}, "VAPID_SUBJECT"),
        ({"VAPID_SUBJECT": "https://example.com/contact"}, "VAPID_SUBJECT"),
        ({"PUSH_ALLOW_INSECURE_ENDPOINTS": True}, "local testing only"),
        ({"PUSH_ALLOW_INSECURE_ENDPOINTS": "1"}, "local testing only"),
    ],
)
def test_production_refuses_to_start(tmp_path, config, says):
    with pytest.raises(RuntimeError, match=says):
        _production(tmp_path, **config)


def test_subject_check():
    assert subject_is_real("mailto:care@closer.app") and subject_is_real("https://closer.app/")
    for bad in (SUBJECT.replace(".app", ".invalid"), "care@closer.app", "http://closer.app"):
        assert not subject_is_real(bad)


def test_address_classification():
    assert is_public(ipaddress.ip_address("8.8.8.8"))
    assert is_public(ipaddress.ip_address("2001:4860:4860::8888"))
    for text in ("127.0.0.1", "::ffff:192.168.0.1", "100.64.0.1", "198.18.0.1", "::", "ff02::1"):
        assert not is_public(ipaddress.ip_address(text)), text


@pytest.mark.parametrize(
    ("url", "data"),
    [("/push/time", {"reminder_time": "nope"}), ("/push/pause", {"days": "0"})],
)
def test_rejected_settings_create_nothing_for_a_newcomer(tmp_path, url, data):
    app = push_app(tmp_path)
    client = app.test_client()
    for headers in ({}, HTMX):
        response = client.post(url, data=data, headers=headers)
        assert response.status_code == 422
    assert rows(app) == (0, 0)
    deleted = client.delete("/push/subscriptions", json={"endpoint": "https://8.8.8.8/x"})
    assert deleted.status_code == 200 and rows(app) == (0, 0)
