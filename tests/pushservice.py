"""A real Web Push service on loopback, for tests and benchmarks.

It plays the part of FCM/Mozilla autopush: it checks the VAPID Authorization
header (RFC 8292) with its own independent JWT verifier, requires TTL, decrypts
the aes128gcm body (RFC 8291) with the subscriber's private key, and answers
like a push service does (201, or scripted 404/410/429/5xx...). Because the
checks are independent of the sender's libraries, a passing round trip means
the bytes on the wire are right, not merely self-consistent.

In-process use::

    with PushService(delay=0.05) as service:
        sub = service.new_subscriber()
        ...  # push to sub.subscription_info["endpoint"]
        assert sub.messages[0].payload == b"..."

As a process (for benchmarks; prints ``READY http://127.0.0.1:PORT``)::

    python -m tests.pushservice --port 0 --no-verify [--delay 0.01]

``--no-verify`` accepts any ``/push/<token>`` without checking or decrypting
(just counting), so the measurement is of the sender and not of this server.
``GET /stats`` returns ``{token: received_count}``, ``GET /topics`` the Topic of every
accepted push per token (``{token: [topic, ...]}``), ``GET /in-flight`` how many pushes
are being handled right now; ``POST /subscribe`` returns
a fresh subscriber's ``subscription_info`` (useful for verify mode across
processes).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import os
import re
import sys
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

MAX_BODY = 4096  # RFC 8030: push services must accept at least this; we accept no more
MAX_EXP_AHEAD = 24 * 3600  # RFC 8292 section 2
_TOPIC_RE = re.compile(r"[A-Za-z0-9_-]{1,32}")
_URGENCIES = {"very-low", "low", "normal", "high"}
_PUSH_PATH = re.compile(r"/push/([A-Za-z0-9_-]+)")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Reject(Exception):
    """A request the service refuses; carries the HTTP status and reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Message:
    token: str
    payload: bytes
    ttl: int
    topic: str | None
    urgency: str | None
    jwt_claims: dict
    vapid_key: str


@dataclass(frozen=True)
class Rejection:
    token: str | None
    status: int
    reason: str


@dataclass
class Subscriber:
    """A fake browser: real P-256 keys and auth secret, like PushManager.subscribe()."""

    token: str
    endpoint: str
    private_key: ec.EllipticCurvePrivateKey
    auth_secret: bytes
    messages: list[Message] = field(default_factory=list)

    @property
    def subscription_info(self) -> dict:
        """Exactly the shape of ``PushSubscription.toJSON()``."""
        point = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {
            "endpoint": self.endpoint,
            "expirationTime": None,
            "keys": {"p256dh": b64url(point), "auth": b64url(self.auth_secret)},
        }


# -- VAPID verification (independent of py_vapid, on purpose) --------------


def parse_vapid_header(header: str | None) -> tuple[str, str]:
    """Split ``vapid t=<jwt>,k=<key>`` into (jwt, key)."""
    if not header:
        raise Reject(401, "missing Authorization")
    scheme, _, params = header.partition(" ")
    if scheme.lower() != "vapid":
        raise Reject(401, f"auth scheme {scheme!r} is not vapid")
    values = {}
    for part in params.split(","):
        name, _, value = part.strip().partition("=")
        values[name.strip()] = value.strip()
    if not values.get("t") or not values.get("k"):
        raise Reject(401, "vapid header needs t= and k=")
    return values["t"], values["k"]


def verify_vapid(header: str | None, audience: str, now: float) -> tuple[dict, str]:
    """Check an RFC 8292 Authorization header; return (claims, key) or raise Reject."""
    token, key = parse_vapid_header(header)
    try:
        head_b64, claims_b64, sig_b64 = token.split(".")
        jose = json.loads(b64url_decode(head_b64))
        claims = json.loads(b64url_decode(claims_b64))
        signature = b64url_decode(sig_b64)
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(key))
    except (ValueError, binascii.Error) as exc:
        raise Reject(401, f"malformed vapid token: {type(exc).__name__}") from exc
    if jose.get("alg") != "ES256":
        raise Reject(401, f"alg {jose.get('alg')!r} is not ES256")
    _verify_es256(public, f"{head_b64}.{claims_b64}".encode(), signature)
    _check_claims(claims, audience, now)
    return claims, key


def _verify_es256(public: ec.EllipticCurvePublicKey, signed: bytes, signature: bytes) -> None:
    # JWS carries raw r||s (RFC 7518 section 3.4), cryptography wants DER.
    if len(signature) != 64:
        raise Reject(401, "ES256 signature must be 64 bytes")
    der = encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )
    try:
        public.verify(der, signed, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as exc:
        raise Reject(401, "bad vapid signature") from exc


def _check_claims(claims: dict, audience: str, now: float) -> None:
    if claims.get("aud") != audience:
        raise Reject(401, f"aud {claims.get('aud')!r} != {audience!r}")
    exp = claims.get("exp")
    if not isinstance(exp, int) or exp <= now:
        raise Reject(401, "exp missing or expired")
    if exp > now + MAX_EXP_AHEAD:
        raise Reject(401, "exp more than 24 h ahead")
    if not str(claims.get("sub", "")).startswith(("mailto:", "https:")):
        raise Reject(401, "sub must be a mailto: or https: URI")


# -- the service -----------------------------------------------------------


class _Server(ThreadingHTTPServer):
    # The default listen backlog of 5 drops connections when a benchmark opens
    # dozens at once, and the SYN retry then shows up as a bogus 1 s latency.
    request_queue_size = 128
    daemon_threads = True  # idle keep-alive connections must not block shutdown

    def handle_error(self, request, client_address) -> None:
        # A sender killed mid-request (the dispatcher SIGKILL test) resets its connections;
        # that is expected, not worth a traceback.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class PushService:
    """Threaded loopback push service; see the module docstring."""

    def __init__(self, *, verify: bool = True, delay: float = 0.0, port: int = 0) -> None:
        self.verify = verify
        self.delay = delay  # seconds each push request is held, to make concurrency visible
        self.messages: list[Message] = []
        self.rejections: list[Rejection] = []
        self.attempts: Counter[str] = Counter()  # every POST per token, accepted or not
        self.received: Counter[str] = Counter()  # accepted (2xx) pushes per token
        self.connections = 0  # TCP connections accepted: shows client-side pooling
        self.max_in_flight = 0
        self._in_flight = 0
        self.topics: dict[str, list[str | None]] = {}  # accepted pushes' Topic per token
        self._lock = threading.Lock()
        self._subscribers: dict[str, Subscriber] = {}
        self._scripts: dict[str, deque] = {}
        self._server = _Server(("127.0.0.1", port), _make_handler(self))
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> PushService:
        # A short poll interval keeps stop() (and so each test's teardown) fast.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> PushService:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def new_subscriber(self) -> Subscriber:
        token = b64url(os.urandom(18))
        sub = Subscriber(
            token=token,
            endpoint=f"{self.origin}/push/{token}",
            private_key=ec.generate_private_key(ec.SECP256R1()),
            auth_secret=os.urandom(16),
        )
        with self._lock:
            self._subscribers[token] = sub
        return sub

    def respond(self, token: str, script: list[int | tuple[int, dict[str, str]]]) -> None:
        """Queue responses for ``token``; each request consumes one, then 201 again."""
        with self._lock:
            self._scripts.setdefault(token, deque()).extend(script)

    def stats(self) -> dict[str, int]:
        with self._lock:
            return dict(self.received)

    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    def topic_log(self) -> dict[str, list[str | None]]:
        with self._lock:
            return {token: list(topics) for token, topics in self.topics.items()}

    # Called from handler threads -------------------------------------------

    def _enter(self) -> None:
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _count_connection(self) -> None:
        with self._lock:
            self.connections += 1

    def _next_scripted(self, token: str) -> tuple[int, dict[str, str]] | None:
        with self._lock:
            queue = self._scripts.get(token)
            if not queue:
                return None
            item = queue.popleft()
        return item if isinstance(item, tuple) else (item, {})

    def _reject(self, token: str | None, exc: Reject) -> None:
        with self._lock:
            self.rejections.append(Rejection(token, exc.status, exc.reason))

    def _record(self, token: str, message: Message | None, topic: str | None = None) -> None:
        with self._lock:
            self.received[token] += 1
            self.topics.setdefault(token, []).append(topic)
            if message is not None:
                self.messages.append(message)
                self._subscribers[token].messages.append(message)

    def _count_attempt(self, token: str) -> None:
        with self._lock:
            self.attempts[token] += 1

    def _subscriber(self, token: str) -> Subscriber:
        with self._lock:
            sub = self._subscribers.get(token)
        if sub is None:
            raise Reject(404, "unknown subscription")
        return sub

    def _accept(self, token: str, headers, body: bytes) -> Message:
        """Full verification and decryption of one push; raises Reject."""
        sub = self._subscriber(token)
        claims, key = verify_vapid(headers.get("Authorization"), self.origin, time.time())
        ttl, topic, urgency = _check_push_headers(headers)
        payload = _decrypt(sub, headers, body)
        return Message(token, payload, ttl, topic, urgency, claims, key)


def _check_push_headers(headers) -> tuple[int, str | None, str | None]:
    ttl = headers.get("TTL")
    if ttl is None or not ttl.isdigit():
        raise Reject(400, "TTL header missing or not a non-negative integer")
    topic = headers.get("Topic")
    if topic is not None and not _TOPIC_RE.fullmatch(topic):
        raise Reject(400, "bad Topic")
    urgency = headers.get("Urgency")
    if urgency is not None and urgency not in _URGENCIES:
        raise Reject(400, "bad Urgency")
    return int(ttl), topic, urgency


def _decrypt(sub: Subscriber, headers, body: bytes) -> bytes:
    if not body:
        return b""
    if headers.get("Content-Encoding") != "aes128gcm":
        raise Reject(415, "Content-Encoding must be aes128gcm")
    try:
        return http_ece.decrypt(
            body, private_key=sub.private_key, auth_secret=sub.auth_secret, version="aes128gcm"
        )
    except Exception as exc:  # http_ece raises a mix of ECEException/ValueError/struct.error
        raise Reject(400, f"decryption failed: {type(exc).__name__}") from exc


def _make_handler(service: PushService) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # HTTP/1.1 keep-alive, so the sender's connection pool is actually exercised.
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            service._count_connection()

        def log_message(self, format, *args) -> None:
            pass  # per-request stderr noise would drown test output

        def do_GET(self) -> None:
            if self.path == "/stats":
                self._reply(
                    200, {"Content-Type": "application/json"}, json.dumps(service.stats()).encode()
                )
            elif self.path == "/in-flight":
                body = json.dumps({"in_flight": service.in_flight()}).encode()
                self._reply(200, {"Content-Type": "application/json"}, body)
            elif self.path == "/topics":
                body = json.dumps(service.topic_log()).encode()
                self._reply(200, {"Content-Type": "application/json"}, body)
            else:
                self._reply(404)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            if len(body) < length:
                # The sender went away mid-request (killed): a real push service never
                # accepts a truncated message, so neither do we; nothing is counted.
                self.close_connection = True
                return
            if self.path == "/subscribe":
                info = service.new_subscriber().subscription_info
                self._reply(201, {"Content-Type": "application/json"}, json.dumps(info).encode())
                return
            match = _PUSH_PATH.fullmatch(self.path)
            if not match:
                self._reply(404)
                return
            service._enter()
            try:
                self._push(match.group(1), body)
            finally:
                service._leave()

        def _push(self, token: str, body: bytes) -> None:
            if service.delay:
                time.sleep(service.delay)
            service._count_attempt(token)
            try:
                if len(body) > MAX_BODY:
                    raise Reject(413, "payload too large")
                message = service._accept(token, self.headers, body) if service.verify else None
            except Reject as exc:
                service._reject(token, exc)
                self._reply(exc.status, body=exc.reason.encode())
                return
            status, extra = service._next_scripted(token) or (201, {})
            if not 200 <= status < 300:
                self._reply(status, extra)
                return
            service._record(token, message, self.headers.get("Topic"))
            self._reply(status, {"Location": f"/message/{b64url(os.urandom(9))}", **extra})

        def _reply(self, status: int, headers: dict | None = None, body: bytes = b"") -> None:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--no-verify", action="store_true", help="only count pushes: no VAPID check, no decryption"
    )
    parser.add_argument("--delay", type=float, default=0.0, help="seconds to hold each push")
    args = parser.parse_args(argv)
    service = PushService(verify=not args.no_verify, delay=args.delay, port=args.port)
    print(f"READY {service.origin}", flush=True)
    try:
        service._server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        service._server.server_close()


if __name__ == "__main__":
    main()
