"""`receive_changes` on a real (SQLite) state store, against a model: for any storm of notifications
(several subscriptions, forged or unknown ones, duplicates by id, calsync's echoes, foreign events,
deletes), exactly the mailboxes with a genuine user change are asked for, naming exactly the changed
events, and every item is counted once."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calsync.services.deployment import Deployment
from calsync.services.notifications import RecentIds, receive_changes
from calsync.settings import load_settings
from calsync.store import SqlStateStore, make_engine, upgrade
from calsync.store.subscriptions import SqlSubscriptions, SubscriptionRecord, client_state_hash
from calsync.sync.ports import Mapping

SCOPES = {"sub-ada": ("ada@x.org", "state-ada"), "sub-bob": ("p:bob@x.org", "state-bob")}
MANAGED = ["e0", "e1", "e2", "e3"]  # each scope's managed events; their stored changeKey is "k-<id>"

item = st.fixed_dictionaries(
    {
        "sub": st.sampled_from([*SCOPES, "sub-unknown"]),
        "forged": st.booleans(),
        "event": st.sampled_from([*MANAGED, "foreign"]),
        "kind": st.sampled_from(["created", "updated", "deleted"]),
        "key": st.sampled_from(["stored", "new", None]),
        "id": st.sampled_from(["n1", "n2", "n3", "n4", "n5", "n6"]),
    }
)


def notification(spec: dict[str, Any]) -> dict[str, Any]:
    scope_state = SCOPES.get(spec["sub"], ("", "whatever"))[1]
    data: dict[str, Any] = {"id": spec["event"]}
    if spec["key"] is not None:
        data["@odata.etag"] = 'W/"' + (f"k-{spec['event']}" if spec["key"] == "stored" else "other") + '"'
    return {
        "id": spec["id"],
        "subscriptionId": spec["sub"],
        "clientState": scope_state + ("!" if spec["forged"] else ""),
        "changeType": spec["kind"],
        "resource": f"Users/u/Events/{spec['event']}",
        "resourceData": data,
    }


def expected(storm: list[dict[str, Any]]) -> tuple[dict[str, set[str]], int, int, int, int]:
    """The model: (scope -> changed events, changes, echoes incl. duplicates, foreign, ignored)."""
    wanted: dict[str, set[str]] = {}
    seen: set[str] = set()
    changes = echoes = foreign = ignored = 0
    for spec in storm:
        if spec["sub"] not in SCOPES or spec["forged"]:
            ignored += 1
        elif spec["id"] in seen:
            echoes += 1
        else:
            seen.add(spec["id"])
            if spec["event"] == "foreign":
                foreign += 1
            elif spec["kind"] != "deleted" and spec["key"] == "stored":
                echoes += 1
            else:
                changes += 1
                wanted.setdefault(SCOPES[spec["sub"]][0], set()).add(spec["event"])
    return wanted, changes, echoes, foreign, ignored


def test_a_storm_asks_for_exactly_the_mailboxes_a_user_changed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    upgrade(url)
    engine = make_engine(url)
    config = tmp_path / "calsync.toml"
    config.write_text('tenant_id = "t"\nclient_id = "c"\nmailboxes = ["ada@x.org"]\n')
    deployment = Deployment(load_settings(config, env={"CALSYNC_CLIENT_SECRET": "s"}), SqlStateStore(engine))
    table = SqlSubscriptions(engine)
    for sub_id, (scope, state) in SCOPES.items():
        table.put(
            SubscriptionRecord(scope, "/users/x/events", "active", sub_id, None, client_state_hash(state))
        )
        deployment.store.put_mappings(
            Mapping(scope, f"key/{e}", "synced", f"tx-{e}", 0, e, f"k-{e}", "h") for e in MANAGED
        )

    @settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
    @given(st.lists(item, max_size=25))
    def check(storm: list[dict[str, Any]]) -> None:
        done = asyncio.run(receive_changes(deployment, [notification(s) for s in storm], RecentIds()))
        wanted, changes, echoes, foreign, ignored = expected(storm)
        assert done.scopes == wanted
        assert (done.changes, done.echoes, done.foreign, done.ignored) == (changes, echoes, foreign, ignored)

    try:
        check()
    finally:
        engine.dispose()
