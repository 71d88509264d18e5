"""Server side of the installable, offline-first app: the manifest, the service worker as
served (version, precache list, headers), the CSRF token endpoint, the offline page, and
the hooks the offline layer needs in the pages."""

from __future__ import annotations

import json
import re
import struct
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from assets import BUNDLES, script_file
from blueprints.pwa import DARK_BG, LIGHT_BG
from models import Completion, db
from tests.conftest import make_app

ROOT = Path(__file__).resolve().parent.parent
TODAY = "2026-11-26"


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def prelude(source: str, name: str):
    match = re.search(rf"^const {name} = (.+);$", source, re.M)
    assert match, f"no {name} in the worker's prelude"
    return json.loads(match.group(1))


@pytest.fixture
def manifest(client):
    response = client.get("/manifest.webmanifest")
    assert response.status_code == 200
    assert response.mimetype == "application/manifest+json"
    return response.get_json(force=True)


def test_manifest_has_what_installation_needs(manifest):
    assert manifest["id"] == "/" and manifest["start_url"] == "/" and manifest["scope"] == "/"
    assert manifest["display"] == "standalone"
    assert manifest["name"].startswith("Closer") and manifest["short_name"] == "Closer"
    assert len(manifest["short_name"]) <= 12 and manifest["description"]
    sizes = {(i["sizes"], i.get("purpose", "any")) for i in manifest["icons"]}
    assert {("192x192", "any"), ("512x512", "any")} <= sizes
    assert {("192x192", "maskable"), ("512x512", "maskable")} <= sizes
    assert manifest["screenshots"] and manifest["screenshots"][0]["form_factor"] == "narrow"
    assert "orientation" not in manifest  # the installed app turns with the phone (WCAG 1.3.4)


def test_manifest_images_are_real_pngs_of_the_stated_size(client, manifest):
    for image in manifest["icons"] + manifest["screenshots"]:
        response = client.get(image["src"])
        assert response.status_code == 200 and response.mimetype == "image/png"
        width, height = png_size(response.data)
        assert f"{width}x{height}" == image["sizes"], image["src"]
        assert "immutable" in response.headers["Cache-Control"]  # hashed URL
    # Chromium's richer install sheet: screenshots between 320 and 3840 px, ratio <= 2.3.
    for shot in manifest["screenshots"]:
        w, h = map(int, shot["sizes"].split("x"))
        assert min(w, h) >= 320 and max(w, h) <= 3840 and max(w, h) / min(w, h) <= 2.3


def test_apple_touch_icon_is_180px(client):
    html = client.get("/").get_data(as_text=True)
    href = re.search(r'rel="apple-touch-icon" href="([^"]+)"', html).group(1)
    assert png_size(client.get(href).data) == (180, 180)
    assert '<meta name="apple-mobile-web-app-capable" content="yes">' in html
    assert '<meta name="apple-mobile-web-app-title" content="Closer">' in html


def test_the_tab_icon_is_a_small_png_of_the_size_it_declares(client):
    """A browser draws the tab's icon at 16-32 px: the 192 px icon cost 2.6 KB of a first
    visit, the 32 px one a sixth of that (the 192 and 512 px icons stay in the manifest)."""
    html = client.get("/").get_data(as_text=True)
    icon = re.search(r'<link rel="icon" href="([^"]+)" type="image/png" sizes="(\d+)x\d+">', html)
    body = client.get(icon.group(1)).data
    assert png_size(body) == (int(icon.group(2)),) * 2 == (32, 32)
    assert len(body) < 600
    assert html.count('rel="icon"') == 1


def css_backgrounds() -> tuple[str, str]:
    css = (ROOT / "static" / "css" / "app.css").read_text()
    light = re.search(r":root\s*{[^}]*--bg:\s*(#[0-9a-f]{6})", css).group(1)
    dark_block = css[css.index("prefers-color-scheme: dark") :]
    dark = re.search(r"--bg:\s*(#[0-9a-f]{6})", dark_block).group(1)
    return light, dark


def test_colours_match_the_css_in_light_and_dark(client, manifest):
    light, dark = css_backgrounds()
    assert (light, dark) == (LIGHT_BG, DARK_BG)
    assert manifest["background_color"] == light and manifest["theme_color"] == light
    html = client.get("/").get_data(as_text=True)
    assert (
        f'<meta name="theme-color" content="{light}" media="(prefers-color-scheme: light)">' in html
    )
    assert (
        f'<meta name="theme-color" content="{dark}" media="(prefers-color-scheme: dark)">' in html
    )


def test_worker_is_served_from_the_root_uncached_with_its_version(app, client):
    response = client.get("/service-worker.js")
    assert response.status_code == 200 and response.mimetype == "text/javascript"
    assert response.headers["Cache-Control"] == "no-cache"
    source = response.get_data(as_text=True)
    assert prelude(source, "VERSION") == app.extensions["asset_version"]
    precache = prelude(source, "PRECACHE")
    asset_url = app.extensions["asset_url"]
    for name in app.extensions["asset_hashes"]:
        if name.startswith("img/shots/"):
            assert asset_url(name) not in precache  # only the manifest shows screenshots
        else:
            assert asset_url(name) in precache
    assert "/offline" in precache and "/manifest.webmanifest" in precache
    assert asset_url("vendor/htmx.min.js") in precache and asset_url("js/outbox.js") in precache
    # The worker imports its parts by their hashed URLs: a change to one changes the worker.
    imported = prelude(source, "WORKER_SCRIPTS")
    shared = [asset_url(f"js/{name}.js") for name in ("common", "outbox", "replay")]
    assert imported[:3] == shared
    assert asset_url("js/sw/pages.js") in imported and asset_url("js/sw/reminders.js") in imported
    assert "importScripts(...WORKER_SCRIPTS);" in source
    pages = prelude(source, "PAGES")
    assert {"/strategies", "/progress", "/settings", "/about"} <= set(pages)
    assert {f"/strategies/{s.key}" for s in app.extensions["library"].strategies} <= set(pages)


def test_any_static_change_changes_the_worker(app, client):
    before = client.get("/service-worker.js").get_data(as_text=True)
    app.extensions["asset_hashes"]["css/app.css"] = "0123456789ab"
    app.extensions["asset_version"] = "feedfacecafe"
    after = client.get("/service-worker.js").get_data(as_text=True)
    assert before != after
    assert prelude(after, "VERSION") == "feedfacecafe"
    assert "/static/css/app.css?v=0123456789ab" in prelude(after, "PRECACHE")


def test_urls_come_from_the_server_built_with_url_for(app, client):
    """Scripts write no paths of their own: the page's <body data-urls> and the worker's URLS
    hold every one, day URLs as templates the scripts fill in."""
    html = client.get("/").get_data(as_text=True)
    urls = json.loads(re.search(r"data-urls='([^']+)'", html).group(1))
    worker = prelude(client.get("/service-worker.js").get_data(as_text=True), "URLS")
    assert urls["done"] == "/day/__DAY__/done" and urls["day"] == "/day/__DAY__"
    assert urls["csrf"] == "/csrf-token" and urls["worker"] == "/service-worker.js"
    assert urls.items() <= worker.items()
    assert worker["reminderIcon"] == app.extensions["asset_url"]("icons/icon-192.png")
    assert worker["offline"] == "/offline" and worker["static"] == "/static/"
    posts = {"done", "undo", "reflection", "timezone", "pushSubscriptions"}
    adapter = app.url_map.bind("localhost")
    for name, url in worker.items():  # each one a route of the app (a wrong name fails)
        path = url.replace("__DAY__", TODAY).split("?")[0]
        adapter.match(
            path + ("x.css" if name == "static" else ""), method="POST" if name in posts else "GET"
        )


def test_scripts_write_no_paths_of_their_own():
    """No path literal or day-URL pattern in any script: they come from the URL map."""
    sources = [ROOT / "service-worker.js", *sorted((ROOT / "static" / "js").rglob("*.js"))]
    for path in sources:
        text = path.read_text()
        code = re.sub(r"/\*.*?\*/|^\s*//.*$", "", text, flags=re.S | re.M)
        assert not re.search(r"[\"'`]/[a-z]", code), path
        assert "/day/" not in code and "\\/day" not in code, path
        assert len(text.splitlines()) <= 300, path


def test_worker_never_skips_waiting_on_updates():
    ours = (ROOT / "service-worker.js").read_text()
    source = ours + "".join(p.read_text() for p in (ROOT / "static" / "js" / "sw").glob("*.js"))
    assert "async function queueWrite(url, fields)" in ours
    # skipWaiting only on first install (no active worker) or when the page asks.
    assert ours.count("self.skipWaiting()") == 2
    assert 'data.type === "SKIP_WAITING"' in ours
    # Activation deletes only our own stale caches, and never IndexedDB.
    assert "name.startsWith(CACHE_PREFIX) && !keep.has(name)" in ours
    assert "deleteDatabase" not in source
    assert "self.skipWaiting()" not in source.replace(ours, "")


def test_offline_page_is_a_full_page(client):
    response = client.get("/offline")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" in html
    assert "You are offline" in html and 'href="/"' in html


def test_csrf_token_endpoint_is_fresh_and_uncached(client):
    response = client.get("/csrf-token")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    assert len(response.get_json()["token"]) > 20


@pytest.fixture
def csrf_client(tmp_path):
    app = make_app(tmp_path, WTF_CSRF_ENABLED=True)
    yield app, app.test_client()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_a_refused_replay_succeeds_with_a_token_from_csrf_token(csrf_client):
    """What the outbox does: a write with a token the session no longer knows gets 400;
    a token from /csrf-token makes the same write (same key) go through, once."""
    app, client = csrf_client
    client.get("/")
    key = str(uuid.uuid4())
    headers = {"HX-Request": "true", "X-CSRFToken": "stale-token-from-an-old-page"}
    refused = client.post(f"/day/{TODAY}/done", data={"key": key}, headers=headers)
    assert refused.status_code == 400
    token = client.get("/csrf-token").get_json()["token"]
    for _ in range(2):
        response = client.post(
            f"/day/{TODAY}/done",
            data={"key": key, "csrf_token": token},
            headers={"HX-Request": "true", "X-CSRFToken": token},
        )
        assert response.status_code == 200
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Completion)) == 1


def test_day_cards_carry_the_offline_templates(client):
    client.get("/")
    for day in (TODAY, "2026-11-30"):  # today, and a day not yet writable
        html = client.get(f"/day/{day}").get_data(as_text=True)
        for template in ("offline-done", "offline-undone", "offline-reflection"):
            assert f'<template id="{template}">' in html
        assert f'hx-post="/day/{day}/undo"' in html and 'data-outbox="undo"' in html
        assert f'hx-post="/day/{day}/reflection"' in html
        assert html.count('name="csrf_token"') >= 3


def scripts_of(app, html: str) -> list[str]:
    """The scripts boot.js starts after the first paint, in order: the parts of its bundle."""

    listed = re.search(
        r'<script defer src="/static/bundles/early.js\?v=[0-9a-f]+" '
        r'data-bundle="/static/bundles/([a-z-]+)\.js\?v=([0-9a-f]+)"( data-htmx)?>',
        html,
    )
    name, digest, htmx = listed.groups()
    assert app.extensions["asset_hashes"][f"bundles/{name}.js"] == digest
    parts = [script_file(part).rsplit("/", 1)[1] for part in BUNDLES[name]]
    assert (htmx is not None) == (parts[-1] == "htmx.min.js")  # boot.js waits for htmx
    return parts


def test_pages_start_only_the_scripts_they_use(app, client):
    first = ["common.js", "outbox.js", "replay.js", "page.js", "install.js"]
    writes = [*first, "card.js", "push.js", "offline.js", "htmx.min.js"]
    for url, expected in (
        ("/", writes),
        (f"/day/{TODAY}", writes),
        ("/settings", writes),
        ("/progress", [*first, "calendar.js", "offline.js"]),
        ("/strategies", [*first, "offline.js"]),
        ("/about", [*first, "offline.js"]),
    ):
        html = client.get(url).get_data(as_text=True)
        assert scripts_of(app, html) == expected, url
        # boot.js, which starts the others, and fresh.js, which revalidates a restored page
        assert BUNDLES["early"] == ("boot", "fresh")
        assert html.count("<script") == 1, url
    html = client.get("/").get_data(as_text=True)
    assert '<button type="button" id="update-banner" class="update-banner" hidden>' in html
    assert 'id="offline-badge"' in html and 'id="outbox-notice"' in html


def test_install_ui_is_hidden_until_the_script_shows_it(client):
    for url in ("/", f"/day/{TODAY}", "/settings"):
        html = client.get(url).get_data(as_text=True)
        assert (
            '<section id="install" class="install panel" aria-labelledby="install-title" hidden>'
            in html
        )
        assert "Install app" in html and "Add to Home Screen" in html
    assert 'id="install"' not in client.get("/strategies").get_data(as_text=True)


@pytest.mark.parametrize(
    "name", ["base.html", "pwa/_install.html", "pwa/_card_offline.html", "pwa/offline.html"]
)
def test_our_templates_need_no_unsafe_csp(name):
    source = (ROOT / "templates" / name).read_text()
    assert not re.findall(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", source, re.S)
    assert "style=" not in source and "<style" not in source and "hx-on" not in source


def test_day_pages_say_whose_today_once_the_zone_is_confirmed(client):
    first = client.get("/")
    assert "Closer-Time-Zone" not in first.headers  # still the "UTC" placeholder
    assert "data-zone=" not in first.get_data(as_text=True)
    client.post("/settings/timezone", data={"time_zone": "Pacific/Kiritimati"})
    today = client.get("/").get_data(as_text=True).split('action="/day/')[1][:10]
    for url in ("/", f"/day/{today}"):
        response = client.get(url)
        assert response.headers["Closer-Time-Zone"] == "Pacific/Kiritimati"
        assert '<body data-zone-state="confirmed" data-zone="Pacific/Kiritimati" ' in (
            response.get_data(as_text=True)
        )
