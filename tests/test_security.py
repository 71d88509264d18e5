"""Security: CSRF on every write, rate limits, size limits, escaping, secrets, headers."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from app import create_app
from models import USER_TABLES, Reflection, User, db
from tests.conftest import HTMX, csrf_token_from, make_app

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def snapshot(app) -> dict[str, int]:
    with app.app_context():
        counts = {
            m.__tablename__: db.session.scalar(select(func.count()).select_from(m))
            for m in USER_TABLES
        }
        counts["users"] = db.session.scalar(select(func.count()).select_from(User))
        counts["tz"] = tuple(db.session.scalars(select(User.time_zone)))
        return counts


def write_routes(app) -> list[tuple[str, str]]:
    """Every state-changing route the app has, with its placeholders filled in."""
    routes = []
    for rule in app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) & WRITE_METHODS):
            url = re.sub(r"<(?:[^:<>]+:)?day_text>", "2026-11-26", rule.rule)
            url = re.sub(r"<[^>]+>", "x", url)
            routes.append((method, url))
    return routes


@pytest.fixture
def csrf_app(tmp_path):
    return make_app(tmp_path, WTF_CSRF_ENABLED=True)


def test_every_write_route_is_known(csrf_app):
    routes = write_routes(csrf_app)
    assert ("POST", "/day/2026-11-26/done") in routes
    assert ("POST", "/settings/delete") in routes
    assert len(routes) >= 5


def test_every_write_rejects_a_missing_or_wrong_csrf_token(csrf_app):
    client = csrf_app.test_client()
    good = csrf_token_from(client.get("/").get_data(as_text=True))
    client.post("/day/2026-11-26/done", headers={**HTMX, "X-CSRFToken": good})
    before = snapshot(csrf_app)
    assert before["completions"] == 1
    body = {
        "text": "should not be stored",
        "time_zone": "Asia/Tokyo",
        "endpoint": "https://push.example.com/x",
    }
    for method, url in write_routes(csrf_app):
        for headers in ({}, {"X-CSRFToken": "wrong"}, {"X-CSRFToken": good[:-2] + "xx"}):
            response = client.open(url, method=method, data=body, headers={**HTMX, **headers})
            assert response.status_code == 400, (method, url, headers)
            assert "security token" in response.get_data(as_text=True)
        response = client.open(url, method=method, data={**body, "csrf_token": "forged"})
        assert response.status_code == 400, (method, url)
    assert snapshot(csrf_app) == before


def test_a_valid_token_from_a_cached_page_still_works(csrf_app, clock=None):
    """Tokens do not expire within a session, so a page cached for offline use can write."""
    client = csrf_app.test_client()
    token = csrf_token_from(client.get("/").get_data(as_text=True))
    csrf_app.extensions["test_clock"].now = datetime(2027, 1, 5, 12, tzinfo=UTC)
    response = client.post(
        "/day/2026-11-26/reflection", data={"text": "late sync", "csrf_token": token}
    )
    assert response.status_code == 303


def test_writes_are_rate_limited_with_a_friendly_429(tmp_path):
    app = make_app(tmp_path, RATELIMIT_ENABLED=True)
    client = app.test_client()
    client.get("/")
    statuses = [client.post("/day/2026-11-26/done", headers=HTMX).status_code for _ in range(121)]
    assert statuses[:120] == [200] * 120 and statuses[120] == 429
    response = client.post("/day/2026-11-26/done", headers=HTMX)
    html = response.get_data(as_text=True)
    assert response.status_code == 429 and "<html" not in html and "try again in a minute" in html
    page = client.post("/day/2026-11-26/undo")
    assert page.status_code == 429 and "<html" in page.get_data(as_text=True)
    # another user is not affected
    other = app.test_client()
    other.get("/")
    assert other.post("/day/2026-11-26/done", headers=HTMX).status_code == 200


def test_export_is_rate_limited(tmp_path):
    app = make_app(tmp_path, RATELIMIT_ENABLED=True)
    client = app.test_client()
    client.get("/")
    statuses = [client.get("/settings/export").status_code for _ in range(11)]
    assert statuses == [200] * 10 + [429]


def test_reads_spend_no_write_budget_and_the_export_has_its_own(tmp_path):
    """Page views are not limited (a person reloads, the service worker refreshes its
    pages); they must not use up the writes' budget either."""
    app = make_app(tmp_path, RATELIMIT_ENABLED=True)
    client = app.test_client()
    for path in ["/"] * 125 + ["/progress", "/settings", "/about", "/strategies"] * 5:
        assert client.get(path).status_code == 200, path
    assert client.post("/day/2026-11-26/done", headers=HTMX).status_code == 200
    assert client.get("/settings/export").status_code == 200
    assert "X-RateLimit-Limit" not in client.get("/").headers  # a page has no limit


def test_oversized_bodies_are_refused_with_413(app, client):
    client.get("/")
    response = client.post("/day/2026-11-26/reflection", data={"text": "x" * 70_000}, headers=HTMX)
    assert response.status_code == 413 and "too large" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Reflection)) == 0


def test_unknown_fields_are_ignored_and_never_stored(app, client):
    client.get("/")
    client.post(
        "/day/2026-11-26/reflection",
        data={"text": "ok", "user_id": "someone-else", "day": "1999-01-01"},
    )
    with app.app_context():
        row = db.session.scalars(select(Reflection)).one()
        user = db.session.scalars(select(User)).one()
        assert row.user_id == user.id and row.day.isoformat() == "2026-11-26"


MARKUP = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def test_user_text_is_escaped_everywhere_it_is_shown(client):
    client.get("/")
    client.post("/day/2026-11-26/reflection", data={"text": MARKUP})
    for url in ("/", "/day/2026-11-26", "/progress"):
        html = client.get(url).get_data(as_text=True)
        assert "<script>alert" not in html and "<img src=x" not in html, url
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html, url
    fragment = client.post("/day/2026-11-26/reflection", data={"text": MARKUP}, headers=HTMX)
    assert "<script>alert" not in fragment.get_data(as_text=True)
    export = client.get("/settings/export")
    assert export.mimetype == "application/json"
    assert export.headers["X-Content-Type-Options"] == "nosniff"
    assert json.loads(export.get_data(as_text=True))["reflections"][0]["text"] == MARKUP


def test_reflections_stay_out_of_logs_and_urls(app, client, caplog):
    caplog.set_level(logging.DEBUG)
    client.get("/")
    secret = "my very private sentence"
    response = client.post("/day/2026-11-26/reflection", data={"text": secret})
    assert secret not in response.headers.get("Location", "")
    client.post("/day/2026-11-26/reflection", data={"text": secret + "x" * 2001})
    assert secret not in caplog.text
    with app.app_context():
        uid = db.session.scalars(select(User.id)).one()
    assert uid not in caplog.text


def test_start_up_refuses_a_missing_or_weak_secret_key(tmp_path, monkeypatch):
    monkeypatch.delenv("FLASK_SECRET_KEY", raising=False)
    base = {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.db'}"}
    monkeypatch.setattr("app.ROOT", tmp_path)  # no instance/secret_key there
    for key in (None, "", "dev", "short-key"):
        with pytest.raises(RuntimeError, match="SECRET_KEY"):
            create_app({**base, "SECRET_KEY": key})
    assert create_app({**base, "SECRET_KEY": "k" * 40}).config["SECRET_KEY"] == "k" * 40


def production_config(tmp_path) -> dict:
    from reminders.vapid import generate_keys

    return {
        "DEPLOYMENT": "production",
        "VAPID_PRIVATE_KEY_PATH": str(generate_keys(tmp_path)),
        "VAPID_SUBJECT": "mailto:team@closer-practice.org",
    }


def test_production_cookies_are_secure_and_https_gets_hsts(tmp_path):
    app = make_app(tmp_path, **production_config(tmp_path))
    assert app.config["SESSION_COOKIE_SECURE"] is True
    client = app.test_client()
    response = client.get("/", base_url="https://closer.example")
    assert "Secure" in response.headers["Set-Cookie"]
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    assert "Strict-Transport-Security" not in app.test_client().get("/").headers


def test_proxy_fix_is_opt_in(tmp_path):
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    plain = make_app(tmp_path / "a")
    assert "Strict-Transport-Security" not in plain.test_client().get("/", headers=headers).headers
    proxied = make_app(tmp_path / "b", PROXY_FIX=1)
    assert "Strict-Transport-Security" in proxied.test_client().get("/", headers=headers).headers


def test_headers_lock_the_page_down(client):
    for url in ("/", "/strategies", "/settings", "/day/nope"):
        headers = client.get(url).headers
        csp = headers["Content-Security-Policy"]
        for directive in (
            "script-src 'self'",
            "style-src 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "object-src 'none'",
        ):
            assert directive in csp, (url, directive)
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
        assert "camera=()" in headers["Permissions-Policy"]


def test_templates_have_no_inline_scripts_styles_or_hx_on(app):
    from pathlib import Path

    for path in Path(app.root_path, "templates").rglob("*.html"):
        text = path.read_text()
        # the one inline script is a static file the CSP allows by its hash (assets.py)
        for body in re.findall(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", text, re.S):
            assert re.fullmatch(r'\{\{ inline_script\("[^"]+"\) \}\}', body), path
        assert "<style" not in text and " style=" not in text and "hx-on" not in text, path


def test_every_inline_script_on_a_page_is_allowed_by_its_hash_and_nothing_else_is(client):
    import base64
    import hashlib

    for url in ("/", "/strategies", "/progress", "/settings", "/about", "/day/nope"):
        response = client.get(url)
        csp = response.headers["Content-Security-Policy"]
        scripts = re.findall(
            r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", response.get_data(as_text=True), re.S
        )
        allowed = re.findall(r"'sha256-([A-Za-z0-9+/=]+)'", csp)
        assert not scripts, url  # every script is a file (static/js/boot.js starts them)
        digests = [base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() for s in scripts]
        assert sorted(digests) == sorted(allowed), url
        assert "unsafe-inline" not in csp


@pytest.mark.parametrize("path", ["/", "/day/2026-11-26", "/progress", "/settings"])
def test_only_a_page_the_person_opens_starts_a_new_user(app, client, path):
    """A background fetch without a cookie (the service worker refreshing its pages after
    "delete everything", a script) is refused and makes no ghost account; a navigation, or
    a client that sends no Sec-Fetch headers, starts Day 1 as before."""
    for mode in ("same-origin", "cors", "no-cors"):
        response = client.get(path, headers={"Sec-Fetch-Mode": mode})
        assert response.status_code == 401 and "Open Closer to start" in response.get_data(
            as_text=True
        )
        assert "Set-Cookie" not in response.headers  # it must not replace a visit's cookie
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 0
    assert client.get(path, headers={"Sec-Fetch-Mode": "navigate"}).status_code == 200
    assert client.get(path, headers={"Sec-Fetch-Mode": "cors"}).status_code == 200  # now known
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 1


def test_a_page_without_a_user_sets_no_cookie(client):
    """The library and the about page need no session: drawing a CSRF token for a visitor
    without one would start a session, and that cookie can land after (and replace) the one
    of the visit that is creating the user, which then loses its Day 1 (seen with the
    service worker fetching the library while the first page loaded)."""
    for path in ("/strategies", "/strategies/listen", "/about", "/offline"):
        response = client.get(path, headers={"Sec-Fetch-Mode": "cors"})
        assert response.status_code == 200, path
        assert "Set-Cookie" not in response.headers, path
        assert '<meta name="csrf-token"' not in response.get_data(as_text=True), path
    client.get("/")  # a user now: pages carry the token for their scripts
    assert '<meta name="csrf-token"' in client.get("/strategies").get_data(as_text=True)
