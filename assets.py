"""Static files: content-hashed URLs, cached for a year, compressed once.

Every static URL carries `?v=<content hash>`, so it can be cached immutably and the service
worker's precache list changes whenever a file does. Text files are compressed once at
start-up with brotli at its best quality (and gzip for browsers without it): compressing
per request costs CPU on every hit and, at the fast levels a server can afford per
request, sends more bytes.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

import brotli
import rjsmin
from flask import Flask, Response, request

TEXT_TYPES = ("text/", "application/javascript", "application/json", "image/svg+xml")
YEAR = "public, max-age=31536000, immutable"


def served_bytes(name: str, data: bytes) -> bytes:
    """What goes out for a static file: our JavaScript minified (rjsmin), so the comments
    that say why stay in the source and cost a phone nothing (a third to a half of each
    script's compressed bytes); files that come minified, and everything else, as they are."""
    if name.endswith(".js") and not name.endswith(".min.js"):
        return rjsmin.jsmin(data.decode("utf-8")).encode("utf-8")
    return data


@dataclass(frozen=True)
class Encoded:
    identity: bytes
    br: bytes
    gzip: bytes
    mimetype: str


class Assets:
    def __init__(self, static_folder: str | Path):
        self.folder = Path(static_folder)
        self.hashes: dict[str, str] = {}
        self.encoded: dict[str, Encoded] = {}
        self.version = ""
        self.app: Flask | None = None
        self.reload()

    def reload(self) -> None:
        """Hash and compress every file again (start-up, or a deploy in the tests)."""
        hashes: dict[str, str] = {}
        encoded: dict[str, Encoded] = {}
        for path in sorted(self.folder.rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                name = path.relative_to(self.folder).as_posix()
                data = path.read_bytes()
                hashes[name] = hashlib.sha256(data).hexdigest()[:12]
                mimetype = mimetypes.guess_type(name)[0] or "application/octet-stream"
                if mimetype.startswith(TEXT_TYPES):
                    served = served_bytes(name, data)
                    encoded[name] = Encoded(
                        identity=served,
                        br=brotli.compress(served, quality=11),
                        gzip=gzip.compress(served, compresslevel=9, mtime=0),
                        mimetype=mimetype,
                    )
        # Update in place: the app and its blueprints hold these very objects.
        self.hashes.clear()
        self.hashes.update(hashes)
        self.encoded.clear()
        self.encoded.update(encoded)
        self.version = hashlib.sha256(
            "".join(f"{k}{v}" for k, v in hashes.items()).encode()
        ).hexdigest()[:12]
        if self.app is not None:
            self.app.extensions["asset_version"] = self.version

    def url(self, filename: str) -> str:
        digest = self.hashes.get(filename)
        if digest is None:
            raise KeyError(f"no static file {filename!r}")
        return f"/static/{filename}?v={digest}"

    def precompressed(self, filename: str) -> Response | None:
        """The stored bytes for a hashed URL, compressed as the browser takes them."""
        encoded = self.encoded.get(filename)
        if encoded is None or request.args.get("v") != self.hashes[filename]:
            return None
        accepted = request.headers.get("Accept-Encoding", "")
        if "br" in accepted:
            body, coding = encoded.br, "br"
        elif "gzip" in accepted:
            body, coding = encoded.gzip, "gzip"
        else:
            body, coding = encoded.identity, None
        response = Response(body, mimetype=encoded.mimetype)
        if coding:
            response.headers["Content-Encoding"] = coding
        response.headers["Vary"] = "Accept-Encoding"
        response.headers["Cache-Control"] = YEAR
        return response

    def init_app(self, app: Flask) -> None:
        self.app = app
        app.extensions["assets"] = self
        app.extensions["asset_hashes"] = self.hashes
        app.extensions["asset_version"] = self.version
        app.extensions["asset_url"] = self.url
        app.jinja_env.globals["asset_url"] = self.url

        @app.before_request
        def _serve_precompressed():
            if request.endpoint == "static" and request.method in ("GET", "HEAD"):
                return self.precompressed(request.view_args.get("filename", ""))
            return None

        @app.after_request
        def _cache_static(response):
            if request.endpoint == "static" and response.status_code == 200:
                filename = (request.view_args or {}).get("filename", "")
                fresh = request.args.get("v") == self.hashes.get(filename)
                response.headers["Cache-Control"] = YEAR if fresh else "no-cache"
            return response
