"""The console API's bodies and answers as pydantic models: what /api/v1 takes and gives, exactly.

Request bodies are strict (a number is not a text, ``true`` is not a count) and refuse unknown
fields. :func:`parse` turns a refusal into one clear message naming the field; each body may give
its own message per field (``messages``), which the API has always answered with. Answers are
checked against their model on the way out (:func:`dump`), so the OpenAPI document that
``console.openapi`` generates from these models says what the API really sends.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)

ROLES = ("supervisor", "viewer")
LANGUAGES = ("ar", "en")
MIN_PASSWORD = 10


class BodyError(ValueError):
    """A body that does not fit its model; the message names the field."""


def _printable(value: str) -> str:
    if not value.isprintable():
        raise ValueError("must be printable")
    return value


def _text_only(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError("must be a text")
    return value


def _sensible_year(value: datetime) -> datetime:
    if not 2000 <= value.year <= 2100:
        raise ValueError("the year must be from 2000 to 2100")
    return value


Text64 = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64), AfterValidator(_printable)
]
Password = Annotated[str, Field(min_length=MIN_PASSWORD, max_length=1024)]
Id = Annotated[str, Field(min_length=1, max_length=64)]
Role = Literal["supervisor", "viewer"]
Language = Literal["ar", "en"]
Via = Literal["session", "token", "local-token"]
Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
Number = int | float


# -- request bodies ------------------------------------------------------------------------------


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    #: The message for a field that does not fit (else pydantic's own, after the field's name).
    messages: ClassVar[dict[str, str]] = {}


class SessionCreate(Body):
    """Sign in."""

    name: Annotated[str, Field(max_length=64)]
    password: Annotated[str, Field(max_length=1024)]
    messages = {"name": "name and password must be texts", "password": "name and password must be texts"}


class LanguageChange(Body):
    language: Language
    messages = {"language": f"language must be one of {', '.join(LANGUAGES)}"}


class PasswordChange(Body):
    """Change one's own password: the old one, then the new one."""

    old_password: Annotated[str, Field(max_length=1024)]
    new_password: Password
    messages = {
        "old_password": "old_password must be a text",
        "new_password": f"new_password must be {MIN_PASSWORD} to 1024 characters",
    }


class PasswordReset(Body):
    """A supervisor sets another user's password (their sessions end)."""

    password: Password
    messages = {"password": f"password must be {MIN_PASSWORD} to 1024 characters"}


class NewUser(Body):
    name: Text64
    password: Password
    role: Role
    language: Language = "en"
    messages = {
        "name": "name must be 1 to 64 printable characters",
        "password": f"password must be {MIN_PASSWORD} to 1024 characters",
        "role": f"role must be one of {', '.join(ROLES)}",
        "language": f"language must be one of {', '.join(LANGUAGES)}",
    }


class NewToken(Body):
    """A token for oneself. ``user`` may only name oneself (the local admin may name anyone)."""

    label: Text64
    user: Text64 | None = None
    messages = {
        "label": "label must be a text of 1 to 64 printable characters",
        "user": "user must be a text of 1 to 64 printable characters",
    }


class Pause(Body):
    reason: Text64 = "supervisor"
    messages = {"reason": "reason must be a text of 1 to 64 printable characters"}


class Skills(Body):
    topics: Annotated[list[Id], Field(max_length=64)] = []
    specialties: Annotated[list[Id], Field(max_length=64)] = []
    messages = {"topics": "topics must be a list of ids", "specialties": "specialties must be a list of ids"}


class Seats(Body):
    seats: Annotated[int, Field(ge=0, le=10000)]
    messages = {"seats": "seats must be a whole number from 0 to 10000"}


class Reschedule(Body):
    at: Annotated[AwareDatetime, Field(strict=False), BeforeValidator(_text_only), AfterValidator(_sensible_year)]
    messages = {"at": "at must be an ISO 8601 time with a UTC offset"}


B = TypeVar("B", bound=Body)


def parse(model: type[B], data: Any) -> B:
    """``data`` as ``model``, or a :class:`BodyError` naming the first field that does not fit."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else ""
        if first["type"] == "extra_forbidden":
            known = ", ".join(model.model_fields)
            raise BodyError(f"unknown field {field!r} (known: {known})") from None
        message = model.messages.get(field)
        if message is None:
            message = f"{field} is required" if first["type"] == "missing" else f"{field}: {first['msg']}"
        raise BodyError(message) from None


# -- answers -------------------------------------------------------------------------------------


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Error(Answer):
    error: str


class Done(Answer):
    done: str


class Me(Answer):
    name: str
    role: Role
    language: Language
    via: Via


class UserOut(Answer):
    name: str
    role: Role
    language: Language
    disabled: bool


class SessionCreated(Answer):
    name: str
    role: Role
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


class Wallboard(Answer):
    at: float
    sl_seconds: float
    queues: list[QueueBoard]
    totals: Totals


class AgentLive(Answer):
    state: str
    pause_reason: str
    queues_now: list[str]


class LiveSnapshot(Wallboard):
    """A WebSocket message of GET /api/v1/live."""

    type: Literal["snapshot"]
    agents: dict[str, AgentLive]


class Agent(Answer):
    id: str
    name: str
    kind: str
    level: int
    languages: dict[str, int]
    topics: list[str]
    specialties: list[str]
    skills_overridden: bool
    state: str
    pause_reason: str
    queues_now: list[str]
    queues_at_login: list[str]
    logged_in: bool
    paused: bool


class AgentDone(Answer):
    person: str
    done: Literal["login", "logout", "pause", "unpause"]
    logged_in: bool
    paused: bool
    pause_reason: str | None


class SkillsOut(Answer):
    person: str
    topics: list[str]
    specialties: list[str]
    queues_at_login: list[str]
    applies: str


class Shift(Answer):
    id: str
    start: str
    end: str


class Rules(Answer):
    widen_after_seconds: Number | None
    overflow_after_seconds: Number | None
    overflow_topic: str


class QueueOut(Answer):
    queue: str
    language: str
    topic: str
    specialty: str | None
    seats_now: int
    seats_override: int | None
    seats_by_shift: dict[str, int]
    members: list[str]
    logged_in: list[str]
    overflow_to: str


class Queues(Answer):
    current_shift: str | None
    shifts: list[Shift]
    rules: Rules
    queues: list[QueueOut]


class SeatsOut(Answer):
    queue: str
    seats: int
    shift: str | None


class Callback(Answer):
    id: int
    number: str
    language: str
    topic: str
    specialty: str | None
    queue: str
    origin: str
    status: str
    attempts: int
    created_at: Timestamp
    next_attempt_at: Timestamp
    expires_at: Timestamp
    priority: int


class ReportParams(Answer):
    interval_minutes: int
    sl_seconds: Number
    target_service_level: Number
    shrinkage: Number
    patience_seconds: Number | None
    model: Literal["erlang_a", "erlang_c"]
    timezone: str
    start: Timestamp | None
    end: Timestamp | None


class ShiftStaffing(Answer):
    shift: str
    intervals: int
    peak_needed: int
    mean_needed: Number
    seats_needed: int
    understaffed_intervals: int


class Interval(Answer):
    start: Timestamp
    offered: int
    answered: int
    service_level: Number | None
    needed: Number | None
    present: Number | None
    gap: Number | None


class StaffingReport(Answer):
    day: Annotated[str, Field(json_schema_extra={"format": "date"})]
    params: ReportParams
    totals: dict[str, Number | None]
    shifts: list[ShiftStaffing]
    intervals: list[Interval]


@functools.cache
def _adapter(shape: Any) -> TypeAdapter[Any]:
    return TypeAdapter(shape)


def dump(shape: Any, data: Any) -> Any:
    """``data`` checked against ``shape`` (a model, or e.g. ``list[Model]``), as JSON-ready values."""
    return _adapter(shape).dump_python(_adapter(shape).validate_python(data), mode="json")
