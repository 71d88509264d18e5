"""The page scripts go out as one bundle per list a page uses (assets.BUNDLES): the parts'
own minified bytes in order, compressed once, content-hashed, precached by the worker."""

from __future__ import annotations

import gzip
import re

import brotli
import pytest

from assets import BUNDLES, bundle_bytes, script_file


def bundle_url(html: str) -> str:
    return html.split('data-bundle="', 1)[1].split('"', 1)[0]


def test_a_bundle_is_its_parts_in_order_in_every_encoding(app, client):
    url = bundle_url(client.get("/").get_data(as_text=True))
    assert url.startswith("/static/bundles/writes.js?v=")
    parts = [
        client.get(app.extensions["asset_url"](script_file(name))).get_data()
        for name in BUNDLES["writes"]
    ]
    expected = bundle_bytes(parts)
    br = client.get(url, headers={"Accept-Encoding": "br"})
    gz = client.get(url, headers={"Accept-Encoding": "gzip"})
    plain = client.get(url, headers={"Accept-Encoding": "identity"})
    assert brotli.decompress(br.data) == gzip.decompress(gz.data) == plain.data == expected
    assert br.headers["Content-Encoding"] == "br" and br.mimetype == "text/javascript"
    assert br.headers["Cache-Control"] == "max-age=31536000, immutable"
    assert plain.data.endswith(b"\n;\n") and b"htmx" in plain.data.rsplit(b"\n;\n", 2)[-2]
    # one stream compresses better than its parts one by one
    one_by_one = sum(len(brotli.compress(part, quality=11)) for part in parts)
    assert len(br.data) < one_by_one


def test_a_bundle_asked_for_under_an_old_hash_is_todays_not_kept(client):
    """A page from before a deploy still gets scripts (there is no file to fall back on)."""
    url = bundle_url(client.get("/").get_data(as_text=True))
    stale = client.get(url.split("?")[0] + "?v=000000000000")
    assert stale.status_code == 200 and stale.headers["Cache-Control"] == "no-cache"
    assert stale.data == client.get(url).data
    assert client.get("/static/bundles/nothing.js?v=1").status_code == 404


def test_only_declared_lists_have_a_bundle(app):
    with app.test_request_context():
        assert (
            app.extensions["assets"]
            .bundle_url(list(BUNDLES["read"]))
            .startswith("/static/bundles/read.js?v=")
        )
        with pytest.raises(KeyError, match="declare it"):
            app.extensions["assets"].bundle_url(["offline", "common"])


def test_every_bundle_is_precached_and_changes_the_version(app, client, tmp_path):
    worker = client.get("/service-worker.js").get_data(as_text=True)
    for name in BUNDLES:
        assert app.extensions["asset_url"](f"bundles/{name}.js") in worker
    assets = app.extensions["assets"]
    before = (assets.hashes["bundles/read.js"], assets.version)
    part = assets.folder / "js" / "page.js"
    source = part.read_bytes()
    try:
        part.write_bytes(source + b"\n// a deploy\nvar deployed = 1;\n")
        assets.reload()
        after = (assets.hashes["bundles/read.js"], assets.version)
    finally:
        part.write_bytes(source)
        assets.reload()
    assert after[0] != before[0] and after[1] != before[1]


def test_only_what_a_browser_runs_carries_the_document_policies(app, client):
    """Headers that mean nothing on a response cost a phone bytes on every one of them."""
    page = client.get("/")
    for name in ("Content-Security-Policy", "Permissions-Policy", "Referrer-Policy"):
        assert name in page.headers and name in client.get("/service-worker.js").headers
    csrf = page.get_data(as_text=True).split('name="csrf-token" content="')[1].split('"')[0]
    report = client.post(
        "/settings/timezone",
        data={"time_zone": "Asia/Tokyo", "detected": "1"},
        headers={"HX-Request": "true", "X-CSRFToken": csrf},
    )
    asset_url = app.extensions["asset_url"]
    icon = client.get(asset_url("icons/favicon-32.png"))
    others = [
        report,
        icon,
        client.get(asset_url("css/app.css")),
        client.get("/manifest.webmanifest"),
    ]
    assert report.status_code == 204 and icon.status_code == 200
    for response in others:
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        for name in ("Content-Security-Policy", "Permissions-Policy", "Referrer-Policy"):
            assert name not in response.headers, (response, name)
    # an image from memory, as the scripts: none of what a changing file would need
    assert icon.data == (app.extensions["assets"].folder / "icons" / "favicon-32.png").read_bytes()
    assert icon.headers["Cache-Control"] == "max-age=31536000, immutable"
    for name in ("ETag", "Last-Modified", "Accept-Ranges", "Content-Disposition"):
        assert name not in icon.headers


def test_the_stylesheet_goes_out_minified_the_same_in_every_encoding(app, client):
    url = app.extensions["asset_url"]("css/app.css")
    source = (app.extensions["assets"].folder / "css" / "app.css").read_bytes()
    br = brotli.decompress(client.get(url, headers={"Accept-Encoding": "br"}).data)
    gz = gzip.decompress(client.get(url, headers={"Accept-Encoding": "gzip"}).data)
    plain = client.get(url, headers={"Accept-Encoding": "identity"}).data
    assert br == gz == plain and b"/*" not in plain and b"/*" in source
    assert len(plain) < 0.85 * len(source)  # the comments stay in the source
    rules = re.sub(rb"/\*.*?\*/", b"", source, flags=re.S)
    assert plain.count(b"{") == rules.count(b"{") and plain.count(b";") <= rules.count(b";")
