"""`sourcing.Sources` for CSV and JSON exports: each mailbox gets its own events, its own rows' problems
plus the file's, and only its own protected keys; an unreadable file makes every mailbox unavailable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from calsync.services import sourcing
from calsync.settings import Settings
from calsync.sources import load_csv, load_json
from calsync.sync.engine import SourceSnapshot
from tests.calsync.sources.support import WINDOW

CSV = (
    "mailbox,source_id,subject,start,end,time_zone,colour\r\n"
    "Adele@Uni.edu,A-1,Algebra,2026-03-02T09:00,2026-03-02T10:00,Europe/Berlin,red\r\n"
    "bob@uni.edu,B-1,Physics,2026-03-02T09:00,2026-03-02T10:00,Europe/Berlin,\r\n"
    "bob@uni.edu,B-2,Broken,2026-03-02T09:00,not a date,Europe/Berlin,\r\n"
    "adele@uni.edu,A-2,Geometry,2026-03-03T09:00,2026-03-03T10:00,Europe/Berlin,\r\n"
    "cem@uni.edu,C-1,Old,2020-03-02T09:00,2020-03-02T10:00,Europe/Berlin,\r\n"
    "dora@uni.edu,D-1,Bad,2026-03-02T09:00,2026-03-02T10:00,Mars/Base,\r\n"
    "Straße@uni.edu,S-1,Sport,2026-03-02T09:00,2026-03-02T10:00,Europe/Berlin,\r\n"
    "STRASSE@uni.edu,S-2,Sport,2026-03-02T09:00,2026-03-02T10:00,Europe/Berlin,\r\n"
)
UNKNOWN_COLUMN = "CSV_UNKNOWN_COLUMN column 'colour': unknown column; it is ignored"


def sources_for(path: Path) -> sourcing.Sources:
    kind = "csv_file" if path.suffix == ".csv" else "json_file"
    return sourcing.Sources(Settings.model_validate({kind: path}))


async def load_all(path: Path, *mailboxes: str) -> dict[str, SourceSnapshot]:
    loader = sources_for(path).loader()
    return {mailbox: await loader(mailbox, WINDOW) for mailbox in mailboxes}


@pytest.fixture
def export(tmp_path: Path) -> Path:
    path = tmp_path / "timetable.csv"
    path.write_text(CSV, encoding="utf-8")
    return path


async def test_each_mailbox_sees_its_own_rows_and_problems(export: Path) -> None:
    """Bob's bad row is Bob's problem and Bob's protected key, not Adele's; the unknown column is both's."""
    found = await load_all(export, "adele@uni.edu", "BOB@uni.edu", "nobody@uni.edu")
    adele, bob, nobody = found["adele@uni.edu"], found["BOB@uni.edu"], found["nobody@uni.edu"]
    assert [(e.source_key, e.subject) for e in adele.events] == [
        ("csv:A-1", "Algebra"),
        ("csv:A-2", "Geometry"),
    ]
    assert adele.problems == (UNKNOWN_COLUMN,)
    assert adele.protected_prefixes == frozenset()
    assert [e.source_key for e in bob.events] == ["csv:B-1"]
    assert bob.problems == (
        UNKNOWN_COLUMN,
        "CSV_BAD_ROW line 4, column 'end': end is not an ISO 8601 date or date-time",
    )
    assert bob.protected_prefixes == frozenset({"csv:B-2"})
    assert (nobody.status, nobody.events, nobody.problems) == ("ok", (), (UNKNOWN_COLUMN,))


async def test_snapshots_match_the_whole_file_parse(export: Path) -> None:
    """Per mailbox, the same events as splitting `load_csv` of the whole file."""
    whole = load_csv(export.read_bytes(), window=WINDOW)
    mailboxes = sorted({e.mailbox.lower() for e in whole.events})
    found = await load_all(export, *mailboxes)
    for mailbox in mailboxes:
        assert found[mailbox].status == "ok"
        assert found[mailbox].events == tuple(e for e in whole.events if e.mailbox.lower() == mailbox)
    assert sum(len(s.events) for s in found.values()) == len(whole.events) == 5


async def test_a_row_without_a_usable_mailbox_is_everyones_problem(tmp_path: Path) -> None:
    """Nobody can own a row with no mailbox: every mailbox reports it and keeps the key's copy."""
    path = tmp_path / "t.csv"
    path.write_text(
        "mailbox,source_id,start,end,time_zone\r\n"
        "a@uni.edu,1,2026-03-02T09:00,2026-03-02T10:00,UTC\r\n"
        ",9,2026-03-02T09:00,2026-03-02T10:00,UTC\r\n"
    )
    found = await load_all(path, "a@uni.edu", "b@uni.edu")
    for snapshot in found.values():
        assert snapshot.problems == ("CSV_BAD_ROW line 3, column 'mailbox': mailbox is required",)
        assert snapshot.protected_prefixes == frozenset({"csv:9"})


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"mailbox,subject\r\na@uni.edu,s\r\n", "CSV_BAD_HEADER"),
        (b"", "CSV_BAD_HEADER"),
        (b"\xff\xfe\x00", "CSV_PARSE_ERROR"),
    ],
)
async def test_an_unreadable_file_makes_every_mailbox_unavailable(
    tmp_path: Path, content: bytes, code: str
) -> None:
    """Unavailable, never empty, with the code `load_csv` gives, for every mailbox."""
    path = tmp_path / "t.csv"
    path.write_bytes(content)
    assert load_csv(content, window=WINDOW).errors[-1].code == code
    found = await load_all(path, "a@uni.edu", "b@uni.edu")
    for snapshot in found.values():
        assert (snapshot.status, snapshot.error_code, snapshot.events) == ("unavailable", code, ())
        assert len(snapshot.problems) == 1
        assert snapshot.problems[0].startswith(code)
    assert sources_for(path).table_mailboxes(WINDOW) == []


async def test_the_file_is_read_once_per_run(export: Path) -> None:
    """The loader indexes the file on the first call; later mailboxes of the run read the index."""
    loader = sources_for(export).loader()
    assert (await loader("adele@uni.edu", WINDOW)).status == "ok"
    export.unlink()
    assert [e.source_key for e in (await loader("bob@uni.edu", WINDOW)).events] == ["csv:B-1"]


async def test_finding_the_mailboxes_and_syncing_them_read_the_file_once(export: Path) -> None:
    """`table_mailboxes` (which mailboxes a run syncs) and the loader share one read of the file."""
    sources = sources_for(export)
    mailboxes = sources.table_mailboxes(WINDOW)
    export.unlink()
    loader = sources.loader()
    assert [(await loader(m, WINDOW)).status for m in mailboxes] == ["ok"] * len(mailboxes)


def test_table_mailboxes_are_those_with_good_events_in_the_window(export: Path) -> None:
    """Sorted and lower-cased, as before: Cem (only an old row) and Dora (only a bad row) are left out."""
    expected = sorted({e.mailbox.lower() for e in load_csv(export.read_bytes(), window=WINDOW).events})
    assert expected == ["adele@uni.edu", "bob@uni.edu", "strasse@uni.edu", "straße@uni.edu"]
    assert sources_for(export).table_mailboxes(WINDOW) == expected


async def test_json_snapshots_carry_only_their_own_problems(tmp_path: Path) -> None:
    """A JSON export is parsed whole, and each mailbox still sees only its own items' problems."""
    item = {"start": "2026-03-02T09:00Z", "end": "2026-03-02T10:00Z"}
    items = [
        {"mailbox": "a@uni.edu", "source_id": "1", **item},
        {"mailbox": "b@uni.edu", "source_id": "2", **item},
        {"mailbox": "b@uni.edu", "source_id": "3", **item, "end": "never"},
        {"mailbox": "A@uni.edu", "source_id": "4", **item, "colour": "red"},
    ]
    path = tmp_path / "t.json"
    path.write_text(json.dumps(items))
    found = await load_all(path, "a@uni.edu", "b@uni.edu", "c@uni.edu")
    unknown = "JSON_UNKNOWN_FIELD field 'colour': unknown field; it is ignored"
    assert found["a@uni.edu"].problems == (unknown,)
    assert [e.source_key for e in found["a@uni.edu"].events] == ["json:1", "json:4"]
    assert found["a@uni.edu"].protected_prefixes == frozenset()
    assert found["b@uni.edu"].problems == (
        "JSON_BAD_ITEM item 3, column 'end': end is not an ISO 8601 date or date-time",
        unknown,
    )
    assert found["b@uni.edu"].protected_prefixes == frozenset({"json:3"})
    assert (found["c@uni.edu"].events, found["c@uni.edu"].problems) == ((), (unknown,))
    assert sources_for(path).table_mailboxes(WINDOW) == ["a@uni.edu", "b@uni.edu"]
    assert load_json(path.read_bytes(), window=WINDOW).status == "ok"


async def test_a_row_wider_than_the_header_keeps_its_copy(tmp_path: Path) -> None:
    """An unquoted comma in a value makes a row too wide: it is refused, but its mailbox owns the problem
    and its key is protected, so the event already in Graph is kept instead of deleted."""
    path = tmp_path / "t.csv"
    path.write_text(
        "mailbox,source_id,subject,start,end,time_zone,location\r\n"
        "adele@uni.edu,L1,Lecture,2026-03-02T09:00,2026-03-02T10:00,Europe/Berlin,Room 1, north wing\r\n"
        "adele@uni.edu,L2,Lecture,2026-03-03T09:00,2026-03-03T10:00,Europe/Berlin,Room 2\r\n",
        encoding="utf-8",
    )
    found = await load_all(path, "adele@uni.edu", "bob@uni.edu")
    adele, bob = found["adele@uni.edu"], found["bob@uni.edu"]
    assert [e.source_key for e in adele.events] == ["csv:L2"]
    assert adele.protected_prefixes == frozenset({"csv:L1"})
    assert adele.problems[0].startswith("CSV_BAD_ROW line 2: the row has more cells than the header")
    assert (bob.problems, bob.protected_prefixes) == ((), frozenset())


async def test_mailboxes_are_told_apart_as_the_runner_names_them(export: Path) -> None:
    """Mailboxes are compared lower-cased, as `resolve_mailboxes` names them: Straße@ and STRASSE@ are two
    mailboxes, each with its own row."""
    found = await load_all(export, "straße@uni.edu", "strasse@uni.edu")
    assert [e.source_key for e in found["straße@uni.edu"].events] == ["csv:S-1"]
    assert [e.source_key for e in found["strasse@uni.edu"].events] == ["csv:S-2"]
