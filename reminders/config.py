"""Reminder settings: defaults, the production start-up refusals, and the VAPID key.

Settings (any layer of the app's configuration, e.g. `FLASK_VAPID_SUBJECT=...`):

- `VAPID_PRIVATE_KEY_PATH`: the P-256 key that signs our pushes (default
  `instance/vapid_private.pem`, created by `flask push init-keys`).
- `VAPID_SUBJECT`: how a push service can reach us (`mailto:` or `https:`). The default names
  a reserved `.invalid` domain: fine on a laptop, refused in production.
- `PUSH_ALLOW_INSECURE_ENDPOINTS`: accept `http` and loopback/private push endpoints, for
  local testing against a push service on this machine only; refused in production.
- `REMINDER_CONCURRENCY` (32): pushes in flight at once per dispatcher process, on one pooled
  aiohttp session. A push service ~20 ms away needs 10 in flight for 500 pushes/s; 32 leaves
  room for slower ones without flooding any.
- `REMINDER_BATCH_SIZE` (200): users claimed per lease. `REMINDER_LEASE_SECONDS` (300): how
  long a claim holds them; a pass starts no push after half of it. `REMINDER_RETRY_SECONDS`
  (300): the wait after a 429/5xx without Retry-After. `REMINDER_WORKER_INTERVAL` (30): seconds
  between a worker's passes. `PUSH_TIMEOUT` (10): seconds per push, connect to answer.
"""

from __future__ import annotations

import re
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask, current_app

from reminders import vapid

DEFAULTS = {
    "VAPID_PRIVATE_KEY_PATH": None,  # instance/vapid_private.pem
    "VAPID_SUBJECT": "mailto:reminders@closer.invalid",
    "PUSH_ALLOW_INSECURE_ENDPOINTS": False,
    "REMINDER_BATCH_SIZE": 200,
    "REMINDER_CONCURRENCY": 32,
    "REMINDER_LEASE_SECONDS": 300,
    "REMINDER_RETRY_SECONDS": 300,
    "REMINDER_WORKER_INTERVAL": 30,
    "PUSH_TIMEOUT": 10.0,
}

# Subjects a push service operator could never reach: reserved or local names.
_UNREAL_SUBJECT = re.compile(
    r"(\.invalid|\.test|\.example|\.localhost|\.local|\.internal)(?=$|[/:?#>])"
    r"|[@/.]example\.(com|net|org)(?=$|[/:?#>])"
    r"|[@/]localhost(?=$|[/:?#>])"
    r"|[@/](127\.|10\.|192\.168\.|\[?::1)",
    re.IGNORECASE,
)


def init_app(app: Flask) -> None:
    for key, value in DEFAULTS.items():
        app.config.setdefault(key, value)
    if app.config.get("DEPLOYMENT") == "production":
        check_production(app)


def truthy(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


def key_path(app: Flask | None = None) -> Path:
    app = app or current_app
    configured = app.config.get("VAPID_PRIVATE_KEY_PATH")
    return Path(configured) if configured else Path(app.instance_path) / vapid.PRIVATE_KEY_FILENAME


def subject_is_real(subject: str) -> bool:
    if not isinstance(subject, str):
        return False
    if subject.startswith("mailto:"):
        address = subject[len("mailto:") :]
        if not re.fullmatch(r"[^@\s/]+@[^@\s/]+\.[A-Za-z]{2,}", address):
            return False
    elif subject.startswith("https://"):
        if not re.fullmatch(r"https://[^/\s]+\.[A-Za-z]{2,}(/\S*)?", subject):
            return False
    else:
        return False
    return _UNREAL_SUBJECT.search(subject) is None


def check_production(app: Flask) -> None:
    """Refuse to start a production app that could not (or must not) send reminders."""
    problems = []
    path = key_path(app)
    if not path.is_file():
        problems.append(
            f"the VAPID private key {path} is missing (run `flask push init-keys` once)"
        )
    if not subject_is_real(app.config.get("VAPID_SUBJECT", "")):
        problems.append(
            "VAPID_SUBJECT must be a real mailto: address or https: URL where push services "
            "can reach you (not .invalid, example.com or localhost)"
        )
    if truthy(app.config.get("PUSH_ALLOW_INSECURE_ENDPOINTS")):
        problems.append("PUSH_ALLOW_INSECURE_ENDPOINTS is for local testing only")
    if problems:
        raise RuntimeError("Reminders are misconfigured for production: " + "; ".join(problems))


def private_key(app: Flask | None = None) -> ec.EllipticCurvePrivateKey | None:
    """The VAPID key, loaded once per app; None when no key file exists (local set-ups)."""
    app = app or current_app
    cached = app.extensions.get("vapid_key")
    if cached is not None:
        return cached
    path = key_path(app)
    if not path.is_file():
        return None
    key = vapid.load_private_key(path)
    app.extensions["vapid_key"] = key
    return key


def public_key(app: Flask | None = None) -> str | None:
    """The applicationServerKey for browsers (every page with the reminders panel shows it)."""
    app = app or current_app
    cached = app.extensions.get("vapid_public_key")
    if cached is None:
        key = private_key(app)
        if key is None:
            return None
        cached = app.extensions["vapid_public_key"] = vapid.application_server_key(key)
    return cached
