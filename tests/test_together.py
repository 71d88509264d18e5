"""Together: invites (128-bit, hashed, single use, 7 days, replaced), joining (new and
existing visitors), every refusal, the shared calendar, the partner's state and the
mutual-reveal rule for shared reflections, thank-yous, unlinking and the export part."""

from __future__ import annotations

import html
import re
import uuid
from datetime import date, timedelta

from flask import g, render_template
from sqlalchemy import select

import codes
from models import Code, PartnerLink, ThankYou, User, db
from tests.conftest import make_app
from together import access, thanks
from together.calendar import shared_day_number, together_day
from together.export import export_together

TODAY = "2026-11-26"


def unescaped(response) -> str:
    return html.unescape(response.get_data(as_text=True))


LINK = re.compile(r'id="invite-link" readonly value="[^"]*/together/join/([A-Z0-9]+)"')


def started(app):
    client = app.test_client()
    assert client.get("/").status_code == 200
    return client


def invite_token(client, name="Sam") -> str:
    response = client.post("/together/invite", data={"name": name})
    assert response.status_code == 200, unescaped(response)
    page = unescaped(response)
    assert 'data-copy="invite-link"' in page and "Copy link" in page and "<svg" in page
    return LINK.search(page).group(1)


def couple(app, a_name="Sam", b_name="Alex"):
    a, b = started(app), started(app)
    token = invite_token(a, a_name)
    page = unescaped(b.get(f"/together/join/{token}"))
    assert f"{a_name} will see whether you did each day" in page and "No thanks" in page
    response = b.post(f"/together/join/{token}", data={"name": b_name})
    assert response.status_code == 303
    return a, b


def uid(app, client) -> str:
    with client.session_transaction() as session:
        token = session["did"]
    with app.app_context():
        import devices

        return devices.signed_in(token)[1].id


def test_invite_token_is_long_hashed_single_use_and_replaced(app):
    a = started(app)
    first = invite_token(a)
    second = invite_token(a)
    assert len(second) == 27 and 27 * 4.9 >= 128  # log2(30) = 4.907 bits per symbol
    with app.app_context():
        [row] = db.session.scalars(select(Code).where(Code.kind == codes.INVITE)).all()
        assert row.token_hash == codes.token_hash(second) and second not in row.token_hash
        assert row.label == "Sam"
        assert row.expires_at - row.created_at == timedelta(days=7)
    b = started(app)
    assert b.get(f"/together/join/{first}").status_code == 404  # replaced
    assert b.post(f"/together/join/{second}").status_code == 303
    assert started(app).get(f"/together/join/{second}").status_code == 410  # used


def test_joining_links_both_and_keeps_history(app):
    a, b = started(app), started(app)
    b.post(f"/day/{TODAY}/reflection", data={"text": "Mine from before"})
    token = invite_token(a, "Sam")
    assert b.post(f"/together/join/{token}", data={"name": "Alex"}).status_code == 303
    with app.app_context():
        links = {link.user_id: link for link in db.session.scalars(select(PartnerLink))}
        assert {link.partner_name for link in links.values()} == {"Sam", "Alex"}
    assert "Mine from before" in unescaped(b.get(f"/day/{TODAY}"))
    assert "You have practised with <strong>Sam</strong>" in unescaped(b.get("/together"))
    assert "You have practised with <strong>Alex</strong>" in unescaped(a.get("/together"))


def test_a_brand_new_visitor_joins(app):
    a = started(app)
    token = invite_token(a)
    new = app.test_client()
    assert new.get(f"/together/join/{token}").status_code == 200
    assert new.post(f"/together/join/{token}").status_code == 303
    assert "Your partner" in unescaped(a.get("/together"))


def test_refusals_change_nothing(app):
    clock = app.extensions["test_clock"]
    a, b, c = started(app), started(app), started(app)
    token = invite_token(a)
    assert a.get(f"/together/join/{token}").status_code == 409  # own invite
    assert a.post(f"/together/join/{token}").status_code == 409
    assert b.get("/together/join/NOTAREALTOKEN").status_code == 404
    assert b.get("/together/join/" + "2" * 27).status_code == 404
    long_name = b.post(f"/together/join/{token}", data={"name": "x" * 41})
    assert long_name.status_code == 422
    assert b.post(f"/together/join/{token}").status_code == 303
    # Joining while linked, and inviting while linked, are refused.
    d = started(app)
    other = invite_token(d)
    assert b.get(f"/together/join/{other}").status_code == 409
    assert a.post("/together/invite").status_code == 409
    # An expired invite.
    clock.now += timedelta(days=7, seconds=1)
    assert c.get(f"/together/join/{other}").status_code == 410
    with app.app_context():
        assert len(db.session.scalars(select(PartnerLink)).all()) == 2


def test_shared_calendar_from_the_day_of_joining(app):
    library = app.extensions["library"]
    since, anchor = date(2026, 12, 10), date(2026, 11, 1)
    link = PartnerLink(user_id="b", partner_id="a", partner_name="A", since=since, anchor=anchor)
    joiner_first = date(2026, 12, 5)
    # Before joining: the joiner's own calendar; from then on: the inviter's.
    assert shared_day_number(joiner_first, link, since - timedelta(days=1)) == 5
    for offset in range(0, 30):
        day = since + timedelta(days=offset)
        assert library.for_day(shared_day_number(joiner_first, link, day)) == library.for_day(
            shared_day_number(anchor, link, day)
        )
    assert together_day(link, since) == 1 and together_day(link, since + timedelta(1)) == 2
    assert together_day(None, since) is None and shared_day_number(anchor, None, anchor) == 1
    # The joiner may be a zone behind a brand-new inviter: never a day 0.
    late = PartnerLink(user_id="b", partner_id="a", partner_name="A", since=since, anchor=since)
    assert shared_day_number(joiner_first, late, since - timedelta(days=0)) == 1


def test_partner_state_and_mutual_reveal(app):
    a, b = couple(app)
    state = unescaped(b.get(f"/together/day/{TODAY}"))
    assert "Sam hasn't yet" in state
    header = '<a href="#partner-state">Sam hasn\'t practised yet</a>'
    assert unescaped(b.get("/")).count(header) == 1  # the card's header names it too
    a.post(f"/day/{TODAY}/done")
    assert "Sam did today's practice" in unescaped(b.get(f"/together/day/{TODAY}"))
    today = unescaped(b.get("/"))
    assert '<a href="#partner-state">Sam did today\'s practice ✓</a>' in today
    assert '<section id="partner-state"' in today
    tomorrow = b.get(f"/day/{date.fromisoformat(TODAY) + timedelta(days=1)}")
    assert tomorrow.status_code == 200 and "partner-state" not in unescaped(tomorrow)

    a.post(f"/day/{TODAY}/reflection", data={"text": "A's private words"})
    assert a.post(f"/together/day/{TODAY}/share", data={"shared": "1"}).status_code == 303
    hidden = unescaped(b.get(f"/together/day/{TODAY}"))
    assert "A's private words" not in hidden and "Save yours for this day" in hidden
    b.post(f"/day/{TODAY}/reflection", data={"text": "B writes"})
    assert "A's private words" in unescaped(b.get(f"/together/day/{TODAY}"))
    # B did not share: A sees nothing of B's words, even having written.
    assert "B writes" not in unescaped(a.get(f"/together/day/{TODAY}"))
    # Unsharing hides it at once.
    a.post(f"/together/day/{TODAY}/share", data={"shared": "0"})
    assert "A's private words" not in unescaped(b.get(f"/together/day/{TODAY}"))
    # No reflection to share: 404, nothing stored.
    assert b.post("/together/day/2026-11-25/share", data={"shared": "1"}).status_code == 404


def test_the_share_switch_comes_with_the_saved_reflection(app):
    """htmx swaps the reflection part: the first save brings the switch, no reload needed,
    and the switch itself answers with its own part."""
    a, b = couple(app)
    htmx = {"HX-Request": "true"}
    assert "Share with" not in unescaped(a.get("/"))
    saved = unescaped(a.post(f"/day/{TODAY}/reflection", data={"text": "Mine"}, headers=htmx))
    assert 'aria-pressed="false">Share with Alex</button>' in saved
    switch = a.post(f"/together/day/{TODAY}/share", data={"shared": "1"}, headers=htmx)
    html = unescaped(switch)
    assert html.lstrip().startswith('<form id="share-switch"') and 'aria-pressed="true"' in html
    cleared = unescaped(a.post(f"/day/{TODAY}/reflection", data={"text": ""}, headers=htmx))
    assert "Share with" not in cleared


def test_thank_yous(app):
    a, b = couple(app)
    key = str(uuid.uuid4())
    for _ in range(3):  # an outbox replay counts once
        response = b.post("/together/thanks", data={"preset": "Thanks a lot.", "key": key})
        assert response.status_code == 303
    note = "Alex sent you a thank-you:</strong> Thanks a lot."
    assert note in unescaped(a.get(f"/together/day/{TODAY}"))
    assert unescaped(a.get("/")).count(note) == 1
    assert b.post("/together/thanks", data={"text": "x" * 141}).status_code == 422
    assert b.post("/together/thanks", data={"text": " "}).status_code == 422
    assert b.post("/together/thanks", data={"text": "Two"}).status_code == 303
    assert b.post("/together/thanks", data={"text": "Three"}).status_code == 303
    fourth = b.post("/together/thanks", data={"text": "Four"})
    assert fourth.status_code == 422  # a refusal the outbox drops, not a 429 it would retry
    assert "3 thank-yous today" in fourth.get_data(as_text=True)
    with app.app_context():
        notes = db.session.scalars(select(ThankYou).order_by(ThankYou.id)).all()
        assert [n.text for n in notes] == ["Thanks a lot.", "Two", "Three"]
        first = notes[0].id
    # Only the receiver can close a note.
    assert b.post(f"/together/thanks/{first}/seen").status_code == 404
    assert a.post(f"/together/thanks/{first}/seen").status_code == 303
    page = unescaped(a.get(f"/together/day/{TODAY}"))
    assert "Thanks a lot." not in page and "Two" in page


def test_the_cards_thank_you_answers_htmx_with_its_part(app):
    """On Today the form swaps itself: a sent note, or the refusal with the form unfolded."""
    a, b = couple(app)
    today = unescaped(b.get("/"))
    assert 'data-outbox="thanks"' in today and 'id="offline-thanks"' in today
    htmx = {"HX-Request": "true"}
    sent = b.post("/together/thanks", data={"text": "Hi"}, headers=htmx)
    html = unescaped(sent)
    assert sent.status_code == 200 and "Thank-you sent. You can send 2 more today." in html
    assert html.lstrip().startswith('<div id="thanks"') and "<main" not in html
    refused = b.post("/together/thanks", data={"text": " ", "preset": ""}, headers=htmx)
    html = unescaped(refused)
    assert refused.status_code == 422 and "Pick one of the lines" in html
    assert '<details class="practice" open>' in html and "<main" not in html
    plain = b.post("/together/thanks", data={"text": " ", "preset": ""})
    assert plain.status_code == 422 and "<main" in unescaped(plain)  # no script: the page
    # A refusal keeps what was written and picked.
    long = "My own words " * 11
    kept = unescaped(b.post("/together/thanks", data={"text": long}, headers=htmx))
    assert f'value="{long}"' in kept
    picked = thanks.PRESETS[2]
    kept = unescaped(b.post("/together/thanks", data={"preset": picked, "text": long}))
    assert (
        f'value="{picked}" checked' in kept and f'value="{thanks.PRESETS[0]}" checked' not in kept
    )
    b.post("/together/thanks", data={"text": "Two"})
    last = unescaped(b.post("/together/thanks", data={"text": "Three"}, headers=htmx))
    assert "Thank-you sent." in last and "more today" not in last
    assert "You have sent today's 3 thank-yous. More tomorrow." in unescaped(b.get("/"))
    with app.app_context():
        assert [n.text for n in db.session.scalars(select(ThankYou))] == ["Hi", "Two", "Three"]


def test_unlink_hides_everything_and_keeps_history(app):
    a, b = couple(app)
    a.post(f"/day/{TODAY}/done")
    b.post(f"/day/{TODAY}/done")
    with app.app_context():
        a_user = db.session.get(User, uid(app, a))
        assert access.days_both_practised(a_user) == [date(2026, 11, 26)]
    b.post("/together/thanks", data={"text": "Hi"})
    assert "Unlink from Alex?" in unescaped(a.get("/together/unlink"))
    assert a.post("/together/unlink").status_code == 303
    assert b.get(f"/together/day/{TODAY}").status_code == 404
    assert a.get(f"/together/day/{TODAY}").status_code == 404
    assert b.post("/together/thanks", data={"text": "Hi"}).status_code == 404
    assert "Hi" not in unescaped(a.get("/"))
    assert "Invite your partner" in unescaped(b.get("/together"))
    assert a.post("/together/unlink").status_code == 404
    with app.app_context():
        a_user = db.session.get(User, uid(app, a))
        assert access.days_both_practised(a_user) == []
        assert a_user.completions  # history kept


def test_notification_switches_and_export(app):
    a, b = couple(app)
    a.post("/together/settings", data={"thanks": "1"})
    b.post("/together/thanks", data={"text": "Hello"})
    with app.app_context():
        user = db.session.get(User, uid(app, a))
        assert user.thanks_notifications and not user.partner_did_it_notifications
        exported = export_together(user)
    assert exported["link"]["partner_name"] == "Alex"
    assert exported["thank_yous"][0]["direction"] == "received"
    assert exported["thank_yous"][0]["text"] == "Hello"
    assert uid(app, b) not in str(exported)  # never the partner's id


def test_joins_are_rate_limited(tmp_path):
    app = make_app(tmp_path, RATELIMIT_ENABLED=True)
    client = started(app)
    statuses = [client.get("/together/join/" + "2" * 27).status_code for _ in range(12)]
    assert statuses[:10] == [404] * 10 and statuses[-1] == 429


def test_a_new_visitor_with_a_bad_name_is_not_made(app):
    a = started(app)
    token = invite_token(a)
    new = app.test_client()
    with app.app_context():
        before = len(db.session.scalars(select(User)).all())
    assert new.post(f"/together/join/{token}", data={"name": "\x07" * 3}).status_code == 422
    with app.app_context():
        assert len(db.session.scalars(select(User)).all()) == before


def test_delete_everything_unlinks_and_leaves_the_partner_whole(app):
    a, b = couple(app)
    b.post(f"/day/{TODAY}/done")
    b.post("/together/thanks", data={"text": "hi"})
    assert a.post("/settings/delete").status_code == 303
    with app.app_context():
        assert db.session.scalars(select(PartnerLink)).all() == []
        assert db.session.scalars(select(ThankYou)).all() == []
        b_user = db.session.get(User, uid(app, b))
        assert b_user.completions
    assert "Invite your partner" in unescaped(b.get("/together"))


def test_progress_partial_counts_days_both_practised(app):
    a, b = couple(app)
    for client in (a, b):
        client.post(f"/day/{TODAY}/done")
    b.post("/day/2026-11-27/done")  # only B, and a day ahead
    with app.test_request_context():
        g.user = db.session.get(User, uid(app, a))
        html = render_template("together/_progress.html")
    assert "You and Alex both practised on 1 day since you linked." in html
