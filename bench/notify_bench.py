"""Time from a change in graphemu to calsync's repair, through Graph change notifications.

What runs: graphemu over TLS in a thread (one tenant, `--mailboxes` mailboxes, the two-lecture feed of
the tests), and in this process what `calsync serve` runs on SQLite: the scheduler, the web app with
the Graph hooks under uvicorn on loopback, the subscription upkeep. graphemu posts its notifications
over real HTTP to calsync (http is allowed for the bench; real Graph needs https).

Each of `--edits` rounds edits one managed event through Graph (as a user's Outlook would), waits until
calsync has put it right and everything is idle, then takes the two times from graphemu's request log
(its own clock, so no polling jitter): the user's PATCH and calsync's repairing PATCH of that event.
Printed: median, p90, p99 and max of the difference, and the Graph writes calsync made per edit
(1.0: no echo loop).

    .venv/bin/python bench/notify_bench.py                     # 40 edits, 2 mailboxes
    .venv/bin/python bench/notify_bench.py --edits 100 --batch  # graphemu batching notifications
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' tenant and service harness

from tests.calsync.notify.harness import Service, notified_service, until
from tests.calsync.tenants import running_tenant


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def one_edit(svc: Service, mailbox: str, n: int) -> tuple[float, int]:
    event = (await svc.managed(mailbox))[n % 2]
    original = event["props"]["subject"]
    seq = await svc.last_seq()
    await svc.user_edit(mailbox, event["id"], f"Edited in Outlook {n}")

    async def repaired() -> bool:
        now = {e["id"]: e["props"]["subject"] for e in await svc.managed(mailbox)}
        return now[event["id"]] == original and await svc.nothing_pending()

    await until(repaired, "the repair")
    log = (await svc.emu.get("/_emu/requests", params={"since": seq})).json()["value"]
    patches = [e for e in log if e["method"] == "PATCH" and e["path"].endswith(event["id"])]
    user, repair = patches[0], patches[-1]
    return repair["at"] - user["at"], await svc.writes(seq) - 1


async def main(edits: int, mailboxes: int, batch: bool) -> None:
    people = [f"user{i}@uni.example" for i in range(mailboxes)]
    with tempfile.TemporaryDirectory() as tmp, running_tenant(Path(tmp), people) as tenant:
        async with notified_service(Path(tmp) / "svc", tenant, people) as svc:

            async def ready() -> bool:
                subs = await svc.subscriptions()
                counts = [len(await svc.managed(m)) for m in people]
                return counts == [2] * mailboxes and len(subs) == mailboxes and await svc.nothing_pending()

            await until(ready, "the first sync")
            await svc.limits(notificationBatch=batch)
            delays, writes = [], []
            for n in range(edits):
                delay, wrote = await one_edit(svc, people[n % mailboxes], n)
                delays.append(delay * 1000)
                writes.append(wrote)
    batching = "on" if batch else "off"
    print(f"notify_bench: {edits} edits over {mailboxes} mailboxes, graphemu batching {batching}")
    print(
        f"change in graphemu -> calsync's repair (ms): median {statistics.median(delays):.0f}, "
        f"p90 {percentile(delays, 90):.0f}, p99 {percentile(delays, 99):.0f}, max {max(delays):.0f}"
    )
    print(f"Graph writes by calsync per edit: {sum(writes) / len(writes):.2f} (1.00: no echo loop)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edits", type=int, default=40)
    parser.add_argument("--mailboxes", type=int, default=2)
    parser.add_argument("--batch", action="store_true", help="graphemu batches notifications (1 s window)")
    args = parser.parse_args()
    asyncio.run(main(args.edits, args.mailboxes, args.batch))
