"""The installation's settings come from HOTLINE_* variables; a bad one is refused by name."""

import re
from pathlib import Path

import pytest

from hotline.settings import DEFAULT_PROFILE, Settings, SettingsError


def test_without_variables_the_defaults_hold(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    settings = Settings.from_env({"HOME": "/home/someone"})
    assert settings.profile_path == DEFAULT_PROFILE.resolve()
    assert settings.db_url == f"sqlite:///{tmp_path / 'var' / 'hotline.db'}"
    assert settings.cache_dir == Settings().cache_dir
    assert (settings.instance, settings.sip_port, settings.ami_port, settings.agi_port, settings.http_port) == (
        "default",
        5060,
        5038,
        4573,
        8151,
    )
    assert settings.trunk_match == ("127.0.0.1",) and settings.trunk_contact == "sip:127.0.0.1:5070"
    assert settings.service_user == "hotline" and settings.service_dir == Path("/var/lib/hotline/default")


def test_as_root_the_database_is_in_the_service_folder_that_root_hands_to_the_service_user(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("os.geteuid", lambda: 0)
    settings = Settings.from_env({"HOTLINE_STATE_DIR": str(tmp_path / "state"), "HOTLINE_INSTANCE": "line2"})
    assert settings.service_dir == tmp_path / "state" / "line2"
    assert settings.db_url == f"sqlite:///{tmp_path / 'state' / 'line2' / 'hotline.db'}"
    assert settings.cache_dir == Path("/var/cache/hotline")
    assert Settings.from_env({"HOTLINE_DB_URL": "sqlite:///h.db"}).db_url == f"sqlite:///{tmp_path / 'h.db'}"


def test_the_service_user_is_a_user_name_and_root_means_none():
    assert Settings.from_env({"HOTLINE_SERVICE_USER": "svc-hotline"}).service_user == "svc-hotline"
    assert Settings.from_env({"HOTLINE_SERVICE_USER": "root"}).service_user is None
    with pytest.raises(SettingsError, match="HOTLINE_SERVICE_USER='a b' is not a user name"):
        Settings.from_env({"HOTLINE_SERVICE_USER": "a b"})


def test_every_variable_of_the_table_is_read(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env({
        "HOTLINE_PROFILE": "mine.yaml",
        "HOTLINE_DB_URL": "postgresql://hotline@db/hotline",
        "HOTLINE_CACHE_DIR": str(tmp_path / "cache"),
        "HOTLINE_INSTANCE": "second_line-2",
        "HOTLINE_SIP_PORT": "5062",
        "HOTLINE_AMI_PORT": "5039",
        "HOTLINE_AGI_PORT": "4574",
        "HOTLINE_HTTP_PORT": "8152",
        "HOTLINE_TRUNK_MATCH": "192.0.2.10, 198.51.100.0/24,",
        "HOTLINE_TRUNK_CONTACT": "sip:sbc.example:5060",
        "HOTLINE_SERVICE_USER": "svc",
        "HOTLINE_STATE_DIR": str(tmp_path / "state"),
    })  # fmt: skip
    assert settings == Settings(
        profile_path=tmp_path / "mine.yaml",
        db_url="postgresql://hotline@db/hotline",
        cache_dir=tmp_path / "cache",
        instance="second_line-2",
        sip_port=5062,
        ami_port=5039,
        agi_port=4574,
        http_port=8152,
        trunk_match=("192.0.2.10", "198.51.100.0/24"),
        trunk_contact="sip:sbc.example:5060",
        service_user="svc",
        state_dir=tmp_path / "state",
    )


def test_the_cache_follows_xdg_unless_hotline_cache_dir_is_set(tmp_path):
    assert Settings.from_env({"XDG_CACHE_HOME": str(tmp_path)}).cache_dir == tmp_path / "hotline"
    both = {"XDG_CACHE_HOME": str(tmp_path), "HOTLINE_CACHE_DIR": str(tmp_path / "mine")}
    assert Settings.from_env(both).cache_dir == tmp_path / "mine"


def test_an_empty_variable_counts_as_unset():
    assert Settings.from_env({"HOTLINE_SIP_PORT": "", "HOTLINE_TRUNK_MATCH": ""}).sip_port == 5060


def test_a_relative_sqlite_file_is_where_the_command_runs(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert Settings.from_env({"HOTLINE_DB_URL": "sqlite:///h.db"}).db_url == f"sqlite:///{tmp_path / 'h.db'}"
    assert Settings.from_env({"HOTLINE_DB_URL": "sqlite:///:memory:"}).db_url == "sqlite:///:memory:"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("HOTLINE_SIP_PORT", "sip", "HOTLINE_SIP_PORT='sip' is not a port number (1-65535)"),
        ("HOTLINE_AMI_PORT", "0", "HOTLINE_AMI_PORT='0' is not a port number (1-65535)"),
        ("HOTLINE_HTTP_PORT", "65536", "HOTLINE_HTTP_PORT='65536' is not a port number (1-65535)"),
        ("HOTLINE_INSTANCE", "../etc", "HOTLINE_INSTANCE='../etc' may hold only letters, digits, - and _"),
    ],
)
def test_a_bad_value_is_refused_with_the_variable_name(variable, value, message):
    with pytest.raises(SettingsError) as info:
        Settings.from_env({variable: value})
    assert str(info.value) == message


def test_every_bad_variable_is_reported_at_once():
    with pytest.raises(SettingsError) as info:
        Settings.from_env({"HOTLINE_AGI_PORT": "-1", "HOTLINE_INSTANCE": "a b", "HOTLINE_HTTP_PORT": "http"})
    assert [line.split("=")[0] for line in str(info.value).splitlines()] == [
        "HOTLINE_INSTANCE",
        "HOTLINE_AGI_PORT",
        "HOTLINE_HTTP_PORT",
    ]


def test_settings_built_in_code_do_not_read_the_environment(monkeypatch):
    monkeypatch.setenv("HOTLINE_SIP_PORT", "6000")
    assert Settings(db_url="sqlite:///:memory:").sip_port == 5060
    assert Settings.from_env().sip_port == 6000
    assert isinstance(Settings().profile_path, Path)


def test_the_public_origin_and_the_fault_switch_are_read_and_checked() -> None:
    settings = Settings.from_env({"HOTLINE_PUBLIC_ORIGIN": "https://hotline.example.org",
                                  "HOTLINE_TEST_CRASH_AFTER_CLAIM": "1"})  # fmt: skip
    assert settings.public_origin == "https://hotline.example.org"
    assert settings.test_crash_after_claim is True
    assert Settings.from_env({}).public_origin is None and Settings.from_env({}).test_crash_after_claim is False
    with pytest.raises(
        SettingsError, match=re.escape("HOTLINE_PUBLIC_ORIGIN='https://x.org/console' is not an origin")
    ):
        Settings.from_env({"HOTLINE_PUBLIC_ORIGIN": "https://x.org/console"})


def test_the_trusted_proxies_are_addresses_or_networks() -> None:
    settings = Settings.from_env({"HOTLINE_TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8,::1"})
    assert settings.trusted_proxies == ("127.0.0.1", "10.0.0.0/8", "::1")
    assert Settings.from_env({}).trusted_proxies == ()
    with pytest.raises(SettingsError, match=re.escape("'proxy.example.org' is not an address or a network")):
        Settings.from_env({"HOTLINE_TRUSTED_PROXIES": "127.0.0.1,proxy.example.org"})
