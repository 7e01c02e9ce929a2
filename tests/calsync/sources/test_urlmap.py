"""The mailbox -> feed URL map: both formats, mailboxes compared lower-cased, and a map that cannot be
read whole refused with the line or item, never the URL."""

from __future__ import annotations

from pathlib import Path

import pytest

from calsync.sources import SourceUnavailable, load_url_map, parse_url_map

SECRET = "s3cr3t-token-value"


def test_csv_with_any_column_order_delimiter_and_a_bom() -> None:
    data = (
        "\ufeffNote;URL;Mailbox\r\n"
        f"x;https://tt.example.edu/ical/ri1.ics?token={SECRET};Adele@Uni.edu\r\n"
        "\r\n"
        "y;webcal://tt.example.edu/ical/ri2.ics;bob@uni.edu\r\n"
    ).encode()
    urls = parse_url_map(data, json_format=False)
    assert urls.mailboxes() == ["adele@uni.edu", "bob@uni.edu"]
    assert urls.url_for("ADELE@uni.EDU") == f"https://tt.example.edu/ical/ri1.ics?token={SECRET}"
    assert urls.url_for("carol@uni.edu") is None
    assert SECRET not in repr(urls)


@pytest.mark.parametrize(
    "document",
    [
        '{"Adele@uni.edu": "https://tt.example.edu/a.ics", "bob@uni.edu": "https://tt.example.edu/b.ics"}',
        '[{"mailbox": "adele@uni.edu", "url": "https://tt.example.edu/a.ics"},'
        ' {"mailbox": "bob@uni.edu", "url": "https://tt.example.edu/b.ics", "note": "ignored"}]',
    ],
)
def test_json_as_an_object_or_a_list(tmp_path: Path, document: str) -> None:
    path = tmp_path / "feeds.JSON"
    path.write_text(document)
    urls = load_url_map(path)
    assert urls.mailboxes() == ["adele@uni.edu", "bob@uni.edu"]
    assert urls.url_for("adele@uni.edu") == "https://tt.example.edu/a.ics"


@pytest.mark.parametrize(
    ("data", "json_format", "location", "message"),
    [
        (b"mailbox,link\r\na@x.edu,https://h/x\r\n", False, "line 1", "'mailbox' and 'url'"),
        (b"mailbox,url\r\na@x.edu,\r\n", False, "line 2", "both required"),
        (f"mailbox,url\r\na@x.edu,file:///etc/{SECRET}\r\n".encode(), False, "line 2", "not an http(s)"),
        (
            f"mailbox,url\na@x.edu,https://h/{SECRET}\nA@X.edu,https://h/other\n".encode(),
            False,
            "line 3",
            "mapped twice",
        ),
        (b"mailbox,url\r\nonly-one-cell\r\n", False, "line 2", "fewer cells"),
        (b'mailbox,url\r\na@x.edu,"https://h/\x00\r\n', False, "line 2", "not valid CSV"),
        (b"mailbox,url\r\na@x.edu,https://h/\xe9\r\n", False, "source", "must be UTF-8"),
        (b'{"a@x.edu": 5}', True, "member 1", "must be a string"),
        (b'[{"mailbox": "a@x.edu"}]', True, "item 1", '"mailbox" and "url"'),
        (b'"just text"', True, "source", "expected"),
        (b"{not json", True, "source", "not valid JSON"),
    ],
)
def test_a_map_that_cannot_be_read_whole_is_refused(
    data: bytes, json_format: bool, location: str, message: str
) -> None:
    with pytest.raises(SourceUnavailable) as info:
        parse_url_map(data, json_format=json_format)
    problem = info.value.problem
    assert (problem.code, problem.location) == ("URL_MAP_INVALID", location)
    assert message in problem.message
    assert SECRET not in str(problem)


def test_an_unreadable_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SourceUnavailable) as info:
        load_url_map(tmp_path / "missing.csv")
    assert info.value.problem.code == "URL_MAP_INVALID"
    assert "cannot read" in info.value.problem.message
