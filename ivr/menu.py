"""The IVR menu as a pure state machine: language, then topic, then specialty.

With cases (``profile.cases``), the topic menu also offers "follow a report" (``cases.follow_key``),
and a ``self_report`` topic leads to the self-service report instead of a queue: the menu ends with
:class:`Follow` or :class:`Report`, and the dialplan hands the caller to the case routes (cases/agi.py).
A single-language profile has no language menu: its first topic menu starts with the welcome greeting.

The calendar (profiles/calendar.py: topic hours, the profile's and the console's special days) decides here:
a caller picks a topic, and a topic closed now ends the menu with :class:`Closed` (the ``closed`` prompt in
the caller's language and, when the profile has ``closed_next``, the next opening, made at call time) or,
for a ``when_closed: message`` topic, with :class:`Message` (the caller leaves a message for a callback or a
case). When no topic is open and none takes messages, the menu closes at once: in every language when the
profile cannot say the next opening, else after the language menu. An information topic (``Topic.info``)
ends with :class:`Info`: the message, then the person key to the topic's queue; with
``when_wait_over_seconds`` only while the estimated wait of that queue (handed in) is longer.

Everything that decides what a caller hears next lives here, and nothing here knows about AGI,
sockets or the event loop (model: h11's ``_state.py``). The adapter asks ``Menu`` what to play,
plays it, and feeds the digits back. Time is passed in.

Each menu attempt is one prompt file, so one AGI ``GET DATA`` per attempt: a replay after bad or no
input uses a ``-retry`` file that already starts with the "invalid choice" notice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from profiles.calendar import is_open, next_opening
from profiles.model import AGENT_PROMPTS, CALLBACK_PROMPTS, MESSAGE_PROMPTS, Profile, Prompt, SpecialDay, Topic
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
    """Outside opening hours: play ``prompt`` and end the call. With a ``language`` (the caller chose one),
    ``next_opening`` is when ``topic`` (None: the hotline) opens again (None: not known)."""

    prompt: str
    language: str | None = None
    topic: str | None = None
    next_opening: datetime | None = None


@dataclass(frozen=True)
class Info:
    """An information topic: play ``prompt``; ``person_key`` (None: none) takes the caller to ``route``."""

    route: Route
    prompt: str
    person_key: str | None


@dataclass(frozen=True)
class Message:
    """A closed topic that takes messages: the caller records one; it is answered at ``next_opening``
    (None: as soon as a person can)."""

    language: str
    topic: str
    queue: str
    next_opening: datetime | None


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


Step = Ask | Route | Closed | Report | Follow | Info | Message

#: The estimated wait of a queue in seconds (the callback offer's estimate), None when not known.
WaitEstimate = Callable[[str], float | None]


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


def closed_prompt(language: str) -> str:
    return f"{language}/closed"


def info_prompt(language: str, topic: str) -> str:
    return f"{language}/info-{topic}"


class Menu:
    """One caller's way through the menu."""

    def __init__(
        self,
        profile: Profile,
        now: datetime,
        extra_days: Sequence[SpecialDay] = (),
        wait: WaitEstimate | None = None,
    ):
        self._profile = profile
        self._now = now
        self._extra = tuple(extra_days)
        self._wait = wait
        self._timeout_ms = profile.digit_timeout_seconds * 1000
        self._language: str | None = None
        self._topic: Topic | None = None
        self._attempt = 0
        self._done = False
        self._all_closed = False

    def start(self) -> Step:
        profile = self._profile
        if len(profile.languages) == 1:
            self._language = profile.languages[0].code
        if not any(self._open(t) or t.when_closed == "message" for t in profile.topics if not t.self_report):
            self._all_closed = True
            can_say_next = any(profile.prompt("closed_next", code) for code in profile.language_codes)
            if self._language is not None or not can_say_next:
                return self._closed(None)
        return self._ask()

    def _open(self, topic: Topic | None) -> bool:
        return is_open(self._profile, self._now, topic, self._extra)

    def _closed(self, topic: Topic | None) -> Closed:
        """The caller hears that ``topic`` (None: every topic) is closed, and when it opens again."""
        self._done = True
        if self._language is None:
            return Closed(CLOSED_PROMPT)
        if topic is not None:
            opening = next_opening(self._profile, self._now, topic, self._extra)
        else:
            openings = [next_opening(self._profile, self._now, t, self._extra) for t in self._profile.topics]
            opening = min((o for o in openings if o is not None), default=None)
        return Closed(closed_prompt(self._language), self._language, topic.id if topic else None, opening)

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
                if self._all_closed:
                    return self._closed(None)
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
                if not self._open(topic):
                    if topic.when_closed == "message":
                        self._done = True
                        opening = next_opening(self._profile, self._now, topic, self._extra)
                        return Message(self._language, topic.id, queue_name(self._language, topic.id), opening)
                    return self._closed(topic)
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

    def _route(self, topic: str, specialty: str | None, defaulted: bool) -> Route | Info:
        self._done = True
        # A caller who chose a language keeps it even when the topic falls back to the default.
        language = self._language or self._profile.default_language
        route = Route(language, topic, specialty, queue_name(language, topic, specialty), defaulted)
        info = self._profile.topic(topic).info
        if defaulted or info is None:
            return route
        if info.when_wait_over_seconds is not None:
            # Only while the wait is long; no estimate (or a short wait): straight to a person.
            estimate = self._wait(route.queue) if self._wait is not None else None
            if estimate is None or estimate <= info.when_wait_over_seconds:
                return route
        return Info(route, info_prompt(language, topic), info.person_key)


def overflow_queue(profile: Profile, language: str) -> str:
    """Where a caller of ``language`` goes after waiting T2 (the profile's overflow topic)."""
    return overflow_queue_name(language, profile.overflow_topic)


#: Words for the next opening in the languages hotline ships; another language hears the date and time.
_WEEKDAYS = {
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "ar": ("الاثنين", "الثلاثاء", "الأربعاء", "الخميس", "الجمعة", "السبت", "الأحد"),
}
_MONTHS = {
    "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"),
    "ar": ("يناير", "فبراير", "مارس", "أبريل", "مايو", "يونيو", "يوليو", "أغسطس", "سبتمبر", "أكتوبر", "نوفمبر",
           "ديسمبر"),
}  # fmt: skip
_TODAY = {"en": "today at {clock}", "ar": "اليوم الساعة {clock}"}
_TOMORROW = {"en": "tomorrow at {clock}", "ar": "غدا الساعة {clock}"}
_ON = {"en": "on {weekday} {day} {month} at {clock}", "ar": "يوم {weekday} {day} {month} الساعة {clock}"}


def spoken_opening(profile: Profile, now: datetime, opening: datetime, language: str) -> str:
    """The next opening as words for the ``closed_next`` prompt's ``{next}``, on the hotline's clock."""
    zone = ZoneInfo(profile.timezone)
    local, today = opening.astimezone(zone), now.astimezone(zone).date()
    clock = local.strftime("%H:%M")
    if language not in _ON:
        return local.strftime("%Y-%m-%d %H:%M")
    if local.date() == today:
        return _TODAY[language].format(clock=clock)
    if local.date() == today + timedelta(days=1):
        return _TOMORROW[language].format(clock=clock)
    return _ON[language].format(
        weekday=_WEEKDAYS[language][local.weekday()], day=local.day, month=_MONTHS[language][local.month - 1],
        clock=clock,
    )  # fmt: skip


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
    takes_messages = any(t.when_closed == "message" for t in profile.topics)
    for code in codes:
        plan[closed_prompt(code)] = (seg(code, prompts["closed"][code]),)
        if takes_messages:
            for name in MESSAGE_PROMPTS:
                message = profile.prompt(name, code)
                assert message is not None, f"the profile check requires {name} with when_closed: message"
                plan[agent_prompt(code, name)] = (seg(code, message),)
        for topic in profile.topics:
            if topic.info is not None:
                plan[info_prompt(code, topic.id)] = (seg(code, topic.info.message[code]),)
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
