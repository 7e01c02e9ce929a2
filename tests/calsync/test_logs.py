"""The log pipeline end to end: real loggers (calsync's, httpx's, structlog's), real lines read back from
the configured stream, in both formats; redaction of everything a secret can hide in."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any, Literal

import httpx
import jwt
import pytest
import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st

from calsync import logs
from calsync.redact import MARK, Redactor, register_secret

Format = Literal["text", "json"]
FORMATS: tuple[Format, ...] = ("text", "json")
TOUCHED_LOGGERS = ("httpcore", "hpack", "h2", "httpx", "calsync")


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Every test here leaves logging as it found it, so caplog and other test files are unaffected:
    reset_logging first (the API under test), then a forced restore in case it is wrong."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in TOUCHED_LOGGERS}
    structlog_config = structlog.get_config()
    yield
    logs.reset_logging()
    structlog.contextvars.clear_contextvars()
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, number in levels.items():
        logging.getLogger(name).setLevel(number)
    structlog.configure(**structlog_config)


def configure(fmt: Format = "json", level: str = "info", redactor: Redactor | None = None) -> io.StringIO:
    stream = io.StringIO()
    logs.configure_logging(level, fmt, stream=stream, redactor=redactor or Redactor())
    return stream


def json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def strings_in(value: object) -> Iterator[str]:
    """Every string in a decoded JSON value, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)


# -- third-party loggers ------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_httpx_request_line_keeps_the_url_but_not_its_token(fmt: Format) -> None:
    stream = configure(fmt)
    url = "https://timetable.example.edu/ical/a.ics?token=feedtoken123&user=a"
    with httpx.Client(transport=httpx.MockTransport(lambda _: httpx.Response(200))) as client:
        client.get(url)

    output = stream.getvalue()
    assert "feedtoken123" not in output
    assert "user=a" not in output
    assert 'HTTP Request: GET https://timetable.example.edu/ical/a.ics?[redacted] \\"HTTP/1.1 200 OK\\"' in (
        output if fmt == "json" else json.dumps(output)
    )
    if fmt == "json":
        (line,) = json_lines(stream)
        assert line["logger"] == "httpx"
        assert line["level"] == "info"


def test_httpx_logging_the_way_httpx_does_with_percent_args() -> None:
    stream = configure("text")
    logging.getLogger("httpx").info(
        'HTTP Request: %s %s "%s %d %s"',
        "GET",
        httpx.URL("https://user:pw-in-url@timetable.example.edu/ical/b.ics?token=abc#frag"),
        "HTTP/1.1",
        200,
        "OK",
    )
    line = stream.getvalue()
    assert 'GET https://[redacted]@timetable.example.edu/ical/b.ics?[redacted] "HTTP/1.1 200 OK"' in line
    assert "pw-in-url" not in line
    assert "token=abc" not in line


# -- registered secrets, wherever they hide -----------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_registered_secret_is_redacted_in_message_fields_nested_values_and_tracebacks(fmt: Format) -> None:
    secret = "s3cr3t-" + uuid.uuid4().hex
    stream = configure(fmt, redactor=Redactor([secret]))
    log = logging.getLogger("calsync.test")

    log.warning("message carries %s inline", secret)
    log.warning("field", extra={"detail": f"prefix {secret} suffix", "count": 3})
    log.warning("nested", extra={"body": {"items": [{"note": secret}], "pair": ("x", secret)}})
    try:
        raise RuntimeError(f"upstream said {secret}")
    except RuntimeError:
        log.exception("failed")

    output = stream.getvalue()
    assert secret not in output
    assert output.count(MARK) >= 5
    if fmt == "json":
        message, field, nested, failed = json_lines(stream)
        assert message["event"] == f"message carries {MARK} inline"
        assert field["detail"] == f"prefix {MARK} suffix"
        assert field["count"] == 3
        assert nested["body"] == {"items": [{"note": MARK}], "pair": ["x", MARK]}
        assert "Traceback (most recent call last)" in failed["exception"]
        assert failed["exception"].endswith(f"RuntimeError: upstream said {MARK}")
    else:
        assert "Traceback (most recent call last)" in output


def test_register_secret_feeds_the_default_pipeline() -> None:
    secret = "global-" + uuid.uuid4().hex  # unique, so leaving it registered affects no other test
    register_secret(secret)
    stream = io.StringIO()
    logs.configure_logging("info", "json", stream=stream)
    logging.getLogger("msal").info("token request for %s", secret)
    assert secret not in stream.getvalue()
    assert json_lines(stream)[0]["event"] == f"token request for {MARK}"


def test_a_number_that_spells_a_registered_secret_is_redacted() -> None:
    stream = configure("json", redactor=Redactor(["987654321"]))
    logging.getLogger("calsync.test").warning("pin", extra={"pin": 987654321, "other": 42})
    (line,) = json_lines(stream)
    assert line["pin"] == MARK
    assert line["other"] == 42


@pytest.mark.parametrize("fmt", FORMATS)
def test_fields_whose_names_say_secret_lose_their_values(fmt: Format) -> None:
    stream = configure(fmt)
    logging.getLogger("calsync.test").warning(
        "request",
        extra={
            "client_secret": "abc",
            "headers": {"Authorization": "Bearer x", "Cookie": "s=1", "Accept": "application/json"},
            "form": {"code": "authcode", "code_verifier": "v", "state": "kept"},
            "status_code": 400,
        },
    )
    output = stream.getvalue()
    for value in ("authcode", "Bearer x", "s=1"):
        assert value not in output
    if fmt == "json":
        (line,) = json_lines(stream)
        assert line["client_secret"] == MARK
        assert line["headers"] == {"Authorization": MARK, "Cookie": MARK, "Accept": "application/json"}
        assert line["form"] == {"code": MARK, "code_verifier": MARK, "state": "kept"}
        assert line["status_code"] == 400


@pytest.mark.parametrize("fmt", FORMATS)
def test_pem_private_key_certificate_and_jwt_are_redacted(fmt: Format) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    body = pem.splitlines()[1]
    token = jwt.encode({"sub": "someone", "aud": "calsync"}, key, algorithm="ES256")
    stream = configure(fmt)
    log = logging.getLogger("calsync.test")
    log.warning("loaded key %s", pem)
    log.warning("assertion", extra={"sent": f"grant_type=client_credentials&x={token}&scope=a"})
    log.warning("cert -----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE----- end")

    output = stream.getvalue()
    assert body not in output
    assert token not in output
    assert token.split(".")[1] not in output
    assert "MIIBszCCAVmgAwIBAgIU" not in output
    if fmt == "json":
        key_line, assertion_line, cert_line = json_lines(stream)
        assert key_line["event"] == f"loaded key -----BEGIN PRIVATE KEY-----{MARK}-----END PRIVATE KEY-----\n"
        assert assertion_line["sent"] == f"grant_type=client_credentials&x={MARK}&scope=a"
        assert cert_line["event"] == f"cert -----BEGIN CERTIFICATE-----{MARK}-----END CERTIFICATE----- end"


# -- context ------------------------------------------------------------------------------------------


async def test_context_bound_in_asyncio_tasks_reaches_every_logger_and_stays_in_its_task() -> None:
    stream = configure("json")

    async def run(mailbox: str) -> None:
        with logs.context(run_id=f"run-{mailbox}", mailbox=mailbox):
            await asyncio.sleep(0)  # let the other task interleave
            logging.getLogger("calsync.graph").info(
                "calsync.graph.request", extra={"client_request_id": f"crid-{mailbox}", "status": 200}
            )
            logging.getLogger("httpx").info("HTTP Request: GET https://graph.example/v1.0/me")
            await asyncio.sleep(0)
        logging.getLogger("calsync.test").info("after the run")

    await asyncio.gather(run("ada@example.edu"), run("bob@example.edu"))

    lines = json_lines(stream)
    assert len(lines) == 6
    for line in lines:
        assert line["timestamp"].endswith("Z")
        if line["event"] == "after the run":
            assert "run_id" not in line
            assert "mailbox" not in line
        else:
            assert line["run_id"] == f"run-{line['mailbox']}"
    graph_lines = [line for line in lines if line["logger"] == "calsync.graph"]
    assert {(line["mailbox"], line["client_request_id"], line["status"]) for line in graph_lines} == {
        ("ada@example.edu", "crid-ada@example.edu", 200),
        ("bob@example.edu", "crid-bob@example.edu", 200),
    }


def test_bind_and_unbind() -> None:
    stream = configure("json")
    log = logging.getLogger("calsync.test")
    logs.bind(job_id="j1")
    log.info("bound")
    logs.unbind("job_id")
    log.info("unbound")
    bound, unbound = json_lines(stream)
    assert bound["job_id"] == "j1"
    assert "job_id" not in unbound


def test_an_extra_field_cannot_overwrite_the_message_or_level() -> None:
    stream = configure("json")
    logging.getLogger("calsync.test").info("the message", extra={"event": "forged", "level": "critical"})
    (line,) = json_lines(stream)
    assert (line["event"], line["level"]) == ("the message", "info")


def test_structlog_loggers_share_the_pipeline() -> None:
    stream = configure("json")
    with logs.context(run_id="r1"):
        structlog.get_logger("calsync.web").info("hello %s", "world", api_key="k-123456", n=2)
    (line,) = json_lines(stream)
    assert line["event"] == "hello world"
    assert line["logger"] == "calsync.web"
    assert (line["api_key"], line["n"], line["run_id"]) == (MARK, 2, "r1")


# -- the text format ----------------------------------------------------------------------------------


def test_text_is_one_line_per_event_with_fields_and_no_forged_lines() -> None:
    stream = configure("text")
    logging.getLogger("calsync.store").warning(
        "first\nFAKE 2020-01-01 ERROR forged\x1b[31m",
        extra={"database": "sqlite:///x.db", "note": "two words"},
    )
    (line,) = stream.getvalue().splitlines()
    timestamp, level, logger, rest = line.split(" ", 3)
    assert timestamp.endswith("Z")
    assert (level, logger) == ("WARNING", "calsync.store:")
    assert rest.startswith("first\\nFAKE 2020-01-01 ERROR forged\\x1b[31m ")
    assert rest.endswith(' database=sqlite:///x.db note="two words"')


# -- levels, idempotence, errors ----------------------------------------------------------------------


def test_levels_filter() -> None:
    stream = configure("JSON", level="WARNING")  # type: ignore[arg-type]  # as an env variable may spell it
    log = logging.getLogger("calsync.test")
    log.info("hidden")
    log.warning("shown")
    log.error("shown too")
    assert [line["event"] for line in json_lines(stream)] == ["shown", "shown too"]


def test_wire_loggers_stay_quiet_at_debug_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(logs.WIRE_ENV, raising=False)
    stream = configure("json", level="debug")
    logging.getLogger("calsync.graph").debug("calsync debug")
    logging.getLogger("httpcore.http11").debug("send_request_headers.started")
    logging.getLogger("hpack.hpack").debug("Decoded header")
    assert [line["event"] for line in json_lines(stream)] == ["calsync debug"]

    monkeypatch.setenv(logs.WIRE_ENV, "1")
    stream = configure("json", level="debug")
    logging.getLogger("httpcore.http11").debug("send_request_headers.started")
    assert [line["logger"] for line in json_lines(stream)] == ["httpcore.http11"]


def test_configuring_twice_does_not_duplicate_lines_and_the_last_call_wins() -> None:
    first = configure("text")
    second = configure("json")
    third = configure("json")
    logging.getLogger("calsync.test").warning("once")
    assert first.getvalue() == ""
    assert second.getvalue() == ""
    assert [line["event"] for line in json_lines(third)] == ["once"]
    ours = [h for h in logging.getLogger().handlers if type(h).__module__ == "calsync.logs"]
    assert len(ours) == 1


@pytest.mark.parametrize(("level", "fmt", "named"), [("verbose", "text", "level"), ("info", "xml", "format")])
def test_bad_level_or_format_raises_a_value_error_naming_the_choices(
    level: str, fmt: str, named: str
) -> None:
    with pytest.raises(logs.LoggingConfigError, match=f"unknown log {named}") as caught:
        logs.configure_logging(level, fmt, stream=io.StringIO())  # type: ignore[arg-type]
    assert isinstance(caught.value, ValueError)
    assert ("debug, info, warning, error" if named == "level" else "text, json") in str(caught.value)


def test_a_record_that_cannot_be_formatted_is_reported_without_its_arguments(
    capsys: pytest.CaptureFixture[str],
) -> None:
    stream = configure("json", redactor=Redactor(["argument-secret"]))
    # pytest's own capture handler would raise on this record: leave only ours (the fixture restores them).
    root = logging.getLogger()
    root.handlers[:] = [handler for handler in root.handlers if type(handler).__module__ == "calsync.logs"]
    logging.getLogger("calsync.test").warning("needs a number: %d", "argument-secret")
    output = stream.getvalue() + capsys.readouterr().err
    assert "could not log a record of 'calsync.test'" in output
    assert "TypeError" in output
    assert "argument-secret" not in output


def test_reset_logging_restores_what_configure_changed(caplog: pytest.LogCaptureFixture) -> None:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    httpcore_level = logging.getLogger("httpcore").level
    configure("text", level="debug")
    assert root.level == logging.DEBUG
    assert logging.getLogger("httpcore").level == logging.WARNING
    configure("json", level="error")
    logs.reset_logging()
    assert (root.handlers, root.level) == (handlers, level)
    assert logging.getLogger("httpcore").level == httpcore_level

    caplog.set_level(logging.INFO, logger="calsync.test")
    logging.getLogger("calsync.test").info("caplog still sees this")
    assert [record.getMessage() for record in caplog.records] == ["caplog still sees this"]


# -- properties ---------------------------------------------------------------------------------------

# Printable text: no control characters or line/paragraph separators (the text format escapes those,
# which changes the text itself) and no backslash (JSON escapes it), so "not in the output" is exact.
printable = st.characters(
    exclude_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"), exclude_characters="\\"
)
secrets = st.text(printable, min_size=6, max_size=40).filter(lambda s: s.strip() and s not in MARK)
surrounding = st.text(printable, max_size=60)


@given(secret=secrets, before=surrounding, after=surrounding)
def test_property_redact_never_returns_a_registered_secret(secret: str, before: str, after: str) -> None:
    assert secret not in Redactor([secret]).redact(f"{before}{secret}{after}")


@given(secret=secrets, before=surrounding, after=surrounding, fmt=st.sampled_from(FORMATS))
def test_property_no_log_line_carries_a_registered_secret(
    secret: str, before: str, after: str, fmt: Format
) -> None:
    text = f"{before}{secret}{after}"
    stream = configure(fmt, redactor=Redactor([secret]))
    logging.getLogger("calsync.test").warning(text, extra={"field": text, "nested": {"k": [text]}})
    if fmt == "json":
        (line,) = json_lines(stream)
        assert not [value for value in strings_in(line) if secret in value]
    else:
        assert secret not in stream.getvalue()
