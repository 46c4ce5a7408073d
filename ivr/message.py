"""The FastAGI route ``message``: a caller of a closed topic left a message (``when_closed: message``).

The dialplan plays ``leave_message``, records the message with Record() (a length limit, and it ends after
some silence; a caller who hangs up keeps it: option k and the ``h`` extension), then calls this route with
the language, the topic, the file name, Record's status and the call's linkedid. The message is handed to
``leave`` (injected by the root): a case with the voice note when the profile keeps cases, else a callback
request placed for the topic's next opening. ``HOTLINE_RESULT=OK`` tells the dialplan to thank the caller;
anything else, it apologises.
"""

from __future__ import annotations

import contextlib
import logging
import re
import wave
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from profiles.calendar import next_opening
from profiles.model import Profile, SpecialDay
from telephony import names as v
from telephony.agi import AGIHangup, AGISession
from telephony.clock import utc_now
from telephony.names import queue_name

log = logging.getLogger(__name__)

NOTE_NAME = re.compile(r"[0-9a-f]{32}")
HUNG_UP = "HANGUP"  # the status the dialplan's h extension gives: the caller hung up while recording


@dataclass(frozen=True)
class LeftMessage:
    """One message: answered at ``answer_at`` (the topic's next opening; None: as soon as a person can)."""

    number: str | None
    language: str
    topic: str
    queue: str
    voice_note: Path | None  # None: nothing was said (or the file cannot be read by the service)
    seconds: float | None
    linkedid: str | None
    answer_at: datetime | None


#: Takes a message (books the callback, or opens the case); False or an exception: not taken.
Leave = Callable[[LeftMessage], Awaitable[bool]]


def wav_seconds(path: Path) -> float | None:
    """The length of a WAV file in seconds; None when it is missing, unreadable or not a WAV."""
    try:
        with wave.open(str(path), "rb") as note:
            return note.getnframes() / float(note.getframerate() or 1)
    except (OSError, EOFError, wave.Error):
        return None


class MessageHandler:
    def __init__(
        self,
        profile: Profile,
        leave: Leave,
        notes_dir: Path | None,
        special_days: Callable[[], Awaitable[Sequence[SpecialDay]]] | None = None,
        clock: Callable[[], datetime] = utc_now,
    ):
        self.profile = profile
        self.leave = leave
        self.notes_dir = notes_dir
        self.special_days = special_days
        self.clock = clock
        self.takes = {t.id for t in profile.topics if t.when_closed == "message"}

    async def __call__(self, session: AGISession) -> None:
        args = [*session.args, "", "", "", "", ""]
        language, topic, note, status, linkedid = args[:5]
        if language not in self.profile.language_codes:
            language = self.profile.default_language
        if topic not in self.takes:
            log.warning("message for %r, a topic that takes none (%s): refused", topic, session.uniqueid)
            return
        voice_note, seconds = self._note(note, session.uniqueid)
        if status == HUNG_UP and voice_note is None:
            log.info("caller %s hung up before leaving a message", session.uniqueid)
            return
        extra: Sequence[SpecialDay] = ()
        if self.special_days is not None:
            try:
                extra = await self.special_days()
            except Exception:
                log.exception("message: the special days could not be read; the profile's apply")
        message = LeftMessage(
            number=session.callerid or None,
            language=language,
            topic=topic,
            queue=queue_name(language, topic),
            voice_note=voice_note,
            seconds=seconds,
            linkedid=linkedid or None,
            answer_at=next_opening(self.profile, self.clock(), topic, extra),
        )
        try:
            taken = await self.leave(message)
        except Exception:
            log.exception("message of %s (%s) could not be taken; the voice note %s is kept", linkedid, topic, note)
            taken = False
        log.info("message of %s for %s: %s, answer at %s", linkedid, topic, "taken" if taken else "NOT taken",
                 message.answer_at)  # fmt: skip
        if taken and status != HUNG_UP:
            with contextlib.suppress(AGIHangup):
                await session.mset({v.RESULT: v.RESULT_OK})

    def _note(self, note: str, uniqueid: str) -> tuple[Path | None, float | None]:
        if not NOTE_NAME.fullmatch(note):
            log.warning("message: voice note name %r refused (%s)", note, uniqueid)
            return None, None
        if self.notes_dir is None:
            return None, None
        path = self.notes_dir / f"{note}.wav"
        seconds = wav_seconds(path)
        if seconds is not None and seconds <= 0:
            path.unlink(missing_ok=True)  # '#' at once: an empty file, nothing to keep
            return None, None
        return path, seconds
