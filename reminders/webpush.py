"""Web Push sending layer: VAPID (RFC 8292) + aes128gcm payloads (RFC 8291).

Design notes:

* An endpoint URL is a bearer capability (anyone who knows it can push to that
  browser), so it never appears in logs or reprs; only its origin does.
* ``send()`` never raises for HTTP or network failures. The daily batch must go
  on when one push service misbehaves; callers act on ``PushResult.outcome``.
* One pooled ``requests.Session`` and one bounded thread pool are shared by all
  sends so that a large batch reuses TLS connections per push service instead of
  opening thousands of them, and never floods a push service.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import ipaddress
import logging
import re
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC
from urllib.parse import urlsplit

import requests
import urllib3
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid.jwt import sign as sign_jwt
from pywebpush import WebPusher
from requests.adapters import HTTPAdapter
from urllib3 import HTTPConnectionPool, HTTPSConnectionPool

from reminders.vapid import application_server_key

log = logging.getLogger("closer.push")

JWT_LIFETIME = 12 * 3600  # RFC 8292 caps exp at 24 h; 12 h leaves room for clock skew.
JWT_MIN_REMAINING = 3600  # renew early so a token never expires while in flight.
# RFC 8291 section 4: 4096-byte push-service limit minus 103 bytes of aes128gcm overhead.
MAX_PAYLOAD_BYTES = 3993
URGENCIES = frozenset({"very-low", "low", "normal", "high"})
_TOPIC_RE = re.compile(r"[A-Za-z0-9_-]{1,32}")  # RFC 8030 section 5.4
_DEFAULT_PORTS = {"http": 80, "https": 443}

JobTuple = tuple["Subscription", bytes, int, "str | None"]


class _RedactUrlPaths(logging.Filter):
    """Blank request paths in urllib3's own log records.

    urllib3 logs ``"POST /push/<token>"`` at DEBUG (and the URL on retry
    warnings); for a push endpoint that path is a bearer capability, and
    turning on DEBUG logging must not leak every subscriber's endpoint.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_redact_path(arg) for arg in record.args)
        return True


def _redact_path(arg: object) -> object:
    if not isinstance(arg, str):
        return arg
    if arg.startswith("/"):
        return "/<redacted>"
    parts = urlsplit(arg)
    if parts.scheme in ("http", "https") and parts.netloc and parts.path not in ("", "/"):
        return f"{parts.scheme}://{parts.netloc}/<redacted>"  # absolute form (via proxy)
    return arg


def _install_urllib3_redaction() -> None:
    urllib3_log = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(f, _RedactUrlPaths) for f in urllib3_log.filters):
        urllib3_log.addFilter(_RedactUrlPaths())


_install_urllib3_redaction()


def endpoint_origin(endpoint: str) -> str:
    """``scheme://host[:port]`` of an endpoint: the VAPID ``aud`` and the only loggable part.

    Userinfo is dropped and default ports are elided so that equivalent URLs
    share one cached JWT and the ``aud`` matches what the push service expects.
    """
    parts = urlsplit(endpoint)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ValueError("push endpoint must be an absolute http(s) URL")
    host = parts.hostname
    if ":" in host:  # IPv6 literal: brackets are part of the origin syntax
        host = f"[{host}]"
    port = parts.port
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def _b64url_decode(value: str) -> bytes:
    stripped = value.strip().rstrip("=")
    return base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4))


@dataclass(frozen=True)
class Subscription:
    """A browser PushSubscription, validated on construction.

    Validating here (not at send time) means a corrupt database row fails where
    the caller builds its job list and can skip that one row, instead of
    blowing up in a worker thread in the middle of a batch.
    """

    endpoint: str
    p256dh: str  # base64url, 65-byte uncompressed P-256 point
    auth: str  # base64url, 16-byte auth secret

    def __post_init__(self) -> None:
        endpoint_origin(self.endpoint)
        try:
            point = _b64url_decode(self.p256dh)
            auth = _b64url_decode(self.auth)
            # Rejects points that are not on the curve, which would otherwise
            # surface only as an obscure error deep inside the ECDH step.
            ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("subscription p256dh/auth is not a valid P-256 key") from exc
        if len(point) != 65 or len(auth) != 16:
            raise ValueError("subscription p256dh must be 65 bytes and auth 16 bytes")

    @classmethod
    def from_json(cls, info: Mapping) -> Subscription:
        """Build from the browser's ``PushSubscription.toJSON()`` dict."""
        keys = info["keys"]
        return cls(endpoint=info["endpoint"], p256dh=keys["p256dh"], auth=keys["auth"])

    @property
    def origin(self) -> str:
        return endpoint_origin(self.endpoint)

    def as_subscription_info(self) -> dict:
        """The mapping shape pywebpush's WebPusher expects."""
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.p256dh, "auth": self.auth}}

    def __repr__(self) -> str:
        # The default dataclass repr would leak the capability URL into logs
        # and tracebacks.
        return f"Subscription(origin={self.origin!r})"


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


def _validate_send_args(payload: bytes, ttl: int, topic: str | None, urgency: str) -> None:
    """Reject programming errors before anything is sent (ValueError)."""
    if not isinstance(payload, bytes | bytearray):
        raise ValueError("payload must be bytes")
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"payload exceeds {MAX_PAYLOAD_BYTES} bytes (RFC 8291 limit)")
    if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 0:
        raise ValueError("ttl must be a non-negative int (seconds)")
    if topic is not None and not _TOPIC_RE.fullmatch(topic):
        raise ValueError("topic must be 1-32 characters of the URL-safe base64 alphabet")
    if urgency not in URGENCIES:
        raise ValueError(f"urgency must be one of {sorted(URGENCIES)}")


class _NoRedirectSession(requests.Session):
    """A Session that never follows redirects.

    Push services do not redirect; following one would re-POST our signed
    request to wherever a hostile endpoint points (e.g. internal addresses).
    WebPusher offers no per-call switch, hence the subclass.
    """

    def request(self, method, url, *args, **kwargs):
        kwargs["allow_redirects"] = False
        return super().request(method, url, *args, **kwargs)


class _Response:
    """The parts of a requests.Response that WebPusher and PushSender read."""

    __slots__ = ("status_code", "headers", "content")

    def __init__(self, status_code: int, headers, content: bytes) -> None:
        self.status_code = status_code
        self.headers = headers  # urllib3's HTTPHeaderDict: case-insensitive .get()
        self.content = content

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


class BlockedAddress(requests.RequestException):
    """The endpoint's host now resolves to an address we never send to (DNS rebinding)."""


def _checked_connection(base: type, allow_loopback: bool) -> type:
    """A urllib3 connection class that checks the peer address right after the TCP connect
    and before a single byte (not even TLS) is sent: validation at subscribe time cannot
    stop a host from resolving elsewhere later, this can."""
    from reminders.subscriptions import _embedded, is_public

    class Checked(base):
        def _new_conn(self):
            sock = super()._new_conn()
            peer = ipaddress.ip_address(sock.getpeername()[0].split("%", 1)[0])
            if not (is_public(peer) or (allow_loopback and _embedded(peer).is_loopback)):
                sock.close()
                raise _Blocked(self, "push endpoint resolved to a non-public address")
            return sock

    return Checked


class _Blocked(urllib3.exceptions.NewConnectionError):
    pass


class _Urllib3Session:
    """The one method WebPusher calls (``post``), straight on a urllib3 connection pool.

    requests spends about a millisecond of Python per call on things a push never needs
    (scanning the environment for proxies, cookie jars, hooks, redirect bookkeeping); at a
    few thousand pushes a second on two cores that was most of the cost. Same guarantees as
    the requests session it replaces: pooled keep-alive connections (at most ``max_workers``
    kept per origin), no redirects followed, no automatic retries, and network failures
    raised as ``requests.RequestException`` so callers need not know. Used only when no
    proxy is configured in the environment (requests honours those; this does not).
    """

    def __init__(self, max_workers: int, public_only: bool = False, allow_loopback: bool = False):
        self._pool = urllib3.PoolManager(
            num_pools=16, maxsize=max_workers, block=False, retries=False
        )
        if public_only:
            pools = {}
            for scheme, pool in (("http", HTTPConnectionPool), ("https", HTTPSConnectionPool)):
                checked = _checked_connection(pool.ConnectionCls, allow_loopback)
                pools[scheme] = type(f"Checked{pool.__name__}", (pool,), {"ConnectionCls": checked})
            self._pool.pool_classes_by_scheme = pools

    def post(self, url: str, data: bytes | None = None, headers=None, timeout=None, **_kw):
        try:
            response = self._pool.request(
                "POST",
                url,
                body=data,
                headers=headers,
                timeout=urllib3.Timeout(total=timeout),
                redirect=False,
                retries=False,
            )
        except _Blocked:
            raise BlockedAddress("non-public address") from None
        except urllib3.exceptions.HTTPError as exc:
            # The message embeds the URL (a bearer capability): keep only the type.
            raise requests.ConnectionError(type(exc).__name__) from None
        return _Response(response.status, response.headers, response.data)

    def close(self) -> None:
        self._pool.clear()


@dataclass(frozen=True)
class _CachedVapid:
    header: str
    expires_at: int


class PushSender:
    """Sends Web Push messages; thread-safe; reuse one instance for a whole batch."""

    def __init__(
        self,
        private_key: ec.EllipticCurvePrivateKey,
        subject: str,
        *,
        max_workers: int = 16,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
        public_only: bool = False,
        allow_loopback: bool = False,
    ) -> None:
        """``public_only`` refuses to connect to any non-public address at send time (the
        dispatcher turns it on; ``allow_loopback`` is for a test push service)."""
        if not isinstance(private_key, ec.EllipticCurvePrivateKey) or not isinstance(
            private_key.curve, ec.SECP256R1
        ):
            raise ValueError("VAPID key must be an EC P-256 private key")
        if not subject.startswith(("mailto:", "https:")):
            raise ValueError("VAPID subject must start with 'mailto:' or 'https:'")
        if max_workers < 1:
            raise ValueError("max_workers must be >= 1")
        self._key = private_key
        self._public_key = application_server_key(private_key)
        self._subject = subject
        self._timeout = timeout
        self._clock = clock
        self._vapid_lock = threading.Lock()
        self._vapid_cache: dict[str, _CachedVapid] = {}
        self._session = self._make_session(max_workers, public_only, allow_loopback)
        self._executor = ThreadPoolExecutor(max_workers, thread_name_prefix="closer-push")

    @staticmethod
    def _make_session(
        max_workers: int, public_only: bool = False, allow_loopback: bool = False
    ) -> requests.Session | _Urllib3Session:
        # Behind a proxy the peer is the proxy, so the address check cannot apply there.
        if not urllib.request.getproxies():
            return _Urllib3Session(max_workers, public_only, allow_loopback)
        session = _NoRedirectSession()
        # pool_maxsize >= workers so no worker ever opens (and then discards) an
        # extra connection. No automatic retries: a retried POST could deliver
        # twice; retry policy belongs to the caller via outcome "retry".
        adapter = HTTPAdapter(pool_connections=16, pool_maxsize=max_workers, max_retries=0)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        return session

    # -- VAPID -------------------------------------------------------------

    def vapid_headers(self, endpoint: str) -> dict[str, str]:
        """``Authorization: vapid t=<jwt>,k=<key>`` for the endpoint's origin.

        Signing costs an ECDSA operation, so one JWT per push-service origin is
        cached until less than JWT_MIN_REMAINING of its life is left.
        """
        origin = endpoint_origin(endpoint)
        now = self._clock()
        with self._vapid_lock:
            cached = self._vapid_cache.get(origin)
            if cached is None or cached.expires_at - now < JWT_MIN_REMAINING:
                cached = self._sign_for(origin, now)
                self._prune_stale(now)
                self._vapid_cache[origin] = cached
        return {"Authorization": cached.header}

    def _sign_for(self, origin: str, now: float) -> _CachedVapid:
        exp = int(now) + JWT_LIFETIME
        token = sign_jwt({"aud": origin, "exp": exp, "sub": self._subject}, self._key)
        return _CachedVapid(header=f"vapid t={token},k={self._public_key}", expires_at=exp)

    def _prune_stale(self, now: float) -> None:
        # Keeps the cache bounded by the origins seen in the last JWT lifetime.
        stale = [o for o, c in self._vapid_cache.items() if c.expires_at - now < JWT_MIN_REMAINING]
        for origin in stale:
            del self._vapid_cache[origin]

    # -- sending -----------------------------------------------------------

    def send(
        self,
        sub: Subscription,
        payload: bytes,
        *,
        ttl: int,
        topic: str | None = None,
        urgency: str = "normal",
    ) -> PushResult:
        """Encrypt and POST one message; HTTP/network failures become a PushResult."""
        _validate_send_args(payload, ttl, topic, urgency)
        headers = self.vapid_headers(sub.endpoint)
        headers["Urgency"] = urgency
        if topic is not None:
            headers["Topic"] = topic
        pusher = WebPusher(sub.as_subscription_info(), requests_session=self._session)
        try:
            # WebPusher sets TTL and Content-Encoding itself from these arguments.
            response = pusher.send(
                bytes(payload),
                headers,
                ttl=ttl,
                content_encoding="aes128gcm",
                timeout=self._timeout,
            )
        except BlockedAddress:
            log.warning("push refused: origin=%s resolves to a non-public address", sub.origin)
            return PushResult(sub, "gone", None, None)
        except requests.RequestException as exc:
            return self._network_failure(sub, exc)
        return self._result_from(sub, response)

    def _network_failure(self, sub: Subscription, exc: Exception) -> PushResult:
        # Only the exception type: requests' messages embed the full URL path.
        log.warning("push retry: origin=%s network error %s", sub.origin, type(exc).__name__)
        return PushResult(sub, "retry", None, None)

    def _result_from(self, sub: Subscription, response: requests.Response) -> PushResult:
        status = response.status_code
        outcome = classify(status)
        retry_after = parse_retry_after(response.headers.get("Retry-After"), self._clock())
        level = {"sent": logging.DEBUG, "gone": logging.INFO}.get(outcome, logging.WARNING)
        log.log(level, "push %s: origin=%s status=%d", outcome, sub.origin, status)
        return PushResult(sub, outcome, status, retry_after)

    def submit(
        self,
        sub: Subscription,
        payload: bytes,
        *,
        ttl: int,
        topic: str | None = None,
        urgency: str = "normal",
    ) -> Future[PushResult]:
        """Queue one send on the shared pool; the future resolves to its PushResult.

        Arguments are validated here, in the caller's thread, so a programming error raises
        before anything is queued. The dispatcher uses this to act on each result as soon as
        it arrives (and commit it), instead of waiting for a whole batch.
        """
        _validate_send_args(payload, ttl, topic, urgency)
        return self._executor.submit(self.send, sub, payload, ttl=ttl, topic=topic, urgency=urgency)

    def send_many(self, jobs: Iterable[JobTuple]) -> list[PushResult]:
        """Send ``(sub, payload, ttl, topic)`` jobs with at most max_workers in flight.

        All jobs are validated first so that a programming error aborts the
        batch before any user has been notified, not halfway through.
        Results are in input order.
        """
        job_list = list(jobs)
        for _sub, payload, ttl, topic in job_list:
            _validate_send_args(payload, ttl, topic, "normal")
        return list(self._executor.map(self._send_job, job_list))

    def _send_job(self, job: JobTuple) -> PushResult:
        sub, payload, ttl, topic = job
        return self.send(sub, payload, ttl=ttl, topic=topic)

    def close(self) -> None:
        """Wait for in-flight sends, then release pooled connections."""
        self._executor.shutdown(wait=True)
        self._session.close()

    def __enter__(self) -> PushSender:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
