"""The callback menu over FastAGI: a waiting caller pressed 1 to be called back and keep their place.

The caller's number is their caller ID, read back digit by digit in their language, or one they key
in. Either is checked against the profile's allowed patterns (no premium-rate or international
numbers: a callback to a spoofed premium number is toll fraud) and a per-number rate limit. A
refused number gets a clear prompt, a record, and the caller goes back to waiting.

The route the dialplan passes (language, topic, specialty, queue) is checked against the profile
before anything is asked or stored: a request for an unknown queue, topic, specialty or language is
refused, so it can never take the place of a real request for the same number (one open request
per number).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from profiles.model import Profile
from routing.queues import build_queues
from telephony import names as v
from telephony.agi import AGIHangup, AGISession
from telephony.clock import utc

log = logging.getLogger(__name__)

CONFIRM, ENTER_OTHER = "1", "2"


@dataclass(frozen=True)
class OfferContext:
    """What the dialplan passes: the caller's route and their place in the queue (when they joined it)."""

    language: str
    topic: str
    specialty: str | None
    queue: str
    place_at: datetime | None
    linkedid: str | None


@dataclass(frozen=True)
class Booking:
    ok: bool
    number: str | None
    reason: str | None  # why not: empty, not_digits, not_allowed, rate_limited


class Callbacks(Protocol):
    def check(self, raw: str, *, caller_id: bool) -> Booking: ...
    async def book(self, number: str, context: OfferContext) -> Booking: ...
    async def refused(self, raw: str, reason: str, context: OfferContext) -> None: ...


def profile_queues(profile: Profile) -> frozenset[str]:
    """Every queue a waiting caller can be in: one per language and topic, or language and specialty
    (the overflow and default queues are among them)."""
    return frozenset(spec.name for spec in build_queues(profile))


def context_from_args(args: list[str], profile: Profile, queues: frozenset[str] | None = None) -> OfferContext | None:
    """The caller's route from the AGI arguments, or None when it is not one of the profile's. The
    dialplan gives the time the caller joined the queue in epoch seconds: it becomes a datetime here."""
    values = (list(args) + [""] * 6)[:6]
    language, topic, specialty, queue, joined_at, linkedid = values
    topic = topic or profile.default_topic
    topics = {t.id: t for t in profile.topics}
    if language not in profile.language_codes or topic not in topics:
        return None
    if specialty and specialty not in {s.id for s in topics[topic].specialties}:
        return None
    if queue not in (queues if queues is not None else profile_queues(profile)):
        return None
    place_at: datetime | None = None
    try:
        joined = float(joined_at) if joined_at else 0.0
        if math.isfinite(joined) and joined > 0:
            place_at = utc(joined)
    except (ValueError, OverflowError):
        place_at = None
    return OfferContext(language, topic, specialty or None, queue, place_at, linkedid or None)


class CallbackOfferHandler:
    """The FastAGI route ``callback``."""

    def __init__(self, profile: Profile, callbacks: Callbacks, sounds_dir: str):
        self.profile = profile
        self.callbacks = callbacks
        self.sounds_dir = sounds_dir.rstrip("/")
        self.queues = profile_queues(profile)

    def _prompt(self, language: str, name: str) -> str:
        return f"{self.sounds_dir}/{v.agent_prompt(language, name)}"

    async def __call__(self, session: AGISession) -> None:
        context = context_from_args(session.args, self.profile, self.queues)
        if context is None:
            log.warning(
                "callback menu called without a route of the profile (%r): refused, back to the queue", session.args
            )
            return
        timeout = self.profile.digit_timeout_seconds * 1000
        try:
            check = self.callbacks.check(session.callerid, caller_id=True)
            number = check.number if check.ok else None
            if number is not None:
                for digit in number:
                    await session.stream_file(f"{self.sounds_dir}/{v.digit_prompt(context.language, digit)}")
                choice = await session.get_data(self._prompt(context.language, "callback_confirm"), timeout, 1)
                if choice == ENTER_OTHER:
                    number = None
            if number is None:
                keyed = await session.get_data(self._prompt(context.language, "callback_enter"), 3 * timeout, 15)
                check = self.callbacks.check(keyed, caller_id=False)
                if not check.ok:
                    await self.callbacks.refused(keyed, check.reason or "not_allowed", context)
                    await session.stream_file(self._prompt(context.language, "callback_refused"))
                    return
                number = check.number
            assert number is not None
            booking = await self.callbacks.book(number, context)
            if not booking.ok:
                await self.callbacks.refused(number, booking.reason or "not_allowed", context)
                await session.stream_file(self._prompt(context.language, "callback_refused"))
                return
            await session.mset({v.PROMPT: self._prompt(context.language, "callback_booked"), v.RESULT: v.RESULT_OK})
            log.info("callback booked for %s in %s (place %s)", number, context.queue, context.place_at)
        except AGIHangup:
            log.info("caller hung up in the callback menu")
