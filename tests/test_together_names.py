"""Together's names and wording: a partner who gave no name is "your partner" mid-sentence
and "Your partner" at a sentence start, on every page, in the export and in the errors;
each person can change the name their partner sees them as; unlinking says so once; a
replaced invite says it may have been replaced."""

from __future__ import annotations

import re

from sqlalchemy import select

import codes
from models import Code, PartnerLink, User, db
from tests.conftest import make_app
from tests.pushservice import PushService
from tests.reminders_support import dispatch, payloads, push_app, subscribe, utc
from tests.test_together import TODAY, couple, invite_token, started, uid, unescaped
from together.export import export_together
from together.notices import owe_did_it

# "Your partner" with a capital Y after a word or a comma: the bug this file is about.
CAPITAL_MID_SENTENCE = re.compile(r"[a-z,] Your partner")


def assert_reads_well(page: str, where: str = "") -> None:
    found = CAPITAL_MID_SENTENCE.search(page)
    assert found is None, (where, page[max(0, found.start() - 80) : found.end() + 40])


def test_no_name_reads_your_partner_mid_sentence_and_your_partner_at_a_start(app):
    a = started(app)
    token = invite_token(a, "")
    b = started(app)
    join = unescaped(b.get(f"/together/join/{token}"))
    assert "<h1>Your partner invited you to practise together</h1>" in join
    assert "<p>Your partner will see whether you did each day's practice" in join
    assert "The name your partner will see you as (optional)" in join
    assert_reads_well(join)
    assert b.post(f"/together/join/{token}", data={"name": "  "}).status_code == 303
    with app.app_context():
        assert [link.partner_name for link in db.session.scalars(select(PartnerLink))] == [
            None,
            None,
        ]

    b.post(f"/day/{TODAY}/reflection", data={"text": "B wrote"})
    a.post("/together/thanks", data={"text": "Thanks, B"})
    pages = {
        "together": unescaped(b.get("/together")),
        "settings": unescaped(b.get("/settings")),
        "unlink": unescaped(b.get("/together/unlink")),
        "today": unescaped(b.get("/")),
        "state": unescaped(b.get(f"/together/day/{TODAY}")),
        "progress": unescaped(b.get("/progress")),
        "thanks": unescaped(b.get("/together/thanks")),
    }
    for name, page in pages.items():
        assert_reads_well(page, name)
    together = pages["together"]
    assert "You have practised with <strong>your partner</strong> since 26 November 2026" in (
        together
    )
    assert '<p class="hint">Your partner sees whether you did each day\'s practice' in together
    assert "The name your partner sees you as (optional)" in together
    assert "Tell me when your partner sends a thank-you" in together
    assert "Tell me when your partner does the practice" in together
    assert "<h1>Unlink from your partner?</h1>" in pages["unlink"]
    assert "Share with your partner</button>" in pages["today"]
    assert "Your partner hasn't yet" in pages["state"]
    assert "Your partner sent you a thank-you:" in pages["state"]
    assert "Once you and your partner both practise on a day" in pages["progress"]
    assert "<h1>Thank your partner</h1>" in pages["thanks"]

    # Joining someone else while linked names the partner mid-sentence too.
    other = invite_token(started(app), "Kim")
    refused = unescaped(b.get(f"/together/join/{other}"))
    assert "You already practise with your partner. To join someone else" in refused
    with app.app_context():
        assert export_together(db.session.get(User, uid(app, b)))["link"]["partner_name"] is None


def test_a_chosen_name_is_shown_as_typed_in_every_place(app):
    a, b = couple(app, a_name="sam", b_name="Alex")
    b.post(f"/day/{TODAY}/reflection", data={"text": "B wrote"})
    together = unescaped(b.get("/together"))
    assert "You have practised with <strong>sam</strong>" in together
    assert '<p class="hint">sam sees whether' in together  # never "Sam": it is their name
    assert "Tell me when sam does the practice" in together
    assert "Share with sam</button>" in unescaped(b.get("/"))


def test_changing_the_name_your_partner_sees_you_as(app):
    a, b = couple(app)
    page = unescaped(a.get("/together"))
    assert "The name Alex sees you as (optional)" in page
    assert 'id="shown-name" name="name" maxlength="40" autocomplete="nickname" value="Sam"' in page

    response = a.post("/together/name", data={"name": "  Sammy   Lee "})
    assert response.status_code == 303 and response.location.endswith("/together")
    assert "Name saved." in unescaped(a.get("/together"))
    assert "You have practised with <strong>Sammy Lee</strong>" in unescaped(b.get("/together"))
    assert "Sammy Lee hasn't yet" in unescaped(b.get(f"/together/day/{TODAY}"))
    # Only the partner's row changed: A still calls B "Alex".
    assert "You have practised with <strong>Alex</strong>" in unescaped(a.get("/together"))

    # Empty: no name. B reads "your partner" again.
    assert a.post("/together/name", data={"name": ""}).status_code == 303
    assert "You have practised with <strong>your partner</strong>" in unescaped(b.get("/together"))
    with app.app_context():
        names = {
            link.user_id: link.partner_name for link in db.session.scalars(select(PartnerLink))
        }
        assert names == {uid(app, b): None, uid(app, a): "Alex"}


def test_a_bad_new_name_is_refused_and_changes_nothing(app):
    a, b = couple(app)
    for bad in ("x" * 41, "Sam\x07", "zero\u200bwidth"):
        response = a.post("/together/name", data={"name": bad})
        page = unescaped(response)
        assert response.status_code == 422, bad
        assert "Names can be up to 40 letters" in page and 'role="alert"' in page
    assert "You have practised with <strong>Sam</strong>" in unescaped(b.get("/together"))
    # Nobody to be named for: 404, and nothing is written anywhere.
    c = started(app)
    assert c.post("/together/name", data={"name": "Intruder"}).status_code == 404
    with app.app_context():
        names = sorted(db.session.scalars(select(PartnerLink.partner_name)))
        assert names == ["Alex", "Sam"]


def test_renaming_is_rate_limited_like_the_other_writes(tmp_path):
    app = make_app(tmp_path, RATELIMIT_ENABLED=True)
    a, _ = couple(app)
    statuses = [a.post("/together/name", data={"name": "Sam"}).status_code for _ in range(120)]
    # A's invite spent one of the 120 writes a minute the writes share.
    assert statuses[:119] == [303] * 119 and statuses[119] == 429


def test_unlinking_says_so_once_under_one_heading(app):
    a, b = couple(app)
    assert a.post("/together/unlink").status_code == 303
    page = unescaped(a.get("/together"))
    assert '<p class="notice" role="status">You are no longer linked with Alex.</p>' in page
    assert len(re.findall(r"<h[1-6][^>]*>Together</h[1-6]>", page)) == 1
    assert '<h1 id="together-title">Together</h1>' in page
    again = unescaped(a.get("/together"))
    assert "no longer linked" not in again and "Invite your partner" in again
    # B, who did not unlink, is told nothing by this page (the link simply ended).
    assert "no longer linked" not in unescaped(b.get("/together"))
    # Settings keeps its section heading one level down.
    assert '<h2 id="together-title">Together</h2>' in unescaped(a.get("/settings"))


def test_a_replaced_invite_says_it_may_have_been_replaced(app):
    a = started(app)
    first = invite_token(a)
    invite_token(a)
    page = unescaped(started(app).get(f"/together/join/{first}"))
    assert "It may have been replaced by a newer one" in page
    assert "Ask your partner to send you their latest invite link." in page


def test_the_thank_you_page_has_one_heading_and_one_panel(app):
    a, b = couple(app)
    page = unescaped(b.get("/together/thanks"))
    main = page[page.index("<main") : page.index("</main>")]
    assert main.count("Send a thank-you") == 1  # the fold's own summary
    assert "<h1>Thank Sam</h1>" in main and "<h2" not in main
    assert 'class="panel"' not in main and main.count('class="practice"') == 1


def test_an_invite_without_a_name_stores_none(app):
    a = started(app)
    invite_token(a, "   ")
    with app.app_context():
        assert db.session.scalar(select(Code.label).where(Code.kind == codes.INVITE)) is None


def test_pushes_name_an_unnamed_partner_at_the_start(tmp_path):
    app = push_app(tmp_path)
    with PushService() as service:
        a, b = couple(app, a_name="", b_name="")
        subscriber = service.new_subscriber()
        assert subscribe(a, subscriber).status_code == 201
        assert b.post("/together/thanks", data={"text": "hi"}).status_code == 303
        noon = utc(2026, 11, 26, 12, 1)
        with app.app_context():
            owe_did_it(db.session.get(User, uid(app, b)), noon)
            db.session.commit()
        dispatch(app, noon)
        bodies = sorted(p["body"] for p in payloads(subscriber) if p["title"] == "Closer")
    assert bodies == ["Your partner did today's practice", "Your partner sent you a thank-you"]
