"""Property-based hostile input: every endpoint, driven with generated junk, never answers
5xx, and a rejected request never changes the database.

Over 1,000 generated requests per run (see EXAMPLES), against the real app and SQLite.
"""

from __future__ import annotations

import hashlib
import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from models import USER_TABLES, User, db
from tests.conftest import make_app

EXAMPLES = 400  # per test; three tests below: 1,200 requests per run
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
FIELDS = [
    "text",
    "key",
    "time_zone",
    "detected",
    "csrf_token",
    "endpoint",
    "keys",
    "time",
    "days",
    "user_id",
    "day",
]

# Text that breaks naive code: control characters, RTL marks, emoji, huge numbers, NULs.
nasty = st.one_of(
    st.text(st.characters(exclude_categories=["Cs"]), max_size=300),
    st.sampled_from(
        [
            "",
            " ",
            "\x00",
            "../../etc/passwd",
            "2026-02-30",
            "9999-12-31",
            "0000-00-00",
            "-1",
            "1e309",
            "NaN",
            "\u202e2026-11-26",
            "Europe/../UTC",
            "x" * 2001,
            "😀" * 1001,
            "<script>alert(1)</script>",
            "null",
            "[]",
            "{}",
            "%00",
            "\r\n\r\n",
            "UTC\x00",
            "Etc/GMT+14",
            "ﬀ",
        ]
    ),
)
day_text = st.one_of(
    st.dates().map(lambda d: d.isoformat()),
    st.sampled_from(["2026-11-26", "2026-11-27", "2027-02-24", "2027-02-25", "2026-11-25"]),
    nasty,
)


def route_paths(app) -> list[str]:
    return sorted({rule.rule for rule in app.url_map.iter_rules()})


def fill(rule: str, draw) -> str:
    def one(match):
        name = match.group(1).split(":")[-1]
        value = draw(day_text if "day" in name else nasty)
        return re.sub(r"[/?#]", "_", value)[:80] or "x"

    return re.sub(r"<([^>]+)>", one, rule)


def fingerprint(app) -> str:
    """A hash of every row of every user table: equal fingerprints, unchanged database."""
    digest = hashlib.sha256()
    with app.app_context():
        for model in (User, *USER_TABLES):
            for row in db.session.scalars(select(model)):
                values = [str(getattr(row, c.key)) for c in model.__table__.columns]
                digest.update("|".join(values).encode())
        db.session.remove()
    return digest.hexdigest()


@pytest.fixture(scope="module")
def hostile_app(tmp_path_factory):
    app = make_app(tmp_path_factory.mktemp("hostile"))
    client = app.test_client()
    client.get("/")  # a returning user with some data
    client.post("/day/2026-11-26/done")
    client.post("/day/2026-11-26/reflection", data={"text": "kept safe"})
    app.extensions["hostile_client"] = client
    return app


def check(app, client, method, url, **kwargs):
    before = fingerprint(app)
    response = client.open(url, method=method, **kwargs)
    assert response.status_code < 500, (method, url, response.status_code)
    if response.status_code >= 400:
        assert fingerprint(app) == before, (method, url, response.status_code)
    return response


hyp = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@hyp
@given(data=st.data())
def test_form_posts_never_break_the_server(hostile_app, data):
    client = hostile_app.extensions["hostile_client"]
    rule = data.draw(st.sampled_from(route_paths(hostile_app)))
    url = fill(rule, data.draw)
    form = data.draw(st.dictionaries(st.sampled_from(FIELDS), nasty, max_size=5))
    method = data.draw(st.sampled_from(METHODS))
    check(hostile_app, client, method, url, data=form if method not in ("GET", "HEAD") else None)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | nasty,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(nasty, children, max_size=4),
    max_leaves=30,
)


@hyp
@given(data=st.data())
def test_json_and_raw_bodies_never_break_the_server(hostile_app, data):
    client = hostile_app.extensions["hostile_client"]
    rule = data.draw(st.sampled_from(route_paths(hostile_app)))
    url = fill(rule, data.draw)
    method = data.draw(st.sampled_from(["POST", "PUT", "DELETE", "PATCH"]))
    kind = data.draw(st.sampled_from(["json", "raw", "deep"]))
    if kind == "json":
        body = json.dumps(data.draw(json_values)).encode()
    elif kind == "deep":
        depth = data.draw(st.integers(10, 5000))
        body = ("[" * depth + "]" * depth).encode()
    else:
        body = data.draw(st.binary(max_size=500))
    content_type = data.draw(
        st.sampled_from(
            [
                "application/json",
                "application/x-www-form-urlencoded",
                "multipart/form-data",
                "text/plain",
                "application/json; charset=utf-16",
                "",
            ]
        )
    )
    headers = {"HX-Request": data.draw(st.sampled_from(["true", "false", "😀"]))}
    check(
        hostile_app,
        client,
        method,
        url,
        data=body,
        content_type=content_type or None,
        headers=headers,
    )


@hyp
@given(day=day_text, zone=nasty, text=nasty, key=nasty)
def test_the_practice_writes_with_hostile_values(hostile_app, day, zone, text, key):
    client = hostile_app.extensions["hostile_client"]
    safe_day = re.sub(r"[/?#]", "_", day) or "x"
    check(hostile_app, client, "GET", f"/day/{safe_day}")
    check(
        hostile_app, client, "POST", f"/day/{safe_day}/reflection", data={"text": text, "key": key}
    )
    check(hostile_app, client, "POST", f"/day/{safe_day}/done", data={"key": key})
    check(hostile_app, client, "POST", "/settings/timezone", data={"time_zone": zone})
