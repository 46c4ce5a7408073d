"""The agent's desk in a real browser (Debian's chromium through Playwright) against a real Asterisk 22 and
SIPp, on the municipal 940 profile (Arabic only):

* an agent (role ``agent``, made with ``hotline user add --role agent --person agent-940-2``) signs in and is
  taken to their desk; a SIPp caller picks parks and reaches that agent's SIPp phone; the screen pop shows the
  caller's number, language and topic within seconds of AgentConnect (the test waits on the DOM); the agent
  opens a case from the page and picks a wrap-up code; the call record has the code and the case has the call;
* on a bare SIP phone the agent keys ``*5`` and a wrap-up code after a call: the record gets it; an unknown
  code is refused (the agent hears agent-failed) and changes nothing.

One Asterisk and one service for the module (a profile of its own).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
import yaml
from conftest import CONSOLE_PASSWORD, PROJECT_ROOT, Rig, _free_tcp_port  # tests/e2e is on sys.path
from playwright.async_api import Page, expect
from tcp_proxy import TcpProxy

from cases.db import CaseStore
from cases.service import CaseService
from cdr.builder import Outcome
from profiles.model import Profile, load_profile
from telephony.asterisk import Credentials
from telephony.sipp.driver import AgentPhone, CallResult, free_udp_port, place_call

pytestmark = pytest.mark.e2e

NUMBER = "940"
PARKS = "4"  # parks: agent-940-2 takes it (not a self-service topic)
AGENT = "agent-940-2"
AGENT_USER = "e2e-desk-reem"
PARKS_LABEL = "صيانة الحدائق والمرافق البلدية"


def _short_940(target: Path) -> Path:
    """The 940 profile with short prompts and timeouts; the menus, categories and case rules as shipped."""
    data = yaml.safe_load((PROJECT_ROOT / "profiles" / "municipal-940.yaml").read_text(encoding="utf-8"))
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
    data["queues"]["wrapup_seconds"] = 2
    data["routing"]["widen_after_seconds"] = 5
    data["routing"]["overflow_after_seconds"] = 90
    target.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return target


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    workdir = tmp_path_factory.mktemp("hotline-cases-desk")
    sip_port, http_port, ami_port = free_udp_port(), _free_tcp_port(), _free_tcp_port()
    db_url = f"sqlite:///{workdir / 'records.db'}"
    env = {
        **os.environ,
        "HOTLINE_PROFILE": str(_short_940(workdir / "profile.yaml")),
        "HOTLINE_DB_URL": db_url,
        "HOTLINE_INSTANCE": f"e2e-desk-{os.getpid()}",
        "HOTLINE_SIP_PORT": str(sip_port),
        "HOTLINE_AMI_PORT": str(ami_port),
        "HOTLINE_AGI_PORT": str(_free_tcp_port()),
        "HOTLINE_HTTP_PORT": str(http_port),
        "HOTLINE_TRUNK_CONTACT": f"sip:127.0.0.1:{free_udp_port()}",
    }
    rig = Rig(workdir, env, sip_port, http_port, db_url, Credentials("", "", {}), ami_port=ami_port)
    rig.ami_proxy = TcpProxy(ami_port)
    asterisk = rig._spawn("asterisk", "start", log_name="asterisk.log")
    instance_dir: Path | None = None
    try:
        deadline = time.monotonic() + 180
        while "Asterisk is up" not in (workdir / "asterisk.log").read_text(errors="replace"):
            if asterisk.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("Asterisk did not start:\n" + (workdir / "asterisk.log").read_text())
            time.sleep(0.2)
        from hotline.settings import Settings
        from telephony.asterisk import AsteriskInstance
        from telephony.provision import current_root

        settings = Settings.from_env(env)
        root = current_root(settings.cache_dir)
        assert root is not None
        instance = AsteriskInstance(root, settings)
        instance_dir = instance.host_dir
        rig.credentials = instance.credentials()
        rig.start_service()
        yield rig
    finally:
        rig.stop_service()
        rig.ami_proxy.close()
        asterisk.send_signal(signal.SIGTERM)
        try:
            asterisk.wait(30)
        except subprocess.TimeoutExpired:
            asterisk.kill()
            asterisk.wait()
        if instance_dir is not None and instance_dir.is_dir():
            shutil.copytree(instance_dir / "log", workdir / "asterisk-log", dirs_exist_ok=True)
            shutil.rmtree(instance_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def profile(rig: Rig) -> Profile:
    return load_profile(rig.env["HOTLINE_PROFILE"])


@pytest.fixture(scope="module")
def agent_user(rig: Rig) -> str:
    """The agent's console login, made with the command line as an operator would (Arabic)."""
    done = subprocess.run(
        [sys.executable, "-m", "hotline", "user", "add", AGENT_USER, "--role", "agent", "--person", AGENT,
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
async def agent_phone(rig: Rig, talk_seconds: float) -> AsyncIterator[AgentPhone]:
    """agent-940-2's phone, logged in with *41; it answers, talks ``talk_seconds``, then hangs up."""
    phone = rig.phone(AGENT, talk_seconds=talk_seconds)
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


async def call(rig: Rig, caller: str, **kwargs: object) -> CallResult:
    return await place_call(
        "127.0.0.1",
        rig.sip_port,
        number=NUMBER,
        caller_number=caller,
        dtmf=[(1.0, PARKS)],
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


async def test_the_screen_pop_shows_the_call_and_the_agent_opens_a_case_and_picks_a_wrapup_code(
    rig: Rig,
    chromium,
    agent_user: str,
    cases: CaseService,  # type: ignore[no-untyped-def]
) -> None:
    caller_number = "0551200001"
    page = await sign_in(chromium, rig, agent_user)
    assert await page.get_attribute("html", "dir") == "rtl"
    assert await page.locator('a[href="/agents"]').count() == 0  # no supervisor pages for an agent
    async with agent_phone(rig, talk_seconds=20.0) as phone:
        caller = asyncio.create_task(call(rig, caller_number, max_duration=90))
        try:
            await expect(page.locator("#pop-number")).to_have_text(caller_number, timeout=25000)
            shown_at = await page.evaluate("Date.now()") / 1000
            await expect(page.locator("#pop-topic")).to_have_text(PARKS_LABEL)
            await expect(page.locator("#pop-language")).to_have_text("العربية")
            await expect(page.locator("#pop-path")).to_contain_text(PARKS_LABEL)
            linkedid = await page.get_attribute("#pop", "data-linkedid")
            assert linkedid
            connected = await page.evaluate("document.getElementById('pop').dataset.linkedid")
            assert connected == linkedid
            # the category is the call's topic by default
            assert await page.input_value("#case-category") == "parks"
            await page.fill("#case-description", "مقعد مكسور في حديقة الحي")
            await page.select_option("#case-district", index=1)
            await page.fill("#case-location", "قرب المسجد")
            await page.click("#case-submit")
            await expect(page.locator("#case-created")).to_be_visible(timeout=5000)
            number = (await page.text_content("#case-number") or "").strip()
            assert len(number) == 9 and number.isdigit(), number
            await page.click('#wrapup-codes button[data-code="case_opened"]')
            await expect(page.locator("#wrapup-chosen")).to_be_visible(timeout=5000)
            await expect(page.locator('#wrapup-codes button[data-code="case_opened"]')).to_have_class("chosen")
            result = await caller
        finally:
            if not caller.done():
                caller.cancel()
        assert result.answered, result.error
        (answered,) = phone.answered_calls()
        assert answered.caller_number == caller_number
        # after the agent hangs up, the page shows the call in wrap-up
        await expect(page.locator("#pop-state")).to_have_attribute("data-ended", "true", timeout=10000)
    (record,) = await rig.records_of(caller_number)
    assert record.linkedid == linkedid and record.outcome is Outcome.ANSWERED and record.agent == AGENT
    assert record.wrapup_code == "case_opened"
    case = await cases.get(number)
    assert (case.category, case.caller_number, case.language, case.source, case.created_by) == (
        "parks", caller_number, "ar", "desk", agent_user)  # fmt: skip
    assert case.linkedids == (linkedid,) and case.location == "قرب المسجد" and case.district is not None
    # the figure: how long after AgentConnect the browser showed the call
    assert answered.at is not None
    pop_seconds = shown_at - answered.at
    print(f"screen pop shown {pop_seconds:.2f} s after the agent's phone answered")
    assert pop_seconds < 5.0
    await page.context.close()


async def test_a_wrapup_code_keyed_on_the_phone_lands_on_the_last_call(rig: Rig) -> None:
    caller_number = "0551200002"
    async with agent_phone(rig, talk_seconds=3.0) as phone:
        result = await call(rig, caller_number, max_duration=60)
        assert result.answered, result.error
        (record,) = await rig.records_of(caller_number)
        assert record.agent == AGENT and record.wrapup_code is None
        unknown = await phone.dial("*59")  # parks has no code 9: refused, the agent hears agent-failed
        assert unknown.answered, unknown.error
        keyed = await phone.dial("*52")  # parks' code 2: added_to_case
        assert keyed.answered, keyed.error

        async def coded() -> str | None:
            (now,) = await rig.records_of(caller_number)
            return now.wrapup_code

        assert await rig.wait_for(coded, timeout=10, what="the wrap-up code on the record") == "added_to_case"
    log = (rig.workdir / "service.log").read_text(encoding="utf-8", errors="replace")
    assert f"wrap-up code 9 from {AGENT} refused" in log
    assert f"{AGENT}: wrap-up code 2 from the phone" in log


async def test_a_repeat_caller_pops_with_their_earlier_call_and_open_case_and_the_agent_adds_the_call_to_it(
    rig: Rig,
    chromium,
    agent_user: str,
    cases: CaseService,  # type: ignore[no-untyped-def]
) -> None:
    caller_number = "0551200003"
    existing = await cases.open(category="parks", description="إنارة الحديقة معطلة", caller_number=caller_number,
                                language="ar", actor="e2e", source="api")  # fmt: skip
    page = await sign_in(chromium, rig, agent_user)
    async with agent_phone(rig, talk_seconds=2.0):
        first = await call(rig, caller_number, max_duration=60)
        assert first.answered, first.error
        (earlier,) = await rig.records_of(caller_number)
    async with agent_phone(rig, talk_seconds=15.0):
        caller = asyncio.create_task(call(rig, caller_number, max_duration=60))
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
