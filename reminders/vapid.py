"""VAPID key management (RFC 8292).

The VAPID private key identifies this server to every push service: whoever holds
it can push to all of our subscribers, and rotating it silently invalidates every
existing browser subscription. Hence the key is created exactly once, with
owner-only permissions, and never overwritten by this module.
"""

from __future__ import annotations

import base64
import logging
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

PRIVATE_KEY_FILENAME = "vapid_private.pem"

log = logging.getLogger("closer.push")


def generate_keys(instance_dir: Path) -> Path:
    """Create ``instance_dir/vapid_private.pem`` (P-256, PKCS8 PEM, mode 0600).

    Raises FileExistsError rather than overwriting: replacing the key would
    orphan every stored subscription, so only the caller may decide to do that
    (by deleting the file first).
    """
    return create_key_file(Path(instance_dir) / PRIVATE_KEY_FILENAME)


def create_key_file(path: Path | str) -> Path:
    """Create a new P-256 key at ``path`` (PKCS8 PEM, mode 0600); FileExistsError if present.

    ``generate_keys`` is this with the default file name; the app's
    ``VAPID_PRIVATE_KEY_PATH`` setting may name another file.
    """
    path = Path(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    pem = _new_private_key_pem()
    # O_EXCL makes "exists" an atomic check (no race with a concurrent start-up,
    # no following a planted symlink); the mode is applied at creation so the
    # file is never readable by others, not even between open() and chmod().
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags, 0o600)
    try:
        # umask can only remove bits; fchmod pins the exact mode regardless.
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        # A truncated key file would make every later start-up fail with
        # FileExistsError/parse errors, so remove our own partial write.
        path.unlink(missing_ok=True)
        raise
    return path


def _new_private_key_pem() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )


def load_private_key(path: Path | str) -> ec.EllipticCurvePrivateKey:
    """Load the VAPID key, insisting on P-256 since ES256 is the only VAPID algorithm."""
    path = Path(path)
    if path.stat().st_mode & 0o077:
        # Not fatal (the operator may have reasons), but worth a loud hint.
        log.warning("VAPID private key %s is readable by group/others", path.name)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("VAPID key must be an EC P-256 private key")
    return key


def application_server_key(private_key: ec.EllipticCurvePrivateKey) -> str:
    """Public key as browsers want it for ``pushManager.subscribe``.

    That is the 65-byte uncompressed point (0x04 || X || Y), base64url without
    padding; the same string is the ``k=`` parameter of the VAPID header.
    """
    raw = private_key.public_key().public_bytes(
        encoding=serialization.Encoding.X962,
        format=serialization.PublicFormat.UncompressedPoint,
    )
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
