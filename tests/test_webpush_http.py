"""The sender's HTTP/1.1 against real sockets: response framing, connection reuse and close,
timeouts, TLS with SNI, and the proxy path (no mocks).

``RawServer`` is a real TCP server (optionally TLS) that answers each request with scripted
bytes, so the framings a push service may use (Content-Length, chunked, close-delimited)
are each exercised; ``PushService`` checks the pushes themselves.
"""

from __future__ import annotations

import datetime as dt
import http.client
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from reminders.jobs import PushJob, Subscription
from reminders.resolver import MAX_ANSWER_BYTES
from reminders.sender import PushSender
from tests.pushservice import PushService


def keys() -> dict[str, str]:
    with PushService() as service:  # only for a subscriber's real keys
        return service.new_subscriber().subscription_info["keys"]


class RawServer:
    """Accepts connections and answers every request with the next scripted response.

    ``answers`` are raw bytes (status line, headers, body) or None (read the request and
    never answer). Records each request's head and the TLS server name the client sent.
    """

    def __init__(self, answers: list[bytes | None], tls: ssl.SSLContext | None = None) -> None:
        self.answers = list(answers)
        self.requests: list[bytes] = []
        self.connections = 0
        self.server_names: list[str | None] = []
        self._tls = tls
        if tls is not None:
            tls.sni_callback = lambda sock, name, ctx: self.server_names.append(name)
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def close(self) -> None:
        self._stop.set()
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        try:
            if self._tls is not None:
                conn = self._tls.wrap_socket(conn, server_side=True)
            reader = conn.makefile("rb")
            while self.answers:
                head = b""
                while not head.endswith(b"\r\n\r\n"):
                    line = reader.readline()
                    if not line:
                        return
                    head += line
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.lower() == b"content-length":
                        length = int(value)
                reader.read(length)
                self.requests.append(head)
                answer = self.answers.pop(0)
                if answer is None:
                    self._stop.wait(30)  # hold the request: the client must time out
                    return
                conn.sendall(answer)
                if b"connection: close" in answer.lower():
                    return
        except (OSError, ssl.SSLError):
            return
        finally:
            conn.close()


def sub_at(origin: str, path: str = "/push/capability") -> Subscription:
    return Subscription(f"{origin}{path}", **keys())


def send_all(sender: PushSender, subs: list[Subscription]) -> list:
    return sender.start([PushJob(sub, b"hi", 60) for sub in subs]).wait_all()


def push_once_per_answer(make_sender, answers: list[bytes]) -> tuple[list, RawServer]:
    """One push per scripted answer, one at a time, to a raw server that gives them in
    order; the results and the (closed) server, for its connections and requests."""
    server = RawServer(answers)
    try:
        sender = make_sender(max_workers=1)
        results = send_all(sender, [sub_at(f"http://127.0.0.1:{server.port}")] * len(answers))
    finally:
        server.close()
    return results, server


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 201 Created\r\nContent-Length: 5\r\n\r\nhello",
        b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
    ],
    ids=["content-length", "chunked", "empty"],
)
def test_each_response_framing_is_read_and_the_connection_reused(make_sender, answer):
    results, server = push_once_per_answer(make_sender, [answer] * 3)
    assert [(r.outcome, r.status) for r in results] == [("sent", 201)] * 3
    assert server.connections == 1  # keep-alive: one connection for all three
    assert server.requests[0].startswith(b"POST /push/capability HTTP/1.1\r\n")
    assert f"Host: 127.0.0.1:{server.port}\r\n".encode() in server.requests[0]


def test_connection_close_and_close_delimited_body_open_a_fresh_connection(make_sender):
    close_delimited = b"HTTP/1.1 201 Created\r\nConnection: close\r\n\r\nbye"
    gone = b"HTTP/1.1 410 Gone\r\nContent-Length: 0\r\n\r\n"
    results, server = push_once_per_answer(make_sender, [close_delimited, close_delimited, gone])
    assert [r.outcome for r in results] == ["sent", "sent", "gone"]
    assert server.connections == 3


def test_a_huge_answer_is_not_read_to_the_end_and_its_connection_not_reused(make_sender):
    huge = b"x" * (MAX_ANSWER_BYTES + 70_000)
    answer = b"HTTP/1.1 201 Created\r\nContent-Length: %d\r\n\r\n%s" % (len(huge), huge)
    small = b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"
    results, server = push_once_per_answer(make_sender, [answer, small])
    assert [(r.outcome, r.status) for r in results] == [("sent", 201)] * 2
    assert server.connections == 2


def test_a_push_service_that_never_answers_times_out_as_retry(make_sender):
    server = RawServer([None])
    try:
        result = make_sender(timeout=0.5).send(
            sub_at(f"http://127.0.0.1:{server.port}"), b"hi", ttl=60
        )
    finally:
        server.close()
    assert (result.outcome, result.status) == ("retry", None)


def test_retry_after_on_a_raw_429(make_sender):
    server = RawServer([b"HTTP/1.1 429 Too Many\r\nRetry-After: 120\r\nContent-Length: 0\r\n\r\n"])
    try:
        result = make_sender().send(sub_at(f"http://127.0.0.1:{server.port}"), b"hi", ttl=60)
    finally:
        server.close()
    assert (result.outcome, result.status, result.retry_after) == ("retry", 429, 120.0)


@pytest.mark.parametrize("path", ["/push/a b", "/push/\u00e9t\u00e9"])
def test_an_endpoint_path_that_could_split_the_request_is_refused_unsent(make_sender, path):
    server = RawServer([b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"])
    try:
        result = make_sender().send(sub_at(f"http://127.0.0.1:{server.port}", path), b"x", ttl=60)
    finally:
        server.close()
    assert (result.outcome, result.status) == ("rejected", None)
    assert server.connections == 0


# -- TLS ------------------------------------------------------------------------------------


def certificate_pair(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A throw-away CA and a certificate for ``localhost`` it signed: (server, client)."""
    now = dt.datetime.now(dt.UTC)

    def cert(subject: str, key, issuer: str, signer, ca: bool) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False
            )
        return builder.sign(signer, hashes.SHA256())

    ca_key, host_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    ca = cert("Closer test CA", ca_key, "Closer test CA", ca_key, ca=True)
    host = cert("localhost", host_key, "Closer test CA", ca_key, ca=False)
    pem = serialization.Encoding.PEM
    (tmp_path / "host.pem").write_bytes(
        host.public_bytes(pem)
        + host_key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(tmp_path / "host.pem")
    client = ssl.create_default_context(cadata=ca.public_bytes(pem).decode())
    return server, client


def test_https_verifies_the_certificate_and_sends_sni(make_sender, tmp_path):
    server_tls, client_tls = certificate_pair(tmp_path)
    server = RawServer([b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"], tls=server_tls)
    try:
        result = make_sender(ssl_context=client_tls).send(
            sub_at(f"https://localhost:{server.port}"), b"hi", ttl=60
        )
    finally:
        server.close()
    assert (result.outcome, result.status) == ("sent", 201)
    assert server.server_names == ["localhost"]


def test_https_refuses_a_certificate_it_cannot_verify(make_sender, tmp_path):
    server_tls, _client_tls = certificate_pair(tmp_path)
    server = RawServer([b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"], tls=server_tls)
    try:
        result = make_sender().send(  # the system CAs do not know the test CA
            sub_at(f"https://localhost:{server.port}"), b"hi", ttl=60
        )
    finally:
        server.close()
    assert (result.outcome, result.status) == ("retry", None)
    assert server.requests == []


# -- through a proxy ------------------------------------------------------------------------


class ForwardingProxy:
    """A plain HTTP forward proxy: takes absolute-form requests, forwards them, relays back."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args) -> None:
                pass

            def do_POST(self) -> None:
                proxy.seen.append(self.command)
                target = http.client.urlsplit(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
                skip = {"host", "proxy-connection", "connection", "content-length"}
                headers = {k: v for k, v in self.headers.items() if k.lower() not in skip}
                upstream.request("POST", target.path, body=body, headers=headers)
                answer = upstream.getresponse()
                data = answer.read()
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in {"content-length", "connection", "transfer-encoding"}:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                upstream.close()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def test_with_a_proxy_configured_pushes_go_through_it(make_sender, monkeypatch):
    proxy = ForwardingProxy()
    for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy.origin)
    try:
        with PushService() as service:
            subscriber = service.new_subscriber()
            # public_only has nothing to check behind a proxy: the peer is the proxy.
            sender = make_sender(public_only=True)
            result = sender.send(
                Subscription.from_json(subscriber.subscription_info), b"via proxy", ttl=60
            )
    finally:
        proxy.close()
    assert (result.outcome, result.status) == ("sent", 201)
    assert proxy.seen == ["POST"]
    assert [m.payload for m in subscriber.messages] == [b"via proxy"]


def test_close_with_a_batch_nobody_collects_sends_no_more_than_its_window(make_sender):
    """A caller that stops collecting (a dispatcher whose database went away) must not leave
    close() waiting for room forever, nor have the rest of its batch sent unrecorded."""
    with PushService() as service:
        subscribers = [service.new_subscriber() for _ in range(10)]
        sender = make_sender(max_workers=2)
        jobs = [PushJob(sub_at_service(s), b"x", 60) for s in subscribers]
        batch = sender.start(jobs, window=2)
        sender.close()
        results = batch.wait_all()
    sent = [r for r in results if r is not None]
    assert len(sent) <= 2 and all(r.outcome == "sent" for r in sent)
    assert results.count(None) == 10 - len(sent)
    assert sum(len(s.messages) for s in subscribers) == len(sent)


def sub_at_service(subscriber) -> Subscription:
    return Subscription.from_json(subscriber.subscription_info)
