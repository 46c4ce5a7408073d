"""Whisper and the supervisor's ear (issue 12, item 5) on a real Asterisk with SIPp phones:

* the whisper on connect: a caller of the medical topic (whisper: true) is put through to the doctor only after the
  doctor's phone has heard the queue's whisper (the caller's language and specialty): Asterisk's own times show the
  gap between the doctor's channel going Up and app_queue's AgentConnect, as long as the whisper file; a caller of a
  topic without a whisper is put through at once;
* supervisor listen: the console (the Listen button on the Agents page in Chromium, then the API with a supervisor's
  token; their user linked to their phone) asks to listen to a live call; the supervisor's SIPp phone is rung and
  answers, and Asterisk reports ChanSpyStart with the agent's channel as the spyee; whisper and barge run ChanSpy with
  their options (``w``, ``B``); each is in the audit log; a viewer is refused and nothing rings.

One Asterisk for the module: the default profile shortened (as the other e2e modules), the medical topic whispering.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import wave
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from conftest import PROJECT_ROOT, Rig, _short_profile, ami_events, running_rig  # tests/e2e is on sys.path
from playwright.async_api import expect

from hotline.settings import Settings
from telephony.asterisk import AsteriskInstance
from telephony.names import whisper_prompt
from telephony.provision import current_root
from telephony.sipp.driver import AgentPhone, free_udp_port, place_call

pytestmark = pytest.mark.e2e

ARABIC, ENGLISH = "1", "2"
MEDICAL, PAEDIATRICS, GENERAL = "2", "1", "4"
PASSWORD = "e2e supervisor ear 151"
SUPERVISOR_PHONE = "supervisor-1"


def _profile(target: Path) -> Path:
    _short_profile(target)
    data = yaml.safe_load(target.read_text(encoding="utf-8"))
    for topic in data["topics"]:
        if topic["id"] == "medical":
            topic["whisper"] = True
    data["prompts"]["whisper"] = {"ar": "متصل بالعربية: {label}.", "en": "English caller: {label}."}
    data["callbacks"]["enabled"] = False  # nothing else dials out or whispers here
    assert data["supervisors"][0]["id"] == SUPERVISOR_PHONE  # the shipped profile's supervisors
    target.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return target


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    workdir = tmp_path_factory.mktemp("hotline-ear")
    with running_rig(workdir, "e2e-ear", _profile(workdir / "profile.yaml")) as rig:
        yield rig


def _instance(rig: Rig) -> AsteriskInstance:
    settings = Settings.from_env(rig.env)
    root = current_root(settings.cache_dir)
    assert root is not None
    return AsteriskInstance(root, settings)


def _hotline(rig: Rig, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run([sys.executable, "-m", "hotline", *args], input=stdin, env=rig.env, cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def tokens(rig: Rig) -> dict[str, str]:
    """A supervisor linked to their own phone and a viewer, made with the CLI as an operator would; their tokens."""
    _hotline(rig, "user", "add", "mona", "--role", "supervisor", "--person", SUPERVISOR_PHONE, "--password-stdin",
             stdin=PASSWORD + "\n")  # fmt: skip
    _hotline(rig, "user", "add", "looker", "--role", "viewer", "--password-stdin", stdin=PASSWORD + "\n")
    return {name: _hotline(rig, "token", "add", name).strip() for name in ("mona", "looker")}


async def _api(rig: Rig, method: str, path: str, token: str, body: Any = None) -> tuple[int, Any]:
    url = f"http://127.0.0.1:{rig.http_port}/api/v1{path}"
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as session, session.request(method, url, json=body, headers=headers) as answer:
        return answer.status, await answer.json()


async def _call(rig: Rig, number: str, digits: list[str], **kwargs: Any):
    dtmf = [(1.0, digits[0])] + [(0.8, d) for d in digits[1:]]
    return await place_call(
        "127.0.0.1", rig.sip_port, caller_number=number, dtmf=dtmf, workdir=rig.workdir / "callers", **kwargs
    )


def _of(events: list[dict[str, str]], name: str, **headers: str) -> list[dict[str, str]]:
    return [e for e in events if e.get("Event") == name and all(e.get(k) == v for k, v in headers.items())]


def _connect_gap(events: list[dict[str, str]], connect: dict[str, str]) -> float:
    """Seconds (Asterisk's own timestamps) from the person's channel answering to the caller being put through."""
    (up,) = _of(events, "Newstate", Channel=connect["DestChannel"], ChannelStateDesc="Up")
    return float(connect["Timestamp"]) - float(up["Timestamp"])


async def test_the_doctor_hears_the_whisper_before_the_caller_is_put_through_and_an_agent_of_another_topic_does_not(
    rig: Rig, phones
) -> None:
    whisper_file = _instance(rig).sounds_dir / f"{whisper_prompt('ar-medical-paediatrics')}.wav"
    with wave.open(str(whisper_file)) as sound:
        whisper_seconds = sound.getnframes() / sound.getframerate()
    assert whisper_seconds > 1.5  # the caller's language and specialty, spoken
    assert not (_instance(rig).sounds_dir / f"{whisper_prompt('ar-general')}.wav").exists()
    await phones("doc-ar-paed-1", talk_seconds=whisper_seconds + 3)
    await phones("agent-ar-1", talk_seconds=3)
    async with ami_events(rig, ["Newstate", "AgentConnect", "AgentComplete"]) as events:
        medical, general = await asyncio.gather(
            _call(rig, "96551400001", [ARABIC, MEDICAL, PAEDIATRICS], max_duration=25),
            _call(rig, "96551400002", [ARABIC, GENERAL], max_duration=25),
        )
        await rig.wait_for(lambda: len(_of(events, "AgentComplete")) == 2, timeout=20, what="both calls to end")
    assert medical.answered and general.answered, (medical.error, general.error)
    (doctor,) = _of(events, "AgentConnect", Queue="ar-medical-paediatrics")
    (agent,) = _of(events, "AgentConnect", Queue="ar-general")
    assert doctor["MemberName"] == "doc-ar-paed-1" and agent["MemberName"] == "agent-ar-1"
    # the whisper is played to the doctor's channel, answered, before the caller is bridged: the whole file
    assert whisper_seconds - 0.5 <= _connect_gap(events, doctor) <= whisper_seconds + 2.0
    assert _connect_gap(events, agent) < 0.5  # no whisper for general inquiries: put through at once


@pytest.fixture
async def supervisor_phone(rig: Rig) -> AsyncIterator[AgentPhone]:
    """The supervisor's own phone (a SIPp UAS registered as supervisor-1): answers, listens 3 s, hangs up."""
    password = rig.credentials.phones[SUPERVISOR_PHONE]
    phone = AgentPhone(SUPERVISOR_PHONE, password, registrar=("127.0.0.1", rig.sip_port), local_port=free_udp_port(),
                       ring_seconds=0.3, talk_seconds=3.0, workdir=rig.workdir / "supervisor")  # fmt: skip
    await phone.start()
    await phone.register()
    try:
        yield phone
    finally:
        await phone.unregister()
        await phone.stop()


async def _spy_data(rig: Rig, spyer: str) -> str:
    """The application data of the supervisor's channel, from Asterisk's own list of channels."""
    _, text = await _instance(rig).cli("core show channels concise")
    for line in text.splitlines():
        fields = line.split("!")
        if fields[0] == spyer and len(fields) > 6:
            assert fields[5] == "ChanSpy", line
            return fields[6]
    return ""


async def _talking_caller(rig: Rig, number: str) -> None:
    """A caller whose side sends sound all along (hold music played into the call), through the IVR's fallback to
    the default queue (ar-general). ChanSpy needs sound on the call to let a supervisor hang up (asterisk#978: with
    a silent call, as two SIPp phones make, the spy's hook is never released until the call ends); real phones send
    RTP all along."""
    client = rig.ami()
    await client.start()
    try:
        await client.wait_connected(10)
        music = f"{_instance(rig).dirs(inside=True)['sounds']}/moh/hold"
        await client.send_action({"Action": "Originate", "Channel": "Local/151@hotline-inbound/n",
                                  "Application": "Playback", "Data": "&".join([music] * 4), "Async": "true",
                                  "CallerID": f'"caller" <{number}>', "Timeout": "10000"})  # fmt: skip
    finally:
        await client.close()


async def _agents_page(rig: Rig, chromium: Any, name: str) -> Any:
    """The console's Agents page in Chromium, signed in as ``name``."""
    context = await chromium.new_context(viewport={"width": 1180, "height": 760})
    page = await context.new_page()
    origin = f"http://127.0.0.1:{rig.http_port}"
    await page.goto(origin + "/login")
    await page.fill('input[name="name"]', name)
    await page.fill('input[name="password"]', PASSWORD)
    async with page.expect_navigation():
        await page.click('button[type="submit"]')
    await page.goto(origin + "/agents")
    return page


async def test_a_supervisor_listens_whispers_and_barges_from_the_console_on_their_own_phone(
    rig: Rig, phones, tokens: dict[str, str], supervisor_phone: AgentPhone, chromium: Any
) -> None:
    await phones("agent-ar-1", talk_seconds=25)
    async with ami_events(rig, ["AgentConnect", "AgentComplete", "ChanSpyStart", "Hangup"]) as events:
        await _talking_caller(rig, "96551400003")
        await rig.wait_for(lambda: _of(events, "AgentConnect", Queue="ar-general"), timeout=30, what="the call")
        (connect,) = _of(events, "AgentConnect", Queue="ar-general")
        agent_channel = connect["DestChannel"]
        status, live = await _api(rig, "GET", "/calls/live", tokens["looker"])
        assert status == 200
        (call,) = [c for c in live if c["person"] == "agent-ar-1"]
        assert call["call"] == connect["Uniqueid"] and call["queue"] == "ar-general"
        # a viewer cannot: refused, and nothing rings
        status, refused = await _api(rig, "POST", f"/calls/{call['call']}/ear", tokens["looker"], {"mode": "listen"})
        assert status == 403 and "viewer" in refused["error"]
        # a channel name is not a call
        status, refused = await _api(rig, "POST", f"/calls/{agent_channel.replace('/', '%2F')}/ear", tokens["mona"],
                                     {"mode": "listen"})  # fmt: skip
        assert status in (400, 404) and refused["error"]
        page = await _agents_page(rig, chromium, "mona")
        for count, (mode, options) in enumerate((("listen", "qES"), ("whisper", "qESw"), ("barge", "qESB")), 1):
            if mode == "listen":  # the console's button on the person's row (the Agents page)
                await page.click(f'button[data-act="ear"][data-person="agent-ar-1"][data-mode="{mode}"]')
                await expect(page.locator("#flash")).to_have_text("Your phone is ringing: answer it to listen.")
            else:  # the same through the API, with the supervisor's token
                status, body = await _api(rig, "POST", f"/calls/{call['call']}/ear", tokens["mona"], {"mode": mode})
                assert status == 202, body
                assert (body["phone"], body["person"], body["mode"]) == (SUPERVISOR_PHONE, "agent-ar-1", mode)
            await rig.wait_for(lambda n=count: len(_of(events, "ChanSpyStart")) == n, timeout=10, what=f"the {mode}")
            start = _of(events, "ChanSpyStart")[-1]
            assert start["SpyeeChannel"] == agent_channel  # the agent's channel of that call
            spyer = start["SpyerChannel"]
            assert spyer.startswith(f"PJSIP/{SUPERVISOR_PHONE}-")  # on the supervisor's own phone
            assert await _spy_data(rig, spyer) == f"{agent_channel},{options}"
            # the supervisor's phone hangs up after 3 s: the spying ends, the call goes on
            await rig.wait_for(lambda s=spyer: _of(events, "Hangup", Channel=s), timeout=10, what=f"the {mode}'s end")
            assert not _of(events, "AgentComplete")
        await rig.wait_for(lambda: _of(events, "AgentComplete"), timeout=30, what="the agent to hang up")
    answered = supervisor_phone.answered_calls()
    assert len(answered) == 3  # rung once per request, never for the viewer's or the channel name's
    assert [a.caller_name for a in answered] == ["listen agent-ar-1", "whisper agent-ar-1", "barge agent-ar-1"]
    status, audit = await _api(rig, "GET", "/audit?limit=50", tokens["mona"])
    assert status == 200
    rows = [(r["actor"], r["action"], r["target"]) for r in audit if r["action"].startswith("call.")]  # newest first
    assert rows == [("mona", f"call.{mode}", call["call"]) for mode in ("barge", "whisper", "listen")]
