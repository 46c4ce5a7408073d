"""The IVR over FastAGI: plays what the pure menu asks for and hands the route to the dialplan.

A call costs one ``GET DATA`` per menu attempt and one ``EXEC MSet`` at the end, which sets every
routing variable and, last, the result variable the dialplan checks. Anything that goes wrong
before that leaves the result unset, and the dialplan sends the caller to the default queue.

The calendar's special days added from the console come from ``special_days`` (the store's cached list,
see ivr/calendar_db.py), the estimated wait of a queue from ``wait`` (the callback offer's estimate, handed
in by the root). A closed topic's next opening is spoken at call time in the caller's language (the
``closed_next`` prompt, made into ``sounds/follow``, played, and removed).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import shutil
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from pathlib import Path

from ivr.menu import (
    Ask,
    Closed,
    Follow,
    Info,
    Menu,
    Message,
    Report,
    Route,
    WaitEstimate,
    overflow_queue,
    route_priority,
    spoken_opening,
)
from profiles.model import Profile, SpecialDay
from telephony import names as v
from telephony.agi import AGIHangup, AGISession
from telephony.clock import utc_now
from telephony.prompts import Segment, build_prompt

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
        *,
        special_days: Callable[[], Awaitable[Sequence[SpecialDay]]] | None = None,
        wait: WaitEstimate | None = None,
        sounds_host_dir: Path | None = None,
        prompt_cache: Path | None = None,
        speak: Callable[[tuple[Segment, ...], Path], Path] = build_prompt,
    ):
        self.profile = profile
        self.sounds_dir = sounds_dir.rstrip("/")
        self.clock = clock
        self.screen = screen
        self.special_days = special_days
        self.wait = wait
        self.sounds_host_dir = sounds_host_dir
        self.prompt_cache = prompt_cache
        self.speak = speak

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
        menu = Menu(self.profile, self.clock(), await self._special_days(), self._estimate)
        step = menu.start()
        try:
            while isinstance(step, Ask):
                digits = await session.get_data(f"{self.sounds_dir}/{step.prompt}", step.timeout_ms, step.max_digits)
                step = menu.press(digits)
            if isinstance(step, Closed):
                await self._closed(session, step)
                return
            if isinstance(step, Message):
                await session.mset(
                    {
                        v.LANGUAGE: step.language,
                        v.TOPIC: step.topic,
                        v.SPECIALTY: "",
                        v.QUEUE: step.queue,
                        v.VOICE_NOTE: secrets.token_hex(16),
                        v.RESULT: v.RESULT_MESSAGE,
                    }
                )
                return
            if isinstance(step, Info):
                routed = await self._inform(session, step)
                if routed is None:
                    return
                step = routed
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

    async def _inform(self, session: AGISession, step: Info) -> Route | None:
        """Announce the route as information (so a caller who hangs up during it counts as served without a
        person), play it, and wait for the person key: the route to the topic's queue, or None (no key:
        ``HOTLINE_RESULT=INFO``, the dialplan ends the call)."""
        route = step.route
        specialty = route.specialty or ""
        announced = (v.ROUTE_USEREVENT, f"Language: {route.language}", f"Topic: {route.topic}",
                     f"Specialty: {specialty}", f"Queue: {route.queue}", f"Result: {v.RESULT_INFO}")  # fmt: skip
        await session.exec("UserEvent", *announced)
        keys = step.person_key or ""
        digits = await session.get_data(
            f"{self.sounds_dir}/{step.prompt}", self.profile.digit_timeout_seconds * 1000, 1
        )
        if keys and digits[:1] == keys:
            return route
        await session.mset({v.RESULT: v.RESULT_INFO})
        return None

    async def _special_days(self) -> Sequence[SpecialDay]:
        """The console's special days; our failure leaves the profile's alone (the caller is not held)."""
        if self.special_days is None:
            return ()
        try:
            return await self.special_days()
        except Exception:
            log.exception("the special days could not be read: the profile's hours and holidays apply")
            return ()

    def _estimate(self, queue: str) -> float | None:
        if self.wait is None:
            return None
        try:
            return self.wait(queue)
        except Exception:
            log.exception("the estimated wait of %s could not be computed: no information first", queue)
            return None

    async def _closed(self, session: AGISession, step: Closed) -> None:
        """The closed prompt: in every language from the dialplan, or in the caller's here, then the next
        opening when the profile can say it (our failure to make it: the closed prompt alone)."""
        if step.language is None:
            await session.mset({v.PROMPT: f"{self.sounds_dir}/{step.prompt}", v.RESULT: v.RESULT_CLOSED})
            return
        await session.stream_file(f"{self.sounds_dir}/{step.prompt}")
        if step.next_opening is not None:
            await self._say_next(session, step.language, step.next_opening)
        await session.mset({v.PROMPT: "", v.RESULT: v.RESULT_CLOSED})

    def next_segments(self, language: str, opening: datetime) -> tuple[Segment, ...] | None:
        prompt = self.profile.prompt("closed_next", language)
        if prompt is None:
            return None
        voice = next(lang.voice for lang in self.profile.languages if lang.code == language)
        words = spoken_opening(self.profile, self.clock(), opening, language)
        if prompt.file is not None:  # a recorded sentence cannot say the time: the file, then the words
            return (Segment(voice, None, str(prompt.file)), Segment(voice, words, None))
        assert prompt.text is not None
        return (Segment(voice, prompt.text.replace("{next}", words), None),)

    async def _say_next(self, session: AGISession, language: str, opening: datetime) -> None:
        segments = self.next_segments(language, opening)
        if segments is None:
            return
        if self.sounds_host_dir is None or self.prompt_cache is None:
            log.error("closed: no live prompt folder, the next opening cannot be spoken")
            return
        name = secrets.token_hex(12)
        target = self.sounds_host_dir / v.LIVE_PROMPTS_DIR / f"{name}.wav"
        try:
            await asyncio.to_thread(self._install, segments, target)
        except Exception:
            log.exception("closed: the next opening could not be spoken")
            return
        try:
            await session.stream_file(f"{self.sounds_dir}/{v.LIVE_PROMPTS_DIR}/{name}")
        finally:
            target.unlink(missing_ok=True)

    def _install(self, segments: tuple[Segment, ...], target: Path) -> None:
        """Made (cached) in the service's folder, then copied where Asterisk reads it (see cases/agi.py)."""
        assert self.prompt_cache is not None
        made = self.speak(segments, self.prompt_cache)
        target.parent.mkdir(exist_ok=True)
        sounds = target.parent.parent.stat()
        partial = target.with_suffix(".part")
        shutil.copyfile(made, partial)
        if os.geteuid() == 0:
            os.chown(target.parent, sounds.st_uid, sounds.st_gid)
            os.chown(partial, sounds.st_uid, sounds.st_gid)
            os.chmod(partial, 0o600)
        else:
            os.chmod(partial, 0o640)
        partial.rename(target)
