"""Click-to-call in the rendered dialplan (issue 14, item 3): ``hotline-manual-out`` exists only with ``outbound`` and
``manual_dialling``, checks the number again (digits, an optional +, at most 20) before its one Dial, and announces the
call from the agent's channel; the phones' own context is exactly what it was: the hotline's number and the feature
codes, so a phone still cannot dial out by itself.

The end-to-end proof against a real Asterisk is tests/e2e/test_manual_dial.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from test_transfer_conf import _contexts, _render  # tests/unit is on sys.path (rootdir-less)

from profiles.model import parse_profile

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _profile(outbound: dict[str, Any] | None) -> Any:
    data = yaml.safe_load((PROJECT_ROOT / "profiles" / "moh-151.yaml").read_text(encoding="utf-8"))
    if outbound is not None:
        data["outbound"] = outbound
    return parse_profile(data)


ALLOWED = {"allowed_numbers": ["[569][0-9]{7}", "965[569][0-9]{7}"]}


def test_the_manual_context_is_rendered_only_with_manual_dialling(tmp_path: Path) -> None:
    for outbound, present in ((None, False), ({**ALLOWED, "manual_dialling": False}, False), (ALLOWED, True)):
        contexts = _contexts(_render(tmp_path, _profile(outbound))["extensions.conf"])
        assert ("hotline-manual-out" in contexts) is present


def test_the_number_is_checked_again_before_the_one_dial_and_the_call_announced_from_the_agents_channel(
    tmp_path: Path,
) -> None:
    contexts = _contexts(_render(tmp_path, _profile(ALLOWED))["extensions.conf"])
    apps = [app for exten, app in contexts["hotline-manual-out"]]
    assert {exten for exten, _ in contexts["hotline-manual-out"]} == {"s"}
    dial = next(i for i, app in enumerate(apps) if app.startswith("Dial("))
    assert [app for app in apps if app.startswith("Dial(")] == ["Dial(PJSIP/${HOTLINE_OUTBOUND_NUMBER}@trunk,45)"]
    checks = apps[:dial]
    assert checks[0] == 'GotoIf($["${REGEX("^[+]?[0-9]+$" ${HOTLINE_OUTBOUND_NUMBER})}" != "1"]?refused)'
    assert checks[1] == "GotoIf($[${LEN(${HOTLINE_OUTBOUND_NUMBER})} > 20]?refused)"
    announce = [app for app in checks if app.startswith("UserEvent(HotlineOutbound,")]
    assert announce == [
        "UserEvent(HotlineOutbound,Kind: manual,Number: ${HOTLINE_OUTBOUND_NUMBER},Person: ${HOTLINE_OUTBOUND_PERSON},"
        "Attempt: ${HOTLINE_MANUAL_CALL})"
    ]
    refused = apps.index(next(app for app in apps if app.startswith("UserEvent(HotlineManualRefused")))
    assert refused > dial and all(not app.startswith("Dial(") for app in apps[refused:])


def test_the_phones_context_is_unchanged_by_outbound_work(tmp_path: Path) -> None:
    before = _contexts(_render(tmp_path, _profile(None))["extensions.conf"])
    after = _contexts(_render(tmp_path / "with", _profile(ALLOWED))["extensions.conf"])
    assert after["hotline-phones"] == before["hotline-phones"]
    extensions = {exten for exten, _ in after["hotline-phones"]}
    assert extensions == {"151", "*41", "*42", "*43", "*44", "_*5X", "_*5XX"}  # no pattern reaches a number outside
    assert not any(app.startswith(("Dial(", "Goto(hotline-manual-out")) for _, app in after["hotline-phones"])
    rendered = _render(tmp_path / "again", _profile(ALLOWED))["extensions.conf"]
    assert "include => hotline-manual-out" not in rendered and "Goto(hotline-manual-out" not in rendered
