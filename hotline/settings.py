"""Settings of one hotline installation, from the environment with sane defaults.

| variable | default | meaning |
|---|---|---|
| HOTLINE_PROFILE | profiles/moh-151.yaml | the profile YAML |
| HOTLINE_DB_URL | sqlite:///var/hotline.db (root: the service folder) | SQLite file, or postgresql://… |
| HOTLINE_CACHE_DIR | ~/.cache/hotline (root: /var/cache/hotline) | Asterisk root, prompts ($XDG_CACHE_HOME/hotline) |
| HOTLINE_INSTANCE | default | name of the Asterisk run directory |
| HOTLINE_SIP_PORT / _AMI_PORT / _AGI_PORT / _HTTP_PORT | 5060 / 5038 / 4573 / 8151 | loopback ports |
| HOTLINE_TRUNK_MATCH | 127.0.0.1 | comma-separated addresses or networks of the incoming trunk |
| HOTLINE_TRUNK_CONTACT | sip:127.0.0.1:5070 | where outgoing calls (callbacks) are sent: the carrier or SBC |
| HOTLINE_PUBLIC_ORIGIN | (none) | the console's origin behind a TLS proxy, e.g. https://hotline.example.org |
| HOTLINE_SIP_BAN_AFTER | 5 | failed SIP logins from one address in 10 min before root's run bans it for 1 h (0: off) |
| HOTLINE_TRUSTED_PROXIES | (none) | the console's TLS proxies (addresses or networks): their X-Forwarded-For is read |
| HOTLINE_CASE_WEBHOOK_URLS | (none) | comma-separated http(s) URLs told of each case created and status changed |
| HOTLINE_CASE_WEBHOOK_SECRET | (none) | the shared secret the webhook events are signed with (required with URLs) |
| HOTLINE_SERVICE_USER | hotline | root's `hotline run` runs the service as this user (`root`: not recommended) |
| HOTLINE_STATE_DIR | /var/lib/hotline | root's service folder, per instance: database, records spool, token |
| HOTLINE_TEST_CRASH_AFTER_CLAIM | (off) | end-to-end fault injection: exit between a callback's claim and dial |

The environment is read by :class:`Environment` (pydantic-settings, prefix ``HOTLINE_``); an empty
variable counts as unset. :class:`Settings` is the immutable value the rest of the code is given:
``Settings.from_env()`` reads the environment, ``Settings(db_url=...)`` builds one in code (tests).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from cases.webhooks import check_urls

DEFAULT_PROFILE = Path(str(resources.files("profiles") / "moh-151.yaml"))
PREFIX = "HOTLINE_"
STATE_DIR = Path("/var/lib/hotline")  # the service's own folders, per instance, when root starts it
SYSTEM_CACHE_DIR = Path("/var/cache/hotline")  # root's cache (the Asterisk root, prompts)


class SettingsError(ValueError):
    """A setting in the environment that cannot be used (the message names the variable)."""


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
    public_origin: str | None = None  # the console's origin behind a TLS proxy (scheme://host[:port])
    trusted_proxies: tuple[str, ...] = ()  # the TLS proxies' addresses or networks (X-Forwarded-For is read from them)
    sip_ban_after: int = 5  # failed SIP authentications from one address before root's run bans it (0: no guard)
    case_webhook_urls: tuple[str, ...] = ()  # receivers of the case events (cases.webhooks)
    case_webhook_secret: str | None = field(default=None, repr=False)  # signs them; required with URLs
    metrics_token: str | None = field(default=None, repr=False)  # /metrics needs it as a bearer token (else: loopback)
    test_crash_after_claim: bool = False  # fault injection (end-to-end tests only)
    # `hotline run` as root runs the service as this user (None: as root, not recommended), with its
    # folder (database, records spool, token for local tools) in state_dir/<instance>
    service_user: str | None = "hotline"
    state_dir: Path = STATE_DIR
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def service_dir(self) -> Path:
        return self.state_dir / self.instance

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """The settings of the environment ``env`` (default ``os.environ``). Raises SettingsError
        naming each variable that cannot be used."""
        return Environment.read(os.environ if env is None else env).settings()


# -- the environment --------------------------------------------------------------------------------


def _port(value: Any) -> Any:
    if isinstance(value, str) and not (value.isdigit() and 0 < int(value) < 65536):
        raise ValueError("is not a port number (1-65535)")
    return value


def _instance(name: str) -> str:
    if not name or not name.replace("-", "").replace("_", "").isalnum():
        raise ValueError("may hold only letters, digits, - and _")
    return name


def _user(name: str | None) -> str | None:
    """A user name, or "root" for none (the service then runs as root: not recommended)."""
    if name is None or name == "root":
        return None
    if not all(c.isalnum() or c in "-_." for c in name) or name.startswith("-"):
        raise ValueError("is not a user name")
    return name


def _comma_separated(value: Any) -> Any:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


def _networks(value: tuple[str, ...]) -> tuple[str, ...]:
    for part in value:
        try:
            ipaddress.ip_network(part, strict=False)
        except ValueError:
            raise ValueError(f"{part!r} is not an address or a network (like 127.0.0.1 or 10.0.0.0/8)") from None
    return value


def _origin(value: str | None) -> str | None:
    if value is None:
        return None
    scheme, sep, rest = value.partition("://")
    if scheme not in ("http", "https") or not sep or not rest or "/" in rest or "?" in rest or "#" in rest:
        raise ValueError("is not an origin: give scheme://host[:port], e.g. https://hotline.example.org")
    return value


def _metrics_token(value: SecretStr | None) -> SecretStr | None:
    if value is not None and (len(value.get_secret_value()) < 16 or not value.get_secret_value().isprintable()):
        raise ValueError("must be at least 16 printable characters (e.g. from `openssl rand -hex 24`)")
    return value


def _webhook_urls(urls: tuple[str, ...]) -> tuple[str, ...]:
    return check_urls(urls, secret="checked apart")  # the secret is checked with the whole environment


def _db_url(url: str | None) -> str | None:
    """Resolve a relative SQLite path against the working directory, so the file is where one expects."""
    prefix = "sqlite:///"
    if url is not None and url.startswith(prefix) and not url.startswith(prefix + "/") and url != prefix + ":memory:":
        return prefix + str(Path(url[len(prefix) :]).resolve())
    return url


Port = Annotated[int, BeforeValidator(_port), Field(ge=1, le=65535)]


class _Variables(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping (``os.environ`` or a test's dict)."""

    def __init__(self, settings_cls: type[BaseSettings], variables: Mapping[str, str]):
        self._variables = {name: value for name, value in variables.items() if value != ""}
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {name.lower(): value for name, value in self._variables.items()}


class Environment(BaseSettings):
    """The ``HOTLINE_*`` variables (see the module doc), validated."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, extra="ignore", frozen=True)

    profile: Path = DEFAULT_PROFILE
    db_url: Annotated[str | None, AfterValidator(_db_url)] = None
    cache_dir: Path | None = None
    xdg_cache_home: Path | None = Field(default=None, validation_alias="XDG_CACHE_HOME")
    instance: Annotated[str, AfterValidator(_instance)] = Settings.instance
    sip_port: Port = Settings.sip_port
    ami_port: Port = Settings.ami_port
    agi_port: Port = Settings.agi_port
    http_port: Port = Settings.http_port
    trunk_match: Annotated[tuple[str, ...], NoDecode, BeforeValidator(_comma_separated)] = Settings.trunk_match
    trunk_contact: str = Settings.trunk_contact
    public_origin: Annotated[str | None, AfterValidator(_origin)] = None
    trusted_proxies: Annotated[
        tuple[str, ...], NoDecode, BeforeValidator(_comma_separated), AfterValidator(_networks)
    ] = ()
    sip_ban_after: Annotated[int, Field(ge=0, le=1000)] = Settings.sip_ban_after
    case_webhook_urls: Annotated[
        tuple[str, ...], NoDecode, BeforeValidator(_comma_separated), AfterValidator(_webhook_urls)
    ] = ()
    case_webhook_secret: SecretStr | None = None
    metrics_token: Annotated[SecretStr | None, AfterValidator(_metrics_token)] = None
    test_crash_after_claim: bool = False
    service_user: Annotated[str | None, AfterValidator(_user)] = Settings.service_user
    state_dir: Path = STATE_DIR

    @model_validator(mode="after")
    def _webhooks_signed(self) -> Environment:
        if self.case_webhook_urls and not (self.case_webhook_secret and self.case_webhook_secret.get_secret_value()):
            raise ValueError(f"{PREFIX}CASE_WEBHOOK_URLS needs {PREFIX}CASE_WEBHOOK_SECRET to sign the events with")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)  # the variables come through read(), from the mapping it is given

    @classmethod
    def read(cls, variables: Mapping[str, str]) -> Environment:
        try:
            return cls(**_Variables(cls, variables)())
        except ValidationError as exc:
            raise SettingsError("\n".join(_problem(e, variables) for e in exc.errors(include_url=False))) from None

    def settings(self) -> Settings:
        if self.cache_dir is not None:
            cache = self.cache_dir
        elif self.xdg_cache_home is not None:
            cache = self.xdg_cache_home / "hotline"
        elif os.geteuid() == 0:  # a system service's cache: the service user reaches its instance folder there
            cache = SYSTEM_CACHE_DIR
        else:
            cache = Settings.cache_dir
        state_dir = self.state_dir.resolve()
        if self.db_url is not None:
            db_url = self.db_url
        elif os.geteuid() == 0:  # root's tools and the service it runs share the service's folder
            db_url = f"sqlite:///{state_dir / self.instance / 'hotline.db'}"
        else:
            db_url = _db_url(Settings.db_url) or Settings.db_url
        return Settings(
            profile_path=self.profile.resolve(),
            db_url=db_url,
            cache_dir=cache.expanduser().resolve(),
            instance=self.instance,
            sip_port=self.sip_port,
            ami_port=self.ami_port,
            agi_port=self.agi_port,
            http_port=self.http_port,
            trunk_match=self.trunk_match,
            trunk_contact=self.trunk_contact,
            public_origin=self.public_origin,
            trusted_proxies=self.trusted_proxies,
            sip_ban_after=self.sip_ban_after,
            case_webhook_urls=self.case_webhook_urls,
            case_webhook_secret=(
                self.case_webhook_secret.get_secret_value() if self.case_webhook_secret is not None else None
            ),
            metrics_token=self.metrics_token.get_secret_value() if self.metrics_token is not None else None,
            test_crash_after_claim=self.test_crash_after_claim,
            service_user=self.service_user,
            state_dir=state_dir,
        )


def _problem(error: Any, variables: Mapping[str, str]) -> str:
    if not error["loc"]:  # a check of several variables together: its message names them (and no value)
        return str(error["ctx"]["error"]) if error["type"] == "value_error" else str(error["msg"])
    name = str(error["loc"][0])
    variable = name if name.isupper() else PREFIX + name.upper()
    value = next((v for k, v in variables.items() if k.upper() == variable), error.get("input"))
    message = str(error["ctx"]["error"]) if error["type"] == "value_error" else error["msg"]
    if error["type"] in ("greater_than_equal", "less_than_equal"):
        message = "is not a port number (1-65535)"
    return f"{variable}={value!r} {message}"
