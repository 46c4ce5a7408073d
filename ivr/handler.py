"""The IVR over FastAGI: plays what the pure menu asks for and hands the route to the dialplan.

A call costs one ``GET DATA`` per menu attempt and one ``EXEC MSet`` at the end, which sets every
routing variable and, last, the result variable the dialplan checks. Anything that goes wrong
before that leaves the result unset, and the dialplan sends the caller to the default queue.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from ivr.menu import Ask, Closed, Follow, Menu, Report, overflow_queue, route_priority
from profiles.model import Profile
from telephony import names as v
from telephony.agi import AGIHangup, AGISession
from telephony.clock import utc_now

log = logging.getLogger(__name__)

#: The screening the root injects: a caller's number (None: withheld) -> "block", "warn" or "pass".
Screen = Callable[[str | None], Awaitable[str]]
SCREEN_BLOCK, SCREEN_WARN = "block", "warn"
RESULT_BLOCKED = "BLOCKED"  # the dialplan plays HOTLINE_PROMPT (if set) and hangs up
BLOCKED_PROMPT, WARNING_PROMPT = "all/blocked", "all/nuisance-warning"


class IvrHandler:
    """The FastAGI route ``ivr``: one instance serves every call."""

    def __init__(
        self,
        profile: Profile,
        sounds_dir: str,
        clock: Callable[[], datetime] = utc_now,
        screen: Screen | None = None,
    ):
        self.profile = profile
        self.sounds_dir = sounds_dir.rstrip("/")
        self.clock = clock
        self.screen = screen

    async def _screened(self, session: AGISession) -> bool:
        """Screen the caller before the menu: True when blocked (the dialplan plays ``blocked`` and hangs up);
        a warned caller hears the warning here and goes on. Our failure lets the caller through."""
        if self.screen is None:
            return False
        try:
            verdict = await self.screen(session.callerid or None)
        except Exception:
            log.exception("screening failed for call %s: the caller goes on", session.uniqueid)
            return False
        if verdict == SCREEN_BLOCK:
            has_prompt = self.profile.prompt("blocked", self.profile.default_language) is not None
            prompt = f"{self.sounds_dir}/{BLOCKED_PROMPT}" if has_prompt else ""
            await session.mset({v.PROMPT: prompt, v.RESULT: RESULT_BLOCKED})
            return True
        if verdict == SCREEN_WARN and self.profile.prompt("nuisance_warning", self.profile.default_language):
            await session.stream_file(f"{self.sounds_dir}/{WARNING_PROMPT}")
        return False

    async def __call__(self, session: AGISession) -> None:
        try:
            if await self._screened(session):
                return
        except AGIHangup:
            log.debug("caller %s hung up while screened", session.uniqueid)
            return
        menu = Menu(self.profile, self.clock())
        step = menu.start()
        try:
            while isinstance(step, Ask):
                digits = await session.get_data(f"{self.sounds_dir}/{step.prompt}", step.timeout_ms, step.max_digits)
                step = menu.press(digits)
            if isinstance(step, Closed):
                await session.mset({v.RESULT: "CLOSED"})
                return
            if isinstance(step, (Report, Follow)):
                # The case routes take the caller; the queue is where they go if those fail.
                topic = step.topic if isinstance(step, Report) else self.profile.default_topic
                await session.mset(
                    {
                        v.LANGUAGE: step.language,
                        v.TOPIC: topic,
                        v.SPECIALTY: "",
                        v.QUEUE: step.queue,
                        v.OVERFLOW_QUEUE: overflow_queue(self.profile, step.language),
                        v.PRIORITY: self.profile.topic(topic).priority,
                        v.RESULT: v.RESULT_REPORT if isinstance(step, Report) else v.RESULT_FOLLOW,
                    }
                )
                return
            await session.mset(
                {
                    v.LANGUAGE: step.language,
                    v.TOPIC: step.topic,
                    v.SPECIALTY: step.specialty or "",
                    v.QUEUE: step.queue,
                    v.OVERFLOW_QUEUE: overflow_queue(self.profile, step.language),
                    v.PRIORITY: route_priority(self.profile, step),
                    v.RESULT: v.RESULT_OK,
                }
            )
            log.debug("call %s routed to %s%s", session.uniqueid, step.queue, " (default)" if step.defaulted else "")
        except AGIHangup:
            log.debug("caller %s hung up in the IVR", session.uniqueid)
