"""A profile's view of the state store: its own mappings, runs, quarantine, leases and fetch state.

Profiles share one database. Each row that belongs to a mailbox is stored under the mailbox's *scope*:
the mailbox itself for the profile named "default" (so a database written before profiles existed is
the default profile's, unchanged), `<profile>:<mailbox>` for any other (a user principal name never
contains ":", and a profile name never contains "@"). Feed validators are scoped the same way, so two
profiles reading one feed do not hide a change from each other behind a 304.

`ScopedStore(store, profile)` is a `RuntimeStateStore` that speaks plain mailboxes to its callers (the
engine, the services) and scoped keys to the store underneath; listings across mailboxes return only
the profile's own.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from calsync.domain import SourceKey
from calsync.store.records import RunHealth, RuntimeStateStore, SourceState, check_key
from calsync.sync.ports import Mapping, Quarantined, RunReport

DEFAULT_PROFILE = "default"


def scope_key(profile: str, mailbox: str) -> str:
    """How rows of `mailbox` are keyed for `profile`."""
    return mailbox if profile == DEFAULT_PROFILE else f"{profile}:{mailbox}"


def split_scope(key: str) -> tuple[str, str]:
    """(profile, mailbox) of a stored key."""
    profile, sep, mailbox = key.partition(":")
    return (profile, mailbox) if sep and "@" not in profile else (DEFAULT_PROFILE, key)


class ScopedStore:
    """The store as one profile sees it (see the module docstring)."""

    def __init__(self, store: RuntimeStateStore, profile: str) -> None:
        self.base = store
        self.profile = profile
        self._plain = profile == DEFAULT_PROFILE

    def _key(self, mailbox: str) -> str:
        check_key("mailbox", mailbox)  # "" would otherwise become the valid-looking "<profile>:"
        return scope_key(self.profile, mailbox)

    def _mine(self, key: str) -> str | None:
        """The mailbox of a stored key if the key is this profile's, else None."""
        profile, mailbox = split_scope(key)
        return mailbox if profile == self.profile else None

    def _in(self, m: Mapping) -> Mapping:
        return m if self._plain else replace(m, mailbox=self._key(m.mailbox))

    def _out(self, m: Mapping) -> Mapping:
        return m if self._plain else replace(m, mailbox=split_scope(m.mailbox)[1])

    # -- mappings and quarantine -------------------------------------------------------------------

    def mappings(self, mailbox: str) -> dict[SourceKey, Mapping]:
        found = self.base.mappings(self._key(mailbox))
        return found if self._plain else {k: self._out(m) for k, m in found.items()}

    def mapping_by_remote_id(self, mailbox: str, remote_id: str) -> Mapping | None:
        found = self.base.mapping_by_remote_id(self._key(mailbox), remote_id)
        return None if found is None else self._out(found)

    def put_mapping(self, mapping: Mapping) -> None:
        self.base.put_mapping(self._in(mapping))

    def put_mappings(self, mappings: Iterable[Mapping]) -> None:
        self.base.put_mappings([self._in(m) for m in mappings])

    def delete_mapping(self, mailbox: str, source_key: SourceKey) -> None:
        self.base.delete_mapping(self._key(mailbox), source_key)

    def quarantined(self, mailbox: str) -> dict[SourceKey, Quarantined]:
        found = self.base.quarantined(self._key(mailbox))
        return found if self._plain else {k: replace(q, mailbox=mailbox) for k, q in found.items()}

    def put_quarantine(self, item: Quarantined) -> None:
        self.base.put_quarantine(item if self._plain else replace(item, mailbox=self._key(item.mailbox)))

    def release_quarantine(self, mailbox: str, source_key: SourceKey) -> None:
        self.base.release_quarantine(self._key(mailbox), source_key)

    # -- runs --------------------------------------------------------------------------------------

    def record_run(self, report: RunReport) -> None:
        self.base.record_run(report if self._plain else replace(report, mailbox=self._key(report.mailbox)))

    def last_runs(self) -> list[RunReport]:
        return [
            replace(r, mailbox=mailbox)
            for r in self.base.last_runs()
            if (mailbox := self._mine(r.mailbox)) is not None
        ]

    def runs(self, mailbox: str, limit: int = 20) -> list[RunReport]:
        return [replace(r, mailbox=mailbox) for r in self.base.runs(self._key(mailbox), limit)]

    def run_health(self) -> dict[str, RunHealth]:
        return {
            mailbox: replace(h, mailbox=mailbox)
            for key, h in self.base.run_health().items()
            if (mailbox := self._mine(key)) is not None
        }

    # -- fetch state, delta links, leases ----------------------------------------------------------

    def source_state(self, key: str) -> SourceState | None:
        found = self.base.source_state(self._key(key))
        return found if found is None or self._plain else replace(found, key=key)

    def put_source_state(self, state: SourceState) -> None:
        self.base.put_source_state(state if self._plain else replace(state, key=self._key(state.key)))

    def delta_link(self, mailbox: str, calendar_id: str) -> str | None:
        return self.base.delta_link(self._key(mailbox), calendar_id)

    def put_delta_link(self, mailbox: str, calendar_id: str, delta_link: str) -> None:
        self.base.put_delta_link(self._key(mailbox), calendar_id, delta_link)

    def drop_delta_link(self, mailbox: str, calendar_id: str) -> None:
        self.base.drop_delta_link(self._key(mailbox), calendar_id)

    def acquire_lease(self, mailbox: str, owner: str, ttl_seconds: float) -> bool:
        return self.base.acquire_lease(self._key(mailbox), owner, ttl_seconds)

    def renew_lease(self, mailbox: str, owner: str, ttl_seconds: float) -> bool:
        return self.base.renew_lease(self._key(mailbox), owner, ttl_seconds)

    def release_lease(self, mailbox: str, owner: str) -> bool:
        return self.base.release_lease(self._key(mailbox), owner)

    def lease_owner(self, mailbox: str) -> str | None:
        return self.base.lease_owner(self._key(mailbox))

    # -- mailboxes ---------------------------------------------------------------------------------

    def mailboxes(self) -> list[str]:
        return [m for key in self.base.mailboxes() if (m := self._mine(key)) is not None]

    def purge_mailbox(self, mailbox: str) -> None:
        self.base.purge_mailbox(self._key(mailbox))

    # -- departures --------------------------------------------------------------------------------

    def departures(self) -> dict[str, datetime]:
        return {
            m: since for key, since in self.base.departures().items() if (m := self._mine(key)) is not None
        }

    def mark_departed(self, mailboxes: Iterable[str]) -> None:
        self.base.mark_departed([self._key(m) for m in mailboxes])

    def clear_departed(self, mailboxes: Iterable[str]) -> None:
        self.base.clear_departed([self._key(m) for m in mailboxes])


if TYPE_CHECKING:  # mypy proves the view implements the interface, signatures and all

    def _implements(store: ScopedStore) -> RuntimeStateStore:
        return store
