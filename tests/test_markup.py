"""Valid markup (issue 17): the W3C Nu Html Checker finds no error on any page a person reaches,
htmx's own `hx-*` attributes aside.

The real app (test client, CSRF on, as in production) renders every page in the states a
person sees it: today before and after Done, a reflection saved and one refused, tomorrow,
the library, progress before and after Done, settings, the delete confirmation and the page
after it, about, offline and a 404. The pages go to a temporary directory and the checker
(npm `vnu-jar`, pinned in package.json, on the machine's Java) checks them all in ONE run,
since the JVM takes seconds to start.

Two canaries ride in the same run, so the test shows it can fail: a page with a known error
(a name on a generic `<span>`, the calendar's old fault) must yield that error, and a page
whose only faults are htmx's attributes must yield errors that the filter, and only the
filter, removes.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from models import db
from tests.conftest import FIXED_NOW, csrf_token_from, make_app

CI = os.environ.get("CI") == "true"
ROOT = Path(__file__).resolve().parent.parent
VNU_JAR = ROOT / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar"

TODAY = FIXED_NOW.date()
TOMORROW = TODAY + timedelta(days=1)

# htmx's attributes are not HTML's, so the checker reports each one; nothing else is excused.
HTMX_ATTRIBUTE = re.compile(r"[Aa]ttribute “hx-[^”]*”")

# A page whose only fault is an `aria-label` on a generic element: the checker must report it.
BAD_CANARY = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Bad canary</title></head>
<body><main><span aria-label="Monday 7 December, practised">7</span></main></body></html>
"""
# A page whose only faults are htmx's attributes: reported by the checker, excused by the filter.
HTMX_CANARY = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>htmx canary</title></head>
<body><main><form method="post" action="/x" hx-post="/x" hx-target="#out" hx-swap="outerHTML">
<button type="submit" hx-disabled-elt="this">Go</button></form><p id="out">Out</p></main></body></html>
"""


@dataclass(frozen=True)
class Page:
    name: str  # also the file name the checker reports
    path: str  # what a person opened (or posted to)
    status: int
    html: str


def collect_pages(app) -> list[Page]:
    """Every page a person reaches, in the order a person meets them."""
    client = app.test_client()
    pages: list[Page] = []

    def keep(name: str, path: str, response) -> str:
        html = response.get_data(as_text=True)
        pages.append(Page(name, path, response.status_code, html))
        return html

    def get(name: str, path: str) -> str:
        return keep(name, path, client.get(path))

    today_html = get("today-before-done", "/")
    token = csrf_token_from(today_html)
    get("progress-before-done", "/progress")
    get("tomorrow", f"/day/{TOMORROW.isoformat()}")

    # Done and the reflection as a phone without JavaScript sends them (the page's forms).
    day = f"/day/{TODAY.isoformat()}"
    done = client.post(f"{day}/done", data={"csrf_token": token})
    assert done.status_code == 303, "Done with a valid CSRF token should redirect"
    get("today-after-done", "/")
    get("progress-after-done", "/progress")
    refused = client.post(f"{day}/reflection", data={"csrf_token": token, "text": "x" * 2001})
    keep("reflection-refused", f"{day}/reflection", refused)
    saved = client.post(f"{day}/reflection", data={"csrf_token": token, "text": "We talked."})
    assert saved.status_code == 303, "a reflection with a valid CSRF token should redirect"
    get("today-with-reflection", "/")
    get("progress-with-reflection", "/progress")

    get("strategies", "/strategies")
    for strategy in app.extensions["library"].strategies:
        get(f"strategy-{strategy.key}", f"/strategies/{strategy.key}")
    get("about", "/about")
    get("offline", "/offline")
    get("settings", "/settings")
    get("not-found", "/no-such-page")
    # The pages issue 14 added: restore (upload, preview) and another device (code, link).
    get("restore", "/settings/restore")
    other = app.test_client()
    other_token = csrf_token_from(other.get("/").get_data(as_text=True))
    other.post(f"{day}/reflection", data={"csrf_token": other_token, "text": "Another phone."})
    preview = client.post(
        "/settings/restore",
        data={
            "csrf_token": token,
            "file": (io.BytesIO(other.get("/settings/export").data), "closer.json"),
        },
        content_type="multipart/form-data",
    )
    keep("restore-preview", "/settings/restore", preview)
    get("link-form", "/link")
    code_page = keep(
        "device-code", "/devices/code", client.post("/devices/code", data={"csrf_token": token})
    )
    link = re.search(r"/link/[0-9A-Z-]+", code_page)[0]
    keep("link-confirm", link, other.get(link))
    # Together (issue 15): the invite, the partner's join page, then the linked pages.
    get("together", "/together")
    invite = keep(
        "invite",
        "/together/invite",
        client.post("/together/invite", data={"csrf_token": token, "name": "Sam"}),
    )
    join = re.search(r"/together/join/[0-9A-Z]+", invite)[0]
    partner = app.test_client()
    partner_token = csrf_token_from(partner.get("/").get_data(as_text=True))
    keep("join", join, partner.get(join))
    joined = partner.post(join, data={"csrf_token": partner_token, "name": "Alex"})
    assert joined.status_code == 303, "joining with a valid CSRF token should redirect"
    get("together-linked", "/together")
    get("today-linked", "/")
    get("progress-linked", "/progress")
    get("thanks", "/together/thanks")
    get("unlink-confirm", "/together/unlink")
    get("delete-confirm", "/settings/delete")
    deleted = client.post("/settings/delete", data={"csrf_token": token}, follow_redirects=True)
    keep("deleted", "/settings/delete", deleted)
    return pages


def vnu_command() -> list[str]:
    """The checker's command line, or a skip (a failure under CI=true) naming what is missing."""
    java = shutil.which("java")
    missing = []
    if java is None:
        missing.append("java (Debian: default-jre-headless; scripts/system-packages installs it)")
    if not VNU_JAR.exists():
        missing.append(f"{VNU_JAR.relative_to(ROOT)} (run `npm ci`; make test does)")
    if missing:
        message = "the Nu Html Checker needs " + " and ".join(missing)
        if CI:
            pytest.fail(f"{message}; under CI=true this test never skips")
        pytest.skip(message)
    return [java, "-jar", str(VNU_JAR), "--format", "json", "--errors-only"]


def run_checker(files: list[Path]) -> list[dict]:
    """One run of the checker over `files`; its error messages, each with the file's name."""
    result = subprocess.run(
        [*vnu_command(), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    # The checker writes its report to stderr; it exits 1 when it found errors.
    report = result.stderr.strip() or result.stdout.strip()
    assert result.returncode in (0, 1), f"the checker crashed ({result.returncode}):\n{report}"
    try:
        messages = json.loads(report)["messages"]
    except (ValueError, KeyError) as error:
        raise AssertionError(f"the checker's output is not its JSON report:\n{report}") from error
    errors = []
    for message in messages:
        assert message.get("type") != "non-document-error", f"checker could not read: {message}"
        if message.get("type") == "error":
            name = Path(message.get("url", "")).stem
            errors.append({**message, "page": name})
    return errors


def not_htmx(errors: list[dict]) -> list[dict]:
    """The errors that are not about htmx's own `hx-*` attributes."""
    return [e for e in errors if not HTMX_ATTRIBUTE.search(e.get("message", ""))]


def describe(errors: list[dict], pages: dict[str, Page]) -> str:
    """One line per page and message, with how often it occurs and its first place."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for error in errors:
        groups.setdefault((error["page"], error["message"]), []).append(error)
    lines = []
    for (name, message), group in groups.items():
        page = pages.get(name)
        where = f"{name} ({page.path})" if page else name
        first = group[0]
        extract = " ".join(first.get("extract", "").split())[:160]
        lines.append(
            f"{where}: {len(group)} x {message}\n"
            f"    first at line {first.get('lastLine', '?')}: {extract}"
        )
    return "\n".join(lines)


@dataclass
class CheckRun:
    pages: dict[str, Page]
    files: list[Path]
    errors: list[dict]  # every error of the run, canaries and htmx included

    def errors_on(self, name: str) -> list[dict]:
        return [e for e in self.errors if e["page"] == name]


@pytest.fixture(scope="module")
def check_run(tmp_path_factory) -> CheckRun:
    vnu_command()  # skip (or fail under CI) before rendering anything
    app = make_app(tmp_path_factory.mktemp("app"), WTF_CSRF_ENABLED=True)
    try:
        pages = {page.name: page for page in collect_pages(app)}
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    out = tmp_path_factory.mktemp("pages")
    files = []
    for name, html in [
        *((p.name, p.html) for p in pages.values()),
        ("canary-bad", BAD_CANARY),
        ("canary-htmx", HTMX_CANARY),
    ]:
        path = out / f"{name}.html"
        path.write_text(html, encoding="utf-8")
        files.append(path)
    return CheckRun(pages, files, run_checker(files))


def test_every_page_rendered_in_the_state_a_person_sees(check_run):
    statuses = {name: page.status for name, page in check_run.pages.items()}
    expected = {name: 200 for name in statuses}
    expected.update({"not-found": 404, "reflection-refused": 422})
    assert statuses == expected
    pages = check_run.pages
    assert "Done for today" not in pages["today-before-done"].html
    assert "Done for today" in pages["today-after-done"].html
    assert "We talked." in pages["progress-with-reflection"].html
    assert "up to 2,000 characters" in pages["reflection-refused"].html
    for page in pages.values():
        assert page.html.lstrip().lower().startswith("<!doctype html>"), page.name


def test_the_checker_reports_a_known_error(check_run):
    """The checker ran, its report parsed, and an error it must find was found."""
    messages = [e["message"] for e in check_run.errors_on("canary-bad")]
    assert any("aria-label" in m for m in messages), messages


def test_only_htmx_attributes_are_excused(check_run):
    htmx_errors = check_run.errors_on("canary-htmx")
    assert htmx_errors, "the checker should report htmx's attributes, which HTML does not define"
    assert not_htmx(htmx_errors) == []
    assert not_htmx(check_run.errors_on("canary-bad")), "the filter must not excuse other errors"


def test_no_page_has_a_markup_error(check_run):
    # One run over every page and both canaries (whose errors prove the report was read).
    assert len(check_run.pages) >= 20 and len(check_run.files) == len(check_run.pages) + 2
    errors = [e for e in not_htmx(check_run.errors) if not e["page"].startswith("canary-")]
    if errors:
        report = describe(errors, check_run.pages)
        pytest.fail(f"{len(errors)} markup errors (Nu Html Checker):\n{report}", pytrace=False)


def test_the_pinned_checker_is_the_one_in_node_modules():
    """package.json pins vnu-jar exactly, so every machine checks against the same rules."""
    pinned = json.loads((ROOT / "package.json").read_text())["devDependencies"]["vnu-jar"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", pinned), f"vnu-jar is not pinned exactly: {pinned}"
    installed = ROOT / "node_modules" / "vnu-jar" / "package.json"
    if installed.exists():
        assert json.loads(installed.read_text())["version"] == pinned
