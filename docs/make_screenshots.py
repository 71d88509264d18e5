"""Take Closer's own screenshots with the system Chromium: the manifest's phone screenshot
(static/img/shots/today-narrow.png) and the README's (docs/screenshot.png).

    .venv/bin/python docs/make_screenshots.py

The app runs on a throwaway database with a pinned date, so the picture is reproducible.
Sizes must match `SCREENSHOTS` in blueprints/pwa.py (a test checks the PNG header).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from app import create_app  # noqa: E402
from bench.common import CHROMIUM_ARGS  # noqa: E402
from models import db  # noqa: E402

VIEWPORT = {"width": 412, "height": 915}
SCALE = 2  # 824 x 1830 pixels
PINNED = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
OUTPUTS = [ROOT / "static" / "img" / "shots" / "today-narrow.png", ROOT / "docs" / "screenshot.png"]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(
            {
                "TESTING": True,
                "SECRET_KEY": "screenshots-only-secret-key-0000000000000000",
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{Path(tmp) / 'shots.db'}",
                "NOW_UTC": PINNED,
            }
        )
        with app.app_context():
            db.create_all()
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            shoot(f"http://127.0.0.1:{server.server_port}")
        finally:
            server.shutdown()


def shoot(url: str) -> None:
    executable = os.environ.get("CHROMIUM_PATH") or "/usr/bin/chromium"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        context = browser.new_context(
            viewport=VIEWPORT,
            device_scale_factor=SCALE,
            is_mobile=True,
            has_touch=True,
            color_scheme="light",
            timezone_id="UTC",
            locale="en-GB",
            service_workers="block",
        )
        page = context.new_page()
        page.goto(url + "/")
        page.wait_for_selector("#practice-title")
        OUTPUTS[0].parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(OUTPUTS[0]))
        browser.close()
    for extra in OUTPUTS[1:]:
        shutil.copyfile(OUTPUTS[0], extra)
    for out in OUTPUTS:
        print("wrote", out.relative_to(ROOT))


if __name__ == "__main__":
    main()
