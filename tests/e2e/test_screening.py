"""Nuisance callers against a real Asterisk 22 with SIPp, on the patient-services profile (Arabic and English;
its nuisance rules: 5 calls within 2 minutes, each under 10 s after the answer, warned, then blocked for 60 min):

* a number that calls 5 times in 2 minutes, hanging up within seconds of the answer, is warned; its next call
  hears the warning (once) and goes on to the menu; 5 more short calls and it is blocked: its next call hears the
  blocked message and is hung up, is recorded as blocked, and never reaches a person. An agent phone is
  registered, logged in and free throughout (a control call from another number reaches it): no call of the
  nuisance number ever rang it, nor joined a queue;
* a number a supervisor blocks over the API hears the message and is hung up (recorded as blocked); unblocked, it
  reaches the menu again.

One Asterisk and one service for the module, with the service's debug log (the AGI commands each call got).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml
from conftest import PROJECT_ROOT, Rig, running_rig  # tests/e2e is on sys.path

from cdr.builder import CallRecord, Outcome
from screening.db import ScreeningStore
from telephony.sipp.driver import AgentPhone, CallResult, place_call

pytestmark = pytest.mark.e2e

PROFILE_FILE = PROJECT_ROOT / "profiles" / "patient-services.yaml"
AGENT = "agent-ar-1"  # Arabic complaints (open around the clock)
NUISANCE = "0551300001"
MANUAL = "0551300002"
CONTROL = "0551300003"
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
    data = yaml.safe_load(PROFILE_FILE.read_text(encoding="utf-8"))
    data = _shorten(data)
    data["prompts"]["blocked"] = {"ar": "محظور", "en": "Blocked"}
    data["prompts"]["nuisance_warning"] = {"ar": "تنبيه", "en": "Warning"}
    data["hotline"]["hours"] = [{"days": ["sun", "mon", "tue", "wed", "thu", "fri", "sat"], "open": "00:00",
                                 "close": "24:00"}]  # fmt: skip
    data["hotline"].pop("holidays", None)
    data["ivr"]["retries"] = 1
    data["ivr"]["digit_timeout_seconds"] = 2
    data["queues"]["wrapup_seconds"] = 2
    assert data["nuisance"] == {"max_short_calls": 5, "within_minutes": 2, "short_call_seconds": 10,
                                "block_minutes": 60, "block_withheld": False}  # fmt: skip
    target.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return target


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    workdir = tmp_path_factory.mktemp("hotline-screening")
    with running_rig(workdir, "e2e-screening", _profile(workdir / "profile.yaml"), verbose=True) as rig:
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

    def of(self, name: str, linkedid: str) -> list[dict[str, str]]:
        return [e for e in self.seen if e.get("Event") == name and e.get("Linkedid") == linkedid]


@pytest_asyncio.fixture
async def agent(rig: Rig) -> AsyncIterator[AgentPhone]:
    """The Arabic complaints agent: registered, logged in (*41), free; talks 2 s, then hangs up."""
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


def invites_to(phone: AgentPhone) -> int:
    """INVITEs the phone received (every one, answered or not), from its SIPp log."""
    lines = phone.log_file.read_text(errors="replace").splitlines() if phone.log_file.exists() else []
    return len({line.split()[2] for line in lines if line.split()[1:2] == ["FROM"] and len(line.split()) > 2})


async def call(rig: Rig, caller: str, **kwargs: Any) -> CallResult:
    return await place_call(
        "127.0.0.1", rig.sip_port, number="1444", caller_number=caller, workdir=rig.workdir / "callers", **kwargs
    )


async def records_of(rig: Rig, number: str, count: int) -> list[CallRecord]:
    found = await rig.records_of(number, at_least=count, timeout=20)
    assert len(found) >= count, f"{number}: {len(found)} records, expected {count}"
    return sorted(found, key=lambda r: r.started_at)


def agi_log(rig: Rig, uniqueid: str) -> list[str]:
    """The AGI commands sent (>>) and replies (<<) of one channel, from the service's debug log."""
    text = (rig.workdir / "service.log").read_text(encoding="utf-8", errors="replace")
    return [line.split(f"AGI {uniqueid} ", 1)[1] for line in text.splitlines() if f"AGI {uniqueid} " in line]


async def screening_rows(rig: Rig) -> tuple[list[tuple[str, Any]], list[Any]]:
    async with ScreeningStore(rig.db_url) as store:
        from datetime import UTC, datetime

        return await store.warnings(), await store.current(datetime.now(UTC))


def api(rig: Rig, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    """The service's REST API with the admin token it wrote for local tools."""
    from hotline.settings import Settings

    token = (Settings.from_env(rig.env).service_dir / "service-token").read_text().strip()
    request = urllib.request.Request(
        f"http://127.0.0.1:{rig.http_port}/api/v1{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def cli(rig: Rig, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hotline", *args], env=rig.env, cwd=PROJECT_ROOT, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip


async def short_calls(rig: Rig, number: str, already: int, count: int, seconds: float = 1.5) -> list[CallRecord]:
    """``count`` calls hanging up ``seconds`` after the answer, each stored before the next is placed."""
    for i in range(count):
        result = await call(rig, number, hangup_after=seconds, max_duration=20)
        assert result.answered and not result.remote_hung_up, result
        await records_of(rig, number, already + i + 1)
    return (await records_of(rig, number, already + count))[already:]


async def test_a_number_making_short_calls_is_warned_then_blocked_and_never_reaches_the_free_agent(
    rig: Rig, agent: AgentPhone
) -> None:
    async with Events(rig, ["UserEvent", "QueueCallerJoin", "AgentCalled"]) as events:
        # The control: another number keying Arabic, then complaints, reaches the free agent.
        control = await call(rig, CONTROL, dtmf=[(1.0, "1"), (2.0, "1")], hangup_after=8, max_duration=30)
        assert control.answered, control
        [control_record] = await records_of(rig, CONTROL, 1)
        assert control_record.agent == AGENT, control_record
        await rig.wait_for(lambda: _taking_calls(rig, AGENT), timeout=20, what=f"{AGENT} free again")
        rang = invites_to(agent)
        assert rang >= 1

        first = await short_calls(rig, NUISANCE, 0, 5)
        assert all((r.ended_at - r.started_at).total_seconds() < 10 for r in first)  # type: ignore[operator]
        await rig.wait_for(lambda: _warned(rig, NUISANCE), timeout=10, what=f"{NUISANCE} warned")
        assert (await screening_rows(rig))[1] == []  # warned, not blocked

        # The next call hears the warning, then the menu; the one after does not hear it again.
        warned = await short_calls(rig, NUISANCE, 5, 1, seconds=5.0)
        log = agi_log(rig, warned[0].linkedid)
        stream = next(i for i, line in enumerate(log) if "STREAM FILE" in line and "all/nuisance-warning" in line)
        assert re.search(r"result=0 endpos=[1-9]", log[stream + 1]), log  # played to its end
        assert any("GET DATA" in line and "all/language" in line for line in log[stream + 2 :]), log
        rest = await short_calls(rig, NUISANCE, 6, 4)
        assert not any("nuisance-warning" in line for r in rest for line in agi_log(rig, r.linkedid))

        await rig.wait_for(lambda: _blocked(rig, NUISANCE), timeout=10, what=f"{NUISANCE} blocked")
        _, blocks = await screening_rows(rig)
        [block] = [b for b in blocks if b.number == NUISANCE]
        assert block.source == "automatic" and block.expires_at is not None
        assert 59 * 60 < (block.expires_at - block.created_at).total_seconds() <= 60 * 60

        # Blocked: hears the message, is hung up by us, recorded as blocked.
        blocked = await call(rig, NUISANCE, max_duration=30)
        assert blocked.answered and blocked.remote_hung_up, blocked
        [record] = (await records_of(rig, NUISANCE, 11))[10:]
        assert record.outcome is Outcome.BLOCKED and record.agent is None and record.queue is None
        heard = await events.wait(
            lambda e: e.get("UserEvent") == "HotlineBlocked" and e.get("Linkedid") == record.linkedid,
            timeout=10,
            what="HotlineBlocked",
        )
        assert heard["Status"] == "SUCCESS", heard
        route = [e for e in events.of("UserEvent", record.linkedid) if e.get("UserEvent") == "HotlineRoute"]
        assert [e["Result"] for e in route] == ["BLOCKED"]

        # Never a person: none of the number's 11 calls joined a queue or rang anyone; the agent stayed free.
        nuisance_ids = {r.linkedid for r in await records_of(rig, NUISANCE, 11)}
        joined = [e for e in events.seen if e.get("Event") in ("QueueCallerJoin", "AgentCalled")
                  and (e.get("Linkedid") in nuisance_ids or e.get("CallerIDNum") == NUISANCE)]  # fmt: skip
        assert joined == []
        assert invites_to(agent) == rang and await _taking_calls(rig, AGENT)


async def _warned(rig: Rig, number: str) -> bool:
    warnings, _ = await screening_rows(rig)
    return any(n == number for n, _ in warnings)


async def _blocked(rig: Rig, number: str) -> bool:
    _, blocks = await screening_rows(rig)
    return any(b.number == number for b in blocks)


async def test_a_number_blocked_by_a_supervisor_hears_the_message_and_is_hung_up(rig: Rig, agent: AgentPhone) -> None:
    status, answer = api(rig, "POST", "/screening/blocks", {"number": "055 130 0002", "reason": "abusive calls"})
    assert status == 201 and answer["number"] == MANUAL and answer["source"] == "manual", answer
    status, answer = api(rig, "POST", "/screening/blocks", {"number": "05513a0002", "reason": "abusive"})
    assert status == 400 and "number must be a phone number" in answer["error"]
    rang = invites_to(agent)
    async with Events(rig, ["UserEvent", "QueueCallerJoin"]) as events:
        result = await call(rig, MANUAL, max_duration=30)
        assert result.answered and result.remote_hung_up, result
        [record] = await records_of(rig, MANUAL, 1)
        assert record.outcome is Outcome.BLOCKED
        heard = await events.wait(
            lambda e: e.get("UserEvent") == "HotlineBlocked" and e.get("Linkedid") == record.linkedid,
            timeout=10,
            what="HotlineBlocked",
        )
        assert heard["Status"] == "SUCCESS"
        assert not [
            e for e in events.seen if e.get("Event") == "QueueCallerJoin" and e.get("Linkedid") == record.linkedid
        ]
    assert invites_to(agent) == rang
    # Unblocked (with the CLI, through the running service), the number reaches the menu again.
    refused = cli(rig, "block", "add", "05513a0002", "--reason", "abusive")
    assert refused.returncode == 1 and "number must be a phone number" in refused.stderr
    listed = cli(rig, "block", "list")
    assert listed.returncode == 0 and MANUAL in [b["number"] for b in json.loads(listed.stdout)]
    removed = cli(rig, "block", "remove", MANUAL)
    assert removed.returncode == 0, removed.stderr
    assert json.loads(removed.stdout)[0]["removed_by"] == "local admin"
    again = await call(rig, MANUAL, hangup_after=2, max_duration=20)
    assert again.answered and not again.remote_hung_up
    records = await records_of(rig, MANUAL, 2)
    assert records[-1].outcome is not Outcome.BLOCKED
    assert any("GET DATA" in line for line in agi_log(rig, records[-1].linkedid))
