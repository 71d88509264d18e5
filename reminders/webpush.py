"""Web Push sending layer: VAPID (RFC 8292) + aes128gcm payloads (RFC 8291).

Design notes:

* An endpoint URL is a bearer capability (anyone who knows it can push to that
  browser), so it never appears in logs or reprs; only its origin does.
* Sending never raises for HTTP or network failures. The daily batch must go
  on when one push service misbehaves; callers act on ``PushResult.outcome``.
* All sends run on one asyncio event loop in a background thread owned by the
  sender. A caller hands it a whole batch at once (``start``); ``max_workers``
  coroutines on the loop take the jobs in turn, so at most that many requests are
  in flight, each on a pooled keep-alive HTTP/1.1 connection to its push service:
  a large batch reuses a few connections instead of opening thousands, never
  floods a push service, and costs one thread hand-off per batch, not per push.
* Each request is built directly: the body encrypted here (``encrypt``), the VAPID
  header cached per origin, a handful of fixed headers. A general-purpose client
  (ClientSession, pywebpush's WebPusher) cost several times more CPU per push than
  the encryption itself. Behind a proxy (``HTTP(S)_PROXY``) requests go through an
  ``aiohttp.ClientSession`` instead, which speaks the proxy protocols.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import email.utils
import functools
import hmac
import ipaddress
import logging
import os
import queue
import re
import socket
import ssl
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC
from urllib.parse import SplitResult, urlsplit

import aiohttp
from aiohttp.client_proto import ResponseHandler
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from py_vapid.jwt import sign as sign_jwt

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
    return _origin_of(urlsplit(endpoint))


def _origin_of(parts: SplitResult) -> str:
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
        parts = urlsplit(self.endpoint)
        origin = _origin_of(parts)
        try:
            point = _b64url_decode(self.p256dh)
            auth = _b64url_decode(self.auth)
            # Rejects points that are not on the curve, which would otherwise
            # surface only as an obscure error deep inside the ECDH step.
            key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("subscription p256dh/auth is not a valid P-256 key") from exc
        if len(point) != 65 or len(auth) != 16:
            raise ValueError("subscription p256dh must be 65 bytes and auth 16 bytes")
        # Kept for encrypt(): the cached_property slots below, filled now since the work is
        # done (a frozen dataclass still allows writing its __dict__ directly).
        self.__dict__.update(
            public_key=key,
            public_point=point,
            auth_secret=auth,
            origin=origin,
            target=_request_target(parts),
        )

    @classmethod
    def from_json(cls, info: Mapping) -> Subscription:
        """Build from the browser's ``PushSubscription.toJSON()`` dict."""
        keys = info["keys"]
        return cls(endpoint=info["endpoint"], p256dh=keys["p256dh"], auth=keys["auth"])

    @functools.cached_property
    def public_key(self) -> ec.EllipticCurvePublicKey:
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), self.public_point)

    @functools.cached_property
    def public_point(self) -> bytes:
        return _b64url_decode(self.p256dh)

    @functools.cached_property
    def auth_secret(self) -> bytes:
        return _b64url_decode(self.auth)

    @functools.cached_property
    def origin(self) -> str:
        # Read for every send (VAPID audience, logs): worked out once, in __post_init__.
        return endpoint_origin(self.endpoint)

    @functools.cached_property
    def target(self) -> str | None:
        """The request-target (path and query), or None if it is not safe to send."""
        return _request_target(urlsplit(self.endpoint))

    def as_subscription_info(self) -> dict:
        """The browser's ``PushSubscription.toJSON()`` shape (what pywebpush expects)."""
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

    Deliberately not an ``OSError``/``aiohttp.ClientError``: nothing mistakes it for a
    transient network failure.
    """


def _address_allowed(address: str, allow_loopback: bool) -> bool:
    from reminders.subscriptions import _embedded, is_public

    ip = ipaddress.ip_address(address.split("%", 1)[0])
    return is_public(ip) or (allow_loopback and _embedded(ip).is_loopback)


# -- the encrypted body (RFC 8291 on RFC 8188 aes128gcm) ---------------------------------------

RECORD_SIZE = 4096  # rs in the aes128gcm header; the whole message fits in one record
_CEK_INFO = b"Content-Encoding: aes128gcm\x00\x01"
_NONCE_INFO = b"Content-Encoding: nonce\x00\x01"


def _hmac(key: bytes, message: bytes) -> bytes:
    return hmac.digest(key, message, "sha256")


def encrypt(sub: Subscription, payload: bytes) -> bytes:
    """The aes128gcm body of one push, exactly as RFC 8291 section 3.4 builds it.

    Written out with ``cryptography`` and ``hmac`` instead of calling ``http_ece``: the same
    bytes for about 40% less CPU (http_ece builds an HKDF object per step and re-serialises
    keys). Every HKDF output here is at most 32 bytes, so HKDF-Expand is one HMAC
    (RFC 5869: T(1) = HMAC(PRK, info || 0x01)). The test push service decrypts with http_ece.
    """
    ephemeral = ec.generate_private_key(ec.SECP256R1())
    as_public = ephemeral.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    ecdh_secret = ephemeral.exchange(ec.ECDH(), sub.public_key)
    # IKM = HKDF(salt=auth_secret, ikm=ecdh_secret, info="WebPush: info" 0x00 ua || as, L=32)
    key_info = b"WebPush: info\x00" + sub.public_point + as_public + b"\x01"
    ikm = _hmac(_hmac(sub.auth_secret, ecdh_secret), key_info)
    salt = os.urandom(16)
    prk = _hmac(salt, ikm)
    cek = _hmac(prk, _CEK_INFO)[:16]
    nonce = _hmac(prk, _NONCE_INFO)[:12]  # record 0: SEQ is zero, so the nonce is used as is
    # 0x02 ends the last (here: only) record, with no further padding.
    ciphertext = AESGCM(cek).encrypt(nonce, payload + b"\x02", None)
    header = salt + RECORD_SIZE.to_bytes(4, "big") + bytes([len(as_public)]) + as_public
    return header + ciphertext


# -- the request --------------------------------------------------------------------------------

MAX_ANSWER_BYTES = 64 * 1024  # push services answer with an empty or tiny body

_SAFE_TARGET = re.compile(r"/[\x21-\x7e]*")  # visible ASCII: nothing can split the request line


@dataclass(frozen=True, slots=True)
class PushJob:
    sub: Subscription
    payload: bytes
    ttl: int
    topic: str | None = None
    urgency: str = "normal"


def _request_target(parts: SplitResult) -> str | None:
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return target if _SAFE_TARGET.fullmatch(target) else None


async def _drain(payload) -> bool:
    """Read and drop an answer's body; False if it ran past MAX_ANSWER_BYTES (the rest is
    left unread, so that connection must be closed, not reused)."""
    received = 0
    while not payload.at_eof():
        received += len(await payload.readany())
        if received > MAX_ANSWER_BYTES:
            return False
    return True


class _Origin:
    """Where an origin's connections go, and its idle keep-alive connections."""

    __slots__ = ("scheme", "host", "port", "authority", "idle")

    def __init__(self, origin: str) -> None:
        parts = urlsplit(origin)
        self.scheme = parts.scheme
        self.host = parts.hostname or ""
        self.port = parts.port or _DEFAULT_PORTS[self.scheme]
        self.authority = origin.split("://", 1)[1]  # the Host header
        self.idle: list[ResponseHandler] = []


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


class PushBatch:
    """The results of one batch of jobs, collected in the caller's thread as they arrive.

    The loop hands over ``(index, PushResult)`` as each push finishes (all those of one loop
    iteration together); ``(index, None)`` means the job was not started: the batch's
    deadline had passed, or it was cancelled. With a ``window``, the loop keeps at most that
    many pushes started and not yet done with by the caller: those in flight plus those
    collected by the latest ``results()`` call, which the caller is done with when it calls
    ``results()`` again. So a caller that records each chunk before asking for the next never
    has more than the window between the wire and its records (the dispatcher's crash
    guarantee rests on this).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, total: int, window: int | None) -> None:
        self._loop = loop
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self.total = total
        self.remaining = total
        self.window = window
        self.outstanding = 0  # started and not yet done with (owned by the loop)
        self._held = 0  # collected by the latest results() call (owned by the caller)
        self.cancelled = False  # (owned by the loop)
        self._room: asyncio.Event | None = None  # created on the loop
        self._ready: list = []  # results of this loop iteration, published together

    @property
    def done(self) -> bool:
        return self.remaining == 0

    def results(self, timeout: float | None = None) -> list[tuple[int, PushResult | None]]:
        """Whatever has arrived, waiting up to ``timeout`` for the first ([] if nothing did)."""
        self._release_held()
        if self.remaining == 0:
            return []
        try:
            items = self._queue.get(timeout=timeout)
        except queue.Empty:
            return []
        while True:
            try:
                items += self._queue.get_nowait()
            except queue.Empty:
                break
        for item in items:
            if isinstance(item, BaseException):
                raise item
        self.remaining -= len(items)
        self._held = len(items)
        return items

    def _release_held(self) -> None:
        """The caller is done with the previous chunk: its room goes back to the loop."""
        if self.window is None or not self._held:
            return
        held, self._held = self._held, 0
        # After close() the loop is closed, and there is no window left to keep.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._collected, held)

    def cancel(self) -> None:
        """Start no more of its jobs (those in flight finish): for a caller that stops
        collecting, which would otherwise leave the loop waiting for room forever."""
        with contextlib.suppress(RuntimeError):  # the loop is closed: nothing left to start
            self._loop.call_soon_threadsafe(self._cancel)

    def wait_all(self) -> list[PushResult | None]:
        """Every result, in job order (instead of ``results()``, not after it)."""
        ordered: list[PushResult | None] = [None] * self.total
        while not self.done:
            for index, result in self.results():
                ordered[index] = result
        return ordered

    # -- on the loop ------------------------------------------------------------------------

    async def room(self) -> None:
        """Wait until the caller has collected enough to stay within the window."""
        if self.window is None:
            return
        if self._room is None:
            self._room = asyncio.Event()
        while self.outstanding >= self.window and not self.cancelled:
            self._room.clear()
            await self._room.wait()
        self.outstanding += 1

    def _cancel(self) -> None:
        self.cancelled = True
        if self._room is not None:
            self._room.set()

    def _collected(self, count: int) -> None:
        self.outstanding -= count
        if self._room is not None:
            self._room.set()

    def put(self, item) -> None:
        # One hand-off per loop iteration, not per result: every wake-up of the collecting
        # thread costs a GIL switch away from the loop.
        if not self._ready:
            self._loop.call_soon(self._publish)
        self._ready.append(item)

    def _publish(self) -> None:
        ready, self._ready = self._ready, []
        self._queue.put(ready)


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
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        """``public_only`` refuses to connect to any non-public address at send time (the
        dispatcher turns it on; ``allow_loopback`` is for a test push service).
        ``ssl_context`` defaults to ``ssl.create_default_context()`` (system CAs)."""
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
        self._ssl_context = ssl_context
        self._origins: dict[str, _Origin] = {}  # used on the loop only
        self._pending: dict[Future, PushBatch] = {}
        self._pending_lock = threading.Lock()
        self._closed = False
        self._loop = _EventLoopThread()
        self._session: aiohttp.ClientSession | None = None
        if self._proxied:
            self._loop.run(self._open_session()).result()

    @functools.cached_property
    def _ssl(self) -> ssl.SSLContext:
        # Made on first use: loading the system CAs costs ~35 ms, and a pass to plain-http
        # endpoints (a test push service) never needs it.
        return self._ssl_context or ssl.create_default_context()

    async def _open_session(self) -> None:
        # Behind a proxy, aiohttp does the proxying (HTTP_PROXY, HTTPS_PROXY with CONNECT,
        # NO_PROXY: trust_env). Created on the loop's own thread: aiohttp binds to it.
        connector = aiohttp.TCPConnector(
            limit=self._max_workers, limit_per_host=self._max_workers, ssl=self._ssl
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            trust_env=True,
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
        )

    # -- VAPID -------------------------------------------------------------

    def vapid_headers(self, endpoint: str) -> dict[str, str]:
        """``Authorization: vapid t=<jwt>,k=<key>`` for the endpoint's origin.

        Signing costs an ECDSA operation, so one JWT per push-service origin is
        cached until less than JWT_MIN_REMAINING of its life is left.
        """
        return {"Authorization": self.authorization(endpoint_origin(endpoint))}

    def authorization(self, origin: str) -> str:
        """The ``Authorization`` value for an origin (see ``vapid_headers``)."""
        now = self._clock()
        with self._vapid_lock:
            cached = self._vapid_cache.get(origin)
            if cached is None or cached.expires_at - now < JWT_MIN_REMAINING:
                cached = self._sign_for(origin, now)
                self._prune_stale(now)
                self._vapid_cache[origin] = cached
        return cached.header

    def _sign_for(self, origin: str, now: float) -> _CachedVapid:
        exp = int(now) + JWT_LIFETIME
        token = sign_jwt({"aud": origin, "exp": exp, "sub": self._subject}, self._key)
        return _CachedVapid(header=f"vapid t={token},k={self._public_key}", expires_at=exp)

    def _prune_stale(self, now: float) -> None:
        # Keeps the cache bounded by the origins seen in the last JWT lifetime.
        stale = [o for o, c in self._vapid_cache.items() if c.expires_at - now < JWT_MIN_REMAINING]
        for origin in stale:
            del self._vapid_cache[origin]

    # -- the public API ------------------------------------------------------

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
        (result,) = self.start([PushJob(sub, payload, ttl, topic, urgency)]).wait_all()
        return result

    def send_many(self, jobs: Iterable[JobTuple]) -> list[PushResult]:
        """Send ``(sub, payload, ttl, topic)`` jobs with at most max_workers in flight.

        All jobs are validated first so that a programming error aborts the
        batch before any user has been notified, not halfway through.
        Results are in input order.
        """
        batch = self.start([PushJob(sub, payload, ttl, topic) for sub, payload, ttl, topic in jobs])
        return batch.wait_all()

    def start(
        self, jobs: list[PushJob], *, deadline: float | None = None, window: int | None = None
    ) -> PushBatch:
        """Hand a whole batch to the loop at once; collect its results from the returned batch.

        Every job is validated here, in the caller's thread, so a programming error raises
        before anything is sent. No job is started after ``deadline`` (``time.monotonic()``);
        see ``PushBatch`` for ``window``.
        """
        for job in jobs:
            _validate_send_args(job.payload, job.ttl, job.topic, job.urgency)
        batch = PushBatch(self._loop.loop, len(jobs), window)
        with self._pending_lock:
            if self._closed:
                raise RuntimeError("cannot send after close()")
            future = self._loop.run(self._run_batch(batch, jobs, deadline))
            self._pending[future] = batch
        future.add_done_callback(self._forget)
        return batch

    def _forget(self, future: Future) -> None:
        with self._pending_lock:
            self._pending.pop(future, None)

    def close(self) -> None:
        """Let in-flight sends finish (jobs not yet started are not sent), then release
        pooled connections and the loop thread."""
        with self._pending_lock:
            if self._closed:
                return
            self._closed = True
            pending = dict(self._pending)
        for batch in pending.values():
            batch.cancel()
        for future in pending:
            future.exception()  # waits; a send never raises for network failures
        self._loop.run(self._close_connections()).result()
        self._loop.stop()

    async def _close_connections(self) -> None:
        for origin in self._origins.values():
            for protocol in origin.idle:
                protocol.close()
            origin.idle.clear()
        if self._session is not None:
            await self._session.close()

    def __enter__(self) -> PushSender:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- on the loop ----------------------------------------------------------

    async def _run_batch(self, batch: PushBatch, jobs: list[PushJob], deadline: float | None):
        """``max_workers`` coroutines take the jobs in turn: at most that many in flight."""
        queued = iter(enumerate(jobs))

        async def worker() -> None:
            for index, job in queued:  # shared iterator: each job is taken exactly once
                await batch.room()
                if batch.cancelled or (deadline is not None and time.monotonic() >= deadline):
                    batch.put((index, None))
                    continue
                batch.put((index, await self._push(job)))

        try:
            await asyncio.gather(*(worker() for _ in range(min(self._max_workers, len(jobs)))))
        except Exception as exc:  # a bug, not a push failure: surface it in the caller
            batch.put(exc)

    async def _push(self, job: PushJob) -> PushResult:
        sub = job.sub
        target = sub.target
        if target is None:
            log.warning("push refused: origin=%s endpoint path is not plain ASCII", sub.origin)
            return PushResult(sub, "rejected", None, None)
        headers = {
            "Authorization": self.authorization(sub.origin),
            "TTL": str(job.ttl),
            "Urgency": job.urgency,
        }
        if job.topic is not None:
            headers["Topic"] = job.topic
        body = b""
        if job.payload:  # an empty payload is a bodyless tickle (RFC 8030 section 5)
            body = encrypt(sub, bytes(job.payload))
            headers["Content-Encoding"] = "aes128gcm"
            headers["Content-Type"] = "application/octet-stream"
        try:
            async with asyncio.timeout(self._timeout):
                if self._session is not None:
                    status, retry_after = await self._post_via_proxy(sub, headers, body)
                else:
                    status, retry_after = await self._post(sub, target, headers, body)
        except BlockedAddress:
            log.warning("push refused: origin=%s resolves to a non-public address", sub.origin)
            return PushResult(sub, "gone", None, None)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            # Only the exception type: messages can embed the URL.
            log.warning("push retry: origin=%s network error %s", sub.origin, type(exc).__name__)
            return PushResult(sub, "retry", None, None)
        return self._result(sub, status, retry_after)

    def _result(self, sub: Subscription, status: int, retry_after: str | None) -> PushResult:
        outcome = classify(status)
        level = {"sent": logging.DEBUG, "gone": logging.INFO}.get(outcome, logging.WARNING)
        log.log(level, "push %s: origin=%s status=%d", outcome, sub.origin, status)
        return PushResult(sub, outcome, status, parse_retry_after(retry_after, self._clock()))

    async def _post(
        self, sub: Subscription, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, str | None]:
        """One HTTP/1.1 POST on a pooled keep-alive connection; redirects are not followed.

        aiohttp's own response protocol (its C llhttp parser, as inside ClientSession) reads
        the answer: Content-Length, chunked, or until close. We write the request ourselves;
        it is a few fixed headers, and skipping ClientSession's machinery halves the CPU.
        """
        origin = self._origins.get(sub.origin)
        if origin is None:
            origin = self._origins[sub.origin] = _Origin(sub.origin)
        protocol = await self._connection(origin)
        lines = [f"POST {target} HTTP/1.1", f"Host: {origin.authority}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        lines.append(f"Content-Length: {len(body)}\r\n\r\n")
        try:
            # read_until_eof: an answer with neither length nor chunking ends at close
            # (RFC 9112 section 6.3), as ClientSession reads it too.
            protocol.set_response_params(read_until_eof=True, auto_decompress=False)
            protocol.transport.write("\r\n".join(lines).encode("ascii") + body)
            message, payload = await protocol.read()
            complete = await _drain(payload)
        except BaseException:
            protocol.close()  # state unknown (timeout, reset...): never reuse it
            raise
        if not complete or message.should_close or protocol.should_close:
            protocol.close()
        else:
            origin.idle.append(protocol)
        return message.code, message.headers.get("Retry-After")

    async def _connection(self, origin: _Origin) -> ResponseHandler:
        while origin.idle:
            protocol = origin.idle.pop()
            if protocol.is_connected() and not protocol.should_close:
                return protocol
            protocol.close()  # the push service closed it while idle
        return await self._connect(origin)

    async def _connect(self, origin: _Origin) -> ResponseHandler:
        """A new connection to a checked address.

        The name is resolved here and every address it resolves to checked before any
        connect, and the connect goes to one of the checked addresses (not to the name again),
        so DNS rebinding between check and connect cannot happen; an IP literal resolves to
        itself and is checked the same way."""
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(origin.host, origin.port, type=socket.SOCK_STREAM)
        if self._check_addresses and not all(
            _address_allowed(info[4][0], self._allow_loopback) for info in infos
        ):
            raise BlockedAddress("non-public address")
        tls = origin.scheme == "https"
        error: OSError | None = None
        for family, _type, proto, _name, address in infos:
            try:
                _transport, protocol = await loop.create_connection(
                    lambda: ResponseHandler(loop),
                    host=address[0],
                    port=address[1],
                    family=family,
                    proto=proto,
                    ssl=self._ssl if tls else None,
                    server_hostname=origin.host if tls else None,  # SNI and certificate name
                )
                return protocol
            except OSError as exc:
                error = exc
        raise error or OSError("no address")

    async def _post_via_proxy(
        self, sub: Subscription, headers: dict[str, str], body: bytes
    ) -> tuple[int, str | None]:
        async with self._session.post(
            sub.endpoint, data=body, headers=headers, allow_redirects=False
        ) as response:
            await response.read()
            return response.status, response.headers.get("Retry-After")
