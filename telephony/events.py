"""Typed AMI events: each AMI event is parsed here once, and nothing past this module reads headers.

Pure module: no I/O, no asyncio, no AMI client. :func:`parse_event` turns one parsed
:class:`telephony.ami.message.Message` into one of the frozen dataclasses below, or ``None`` when
the event is not one the service uses (or is malformed: :func:`decode_event` says why).

Rules, the same for every event:

* Header names are those Asterisk 22 sends; they are looked up case-insensitively.
* Events carry ``timestamp`` (seconds since the epoch, a float: epochs live only at this edge)
  from the ``Timestamp:`` header that ``timestampevents = yes`` in manager.conf adds, and give it
  as an aware UTC datetime, ``at`` (:func:`telephony.clock.utc`), the time form of the core. An
  event without a valid one is malformed. The rows of a ``QueueStatus`` list (:class:`QueueParams`,
  :class:`QueueMember`, :class:`QueueEntry`) and :class:`OriginateResponse` carry none that we need.
* Numbers are parsed once, here. A malformed number never raises: it reads as its default
  (``0``), or as ``None`` ("not given") where the consumer must tell a missing value from zero
  (the optional fields of the member events). Flags (``Paused: 1``) read true for 1/true/yes/on.
* The identity of a call event (``Uniqueid``/``Linkedid`` of Newchannel, Hangup and our UserEvents)
  is required; queue and agent events give ``""`` when they lack it.
* Caller names (``CallerIDName``, ``ConnectedLineName``) are unescaped once, by
  :func:`caller_name`: Asterisk C-escapes them in AMI (``\\"`` for ``"``, ``\\\\`` for ``\\``) and the
  SIP display name it got may still hold the quoted-pair escapes of a SIP quoted-string. What is
  left is the name as the caller's phone shows it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import TypeAlias, TypeVar

from telephony.ami.message import Message
from telephony.clock import utc
from telephony.names import (
    CALLBACK_BOOKED_USEREVENT,
    CALLBACK_USEREVENT,
    CONFERENCE_USEREVENT,
    DESTINATION_USEREVENT,
    OUTBOUND_USEREVENT,
    ROUTE_USEREVENT,
)

__all__ = [
    "AgentCalled",
    "AgentComplete",
    "AgentConnect",
    "AgentRingNoAnswer",
    "AttendedTransfer",
    "BlindTransfer",
    "CallbackBooked",
    "CallbackStart",
    "DeviceStateChange",
    "DialEnd",
    "Event",
    "EventParseError",
    "Hangup",
    "HotlineConference",
    "HotlineDestination",
    "HotlineRoute",
    "MemberEvent",
    "Newchannel",
    "OriginateResponse",
    "OutboundStart",
    "QueueCallerAbandon",
    "QueueCallerJoin",
    "QueueCallerLeave",
    "QueueEntry",
    "QueueMember",
    "QueueMemberAdded",
    "QueueMemberPause",
    "QueueMemberPenalty",
    "QueueMemberRemoved",
    "QueueMemberRinginuse",
    "QueueMemberStatus",
    "QueueParams",
    "QueueStatusRow",
    "VarSet",
    "caller_name",
    "decode_event",
    "parse_event",
    "parse_queue_status",
    "sip_unquote",
    "unescape_asterisk",
]


class EventParseError(ValueError):
    """A known event whose headers are missing or malformed (e.g. ``Timestamp: abc``)."""


# -- caller names ---------------------------------------------------------------------------------

# The escapes of Asterisk's ast_escape_c() (main/utils.c), which AMI applies to caller names.
_C_ESCAPES = MappingProxyType(dict(zip("abfnrtv\\'\"?", "\a\b\f\n\r\t\v\\'\"?", strict=True)))


def unescape_asterisk(text: str) -> str:
    """Undo Asterisk's C escaping of an AMI value (``\\"`` -> ``"``, ``\\\\`` -> ``\\``, ``\\n``...).

    An unknown escape or a trailing backslash is kept as it is."""
    if "\\" not in text:
        return text
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == "\\" and i + 1 < n and text[i + 1] in _C_ESCAPES:
            out.append(_C_ESCAPES[text[i + 1]])
            i += 2
        else:
            out.append(char)
            i += 1
    return "".join(out)


def sip_unquote(text: str) -> str:
    """The text of a SIP quoted-string (RFC 3261 25.1: ``quoted-pair = "\\" char``), surrounding
    quotes optional: ``\\"Dr\\" Who`` -> ``"Dr" Who``, ``a\\\\b`` -> ``a\\b``. A trailing lone
    backslash is kept."""
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"' and not _escaped_at(text, len(text) - 1):
        text = text[1:-1]
    if "\\" not in text:
        return text
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text[i] == "\\" and i + 1 < n:
            out.append(text[i + 1])
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _escaped_at(text: str, index: int) -> bool:
    """Whether the character at ``index`` is preceded by an odd number of backslashes."""
    count = 0
    while index - count - 1 >= 0 and text[index - count - 1] == "\\":
        count += 1
    return count % 2 == 1


def caller_name(raw: str) -> str:
    """A caller name from AMI as the caller's phone shows it: Asterisk's escaping undone, then
    the SIP quoted-string escapes the display name still holds."""
    if "\\" not in raw:
        return raw
    return sip_unquote(unescape_asterisk(raw))


# -- call records ---------------------------------------------------------------------------------


class _Stamped:
    """An event with Asterisk's ``timestamp`` (epoch seconds), and the same time as the core has it."""

    __slots__ = ()
    timestamp: float

    @property
    def at(self) -> datetime:
        """When Asterisk sent the event: ``timestamp`` as an aware UTC datetime."""
        return utc(self.timestamp)


@dataclass(frozen=True, slots=True)
class Newchannel(_Stamped):
    timestamp: float
    channel: str
    uniqueid: str
    linkedid: str
    caller_id_num: str
    caller_id_name: str  # unescaped: as the caller's phone shows it
    context: str
    exten: str


@dataclass(frozen=True, slots=True)
class HotlineRoute(_Stamped):
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
class CallbackStart(_Stamped):
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
class OutboundStart(_Stamped):
    """``UserEvent`` named ``telephony.names.OUTBOUND_USEREVENT``: an outbound call (a campaign's, or an agent's
    click-to-call) was answered by the number: its call record starts, of kind ``campaign`` or ``manual``."""

    timestamp: float
    uniqueid: str
    linkedid: str
    kind: str  # "campaign" or "manual"
    number: str
    language: str
    campaign: str  # a campaign call: the campaign's id
    attempt: str  # ... and the attempt's id
    person: str  # a manual call: the agent whose phone rang first


@dataclass(frozen=True, slots=True)
class CallbackBooked(_Stamped):
    """``UserEvent`` named ``telephony.names.CALLBACK_BOOKED_USEREVENT``: the caller left the queue
    with a callback that keeps their place."""

    timestamp: float
    uniqueid: str
    linkedid: str


@dataclass(frozen=True, slots=True)
class QueueCallerJoin(_Stamped):
    timestamp: float
    queue: str
    uniqueid: str
    linkedid: str
    position: int
    priority: int | None = None  # app_queue does not send it; None when absent


@dataclass(frozen=True, slots=True)
class QueueCallerAbandon(_Stamped):
    timestamp: float
    queue: str
    uniqueid: str
    linkedid: str
    position: int
    original_position: int
    hold_time: int  # seconds, as app_queue counts them


@dataclass(frozen=True, slots=True)
class QueueCallerLeave(_Stamped):
    timestamp: float
    queue: str
    uniqueid: str
    linkedid: str
    position: int


@dataclass(frozen=True, slots=True)
class AgentConnect(_Stamped):
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
class AgentComplete(_Stamped):
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
class Hangup(_Stamped):
    timestamp: float
    channel: str
    uniqueid: str
    linkedid: str
    cause: int  # 0 (AST_CAUSE_NOTDEFINED) when absent or malformed
    cause_txt: str


@dataclass(frozen=True, slots=True)
class BlindTransfer(_Stamped):
    """A blind transfer completed (or failed: ``result``). The transferer is the person's channel, the
    transferee the caller's; ``context``/``extension`` are where the transferee was sent. ``is_external``:
    Asterisk did not do it by itself: a SIP REFER from a phone (or the AMI BlindTransfer action); a DTMF
    transfer (features.conf) is internal."""

    timestamp: float
    result: str  # "Success", "Fail", "Invalid", "Not Permitted"
    transferer_channel: str
    transferer_uniqueid: str
    transferer_linkedid: str
    transferee_channel: str
    transferee_uniqueid: str
    transferee_linkedid: str
    is_external: bool
    context: str
    extension: str


@dataclass(frozen=True, slots=True)
class AttendedTransfer(_Stamped):
    """An attended transfer completed (or failed: ``result``). ``orig_transferer_*`` is the person's channel
    in the bridge with the caller; ``second_transferer_*`` the person's channel of the consultation call;
    ``transfer_target_*`` who was consulted (empty when the target is not a channel, e.g. an application);
    ``dest_type`` how the two were joined (Bridge, App, Link, Threeway, Fail). ``is_external`` as for
    :class:`BlindTransfer` (a REFER with Replaces)."""

    timestamp: float
    result: str
    orig_transferer_channel: str
    orig_transferer_uniqueid: str
    orig_transferer_linkedid: str
    second_transferer_channel: str
    second_transferer_uniqueid: str
    second_transferer_linkedid: str
    transferee_uniqueid: str
    transferee_linkedid: str
    transfer_target_channel: str
    transfer_target_uniqueid: str
    transfer_target_linkedid: str
    dest_type: str
    is_external: bool


@dataclass(frozen=True, slots=True)
class DialEnd(_Stamped):
    """A Dial() attempt ended: ``uniqueid``/``linkedid`` are the dialling channel, ``dest_*`` the dialled one;
    ``dial_status`` ANSWER when it answered."""

    timestamp: float
    uniqueid: str
    linkedid: str
    dest_channel: str
    dest_uniqueid: str
    dest_linkedid: str
    dial_status: str


@dataclass(frozen=True, slots=True)
class HotlineDestination(_Stamped):
    """``UserEvent`` named ``telephony.names.DESTINATION_USEREVENT``: the channel ``uniqueid`` of the call
    ``linkedid`` dials the profile's destination ``destination`` (the hotline-destinations context), or, with
    ``kind`` "person", the phone of the person ``destination`` (a transfer to a person's code, hotline-transfer)."""

    timestamp: float
    uniqueid: str
    linkedid: str
    destination: str
    kind: str = "destination"  # or "person"


@dataclass(frozen=True, slots=True)
class HotlineConference(_Stamped):
    """``UserEvent`` named ``telephony.names.CONFERENCE_USEREVENT``: the call ``call`` (the caller's linkedid)
    in a conference with the destination ``destination``: ``state`` joined, agent-left or left."""

    timestamp: float
    call: str
    destination: str
    state: str
    agent: str


# -- routing: queue members and the calls offered to them ----------------------------------------


@dataclass(frozen=True, slots=True)
class MemberEvent(_Stamped):
    """The member blob app_queue sends with every ``QueueMember*`` event. An optional field is
    None when the header is absent or malformed: the consumer keeps what it knew."""

    timestamp: float
    queue: str
    member_name: str
    interface: str
    state_interface: str
    penalty: int | None = None
    paused: bool | None = None
    paused_reason: str = ""
    status: int | None = None  # the device state number (routing.state.DeviceState)
    wrapup: float | None = None  # member-specific wrap-up seconds (0: the queue's)
    login_time: float | None = None  # epoch; None when absent, malformed or 0
    in_call: bool | None = None
    last_call: float | None = None
    calls_taken: int | None = None
    ringinuse: bool | None = None


@dataclass(frozen=True, slots=True)
class QueueMemberAdded(MemberEvent):
    pass


@dataclass(frozen=True, slots=True)
class QueueMemberRemoved(MemberEvent):
    pass


@dataclass(frozen=True, slots=True)
class QueueMemberPause(MemberEvent):
    pass


@dataclass(frozen=True, slots=True)
class QueueMemberPenalty(MemberEvent):
    pass


@dataclass(frozen=True, slots=True)
class QueueMemberStatus(MemberEvent):
    pass


@dataclass(frozen=True, slots=True)
class QueueMemberRinginuse(MemberEvent):
    pass


@dataclass(frozen=True, slots=True)
class AgentCalled(_Stamped):
    """app_queue rings a member for the caller ``uniqueid``."""

    timestamp: float
    queue: str
    uniqueid: str
    linkedid: str
    member_name: str
    interface: str
    dest_channel: str


@dataclass(frozen=True, slots=True)
class AgentRingNoAnswer(_Stamped):
    timestamp: float
    queue: str
    uniqueid: str
    linkedid: str
    member_name: str
    interface: str
    ring_time: int  # milliseconds, as app_queue sends it


@dataclass(frozen=True, slots=True)
class DeviceStateChange(_Stamped):
    timestamp: float
    device: str  # e.g. "PJSIP/agent-ar-1"
    state: str  # e.g. "NOT_INUSE", "INUSE", "RINGING", "UNAVAILABLE"


@dataclass(frozen=True, slots=True)
class VarSet(_Stamped):
    """A channel variable set (routing uses ``QUEUE_PRIO``, the caller's priority)."""

    timestamp: float
    channel: str
    uniqueid: str
    linkedid: str
    variable: str
    value: str
    number: int | None = None  # the value as an integer, when it is one (QUEUE_PRIO)


# -- QueueStatus rows (a list action's events: no timestamp, applied at the time of the resync) --


@dataclass(frozen=True, slots=True)
class QueueParams:
    queue: str
    max: int
    strategy: str
    calls: int
    hold_time: int
    talk_time: int
    completed: int
    abandoned: int
    service_level: int
    service_level_perf: float
    weight: int


@dataclass(frozen=True, slots=True)
class QueueMember:
    """One member of one queue in a ``QueueStatus`` list (``Name``/``Location`` headers)."""

    queue: str
    member_name: str
    interface: str
    state_interface: str
    membership: str
    penalty: int
    calls_taken: int
    last_call: float  # epoch, 0 if none
    login_time: float  # epoch, 0 if unknown
    in_call: bool
    status: int
    paused: bool
    paused_reason: str
    wrapup: float


@dataclass(frozen=True, slots=True)
class QueueEntry:
    """One waiting caller in a ``QueueStatus`` list."""

    queue: str
    position: int
    channel: str
    uniqueid: str
    caller_id_num: str
    caller_id_name: str
    wait: float  # seconds waited so far
    priority: int


QueueStatusRow: TypeAlias = QueueParams | QueueMember | QueueEntry


# -- callbacks ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OriginateResponse:
    """The outcome of an async Originate (matched to it by ``action_id``)."""

    action_id: str
    response: str  # "Success" or "Failure"
    reason: int  # AST_CONTROL_* of the outcome: 4 answered, 5 busy, 3 no answer, 8 congestion, 0 failed
    channel: str
    uniqueid: str  # "" or "<null>" when no channel came up
    context: str
    exten: str
    timestamp: float | None = None

    @property
    def success(self) -> bool:
        return self.response.lower() == "success"


Event: TypeAlias = (
    Newchannel
    | HotlineRoute
    | CallbackStart
    | OutboundStart
    | CallbackBooked
    | QueueCallerJoin
    | QueueCallerAbandon
    | QueueCallerLeave
    | AgentConnect
    | AgentComplete
    | Hangup
    | BlindTransfer
    | AttendedTransfer
    | DialEnd
    | HotlineDestination
    | HotlineConference
    | QueueMemberAdded
    | QueueMemberRemoved
    | QueueMemberPause
    | QueueMemberPenalty
    | QueueMemberStatus
    | QueueMemberRinginuse
    | AgentCalled
    | AgentRingNoAnswer
    | DeviceStateChange
    | VarSet
    | QueueParams
    | QueueMember
    | QueueEntry
    | OriginateResponse
)


# -- header access --------------------------------------------------------------------------------


_TRUE = frozenset({"1", "true", "yes", "on"})
#: Epoch seconds of 9999-12-31 23:59:59 UTC: later ones are no time a datetime can hold.
_LAST_EPOCH = 253402300799.0


class _Headers:
    """Typed access to the headers of one message; raises EventParseError only where required."""

    __slots__ = ("_event", "_message")

    def __init__(self, message: Message) -> None:
        self._message = message
        self._event = message.get("Event") or ""

    def text(self, name: str) -> str:
        return self._message.get(name) or ""

    def first(self, *names: str) -> str:
        for name in names:
            value = self._message.get(name)
            if value:
                return value
        return ""

    def present(self, name: str) -> str | None:
        return self._message.get(name)

    def required(self, name: str) -> str:
        value = self.text(name).strip()
        if not value:
            raise EventParseError(f"{self._event or 'event'}: missing header {name!r}")
        return value

    def integer(self, name: str, default: int = 0) -> int:
        value = self.optional_int(name)
        return default if value is None else value

    def optional_int(self, name: str) -> int | None:
        raw = self._message.get(name)
        if raw is None:
            return None
        raw = raw.strip()
        try:
            return int(raw)
        except ValueError:
            try:
                return int(float(raw))
            except (ValueError, OverflowError):
                return None

    def number(self, name: str, default: float = 0.0) -> float:
        value = self.optional_float(name)
        return default if value is None else value

    def optional_float(self, name: str) -> float | None:
        raw = self._message.get(name)
        if raw is None:
            return None
        try:
            value = float(raw)
        except ValueError:
            return None
        return value if value == value and value not in (float("inf"), float("-inf")) else None

    def flag(self, name: str) -> bool:
        return self.text(name).strip().lower() in _TRUE

    def optional_flag(self, name: str) -> bool | None:
        raw = self._message.get(name)
        return None if raw is None else raw.strip().lower() in _TRUE

    def timestamp(self) -> float:
        raw = self.required("Timestamp")
        try:
            value = float(raw)
        except ValueError:
            raise EventParseError(f"{self._event}: header 'Timestamp' is not a number: {raw!r}") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise EventParseError(f"{self._event}: header 'Timestamp' is not finite: {raw!r}")
        if not 0.0 <= value < _LAST_EPOCH:
            raise EventParseError(f"{self._event}: header 'Timestamp' is not a time: {raw!r}")
        return value

    def moment(self, name: str) -> float | None:
        """An epoch header (``LoginTime``, ``LastCall``): None when absent, malformed, 0 (Asterisk's
        "never") or out of the range of a datetime."""
        value = self.optional_float(name)
        return value if value is not None and 0.0 < value < _LAST_EPOCH else None


# -- decoders -------------------------------------------------------------------------------------


def _newchannel(h: _Headers) -> Newchannel:
    return Newchannel(
        timestamp=h.timestamp(),
        channel=h.text("Channel"),
        uniqueid=h.required("Uniqueid"),
        linkedid=h.required("Linkedid"),
        caller_id_num=h.text("CallerIDNum"),
        caller_id_name=caller_name(h.text("CallerIDName")),
        context=h.text("Context"),
        exten=h.text("Exten"),
    )


def _user_event(
    h: _Headers,
) -> HotlineRoute | CallbackStart | OutboundStart | CallbackBooked | HotlineDestination | HotlineConference | None:
    name = h.text("UserEvent")
    if name == OUTBOUND_USEREVENT:
        kind = h.text("Kind").strip().lower()
        return OutboundStart(
            timestamp=h.timestamp(),
            uniqueid=h.required("Uniqueid"),
            linkedid=h.required("Linkedid"),
            kind=kind if kind in ("campaign", "manual") else "manual",
            number=h.text("Number"),
            language=h.text("Language"),
            campaign=h.text("Campaign"),
            attempt=h.text("Attempt"),
            person=h.text("Person"),
        )
    if name == DESTINATION_USEREVENT:
        kind = "person" if h.text("Kind").strip().lower() == "person" else "destination"
        return HotlineDestination(
            h.timestamp(), h.required("Uniqueid"), h.required("Linkedid"), h.required("Destination"), kind
        )
    if name == CONFERENCE_USEREVENT:
        return HotlineConference(
            timestamp=h.timestamp(),
            call=h.text("Call").strip() or h.required("Linkedid"),  # Call: the caller's call, if sent from elsewhere
            destination=h.text("Destination"),  # agent-left and ended need none
            state=h.required("State"),
            agent=h.text("Agent"),
        )
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
        uniqueid=h.text("Uniqueid"),
        linkedid=h.text("Linkedid"),
        position=h.integer("Position"),
        priority=h.optional_int("Priority"),
    )


def _queue_caller_abandon(h: _Headers) -> QueueCallerAbandon:
    return QueueCallerAbandon(
        timestamp=h.timestamp(),
        queue=h.text("Queue"),
        uniqueid=h.text("Uniqueid"),
        linkedid=h.text("Linkedid"),
        position=h.integer("Position"),
        original_position=h.integer("OriginalPosition"),
        hold_time=h.integer("HoldTime"),
    )


def _queue_caller_leave(h: _Headers) -> QueueCallerLeave:
    return QueueCallerLeave(
        timestamp=h.timestamp(),
        queue=h.text("Queue"),
        uniqueid=h.text("Uniqueid"),
        linkedid=h.text("Linkedid"),
        position=h.integer("Position"),
    )


def _agent_connect(h: _Headers) -> AgentConnect:
    return AgentConnect(
        timestamp=h.timestamp(),
        queue=h.text("Queue"),
        uniqueid=h.text("Uniqueid"),
        linkedid=h.text("Linkedid"),
        dest_channel=h.text("DestChannel"),
        dest_uniqueid=h.text("DestUniqueid"),
        member_name=h.text("MemberName"),
        interface=h.text("Interface"),
        hold_time=h.integer("HoldTime"),
        ring_time=h.integer("RingTime"),
    )


def _agent_complete(h: _Headers) -> AgentComplete:
    return AgentComplete(
        timestamp=h.timestamp(),
        queue=h.text("Queue"),
        uniqueid=h.text("Uniqueid"),
        linkedid=h.text("Linkedid"),
        member_name=h.text("MemberName"),
        interface=h.text("Interface"),
        hold_time=h.integer("HoldTime"),
        talk_time=h.integer("TalkTime"),
        reason=h.text("Reason"),
    )


def _hangup(h: _Headers) -> Hangup:
    return Hangup(
        timestamp=h.timestamp(),
        channel=h.text("Channel"),
        uniqueid=h.required("Uniqueid"),
        linkedid=h.required("Linkedid"),
        cause=h.integer("Cause"),
        cause_txt=h.text("Cause-txt"),
    )


def _blind_transfer(h: _Headers) -> BlindTransfer:
    return BlindTransfer(
        timestamp=h.timestamp(),
        result=h.text("Result"),
        transferer_channel=h.text("TransfererChannel"),
        transferer_uniqueid=h.text("TransfererUniqueid"),
        transferer_linkedid=h.text("TransfererLinkedid"),
        transferee_channel=h.text("TransfereeChannel"),
        transferee_uniqueid=h.text("TransfereeUniqueid"),
        transferee_linkedid=h.text("TransfereeLinkedid"),
        is_external=h.flag("IsExternal"),
        context=h.text("Context"),
        extension=h.text("Extension"),
    )


def _attended_transfer(h: _Headers) -> AttendedTransfer:
    return AttendedTransfer(
        timestamp=h.timestamp(),
        result=h.text("Result"),
        orig_transferer_channel=h.text("OrigTransfererChannel"),
        orig_transferer_uniqueid=h.text("OrigTransfererUniqueid"),
        orig_transferer_linkedid=h.text("OrigTransfererLinkedid"),
        second_transferer_channel=h.text("SecondTransfererChannel"),
        second_transferer_uniqueid=h.text("SecondTransfererUniqueid"),
        second_transferer_linkedid=h.text("SecondTransfererLinkedid"),
        transferee_uniqueid=h.text("TransfereeUniqueid"),
        transferee_linkedid=h.text("TransfereeLinkedid"),
        transfer_target_channel=h.text("TransferTargetChannel"),
        transfer_target_uniqueid=h.text("TransferTargetUniqueid"),
        transfer_target_linkedid=h.text("TransferTargetLinkedid"),
        dest_type=h.text("DestType"),
        is_external=h.flag("IsExternal"),
    )


def _dial_end(h: _Headers) -> DialEnd:
    return DialEnd(
        timestamp=h.timestamp(),
        uniqueid=h.text("Uniqueid"),
        linkedid=h.text("Linkedid"),
        dest_channel=h.text("DestChannel"),
        dest_uniqueid=h.text("DestUniqueid"),
        dest_linkedid=h.text("DestLinkedid"),
        dial_status=h.text("DialStatus"),
    )


_M = TypeVar("_M", bound=MemberEvent)


def _member(cls: type[_M]) -> Callable[[_Headers], _M]:
    def decode(h: _Headers) -> _M:
        login = h.moment("LoginTime")
        return cls(
            timestamp=h.timestamp(),
            queue=h.text("Queue"),
            member_name=h.first("MemberName", "Name"),
            interface=h.first("Interface", "Location"),
            state_interface=h.text("StateInterface"),
            penalty=h.optional_int("Penalty"),
            paused=h.optional_flag("Paused"),
            paused_reason=h.text("PausedReason"),
            status=h.optional_int("Status"),
            wrapup=h.optional_float("Wrapuptime"),
            login_time=login if login else None,
            in_call=h.optional_flag("InCall"),
            last_call=h.moment("LastCall"),
            calls_taken=h.optional_int("CallsTaken"),
            ringinuse=h.optional_flag("Ringinuse"),
        )

    return decode


def _agent_called(h: _Headers) -> AgentCalled:
    return AgentCalled(
        timestamp=h.timestamp(),
        queue=h.text("Queue"),
        uniqueid=h.text("Uniqueid"),
        linkedid=h.text("Linkedid"),
        member_name=h.text("MemberName"),
        interface=h.text("Interface"),
        dest_channel=h.text("DestChannel"),
    )


def _agent_ring_no_answer(h: _Headers) -> AgentRingNoAnswer:
    return AgentRingNoAnswer(
        timestamp=h.timestamp(),
        queue=h.text("Queue"),
        uniqueid=h.text("Uniqueid"),
        linkedid=h.text("Linkedid"),
        member_name=h.text("MemberName"),
        interface=h.text("Interface"),
        ring_time=h.integer("RingTime"),
    )


def _device_state_change(h: _Headers) -> DeviceStateChange:
    return DeviceStateChange(timestamp=h.timestamp(), device=h.text("Device"), state=h.text("State"))


def _varset(h: _Headers) -> VarSet:
    return VarSet(
        timestamp=h.timestamp(),
        channel=h.text("Channel"),
        uniqueid=h.text("Uniqueid"),
        linkedid=h.text("Linkedid"),
        variable=h.text("Variable"),
        value=h.text("Value"),
        number=h.optional_int("Value"),
    )


def _queue_params(h: _Headers) -> QueueParams:
    return QueueParams(
        queue=h.text("Queue"),
        max=h.integer("Max"),
        strategy=h.text("Strategy"),
        calls=h.integer("Calls"),
        hold_time=h.integer("Holdtime"),
        talk_time=h.integer("TalkTime"),
        completed=h.integer("Completed"),
        abandoned=h.integer("Abandoned"),
        service_level=h.integer("ServiceLevel"),
        service_level_perf=h.number("ServicelevelPerf"),
        weight=h.integer("Weight"),
    )


def _queue_member(h: _Headers) -> QueueMember:
    return QueueMember(
        queue=h.text("Queue"),
        member_name=h.first("Name", "MemberName"),
        interface=h.first("Location", "Interface"),
        state_interface=h.text("StateInterface"),
        membership=h.text("Membership"),
        penalty=h.integer("Penalty"),
        calls_taken=h.integer("CallsTaken"),
        last_call=h.moment("LastCall") or 0.0,
        login_time=h.moment("LoginTime") or 0.0,
        in_call=h.flag("InCall"),
        status=h.integer("Status"),
        paused=h.flag("Paused"),
        paused_reason=h.text("PausedReason"),
        wrapup=h.number("Wrapuptime"),
    )


def _queue_entry(h: _Headers) -> QueueEntry:
    return QueueEntry(
        queue=h.text("Queue"),
        position=h.integer("Position"),
        channel=h.text("Channel"),
        uniqueid=h.text("Uniqueid"),
        caller_id_num=h.text("CallerIDNum"),
        caller_id_name=caller_name(h.text("CallerIDName")),
        wait=h.number("Wait"),
        priority=h.integer("Priority"),
    )


def _originate_response(h: _Headers) -> OriginateResponse:
    return OriginateResponse(
        action_id=h.text("ActionID"),
        response=h.text("Response"),
        reason=h.integer("Reason"),
        channel=h.text("Channel"),
        uniqueid=h.text("Uniqueid"),
        context=h.text("Context"),
        exten=h.text("Exten"),
        timestamp=h.optional_float("Timestamp"),
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
        "blindtransfer": _blind_transfer,
        "attendedtransfer": _attended_transfer,
        "dialend": _dial_end,
        "queuememberadded": _member(QueueMemberAdded),
        "queuememberremoved": _member(QueueMemberRemoved),
        "queuememberpause": _member(QueueMemberPause),
        "queuememberpaused": _member(QueueMemberPause),  # the name before Asterisk 13
        "queuememberpenalty": _member(QueueMemberPenalty),
        "queuememberstatus": _member(QueueMemberStatus),
        "queuememberringinuse": _member(QueueMemberRinginuse),
        "agentcalled": _agent_called,
        "agentringnoanswer": _agent_ring_no_answer,
        "devicestatechange": _device_state_change,
        "varset": _varset,
        "queueparams": _queue_params,
        "queuemember": _queue_member,
        "queueentry": _queue_entry,
        "originateresponse": _originate_response,
    }
)

#: The ``Event`` header values parse_event types (lower-cased).
EVENT_NAMES: frozenset[str] = frozenset(_DECODERS)


def _message(message: Message | Mapping[str, str]) -> Message:
    return message if isinstance(message, Message) else Message(message)


def decode_event(message: Message | Mapping[str, str]) -> Event | None:
    """Like :func:`parse_event` but raises :class:`EventParseError` for a known event with bad
    headers. ``message`` is what the parser gave (a plain mapping is accepted for tests)."""
    h = _Headers(_message(message))
    decoder = _DECODERS.get(h.text("Event").strip().lower())
    if decoder is None:
        return None
    return decoder(h)


def parse_event(message: Message | Mapping[str, str]) -> Event | None:
    """The typed event for one AMI message; ``None`` for events we do not use and malformed ones.

    Never raises for bad input, so one garbled event cannot stop the AMI feed. Use
    :func:`decode_event` to get the reason (:class:`EventParseError`) when it should be logged.
    """
    try:
        return decode_event(message)
    except EventParseError:
        return None


def parse_queue_status(messages: list[Message]) -> list[QueueStatusRow]:
    """The typed rows of a ``QueueStatus`` list (``AMIClient.send_action_list``), in order;
    other events in the list are left out."""
    rows: list[QueueStatusRow] = []
    for message in messages:
        event = parse_event(message)
        if isinstance(event, (QueueParams, QueueMember, QueueEntry)):
            rows.append(event)
    return rows
