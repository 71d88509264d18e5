"""What the sender is given and what it hands back: a subscription, a push job, its result.

* An endpoint URL is a bearer capability (anyone who knows it can push to that browser), so
  it never appears in logs or reprs; only its origin does.
* A subscription is validated when it is built, so a corrupt database row fails where the
  dispatcher builds its job list (and is dropped there), not in the middle of a batch.
* Every job is validated before any of its batch is sent, so a programming error aborts the
  batch before anyone has been notified, not halfway through.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import re
from dataclasses import dataclass, field
from datetime import UTC
from urllib.parse import SplitResult, urlsplit

from cryptography.hazmat.primitives.asymmetric import ec

# RFC 8291 section 4: 4096-byte push-service limit minus 103 bytes of aes128gcm overhead.
MAX_PAYLOAD_BYTES = 3993
URGENCIES = frozenset({"very-low", "low", "normal", "high"})
TOPIC = re.compile(r"[A-Za-z0-9_-]{1,32}")  # RFC 8030 section 5.4
DEFAULT_PORTS = {"http": 80, "https": 443}
# Visible ASCII only: a push endpoint never needs more, and nothing else reaches the wire.
SAFE_TARGET = re.compile(r"/[\x21-\x7e]*")


def endpoint_origin(endpoint: str) -> str:
    """``scheme://host[:port]`` of an endpoint: the VAPID ``aud`` and the only loggable part.

    Userinfo is dropped and default ports are elided so that equivalent URLs share one cached
    JWT and the ``aud`` matches what the push service expects.
    """
    return origin_of(urlsplit(endpoint))


def origin_of(parts: SplitResult) -> str:
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        raise ValueError("push endpoint must be an absolute http(s) URL")
    host = parts.hostname
    if ":" in host:  # IPv6 literal: brackets are part of the origin syntax
        host = f"[{host}]"
    port = parts.port
    if port is None or port == DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def b64url_decode(value: str) -> bytes:
    stripped = value.strip().rstrip("=")
    return base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4))


@dataclass(frozen=True)
class Subscription:
    """A browser PushSubscription, validated on construction (ValueError)."""

    endpoint: str
    p256dh: str  # base64url, 65-byte uncompressed P-256 point
    auth: str  # base64url, 16-byte auth secret
    origin: str = field(init=False, repr=True, compare=False)
    sendable: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        parts = urlsplit(self.endpoint)
        origin = origin_of(parts)
        try:
            point = b64url_decode(self.p256dh)
            auth = b64url_decode(self.auth)
            # Rejects points that are not on the curve, which would otherwise surface only
            # as an obscure error deep inside the encryption.
            ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("subscription p256dh/auth is not a valid P-256 key") from exc
        if len(point) != 65 or len(auth) != 16:
            raise ValueError("subscription p256dh must be 65 bytes and auth 16 bytes")
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        # A frozen dataclass sets its derived fields through object.__setattr__.
        object.__setattr__(self, "origin", origin)
        object.__setattr__(self, "sendable", SAFE_TARGET.fullmatch(target) is not None)

    @classmethod
    def from_json(cls, info: dict) -> Subscription:
        """Build from the browser's ``PushSubscription.toJSON()`` dict."""
        keys = info["keys"]
        return cls(endpoint=info["endpoint"], p256dh=keys["p256dh"], auth=keys["auth"])

    def as_subscription_info(self) -> dict:
        """The browser's ``PushSubscription.toJSON()`` shape (what pywebpush takes)."""
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.p256dh, "auth": self.auth}}

    def __repr__(self) -> str:
        # The default repr would leak the capability URL into logs and tracebacks.
        return f"Subscription(origin={self.origin!r})"


@dataclass(frozen=True, slots=True)
class PushJob:
    sub: Subscription
    payload: bytes
    ttl: int
    topic: str | None = None
    urgency: str = "normal"


def validate(job: PushJob) -> None:
    """Reject programming errors before anything is sent (ValueError)."""
    if not isinstance(job.payload, bytes | bytearray):
        raise ValueError("payload must be bytes")
    if len(job.payload) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"payload exceeds {MAX_PAYLOAD_BYTES} bytes (RFC 8291 limit)")
    if isinstance(job.ttl, bool) or not isinstance(job.ttl, int) or job.ttl < 0:
        raise ValueError("ttl must be a non-negative int (seconds)")
    if job.topic is not None and not TOPIC.fullmatch(job.topic):
        raise ValueError("topic must be 1-32 characters of the URL-safe base64 alphabet")
    if job.urgency not in URGENCIES:
        raise ValueError(f"urgency must be one of {sorted(URGENCIES)}")


@dataclass(frozen=True)
class PushResult:
    subscription: Subscription
    outcome: str  # "sent" | "gone" | "retry" | "rejected"
    status: int | None  # None when no HTTP response arrived
    retry_after: float | None  # seconds, None when the header was absent or unparsable


def classify(status: int) -> str:
    """Map a push-service status to what the caller should do (RFC 8030 semantics)."""
    if 200 <= status < 300:
        return "sent"
    if status in (404, 410):
        return "gone"  # subscription expired or unsubscribed: delete it
    if status == 429 or status >= 500:
        return "retry"  # transient: back off, try later
    return "rejected"  # our request is wrong (413, 400, 401, 3xx...): retrying won't help


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Retry-After as seconds from ``now``; accepts delta-seconds or an HTTP-date."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None  # garbage header: behave as if absent rather than guess
    if when.tzinfo is None:  # "-0000" zone: RFC 5322 says UTC
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)
