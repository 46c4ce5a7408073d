"""The wallboard as a supervisor reads it (issue 13, item 7), on the service as the root builds it with a fake
app_queue over real AMI and a real SQLite database: a person on a call is counted once, today's calls per
half-hour and the service level come from the records, and topics, specialties, queues and shifts show with the
profile's labels in the reader's language."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from support.app import PROFILE, running_service

from cdr.builder import CallRecord, Outcome
from console import i18n
from console.app import CONSOLE
from routing.state import PersonState

PASSWORD = "correct horse battery"


@pytest.fixture
async def board(tmp_path):
    async with running_service(tmp_path) as running:
        store = running.app[CONSOLE].store
        boss = await store.add_user("boss", PASSWORD, "supervisor", "en")
        await store.add_user("layla", PASSWORD, "viewer", "ar")
        token = await store.add_token(boss, "tests")
        yield running, {"Authorization": f"Bearer {token}"}


async def sign_in(running, name: str) -> None:
    response = await running.client.post("/api/v1/session", json={"name": name, "password": PASSWORD})
    assert response.status == 200, await response.text()


def connect(queue: str, person: str, uniqueid: str) -> dict[str, str]:
    return {"Event": "AgentConnect", "Timestamp": f"{time.time():.6f}", "Channel": f"PJSIP/trunk-{uniqueid[-4:]}",
            "Uniqueid": uniqueid, "Linkedid": uniqueid, "DestChannel": f"PJSIP/{person}-00000009", "Queue": queue,
            "MemberName": person, "Interface": f"PJSIP/{person}", "HoldTime": "5", "RingTime": "1"}  # fmt: skip


def text_of(html: str) -> str:
    """What a reader sees: no tags, no scripts' data."""
    html = re.sub(r"<script[^>]*>.*?</script>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


async def test_a_person_on_a_call_is_counted_once_not_in_every_queue(board):
    running, auth = board
    client, service = running.client, running.service
    response = await client.post("/api/v1/agents/agent-ar-1/login", headers=auth)
    assert response.status == 200, await response.text()
    await running.ami.wait_until(lambda: len(service.desk.snapshot().people["agent-ar-1"].queues) > 1)
    queues = set(service.desk.snapshot().people["agent-ar-1"].queues)
    assert {"ar-general", "ar-virus"} <= queues  # a member of several queues
    before = await (await client.get("/api/v1/wallboard", headers=auth)).json()
    assert before["totals"]["available"] == 1 and before["totals"]["on_call"] == 0
    await running.app_queue.broadcast(connect("ar-general", "agent-ar-1", "1770000000.4321"))
    await running.ami.wait_until(lambda: service.desk.snapshot().people["agent-ar-1"].state is PersonState.ON_CALL)
    board_now = await (await client.get("/api/v1/wallboard", headers=auth)).json()
    rows = {row["queue"]: row for row in board_now["queues"]}
    assert board_now["totals"]["on_call"] == 1
    assert rows["ar-general"]["on_call"] == 1
    assert sum(row["on_call"] for row in rows.values()) == 1, {q: r["on_call"] for q, r in rows.items() if r["on_call"]}
    assert all(rows[q]["available"] == 0 for q in queues)  # busy: not available anywhere either
    # the page says the same
    await sign_in(running, "boss")
    page = await (await client.get("/")).text()
    on_call = re.findall(r'<td data-field="on_call">(\d+)</td>', page)
    assert sorted(on_call, reverse=True)[:2] == ["1", "0"] and on_call.count("1") == 1


async def test_today_s_calls_per_half_hour_and_the_service_level_once_there_are_calls(board):
    running, auth = board
    client, service = running.client, running.service
    first = await (await client.get("/api/v1/wallboard", headers=auth)).json()
    assert first["interval_minutes"] == 30 and first["intervals"] == []
    assert first["totals"]["service_level_today"] is None
    await sign_in(running, "boss")
    empty = await (await client.get("/")).text()
    assert 'id="today-chart"' in empty and "<rect" not in empty
    assert re.search(r'id="today-none"\s*>', empty) and re.search(r'id="sl-none"\s*>', empty)  # shown, not hidden

    now = datetime.now(UTC)
    midnight = datetime.now(ZoneInfo(PROFILE.timezone)).replace(hour=0, minute=0, second=0, microsecond=0)

    def record(n: int, at: datetime, outcome: Outcome, wait: float) -> CallRecord:
        answered = outcome is Outcome.ANSWERED
        return CallRecord(f"1770000100.{n}", f"9655000000{n}", None, at, "ar", "general", None, "ar-general", wait,
                          outcome, "agent-ar-1" if answered else None, 60.0 if answered else None, 16, None,
                          at + timedelta(seconds=90))  # fmt: skip

    store = service.records.store
    await store.add(record(1, midnight + timedelta(minutes=1), Outcome.ANSWERED, 5.0))  # the day's first half-hour
    await store.add(record(2, now - timedelta(seconds=5), Outcome.ANSWERED, 5.0))  # this half-hour
    await store.add(record(3, now - timedelta(seconds=4), Outcome.ANSWERED, 45.0))  # answered late
    await store.add(record(4, now - timedelta(seconds=3), Outcome.ABANDONED_QUEUE, 30.0))
    await store.add(record(5, midnight - timedelta(minutes=5), Outcome.ANSWERED, 5.0))  # yesterday: not today's
    running.app[CONSOLE].invalidate()
    data = await (await client.get("/api/v1/wallboard", headers=auth)).json()
    by_start = {i["start"]: i for i in data["intervals"]}
    assert sum(i["offered"] for i in data["intervals"]) == 4
    this_half_hour = now.timestamp() // 1800 * 1800
    current = by_start[this_half_hour]
    if midnight.timestamp() // 1800 * 1800 != this_half_hour:  # not just after midnight
        assert (current["offered"], current["answered"], current["answered_within"]) == (3, 2, 1)
        assert by_start[midnight.timestamp()]["offered"] == 1
    assert data["totals"]["answered_today"] == 3 and data["totals"]["answered_within_today"] == 2
    assert data["totals"]["service_level_today"] == pytest.approx(2 / 3)
    page = await (await client.get("/")).text()
    assert re.search(r'id="today-none"\s+hidden', page) and re.search(r'id="sl-none"\s+hidden', page)
    assert '<b data-total="service_level_today">67%</b>' in page
    slot = int((this_half_hour - midnight.timestamp()) // 1800)
    assert f'data-slot="{slot}"' in page and page.count('<rect class="offered"') == len(data["intervals"])
    # the live feed carries the same figures for the page's script
    ws = await client.ws_connect("/api/v1/live")
    pushed = await ws.receive_json(timeout=5)
    assert pushed["intervals"] == data["intervals"]
    await ws.close()


async def test_queues_topics_specialties_and_shifts_show_with_the_profile_s_labels_in_the_reader_s_language(board):
    running, _auth = board
    client = running.client
    await sign_in(running, "layla")  # Arabic
    wallboard = text_of(await (await client.get("/")).text())
    assert "العربية · الشكاوى والاقتراحات" in wallboard and "الإنجليزية · لطب الأطفال" in wallboard
    for raw in ("ar-complaints", "ar-medical-paediatrics", "en-general"):
        assert raw not in wallboard, raw
    shift = PROFILE.shift_at(datetime.now(UTC))
    assert shift is not None and f"الوردية الحالية: {i18n.shift_label(PROFILE, shift.id, 'ar')}" in wallboard
    queues = await (await client.get("/queues")).text()
    shown = text_of(queues)
    assert "الصباحية (06:00–14:00)" in shown and "الليلية (22:00–06:00)" in shown
    assert not re.search(r"\bmorning\b|\bnight\b", shown)
    assert "ar-medical-paediatrics" not in shown and "العربية · الاستفسارات العامة" in shown  # overflow
    agents = text_of(await (await client.get("/agents")).text())
    assert "الشكاوى والاقتراحات" in agents and "الطب الباطني" in agents and "complaints" not in agents
    running.client.session.cookie_jar.clear()
    await sign_in(running, "boss")  # English
    english = text_of(await (await client.get("/")).text())
    assert "English · complaints and suggestions" in english and "Arabic · paediatrics" in english
    assert "Morning (06:00–14:00)" in text_of(await (await client.get("/queues")).text())
    reports = text_of(await (await client.get("/reports")).text())
    assert "Evening (14:00–22:00)" in reports and not re.search(r"\bevening\b", reports)
    # the page's script gets every queue's label too (for the live updates of the agents' queues)
    page = await (await client.get("/agents")).text()
    assert '"ar-general": "Arabic · general inquiries"' in page


async def test_a_queue_or_shift_the_profile_does_not_know_is_shown_as_it_is():
    assert i18n.queue_label(PROFILE, "xx-unknown", "ar") == "xx-unknown"
    assert i18n.shift_label(PROFILE, "weekend", "en") == "weekend"
    assert i18n.shift_label(PROFILE, None, "ar") == "–"
    assert i18n.topic_label(PROFILE, "nope", "ar") == "nope"


async def test_the_header_links_the_features_pages_once_they_are_mounted():
    from aiohttp import web

    from console.base import OPTIONAL_NAV, _mounted

    async def page(_request: web.Request) -> web.Response:
        return web.Response(text="")

    app = web.Application()
    app.router.add_get("/calendar", page)
    app.router.add_get("/calendar/{day}", page)
    assert [path for path, _ in OPTIONAL_NAV if path in _mounted(app)] == ["/calendar"]
    assert _mounted(web.Application()) == frozenset()
