"""Callers dial 151 on a real Asterisk 22 and reach a person; every call leaves one record.

Each test asserts what the caller and the agent experienced (who answered, after how long) and
what was recorded. Caller numbers are unique per test, so records never mix.
"""

from __future__ import annotations

import asyncio
import sys

import pytest

from cdr.builder import Outcome
from telephony.sipp.driver import place_call

pytestmark = pytest.mark.e2e

ARABIC = "1"
ENGLISH = "2"
MEDICAL = "2"
COMPLAINTS = "5"
PAEDIATRICS = "1"


async def call(rig, caller_number: str, **kwargs):
    return await place_call(
        "127.0.0.1",
        rig.sip_port,
        number="151",
        caller_number=caller_number,
        workdir=rig.workdir / "callers",
        **kwargs,
    )


async def test_arabic_medical_paediatrics_call_reaches_the_arabic_paediatric_doctor(rig, phones):
    arabic_paed = await phones("doc-ar-paed-1", talk_seconds=2.0)
    english_paed = await phones("doc-en-paed-1", talk_seconds=2.0)
    arabic_internal = await phones("doc-ar-int-1", talk_seconds=2.0)

    result = await call(
        rig,
        "96550000001",
        caller_name="محمد عبدالله",
        dtmf=[(1.0, ARABIC), (0.8, MEDICAL), (0.8, PAEDIATRICS)],
        max_duration=40,
    )

    assert result.answered and result.dtmf_sent == 3, result.error
    assert result.remote_hung_up, "the doctor's phone ends the consultation"
    answered = arabic_paed.answered_calls()
    assert [(c.caller_number, c.caller_name) for c in answered] == [("96550000001", "محمد عبدالله")]
    assert english_paed.answered_calls() == [] and arabic_internal.answered_calls() == []

    (record,) = await rig.records_of("96550000001")
    assert record.outcome is Outcome.ANSWERED
    assert record.agent == "doc-ar-paed-1"
    assert (record.language, record.topic, record.specialty) == ("ar", "medical", "paediatrics")
    assert record.queue == "ar-medical-paediatrics"
    assert record.caller_name == "محمد عبدالله"
    assert record.caller_name.encode("utf-8") == "محمد عبدالله".encode()
    assert 1.5 <= record.talk_seconds <= 4.0
    assert 0 <= record.wait_seconds < 3.0
    assert record.linkedid and record.hangup_cause is not None


async def test_caller_hanging_up_in_queue_gets_one_abandoned_in_queue_record_with_the_wait(rig):
    # Nobody takes English complaints in this test: the caller waits, then gives up after ~5 s.
    result = await call(rig, "96550000002", dtmf=[(1.0, ENGLISH), (0.8, COMPLAINTS)], hangup_after=5.0)

    assert result.answered and not result.remote_hung_up, result.error
    records = await rig.records_of("96550000002")
    assert len(records) == 1
    (record,) = records
    assert record.outcome is Outcome.ABANDONED_QUEUE
    assert record.queue == "en-complaints"
    assert (record.language, record.topic) == ("en", "complaints")
    assert 4.0 <= record.wait_seconds <= 6.5
    assert record.agent is None and record.talk_seconds is None
    # A late event must not add a second record. Barrier: a later call's record. Its events come
    # after every event of this call on the service's one AMI connection, and one writer stores records in order.
    barrier = await call(rig, "96550000012", hangup_after=0.5)
    assert barrier.answered, barrier.error
    assert len(await rig.records_of("96550000012")) == 1
    assert len(await rig.records_of("96550000002", timeout=0)) == 1


async def test_caller_who_presses_nothing_reaches_the_default_queue(rig, phones):
    agent = await phones("agent-ar-1", talk_seconds=1.5)

    result = await call(rig, "96550000003", max_duration=60)

    assert result.answered and result.remote_hung_up, result.error
    assert [c.caller_number for c in agent.answered_calls()] == ["96550000003"]
    (record,) = await rig.records_of("96550000003")
    assert record.outcome is Outcome.ANSWERED
    assert record.queue == "ar-general" and record.agent == "agent-ar-1"
    assert (record.language, record.topic, record.specialty) == ("ar", "general", None)


async def test_with_the_ivr_service_stopped_a_caller_still_reaches_the_default_queue(rig, phones):
    agent = await phones("agent-ar-1", talk_seconds=1.5)
    rig.stop_service()
    try:
        # The caller presses English and a topic, but nobody is there to hear it.
        result = await call(rig, "96550000004", dtmf=[(1.0, ENGLISH), (0.8, "3")], max_duration=40)
    finally:
        rig.start_service()

    assert result.answered and result.remote_hung_up, result.error
    calls = agent.answered_calls()
    assert [c.caller_number for c in calls] == ["96550000004"]
    # Within a second or two of answering: the fallback does not wait on a dead server.
    assert calls[0].at - result.answered_at < 8.0


async def test_caller_with_an_arabic_name_hanging_up_in_the_ivr_is_recorded_with_the_name_exactly(rig):
    name = "عبدُ الله بن محمد (Abdullah) ✓"
    result = await call(rig, "96550000005", caller_name=name, hangup_after=1.0)

    assert result.answered, result.error
    (record,) = await rig.records_of("96550000005")
    assert record.caller_name.encode("utf-8") == name.encode("utf-8")
    assert record.outcome is Outcome.ABANDONED_IVR
    assert record.queue is None and record.language is None


async def test_hotline_simulate_shows_calls_answered_by_agents(rig):
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hotline",
        "simulate",
        "--callers",
        "3",
        "--agents",
        "5",
        "--talk-seconds",
        "1",
        env=rig.env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 120)
    text = out.decode()
    assert process.returncode == 0, text
    assert "3 of 3 calls answered by an agent or doctor" in text
    answered_rows = [line for line in text.splitlines() if line.startswith("9655100") and " answered " in line]
    assert len(answered_rows) == 3, text


# As the caller's phone shows them. The SIPp driver writes each as an RFC 3261 quoted-string
# (telephony.sipp.render.sip_display_name escapes " and \\), the way a phone puts it on the wire.
DISPLAY_NAMES = [
    'Dr. "Who" Smith',
    '"Quoted" whole',
    "back\\slash",
    "trailing backslash\\",
    'a\\"b',
    "\\\\ two",
    'عبد "الله" \\ محمد',
    "<script>alert(1)</script>",
    "Ben & Jerry's",
    "Smith, John; Jr.",
    "[brackets] ]]> {braces}",
    "n\\n not a newline",
    "${EXTEN} 100% $(x)",
]


async def test_callers_display_names_are_stored_as_their_phones_show_them(rig):
    numbers = {f"965500001{i:02d}": name for i, name in enumerate(DISPLAY_NAMES)}
    # caller number -> CallerIDName of Asterisk's Newchannel as AMI sent it (in the failure message;
    # tests/unit/test_events_caller_names.py keeps what Asterisk 22 sent for these names)
    delivered: dict[str, str] = {}

    def on_event(message) -> None:
        if message.event == "Newchannel" and message.get("CallerIDNum") in numbers:
            delivered.setdefault(message["CallerIDNum"], message.get("CallerIDName") or "")

    ami = rig.ami()
    ami.add_event_handler(on_event)
    await ami.start()
    try:
        await ami.wait_connected(10)
        results = await asyncio.gather(
            *(call(rig, number, caller_name=name, hangup_after=1.0) for number, name in numbers.items())
        )
        assert all(r.answered for r in results), [r.error for r in results]
        stored = {}
        for number in numbers:
            (record,) = await rig.records_of(number)
            stored[number] = record.caller_name
    finally:
        await ami.close()

    report = {numbers[n]: (delivered.get(n), stored[n]) for n in numbers}
    assert set(delivered) == set(numbers), report
    assert stored == numbers, report  # name -> (Asterisk's CallerIDName, stored)


def _scrape(rig) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://127.0.0.1:{rig.http_port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_metrics_count_a_real_call(rig):
    """/metrics (hotline.metrics) from the unprivileged service: one call is one more call ended, record written and
    IVR session, with its duration."""
    before = await asyncio.to_thread(_scrape, rig)
    result = await call(rig, "96550000090", hangup_after=1.0)
    assert result.answered, result.error
    (record,) = await rig.records_of("96550000090")

    after = await asyncio.to_thread(_scrape, rig)

    def grew(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    assert grew("hotline_calls_ended_total", outcome=record.outcome.value) == 1
    assert grew("hotline_records_written_total") == 1
    assert grew("hotline_agi_sessions_total") >= 1
    assert grew("hotline_agi_session_seconds_count", route="ivr") == 1
    assert grew("hotline_agi_session_seconds_sum", route="ivr") > 0
    assert after[("hotline_ami_connected", ())] == 1
