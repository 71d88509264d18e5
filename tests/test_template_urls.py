"""Templates build every URL with url_for, and every URL they build is a route of the app.

Two checks. The scan reads the template sources: no link, form, script or data- attribute may
hold a literal path (`href="/settings"`, `hx-post="/day/{{ d }}/done"`), only what a `{{ }}`
expression renders, so renaming or moving a route can never leave a link behind. The render
check opens every page and partial in the states that draw each of their forms, and resolves
every URL in the HTML against the app's url_map with the method the browser (or htmx) would
use: a url_for with a wrong endpoint or argument shows up as a path no route answers.
"""

from __future__ import annotations

import io
import re
from datetime import date, timedelta
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from models import PushSubscription, User, db
from tests.conftest import HTMX

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"

# The one external page the templates name literally: the helpline finder on About. The
# research links come from the content files, rendered through {{ ref.url }}.
ALLOWED_EXTERNAL = {"https://findahelpline.com"}

URL_ATTRIBUTES = {"href", "action", "src", "formaction"}
HX_METHODS = {
    "hx-get": "GET",
    "hx-post": "POST",
    "hx-put": "PUT",
    "hx-patch": "PATCH",
    "hx-delete": "DELETE",
}

# name="value", name='value' or name=value, for the attributes above, hx-* and data-*.
NAMES = "|".join(sorted(URL_ATTRIBUTES | HX_METHODS.keys())) + r"|data-[\w-]+"
ATTRIBUTE = re.compile(
    rf"""(?<![\w-])(?P<name>{NAMES})\s*=\s*"""
    r"""(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<bare>[^\s>"']+))""",
    re.IGNORECASE,
)


# The endpoint each url_for call in a template names.
URL_FOR = re.compile(r"""url_for\(\s*['"]([\w.]+)['"]""")


def literal_urls(source: str) -> list[str]:
    """Every attribute value of `source` that starts with a path or an http(s) URL written
    out literally, rather than rendered by a `{{ }}` expression."""
    found = []
    for match in ATTRIBUTE.finditer(source):
        value = next(v for v in match.group("dq", "sq", "bare") if v is not None)
        # data- attributes may hold several URLs separated by spaces (a script list).
        for word in value.split() or [""]:
            literal = word.startswith("/") or word.lower().startswith("http")
            if literal and word not in ALLOWED_EXTERNAL:
                found.append(f"{match.group('name')}={word}")
    return found


def test_the_scan_finds_literal_paths_and_passes_rendered_ones():
    """The scanner itself can fail: literal paths in every attribute form are caught."""
    caught = (
        '<a href="/settings">',
        "<form action='/day/{{ d }}/done'>",
        '<form hx-post="/push/time">',
        "<button hx-delete=/push/subscriptions>",
        '<body data-urls="/csrf-token">',
        '<script src="http://cdn.example/x.js">',
        '<a href="https://example.com">',
    )
    for snippet in caught:
        assert literal_urls(snippet), snippet
    passed = (
        "<a href=\"{{ url_for('settings.index') }}\">",
        '<a href="#main">',
        '<a href="https://findahelpline.com" rel="noopener">',
        '<a href="{{ ref.url }}">',
        "<script data-after-load=\"{{ asset_url('js/a.js') }} {{ asset_url('js/b.js') }}\">",
        '<article data-day="{{ view.day.isoformat() }}">',
        '<section data-reminders data-on="true">',
    )
    for snippet in passed:
        assert not literal_urls(snippet), snippet


@pytest.mark.parametrize(
    "template",
    sorted(p.relative_to(TEMPLATES).as_posix() for p in TEMPLATES.rglob("*.html")),
)
def test_no_template_writes_a_literal_path(template):
    assert literal_urls((TEMPLATES / template).read_text(encoding="utf-8")) == []


# -- what the pages render ---------------------------------------------------------------


class LinkCollector(HTMLParser):
    """(attribute, url, method) for every URL-bearing attribute of a page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        for name, value in attrs:
            if value is None:
                continue
            if name in URL_ATTRIBUTES:
                form_method = (attributes.get("method") or "get").upper()
                method = form_method if name == "action" else "GET"
                self.links.append((name, value, method))
            elif name in HX_METHODS:
                self.links.append((name, value, HX_METHODS[name]))
            elif name.startswith("data-"):
                for word in value.split():
                    if word.startswith("/"):
                        self.links.append((name, word, "GET"))


def links_of(html: str) -> list[tuple[str, str, str]]:
    collector = LinkCollector()
    collector.feed(html)
    return collector.links


def reference_urls(app) -> set[str]:
    """The research links of the library (content/, rendered through {{ ref.url }})."""
    library = app.extensions["library"]
    references = list(library.references)
    for strategy in library.strategies:
        references += strategy.citations
    return {ref.url for ref in references if ref.url}


def resolve(app, attribute: str, url: str, method: str) -> str | None:
    """The endpoint `url` reaches with `method`; None for a fragment, an allowed external
    page or a reference of the library. Fails the test for any other URL."""
    if url.startswith("#") or url in ALLOWED_EXTERNAL or url in reference_urls(app):
        return None
    parts = urlsplit(url)
    # A full URL of this app (the device link is shown whole, to be shared) is fine too.
    own = parts.netloc == "localhost" and parts.scheme == "http"
    assert own or not (parts.scheme or parts.netloc), f"{attribute}={url}: not a URL of this app"
    assert parts.path.startswith("/"), f"{attribute}={url}: a relative path"
    adapter = app.url_map.bind("localhost")
    try:
        endpoint, _ = adapter.match(parts.path, method=method)
    except HTTPException as error:
        pytest.fail(f"{attribute}={url} ({method}) reaches no route: {error}")
    # url_for turns an argument the route does not take into a query string: only the
    # static assets carry one (their version).
    assert not parts.query or endpoint == "static", f"{attribute}={url}: stray query string"
    return endpoint


def today_of(client) -> date:
    html = client.get("/").get_data(as_text=True)
    return date.fromisoformat(re.search(r'<article id="card"[^>]* data-day="([^"]+)"', html)[1])


def visit_everything(app, client):
    """(what, response) for every page and partial, in the states that draw each form."""
    today = today_of(client)
    tomorrow = today + timedelta(days=1)
    pages = {
        "/": 200,
        f"/day/{today}": 200,
        f"/day/{tomorrow}": 200,
        "/strategies": 200,
        "/strategies/empathy": 200,
        "/progress": 200,
        "/settings": 200,
        "/settings/delete": 200,
        "/about": 200,
        "/offline": 200,
        "/push/panel": 200,
        "/no-such-page": 404,
        f"/day/{today - timedelta(days=400)}": 404,
    }
    for path, status in pages.items():
        yield path, client.get(path), status
    # Done, reflected and their partials (the Undo form), then the panel with reminders on.
    yield "done", client.post(f"/day/{today}/done", headers=HTMX), 200
    yield (
        "reflection",
        client.post(f"/day/{today}/reflection", data={"text": "x"}, headers=HTMX),
        200,
    )
    yield "/ done", client.get("/"), 200
    yield "/progress done", client.get("/progress"), 200
    # Restore: the upload page, then the preview of another phone's export (its confirm form).
    yield "/settings/restore", client.get("/settings/restore"), 200
    other = app.test_client()
    other.get("/")
    other.post(f"/day/{today}/reflection", data={"text": "from the other phone"})
    export = other.get("/settings/export").data
    preview = client.post(
        "/settings/restore",
        data={"file": (io.BytesIO(export), "closer.json")},
        content_type="multipart/form-data",
    )
    yield "restore preview", preview, 200
    # Devices: the code form, a code, the other phone's confirm page, Settings with two devices.
    yield "/link", client.get("/link"), 200
    code_page = client.post("/devices/code")
    yield "device code", code_page, 200
    link = re.search(r"/link/[0-9A-Z-]+", code_page.get_data(as_text=True))[0]
    phone = app.test_client()
    phone.get("/")
    yield "link confirm", phone.get(link), 200
    phone.post(link)
    yield "/settings two devices", client.get("/settings"), 200
    # Together: the invite form, an invite, the partner's join page, then the linked pages.
    yield "/together", client.get("/together"), 200
    invite = client.post("/together/invite", data={"name": "Sam"})
    yield "invite", invite, 200
    join = re.search(r"/together/join/[0-9A-Z]+", invite.get_data(as_text=True))[0]
    partner = app.test_client()
    yield "join", partner.get(join), 200
    partner.post(join)
    partner.post("/together/thanks", data={"text": "hi"})
    for path in ("/together", "/together/unlink", "/together/thanks", f"/together/day/{today}"):
        yield f"{path} linked", client.get(path), 200
    share = client.post(f"/together/day/{today}/share", data={"shared": "1"}, headers=HTMX)
    yield "share", share, 200
    yield (
        "time zone",
        client.post("/settings/timezone", data={"time_zone": "UTC"}, headers=HTMX),
        200,
    )
    with app.app_context():
        user = db.session.scalar(select(User))
        db.session.add(
            PushSubscription(
                user_id=user.id, endpoint="https://push.example/1", p256dh="k", auth="a"
            )
        )
        db.session.commit()
    yield "/settings on", client.get("/settings"), 200
    yield "/ on", client.get("/"), 200
    yield "pause", client.post("/push/pause", data={"days": "3"}, headers=HTMX), 200
    with app.app_context():
        db.session.scalar(select(User)).reminder_every = 2  # after three ignored reminders
        db.session.commit()
    yield "/settings paused, every other day", client.get("/settings"), 200
    yield "/ paused", client.get("/"), 200
    yield "delete", client.post("/settings/delete", follow_redirects=True), 200


def test_every_url_a_page_renders_is_a_route_of_the_app(app, client):
    reached: set[str] = set()
    for what, response, status in visit_everything(app, client):
        assert response.status_code == status, what
        links = links_of(response.get_data(as_text=True))
        assert links, f"{what}: no URL at all"
        for attribute, url, method in links:
            endpoint = resolve(app, attribute, url, method)
            if endpoint:
                reached.add(endpoint)
    # Every endpoint a template names was drawn at least once above, so each url_for ran.
    named = set()
    for path in TEMPLATES.rglob("*.html"):
        named |= set(URL_FOR.findall(path.read_text(encoding="utf-8")))
    assert named, "the templates call url_for"
    assert named <= reached, f"never rendered: {sorted(named - reached)}"


def test_every_link_a_page_shows_opens(client):
    """The GET links lead to pages that answer, not only to a matching rule: a day link
    built with a wrong date format would match /day/<day_text> and still be a 404."""
    client.get("/")
    targets = set()
    for path in ("/", "/progress", "/settings", "/strategies", "/about", "/settings/delete"):
        for attribute, url, method in links_of(client.get(path).get_data(as_text=True)):
            parts = urlsplit(url)
            if attribute == "href" and method == "GET" and url.startswith("/"):
                targets.add(parts.path)
    assert len(targets) > 15  # the tabs, the library, the week ahead in the calendar, settings
    for path in sorted(targets):
        assert client.get(path).status_code == 200, path
