"""Cases on the phone, over FastAGI: the number read back, the self-service report, "follow a report".

Three routes, each a short AGI session the dialplan starts (telephony/templates/dialplan):

* ``case_readback`` (language, linkedid): after the agent hung up (Queue option ``c``), the cases opened
  during this call. Found: the files to play go to the dialplan in one ``MSet`` (the number twice in
  ``HOTLINE_CASE_PROMPT``, then the PIN and goodbye in ``HOTLINE_CASE_PIN_PROMPT``; the dialplan plays them
  and announces the read-back in a UserEvent that names the prompt, never the PIN). None: no result, and the
  call ends as it would have.
* ``case_report`` (language, topic): a ``self_report`` topic. The district menu (one ``GET DATA`` per
  attempt; skipped when the profile lists no districts), then ``RESULT=RECORD`` with the voice note's file
  name: the dialplan records it (``Record()``, which may last longer than an AGI session may) and comes back
  with (language, topic, district, note, RECORD_STATUS, linkedid): the case is opened with the note and its
  length (read from the WAV), and the caller hears thanks, the number twice and the PIN. A caller who hangs
  up while recording keeps their report (status HANGUP, from the h extension): the case is opened with the
  note, and nothing is read; one who hangs up before saying anything leaves no case.
* ``case_follow`` (language): the caller keys a case number (a wrong check digit is asked again, as many
  times as the menu's retries), then the PIN if their number is not the one that opened it; they hear its
  status, department and date, or "not found" (an unknown case, another number, a wrong PIN: all the same),
  or "too many lookups"; the answer is announced in a UserEvent (``HotlineCaseFollow``). The status sentence
  is made at call time in the caller's voice with espeak-ng (``telephony.prompts.build_prompt``, cached by
  content), because it holds a date: a fixed prompt per status and department could not say it, and a
  sentence spoken whole sounds like one.

If the case service fails (the database is down), a route sets no result: the dialplan plays the apology
(``agent-failed``) and takes the caller to a person (the topic's queue), or ends the read-back politely.
The caller never waits in silence.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import secrets
import shutil
import wave
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Protocol
from zoneinfo import ZoneInfo

from cases.model import Case, FollowAnswer, valid_number
from ivr.menu import districts_prompt
from profiles.model import Profile
from telephony import names as v
from telephony.agi import AGIHangup, AGISession
from telephony.prompts import Segment, build_prompt

log = logging.getLogger(__name__)

ACTOR = "phone"  # who opened a self-service case, in its history
VOICE_NOTE_DESCRIPTION = "(voice note)"
NO_VOICE_NOTE_DESCRIPTION = "(reported by phone, no voice note)"
NOTE_NAME = re.compile(r"[0-9a-f]{32}")
HUNG_UP = "HANGUP"  # the status the dialplan's h extension gives: the caller hung up while recording
#: An AGI command line is read into a 2 KiB buffer by res_agi: an MSet is kept well under it.
MAX_MSET_BYTES = 1500
MAX_READBACK_CASES = 2  # a call that opened more reads back the last two

#: The status words in the languages hotline ships; another language hears the status id.
STATUS_WORDS: Mapping[str, Mapping[str, str]] = {
    "en": {
        "open": "open",
        "assigned": "assigned",
        "in_progress": "in progress",
        "closed": "closed",
        "rejected": "rejected",
    },
    "ar": {
        "open": "مفتوح",
        "assigned": "محال",
        "in_progress": "قيد المعالجة",
        "closed": "مغلق",
        "rejected": "مرفوض",
    },
}
NO_DEPARTMENT: Mapping[str, str] = {"en": "no department yet", "ar": "لم تحدد الإدارة بعد"}
MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
             "November", "December")  # fmt: skip


class CaseDesk(Protocol):
    """What the routes need of ``cases.service.CaseService``."""

    async def open(
        self,
        *,
        category: str,
        description: str,
        caller_number: str | None,
        language: str,
        actor: str,
        source: str = ...,
        district: str | None = ...,
        linkedid: str | None = ...,
        voice_note: str | None = ...,
        voice_note_seconds: float | None = ...,
    ) -> Case: ...

    async def opened_on_call(self, linkedid: str) -> list[Case]: ...

    async def follow(self, keyed: str, *, caller_number: str | None, pin: str | None = None) -> FollowAnswer: ...


@dataclass(frozen=True)
class VoiceNotes:
    """The voice-note folder as Asterisk sees it (in the dialplan) and as the service reads it."""

    inside: str
    host: Path

    @classmethod
    def beside(cls, sounds_dir: str, sounds_host_dir: Path | None) -> VoiceNotes | None:
        """The instance's ``voice-notes`` folder, next to its ``sounds`` (None without a host folder)."""
        if sounds_host_dir is None:
            return None
        return cls(
            str(PurePosixPath(sounds_dir).parent / v.VOICE_NOTES_DIR), sounds_host_dir.parent / v.VOICE_NOTES_DIR
        )


def wav_seconds(path: Path) -> float | None:
    """The length of a WAV file in seconds; None when it is missing or not a WAV."""
    try:
        with wave.open(str(path), "rb") as note:
            rate = note.getframerate()
            return round(note.getnframes() / rate, 2) if rate else None
    except (OSError, EOFError, wave.Error):
        return None


def mset_chunks(variables: Mapping[str, object], limit: int = MAX_MSET_BYTES) -> list[dict[str, object]]:
    """``variables`` split into MSets of at most ``limit`` bytes each, in order (so the result, last, is set last)."""
    chunks: list[dict[str, object]] = [{}]
    size = 0
    for name, value in variables.items():
        pair = len(name.encode()) + len(str(value).encode()) + 2
        if chunks[-1] and size + pair > limit:
            chunks.append({})
            size = 0
        chunks[-1][name] = value
        size += pair
    return chunks


class _Phone:
    """What the three routes share: the profile, the service, where the prompts are."""

    def __init__(self, profile: Profile, cases: CaseDesk, sounds_dir: str):
        if profile.cases is None:
            raise ValueError("the case routes need a profile with a cases section")
        self.profile = profile
        self.rules = profile.cases
        self.cases = cases
        self.sounds_dir = sounds_dir.rstrip("/")
        self.timeout_ms = profile.digit_timeout_seconds * 1000

    def language(self, value: str) -> str:
        return value if value in self.profile.language_codes else self.profile.default_language

    def prompt(self, language: str, name: str) -> str:
        return f"{self.sounds_dir}/{v.agent_prompt(language, name)}"

    def digits(self, language: str, digits: str) -> list[str]:
        return [f"{self.sounds_dir}/{v.digit_prompt(language, digit)}" for digit in digits]

    def readback(self, language: str, cases: Sequence[Case], intro: Sequence[str] = ()) -> dict[str, object]:
        """The variables the dialplan plays: each number twice, then each PIN and goodbye (PINs apart, never in
        the UserEvent)."""
        cases = list(cases)[-MAX_READBACK_CASES:]
        number_is, pin_is = self.prompt(language, "case_number_is"), self.prompt(language, "case_pin_is")
        numbers: list[str] = list(intro)
        pins: list[str] = []
        for case in cases:
            once = [number_is, *self.digits(language, case.number)]
            numbers += once + once
            pins += [pin_is, *self.digits(language, case.pin)]
        pins.append(self.prompt(language, "case_goodbye"))
        return {
            v.CASE_NUMBER: "-".join(case.number for case in cases),
            v.CASE_PROMPT: "&".join(numbers),
            v.CASE_PIN_PROMPT: "&".join(pins),
            v.RESULT: v.RESULT_OK,
        }

    async def mset(self, session: AGISession, variables: Mapping[str, object]) -> None:
        for chunk in mset_chunks(variables):
            await session.mset(chunk)


class CaseReadbackHandler(_Phone):
    """The FastAGI route ``case_readback``: read back the cases opened during this call."""

    async def __call__(self, session: AGISession) -> None:
        args = ([*list(session.args), "", ""])[:2]
        language, linkedid = self.language(args[0]), args[1]
        if not linkedid:
            log.warning("case read-back without a linkedid (%s): the call ends", session.uniqueid)
            return
        try:
            cases = await self.cases.opened_on_call(linkedid)
        except Exception:
            log.exception("case read-back: the case service failed (call %s); the call ends", linkedid)
            await self._apology(session, language)
            return
        if not cases:
            log.debug("call %s opened no case: nothing to read back", linkedid)
            return
        try:
            await self.mset(session, self.readback(language, cases))
            log.info("call %s: reading back case(s) %s", linkedid, ", ".join(c.number for c in cases))
        except AGIHangup:
            log.info("caller of %s hung up before the read-back", linkedid)

    async def _apology(self, session: AGISession, language: str) -> None:
        """A case may have been opened that we cannot read: say sorry rather than hang up in silence."""
        with contextlib.suppress(AGIHangup):
            await session.stream_file(self.prompt(language, "agent_failed"))


class CaseReportHandler(_Phone):
    """The FastAGI route ``case_report``: the self-service report, in two steps around the dialplan's Record()."""

    def __init__(self, profile: Profile, cases: CaseDesk, sounds_dir: str, notes: VoiceNotes | None):
        super().__init__(profile, cases, sounds_dir)
        self.notes = notes
        keys = [d.key for d in self.rules.districts]
        self.district_digits = max((len(k) for k in keys), default=1)

    async def __call__(self, session: AGISession) -> None:
        args = list(session.args)
        language = self.language(args[0] if args else "")
        topic = args[1] if len(args) > 1 else ""
        if not any(t.id == topic and t.self_report for t in self.profile.topics):
            log.warning("case report for %r, not a self-report topic (%s): refused", topic, session.uniqueid)
            return
        if self.notes is None:
            log.error("case report: no voice-note folder is configured; the caller goes to a person")
            return
        try:
            if len(args) <= 2:
                await self._before_recording(session, language)
            else:
                await self._after_recording(session, language, topic, (args + [""] * 6)[2:6])
        except AGIHangup:
            log.info("caller %s hung up in the self-service report", session.uniqueid)

    async def _before_recording(self, session: AGISession, language: str) -> None:
        district = ""
        if self.rules.districts:
            attempt = 0
            while True:
                prompt = f"{self.sounds_dir}/{districts_prompt(language, retry=attempt > 0)}"
                keyed = await session.get_data(prompt, self.timeout_ms, self.district_digits)
                found = next((d.id for d in self.rules.districts if d.key == keyed), None)
                if found is not None:
                    district = found
                    break
                attempt += 1
                if attempt > self.profile.retries:
                    break  # the report goes on without a district: the voice note may say where
        await self.mset(session, {v.DISTRICT: district, v.VOICE_NOTE: secrets.token_hex(16), v.RESULT: v.RESULT_RECORD})

    async def _after_recording(self, session: AGISession, language: str, topic: str, rest: list[str]) -> None:
        assert self.notes is not None
        district, note, status, linkedid = rest
        if district and district not in {d.id for d in self.rules.districts}:
            log.warning("case report: unknown district %r ignored (%s)", district, session.uniqueid)
            district = ""
        voice_note: str | None = None
        seconds: float | None = None
        if NOTE_NAME.fullmatch(note):
            path = self.notes.host / f"{note}.wav"
            seconds = wav_seconds(path)
            if seconds is not None and seconds > 0:
                voice_note = str(path)
            else:
                seconds = None
                path.unlink(missing_ok=True)  # '#' at once: an empty file, nothing to keep
        else:
            log.warning("case report: voice note name %r refused (%s)", note, session.uniqueid)
        if status == HUNG_UP and voice_note is None:
            log.info("caller %s hung up before saying anything: no report", session.uniqueid)
            return
        try:
            case = await self.cases.open(
                category=topic,
                description=VOICE_NOTE_DESCRIPTION if voice_note else NO_VOICE_NOTE_DESCRIPTION,
                caller_number=session.callerid or None,
                language=language,
                actor=ACTOR,
                source="phone",
                district=district or None,
                linkedid=linkedid or None,
                voice_note=voice_note,
                voice_note_seconds=seconds,
            )
        except Exception:
            log.exception(
                "case report: the case service failed; the voice note %s is kept (record status %s), the caller "
                "goes to a person",
                voice_note,
                status,
            )
            return
        log.info("self-service case %s opened (%s, voice note %s s)", case.number, topic, seconds)
        await self.mset(session, self.readback(language, [case], intro=[self.prompt(language, "report_thanks")]))


class CaseFollowHandler(_Phone):
    """The FastAGI route ``case_follow``: "follow a report"."""

    def __init__(
        self,
        profile: Profile,
        cases: CaseDesk,
        sounds_dir: str,
        *,
        sounds_host_dir: Path | None,
        prompt_cache: Path,
        speak: Callable[[tuple[Segment, ...], Path], Path] = build_prompt,
    ):
        super().__init__(profile, cases, sounds_dir)
        self.sounds_host_dir = sounds_host_dir
        self.prompt_cache = prompt_cache
        self.speak = speak
        self.voices = {lang.code: lang.voice for lang in profile.languages}

    async def __call__(self, session: AGISession) -> None:
        language = self.language(session.args[0] if session.args else "")
        caller = session.callerid or None
        number_timeout = 3 * self.timeout_ms
        try:
            keyed = await session.get_data(self.prompt(language, "follow_enter_number"), number_timeout, 9)
            attempt = 0
            while not valid_number(keyed):
                attempt += 1
                if attempt > self.profile.retries:
                    await session.stream_file(self.prompt(language, "follow_not_found"))
                    await session.mset({v.CASE_ANSWER: "wrong_number", v.RESULT: v.RESULT_OK})
                    return
                keyed = await session.get_data(self.prompt(language, "follow_wrong_number"), number_timeout, 9)
            try:
                answer = await self.cases.follow(keyed, caller_number=caller)
                if answer.kind == "not_found":
                    pin = await session.get_data(self.prompt(language, "follow_enter_pin"), number_timeout, 4)
                    answer = await self.cases.follow(keyed, caller_number=caller, pin=pin or None)
            except AGIHangup:
                raise
            except Exception:
                log.exception("follow a report: the case service failed (%s); the caller goes to a person", caller)
                return
            if answer.kind == "found" and answer.case is not None:
                if not await self._say_status(session, language, answer.case):
                    return  # no result: the apology, then a person
            elif answer.kind == "too_many":
                await session.stream_file(self.prompt(language, "follow_too_many"))
            else:  # not_found, and bad_check_digit (which the check above never lets through)
                await session.stream_file(self.prompt(language, "follow_not_found"))
            log.info("follow a report (call %s): %s", session.uniqueid, answer.kind)
            await session.mset({v.CASE_ANSWER: answer.kind, v.RESULT: v.RESULT_OK})
        except AGIHangup:
            log.info("caller %s hung up while following a report", session.uniqueid)

    def status_text(self, language: str, case: Case) -> str:
        """The words of the status sentence, in ``language``."""
        assert self.rules is not None
        words = STATUS_WORDS.get(language, {})
        status = words.get(case.status, case.status.replace("_", " "))
        if case.department is not None:
            try:
                department = self.rules.department(case.department).label[language]
            except KeyError:
                department = case.department.replace("_", " ")
        else:
            department = NO_DEPARTMENT.get(language, "-")
        return self.sentence(language, status, department, self.date_text(language, case.updated_at))

    def sentence(self, language: str, status: str, department: str, date: str) -> str:
        prompt = self.profile.case_prompts["follow_status"][language]
        if prompt.text is not None:
            return prompt.text.format(status=status, department=department, date=date)
        return f"{status}, {department}, {date}"

    def date_text(self, language: str, at: datetime) -> str:
        local = at.astimezone(ZoneInfo(self.profile.timezone))
        if language == "en":
            return f"{local.day} {MONTHS_EN[local.month - 1]} {local.year}"
        return f"{local.day}/{local.month}/{local.year}"

    def status_segments(self, language: str, case: Case) -> tuple[Segment, ...]:
        voice = self.voices[language]
        prompt = self.profile.case_prompts["follow_status"][language]
        text = self.status_text(language, case)
        if prompt.file is not None:  # a recorded sentence cannot say the date: the file, then the words
            return (Segment(voice, None, str(prompt.file)), Segment(voice, text, None))
        return (Segment(voice, text, None),)

    async def _say_status(self, session: AGISession, language: str, case: Case) -> bool:
        """Make the status sentence, play it, remove our copy. False when it could not be made."""
        if self.sounds_host_dir is None:
            log.error("follow a report: no host prompt folder, the status cannot be spoken")
            return False
        segments = self.status_segments(language, case)
        name = secrets.token_hex(12)
        folder = self.sounds_host_dir / v.LIVE_PROMPTS_DIR
        target = folder / f"{name}.wav"
        try:
            await asyncio.to_thread(self._install, segments, target)
        except Exception:
            log.exception("follow a report: the status sentence could not be made")
            return False
        try:
            await session.stream_file(f"{self.sounds_dir}/{v.LIVE_PROMPTS_DIR}/{name}")
        finally:
            target.unlink(missing_ok=True)
        return True

    def _install(self, segments: tuple[Segment, ...], target: Path) -> None:
        made = self.speak(segments, self.prompt_cache)
        target.parent.mkdir(exist_ok=True)
        sounds = target.parent.parent.stat()
        partial = target.with_suffix(".part")
        shutil.copyfile(made, partial)
        # Asterisk (its own user) reads it: as root, the owner of the prompt folder, readable by it only;
        # as the service's user, in the folder root gave it (group Asterisk's), readable by that group.
        if os.geteuid() == 0:
            os.chown(target.parent, sounds.st_uid, sounds.st_gid)
            os.chown(partial, sounds.st_uid, sounds.st_gid)
            os.chmod(partial, 0o600)
        else:
            os.chmod(partial, 0o640)
        partial.rename(target)
