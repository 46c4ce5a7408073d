"""Every ring imports the shared test helpers as ``support`` (tests/support): tests/ goes on sys.path."""

from __future__ import annotations

import sys
from pathlib import Path

_TESTS = str(Path(__file__).resolve().parent)
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)


# The longest modules first: `make test` hands whole modules to its workers in collection order (pytest-xdist,
# --dist loadfile), so a long end-to-end module collected last would keep one worker busy while the other idles.
# Roughly longest first (seconds of a run on 2 cores); every module not named keeps its place after these.
LONGEST_FIRST = (
    "e2e/test_cases_phone.py",
    "e2e/test_callbacks.py",
    "e2e/test_cases_desk.py",
    "e2e/test_transfers.py",
    "e2e/test_hardening.py",
    "e2e/test_conference.py",
    "e2e/test_campaign.py",
    "e2e/test_routing.py",
    "e2e/test_supervisor_ear.py",
    "e2e/test_calls.py",
    "e2e/test_place_in_line.py",
    "e2e/test_screening.py",
    "e2e/test_console_campaign.py",
    "e2e/test_recording.py",
    "e2e/test_console.py",
    "e2e/test_survey_after_case.py",
    "e2e/test_manual_dial.py",
    "e2e/test_survey.py",
    "e2e/test_place_in_line_patient_services.py",
    "e2e/test_calendar.py",
    "adapters/test_callback_store.py",
    "adapters/test_console_schemathesis.py",
)


def pytest_collection_modifyitems(config: object, items: list) -> None:
    rank = {name: position for position, name in enumerate(LONGEST_FIRST)}

    def place(item: object) -> int:
        path = Path(str(getattr(item, "fspath", "")))
        return rank.get(f"{path.parent.name}/{path.name}", len(rank))

    items.sort(key=place)  # stable: a module's tests keep their order, the unnamed modules theirs
