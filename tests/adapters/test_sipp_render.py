"""telephony.sipp.render: hostile values are escaped once, for the context they land in.

Attributes are XML-escaped in the entities SIPp's own parser decodes; the SIP messages inside
CDATA carry values as they are, with SIPp's \\xHH escapes for [ ] and \\. The pure tests parse
the rendered XML; the last ones run SIPp against SIPp on loopback, so SIPp must accept the
scenarios and put the values on the wire unchanged.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from telephony.sipp.driver import AgentPhone, free_udp_port, place_call
from telephony.sipp.render import (
    ENVIRONMENT,
    ScenarioError,
    render_call_scenario,
    render_dial_scenario,
    render_register_scenario,
    render_scenario,
    sip_display_name,
)

HOSTILE_NAMES = [
    'Dr. "Ahmad" <ahmad@example.org> & Co',
    "end ]]> of the CDATA section",
    'د. "أحمد" الحسيني',
    "[call_id] [$from_hdr] \\x5B back\\slash",
    "&amp; &lt; already an entity",
]

SCENARIOS = Path(__file__).resolve().parents[2] / "telephony" / "sipp" / "scenarios"


def call_scenario(**overrides: object) -> str:
    values: dict[str, object] = {
        "target_host": "127.0.0.1",
        "target_port": 5060,
        "number": "151",
        "caller_number": "1001",
        "dtmf": [(0.5, "1"), (0, "#")],
        "hangup_after": None,
        "max_duration": 30,
        "answer_timeout": 5,
    }
    values.update(overrides)
    return render_call_scenario(**values)  # type: ignore[arg-type]


def sip_messages(scenario: str) -> list[str]:
    """The SIP message templates (CDATA text of every <send>) of a parsed scenario."""
    root = ET.fromstring(scenario.encode())
    return [send.text or "" for send in root.iter("send")]


def as_sent(message_line: str) -> str:
    """What SIPp sends for a line of a message template: \\xHH escapes decoded."""
    return re.sub(r"\\x([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), message_line)


def from_lines(scenario: str) -> list[str]:
    return [
        line.strip()
        for message in sip_messages(scenario)
        for line in message.splitlines()
        if line.strip().startswith("From:")
    ]


# --------------------------------------------------------------------------- rendering


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_a_hostile_caller_name_renders_to_xml_that_parses_and_carries_the_name_once(name: str) -> None:
    scenario = call_scenario(caller_name=name)

    froms = from_lines(scenario)
    assert len(froms) == 8  # INVITE, its ACK, INFO x2, BYE, ACK of a rejection, CANCEL, ACK of the 487
    for line in froms:
        assert as_sent(line).startswith(f"From: {sip_display_name(name)}<sip:1001@[local_ip]>;tag=")
        # the only SIPp keywords left on the line are the template's own
        assert re.findall(r"\[[^\]]*\]", line) == ["[local_ip]", "[pid]", "[call_number]"]


def test_values_in_sip_messages_are_not_xml_escaped() -> None:
    scenario = call_scenario(caller_number="10&2'3$", caller_name="A & B")

    for message in sip_messages(scenario):
        assert "&amp;" not in message and "&apos;" not in message and "&#" not in message
    assert all('"A & B" <sip:10&2\'3$@[local_ip]>' in line for line in from_lines(scenario))


def test_every_string_in_a_sip_message_goes_through_the_sipp_filter() -> None:
    numbers = {
        "target_port",
        "registrar_port",
        "contact_port",
        "expires",
        "bye_cseq",
        "status",
        "step.cseq",
        "attempt",
        "dtmf_duration_ms",
    }
    unfiltered = []
    for template in sorted(SCENARIOS.iterdir()):
        for cdata in re.findall(r"<!\[CDATA\[(.*?)\]\]>", template.read_text(encoding="utf-8"), re.S):
            for expression in re.findall(r"\{\{(.*?)\}\}", cdata):
                expression = expression.strip()
                if not expression.endswith("|sipp") and expression not in numbers:
                    unfiltered.append((template.name, expression))
    assert unfiltered == []


def test_values_in_attributes_are_escaped_in_the_entities_sipp_decodes() -> None:
    value = "a&b<c>\"d'e ك"
    text = ENVIRONMENT.from_string('<x a="{{ v }}"/>').render(v=value)

    assert ET.fromstring(text.encode()).get("a") == value
    # SIPp's parser knows &amp; &lt; &gt; &quot; only: no numeric references
    assert "&#" not in text and "&apos;" not in text

    dial = render_dial_scenario(
        target_host="127.0.0.1",
        target_port=5060,
        extension="*41",
        user="a&b'c",
        hangup_after=None,
        max_duration=30,
        answer_timeout=5,
    )
    assert ET.fromstring(dial.encode()).get("name") == "hotline dial a&b'c"
    assert all("<sip:a&b'c@[local_ip]>" in line for line in from_lines(dial))


@pytest.mark.parametrize("value", ["back\\slash", "line\nbreak", "cr\rhere", "nul\x00"])
def test_a_value_sipp_would_misread_in_an_attribute_is_refused(value: str) -> None:
    with pytest.raises(ScenarioError):
        ENVIRONMENT.from_string('<x a="{{ v }}"/>').render(v=value)


@pytest.mark.parametrize("name", ["a\r\nVia: evil", "line\nbreak", "nul\x00"])
def test_a_line_break_cannot_reach_a_sip_message(name: str) -> None:
    with pytest.raises(ValueError):
        call_scenario(caller_name=name)
    with pytest.raises(ValueError):
        ENVIRONMENT.from_string("<x><![CDATA[{{ v|sipp }}]]></x>").render(v=name)


def test_a_missing_value_is_an_error_not_an_empty_string() -> None:
    with pytest.raises(ScenarioError, match=r"uac_register\.xml"):
        render_scenario("uac_register.xml", user="doc-1")


def test_the_register_scenario_takes_its_credentials_from_the_injection_file() -> None:
    text = render_register_scenario(
        user="doc-1", registrar=("127.0.0.1", 5060), contact_port=30000, expires=60, timeout=2
    )
    [challenged, authenticated] = sip_messages(text)

    assert "[authentication" not in challenged
    assert '[authentication username="[field0]" password="[field1]"]' in authenticated
    assert "Contact: <sip:doc-1@127.0.0.1:30000;transport=udp>" in authenticated


# --------------------------------------------------------------------------- SIPp accepts them

pytestmark_sipp = pytest.mark.skipif(shutil.which("sipp") is None, reason="SIPp (sip-tester) is not installed")


async def wait_for(predicate: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


@pytestmark_sipp
async def test_hostile_caller_names_and_numbers_reach_the_phone_exactly(tmp_path: Path) -> None:
    phone = AgentPhone(
        "doc-ar-paed-1", "s3cret", local_port=free_udp_port(), ring_seconds=0.1, workdir=tmp_path / "phone"
    )
    callers = {f"30{i:02d}": name for i, name in enumerate(HOSTILE_NAMES)}
    callers["40&1'2$"] = "plain"
    await phone.start()
    try:
        results = await asyncio.gather(
            *(
                place_call(
                    "127.0.0.1",
                    phone.local_port,
                    caller_number=number,
                    caller_name=name,
                    hangup_after=0.1,
                    workdir=tmp_path / "callers",
                )
                for number, name in callers.items()
            )
        )
        assert all(r.answered and r.error is None for r in results), [r.error for r in results]
        await wait_for(lambda: len(phone.answered_calls()) == len(callers))
    finally:
        await phone.stop()

    assert {call.caller_number: call.caller_name for call in phone.answered_calls()} == callers
    for scenario in (tmp_path / "callers").glob("*.xml"):
        ET.parse(scenario)
