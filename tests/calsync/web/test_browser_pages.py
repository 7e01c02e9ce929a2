"""The pages in headless Chromium against a real `calsync serve`: they load with their own stylesheet,
break no CSP rule, ask nothing of another site, and can be used from the keyboard."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.calsync.web.conftest import Served

pytestmark = pytest.mark.slow


def watch(page: Any, served: Served) -> list[str]:
    """Console errors (a CSP violation is one) and requests to any other origin, collected as they happen."""
    problems: list[str] = []
    page.on(
        "console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on(
        "request", lambda r: None if r.url.startswith(served.url) else problems.append(f"request {r.url}")
    )
    return problems


def test_the_start_page_loads_styled_with_nothing_from_elsewhere(page: Any, served: Served) -> None:
    problems = watch(page, served)
    response = page.goto(served.url + "/")
    assert response.status == 200
    assert page.title() == "Welcome · calsync"
    # Our stylesheet applied (the CSP allows 'self'): the header bar is dark, not the browser default.
    background = page.eval_on_selector("header.top", "e => getComputedStyle(e).backgroundColor")
    assert background not in ("rgba(0, 0, 0, 0)", "transparent")
    assert problems == []


def test_keyboard_first_reaches_the_skip_link(page: Any, served: Served) -> None:
    page.goto(served.url + "/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.url.endswith("#main")


def test_an_unknown_page_is_a_page_not_a_json_error(page: Any, served: Served, tmp_path: Path) -> None:
    response = page.goto(served.url + "/no/such/page")
    assert response.status == 404
    assert page.locator("h1").inner_text() == "Page not found"
