"""Return URLs (`?next=`) lead only to pages of this site (RFC 9700 §2.1, ASVS 3.7.2, OA-17).

The property: whatever the input, the result is the default or a path that a browser resolves, against
this site's origin, to this site's origin. Checked with the WHATWG-like resolution of urljoin plus the
browser behaviours urljoin lacks (backslash as slash, tabs and newlines dropped)."""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from calsync.web.security import safe_return_path

SITE = "https://calsync.example.edu"
NASTY = [
    "//evil.example", "///evil.example", "////evil.example/x", "/\\evil.example", "\\\\evil.example",
    "\\/evil.example", "/\t/evil.example", "/\n/evil.example", "/\r\n/evil.example", " //evil.example",
    "https://evil.example", "http:evil.example", "javascript:alert(1)", "JaVaScRiPt:alert(1)",
    "data:text/html,<script>", "evil.example", "@evil.example", "/%09/evil.example" + "\x00", "/\x00//evil",
    "/\u2215\u2215evil.example", "/\uff0f\uff0fevil.example", "https:/\\evil.example", "/" + "a" * 3000,
]  # fmt: skip


def browser_target(path: str) -> str:
    """Where a browser goes for `Location: path` on SITE (backslashes are slashes; tab/CR/LF dropped)."""
    cleaned = path.replace("\\", "/").translate({9: None, 10: None, 13: None}).strip("\x00 ")
    return urljoin(SITE + "/start", cleaned)


@pytest.mark.parametrize("value", NASTY)
def test_nasty_return_urls_fall_back_to_the_default(value: str) -> None:
    assert safe_return_path(value, "/admin") == "/admin"


@pytest.mark.parametrize("value", ["/", "/admin", "/admin/mailboxes/ada%40uni.example?tab=runs", "/x#frag"])
def test_paths_on_this_site_are_kept(value: str) -> None:
    assert safe_return_path(value) == value


@given(st.text(alphabet=st.sampled_from("/\\:@.%?#&= \t\n\x00aZ9-evil:/javascript\u2215\uff0f"), max_size=40))
@example("/\\/evil")
@example("/.//evil")
def test_whatever_comes_in_the_result_stays_on_this_site(value: str) -> None:
    result = safe_return_path(value, "/")
    assert result == "/" or result == value
    target = urlsplit(browser_target(result))
    assert (target.scheme, target.netloc) == ("https", "calsync.example.edu"), result


@given(st.text(max_size=60))
def test_any_text_never_leaves_the_site(value: str) -> None:
    target = urlsplit(browser_target(safe_return_path(value, "/")))
    assert (target.scheme, target.netloc) == ("https", "calsync.example.edu")
