"""GraphCalendarTarget: the sync engine's CalendarTarget over calsync.graph.

Reads list the mailbox's managed events by their tag ($filter on the extended property, with both of
calsync's properties expanded) in pages of up to 1,000. Writes go out as `$batch` calls through the
client, which keeps every mailbox within its limits and honours Retry-After. Creates carry the
deterministic transactionId, so a create whose answer was lost is retried without a second event.

With a named calendar (calsync.adapters.calendars) the calendar is looked up at the start of each run's
read, and created by the first write that needs it; a mailbox without it yet has no managed events.

Graph errors become the port's vocabulary here: whole-mailbox problems (access policy, no mailbox,
unknown user) are a permanent `TargetError`; per-action outcomes are `ActionResult` statuses.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from calsync.adapters.calendars import NamedCalendar
from calsync.adapters.eventmap import DEFAULT_OWNERSHIP, SELECT, Ownership, observe, to_graph
from calsync.adapters.occurrence_edits import edited_series
from calsync.adapters.series_target import finish_series
from calsync.domain import DesiredEvent, SourceKey, Window
from calsync.graph import (
    AuthError,
    BatchItem,
    BatchResult,
    Forbidden,
    GraphClient,
    GraphClientError,
    HTTPStatusError,
    Indeterminate,
    InvalidUser,
    MailboxNotEnabled,
    NotFound,
    extended_property_filter,
)
from calsync.graph.odata import literal, segment, user_path
from calsync.sync.ports import (
    INVALID_USER,
    MAILBOX_NOT_ENABLED,
    ActionResult,
    Create,
    Delete,
    ObservedEvent,
    TargetError,
    Update,
)

PAGE_SIZE = 1000
_JSON = {"Content-Type": "application/json"}
_ANSWER = ("id", "changeKey")  # what a write's answer is read for (`_result`); the rest is dropped


def _target_error(exc: GraphClientError) -> TargetError:
    if isinstance(exc, Forbidden):
        code = "access_denied_by_policy" if exc.access_policy else "access_denied"
        return TargetError(f"Graph refused access to the mailbox: {exc.message}", code=code, permanent=True)
    if isinstance(exc, MailboxNotEnabled):
        return TargetError(
            "the user has no Exchange Online mailbox", code=MAILBOX_NOT_ENABLED, permanent=True
        )
    if isinstance(exc, InvalidUser):
        return TargetError("no such user in the tenant", code=INVALID_USER, permanent=True)
    if isinstance(exc, AuthError):  # e.g. a secret that expired while `calsync serve` runs
        return TargetError(
            f"the app's credential was refused: {exc.hint}", code="auth_refused", permanent=True
        )
    return TargetError(f"the calendar could not be read: {exc}", code="unavailable")


class GraphCalendarTarget:
    """Managed events of each mailbox's calendar: the default one, `calendar_id`, or the profile's own
    `named` calendar (at most one of the two)."""

    def __init__(
        self,
        client: GraphClient,
        *,
        calendar_id: str | None = None,
        owner: Ownership = DEFAULT_OWNERSHIP,
        named: NamedCalendar | None = None,
    ) -> None:
        if calendar_id is not None and named is not None:
            raise ValueError("give calendar_id or a named calendar, not both")
        self.client = client
        self.calendar_id = calendar_id
        self.owner = owner
        self.named = named

    def _events_path(self, mailbox: str, calendar_id: str | None) -> str:
        base = user_path(mailbox)
        return f"{base}/calendars/{segment(calendar_id)}/events" if calendar_id else f"{base}/events"

    async def _list(self, mailbox: str, filter_: str, calendar_id: str | None) -> list[ObservedEvent]:
        found: list[ObservedEvent] = []
        try:
            async for item in self.client.list_events(
                mailbox,
                calendar_id,
                filter=filter_,
                select=SELECT.split(","),
                expand_extended=[self.owner.tag_id, self.owner.state_id],
                page_size=PAGE_SIZE,
            ):
                obs = observe(item, self.owner)
                if obs is not None:
                    found.append(obs)
        except GraphClientError as exc:
            raise _target_error(exc) from exc
        return found

    async def list_managed(self, mailbox: str, window: Window) -> list[ObservedEvent]:
        """Every managed event of the mailbox, also those outside the window: the tag listing reads them
        all anyway, and the planner needs a copy the user moved out of the window to move it back
        instead of creating a second one. A listing that fails part-way raises TargetError."""
        calendar_id = self.calendar_id
        if self.named is not None:
            calendar_id = await self.named.find(mailbox)
            if calendar_id is None:  # not created yet: nothing of ours in the mailbox
                return []
        tag = literal(self.owner.tag_id)
        tagged = f"singleValueExtendedProperties/Any(ep: ep/id eq {tag} and ep/value ne '')"
        return await self._list(mailbox, tagged, calendar_id)

    async def list_versions(self, mailbox: str) -> list[tuple[SourceKey, str, str]]:
        """(source key, remote id, change key) of every managed event: the same listing as `list_managed`
        with only the tag and the changeKey selected, a fraction of the bytes and of the CPU to read it
        (calsync.sync.unchanged compares it with the mappings). Raises TargetError as `list_managed`."""
        calendar_id = self.calendar_id
        if self.named is not None:
            calendar_id = await self.named.find(mailbox)
            if calendar_id is None:
                return []
        tag_id = self.owner.tag_id
        tagged = f"singleValueExtendedProperties/Any(ep: ep/id eq {literal(tag_id)} and ep/value ne '')"
        found: list[tuple[SourceKey, str, str]] = []
        try:
            async for item in self.client.list_events(
                mailbox,
                calendar_id,
                filter=tagged,
                select=["changeKey"],
                expand_extended=[tag_id],
                page_size=PAGE_SIZE,
            ):
                for prop in item.get("singleValueExtendedProperties") or ():
                    if prop.get("id") == tag_id and prop.get("value"):
                        found.append((SourceKey(prop["value"]), item["id"], item.get("changeKey") or ""))
        except GraphClientError as exc:
            raise _target_error(exc) from exc
        return found

    async def find_by_key(self, mailbox: str, source_key: SourceKey) -> list[ObservedEvent]:
        # Graph matches values case-insensitively (graph-facts §3); keys are compared exactly here.
        calendar_id = self.calendar_id
        if self.named is not None:
            calendar_id = self.named.known(mailbox) or await self.named.find(mailbox)
            if calendar_id is None:
                return []
        found = await self._list(
            mailbox, extended_property_filter(self.owner.tag_id, source_key), calendar_id
        )
        return [o for o in found if o.source_key == source_key]

    async def edited_occurrences(
        self, mailbox: str, masters: Sequence[tuple[ObservedEvent, DesiredEvent]], window: Window
    ) -> set[str]:
        """The masters with an occurrence a person changed (calsync.adapters.occurrence_edits): one read
        of each series' instances. Raises TargetError when one cannot be read."""
        if not masters:
            return set()
        try:
            return await edited_series(self.client, mailbox, masters, window)
        except GraphClientError as exc:
            raise _target_error(exc) from exc

    async def apply(self, mailbox: str, actions: Sequence[Create | Update | Delete]) -> list[ActionResult]:
        """Run the writes as $batch calls; one result per action, in order. A create into a named
        calendar the mailbox lacks creates the calendar first (TargetError when that fails)."""
        calendar_id = self.calendar_id
        if self.named is not None and any(isinstance(a, Create) for a in actions):
            calendar_id = await self.named.ensure(mailbox)
        items = [self._item(mailbox, action, calendar_id) for action in actions]
        try:
            results = await self.client.batch(items)
        except GraphClientError as exc:  # the whole batch failed before any answer
            return [_result(a, None, exc) for a in actions]
        done = [_result(a, r, r.error) for a, r in zip(actions, results, strict=True)]
        return await finish_series(self.client, mailbox, self.owner, actions, done)

    def _item(self, mailbox: str, action: Create | Update | Delete, calendar_id: str | None) -> BatchItem:
        if isinstance(action, Create):
            path = self._events_path(mailbox, calendar_id)
            body = to_graph(action.desired, action.content_hash, self.owner)
            body["transactionId"] = action.transaction_id
            return BatchItem("POST", path, body=body, headers=_JSON, keep=_ANSWER)
        event_path = f"{user_path(mailbox)}/events/{segment(action.remote_id)}"
        headers = {"If-Match": f'W/"{action.change_key}"'} if action.change_key else {}
        if isinstance(action, Update):
            body = to_graph(action.desired, action.content_hash, self.owner)
            return BatchItem("PATCH", event_path, body=body, headers={**headers, **_JSON}, keep=_ANSWER)
        return BatchItem("DELETE", event_path, headers=headers or None)


def _result(
    action: Create | Update | Delete, result: BatchResult | None, error: Exception | None
) -> ActionResult:
    if result is not None and error is None:
        body: dict[str, Any] = result.body if isinstance(result.body, dict) else {}
        return ActionResult(action, "ok", body.get("id"), body.get("changeKey"))
    if isinstance(error, Indeterminate):
        return ActionResult(action, "indeterminate", message=str(error), retryable=True)
    if isinstance(error, NotFound) and not isinstance(action, Create):
        return ActionResult(action, "gone")
    if isinstance(error, HTTPStatusError):
        retryable = error.status in (409, 412, 429) or error.status >= 500
        if error.status == 412:
            return ActionResult(
                action, "conflict", error_code=error.code, message=error.message, retryable=True
            )
        return ActionResult(
            action, "failed", error_code=error.code, message=error.message, retryable=retryable
        )
    return ActionResult(action, "failed", error_code="transport", message=str(error), retryable=True)
