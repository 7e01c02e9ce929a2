"""Time to first sync after a person connects, against graphemu with Graph latency (issue 9).

    PYTHONPATH=src:. .venv/bin/python bench/connect_bench.py [--latency-ms 30] [--events 2 100] [--repeat 3]

Starts graphemu (TLS, in a thread, `latency_ms` added to every Graph request) and a real `calsync serve`
(the browser tests' harness, tests/calsync/web/conftest.py), then for each person does what a browser
does, with httpx: GET /connect/start, graphemu's sign-in page (Accept), the callback, the confirm page;
then POSTs "Start syncing" and polls /me every 20 ms until it shows a last successful sync.

Printed per run: **sign-in** (from /connect/start to the confirm page: authorize, code redemption with
PKCE, the sealed cache stored, the feed read for the preview), and **first sync** (from the "Start
syncing" POST until /me shows the sync done: the scheduler's request, the person's token from the sealed
cache, the feed, the writes to Graph). One JSON line at the end. The feed is an iCalendar file of N events.
"""

from __future__ import annotations

import argparse
import json
import re
import ssl
import statistics
import tempfile
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
from tests.calsync.web.conftest import DOMAIN, serve_calsync

from graphemu import EmulatorConfig


class Fields(HTMLParser):
    def __init__(self, html: str) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "input" and values.get("type") == "hidden":
            self.fields[values.get("name") or ""] = values.get("value") or ""


def feed(events: int) -> str:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//bench//EN"]
    for n in range(events):
        day, hour = 1 + n // 8 % 28, 8 + n % 8
        lines += ["BEGIN:VEVENT", f"UID:bench-{n}", "DTSTAMP:20260101T000000Z",
                  f"DTSTART:2030{1 + n // 224:02d}{day:02d}T{hour:02d}0000Z",
                  f"DTEND:2030{1 + n // 224:02d}{day:02d}T{hour:02d}5000Z", f"SUMMARY:Lecture {n}",
                  "CATEGORIES:Lecture", "END:VEVENT"]  # fmt: skip
    return "\r\n".join([*lines, "END:VCALENDAR", ""])


def one_person(url: str, world: Any, ca: str, user: str) -> tuple[float, float]:
    tls = ssl.create_default_context(cafile=ca)
    with (
        httpx.Client(verify=tls, follow_redirects=False, timeout=60) as calsync,
        httpx.Client(verify=tls, timeout=60) as microsoft,
    ):
        began = time.perf_counter()
        start = calsync.get(url + "/connect/start")
        authorize = start.headers["location"]
        page = microsoft.get(authorize)
        who = world.find_user(user)
        form = {**Fields(page.text).fields, "user": who.id, "password": "", "action": "accept"}
        answer = microsoft.post(authorize, data=form, follow_redirects=False)
        callback = calsync.get(answer.headers["location"])
        assert callback.headers["location"] == "/connect/confirm", callback.text
        confirm = calsync.get(url + "/connect/confirm")
        signed_in = time.perf_counter() - began
        form = Fields(confirm.text).fields
        clicked = time.perf_counter()
        done = calsync.post(url + "/connect/confirm", data={**form, "action": "confirm"},
                            headers={"Origin": url})  # fmt: skip
        assert done.status_code == 303, done.text
        while True:
            me = calsync.get(url + "/me").text
            if re.search(r'id="last-success">\d', me):
                return signed_in, time.perf_counter() - clicked
            if time.perf_counter() - clicked > 120:
                raise SystemExit("no first sync within 120 s")
            time.sleep(0.02)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency-ms", type=float, default=30.0)
    parser.add_argument("--events", type=int, nargs="+", default=[2, 100])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    people = [f"p{n}@{DOMAIN}" for n in range(len(args.events) * args.repeat)]
    config = EmulatorConfig()
    config.faults.latency_ms = args.latency_ms
    results: dict[str, Any] = {"bench": "connect", "latency_ms": args.latency_ms, "runs": {}}
    with (
        tempfile.TemporaryDirectory() as tmp,
        serve_calsync(
            Path(tmp),
            people=[f"admin@{DOMAIN}", *people],
            body='permissions = "delegated"\n',
            emulator=config,
        ) as served,
    ):
        who = iter(people)
        for events in args.events:
            (served.folder / "feed.ics").write_text(feed(events))
            figures = [one_person(served.url, served.world, str(served.emulator.ca), next(who))
                       for _ in range(args.repeat)]  # fmt: skip
            sign_in = statistics.median(f[0] for f in figures)
            first = statistics.median(f[1] for f in figures)
            runs = ", ".join(f"{f[1] * 1000:.0f}" for f in figures)
            print(f"{events:>4} events: sign-in {sign_in * 1000:7.0f} ms, first sync {first * 1000:7.0f} ms "
                  f"(median of {args.repeat}; runs {runs} ms)")  # fmt: skip
            results["runs"][events] = {
                "sign_in_ms": round(sign_in * 1000),
                "first_sync_ms": round(first * 1000),
            }
    print(json.dumps(results))


if __name__ == "__main__":
    main()
