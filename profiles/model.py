"""The profile: one YAML file that describes a hotline.

Loading is strict. A bad profile is refused with the file, the field path and what is wrong, every
problem at once, and nothing starts half-configured. This module is pure: it reads a file and
returns plain data.

The objects the rest of the code uses (:class:`Profile`, :class:`Topic`, :class:`Person`, ...) are
frozen pydantic dataclasses: immutable, built positionally or by name, validated when built, and
``dataclasses.replace`` works on them (and validates the result). The YAML document is read by
:class:`ProfileDocument`, whose sections are those same classes where the shapes agree; references
between sections (a person's topics, a label's languages) are checked against the ids found in the
raw document (the validation context), so a broken topic does not hide a broken person.
"""

from __future__ import annotations

from datetime import date as Date
from datetime import datetime, time
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.dataclasses import dataclass

from profiles.fields import (
    RESERVED_PERSON_IDS,
    Clock,
    ClosingClock,
    Fraction,
    Id,
    Key,
    Level,
    Loc,
    PersonId,
    ProfileError,
    Regex,
    Text,
    between,
    format_path,
    kind,
    matching,
    one_of,
    problems_from,
    reference,
    sort_by_document,
)

__all__ = [
    "AGENT_PROMPTS",
    "CALLBACK_PROMPTS",
    "CAMPAIGN_PROMPTS",
    "CASE_PROMPTS",
    "CASE_STATUSES",
    "DAYS",
    "KINDS",
    "REQUIRED_PROMPTS",
    "RESERVED_PERSON_IDS",
    "CallbackRules",
    "Campaign",
    "CampaignScript",
    "CampaignWindow",
    "CaseRules",
    "Department",
    "Destination",
    "DirectoryEntry",
    "Disposition",
    "District",
    "Language",
    "OpeningHours",
    "OutboundRules",
    "Person",
    "Profile",
    "ProfileDocument",
    "ProfileError",
    "Prompt",
    "QueueSettings",
    "QuietHours",
    "RoutingRules",
    "Shift",
    "Specialty",
    "Supervisor",
    "Topic",
    "TransferRules",
    "load_profile",
    "parse_profile",
]

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
KINDS = ("agent", "doctor")
STRATEGIES = ("leastrecent", "fewestcalls", "ringall", "random", "rrmemory", "linear", "wrandom")
# Texts the IVR needs in every language. Menus are composed from the option labels.
REQUIRED_PROMPTS = (
    "welcome",
    "choose_topic",
    "choose_specialty",
    "option",
    "invalid",
    "closed",
    # heard by agents and doctors on their own phones after a feature code
    "agent_logged_in",
    "agent_logged_out",
    "agent_paused",
    "agent_unpaused",
    "agent_failed",
    # callbacks: the offer while waiting, the number, and the greeting when we call back
    "callback_offer",
    "callback_confirm",
    "callback_enter",
    "callback_refused",
    "callback_booked",
    "callback_greeting",
)
AGENT_PROMPTS = REQUIRED_PROMPTS[6:11]
CALLBACK_PROMPTS = REQUIRED_PROMPTS[11:]
OPTIONAL_PROMPTS = ("hold_music",)
# Texts for the caller's experience (issue 13), each required in every language only when the profile uses
# what needs it: the blocked and warned numbers (a nuisance section), a message outside hours (a topic with
# when_closed: message), the next opening (optional: "closed" alone is played when it is missing), the place
# in line (queues.announce_position_seconds), the survey (its questions and thanks are in the survey section).
NUISANCE_PROMPTS = ("blocked", "nuisance_warning")
MESSAGE_PROMPTS = ("leave_message", "message_thanks")
POSITION_PROMPTS = ("queue_position", "queue_wait")  # "You are number {position} in line", "... {minutes} minutes"
EXPERIENCE_PROMPTS = ("closed_next",)  # "We open again {next}." spoken at call time; optional
# After the answer (issue 12): the announcement before a recorded call (a topic with record: true; recording is
# never enabled without it), the whisper an agent hears on connect (a topic with whisper: true; "{label}" is the
# topic's label, spoken in the caller's language, so the agent hears both), and what a caller hears while
# being handed on.
RECORDING_PROMPTS = ("recording_notice",)  # "This call may be recorded."
WHISPER_PROMPTS = ("whisper",)  # "Arabic caller: {label}."
TRANSFER_PROMPTS = ("transfer_hold",)  # optional: "Please hold, we are connecting you."
# Outbound campaigns (issue 14), needed in every language when the profile has a campaign: what the person who
# answers hears (the question names the keys), and what follows each key.
CAMPAIGN_PROMPTS = (
    "campaign_greeting",  # "Hello, this is the COVID call centre, calling to ask how you are."
    "campaign_question",  # "If you are well, press 1. To speak to a doctor, press 2. In an emergency, press 9."
    "campaign_thanks",  # after "well": "Thank you. Take care."
    "campaign_doctor",  # after "doctor": "Please hold, a doctor will speak to you."
    "campaign_emergency",  # after "emergency": "We are connecting you to the emergency control room."
)
# Texts a profile with cases needs in every language (see CaseRules): the number read back, the
# self-service report, and "follow a report". A status or a department is read from its label.
CASE_PROMPTS = (
    "case_number_is",  # "Your case number is", then the digits, twice
    "case_pin_is",  # "Your PIN is", then 4 digits
    "case_goodbye",
    "report_choose_category",  # self-service: the categories are read as menu options
    "report_choose_district",
    "report_record",  # "Describe the problem after the tone; press hash when done"
    "report_thanks",
    "follow_option",  # in the topic menu: "To follow a report, press {key}"
    "follow_enter_number",
    "follow_enter_pin",
    "follow_wrong_number",  # the check digit does not match: key it again
    "follow_not_found",  # an unknown case, a wrong caller number or PIN: all the same
    "follow_status",  # "The status of your case is {status}, department {department}, since {date}"
    "follow_too_many",  # lookups from this number are over the limit
)
CASE_STATUSES = ("open", "assigned", "in_progress", "closed", "rejected")

#: Every part of a profile is immutable and refuses fields it does not know, so typos do not pass silently.
STRICT = ConfigDict(extra="forbid")

#: A language of the profile (labels, prompts, a person's languages).
LanguageCode = Annotated[Text, reference("languages", "a language of the profile")]
TopicRef = Annotated[Text, reference("topics", "a topic id")]
SpecialtyRef = Annotated[Text, reference("specialties", "a specialty id")]
DepartmentRef = Annotated[Text, reference("departments", "a department id of cases.departments")]
#: One or two digits: a district or a wrap-up code keyed on the phone.
Code = Annotated[Text, matching(r"[0-9]{1,2}", "one or two digits")]
SlaHours = Annotated[StrictInt, between(1, 24 * 366)]
Labels = dict[LanguageCode, Text]

#: A short code an agent keys (or a softphone's REFER names) to hand a call on: digits only.
ShortCode = Annotated[Text, matching(r"[0-9]{2,6}", "2 to 6 digits")]
#: A phone's feature code in features.conf: DTMF keys only.
FeatureCode = Annotated[Text, matching(r"[0-9*#]{1,4}", "1 to 4 keys (digits, * and #)")]
#: A SIP URI a destination is reached at: sip:user@host[:port], nothing that dialplan, a Dial() string or a
#: SIP header could read as more (no ${, $[, commas, parentheses, semicolons, spaces or line breaks).
SipUri = Annotated[
    Text,
    matching(
        r"sips?:[A-Za-z0-9._~+-]{1,64}@[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?", "a SIP URI like sip:desk@10.0.0.5:5060"
    ),
]
#: A number through the trunk: digits, an optional leading +.
TrunkNumber = Annotated[Text, matching(r"\+?[0-9]{3,15}", "a number of 3 to 15 digits (an optional leading +)")]


def _file(value: Path, info: ValidationInfo) -> Path:
    """A recorded prompt: relative to the profile's folder, and it must exist (when loaded from a document)."""
    context = info.context
    if context is None:
        return value
    base_dir = context.get("base_dir")
    if base_dir is not None and not value.is_absolute():
        value = base_dir / value
    if not value.is_file():
        raise ValueError(f"{str(value)!r} does not exist")
    return value


@dataclass(frozen=True, config=STRICT)
class Prompt:
    """A prompt in one language: a text to synthesise, or a recorded file to convert."""

    text: Text | None = None
    file: Annotated[Path, BeforeValidator(lambda v: Path(v) if isinstance(v, str) and v.strip() else v),
                    AfterValidator(_file)] | None = None  # fmt: skip

    @model_validator(mode="before")
    @classmethod
    def _plain_text(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"text": data}
        if data is None or isinstance(data, (int, float, list)):
            raise ValueError(f"must be a text, or a mapping with a text or a file, got {kind(data)}")
        return data

    @model_validator(mode="after")
    def _one_source(self) -> Prompt:
        if (self.text is None) == (self.file is None):
            raise ValueError("needs a text or a file (one of them)")
        return self


@dataclass(frozen=True, config=STRICT)
class Language:
    code: Annotated[Text, matching(r"[a-z]{2,3}", "a language code like ar")]
    key: Key
    voice: Text  # the espeak-ng voice; the code when not given

    @model_validator(mode="before")
    @classmethod
    def _voice_is_the_code(cls, data: Any) -> Any:
        if isinstance(data, dict) and "voice" not in data and "code" in data:
            return {**data, "voice": data["code"]}
        return data


@dataclass(frozen=True, config=STRICT)
class Specialty:
    id: Id
    key: Key
    label: Labels


def _closes_after_opening(close: time | None, info: ValidationInfo) -> time | None:
    """A closing time after the opening time of the same rule (``None``, midnight, always is)."""
    opens = info.data.get("open")
    if close is not None and opens is not None and close <= opens:
        raise ValueError("must be after open (use 24:00 for midnight)")
    return close


Day = Annotated[Text, BeforeValidator(lambda v: v.lower() if isinstance(v, str) else v), one_of(DAYS)]


@dataclass(frozen=True, config=STRICT)
class OpeningHours:
    days: tuple[Day, ...]
    open: Clock
    close: ClosingClock  # None means midnight at the end of the day ("24:00")

    _after_open = field_validator("close")(_closes_after_opening)


Seconds = Annotated[StrictInt, between(0, 86400)]


@dataclass(frozen=True, config=STRICT)
class InfoOption:
    """A topic that plays information (a health-education message, a FAQ at peak). After it the caller
    presses ``person_key`` to reach a person of the topic, or hangs up. With ``when_wait_over_seconds`` the
    topic plays it only while the estimated wait of its queue is longer (the callback offer's estimate);
    otherwise the caller goes straight to the queue."""

    message: dict[LanguageCode, Prompt]
    person_key: Key | None = "0"  # None: information only, no way to a person from here
    when_wait_over_seconds: Seconds | None = None  # None: always


@dataclass(frozen=True, config=STRICT)
class Disposition:
    """A wrap-up code an agent chooses after a call of a topic (on the desk page, or keyed on the phone)."""

    code: Code
    id: Id
    label: Labels


@dataclass(frozen=True, config=STRICT)
class Topic:
    """A menu option. With cases, a topic is also a case category."""

    id: Id
    key: Key
    label: Labels
    specialties: tuple[Specialty, ...] = ()
    priority: Annotated[StrictInt, between(0, 9)] = 0
    dispositions: tuple[Disposition, ...] = ()  # wrap-up codes for calls of this topic
    # cases (only with a cases section): the caller reports by phone, with no agent; the department a new
    # case of this category goes to; the hours to close it (cases.default_sla_hours when not given)
    self_report: StrictBool = False
    department: DepartmentRef | None = None
    sla_hours: SlaHours | None = None
    # the caller's experience (issue 13): a survey after the call (needs a survey section), information
    # played instead of (or before) a queue, the topic's own opening hours (none: the hotline's), and what
    # a caller of this topic gets outside them: "close" (the closed prompt) or "message" (leave a message)
    survey: StrictBool = False
    info: InfoOption | None = None
    hours: tuple[OpeningHours, ...] = ()
    when_closed: Annotated[Text, one_of(("close", "message"))] = "close"
    # after the answer (issue 12): each answered call of this topic is recorded (MixMonitor, after the
    # recording_notice prompt) and its file kept this many days; the agent hears the whisper prompt on connect
    record: StrictBool = False
    retention_days: Annotated[StrictInt, between(1, 3650)] = 90
    whisper: StrictBool = False


def _languages(value: Any) -> Any:
    """A person's languages as a list (level 5 each) or as a mapping of code to level."""
    if isinstance(value, list):
        return {str(code): 5 for code in value}
    return value


def _some(value: dict[str, int]) -> dict[str, int]:
    if not value:
        raise ValueError("needs at least one language")
    return value


@dataclass(frozen=True, config=STRICT)
class Person:
    """An agent (call taker) or a doctor, with skills."""

    id: PersonId
    name: Text
    kind: Annotated[Text, one_of(KINDS)]
    languages: Annotated[dict[LanguageCode, Level], BeforeValidator(_languages), AfterValidator(_some)]  # code -> 1..5
    topics: tuple[TopicRef, ...]
    specialties: tuple[SpecialtyRef, ...]
    level: Level
    code: ShortCode | None = None  # the code to hand a call to this person; not given: "2" and their place (201...)

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        """In a profile, only id and languages are required: the name is the id, an agent, level 3."""
        if isinstance(data, dict):
            defaults = {"kind": "agent", "topics": [], "specialties": [], "level": 3}
            if "id" in data:
                defaults["name"] = data["id"]
            return {**defaults, **data}
        return data

    @model_validator(mode="after")
    def _has_work(self) -> Person:
        if not self.topics and not self.specialties:
            raise ValueError("needs at least one topic or specialty")
        return self


@dataclass(frozen=True, config=STRICT)
class QueueSettings:
    strategy: Annotated[Text, one_of(STRATEGIES, "an app_queue strategy")] = "leastrecent"
    ring_seconds: Annotated[StrictInt, between(1, 300)] = 15
    wrapup_seconds: Annotated[StrictInt, between(0, 3600)] = 5
    retry_seconds: Annotated[StrictInt, between(0, 60)] = 2
    # a waiting caller hears their place in line and the estimated wait (the callback offer's estimate)
    # every this many seconds; 0: never (the queue_position and queue_wait prompts are needed otherwise)
    announce_position_seconds: Annotated[StrictInt, between(0, 3600)] = 0


@dataclass(frozen=True, config=STRICT)
class Destination:
    """A named place outside the queues and people where calls may be handed on (technical affairs, the
    emergency control room): a SIP URI, or a number through the trunk. Nothing else outside can be reached."""

    id: PersonId
    code: ShortCode
    label: Labels
    sip: SipUri | None = None
    number: TrunkNumber | None = None

    @field_validator("id")
    @classmethod
    def _not_a_special_extension(cls, value: str) -> str:
        # the id is an extension of the dialplan's hotline-destinations: Asterisk's own single letters mean more
        if value in ("a", "e", "h", "i", "o", "s", "t"):
            raise ValueError(
                f"{value!r} is one of Asterisk's special extensions (a, e, h, i, o, s, t); choose another id"
            )
        return value

    @model_validator(mode="after")
    def _one_way(self) -> Destination:
        if (self.sip is None) == (self.number is None):
            raise ValueError("needs a sip URI or a number through the trunk (one of them)")
        return self


@dataclass(frozen=True, config=STRICT)
class Supervisor:
    """A supervisor's own phone (a PJSIP endpoint like a person's), rung when they listen to, whisper to or
    barge into a live call from the console. A console user is linked to it by its id."""

    id: PersonId
    name: Text
    language: LanguageCode | None = None  # the prompts they hear; the profile's default language when not given


@dataclass(frozen=True, config=STRICT)
class TransferRules:
    """The keys an agent's phone uses during a call (features.conf), then a destination's short code."""

    blind: FeatureCode = "#1"
    attended: FeatureCode = "*2"
    conference: FeatureCode = "*3"
    digit_timeout_seconds: Annotated[StrictInt, between(1, 10)] = 3
    # a caller handed on to a queue enters it with this QUEUE_PRIO (ahead of the callers of a first try)
    queue_priority: Annotated[StrictInt, between(0, 99)] = 10


@dataclass(frozen=True)
class DirectoryEntry:
    """One place a call may be handed on to, by its short code: a queue (language, topic, specialty), a
    person, or a destination of the profile. :meth:`Profile.directory` lists them all; nothing else is reachable."""

    code: str
    kind: str  # "queue", "person" or "destination"
    id: str  # the destination's or person's id; for a queue "language:topic[:specialty]"
    language: str | None = None
    topic: str | None = None
    specialty: str | None = None
    sip: str | None = None
    number: str | None = None


@dataclass(frozen=True, config=STRICT)
class DayHours:
    open: Clock
    close: ClosingClock  # None: midnight at the end of the day ("24:00")

    _after_open = field_validator("close")(_closes_after_opening)


@dataclass(frozen=True, config=STRICT)
class SpecialDay:
    """A public holiday or a special day (a date, or a range of dates, both ends included): its own hours
    replace the usual ones (none: closed all day), for the topics it names (none: every topic)."""

    date: Date
    until: Date | None = None
    name: Text | None = None
    hours: tuple[DayHours, ...] = ()
    topics: tuple[TopicRef, ...] = ()

    @field_validator("until")
    @classmethod
    def _not_before(cls, until: Date | None, info: ValidationInfo) -> Date | None:
        start = info.data.get("date")
        if until is not None and start is not None and until < start:
            raise ValueError("must not be before date")
        return until

    def covers(self, day: Date) -> bool:
        return self.date <= day <= (self.until or self.date)


@dataclass(frozen=True, config=STRICT)
class SurveyQuestion:
    id: Id
    text: dict[LanguageCode, Prompt]
    max: Annotated[StrictInt, between(1, 9)] = 5  # the caller keys 1..max


@dataclass(frozen=True, config=STRICT)
class SurveyRules:
    """The post-call survey of the topics with ``survey: true``: one or two questions, then thanks."""

    questions: Annotated[tuple[SurveyQuestion, ...], Field(min_length=1, max_length=2)]
    thanks: dict[LanguageCode, Prompt]
    timeout_seconds: Annotated[StrictInt, between(1, 30)] = 6


@dataclass(frozen=True, config=STRICT)
class NuisanceRules:
    """Automatic detection of nuisance callers: ``max_short_calls`` calls within ``within_minutes`` from one
    number, each shorter than ``short_call_seconds`` after the answer, get a warning the first time, then a
    block of ``block_minutes``. Withheld numbers are never blocked as a group unless ``block_withheld``."""

    max_short_calls: Annotated[StrictInt, between(2, 1000)] = 5
    within_minutes: Annotated[StrictInt, between(1, 1440)] = 2
    short_call_seconds: Annotated[StrictInt, between(1, 3600)] = 10
    block_minutes: Annotated[StrictInt, between(1, 525600)] = 60
    block_withheld: StrictBool = False


def _flat_topic(why: str) -> AfterValidator:
    """A topic id of a topic without specialties (a single queue per language)."""

    def check(value: str, info: ValidationInfo) -> str:
        context = info.context or {}
        topics = context.get("topics")
        if topics is not None and value not in topics:
            raise ValueError(f"{value!r} is not a topic id ({', '.join(topics)})")
        if value in context.get("topics_with_specialties", ()):
            raise ValueError(f"must be a topic without specialties{why}")
        return value

    return AfterValidator(check)


@dataclass(frozen=True, config=STRICT)
class RoutingRules:
    """How the service widens and overflows a waiting call (see routing/policy.py)."""

    widen_after_seconds: Annotated[StrictInt, between(0, 3600)] = 30  # T1: accept widened skills
    overflow_after_seconds: Annotated[StrictInt, between(1, 86400)] = 180  # T2: leave for the overflow queue
    # topic whose queue (same language) takes overflow; None: default topic
    overflow_topic: Annotated[Text, _flat_topic("")] | None = None
    min_language_level: Level = 4  # a language below this level is a "second language" (widened)
    min_skill_level: Level = 3  # a person below this level is widened
    max_missed_rings: Annotated[StrictInt, between(0, 100)] = 3  # missed rings before an automatic pause

    @field_validator("overflow_after_seconds")
    @classmethod
    def _after_widening(cls, value: int, info: ValidationInfo) -> int:
        widen = info.data.get("widen_after_seconds")
        if widen is not None and value <= widen:
            raise ValueError("must be longer than widen_after_seconds")
        return value


@dataclass(frozen=True, config=STRICT)
class QuietHours:
    start: Clock  # no callbacks from ... (local time)
    end: Clock  # ... until


#: Seconds before the next callback attempt (one per attempt after the first).
RetryDelay = Annotated[StrictInt, between(1, 86400)]


@dataclass(frozen=True, config=STRICT)
class CallbackRules:
    """When callbacks are offered and made (see callbacks/policy.py).

    Off unless the profile turns them on, and then only to numbers that fully match one of
    ``allowed_numbers``: a number with a leading ``00`` or ``+`` only when a pattern names that
    prefix itself (it starts with ``00``, ``\\+`` or ``[+]``; see ``callbacks.policy.check_number``).
    """

    enabled: StrictBool = False
    offer_after_wait_seconds: Annotated[StrictInt, between(0, 86400)] = 120  # offer above this estimated wait
    offer_callers_per_person: Annotated[float, Field(strict=True, gt=0)] = 3.0  # ... or above this many per person
    abandoned_after_seconds: Annotated[StrictInt, between(0, 3600)] = 10  # hung up in the queue after this
    abandoned_in_ivr_at_peak: StrictBool = True  # and so does one who hangs up in the IVR at peak
    allowed_numbers: tuple[Regex, ...] = Field(default=(), validate_default=True)  # a number must fully match one
    max_requests_per_number_per_day: Annotated[StrictInt, between(1, 1000)] = 3
    max_attempts: Annotated[StrictInt, between(1, 20)] = 3
    retry_after_seconds: Annotated[tuple[RetryDelay, ...], Field(min_length=1)] = (120, 600, 1800)
    expire_after_seconds: Annotated[StrictInt, between(60, 30 * 86400)] = 24 * 3600
    quiet_hours: QuietHours | None = None
    capacity_share: Fraction = 0.3  # at most this share of the free people dial callbacks
    agent_first: StrictBool = False  # customer-first by default: call the caller, then connect
    # callback dials in any hour, all numbers together: what a fraud that slips through can cost. Set it to about
    # what the seats take in an hour (seats x 3600 / AHT) so it never holds back a real callback.
    max_dials_per_hour: Annotated[StrictInt, between(1, 100_000)] = 60

    @field_validator("allowed_numbers")
    @classmethod
    def _some_numbers_when_enabled(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        if info.data.get("enabled") and not value:
            raise ValueError(
                "callbacks are enabled but no number may be called back: list patterns of the numbers to call, "
                "like '[569][0-9]{7}'"
            )
        return value

    @property
    def quiet_start(self) -> time | None:
        return self.quiet_hours.start if self.quiet_hours else None

    @property
    def quiet_end(self) -> time | None:
        return self.quiet_hours.end if self.quiet_hours else None


#: What a key of a campaign's script does: the person is well (thanks, the call ends), wants a doctor (the
#: doctor queue of their language, ahead of inbound callers of the topic), or has an emergency (the
#: campaign's emergency destination at once, and an alert on the console).
SCRIPT_ACTIONS = ("well", "doctor", "emergency")


@dataclass(frozen=True, config=STRICT)
class CampaignScript:
    """The short IVR a campaign plays to the person who answers, in their language: ``campaign_greeting``,
    then ``campaign_question`` (which names the keys), one key; a wrong key or none asks again ``retries`` times."""

    well: Key = "1"
    doctor: Key = "2"
    emergency: Key = "9"
    retries: Annotated[StrictInt, between(0, 5)] = 2
    timeout_seconds: Annotated[StrictInt, between(1, 30)] = 6

    @model_validator(mode="after")
    def _distinct_keys(self) -> CampaignScript:
        keys = (self.well, self.doctor, self.emergency)
        if len(set(keys)) != len(keys):
            raise ValueError(f"the keys well, doctor and emergency must differ, got {', '.join(keys)}")
        return self

    def action(self, key: str) -> str | None:
        """The action of a key pressed (``well``, ``doctor``, ``emergency``), None for any other key."""
        return {self.well: "well", self.doctor: "doctor", self.emergency: "emergency"}.get(key)


@dataclass(frozen=True, config=STRICT)
class CampaignWindow:
    """When a campaign calls, in the profile's local time: from ``start`` to ``end`` on ``days``."""

    start: Clock
    end: Clock
    days: tuple[Day, ...] = DAYS

    @model_validator(mode="after")
    def _start_before_end(self) -> CampaignWindow:
        if self.end <= self.start:
            raise ValueError("end must be after start (a window is within one day)")
        return self


@dataclass(frozen=True, config=STRICT)
class Campaign:
    """Outbound follow-up (issue 14): every day, in the window, call each person of a list, play the script in
    their language, and act on the key. Progressive pacing: a call is placed only while a person of the doctor
    queue is free to take a "doctor" key, and never more than ``max_concurrent`` at once."""

    id: Id
    label: Labels
    list: Id  # the contact list's name (`hotline campaign import --list NAME FILE`, or the console)
    window: CampaignWindow
    topic: TopicRef  # "doctor" joins the queue of the person's language and this topic
    specialty: SpecialtyRef | None = None  # ... and this specialty (of that topic)
    emergency: PersonId = "emergency-control-room"  # a destination id of the profile
    max_concurrent: Annotated[StrictInt, between(1, 500)] = 3
    attempts_per_day: Annotated[StrictInt, between(1, 10)] = 3
    retry_after_seconds: Annotated[tuple[RetryDelay, ...], Field(min_length=1)] = (900, 1800)  # the last repeats
    ring_seconds: Annotated[StrictInt, between(5, 120)] = 30
    priority: Annotated[StrictInt, between(0, 99)] = 20  # QUEUE_PRIO of a "doctor": ahead of the topic's callers
    script: CampaignScript = Field(default_factory=CampaignScript)
    enabled: StrictBool = True


@dataclass(frozen=True, config=STRICT)
class OutboundRules:
    """Every call hotline places other than a callback (campaigns, an agent's click-to-call) goes only to a
    number that fully matches one of ``allowed_numbers`` (see profiles/numbers.py) and is not on the
    do-not-call list (these numbers, and those added from the console or the CLI)."""

    allowed_numbers: Annotated[tuple[Regex, ...], Field(min_length=1)]
    do_not_call: tuple[TrunkNumber, ...] = ()
    quiet_hours: QuietHours | None = None  # no campaign call from ... until ..., whatever the windows say
    campaigns: tuple[Campaign, ...] = ()
    manual_dialling: StrictBool = True  # an agent may click to call a number from the desk

    def campaign(self, campaign_id: str) -> Campaign:
        for campaign in self.campaigns:
            if campaign.id == campaign_id:
                return campaign
        raise KeyError(campaign_id)


@dataclass(frozen=True, config=STRICT)
class District:
    """A place a report is about; keyed by a self-service caller."""

    id: Id
    key: Code
    label: Labels


@dataclass(frozen=True, config=STRICT)
class Department:
    """Who follows a case up."""

    id: Id
    label: Labels


@dataclass(frozen=True, config=STRICT)
class CaseRules:
    """Cases: every report and complaint gets a number (see cases/).

    A profile has cases when it has this section. Categories are the profile's topics; a topic's
    ``department`` and ``sla_hours`` apply to its cases.
    """

    departments: Annotated[tuple[Department, ...], Field(min_length=1)]
    districts: tuple[District, ...] = ()
    default_department: DepartmentRef | None = None  # a category without a department: this one
    default_sla_hours: SlaHours = 72
    follow_key: Key | None = None  # the topic-menu key for "follow a report"; None: no such option
    max_lookups_per_number_per_hour: Annotated[StrictInt, between(1, 100)] = 5
    record_max_seconds: Annotated[StrictInt, between(5, 600)] = 60  # a self-service voice note
    record_silence_seconds: Annotated[StrictInt, between(1, 30)] = 3  # ... ends after this much silence

    def department(self, department_id: str) -> Department:
        for department in self.departments:
            if department.id == department_id:
                return department
        raise KeyError(department_id)


@dataclass(frozen=True, config=STRICT)
class Shift:
    id: Id
    start: Clock
    end: Annotated[time, BeforeValidator(lambda v: "00:00" if v == "24:00" else v), Clock]  # may be before start
    label: Labels | None = None  # how the console names it (else a name for a usual id, or the id)

    def contains(self, clock: time) -> bool:
        if self.start <= self.end:
            return self.start <= clock < self.end
        return clock >= self.start or clock < self.end


@dataclass(frozen=True, config=STRICT)
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
    queue_settings: QueueSettings = Field(default_factory=QueueSettings)
    routing: RoutingRules = Field(default_factory=RoutingRules)
    shifts: tuple[Shift, ...] = ()
    default_seats: int = 30  # seats per queue and shift unless the profile says otherwise
    seats: dict[str, dict[str, int]] = Field(default_factory=dict)  # queue -> shift id -> seats
    callbacks: CallbackRules = Field(default_factory=CallbackRules)
    cases: CaseRules | None = None  # None: this hotline keeps no cases
    case_prompts: dict[str, dict[str, Prompt]] = Field(default_factory=dict)  # CASE_PROMPTS, with cases
    holidays: tuple[SpecialDay, ...] = ()  # the profile's; the console adds more (stored, not here)
    survey: SurveyRules | None = None
    nuisance: NuisanceRules | None = None  # None: no automatic detection (the block list still works)
    centre_seats: dict[str, int] = Field(default_factory=dict)  # shift id -> seats of the whole centre
    centre_default_seats: int | None = None  # a shift not listed; None: no centre-wide limit
    # the optional prompts, by name, in every language where given (hold_music, blocked, closed_next, ...)
    extra_prompts: dict[str, dict[str, Prompt]] = Field(default_factory=dict)
    destinations: tuple[Destination, ...] = ()
    supervisors: tuple[Supervisor, ...] = ()
    transfers: TransferRules = Field(default_factory=TransferRules)
    outbound: OutboundRules | None = None  # None: no campaigns and no click-to-call

    def directory(self) -> tuple[DirectoryEntry, ...]:
        """Every place a call may be handed on to, by short code: each queue ("1", the language's key, the
        topic's key, the specialty's key: 112 is the first language's first topic), each person (their code, or
        "2" and their place in the list: 201, 202, ...), each destination (its code)."""
        entries = [
            DirectoryEntry(f"1{lang.key}{topic.key}{spec.key if spec else ''}", "queue",
                           ":".join((lang.code, topic.id, *((spec.id,) if spec else ()))),
                           language=lang.code, topic=topic.id, specialty=spec.id if spec else None)
            for lang in self.languages
            for topic in self.topics
            if not topic.self_report
            for spec in (topic.specialties or (None,))
        ]  # fmt: skip
        entries += [DirectoryEntry(person.code or f"2{index + 1:02d}", "person", person.id)
                    for index, person in enumerate(self.people)]  # fmt: skip
        entries += [DirectoryEntry(d.code, "destination", d.id, sip=d.sip, number=d.number) for d in self.destinations]
        return tuple(entries)

    def destination(self, destination_id: str) -> Destination:
        for destination in self.destinations:
            if destination.id == destination_id:
                return destination
        raise KeyError(destination_id)

    @property
    def records_calls(self) -> bool:
        return any(topic.record for topic in self.topics)

    def shift_at(self, now: datetime) -> Shift | None:
        clock = now.astimezone(ZoneInfo(self.timezone)).time().replace(tzinfo=None)
        return next((shift for shift in self.shifts if shift.contains(clock)), None)

    def seats_for(self, queue: str, shift: str | None) -> int:
        return self.seats.get(queue, {}).get(shift or "", self.default_seats)

    def centre_seats_for(self, shift: str | None) -> int | None:
        """The seats of the whole centre in ``shift`` (all queues together); None: no such limit."""
        return self.centre_seats.get(shift or "", self.centre_default_seats)

    def prompt(self, name: str, language: str) -> Prompt | None:
        """Any prompt by name in ``language`` (required, case or optional), None when the profile has none."""
        for table in (self.prompts, self.case_prompts, self.extra_prompts):
            if name in table and language in table[name]:
                return table[name][language]
        return None

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

    def sla_hours(self, topic_id: str) -> int:
        """The hours to close a case of category ``topic_id``."""
        assert self.cases is not None, "this profile has no cases"
        return self.topic(topic_id).sla_hours or self.cases.default_sla_hours

    def case_department(self, topic_id: str) -> str | None:
        """The department a new case of category ``topic_id`` goes to (None: nobody yet)."""
        assert self.cases is not None, "this profile has no cases"
        return self.topic(topic_id).department or self.cases.default_department

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


# -- the YAML document ------------------------------------------------------------------------------


def _time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not a known time zone") from None
    return value


@dataclass(frozen=True, config=STRICT)
class HotlineSection:
    name: Text
    number: Annotated[Text, matching(r"[0-9*#+]{1,20}", "a dialable number (digits, *, #, +)")]
    timezone: Annotated[Text, AfterValidator(_time_zone)] = "UTC"
    hours: tuple[OpeningHours, ...] = ()  # none: 24/7
    holidays: tuple[SpecialDay, ...] = ()


@dataclass(frozen=True, config=STRICT)
class IvrDefault:
    language: Annotated[Text, reference("languages", "one of the languages")]
    topic: Annotated[Text, _flat_topic(", so the default queue is one queue")]


@dataclass(frozen=True, config=STRICT)
class IvrSection:
    default: IvrDefault
    retries: Annotated[StrictInt, between(0, 9)] = 2
    digit_timeout_seconds: Annotated[StrictInt, between(1, 60)] = 5


ShiftRef = Annotated[Text, reference("shifts", "a shift id")]


@dataclass(frozen=True, config=STRICT)
class SeatsSection:
    default: Annotated[StrictInt, between(0, 10000)] = 30
    queues: dict[Text, dict[ShiftRef, Annotated[StrictInt, between(0, 10000)]]] = Field(default_factory=dict)
    # the whole centre's seats per shift, beside each queue's (the 151 line: 30 seats per shift in all)
    centre: dict[ShiftRef, Annotated[StrictInt, between(0, 100000)]] = Field(default_factory=dict)
    centre_default: Annotated[StrictInt, between(0, 100000)] | None = None


PromptName = Annotated[
    Text,
    one_of(
        REQUIRED_PROMPTS
        + OPTIONAL_PROMPTS
        + CASE_PROMPTS
        + NUISANCE_PROMPTS
        + MESSAGE_PROMPTS
        + POSITION_PROMPTS
        + EXPERIENCE_PROMPTS
        + RECORDING_PROMPTS
        + WHISPER_PROMPTS
        + TRANSFER_PROMPTS
        + CAMPAIGN_PROMPTS,
        "a prompt name (known: " + ", ".join(REQUIRED_PROMPTS + CASE_PROMPTS) + ")",
    ),
]


def _at_least_one(what: str) -> Any:
    def check(value: Any) -> Any:
        if isinstance(value, list) and not value:
            raise ValueError(f"must name at least one {what}")
        return value

    return check


@dataclass(frozen=True, config=STRICT)
class ProfileDocument:
    """The profile file as written: its sections, checked one by one."""

    hotline: HotlineSection
    languages: Annotated[tuple[Language, ...], BeforeValidator(_at_least_one("language"))]
    ivr: IvrSection
    prompts: dict[PromptName, dict[LanguageCode, Prompt]]
    topics: Annotated[tuple[Topic, ...], BeforeValidator(_at_least_one("topic"))]
    people: tuple[Person, ...]
    queues: QueueSettings = Field(default_factory=QueueSettings)
    routing: RoutingRules = Field(default_factory=RoutingRules)
    shifts: tuple[Shift, ...] = ()
    seats: SeatsSection = Field(default_factory=SeatsSection)
    callbacks: CallbackRules = Field(default_factory=CallbackRules)
    cases: CaseRules | None = None
    survey: SurveyRules | None = None
    nuisance: NuisanceRules | None = None
    destinations: tuple[Destination, ...] = ()
    supervisors: tuple[Supervisor, ...] = ()
    transfers: TransferRules = Field(default_factory=TransferRules)
    outbound: OutboundRules | None = None

    def profile(self, source: str) -> Profile:
        return Profile(
            source=source,
            name=self.hotline.name,
            number=self.hotline.number,
            timezone=self.hotline.timezone,
            hours=self.hotline.hours,
            languages=self.languages,
            retries=self.ivr.retries,
            digit_timeout_seconds=self.ivr.digit_timeout_seconds,
            default_language=self.ivr.default.language,
            default_topic=self.ivr.default.topic,
            prompts={key: dict(self.prompts[key]) for key in REQUIRED_PROMPTS},
            topics=self.topics,
            people=self.people,
            queue_settings=self.queues,
            routing=self.routing,
            shifts=self.shifts,
            default_seats=self.seats.default,
            seats={queue: dict(per_shift) for queue, per_shift in self.seats.queues.items()},
            callbacks=self.callbacks,
            cases=self.cases,
            case_prompts={key: dict(self.prompts[key]) for key in CASE_PROMPTS} if self.cases else {},
            holidays=self.hotline.holidays,
            survey=self.survey,
            nuisance=self.nuisance,
            centre_seats=dict(self.seats.centre),
            centre_default_seats=self.seats.centre_default,
            extra_prompts={
                key: dict(value)
                for key, value in self.prompts.items()
                if key not in REQUIRED_PROMPTS and key not in CASE_PROMPTS
            },
            destinations=self.destinations,
            supervisors=self.supervisors,
            transfers=self.transfers,
            outbound=self.outbound,
        )


_DOCUMENT = TypeAdapter(ProfileDocument)


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
    """Validate already-parsed YAML data. Raises ProfileError listing every problem, in the
    order of the document."""
    if not isinstance(data, dict):
        raise ProfileError(source, [("(top)", f"must be a mapping, got {kind(data)}")])
    context = _ids(data)
    context["base_dir"] = base_dir
    problems: list[tuple[Loc, str]] = []
    document = None
    try:
        document = _DOCUMENT.validate_python(data, context=context)
    except ValidationError as exc:
        problems += problems_from(exc, ProfileDocument)
    problems += _unique_ids(data) + _every_language(data, context["languages"] or [])
    if document is not None:
        problems += _directory_clashes(document.profile(source))
        problems += _campaign_references(document.profile(source))
    if problems:
        raise ProfileError(source, [(format_path(loc), message) for loc, message in sort_by_document(problems, data)])
    assert document is not None
    return document.profile(source)


# -- checks across a section, on the raw document (so they run whatever else is wrong) --------------


def _items(data: Any, key: str) -> list[Any]:
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, list) else []


def _text(item: Any, key: str) -> str | None:
    value = item.get(key) if isinstance(item, dict) else None
    if isinstance(value, bool):
        return None
    return str(value) if isinstance(value, (str, int)) else None


def _ids(data: dict[str, Any]) -> dict[str, Any]:
    """The ids each section declares, read leniently: what references are checked against. None
    when a section is missing or not a list: its own error says so, and references are not checked."""

    def present(key: str, ids: list[str | None]) -> list[str] | None:
        return [i for i in ids if i] if isinstance(data.get(key), list) and any(ids) else None

    topics = _items(data, "topics")
    topic_ids = present("topics", [_text(t, "id") for t in topics])
    cases = data.get("cases")
    return {
        "languages": present("languages", [_text(lang, "code") for lang in _items(data, "languages")]),
        "topics": topic_ids,
        "topics_with_specialties": [_text(t, "id") for t in topics if _items(t, "specialties")],
        "specialties": None
        if topic_ids is None
        else [sid for t in topics for sid in (_text(s, "id") for s in _items(t, "specialties")) if sid],
        "shifts": [sid for sid in (_text(s, "id") for s in _items(data, "shifts")) if sid],
        "departments": [d for d in (_text(x, "id") for x in _items(cases, "departments")) if d]
        if isinstance(cases, dict)
        else None,
    }


def _unique(items: list[Any], loc: Loc, fields: tuple[str, ...]) -> list[tuple[Loc, str]]:
    problems = []
    for what in fields:
        seen: dict[str, int] = {}
        for index, item in enumerate(items):
            value = _text(item, what)
            if not value:
                continue
            if value in seen:
                where = format_path((*loc, seen[value]))
                problems.append(((*loc, index, what), f"duplicate {what} {value!r} (also at {where})"))
            else:
                seen[value] = index
    return problems


def _unique_ids(data: dict[str, Any]) -> list[tuple[Loc, str]]:
    problems = _unique(_items(data, "languages"), ("languages",), ("code", "key"))
    topics = _items(data, "topics")
    problems += _unique(topics, ("topics",), ("id", "key"))
    for i, topic in enumerate(topics):
        problems += _unique(_items(topic, "specialties"), ("topics", i, "specialties"), ("id", "key"))
    problems += _unique(_items(data, "people"), ("people",), ("id",))
    problems += _unique(_items(data, "shifts"), ("shifts",), ("id",))
    for i, topic in enumerate(topics):
        problems += _unique(_items(topic, "dispositions"), ("topics", i, "dispositions"), ("code", "id"))
    cases = data.get("cases")
    problems += _unique(_items(cases, "departments"), ("cases", "departments"), ("id",))
    problems += _unique(_items(cases, "districts"), ("cases", "districts"), ("id", "key"))
    follow = _text(cases, "follow_key")
    if follow is not None:
        problems += [(("cases", "follow_key"), f"{follow!r} is also the key of topic {_text(t, 'id')!r}")
                     for t in topics if _text(t, "key") == follow]  # fmt: skip
    survey = data.get("survey")
    problems += _unique(_items(survey, "questions"), ("survey", "questions"), ("id",))
    problems += _unique(_items(data, "destinations"), ("destinations",), ("id", "code"))
    problems += _unique(_items(data, "supervisors"), ("supervisors",), ("id",))
    problems += _unique(_items(data.get("outbound"), "campaigns"), ("outbound", "campaigns"), ("id",))
    people = {_text(p, "id") for p in _items(data, "people")} - {None}
    problems += [(("supervisors", i, "id"), f"{_text(s, 'id')!r} is also a person's id")
                 for i, s in enumerate(_items(data, "supervisors")) if _text(s, "id") in people]  # fmt: skip
    if not isinstance(survey, dict):
        asks = [i for i, topic in enumerate(topics) if isinstance(topic, dict) and topic.get("survey") is True]
        problems += [(("topics", i, "survey"), "needs a survey section (the questions to ask)") for i in asks]
    if isinstance(cases, dict):
        return problems
    problems += [(("topics", i, what), "needs a cases section (this profile keeps no cases)")
                 for i, topic in enumerate(topics) for what in ("self_report", "department", "sla_hours")
                 if isinstance(topic, dict) and topic.get(what) not in (None, False)]  # fmt: skip
    return problems


def _directory_clashes(profile: Profile) -> list[tuple[Loc, str]]:
    """Every short code names one place: a person's or a destination's code is not another's (a queue's code
    comes from the menu keys, so the other one must change)."""
    problems: list[tuple[Loc, str]] = []
    seen: dict[str, DirectoryEntry] = {}
    people = {person.id: index for index, person in enumerate(profile.people)}
    destinations = {d.id: index for index, d in enumerate(profile.destinations)}
    for entry in profile.directory():
        other = seen.setdefault(entry.code, entry)
        if other is entry:
            continue
        if entry.kind == "destination":
            loc: Loc = ("destinations", destinations[entry.id], "code")
        elif entry.kind == "person":
            loc = ("people", people[entry.id], "code")
        else:  # two queues cannot share menu keys (checked with the keys); a clash is the other's to change
            continue
        problems.append((loc, f"short code {entry.code!r} is also the code of {other.kind} {other.id!r}"))
    return problems


def _campaign_references(profile: Profile) -> list[tuple[Loc, str]]:
    """A campaign's emergency is a destination of the profile, its topic takes calls (not self-service), and
    its specialty is one of that topic's."""
    problems: list[tuple[Loc, str]] = []
    if profile.outbound is None:
        return problems
    destinations = {d.id for d in profile.destinations}
    for index, campaign in enumerate(profile.outbound.campaigns):
        if campaign.emergency not in destinations:
            known = ", ".join(sorted(destinations)) or "none defined"
            problems.append((("outbound", "campaigns", index, "emergency"),
                             f"{campaign.emergency!r} is not a destination id ({known})"))  # fmt: skip
        topic = profile.topic(campaign.topic)
        if topic.self_report:
            problems.append((("outbound", "campaigns", index, "topic"), "must be a topic people answer"))
        specialties = {spec.id for spec in topic.specialties}
        if campaign.specialty is not None and campaign.specialty not in specialties:
            problems.append((("outbound", "campaigns", index, "specialty"),
                             f"{campaign.specialty!r} is not a specialty of topic {topic.id!r}"))  # fmt: skip
        elif campaign.specialty is None and specialties:
            problems.append((("outbound", "campaigns", index, "specialty"),
                             f"topic {topic.id!r} has specialties: name one"))  # fmt: skip
    return problems


def _prompts_needed(data: dict[str, Any]) -> tuple[str, ...]:
    """The prompts beyond the required ones that what the profile uses needs (see the *_PROMPTS lists)."""
    needed: tuple[str, ...] = ()
    if isinstance(data.get("cases"), dict):
        needed += CASE_PROMPTS
    if isinstance(data.get("nuisance"), dict):
        needed += NUISANCE_PROMPTS
    if any(isinstance(t, dict) and t.get("when_closed") == "message" for t in _items(data, "topics")):
        needed += MESSAGE_PROMPTS
    queues = data.get("queues")
    announce = queues.get("announce_position_seconds") if isinstance(queues, dict) else None
    if isinstance(announce, int) and not isinstance(announce, bool) and announce > 0:
        needed += POSITION_PROMPTS
    topics = [t for t in _items(data, "topics") if isinstance(t, dict)]
    if any(t.get("record") is True for t in topics):
        needed += RECORDING_PROMPTS  # recording is never enabled without the announcement
    if any(t.get("whisper") is True for t in topics):
        needed += WHISPER_PROMPTS
    if _items(data.get("outbound"), "campaigns"):
        needed += CAMPAIGN_PROMPTS
    return needed


def _every_language(data: dict[str, Any], codes: list[str]) -> list[tuple[Loc, str]]:
    """Each label and each prompt in every language of the profile; the option prompt reads out the key."""
    problems: list[tuple[Loc, str]] = []

    def complete(value: Any, loc: Loc, what: str) -> None:
        if isinstance(value, dict):
            problems.extend(((*loc, code), f"is missing (every {what} needs every language of the profile)")
                            for code in codes if code not in value)  # fmt: skip

    def labels(items: list[Any], loc: Loc) -> None:
        for j, item in enumerate(items):
            complete(item.get("label") if isinstance(item, dict) else None, (*loc, j, "label"), "label")

    for i, topic in enumerate(_items(data, "topics")):
        complete(topic.get("label") if isinstance(topic, dict) else None, ("topics", i, "label"), "label")
        labels(_items(topic, "specialties"), ("topics", i, "specialties"))
        labels(_items(topic, "dispositions"), ("topics", i, "dispositions"))
    labels(_items(data, "shifts"), ("shifts",))
    labels(_items(data.get("outbound"), "campaigns"), ("outbound", "campaigns"))
    cases = data.get("cases")
    labels(_items(cases, "departments"), ("cases", "departments"))
    labels(_items(cases, "districts"), ("cases", "districts"))
    for i, topic in enumerate(_items(data, "topics")):
        info = topic.get("info") if isinstance(topic, dict) else None
        complete(info.get("message") if isinstance(info, dict) else None, ("topics", i, "info", "message"), "prompt")
    survey = data.get("survey")
    if isinstance(survey, dict):
        for j, question in enumerate(_items(survey, "questions")):
            text = question.get("text") if isinstance(question, dict) else None
            complete(text, ("survey", "questions", j, "text"), "prompt")
        complete(survey.get("thanks"), ("survey", "thanks"), "prompt")
    prompts = data.get("prompts")
    if isinstance(prompts, dict):
        for key in REQUIRED_PROMPTS + _prompts_needed(data):
            if key not in prompts:
                problems.append((("prompts", key), "is missing (every prompt needs every language of the profile)"))
            complete(prompts.get(key), ("prompts", key), "prompt")
        option = prompts.get("option")
        for code, prompt in option.items() if isinstance(option, dict) else ():
            text = prompt.get("text") if isinstance(prompt, dict) else prompt
            if isinstance(text, str) and "{key}" not in text:
                problems.append((("prompts", "option", code), "must contain {key} (and usually {label})"))
    return problems
