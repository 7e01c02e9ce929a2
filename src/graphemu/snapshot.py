"""Save a World to a JSON file and load it back, so a served emulator survives restarts.

Why: crash tests restart calsync against the *same* tenant state, and a demo should keep its events
between runs; both need the world on disk. JSON (never pickle: a snapshot file must not be able to run
code when loaded) written atomically. The codec is driven by the World dataclasses' type hints, so a field
added to `graphemu.world` is saved without touching this module: datetimes become ISO 8601 strings, sets
sorted lists, bytes (certificate DER and thumbprints) base64, dataclasses objects.

Saved: tenants, apps (secrets, certificates), users, groups, access policies, calendars, events (props,
extended properties, overrides, cancelled occurrences, transaction ids, change keys, times), the
transactionId index, the change logs (so saved delta positions stay meaningful; new changes continue
after the highest sequence number), the clock offset and the token-signing key (PEM, PKCS#8, so tokens
issued before a restart still verify). Other per-feature state in `world.extra` is saved only when it is
plain JSON; anything else (subscriptions' objects, sets of revoked tokens) is dropped.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import itertools
import json
import os
import tempfile
import types
import typing
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from graphemu import world as world_module
from graphemu.clock import Clock
from graphemu.signing import SigningKey
from graphemu.world import World

FORMAT = "graphemu-snapshot"
VERSION = 1


class SnapshotError(ValueError):
    """The file is not a graphemu snapshot this version can read."""


# -- type-directed codec ---------------------------------------------------------------------------


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, vars(world_module))


def _encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, set | frozenset):
        return sorted(_encode(v) for v in value)
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    return value


def _decode(hint: Any, value: Any) -> Any:
    """Rebuild `value` as `hint` describes: Optional, list, set, dict, dataclass, datetime, bytes."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if value is None:
        return None
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        return _decode(options[0], value) if len(options) == 1 else value
    if origin is list:
        return [_decode(args[0], v) for v in value]
    if origin in (set, frozenset):
        return {_decode(args[0], v) for v in value}
    if origin is tuple:
        return tuple(_decode(args[0], v) for v in value)
    if origin is dict:
        return {k: _decode(args[1], v) for k, v in value.items()}
    if hint is datetime:
        return datetime.fromisoformat(value)
    if hint is bytes:
        return base64.b64decode(value)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _from_dict(hint, value)
    return value


def _from_dict(cls: type, data: dict[str, Any]) -> Any:
    hints = _hints(cls)
    known = {f.name for f in dataclasses.fields(cls) if f.init}
    return cls(**{name: _decode(hints[name], value) for name, value in data.items() if name in known})


# -- save / load -----------------------------------------------------------------------------------


def to_json(world: World) -> dict[str, Any]:
    """The snapshot document for `world`."""
    key = world.extra.get("signing_key")
    extra: dict[str, Any] = {}
    for name, value in world.extra.items():
        if name == "signing_key":
            continue
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            continue
        extra[name] = value
    return {
        "format": FORMAT,
        "version": VERSION,
        "savedAt": world.clock.now().isoformat(),
        "clockOffset": world.clock.offset,
        "signingKey": None if key is None else {"kid": key.kid, "pem": _pem(key.private_key)},
        "tenants": _encode(list(world.tenants.values())),
        "apps": _encode(list(world.apps.values())),
        "users": _encode(list(world.users.values())),
        "groups": _encode(list(world.groups.values())),
        "policies": _encode(world.policies),
        "calendars": _encode([c for cals in world.calendars.values() for c in cals.values()]),
        "events": _encode([e for evs in world.events.values() for e in evs.values()]),
        "transactions": [[owner, tx, event_id] for (owner, tx), event_id in world.transactions.items()],
        "changes": _encode([c for log in world.changes.values() for c in log]),
        "extra": extra,
    }


def from_json(data: dict[str, Any]) -> World:
    """A new World from a snapshot document."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise SnapshotError("not a graphemu snapshot")
    if data.get("version") != VERSION:
        raise SnapshotError(
            f"unsupported snapshot version {data.get('version')!r} (this graphemu reads {VERSION})"
        )
    world = World(clock=Clock(float(data.get("clockOffset", 0.0))))
    for t in data["tenants"]:
        world.add_tenant(_from_dict(world_module.Tenant, t))
    for a in data["apps"]:
        world.add_app(_from_dict(world_module.AppRegistration, a))
    for u in data["users"]:
        user = _from_dict(world_module.User, u)
        world.users[user.id] = user  # not add_user: it would create a default calendar
    for g in data["groups"]:
        world.add_group(_from_dict(world_module.Group, g))
    world.policies = [_from_dict(world_module.AccessPolicy, p) for p in data["policies"]]
    for user in world.users.values():
        if user.has_mailbox:
            world.calendars.setdefault(user.id, {})
            world.events.setdefault(user.id, {})
            world.changes.setdefault(user.id, [])
    for c in data["calendars"]:
        calendar = _from_dict(world_module.Calendar, c)
        world.calendars.setdefault(calendar.owner_id, {})[calendar.id] = calendar
    for e in data["events"]:
        event = _from_dict(world_module.Event, e)
        world.events.setdefault(event.owner_id, {})[event.id] = event
    world.transactions = {(owner, tx): event_id for owner, tx, event_id in data.get("transactions", [])}
    last = 0
    for c in data.get("changes", []):
        change = _from_dict(world_module.Change, c)
        world.changes.setdefault(change.owner_id, []).append(change)
        last = max(last, change.seq)
    world._seq = itertools.count(last + 1)  # continue the global change sequence
    world.extra.update(data.get("extra", {}))
    key = data.get("signingKey")
    if key is not None:
        private = serialization.load_pem_private_key(key["pem"].encode(), password=None)
        if not isinstance(private, rsa.RSAPrivateKey):
            raise SnapshotError("the snapshot's signing key is not an RSA key")
        world.extra["signing_key"] = SigningKey(private, key["kid"])
    return world


def save(world: World, path: str | Path) -> None:
    """Write the snapshot atomically (temp file + rename), readable only by the owner: it holds secrets."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = json.dumps(to_json(world), ensure_ascii=False, separators=(",", ":")).encode()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path: str | Path) -> World:
    """Read a snapshot written by `save`."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except ValueError as exc:
        raise SnapshotError(f"{path}: not JSON ({exc})") from None
    return from_json(data)


def _pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
