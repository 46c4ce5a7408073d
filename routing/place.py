"""Place in line: a waiting caller hears their position and the estimated wait, in their language, every
``queues.announce_position_seconds`` (0: never).

Why not app_queue's own announcements: they speak Asterisk's core sounds (no Arabic) and app_queue's own
hold time. Here the sentence is the profile's (``queue_position`` "{position}", ``queue_wait`` "{minutes}")
and the wait is the callback offer's estimate (``callbacks.policy.estimated_wait`` with the queue's recent
handle time, handed in by the root as ``estimate``: routing does not import callbacks).

How it reaches one caller in a queue without taking them out of it: the service makes the sentence (espeak-ng,
cached by content) into ``sounds/follow/place_<language>_<position>_<minutes>_<digest>.wav`` (the folder the
unprivileged service may write), then originates ``Local/<that name>@hotline-place``: that side of the Local
channel answers and plays the file (then a ``HotlinePlaceInLine`` UserEvent with PLAYBACKSTATUS), while the other
side runs ``ChanSpy(<caller's channel>,qwES)``: whispered, quiet, into what the caller hears over the music.
The caller keeps their place, their music and their callback offer. Asterisk reports ``ChanSpyStart`` with the
caller as the spyee: what the end-to-end test checks.

Pure part: :func:`due` (who is due an announcement now) and :func:`minutes`. Times are aware UTC datetimes.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import os
import re
import secrets
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from profiles.model import Profile
from routing.service import AgentDesk
from routing.state import Snapshot
from telephony import names as v
from telephony.ami.client import AMIClient, AMIException
from telephony.ami.message import Message
from telephony.clock import utc_now
from telephony.prompts import Segment, build_prompt

log = logging.getLogger(__name__)

PLACE_CONTEXT = "hotline-place"  # the dialplan context that plays the sentence (the Local channel's far side)
PLACE_USEREVENT = "HotlinePlaceInLine"  # headers: Prompt (the file name), Status (PLAYBACKSTATUS)
PLACE_PREFIX = "place_"  # no dashes: Asterisk ignores them in extensions
#: The raw AMI events that tell the caller's channel name by its Uniqueid (and when it is gone).
EVENTS = frozenset({"QueueCallerJoin", "QueueCallerLeave", "QueueCallerAbandon", "Hangup"})
TICK_SECONDS = 1.0
ORIGINATE_TIMEOUT_MS = 10_000
_SAFE = re.compile(r"[a-z]{2,8}")  # a language code that can be part of a file and extension name
_CHANNEL = re.compile(r"[A-Za-z0-9/_.@;:+-]{3,128}")  # a channel name ChanSpy may be given (no ',' '|' ')')

Estimate = Callable[[Snapshot, str, int, datetime], float]
"""``(snapshot, queue, position, now) -> seconds``: the callback offer's estimated wait."""


@dataclass(frozen=True, slots=True)
class Announcement:
    uniqueid: str
    channel: str
    queue: str
    language: str
    position: int
    minutes: int


def minutes(seconds: float) -> int:
    """The wait spoken, in whole minutes: rounded up, at least 1."""
    if not seconds > 0 or math.isinf(seconds):
        return 1
    return max(1, math.ceil(seconds / 60))


def due(
    snapshot: Snapshot,
    channels: Mapping[str, str],
    last: Mapping[str, datetime],
    interval: float,
    now: datetime,
    estimate: Estimate,
) -> list[Announcement]:
    """The callers due their place in line at ``now``: waiting at least ``interval`` seconds since they
    joined or since their last announcement, their channel known, and somebody ahead of them or nobody
    free for them (a wait of 0 means a person is being rung for them: nothing to say). Oldest first."""
    if interval <= 0:
        return []
    step = timedelta(seconds=interval)
    result: list[Announcement] = []
    for call in sorted(snapshot.calls.values(), key=lambda c: (c.joined_at, c.uniqueid)):
        channel = channels.get(call.uniqueid)
        if channel is None or now - last.get(call.uniqueid, call.joined_at) < step:
            continue
        wait = estimate(snapshot, call.queue, call.position, now)
        if wait <= 0:
            continue
        language = call.queue.split("-", 1)[0]
        result.append(Announcement(call.uniqueid, channel, call.queue, language, call.position, minutes(wait)))
    return result


class PlaceInLine:
    """The service that tells waiting callers their place (see the module). Off when the profile's interval is 0
    or the service has no prompt folder of the instance."""

    def __init__(
        self,
        profile: Profile,
        ami: AMIClient,
        desk: AgentDesk,
        *,
        sounds_dir: str,
        sounds_host_dir: Path | None,
        prompt_cache: Path,
        estimate: Estimate,
        speak: Callable[[tuple[Segment, ...], Path], Path] = build_prompt,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.profile = profile
        self.ami = ami
        self.desk = desk
        self.sounds_dir = sounds_dir
        self.sounds_host_dir = sounds_host_dir
        self.prompt_cache = prompt_cache
        self.estimate = estimate
        self.speak = speak
        self.clock = clock
        self.interval = profile.queue_settings.announce_position_seconds
        self.voices = {language.code: language.voice for language in profile.languages}
        self.channels: dict[str, str] = {}  # Uniqueid -> channel name of a caller waiting in a queue
        self.last: dict[str, datetime] = {}  # Uniqueid -> when their last announcement was due
        self._busy: set[str] = set()  # callers whose announcement is being made or played
        self._task: asyncio.Task[None] | None = None
        self._work: set[asyncio.Task[bool]] = set()
        self.announced = 0

    @property
    def enabled(self) -> bool:
        return self.interval > 0 and self.sounds_host_dir is not None

    async def start(self) -> None:
        if self.enabled:
            self._task = asyncio.create_task(self._run(), name="hotline-place-in-line")

    async def close(self) -> None:
        tasks: list[asyncio.Task[Any]] = [t for t in (self._task, *self._work) if t is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

    def on_message(self, message: Message) -> None:
        """A raw AMI event of :data:`EVENTS`: keeps each waiting caller's channel name by Uniqueid."""
        uniqueid = message.get("Uniqueid") or ""
        if message.get("Event") == "QueueCallerJoin":
            channel = message.get("Channel") or ""
            if uniqueid and _CHANNEL.fullmatch(channel):
                self.channels[uniqueid] = channel
        else:
            # Leaving one queue for another (overflow) joins again: a fresh count from the new join.
            self.channels.pop(uniqueid, None)
            self.last.pop(uniqueid, None)

    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:  # one bad tick must not end the announcements for good
                log.exception("place in line: tick failed")
            await asyncio.sleep(TICK_SECONDS)

    async def tick(self) -> None:
        if not self.enabled or not self.ami.connected or not self.desk.synced:
            return
        now = self.clock()
        snapshot = self.desk.snapshot()
        for gone in set(self.last) - set(snapshot.calls):
            self.last.pop(gone, None)
        for announcement in due(snapshot, self.channels, self.last, self.interval, now, self.estimate):
            if announcement.uniqueid in self._busy:
                continue
            self.last[announcement.uniqueid] = now
            self._busy.add(announcement.uniqueid)
            task = asyncio.create_task(self.announce(announcement), name=f"hotline-place-{announcement.uniqueid}")
            self._work.add(task)
            task.add_done_callback(self._work.discard)

    # -- one announcement ------------------------------------------------------------------------------
    def segments(self, language: str, position: int, wait_minutes: int) -> tuple[Segment, ...]:
        """The sentence: the profile's ``queue_position`` then ``queue_wait``; a recorded prompt cannot say
        the number, so the number follows it."""
        voice = self.voices[language]
        parts: list[Segment] = []
        for name, field, value in (("queue_position", "position", position), ("queue_wait", "minutes", wait_minutes)):
            prompt = self.profile.prompt(name, language)
            if prompt is None:
                continue
            if prompt.text is not None:
                parts.append(Segment(voice, prompt.text.format(**{field: value}), None))
            elif prompt.file is not None:
                parts.extend((Segment(voice, None, str(prompt.file)), Segment(voice, str(value), None)))
        return tuple(parts)

    def file_name(self, announcement: Announcement) -> str | None:
        """``place_<language>_<position>_<minutes>_<digest of the words>``: also the dialplan extension."""
        if not _SAFE.fullmatch(announcement.language) or announcement.language not in self.voices:
            return None
        words = self.segments(announcement.language, announcement.position, announcement.minutes)
        if not words:
            return None
        digest = hashlib.sha256(repr(words).encode()).hexdigest()[:12]
        return f"{PLACE_PREFIX}{announcement.language}_{announcement.position}_{announcement.minutes}_{digest}"

    async def announce(self, announcement: Announcement) -> bool:
        """Make the sentence (once per content) and whisper it to the caller. False when it could not be."""
        try:
            name = self.file_name(announcement)
            if name is None:
                log.warning(
                    "place in line: no sentence for %s (language %r)", announcement.queue, announcement.language
                )
                return False
            try:
                await asyncio.to_thread(self._install, announcement, name)
            except Exception:
                log.exception("place in line: the sentence %s could not be made", name)
                return False
            action = {
                "Action": "Originate",
                "Channel": f"Local/{name}@{PLACE_CONTEXT}/n",
                "Application": "ChanSpy",
                "Data": f"{announcement.channel},qwES",
                "Async": "true",
                "Timeout": str(ORIGINATE_TIMEOUT_MS),
                "CallerID": f'"place" <{announcement.position}>',
                "ActionID": f"place-{announcement.uniqueid}-{self.announced}",
            }
            try:
                await self.ami.send_action(action)
            except AMIException as exc:
                log.warning("place in line: the announcement to %s was not sent: %s", announcement.channel, exc)
                return False
            self.announced += 1
            a = announcement
            log.info(
                "place in line: %s in %s hears position %d, about %d min", a.uniqueid, a.queue, a.position, a.minutes
            )
            return True
        finally:
            self._busy.discard(announcement.uniqueid)

    def _install(self, announcement: Announcement, name: str) -> None:
        assert self.sounds_host_dir is not None
        target = self.sounds_host_dir / v.LIVE_PROMPTS_DIR / f"{name}.wav"
        if target.exists():
            return
        made = self.speak(self.segments(announcement.language, announcement.position, announcement.minutes),
                          self.prompt_cache)  # fmt: skip
        target.parent.mkdir(exist_ok=True)
        sounds = target.parent.parent.stat()
        partial = target.with_suffix(f".{secrets.token_hex(6)}.part")  # two callers may need the same sentence at once
        shutil.copyfile(made, partial)
        # Asterisk (its own user) reads it: as root, owned by the prompt folder's owner; as the service's user,
        # in the folder root gave it (group Asterisk's), readable by that group. Never wider.
        if os.geteuid() == 0:
            os.chown(partial, sounds.st_uid, sounds.st_gid)
            os.chmod(partial, 0o600)
        else:
            os.chmod(partial, 0o640)
        partial.rename(target)
