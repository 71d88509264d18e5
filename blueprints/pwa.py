"""What makes the site an installable, offline-first app: the manifest, the offline page, a
fresh CSRF token for the offline outbox, and the service worker, served from the root so its
scope is the whole app."""

from __future__ import annotations

import json
from pathlib import Path

from flask import Blueprint, Response, current_app, jsonify, render_template, url_for
from flask_wtf.csrf import generate_csrf

bp = Blueprint("pwa", __name__)

SERVICE_WORKER = Path(__file__).resolve().parent.parent / "service-worker.js"
# What the worker runs besides service-worker.js itself, in this order (importScripts): the
# files it shares with the pages (URL helpers, the outbox and its replay) first, then one
# file per job (static/js/sw/).
WORKER_SCRIPTS = (
    "js/common.js",
    "js/outbox.js",
    "js/replay.js",
    "js/sw/dates.js",
    "js/sw/pages.js",
    "js/sw/reminders.js",
)
# Stands for a date in a URL template ("/day/__DAY__"): scripts fill it in, never parse paths.
DAY = "__DAY__"

# Light and dark backgrounds, as in static/css/app.css (`--bg`); tests keep them in step.
LIGHT_BG = "#fbf7f2"
DARK_BG = "#1d1a17"

# Our own screenshot of the app on a phone (docs/make_screenshots.py draws it).
SCREENSHOTS = [
    {
        "file": "img/shots/today-narrow.png",
        "sizes": "824x1830",
        "form_factor": "narrow",
        "label": "Today's practice: a two-minute step, a line to try saying and a Done button",
    },
]


@bp.get("/manifest.webmanifest")
def manifest():
    asset_url = current_app.extensions["asset_url"]
    body = {
        "id": "/",
        "name": "Closer: a daily practice for closer relationships",
        "short_name": "Closer",
        "description": "Two minutes a day to listen, understand and connect with people you love.",
        "start_url": "/",
        "scope": "/",
        "display": "standalone",
        # No "orientation": a phone in a stand or a tablet turns the app as it turns
        # everything else (WCAG 1.3.4); the layout is fluid at any width.
        "background_color": LIGHT_BG,
        "theme_color": LIGHT_BG,
        "lang": "en",
        "categories": ["lifestyle", "health"],
        "icons": [
            {"src": asset_url("icons/icon-192.png"), "sizes": "192x192", "type": "image/png"},
            {"src": asset_url("icons/icon-512.png"), "sizes": "512x512", "type": "image/png"},
            {
                "src": asset_url("icons/maskable-192.png"),
                "sizes": "192x192",
                "type": "image/png",
                "purpose": "maskable",
            },
            {
                "src": asset_url("icons/maskable-512.png"),
                "sizes": "512x512",
                "type": "image/png",
                "purpose": "maskable",
            },
        ],
        "screenshots": [
            {
                "src": asset_url(shot["file"]),
                "sizes": shot["sizes"],
                "type": "image/png",
                "form_factor": shot["form_factor"],
                "label": shot["label"],
            }
            for shot in SCREENSHOTS
        ],
    }
    return Response(
        json.dumps(body, indent=1),
        mimetype="application/manifest+json",
        headers={"Cache-Control": "no-cache"},
    )


@bp.get("/offline")
def offline():
    return render_template("pwa/offline.html")


@bp.get("/csrf-token")
def csrf_token():
    """A fresh CSRF token for this session. The offline outbox asks for one when a replayed
    write is refused with 400 (a token from a page cached long ago, or none at all for a
    write queued by the service worker itself)."""
    return jsonify(token=generate_csrf()), 200, {"Cache-Control": "no-store"}


def offline_pages() -> list[str]:
    """Pages the worker keeps fresh for offline use besides the coming week of days."""
    library = current_app.extensions["library"]
    return [
        url_for("library.strategies"),
        *(url_for("library.strategy", key=s.key) for s in library.strategies),
        url_for("progress.progress"),
        url_for("settings.index"),
        url_for("library.about"),
    ]


@bp.app_template_global()
def client_urls() -> dict[str, str]:
    """Every URL the page scripts need, built here so that no script writes a path of its
    own: base.html renders them into <body data-urls>, and the worker's prelude starts with
    them. Day URLs are templates holding DAY."""
    return {
        "today": url_for("practice.today"),
        "day": url_for("practice.day", day_text=DAY),
        "done": url_for("practice.mark_done", day_text=DAY),
        "undo": url_for("practice.undo_done", day_text=DAY),
        "reflection": url_for("practice.save_reflection", day_text=DAY),
        "progress": url_for("progress.progress"),
        "csrf": url_for("pwa.csrf_token"),
        "worker": url_for("pwa.service_worker"),
        "timezone": url_for("settings.set_time_zone"),
        "pushPanel": url_for("push.panel"),
        "pushSubscriptions": url_for("push.subscribe"),
    }


def worker_urls() -> dict[str, str]:
    """What the worker needs besides the page's URLs: pages it treats specially."""
    asset_url = current_app.extensions["asset_url"]
    return {
        **client_urls(),
        "offline": url_for("pwa.offline"),
        "manifest": url_for("pwa.manifest"),
        "static": url_for("static", filename=""),
        "export": url_for("settings.export"),
        "deleteConfirm": url_for("settings.confirm_delete"),
        "deleted": url_for("settings.deleted"),
        "reminderIcon": asset_url("icons/icon-192.png"),
    }


@bp.get("/service-worker.js")
def service_worker():
    """The hand-written worker, prefixed with this build's version, precache list, URLs and
    the hashed URLs of the files it imports, so that any change to a static file changes the
    worker's bytes and triggers an update."""
    asset_url = current_app.extensions["asset_url"]
    hashes = current_app.extensions["asset_hashes"]
    urls = worker_urls()
    precache = [asset_url(name) for name in sorted(hashes) if not name.startswith("img/shots/")]
    constants = {
        "VERSION": current_app.extensions["asset_version"],
        "PRECACHE": precache + [urls["offline"], urls["manifest"]],
        "PAGES": offline_pages(),
        "URLS": urls,
        "WORKER_SCRIPTS": [asset_url(name) for name in WORKER_SCRIPTS],
    }
    prelude = "".join(f"const {name} = {json.dumps(value)};\n" for name, value in constants.items())
    return Response(
        prelude + SERVICE_WORKER.read_text(encoding="utf-8"),
        mimetype="text/javascript",
        headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/"},
    )
