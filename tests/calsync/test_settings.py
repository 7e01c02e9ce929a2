"""Settings: calsync.toml plus CALSYNC_* variables, every problem reported at once with its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from calsync.settings import SettingsError, load_settings


def test_file_and_environment_are_merged_with_environment_winning(tmp_path: Path) -> None:
    """A variable overrides the same key in calsync.toml."""
    config = tmp_path / "calsync.toml"
    config.write_text('tenant_id = "from-file"\nclient_id = "cid"\n')
    settings = load_settings(config, env={"CALSYNC_TENANT_ID": "from-env"})
    assert settings.tenant_id == "from-env"
    assert settings.client_id == "cid"
    assert settings.authority == "https://login.microsoftonline.com/from-env"


def test_every_problem_is_reported_with_its_key(tmp_path: Path) -> None:
    """Unknown keys and bad values are all listed, not just the first."""
    config = tmp_path / "calsync.toml"
    config.write_text('tenant = "x"\nmailbox_concurrency = 9\npermissions = "both"\n')
    with pytest.raises(SettingsError) as info:
        load_settings(config, env={})
    text = "\n".join(info.value.problems)
    assert "tenant: unknown key" in text
    assert "mailbox_concurrency" in text
    assert "permissions" in text
    assert len(info.value.problems) == 3


def test_secret_is_hidden_in_repr_and_read_from_file(tmp_path: Path) -> None:
    """A client secret never shows in repr; a secret file is read on demand."""
    secret_file = tmp_path / "secret"
    secret_file.write_text("s3cr3t-value\n")
    settings = load_settings(None, env={"CALSYNC_CLIENT_SECRET_FILE": str(secret_file)})
    assert settings.secret_value() == "s3cr3t-value"
    env_settings = load_settings(None, env={"CALSYNC_CLIENT_SECRET": "hidden-value"})
    assert "hidden-value" not in repr(env_settings)
    assert env_settings.secret_value() == "hidden-value"


def test_two_credentials_are_refused(tmp_path: Path) -> None:
    """Giving a secret and a certificate at once is a configuration error."""
    with pytest.raises(SettingsError, match="one credential"):
        load_settings(
            None,
            env={
                "CALSYNC_CLIENT_SECRET": "x",
                "CALSYNC_CERTIFICATE_FILE": "c.pem",
                "CALSYNC_PRIVATE_KEY_FILE": "k",
            },
        )


def test_bad_toml_names_the_file(tmp_path: Path) -> None:
    """A syntax error in calsync.toml is reported with the file name."""
    config = tmp_path / "calsync.toml"
    config.write_text("tenant_id = \n")
    with pytest.raises(SettingsError) as info:
        load_settings(config, env={})
    assert info.value.source == str(config)


def test_require_lists_missing_keys() -> None:
    """require() names every missing key and the variable that sets it."""
    settings = load_settings(None, env={})
    with pytest.raises(SettingsError) as info:
        settings.require("tenant_id", "client_id")
    assert any("CALSYNC_TENANT_ID" in p for p in info.value.problems)
    assert len(info.value.problems) == 2


def test_a_secret_in_the_file_is_refused_with_the_alternative(tmp_path: Path) -> None:
    """client_secret and passwords come from variables or files, never from calsync.toml itself."""
    config = tmp_path / "calsync.toml"
    config.write_text('tenant_id = "t"\nclient_secret = "s3cr3t-value"\npkcs12_password = "pw"\n')
    with pytest.raises(SettingsError) as info:
        load_settings(config, env={})
    text = "\n".join(info.value.problems)
    assert "client_secret: not accepted in the file" in text
    assert "CALSYNC_CLIENT_SECRET" in text
    assert "pkcs12_password: not accepted" in text
    assert "s3cr3t-value" not in str(info.value)
    settings = load_settings(
        None, env={"CALSYNC_CLIENT_SECRET": "from-env", "CALSYNC_CONFIG": str(tmp_path / "none")}
    )
    assert settings.secret_value() == "from-env"


def test_every_key_is_documented() -> None:
    """docs/configuration.md has a row for every setting, so the reference cannot fall behind."""
    from calsync.settings import Settings

    text = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text(encoding="utf-8")
    missing = [name for name in Settings.model_fields if f"| `{name}` |" not in text]
    assert missing == []


def test_list_keys_come_from_comma_separated_variables(tmp_path: Path) -> None:
    """Every list-typed key (mailboxes, scopes, feed lists) is split on commas; other keys are not."""
    env = {
        "CALSYNC_CONFIG": str(tmp_path / "absent.toml"),
        "CALSYNC_MAILBOXES": "a@uni.edu, b@uni.edu,,",
        "CALSYNC_DELEGATED_SCOPES": "Calendars.ReadWrite,User.Read",
        "CALSYNC_FEED_ONLY_HOSTS": "timetable.uni.edu",
        "CALSYNC_GROUP": "staff,students",
    }
    settings = load_settings(None, env=env)
    assert settings.mailboxes == ["a@uni.edu", "b@uni.edu"]
    assert settings.delegated_scopes == ["Calendars.ReadWrite", "User.Read"]
    assert settings.feed_only_hosts == ["timetable.uni.edu"]
    assert settings.group == "staff,students"


def test_a_variable_that_matches_no_setting_is_warned_about(tmp_path: Path) -> None:
    """A mistyped CALSYNC_* variable is otherwise silently ignored (the default wins): each is named,
    with the closest key, and its value (which may be a secret) is never shown."""
    env = {
        "CALSYNC_CONFIG": str(tmp_path / "absent.toml"),
        "CALSYNC_TENANTID": "tenant-value-123",
        "CALSYNC_CLIENT_SECERT": "s3cret~Value.do-not-print",
        "CALSYNC_MAILBOX": "ada@uni.edu",
        "CALSYNC_QWXZ": "whatever",
        "CALSYNC_CLIENT_ID": "cid",
        "CALSYNC_LOG_WIRE": "1",
        "CALSYNC_CRASH_AT": "apply:1",
        "CALSYNC_TEST_POSTGRES_URL": "postgresql://x",
        "OTHER_TENANTID": "not ours",
    }
    warnings: list[str] = []
    settings = load_settings(None, env=env, warn=warnings.append)
    assert settings.client_id == "cid"
    assert len(warnings) == 4
    text = "\n".join(warnings)
    for name, key in (
        ("CALSYNC_TENANTID", "CALSYNC_TENANT_ID"),
        ("CALSYNC_CLIENT_SECERT", "CALSYNC_CLIENT_SECRET"),
        ("CALSYNC_MAILBOX", "CALSYNC_MAILBOXES"),
    ):
        (line,) = [w for w in warnings if w.startswith(f"{name} ")]
        assert key in line
    assert "CALSYNC_QWXZ" in text
    for value in env.values():
        if len(value) > 5:
            assert value not in text


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (
            'calendar_id = "AAMk"\ncalendar_name = "Timetable"\n',
            "give calendar_id or calendar_name, not both",
        ),
        ('calendar_color = "lightBlue"\n', "calendar_color needs calendar_name"),
        ('calendar_name = "T"\ncalendar_color = "blue"\n', "calendar_color"),
        (
            'ics_file = "a.ics"\ncalendar_name = "T"\n[[profiles]]\nname = "exams"\ncsv_file = "e.csv"\n'
            'calendar_id = "AAMk"\ncalendar_name = "E"\n',
            "profile 'exams': give calendar_id or calendar_name, not both",
        ),
    ],
)
def test_target_calendar_keys_are_checked(tmp_path: Path, body: str, problem: str) -> None:
    path = tmp_path / "calsync.toml"
    path.write_text(body)
    with pytest.raises(SettingsError, match=problem):
        load_settings(path, env={})


def test_a_profiles_calendar_replaces_the_top_levels_as_one(tmp_path: Path) -> None:
    """A profile that names its calendar does not inherit the top level's colour (the colour is the top
    level's calendar's); purge_removes_calendar is inherited like any other key."""
    path = tmp_path / "calsync.toml"
    path.write_text(
        'ics_file = "a.ics"\ncalendar_name = "Timetable"\ncalendar_color = "lightTeal"\n'
        "purge_removes_calendar = true\n"
        '[[profiles]]\nname = "exams"\ncsv_file = "e.csv"\ncalendar_name = "Exams"\n'
    )
    exams = load_settings(path, env={}).for_profile("exams")
    assert (exams.calendar_name, exams.calendar_color, exams.purge_removes_calendar) == ("Exams", None, True)


def test_recurrence_defaults_to_series_and_a_profile_may_choose_occurrences(tmp_path: Path) -> None:
    """Issue 12: a minimal calsync.toml syncs recurring feed events as series; a profile that leaves the
    key out inherits the top level's, one that sets `recurrence = "occurrences"` keeps one event each."""
    path = tmp_path / "calsync.toml"
    path.write_text(
        'ics_file = "a.ics"\n'
        '[[profiles]]\nname = "exams"\nics_file = "e.ics"\n'
        '[[profiles]]\nname = "rooms"\nics_file = "r.ics"\nrecurrence = "occurrences"\n'
    )
    settings = load_settings(path, env={})
    assert settings.recurrence == "series"
    assert settings.for_profile("exams").recurrence == "series"
    assert settings.for_profile("rooms").recurrence == "occurrences"
    everywhere = load_settings(path, env={"CALSYNC_RECURRENCE": "occurrences"})
    assert (everywhere.recurrence, everywhere.for_profile("exams").recurrence) == (
        "occurrences",
        "occurrences",
    )
