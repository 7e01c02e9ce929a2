"""The README's exit-code table, case by case: each row is a scenario, a command line, the exit code the
README promises for it and a phrase its output must carry, run as text and (where the command has one)
with --json, which must print exactly one JSON document whose error, if any, carries the same exit code.

The tenant is tests/calsync/cli/conftest.py's graphemu over TLS (ada, bob, nomail without a mailbox,
outsider outside the access policy); each case has its own state database, feed and calsync.toml. The
README's codes: 0 ok; 1 unexpected; 2 usage; 3 configuration; 4 authentication or authorisation; 5 Graph
answered with another error or could not be reached; 6 partly done.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from calsync.certs import create_certificate
from calsync.cli.main import app
from tests.calsync.cli.conftest import ADA, CLIENT, NOMAIL, OUTSIDER, TENANT, Emulator
from tests.calsync.feedserver import FeedServer

runner = CliRunner()

ALGEBRA = """BEGIN:VEVENT
UID:algebra@uni
DTSTART;TZID=Europe/Berlin:20261005T091500
DTEND;TZID=Europe/Berlin:20261005T104500
RRULE:FREQ=WEEKLY;COUNT=6
SUMMARY:Algebra
END:VEVENT
"""


def ethics(subject: str = "Data ethics") -> str:
    return (
        "BEGIN:VEVENT\nUID:ethics@uni\nDTSTART:20261007T120000Z\nDTEND:20261007T130000Z\n"
        f"SUMMARY:{subject}\nEND:VEVENT\n"
    )


def calendar(*events: str) -> str:
    """A feed of `events` (VEVENT texts); the 7 events of ALGEBRA and ethics() by default."""
    body = "".join(events or (ALGEBRA, ethics()))
    return f"BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//test//EN\n{body}END:VCALENDAR\n"


class Env:
    """One case's world: a calsync.toml writer, its own database, the feed file and a feed server."""

    def __init__(self, emulator: Emulator, tmp: Path, resources: ExitStack) -> None:
        self.emulator, self.tmp, self.resources = emulator, tmp, resources
        self.config = tmp / "calsync.toml"
        self.feed = tmp / "timetable.ics"
        self.feed.write_text(calendar())
        self.secret: str | None = None
        self.saved_faults: dict[str, Any] | None = None  # graphemu's FaultConfig before faults() changed it
        self.server: FeedServer | None = None  # started by the first served_feed()

    def write(
        self,
        *,
        credential: str | None = None,
        source: str | None = None,
        mailboxes: tuple[str, ...] = (ADA,),
        graph_url: str | None = None,
        extra: str = "",
    ) -> None:
        """calsync.toml: the app's certificate unless `credential` says otherwise, the feed file unless
        `source` does; `extra` lines are appended."""
        info, cert = self.emulator.info, self.emulator.cert
        if credential is None:
            credential = f'certificate_file = "{cert.certificate}"\nprivate_key_file = "{cert.private_key}"'
        if source is None:
            source = f'ics_file = "{self.feed}"'
        self.config.write_text(
            f'tenant_id = "{TENANT}"\nclient_id = "{CLIENT}"\n{credential}\n'
            f'authority_host = "{info.base_url}"\ngraph_url = "{graph_url or info.graph}"\n'
            f'ca_file = "{info.ca}"\ndatabase_url = "sqlite:///{self.tmp / "state.db"}"\n'
            f"mailboxes = {json.dumps(list(mailboxes))}\n{source}\n"
            f"window_days_back = 3650\nwindow_days_ahead = 3650\n"
            # the cases count ALGEBRA's 6 occurrences (7 events; 6 of 7 deletes for the rails), so they
            # choose occurrences rather than the default, series (tests/calsync/test_cli_sync.py)
            f'recurrence = "occurrences"\n{extra}'
        )

    def served_feed(self) -> str:
        """The `source` line of a per-mailbox feed from the loopback server (answers 304 when unchanged)."""
        if self.server is None:
            self.server = self.resources.enter_context(FeedServer(calendar()))
        template = f"http://127.0.0.1:{self.server.port}/feeds/{{upn}}.ics"
        return f'ics_url_template = "{template}"\nallow_http_feeds = true\nallow_private_feeds = true'

    def cli(self, *args: str, input: str | None = None) -> Result:
        env = {"CALSYNC_CLIENT_SECRET": self.secret} if self.secret else {}
        return runner.invoke(app, ["--config", str(self.config), *args], input=input, env=env)

    def synced(self, *args: str) -> dict[str, Any]:
        """Run `sync --json` that must succeed; its one report."""
        result = self.cli("sync", "--json", *args)
        assert result.exit_code == 0, result.output
        (report,) = json.loads(result.stdout)
        return dict(report)

    def events(self, upn: str = ADA) -> list[Any]:
        world = self.emulator.world
        return list(world.events[world.find_user(upn).id].values())

    def faults(self, **changes: Any) -> None:
        """Change graphemu's FaultConfig through its control API (`restore_faults` puts it back)."""
        with self._control() as control:
            if self.saved_faults is None:
                self.saved_faults = control.get("/_emu/faults").json()
            control.put("/_emu/faults", json=changes).raise_for_status()

    def restore_faults(self) -> None:
        if self.saved_faults is not None:
            with self._control() as control:
                control.put("/_emu/faults", json=self.saved_faults).raise_for_status()

    def _control(self) -> httpx.Client:
        verify = ssl.create_default_context(cafile=self.emulator.info.ca)
        return httpx.Client(base_url=self.emulator.info.base_url, verify=verify)


Setup = Callable[[Env], None]


# -- the setups -----------------------------------------------------------------------------------------


def plain(env: Env) -> None:
    env.write()


def an_item_fails(env: Env) -> None:
    """After a first sync, one event changes in the feed and Graph refuses every update (400)."""
    env.write()
    env.synced()
    env.feed.write_text(calendar(ALGEBRA, ethics("Data ethics (moved)")))
    env.faults(rate=1.0, statuses=[400], methods=["PATCH"])


def the_source_empties(env: Env) -> None:
    """After a first sync the feed has no events left: the SourceUnexpectedlyEmpty rail stops it."""
    env.write()
    env.synced()
    env.feed.write_text("BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//test//EN\nEND:VCALENDAR\n")


def the_source_shrinks(env: Env) -> None:
    """After a first sync the weekly series leaves the feed: 6 of 7 deletes, over the rail's limits."""
    env.write(extra="shrink_min_deletes = 3\n")
    env.synced()
    env.feed.write_text(calendar(ethics()))


def no_mailbox(env: Env) -> None:
    env.write(mailboxes=(NOMAIL,))


def no_mailbox_is_an_error(env: Env) -> None:
    env.write(mailboxes=(NOMAIL,), extra='mailbox_not_enabled = "error"\n')


def outside_the_policy(env: Env) -> None:
    env.write(mailboxes=(OUTSIDER,))


def _unchanged_feed_then(env: Env, credential: str, secret: str | None = None) -> None:
    """A feed served with an ETag is synced, then synced again unchanged (304: the mailbox is skipped),
    then the app's credential is replaced by `credential` (and CALSYNC_CLIENT_SECRET by `secret`)."""
    env.write(source=env.served_feed())
    assert env.synced()["created"] == 7
    again = env.synced()
    assert (again["created"], again["unchanged"], again["message"]) == (
        0, 0, "the source is unchanged since the last good run",
    )  # fmt: skip
    env.write(source=env.served_feed(), credential=credential)
    env.secret = secret


def unknown_secret_on_an_unchanged_feed(env: Env) -> None:
    _unchanged_feed_then(env, "", secret="not-a-secret~graphemu-knows_0123456789")


def unknown_certificate_on_an_unchanged_feed(env: Env) -> None:
    other = create_certificate(env.tmp / "other")
    _unchanged_feed_then(
        env, f'certificate_file = "{other.certificate}"\nprivate_key_file = "{other.private_key}"'
    )


def missing_certificate(env: Env) -> None:
    key = env.emulator.cert.private_key
    env.write(credential=f'certificate_file = "{env.tmp / "absent.pem"}"\nprivate_key_file = "{key}"')


def key_of_another_certificate(env: Env) -> None:
    other = create_certificate(env.tmp / "other")
    cert = env.emulator.cert.certificate
    env.write(credential=f'certificate_file = "{cert}"\nprivate_key_file = "{other.private_key}"')


def missing_pkcs12(env: Env) -> None:
    env.write(credential=f'pkcs12_file = "{env.tmp / "absent.pfx"}"')


def pkcs12_that_is_not(env: Env) -> None:
    env.write(credential=f'pkcs12_file = "{env.emulator.cert.certificate}"')


def missing_secret_file(env: Env) -> None:
    env.write(credential=f'client_secret_file = "{env.tmp / "absent.secret"}"')


def bad_value(env: Env) -> None:
    env.write(extra="max_failures = 0\n")


def graph_unreachable(env: Env) -> None:
    with socket.socket() as probe:  # a port nothing listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env.write(graph_url=f"https://127.0.0.1:{port}/v1.0", extra="graph_retry_seconds = 1\n")


def synced_first(env: Env) -> None:
    env.write()
    env.synced()


# -- checks after a case ----------------------------------------------------------------------------------


def events_left(count: int) -> Callable[[Env], None]:
    """ada's calendar holds `count` events afterwards (7: what the first sync made, nothing deleted)."""

    def check(env: Env) -> None:
        assert len(env.events()) == count

    return check


def last_good_copy_kept(env: Env) -> None:
    """The refused update left the event as it was, and the other six alone."""
    subjects = sorted(e.props["subject"] for e in env.events())
    assert subjects == ["Algebra"] * 6 + ["Data ethics"]


@dataclass(frozen=True)
class Case:
    id: str
    args: tuple[str, ...]
    setup: Setup
    code: int
    phrase: str
    input: str | None = None
    modes: tuple[str, ...] = ("text", "json")  # "json": the same command line with --json
    then: Callable[[Env], None] | None = field(default=None)


CASES = [
    Case("sync-ok", ("sync",), plain, 0, "ada@uni.example", then=events_left(7)),
    Case("sync-item-fails", ("sync",), an_item_fails, 6, "ethics@uni", then=last_good_copy_kept),
    Case("sync-safety-rail", ("sync",), the_source_empties, 6, "SourceUnexpectedlyEmpty",
         then=events_left(7)),
    Case("sync-no-mailbox", ("sync",), no_mailbox, 0, "not_applicable"),
    Case("sync-no-mailbox-error", ("sync",), no_mailbox_is_an_error, 6, "mailbox_not_enabled"),
    Case("sync-outside-policy", ("sync",), outside_the_policy, 6, "access_denied_by_policy"),
    Case("sync-unknown-secret-304", ("sync",), unknown_secret_on_an_unchanged_feed, 4,
         "authentication failed", then=events_left(7)),
    Case("sync-unknown-cert-304", ("sync",), unknown_certificate_on_an_unchanged_feed, 4,
         "authentication failed", then=events_left(7)),
    Case("sync-missing-certificate", ("sync",), missing_certificate, 3, "certificate_file"),
    Case("sync-mismatched-key", ("sync",), key_of_another_certificate, 3, "private_key_file"),
    Case("sync-missing-pkcs12", ("sync",), missing_pkcs12, 3, "pkcs12_file"),
    Case("sync-not-pkcs12", ("sync",), pkcs12_that_is_not, 3, "pkcs12_file"),
    Case("sync-missing-secret-file", ("sync",), missing_secret_file, 3, "client_secret_file"),
    Case("sync-bad-value", ("sync",), bad_value, 3, "max_failures"),
    Case("sync-unknown-option", ("sync", "--bogus"), plain, 2, "--bogus"),
    Case("sync-graph-unreachable", ("sync",), graph_unreachable, 5, "cannot reach"),
    Case("plan-ok", ("plan",), plain, 0, "create", then=events_left(0)),
    Case("plan-would-stop", ("plan",), the_source_shrinks, 6, "SourceShrank", then=events_left(7)),
    Case("release-no-such-key", ("release", "--mailbox", ADA, "ics:nope"), synced_first, 2, "quarantined"),
    Case("purge-declined", ("purge", "--mailbox", ADA), synced_first, 0, "Nothing deleted", input="n\n",
         modes=("text",), then=events_left(7)),
    Case("purge-json-without-yes", ("purge", "--mailbox", ADA, "--json"), synced_first, 2, "--yes",
         modes=("json",), then=events_left(7)),
]  # fmt: skip


def _params() -> Iterator[Any]:
    for case in CASES:
        for mode in case.modes:
            yield pytest.param(case, mode, id=f"{case.id}-{mode}")


@pytest.fixture
def env(emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    for name in [n for n in os.environ if n.startswith("CALSYNC_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/nonexistent/bundle.pem")  # must not override ca_file
    with ExitStack() as resources:
        case = Env(emulator, tmp_path, resources)
        try:
            yield case
        finally:
            case.restore_faults()
            world = emulator.world
            for owner, events in world.events.items():
                for event_id in list(events):
                    world.remove_event(owner, event_id)


@pytest.mark.parametrize(("case", "mode"), list(_params()))
def test_exit_code(env: Env, case: Case, mode: str) -> None:
    """The case's command exits with the README's code and says what happened; under --json stdout is
    one JSON document, an error document carrying the same exit code."""
    case.setup(env)
    args = (*case.args, "--json") if mode == "json" and "--json" not in case.args else case.args
    result = env.cli(*args, input=case.input)
    output = result.stdout + result.stderr
    assert result.exit_code == case.code, output
    assert case.phrase.lower() in output.lower(), output
    assert "Traceback" not in output
    if mode == "json":
        document = json.loads(result.stdout)
        if isinstance(document, dict) and "error" in document:
            error = document["error"]
            assert set(error) == {"type", "message", "exit_code"}
            assert error["exit_code"] == case.code
            assert case.phrase.lower() in error["message"].lower()
        else:
            assert case.code in (0, 6), "only a command that ran prints a result document"
    if case.then is not None:
        case.then(env)
