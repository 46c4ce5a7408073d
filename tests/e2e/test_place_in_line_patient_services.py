"""The place in line on the patient-services line (issue 13's proof, on its own profile), against a real
Asterisk 22 with SIPp: an Arabic caller waiting for a complaints officer (nobody is logged in) hears their
place and the estimated wait in Arabic, again at the profile's interval, checked from the channel's events
(the whisper's ChanSpyStart on the caller's channel, and the playback of the sentence).

The profile is patient-services.yaml with its prompts shortened (tests/e2e/test_screening.py), open around
the clock, and the announcement every few seconds instead of its 45.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from conftest import Rig, ami_events, running_rig  # tests/e2e is on sys.path
from test_place_in_line import _joined
from test_screening import _profile as _patient_services

from telephony.sipp.driver import CallResult, place_call

pytestmark = pytest.mark.e2e

INTERVAL = 4  # seconds between two announcements to the same caller
ARABIC, COMPLAINTS = "1", "1"


def _profile(target: Path) -> Path:
    _patient_services(target)
    data = yaml.safe_load(target.read_text(encoding="utf-8"))
    assert data["queues"]["announce_position_seconds"] > 0 and data["hotline"]["name"]
    data["queues"]["announce_position_seconds"] = INTERVAL
    target.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return target


async def call(rig: Rig, number: str, digits: list[str], max_duration: float) -> CallResult:
    """A caller of the patient-services line (its own number) keying ``digits`` through the menus."""
    dtmf = [(1.0, digits[0])] + [(0.8, d) for d in digits[1:]]
    line = yaml.safe_load(Path(rig.env["HOTLINE_PROFILE"]).read_text(encoding="utf-8"))["hotline"]["number"]
    return await place_call(
        "127.0.0.1", rig.sip_port, number=str(line), caller_number=number, dtmf=dtmf,
        workdir=rig.workdir / "callers", max_duration=max_duration,
    )  # fmt: skip


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    workdir = tmp_path_factory.mktemp("hotline-place-patient-services")
    with running_rig(workdir, "e2e-place-ps", _profile(workdir / "profile.yaml")) as started:
        yield started


async def test_a_caller_waiting_on_the_patient_services_line_hears_their_place_in_arabic(rig: Rig) -> None:
    async with ami_events(rig, ["QueueCallerJoin", "ChanSpyStart", "UserEvent"]) as events:
        waiting = await call(rig, "96891300001", [ARABIC, COMPLAINTS], max_duration=3 * INTERVAL + 6)
    assert waiting.answered, waiting.error
    (joined,) = _joined(events, "ar-complaints")
    whispers = [e for e in events if e.get("Event") == "ChanSpyStart" and e.get("SpyeeChannel") == joined["Channel"]]
    assert len(whispers) >= 2, events  # at the interval, while they wait
    for whisper in whispers:  # Local/place_<language>_<position>_<minutes>_<digest>@hotline-place
        match = re.match(r"Local/place_([a-z]+)_(\d+)_(\d+)_[0-9a-f]+@hotline-place-", whisper["SpyerChannel"])
        assert match is not None and match[1] == "ar" and int(match[2]) == 1 and int(match[3]) >= 1, whisper
    played = [e for e in events if e.get("Event") == "UserEvent" and e.get("UserEvent") == "HotlinePlaceInLine"]
    assert played and {e["Status"] for e in played} == {"SUCCESS"}, played
