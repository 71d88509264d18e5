"""What makes the site an installable, offline-first app: the manifest, the offline page and
the service worker, served from the root so its scope is the whole app."""

from __future__ import annotations

import json
from pathlib import Path

from flask import Blueprint, Response, current_app, render_template

bp = Blueprint("pwa", __name__)

SERVICE_WORKER = Path(__file__).resolve().parent.parent / "service-worker.js"


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
        "orientation": "portrait",
        "background_color": "#fbf7f2",
        "theme_color": "#fbf7f2",
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
    }
    return Response(
        json.dumps(body, indent=1),
        mimetype="application/manifest+json",
        headers={"Cache-Control": "no-cache"},
    )


@bp.get("/offline")
def offline():
    return render_template("pwa/offline.html")


@bp.get("/service-worker.js")
def service_worker():
    """The hand-written worker, prefixed with this build's version and precache list so that
    any change to a static file changes the worker's bytes and triggers an update."""
    asset_url = current_app.extensions["asset_url"]
    hashes = current_app.extensions["asset_hashes"]
    precache = [asset_url(name) for name in sorted(hashes) if not name.startswith("img/shots/")]
    prelude = (
        f"const VERSION = {json.dumps(current_app.extensions['asset_version'])};\n"
        f"const PRECACHE = {json.dumps(precache + ['/offline', '/manifest.webmanifest'])};\n"
    )
    return Response(
        prelude + SERVICE_WORKER.read_text(encoding="utf-8"),
        mimetype="text/javascript",
        headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/"},
    )
