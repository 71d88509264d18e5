"""The SSRF guard at send time: the sender connects only to public addresses.

A subscription's host was checked when it was stored (`subscriptions.py`), but DNS can
change afterwards (rebinding). So the check is repeated where aiohttp documents a hook for
it: `PublicResolver`, an `aiohttp.abc.AbstractResolver` on the session's `TCPConnector`,
resolves a name and hands the connector only the addresses our rules allow. The connector
connects to exactly those, so the address checked is the address connected to.

aiohttp does not ask a resolver about an IP literal (it connects to it as written), so
`guard_request`, a client middleware on the same session, checks literals by the same rules.
Being a middleware, it also sees every answer before anyone reads it: it reads at most
`MAX_ANSWER_BYTES` of a body, and it stops a redirect before aiohttp could follow it.

Behind a proxy (`HTTP(S)_PROXY`, which aiohttp honours with `trust_env`) the peer is the
proxy: its host, named by the operator, is trusted, and the literal check is left to it.
"""

from __future__ import annotations

import ipaddress
import socket

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from reminders.subscriptions import address_allowed

MAX_ANSWER_BYTES = 64 * 1024  # push services answer with an empty or tiny body


class BlockedAddress(Exception):
    """The endpoint's host is (or now resolves to) an address we never send to.

    Deliberately not an `OSError`/`aiohttp.ClientError`: nothing mistakes it for a transient
    network failure, and aiohttp passes it through unwrapped.
    """


class Answered(Exception):
    """An answer the sender must not treat as an ordinary one: a redirect (never followed)
    or a body past `MAX_ANSWER_BYTES` (its connection is closed, not reused)."""

    def __init__(self, status: int, retry_after: str | None) -> None:
        super().__init__(status)
        self.status = status
        self.retry_after = retry_after


class PublicResolver(AbstractResolver):
    """Resolves with `inner` (aiohttp's `ThreadedResolver` unless given) and keeps only the
    allowed addresses."""

    def __init__(
        self,
        *,
        allow_loopback: bool = False,
        trusted_hosts=frozenset(),
        inner: AbstractResolver | None = None,
    ) -> None:
        self.inner = inner or aiohttp.ThreadedResolver()
        self.allow_loopback = allow_loopback
        self.trusted_hosts = frozenset(trusted_hosts)

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self.inner.resolve(host, port, family)
        if host in self.trusted_hosts:  # a configured proxy
            return found
        loopback = self.allow_loopback
        allowed = [r for r in found if address_allowed(r["host"], allow_loopback=loopback)]
        if not allowed:
            raise BlockedAddress("the host resolves only to non-public addresses")
        return allowed

    async def close(self) -> None:
        await self.inner.close()


def literal_allowed(host: str | None, *, allow_loopback: bool) -> bool:
    """False for an IP-literal host our rules refuse; True for a name (the resolver's job)."""
    try:
        ipaddress.ip_address((host or "").strip("[]"))
    except ValueError:
        return True
    return address_allowed(host.strip("[]"), allow_loopback=allow_loopback)


def guard_request(*, check_literals: bool, allow_loopback: bool):
    """The session's middleware: refuse non-public literals, bound the answer, stop redirects."""

    async def guard(request: aiohttp.ClientRequest, handler) -> aiohttp.ClientResponse:
        if check_literals and not literal_allowed(request.url.host, allow_loopback=allow_loopback):
            raise BlockedAddress("the endpoint is a non-public address")
        response = await handler(request)
        retry_after = response.headers.get("Retry-After")
        if not await read_within(response, MAX_ANSWER_BYTES):
            response.close()  # the rest is unread: this connection cannot be reused
            raise Answered(response.status, retry_after)
        if 300 <= response.status < 400:
            raise Answered(response.status, retry_after)
        return response

    return guard


async def read_within(response: aiohttp.ClientResponse, limit: int) -> bool:
    """Read and drop the body; False if it ran past `limit` (the rest is left unread)."""
    received = 0
    while not response.content.at_eof():
        received += len(await response.content.readany())
        if received > limit:
            return False
    return True
