"""Outbound work's API through the whole service (fake AMI, real SQLite; the store parts on PostgreSQL too in the
stores' own tests): the day's figures of a campaign, the people not yet reached as JSON and as a CSV a spreadsheet
opens safely (UTF-8 with a BOM, no formula), the emergency alerts and their acknowledgement, a list imported from a
CSV file all or nothing (a bad file: 422 with each bad line, nothing stored), the do-not-call list; viewers read,
supervisors change, agents reach only their click-to-call list, and every change is in the audit log."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp.test_utils import TestClient
from support.app import ServiceApp, running_service

from console.app import CONSOLE
from outbound.campaign_db import CampaignStore
from outbound.model import Action, Outcome, local_day
from profiles.model import Profile, parse_profile

PROFILES = Path(__file__).resolve().parents[2] / "profiles"
PASSWORD = "correct horse battery"
T0 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


def outbound_profile() -> Profile:
    """moh-151 with a follow-up campaign (disabled: nothing is dialled here, the test writes the attempts)."""
    data = yaml.safe_load((PROFILES / "moh-151.yaml").read_text(encoding="utf-8"))
    for name in ("campaign_greeting", "campaign_question", "campaign_thanks", "campaign_doctor", "campaign_emergency"):
        data["prompts"][name] = {"ar": "نص", "en": "text"}
    data["outbound"] = {
        "allowed_numbers": ["07[0-9]{8}"],
        "do_not_call": ["0790000999"],
        "campaigns": [
            {
                "id": "followup",
                "label": {"ar": "متابعة", "en": "Follow-up"},
                "list": "patients",
                "window": {"start": "08:00", "end": "20:00"},
                "topic": "medical",
                "specialty": "internal",
                "attempts_per_day": 2,
                "retry_after_seconds": [60],
                "enabled": False,
            }
        ],
    }
    return parse_profile(data, source="moh-151+outbound", base_dir=PROFILES)


PROFILE = outbound_profile()
FILE = (
    "number,name,language,district,note\n"
    "0790000001,सीता देवी,en,Raipur,\n"
    '0790000002,=HYPERLINK("http://evil"),en,Durg,+1 check\n'
    "0790000003,Ravi,ar,Raipur,\n"
    "0790000004,@Asha,en,Bhilai,-\n"
).encode()


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[ServiceApp]:
    async with running_service(tmp_path, profile=PROFILE) as running:
        store = running.app[CONSOLE].store
        await store.add_user("boss", PASSWORD, "supervisor", "en")
        await store.add_user("nadia", PASSWORD, "viewer", "ar")
        await store.add_user("desk", PASSWORD, "agent", "en", person="agent-en-1")
        yield running


async def login(client: TestClient, name: str) -> str:
    response = await client.post("/api/v1/session", json={"name": name, "password": PASSWORD})
    assert response.status == 200, await response.text()
    return str((await response.json())["csrf_token"])


async def audit(running: ServiceApp) -> list[tuple[str, str, str]]:
    rows = await running.app[CONSOLE].store.audit_rows(100)
    wanted = ("campaign", "contact_list", "dnc")
    return [(r["actor"], r["action"], r["target"]) for r in rows if r["action"].startswith(wanted)]


async def imported(running: ServiceApp, data: bytes = FILE) -> dict[str, Any]:
    client = running.client
    csrf = await login(client, "boss")
    response = await client.post(
        "/api/v1/contact-lists/patients?filename=patients.csv",
        data=data,
        headers={"Content-Type": "text/csv", "X-CSRF-Token": csrf},
    )
    body = await response.json()
    assert response.status == 200, body
    return body


async def a_day_of_calls(running: ServiceApp) -> dict[str, int]:
    """Four people: 0001 answers and keys 1, 0002 never answers (both attempts), 0003 keys 9, 0004 is pending."""
    campaign = PROFILE.outbound.campaign("followup")  # type: ignore[union-attr]
    store = CampaignStore(running.service.db)
    day = local_day(PROFILE.timezone, T0)
    ids = {c.number: c.id or 0 for c in await store.contacts("patients")}

    async def attempt(number: str, at: datetime) -> int:
        claimed = await store.claim(campaign, [ids[number]], "test", day, at, limit=1)
        assert len(claimed) == 1, number
        attempt_id = claimed[0].attempt.id
        assert attempt_id is not None
        await store.mark_dialled(attempt_id, at)
        return attempt_id

    first = await attempt("0790000001", T0)
    await store.answered(first, "1700.1", T0)
    await store.keyed(first, "1", Action.WELL, T0)
    await store.end(first, Outcome.ANSWERED, T0 + timedelta(seconds=20))
    for later in (0, 120):
        missed = await attempt("0790000002", T0 + timedelta(seconds=later))
        await store.end(missed, Outcome.NO_ANSWER, T0 + timedelta(seconds=later + 30))
    help_ = await attempt("0790000003", T0)
    await store.answered(help_, "1700.3", T0)
    await store.keyed(help_, "9", Action.EMERGENCY, T0)
    alert = await store.raise_alert(help_, T0 + timedelta(seconds=5))
    assert alert is not None and alert.id is not None
    await store.end(help_, Outcome.ANSWERED, T0 + timedelta(seconds=60))
    await store.close()
    return {"alert": alert.id}


async def test_the_days_figures_and_the_people_not_yet_reached(running: ServiceApp) -> None:
    await imported(running)
    await a_day_of_calls(running)
    client = running.client
    await login(client, "nadia")  # a viewer reads
    day = local_day(PROFILE.timezone, T0).isoformat()
    response = await client.get(f"/api/v1/campaigns?day={day}")
    campaigns = await response.json()
    assert response.status == 200, campaigns
    assert [(c["id"], c["list"], c["day"], c["enabled"]) for c in campaigns] == [("followup", "patients", day, False)]
    assert campaigns[0]["figures"] == {
        "reached": 2, "not_reached": 1, "pending": 1, "in_flight": 0, "unknown": 0, "refused": 0,
        "well": 1, "doctor": 0, "emergency": 1, "no_key": 0, "attempts": 4,
    }  # fmt: skip
    people = await (await client.get(f"/api/v1/campaigns/followup/people?day={day}")).json()
    assert sorted((p["number"], p["state"], p["attempts"]) for p in people) == [
        ("0790000002", "not_reached", 2), ("0790000004", "pending", 0)]  # fmt: skip
    missed = next(p for p in people if p["number"] == "0790000002")
    assert missed["last_outcome"] == "no_answer" and missed["fields"] == {"note": "+1 check"}
    reached = await (await client.get(f"/api/v1/campaigns/followup/people?day={day}&state=reached")).json()
    assert sorted((p["number"], p["last_key"]) for p in reached) == [("0790000001", "1"), ("0790000003", "9")]
    for bad in ("day=2027-02-30", "day=yesterday", "state=gone"):
        assert (await client.get(f"/api/v1/campaigns/followup/people?{bad}")).status == 400, bad
    assert (await client.get("/api/v1/campaigns/nope/people")).status == 404


async def test_the_csv_export_opens_in_a_spreadsheet_with_hindi_names_and_no_formula(running: ServiceApp) -> None:
    await imported(running)
    await a_day_of_calls(running)
    client = running.client
    await login(client, "nadia")
    day = local_day(PROFILE.timezone, T0).isoformat()
    response = await client.get(f"/api/v1/campaigns/followup/people.csv?day={day}&state=all")
    raw = await response.read()
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == f'attachment; filename="followup-{day}-all.csv"'
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM: Excel reads UTF-8
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == ["number", "name", "language", "district", "state", "attempts", "last_attempt",
                       "last_outcome", "last_key", "note"]  # fmt: skip
    by_number = {r[0]: r for r in rows[1:]}
    assert set(by_number) == {"0790000001", "0790000002", "0790000003", "0790000004"}
    assert by_number["0790000001"][1] == "सीता देवी"
    assert by_number["0790000002"][1] == '\'=HYPERLINK("http://evil")'  # a text, never a formula
    assert by_number["0790000002"][9] == "'+1 check"
    assert by_number["0790000004"][1] == "'@Asha" and by_number["0790000004"][9] == "'-"
    assert by_number["0790000002"][4:6] == ["not_reached", "2"]
    for row in rows:
        assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row), row
    unreached = await client.get(f"/api/v1/campaigns/followup/people.csv?day={day}")
    numbers = [r[0] for r in csv.reader(io.StringIO((await unreached.read()).decode("utf-8-sig")))][1:]
    assert sorted(numbers) == ["0790000002", "0790000004"]
    assert ("nadia", "campaign.export", "followup") in await audit(running)


async def test_alerts_are_listed_and_only_supervisors_acknowledge_them_once(running: ServiceApp) -> None:
    await imported(running)
    alert_id = (await a_day_of_calls(running))["alert"]
    client = running.client
    csrf = await login(client, "nadia")
    alerts = await (await client.get("/api/v1/campaign-alerts")).json()
    assert [(a["id"], a["number"], a["campaign"], a["acknowledged_at"]) for a in alerts] == [
        (alert_id, "0790000003", "followup", None)]  # fmt: skip
    refused = await client.post(f"/api/v1/campaign-alerts/{alert_id}/acknowledge", headers={"X-CSRF-Token": csrf})
    assert refused.status == 403
    csrf = await login(client, "boss")
    done = await client.post(f"/api/v1/campaign-alerts/{alert_id}/acknowledge", headers={"X-CSRF-Token": csrf})
    body = await done.json()
    assert done.status == 200, body
    assert body["acknowledged_by"] == "boss" and body["acknowledged_at"]
    again = await client.post(f"/api/v1/campaign-alerts/{alert_id}/acknowledge", headers={"X-CSRF-Token": csrf})
    assert again.status == 409
    assert (await client.post("/api/v1/campaign-alerts/999/acknowledge", headers={"X-CSRF-Token": csrf})).status == 404
    assert (await client.post("/api/v1/campaign-alerts/x/acknowledge", headers={"X-CSRF-Token": csrf})).status == 400
    assert await (await client.get("/api/v1/campaign-alerts")).json() == []
    assert len(await (await client.get("/api/v1/campaign-alerts?state=all")).json()) == 1
    assert ("boss", "campaign.alert_acknowledge", str(alert_id)) in await audit(running)


async def test_an_import_is_all_or_nothing_with_each_bad_line_and_the_same_file_changes_nothing(
    running: ServiceApp,
) -> None:
    first = await imported(running)
    assert (first["list"], first["rows"], first["added"], first["unchanged"]) == ("patients", 4, 4, False)
    again = await imported(running)
    assert again["unchanged"] is True and again["added"] == 0
    client = running.client
    csrf = await login(client, "boss")
    bad = FILE.replace(b"0790000003", b"12345") + b"0790000001,twice,en,,\nnot a number,x,en,,\n"
    form = aiohttp.FormData()
    form.add_field("file", bad, filename="bad.csv", content_type="text/csv")
    response = await client.post("/api/v1/contact-lists/patients", data=form, headers={"X-CSRF-Token": csrf})
    body = await response.json()
    assert response.status == 422, body
    assert [e["line"] for e in body["errors"]] == [4, 6, 7]
    assert all(e["reason"] for e in body["errors"]) and "nothing was imported" in body["error"]
    lists = await (await client.get("/api/v1/contact-lists")).json()
    assert [(x["name"], x["contacts"], x["campaigns"]) for x in lists] == [("patients", 4, ["followup"])]
    people = await (await client.get("/api/v1/campaigns/followup/people?state=all")).json()
    assert "0790000003" in {p["number"] for p in people}  # the old list, untouched
    newer = FILE + b"0790000005,Meena,en,Durg,\n"
    form = aiohttp.FormData()
    form.add_field("file", newer, filename="day2.csv", content_type="text/csv")
    response = await client.post("/api/v1/contact-lists/patients", data=form, headers={"X-CSRF-Token": csrf})
    assert response.status == 200 and (await response.json())["added"] == 1
    for path, status in (("/api/v1/contact-lists/Bad-Name", 400), ("/api/v1/contact-lists/patients", 400)):
        response = await client.post(path, data=b"", headers={"Content-Type": "text/csv", "X-CSRF-Token": csrf})
        assert response.status == status, path
    assert [a for a in await audit(running) if a[1] == "contact_list.import"] == [
        ("boss", "contact_list.import", "patients")] * 3  # fmt: skip
    await login(client, "nadia")
    response = await client.post("/api/v1/contact-lists/patients", data=FILE,
                                 headers={"Content-Type": "text/csv", "X-CSRF-Token": csrf})  # fmt: skip
    assert response.status == 403


async def test_the_do_not_call_list(running: ServiceApp) -> None:
    client = running.client
    csrf = await login(client, "boss")
    added = await client.post(
        "/api/v1/do-not-call", json={"number": "079-000-0007", "reason": "asked not to"}, headers={"X-CSRF-Token": csrf}
    )
    body = await added.json()
    assert added.status == 201, body
    assert (body["number"], body["source"], body["added_by"]) == ("0790000007", "console", "boss")
    listed = await (await client.get("/api/v1/do-not-call")).json()
    assert [(d["number"], d["source"]) for d in listed] == [("0790000999", "profile"), ("0790000007", "console")]
    for bad in ({"number": "call me", "reason": "x"}, {"number": "0790000008"}, {"number": "0790000008", "reason": ""}):
        response = await client.post("/api/v1/do-not-call", json=bad, headers={"X-CSRF-Token": csrf})
        assert response.status == 400, bad
    assert (await client.delete("/api/v1/do-not-call/0790000999", headers={"X-CSRF-Token": csrf})).status == 409
    removed = await client.delete("/api/v1/do-not-call/0790000007", headers={"X-CSRF-Token": csrf})
    assert removed.status == 200 and (await removed.json())["number"] == "0790000007"
    assert (await client.delete("/api/v1/do-not-call/0790000007", headers={"X-CSRF-Token": csrf})).status == 404
    assert [a for a in await audit(running) if a[1].startswith("dnc.")] == [
        ("boss", "dnc.remove", "0790000007"), ("boss", "dnc.add", "0790000007")]  # fmt: skip
    csrf = await login(client, "nadia")
    response = await client.post(
        "/api/v1/do-not-call", json={"number": "0790000008", "reason": "x"}, headers={"X-CSRF-Token": csrf}
    )
    assert response.status == 403
    assert len(await (await client.get("/api/v1/do-not-call")).json()) == 1


async def test_an_agent_reaches_only_their_click_to_call_list_and_strangers_nothing(running: ServiceApp) -> None:
    await imported(running)
    client = running.client
    await login(client, "desk")
    for path in ("/api/v1/campaigns", "/api/v1/campaigns/followup/people", "/api/v1/campaign-alerts",
                 "/api/v1/contact-lists", "/api/v1/do-not-call"):  # fmt: skip
        assert (await client.get(path)).status == 403, path
    contacts = await (await client.get("/api/v1/desk/contacts")).json()
    assert sorted(c["number"] for c in contacts) == ["0790000001", "0790000002", "0790000003", "0790000004"]
    found = await (await client.get("/api/v1/desk/contacts", params={"q": "सीता"})).json()
    assert [(c["number"], c["campaign"]) for c in found] == [("0790000001", "followup")]
    assert await (await client.get("/api/v1/desk/contacts", params={"q": "durg"})).json() != []
    await client.delete("/api/v1/session", headers={"X-CSRF-Token": ""})
    client.session.cookie_jar.clear()
    for path in ("/api/v1/campaigns", "/api/v1/desk/contacts", "/api/v1/do-not-call"):
        assert (await client.get(path)).status == 401, path


async def test_without_an_outbound_section_every_operation_is_404(tmp_path: Path) -> None:
    async with running_service(tmp_path) as running:  # moh-151 as shipped
        await running.app[CONSOLE].store.add_user("boss", PASSWORD, "supervisor", "en")
        csrf = await login(running.client, "boss")
        for method, path in (("GET", "/api/v1/campaigns"), ("GET", "/api/v1/campaign-alerts"),
                             ("GET", "/api/v1/campaigns/x/people.csv"), ("POST", "/api/v1/contact-lists/patients"),
                             ("GET", "/api/v1/do-not-call"), ("GET", "/api/v1/desk/contacts")):  # fmt: skip
            response = await running.client.request(method, path, headers={"X-CSRF-Token": csrf}, data=b"x")
            assert response.status == 404, (method, path)
            assert "outbound" in (await response.json())["error"]


async def test_the_campaigns_page_for_viewers_supervisors_and_not_agents(running: ServiceApp) -> None:
    await imported(running)
    await a_day_of_calls(running)
    client = running.client
    await login(client, "nadia")  # a viewer reads the page, in Arabic, without the forms that change things
    page = await client.get("/campaigns")
    html = await page.text()
    assert page.status == 200, html
    assert 'lang="ar"' in html and 'dir="rtl"' in html and "حملات المتابعة" in html
    assert 'href="/campaigns"' in html  # the header links to it: this profile has campaigns
    assert 'id="import-form"' not in html and 'data-act="alert-ack"' not in html
    assert "/api/v1/campaigns/followup/people.csv?day=" in html
    await login(client, "boss")
    html = await (await client.get("/campaigns")).text()
    assert 'id="import-form"' in html and 'data-act="alert-ack"' in html and "0790000003" in html  # the open alert
    wallboard = await (await client.get("/")).text()
    assert 'id="wb-alerts"' in wallboard and 'data-alert="' in wallboard  # the banner, until acknowledged
    await login(client, "desk")
    refused = await client.get("/campaigns", allow_redirects=False)
    assert refused.status in (303, 403)  # an agent's login reaches their desk only
    desk = await (await client.get("/desk")).text()
    assert 'id="dial"' in desk and 'id="dial-contacts"' in desk  # click to call, with today's people


async def test_without_campaigns_there_is_no_campaigns_page_and_no_link(tmp_path: Path) -> None:
    async with running_service(tmp_path) as running:  # moh-151 as shipped
        await running.app[CONSOLE].store.add_user("boss", PASSWORD, "supervisor", "en")
        await login(running.client, "boss")
        assert (await running.client.get("/campaigns")).status == 404
        assert 'href="/campaigns"' not in await (await running.client.get("/")).text()
