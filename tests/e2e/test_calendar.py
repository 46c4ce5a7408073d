"""The calendar and information topics against a real Asterisk 22 with SIPp, on the patient-services profile
(Arabic and English; health education is information with 0 to a person; suggestions take a message outside
their hours):

* an Arabic caller picks health education, hears the information, presses 0 and talks to the Arabic agent
  (the record: answered by that agent, after a HotlineRoute INFO then OK);
* a caller who hears the information and hangs up is recorded as served without a person (self_served);
* a supervisor makes today a holiday for suggestions on the console's calendar page; a caller who picks
  suggestions hears leave_message and the beep, records a message (ends it with #) and hears the thanks; the
  message is a callback request for that number, not dialled before the next opening (tomorrow 00:00 in
  Muscat: the test profile's hours are around the clock, so the day does not matter); the record: self_served;
* a caller who speaks (an RTP tone from SIPp) and hangs up while recording keeps the message (the hangup
  handler): a callback request too.

The hours of the test profile are the whole week, so the module does not depend on the day or the time; the
holiday is today's date in Muscat. One Asterisk and one service for the module.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.cookiejar
import json
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
import yaml
from conftest import PROJECT_ROOT, Rig, running_rig  # tests/e2e is on sys.path
from test_cases_phone import tone_pcap  # the RTP tone a caller's SIPp plays

from callbacks.db import CallbackStore
from callbacks.model import Origin
from cdr.builder import Outcome
from telephony.sipp import driver
from telephony.sipp.driver import AgentPhone, CallResult, place_call

pytestmark = pytest.mark.e2e

PROFILE_FILE = PROJECT_ROOT / "profiles" / "patient-services.yaml"
AGENT = "agent-ar-1"  # Arabic: complaints, suggestions, health education
MUSCAT = ZoneInfo("Asia/Muscat")
SUPERVISOR, PASSWORD = "e2e-calendar-boss", "calendar horse battery staple"
_PLACEHOLDER = re.compile(r"\{\w+\}")


def _shorten(node: Any) -> Any:
    """Every spoken text made short (its {placeholders} kept), so prompts are made quickly and calls stay short."""
    if isinstance(node, dict):
        if node and set(node) <= {"ar", "en"} and all(isinstance(v, str) for v in node.values()):
            return {lang: " ".join(_PLACEHOLDER.findall(text)) or ("نعم" if lang == "ar" else "Yes")
                    for lang, text in node.items()}  # fmt: skip
        return {key: _shorten(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_shorten(item) for item in node]
    return node


def _profile(target: Path) -> Path:
    data = _shorten(yaml.safe_load(PROFILE_FILE.read_text(encoding="utf-8")))
    topics = {t["id"]: t for t in data["topics"]}
    assert topics["health_education"]["info"]["person_key"] == "0" and topics["suggestions"]["when_closed"] == "message"
    data["hotline"]["hours"] = [{"days": ["sun", "mon", "tue", "wed", "thu", "fri", "sat"], "open": "00:00",
                                 "close": "24:00"}]  # fmt: skip
    data["hotline"].pop("holidays", None)
    data.pop("nuisance", None)  # many short test calls from one number are not nuisance here
    data["prompts"].pop("blocked", None)
    data["prompts"].pop("nuisance_warning", None)
    data["ivr"]["digit_timeout_seconds"] = 3
    data["queues"]["wrapup_seconds"] = 2
    # A message becomes a callback request: the test's numbers may be called back.
    data["callbacks"] = {"enabled": True, "allowed_numbers": ["05514[0-9]{5}"]}
    target.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return target


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    workdir = tmp_path_factory.mktemp("hotline-calendar")
    with running_rig(workdir, "e2e-calendar", _profile(workdir / "profile.yaml"), verbose=True) as rig:
        added = subprocess.run(
            [sys.executable, "-m", "hotline", "user", "add", SUPERVISOR, "--role", "supervisor", "--language", "en",
             "--password-stdin"],
            input=PASSWORD + "\n", env=rig.env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert added.returncode == 0, added.stdout + added.stderr
        yield rig


class Events:
    """The test's own AMI connection: every event of the names given, in arrival order."""

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

    def routes(self, caller: str) -> list[str]:
        """The HotlineRoute results of the calls from ``caller``'s channel(s), in order."""
        channels = {e["Linkedid"] for e in self.seen if e.get("CallerIDNum") == caller}
        return [e["Result"] for e in self.seen if e.get("UserEvent") == "HotlineRoute" and e["Linkedid"] in channels]


@pytest_asyncio.fixture
async def agent(rig: Rig) -> AsyncIterator[AgentPhone]:
    """The Arabic agent: registered, logged in (*41), free; talks 2 s, then hangs up."""
    phone = rig.phone(AGENT, talk_seconds=2.0)
    await phone.start()
    try:
        await phone.register()
        result = await phone.dial("*41")
        assert result.answered, result.error
        await rig.wait_for(lambda: _taking_calls(rig, AGENT), timeout=15, what=f"{AGENT} to take calls")
        yield phone
    finally:
        try:
            await phone.dial("*42")
            await phone.unregister()
        finally:
            await phone.stop()


async def _taking_calls(rig: Rig, person: str) -> bool:
    return person in (rig.health() or {}).get("taking_calls", [])


async def call(rig: Rig, caller: str, **kwargs: Any) -> CallResult:
    return await place_call(
        "127.0.0.1", rig.sip_port, number="1444", caller_number=caller, workdir=rig.workdir / "callers", **kwargs
    )


class Console:
    """The console as a supervisor's browser uses it: a session cookie, the CSRF token, same-origin forms."""

    def __init__(self, rig: Rig) -> None:
        self.origin = f"http://127.0.0.1:{rig.http_port}"
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        body = json.dumps({"name": SUPERVISOR, "password": PASSWORD}).encode()
        request = urllib.request.Request(f"{self.origin}/api/v1/session", data=body, method="POST",
                                         headers={"Content-Type": "application/json"})  # fmt: skip
        with self.opener.open(request, timeout=10) as response:
            self.csrf = json.load(response)["csrf_token"]

    def post_form(self, path: str, fields: list[tuple[str, str]]) -> tuple[int, str]:
        data = urllib.parse.urlencode([("csrf_token", self.csrf), *fields]).encode()
        request = urllib.request.Request(f"{self.origin}{path}", data=data, method="POST",
                                         headers={"Origin": self.origin})  # fmt: skip
        try:
            with self.opener.open(request, timeout=10) as response:  # follows the 303 to the page
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()


def today_in_muscat() -> date:
    return datetime.now(UTC).astimezone(MUSCAT).date()


async def test_information_then_zero_reaches_the_arabic_agent(rig: Rig, agent: AgentPhone) -> None:
    caller = "0551400001"
    async with Events(rig, ["UserEvent", "Newchannel", "AgentConnect"]) as events:
        # Arabic (1), health education (3): the information plays; 0 during it: a person.
        result = await call(rig, caller, dtmf=[(1.5, "1"), (2.0, "3"), (2.5, "0")], max_duration=30)
        assert result.answered, result
        await events.wait(lambda e: e.get("Event") == "AgentConnect", 30, "the agent to answer")
        assert events.routes(caller)[:2] == ["INFO", "OK"]
    (record,) = await rig.records_of(caller, at_least=1, timeout=30)
    assert record.outcome is Outcome.ANSWERED and record.agent == AGENT
    assert record.topic == "health_education" and record.queue == "ar-health_education"


async def test_a_caller_who_hears_the_information_and_hangs_up_is_served_without_a_person(rig: Rig) -> None:
    caller = "0551400002"
    async with Events(rig, ["UserEvent", "Newchannel"]) as events:
        result = await call(rig, caller, dtmf=[(1.5, "2"), (2.0, "3")], hangup_after=3.0, max_duration=30)
        assert result.answered and not result.remote_hung_up, result
        await events.wait(lambda e: e.get("Result") == "INFO", 15, "the information")
        assert events.routes(caller) == ["INFO"]
    (record,) = await rig.records_of(caller, at_least=1, timeout=30)
    assert record.outcome is Outcome.SELF_SERVED and record.topic == "health_education" and record.agent is None


async def test_on_a_holiday_a_message_becomes_a_callback_request_for_the_next_opening(rig: Rig) -> None:
    caller = "0551400003"
    today = today_in_muscat()
    status, page = Console(rig).post_form(
        "/calendar/add", [("date", today.isoformat()), ("name", "e2e holiday"), ("topics", "suggestions")]
    )
    assert status == 200 and "e2e holiday" in page and "Saved." in page, page[:2000]
    async with Events(rig, ["UserEvent", "Newchannel"]) as events:
        # Arabic (1), suggestions (2): closed today: leave_message, the beep, record, '#' ends it, thanks.
        result = await call(rig, caller, dtmf=[(1.5, "1"), (2.0, "2"), (4.0, "#")], max_duration=40)
        assert result.answered and result.remote_hung_up, result
        thanks = await events.wait(lambda e: e.get("UserEvent") == "HotlineMessage", 30, "the thanks")
        assert thanks["Topic"] == "suggestions" and thanks["Status"] == "SUCCESS"
        assert events.routes(caller) == ["MESSAGE"]
    async with CallbackStore(rig.db_url) as store:
        (request,) = [r for r in await store.open_requests() if r.number == caller]
    assert request.origin is Origin.MESSAGE and request.queue == "ar-suggestions" and request.topic == "suggestions"
    tomorrow = datetime.combine(today + timedelta(days=1), datetime.min.time(), tzinfo=MUSCAT)
    assert request.next_attempt_at == tomorrow  # the next opening of suggestions, not before
    (record,) = await rig.records_of(caller, at_least=1, timeout=30)
    assert record.outcome is Outcome.SELF_SERVED and record.topic == "suggestions" and record.agent is None


async def test_a_caller_who_hangs_up_while_recording_keeps_the_message(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    caller = "0551400004"
    today = today_in_muscat()
    status, page = Console(rig).post_form("/calendar/add", [("date", today.isoformat()), ("topics", "suggestions")])
    assert status == 200, page[:2000]
    pcap = tone_pcap(rig.workdir / "tone.pcap", 2.0)
    render = driver.render_call_scenario

    def with_audio(**kwargs: object) -> str:  # the tone 2.5 s after the topic: after leave_message and the beep
        text = render(**kwargs)  # type: ignore[arg-type]
        anchor = '<label id="dtmf_2_done"/>'
        assert anchor in text
        audio = f'<pause milliseconds="2500"/><nop><action><exec play_pcap_audio="{pcap}"/></action></nop>'
        return text.replace(anchor, anchor + audio)

    monkeypatch.setattr(driver, "render_call_scenario", with_audio)
    async with Events(rig, ["UserEvent", "Newchannel"]) as events:
        result = await call(rig, caller, dtmf=[(1.5, "1"), (2.0, "2")], hangup_after=6.0, max_duration=40)
        assert result.answered and not result.remote_hung_up, result
        assert events.routes(caller) == ["MESSAGE"]
        assert not [e for e in events.seen if e.get("UserEvent") == "HotlineMessage"]  # gone before the thanks

    async def booked() -> list[Any]:
        async with CallbackStore(rig.db_url) as store:
            return [r for r in await store.open_requests() if r.number == caller]

    (request,) = await rig.wait_for(booked, timeout=15, what="the callback request of the message")
    tomorrow = datetime.combine(today + timedelta(days=1), datetime.min.time(), tzinfo=MUSCAT)
    assert request.origin is Origin.MESSAGE and request.next_attempt_at == tomorrow
    log = (rig.workdir / "service.log").read_text(encoding="utf-8", errors="replace")
    assert f"message of {request.original_linkedid} for suggestions: taken" in log


async def test_a_closed_topic_plays_closed_and_the_next_opening_made_at_call_time(rig: Rig) -> None:
    caller = "0551400005"
    today = today_in_muscat()
    status, page = Console(rig).post_form("/calendar/add", [("date", today.isoformat()), ("topics", "urgent")])
    assert status == 200, page[:2000]
    async with Events(rig, ["Newchannel"]) as events:
        # English (2), an urgent request (4): closed today; the call ends after the two prompts.
        result = await call(rig, caller, dtmf=[(1.5, "2"), (2.0, "4")], max_duration=40)
        assert result.answered and result.remote_hung_up, result
        uniqueid = next(e["Uniqueid"] for e in events.seen if e.get("CallerIDNum") == caller)
    log = (rig.workdir / "service.log").read_text(encoding="utf-8", errors="replace")
    sent = [line.split(" >> ", 1)[1] for line in log.splitlines() if f"AGI {uniqueid} >> " in line]
    assert sent[2].startswith("b'STREAM FILE \"") and '/sounds/en/closed"' in sent[2], sent
    assert re.search(r'/sounds/follow/[0-9a-f]{24}"', sent[3]), sent  # the next opening, spoken at call time
    assert "HOTLINE_PROMPT=,HOTLINE_RESULT=CLOSED" in sent[4], sent
    replies = [line.split(" << ", 1)[1] for line in log.splitlines() if f"AGI {uniqueid} << " in line]
    assert replies[3].startswith("'200 result=0 endpos=") and not replies[3].startswith("'200 result=0 endpos=0'")
    from hotline.settings import Settings
    from telephony.asterisk import AsteriskInstance
    from telephony.provision import current_root

    settings = Settings.from_env(rig.env)
    root = current_root(settings.cache_dir)
    assert root is not None
    assert list((AsteriskInstance(root, settings).sounds_dir / "follow").glob("*.wav")) == []  # removed after
    (record,) = await rig.records_of(caller, at_least=1, timeout=30)
    assert record.agent is None and record.outcome is Outcome.ABANDONED_IVR  # closed: never routed
