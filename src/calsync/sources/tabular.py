"""CSV and JSON exports into DesiredEvents (one file may cover many mailboxes).

Timetabling and HR systems export flat tables more often than calendars. The format (also in
docs/sources.md, with examples):

| column | required | value |
| --- | --- | --- |
| mailbox | yes | the mailbox's UPN, mail address or object id |
| source_id | yes | the row's stable id in the exporting system; the source key is "csv:<id>" / "json:<id>" |
| subject | no | text |
| start, end | yes | ISO 8601: "2026-03-02T09:00", "2026-03-02T09:00:00+01:00", "2026-03-02T08:00Z", |
|            |     | or a date "2026-03-02" for all-day events |
| time_zone | if start or end has no offset | IANA ("Europe/Berlin") or Windows ("W. Europe Standard Time") |
| all_day | no | true/false (also yes/no, 1/0); empty: true when start and end are dates |
| location, description | no | text (description becomes the plain-text body) |
| categories | no | CSV: separated by ";"; JSON: a list of strings |
| show_as | no | free, tentative, busy (default), oof, workingElsewhere, unknown |
| sensitivity | no | normal (default), personal, private, confidential |
| reminder | no | minutes before the start, 0-40320; empty or null: no reminder |
| teams | no | true/false: create a Teams meeting |

Rules: header names are matched case-insensitively, with spaces and hyphens read as "_"; the CSV
delimiter is whichever of "," ";" or tab is most frequent in the header line (Excel in many locales writes
";"); the encoding is UTF-8 (a BOM is fine), else Windows-1252 with a warning. All-day end dates are
exclusive, as in iCalendar; an end equal to the start means one day. A timed event may not end before it
starts, and nothing may last longer than 5 years or fall outside the years 1601-4500. A bad row or item
is reported (line or item number, column, a code) and skipped; an unknown column is reported once and
ignored; a second row with the same mailbox and source_id is reported and skipped (the first is kept).
A row without a usable mailbox belongs to none: its problem names no mailbox, so every mailbox gets it.
A JSON file is either a list of objects or an object whose "events" member is that list.

The readers are split by concept: `tabular_rows` (columns, value rules, duplicates and window),
`tabular_csv` and `tabular_json` (reading each format); this module is the public face of all three.
`tabular_index` reads a CSV export one mailbox at a time with the same reader and rules.
"""

from __future__ import annotations

from calsync.sources.tabular_csv import load_csv, parse_csv
from calsync.sources.tabular_json import load_json, parse_json
from calsync.sources.tabular_rows import (
    COLUMNS,
    MAX_DURATION,
    MAX_ID,
    MAX_MAILBOX,
    MAX_YEAR,
    MIN_YEAR,
    REQUIRED,
    Kind,
    TabularOptions,
)

__all__ = [
    "COLUMNS",
    "MAX_DURATION",
    "MAX_ID",
    "MAX_MAILBOX",
    "MAX_YEAR",
    "MIN_YEAR",
    "REQUIRED",
    "Kind",
    "TabularOptions",
    "load_csv",
    "load_json",
    "parse_csv",
    "parse_json",
]
