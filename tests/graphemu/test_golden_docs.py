"""Golden cases from Microsoft's Graph docs replayed against graphemu (issue 2, "How we know it is faithful").

Each file in tests/graphemu/golden/ holds one request/response example of
microsoftgraph/microsoft-graph-docs-contrib (code samples, MIT licence; `source` names file, commit and
example), reduced to what the test needs. `/me` is mapped onto the seeded user Adele (app token).

A case is `{"source", "clock"?, "token"?, "setup"?: [step], "request": step, "expect": expect, "after"?:
[step]}`; `token` `{"user", "scopes"}` replays the case with a delegated token (APIs without application
permissions, such as findMeetingTimes) instead of the app token.
A step is `{"method", "path" (relative to /v1.0), "headers"?, "body"?, "status"?, "save"?: {var: pointer},
"expect"?}`.
`expect` compares the response (JSON pointers, RFC 6901):

- `status`, and `headers` (exact values);
- `body`: the doc's response. Every key it has must be in the answer with the same JSON type, recursively
  (null only matches null); a list must be as long as the doc's (at least as long when `truncated`, as the
  doc annotates most samples; a case may compare more strictly) and items compare pairwise. Without
  `truncated`, objects may not have other keys (OData annotations aside);
- `exact`: pointers whose doc value must be equal; `values`: pointer -> the value the request determines
  (used where the doc's value is inconsistent with its own request); `patterns`: pointer -> regex;
  `lengths`: pointer -> list length; `absent`: pointers that must not exist; `contains`: pointer -> items
  that must each be in that list (an object matches an item having all its members); `unordered`:
  pointer -> key pointer to sort both lists by first;
- `ignore`: `[{"path", "reason"}]`, where graphemu deliberately differs or the doc is inconsistent: the
  shape comparison skips that path (and below); `values` and `patterns` there still apply.

`{name}` in strings is replaced by a variable (user_id, upn, tenant_id, client_id, group ids, values saved
by setup steps); other braces (extended property ids) are left alone.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from graphemu.testing import EmulatorTransport
from graphemu.world import World
from tests.graphemu.conftest import CLIENT, TENANT, mint

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(GOLDEN.glob("*.json"))
_VAR = re.compile(r"\{([A-Za-z_]\w*)\}")
_TYPES = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}


def _type(value: Any) -> str:
    return "null" if value is None else _TYPES[type(value)]


def fill(value: Any, names: dict[str, str], *, regex: bool = False) -> Any:
    """`value` with `{name}` replaced in every string (regex-escaped for patterns)."""
    if isinstance(value, str):
        return _VAR.sub(
            lambda m: (re.escape(names[m[1]]) if regex else names[m[1]]) if m[1] in names else m[0], value
        )
    if isinstance(value, list):
        return [fill(v, names, regex=regex) for v in value]
    if isinstance(value, dict):
        return {fill(k, names): fill(v, names, regex=regex) for k, v in value.items()}
    return value


def pointer(doc: Any, path: str) -> Any:
    """The value at a JSON pointer; KeyError when it does not exist."""
    for raw in path.split("/")[1:] if path else []:
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(doc, list):
            if not token.isdigit() or int(token) >= len(doc):
                raise KeyError(path)
            doc = doc[int(token)]
        elif isinstance(doc, dict) and token in doc:
            doc = doc[token]
        else:
            raise KeyError(path)
    return doc


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def shape(expected: Any, actual: Any, path: str, truncated: bool, ignored: set[str]) -> list[str]:
    """Differences in keys and JSON types between the doc's response and graphemu's."""
    if path in ignored:
        return []
    if _type(expected) != _type(actual):
        return [f"{path or '/'}: doc has {_type(expected)}, graphemu {_type(actual)} ({actual!r:.80})"]
    problems: list[str] = []
    if isinstance(expected, dict):
        for key, value in expected.items():
            where = f"{path}/{_escape(key)}"
            if where in ignored:
                continue
            if key not in actual:
                problems.append(f"{where}: missing")
            else:
                problems += shape(value, actual[key], where, truncated, ignored)
        if not truncated:
            extra = {k for k in actual if "@odata." not in k and f"{path}/{_escape(k)}" not in ignored}
            problems += [
                f"{path}/{k}: not in the doc's complete response" for k in sorted(extra - set(expected))
            ]
    elif isinstance(expected, list):
        if len(actual) < len(expected) or (not truncated and len(actual) != len(expected)):
            problems.append(f"{path}: {len(actual)} items, the doc has {len(expected)}")
        for i, (item, got) in enumerate(zip(expected, actual, strict=False)):
            problems += shape(item, got, f"{path}/{i}", truncated, ignored)
    return problems


def check(case: dict[str, Any], response: httpx.Response, names: dict[str, str]) -> list[str]:
    """Every difference between a response and the case's expectations (empty when it passes)."""
    expect = case["expect"]
    problems: list[str] = []
    if response.status_code != expect["status"]:
        return [f"status {response.status_code}, expected {expect['status']}: {response.text[:400]}"]
    for name, value in fill(expect.get("headers", {}), names).items():
        if response.headers.get(name) != value:
            problems.append(f"header {name}: {response.headers.get(name)!r}, expected {value!r}")
    if "body" not in expect:
        return problems
    actual, doc = response.json(), fill(expect["body"], names)
    ignored = {item["path"] for item in expect.get("ignore", [])}
    for list_path, key in expect.get("unordered", {}).items():
        for side in (actual, doc):
            pointer(side, list_path).sort(key=lambda item, k=key: json.dumps(pointer(item, k)))
    problems += shape(doc, actual, "", expect.get("truncated", False), ignored)
    wanted = {p: pointer(doc, p) for p in expect.get("exact", [])} | fill(expect.get("values", {}), names)
    for path, value in wanted.items():
        got = _get(actual, path)
        if got != value:
            problems.append(f"{path}: {got!r}, expected {value!r}")
    for path, regex in fill(expect.get("patterns", {}), names, regex=True).items():
        got = _get(actual, path)
        if not isinstance(got, str) or not re.fullmatch(regex, got):
            problems.append(f"{path}: {got!r} does not match {regex!r}")
    for path, length in expect.get("lengths", {}).items():
        got = _get(actual, path)
        if not isinstance(got, list) or len(got) != length:
            problems.append(f"{path}: expected {length} items, got {got!r:.200}")
    problems += [
        f"{p}: present, expected absent" for p in expect.get("absent", []) if _get(actual, p) != _NONE
    ]
    for path, items in fill(expect.get("contains", {}), names).items():
        got = _get(actual, path)
        problems += [f"{path}: lacks {item!r}" for item in items if not _has(got, item)]
    return problems


_NONE = "<absent>"


def _has(items: Any, wanted: Any) -> bool:
    """Whether a list holds `wanted`, or for an object, an item with all of `wanted`'s members."""
    if not isinstance(items, list):
        return False
    if not isinstance(wanted, dict):
        return wanted in items
    return any(isinstance(i, dict) and all(i.get(k, _NONE) == v for k, v in wanted.items()) for i in items)


def _get(doc: Any, path: str) -> Any:
    try:
        return pointer(doc, path)
    except KeyError:
        return _NONE


def _echo_validation() -> httpx.ASGITransport:
    """A webhook receiver that answers Graph's validation handshake and accepts notifications."""

    async def endpoint(request: Request) -> Response:
        token = request.query_params.get("validationToken")
        return PlainTextResponse(token) if token is not None else Response(status_code=202)

    return httpx.ASGITransport(app=Starlette(routes=[Route("/{path:path}", endpoint, methods=["POST"])]))


def variables(world: World) -> dict[str, str]:
    """Names a case may use: Adele (the /me of the docs), every user and group by name, tenant and app."""
    adele = world.find_user("adele@contoso.onmicrosoft.com")
    assert adele is not None
    names = {"user_id": adele.id, "upn": adele.user_principal_name, "tenant_id": TENANT, "client_id": CLIENT}
    for user in world.users.values():
        names[f"user_{user.user_principal_name.split('@')[0]}"] = user.id
    for group in world.groups.values():
        names[f"group_{group.display_name.lower().replace(' ', '_')}"] = group.id
    return names


async def send(client: httpx.AsyncClient, step: dict[str, Any], names: dict[str, str]) -> httpx.Response:
    """One step's request, variables filled in."""
    step = fill(step, names)
    kwargs: dict[str, Any] = {"headers": step.get("headers", {})}
    if "body" in step:
        kwargs["json"] = step["body"]
    return await client.request(step["method"], step["path"], **kwargs)


async def run_steps(client: httpx.AsyncClient, steps: list[dict[str, Any]], names: dict[str, str]) -> None:
    """Setup or follow-up steps: status and `expect` checked, `save`d values added to `names`."""
    for step in steps:
        response = await send(client, step, names)
        assert response.status_code == step.get("status", response.status_code), (step, response.text)
        if "expect" in step:
            problems = check(step, response, names)
            assert not problems, "\n".join([f"{step['method']} {step['path']}", *problems])
        for name, path in step.get("save", {}).items():
            names[name] = str(pointer(response.json(), path))


def _case_id(path: Path) -> str:
    return path.stem


def test_there_are_at_least_twenty_golden_cases() -> None:
    """Issue 2 asks for at least 20 cases taken from Microsoft's docs, each citing its source."""
    assert len(CASES) >= 20
    for path in CASES:
        source = json.loads(path.read_text(encoding="utf-8"))["source"]
        assert source["repo"] == "microsoftgraph/microsoft-graph-docs-contrib", path.name
        assert re.fullmatch(r"[0-9a-f]{40}", source["commit"]), path.name
        assert source["file"].endswith(".md"), path.name


def test_every_ignore_has_a_reason() -> None:
    """A deliberate difference is never silent: each ignored field says why."""
    for path in CASES:
        case = json.loads(path.read_text(encoding="utf-8"))
        steps = [case, *case.get("after", [])]
        for item in (i for step in steps for i in step.get("expect", {}).get("ignore", [])):
            assert item["path"].startswith("/"), (path.name, item)
            assert len(item["reason"]) > 20, (path.name, item)


def test_the_checker_reports_every_kind_of_difference() -> None:
    """The comparison is not vacuous: types, keys, lengths, values, patterns, absence and membership count."""
    case = {"expect": {"status": 200, "body": {"a": 1, "b": {"c": "x"}, "l": [1, 2], "n": None},
                       "exact": ["/a"], "values": {"/b/c": "{who}"}, "patterns": {"/b/c": "z+"},
                       "lengths": {"/l": 3}, "absent": ["/a"], "contains": {"/l": [5]}}}  # fmt: skip
    response = httpx.Response(200, json={"a": 2, "b": {"c": "x", "d": 1}, "l": [1, "2"], "n": 0})
    problems = "\n".join(check(case, response, {"who": "y"}))
    for expected in ("/l/1: doc has number, graphemu string", "/b/d: not in the doc", "/n: doc has null",
                     "/a: 2, expected 1", "/b/c: 'x', expected 'y'", "does not match 'z+'",
                     "/l: expected 3 items", "/a: present, expected absent", "/l: lacks 5"):  # fmt: skip
        assert expected in problems
    assert check({"expect": {"status": 201}}, response, {})[0].startswith("status 200, expected 201")
    assert check(case | {"expect": case["expect"] | {"truncated": True}}, response, {"who": "x"}) != []


@pytest.mark.parametrize("path", CASES, ids=_case_id)
async def test_golden_case(app: Any, path: Path) -> None:
    """graphemu answers a documented request as the doc's response shows (see the case's ignore reasons)."""
    case = json.loads(path.read_text(encoding="utf-8"))
    world: World = app.state.world
    if "clock" in case:
        target = datetime.fromisoformat(case["clock"].replace("Z", "+00:00"))
        world.clock.advance((target - world.clock.now()).total_seconds())
    world.extra["notification_transport"] = _echo_validation()
    names = variables(world)
    async with httpx.AsyncClient(
        transport=EmulatorTransport(app),
        base_url="https://graph.microsoft.com/v1.0",
        headers={"Authorization": f"Bearer {mint(app, **case.get('token', {}))}"},
    ) as client:
        await run_steps(client, case.get("setup", []), names)
        response = await send(client, case["request"], names)
        problems = check(case, response, names)
        assert not problems, "\n".join([path.name, *problems])
        await run_steps(client, case.get("after", []), names)
