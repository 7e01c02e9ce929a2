"""Check Graph JSON against the CSDL extract `graph/calendar-event-schema.v1.0.json` (graph-facts §2.1).

`assert_valid("event", obj)` fails on any property the entity type (with its base types) does not declare,
except `@odata.*` annotations and `name@odata.*` property annotations; on null where the schema says
Nullable=false; and on a value of the wrong Edm type, enum member or complex shape, checked recursively
through complex types, `Collection(...)` and navigation properties. The schema marks `event` as an open type;
graphemu must not rely on that, so openness is ignored on purpose.
"""

from __future__ import annotations

import functools
import json
import os
import re
from pathlib import Path
from typing import Any

_NAME = "calendar-event-schema.v1.0.json"
_REPO = Path(__file__).resolve().parents[2]
_CANDIDATES = [
    Path(os.environ["GRAPH_SCHEMA"]) if os.environ.get("GRAPH_SCHEMA") else None,
    _REPO / "graph" / _NAME,
    _REPO / "shared" / "graph" / _NAME,
    _REPO.parent / "shared" / "graph" / _NAME,
    Path("/work/shared/graph") / _NAME,
]
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,7})?)?(Z|[+-]\d{2}:\d{2})")
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_TIME = re.compile(r"\d{2}:\d{2}(:\d{2}(\.\d{1,7})?)?")
_DURATION = re.compile(r"-?P(\d+D)?(T(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?")


@functools.cache
def schema() -> dict[str, Any]:
    """The schema document; GRAPH_SCHEMA may point at it explicitly."""
    for path in _CANDIDATES:
        if path is not None and path.is_file():
            return dict(json.loads(path.read_text(encoding="utf-8")))
    raise FileNotFoundError(
        f"{_NAME} not found; set GRAPH_SCHEMA (looked in {[str(p) for p in _CANDIDATES if p]})"
    )


def _short(type_name: str) -> str:
    return type_name.removeprefix("graph.").removeprefix("microsoft.graph.")


def _members(kind: str, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(properties, navigation properties) of an entity or complex type, base types included."""
    table = schema()[kind]
    props: dict[str, Any] = {}
    navs: dict[str, Any] = {}
    current: str | None = name
    while current is not None:
        if current not in table:
            raise AssertionError(f"unknown {kind[:-1]} {current!r}")
        definition = table[current]
        props.update(definition.get("properties", {}))
        navs.update(definition.get("navigationProperties", {}))
        base = definition.get("baseType")
        current = _short(base) if base else None
    return props, navs


def _fail(path: str, message: str) -> AssertionError:
    return AssertionError(f"{path}: {message}")


def _check_primitive(edm: str, value: Any, path: str) -> None:
    ok: bool
    if edm == "Edm.String":
        ok = isinstance(value, str)
    elif edm == "Edm.Boolean":
        ok = isinstance(value, bool)
    elif edm in ("Edm.Int32", "Edm.Int16", "Edm.Byte", "Edm.SByte", "Edm.Int64"):
        bits = {"Edm.Int32": 31, "Edm.Int16": 15, "Edm.Byte": 8, "Edm.SByte": 7, "Edm.Int64": 63}[edm]
        low = 0 if edm == "Edm.Byte" else -(2**bits)
        ok = isinstance(value, int) and not isinstance(value, bool) and low <= value < 2**bits
    elif edm in ("Edm.Double", "Edm.Single", "Edm.Decimal"):
        ok = (isinstance(value, int | float) and not isinstance(value, bool)) or value in (
            "NaN",
            "INF",
            "-INF",
        )
    elif edm == "Edm.DateTimeOffset":
        ok = isinstance(value, str) and bool(_DATETIME.fullmatch(value))
    elif edm == "Edm.Date":
        ok = isinstance(value, str) and bool(_DATE.fullmatch(value))
    elif edm == "Edm.Guid":
        ok = isinstance(value, str) and bool(_GUID.fullmatch(value))
    elif edm == "Edm.TimeOfDay":
        ok = isinstance(value, str) and bool(_TIME.fullmatch(value))
    elif edm == "Edm.Duration":
        ok = isinstance(value, str) and bool(_DURATION.fullmatch(value))
    elif edm == "Edm.Binary":
        ok = isinstance(value, str)
    else:
        raise _fail(path, f"unsupported primitive type {edm}")
    if not ok:
        raise _fail(path, f"{value!r} is not a valid {edm}")


def _check_value(type_name: str, value: Any, path: str, *, nullable: bool) -> None:
    if value is None:
        if not nullable:
            raise _fail(path, f"null is not allowed for non-nullable {type_name}")
        return
    if type_name.startswith("Collection(") and type_name.endswith(")"):
        if not isinstance(value, list):
            raise _fail(path, f"expected a JSON array for {type_name}, got {type(value).__name__}")
        for i, item in enumerate(value):
            _check_value(type_name[11:-1], item, f"{path}[{i}]", nullable=False)
        return
    if type_name.startswith("Edm."):
        _check_primitive(type_name, value, path)
        return
    name = _short(type_name)
    doc = schema()
    if name in doc["enumTypes"]:
        enum = doc["enumTypes"][name]
        parts = value.split(",") if isinstance(value, str) and enum.get("isFlags") else [value]
        for part in parts:
            if not isinstance(part, str) or part.strip() not in enum["members"]:
                raise _fail(path, f"{value!r} is not a member of {name} {enum['members']}")
        return
    kind = "complexTypes" if name in doc["complexTypes"] else "entityTypes"
    _check_object(kind, name, value, path)


def _check_object(kind: str, name: str, obj: Any, path: str) -> None:
    if not isinstance(obj, dict):
        raise _fail(path, f"expected a JSON object for {name}, got {type(obj).__name__}")
    props, navs = _members(kind, name)
    for key, value in obj.items():
        where = f"{path}.{key}"
        if key.startswith("@odata.") or "@odata." in key:
            continue
        if key in props:
            _check_value(props[key]["type"], value, where, nullable=props[key].get("nullable", True))
        elif key in navs:
            _check_value(navs[key]["type"], value, where, nullable=True)
        else:
            raise _fail(where, f"{key!r} is not a property of {name}")


def assert_valid(entity_type: str, obj: dict[str, Any]) -> None:
    """Fail unless `obj` is a valid instance of the named entity or complex type ("event", "calendar")."""
    name = _short(entity_type)
    kind = "complexTypes" if name in schema()["complexTypes"] else "entityTypes"
    _check_object(kind, name, obj, name)


_CONTEXT_TYPES = {"events": "event", "calendarview": "event", "instances": "event", "calendars": "calendar",
                  "calendar": "calendar"}  # fmt: skip


def _context_type(context: str) -> str | None:
    """The entity type an @odata.context names by its last segment: ".../events(subject)/$entity" -> event."""
    fragment = context.partition("#")[2].removesuffix("/$entity")
    last = fragment.rsplit("/", 1)[-1].split("(", 1)[0].lower()
    return _CONTEXT_TYPES.get(last)


async def check_response(response: Any) -> None:
    """An httpx response hook: validate every event or calendar in a successful Graph JSON response."""
    if response.status_code >= 300 or "json" not in response.headers.get("content-type", ""):
        return
    await response.aread()
    body = response.json()
    kind = _context_type(str(body.get("@odata.context", ""))) if isinstance(body, dict) else None
    if kind is None:
        return
    for item in body["value"] if isinstance(body.get("value"), list) else [body]:
        assert_valid(kind, item)
