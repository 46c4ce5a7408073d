"""The post-call survey over FastAGI: the route ``survey`` and the prompts it plays.

After a person (Queue option ``c``: the caller stays when the agent hangs up), and after the case read-back
when the profile has cases, the dialplan runs ``survey`` (language, topic, linkedid, MEMBERNAME,
MEMBERINTERFACE) for a topic with ``survey: true``. The route asks the first question (one ``GET DATA``: a key
1..max), then the second when there is one, and stores the answers on the call's linkedid with its topic and
agent (MEMBERNAME is the person's id, as in the call's record; else the person of MEMBERINTERFACE). Then the
dialplan plays ``thanks`` and hangs up (it plays it too when the route failed: the call ends politely).

* An invalid key (0, *, #, more than max) asks again, with "sorry", as many times as the menu's retries; then
  the question has no answer.
* Nothing keyed: no answer, and the second question is not asked.
* The caller hangs up: what was answered is kept, the rest is no answer (None), never a low score.
* The survey stays within the AGI call deadline (``budget_seconds``): past it, the rest is no answer.
* The store fails: logged, and the caller still hears thanks (the dialplan's), never silence.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from profiles.model import Profile, Prompt, SurveyQuestion
from survey.model import SurveyResponse, answer_of
from telephony import names as v
from telephony.agi import AGIHangup, AGISession
from telephony.clock import utc_now
from telephony.prompts import Segment

log = logging.getLogger(__name__)


def question_prompt(language: str, question: str, *, again: bool = False) -> str:
    """The prompt file of a survey question, e.g. ``ar/survey-q-score`` (``-again``: after an invalid key)."""
    return v.agent_prompt(language, f"survey_q_{question}{'_again' if again else ''}")


def thanks_prompt(language: str) -> str:
    return v.agent_prompt(language, "survey_thanks")


def survey_prompt_plan(profile: Profile) -> dict[str, tuple[Segment, ...]]:
    """The survey's prompt files (each question, the question again after "sorry", thanks) per language;
    empty when the profile has no survey. The root merges it into the Asterisk plan."""
    rules = profile.survey
    if rules is None:
        return {}
    voices = {lang.code: lang.voice for lang in profile.languages}

    def seg(language: str, prompt: Prompt) -> Segment:
        if prompt.file is not None:
            return Segment(voices[language], None, str(prompt.file))
        return Segment(voices[language], prompt.text, None)

    plan: dict[str, tuple[Segment, ...]] = {}
    for code in profile.language_codes:
        invalid = profile.prompt("invalid", code)
        for question in rules.questions:
            asked = (seg(code, question.text[code]),)
            plan[question_prompt(code, question.id)] = asked
            plan[question_prompt(code, question.id, again=True)] = (
                (seg(code, invalid), *asked) if invalid is not None else asked
            )
        plan[thanks_prompt(code)] = (seg(code, rules.thanks[code]),)
    return plan


class SurveyBox(Protocol):
    """What the route needs of ``survey.db.SurveyStore``."""

    async def record(self, response: SurveyResponse) -> bool: ...


def survey_topics(profile: Profile) -> tuple[str, ...]:
    return tuple(t.id for t in profile.topics if t.survey) if profile.survey is not None else ()


class SurveyHandler:
    """The FastAGI route ``survey``: one instance serves every call."""

    def __init__(
        self,
        profile: Profile,
        store: SurveyBox,
        sounds_dir: str,
        *,
        budget_seconds: float = 100.0,
        clock: Callable[[], datetime] = utc_now,
    ):
        self.profile = profile
        self.store = store
        self.sounds_dir = sounds_dir.rstrip("/")
        self.budget_seconds = budget_seconds
        self.clock = clock
        self.topics = survey_topics(profile)

    async def __call__(self, session: AGISession) -> None:
        rules = self.profile.survey
        args = [*list(session.args), "", "", "", "", ""][:5]
        language, topic, linkedid, member_name, member_interface = args
        if language not in self.profile.language_codes:
            language = self.profile.default_language
        if rules is None or topic not in self.topics:
            log.warning("survey asked for topic %r, which has none (%s): nothing asked", topic, session.uniqueid)
            return
        if not linkedid:
            log.warning("survey without a linkedid (%s): nothing asked", session.uniqueid)
            return
        if not member_name and member_interface.startswith(v.PJSIP):
            member_name = member_interface.removeprefix(v.PJSIP)
        agent = member_name[:255] or None
        asked_at = self.clock()
        answers: list[int | None] = [None] * len(rules.questions)
        try:
            async with asyncio.timeout(self.budget_seconds):
                for n, question in enumerate(rules.questions):
                    answers[n] = await self._ask(session, language, question, rules.timeout_seconds * 1000)
                    if answers[n] is None:
                        break  # nothing (or nothing valid) keyed: the rest is no answer too
        except AGIHangup:
            log.info("caller of %s hung up during the survey", linkedid)
        except TimeoutError:
            log.warning("survey of %s ran out of time: the rest is no answer", linkedid)
        response = SurveyResponse(
            linkedid=linkedid,
            asked_at=asked_at,
            topic=topic,
            agent=agent,
            language=language,
            first=answers[0],
            second=answers[1] if len(answers) > 1 else None,
        )
        try:
            await self.store.record(response)
        except Exception:
            log.exception("survey of %s could not be stored (answers %s)", linkedid, answers)
            return
        log.info("survey of %s (%s, agent %s): %s", linkedid, topic, agent, answers)

    async def _ask(self, session: AGISession, language: str, question: SurveyQuestion, timeout_ms: int) -> int | None:
        attempt = 0
        while True:
            prompt = f"{self.sounds_dir}/{question_prompt(language, question.id, again=attempt > 0)}"
            keyed = await session.get_data(prompt, timeout_ms, 1)
            if not keyed:
                return None
            answer = answer_of(keyed, question.max)
            if answer is not None:
                return answer
            attempt += 1
            if attempt > self.profile.retries:
                return None
