"""The library, progress, settings and about pages, export and delete."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import func, select

from models import USER_TABLES, PushSubscription, ReminderSent, User, db
from tests.conftest import HTMX

TODAY = "2026-11-26"


def test_library_lists_the_six_strategies(client):
    html = client.get("/strategies").get_data(as_text=True)
    for key in ("listen", "reflect", "empathy", "affirm", "share", "grow"):
        assert f'href="/strategies/{key}"' in html


def test_strategy_page_shows_why_citations_and_all_practices(app, client):
    library = app.extensions["library"]
    strategy = library.strategy("empathy")
    html = client.get("/strategies/empathy").get_data(as_text=True)
    assert "Why it matters" in html and strategy.why.split(".")[0].replace("'", "&#39;") in html
    for ref in strategy.citations:
        assert ref.text.split(".")[0] in html
    for p in strategy.practices:
        assert p.title.replace("'", "&#39;") in html


def test_unknown_strategy_is_404(client):
    response = client.get("/strategies/telepathy")
    assert response.status_code == 404 and "no strategy by that name" in response.get_data(
        as_text=True
    )


def test_about_names_the_research_and_says_it_is_not_therapy(client):
    html = client.get("/about").get_data(as_text=True)
    assert "not therapy" in html and "crisis" in html
    for name in ("Holt-Lunstad", "Pietromonaco", "Laurenceau", "Reis"):
        assert name in html
    assert "6 Keys to Truly Healthy Intimate Relationships" in html  # the source, by name
    # Where to find help comes first, with a way to find a helpline in any country.
    assert html.index('id="not-therapy"') < html.index('id="based-on"')
    assert 'href="https://findahelpline.com"' in html


def test_every_page_points_to_help_and_settings_says_where_data_lives(client):
    for path in ("/", "/progress", "/settings"):
        assert 'href="/about#not-therapy"' in client.get(path).get_data(as_text=True), path
    settings = client.get("/settings").get_data(as_text=True)
    assert "kept on our server under a random key that only this phone holds" in settings


def test_progress_calendar_marks_done_days_and_today(client, clock):
    client.get("/")
    client.post(f"/day/{TODAY}/done", headers=HTMX)
    html = client.get("/progress").get_data(as_text=True)
    assert html.count("<tr>") == 7  # header + six weeks
    assert 'class="done today"' in html
    assert "Thursday 26 November, practised, today" in html
    assert "Day one, done." in html and "1 day in all" in html
    # The key names what the grid holds: Thursday's week goes on to Sunday, still to come,
    # and the weeks before Day 1 are bare numbers, drawn in the key as one.
    assert '<span class="swatch day later" aria-hidden="true"></span> Still to come' in html
    assert '<span class="swatch before" aria-hidden="true">1</span> Before your Day 1' in html


def test_progress_lists_reflections_newest_first(client, clock):
    from datetime import UTC, datetime

    client.get("/")
    client.post(f"/day/{TODAY}/reflection", data={"text": "older"})
    clock.now = datetime(2026, 11, 27, 12, tzinfo=UTC)
    client.post("/day/2026-11-27/reflection", data={"text": "newer"})
    html = client.get("/progress").get_data(as_text=True)
    assert html.index("newer") < html.index("older")


def test_settings_offers_zones_export_and_delete(client):
    html = client.get("/settings").get_data(as_text=True)
    assert '<option value="Europe/Berlin">Berlin, Germany</option>' in html
    assert '<option value="UTC" selected>UTC</option>' in html
    assert '<optgroup label="Americas">' in html
    assert 'href="/settings/export"' in html and 'href="/settings/delete"' in html


def test_the_zone_picker_lists_places_not_old_aliases(client):
    """zone.tab's one name per place, with its country; Asia/Calcutta, Europe/Kiev,
    US/Eastern and Mexico/BajaNorte are old names for zones listed under their own."""
    html = client.get("/settings").get_data(as_text=True)
    assert '<option value="Asia/Kolkata">Kolkata, India</option>' in html
    assert '<option value="Europe/Kyiv">Kyiv, Ukraine</option>' in html
    assert "Indianapolis (Indiana), United States" in html
    assert '<option value="America/Argentina/Buenos_Aires">Buenos Aires, Argentina</option>' in html
    for alias in ("Asia/Calcutta", "Europe/Kiev", "US/Eastern", "Mexico/BajaNorte", "Etc/GMT+5"):
        assert f'value="{alias}"' not in html, alias
    assert 400 < html.count("<option ") < 450


def test_a_zone_reported_under_an_old_name_is_kept_and_shown_as_chosen(app, client):
    """Chromium reports India as Asia/Calcutta: valid, stored as it came, and the picker
    shows it chosen (not the list's first zone, which saving the form would then pick)."""
    client.get("/")
    client.post("/settings/timezone", data={"time_zone": "Asia/Calcutta", "detected": "1"})
    html = client.get("/settings").get_data(as_text=True)
    assert '<option value="Asia/Calcutta" selected>Asia/Calcutta</option>' in html
    assert html.count(" selected>") == 1
    with app.app_context():
        assert db.session.scalars(select(User.time_zone)).one() == "Asia/Calcutta"


def test_unknown_zone_is_refused_with_a_message(app, client):
    client.get("/")
    response = client.post("/settings/timezone", data={"time_zone": "Mars/Olympus"}, headers=HTMX)
    assert response.status_code == 422 and "pick a time zone" in response.get_data(as_text=True)
    response = client.post("/settings/timezone", data={"time_zone": "Mars/Olympus"})
    assert response.status_code == 422 and "<html" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalars(select(User.time_zone)).one() == "UTC"


def test_a_saved_zone_is_named_as_the_picker_names_it(client):
    client.get("/")
    html = client.post(
        "/settings/timezone", data={"time_zone": "Europe/Berlin"}, headers=HTMX
    ).get_data(as_text=True)
    assert "Saved. Your days now follow Berlin, Germany (Europe/Berlin)." in html
    html = client.post(
        "/settings/timezone", data={"time_zone": "Asia/Calcutta"}, headers=HTMX
    ).get_data(as_text=True)
    assert "Saved. Your days now follow Asia/Calcutta." in html


def test_time_zone_form_without_javascript(client):
    client.get("/")
    response = client.post("/settings/timezone", data={"time_zone": "Europe/Berlin"})
    assert response.status_code == 303
    assert '<option value="Europe/Berlin" selected>Berlin, Germany</option>' in client.get(
        "/settings"
    ).get_data(as_text=True)


def _seed_everything(app, client):
    client.get("/")
    client.post(f"/day/{TODAY}/done", data={"key": "6f1c1c1e-0000-4000-8000-000000000001"})
    client.post(f"/day/{TODAY}/reflection", data={"text": "A <b>bold</b> evening"})
    with app.app_context():
        user = db.session.scalars(select(User)).one()
        db.session.add(
            PushSubscription(
                user_id=user.id,
                endpoint="https://push.example.com/abc",
                p256dh="k" * 87,
                auth="a" * 22,
            )
        )
        from datetime import date

        db.session.add(ReminderSent(user_id=user.id, day=date(2026, 11, 26)))
        db.session.commit()
        return user.id


def test_export_contains_everything_stored_about_the_user(db_app, db_client):
    uid = _seed_everything(db_app, db_client)
    response = db_client.get("/settings/export")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith(
        'attachment; filename="closer-export-'
    )
    data = json.loads(response.get_data(as_text=True))
    assert data["user"]["id"] == uid and data["user"]["time_zone"] == "UTC"
    assert data["completions"][0]["day"] == TODAY
    assert data["reflections"][0]["text"] == "A <b>bold</b> evening"
    assert data["push_subscriptions"][0]["endpoint"] == "https://push.example.com/abc"
    assert data["reminders_sent"][0]["day"] == TODAY
    assert data["applied_writes"][0]["key"] == "6f1c1c1e-0000-4000-8000-000000000001"
    assert {m.__tablename__ for m in USER_TABLES} <= set(data)
    # Readable too: each day by its practice's name, and times marked as UTC.
    title = db_app.extensions["library"].for_day(1)[1].title
    assert data["journal"] == [
        {"day": TODAY, "practice": title, "done": True, "reflection": "A <b>bold</b> evening"}
    ]
    assert data["completions"][0]["done_at"].endswith("Z")


def test_delete_takes_two_taps_and_leaves_no_row_behind(db_app, db_client):
    _seed_everything(db_app, db_client)
    # another user's data must survive
    other = db_app.test_client()
    other.get("/")
    other.post(f"/day/{TODAY}/done")

    confirm = db_client.get("/settings/delete").get_data(as_text=True)
    assert "Yes, delete everything" in confirm
    response = db_client.post("/settings/delete")
    assert response.status_code == 303 and response.headers["Location"].endswith(
        "/settings/deleted"
    )
    assert "closer=;" in response.headers["Set-Cookie"]  # the cookie is cleared
    # and the phone's copies: cached pages, the offline outbox, the service worker
    assert response.headers["Clear-Site-Data"] == '"cache", "storage"'
    with db_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 1
        for model in USER_TABLES:
            owners = set(db.session.scalars(select(model.user_id)))
            assert len(owners) <= 1, model.__tablename__
        assert db.session.scalar(select(func.count()).select_from(PushSubscription)) == 0
    assert "Everything is deleted" in db_client.get("/settings/deleted").get_data(as_text=True)
    # the next visit is a brand-new Day 1
    assert "Day 1 of your practice" in db_client.get("/").get_data(as_text=True)


def test_pages_without_javascript_have_plain_forms(client):
    html = client.get("/").get_data(as_text=True)
    assert 'method="post" action="/day/2026-11-26/done"' in html
    assert 'method="post" action="/day/2026-11-26/reflection"' in html


def test_static_files_are_hashed_and_immutable(app, client):
    html = client.get("/").get_data(as_text=True)
    css = html.split('rel="stylesheet" href="')[1].split('"')[0]
    response = client.get(css)
    assert response.status_code == 200 and "immutable" in response.headers["Cache-Control"]
    stale = client.get("/static/css/app.css?v=old")
    assert stale.headers["Cache-Control"] == "no-cache"


def test_pages_are_compressed_with_the_best_coding_the_browser_accepts(client):
    """Brotli where offered (quality 5: smaller than zstd on a first visit, app.py), zstd for
    a browser that takes only zstd; gzip for anything older."""
    import gzip

    import brotli
    from flask_compress.compat import compression  # zstd: the standard library's from 3.14

    client.get("/")
    decoders = {
        "zstd": compression.zstd.decompress,
        "br": brotli.decompress,
        "gzip": gzip.decompress,
    }
    for accepted, coding in [
        ("gzip, deflate, br, zstd", "br"),  # Chromium
        ("gzip, deflate, br", "br"),  # Safari
        ("zstd", "zstd"),
        ("gzip", "gzip"),
    ]:
        response = client.get("/", headers={"Accept-Encoding": accepted})
        assert response.headers["Content-Encoding"] == coding, accepted
        assert "Accept-Encoding" in response.headers["Vary"]
        html = decoders[coding](response.data).decode()
        assert html.startswith("<!doctype html>") and html.rstrip().endswith("</html>")
        assert len(response.data) < len(html) / 2
    plain = client.get("/", headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers and b"</html>" in plain.data


def test_security_headers_on_every_page(client):
    response = client.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "'unsafe-inline'" not in csp and "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_the_silent_zone_report_gets_an_empty_answer(client):
    client.get("/")
    response = client.post(
        "/settings/timezone", data={"time_zone": "Asia/Tokyo", "detected": "1"}, headers=HTMX
    )
    assert response.status_code == 204 and response.data == b""
    settings = client.get("/settings").get_data(as_text=True)
    assert '<option value="Asia/Tokyo" selected>Tokyo, Japan</option>' in settings


def test_static_files_are_precompressed_and_carry_no_cookie(app, client):
    client.get("/")  # a visitor with a session
    import gzip

    import brotli

    script = app.extensions["asset_url"]("vendor/htmx.min.js")  # in the page's bundle
    raw = Path(app.static_folder, "vendor", "htmx.min.js").read_bytes()

    response = client.get(script, headers={"Accept-Encoding": "gzip, deflate, br, zstd"})
    assert response.headers["Content-Encoding"] == "br"
    assert brotli.decompress(response.data) == raw
    assert "Set-Cookie" not in response.headers and "immutable" in response.headers["Cache-Control"]
    assert "Content-Security-Policy" not in response.headers
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    gz = client.get(script, headers={"Accept-Encoding": "gzip"})
    assert gz.headers["Content-Encoding"] == "gzip" and gzip.decompress(gz.data) == raw


def test_our_scripts_go_out_minified_the_same_in_every_encoding(app, client):
    import gzip

    import brotli

    url = app.extensions["asset_url"]("js/card.js")  # the page loads it in a bundle
    source = Path(app.static_folder, "js", "card.js").read_bytes()
    br = brotli.decompress(client.get(url, headers={"Accept-Encoding": "br"}).data)
    gz = gzip.decompress(client.get(url, headers={"Accept-Encoding": "gzip"}).data)
    plain = client.get(url, headers={"Accept-Encoding": "identity"})
    assert br == gz == plain.data and "Content-Encoding" not in plain.headers
    assert len(br) < 0.8 * len(source)  # the comments stay in the source
    assert b"/*" not in br and b'"use strict"' in br


def test_an_unversioned_static_file_revalidates_with_304(client):
    """Files asked for without their hash (or with an old one) are `no-cache`: the browser
    asks again with the compressed copy's ETag and gets a 304 while the file is unchanged."""
    headers = {"Accept-Encoding": "gzip, deflate, br, zstd"}
    first = client.get("/static/css/app.css", headers=headers)
    assert first.status_code == 200 and first.headers["Cache-Control"] == "no-cache"
    etag = first.headers["ETag"]
    again = client.get("/static/css/app.css", headers={**headers, "If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
