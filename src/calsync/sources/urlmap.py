"""A mailbox -> feed URL map (`ics_url_map_file`), for timetabling systems whose per-person feed URLs
follow no template (a random token per person, as TimeEdit and Syllabus Plus publish them).

The format (also in docs/sources.md):
- CSV (any name but *.json): a header row naming the columns `mailbox` and `url` (matched
  case-insensitively; other columns are ignored), delimiter "," ";" or tab (the most frequent in the
  header line), UTF-8 (a BOM is fine); blank lines are skipped.
- JSON (*.json): an object {"mailbox": "url", ...}, or a list of {"mailbox": ..., "url": ...} objects.

Mailboxes are compared lower-cased (as the runner names them). A row without a mailbox or URL, a URL
that is not http(s)/webcal(s), or a mailbox given twice with different URLs makes the whole map
unusable (URL_MAP_INVALID, naming the line or item): a half-read map would silently leave people out.
Every URL is a secret: messages name lines and items, never a URL, and the caller registers the URLs
with the redactor (calsync.redact.register_feed_urls).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from pathlib import Path

from calsync.sources.model import SourceUnavailable, unavailable
from calsync.sources.textdecode import UndecodableText, decode

MAX_MAP_BYTES = 64 * 1024 * 1024  # 40,000 people with 200-character URLs take 8 MB
_SCHEMES = ("https://", "http://", "webcal://", "webcals://")
_CODE = "URL_MAP_INVALID"


class FeedUrlMap:
    """Each mailbox's feed URL, keyed by the lower-cased mailbox. `repr` never shows a URL."""

    __slots__ = ("_urls",)

    def __init__(self, pairs: Iterable[tuple[str, str, str]]) -> None:
        """`pairs`: (mailbox, url, where) with `where` naming the line or item for errors."""
        urls: dict[str, str] = {}
        for mailbox, given, where in pairs:
            key, url = mailbox.strip().lower(), given.strip()
            if not key or not url:
                raise _invalid(where, "a mailbox and a URL are both required")
            if not url.lower().startswith(_SCHEMES) or any(c.isspace() for c in url):
                raise _invalid(where, "the URL is not an http(s) or webcal(s) URL")
            if urls.setdefault(key, url) != url:
                raise _invalid(where, "the mailbox is mapped twice, to different URLs")
        self._urls = urls

    def url_for(self, mailbox: str) -> str | None:
        """The mailbox's feed URL, or None when the map does not name it."""
        return self._urls.get(mailbox.strip().lower())

    def mailboxes(self) -> list[str]:
        """Every mapped mailbox, lower-cased and sorted."""
        return sorted(self._urls)

    def urls(self) -> list[str]:
        return list(self._urls.values())

    def __len__(self) -> int:
        return len(self._urls)

    def __repr__(self) -> str:
        return f"FeedUrlMap({len(self._urls)} mailboxes)"


def _invalid(where: str, message: str) -> SourceUnavailable:
    return unavailable("ics_url_map_file", _CODE, message, where)


def parse_url_map(data: bytes, *, json_format: bool) -> FeedUrlMap:
    """Read a map (format: the module doc); raises `SourceUnavailable` (URL_MAP_INVALID)."""
    if len(data) > MAX_MAP_BYTES:
        raise _invalid("source", "the file is larger than the size cap (64 MiB)")
    try:
        decoded = decode(data, unfold=False)
    except UndecodableText:
        raise _invalid("source", "the file's text encoding is invalid") from None
    if decoded.fallback:
        raise _invalid("source", "the file must be UTF-8")
    return FeedUrlMap(_json_pairs(decoded.text) if json_format else _csv_pairs(decoded.text))


def load_url_map(path: Path) -> FeedUrlMap:
    """Read the map at `path` (JSON when it ends in .json, else CSV); raises `SourceUnavailable`
    (URL_MAP_INVALID), also when the file cannot be read."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _invalid("source", f"cannot read the file ({exc.strerror})") from None
    return parse_url_map(data, json_format=path.suffix.lower() == ".json")


def _csv_pairs(text: str) -> Iterator[tuple[str, str, str]]:
    header_line = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=lambda d: (header_line.count(d), d == ","))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = [c.strip().lower() for c in next(reader, [])]
        if "mailbox" not in header or "url" not in header:
            raise _invalid("line 1", "the header must name the columns 'mailbox' and 'url'")
        at_mailbox, at_url = header.index("mailbox"), header.index("url")
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            where = f"line {reader.line_num}"
            if len(cells) <= max(at_mailbox, at_url):
                raise _invalid(where, "the row has fewer cells than the header")
            yield cells[at_mailbox], cells[at_url], where
    except csv.Error:
        raise _invalid(f"line {reader.line_num}", "the row is not valid CSV") from None


def _json_pairs(text: str) -> Iterator[tuple[str, str, str]]:
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        raise _invalid("source", "the file is not valid JSON") from None
    if isinstance(document, dict):
        for number, (mailbox, url) in enumerate(document.items(), 1):
            if not isinstance(url, str):
                raise _invalid(f"member {number}", "the URL must be a string")
            yield mailbox, url, f"member {number}"
        return
    if not isinstance(document, list):
        raise _invalid("source", 'expected {"mailbox": "url", ...} or a list of {"mailbox", "url"} objects')
    for number, item in enumerate(document, 1):
        mailbox = item.get("mailbox") if isinstance(item, dict) else None
        url = item.get("url") if isinstance(item, dict) else None
        if not isinstance(mailbox, str) or not isinstance(url, str):
            raise _invalid(f"item {number}", 'each item needs "mailbox" and "url" strings')
        yield mailbox, url, f"item {number}"
