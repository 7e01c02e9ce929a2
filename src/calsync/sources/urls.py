"""Feed URLs: redaction for messages and logs, and per-mailbox URL templates.

Why redaction: a per-student feed URL is a bearer secret (the token is in the path or the query, as
timetabling systems publish them), so no message, log line or report may carry it whole (BI-10, OA-14).
`redact_url` keeps the scheme, host, port and, when the path has more than one segment, its first
segment: "https://timetable.example.edu/ical/…". Userinfo, the rest of the path, the query and the
fragment are never shown.

Why templates are checked: a template such as "https://timetable.example.edu/ical/{upn}.ics" is filled
per mailbox; values are percent-encoded (so "@" becomes %40, which servers decode) and placeholders may
only appear after the host, so a mailbox name can never change which server is contacted.
"""

from __future__ import annotations

import string
from urllib.parse import quote

import httpx

PLACEHOLDERS = ("upn", "mail", "id")


def redact_url(url: str | httpx.URL) -> str:
    """The URL without its secrets, for messages and logs (see the module doc)."""
    try:
        parsed = url if isinstance(url, httpx.URL) else httpx.URL(str(url))
        host = parsed.raw_host.decode("ascii", "replace")
    except (httpx.InvalidURL, ValueError, TypeError):
        return "<invalid URL>"
    scheme = parsed.scheme or "?"
    if ":" in host:
        host = f"[{host}]"
    port = f":{parsed.port}" if parsed.port is not None else ""
    segments = [s for s in parsed.path.split("/") if s]
    shown = f"/{segments[0]}/" if len(segments) > 1 else "/"
    hidden = len(segments) > (1 if len(segments) > 1 else 0) or bool(parsed.query) or bool(parsed.fragment)
    return f"{scheme}://{host}{port}{shown}{'…' if hidden else ''}"


class UrlTemplate:
    """A feed URL per mailbox with {upn}, {mail} and {id} placeholders (URL-quoted when filled)."""

    def __init__(self, template: str) -> None:
        scheme, sep, rest = template.partition("://")
        if not sep or not scheme:
            raise ValueError("a URL template needs a scheme, e.g. https://")
        authority = rest.split("/", 1)[0].split("?", 1)[0]
        if "{" in authority or "}" in authority:
            raise ValueError("placeholders may not appear in the host part of a URL template")
        names: list[str] = []
        try:
            parsed = list(string.Formatter().parse(template))
        except ValueError:
            raise ValueError("the URL template has unbalanced braces") from None
        for _, name, spec, conversion in parsed:
            if name is None:
                continue
            if name not in PLACEHOLDERS or spec or conversion:
                raise ValueError(f"unknown placeholder in URL template; use {', '.join(PLACEHOLDERS)}")
            names.append(name)
        self.template = template
        self.names = tuple(names)

    def expand(self, **values: str) -> str:
        """The URL for one mailbox; every placeholder used needs a non-empty value."""
        unknown = set(values) - set(PLACEHOLDERS)
        if unknown:
            raise ValueError(f"unknown placeholder value(s): {', '.join(sorted(unknown))}")
        missing = [n for n in self.names if not values.get(n)]
        if missing:
            raise ValueError(f"no value for placeholder(s): {', '.join(missing)}")
        return self.template.format(**{n: quote(values.get(n, ""), safe="") for n in PLACEHOLDERS})

    def __repr__(self) -> str:
        return f"UrlTemplate({redact_url(self.template.replace('{', '').replace('}', ''))!r})"
