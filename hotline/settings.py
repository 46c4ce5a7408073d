"""Settings of one hotline installation, from the environment with sane defaults.

| variable | default | meaning |
|---|---|---|
| HOTLINE_PROFILE | profiles/moh-151.yaml | the profile YAML |
| HOTLINE_DB_URL | sqlite:///var/hotline.db | where call records go (SQLite file, or postgresql://…) |
| HOTLINE_CACHE_DIR | ~/.cache/hotline | the Asterisk root and the generated prompts |
| HOTLINE_INSTANCE | default | name of the Asterisk run directory |
| HOTLINE_SIP_PORT / HOTLINE_AMI_PORT / HOTLINE_AGI_PORT / HOTLINE_HTTP_PORT | 5060 / 5038 / 4573 / 8151 | loopback ports |
| HOTLINE_TRUNK_MATCH | 127.0.0.1 | comma-separated addresses or networks of the incoming trunk |
| HOTLINE_TRUNK_CONTACT | sip:127.0.0.1:5070 | where outgoing calls (callbacks) are sent: the carrier or SBC |
"""

from __future__ import annotations

import os
from importlib import resources
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_PROFILE = Path(str(resources.files("profiles") / "moh-151.yaml"))


class SettingsError(ValueError):
    """A setting in the environment that cannot be used."""


@dataclass(frozen=True)
class Settings:
    profile_path: Path = DEFAULT_PROFILE
    db_url: str = "sqlite:///var/hotline.db"  # relative to the working directory
    cache_dir: Path = Path.home() / ".cache" / "hotline"
    instance: str = "default"
    sip_host: str = "127.0.0.1"
    sip_port: int = 5060
    ami_port: int = 5038
    agi_host: str = "127.0.0.1"
    agi_port: int = 4573
    http_port: int = 8151
    rtp_start: int = 10000
    rtp_end: int = 10999
    trunk_match: tuple[str, ...] = ("127.0.0.1",)
    trunk_contact: str = "sip:127.0.0.1:5070"  # where calls out (callbacks) go: the carrier or SBC
    ivr_deadline_seconds: float = 120.0
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        defaults = cls()
        cache = env.get("HOTLINE_CACHE_DIR") or (
            str(Path(env["XDG_CACHE_HOME"]) / "hotline") if env.get("XDG_CACHE_HOME") else str(defaults.cache_dir)
        )
        return cls(
            profile_path=Path(env.get("HOTLINE_PROFILE", defaults.profile_path)).resolve(),
            db_url=_db_url(env.get("HOTLINE_DB_URL", defaults.db_url)),
            cache_dir=Path(cache).expanduser().resolve(),
            instance=_instance(env.get("HOTLINE_INSTANCE", defaults.instance)),
            sip_port=_port(env, "HOTLINE_SIP_PORT", defaults.sip_port),
            ami_port=_port(env, "HOTLINE_AMI_PORT", defaults.ami_port),
            agi_port=_port(env, "HOTLINE_AGI_PORT", defaults.agi_port),
            http_port=_port(env, "HOTLINE_HTTP_PORT", defaults.http_port),
            trunk_contact=env.get("HOTLINE_TRUNK_CONTACT", defaults.trunk_contact),
            trunk_match=tuple(
                part.strip() for part in env.get("HOTLINE_TRUNK_MATCH", "127.0.0.1").split(",") if part.strip()
            ),
        )


def _port(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise SettingsError(f"{name}={raw!r} is not a port number (1-65535)")
    return int(raw)


def _instance(name: str) -> str:
    if not name.replace("-", "").replace("_", "").isalnum():
        raise SettingsError(f"HOTLINE_INSTANCE={name!r} may hold only letters, digits, - and _")
    return name


def _db_url(url: str) -> str:
    """Resolve a relative SQLite path against the working directory, so the file is where one expects."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != prefix + ":memory:":
        return prefix + str(Path(url[len(prefix):]).resolve())
    return url
