"""Web Push sending layer: VAPID (RFC 8292) + aes128gcm payloads (RFC 8291).

Design notes:

* An endpoint URL is a bearer capability (anyone who knows it can push to that
  browser), so it never appears in logs or reprs; only its origin does.
* ``send()`` never raises for HTTP or network failures. The daily batch must go
  on when one push service misbehaves; callers act on ``PushResult.outcome``.
* All sends run on one asyncio event loop in a background thread owned by the
  sender, over one pooled ``aiohttp.ClientSession`` with at most ``max_workers``
  requests (and connections) at a time: a large batch reuses keep-alive
  connections per push service instead of opening thousands of them, never
  floods a push service, and costs no thread hand-off per push. The public API
  (``send``, ``submit``, ``send_many``) stays synchronous.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import email.utils
import functools
import ipaddress
import logging
import re
import socket
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid.jwt import sign as sign_jwt
from pywebpush import WebPusher

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

    @functools.cached_property
    def origin(self) -> str:
        # Cached: read for every send (VAPID audience, logs). cached_property writes the
        # instance __dict__ directly, which a frozen dataclass allows.
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


class BlockedAddress(Exception):
    """The endpoint's host now resolves to an address we never send to (DNS rebinding).

    Deliberately not an ``OSError``/``aiohttp.ClientError``: aiohttp lets it through its
    connector unwrapped, and nothing mistakes it for a transient network failure.
    """


def _address_allowed(address: str, allow_loopback: bool) -> bool:
    from reminders.subscriptions import _embedded, is_public

    ip = ipaddress.ip_address(address.split("%", 1)[0])
    return is_public(ip) or (allow_loopback and _embedded(ip).is_loopback)


def _literal_address(host: str) -> str | None:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
    return host


class _PublicOnlyResolver(AbstractResolver):
    """Resolves like aiohttp's default resolver, then refuses a host if any address it
    resolves to is not public (loopback too when ``allow_loopback``).

    Validation at subscribe time cannot stop a name from resolving elsewhere later; this
    runs for every connection aiohttp opens, before the TCP connect, so not a byte (not even
    a SYN) goes to such an address. aiohttp skips the resolver for IP literals, which
    ``PushSender`` checks itself before each request.
    """

    def __init__(self, allow_loopback: bool) -> None:
        self._inner = DefaultResolver()
        self._allow_loopback = allow_loopback
        self._literal_checks: dict[str, bool] = {}  # origin -> allowed (used on the loop only)

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            if not _address_allowed(result["host"], self._allow_loopback):
                raise BlockedAddress("non-public address")
        return results

    async def close(self) -> None:
        await self._inner.close()


class _Response:
    """A read aiohttp response: what WebPusher.send_async and PushSender read."""

    __slots__ = ("status", "headers", "content")

    def __init__(self, status: int, headers, content: bytes) -> None:
        self.status = status
        self.headers = headers  # multidict: case-insensitive .get()
        self.content = content

    async def text(self) -> str:
        # A hostile push service may answer with any bytes; never fail on decoding.
        return self.content.decode("utf-8", "replace")


class _Poster:
    """The one method WebPusher.send_async calls (``post``), on the shared ClientSession.

    It adds what WebPusher does not pass: redirects are never followed (push services do
    not redirect; following one would re-POST our signed request wherever a hostile
    endpoint points), and the sender's per-request timeout. The body is read here so the
    connection goes straight back to the pool.
    """

    def __init__(self, session: aiohttp.ClientSession, timeout: float) -> None:
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def post(self, url: str, data: bytes | None = None, headers=None, **_kw) -> _Response:
        async with self._session.post(
            url, data=data, headers=headers, timeout=self._timeout, allow_redirects=False
        ) as response:
            body = await response.read()
        return _Response(response.status, response.headers, body)


class _EventLoopThread:
    """One asyncio event loop running in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="closer-push", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro) -> Future:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


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
        self._max_workers = max_workers
        self._vapid_lock = threading.Lock()
        self._vapid_cache: dict[str, _CachedVapid] = {}
        # Behind a proxy the peer is the proxy, so the address check cannot apply there.
        self._proxied = bool(urllib.request.getproxies())
        self._check_addresses = public_only and not self._proxied
        self._allow_loopback = allow_loopback
        self._literal_checks: dict[str, bool] = {}  # origin -> allowed (used on the loop only)
        self._pending: set[Future] = set()
        self._pending_lock = threading.Lock()
        self._closed = False
        self._loop = _EventLoopThread()
        self._loop.run(self._open()).result()

    async def _open(self) -> None:
        # Created on the loop's own thread: aiohttp binds both to the running loop.
        resolver = _PublicOnlyResolver(self._allow_loopback) if self._check_addresses else None
        # limit = max_workers so no request ever opens (and then discards) an extra
        # connection; keep-alive reuses them across the batch.
        connector = aiohttp.TCPConnector(
            limit=self._max_workers, limit_per_host=self._max_workers, resolver=resolver
        )
        # trust_env: honour HTTP(S)_PROXY / NO_PROXY as the requests-based sender did.
        # No cookie jar (push services set none worth keeping; filtering the jar costs CPU on
        # every request) and no response decompression (push answers are empty or tiny).
        self._session = aiohttp.ClientSession(
            connector=connector,
            trust_env=self._proxied,
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
        )
        self._poster = _Poster(self._session, self._timeout)
        self._semaphore = asyncio.Semaphore(self._max_workers)

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
        return self.submit(sub, payload, ttl=ttl, topic=topic, urgency=urgency).result()

    async def _send_async(
        self, sub: Subscription, payload: bytes, ttl: int, topic: str | None, urgency: str
    ) -> PushResult:
        async with self._semaphore:
            headers = self.vapid_headers(sub.endpoint)
            headers["Urgency"] = urgency
            if topic is not None:
                headers["Topic"] = topic
            if self._check_addresses and not self._literal_allowed(sub.origin):
                return self._blocked(sub)
            pusher = WebPusher(sub.as_subscription_info(), aiohttp_session=self._poster)
            try:
                # WebPusher sets TTL and Content-Encoding itself from these arguments.
                response = await pusher.send_async(
                    bytes(payload),
                    headers,
                    ttl=ttl,
                    content_encoding="aes128gcm",
                    timeout=self._timeout,
                )
            except BlockedAddress:
                return self._blocked(sub)
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                return self._network_failure(sub, exc)
            return self._result_from(sub, response)

    def _literal_allowed(self, origin: str) -> bool:
        """aiohttp does not ask the resolver about IP literals: refuse non-public ones here.

        The answer depends on the origin alone, so it is worked out once per origin."""
        allowed = self._literal_checks.get(origin)
        if allowed is None:
            literal = _literal_address(urlsplit(origin).hostname or "")
            allowed = literal is None or _address_allowed(literal, self._allow_loopback)
            self._literal_checks[origin] = allowed
        return allowed

    def _blocked(self, sub: Subscription) -> PushResult:
        log.warning("push refused: origin=%s resolves to a non-public address", sub.origin)
        return PushResult(sub, "gone", None, None)

    def _network_failure(self, sub: Subscription, exc: Exception) -> PushResult:
        # Only the exception type: aiohttp's messages can embed the URL.
        log.warning("push retry: origin=%s network error %s", sub.origin, type(exc).__name__)
        return PushResult(sub, "retry", None, None)

    def _result_from(self, sub: Subscription, response: _Response) -> PushResult:
        status = response.status
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
        """Queue one send on the sender's event loop; the future resolves to its PushResult.

        Arguments are validated here, in the caller's thread, so a programming error raises
        before anything is queued. The dispatcher uses this to act on each result as soon as
        it arrives (and commit it), instead of waiting for a whole batch.
        """
        _validate_send_args(payload, ttl, topic, urgency)
        with self._pending_lock:
            if self._closed:
                raise RuntimeError("cannot send after close()")
            future = self._loop.run(self._send_async(sub, payload, ttl, topic, urgency))
            self._pending.add(future)
        future.add_done_callback(self._forget)
        return future

    def _forget(self, future: Future) -> None:
        with self._pending_lock:
            self._pending.discard(future)

    def send_many(self, jobs: Iterable[JobTuple]) -> list[PushResult]:
        """Send ``(sub, payload, ttl, topic)`` jobs with at most max_workers in flight.

        All jobs are validated first so that a programming error aborts the
        batch before any user has been notified, not halfway through.
        Results are in input order.
        """
        job_list = list(jobs)
        for _sub, payload, ttl, topic in job_list:
            _validate_send_args(payload, ttl, topic, "normal")
        futures = [
            self.submit(sub, payload, ttl=ttl, topic=topic) for sub, payload, ttl, topic in job_list
        ]
        return [future.result() for future in futures]

    def close(self) -> None:
        """Wait for in-flight sends, then release pooled connections and the loop thread."""
        with self._pending_lock:
            if self._closed:
                return
            self._closed = True
            pending = list(self._pending)
        for future in pending:
            future.exception()  # waits; a send never raises for network failures
        self._loop.run(self._session.close()).result()
        self._loop.stop()

    def __enter__(self) -> PushSender:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
