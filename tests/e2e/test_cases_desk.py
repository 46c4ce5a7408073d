"""The agent's desk in a real browser (Debian's chromium through Playwright) against a real Asterisk 22 and
SIPp, on each of the two case lines, the municipal 940 and the complaints line 16528 (both Arabic only):

* an agent (role ``agent``, made with ``hotline user add --role agent --person ID``) signs in and is taken to
  their desk; a SIPp caller picks a topic and reaches that agent's SIPp phone; the screen pop shows the caller's
  number, language and topic within seconds of the phone answering (the test waits on the DOM); the agent opens
  a case from the page and picks a wrap-up code; after the agent hangs up the caller hears the case number; the
  call record has the code and the case has the call;
* a repeat caller pops with their earlier call and open case, and the agent adds the call to that case;
* on a bare SIP phone the agent keys ``*5`` and a wrap-up code after a call: the record gets it; an unknown
  code is refused (the agent hears agent-failed) and changes nothing.

One Asterisk and one service per profile: the module's rig is parametrized by the line, one at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
import yaml
from conftest import (  # tests/e2e on sys.path
    CONSOLE_PASSWORD,
    PROJECT_ROOT,
    Rig,
    running_rig,
)
from playwright.async_api import Page, expect
from support.eventually import eventually

from cases.db import CaseStore
from cases.service import CaseService
from cdr.builder import Outcome
from profiles.model import Profile, load_profile
from telephony.sipp.driver import AgentPhone, CallResult, place_call

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class Line:
    """One hotline with cases, and what the tests key and expect on it."""

    profile: str  # the file under profiles/
    number: str
    topic_key: str  # a topic an agent takes (not a self-service one)
    topic: str
    topic_label: str
    agent: str  # the person whose phone takes that topic here (the only one logged in)
    opened: str  # the wrap-up code (disposition id) for "a case was opened"
    phone_code: str  # keyed after *5 on the phone ...
    phone_code_id: str  # ... and the disposition it is


LINES = [
    pytest.param(Line("municipal-940.yaml", "940", "4", "parks", "صيانة الحدائق والمرافق البلدية", "agent-940-2",
                      "case_opened", "2", "added_to_case"), id="940"),
    pytest.param(Line("complaints-16528.yaml", "16528", "2", "electricity", "الكهرباء", "agent-16528-1",
                      "registered", "3", "status_given"), id="16528"),
]  # fmt: skip
AGENT_USER = "e2e-desk-agent"


def _short_profile(line: Line, target: Path) -> Path:
    """The line's profile with short prompts and timeouts; the menus, categories and case rules as shipped."""
    data = yaml.safe_load((PROJECT_ROOT / "profiles" / line.profile).read_text(encoding="utf-8"))
    data["ivr"]["retries"] = 1
    data["ivr"]["digit_timeout_seconds"] = 2
    for name, text in {
        "welcome": "أهلا",
        "choose_topic": "النوع",
        "option": "{key}",
        "invalid": "عذرا",
        "case_number_is": "الرقم",
        "case_pin_is": "السري",
        "case_goodbye": "سلام",
        "follow_option": "{key}",
    }.items():
        data["prompts"][name] = {"ar": text}
    data.setdefault("queues", {})["wrapup_seconds"] = 2
    data["routing"] = {**data.get("routing", {}), "widen_after_seconds": 5, "overflow_after_seconds": 90}
    target.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return target


@pytest.fixture(scope="module", params=LINES)
def line(request: pytest.FixtureRequest) -> Line:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory, line: Line) -> Iterator[Rig]:
    workdir = tmp_path_factory.mktemp(f"hotline-cases-desk-{line.number}")
    with running_rig(workdir, f"e2e-desk-{line.number}", _short_profile(line, workdir / "profile.yaml")) as rig:
        yield rig


@pytest.fixture(scope="module")
def profile(rig: Rig) -> Profile:
    return load_profile(rig.env["HOTLINE_PROFILE"])


@pytest.fixture(scope="module")
def agent_user(rig: Rig, line: Line) -> str:
    """The agent's console login, made with the command line as an operator would (Arabic)."""
    done = subprocess.run(
        [sys.executable, "-m", "hotline", "user", "add", AGENT_USER, "--role", "agent", "--person", line.agent,
         "--language", "ar", "--password-stdin"],
        input=CONSOLE_PASSWORD + "\n", env=rig.env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return AGENT_USER


@pytest_asyncio.fixture
async def cases(rig: Rig, profile: Profile) -> AsyncIterator[CaseService]:
    """The case service on the service's database, to look at what the desk made."""
    store = CaseStore(rig.db_url)
    yield CaseService(profile, store)
    await store.close()


async def _taking_calls(rig: Rig, person: str) -> bool:
    return person in (rig.health() or {}).get("taking_calls", [])


@contextlib.asynccontextmanager
async def agent_phone(rig: Rig, line: Line, talk_seconds: float) -> AsyncIterator[AgentPhone]:
    """The line's agent's phone, logged in with *41; it answers, talks ``talk_seconds``, then hangs up."""
    phone = rig.phone(line.agent, talk_seconds=talk_seconds)
    await phone.start()
    try:
        await phone.register()
        result = await phone.dial("*41")
        assert result.answered, result.error
        await rig.wait_for(lambda: _taking_calls(rig, line.agent), timeout=15, what=f"{line.agent} to take calls")
        yield phone
    finally:
        try:
            await phone.dial("*42")
            await phone.unregister()
        finally:
            await phone.stop()


async def call(rig: Rig, line: Line, caller: str, **kwargs: object) -> CallResult:
    return await place_call(
        "127.0.0.1",
        rig.sip_port,
        number=line.number,
        caller_number=caller,
        dtmf=[(1.0, line.topic_key)],
        workdir=rig.workdir / "callers",
        **kwargs,  # type: ignore[arg-type]
    )


def base(rig: Rig) -> str:
    return f"http://127.0.0.1:{rig.http_port}"


async def sign_in(chromium, rig: Rig, name: str) -> Page:  # type: ignore[no-untyped-def]
    context = await chromium.new_context(viewport={"width": 1180, "height": 900})
    page = await context.new_page()
    await page.goto(base(rig) + "/login")
    await page.fill('input[name="name"]', name)
    await page.fill('input[name="password"]', CONSOLE_PASSWORD)
    async with page.expect_navigation():
        await page.click('button[type="submit"]')
    assert page.url == base(rig) + "/desk", (page.url, await page.content())  # an agent lands on their desk
    await expect(page.locator("#live")).not_to_have_class("live off", timeout=5000)  # the desk's socket is up
    return page


class Readbacks:
    """The test's own AMI connection: the read-back UserEvents (the case number heard by the caller)."""

    def __init__(self, rig: Rig) -> None:
        self.client = rig.ami()
        self.seen: list[dict[str, str]] = []
        self.client.add_event_handler(self._on_event, events=["UserEvent"])

    def _on_event(self, message) -> None:  # type: ignore[no-untyped-def]
        headers = dict(message.headers)
        if headers.get("UserEvent") == "HotlineCaseReadback":
            self.seen.append(headers)

    async def __aenter__(self) -> Readbacks:
        await self.client.start()
        await self.client.wait_connected(10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.close()

    async def of(self, case: str, timeout: float) -> dict[str, str]:
        async def found() -> dict[str, str] | None:
            return next((e for e in self.seen if e.get("Case") == case), None)

        return await eventually(found, timeout=timeout, interval=0.2, what=f"the read-back of case {case}")


async def test_the_screen_pop_shows_the_call_and_the_agent_opens_a_case_and_picks_a_wrapup_code(
    rig: Rig,
    line: Line,
    chromium,
    agent_user: str,
    cases: CaseService,  # type: ignore[no-untyped-def]
) -> None:
    caller_number = "0551200001"
    page = await sign_in(chromium, rig, agent_user)
    assert await page.get_attribute("html", "dir") == "rtl"
    assert await page.locator('a[href="/agents"]').count() == 0  # no supervisor pages for an agent
    async with Readbacks(rig) as readbacks, agent_phone(rig, line, talk_seconds=20.0) as phone:
        caller = asyncio.create_task(call(rig, line, caller_number, max_duration=90))
        try:
            await expect(page.locator("#pop-number")).to_have_text(caller_number, timeout=25000)
            shown_at = await page.evaluate("Date.now()") / 1000
            await expect(page.locator("#pop-topic")).to_have_text(line.topic_label)
            await expect(page.locator("#pop-language")).to_have_text("العربية")
            await expect(page.locator("#pop-path")).to_contain_text(line.topic_label)
            linkedid = await page.get_attribute("#pop", "data-linkedid")
            assert linkedid
            # the category is the call's topic by default
            assert await page.input_value("#case-category") == line.topic
            await page.fill("#case-description", "انقطاع متكرر منذ ثلاثة أيام")
            await page.select_option("#case-district", index=1)
            await page.fill("#case-location", "قرب المسجد")
            await page.click("#case-submit")
            await expect(page.locator("#case-created")).to_be_visible(timeout=5000)
            number = (await page.text_content("#case-number") or "").strip()
            assert len(number) == 9 and number.isdigit(), number
            await page.click(f'#wrapup-codes button[data-code="{line.opened}"]')
            await expect(page.locator("#wrapup-chosen")).to_be_visible(timeout=5000)
            await expect(page.locator(f'#wrapup-codes button[data-code="{line.opened}"]')).to_have_class("chosen")
            # after the agent hangs up, the page shows the call in wrap-up and the caller hears the number
            await expect(page.locator("#pop-state")).to_have_attribute("data-ended", "true", timeout=25000)
            readback = await readbacks.of(number, timeout=60)  # sent once the number and PIN were read out
            result = await caller
        finally:
            if not caller.done():
                caller.cancel()
        assert result.answered and result.remote_hung_up, result.error  # Asterisk ended it after the read-back
        assert readback["Status"] == "SUCCESS"
        (answered,) = phone.answered_calls()
        assert answered.caller_number == caller_number
    (record,) = await rig.records_of(caller_number)
    assert record.linkedid == linkedid and record.outcome is Outcome.ANSWERED and record.agent == line.agent
    assert record.wrapup_code == line.opened
    case = await cases.get(number)
    assert (case.category, case.caller_number, case.language, case.source, case.created_by) == (
        line.topic, caller_number, "ar", "desk", agent_user)  # fmt: skip
    assert case.linkedids == (linkedid,) and case.location == "قرب المسجد" and case.district is not None
    # the figure: how long after the agent's phone answered the browser showed the call
    pop_seconds = shown_at - answered.at
    print(f"{line.number}: screen pop shown {pop_seconds:.2f} s after the agent's phone answered")
    assert pop_seconds < 5.0
    await page.context.close()


@pytest.mark.one_line  # on the first line only: it proves the code, not the profile
async def test_a_wrapup_code_keyed_on_the_phone_lands_on_the_last_call(rig: Rig, line: Line) -> None:
    caller_number = "0551200002"
    async with agent_phone(rig, line, talk_seconds=3.0) as phone:
        result = await call(rig, line, caller_number, max_duration=60)
        assert result.answered, result.error
        (record,) = await rig.records_of(caller_number)
        assert record.agent == line.agent and record.wrapup_code is None
        unknown = await phone.dial("*59")  # no topic has a code 9: refused, the agent hears agent-failed
        assert unknown.answered, unknown.error
        keyed = await phone.dial(f"*5{line.phone_code}")
        assert keyed.answered, keyed.error

        async def coded() -> str | None:
            (now,) = await rig.records_of(caller_number)
            return now.wrapup_code

        assert await rig.wait_for(coded, timeout=10, what="the wrap-up code on the record") == line.phone_code_id
    log = (rig.workdir / "service.log").read_text(encoding="utf-8", errors="replace")
    assert f"wrap-up code 9 from {line.agent} refused" in log
    assert f"{line.agent}: wrap-up code {line.phone_code} from the phone" in log


@pytest.mark.one_line  # on the first line only: it proves the code, not the profile
async def test_a_repeat_caller_pops_with_their_earlier_call_and_open_case_and_the_agent_adds_the_call_to_it(
    rig: Rig,
    line: Line,
    chromium,
    agent_user: str,
    cases: CaseService,  # type: ignore[no-untyped-def]
) -> None:
    caller_number = "0551200003"
    existing = await cases.open(category=line.topic, description="شكوى سابقة لم تحل", caller_number=caller_number,
                                language="ar", actor="e2e", source="api")  # fmt: skip
    page = await sign_in(chromium, rig, agent_user)
    async with agent_phone(rig, line, talk_seconds=2.0):
        first = await call(rig, line, caller_number, max_duration=60)
        assert first.answered, first.error
        (earlier,) = await rig.records_of(caller_number)
    async with agent_phone(rig, line, talk_seconds=15.0):
        caller = asyncio.create_task(call(rig, line, caller_number, max_duration=60))
        try:
            # the page still shows the first call (in wrap-up): wait for the new one
            await expect(page.locator("#pop")).not_to_have_attribute("data-linkedid", earlier.linkedid, timeout=25000)
            await expect(page.locator("#pop-number")).to_have_text(caller_number)
            linkedid = await page.get_attribute("#pop", "data-linkedid")
            assert linkedid
            # the number's earlier call and its open case, pushed after the pop
            await expect(page.locator(f'#earlier tr[data-linkedid="{earlier.linkedid}"]')).to_be_visible(timeout=5000)
            row = page.locator(f'#open-cases tr[data-case="{existing.number}"]')
            await expect(row).to_be_visible()
            await row.locator("button.link-call").click()
            await expect(row).to_have_attribute("data-linked", "yes", timeout=5000)
            await page.click('#wrapup-codes button[data-code="added_to_case"]')
            await expect(page.locator("#wrapup-chosen")).to_have_attribute("data-code", "added_to_case")
            result = await caller
        finally:
            if not caller.done():
                caller.cancel()
        assert result.answered, result.error
    linked = await cases.get(existing.number)
    assert linked.linkedids == (linkedid,)
    records = {r.linkedid: r for r in await rig.records_of(caller_number, at_least=2)}
    assert records[linkedid].wrapup_code == "added_to_case" and records[earlier.linkedid].wrapup_code is None
    await page.context.close()
