"""calsync.services.sync_mailbox, the scheduler's and the workers' unit of work, against graphemu over TLS:
a credential refused in the middle of a service's life is recorded as the run's failure (so `status`,
metrics and alerts show it), not raised past the run."""

from __future__ import annotations

from pathlib import Path

from calsync import services
from calsync.certs import create_certificate
from calsync.settings import load_settings
from tests.calsync.services.conftest import MAILBOX, Tenant

FEED = """BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:a@uni\r
DTSTAMP:20260101T000000Z\r\nDTSTART:20300105T100000Z\r\nDTEND:20300105T110000Z\r\nSUMMARY:A\r
END:VEVENT\r\nEND:VCALENDAR\r\n"""


async def test_a_refused_credential_is_the_runs_recorded_failure(tmp_path: Path, tenant: Tenant) -> None:
    feed = tmp_path / "feed.ics"
    feed.write_text(FEED)
    settings = load_settings(tenant.config(tmp_path, feed))
    async with services.open_deployment(settings) as deployment:
        report = await services.sync_mailbox(deployment, MAILBOX)
    assert (report.status, report.created) == ("ok", 1)
    stranger = create_certificate(tmp_path / "unknown")  # a certificate the app registration never had
    settings = load_settings(tenant.config(tmp_path, feed, cert=stranger))
    async with services.open_deployment(settings) as deployment:
        report = await services.sync_mailbox(deployment, MAILBOX, full=True)
        found = services.status(deployment)
    assert (report.status, report.error_code) == ("failed", "auth_refused")
    assert "credential" in (report.message or "")
    assert [(s.last_run.error_code, s.consecutive_failures) for s in found] == [("auth_refused", 1)]
