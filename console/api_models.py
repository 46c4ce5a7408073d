"""The console's own bodies and answers as pydantic models: sign-in, the user, users, tokens, the audit log,
the wallboard and its live feed.

The features' bodies and answers live with their handlers (``routing.http``, ``callbacks.http``,
``cdr.http``); the bases they all share (strict bodies that name the field they refuse, answers checked on
the way out) are ``restapi.models``. ``console.openapi`` generates the OpenAPI document from them all.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from restapi.models import Answer, Body, Text64, Timestamp

ROLES = ("supervisor", "viewer")
LANGUAGES = ("ar", "en", "hi")
MIN_PASSWORD = 10

Password = Annotated[str, Field(min_length=MIN_PASSWORD, max_length=1024)]
Role = Literal["supervisor", "viewer"]
#: The roles a user may have; an ``agent`` (their desk only, with a person id) is added by ``hotline user add``.
AnyRole = Literal["supervisor", "viewer", "agent"]
Language = Literal["ar", "en", "hi"]
Via = Literal["session", "token", "local-token"]


# -- request bodies ------------------------------------------------------------------------------


class SessionCreate(Body):
    """Sign in."""

    name: Annotated[str, Field(max_length=64)]
    password: Annotated[str, Field(max_length=1024)]
    messages: ClassVar[dict[str, str]] = {
        "name": "name and password must be texts",
        "password": "name and password must be texts",
    }


class LanguageChange(Body):
    language: Language
    messages: ClassVar[dict[str, str]] = {"language": f"language must be one of {', '.join(LANGUAGES)}"}


class PasswordChange(Body):
    """Change one's own password: the old one, then the new one."""

    old_password: Annotated[str, Field(max_length=1024)]
    new_password: Password
    messages: ClassVar[dict[str, str]] = {
        "old_password": "old_password must be a text",
        "new_password": f"new_password must be {MIN_PASSWORD} to 1024 characters",
    }


class PasswordReset(Body):
    """A supervisor sets another user's password (their sessions end)."""

    password: Password
    messages: ClassVar[dict[str, str]] = {"password": f"password must be {MIN_PASSWORD} to 1024 characters"}


class NewUser(Body):
    name: Text64
    password: Password
    role: Role
    language: Language = "en"
    messages: ClassVar[dict[str, str]] = {
        "name": "name must be 1 to 64 printable characters",
        "password": f"password must be {MIN_PASSWORD} to 1024 characters",
        "role": f"role must be one of {', '.join(ROLES)}",
        "language": f"language must be one of {', '.join(LANGUAGES)}",
    }


class NewToken(Body):
    """A token for oneself. ``user`` may only name oneself (the local admin may name anyone)."""

    label: Text64
    user: Text64 | None = None
    messages: ClassVar[dict[str, str]] = {
        "label": "label must be a text of 1 to 64 printable characters",
        "user": "user must be a text of 1 to 64 printable characters",
    }


# -- answers -------------------------------------------------------------------------------------


class Done(Answer):
    done: str


class Me(Answer):
    name: str
    role: AnyRole
    language: Language
    via: Via


class UserOut(Answer):
    name: str
    role: AnyRole
    language: Language
    disabled: bool


class SessionCreated(Answer):
    name: str
    role: AnyRole
    language: Language
    csrf_token: str


class LanguageOut(Answer):
    language: Language


class TokenOut(Answer):
    id: int
    user: str
    label: str
    prefix: str
    created_at: Timestamp
    last_used_at: Timestamp | None
    revoked: bool


class TokenCreated(Answer):
    """The token in clear, shown this once."""

    user: str
    label: str
    prefix: str
    token: str


class AuditEntry(Answer):
    id: int
    at: Timestamp
    actor: str
    via: str
    action: str
    target: str
    details: dict[str, Any]


class QueueBoard(Answer):
    queue: str
    waiting: int
    longest_wait: float
    answered_today: int
    answered_within_today: int
    service_level_today: float | None
    available: int
    on_call: int
    paused: int
    callbacks_pending: int
    seats: int


class Totals(Answer):
    waiting: int
    longest_wait: float
    answered_today: int
    answered_within_today: int
    service_level_today: float | None
    available: int
    on_call: int
    paused: int
    callbacks_pending: int


class IntervalBoard(Answer):
    """Today's calls of one interval (``start``: its UTC epoch seconds), from the records."""

    start: float
    offered: int
    answered: int
    answered_within: int


class Wallboard(Answer):
    at: float
    sl_seconds: float
    queues: list[QueueBoard]
    totals: Totals
    interval_minutes: int
    intervals: list[IntervalBoard]


class AgentLive(Answer):
    state: str
    pause_reason: str
    queues_now: list[str]


class AlertLive(Answer):
    """An emergency key pressed in a campaign call, not yet acknowledged (POST /api/v1/campaign-alerts/{id}/...)."""

    id: int
    campaign: str
    name: str
    number: str
    raised_at: float


class LiveSnapshot(Wallboard):
    """A WebSocket message of GET /api/v1/live."""

    type: Literal["snapshot"]
    agents: dict[str, AgentLive]
    alerts: list[AlertLive] = Field(
        default_factory=list
    )  # the campaigns' open emergency alerts (the wallboard's banner)
