"""Tests for graphemu.odata: $filter compilation, $orderby, $select and $expand parsing."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graphemu.odata import (
    ExpandExtendedProps,
    ODataError,
    apply_select,
    extended_property_key,
    parse_expand,
    parse_filter,
    parse_orderby,
    parse_select,
    path_get,
    sort_items,
)

FUN_ID = "String {66f5a359-4659-4830-9070-00040ec6ac6e} Name Fun"
DOCS_FILTER = (
    "singleValueExtendedProperties/Any(ep: ep/id eq 'String {66f5a359-4659-4830-9070-00040ec6ac6e} "
    "Name Fun' and ep/value eq 'Food')"
)
EVENT: dict[str, Any] = {
    "@odata.etag": 'W/"abc"',
    "id": "AAMk1",
    "subject": "Quarterly Review",
    "start": {"dateTime": "2017-04-15T11:00:00.0000000", "timeZone": "UTC"},
    "end": {"dateTime": "2017-04-15T12:00:00.0000000", "timeZone": "UTC"},
    "isCancelled": False,
    "type": "singleInstance",
    "iCalUId": "040000008200E00074C5B7101A82E008",
    "transactionId": None,
    "reminderMinutesBeforeStart": 15,
    "categories": ["Red category"],
}


def matches(expr: str, item: dict[str, Any] | None = None, ext: dict[str, str] | None = None) -> bool:
    """Compile and evaluate a filter against EVENT (or another item)."""
    return parse_filter(expr)(EVENT if item is None else item, ext or {})


def test_docs_extended_property_filter_matches() -> None:
    """The exact filter from graph-facts §3 matches an event carrying that property."""
    assert matches(DOCS_FILTER, ext={FUN_ID: "Food"})


def test_docs_extended_property_filter_value_case_insensitive() -> None:
    """Extended property values compare case-insensitively."""
    assert matches(DOCS_FILTER, ext={FUN_ID: "fOOD"})


def test_docs_extended_property_filter_rejects_other_value_or_missing() -> None:
    """A different value, a different property or no properties at all do not match."""
    assert not matches(DOCS_FILTER, ext={FUN_ID: "Drink"})
    assert not matches(DOCS_FILTER, ext={"String {66f5a359-4659-4830-9070-00040ec6ac6e} Name Other": "Food"})
    assert not matches(DOCS_FILTER)


def test_extended_property_id_name_part_is_case_sensitive() -> None:
    """The Name part of the id is case-sensitive, as Graph documents."""
    expr = DOCS_FILTER.replace("Name Fun", "Name fun")
    assert not matches(expr, ext={FUN_ID: "Food"})


def test_extended_property_id_type_and_guid_are_case_insensitive() -> None:
    """The type prefix and the GUID compare case-insensitively."""
    stored = "string {66F5A359-4659-4830-9070-00040EC6AC6E} Name Fun"
    assert matches(DOCS_FILTER, ext={stored: "Food"})


def test_lowercase_any_with_capital_id_and_other_variable() -> None:
    """The docs' lowercase `any(ep:ep/Id ...)` form works, with any variable name."""
    expr = f"singleValueExtendedProperties/any(ep:ep/Id eq '{FUN_ID}' and ep/value eq 'Food')"
    assert matches(expr, ext={FUN_ID: "Food"})
    expr = f"singleValueExtendedProperties/any(x: x/id eq '{FUN_ID}' and x/value eq 'Food')"
    assert matches(expr, ext={FUN_ID: "Food"})


@pytest.mark.parametrize(
    ("value_clause", "expected"),
    [
        ("ep/value ne 'Food'", False),
        ("ep/value ne 'Drink'", True),
        ("startswith(ep/value,'fo')", True),
        ("startswith(ep/value,'oo')", False),
        ("contains(ep/value,'OO')", True),
        ("contains(ep/value,'x')", False),
    ],
)
def test_extended_property_string_operators(value_clause: str, expected: bool) -> None:
    """ne, startswith and contains work on ep/value."""
    expr = f"singleValueExtendedProperties/Any(ep: ep/id eq '{FUN_ID}' and {value_clause})"
    assert matches(expr, ext={FUN_ID: "Food"}) is expected


def test_extended_property_cast_int32() -> None:
    """Numeric values are compared with cast(ep/value, Edm.Int32)."""
    pid = "Integer {66f5a359-4659-4830-9070-00040ec6ac6e} Name Count"
    expr = f"singleValueExtendedProperties/Any(ep: ep/id eq '{pid}' and cast(ep/value, Edm.Int32) eq 12)"
    assert matches(expr, ext={pid: "12"})
    assert not matches(expr, ext={pid: "13"})
    assert not matches(expr, ext={pid: "twelve"})


def test_extended_property_id_form_with_hex_id() -> None:
    """The `{guid} Id 0x8012` form compares the number, not its spelling."""
    stored = "String {00020329-0000-0000-C000-000000000046} Id 0x8012"
    query_id = "String {00020329-0000-0000-c000-000000000046} Id 0X8012"
    expr = f"singleValueExtendedProperties/any(ep: ep/id eq '{query_id}')"
    assert matches(expr, ext={stored: "v"})


def test_extended_property_key_canonical_forms() -> None:
    """extended_property_key folds type, GUID and hex case but keeps the Name."""
    assert extended_property_key(FUN_ID) == extended_property_key(
        FUN_ID.upper().replace("NAME FUN", "Name Fun")
    )
    assert extended_property_key(FUN_ID) != extended_property_key(FUN_ID.replace("Fun", "fun"))
    assert extended_property_key("String 0x4001001E") == extended_property_key("string 0x4001001e")


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("start/dateTime ge 2017-04-15T11:00:00Z", True),
        ("start/dateTime gt 2017-04-15T11:00:00Z", False),
        ("start/dateTime lt 2017-04-15T11:00:01.0000000", True),
        ("start/dateTime eq 2017-04-15T13:00:00+02:00", True),
        ("start/dateTime ge '2017-04-15T08:00'", True),
        ("start/dateTime lt 2017-01-01", False),
        (
            "end/dateTime le 2017-04-15T12:00:00.0000000 and start/dateTime ge 2017-04-15T11:00:00.0000000",
            True,
        ),
    ],
)
def test_date_comparisons_on_start_datetime(expr: str, expected: bool) -> None:
    """Date/time literals and date-like strings compare chronologically, offsets included."""
    assert matches(expr) is expected


def test_dates_compare_chronologically_not_lexically() -> None:
    """A 'Z' literal and Graph's 7-digit form are compared as instants."""
    item = {"start": {"dateTime": "2017-04-15T11:00:00.5000000"}}
    assert matches("start/dateTime gt 2017-04-15T11:00:00Z", item)
    assert matches("start/dateTime lt 2017-04-15T11:00:01Z", item)


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("startswith(subject,'quarter')", True),
        ("startswith(subject,'Review')", False),
        ("endswith(subject,'REVIEW')", True),
        ("contains(subject,'ly re')", True),
        ("startswith(subject,'quarter') eq false", False),
        ("startswith(transactionId,'x')", False),
    ],
)
def test_string_functions_case_insensitive(expr: str, expected: bool) -> None:
    """startswith/endswith/contains ignore case and are false on non-strings."""
    assert matches(expr) is expected


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("subject eq 'quarterly review'", True),
        ("Subject eq 'QUARTERLY REVIEW'", True),
        ("subject ne 'quarterly review'", False),
        ("isCancelled eq false", True),
        ("isCancelled", False),
        ("not isCancelled", True),
        ("type eq 'singleInstance' and iCalUId eq '040000008200E00074C5B7101A82E008'", True),
        ("transactionId eq null", True),
        ("transactionId ne null", False),
        ("reminderMinutesBeforeStart ge 15 and reminderMinutesBeforeStart lt 15.5", True),
        ("reminderMinutesBeforeStart eq '15'", False),
        ("missing/deep/path eq null", True),
        ("id in ('x', 'AAMk1')", True),
        ("categories/any(c: c eq 'red category')", True),
        ("categories/any()", True),
        ("categories/all(c: startswith(c, 'blue'))", False),
        ("subject eq 'it''s'", False),
    ],
)
def test_comparisons_on_properties(expr: str, expected: bool) -> None:
    """Comparisons, null, booleans, numbers, `in` and lambdas on ordinary properties."""
    assert matches(expr) is expected


def test_quote_escaping_in_literals() -> None:
    """'' inside a string literal is one quote."""
    assert matches("subject eq 'it''s'", {"subject": "It's"})


def test_precedence_not_and_or() -> None:
    """not binds tighter than and, which binds tighter than or."""
    assert matches("subject eq 'x' and isCancelled eq true or type eq 'singleInstance'")
    assert not matches("subject eq 'x' and (isCancelled eq true or type eq 'singleInstance')")
    assert matches("not subject eq 'x' and type eq 'singleInstance'")
    assert not matches("not (subject eq 'x' or type eq 'singleInstance')")


def test_directory_properties() -> None:
    """userPrincipalName, mail, displayName and accountEnabled filter like event properties."""
    user = {
        "userPrincipalName": "Ann@Contoso.com",
        "mail": None,
        "displayName": "Ann",
        "accountEnabled": True,
    }
    assert matches("userPrincipalName eq 'ann@contoso.com' and accountEnabled eq true", user)
    assert matches("startswith(displayName,'an') and mail eq null", user)


@pytest.mark.parametrize(
    "expr",
    [
        "",
        "   ",
        "subject eq",
        "subject eq 'unterminated",
        "(subject eq 'x'",
        "subject eq 'x')",
        "subject eq 'x' garbage",
        "subject eq 'x' and",
        "substringof('x', subject)",
        "tolower(subject) eq 'x'",
        "cast(subject, Edm.Nope) eq 1",
        "subject eq 12L",
        "subject eq 2017-13-45T00:00:00Z",
        "subject eq 'x' ; drop",
        "'x'",
        "42",
        "subject eq eq",
        "a/b(1)",
        "singleValueExtendedProperties/any(ep ep/id eq 'x')",
        "__import__('os').system('true')",
        "subject eq 'x' " * 400,
    ],
)
def test_invalid_filters_raise_odata_error(expr: str) -> None:
    """Syntax errors, unknown functions and garbage raise ODataError with Graph-like text."""
    with pytest.raises(ODataError) as info:
        parse_filter(expr)
    assert info.value.message.startswith("Invalid filter clause")
    assert info.value.option == "$filter"


def test_length_and_depth_limits() -> None:
    """Over 4096 characters or 32 levels of nesting is rejected; 32 levels is fine."""
    with pytest.raises(ODataError):
        parse_filter("subject eq '" + "x" * 4090 + "'")
    assert matches("(" * 32 + "type eq 'singleInstance'" + ")" * 32)
    with pytest.raises(ODataError):
        parse_filter("(" * 33 + "type eq 'singleInstance'" + ")" * 33)
    with pytest.raises(ODataError):
        parse_filter("not " * 33 + "isCancelled")


def test_path_get() -> None:
    """path_get walks nested dicts, falls back to case-insensitive keys, and yields None when missing."""
    assert path_get(EVENT, "start/dateTime") == "2017-04-15T11:00:00.0000000"
    assert path_get(EVENT, "Start/DateTime") == "2017-04-15T11:00:00.0000000"
    assert path_get(EVENT, "start/nope") is None
    assert path_get(EVENT, "subject/x") is None
    assert path_get(EVENT, "") is None


def test_parse_orderby() -> None:
    """$orderby parses paths with optional asc/desc, separated by commas."""
    assert parse_orderby("start/dateTime desc, subject") == [("start/dateTime", True), ("subject", False)]
    assert parse_orderby("subject ASC") == [("subject", False)]
    for bad in ["", "subject sideways", "subject desc extra", "a,,b", "sub ject/", "start/"]:
        with pytest.raises(ODataError):
            parse_orderby(bad)


def test_sort_items_is_stable_and_nulls_first() -> None:
    """Ties keep input order, nulls come first ascending and last descending."""
    items: list[dict[str, Any]] = [
        {"id": "1", "subject": "b", "start": {"dateTime": "2017-01-02T00:00:00.0000000"}},
        {"id": "2", "subject": "A", "start": {"dateTime": "2017-01-01T00:00:00Z"}},
        {"id": "3", "subject": None, "start": {"dateTime": "2017-01-02T00:00:00.0000000"}},
        {"id": "4", "subject": "a", "start": {"dateTime": "2017-01-02T00:00:00.0000000"}},
    ]
    by = parse_orderby
    assert [i["id"] for i in sort_items(items, by("subject"))] == ["3", "2", "4", "1"]
    assert [i["id"] for i in sort_items(items, by("subject desc"))] == ["1", "2", "4", "3"]
    assert [i["id"] for i in sort_items(items, by("start/dateTime"))] == ["2", "1", "3", "4"]
    assert [i["id"] for i in sort_items(items, by("start/dateTime desc, subject"))] == ["3", "4", "1", "2"]
    assert [i["id"] for i in items] == ["1", "2", "3", "4"]


def test_select_keeps_id_and_odata_etag() -> None:
    """$select keeps the selected properties plus id and @odata.etag, in item order."""
    fields = parse_select("subject, Start")
    assert fields == ["subject", "Start"]
    out = apply_select(EVENT, fields)
    assert out == {
        "@odata.etag": 'W/"abc"',
        "id": "AAMk1",
        "subject": "Quarterly Review",
        "start": EVENT["start"],
    }
    assert apply_select(EVENT, ["*"]) == EVENT
    assert apply_select({"id": "1", "x": 1}, ["x"], always=()) == {"x": 1}


def test_parse_select_rejects_bad_terms() -> None:
    """Empty terms and non-identifiers are rejected with Graph's select/expand message."""
    for bad in ["", "subject,", "start/dateTime", "sub ject", "a;b"]:
        with pytest.raises(ODataError) as info:
            parse_select(bad)
        assert info.value.message.startswith("Parsing OData Select and Expand failed")


def test_parse_expand_single_and_or() -> None:
    """$expand with one id, several ids joined by or, or no filter at all."""
    assert parse_expand(f"singleValueExtendedProperties($filter=id eq '{FUN_ID}')") == ExpandExtendedProps(
        (FUN_ID,)
    )
    text = f"singleValueExtendedProperties($filter=(id eq '{FUN_ID}') or Id eq 'String 0x4001001E')"
    assert parse_expand(text) == ExpandExtendedProps((FUN_ID, "String 0x4001001E"))
    assert parse_expand("singleValueExtendedProperties") == ExpandExtendedProps(None)
    assert parse_expand("") is None


@pytest.mark.parametrize(
    "text",
    [
        "attachments",
        "multiValueExtendedProperties($filter=id eq 'x')",
        "singleValueExtendedProperties($select=id)",
        "singleValueExtendedProperties($filter=id eq 'x' and id eq 'y')",
        "singleValueExtendedProperties($filter=id eq 'x'),attachments",
        "singleValueExtendedProperties($filter=value eq 'x')",
        "singleValueExtendedProperties($filter=id eq 'unterminated)",
        "singleValueExtendedProperties()",
    ],
)
def test_parse_expand_rejects_unsupported(text: str) -> None:
    """Other navigations and other nested options raise ODataError."""
    with pytest.raises(ODataError) as info:
        parse_expand(text)
    assert info.value.option == "$expand"


FILTER_ALPHABET = st.sampled_from(
    [" ", "(", ")", ",", ":", "'", "''", "eq", "ne", "gt", "and", "or", "not", "any", "/", "ep", "ep/id",
     "subject", "startswith", "cast", "Edm.Int32", "12", "-1.5e3", "2017-01-01T00:00:00Z", "true", "null",
     "singleValueExtendedProperties/any", "in", "x", "$it", "\x00", "é"]
)  # fmt: skip


@settings(max_examples=300)
@given(st.text(max_size=200))
def test_parse_filter_only_raises_odata_error_on_arbitrary_text(text: str) -> None:
    """Arbitrary text either compiles or raises ODataError, never anything else."""
    try:
        predicate = parse_filter(text)
    except ODataError:
        return
    assert predicate(EVENT, {FUN_ID: "Food"}) in (True, False)


@settings(max_examples=500)
@given(st.lists(FILTER_ALPHABET, max_size=40).map(" ".join))
def test_parse_filter_only_raises_odata_error_on_token_soup(text: str) -> None:
    """Token-shaped garbage compiles to a non-raising predicate or raises ODataError."""
    try:
        predicate = parse_filter(text)
    except ODataError:
        return
    assert predicate(EVENT, {FUN_ID: "Food"}) in (True, False)
    assert predicate({"subject": {"nested": [1]}, "ep": 3}, {}) in (True, False)


@given(st.text(max_size=60))
def test_subject_eq_escaped_value_matches_and_not_inverts(value: str) -> None:
    """For any string v, subject eq '<v escaped>' matches subject v, and not (...) inverts it."""
    escaped = value.replace("'", "''")
    expr = f"subject eq '{escaped}'"
    item = {"subject": value}
    assert matches(expr, item)
    assert not matches(f"not ({expr})", item)
    other = {"subject": value + "#"}
    assert matches(f"not ({expr})", other) is not matches(expr, other)


@given(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40))
def test_subject_eq_is_case_insensitive_for_ascii(value: str) -> None:
    """Swapping the case of an ASCII subject does not change whether eq matches."""
    expr = "subject eq '{}'".format(value.replace("'", "''"))
    assert matches(expr, {"subject": value.swapcase()})
