"""The supervisor console in a real browser (Debian's chromium through Playwright) against real
Asterisk 22 and SIPp phones that log in with *41. What the browser shows is checked against what
Asterisk has (AMI QueueStatus through ``rig.members``)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from conftest import CONSOLE_PASSWORD
from playwright.async_api import Page, expect

from telephony.sipp.driver import place_call

PROJECT_ROOT = Path(__file__).resolve().parents[2]


pytestmark = pytest.mark.e2e

ARABIC, GENERAL = "1", "4"


def base(rig) -> str:
    return f"http://127.0.0.1:{rig.http_port}"


async def sign_in(chromium, rig, name: str) -> Page:
    context = await chromium.new_context(viewport={"width": 1180, "height": 760})
    page = await context.new_page()
    await page.goto(base(rig) + "/login")
    await page.fill('input[name="name"]', name)
    await page.fill('input[name="password"]', CONSOLE_PASSWORD)
    async with page.expect_navigation():
        await page.click('button[type="submit"]')
    assert page.url == base(rig) + "/", (page.url, await page.content())
    await expect(page.locator("#live")).not_to_have_class("live off", timeout=5000)  # the WebSocket is up
    return page


async def fetch_status(page: Page, method: str, path: str, body: dict | None = None) -> list:
    """A same-origin request from the page, with the session cookie and the page's CSRF token."""
    return await page.evaluate(
        """async ([method, path, body]) => {
            const csrf = document.querySelector('meta[name="csrf-token"]').content;
            const r = await fetch(path, {method, headers: {'Content-Type': 'application/json', 'X-CSRF-Token': csrf},
                                         body: body === null ? undefined : JSON.stringify(body)});
            return [r.status, (await r.json()).error || null];
        }""",
        [method, path, body],
    )


async def active(rig, queue: str) -> int:
    return sum(m["Paused"] == "0" for m in (await rig.members(queue)).values())


async def test_a_supervisor_pauses_an_agent_and_the_wallboard_shows_it(rig, phones, chromium, console_users):
    await phones("agent-ar-2")
    board = await sign_in(chromium, rig, console_users["supervisor"])
    paused = board.locator('[data-total="paused"]')
    before = int(await paused.text_content())
    agents = await board.context.new_page()
    await agents.goto(base(rig) + "/agents")
    await agents.click('button[data-act="agent"][data-person="agent-ar-2"][data-action="pause"]')

    # the wallboard (another tab, no reload) and the agents page follow the AMI events
    await expect(paused).to_have_text(str(before + 1), timeout=3000)
    await expect(agents.locator('[data-agent-state="agent-ar-2"]')).to_have_attribute("data-state", "paused")
    members = await rig.members("ar-general")
    assert members["agent-ar-2"]["Paused"] == "1" and members["agent-ar-2"]["PausedReason"] == "supervisor"

    await agents.click('button[data-act="agent"][data-person="agent-ar-2"][data-action="unpause"]')
    await expect(paused).to_have_text(str(before), timeout=3000)
    await board.context.close()


async def test_a_supervisor_raises_seats_and_asterisk_follows(rig, phones, chromium, console_users):
    # ar-complaints has one seat in every shift of the test profile; two agents serve it.
    await phones("agent-ar-1")
    await phones("agent-ar-3")
    await rig.wait_for(lambda: _count_is(rig, "ar-complaints", 1), timeout=10, what="one seat taken")
    page = await sign_in(chromium, rig, console_users["supervisor"])
    await page.goto(base(rig) + "/queues")
    seats = page.locator('input[data-seats-for="ar-complaints"]')
    await seats.fill("2")
    await page.click('button[data-act="seats"][data-queue="ar-complaints"]')
    await expect(page.locator("#flash")).to_have_text("Done.")
    await rig.wait_for(lambda: _count_is(rig, "ar-complaints", 2), timeout=5, what="the second seat in Asterisk")

    await seats.fill("1")
    await page.click('button[data-act="seats"][data-queue="ar-complaints"]')
    await rig.wait_for(lambda: _count_is(rig, "ar-complaints", 1), timeout=5, what="back to one seat")
    await page.context.close()


async def test_a_viewer_cannot_change_anything(rig, phones, chromium, console_users):
    await phones("agent-ar-2")
    page = await sign_in(chromium, rig, console_users["viewer"])
    await page.goto(base(rig) + "/agents")
    assert await page.locator("button[data-act]").count() == 0
    assert await page.locator('form[data-skills-for] input[type="checkbox"]:not([disabled])').count() == 0
    await page.goto(base(rig) + "/queues")
    assert await page.locator("button[data-act]").count() == 0
    assert await page.locator('input[data-seats-for="ar-complaints"]').is_disabled()

    before = await rig.members("ar-general")
    for method, path, body in (
        ("POST", "/api/v1/agents/agent-ar-2/pause", {"reason": "viewer"}),
        ("POST", "/api/v1/agents/agent-ar-2/logout", None),
        ("PUT", "/api/v1/queues/ar-complaints/seats", {"seats": 5}),
        ("PUT", "/api/v1/agents/agent-ar-2/skills", {"topics": ["general"]}),
    ):
        status, message = await fetch_status(page, method, path, body)
        assert status == 403 and "viewer" in message, (path, status, message)
    after = await rig.members("ar-general")
    assert after["agent-ar-2"]["Paused"] == before["agent-ar-2"]["Paused"]
    await page.context.close()


async def test_the_arabic_console_is_right_to_left(rig, chromium, console_users):
    page = await sign_in(chromium, rig, console_users["viewer"])  # the viewer chose Arabic
    assert await page.get_attribute("html", "lang") == "ar"
    assert await page.get_attribute("html", "dir") == "rtl"
    assert await page.evaluate("getComputedStyle(document.body).direction") == "rtl"
    assert await page.evaluate("getComputedStyle(document.querySelector('#wallboard th')).direction") == "rtl"
    await expect(page.locator("h1")).to_have_text("اللوحة الحية")
    # the switch in the header: English, left to right, stored on the user; then back
    await page.click("#lang-switch")
    await expect(page.locator("html")).to_have_attribute("dir", "ltr")
    assert await page.evaluate("getComputedStyle(document.body).direction") == "ltr"
    await page.click("#lang-switch")
    await expect(page.locator("html")).to_have_attribute("dir", "rtl")
    await page.context.close()


async def test_wallboard_under_load_screenshot(rig, phones, chromium, console_users):
    """Two agents on calls and callers waiting: the wallboard shows it; its screenshot goes to artifacts/."""
    await phones("agent-ar-1", talk_seconds=25.0)
    await phones("agent-ar-3", talk_seconds=25.0)
    await phones("agent-ar-2", talk_seconds=25.0)
    page = await sign_in(chromium, rig, console_users["supervisor"])
    await fetch_status(page, "POST", "/api/v1/agents/agent-ar-2/pause", {"reason": "training"})
    dtmf = [(1.0, ARABIC), (0.8, GENERAL)]
    callers = [
        asyncio.create_task(
            place_call(
                "127.0.0.1",
                rig.sip_port,
                caller_number=f"9655120000{i}",
                dtmf=dtmf,
                hangup_after=14.0,
                max_duration=30,
                workdir=rig.workdir / "callers",
            )
        )
        for i in range(5)
    ]
    try:
        await expect(page.locator('[data-total="on_call"]')).to_have_text("2", timeout=25000)
        await expect(page.locator('tr[data-queue="ar-general"] td[data-field="waiting"]')).not_to_have_text(
            "0", timeout=15000
        )
        waiting = int(await page.locator('[data-total="waiting"]').text_content())
        assert waiting >= 1
        await page.wait_for_timeout(4500)  # the longest wait counts up (a push every 2 s while callers wait)
        artifacts = PROJECT_ROOT / "artifacts"
        artifacts.mkdir(exist_ok=True)
        await page.screenshot(path=str(artifacts / "wallboard.png"))  # `make wallboard` puts it in docs/
    finally:
        await asyncio.gather(*callers, return_exceptions=True)
        await fetch_status(page, "POST", "/api/v1/agents/agent-ar-2/unpause", None)
        await page.context.close()


async def _count_is(rig, queue: str, count: int) -> bool:
    return await active(rig, queue) == count
