"""Checking a browser's `PushSubscription.toJSON()` before we store it.

An endpoint is a URL our server will later POST to, so a subscription is also a request to
make our server call somewhere. It must be `https` on a host that resolves only to public
addresses: never loopback, private, link-local, multicast, reserved or unspecified, nor
those hidden inside IPv4-mapped, 6to4, Teredo or NAT64 IPv6 addresses. (The sender checks
every address it connects to by the same rules and never follows redirects, see
`resolver.py`.) The keys must be what RFC 8291 needs: a 65-byte uncompressed P-256 point
that is really on the curve, and a 16-byte auth secret.

`PUSH_ALLOW_INSECURE_ENDPOINTS` relaxes exactly two things, for a push service on this
machine during development and tests: `http` and loopback addresses. Production refuses it.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
import socket
from dataclasses import dataclass
from datetime import time
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec

MAX_BODY = 4096
MAX_ENDPOINT = 1024
MAX_DEPTH = 4
_B64URL = re.compile(r"[A-Za-z0-9_-]+={0,2}")
_TIME = re.compile(r"([01]\d|2[0-3]):([0-5]\d)(:00)?")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class Invalid(Exception):
    """A subscription we will not store; `status` is the HTTP answer, `message` for people."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class CleanSubscription:
    endpoint: str
    p256dh: str
    auth: str
    reminder_time: time | None


def parse_body(raw: bytes) -> dict:
    if len(raw) > MAX_BODY:
        raise Invalid(413, f"A subscription is at most {MAX_BODY} bytes.")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise Invalid(400, "That was not a push subscription we could read (bad JSON).") from None
    if not isinstance(data, dict):
        raise Invalid(400, "A push subscription is a JSON object.")
    if _depth(data) > MAX_DEPTH:
        raise Invalid(400, "That push subscription is nested too deeply.")
    return data


def _depth(value) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if isinstance(item, dict):
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, level + 1) for v in item)
    return deepest


def clean(data: dict, *, allow_insecure: bool = False) -> CleanSubscription:
    """The fields we keep, checked; everything else in `data` is ignored and never stored."""
    endpoint = check_endpoint(data.get("endpoint"), allow_insecure=allow_insecure)
    keys = data.get("keys")
    if not isinstance(keys, dict):
        raise Invalid(422, "The subscription has no keys; the browser should have sent them.")
    p256dh = _check_p256dh(keys.get("p256dh"))
    auth = _check_auth(keys.get("auth"))
    reminder_time = None
    if data.get("reminderTime") not in (None, ""):
        reminder_time = parse_time(data.get("reminderTime"))
        if reminder_time is None:
            raise Invalid(422, "Please give the reminder time as hours and minutes, like 08:30.")
    return CleanSubscription(endpoint, p256dh, auth, reminder_time)


def parse_time(value) -> time | None:
    if not isinstance(value, str):
        return None
    match = _TIME.fullmatch(value.strip())
    if not match:
        return None
    return time(int(match.group(1)), int(match.group(2)))


def check_endpoint(value, *, allow_insecure: bool = False) -> str:
    if not isinstance(value, str) or not value:
        raise Invalid(422, "The subscription has no endpoint address.")
    if len(value) > MAX_ENDPOINT:
        raise Invalid(422, f"The endpoint address is longer than {MAX_ENDPOINT} characters.")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise Invalid(422, "The endpoint address contains spaces or control characters.")
    parts = urlsplit(value)
    schemes = ("https", "http") if allow_insecure else ("https",)
    if parts.scheme not in schemes:
        raise Invalid(422, "The endpoint must be an https address.")
    if "@" in parts.netloc:
        raise Invalid(422, "The endpoint address must not carry a user name or password.")
    if parts.fragment:
        raise Invalid(422, "The endpoint address must not have a #fragment.")
    host = parts.hostname
    try:
        port = parts.port
    except ValueError:
        raise Invalid(422, "The endpoint address has an invalid port.") from None
    if not host:
        raise Invalid(422, "The endpoint address has no host.")
    _check_host(host, port or (443 if parts.scheme == "https" else 80), allow_insecure)
    return value


def _check_host(host: str, port: int, allow_insecure: bool) -> None:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError):
        raise Invalid(422, "We could not find the push service at that address.") from None
    addresses = {info[4][0] for info in infos}
    if not addresses:  # pragma: no cover - getaddrinfo raises instead
        raise Invalid(422, "We could not find the push service at that address.")
    for text in addresses:
        if not address_allowed(text, allow_loopback=allow_insecure):
            raise Invalid(
                422,
                "That push service address is not on the public internet, so we will not "
                "send to it.",
            )


def address_allowed(text: str, *, allow_loopback: bool) -> bool:
    """Whether we may connect to this resolved address (the sender's resolver asks too)."""
    address = ipaddress.ip_address(text.split("%", 1)[0])
    return is_public(address) or (allow_loopback and embedded_ipv4(address).is_loopback)


def embedded_ipv4(address: ipaddress.IPv4Address | ipaddress.IPv6Address):
    """The IPv4 address an IPv6 address stands for, where it stands for one."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    candidates = [address, embedded_ipv4(address)]
    if isinstance(address, ipaddress.IPv6Address):
        if address.sixtofour is not None:
            candidates.append(address.sixtofour)
        if address.teredo is not None:
            candidates.extend(address.teredo)
    for ip in candidates:
        if (
            ip.is_loopback
            or ip.is_private
            or ip.is_link_local
            or ip.is_multicast
            or ip.is_reserved
            or ip.is_unspecified
            or not ip.is_global
        ):
            return False
    return True


def _b64url(value, what: str) -> bytes:
    if not isinstance(value, str) or not 0 < len(value) <= 128 or not _B64URL.fullmatch(value):
        raise Invalid(422, f"The subscription's {what} key is not base64url text.")
    stripped = value.rstrip("=")
    try:
        return base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4))
    except (binascii.Error, ValueError):
        raise Invalid(422, f"The subscription's {what} key is not base64url text.") from None


def _check_p256dh(value) -> str:
    raw = _b64url(value, "p256dh")
    if len(raw) != 65 or raw[0] != 0x04:
        raise Invalid(422, "The p256dh key must be a 65-byte uncompressed P-256 point.")
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
    except ValueError:
        raise Invalid(422, "The p256dh key is not a point on the P-256 curve.") from None
    return value.rstrip("=")


def _check_auth(value) -> str:
    raw = _b64url(value, "auth")
    if len(raw) != 16:
        raise Invalid(422, "The auth secret must be 16 bytes.")
    return value.rstrip("=")
