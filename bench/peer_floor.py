"""The floor in bench/peer_bench.py: the least work that can do the job, in raw httpx.

    python bench/peer_floor.py WORK_JSON initial|noop

`initial`: one token request, then per mailbox the creates as `$batch` requests of 20 (each with a
transactionId, so a batch is sent again safely when the server dropped the connection), one batch per
mailbox in flight (graphemu, like Outlook, runs 4 items of a batch at once per mailbox, so more would
only queue or be throttled), 64 mailboxes at once; no listing, no state, nothing checked but the
status. `noop`: one listing GET per mailbox (`$select=id`, the tag expanded), the least a resync can do
that still sees the calendar. Not a sync tool: it knows which phase it is in. Prints one JSON line.
The work file is peer_bench.py's (see peer_msgraph.py).
"""

from __future__ import annotations

import asyncio
import json
import ssl
import sys
from pathlib import Path
from typing import Any

import httpx

BATCH, MAILBOXES = 20, 64


def body(work: dict[str, Any], e: dict[str, Any]) -> dict[str, Any]:
    return {
        "subject": e["subject"],
        "start": {"dateTime": e["start"], "timeZone": e["tz"]},
        "end": {"dateTime": e["end"], "timeZone": e["tz"]},
        "location": {"displayName": e["location"]},
        "singleValueExtendedProperties": [{"id": work["tag_id"], "value": e["key"]}],
        "transactionId": e["txid"],  # so that a batch resent after a dropped connection creates nothing twice
    }


async def token(http: httpx.AsyncClient, work: dict[str, Any]) -> str:
    answer = await http.post(
        work["token_url"],
        data={
            "grant_type": "client_credentials",
            "client_id": work["client"],
            "client_secret": Path(work["secret_file"]).read_text().strip(),
            "scope": "https://graph.microsoft.com/.default",
        },
    )
    answer.raise_for_status()
    return str(answer.json()["access_token"])


async def create(http: httpx.AsyncClient, work: dict[str, Any], upn: str, wanted: list[Any]) -> int:
    failed = 0
    for i in range(0, len(wanted), BATCH):
        requests = [
            {
                "id": str(n + 1),
                "method": "POST",
                "url": f"/users/{upn}/events",
                "headers": {"Content-Type": "application/json"},
                "body": body(work, e),
            }
            for n, e in enumerate(wanted[i : i + BATCH])
        ]
        for attempt in range(3):  # a kept-alive connection the server closed meanwhile: send again
            try:
                answer = await http.post("$batch", json={"requests": requests})
                break
            except httpx.TransportError:
                if attempt == 2:
                    raise
        answer.raise_for_status()
        failed += sum(1 for r in answer.json()["responses"] if r["status"] >= 300)
    return failed


async def listing(http: httpx.AsyncClient, work: dict[str, Any], upn: str) -> int:
    tag = work["tag_id"]
    params = {
        "$filter": f"singleValueExtendedProperties/Any(ep: ep/id eq '{tag}' and ep/value ne '')",
        "$expand": f"singleValueExtendedProperties($filter=id eq '{tag}')",
        "$select": "id",
        "$top": "1000",
    }
    seen, url = 0, f"users/{upn}/events"
    while url:
        answer = await http.get(url, params=params if url.startswith("users/") else None)
        answer.raise_for_status()
        page = answer.json()
        seen += len(page["value"])
        url = page.get("@odata.nextLink", "")
    return seen


async def main(work: dict[str, Any], phase: str) -> dict[str, int]:
    context = ssl.create_default_context(cafile=work["ca"])
    limits = httpx.Limits(max_connections=MAILBOXES, max_keepalive_connections=MAILBOXES)
    async with httpx.AsyncClient(verify=context, timeout=120, trust_env=False, limits=limits) as http:
        bearer = await token(http, work)
        http.headers["Authorization"] = f"Bearer {bearer}"
        http.base_url = httpx.URL(work["graph"].rstrip("/") + "/")
        gate = asyncio.Semaphore(MAILBOXES)

        async def one(upn: str, wanted: list[Any]) -> int:
            async with gate:
                if phase == "initial":
                    return await create(http, work, upn, wanted)
                return await listing(http, work, upn)

        results = await asyncio.gather(*(one(u, w) for u, w in work["mailboxes"].items()))
    if phase == "initial":
        return {"failed": sum(results)}
    return {"listed": sum(results)}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(json.loads(Path(sys.argv[1]).read_text()), sys.argv[2]))))
