"""Cases on the phone, against a real Asterisk 22 with SIPp, on each of the two case profiles (the municipal 940
line and the complaints line 16528, both Arabic only):

* a caller reaches an agent, a case is opened for that call (the desk page's work, done here through the case
  service on the same database), the agent hangs up, and the caller hears the number twice, then the PIN, then
  the call ends;
* a second call from that number follows the case and hears its status; another number keying the same case
  number (and a wrong PIN) hears "not found"; a wrong check digit is asked again;
* a self-service report with a voice note (SIPp sends a tone as RTP) opens a case with the recording, which
  exists, is 0600 in a 0700 folder, and holds about as much sound as was sent;
* the single-language profile greets its caller (the first topic menu starts with the welcome).

One Asterisk and one service at a time: the module runs once per profile. The service runs with debug logging, so its
AGI session log shows which prompt file each GET DATA and STREAM FILE asked for.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import pwd
import struct
import subprocess
import time
import wave
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
import yaml
from conftest import PROJECT_ROOT, Rig, running_rig  # tests/e2e is on sys.path

from cases.db import CaseStore
from cases.model import Case, check_digit
from cases.service import CaseService
from cdr.builder import Outcome
from profiles.model import Profile, load_profile
from telephony.sipp import driver
from telephony.sipp.driver import AgentPhone, CallResult, place_call

pytestmark = pytest.mark.e2e

FOLLOW = "9"  # cases.follow_key of both profiles
TONE_SECONDS = 4.0
RECORD_SILENCE = 5  # seconds: longer than any gap in the test's audio


@dataclass(frozen=True)
class Line:
    """A profile with cases, and what a test keys on it."""

    file: str
    number: str
    agent: str  # takes the calls of agent_topic
    agent_key: str
    agent_topic: str
    report_key: str  # a self_report topic
    report_topic: str
    report_department: str
    district_key: str
    district: str
    report_agent: str  # takes the report topic's calls when the report cannot be taken


LINES = [
    Line("municipal-940.yaml", "940", "agent-940-3", "5", "roads_networks", "3", "cleanliness", "cleaning", "2",
         "al_shati", "agent-940-2"),
    Line("complaints-16528.yaml", "16528", "agent-16528-2", "3", "health", "1", "water_sewage", "water_company", "2",
         "kafr_el_dawwar", "agent-16528-1"),
]  # fmt: skip


def _short(line: Line, target: Path) -> Path:
    """The profile with short prompts and timeouts; the menus, categories and case rules as shipped."""
    data = yaml.safe_load((PROJECT_ROOT / "profiles" / line.file).read_text(encoding="utf-8"))
    data["ivr"]["retries"] = 1
    data["ivr"]["digit_timeout_seconds"] = 2
    short = {
        "welcome": f"أهلا {line.number}",
        "choose_topic": "النوع",
        "option": "{key}",
        "invalid": "عذرا",
        "report_choose_district": "الحي",
        "report_record": "سجل",
        "report_thanks": "شكرا",
        "case_number_is": "الرقم",
        "case_pin_is": "السري",
        "case_goodbye": "سلام",
        "follow_option": "{key}",
        "follow_enter_number": "أدخل",
        "follow_enter_pin": "السري",
        "follow_wrong_number": "خطأ",
        "follow_not_found": "لا يوجد",
        "follow_status": "{status} {department} {date}",
        "follow_too_many": "كثير",
    }
    for name, text in short.items():
        data["prompts"][name] = {"ar": text}
    data.setdefault("queues", {})["wrapup_seconds"] = 2
    data.setdefault("routing", {}).update(widen_after_seconds=5, overflow_after_seconds=90)
    data["cases"]["record_silence_seconds"] = RECORD_SILENCE
    data["cases"]["record_max_seconds"] = 20
    target.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return target


@pytest.fixture(scope="module", params=LINES, ids=lambda line: line.number)
def line(request: pytest.FixtureRequest) -> Line:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory, line: Line) -> Iterator[Rig]:
    workdir = tmp_path_factory.mktemp(f"hotline-cases-phone-{line.number}")
    with running_rig(workdir, f"e2e-cases-{line.number}", _short(line, workdir / "profile.yaml"), verbose=True) as rig:
        yield rig


@pytest.fixture(scope="module")
def profile(rig: Rig) -> Profile:
    return load_profile(rig.env["HOTLINE_PROFILE"])


@pytest.fixture(scope="module")
def instance_dir(rig: Rig) -> Path:
    from hotline.settings import Settings
    from telephony.asterisk import AsteriskInstance
    from telephony.provision import current_root

    settings = Settings.from_env(rig.env)
    root = current_root(settings.cache_dir)
    assert root is not None
    return AsteriskInstance(root, settings).host_dir


@pytest_asyncio.fixture
async def cases(rig: Rig, profile: Profile) -> AsyncIterator[CaseService]:
    """The case service on the service's database: what the desk page does when the agent opens a case."""
    store = CaseStore(rig.db_url)
    yield CaseService(profile, store)
    await store.close()


@pytest_asyncio.fixture
async def agent(rig: Rig, line: Line) -> AsyncIterator[AgentPhone]:
    """The agent of the line's agent topic, logged in; talks 6 s, then hangs up."""
    async with _logged_in(rig, line.agent) as phone:
        yield phone


@asynccontextmanager
async def _logged_in(rig: Rig, person: str, talk_seconds: float = 6.0) -> AsyncIterator[AgentPhone]:
    phone = rig.phone(person, talk_seconds=talk_seconds)
    await phone.start()
    try:
        await phone.register()
        result = await phone.dial("*41")
        assert result.answered, result.error
        await rig.wait_for(lambda: _taking_calls(rig, person), timeout=15, what=f"{person} to take calls")
        yield phone
    finally:
        try:
            await phone.dial("*42")
            await phone.unregister()
        finally:
            await phone.stop()


async def _taking_calls(rig: Rig, person: str) -> bool:
    return person in (rig.health() or {}).get("taking_calls", [])


class Events:
    """The test's own AMI connection: the events it waits for, kept in arrival order."""

    def __init__(self, rig: Rig, names: list[str]):
        self.client = rig.ami()
        self.seen: list[dict[str, str]] = []
        self.arrived = asyncio.Event()
        self.client.add_event_handler(self._on_event, events=names)

    def _on_event(self, message) -> None:  # type: ignore[no-untyped-def]
        self.seen.append(dict(message.headers))
        self.arrived.set()

    async def __aenter__(self) -> Events:
        await self.client.start()
        await self.client.wait_connected(10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.close()

    async def wait(self, predicate, timeout: float, what: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while True:
            for event in self.seen:
                if predicate(event):
                    return event
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {what} within {timeout} s; seen: {self.seen}")
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), left)


async def call(rig: Rig, caller: str, dtmf: list[tuple[float, str]], **kwargs: object) -> CallResult:
    return await place_call(
        "127.0.0.1",
        rig.sip_port,
        number=load_profile(rig.env["HOTLINE_PROFILE"]).number,
        caller_number=caller,
        dtmf=dtmf,
        workdir=rig.workdir / "callers",
        **kwargs,  # type: ignore[arg-type]
    )


def keyed(number: str, start: float = 0.4) -> list[tuple[float, str]]:
    return [(start, number[0])] + [(0.3, digit) for digit in number[1:]]


def agi_lines(rig: Rig, uniqueid: str) -> list[str]:
    """The AGI commands the service sent on one channel (its debug log), in order."""
    text = (rig.workdir / "service.log").read_text(encoding="utf-8", errors="replace")
    return [line.split(">> ", 1)[1] for line in text.splitlines() if f"AGI {uniqueid} >> " in line]


def digits_of(prompt: str) -> str:
    return "".join(path.rsplit("digit-", 1)[1] for path in prompt.split("&") if "/digit-" in path)


# -- the number, read back ------------------------------------------------------------------------------------

CALLER = "0551100001"


async def test_after_the_agent_hangs_up_the_caller_hears_the_case_number_twice_then_the_call_ends(
    rig: Rig, line: Line, agent: AgentPhone, cases: CaseService
) -> None:
    async with Events(rig, ["AgentConnect", "UserEvent"]) as events:
        caller = asyncio.create_task(call(rig, CALLER, [(1.0, line.agent_key)], max_duration=60))
        connected = await events.wait(
            lambda e: e.get("Event") == "AgentConnect" and e.get("CallerIDNum") == CALLER, 25, "agent connect"
        )
        # The agent opens a case from the desk while they talk (the desk page calls the case service).
        case = await cases.open(
            category=line.agent_topic,
            description="حفرة كبيرة في الطريق أمام المستشفى",
            caller_number=CALLER,
            language="ar",
            actor=line.agent,
            linkedid=connected["Linkedid"],
        )
        readback = await events.wait(
            lambda e: e.get("UserEvent") == "HotlineCaseReadback" and e.get("CallerIDNum") == CALLER,
            30,
            "read-back",
        )
        result = await caller

    assert result.answered and result.remote_hung_up, result.error  # Asterisk ended the call after the read-back
    assert readback["Case"] == case.number and readback["Status"] == "SUCCESS"
    prompt = readback["Prompt"]
    assert digits_of(prompt) == case.number * 2, prompt  # digit by digit, twice
    assert [p.rsplit("/", 1)[1] for p in prompt.split("&")].count("case-number-is") == 2
    assert prompt.split("&")[0].endswith("/ar/case-number-is")  # in the caller's language
    (answered,) = agent.answered_calls()
    assert answered.caller_number == CALLER and answered.ended_by == "local"  # the agent hung up first
    assert result.ended_at is not None and result.ended_at - (answered.ended_at or 0) > 3.0  # it was read out
    (record,) = await rig.records_of(CALLER)  # one call, served once: not put back into a queue
    assert record.outcome is Outcome.ANSWERED and record.agent == line.agent
    assert await cases.opened_on_call(connected["Linkedid"]) == [case]


@pytest.mark.one_line  # on the first line only: it proves the code, not the profile
async def test_without_a_case_the_call_ends_when_the_agent_hangs_up_and_is_not_queued_again(
    rig: Rig, line: Line, agent: AgentPhone
) -> None:
    caller = "0551100009"
    async with Events(rig, ["UserEvent"]) as events:
        result = await call(rig, caller, [(1.0, line.agent_key)], max_duration=60)
        readbacks = [e for e in events.seen if e.get("UserEvent") == "HotlineCaseReadback"]

    assert result.answered and result.remote_hung_up, result.error
    assert readbacks == []
    (answered,) = agent.answered_calls()  # served once: option c did not put the caller back into a queue
    assert answered.caller_number == caller and answered.ended_by == "local"
    assert result.ended_at is not None and answered.ended_at is not None
    assert result.ended_at - answered.ended_at < 2.0  # the call ended with the agent's hang-up, as before
    (record,) = await rig.records_of(caller)
    assert record.outcome is Outcome.ANSWERED and record.agent == line.agent
    sent = agi_lines(rig, record.linkedid)
    assert sent and not any("HOTLINE_CASE" in line for line in sent)  # the read-back route found nothing to read


# -- follow a report --------------------------------------------------------------------------------------------


async def _follow(rig: Rig, caller: str, dtmf: list[tuple[float, str]]) -> tuple[CallResult, dict[str, str]]:
    async with Events(rig, ["UserEvent"]) as events:
        result = await call(rig, caller, dtmf, max_duration=60)
        answer = await events.wait(
            lambda e: e.get("UserEvent") == "HotlineCaseFollow" and e.get("CallerIDNum") == caller, 10, "follow"
        )
    return result, answer


async def _case_of(cases: CaseService, caller: str) -> Case:
    found = await cases.list(caller_number=caller)
    assert found, f"no case of {caller}: the read-back test opens it"
    return found[0]


async def test_a_second_call_from_the_same_number_hears_the_status_of_its_case(rig: Rig, cases: CaseService) -> None:
    case = await _case_of(cases, CALLER)
    result, answer = await _follow(rig, CALLER, [(1.0, FOLLOW), *keyed(case.number, 1.0)])

    assert result.answered and result.remote_hung_up, result.error
    assert answer["Answer"] == "found"
    sent = agi_lines(rig, answer["Uniqueid"])
    assert any("/ar/welcome-topics" in line for line in sent)  # the welcome, then the categories
    assert any("/ar/follow-enter-number" in line for line in sent)
    assert not any("/ar/follow-enter-pin" in line for line in sent)  # the number that opened it needs no PIN
    assert any(line.startswith("b'STREAM FILE") and "/follow/" in line for line in sent)  # the status sentence


async def test_another_number_with_the_same_case_number_hears_not_found(rig: Rig, cases: CaseService) -> None:
    case = await _case_of(cases, CALLER)
    wrong_pin = "0000" if case.pin != "0000" else "1111"
    result, answer = await _follow(rig, "0552200002", [(1.0, FOLLOW), *keyed(case.number, 1.0), *keyed(wrong_pin, 1.5)])

    assert result.answered and result.remote_hung_up, result.error
    assert answer["Answer"] == "not_found"
    sent = agi_lines(rig, answer["Uniqueid"])
    assert any("/ar/follow-enter-pin" in line for line in sent)
    assert any("/ar/follow-not-found" in line for line in sent)
    assert not any("/follow/" in line for line in sent)  # no status was spoken


@pytest.mark.one_line  # on the first line only: it proves the code, not the profile
async def test_a_wrong_check_digit_is_asked_again_with_no_lookup(rig: Rig, cases: CaseService) -> None:
    case = await _case_of(cases, CALLER)
    mistyped = case.number[:-1] + str((int(case.number[-1]) + 1) % 10)
    assert check_digit(mistyped[:-1]) != mistyped[-1]
    calls_before = len(await rig.records_of(CALLER))
    # (SIPp's scenario takes some 15 digits at most: the right number keyed again is the adapter test's)
    result = await call(rig, CALLER, [(1.0, FOLLOW), *keyed(mistyped, 1.0)], hangup_after=2.5)

    assert result.answered and result.dtmf_sent == 10, result.error
    records = await rig.records_of(CALLER, at_least=calls_before + 1)
    latest = max(records, key=lambda r: r.started_at)
    asked = [line for line in agi_lines(rig, latest.linkedid) if line.startswith("b'GET DATA")]
    assert "/ar/follow-enter-number" in asked[-2] and '"9"' in asked[-2]
    assert "/ar/follow-wrong-number" in asked[-1] and '"9"' in asked[-1]  # asked again, for nine digits
    assert not any("follow-not-found" in line or "/follow/" in line for line in agi_lines(rig, latest.linkedid))


# -- the self-service report with a voice note ------------------------------------------------------------------


def _ulaw(sample: int) -> int:
    """G.711 mu-law of a 16-bit sample."""
    sign = 0x80 if sample < 0 else 0
    biased = min(abs(sample), 32635) + 0x84
    exponent = max(0, biased.bit_length() - 8)
    mantissa = (biased >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def tone_pcap(path: Path, seconds: float, *, hz: float = 440.0, amplitude: int = 12000) -> Path:
    """A pcap of RTP packets (PCMU, 20 ms each) carrying a tone, for SIPp's play_pcap_audio."""
    rate, per_packet = 8000, 160
    packets = int(seconds * rate / per_packet)
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))  # pcap header, Ethernet
    for n in range(packets):
        payload = bytes(
            _ulaw(int(amplitude * math.sin(2 * math.pi * hz * (n * per_packet + i) / rate))) for i in range(per_packet)
        )
        rtp = struct.pack("!BBHII", 0x80, 0, n & 0xFFFF, n * per_packet, 0x1234ABCD) + payload
        udp = struct.pack("!HHHH", 6000, 6000, 8 + len(rtp), 0) + rtp
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), n & 0xFFFF, 0, 64, 17, 0, bytes([127, 0, 0, 1]),
                         bytes([127, 0, 0, 1])) + udp  # fmt: skip
        frame = b"\x00" * 12 + b"\x08\x00" + ip
        at = n * 0.02
        out += struct.pack("<IIII", int(at), int((at % 1) * 1_000_000), len(frame), len(frame)) + frame
    path.write_bytes(bytes(out))
    return path


def _acl(path: Path) -> list[str]:
    """The POSIX ACL of ``path`` (numeric ids; without an ACL: the mode as the three base entries)."""
    done = subprocess.run(["getfacl", "-n", "-p", "--omit-header", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return [line.split("#")[0].strip() for line in done.stdout.splitlines() if line and not line.startswith("default")]


def loud_seconds(path: Path, window: float = 0.02, threshold: int = 2000) -> float:
    """Seconds of a 16-bit mono WAV whose 20 ms windows are louder than ``threshold`` (RMS)."""
    with wave.open(str(path), "rb") as note:
        rate, frames = note.getframerate(), note.readframes(note.getnframes())
    samples = struct.unpack(f"<{len(frames) // 2}h", frames)
    size = int(rate * window)
    loud = 0
    for start in range(0, len(samples) - size + 1, size):
        chunk = samples[start : start + size]
        if math.sqrt(sum(s * s for s in chunk) / size) > threshold:
            loud += 1
    return loud * window


def _tone_after_the_district(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    """The caller's SIPp sends the tone (RTP) once the district is keyed, the prompt and the beep played."""
    pcap = tone_pcap(rig.workdir / "tone.pcap", TONE_SECONDS)
    render = driver.render_call_scenario

    def with_audio(**kwargs: object) -> str:
        text = render(**kwargs)  # type: ignore[arg-type]
        anchor = '<label id="dtmf_2_done"/>'
        assert anchor in text
        audio = f'<pause milliseconds="2500"/><nop><action><exec play_pcap_audio="{pcap}"/></action></nop>'
        return text.replace(anchor, anchor + audio)

    monkeypatch.setattr(driver, "render_call_scenario", with_audio)


async def test_a_self_service_report_with_a_voice_note_opens_a_case_with_the_recording(
    rig: Rig, line: Line, cases: CaseService, instance_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    caller = "0553300003"
    _tone_after_the_district(rig, monkeypatch)
    dtmf = [
        (1.0, line.report_key),
        (1.0, line.district_key),
        (TONE_SECONDS + 1.0, "#"),
    ]  # '#' ends the note after the tone
    async with Events(rig, ["UserEvent"]) as events:
        result = await call(rig, caller, dtmf, max_duration=60)
        readback = await events.wait(
            lambda e: e.get("UserEvent") == "HotlineCaseReadback" and e.get("CallerIDNum") == caller, 15, "read-back"
        )

    assert result.answered and result.remote_hung_up and result.dtmf_sent == 3, result.error
    (case,) = await cases.list(caller_number=caller)
    (record,) = await rig.records_of(caller)
    assert await cases.opened_on_call(record.linkedid) == [case]  # linked to the call that made it
    assert (case.category, case.district, case.source, case.department) == (
        line.report_topic,
        line.district,
        "phone",
        line.report_department,
    )
    assert readback["Case"] == case.number and digits_of(readback["Prompt"]) == case.number * 2
    assert readback["Prompt"].split("&")[0].endswith("/ar/report-thanks")
    # The recording: in the instance's voice-note folder, with the tone in it; the folder and the file are
    # Asterisk's alone (0700 and 0600: umask 077), and the service user's to read and remove (one ACL entry).
    assert case.voice_note is not None and case.voice_note_seconds is not None
    note = Path(case.voice_note)
    assert note.parent == instance_dir / "voice-notes" and note.is_file()
    asterisk_uid = note.parent.stat().st_uid
    for path, owner in ((note.parent, "user::rwx"), (note, "user::rw-")):
        assert path.stat().st_uid == asterisk_uid and path.stat().st_mode & 0o007 == 0, path
        entries = _acl(path)
        assert owner in entries and "group::---" in entries and "other::---" in entries, (path, entries)
        named = [e for e in entries if e.startswith("user:") and not e.startswith("user::")]
        assert named == [] or [e.split(":")[1] for e in named] == [str(pwd.getpwnam("hotline").pw_uid)], named
    assert TONE_SECONDS - 0.6 <= loud_seconds(note) <= TONE_SECONDS + 0.3
    assert TONE_SECONDS - 0.6 <= case.voice_note_seconds <= TONE_SECONDS + 3.0


@pytest.mark.one_line  # on the first line only: it proves the code, not the profile
async def test_a_caller_who_hangs_up_while_recording_keeps_their_report(
    rig: Rig, line: Line, cases: CaseService, instance_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    caller = "0553300013"
    _tone_after_the_district(rig, monkeypatch)
    # hangs up ~0.5 s after the tone, without pressing #
    result = await call(rig, caller, [(1.0, line.report_key), (1.0, line.district_key)], hangup_after=4.5)

    assert result.answered and not result.remote_hung_up, result.error
    found = await rig.wait_for(lambda: cases.list(caller_number=caller), timeout=10, what="the case of the note")
    (case,) = found
    (record,) = await rig.records_of(caller)
    assert await cases.opened_on_call(record.linkedid) == [case]
    assert (case.category, case.district, case.source) == (line.report_topic, line.district, "phone")
    assert case.voice_note is not None and Path(case.voice_note).parent == instance_dir / "voice-notes"
    assert case.voice_note_seconds is not None and TONE_SECONDS - 1.0 <= case.voice_note_seconds <= TONE_SECONDS + 1.0
    assert TONE_SECONDS - 1.0 <= loud_seconds(Path(case.voice_note)) <= TONE_SECONDS + 0.3


# -- the welcome of a single-language profile -------------------------------------------------------------------


async def test_the_single_language_profile_greets_its_caller_before_the_categories(
    rig: Rig, instance_dir: Path
) -> None:
    caller = "0554400004"
    result = await call(rig, caller, [], hangup_after=2.0)  # hangs up in the first menu
    assert result.answered, result.error
    (record,) = await rig.records_of(caller)
    sent = agi_lines(rig, record.linkedid)
    assert sent and "/ar/welcome-topics" in sent[0], sent  # the first thing played: the welcome, then the menu
    sounds = instance_dir / "sounds" / "ar"
    with wave.open(str(sounds / "welcome-topics.wav")) as welcome, wave.open(str(sounds / "topics.wav")) as topics:
        assert welcome.getnframes() > topics.getnframes() + 8000 * 0.5  # the greeting is in it


# -- our failure: the case service cannot open the case --------------------------------------------------------


@pytest.mark.one_line  # on the first line only: it proves the code, not the profile
async def test_when_the_case_cannot_be_opened_the_caller_hears_an_apology_and_reaches_a_person(
    rig: Rig, line: Line, instance_dir: Path
) -> None:
    """The database loses its cases table while a caller records a report (it comes back afterwards): the caller
    hears the apology (agent-failed) and is taken to the report topic's queue, where a person answers."""
    import sqlite3

    caller = "0555500005"
    database = rig.db_url.removeprefix("sqlite:///")
    notes_before = set((instance_dir / "voice-notes").iterdir())
    async with _logged_in(rig, line.report_agent, talk_seconds=2.0) as person:
        with sqlite3.connect(database) as db:
            db.execute("ALTER TABLE cases RENAME TO cases_away")
        try:
            async with Events(rig, ["UserEvent"]) as events:
                dtmf = [(1.0, line.report_key), (1.0, line.district_key), (2.5, "#")]
                result = await call(rig, caller, dtmf, max_duration=60)
                route = await events.wait(
                    lambda e: (
                        e.get("UserEvent") == "HotlineRoute"
                        and e.get("CallerIDNum") == caller
                        and e.get("Result") == "CASE_FAILED"
                    ),
                    10,
                    "route to a person",
                )
                routes = [e["Result"] for e in events.seen if e.get("UserEvent") == "HotlineRoute"]
        finally:
            with sqlite3.connect(database) as db:
                db.execute("ALTER TABLE cases_away RENAME TO cases")
        answered = person.answered_calls()

    assert result.answered and result.remote_hung_up, result.error
    # the dialplan's casefailed path: Playback(agent-failed), then the route announced with CASE_FAILED, then Queue()
    assert routes == ["REPORT", "CASE_FAILED"] and route["Queue"] == f"ar-{line.report_topic}"
    assert [c.caller_number for c in answered] == [caller]  # a person took the report
    (record,) = await rig.records_of(caller)
    assert record.outcome is Outcome.ANSWERED and record.agent == line.report_agent
    sent = agi_lines(rig, record.linkedid)
    assert any("HOTLINE_RESULT=RECORD" in command for command in sent)  # the report got as far as the note
    assert not any("HOTLINE_CASE" in command for command in sent)  # no number was read: no case was opened
    # this caller sent no sound: the empty note is not kept (one with sound stays, logged, for the person)
    assert set((instance_dir / "voice-notes").iterdir()) == notes_before
