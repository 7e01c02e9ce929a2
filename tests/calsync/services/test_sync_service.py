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


async def test_runs_of_one_process_share_the_feed_fetcher_and_the_file_until_it_changes(
    tmp_path: Path, tenant: Tenant
) -> None:
    """The scheduler and the workers run one mailbox per call: the CSV export is indexed once and kept
    until the file changes (not once per run), and the fetcher's TLS context is built once."""
    csv = tmp_path / "export.csv"
    csv.write_text(
        f"mailbox,source_id,subject,start,end,time_zone\n{MAILBOX},a,A,2030-01-05T10:00,2030-01-05T11:00,UTC\n"
    )
    config = (
        tenant.config(tmp_path, tmp_path / "unused.ics")
        .read_text()
        .replace(f'ics_file = "{tmp_path / "unused.ics"}"', f'csv_file = "{csv}"')
    )
    (tmp_path / "calsync.toml").write_text(config)
    settings = load_settings(tmp_path / "calsync.toml")
    async with services.open_deployment(settings) as deployment:
        first = await services.sync_mailbox(deployment, MAILBOX)
        table = deployment.profile().sources.table
        fetcher = deployment.profile().sources.fetcher
        assert table is not None
        second = await services.sync_mailbox(deployment, MAILBOX)
        assert deployment.profile().sources.table is table  # the same index: the file was not read again
        csv.write_text(csv.read_text() + f"{MAILBOX},b,B,2030-01-06T10:00,2030-01-06T11:00,UTC\n")
        third = await services.sync_mailbox(deployment, MAILBOX)
        assert deployment.profile().sources.table is not table  # changed on disk: read again
        assert deployment.profile().sources.fetcher is fetcher
    assert [(r.status, r.created) for r in (first, second, third)] == [("ok", 1), ("ok", 0), ("ok", 1)]
