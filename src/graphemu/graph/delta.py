"""calendarView/delta: rounds of change tracking over one calendar and time window (graph-facts §5).

A round starts with startDateTime/endDateTime (or a saved deltaLink); every page but the last carries an
@odata.nextLink `.../delta?$skiptoken=`, the last an @odata.deltaLink `.../delta?$deltatoken=`. Follow-ups
accept only those tokens. Items are calendarView instances with "@odata.type": "#microsoft.graph.event";
removals are `{"@odata.type", "id", "@removed": {"reason": "deleted"}}`, also sent (switchable) for events
outside the window that were added, updated or deleted, as event-delta.md warns. v1.0 has no /events/delta:
it answers 400 "Unsupported request: Change tracking is not supported against 'microsoft.graph.event'."
(msgraph-metadata#608). Responses carry Preference-Applied: odata.track-changes (docs-contrib#7790),
@odata.context `$metadata#Collection(event)` (same), and tokens look like Graph's: `<base64url>.<base64url>`.

How: tokens are stateless: zlib-compressed JSON (owner, calendar, window, change sequence numbers, epoch,
position) with an HMAC-SHA256 under a per-world secret (world.extra["delta_secret"]), so none can be forged.
The first round pages through the current view with a (start, id) cursor, so changes during the round
can repeat an item but never skip one; its deltaLink holds the sequence number the round began at. A later
round reads the mailbox's change log after that number (a bisect, then O(changes)) and compares each
changed event's shape then and now; shapes are kept by a World listener from the first delta request for a
mailbox on. An invalidation (POST /_emu/delta/invalidate bumps
world.extra["delta_epoch"]) makes older tokens answer `delta_invalid_token_status` (default 410) with code
SyncStateNotFound and the message observed in docs-contrib#7897.

CHOICE: the default page size is config.default_page_size (10, the Outlook default); Prefer
  odata.maxpagesize is honoured up to config.max_page_size. The docs give no default for delta.
CHOICE: $select on the first call is accepted and ignored (the docs: delta returns the calendarView
  properties and "you cannot use $select"; msgraph-sdk-dotnet#2678 sent it without error). $expand is 400
  BadRequest with the text seen in that issue; $filter, $orderby, $search, $top, $skip and $count are 400
  BadRequest; any other parameter next to a token is 400 too.
CHOICE: a token that fails its signature, belongs to another mailbox or calendar, or is sent as the wrong
  kind is 400 ErrorInvalidSyncStateData "Sync state data is corrupted or otherwise invalid." (Exchange's
  wording for a bad sync state; Graph's is not documented).
CHOICE: an invalidated token answers without a Location header (none in the observed 410).
CHOICE: /events/delta answers with code BadRequest (the observed report gives only the message); the
  out-of-window noise carries the event's own id (the series master's for a series).
CHOICE: within a page, a changed event's current instances come first (by start), then removals of its
  instances that left the window or were cancelled; events are ordered by their latest change.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import secrets
import zlib
from bisect import bisect_right
from collections import OrderedDict
from datetime import datetime
from hashlib import sha256
from typing import Any

from graphemu.errors import GraphError, bad_request
from graphemu.graph import eventmodel
from graphemu.graph.calendars import find_calendar
from graphemu.graph.calendarview import Instance, Shape, Window, instances_of, parse_window, shape_of, view
from graphemu.graph.router import Context, GraphRequest, GraphResponse
from graphemu.world import Change, Event, User, World

EVENT_TYPE = "#microsoft.graph.event"
_INVALID = "Sync state data is corrupted or otherwise invalid."
_UNSUPPORTED = ("$filter", "$orderby", "$search", "$top", "$skip", "$count")
_ROUND_CACHE = 64
_EXPAND = "Parsing OData Select and Expand failed: Value cannot be null. (Parameter 'initialState')"


class _Versions:
    """Each tracked mailbox's event shapes over time: event id -> [(seq, shape or None if deleted)]."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.history: dict[str, dict[str, list[tuple[int, Shape | None]]]] = {}
        self.since: dict[str, int] = {}

    def track(self, owner_id: str) -> None:
        """Start keeping shapes for a mailbox: a snapshot now, then every change through the listener."""
        if owner_id in self.history:
            return
        seq = last_seq(self.world, owner_id)
        events = self.world.events.get(owner_id, {})
        self.history[owner_id] = {e.id: [(seq, shape_of(e))] for e in events.values()}
        self.since[owner_id] = seq

    def on_change(self, change: Change) -> None:
        history = self.history.get(change.owner_id)
        if history is None:
            return
        event = self.world.events.get(change.owner_id, {}).get(change.event_id)
        if (
            event is None
            and change.event_id not in history
            and eventmodel.parse_occurrence_id(change.event_id)
        ):
            return  # an occurrence's own log entry; its master's entry carries the shape
        history.setdefault(change.event_id, []).append((change.seq, shape_of(event) if event else None))

    def at(self, owner_id: str, event_id: str, seq: int) -> Shape | None:
        versions = self.history[owner_id].get(event_id, [])
        index = bisect_right(versions, seq, key=lambda v: v[0])
        return versions[index - 1][1] if index else None


def _versions(world: World) -> _Versions:
    versions = world.extra.get("delta_versions")
    if not isinstance(versions, _Versions):
        versions = world.extra["delta_versions"] = _Versions(world)
        world.listeners.append(versions.on_change)
    return versions


def last_seq(world: World, owner_id: str) -> int:
    log = world.changes.get(owner_id)
    return log[-1].seq if log else 0


def _epoch(world: World, owner_id: str) -> list[int]:
    epochs: dict[str, int] = world.extra.get("delta_epoch", {})
    return [epochs.get(owner_id, 0), epochs.get("*", 0)]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _secret(world: World) -> bytes:
    # Kept as hex so that snapshots (plain JSON) keep saved delta links valid across restarts.
    return bytes.fromhex(world.extra.setdefault("delta_secret", secrets.token_hex(32)))


def encode_token(world: World, state: dict[str, Any]) -> str:
    raw = zlib.compress(json.dumps(state, separators=(",", ":"), sort_keys=True).encode())
    return _b64(raw) + "." + _b64(hmac.new(_secret(world), raw, sha256).digest())


def decode_token(world: World, token: str) -> dict[str, Any] | None:
    """The state in a token, or None when it is malformed or its signature does not match."""
    body, _, mac = token.partition(".")
    try:
        raw, signature = _unb64(body), _unb64(mac)
        if not hmac.compare_digest(hmac.new(_secret(world), raw, sha256).digest(), signature):
            return None
        state = json.loads(zlib.decompress(raw))
    except (ValueError, binascii.Error, zlib.error):
        return None
    return state if isinstance(state, dict) else None


def _removed(item_id: str) -> dict[str, Any]:
    return {"@odata.type": EVENT_TYPE, "id": item_id, "@removed": {"reason": "deleted"}}


def _render(
    ctx: Context, req: GraphRequest, events: dict[str, Event], item: Instance | str
) -> dict[str, Any]:
    """An instance as it is now, or a removal if it no longer exists (the next round reports it again)."""
    if isinstance(item, str):
        return _removed(item)
    event = events.get(item.event_id)
    if event is None or (item.original is None) != (event.props.get("recurrence") is None):
        return _removed(item.id)
    if item.original is not None and eventmodel.occurrence_key(item.original) in event.cancelled:
        return _removed(item.id)
    return {
        "@odata.type": EVENT_TYPE,
        **eventmodel.event_json(ctx, event, req, occurrence_start=item.original),
    }


def _round(ctx: Context, state: dict[str, Any], window: Window) -> list[Instance | str]:
    """A later round's items, cached: they depend only on the token (shapes are history), so paging through
    a large round costs its computation once."""
    noise = ctx.config.delta_out_of_window_removed_noise
    key = (state["o"], state["c"], window, state["q"], state["n"], noise)
    cache: OrderedDict[tuple[Any, ...], list[Instance | str]]
    cache = ctx.world.extra.setdefault("delta_round_cache", OrderedDict())
    if key in cache:
        cache.move_to_end(key)
        return cache[key]
    items = cache[key] = _changes(ctx, state, window, noise)
    if len(cache) > _ROUND_CACHE:
        cache.popitem(last=False)
    return items


def _changes(ctx: Context, state: dict[str, Any], window: Window, noise: bool) -> list[Instance | str]:
    """What a later round reports: per event changed in (q, n], its instances now and those that left."""
    world, owner, calendar = ctx.world, state["o"], state["c"]
    versions = _versions(world)
    history = versions.history[owner]
    log = world.changes.get(owner, [])
    low = bisect_right(log, state["q"], key=lambda c: c.seq)
    high = bisect_right(log, state["n"], key=lambda c: c.seq)
    changed: dict[str, None] = {}
    for change in log[low:high]:
        event_id = change.event_id
        if event_id not in history:
            parsed = eventmodel.parse_occurrence_id(event_id)
            event_id = parsed[0] if parsed else event_id
        changed.pop(event_id, None)
        changed[event_id] = None
    items: list[Instance | str] = []
    for event_id in changed:
        before, after = versions.at(owner, event_id, state["q"]), versions.at(owner, event_id, state["n"])
        was_here = before is not None and before.calendar_id == calendar
        is_here = after is not None and after.calendar_id == calendar
        if not (was_here or is_here):
            continue
        now = (
            sorted(instances_of(after, event_id, window), key=Instance.sort_key) if is_here and after else []
        )
        then = instances_of(before, event_id, window) if was_here and before else []
        items.extend(now)
        kept = {i.id for i in now}
        items.extend(i.id for i in sorted(then, key=Instance.sort_key) if i.id not in kept)
        if not now and not then and noise:
            items.append(event_id)
    return items


def _sync_state_not_found(ctx: Context, state: dict[str, Any], owner_id: str) -> GraphError:
    status = ctx.config.delta_invalid_token_status
    highest = last_seq(ctx.world, owner_id)
    message = (
        f"The sync state generation is not found; generation={state['n']};[highest={highest}][{highest}]."
    )
    return GraphError(status, "SyncStateNotFound", message)


def _follow_up(ctx: Context, req: GraphRequest, mailbox: User, calendar_id: str) -> dict[str, Any]:
    """The state a $skiptoken/$deltatoken request continues from; 400/410 as the module docstring says."""
    names = {k.lower() for k in req.query}
    if names - {"$skiptoken", "$deltatoken"} or len(names) != 1:
        extra = sorted(names - {"$skiptoken", "$deltatoken"}) or ["$skiptoken"]
        raise bad_request(f"The query parameter '{extra[0]}' is not supported with a state token.")
    kind = "d" if "$deltatoken" in names else "s"
    state = decode_token(ctx.world, req.param("$deltatoken" if kind == "d" else "$skiptoken") or "")
    if (
        state is None
        or (state.get("m") == "d") != (kind == "d")
        or state.get("o") != mailbox.id
        or state.get("c") != calendar_id
    ):
        raise GraphError(400, "ErrorInvalidSyncStateData", _INVALID)
    versions = _versions(ctx.world)
    versions.track(mailbox.id)
    if (
        state["x"] != _epoch(ctx.world, mailbox.id)
        or min(state["n"], state.get("q", state["n"])) < (versions.since[mailbox.id])
    ):
        raise _sync_state_not_found(ctx, state, mailbox.id)
    if kind == "d":  # a new round: everything after the previous round's snapshot
        state = {**state, "m": "i", "q": state["n"], "n": last_seq(ctx.world, mailbox.id), "k": 0}
    return state


def _first_call(ctx: Context, req: GraphRequest, mailbox: User, calendar_id: str) -> dict[str, Any]:
    for name in req.query:
        if name.lower() == "$expand":
            raise bad_request(_EXPAND)
        if name.lower() in _UNSUPPORTED:
            raise bad_request(
                f"The query parameter '{name}' is not supported with change tracking over the 'CalendarView' "
                "resource."
            )
    window = parse_window(req)
    _versions(ctx.world).track(mailbox.id)
    return {
        "m": "f",
        "o": mailbox.id,
        "c": calendar_id,
        "s": window.start.isoformat(),
        "e": window.end.isoformat(),
        "n": last_seq(ctx.world, mailbox.id),
        "x": _epoch(ctx.world, mailbox.id),
        "a": None,
    }


def calendar_view_delta(
    ctx: Context, req: GraphRequest, mailbox: User, calendar: str | None
) -> GraphResponse:
    """GET .../calendarView/delta: one page of a round."""
    calendar_id = find_calendar(ctx, mailbox, calendar).id
    if req.param("$skiptoken") is not None or req.param("$deltatoken") is not None:
        state = _follow_up(ctx, req, mailbox, calendar_id)
    else:
        state = _first_call(ctx, req, mailbox, calendar_id)
    window = Window(datetime.fromisoformat(state["s"]), datetime.fromisoformat(state["e"]))
    size, applied = ctx.config.default_page_size, ["odata.track-changes"]
    wanted = req.prefer().get("odata.maxpagesize", "").strip()
    if wanted.isdigit() and int(wanted) > 0:
        size = min(int(wanted), ctx.config.max_page_size)
        applied.append(f"odata.maxpagesize={size}")
    page: list[Instance | str]
    if state["m"] == "f":  # the first round: the current view, after the cursor
        current = view(ctx, mailbox.id, calendar_id, window)
        start = 0
        if state["a"] is not None:
            cursor = (datetime.fromisoformat(state["a"][0]), state["a"][1])
            start = bisect_right(current, cursor, key=Instance.sort_key)
        page = list(current[start : start + size])
        more = start + size < len(current)
        if more:
            state = {
                **state,
                "a": [current[start + size - 1].start.isoformat(), current[start + size - 1].id],
            }
    else:
        changes = _round(ctx, state, window)
        page = changes[state["k"] : state["k"] + size]
        more = state["k"] + size < len(changes)
        state = {**state, "k": state["k"] + size}
    events = ctx.world.events.get(mailbox.id, {})
    body: dict[str, Any] = {"@odata.context": ctx.context_url("Collection(event)")}
    if more:
        body["@odata.nextLink"] = ctx.url(req.path, {"$skiptoken": encode_token(ctx.world, state)})
    else:
        link = {"m": "d", "o": state["o"], "c": state["c"], "s": state["s"], "e": state["e"], "n": state["n"],
                "x": state["x"]}  # fmt: skip
        body["@odata.deltaLink"] = ctx.url(req.path, {"$deltatoken": encode_token(ctx.world, link)})
    body["value"] = [_render(ctx, req, events, item) for item in page]
    zone = eventmodel.prefer_headers(req).get("Preference-Applied")
    return GraphResponse(200, body, {"Preference-Applied": ", ".join([*applied, *([zone] if zone else [])])})


def events_delta(ctx: Context, req: GraphRequest, mailbox: User) -> GraphResponse:
    """GET .../events/delta: beta only; v1.0 refuses it."""
    raise bad_request(
        "Unsupported request: Change tracking is not supported against 'microsoft.graph.event'."
    )
