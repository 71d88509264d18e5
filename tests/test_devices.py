"""Device sessions and "Use on another device": codes (format, hashing, single use, expiry,
rate limits), linking by code and by link, Remove, the old-cookie migration, and hostile
input on the new routes. The upgrade from the previous schema is in test_devices_migration.py.
"""

from __future__ import annotations

import hashlib
import math
import re
from datetime import timedelta

import pytest
import segno
from flask import render_template_string
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

import codes
import devices
from models import Code, Device, PushSubscription, Reflection, User, db
from tests.conftest import make_app
from tests.test_hostile_input import check, fingerprint, hyp, nasty

TODAY = "2026-11-26"
PIXEL = "Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Mobile Safari/537.36"
IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
CODE_ON_PAGE = re.compile(r'id="link-code"[^>]*>([A-Z0-9-]+)<')


def phone(app, user_agent=PIXEL):
    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = user_agent
    return client


def started(app, reflection: str | None = None, user_agent=PIXEL):
    """A phone whose visitor has opened Today (and written a reflection, if given)."""
    client = phone(app, user_agent)
    assert client.get("/").status_code == 200
    if reflection:
        client.post(f"/day/{TODAY}/reflection", data={"text": reflection})
    return client


def code_from(client) -> str:
    response = client.post("/devices/code")
    assert response.status_code == 200
    return CODE_ON_PAGE.search(response.get_data(as_text=True)).group(1)


def linked(app, first, second, code: str | None = None):
    code = code or code_from(first)
    response = second.post(f"/link/{code}", data={"replace": "1"})
    assert response.status_code == 303 and response.headers["Location"].endswith("/link/done")
    return code


def rows(app, model):
    with app.app_context():
        found = db.session.scalars(select(model)).all()
        db.session.expunge_all()
        return found


def session_of(app, client) -> dict:
    cookie = client.get_cookie("closer")
    return app.session_interface.get_signing_serializer(app).loads(cookie.value)


# ------------------------------------------------------------------------- the codes


def qr_modules(page: str) -> list[list[int]]:
    """The dark modules the page's QR path draws."""
    size = int(re.search(r'viewBox="0 0 (\d+) \d+"', page).group(1))
    grid = [[0] * size for _ in range(size)]
    path = re.search(r'<path fill="#000" d="([^"]+)"', page).group(1)
    for x, y, width in re.findall(r"M(\d+) (\d+)h(\d+)v1h-\d+z", path):
        for i in range(int(width)):
            grid[int(y)][int(x) + i] = 1
    return grid


def segno_modules(text: str) -> list[list[int]]:
    symbol = segno.make_qr(text, error="m")
    return [[1 if m else 0 for m in row] for row in symbol.matrix_iter(scale=1, border=4)]


def test_a_code_has_over_50_bits_written_for_people():
    assert math.log2(len(codes.ALPHABET)) * codes.LENGTH > 58
    assert not set("01ILOU") & set(codes.ALPHABET) and len(set(codes.ALPHABET)) == 30
    made = {codes.new_code() for _ in range(2000)}
    assert len(made) == 2000  # no repeats: drawn from 5e17
    assert set("".join(made)) == set(codes.ALPHABET)  # every symbol is used
    assert re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}", codes.grouped(made.pop()))


def test_typed_codes_ignore_case_spaces_and_dashes():
    assert codes.normalise(" k7qx-3mpa w9rt ") == "K7QX3MPAW9RT"
    assert codes.normalise("K7QX--3MPA--W9RT") == "K7QX3MPAW9RT"
    for wrong in ("K7QX-3MPA-W9R", "K7QX-3MPA-W9RTT", "O7QX-3MPA-W9RT", "K7QX/3MPA/W9RT", ""):
        assert codes.normalise(wrong) is None


def test_the_code_page_shows_code_link_qr_and_the_warning_and_stores_only_a_hash(app):
    first = started(app, "our first talk")
    response = first.post("/devices/code")
    page = response.get_data(as_text=True)
    code = CODE_ON_PAGE.search(page).group(1)
    assert f"http://localhost/link/{code}" in page  # the link, shown on the page
    assert "<img" not in page and 'role="img" aria-label="QR code' in page  # inline SVG
    assert qr_modules(page) == segno_modules(f"http://localhost/link/{code}")
    assert "Whoever has this code can read your reflections" in page
    assert response.headers["Cache-Control"] == "no-store"
    [row] = rows(app, Code)
    plain = codes.normalise(code)
    assert row.token_hash == hashlib.sha256(plain.encode()).hexdigest() and row.kind == "device"
    assert row.expires_at - row.created_at == timedelta(minutes=10)
    stored = " ".join(str(getattr(row, c.key)) for c in Code.__table__.columns)
    assert plain not in stored and code not in stored


def test_a_new_code_replaces_the_open_one(app):
    first = started(app, "ours")
    old, new = code_from(first), code_from(first)
    assert len(rows(app, Code)) == 1
    assert phone(app).get(f"/link/{old}").status_code == 404
    assert phone(app).get(f"/link/{new}").status_code == 200


# ------------------------------------------------------------------------- linking


def test_link_by_code_shows_whose_practice_then_both_phones_share_it(app, clock):
    first = started(app, "what we said on the walk")
    first.post(f"/day/{TODAY}/done")
    clock.now += timedelta(days=1)
    code = code_from(first)
    second = phone(app, IPHONE)
    form = second.post("/link", data={"code": code.lower().replace("-", " ")})
    assert form.status_code == 200 and form.headers["Cache-Control"] == "no-store"
    assert second.get("/link").headers["Cache-Control"] == "no-store"
    assert "Day 2, 1 day practised" in form.get_data(as_text=True)
    assert second.get_cookie("closer") is None or "did" not in session_of(app, second)
    linked(app, first, second, code)
    page = second.get("/link/done").get_data(as_text=True)
    assert "data-forget-device" in page  # it clears what it showed before, once
    assert "data-forget-device" not in second.get("/link/done", follow_redirects=True).text
    assert "what we said on the walk" in second.get(f"/day/{TODAY}").get_data(as_text=True)
    second.post("/day/2026-11-27/reflection", data={"text": "from the iPhone"})
    assert "from the iPhone" in first.get("/").get_data(as_text=True)
    assert sorted(d.label for d in rows(app, Device)) == ["Chrome on Android", "Safari on iPhone"]
    assert len(rows(app, User)) == 1
    # the cookie holds a device token, never the user id
    session = session_of(app, second)
    assert "uid" not in session and rows(app, User)[0].id not in second.get_cookie("closer").value


def test_a_used_expired_or_wrong_code_is_refused_and_changes_nothing(app, clock):
    first = started(app, "ours")
    code = code_from(first)
    linked(app, first, started(app), code)
    third = phone(app)
    used = third.post(f"/link/{code}", data={"replace": "1"})
    assert used.status_code == 410 and "used already" in used.get_data(as_text=True)
    assert third.get(f"/link/{code}").status_code == 410
    fresh = code_from(first)
    before = fingerprint(app)
    clock.now += timedelta(minutes=10, seconds=1)
    expired = third.post(f"/link/{fresh}")
    assert expired.status_code == 410 and "expired" in expired.get_data(as_text=True)
    wrong = third.post("/link/K7QX-3MPA-W9RT")
    assert wrong.status_code == 404 and "not one we know" in wrong.get_data(as_text=True)
    typed = third.post("/link", data={"code": "not a code"})
    assert typed.status_code == 404 and 'role="alert"' in typed.get_data(as_text=True)
    assert fingerprint(app) == before


def test_a_phone_with_its_own_history_must_confirm_and_its_old_practice_goes(app):
    first = started(app, "first phone's words")
    second = started(app, "second phone's own words")
    code = code_from(first)
    page = second.get(f"/link/{code}").get_data(as_text=True)
    assert "This phone has its own practice (Day 1, 0 days practised)" in page
    assert "export it first" in page and 'name="replace"' in page
    before = fingerprint(app)
    refused = second.post(f"/link/{code}")
    assert refused.status_code == 409 and fingerprint(app) == before  # the code is not spent
    linked(app, first, second, code)
    assert [r.text for r in rows(app, Reflection)] == ["first phone's words"]
    assert len(rows(app, User)) == 1


def test_a_new_visitor_links_without_a_question_and_leaves_no_empty_account(app):
    first = started(app, "ours")
    second = started(app)  # the first-visit page made an empty user
    assert len(rows(app, User)) == 2
    code = code_from(first)
    assert 'name="replace"' not in second.get(f"/link/{code}").get_data(as_text=True)
    assert second.post(f"/link/{code}").status_code == 303
    assert len(rows(app, User)) == 1


def test_a_code_works_once_on_both_databases(db_app):
    first = started(db_app, "ours")
    code = code_from(first)
    linked(db_app, first, phone(db_app), code)
    assert phone(db_app).post(f"/link/{code}").status_code == 410
    assert len(rows(db_app, Device)) == 2 and rows(db_app, Code)[0].used_at is not None


def test_the_first_visit_offer_links_to_the_code_form(app):
    with app.test_request_context("/"):
        html = render_template_string('{% include "devices/_already_offer.html" %}')
    assert 'href="/link"' in html and "Already use Closer on another phone?" in html


def test_linking_to_your_own_practice_is_refused(app):
    first = started(app, "ours")
    code = code_from(first)
    assert first.get(f"/link/{code}").status_code == 409
    assert first.post(f"/link/{code}", data={"replace": "1"}).status_code == 409


# ------------------------------------------------------------------------- devices


def test_remove_signs_the_device_out_at_once(app):
    first, second = started(app, "private words"), phone(app, IPHONE)
    linked(app, first, second)
    second.get("/link/done")
    with app.app_context():
        iphone = db.session.scalar(select(Device).where(Device.label == "Safari on iPhone"))
        db.session.add(
            PushSubscription(
                user_id=iphone.user_id,
                device_id=iphone.id,
                endpoint="https://p/1",
                p256dh="k",
                auth="a",
            )
        )
        db.session.commit()
        iphone_id = iphone.id
    assert first.post(f"/devices/{iphone_id}/remove").status_code == 303
    assert rows(app, PushSubscription) == []  # its reminders went with it
    before = fingerprint(app)
    write = second.post(f"/day/{TODAY}/reflection", data={"text": "overwrite"})
    assert write.status_code == 403 and fingerprint(app) == before
    page = second.get("/").get_data(as_text=True)
    assert "data-forget-device" in page and "private words" not in page  # a new visitor
    assert "data-forget-device" not in second.get("/").get_data(as_text=True)
    assert len(rows(app, User)) == 2


def test_a_third_user_cannot_remove_someone_elses_device(app):
    first, second = started(app, "ours"), phone(app)
    linked(app, first, second)
    stranger = started(app)
    before = fingerprint(app)
    for device in rows(app, Device):
        if device.user_id != rows(app, User)[0].id:
            continue
        assert stranger.post(f"/devices/{device.id}/remove").status_code == 404
    assert first.post("/devices/nothing-like-this/remove").status_code == 404
    assert fingerprint(app) == before


def test_the_last_device_stays_and_removing_this_one_signs_it_out(app):
    first = started(app, "ours")
    [only] = rows(app, Device)
    assert first.post(f"/devices/{only.id}/remove").status_code == 409
    second = phone(app)
    linked(app, first, second)
    response = first.post(f"/devices/{only.id}/remove")
    assert response.headers["Location"].endswith("/devices/signed-out")
    page = first.get("/devices/signed-out")
    assert "data-forget-device" in page.get_data(as_text=True)
    assert "closer=;" in page.headers["Set-Cookie"]  # a clean visit from here on
    assert "ours" in second.get(f"/day/{TODAY}").get_data(as_text=True)


def test_settings_section_lists_devices_with_remove(app):
    first = started(app, "ours")
    linked(app, first, phone(app, IPHONE))
    with first:
        first.get("/settings")
        html = render_template_string('{% include "devices/_settings_section.html" %}')
    assert html.index("Chrome on Android · this device") < html.index("Safari on iPhone")
    assert html.count(">Remove</button>") == 2 and "Use on another device" in html
    assert "last seen 26 November 2026" in html


def test_delete_everything_deletes_devices_and_codes_and_signs_out_the_others(app):
    first, second = started(app, "ours"), phone(app)
    linked(app, first, second)
    code_from(first)
    first.post("/settings/delete")
    assert rows(app, Device) == [] and rows(app, Code) == [] and rows(app, User) == []
    assert "data-forget-device" in second.get("/").get_data(as_text=True)


def test_last_seen_is_written_at_most_once_a_day(app, clock):
    first = started(app)
    [device] = rows(app, Device)
    clock.now += timedelta(hours=10)
    first.get("/")
    assert rows(app, Device)[0].last_seen_at == device.last_seen_at
    clock.now += timedelta(days=1)
    first.get("/")
    assert rows(app, Device)[0].last_seen_at.date() == clock.now.date()


@pytest.mark.parametrize(
    ("agent", "label"),
    [
        (PIXEL, "Chrome on Android"),
        (IPHONE, "Safari on iPhone"),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) CriOS/130 Safari/604.1",
            "Chrome on iPhone",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/130 Safari/537.36 Edg/130",
            "Edge on Windows",
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.1; rv:133.0) Gecko/20100101 Firefox/133.0",
            "Firefox on Mac",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14) SamsungBrowser/26.0 Chrome/122 Mobile Safari/537.36",
            "Samsung Internet on Android",
        ),
        ("curl/8.5", "A browser"),
        ("", "A browser"),
    ],
)
def test_the_device_label_is_read_simply_from_the_user_agent(agent, label):
    assert devices.describe(agent) == label


# ------------------------------------------------------------------------- old cookies


def test_an_old_cookie_naming_the_user_becomes_a_device_and_keeps_the_practice(db_app):
    first = started(db_app, "kept across the upgrade")
    with db_app.app_context():
        user_id = db.session.scalar(select(User.id))
        db.session.execute(Device.__table__.delete())  # as before devices existed
        db.session.commit()
    signer = db_app.session_interface.get_signing_serializer(db_app)
    old = phone(db_app, IPHONE)
    old.set_cookie("closer", signer.dumps({"uid": user_id, "_permanent": True}))
    response = old.get(f"/day/{TODAY}")
    assert "kept across the upgrade" in response.get_data(as_text=True)
    session = session_of(db_app, old)
    assert "uid" not in session and isinstance(session["did"], str)
    [device] = rows(db_app, Device)
    assert device.user_id == user_id and device.label == "Safari on iPhone"
    assert "Set-Cookie" not in old.get("/").headers  # migrated once
    assert len(rows(db_app, Device)) == 1 and len(rows(db_app, User)) == 1
    assert first.get("/").status_code == 200


# ------------------------------------------------------------------------- rate limits


@pytest.fixture
def limited_app(tmp_path):
    return make_app(tmp_path, RATELIMIT_ENABLED=True)


def test_guessing_codes_is_limited_per_visitor_and_per_client(limited_app):
    owner = started(limited_app, "ours")
    code = code_from(owner)
    guesser = started(limited_app)
    for _ in range(10):
        assert guesser.post("/link/K7QX-3MPA-W9RT").status_code == 404
    assert guesser.get(f"/link/{code}").status_code == 429  # even the right code, now
    # other visitors from the same address share the client's 30 per 10 minutes
    for _ in range(2):
        other = started(limited_app)
        for _ in range(10):
            assert other.post("/link", data={"code": "K7QX3MPAW9RT"}).status_code in (404, 429)
    assert started(limited_app).get(f"/link/{code}").status_code == 429
    assert len(rows(limited_app, User)) == 5 and rows(limited_app, Code)[0].used_at is None


def test_making_codes_is_limited_per_user(limited_app):
    owner = started(limited_app)
    for _ in range(5):
        assert owner.post("/devices/code").status_code == 200
    assert owner.post("/devices/code").status_code == 429


# ------------------------------------------------------------------------- hostile input


@pytest.fixture(scope="module")
def hostile_devices_app(tmp_path_factory):
    app = make_app(tmp_path_factory.mktemp("hostile-devices"))
    client = started(app, "kept safe")
    app.extensions["hostile_client"] = client
    return app


NEW_ROUTES = [
    "/link",
    "/link/{x}",
    "/link/done",
    "/devices/code",
    "/devices/{x}/remove",
    "/devices/signed-out",
]


@hyp.__class__(parent=hyp, max_examples=150)
@given(data=st.data())
def test_the_new_routes_never_break_and_a_refusal_changes_nothing(hostile_devices_app, data):
    client = hostile_devices_app.extensions["hostile_client"]
    route = data.draw(st.sampled_from(NEW_ROUTES))
    url = route.replace("{x}", re.sub(r"[/?#]", "_", data.draw(nasty))[:80] or "x")
    method = data.draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD"]))
    form = data.draw(
        st.dictionaries(st.sampled_from(["code", "replace", "csrf_token"]), nasty, max_size=3)
    )
    check(hostile_devices_app, client, method, url, data=form if method == "POST" else None)
    assert client.get("/").status_code == 200  # still signed in: nothing removed this device
