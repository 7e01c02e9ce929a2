"""Screenshots of every page into docs/screenshots/, and each page's weight (bytes), against a real
`calsync serve` and graphemu, in headless Chromium (CALSYNC_TEST_CHROMIUM or /usr/bin/chromium).

    .venv/bin/python bench/screenshots.py            # or: make screenshots
    .venv/bin/python bench/screenshots.py --no-shots # only the page weights

The weight of a page is its HTML (as sent, uncompressed) plus what it loads (the stylesheet and the icon,
each fetched once per browser and then cached); no page loads anything else.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.calsync.web.conftest import ADA_FEED_MAILBOX, ADMIN, CHROMIUM, serve_calsync  # noqa: E402

from calsync.domain import SourceKey  # noqa: E402
from calsync.sync.ports import Quarantined  # noqa: E402

SHOTS = ROOT / "docs" / "screenshots"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-shots", action="store_true", help="measure only")
    args = parser.parse_args()
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, serve_calsync(Path(tmp)) as served:
        served.wait_for_runs([ADA_FEED_MAILBOX])
        served.store().put_quarantine(Quarantined(ADA_FEED_MAILBOX, SourceKey("ics:1"), "ErrorInvalidRequest",
                                                  "Graph refused the event (400)", 5))  # fmt: skip
        mailbox = f"/admin/mailboxes/default/{ADA_FEED_MAILBOX}"
        pages = [
            ("home", "/"), ("overview", "/admin"), ("mailbox", mailbox),
            ("plan", mailbox + "/plan"), ("purge", mailbox + "/purge"), ("runs", "/admin/runs"),
            ("app-registration", "/admin/app"), ("admin-consent", "/admin/consent"),
            ("audit-log", "/admin/audit"),
        ]  # fmt: skip
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            context = browser.new_context(ignore_https_errors=True, viewport={"width": 1200, "height": 800})
            page = context.new_page()
            first = page.goto(served.url + "/admin/signin")
            rows = [("admin-signin", "/admin/signin", len(first.body()) if first else 0)]
            if not args.no_shots:  # as an anonymous visitor sees it
                SHOTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(SHOTS / "admin-signin.png"), full_page=True)
            page.get_by_role("link", name="Sign in with Microsoft").click()
            page.select_option("#user", served.world.find_user(ADMIN).id)
            page.get_by_role("button", name="Accept").click()
            page.wait_for_url(f"{served.url}/**")
            for name, path in pages:
                response = page.goto(served.url + path)
                if response is None or not response.ok:
                    raise SystemExit(f"{path}: {response and response.status}")
                html = len(response.body())
                rows.append((name, path, html))
                if not args.no_shots:
                    SHOTS.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
            assets = _asset_sizes(page, served.url)
            other = browser.new_context(ignore_https_errors=True, viewport={"width": 1200, "height": 800})
            refused = other.new_page()  # someone without the role
            refused.goto(served.url + "/admin/signin")
            refused.get_by_role("link", name="Sign in with Microsoft").click()
            refused.select_option("#user", served.world.find_user(ADA_FEED_MAILBOX).id)
            refused.get_by_role("button", name="Accept").click()
            refused.wait_for_url(f"{served.url}/**")
            if not args.no_shots:
                refused.screenshot(path=str(SHOTS / "not-an-administrator.png"), full_page=True)
            browser.close()
    extra = sum(assets.values())
    print(f"{'page':<18} {'HTML bytes':>10}  {'first visit (+CSS, icon)':>24}  path")
    for name, path, html in rows:
        print(f"{name:<18} {html:>10}  {html + extra:>24}  {path}")
    print("loaded once per browser: " + ", ".join(f"{k} {v} bytes" for k, v in assets.items()))


def _asset_sizes(page: Any, base: str) -> dict[str, int]:
    return {p: len(page.request.get(base + p).body()) for p in ("/static/calsync.css", "/static/favicon.svg")}


if __name__ == "__main__":
    main()
