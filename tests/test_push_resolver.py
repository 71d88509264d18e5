"""The send-time SSRF guard (reminders/resolver.py): which addresses the sender may connect to.

`PublicResolver` is exercised with aiohttp's real `ThreadedResolver` (the system resolver:
`localhost`) and, for answers no local name gives (a name with both a public and a private
address), with a fixed resolver of aiohttp's own interface. Whole pushes refused by it are in
tests/test_webpush.py and tests/test_dispatch.py.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket

import pytest
from aiohttp.abc import AbstractResolver

from reminders.resolver import BlockedAddress, PublicResolver, literal_allowed

REFUSED = [
    "127.0.0.1",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # carrier-grade NAT
    "0.0.0.0",
    "224.0.0.1",
    "::1",
    "fe80::1",
    "fc00::1",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:10.0.0.1",
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2001:0:4136:e378:8000:63bf:f5ff:fffe",  # Teredo hiding 10.0.0.1
]
PUBLIC = ["8.8.8.8", "142.250.74.100", "2001:4860:4860::8888"]


@pytest.mark.parametrize("address", REFUSED)
def test_non_public_literals_are_refused(address):
    assert literal_allowed(address, allow_loopback=False) is False
    assert literal_allowed(f"[{address}]", allow_loopback=False) is False


@pytest.mark.parametrize("address", PUBLIC)
def test_public_literals_and_names_pass_to_the_resolver(address):
    assert literal_allowed(address, allow_loopback=False) is True
    assert literal_allowed("push.example.org", allow_loopback=False) is True  # a name


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "::ffff:127.0.0.1", "64:ff9b::7f00:1"])
def test_loopback_only_when_allowed(address):
    assert literal_allowed(address, allow_loopback=True) is True
    assert literal_allowed("10.0.0.1", allow_loopback=True) is False


def resolve(host: str, **options):
    """Resolve on a fresh event loop (aiohttp's resolver belongs to the loop it is made on)."""

    async def run():
        resolver = PublicResolver(**options)
        try:
            return await resolver.resolve(host, 443, socket.AF_UNSPEC)
        finally:
            await resolver.close()

    # A thread of its own: a browser test's Playwright may hold this thread's event loop.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, run()).result()


def test_a_name_resolving_to_loopback_is_refused():
    with pytest.raises(BlockedAddress):
        resolve("localhost")


def test_loopback_names_resolve_when_allowed():
    found = resolve("localhost", allow_loopback=True)
    assert found and {r["host"] for r in found} <= {"127.0.0.1", "::1"}
    assert all(r["port"] == 443 and r["hostname"] == "localhost" for r in found)


def test_a_configured_proxy_host_is_trusted():
    found = resolve("localhost", trusted_hosts={"localhost"})
    assert found


class FixedResolver(AbstractResolver):
    """aiohttp's resolver interface with fixed answers (what DNS says is not ours to choose)."""

    def __init__(self, addresses: list[str]) -> None:
        self.addresses = addresses

    async def resolve(self, host, port=0, family=socket.AF_INET):
        return [
            {
                "hostname": host,
                "host": a,
                "port": port,
                "family": socket.AF_INET6 if ":" in a else socket.AF_INET,
                "proto": 0,
                "flags": 0,
            }
            for a in self.addresses
        ]

    async def close(self) -> None:
        pass


def test_only_the_public_addresses_of_a_name_are_handed_to_the_connector():
    inner = FixedResolver(["10.0.0.7", "93.184.215.14", "::1", "2606:2800:21f:cb07::1"])
    found = resolve("push.example.org", inner=inner)
    assert [r["host"] for r in found] == ["93.184.215.14", "2606:2800:21f:cb07::1"]


@pytest.mark.parametrize("addresses", [["10.0.0.7"], ["::ffff:169.254.169.254", "fd00::1"], []])
def test_a_name_with_no_public_address_is_refused(addresses):
    with pytest.raises(BlockedAddress):
        resolve("push.example.org", inner=FixedResolver(addresses))
