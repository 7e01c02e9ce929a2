"""The pure rules of push: the retry schedule and Retry-After (property-based), the callback address
guard, the secret box, and the filters."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from hypothesis import given
from hypothesis import strategies as st

from calsync.services.push import events
from calsync.services.push.errors import CallbackRefused
from calsync.services.push.guard import CallbackPolicy, check_shape, pin
from calsync.services.push.retry import (
    JITTER,
    MAX_ATTEMPTS,
    MAX_RETRY_AFTER,
    SCHEDULE,
    decide,
    parse_retry_after,
)
from calsync.services.secretbox import SecretBox, SecretBoxError, secret_box
from calsync.settings import Settings
from calsync.store.vault import TokenVault

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
unit = st.floats(min_value=0, max_value=1, exclude_max=True)
failing = st.one_of(st.none(), st.integers(100, 199), st.integers(300, 409), st.integers(411, 599))


# -- the schedule ------------------------------------------------------------------------------------


def test_the_schedule_spans_days() -> None:
    total = sum(SCHEDULE, timedelta())
    assert timedelta(days=3) < total < timedelta(days=4)
    assert list(SCHEDULE) == sorted(SCHEDULE)
    assert MAX_ATTEMPTS == 10


@given(st.integers(200, 299), st.integers(1, MAX_ATTEMPTS), unit)
def test_2xx_is_delivered_at_any_attempt(status: int, attempts: int, r: float) -> None:
    assert decide(status, attempts, NOW, rng=lambda: r).verdict == "delivered"


@given(st.integers(1, MAX_ATTEMPTS), st.one_of(st.none(), st.text(max_size=20)))
def test_410_is_gone_whatever_else(attempts: int, retry_after: str | None) -> None:
    assert decide(410, attempts, NOW, retry_after=retry_after).verdict == "gone"


@given(failing, st.integers(1, MAX_ATTEMPTS - 1), unit)
def test_failures_wait_the_scheduled_time_stretched_by_the_jitter(
    status: int | None, attempts: int, r: float
) -> None:
    decision = decide(status, attempts, NOW, rng=lambda: r)
    assert decision.verdict == "retry"
    assert decision.at is not None
    wait = decision.at - NOW
    assert SCHEDULE[attempts - 1] <= wait <= SCHEDULE[attempts - 1] * (1 + JITTER)


@given(failing, st.integers(MAX_ATTEMPTS, MAX_ATTEMPTS + 5))
def test_after_the_last_attempt_the_notification_is_dead(status: int | None, attempts: int) -> None:
    assert decide(status, attempts, NOW).verdict == "dead"


@given(st.sampled_from([429, 503]), st.integers(1, MAX_ATTEMPTS - 1), st.integers(0, 10**7), unit)
def test_retry_after_seconds_are_honoured_never_shortening_the_schedule(
    status: int, attempts: int, seconds: int, r: float
) -> None:
    decision = decide(status, attempts, NOW, retry_after=str(seconds), rng=lambda: r)
    assert decision.at is not None
    wait = decision.at - NOW
    assert wait >= min(timedelta(seconds=seconds), MAX_RETRY_AFTER)
    assert wait >= SCHEDULE[attempts - 1]
    assert wait <= max(MAX_RETRY_AFTER, SCHEDULE[attempts - 1] * (1 + JITTER))


@given(st.sampled_from([500, 502, 400, None]), st.integers(0, 10**6))
def test_retry_after_is_ignored_on_other_answers(status: int | None, seconds: int) -> None:
    decision = decide(status, 1, NOW, retry_after=str(seconds), rng=lambda: 0.0)
    assert decision.at == NOW + SCHEDULE[0]


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)))
def test_retry_after_http_dates(when: datetime) -> None:
    when = when.replace(microsecond=0)
    wait = parse_retry_after(format_datetime(when, usegmt=True), NOW)
    assert wait == min(max(when - NOW, timedelta(0)), MAX_RETRY_AFTER)


@given(st.text(max_size=40))
def test_retry_after_garbage_is_none_or_a_bounded_wait(text: str) -> None:
    wait = parse_retry_after(text, NOW)
    assert wait is None or timedelta(0) <= wait <= MAX_RETRY_AFTER


@pytest.mark.parametrize("text", ["", "soon", "-5", "1.5", "Tue, 99 Foo 2026", "0x10"])
def test_malformed_retry_after_is_ignored(text: str) -> None:
    assert parse_retry_after(text, NOW) is None


# -- the address guard --------------------------------------------------------------------------------

STRICT = CallbackPolicy()
DEV = CallbackPolicy(allow_private=True, allow_http=True)


@pytest.mark.parametrize(
    "url",
    ["https://127.0.0.1/x", "https://127.1/x", "https://2130706433/", "https://0177.0.0.1/", "https://[::1]/",
     "https://10.1.2.3/", "https://192.168.0.10:8443/", "https://[::ffff:127.0.0.1]/", "https://[fd00::1]/",
     "https://169.254.169.254/", "https://100.64.0.1/"],
)  # fmt: skip
def test_private_and_loopback_literals_are_refused(url: str) -> None:
    with pytest.raises(CallbackRefused, match=r"refused address|not a valid URL"):  # httpx refuses 0177.
        check_shape(url, STRICT)


@pytest.mark.parametrize(
    ("url", "why"),
    [("http://example.com/x", "only https"), ("ftp://example.com/x", "https:// URL"),
     ("https://user:pw@example.com/x", "user:password"), ("https://example.com/x#frag", "fragment"),
     ("not a url", "https:// URL"), ("https://" + "a" * 3000 + ".com/", "1 to 2048")],
)  # fmt: skip
def test_malformed_or_unsafe_urls_are_refused(url: str, why: str) -> None:
    with pytest.raises(CallbackRefused, match=why):
        check_shape(url, STRICT)


def test_loopback_is_allowed_only_with_the_setting_and_metadata_never() -> None:
    assert check_shape("http://127.0.0.1:8000/hook", DEV).port == 8000
    with pytest.raises(CallbackRefused, match="link-local"):
        check_shape("http://169.254.169.254/latest", DEV)


async def test_a_name_is_pinned_to_its_checked_address_and_every_answer_must_pass() -> None:
    pinned = await pin("https://hooks.example.com:8443/in", STRICT, resolver=lambda host: ["93.184.216.34"])
    assert str(pinned.url) == "https://93.184.216.34:8443/in"
    assert (pinned.host_header, pinned.server_name) == ("hooks.example.com:8443", "hooks.example.com")
    with pytest.raises(CallbackRefused, match="private"):
        await pin("https://hooks.example.com/", STRICT, resolver=lambda host: ["93.184.216.34", "10.0.0.5"])

    def fails(host: str) -> list[str]:
        raise OSError("no such host")

    with pytest.raises(CallbackRefused, match="could not be resolved"):
        await pin("https://nowhere.example/", STRICT, resolver=fails)


# -- the secret box -------------------------------------------------------------------------------


def _box(*keys: bytes) -> SecretBox:
    return SecretBox(TokenVault([k.decode() for k in keys]))


@given(
    st.binary(min_size=24, max_size=64).map(lambda b: "whsec_" + base64.b64encode(b).decode()),
    st.text(max_size=40),
)
def test_sealed_secrets_open_in_their_context_only(secret: str, context: str) -> None:
    box = _box(KEY)
    sealed = box.seal(secret, context)
    assert secret not in sealed
    assert box.open(sealed, context) == secret
    with pytest.raises(SecretBoxError, match="another record"):
        box.open(sealed, context + "x")


KEY = Fernet.generate_key()


def test_rotation_keeps_old_secrets_readable_and_reseals_them_under_the_new_key() -> None:
    old, new = Fernet.generate_key(), Fernet.generate_key()
    sealed = _box(old).seal("whsec_abc", "chn_1")
    both = _box(new, old)
    assert both.open(sealed, "chn_1") == "whsec_abc"
    rotated = both.rotate(sealed)
    assert _box(new).open(rotated, "chn_1") == "whsec_abc"
    with pytest.raises(SecretBoxError, match="key is missing or wrong"):
        _box(new).open(sealed, "chn_1")


def test_the_box_uses_the_deployments_token_keys_and_explains_a_bad_one(tmp_path: Path) -> None:
    """One key ring per deployment: what the variable or the key file holds seals channel secrets too."""
    file = tmp_path / "keys"
    file.write_text(f"# current\n{KEY.decode()}\n\n{Fernet.generate_key().decode()}\n")
    sealed = secret_box(Settings(token_key_file=file)).seal("whsec_x", "chn_1")
    assert _box(KEY).open(sealed, "chn_1") == "whsec_x"
    assert secret_box(Settings(token_keys=KEY.decode())).open(sealed, "chn_1") == "whsec_x"
    with pytest.raises(SecretBoxError, match="not a Fernet key"):
        secret_box(Settings(token_keys="not-a-key"))
    with pytest.raises(SecretBoxError, match="token_key_file"):
        secret_box(Settings(token_key_file=tmp_path / "missing"))


# -- filters ----------------------------------------------------------------------------------------

notices = st.builds(
    events.Notice,
    event_type=st.sampled_from(events.EVENT_TYPES),
    data=st.just({}),
    calendar_ids=st.lists(st.sampled_from(["a", "b", "c"]), max_size=2).map(tuple),
    managed=st.booleans(),
    origin=st.sampled_from([None, "k1", "k2"]),
)


@given(notices)
def test_a_channel_without_filters_gets_everything_but_its_own_keys_writes(notice: events.Notice) -> None:
    own = notice.event_type == events.CALENDAR_CHANGED and notice.origin == "k1"
    assert events.matches(events.Filters(), "k1", notice) is not own
    assert events.matches(events.Filters(echo=True), "k1", notice)


@given(notices, st.lists(st.sampled_from(["a", "b", "c"]), max_size=3))
def test_calendar_filters_never_drop_a_change_of_unknown_calendars(
    notice: events.Notice, ids: list[str]
) -> None:
    got = events.matches(events.Filters(calendar_ids=tuple(ids)), "k9", notice)
    if notice.event_type != events.CALENDAR_CHANGED or not notice.calendar_ids:
        assert got
    else:
        assert got == bool(set(ids) & set(notice.calendar_ids))
