"""Sending Web Push with pywebpush on one shared aiohttp session.

* Each push is `pywebpush.WebPusher(...).send_async()`: pywebpush encrypts the body (RFC 8291
  aes128gcm, through http_ece) and POSTs it on our session; we add the VAPID `Authorization`
  header (signed by py_vapid, cached per push-service origin), `Urgency` and `Topic`.
* One `aiohttp.ClientSession` per sender (one per dispatcher pass or worker), created on the
  sender's own event loop thread (`batch.py`): pooled keep-alive connections, at most
  `max_workers` pushes in flight. Its resolver and middleware are the SSRF guard and the
  answer rules (`resolver.py`): public addresses only, no redirect followed, a bounded body.
* Sending never raises for HTTP or network failures: the daily batch goes on when one push
  service misbehaves; callers act on `PushResult.outcome`.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from urllib.parse import urlsplit

import aiohttp
from cryptography.hazmat.primitives.asymmetric import ec
from flask import current_app
from py_vapid import Vapid, VapidException
from pywebpush import WebPusher

from reminders import config as reminder_config
from reminders.batch import EventLoopThread, PushBatch
from reminders.jobs import (
    PushJob,
    PushResult,
    Subscription,
    classify,
    endpoint_origin,
    parse_retry_after,
    validate,
)
from reminders.resolver import Answered, BlockedAddress, PublicResolver, guard_request

log = logging.getLogger("closer.push")

JWT_LIFETIME = 12 * 3600  # RFC 8292 caps exp at 24 h; 12 h leaves room for clock skew.
JWT_MIN_REMAINING = 3600  # renew early so a token never expires while in flight.

JobTuple = tuple[Subscription, bytes, int, "str | None"]


class VapidCache:
    """`Authorization: vapid t=<jwt>,k=<key>` per push-service origin, signed by py_vapid.

    Signing costs an ECDSA operation, so one JWT per origin is kept until less than
    JWT_MIN_REMAINING of its life is left; entries older than that are dropped, which keeps
    the cache to the origins seen in the last JWT lifetime."""

    def __init__(self, key: ec.EllipticCurvePrivateKey, subject: str, clock) -> None:
        self.vapid = Vapid(private_key=key)
        self.subject = subject
        self.clock = clock
        self.lock = threading.Lock()
        self.headers: dict[str, tuple[str, int]] = {}  # origin -> (header, exp)

    def authorization(self, origin: str) -> str:
        now = self.clock()
        with self.lock:
            cached = self.headers.get(origin)
            if cached is None or cached[1] - now < JWT_MIN_REMAINING:
                exp = int(now) + JWT_LIFETIME
                claims = {"aud": origin, "exp": exp, "sub": self.subject}
                cached = (self.vapid.sign(claims)["Authorization"], exp)
                self.headers = {
                    o: c for o, c in self.headers.items() if c[1] - now >= JWT_MIN_REMAINING
                }
                self.headers[origin] = cached
        return cached[0]


class PushSender:
    """Sends Web Push messages; thread-safe; reuse one instance for a whole pass (or worker)."""

    def __init__(
        self,
        private_key: ec.EllipticCurvePrivateKey,
        subject: str,
        *,
        max_workers: int = 32,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
        public_only: bool = False,
        allow_loopback: bool = False,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        """`public_only` connects to public addresses only (the dispatcher turns it on;
        `allow_loopback` is for a test push service). `ssl_context` defaults to aiohttp's
        (system CAs, certificates verified)."""
        if not isinstance(private_key, ec.EllipticCurvePrivateKey) or not isinstance(
            private_key.curve, ec.SECP256R1
        ):
            raise ValueError("VAPID key must be an EC P-256 private key")
        if not subject.startswith(("mailto:", "https:")):
            raise ValueError("VAPID subject must start with 'mailto:' or 'https:'")
        if max_workers < 1:
            raise ValueError("max_workers must be >= 1")
        self.vapid = VapidCache(private_key, subject, clock)
        self.clock = clock
        self.timeout = timeout
        self.max_workers = max_workers
        self.pending: dict[Future, PushBatch] = {}
        self.pending_lock = threading.Lock()
        self.closed = False
        self.loop = EventLoopThread()
        self.session: aiohttp.ClientSession | None = None
        self.loop.run(self._open_session(public_only, allow_loopback, ssl_context)).result()

    async def _open_session(self, public_only: bool, allow_loopback: bool, ssl_context) -> None:
        # Made on the loop's own thread: an aiohttp session belongs to the loop it runs on.
        proxies = urllib.request.getproxies()  # what aiohttp's trust_env reads too
        proxy_hosts = {urlsplit(url).hostname for url in proxies.values() if "://" in url}
        resolver = None
        if public_only:
            resolver = PublicResolver(allow_loopback=allow_loopback, trusted_hosts=proxy_hosts)
        connector = aiohttp.TCPConnector(
            limit=self.max_workers,
            limit_per_host=self.max_workers,
            resolver=resolver,
            ssl=ssl_context if ssl_context is not None else True,
        )
        guard = guard_request(
            check_literals=public_only and not proxies, allow_loopback=allow_loopback
        )
        self.session = aiohttp.ClientSession(
            connector=connector,
            # HTTP(S)_PROXY and NO_PROXY, as aiohttp documents them; only when a proxy is set,
            # since trust_env costs two thread hand-offs per request (and would send ~/.netrc
            # credentials to push services).
            trust_env=bool(proxies),
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            middlewares=(guard,),
            timeout=aiohttp.ClientTimeout(total=self.timeout),
        )

    # -- VAPID ---------------------------------------------------------------------------

    def vapid_headers(self, endpoint: str) -> dict[str, str]:
        """The VAPID `Authorization` header for the endpoint's origin (cached per origin)."""
        return {"Authorization": self.authorization(endpoint_origin(endpoint))}

    def authorization(self, origin: str) -> str:
        return self.vapid.authorization(origin)

    # -- the public API --------------------------------------------------------------------

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
        """Send `(sub, payload, ttl, topic)` jobs, all validated first; results in order."""
        batch = self.start([PushJob(sub, payload, ttl, topic) for sub, payload, ttl, topic in jobs])
        return batch.wait_all()

    def start(
        self, jobs: list[PushJob], *, deadline: float | None = None, window: int | None = None
    ) -> PushBatch:
        """Hand a whole batch to the loop at once; collect its results from the returned batch.

        Every job is validated here, in the caller's thread, so a programming error raises
        before anything is sent. No job is started after `deadline` (`time.monotonic()`);
        see `PushBatch` for `window`.
        """
        for job in jobs:
            validate(job)
        batch = PushBatch(self.loop.loop, len(jobs), window)
        with self.pending_lock:
            if self.closed:
                raise RuntimeError("cannot send after close()")
            future = self.loop.run(self._run_batch(batch, jobs, deadline))
            self.pending[future] = batch
        future.add_done_callback(self._forget)
        return batch

    def _forget(self, future: Future) -> None:
        with self.pending_lock:
            self.pending.pop(future, None)

    def close(self) -> None:
        """Let in-flight sends finish (jobs not yet started are not sent), then close the
        session (its pooled connections) and the loop thread."""
        with self.pending_lock:
            if self.closed:
                return
            self.closed = True
            pending = dict(self.pending)
        for batch in pending.values():
            batch.cancel()
        for future in pending:
            future.exception()  # waits; a send never raises for network failures
        if self.session is not None:
            self.loop.run(self.session.close()).result()
        self.loop.stop()

    def __enter__(self) -> PushSender:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- on the loop -----------------------------------------------------------------------

    async def _run_batch(self, batch: PushBatch, jobs: list[PushJob], deadline: float | None):
        """`max_workers` coroutines take the jobs in turn: at most that many in flight."""
        queued = iter(enumerate(jobs))

        async def worker() -> None:
            for index, job in queued:  # shared iterator: each job is taken exactly once
                await batch.room()
                if batch.cancelled or (deadline is not None and time.monotonic() >= deadline):
                    batch.put((index, None))
                    continue
                batch.put((index, await self._push(job)))

        try:
            await asyncio.gather(*(worker() for _ in range(min(self.max_workers, len(jobs)))))
        except Exception as exc:  # a bug, not a push failure: surface it in the caller
            batch.put(exc)

    async def _push(self, job: PushJob) -> PushResult:
        sub = job.sub
        if not sub.sendable:
            log.warning("push refused: origin=%s endpoint path is not plain ASCII", sub.origin)
            return PushResult(sub, "rejected", None, None)
        try:
            headers = {"Authorization": self.authorization(sub.origin), "Urgency": job.urgency}
        except VapidException:  # an origin py_vapid will not sign for (an IPv6 literal)
            log.warning("push refused: origin=%s cannot be a VAPID audience", sub.origin)
            return PushResult(sub, "rejected", None, None)
        if job.topic is not None:
            headers["Topic"] = job.topic
        pusher = WebPusher(sub.as_subscription_info(), aiohttp_session=self.session)
        try:
            async with asyncio.timeout(self.timeout):
                # An empty payload is a bodyless tickle (RFC 8030 section 5): pywebpush sends
                # no body and no Content-Encoding for it.
                response = await pusher.send_async(
                    bytes(job.payload) or None,
                    headers,
                    ttl=job.ttl,
                    content_encoding="aes128gcm",
                    timeout=aiohttp.ClientTimeout(total=self.timeout),
                )
            status, retry_after = response.status, response.headers.get("Retry-After")
        except Answered as answer:  # a redirect, or an answer too long to read
            status, retry_after = answer.status, answer.retry_after
        except BlockedAddress:
            log.warning("push refused: origin=%s is not a public address", sub.origin)
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
        return PushResult(sub, outcome, status, parse_retry_after(retry_after, self.clock()))


def make_sender(app=None) -> PushSender:
    """The dispatcher's sender, from the app's settings (public addresses only)."""
    app = app or current_app
    key = reminder_config.private_key(app)
    if key is None:
        raise RuntimeError(
            f"No VAPID key at {reminder_config.key_path(app)}: run `flask push init-keys` first."
        )
    return PushSender(
        key,
        app.config["VAPID_SUBJECT"],
        max_workers=int(app.config["REMINDER_CONCURRENCY"]),
        timeout=float(app.config["PUSH_TIMEOUT"]),
        public_only=True,
        allow_loopback=reminder_config.truthy(app.config.get("PUSH_ALLOW_INSECURE_ENDPOINTS")),
    )
