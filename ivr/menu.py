"""The IVR menu as a pure state machine: language, then topic, then specialty.

With cases (``profile.cases``), the topic menu also offers "follow a report" (``cases.follow_key``),
and a ``self_report`` topic leads to the self-service report instead of a queue: the menu ends with
:class:`Follow` or :class:`Report`, and the dialplan hands the caller to the case routes (cases/agi.py).
A single-language profile has no language menu: its first topic menu starts with the welcome greeting.

Everything that decides what a caller hears next lives here, and nothing here knows about AGI,
sockets or the event loop (model: h11's ``_state.py``). The adapter asks ``Menu`` what to play,
plays it, and feeds the digits back. Time is passed in.

Each menu attempt is one prompt file, so one AGI ``GET DATA`` per attempt: a replay after bad or no
input uses a ``-retry`` file that already starts with the "invalid choice" notice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from profiles.model import AGENT_PROMPTS, CALLBACK_PROMPTS, Profile, Prompt, Topic
from telephony.names import agent_prompt, digit_prompt, overflow_queue_name, queue_name
from telephony.prompts import PromptPlan, Segment

ALL_LANGUAGES = "all"  # the folder of prompts spoken in every language in turn


@dataclass(frozen=True)
class Ask:
    """Play a prompt and collect up to ``max_digits`` digits."""

    prompt: str  # e.g. "ar/topics-retry", relative to the prompt directory, no extension
    timeout_ms: int
    max_digits: int = 1


@dataclass(frozen=True)
class Route:
    """The caller is done with the menu: enter ``queue``."""

    language: str
    topic: str
    specialty: str | None
    queue: str
    defaulted: bool  # True when retries ran out and the default topic was used


@dataclass(frozen=True)
class Closed:
    """Outside opening hours: play ``prompt`` and end the call."""

    prompt: str


@dataclass(frozen=True)
class Report:
    """The caller chose a ``self_report`` topic: the self-service report (no agent); ``queue`` takes them
    if the report cannot be taken (our failure)."""

    language: str
    topic: str
    queue: str


@dataclass(frozen=True)
class Follow:
    """The caller chose "follow a report"; ``queue`` takes them if the lookup fails (our failure)."""

    language: str
    queue: str


Step = Ask | Route | Closed | Report | Follow


class MenuFinished(RuntimeError):
    """Digits were fed to a menu that has already routed or closed."""


def topics_prompt(language: str, retry: bool = False) -> str:
    return f"{language}/topics{'-retry' if retry else ''}"


def welcome_topics_prompt(language: str) -> str:
    """The first topic menu of a single-language profile: the welcome greeting, then the topics."""
    return f"{language}/welcome-topics"


def specialties_prompt(language: str, topic: str, retry: bool = False) -> str:
    return f"{language}/specialties-{topic}{'-retry' if retry else ''}"


def language_prompt(retry: bool = False) -> str:
    return f"{ALL_LANGUAGES}/language{'-retry' if retry else ''}"


CLOSED_PROMPT = f"{ALL_LANGUAGES}/closed"


class Menu:
    """One caller's way through the menu."""

    def __init__(self, profile: Profile, now: datetime):
        self._profile = profile
        self._now = now
        self._timeout_ms = profile.digit_timeout_seconds * 1000
        self._language: str | None = None
        self._topic: Topic | None = None
        self._attempt = 0
        self._done = False

    def start(self) -> Step:
        if not self._profile.is_open(self._now):
            self._done = True
            return Closed(CLOSED_PROMPT)
        if len(self._profile.languages) == 1:
            self._language = self._profile.languages[0].code
        return self._ask()

    def press(self, digits: str) -> Step:
        """Feed what the caller keyed in ('' for no input) and get the next step."""
        if self._done:
            raise MenuFinished("the menu has already finished")
        key = digits[:1]
        if self._language is None:
            chosen = next((lang.code for lang in self._profile.languages if lang.key == key), None)
            if chosen is not None:
                self._language = chosen
                self._attempt = 0
                return self._ask()
        elif self._topic is None:
            cases = self._profile.cases
            if cases is not None and cases.follow_key is not None and key == cases.follow_key:
                self._done = True
                return Follow(self._language, queue_name(self._language, self._profile.default_topic))
            topic = next((t for t in self._profile.topics if t.key == key), None)
            if topic is not None:
                if topic.self_report and cases is not None:
                    self._done = True
                    return Report(self._language, topic.id, queue_name(self._language, topic.id))
                if not topic.specialties:
                    return self._route(topic.id, None, defaulted=False)
                self._topic = topic
                self._attempt = 0
                return self._ask()
        else:
            specialty = next((s for s in self._topic.specialties if s.key == key), None)
            if specialty is not None:
                return self._route(self._topic.id, specialty.id, defaulted=False)
        self._attempt += 1
        if self._attempt > self._profile.retries:
            return self._route(self._profile.default_topic, None, defaulted=True)
        return self._ask()

    def _ask(self) -> Ask:
        retry = self._attempt > 0
        if self._language is None:
            prompt = language_prompt(retry)
        elif self._topic is None:
            single = len(self._profile.languages) == 1
            prompt = (
                welcome_topics_prompt(self._language) if single and not retry else topics_prompt(self._language, retry)
            )
        else:
            prompt = specialties_prompt(self._language, self._topic.id, retry)
        return Ask(prompt, self._timeout_ms)

    def _route(self, topic: str, specialty: str | None, defaulted: bool) -> Route:
        self._done = True
        # A caller who chose a language keeps it even when the topic falls back to the default.
        language = self._language or self._profile.default_language
        return Route(language, topic, specialty, queue_name(language, topic, specialty), defaulted)


def overflow_queue(profile: Profile, language: str) -> str:
    """Where a caller of ``language`` goes after waiting T2 (the profile's overflow topic)."""
    return overflow_queue_name(language, profile.overflow_topic)


def route_priority(profile: Profile, route: Route) -> int:
    """app_queue priority of a caller: urgent topics first (a callback adds to it, later)."""
    return profile.topic(route.topic).priority


#: The case prompts played on their own (the others are parts of menus, or made at call time).
CASE_SINGLE_PROMPTS = (
    "case_number_is",
    "case_pin_is",
    "case_goodbye",
    "report_record",
    "report_thanks",
    "follow_enter_number",
    "follow_enter_pin",
    "follow_wrong_number",
    "follow_not_found",
    "follow_too_many",
)


def districts_prompt(language: str, retry: bool = False) -> str:
    """The self-service report's district menu."""
    return f"{language}/report-districts{'-retry' if retry else ''}"


def case_prompt_plan(profile: Profile, code: str, seg: Any, options: Any, invalid: tuple[Segment, ...]) -> PromptPlan:
    """The case prompts of one language: the single ones by name, and the district menu."""
    assert profile.cases is not None
    plan: dict[str, tuple[Segment, ...]] = {}
    for name in CASE_SINGLE_PROMPTS:
        plan[agent_prompt(code, name)] = (seg(code, profile.case_prompts[name][code]),)
    if profile.cases.districts:
        districts = (
            seg(code, profile.case_prompts["report_choose_district"][code]),
            *options(code, [(d.key, d.label) for d in profile.cases.districts]),
        )
        plan[districts_prompt(code)] = districts
        plan[districts_prompt(code, retry=True)] = invalid + districts
    return plan


def prompt_plan(profile: Profile) -> dict[str, tuple[Segment, ...]]:
    """Every prompt file the menu can ask for, as the segments it is made of."""
    voices = {lang.code: lang.voice for lang in profile.languages}
    keys = {lang.code: lang.key for lang in profile.languages}
    prompts = profile.prompts

    def seg(language: str, prompt: Prompt, **fields: str) -> Segment:
        if prompt.file is not None:
            return Segment(voices[language], None, str(prompt.file))
        assert prompt.text is not None
        return Segment(voices[language], prompt.text.format(**fields) if fields else prompt.text, None)

    def options(language: str, choices: list[tuple[str, dict[str, str]]]) -> list[Segment]:
        option = prompts["option"][language]
        return [seg(language, option, key=key, label=label[language]) for key, label in choices]

    codes = profile.language_codes
    plan: dict[str, tuple[Segment, ...]] = {}
    language_menu = tuple(seg(code, prompts["welcome"][code], key=keys[code]) for code in codes)
    plan[language_prompt()] = language_menu
    plan[language_prompt(retry=True)] = tuple(seg(c, prompts["invalid"][c]) for c in codes) + language_menu
    plan[CLOSED_PROMPT] = tuple(seg(c, prompts["closed"][c]) for c in codes)
    for code in codes:
        for name in AGENT_PROMPTS + CALLBACK_PROMPTS:
            plan[agent_prompt(code, name)] = (seg(code, prompts[name][code]),)
        for digit in "0123456789":  # to read a callback number back, in the caller's language
            plan[digit_prompt(code, digit)] = (Segment(voices[code], digit, None),)
        invalid = (seg(code, prompts["invalid"][code]),)
        topics = (seg(code, prompts["choose_topic"][code]), *options(code, [(t.key, t.label) for t in profile.topics]))
        if profile.cases is not None and profile.cases.follow_key is not None:
            topics += (seg(code, profile.case_prompts["follow_option"][code], key=profile.cases.follow_key),)
        plan[topics_prompt(code)] = topics
        plan[topics_prompt(code, retry=True)] = invalid + topics
        if len(codes) == 1:  # no language menu: the welcome greeting opens the first topic menu
            plan[welcome_topics_prompt(code)] = (seg(code, prompts["welcome"][code], key=keys[code]), *topics)
        if profile.cases is not None:
            plan.update(case_prompt_plan(profile, code, seg, options, invalid))
        for topic in profile.topics:
            if not topic.specialties:
                continue
            specialties = (
                seg(code, prompts["choose_specialty"][code]),
                *options(code, [(s.key, s.label) for s in topic.specialties]),
            )
            plan[specialties_prompt(code, topic.id)] = specialties
            plan[specialties_prompt(code, topic.id, retry=True)] = invalid + specialties
    return plan
