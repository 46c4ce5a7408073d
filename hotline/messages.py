"""What the root hands the IVR for the caller's experience (issue 13): the estimated wait of a queue (the
callback offer's estimate) and what becomes of a message left while a topic is closed (a case with the
voice note when the profile keeps cases, else a callback request placed for the topic's next opening)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from callbacks import policy
from callbacks.agi import OfferContext
from callbacks.model import Origin
from callbacks.service import CallbackService
from cases.service import CaseService
from ivr.menu import WaitEstimate
from ivr.message import Leave, LeftMessage
from routing.service import AgentDesk
from telephony.clock import utc_now

log = logging.getLogger(__name__)

MESSAGE_DESCRIPTION = "(voice message left while the topic was closed)"
NO_MESSAGE_DESCRIPTION = "(message left while the topic was closed, nothing said)"


def wait_estimate(desk: AgentDesk, clock: Callable[[], datetime] = utc_now) -> WaitEstimate:
    """The wait a caller who joins ``queue`` now should expect: the callback offer's estimate
    (``callbacks.policy.estimated_wait`` at the place after those waiting, with the queue's recent AHT)."""

    def estimate(queue: str) -> float:
        now = clock()
        snapshot = desk.state.snapshot(now)
        waiting = sum(1 for call in snapshot.calls.values() if call.queue == queue)
        aht = policy.aht_from_snapshot(snapshot, now, queue)
        return policy.estimated_wait(snapshot, queue, waiting + 1, aht, now)

    return estimate


def leave_message(cases: CaseService | None, callbacks: CallbackService) -> Leave:
    """A message becomes a case when the profile keeps cases, else a callback request for ``answer_at``."""

    async def as_case(message: LeftMessage) -> bool:
        assert cases is not None
        said = message.voice_note is not None and message.seconds is not None
        case = await cases.open(
            category=message.topic,
            description=MESSAGE_DESCRIPTION if said else NO_MESSAGE_DESCRIPTION,
            caller_number=message.number,
            language=message.language,
            actor="phone",
            source="phone",
            linkedid=message.linkedid,
            voice_note=str(message.voice_note) if said else None,
            voice_note_seconds=message.seconds if said else None,
        )
        log.info("message of %s: case %s", message.linkedid, case.number)
        return True

    async def as_callback(message: LeftMessage) -> bool:
        checked = callbacks.check(message.number or "", caller_id=True)
        if not checked.ok or checked.number is None:
            log.warning("message of %s: the number cannot be called back (%s)", message.linkedid, checked.reason)
            return False
        context = OfferContext(message.language, message.topic, None, message.queue, None, message.linkedid)
        booked = await callbacks.book(checked.number, context, at=message.answer_at, origin=Origin.MESSAGE)
        if not booked.ok:
            log.warning("message of %s: no callback (%s)", message.linkedid, booked.reason)
        return booked.ok

    return as_case if cases is not None else as_callback
