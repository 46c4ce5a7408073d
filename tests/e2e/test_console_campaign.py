"""Outbound campaigns in the console, in a real browser (Debian's chromium through Playwright), issue 14:

* the campaigns page shows the day's figures and the people not yet reached, and their CSV downloads (a BOM, Hindi
  as written, no formula); a list file with bad rows shows each line and nothing is imported;
* a supervisor whose language is Hindi reads the console in Hindi (Devanagari, left to right) on the COVID call
  centre's line, whose header fits on one line at 1280 px with the campaigns link, and switches to English;
* against the real Asterisk: a patient who presses 9 in a campaign call reaches the control room's SIPp UAS, and the
  alert shows at once on the wallboard already open (the live feed), until a supervisor acknowledges it.

The first two run the service in this process (``support.app``: a fake app_queue over a real AMI socket, a real
SQLite database); the third the campaign rig of ``test_campaign`` (its profile, its patients' and control room's
SIPp UAS) in a module of its own.
"""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import CONSOLE_PASSWORD, PROJECT_ROOT, Rig, running_rig
from playwright.async_api import expect
from support.app import running_service
from test_campaign import _ended, _profile, control_room, doctors, patients  # noqa: F401  (fixtures)
from test_console_header_and_wallboard import ADD_LINKS, MEASURE, one_line

from console import i18n
from console.app import CONSOLE
from console.base import OPTIONAL_NAV
from outbound.campaign_db import CampaignStore
from outbound.list_db import ListStore
from outbound.model import Action, Outcome, local_day
from profiles.model import Profile, load_profile, parse_profile

pytestmark = pytest.mark.e2e

PROFILES = Path(__file__).parents[2] / "profiles"
PASSWORD = "e2e campaign password 14"
NOW = datetime.now(UTC)


def followup_profile() -> Profile:
    """moh-151 with a follow-up campaign, switched off (the test writes the day's attempts itself)."""
    data = yaml.safe_load((PROFILES / "moh-151.yaml").read_text(encoding="utf-8"))
    for name in ("campaign_greeting", "campaign_question", "campaign_thanks", "campaign_doctor", "campaign_emergency"):
        data["prompts"][name] = {"ar": "نص", "en": "text"}
    data["outbound"] = {
        "allowed_numbers": ["07[0-9]{8}"],
        "campaigns": [
            {"id": "followup", "label": {"ar": "متابعة", "en": "Follow-up"}, "list": "patients",
             "window": {"start": "08:00", "end": "20:00"}, "topic": "medical", "specialty": "internal",
             "attempts_per_day": 2, "retry_after_seconds": [60], "enabled": False},
        ],
    }  # fmt: skip
    return parse_profile(data, source="moh-151+outbound", base_dir=PROFILES)


FILE = (
    "number,name,language,district,note\n"
    "0790000001,सीता देवी,en,Raipur,\n"
    '0790000002,"=HYPERLINK(""http://evil"")",en,Durg,+1 check\n'
    "0790000003,Ravi,ar,Raipur,\n"
    "0790000004,Asha,en,Bhilai,\n"
).encode()


async def sign_in(chromium: Any, base: str, name: str, width: int = 1280) -> Any:
    context = await chromium.new_context(viewport={"width": width, "height": 900}, accept_downloads=True)
    page = await context.new_page()
    await page.goto(base + "/login")
    await page.fill('input[name="name"]', name)
    await page.fill('input[name="password"]', PASSWORD)
    async with page.expect_navigation():
        await page.click('button[type="submit"]')
    return page


async def a_day(db: Any, profile: Profile) -> None:
    """Today: 0001 answers and keys 1, 0002 never answers (both attempts), 0003 keys 2, 0004 is not called yet."""
    lists = ListStore(db)
    await lists.import_csv("patients", FILE, filename="p.csv", by="e2e", profile=profile, now=NOW)
    campaign = profile.outbound.campaign("followup")  # type: ignore[union-attr]
    store = CampaignStore(db)
    day = local_day(profile.timezone, NOW)
    ids = {c.number: c.id or 0 for c in await store.contacts("patients")}
    start = NOW - timedelta(hours=1)

    async def attempt(number: str, at: datetime) -> int:
        (claimed,) = await store.claim(campaign, [ids[number]], "e2e", day, at, limit=1)
        assert claimed.attempt.id is not None
        await store.mark_dialled(claimed.attempt.id, at)
        return claimed.attempt.id

    for number, key, action in (("0790000001", "1", Action.WELL), ("0790000003", "2", Action.DOCTOR)):
        answered = await attempt(number, start)
        await store.answered(answered, None, start)
        await store.keyed(answered, key, action, start)
        await store.end(answered, Outcome.ANSWERED, start + timedelta(seconds=30))
    for later in (0, 300):
        missed = await attempt("0790000002", start + timedelta(seconds=later))
        await store.end(missed, Outcome.NO_ANSWER, start + timedelta(seconds=later + 30))


async def test_the_campaigns_page_shows_the_day_and_the_not_reached_download_as_csv(tmp_path, chromium):
    profile = followup_profile()
    async with running_service(tmp_path, profile=profile) as running:
        await running.app[CONSOLE].store.add_user("boss", PASSWORD, "supervisor", "en")
        await a_day(running.service.db, profile)
        base = str(running.client.make_url("")).rstrip("/")
        page = await sign_in(chromium, base, "boss")
        await expect(page.locator('header nav a[href="/campaigns"]')).to_have_text("Campaigns")
        await page.click('header nav a[href="/campaigns"]')
        section = page.locator('section.campaign[data-campaign="followup"]')
        for figure, value in (("reached", 2), ("not_reached", 1), ("pending", 1), ("well", 1), ("doctor", 1),
                              ("emergency", 0), ("attempts", 4)):  # fmt: skip
            await expect(section.locator(f'[data-figure="{figure}"]')).to_have_text(str(value))
        rows = section.locator("table.people tbody tr")
        await expect(rows).to_have_count(2)
        await expect(section.locator('tr[data-number="0790000002"]')).to_have_attribute("data-state", "not_reached")
        await expect(section.locator('tr[data-number="0790000004"]')).to_have_attribute("data-state", "pending")
        async with page.expect_download() as info:
            await section.locator("a.csv").click()
        download = await info.value
        raw = Path(await download.path()).read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf"), raw[:20]
        table = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
        assert table[0][:5] == ["number", "name", "language", "district", "state"]
        by_number = {r[0]: r for r in table[1:]}
        assert set(by_number) == {"0790000002", "0790000004"}  # the people not yet reached
        assert (
            by_number["0790000002"][1] == '\'=HYPERLINK("http://evil")' and by_number["0790000002"][-1] == "'+1 check"
        )
        assert download.suggested_filename.startswith("followup-") and download.suggested_filename.endswith(".csv")

        # a file with bad rows: each line and its reason, and the list as it was
        bad = FILE.replace(b"0790000003", b"12") + b"0790000001,again,en,,\n"
        await page.set_input_files("#import-file", files=[{"name": "bad.csv", "mimeType": "text/csv", "buffer": bad}])
        await page.click("#import-submit")
        await expect(page.locator("#import-refused")).to_be_visible()
        await expect(page.locator("#import-errors tbody tr")).to_have_count(2)
        await expect(page.locator('#import-errors tr[data-line="4"]')).to_be_visible()
        await expect(page.locator('#import-errors tr[data-line="6"]')).to_be_visible()
        await expect(page.locator('#lists tr[data-list="patients"] [data-field="contacts"]')).to_have_text("4")
        good = FILE + b"0790000005,Meena,en,Durg,\n"
        await page.set_input_files("#import-file", files=[{"name": "day2.csv", "mimeType": "text/csv", "buffer": good}])
        await page.click("#import-submit")
        await expect(page.locator("#import-done")).to_be_visible()
        await expect(page.locator('#lists tr[data-list="patients"] [data-field="contacts"]')).to_have_text("5")
        await page.context.close()


async def test_a_hindi_supervisor_reads_the_console_in_hindi_and_switches_to_english(tmp_path, chromium):
    profile = load_profile(PROFILES / "covid-followup.yaml")
    async with running_service(tmp_path, profile=profile) as running:
        await running.app[CONSOLE].store.add_user("pramukh", PASSWORD, "supervisor", "hi")
        base = str(running.client.make_url("")).rstrip("/")
        page = await sign_in(chromium, base, "pramukh")
        assert await page.get_attribute("html", "lang") == "hi"
        assert await page.get_attribute("html", "dir") == "ltr"
        await expect(page.locator("h1")).to_have_text("वॉलबोर्ड")
        await expect(page.locator('header nav a[href="/campaigns"]')).to_have_text("अभियान")
        await expect(page.locator("#lang-switch")).to_have_text("English")
        # the header, with every feature's link as wide as it gets, on one line at 1280 px in Hindi
        await page.evaluate(ADD_LINKS, [(path, i18n.t("hi", key)) for path, key in OPTIONAL_NAV])
        await page.evaluate("(text) => { document.getElementById('live').textContent = text; }",
                            i18n.t("hi", "live.disconnected"))  # fmt: skip
        assert one_line(await page.evaluate(MEASURE)) == []
        await page.click('header nav a[href="/campaigns"]')
        await expect(page.locator("h1")).to_have_text("फ़ॉलो-अप अभियान")
        await expect(page.locator(".campaign .tile span").first).to_have_text("संपर्क हुआ")
        async with page.expect_navigation():
            await page.click("#lang-switch")
        await expect(page.locator("h1")).to_have_text("Follow-up campaigns")
        assert await page.get_attribute("html", "lang") == "en"
        await expect(page.locator("#lang-switch")).to_have_text("हिन्दी")
        await page.context.close()


# -- the real Asterisk: a patient presses 9, the wallboard shows the alert -----------------------------------------


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    workdir = tmp_path_factory.mktemp("hotline-console-campaign")
    with running_rig(workdir, "e2e-console-campaign", _profile(workdir / "profile.yaml")) as rig:
        yield rig


def add_supervisor(rig: Rig, name: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "hotline", "user", "add", name, "--role", "supervisor", "--language", "en",
         "--password-stdin"],
        input=CONSOLE_PASSWORD + "\n", env=rig.env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


async def test_a_patient_pressing_9_raises_the_alert_on_the_open_wallboard_until_acknowledged(
    rig,
    phones,
    patients,  # noqa: F811  (test_campaign's fixture)
    control_room,  # noqa: F811
    chromium,
):
    from telephony.sipp.driver import Dtmf

    add_supervisor(rig, "e2e-campaign-boss")
    context = await chromium.new_context(viewport={"width": 1280, "height": 900})
    board = await context.new_page()
    base = f"http://127.0.0.1:{rig.http_port}"
    await board.goto(base + "/login")
    await board.fill('input[name="name"]', "e2e-campaign-boss")
    await board.fill('input[name="password"]', CONSOLE_PASSWORD)
    async with board.expect_navigation():
        await board.click('button[type="submit"]')
    await expect(board.locator("#live")).not_to_have_class("live off", timeout=10000)
    await expect(board.locator("#wb-alerts")).to_be_hidden()
    pushes = int(await board.evaluate("document.body.dataset.pushes || '0'"))

    await doctors(phones, 1, talk_seconds=2.0)
    await patients.behave([Dtmf("9", after=2.0)])
    number = "96550000191"
    async with ListStore(rig.db_url) as lists:  # the list file, imported as `hotline campaign import` does
        await lists.import_csv(
            "patients", f"number,name,language\n{number},Patient 0191,ar\n".encode(), filename="p.csv", by="e2e",
            profile=load_profile(Path(rig.env["HOTLINE_PROFILE"])), now=datetime.now(UTC),
        )  # fmt: skip
    alert = board.locator("#wb-alerts .alert", has_text=number)
    await expect(alert).to_be_visible(timeout=60000)  # no reload: the live feed brought it
    assert int(await board.evaluate("document.body.dataset.pushes")) > pushes
    await expect(alert).to_contain_text("Patient 0191")
    (attempt,) = await rig.wait_for(lambda: _ended(rig, number), timeout=60, what="the call to end")
    assert (attempt.key, attempt.action) == ("9", Action.EMERGENCY)
    assert len(control_room.answered_calls()) >= 1  # the control room's UAS answered the patient's call

    await alert.locator('button[data-act="alert-ack"]').click()
    await expect(board.locator("#wb-alerts .alert", has_text=number)).to_have_count(0)
    store = CampaignStore(rig.db_url)
    try:
        (acknowledged,) = [a for a in await store.alerts(open_only=False) if a.number == number]
    finally:
        await store.close()
    assert acknowledged.acknowledged_by == "e2e-campaign-boss" and acknowledged.acknowledged_at is not None
    await board.reload()
    await expect(board.locator("#wb-alerts .alert", has_text=number)).to_have_count(0)  # gone for good
    await context.close()


# -- the desk: click to call rings the agent's phone first ----------------------------------------------------------


def add_agent(rig: Rig, name: str, person: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "hotline", "user", "add", name, "--role", "agent", "--person", person, "--language",
         "en", "--password-stdin"],
        input=CONSOLE_PASSWORD + "\n", env=rig.env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


async def test_the_desk_s_call_button_rings_the_agent_s_phone_then_the_patient(
    rig,
    phones,
    patients,  # noqa: F811  (test_campaign's fixture)
    chromium,
):
    from telephony.sipp.driver import Dtmf

    add_agent(rig, "e2e-desk-caller", "agent-ar-1")
    agent = await phones("agent-ar-1", login=False, talk_seconds=3.0)  # not in a queue: no campaign call is paced
    await patients.behave([Dtmf("1", after=1.0)])
    number = "96550000192"
    async with ListStore(rig.db_url) as lists:
        await lists.import_csv(
            "patients", f"number,name,language\n{number},Patient 0192,ar\n".encode(), filename="p.csv", by="e2e",
            profile=load_profile(Path(rig.env["HOTLINE_PROFILE"])), now=datetime.now(UTC),
        )  # fmt: skip
    context = await chromium.new_context(viewport={"width": 1280, "height": 900})
    desk = await context.new_page()
    base = f"http://127.0.0.1:{rig.http_port}"
    await desk.goto(base + "/login")
    await desk.fill('input[name="name"]', "e2e-desk-caller")
    await desk.fill('input[name="password"]', CONSOLE_PASSWORD)
    async with desk.expect_navigation():
        await desk.click('button[type="submit"]')
    await desk.goto(base + "/desk")
    row = desk.locator(f'#dial-contacts tr[data-number="{number}"]')
    await expect(row).to_be_visible(timeout=10000)
    # a number that the profile does not allow is refused, and says why
    await desk.fill("#dial-number", "0044 20 7946 0000")
    await desk.click("#dial-submit")
    await expect(desk.locator("#dial-result")).to_have_class("error")
    await expect(desk.locator("#dial-result")).to_contain_text("allowed")
    await row.locator("button.call").click()
    await expect(desk.locator("#dial-result")).to_have_class("done", timeout=10000)
    await rig.wait_for(lambda: _answered(agent), timeout=30, what="the agent's phone to ring and answer")
    await rig.wait_for(lambda: _invited(patients, number), timeout=30, what="the patient's number to be dialled")
    await context.close()


async def _answered(phone: Any) -> bool:
    return len(phone.answered_calls()) >= 1


async def _invited(phone: Any, number: str) -> bool:
    from test_campaign import invites

    return invites(phone, number) >= 1
