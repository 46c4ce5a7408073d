"""Typed AMI events used to build call records.

Pure module: no I/O, no asyncio, no AMI client. ``parse_event`` turns the headers of one AMI event
(as a mapping of header name to value, e.g. a panoramisk ``Message``) into one of the frozen
dataclasses below, or ``None`` when the event is not one we use.

Header names are those Asterisk 22 sends; they are looked up case-insensitively. Every event
carries ``timestamp`` (seconds since the epoch, float) from the ``Timestamp:`` header that
``timestampevents=yes`` in manager.conf adds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TypeAlias

from telephony.names import CALLBACK_BOOKED_USEREVENT, CALLBACK_USEREVENT, ROUTE_USEREVENT

__all__ = [
    "AgentComplete",
    "AgentConnect",
    "Event",
    "EventParseError",
    "Hangup",
    "CallbackBooked",
    "CallbackStart",
    "HotlineRoute",
    "Newchannel",
    "QueueCallerAbandon",
    "QueueCallerJoin",
    "QueueCallerLeave",
    "decode_event",
    "parse_event",
]


class EventParseError(ValueError):
    """A known event whose headers are missing or malformed (e.g. ``Cause: abc``)."""


@dataclass(frozen=True, slots=True)
class Newchannel:
    timestamp: float
    channel: str
    uniqueid: str
    linkedid: str
    caller_id_num: str
    caller_id_name: str
    context: str
    exten: str


@dataclass(frozen=True, slots=True)
class HotlineRoute:
    """``UserEvent`` named ``telephony.names.ROUTE_USEREVENT``, sent by the dialplan before Queue()."""

    timestamp: float
    uniqueid: str
    linkedid: str
    language: str
    topic: str
    specialty: str
    queue: str
    result: str  # "OK" or "FALLBACK"


@dataclass(frozen=True, slots=True)
class CallbackStart:
    """``UserEvent`` named ``telephony.names.CALLBACK_USEREVENT``: a called-back caller answered."""

    timestamp: float
    uniqueid: str
    linkedid: str
    attempt: str
    number: str
    language: str
    queue: str
    callback_of: str


@dataclass(frozen=True, slots=True)
class CallbackBooked:
    """``UserEvent`` named ``telephony.names.CALLBACK_BOOKED_USEREVENT``: the caller left the queue
    with a callback that keeps their place."""

    timestamp: float
    uniqueid: str
    linkedid: str


@dataclass(frozen=True, slots=True)
class QueueCallerJoin:
    timestamp: float
    queue: str
    uniqueid: str
    linkedid: str
    position: int


@dataclass(frozen=True, slots=True)
class QueueCallerAbandon:
    timestamp: float
    queue: str
    uniqueid: str
    linkedid: str
    position: int
    original_position: int
    hold_time: int  # seconds, as app_queue counts them


@dataclass(frozen=True, slots=True)
class QueueCallerLeave:
    timestamp: float
    queue: str
    uniqueid: str
    linkedid: str
    position: int


@dataclass(frozen=True, slots=True)
class AgentConnect:
    """``uniqueid``/``linkedid`` are the caller's channel; ``dest_*`` the agent's."""

    timestamp: float
    queue: str
    uniqueid: str
    linkedid: str
    dest_channel: str
    dest_uniqueid: str
    member_name: str
    interface: str
    hold_time: int
    ring_time: int


@dataclass(frozen=True, slots=True)
class AgentComplete:
    timestamp: float
    queue: str
    uniqueid: str
    linkedid: str
    member_name: str
    interface: str
    hold_time: int
    talk_time: int
    reason: str  # "caller", "agent" or "transfer"


@dataclass(frozen=True, slots=True)
class Hangup:
    timestamp: float
    channel: str
    uniqueid: str
    linkedid: str
    cause: int
    cause_txt: str


Event: TypeAlias = (
    Newchannel
    | HotlineRoute
    | CallbackStart
    | CallbackBooked
    | QueueCallerJoin
    | QueueCallerAbandon
    | QueueCallerLeave
    | AgentConnect
    | AgentComplete
    | Hangup
)


class _Headers:
    """Case-insensitive, typed access to the headers of one event; raises EventParseError."""

    __slots__ = ("_event", "_values")

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._values = {str(k).lower(): v for k, v in headers.items()}
        self._event = self.text("Event")

    def text(self, name: str) -> str:
        value = self._values.get(name.lower(), "")
        return "" if value is None else str(value)

    def required(self, name: str) -> str:
        value = self.text(name).strip()
        if not value:
            raise EventParseError(f"{self._event or 'event'}: missing header {name!r}")
        return value

    def integer(self, name: str, default: int | None = None) -> int:
        raw = self.text(name).strip()
        if not raw and default is not None:
            return default
        try:
            return int(raw)
        except ValueError:
            raise EventParseError(f"{self._event}: header {name!r} is not an integer: {raw!r}") from None

    def timestamp(self) -> float:
        raw = self.required("Timestamp")
        try:
            value = float(raw)
        except ValueError:
            raise EventParseError(f"{self._event}: header 'Timestamp' is not a number: {raw!r}") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise EventParseError(f"{self._event}: header 'Timestamp' is not finite: {raw!r}")
        return value


def _newchannel(h: _Headers) -> Newchannel:
    return Newchannel(
        timestamp=h.timestamp(),
        channel=h.text("Channel"),
        uniqueid=h.required("Uniqueid"),
        linkedid=h.required("Linkedid"),
        caller_id_num=h.text("CallerIDNum"),
        caller_id_name=h.text("CallerIDName"),
        context=h.text("Context"),
        exten=h.text("Exten"),
    )


def _user_event(h: _Headers) -> HotlineRoute | CallbackStart | CallbackBooked | None:
    name = h.text("UserEvent")
    if name == CALLBACK_BOOKED_USEREVENT:
        return CallbackBooked(h.timestamp(), h.required("Uniqueid"), h.required("Linkedid"))
    if name == CALLBACK_USEREVENT:
        return CallbackStart(
            timestamp=h.timestamp(),
            uniqueid=h.required("Uniqueid"),
            linkedid=h.required("Linkedid"),
            attempt=h.text("Attempt"),
            number=h.text("Number"),
            language=h.text("Language"),
            queue=h.text("Queue"),
            callback_of=h.text("CallbackOf"),
        )
    if name != ROUTE_USEREVENT:
        return None
    return HotlineRoute(
        timestamp=h.timestamp(),
        uniqueid=h.required("Uniqueid"),
        linkedid=h.required("Linkedid"),
        language=h.text("Language"),
        topic=h.text("Topic"),
        specialty=h.text("Specialty"),
        queue=h.text("Queue"),
        result=h.text("Result"),
    )


def _queue_caller_join(h: _Headers) -> QueueCallerJoin:
    return QueueCallerJoin(
        timestamp=h.timestamp(),
        queue=h.text("Queue"),
        uniqueid=h.required("Uniqueid"),
        linkedid=h.required("Linkedid"),
        position=h.integer("Position", default=0),
    )


def _queue_caller_abandon(h: _Headers) -> QueueCallerAbandon:
    return QueueCallerAbandon(
        timestamp=h.timestamp(),
        queue=h.text("Queue"),
        uniqueid=h.required("Uniqueid"),
        linkedid=h.required("Linkedid"),
        position=h.integer("Position", default=0),
        original_position=h.integer("OriginalPosition", default=0),
        hold_time=h.integer("HoldTime", default=0),
    )


def _queue_caller_leave(h: _Headers) -> QueueCallerLeave:
    return QueueCallerLeave(
        timestamp=h.timestamp(),
        queue=h.text("Queue"),
        uniqueid=h.required("Uniqueid"),
        linkedid=h.required("Linkedid"),
        position=h.integer("Position", default=0),
    )


def _agent_connect(h: _Headers) -> AgentConnect:
    return AgentConnect(
        timestamp=h.timestamp(),
        queue=h.text("Queue"),
        uniqueid=h.required("Uniqueid"),
        linkedid=h.required("Linkedid"),
        dest_channel=h.text("DestChannel"),
        dest_uniqueid=h.text("DestUniqueid"),
        member_name=h.text("MemberName"),
        interface=h.text("Interface"),
        hold_time=h.integer("HoldTime", default=0),
        ring_time=h.integer("RingTime", default=0),
    )


def _agent_complete(h: _Headers) -> AgentComplete:
    return AgentComplete(
        timestamp=h.timestamp(),
        queue=h.text("Queue"),
        uniqueid=h.required("Uniqueid"),
        linkedid=h.required("Linkedid"),
        member_name=h.text("MemberName"),
        interface=h.text("Interface"),
        hold_time=h.integer("HoldTime", default=0),
        talk_time=h.integer("TalkTime", default=0),
        reason=h.text("Reason"),
    )


def _hangup(h: _Headers) -> Hangup:
    return Hangup(
        timestamp=h.timestamp(),
        channel=h.text("Channel"),
        uniqueid=h.required("Uniqueid"),
        linkedid=h.required("Linkedid"),
        cause=h.integer("Cause", default=0),
        cause_txt=h.text("Cause-txt"),
    )


# Keyed by the lower-cased ``Event`` header. Read-only so no module-level mutable state.
_DECODERS: Mapping[str, Callable[[_Headers], Event | None]] = MappingProxyType(
    {
        "newchannel": _newchannel,
        "userevent": _user_event,
        "queuecallerjoin": _queue_caller_join,
        "queuecallerabandon": _queue_caller_abandon,
        "queuecallerleave": _queue_caller_leave,
        "agentconnect": _agent_connect,
        "agentcomplete": _agent_complete,
        "hangup": _hangup,
    }
)


def decode_event(headers: Mapping[str, str]) -> Event | None:
    """Like ``parse_event`` but raises ``EventParseError`` for a known event with bad headers."""
    h = _Headers(headers)
    decoder = _DECODERS.get(h.text("Event").strip().lower())
    if decoder is None:
        return None
    return decoder(h)


def parse_event(headers: Mapping[str, str]) -> Event | None:
    """The typed event for these AMI headers; ``None`` for events we do not use and malformed ones.

    Never raises for bad input, so one garbled event cannot stop the AMI feed. Use
    ``decode_event`` to get the reason (``EventParseError``) when it should be logged.
    """
    try:
        return decode_event(headers)
    except EventParseError:
        return None
