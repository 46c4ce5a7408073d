"""The callback menu over FastAGI: a waiting caller pressed 1 to be called back and keep their place.

The caller's number is their caller ID, read back digit by digit in their language, or one they key
in. Either is checked against the profile's allowed patterns (no premium-rate or international
numbers: a callback to a spoofed premium number is toll fraud) and a per-number rate limit. A
refused number gets a clear prompt, a record, and the caller goes back to waiting.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from telephony import names as v
from profiles.model import Profile
from telephony.agi import AGIHangup, AGISession

log = logging.getLogger(__name__)

CONFIRM, ENTER_OTHER = "1", "2"


@dataclass(frozen=True)
class OfferContext:
    """What the dialplan passes: the caller's route and their place in the queue."""

    language: str
    topic: str
    specialty: str | None
    queue: str
    place_at: float | None
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


def context_from_args(args: list[str], profile: Profile) -> OfferContext | None:
    values = (list(args) + [""] * 6)[:6]
    language, topic, specialty, queue, joined_at, linkedid = values
    if language not in profile.language_codes or not queue:
        return None
    try:
        place_at = float(joined_at) if joined_at else None
    except ValueError:
        place_at = None
    return OfferContext(language, topic or profile.default_topic, specialty or None, queue, place_at, linkedid or None)


class CallbackOfferHandler:
    """The FastAGI route ``callback``."""

    def __init__(self, profile: Profile, callbacks: Callbacks, sounds_dir: str):
        self.profile = profile
        self.callbacks = callbacks
        self.sounds_dir = sounds_dir.rstrip("/")

    def _prompt(self, language: str, name: str) -> str:
        return f"{self.sounds_dir}/{v.agent_prompt(language, name)}"

    async def __call__(self, session: AGISession) -> None:
        context = context_from_args(session.args, self.profile)
        if context is None:
            log.warning("callback menu called without a route (%s): back to the queue", session.args)
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
