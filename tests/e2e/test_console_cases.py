"""The console's case pages in a real browser (Debian's chromium through Playwright), on the municipal 940 line.

The pages need no Asterisk: the service runs in this process as the root builds it (``support.app``: a fake
app_queue over a real AMI socket, a real SQLite database) and listens on a loopback port that Chromium opens.
A supervisor who reads Arabic filters the list to the overdue cases, opens one, closes it with a reason, and
sees the closing in its history; the database and the audit log agree."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.async_api import expect
from support.app import running_service

from console.app import CONSOLE
from profiles.model import load_profile
from telephony.clock import utc_now

pytestmark = pytest.mark.e2e

PROFILE = load_profile(Path(__file__).parents[2] / "profiles" / "municipal-940.yaml")
NAME, PASSWORD = "e2e-case-supervisor", "e2e console password 940"


async def test_a_supervisor_closes_an_overdue_case_with_a_reason_and_sees_it_in_the_history(tmp_path, chromium):
    async with running_service(tmp_path, profile=PROFILE) as running:
        await running.app[CONSOLE].store.add_user(NAME, PASSWORD, "supervisor", "ar")
        cases = running.service.cases

        async def report(days_ago: float, category: str, description: str):
            then = utc_now() - timedelta(days=days_ago)
            cases.clock = lambda: then
            try:
                return await cases.open(
                    category=category,
                    description=description,
                    caller_number="0501234567",
                    language="ar",
                    actor="agent-1",
                    district="al_shati",
                )
            finally:
                cases.clock = utc_now

        late = await report(5, "markets_public_health", "محل يبيع أغذية منتهية الصلاحية")  # 48 h SLA: 3 days late
        later = await report(9, "cleanliness", "نفايات متراكمة منذ أيام")
        fresh = await report(0, "markets_public_health", "رائحة كريهة في السوق")
        base = str(running.client.make_url("")).rstrip("/")

        context = await chromium.new_context(viewport={"width": 1180, "height": 800})
        page = await context.new_page()
        await page.goto(base + "/login")
        await page.fill('input[name="name"]', NAME)
        await page.fill('input[name="password"]', PASSWORD)
        async with page.expect_navigation():
            await page.click('button[type="submit"]')
        assert await page.get_attribute("html", "dir") == "rtl"

        # the header's link, then the list filtered to the overdue cases
        await page.click("#nav-cases")
        await expect(page.locator("h1")).to_have_text("البلاغات")
        await expect(page.locator("tr[data-case]")).to_have_count(3)
        await page.check('input[name="overdue"]')
        async with page.expect_navigation():
            await page.click("#filter")
        assert "overdue=1" in page.url
        rows = page.locator("tr[data-case]")
        await expect(rows).to_have_count(2)
        assert {await r.get_attribute("data-case") for r in await rows.all()} == {late.number, later.number}
        assert await page.locator(f'tr[data-case="{fresh.number}"]').count() == 0
        await expect(page.locator(f'tr[data-case="{late.number}"] .late')).to_contain_text("3 ي")
        assert await page.evaluate("getComputedStyle(document.querySelector('#cases th')).direction") == "rtl"

        # open the case and close it with a reason and a note
        async with page.expect_navigation():
            await page.click(f'a[href="/cases/{late.number}"]')
        await expect(page.locator("#case-number")).to_have_text(late.number)
        await expect(page.locator('td[data-field="status"]')).to_contain_text("مفتوح")
        await page.select_option('#status-form select[name="status"]', "closed")
        await page.fill('#status-form input[name="reason"]', "أزيلت المخالفة وغُرّم المحل")
        await page.fill('#status-form textarea[name="note"]', "زيارة ميدانية")
        async with page.expect_navigation():
            await page.click("#status-save")
        await expect(page.locator("#case-message")).to_have_text("تم الحفظ.")
        await expect(page.locator("#case")).to_have_attribute("data-status", "closed")
        closing = page.locator('#history tr[data-action="status"]')
        await expect(closing).to_have_count(1)
        await expect(closing).to_contain_text(NAME)
        await expect(closing.locator(".old")).to_have_text("مفتوح")
        await expect(closing.locator(".new")).to_have_text("مغلق")
        await expect(closing).to_contain_text("أزيلت المخالفة وغُرّم المحل")
        await expect(page.locator('#history tr[data-action="note"]')).to_contain_text("زيارة ميدانية")

        # the overdue list no longer holds it
        await page.goto(base + "/cases/overdue")
        await expect(page.locator("tr[data-case]")).to_have_count(1)
        await expect(page.locator(f'tr[data-case="{later.number}"]')).to_have_count(1)
        await context.close()

        closed = await cases.get(late.number)
        assert (closed.status, closed.reason, closed.version) == ("closed", "أزيلت المخالفة وغُرّم المحل", 2)
        with sqlite3.connect(running.db_path) as conn:
            audited = conn.execute(
                "SELECT actor, target, details FROM audit_log WHERE action = 'case.status'"
            ).fetchall()
        assert [(a, t, json.loads(d)["new"]) for a, t, d in audited] == [(NAME, late.number, "closed")]
