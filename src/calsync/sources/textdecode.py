"""Bytes from a file or a download into text, whatever encoding and line ends the exporter chose.

Why: feeds in the wild carry a UTF-8 BOM, come as UTF-16 from Windows tools, or are Windows-1252
(BI-08), and iCalendar lines may be folded in the middle of a multi-byte UTF-8 sequence. So iCalendar is
unfolded on the bytes, before decoding (RFC 5545 §3.1 says unfolding comes first), line ends are made LF
(CRLF, LF and a lone CR all occur), and text that is not valid UTF-8 is decoded as Windows-1252, then
Latin-1, which never fails, with a warning so the operator can fix the exporter.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE: its BOM starts with the UTF-16 LE one
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_FOLD_BYTES = re.compile(rb"\n[ \t]")
_FOLD_TEXT = re.compile(r"\n[ \t]")


class UndecodableText(ValueError):
    """The bytes claim a Unicode encoding (BOM or NUL pattern) but are not valid in it."""


@dataclass(frozen=True, slots=True)
class DecodedText:
    """The text and the encoding it was read with; `fallback` is True for Windows-1252/Latin-1."""

    text: str
    encoding: str
    fallback: bool


def _sniff(data: bytes) -> tuple[str | None, int]:
    """(encoding, BOM length) from a BOM, or UTF-16 recognised by its NUL bytes, or (None, 0)."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            return name, len(bom)
    if len(data) >= 4 and data[0] != 0 and data[1] == 0 and data[2] != 0 and data[3] == 0:
        return "utf-16-le", 0
    if len(data) >= 4 and data[0] == 0 and data[1] != 0 and data[2] == 0 and data[3] != 0:
        return "utf-16-be", 0
    return None, 0


def _lf_bytes(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")


def _lf_text(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def decode(data: bytes, *, unfold: bool) -> DecodedText:
    """Decode `data`; with `unfold`, also normalise line ends to LF and unfold iCalendar lines.

    Raises `UndecodableText` when a BOM or NUL pattern announces UTF-16/32 but the bytes are not valid.
    """
    encoding, skip = _sniff(data)
    if encoding is not None and encoding != "utf-8":
        try:
            text = data[skip:].decode(encoding)
        except UnicodeDecodeError:
            raise UndecodableText(f"the data is not valid {encoding}") from None
        if unfold:
            text = _FOLD_TEXT.sub("", _lf_text(text))
        return DecodedText(text, encoding, fallback=False)
    body = data[skip:]
    if unfold:
        body = _FOLD_BYTES.sub(b"", _lf_bytes(body))
    try:
        return DecodedText(body.decode("utf-8"), "utf-8", fallback=False)
    except UnicodeDecodeError:
        pass
    try:
        return DecodedText(body.decode("cp1252"), "windows-1252", fallback=True)
    except UnicodeDecodeError:
        return DecodedText(body.decode("latin-1"), "latin-1", fallback=True)
