"""What a callback request and an attempt are. Pure data, shared by the policy, the store and the scheduler.

Times are aware UTC datetimes; :data:`telephony.clock.EPOCH` stands for "at any time" (a request's
first attempt may be made at once)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from telephony.clock import EPOCH


class Origin(StrEnum):
    OFFER = "offer"  # the caller pressed 1 while waiting
    ABANDONED_QUEUE = "abandoned_queue"  # hung up in the queue after N seconds
    ABANDONED_IVR = "abandoned_ivr"  # hung up in the IVR at peak
    MESSAGE = "message"  # left a message while the topic was closed: called back at its next opening


class RequestStatus(StrEnum):
    OPEN = "open"  # waiting for its turn (or for its next attempt)
    DIALING = "dialing"  # an attempt is under way: claimed, ringing the caller, or the caller waits for a person
    CONNECTED = "connected"  # a person talked to the called-back caller: served, done
    CANCELLED = "cancelled"  # the caller got through on their own, or a supervisor cancelled it
    EXPIRED = "expired"  # too old
    FAILED = "failed"  # every attempt used up


OPEN_STATUSES = frozenset({RequestStatus.OPEN, RequestStatus.DIALING})


class AttemptOutcome(StrEnum):
    CONNECTED = "connected"  # the caller answered and a person talked to them: the request is served
    ABANDONED = "abandoned"  # the caller answered, then left the queue before a person answered: retried
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    FAILED = "failed"  # the call could not be placed
    UNKNOWN = "unknown"  # the service stopped after dialling: never re-sent, counted as an attempt


@dataclass(frozen=True)
class CallbackRequest:
    id: int | None
    number: str  # the number to call, as validated
    language: str
    topic: str
    specialty: str | None
    queue: str  # the skill group the caller is connected to
    origin: Origin
    original_linkedid: str | None  # the call record it comes from
    place_at: datetime  # the caller's place in the queue (when they first joined)
    created_at: datetime
    expires_at: datetime
    status: RequestStatus = RequestStatus.OPEN
    attempts: int = 0
    next_attempt_at: datetime = EPOCH
    priority: int = 0


@dataclass(frozen=True)
class CallbackAttempt:
    id: int | None
    request_id: int
    claimed_at: datetime
    claimed_by: str  # which service instance
    dialed_at: datetime | None = None  # set BEFORE the Originate is sent
    ended_at: datetime | None = None
    outcome: AttemptOutcome | None = None
    linkedid: str | None = None  # the call record of the callback call
