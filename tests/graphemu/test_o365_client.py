"""python-o365 (O365 2.1), a Graph client no one here wrote, against graphemu served over TLS.

Issue 2 asks that a foreign client work against graphemu "unchanged but for its base URLs". O365 talks to
Graph with requests and gets tokens with msal. What had to be pointed elsewhere, and how:

- Graph: `Protocol.service_url` / `protocol_url` are documented instance attributes that every O365 URL is
  built from (`ApiComponent.build_base_url`), so they are set on an ordinary `MSGraphProtocol` instance.
- Login: O365 2.1 has no parameter for the identity host. `Connection.__init__` hard-codes
  `_msal_authority = "https://login.microsoftonline.com/{tenant_id}"` and `Connection.msal_client` builds
  `msal.ConfidentialClientApplication` without `instance_discovery`, so msal would ask
  login.microsoftonline.com whether 127.0.0.1 is a known authority (msal's documented switch for a
  private authority is `instance_discovery=False`). `EmulatorConnection` below therefore subclasses
  `Connection` only to change that URL and pass that switch, and `Account.connection_constructor` (O365's
  own hook for a Connection class) selects it. Nothing else in O365 is replaced.
- TLS: `verify_ssl` accepts what requests' `verify` does, here the path of graphemu's CA, and O365 hands
  it to both its requests session and msal. REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE would override a session's
  `verify` (requests merges the environment over it), so the test clears them. Verification stays on.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import msal
import pytest
from O365 import Account
from O365.connection import Connection, MSGraphProtocol
from O365.utils.token import MemoryTokenBackend

from graphemu import EmulatorConfig, world_from_seed
from graphemu.server import BackgroundServer, ServerInfo

TENANT = "5b1c3e0a-0000-4000-8000-000000003650"
CLIENT = "0365c11e-0000-4000-8000-000000000365"
SECRET = "o365-client-secret"
USER = "diego@o365test.onmicrosoft.com"
SEED: dict[str, Any] = {
    "tenants": [{"id": TENANT, "domain": "o365test.onmicrosoft.com", "displayName": "O365 test"}],
    "users": [{"userPrincipalName": USER, "displayName": "Diego Siciliani", "calendars": ["Timetable"]}],
    "apps": [
        {
            "clientId": CLIENT,
            "displayName": "python-o365",
            "secrets": [{"value": SECRET}],
            "applicationPermissions": ["Calendars.ReadWrite"],
        }
    ],
}


class EmulatorConnection(Connection):  # type: ignore[misc]  # O365 ships no type hints
    """O365's Connection with msal's authority on graphemu (see the module docstring for why a subclass)."""

    login_base = ""  # set per test: https://127.0.0.1:PORT
    _msal_client: msal.ConfidentialClientApplication | None  # O365's lazily built msal client

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._msal_authority = f"{self.login_base}/{self.tenant_id}"

    @property
    def msal_client(self) -> msal.ConfidentialClientApplication:
        """O365's own construction (connection.py, 'credentials' branch) plus `instance_discovery=False`."""
        client = self._msal_client
        if client is None:
            client = self._msal_client = msal.ConfidentialClientApplication(
                client_id=self.auth[0],
                client_credential=self.auth[1],
                authority=self._msal_authority,
                token_cache=self.token_backend,
                proxies=self.proxy,
                verify=self.verify_ssl,
                timeout=self.timeout,
                instance_discovery=False,
            )
        return client


class EmulatorAccount(Account):  # type: ignore[misc]  # O365 ships no type hints
    """An O365 Account whose Connection class is EmulatorConnection (O365's `connection_constructor` hook)."""

    connection_constructor = EmulatorConnection


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ServerInfo]:
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    running = BackgroundServer(world_from_seed(SEED), EmulatorConfig(), port=0, tls_dir=tmp_path / "tls")
    info = running.start()
    monkeypatch.setattr(EmulatorConnection, "login_base", info.login)
    yield info
    running.stop()


@pytest.fixture
def account(server: ServerInfo) -> Iterator[Account]:
    """An O365 client-credentials account pointed at graphemu, trusting only graphemu's CA.

    Its keep-alive connections are closed afterwards, so the server stops without waiting for them.
    """
    protocol = MSGraphProtocol(timezone="Europe/Berlin")
    protocol.protocol_url = f"{server.base_url}/"
    protocol.service_url = f"{server.graph}/"
    assert server.ca is not None
    account = EmulatorAccount(
        (CLIENT, SECRET),
        protocol=protocol,
        auth_flow_type="credentials",
        tenant_id=TENANT,
        token_backend=MemoryTokenBackend(),
        verify_ssl=server.ca,
        requests_delay=0,
        request_retries=0,
        timeout=10,
    )
    yield account
    for session in (account.con.session, account.con.naive_session):
        if session is not None:
            session.close()
    if account.con._msal_client is not None:
        account.con._msal_client.http_client.close()


def stored_ids(info: ServerInfo) -> set[str]:
    """The ids of the mailbox's stored events, from graphemu's control API."""
    assert info.ca is not None
    with httpx.Client(verify=ssl.create_default_context(cafile=info.ca), trust_env=False) as control:
        response = control.get(f"{info.base_url}/_emu/events/{USER}")
    response.raise_for_status()
    return {item["id"] for item in response.json()["value"]}


def test_o365_lists_calendars_and_creates_reads_deletes_an_event(
    server: ServerInfo, account: Account
) -> None:
    """python-o365 signs in with a client secret, lists calendars, and creates, reads and deletes an event."""
    assert account.authenticate() is True
    schedule = account.schedule(resource=USER)

    calendars = schedule.list_calendars()
    names = {calendar.name: calendar for calendar in calendars}
    assert set(names) == {"Calendar", "Timetable"}
    default = schedule.get_default_calendar()
    assert default.name == "Calendar"
    assert default.calendar_id == names["Calendar"].calendar_id

    berlin = ZoneInfo("Europe/Berlin")
    event = default.new_event(subject="Graph fidelity check")
    event.start = datetime(2031, 3, 4, 9, 30, tzinfo=berlin)
    event.end = datetime(2031, 3, 4, 10, 45, tzinfo=berlin)
    event.body = "Created by python-o365."
    assert event.save() is True
    assert event.object_id

    fetched = default.get_event(event.object_id)
    assert fetched is not None
    assert fetched.object_id == event.object_id
    assert fetched.subject == "Graph fidelity check"
    assert fetched.start == datetime(2031, 3, 4, 9, 30, tzinfo=berlin)
    assert fetched.end == datetime(2031, 3, 4, 10, 45, tzinfo=berlin)
    assert fetched.ical_uid

    assert event.object_id in stored_ids(server)
    assert fetched.delete() is True
    assert stored_ids(server) == set()
    account.con.raise_http_errors = False
    gone = account.con.get(f"{server.graph}/users/{USER}/events/{event.object_id}")
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "ErrorItemNotFound"
