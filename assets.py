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
import rcssmin
import rjsmin
from flask import Flask, Response, request

TEXT_TYPES = ("text/", "application/javascript", "application/json", "image/svg+xml")
YEAR = "max-age=31536000, immutable"  # any cache may keep them: no `public` needed

# The page's scripts as bundles, each file in order: "early", the one script the page itself
# loads (deferred: boot.js, then fresh.js, which ran at the end of <body> as a script of its
# own; 2,086 -> 1,723 bytes), and one bundle per list of the scripts boot.js starts after the
# first paint (templates/base.html composes the list; these are all it can compose).
# Why: on a first visit nine separate scripts cost nine responses' headers (~300 bytes each)
# and brotli compresses one stream better than nine small ones: measured with
# bench/page_weight.py on `/`, 24,638 bytes of scripts in 9 responses became 19,982 in one
# (the first visit 39,430 -> 34,599).
# The sources stay one job per file; a bundle is an output, like the compressed bytes.
_READ = ("common", "outbox", "replay", "page", "install")
BUNDLES = {
    "early": ("boot", "fresh"),
    "read": (*_READ, "offline"),
    "writes": (*_READ, "card", "push", "offline", "htmx"),
    "writes-together": (*_READ, "card", "partner", "push", "offline", "htmx"),
    "progress": (*_READ, "calendar", "offline"),
    "forget": (*_READ, "offline", "forget"),
    "progress-forget": (*_READ, "calendar", "offline", "forget"),
    "together": (*_READ, "share", "offline"),
}
BUNDLE_FOLDER = "bundles/"


def script_file(name: str) -> str:
    """The static file of a script as base.html names it: ours in js/, htmx vendored."""
    return "vendor/htmx.min.js" if name == "htmx" else f"js/{name}.js"


def served_bytes(name: str, data: bytes) -> bytes:
    """What goes out for a static file: our JavaScript (rjsmin) and CSS (rcssmin, by the same
    author) minified, so the comments that say why stay in the source and cost a phone
    nothing (a third to a half of each script's compressed bytes; app.css 2,846 -> 2,068
    bytes in brotli); files that come minified, and everything else, as they are."""
    if name.endswith(".js") and not name.endswith(".min.js"):
        return rjsmin.jsmin(data.decode("utf-8")).encode("utf-8")
    if name.endswith(".css") and not name.endswith(".min.css"):
        return rcssmin.cssmin(data.decode("utf-8")).encode("utf-8")
    return data


@dataclass(frozen=True)
class Encoded:
    identity: bytes
    br: bytes | None  # None: an image, compressed already
    gzip: bytes | None
    mimetype: str

    @classmethod
    def of(cls, served: bytes, mimetype: str) -> Encoded:
        if not mimetype.startswith(TEXT_TYPES):
            return cls(identity=served, br=None, gzip=None, mimetype=mimetype)
        return cls(
            identity=served,
            br=brotli.compress(served, quality=11),
            gzip=gzip.compress(served, compresslevel=9, mtime=0),
            mimetype=mimetype,
        )


def bundle_bytes(parts: list[bytes]) -> bytes:
    """Scripts joined into one: each part ends its last statement, so that a file without a
    final semicolon cannot run into the next."""
    return b"".join(part.rstrip() + b"\n;\n" for part in parts)


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
                encoded[name] = Encoded.of(served_bytes(name, data), mimetype)
        for bundle, parts in BUNDLES.items():
            name = f"{BUNDLE_FOLDER}{bundle}.js"
            served = bundle_bytes([encoded[script_file(part)].identity for part in parts])
            hashes[name] = hashlib.sha256(served).hexdigest()[:12]
            encoded[name] = Encoded.of(served, "text/javascript")
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

    def bundle_url(self, scripts: list[str]) -> str:
        """The URL of the bundle that holds exactly these scripts, in this order."""
        for bundle, parts in BUNDLES.items():
            if tuple(scripts) == parts:
                return self.url(f"{BUNDLE_FOLDER}{bundle}.js")
        raise KeyError(f"no bundle of {scripts!r}: declare it in assets.BUNDLES")

    def precompressed(self, filename: str) -> Response | None:
        """The stored bytes for a hashed URL, compressed as the browser takes them. Images too
        go out from memory, without what Flask's file sending adds for a file that may change
        (Last-Modified, ETag, Accept-Ranges, Content-Disposition: ~180 bytes a response) and
        that a hashed, immutable URL never needs. A bundle,
        which has no file for Flask to fall back on, goes out under any hash (a page from
        before a deploy gets today's scripts, as it would get today's file; `no-cache`)."""
        encoded = self.encoded.get(filename)
        if encoded is None:
            return None
        stale = request.args.get("v") != self.hashes[filename]
        if stale and not filename.startswith(BUNDLE_FOLDER):
            return None
        accepted = request.headers.get("Accept-Encoding", "")
        if encoded.br is not None and "br" in accepted:
            body, coding = encoded.br, "br"
        elif encoded.gzip is not None and "gzip" in accepted:
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
        app.jinja_env.globals["bundle_url"] = self.bundle_url

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
