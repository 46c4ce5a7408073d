"""The profile: one YAML file that describes a hotline.

Loading is strict. A bad profile is refused with the file, the field path and what is wrong, and
nothing starts half-configured. This module is pure: it reads a file and returns plain data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
KINDS = ("agent", "doctor")
# Texts the IVR needs in every language. Menus are composed from the option labels.
REQUIRED_PROMPTS = (
    "welcome", "choose_topic", "choose_specialty", "option", "invalid", "closed",
    # heard by agents and doctors on their own phones after a feature code
    "agent_logged_in", "agent_logged_out", "agent_paused", "agent_unpaused", "agent_failed",
    # callbacks: the offer while waiting, the number, and the greeting when we call back
    "callback_offer", "callback_confirm", "callback_enter", "callback_refused", "callback_booked",
    "callback_greeting",
)
AGENT_PROMPTS = REQUIRED_PROMPTS[6:11]
CALLBACK_PROMPTS = REQUIRED_PROMPTS[11:]
_ID = re.compile(r"^[a-z][a-z0-9_]{0,23}$")
_PERSON_ID = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
_NUMBER = re.compile(r"^[0-9*#+]{1,20}$")
_KEY = re.compile(r"^[0-9]$")


class ProfileError(ValueError):
    """A profile that cannot be used. ``str()`` gives ``file: path: message`` for each problem."""

    def __init__(self, source: str, problems: list[tuple[str, str]]):
        self.source = source
        self.problems = problems
        super().__init__("\n".join(f"{source}: {path}: {message}" for path, message in problems))


@dataclass(frozen=True)
class Prompt:
    """A prompt in one language: a text to synthesise, or a recorded file to convert."""

    text: str | None = None
    file: Path | None = None


@dataclass(frozen=True)
class Language:
    code: str
    key: str
    voice: str


@dataclass(frozen=True)
class Specialty:
    id: str
    key: str
    label: dict[str, str]


@dataclass(frozen=True)
class Topic:
    id: str
    key: str
    label: dict[str, str]
    specialties: tuple[Specialty, ...] = ()
    priority: int = 0


@dataclass(frozen=True)
class Person:
    """An agent (call taker) or a doctor, with skills."""

    id: str
    name: str
    kind: str
    languages: dict[str, int]  # language code -> level 1..5
    topics: tuple[str, ...]
    specialties: tuple[str, ...]
    level: int


@dataclass(frozen=True)
class OpeningHours:
    days: tuple[str, ...]
    open: time
    close: time | None  # None means midnight at the end of the day ("24:00")


@dataclass(frozen=True)
class QueueSettings:
    strategy: str = "leastrecent"
    ring_seconds: int = 15
    wrapup_seconds: int = 5
    retry_seconds: int = 2


@dataclass(frozen=True)
class RoutingRules:
    """How the service widens and overflows a waiting call (see routing/policy.py)."""

    widen_after_seconds: int = 30  # T1: with no exact match free, accept widened skills
    overflow_after_seconds: int = 180  # T2: leave for the overflow queue
    overflow_topic: str | None = None  # topic whose queue (same language) takes overflow; None: default topic
    min_language_level: int = 4  # a language below this level is a "second language" (widened)
    min_skill_level: int = 3  # a person below this level is widened
    max_missed_rings: int = 3  # consecutive missed rings before an automatic pause


@dataclass(frozen=True)
class CallbackRules:
    """When callbacks are offered and made (see callbacks/policy.py)."""

    enabled: bool = True
    offer_after_wait_seconds: int = 120  # offer when the estimated wait is longer than this
    offer_callers_per_person: float = 3.0  # … or when more callers wait per logged-in person
    abandoned_after_seconds: int = 10  # a caller who hangs up in the queue after this gets a callback
    abandoned_in_ivr_at_peak: bool = True  # and so does one who hangs up in the IVR at peak
    allowed_numbers: tuple[str, ...] = (r"^[0-9]{6,15}$",)  # regexes a callback number must match
    max_requests_per_number_per_day: int = 3
    max_attempts: int = 3
    retry_after_seconds: tuple[int, ...] = (120, 600, 1800)
    expire_after_seconds: int = 24 * 3600
    quiet_start: time | None = None  # no callbacks from … (local time)
    quiet_end: time | None = None  # … until
    capacity_share: float = 0.3  # at most this share of the free people dial callbacks
    agent_first: bool = False  # customer-first by default: call the caller, then connect


@dataclass(frozen=True)
class Shift:
    id: str
    start: time
    end: time  # may be before start: the shift runs past midnight

    def contains(self, clock: time) -> bool:
        if self.start <= self.end:
            return self.start <= clock < self.end
        return clock >= self.start or clock < self.end


@dataclass(frozen=True)
class Profile:
    source: str
    name: str
    number: str
    timezone: str
    hours: tuple[OpeningHours, ...]
    languages: tuple[Language, ...]
    retries: int
    digit_timeout_seconds: int
    default_language: str
    default_topic: str
    prompts: dict[str, dict[str, Prompt]]
    topics: tuple[Topic, ...]
    people: tuple[Person, ...]
    queue_settings: QueueSettings = field(default_factory=QueueSettings)
    routing: RoutingRules = field(default_factory=RoutingRules)
    shifts: tuple[Shift, ...] = ()
    default_seats: int = 30  # seats per queue and shift unless the profile says otherwise
    seats: dict[str, dict[str, int]] = field(default_factory=dict)  # queue -> shift id -> seats
    callbacks: CallbackRules = field(default_factory=CallbackRules)

    def shift_at(self, now: datetime) -> Shift | None:
        clock = now.astimezone(ZoneInfo(self.timezone)).time().replace(tzinfo=None)
        return next((shift for shift in self.shifts if shift.contains(clock)), None)

    def seats_for(self, queue: str, shift: str | None) -> int:
        return self.seats.get(queue, {}).get(shift or "", self.default_seats)

    @property
    def overflow_topic(self) -> str:
        """The topic whose queue takes callers who waited past T2 (the default topic unless set)."""
        return self.routing.overflow_topic or self.default_topic

    @property
    def language_codes(self) -> tuple[str, ...]:
        return tuple(lang.code for lang in self.languages)

    def topic(self, topic_id: str) -> Topic:
        for topic in self.topics:
            if topic.id == topic_id:
                return topic
        raise KeyError(topic_id)

    def is_open(self, now: datetime) -> bool:
        """Whether the hotline takes calls at ``now`` (an aware datetime)."""
        if not self.hours:
            return True
        local = now.astimezone(ZoneInfo(self.timezone))
        day = DAYS[local.weekday()]
        clock = local.time().replace(tzinfo=None)
        for rule in self.hours:
            if day in rule.days and rule.open <= clock and (rule.close is None or clock < rule.close):
                return True
        return False


class _Checker:
    """Collects problems with their field paths, so one run reports all of them."""

    def __init__(self) -> None:
        self.problems: list[tuple[str, str]] = []

    def fail(self, path: str, message: str) -> None:
        self.problems.append((path, message))

    def mapping(self, value: Any, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(path, f"must be a mapping, got {_kind(value)}")
            return {}
        return value

    def sequence(self, value: Any, path: str) -> list[Any]:
        if not isinstance(value, list):
            self.fail(path, f"must be a list, got {_kind(value)}")
            return []
        return value

    def string(self, value: Any, path: str, pattern: re.Pattern[str] | None = None, what: str = "") -> str:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            self.fail(path, f"must be a non-empty string, got {_kind(value)}")
            return ""
        if pattern is not None and not pattern.match(value):
            self.fail(path, f"{value!r} is not {what or 'valid'}")
        return value

    def integer(self, value: Any, path: str, low: int, high: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(path, f"must be an integer from {low} to {high}, got {_kind(value)}")
            return low
        if not low <= value <= high:
            self.fail(path, f"must be from {low} to {high}, got {value}")
        return value

    def unknown_keys(self, data: dict[str, Any], path: str, known: set[str]) -> None:
        for key in data:
            if key not in known:
                self.fail(f"{path}.{key}" if path else str(key), f"unknown field (known: {', '.join(sorted(known))})")


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    return type(value).__name__


def _clock(checker: _Checker, value: Any, path: str, allow_24: bool) -> time | None:
    text = checker.string(value, path)
    if allow_24 and text == "24:00":
        return None
    try:
        return time.fromisoformat(text)
    except ValueError:
        checker.fail(path, f"{text!r} is not a time of day HH:MM")
        return time(0, 0)


def load_profile(path: str | Path) -> Profile:
    """Read and validate a profile. Raises ProfileError naming the file and every bad field."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ProfileError(source, [("(file)", f"cannot be read: {exc.strerror or exc}")]) from exc
    except UnicodeDecodeError as exc:
        raise ProfileError(source, [("(file)", f"is not UTF-8: {exc}")]) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        raise ProfileError(source, [(where, f"is not valid YAML: {getattr(exc, 'problem', exc)}")]) from exc
    return parse_profile(data, source=source, base_dir=Path(path).resolve().parent)


def parse_profile(data: Any, *, source: str = "<profile>", base_dir: Path | None = None) -> Profile:
    """Validate already-parsed YAML data. Raises ProfileError listing every problem."""
    c = _Checker()
    top = c.mapping(data, "(top)")
    c.unknown_keys(
        top,
        "",
        {"hotline", "languages", "ivr", "prompts", "topics", "people", "queues", "routing", "shifts", "seats",
         "callbacks"},
    )

    hot = c.mapping(top.get("hotline"), "hotline")
    c.unknown_keys(hot, "hotline", {"name", "number", "timezone", "hours"})
    name = c.string(hot.get("name"), "hotline.name")
    number = c.string(hot.get("number"), "hotline.number", _NUMBER, "a dialable number (digits, *, #, +)")
    timezone = c.string(hot.get("timezone", "UTC"), "hotline.timezone")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        c.fail("hotline.timezone", f"{timezone!r} is not a known time zone")
    hours: list[OpeningHours] = []
    for i, item in enumerate(c.sequence(hot.get("hours", []), "hotline.hours")):
        p = f"hotline.hours[{i}]"
        rule = c.mapping(item, p)
        c.unknown_keys(rule, p, {"days", "open", "close"})
        days = tuple(str(d).lower() for d in c.sequence(rule.get("days"), f"{p}.days"))
        for j, day in enumerate(days):
            if day not in DAYS:
                c.fail(f"{p}.days[{j}]", f"{day!r} is not one of {', '.join(DAYS)}")
        opens = _clock(c, rule.get("open"), f"{p}.open", allow_24=False) or time(0, 0)
        closes = _clock(c, rule.get("close"), f"{p}.close", allow_24=True)
        if closes is not None and closes <= opens:
            c.fail(f"{p}.close", "must be after open (use 24:00 for midnight)")
        hours.append(OpeningHours(days, opens, closes))

    languages: list[Language] = []
    for i, item in enumerate(c.sequence(top.get("languages"), "languages")):
        p = f"languages[{i}]"
        lang = c.mapping(item, p)
        c.unknown_keys(lang, p, {"code", "key", "voice"})
        code = c.string(lang.get("code"), f"{p}.code", re.compile(r"^[a-z]{2,3}$"), "a language code like ar")
        key = c.string(lang.get("key"), f"{p}.key", _KEY, "a single digit")
        voice = c.string(lang.get("voice", code), f"{p}.voice")
        languages.append(Language(code, key, voice))
    if not languages and "languages" in top:
        c.fail("languages", "must name at least one language")
    _unique(c, "languages", [(lang.code, "code") for lang in languages])
    _unique(c, "languages", [(lang.key, "key") for lang in languages])
    codes = [lang.code for lang in languages]

    ivr = c.mapping(top.get("ivr"), "ivr")
    c.unknown_keys(ivr, "ivr", {"retries", "digit_timeout_seconds", "default"})
    retries = c.integer(ivr.get("retries", 2), "ivr.retries", 0, 9)
    digit_timeout = c.integer(ivr.get("digit_timeout_seconds", 5), "ivr.digit_timeout_seconds", 1, 60)
    default = c.mapping(ivr.get("default"), "ivr.default")
    c.unknown_keys(default, "ivr.default", {"language", "topic"})
    default_language = c.string(default.get("language"), "ivr.default.language")
    default_topic = c.string(default.get("topic"), "ivr.default.topic")
    if codes and default_language and default_language not in codes:
        c.fail("ivr.default.language", f"{default_language!r} is not one of the languages ({', '.join(codes)})")

    prompts: dict[str, dict[str, Prompt]] = {}
    raw_prompts = c.mapping(top.get("prompts"), "prompts")
    c.unknown_keys(raw_prompts, "prompts", set(REQUIRED_PROMPTS) | {"hold_music"})
    for key in REQUIRED_PROMPTS:
        p = f"prompts.{key}"
        per_lang = c.mapping(raw_prompts.get(key), p)
        prompts[key] = {}
        for code in codes:
            if code not in per_lang:
                c.fail(f"{p}.{code}", "is missing (every prompt needs every language of the profile)")
                continue
            prompts[key][code] = _prompt(c, per_lang[code], f"{p}.{code}", base_dir)
        for code in per_lang:
            if code not in codes:
                c.fail(f"{p}.{code}", f"is not a language of the profile ({', '.join(codes)})")
    for code, prompt in prompts.get("option", {}).items():
        if prompt.text is not None and "{key}" not in prompt.text:
            c.fail(f"prompts.option.{code}", "must contain {key} (and usually {label})")

    topics: list[Topic] = []
    for i, item in enumerate(c.sequence(top.get("topics"), "topics")):
        p = f"topics[{i}]"
        raw = c.mapping(item, p)
        c.unknown_keys(raw, p, {"id", "key", "label", "specialties", "priority"})
        tid = c.string(raw.get("id"), f"{p}.id", _ID, "an id (lower case letters, digits, _)")
        key = c.string(raw.get("key"), f"{p}.key", _KEY, "a single digit")
        label = _labels(c, raw.get("label"), f"{p}.label", codes)
        priority = c.integer(raw.get("priority", 0), f"{p}.priority", 0, 9)
        specialties: list[Specialty] = []
        for j, sitem in enumerate(c.sequence(raw.get("specialties", []), f"{p}.specialties")):
            sp = f"{p}.specialties[{j}]"
            sraw = c.mapping(sitem, sp)
            c.unknown_keys(sraw, sp, {"id", "key", "label"})
            specialties.append(
                Specialty(
                    c.string(sraw.get("id"), f"{sp}.id", _ID, "an id (lower case letters, digits, _)"),
                    c.string(sraw.get("key"), f"{sp}.key", _KEY, "a single digit"),
                    _labels(c, sraw.get("label"), f"{sp}.label", codes),
                )
            )
        _unique(c, f"{p}.specialties", [(s.id, "id") for s in specialties])
        _unique(c, f"{p}.specialties", [(s.key, "key") for s in specialties])
        topics.append(Topic(tid, key, label, tuple(specialties), priority))
    if not topics and "topics" in top:
        c.fail("topics", "must name at least one topic")
    _unique(c, "topics", [(t.id, "id") for t in topics])
    _unique(c, "topics", [(t.key, "key") for t in topics])
    topic_ids = {t.id for t in topics}
    specialty_ids = {s.id for t in topics for s in t.specialties}
    if topics and default_topic and default_topic not in topic_ids:
        c.fail("ivr.default.topic", f"{default_topic!r} is not a topic id ({', '.join(sorted(topic_ids))})")
    elif default_topic in topic_ids and any(t.specialties for t in topics if t.id == default_topic):
        c.fail("ivr.default.topic", "must be a topic without specialties, so the default queue is one queue")

    people: list[Person] = []
    for i, item in enumerate(c.sequence(top.get("people"), "people")):
        p = f"people[{i}]"
        raw = c.mapping(item, p)
        c.unknown_keys(raw, p, {"id", "name", "kind", "languages", "topics", "specialties", "level"})
        pid = c.string(raw.get("id"), f"{p}.id", _PERSON_ID, "an id (lower case letters, digits, -)")
        kind = c.string(raw.get("kind", "agent"), f"{p}.kind")
        if kind and kind not in KINDS:
            c.fail(f"{p}.kind", f"{kind!r} is not one of {', '.join(KINDS)}")
        langs = _person_languages(c, raw.get("languages"), f"{p}.languages", codes)
        person_topics = tuple(str(t) for t in c.sequence(raw.get("topics", []), f"{p}.topics"))
        for j, t in enumerate(person_topics):
            if t not in topic_ids:
                c.fail(f"{p}.topics[{j}]", f"{t!r} is not a topic id")
        person_specialties = tuple(str(s) for s in c.sequence(raw.get("specialties", []), f"{p}.specialties"))
        for j, s in enumerate(person_specialties):
            if s not in specialty_ids:
                c.fail(f"{p}.specialties[{j}]", f"{s!r} is not a specialty id")
        if not person_topics and not person_specialties:
            c.fail(p, "needs at least one topic or specialty")
        people.append(
            Person(
                pid,
                c.string(raw.get("name", pid), f"{p}.name"),
                kind,
                langs,
                person_topics,
                person_specialties,
                c.integer(raw.get("level", 3), f"{p}.level", 1, 5),
            )
        )
    _unique(c, "people", [(person.id, "id") for person in people])

    qraw = c.mapping(top.get("queues", {}), "queues")
    c.unknown_keys(qraw, "queues", {"strategy", "ring_seconds", "wrapup_seconds", "retry_seconds"})
    strategy = c.string(qraw.get("strategy", "leastrecent"), "queues.strategy")
    if strategy not in ("leastrecent", "fewestcalls", "ringall", "random", "rrmemory", "linear", "wrandom"):
        c.fail("queues.strategy", f"{strategy!r} is not an app_queue strategy")
    settings = QueueSettings(
        strategy,
        c.integer(qraw.get("ring_seconds", 15), "queues.ring_seconds", 1, 300),
        c.integer(qraw.get("wrapup_seconds", 5), "queues.wrapup_seconds", 0, 3600),
        c.integer(qraw.get("retry_seconds", 2), "queues.retry_seconds", 0, 60),
    )

    rraw = c.mapping(top.get("routing", {}), "routing")
    c.unknown_keys(rraw, "routing", set(RoutingRules.__dataclass_fields__))
    defaults = RoutingRules()
    overflow_topic = rraw.get("overflow_topic")
    if overflow_topic is not None:
        overflow_topic = c.string(overflow_topic, "routing.overflow_topic")
        if topic_ids and overflow_topic not in topic_ids:
            c.fail("routing.overflow_topic", f"{overflow_topic!r} is not a topic id")
        elif any(t.specialties for t in topics if t.id == overflow_topic):
            c.fail("routing.overflow_topic", "must be a topic without specialties")
    routing = RoutingRules(
        widen_after_seconds=c.integer(
            rraw.get("widen_after_seconds", defaults.widen_after_seconds), "routing.widen_after_seconds", 0, 3600
        ),
        overflow_after_seconds=c.integer(
            rraw.get("overflow_after_seconds", defaults.overflow_after_seconds),
            "routing.overflow_after_seconds", 1, 86400,
        ),
        overflow_topic=overflow_topic,
        min_language_level=c.integer(
            rraw.get("min_language_level", defaults.min_language_level), "routing.min_language_level", 1, 5
        ),
        min_skill_level=c.integer(rraw.get("min_skill_level", defaults.min_skill_level), "routing.min_skill_level", 1, 5),
        max_missed_rings=c.integer(rraw.get("max_missed_rings", defaults.max_missed_rings), "routing.max_missed_rings", 0, 100),
    )
    if routing.overflow_after_seconds <= routing.widen_after_seconds:
        c.fail("routing.overflow_after_seconds", "must be longer than widen_after_seconds")

    shifts: list[Shift] = []
    for i, item in enumerate(c.sequence(top.get("shifts", []), "shifts")):
        p = f"shifts[{i}]"
        raw = c.mapping(item, p)
        c.unknown_keys(raw, p, {"id", "start", "end"})
        start = _clock(c, raw.get("start"), f"{p}.start", allow_24=False) or time(0, 0)
        end = _clock(c, raw.get("end"), f"{p}.end", allow_24=True) or time(0, 0)
        shifts.append(Shift(c.string(raw.get("id"), f"{p}.id", _ID, "an id"), start, end))
    _unique(c, "shifts", [(shift.id, "id") for shift in shifts])
    sraw = c.mapping(top.get("seats", {}), "seats")
    c.unknown_keys(sraw, "seats", {"default", "queues"})
    default_seats = c.integer(sraw.get("default", 30), "seats.default", 0, 10000)
    seats: dict[str, dict[str, int]] = {}
    shift_ids = {shift.id for shift in shifts}
    for queue, per_shift in c.mapping(sraw.get("queues", {}), "seats.queues").items():
        p = f"seats.queues.{queue}"
        seats[str(queue)] = {}
        for shift_id, count in c.mapping(per_shift, p).items():
            if shift_id not in shift_ids:
                c.fail(f"{p}.{shift_id}", f"is not a shift id ({', '.join(sorted(shift_ids)) or 'no shifts defined'})")
            seats[str(queue)][str(shift_id)] = c.integer(count, f"{p}.{shift_id}", 0, 10000)

    callbacks = _callback_rules(c, top.get("callbacks", {}))

    if c.problems:
        raise ProfileError(source, c.problems)
    return Profile(
        source=source,
        name=name,
        number=number,
        timezone=timezone,
        hours=tuple(hours),
        languages=tuple(languages),
        retries=retries,
        digit_timeout_seconds=digit_timeout,
        default_language=default_language,
        default_topic=default_topic,
        prompts=prompts,
        topics=tuple(topics),
        people=tuple(people),
        queue_settings=settings,
        routing=routing,
        shifts=tuple(shifts),
        default_seats=default_seats,
        seats=seats,
        callbacks=callbacks,
    )


def _callback_rules(c: _Checker, value: Any) -> CallbackRules:
    raw = c.mapping(value, "callbacks")
    c.unknown_keys(raw, "callbacks", set(CallbackRules.__dataclass_fields__) - {"quiet_start", "quiet_end"} | {"quiet_hours"})
    d = CallbackRules()
    enabled = raw.get("enabled", d.enabled)
    if not isinstance(enabled, bool):
        c.fail("callbacks.enabled", "must be true or false")
    patterns = []
    for i, pattern in enumerate(c.sequence(raw.get("allowed_numbers", list(d.allowed_numbers)), "callbacks.allowed_numbers")):
        text = c.string(pattern, f"callbacks.allowed_numbers[{i}]")
        try:
            re.compile(text)
        except re.error as exc:
            c.fail(f"callbacks.allowed_numbers[{i}]", f"is not a regular expression: {exc}")
        patterns.append(text)
    retries = tuple(
        c.integer(v, f"callbacks.retry_after_seconds[{i}]", 1, 86400)
        for i, v in enumerate(c.sequence(raw.get("retry_after_seconds", list(d.retry_after_seconds)), "callbacks.retry_after_seconds"))
    )
    quiet_start = quiet_end = None
    if "quiet_hours" in raw:
        quiet = c.mapping(raw["quiet_hours"], "callbacks.quiet_hours")
        c.unknown_keys(quiet, "callbacks.quiet_hours", {"start", "end"})
        quiet_start = _clock(c, quiet.get("start"), "callbacks.quiet_hours.start", allow_24=False)
        quiet_end = _clock(c, quiet.get("end"), "callbacks.quiet_hours.end", allow_24=False)
    share = raw.get("capacity_share", d.capacity_share)
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share <= 1:
        c.fail("callbacks.capacity_share", "must be a fraction above 0 and at most 1")
        share = d.capacity_share
    per_person = raw.get("offer_callers_per_person", d.offer_callers_per_person)
    if isinstance(per_person, bool) or not isinstance(per_person, (int, float)) or per_person <= 0:
        c.fail("callbacks.offer_callers_per_person", "must be a number above 0")
        per_person = d.offer_callers_per_person
    agent_first = raw.get("agent_first", d.agent_first)
    in_ivr = raw.get("abandoned_in_ivr_at_peak", d.abandoned_in_ivr_at_peak)
    for name, flag in (("agent_first", agent_first), ("abandoned_in_ivr_at_peak", in_ivr)):
        if not isinstance(flag, bool):
            c.fail(f"callbacks.{name}", "must be true or false")
    return CallbackRules(
        enabled=bool(enabled),
        offer_after_wait_seconds=c.integer(raw.get("offer_after_wait_seconds", d.offer_after_wait_seconds),
                                           "callbacks.offer_after_wait_seconds", 0, 86400),
        offer_callers_per_person=float(per_person),
        abandoned_after_seconds=c.integer(raw.get("abandoned_after_seconds", d.abandoned_after_seconds),
                                          "callbacks.abandoned_after_seconds", 0, 3600),
        abandoned_in_ivr_at_peak=bool(in_ivr),
        allowed_numbers=tuple(patterns),
        max_requests_per_number_per_day=c.integer(
            raw.get("max_requests_per_number_per_day", d.max_requests_per_number_per_day),
            "callbacks.max_requests_per_number_per_day", 1, 1000),
        max_attempts=c.integer(raw.get("max_attempts", d.max_attempts), "callbacks.max_attempts", 1, 20),
        retry_after_seconds=retries or d.retry_after_seconds,
        expire_after_seconds=c.integer(raw.get("expire_after_seconds", d.expire_after_seconds),
                                       "callbacks.expire_after_seconds", 60, 30 * 86400),
        quiet_start=quiet_start,
        quiet_end=quiet_end,
        capacity_share=float(share),
        agent_first=bool(agent_first),
    )  # fmt: skip


def _unique(c: _Checker, path: str, values: list[tuple[str, str]]) -> None:
    seen: dict[tuple[str, str], int] = {}
    for index, (value, what) in enumerate(values):
        if not value:
            continue
        if (value, what) in seen:
            c.fail(f"{path}[{index}].{what}", f"duplicate {what} {value!r} (also at {path}[{seen[(value, what)]}])")
        else:
            seen[(value, what)] = index


def _labels(c: _Checker, value: Any, path: str, codes: list[str]) -> dict[str, str]:
    raw = c.mapping(value, path)
    labels = {}
    for code in codes:
        if code not in raw:
            c.fail(f"{path}.{code}", "is missing (every label needs every language of the profile)")
        else:
            labels[code] = c.string(raw[code], f"{path}.{code}")
    for code in raw:
        if code not in codes:
            c.fail(f"{path}.{code}", f"is not a language of the profile ({', '.join(codes)})")
    return labels


def _prompt(c: _Checker, value: Any, path: str, base_dir: Path | None) -> Prompt:
    if isinstance(value, str):
        return Prompt(text=c.string(value, path))
    raw = c.mapping(value, path)
    c.unknown_keys(raw, path, {"text", "file"})
    if "file" in raw:
        file = Path(c.string(raw["file"], f"{path}.file"))
        if base_dir is not None and not file.is_absolute():
            file = base_dir / file
        if not file.is_file():
            c.fail(f"{path}.file", f"{str(file)!r} does not exist")
        return Prompt(file=file)
    return Prompt(text=c.string(raw.get("text"), f"{path}.text"))


def _person_languages(c: _Checker, value: Any, path: str, codes: list[str]) -> dict[str, int]:
    """Languages as a list (level 5 each) or as a mapping of code to level."""
    if isinstance(value, list):
        value = {str(code): 5 for code in value}
    raw = c.mapping(value, path)
    if not raw:
        c.fail(path, "needs at least one language")
    result = {}
    for code, level in raw.items():
        if code not in codes:
            c.fail(f"{path}.{code}", f"is not a language of the profile ({', '.join(codes)})")
        result[str(code)] = c.integer(level, f"{path}.{code}", 1, 5)
    return result
