"""Crash safety on SQLite: a process killed with SIGKILL loses no committed write and no more than its
open transaction (reliability-targets CF-02; WAL with synchronous=NORMAL survives application crashes)."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import sqlalchemy as sa

from calsync.store import SqlStateStore, make_engine, upgrade

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")

WORKER = textwrap.dedent(
    """
    import os, signal, sys
    import sqlalchemy as sa
    from calsync.domain import SourceKey
    from calsync.store import SqlStateStore, make_engine
    from calsync.sync.ports import Mapping

    url, committed, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    engine = make_engine(url)
    store = SqlStateStore(engine)

    def mapping(i):
        return Mapping("adele@contoso", SourceKey(f"k{i}"), "creating", f"tx{i}", remote_id=None)

    for i in range(committed):
        store.put_mapping(mapping(i))  # committed on return
    if mode == "in-transaction":
        # die after the batch's INSERTs ran, just before COMMIT reaches SQLite
        sa.event.listen(engine, "commit", lambda conn: os.kill(os.getpid(), signal.SIGKILL))
        store.put_mappings(mapping(i) for i in range(committed, committed + 50))
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


@pytest.mark.parametrize("mode", ["between-commits", "in-transaction"])
def test_sigkill_loses_no_committed_mapping(tmp_path: Path, mode: str) -> None:
    """After kill -9, a new process (a new engine) sees exactly the committed mappings; the file is intact."""
    path = tmp_path / "state.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    committed = 200
    done = subprocess.run(
        [sys.executable, "-c", WORKER, url, str(committed), mode],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    # The commits are still only in the write-ahead log: recovery, not a checkpoint, must find them.
    assert Path(f"{path}-wal").stat().st_size > 0

    engine = make_engine(url)  # what the restarted worker does
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
            assert conn.execute(sa.text("SELECT count(*) FROM mappings")).scalar() == committed
        keys = set(SqlStateStore(engine).mappings("adele@contoso"))
        assert keys == {f"k{i}" for i in range(committed)}
    finally:
        engine.dispose()
