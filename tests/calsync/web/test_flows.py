"""Sign-in flows in progress: single use, bound to the session and purpose that started them, 10 minutes."""

from __future__ import annotations

import pytest

from calsync.web.flows import FlowRefused, FlowStore


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_flow_is_taken_once_by_the_session_that_started_it() -> None:
    store = FlowStore()
    store.put({"state": "s1", "code_verifier": "v"}, session="A", purpose="admin")
    assert store.take("s1", session="A", purpose="admin")["code_verifier"] == "v"
    with pytest.raises(FlowRefused, match="cannot be finished"):
        store.take("s1", session="A", purpose="admin")  # a replayed redirect


@pytest.mark.parametrize(
    ("state", "session", "purpose"),
    [("s1", "B", "admin"), ("s1", "A", "connect"), ("zz", "A", "admin"), (None, "A", "admin")],
)
def test_another_session_purpose_or_state_is_refused_and_the_flow_is_spent(
    state: str | None, session: str, purpose: str
) -> None:
    store = FlowStore()
    store.put({"state": "s1"}, session="A", purpose="admin")
    with pytest.raises(FlowRefused):
        store.take(state, session=session, purpose=purpose)
    if state == "s1":  # an attacker who replays a victim's state also burns it: the victim starts again
        with pytest.raises(FlowRefused):
            store.take("s1", session="A", purpose="admin")


def test_a_flow_expires_after_ten_minutes() -> None:
    clock = Clock()
    store = FlowStore(clock=clock)
    store.put({"state": "old"}, session="A", purpose="admin")
    clock.now += 599
    store.put({"state": "new"}, session="A", purpose="admin")
    clock.now += 2
    with pytest.raises(FlowRefused):
        store.take("old", session="A", purpose="admin")
    assert store.take("new", session="A", purpose="admin") == {"state": "new"}
