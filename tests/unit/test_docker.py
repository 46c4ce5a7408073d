"""The shipped deployment files (issue 10, items 1, 4 and 11): the database in docker/compose.yaml, the image's
user, and the systemd unit. There is no Docker engine or systemd here: the files are parsed and checked."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest
import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DOCKER = PROJECT_ROOT / "docker"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text(encoding="utf-8"))


def _environment(service: dict) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def test_database_takes_only_scram_passwords_from_a_secret(compose: dict) -> None:
    db = compose["services"]["db"]
    env = _environment(db)
    assert "POSTGRES_HOST_AUTH_METHOD" not in env
    assert "POSTGRES_PASSWORD" not in env  # never the password itself in the file
    assert env["POSTGRES_PASSWORD_FILE"].startswith("/run/secrets/")
    secret = env["POSTGRES_PASSWORD_FILE"].removeprefix("/run/secrets/")
    assert secret in db["secrets"]
    assert "--auth-host=scram-sha-256" in env["POSTGRES_INITDB_ARGS"].split()


def test_database_is_not_on_the_host_network_and_listens_only_on_loopback(compose: dict) -> None:
    db = compose["services"]["db"]
    assert "network_mode" not in db
    for port in db.get("ports", []):
        assert str(port).startswith("127.0.0.1:"), port


def test_service_reaches_the_database_with_the_secret_not_a_password_in_the_url(compose: dict) -> None:
    hotline = compose["services"]["hotline"]
    env = _environment(hotline)
    url = env["HOTLINE_DB_URL"]
    assert url.startswith("postgresql://") and ":" not in url.removeprefix("postgresql://").split("@")[0]
    assert env["PGPASSFILE"].removeprefix("/run/secrets/") in hotline["secrets"]


def test_secret_files_live_in_a_folder_git_ignores(compose: dict) -> None:
    folder = (DOCKER / "secrets").resolve()
    for secret in compose["secrets"].values():
        assert (DOCKER / secret["file"]).resolve().parent == folder, secret
    assert "*" in (folder / ".gitignore").read_text().splitlines()  # generated at install, never committed


def test_image_runs_the_service_as_an_unprivileged_user() -> None:
    lines = [line.strip() for line in (DOCKER / "Dockerfile").read_text().splitlines() if line.strip()]
    users = [line.split(None, 1)[1] for line in lines if line.startswith("USER ")]
    assert users, "the Dockerfile has no USER"
    assert users[-1].split(":")[0] not in ("root", "0")
    entry = max(i for i, line in enumerate(lines) if line.startswith(("ENTRYPOINT", "CMD")))
    assert max(i for i, line in enumerate(lines) if line.startswith("USER ")) < entry


def test_systemd_unit_restarts_the_service_and_leaves_asterisk_to_the_restarted_run() -> None:
    unit = configparser.ConfigParser(interpolation=None, strict=False)
    unit.optionxform = str  # keys are case-sensitive in systemd
    unit.read(PROJECT_ROOT / "deploy" / "hotline.service")
    service = unit["Service"]
    assert service["Restart"] in ("on-failure", "always")
    assert service["ExecStart"].endswith("hotline run")
    assert service["KillMode"] == "process"  # a crash keeps Asterisk (and its calls) for the restart to adopt
    assert "StartLimitBurst" not in service and "StartLimitBurst" in unit["Unit"]
