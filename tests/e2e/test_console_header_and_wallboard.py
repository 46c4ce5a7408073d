"""The wallboard in a real browser (Debian's chromium through Playwright), with no Asterisk: the service runs in
this process as the root builds it (``support.app``: a fake app_queue over a real AMI socket, a real SQLite
database) and Chromium opens its loopback port.

* the header fits on one line at 1280 px wide, for an Arabic and an English supervisor, measured: its height,
  each of its items on the same line, every navigation link whole and inside it (nothing wrapped, nothing
  scrolled away), on the default 151 line and on a line with cases (one more link);
* the live feed draws today's calls per half-hour in the chart and shows the service level once calls are
  answered, and the queues by their labels in the reader's language."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import expect
from support.app import running_service

from cdr.builder import CallRecord, Outcome
from console import i18n
from console.app import CONSOLE
from console.base import OPTIONAL_NAV
from profiles.model import load_profile

pytestmark = pytest.mark.e2e

PROFILES = Path(__file__).parents[2] / "profiles"
PASSWORD = "e2e wallboard password 13"

#: The header's geometry: its box, each direct child's box, and each navigation link's box and whether it is whole.
MEASURE = """() => {
  const header = document.querySelector('header');
  const box = (el) => { const r = el.getBoundingClientRect(); return {top: r.top, bottom: r.bottom, left: r.left,
                        right: r.right, height: r.height}; };
  const nav = header.querySelector('nav');
  const line = parseFloat(getComputedStyle(header).lineHeight) || 1.2 * parseFloat(getComputedStyle(header).fontSize);
  return {
    header: box(header), line: line, width: document.documentElement.clientWidth,
    overflow: header.scrollWidth - header.clientWidth, navOverflow: nav.scrollWidth - nav.clientWidth,
    children: Array.from(header.children).map((el) => ({tag: el.tagName, text: el.textContent.trim(), ...box(el)})),
    links: Array.from(nav.querySelectorAll('a')).map((a) => {
      const range = document.createRange();
      range.selectNodeContents(a);  // one rectangle per line of the link's text
      const lines = new Set(Array.from(range.getClientRects()).map((r) => Math.round(r.bottom))).size;
      return {text: a.textContent.trim(), lines: lines, ...box(a)};
    }),
  };
}"""


#: Adds the links of the features' pages not mounted in this test, as base.html draws them.
ADD_LINKS = """(links) => {
  const nav = document.querySelector('header nav');
  for (const [path, label] of links) {
    if (nav.querySelector('a[href="' + path + '"]')) continue;
    const a = document.createElement('a');
    a.href = path;
    a.textContent = label;
    nav.appendChild(a);
  }
}"""


async def sign_in(chromium: Any, base: str, name: str, width: int = 1280) -> Any:
    context = await chromium.new_context(viewport={"width": width, "height": 800})
    page = await context.new_page()
    await page.goto(base + "/login")
    await page.fill('input[name="name"]', name)
    await page.fill('input[name="password"]', PASSWORD)
    async with page.expect_navigation():
        await page.click('button[type="submit"]')
    return page


def one_line(geometry: dict[str, Any]) -> list[str]:
    """What is wrong with the header as one line (nothing: it is one)."""
    wrong = []
    children = [c for c in geometry["children"] if c["height"] > 0]
    lowest_top = max(c["top"] for c in children)
    highest_bottom = min(c["bottom"] for c in children)
    if lowest_top >= highest_bottom:
        wrong.append(f"the header's items are on more than one line: {[(c['tag'], c['top']) for c in children]}")
    if geometry["header"]["height"] > 2 * geometry["line"] + 24:  # one line, its padding and the buttons' borders
        wrong.append(f"the header is {geometry['header']['height']:.0f} px high (a line is {geometry['line']:.0f})")
    if geometry["overflow"] > 0 or geometry["navOverflow"] > 0:
        wrong.append(f"something is cut off: header {geometry['overflow']} px, nav {geometry['navOverflow']} px")
    for link in geometry["links"]:
        if link["lines"] != 1 or link["left"] < 0 or link["right"] > geometry["width"]:
            wrong.append(f"the link {link['text']!r} is not whole on one line: {link}")
    return wrong


@pytest.mark.parametrize(
    ("profile_file", "language"),
    [("moh-151.yaml", "ar"), ("moh-151.yaml", "en"), ("municipal-940.yaml", "ar"), ("patient-services.yaml", "en")],
    ids=["151-ar", "151-en", "940-cases-ar", "patient-services-en"],
)
async def test_the_header_fits_on_one_line_at_1280_px(tmp_path, chromium, profile_file, language):
    profile = load_profile(PROFILES / profile_file)
    async with running_service(tmp_path, profile=profile) as running:
        name = f"مشرفة الخط {language}" if language == "ar" else f"supervisor-{language}"
        await running.app[CONSOLE].store.add_user(name, PASSWORD, "supervisor", language)
        base = str(running.client.make_url("")).rstrip("/")
        page = await sign_in(chromium, base, name)
        assert await page.get_attribute("html", "lang") == language
        # the survey's, the calendar's and the block list's pages join the header when mounted: measured with them
        extra = [(path, i18n.t(language, key)) for path, key in OPTIONAL_NAV]
        for path in ("/", "/queues", "/agents"):
            await page.goto(base + path)
            await page.evaluate(ADD_LINKS, extra)
            # measured at its widest: the live indicator says "reconnecting…" until the socket is up (under load, at
            # the moment of measuring, it may still say so), which is longer than "live"
            await page.evaluate("(text) => { document.getElementById('live').textContent = text; }",
                                i18n.t(language, "live.disconnected"))  # fmt: skip
            geometry = await page.evaluate(MEASURE)
            assert len(geometry["links"]) >= 8 + (profile.cases is not None)
            assert one_line(geometry) == [], (profile_file, language, path, geometry)
        # the measure can fail: the same header squeezed to 700 px does not fit on one line
        await page.set_viewport_size({"width": 700, "height": 800})
        assert one_line(await page.evaluate(MEASURE)) != []
        await page.context.close()


async def test_the_live_wallboard_draws_today_s_calls_and_the_service_level_in_the_reader_s_language(
    tmp_path, chromium
):
    profile = load_profile(PROFILES / "patient-services.yaml")
    async with running_service(tmp_path, profile=profile) as running:
        console = running.app[CONSOLE]
        await console.store.add_user("مشرف", PASSWORD, "supervisor", "ar")
        base = str(running.client.make_url("")).rstrip("/")
        page = await sign_in(chromium, base, "مشرف")
        await expect(page.locator("#live")).not_to_have_class("live off")
        await expect(page.locator('tr[data-queue="ar-complaints"] .queue-label')).to_have_text(
            "العربية · البلاغات والشكاوى"
        )
        await expect(page.locator('tr[data-queue="en-health_education"] .queue-label')).to_have_text(
            "الإنجليزية · التثقيف الصحي"
        )
        await expect(page.locator("#today-none")).to_be_visible()
        await expect(page.locator("#sl-none")).to_be_visible()
        await expect(page.locator("#today-bars rect")).to_have_count(0)

        now = datetime.now(UTC)
        midnight = datetime.now(ZoneInfo(profile.timezone)).replace(hour=0, minute=0, second=0, microsecond=0)
        at = max(now - timedelta(seconds=30), midnight.astimezone(UTC))
        store = running.service.records.store
        for n, (outcome, wait) in enumerate([(Outcome.ANSWERED, 4.0), (Outcome.ANSWERED, 6.0),
                                             (Outcome.ANSWERED, 50.0), (Outcome.ABANDONED_QUEUE, 20.0)]):  # fmt: skip
            answered = outcome is Outcome.ANSWERED
            await store.add(
                CallRecord(
                    f"1770000200.{n}",
                    f"9689000000{n}",
                    None,
                    at,
                    "ar",
                    "complaints",
                    None,
                    "ar-complaints",
                    wait,
                    outcome,
                    "agent-ar-1" if answered else None,
                    60.0 if answered else None,
                    16,
                    None,
                    at + timedelta(seconds=90),
                )
            )
        console.invalidate()  # what a new record does (the record hook): the live feed pushes the new figures

        slot = int((at.timestamp() - midnight.timestamp()) // 1800)
        bar = page.locator(f'#today-bars g[data-slot="{slot}"]')
        await expect(bar.locator("rect")).to_have_count(2)
        await expect(page.locator("#today-none")).to_be_hidden()
        await expect(page.locator('[data-total="service_level_today"]')).to_have_text("67%")
        await expect(page.locator("#sl-none")).to_be_hidden()
        await expect(page.locator('tr[data-queue="ar-complaints"] [data-field="service_level_today"]')).to_have_text(
            "67%"
        )
        heights = [float(await r.get_attribute("height") or "0") for r in await bar.locator("rect").all()]
        assert heights[0] == pytest.approx(100.0) and heights[1] == pytest.approx(75.0)  # offered 4, answered 3
        assert "البلاغات" not in (await bar.locator("title").text_content() or "")
        assert "الواردة 4" in (await bar.locator("title").text_content() or "")
        # the chart sits beside the figures, not below them, at 1280 px
        tiles = await page.locator("#totals").bounding_box()
        chart = await page.locator("#today").bounding_box()
        assert tiles and chart and abs(tiles["y"] - chart["y"]) < 5

        # the agents page: a person logged in live shows their queues by their labels, not their names
        await page.goto(base + "/agents")
        await expect(page.locator("#live")).not_to_have_class("live off")
        queues_now = page.locator('[data-agent-queues="agent-ar-1"] small')
        await expect(queues_now).to_have_text("")
        await page.click('button[data-act="agent"][data-person="agent-ar-1"][data-action="login"]')
        await expect(queues_now).to_contain_text("العربية · البلاغات والشكاوى")
        assert "ar-complaints" not in (await queues_now.text_content() or "")
        await page.context.close()
