"""Together's privacy as tests: a third person, and a partner after unlinking, get 404 for
everything of the other person on every route the Together blueprint has (walked from
app.url_map, whatever ids they guess), and generated hostile input over those routes never
answers 5xx or changes anything when refused."""

from __future__ import annotations

import hashlib
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from models import USER_TABLES, PartnerLink, PartnerNotice, ThankYou, User, db
from tests.conftest import make_app
from tests.test_hostile_input import hyp, nasty
from tests.test_together import TODAY, couple

A_SECRETS = ("A keeps this shared", "A keeps this private", "From B to A")
RENAME = ("POST", "/together/name")


def together_rules(app):
    return [
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("together.")
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
    ]


def everything(app) -> str:
    """A hash of every row the app stores, Together's tables included."""
    digest = hashlib.sha256()
    with app.app_context():
        for model in (User, *USER_TABLES, PartnerLink, ThankYou, PartnerNotice):
            for row in db.session.scalars(select(model)):
                values = [str(getattr(row, c.key)) for c in model.__table__.columns]
                digest.update("|".join(values).encode())
        db.session.remove()
    return digest.hexdigest()


def seeded(app):
    """A and B linked, with everything A has: done, a shared reflection, notes both ways."""
    a, b = couple(app)
    a.post(f"/day/{TODAY}/done")
    a.post(f"/day/{TODAY}/reflection", data={"text": "A keeps this shared"})
    a.post(f"/together/day/{TODAY}/share", data={"shared": "1"})
    a.post("/day/2026-11-25/reflection", data={"text": "A keeps this private"})
    b.post("/together/thanks", data={"text": "From B to A"})
    a.post("/together/thanks", data={"text": "From A to B"})
    with app.app_context():
        note_ids = [str(n) for n in db.session.scalars(select(ThankYou.id))]
    return a, b, note_ids


def fillings(rule: str, note_ids: list[str]) -> list[str]:
    """The rule's URL with every guess worth making: A's days, every note id there is."""
    if "<note_id>" in rule:
        return [rule.replace("<note_id>", n) for n in note_ids]
    if "<day_text>" in rule:
        return [rule.replace("<day_text>", d) for d in (TODAY, "2026-11-25")]
    return [re.sub(r"<[^>]+>", "2" * 27, rule)]


def assert_sees_nothing_of_a(app, client, note_ids, extra_secrets=()):
    for rule, method in together_rules(app):
        for url in fillings(rule, note_ids):
            before = everything(app)
            form = {"text": "guess", "shared": "1", "name": "guess"}
            response = client.open(url, method=method, data=form)
            body = response.get_data(as_text=True)
            for secret in (*A_SECRETS, *extra_secrets):
                assert secret not in body, (method, url)
            # Renaming yourself writes the partner's row: nobody to rename for, nothing written.
            if "<day_text>" in rule or "<note_id>" in rule or (method, rule) == RENAME:
                assert response.status_code == 404, (method, url, response.status_code)
                assert everything(app) == before, (method, url)


def test_a_third_person_gets_404_for_everything_of_a_couple(app):
    a, b, note_ids = seeded(app)
    c = app.test_client()
    c.get("/")
    c.post(f"/day/{TODAY}/reflection", data={"text": "C wrote too"})  # unlock nothing
    assert_sees_nothing_of_a(app, c, note_ids, extra_secrets=("From A to B",))
    assert "From B to A" not in c.get("/").get_data(as_text=True)
    # The partner still sees what the rules allow: the couple was untouched by C.
    b.post(f"/day/{TODAY}/reflection", data={"text": "B wrote"})
    assert "A keeps this shared" in b.get(f"/together/day/{TODAY}").get_data(as_text=True)


def test_after_unlinking_the_partner_gets_404_for_everything(app):
    a, b, note_ids = seeded(app)
    b.post(f"/day/{TODAY}/reflection", data={"text": "B wrote"})
    assert "A keeps this shared" in b.get(f"/together/day/{TODAY}").get_data(as_text=True)
    assert a.post("/together/unlink").status_code == 303
    # B's own received note ("From A to B") is A's words too: hidden once unlinked.
    assert_sees_nothing_of_a(app, b, note_ids, extra_secrets=("From A to B",))
    assert "From A to B" not in b.get("/").get_data(as_text=True)


def test_every_together_route_is_walked(app):
    rules = {rule for rule, _ in together_rules(app)}
    assert {"/together/day/<day_text>", "/together/thanks/<note_id>/seen", RENAME[1]} <= rules
    assert len(together_rules(app)) >= 13


@pytest.fixture(scope="module")
def hostile_couple(tmp_path_factory):
    app = make_app(tmp_path_factory.mktemp("hostile-together"))
    a, b, _ = seeded(app)
    app.extensions["couple"] = (a, b)
    return app


FIELDS = ["name", "text", "preset", "key", "shared", "thanks", "did_it", "csrf_token"]


@hyp
@given(data=st.data())
def test_together_routes_with_hostile_input(hostile_couple, data):
    app = hostile_couple
    client = data.draw(st.sampled_from(app.extensions["couple"]))
    rule, method = data.draw(st.sampled_from(together_rules(app)))

    def one(match):
        value = data.draw(st.one_of(nasty, st.just(TODAY), st.integers(-5, 10**12).map(str)))
        return re.sub(r"[/?#]", "_", value)[:80] or "x"

    url = re.sub(r"<[^>]+>", one, rule)
    form = data.draw(st.dictionaries(st.sampled_from(FIELDS), nasty, max_size=4))
    if rule in ("/together/unlink", "/together/invite"):
        return  # these succeed by design and would end the couple the other routes need
    before = everything(app)
    response = client.open(url, method=method, data=form if method == "POST" else None)
    assert response.status_code < 500, (method, url, response.status_code)
    if response.status_code >= 400:
        assert everything(app) == before, (method, url, response.status_code)
