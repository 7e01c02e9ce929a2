"""The tenant of the notification tests: graphemu over TLS with two people (harness.ADA, harness.BOB)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.calsync.notify.harness import ADA, BOB
from tests.calsync.tenants import Tenant, running_tenant


@pytest.fixture
def tenant(tmp_path: Path) -> Iterator[Tenant]:
    with running_tenant(tmp_path, [ADA, BOB]) as found:
        yield found
