"""Which series masters may hide a person's edit of one occurrence, and marking the ones that do (pure).

A master's own fields and its deleted occurrences are in its fingerprint, so the listing shows those
edits (`ObservedEvent.user_modified`). An occurrence someone renamed or moved does not change the master's
fields, only its changeKey (docs/sync.md, "Recurring series"): the calendar must be asked, one read per
series (calsync.adapters.occurrence_edits). `suspects` keeps that to the masters where it can matter:

- the source still wants the series, with the content the master carries (when the source changed it,
  the master is rewritten anyway, and the rewrite resets every occurrence);
- the master is not already seen as edited;
- its changeKey is not the one calsync recorded after its own last write or adoption of it, which is
  what an edit of an occurrence moves. A steady state asks about none; an edit is asked about once: the
  plan then updates the master (`source-wins`) or adopts its new changeKey (`keep-user-changes`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from collections.abc import Mapping as MappingOf
from dataclasses import replace

from calsync.domain import DesiredEvent, SourceKey, content_hash
from calsync.sync.ports import Mapping, ObservedEvent


def suspects(
    desired: Iterable[DesiredEvent],
    observed: Iterable[ObservedEvent],
    mappings: MappingOf[SourceKey, Mapping],
) -> list[tuple[ObservedEvent, DesiredEvent]]:
    """The (observed master, desired series) pairs worth one read of the series' occurrences."""
    series: dict[SourceKey, DesiredEvent] = {}
    for event in desired:
        if event.series is not None:
            series.setdefault(event.source_key, event)  # the first wins, as in the planner
    if not series:
        return []
    out: list[tuple[ObservedEvent, DesiredEvent]] = []
    for obs in observed:
        wanted = series.get(obs.source_key)
        if wanted is None or obs.user_modified:
            continue
        known = mappings.get(obs.source_key)
        if known is not None and known.has_event and known.change_key == obs.change_key:
            continue
        if obs.content_hash == content_hash(wanted):
            out.append((obs, wanted))
    return out


def mark_edited(observed: Sequence[ObservedEvent], edited: set[str]) -> list[ObservedEvent]:
    """The observed events, the masters in `edited` marked as changed by a person."""
    return [replace(o, user_modified=True) if o.remote_id in edited else o for o in observed]
