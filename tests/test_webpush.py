"""Web Push sender against a real loopback push service (no mocks).

Every push here is really encrypted, really signed and really POSTed over
127.0.0.1; tests/pushservice.py verifies and decrypts independently.
"""

from __future__ import annotations

import base64
import email.utils
import logging
import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid.jwt import sign as sign_jwt

from reminders import vapid
from reminders.jobs import (
    MAX_PAYLOAD_BYTES,
    PushResult,
    Subscription,
    endpoint_origin,
    parse_retry_after,
)
from reminders.sender import PushSender
from tests.conftest import VAPID_SUBJECT as SUBJECT
from tests.pushservice import PushService, b64url, b64url_decode, verify_vapid

REPO = Path(__file__).resolve().parent.parent


class FakeClock:
    """Starts at real time (the service checks exp against real time) and can jump."""

    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def sender(make_sender) -> PushSender:
    return make_sender()


def subscription(subscriber) -> Subscription:
    return Subscription.from_json(subscriber.subscription_info)


def jwt_claims(headers: dict[str, str], audience: str, now: float) -> dict:
    claims, _key = verify_vapid(headers["Authorization"], audience, now)
    return claims


# -- round trip -----------------------------------------------------------


def test_round_trip_decrypts_to_sent_payload_with_headers_and_claims(service, sender, vapid_key):
    subscriber = service.new_subscriber()
    payload = '{"title":"Closer","body":"Two minutes for us \u2764"}'.encode() + bytes(range(256))

    result = sender.send(
        subscription(subscriber), payload, ttl=3600, topic="daily-reminder", urgency="high"
    )

    assert (result.outcome, result.status, result.retry_after) == ("sent", 201, None)
    assert service.rejections == []
    [message] = subscriber.messages
    assert message.payload == payload
    assert (message.ttl, message.topic, message.urgency) == (3600, "daily-reminder", "high")
    assert message.jwt_claims["aud"] == service.origin
    assert message.jwt_claims["sub"] == SUBJECT
    assert time.time() < message.jwt_claims["exp"] <= time.time() + 24 * 3600
    assert message.vapid_key == vapid.application_server_key(vapid_key)


def test_max_size_payload_fits_push_service_limit(service, sender):
    subscriber = service.new_subscriber()
    payload = os.urandom(MAX_PAYLOAD_BYTES)

    result = sender.send(subscription(subscriber), payload, ttl=60)

    assert result.outcome == "sent"
    assert subscriber.messages[0].payload == payload
    with pytest.raises(ValueError, match="exceeds"):
        sender.send(subscription(subscriber), payload + b"x", ttl=60)


def test_subscription_info_matches_browser_tojson_shape(service):
    info = service.new_subscriber().subscription_info
    assert set(info) == {"endpoint", "expirationTime", "keys"}
    assert info["endpoint"].startswith(f"{service.origin}/push/")
    assert b64url_decode(info["keys"]["p256dh"])[0] == 4
    assert len(b64url_decode(info["keys"]["auth"])) == 16


# -- VAPID header caching -------------------------------------------------


def test_vapid_header_reused_per_origin_and_renewed_before_expiry(service, make_sender):
    clock = FakeClock()
    sender = make_sender(clock=clock)
    subscriber = service.new_subscriber()
    endpoint = subscriber.subscription_info["endpoint"]

    first = sender.vapid_headers(endpoint)
    clock.advance(1)
    assert sender.vapid_headers(f"{service.origin}/push/other-token") == first
    assert first["Authorization"].startswith("vapid t=")
    assert ",k=" in first["Authorization"]

    sender.send(subscription(subscriber), b"one", ttl=60)
    clock.advance(11 * 3600 - 1)  # exactly 1 h of validity left: still reused
    sender.send(subscription(subscriber), b"two", ttl=60)
    assert sender.vapid_headers(endpoint) == first

    clock.advance(1800)  # 11.5 h after signing: < 1 h left, must be re-signed
    renewed = sender.vapid_headers(endpoint)
    sender.send(subscription(subscriber), b"three", ttl=60)

    assert renewed != first
    exps = [m.jwt_claims["exp"] for m in subscriber.messages]
    assert exps[0] == exps[1] == jwt_claims(first, service.origin, time.time())["exp"]
    assert exps[2] == int(clock.now) + 12 * 3600


def test_each_origin_gets_its_own_audience(sender):
    now = time.time()
    a = sender.vapid_headers("https://fcm.googleapis.com/fcm/send/abc")
    b = sender.vapid_headers("https://updates.push.services.mozilla.com:443/wpush/v2/xyz")
    c = sender.vapid_headers("http://127.0.0.1:8123/push/t")
    assert jwt_claims(a, "https://fcm.googleapis.com", now)["aud"] == "https://fcm.googleapis.com"
    moz = "https://updates.push.services.mozilla.com"
    assert jwt_claims(b, moz, now)["aud"] == moz
    assert jwt_claims(c, "http://127.0.0.1:8123", now)["aud"] == "http://127.0.0.1:8123"


def test_endpoint_origin_normalises():
    assert endpoint_origin("HTTPS://u:p@Push.Example.com:443/a?b#c") == "https://push.example.com"
    assert endpoint_origin("http://[::1]:8080/x") == "http://[::1]:8080"
    with pytest.raises(ValueError):
        endpoint_origin("ftp://push.example.com/x")


# -- status handling --------------------------------------------------------


@pytest.mark.parametrize("status", [404, 410])
def test_unsubscribed_endpoint_is_gone(service, sender, status):
    subscriber = service.new_subscriber()
    service.respond(subscriber.token, [status])

    result = sender.send(subscription(subscriber), b"hi", ttl=60)

    assert (result.outcome, result.status) == ("gone", status)
    assert subscriber.messages == []
    assert service.attempts[subscriber.token] == 1


def test_429_delta_seconds_then_next_send_succeeds(service, sender):
    subscriber = service.new_subscriber()
    service.respond(subscriber.token, [(429, {"Retry-After": "2"}), 201])

    first = sender.send(subscription(subscriber), b"hi", ttl=60)
    second = sender.send(subscription(subscriber), b"hi again", ttl=60)

    assert (first.outcome, first.status, first.retry_after) == ("retry", 429, 2.0)
    assert (second.outcome, second.status) == ("sent", 201)
    assert [m.payload for m in subscriber.messages] == [b"hi again"]
    assert service.attempts[subscriber.token] == 2


def test_retry_after_http_date_is_relative_to_clock(service, make_sender):
    clock = FakeClock()
    sender = make_sender(clock=clock)
    subscriber = service.new_subscriber()
    when = email.utils.formatdate(clock.now + 120, usegmt=True)
    service.respond(subscriber.token, [(503, {"Retry-After": when})])

    result = sender.send(subscription(subscriber), b"hi", ttl=60)

    assert (result.outcome, result.status, result.retry_after) == ("retry", 503, 120.0)


def test_plain_503_is_retry_without_retry_after(service, sender):
    subscriber = service.new_subscriber()
    service.respond(subscriber.token, [503])
    result = sender.send(subscription(subscriber), b"hi", ttl=60)
    assert (result.outcome, result.status, result.retry_after) == ("retry", 503, None)


def test_parse_retry_after_edge_cases():
    assert parse_retry_after(None, 0) is None
    assert parse_retry_after("soon", 0) is None
    assert parse_retry_after(" 30 ", 0) == 30.0
    past = email.utils.formatdate(1_000_000, usegmt=True)
    assert parse_retry_after(past, 2_000_000) == 0.0


def test_413_is_rejected_and_logged_by_origin_only(service, sender, caplog):
    subscriber = service.new_subscriber()
    service.respond(subscriber.token, [413])

    with caplog.at_level(logging.DEBUG, logger="closer.push"):
        result = sender.send(subscription(subscriber), b"secret-payload", ttl=60)

    assert (result.outcome, result.status) == ("rejected", 413)
    warnings = [
        r for r in caplog.records if r.name == "closer.push" and r.levelno == logging.WARNING
    ]
    assert warnings, "a rejected push must be logged at WARNING"
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert service.origin in warnings[0].getMessage()
    assert subscriber.token not in text
    assert "/push/" not in text
    assert "secret-payload" not in text
    assert subscriber.token not in repr(result)


def test_successful_send_logs_no_capability_payload_or_keys(service, sender, caplog):
    subscriber = service.new_subscriber()
    info = subscriber.subscription_info
    with caplog.at_level(logging.DEBUG):
        sender.send(subscription(subscriber), b"secret-payload", ttl=60)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert service.origin in text
    keys = info["keys"]
    for secret in (subscriber.token, "secret-payload", keys["p256dh"], keys["auth"]):
        assert secret not in text


def test_connection_refused_is_retry_without_status(sender, service, caplog):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    info = service.new_subscriber().subscription_info
    sub = Subscription(f"http://127.0.0.1:{port}/push/capability-token", **info["keys"])

    with caplog.at_level(logging.WARNING, logger="closer.push"):
        result = sender.send(sub, b"hi", ttl=60)

    assert (result.outcome, result.status, result.retry_after) == ("retry", None, None)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert f"127.0.0.1:{port}" in text
    assert "capability-token" not in text


def test_redirect_is_not_followed(service, sender):
    subscriber = service.new_subscriber()
    service.respond(subscriber.token, [(307, {"Location": "http://127.0.0.1:1/steal"})])
    result = sender.send(subscription(subscriber), b"hi", ttl=60)
    assert (result.outcome, result.status) == ("rejected", 307)


def test_public_only_refuses_a_name_that_resolves_to_a_non_public_address(service, make_sender):
    """The send-time address check covers host names too (DNS rebinding), not only IP
    literals: the name is resolved and refused before any connection is opened."""
    subscriber = service.new_subscriber()
    info = subscriber.subscription_info
    sub = Subscription(info["endpoint"].replace("127.0.0.1", "localhost"), **info["keys"])

    refused = make_sender(public_only=True).send(sub, b"hi", ttl=60)

    assert (refused.outcome, refused.status, refused.retry_after) == ("gone", None, None)
    assert service.connections == 0 and service.attempts == {} and subscriber.messages == []
    # A test push service on loopback may be allowed explicitly; then the name is contacted.
    make_sender(public_only=True, allow_loopback=True).send(sub, b"hi", ttl=60)
    assert service.attempts[subscriber.token] == 1


def test_public_only_refuses_a_non_public_ip_literal(service, make_sender):
    subscriber = service.new_subscriber()
    result = make_sender(public_only=True).send(subscription(subscriber), b"hi", ttl=60)
    assert (result.outcome, result.status) == ("gone", None)
    assert service.connections == 0 and service.attempts == {} and subscriber.messages == []


# -- concurrency and pooling -----------------------------------------------


def test_send_many_bounds_concurrency_and_keeps_order(make_sender):
    with PushService(delay=0.1) as service:
        sender = make_sender(max_workers=4)
        subscribers = [service.new_subscriber() for _ in range(20)]
        jobs = [(subscription(s), f"msg {i}".encode(), 60, None) for i, s in enumerate(subscribers)]

        results = sender.send_many(jobs)

        assert 2 <= service.max_in_flight <= 4
        assert [r.subscription for r in results] == [job[0] for job in jobs]
        assert all(isinstance(r, PushResult) and r.outcome == "sent" for r in results)
        for i, s in enumerate(subscribers):
            assert [m.payload for m in s.messages] == [f"msg {i}".encode()]
        # One shared, pooled session: connections are reused, not one per push.
        assert service.connections <= 4


def test_send_many_validates_every_job_before_sending_any(service, sender):
    good, bad = service.new_subscriber(), service.new_subscriber()
    jobs = [(subscription(good), b"x", 60, None), (subscription(bad), b"x", 60, "not a topic!")]
    with pytest.raises(ValueError, match="topic"):
        sender.send_many(jobs)
    assert service.attempts == {}


# -- argument validation ------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"ttl": 60, "topic": "x" * 33}, "topic"),
        ({"ttl": 60, "topic": "has space"}, "topic"),
        ({"ttl": 60, "topic": "a+b/c="}, "topic"),
        ({"ttl": 60, "urgency": "urgent"}, "urgency"),
        ({"ttl": -1}, "ttl"),
    ],
)
def test_bad_send_arguments_raise(service, sender, kwargs, match):
    subscriber = service.new_subscriber()
    with pytest.raises(ValueError, match=match):
        sender.send(subscription(subscriber), b"x", **kwargs)
    assert service.attempts == {}


def test_topic_of_32_url_safe_chars_is_accepted(service, sender):
    subscriber = service.new_subscriber()
    topic = "Az09-_" + "x" * 26
    assert sender.send(subscription(subscriber), b"x", ttl=0, topic=topic).outcome == "sent"
    assert subscriber.messages[0].topic == topic


@pytest.mark.parametrize("subject", ["ops@closer.example", "http://closer.example", ""])
def test_subject_must_be_mailto_or_https(vapid_key, subject):
    with pytest.raises(ValueError, match="subject"):
        PushSender(vapid_key, subject)


def test_corrupt_subscription_keys_fail_at_construction(service):
    keys = service.new_subscriber().subscription_info["keys"]
    endpoint = f"{service.origin}/push/x"
    with pytest.raises(ValueError):
        Subscription(endpoint, p256dh=b64url(b"\x04" + b"\x01" * 64), auth=keys["auth"])
    with pytest.raises(ValueError):
        Subscription(endpoint, p256dh=keys["p256dh"], auth=b64url(b"short"))
    with pytest.raises(ValueError):
        Subscription("javascript:alert(1)", **keys)


# -- the test service really verifies ----------------------------------------


class ForgingSender(PushSender):
    """Sends real encrypted pushes but with a caller-supplied Authorization header."""

    forged: str = ""

    def authorization(self, origin: str) -> str:
        return self.forged


def _forge(signing_key, claimed_key, **claims) -> str:
    return f"vapid t={sign_jwt(claims, signing_key)},k={vapid.application_server_key(claimed_key)}"


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("wrong_key", "signature"),
        ("wrong_aud", "aud"),
        ("expired", "exp"),
        ("too_far", "24 h"),
        ("bad_sub", "sub"),
    ],
)
def test_service_rejects_tampered_vapid(service, vapid_key, case, reason):
    subscriber = service.new_subscriber()
    now = int(time.time())
    claims = {"aud": service.origin, "exp": now + 3600, "sub": SUBJECT}
    signer = vapid_key
    if case == "wrong_key":
        signer = ec.generate_private_key(ec.SECP256R1())  # k= still claims vapid_key
    elif case == "wrong_aud":
        claims["aud"] = "http://127.0.0.1:1"
    elif case == "expired":
        claims["exp"] = now - 1
    elif case == "too_far":
        claims["exp"] = now + 25 * 3600
    elif case == "bad_sub":
        claims["sub"] = "ops@closer.example"
    sender = ForgingSender(vapid_key, SUBJECT, timeout=5.0)
    sender.forged = _forge(signer, vapid_key, **claims)
    try:
        result = sender.send(subscription(subscriber), b"hi", ttl=60)
    finally:
        sender.close()

    assert (result.outcome, result.status) == ("rejected", 401)
    assert subscriber.messages == []
    [rejection] = service.rejections
    assert reason in rejection.reason


def test_service_requires_ttl_and_decryptable_body(service, sender):
    subscriber = service.new_subscriber()
    headers = sender.vapid_headers(subscriber.endpoint)
    no_ttl = requests.post(
        subscriber.endpoint,
        data=b"x" * 120,
        timeout=5,
        headers={**headers, "Content-Encoding": "aes128gcm"},
    )
    garbage = requests.post(
        subscriber.endpoint,
        data=os.urandom(120),
        timeout=5,
        headers={**headers, "TTL": "60", "Content-Encoding": "aes128gcm"},
    )
    assert (no_ttl.status_code, garbage.status_code) == (400, 400)
    assert "TTL" in service.rejections[0].reason
    assert "decrypt" in service.rejections[1].reason
    assert subscriber.messages == []


# -- vapid.py ---------------------------------------------------------------------


def test_generate_keys_is_owner_only_and_loadable(tmp_path):
    path = vapid.generate_keys(tmp_path / "instance")

    assert path == tmp_path / "instance" / "vapid_private.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS8
    key = vapid.load_private_key(path)
    assert isinstance(key.curve, ec.SECP256R1)


def test_generate_keys_refuses_to_overwrite(tmp_path):
    path = vapid.generate_keys(tmp_path)
    original = path.read_bytes()
    with pytest.raises(FileExistsError):
        vapid.generate_keys(tmp_path)
    assert path.read_bytes() == original


def test_application_server_key_is_uncompressed_point(tmp_path):
    key = vapid.load_private_key(vapid.generate_keys(tmp_path))
    encoded = vapid.application_server_key(key)
    assert "=" not in encoded and "+" not in encoded and "/" not in encoded
    raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    assert len(raw) == 65 and raw[0] == 0x04


def test_load_private_key_rejects_other_curves(tmp_path):
    from cryptography.hazmat.primitives import serialization

    other = ec.generate_private_key(ec.SECP384R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path = tmp_path / "k.pem"
    path.write_bytes(other)
    path.chmod(0o600)
    with pytest.raises(ValueError, match="P-256"):
        vapid.load_private_key(path)


# -- process mode (benchmarks) ------------------------------------------------


def test_process_mode_counts_pushes_and_serves_stats(sender):
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.pushservice", "--port", "0", "--no-verify"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        ready = proc.stdout.readline().split()
        assert ready[0] == "READY"
        origin = ready[1]
        info = requests.post(f"{origin}/subscribe", timeout=5).json()
        sub = Subscription.from_json(info)
        results = sender.send_many([(sub, b"bench", 60, None)] * 3)
        stats = requests.get(f"{origin}/stats", timeout=5).json()
    finally:
        proc.terminate()
        proc.wait(timeout=5)

    assert [r.outcome for r in results] == ["sent"] * 3
    token = info["endpoint"].rsplit("/", 1)[1]
    assert stats == {token: 3}


def test_empty_payload_is_a_bodyless_tickle(service, sender):
    subscriber = service.new_subscriber()
    result = sender.send(subscription(subscriber), b"", ttl=0, urgency="low")
    assert result.outcome == "sent"
    assert (subscriber.messages[0].payload, subscriber.messages[0].urgency) == (b"", "low")
