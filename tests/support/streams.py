"""AMI streams as raw text, replayed through the real boundary: :class:`telephony.ami.parser.AMIParser`
then :func:`telephony.events.decode_event`, into the record builder or the live routing state.

Captured-style streams live in ``ami_streams/<name>.txt`` (CRLF line ends, a blank line between
messages, exactly as Asterisk 22 writes them with ``timestampevents = yes``):

* ``answered_call``: Arabic > medical > paediatrics, 7.4 s in the queue, the doctor hangs up first;
* ``abandoned_call``: an English caller waits 45.5 s in en-general and hangs up;
* ``callback_call``: the service calls an abandoned caller back; the caller is queued and answered;
* ``blind_transfer_to_queue``, ``blind_transfer_to_destination`` (real captures, issue 12): a caller in
  ar-general answered by agent-ar-2, blind transferred (the AMI BlindTransfer action: ``IsExternal: Yes``, as
  a SIP REFER) through ``hotline-transfer`` to ar-complaints (agent-ar-3 answers) or to the
  ``technical-affairs`` destination (``HotlineDestination``, then Dial on the trunk);
* ``refer_transfer_to_queue`` (real capture): a caller in ar-virus answered by agent-ar-2, whose softphone
  sends a SIP REFER to ``sip:7001@…``; res_pjsip_refer transfers the caller through ``hotline-transfer`` to
  ar-complaints, where agent-ar-3 answers (``BlindTransfer`` with ``IsExternal: Yes``);
* ``attended_transfer_to_destination``, ``attended_transfer_to_queue`` (real captures): agent-ar-2 keys ``*2`` and
  the code (9001: technical-affairs; 7001: ar-complaints) over SIP INFO, the consulted side answers, agent-ar-2
  hangs up: ``AttendedTransfer`` (``IsExternal: No``); the consultation is a Local channel of the same Linkedid.
  Their queue_log and Master.csv lines are in ``asterisk_logs/attended_transfers.*``.
* ``conference_by_phone_key`` (real capture, issue 12): a caller in ar-virus answered by agent-ar-1, who keys the
  conference key and 99; the service Redirects both into ``hotline-<linkedid>``, the emergency-control-room UAS
  joins (``HotlineConference`` facts), the agent hangs up (app_queue's ``AgentComplete`` Reason ``agent``), then
  the caller. It also holds the agent phone's login and queue-member events before the call.

Tests may also write a log by hand (:func:`ami_text`): indented blocks, one header a line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import overload

from cdr.builder import CallRecord, RecordBuilder
from routing.state import LiveState
from telephony.ami.message import Message
from telephony.ami.parser import AMIParser
from telephony.clock import EPOCH, utc
from telephony.events import Event, decode_event

__all__ = ["STREAMS", "ami_stream", "ami_text", "parse_ami", "replay", "typed"]

STREAMS = Path(__file__).parent / "ami_streams"
CHUNK = 61  # bytes per read: messages, lines and UTF-8 characters are split across reads, as on a socket


def parse_ami(data: bytes, chunk: int = CHUNK) -> list[Message]:
    """Raw AMI bytes -> messages, fed to one parser ``chunk`` bytes at a time."""
    parser = AMIParser()
    messages: list[Message] = []
    for start in range(0, len(data), chunk):
        messages.extend(parser.feed(data[start : start + chunk]))
    assert parser.buffered == 0, f"the stream ends inside a message: {data[-200:]!r}"
    return messages


def ami_stream(name: str) -> list[Message]:
    """The messages of the captured-style stream ``ami_streams/<name>.txt``."""
    return parse_ami((STREAMS / f"{name}.txt").read_bytes())


def ami_text(text: str) -> list[Message]:
    """A hand-written AMI log (indented blocks of ``Header: value`` lines, a blank line between
    messages) -> messages, through the same parser."""
    raw = "\r\n".join(line.strip() for line in text.strip().splitlines()) + "\r\n\r\n"
    return parse_ami(raw.encode("utf-8"))


def typed(messages: Iterable[Message | Mapping[str, str] | Event]) -> list[Event]:
    """Each message (or hand-written header mapping) typed once, as the service does; messages of
    events we do not use are left out. A known event with bad headers raises (``EventParseError``):
    a fixture must not lose events silently."""
    events: list[Event] = []
    for message in messages:
        event = decode_event(message) if isinstance(message, (Message, Mapping)) else message
        if event is not None:
            events.append(event)
    return events


@overload
def replay(source: Iterable[Message | Mapping[str, str] | Event], target: RecordBuilder) -> list[CallRecord]: ...
@overload
def replay(source: Iterable[Message | Mapping[str, str] | Event], target: LiveState) -> LiveState: ...
def replay(
    source: Iterable[Message | Mapping[str, str] | Event], target: RecordBuilder | LiveState
) -> list[CallRecord] | LiveState:
    """Replay messages (or typed events) in order: into a record builder (the records it completed)
    or into the live routing state (each event applied at its own time, ``event.at``; the state)."""
    events = typed(source)
    if isinstance(target, RecordBuilder):
        records: list[CallRecord] = []
        for event in events:
            records.extend(target.feed(event))
        return records
    for event in events:
        timestamp = getattr(event, "timestamp", None)
        target.apply(event, EPOCH if timestamp is None else utc(timestamp))
    return target
