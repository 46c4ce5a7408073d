"""The case model: numbers with a Verhoeff check digit, PINs, the status moves, and bad input refused."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from unit.test_profile import with_cases

from cases.model import (
    MAX_DESCRIPTION,
    TRANSITIONS,
    Case,
    CaseError,
    check_digit,
    check_report,
    new_case,
    new_number,
    new_pin,
    plan_change,
    valid_number,
    webhook_body,
)
from profiles.model import CASE_STATUSES, parse_profile

T0 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
PROFILE = parse_profile(with_cases(), source="p.yaml")


def a_case(**changes: object) -> Case:
    report = check_report(PROFILE, category="complaints", description="rubbish in the street", language="ar",
                          actor="amal")  # fmt: skip
    case = new_case(report, number=new_number(), pin=new_pin(), caller_number="0791234567", now=T0,
                    sla_hours=PROFILE.sla_hours("complaints"))  # fmt: skip
    from dataclasses import replace

    return replace(case, **changes)  # type: ignore[arg-type]


# -- numbers -----------------------------------------------------------------------------------------------


def test_known_verhoeff_check_digits():
    # The published examples of the scheme: 236 -> 3, 12345 -> 1, 142857 -> 0.
    assert check_digit("236") == "3"
    assert check_digit("12345") == "1"
    assert check_digit("142857") == "0"


def test_a_new_number_is_nine_digits_first_not_zero_and_valid():
    for _ in range(500):
        number = new_number()
        assert len(number) == 9 and number.isdigit() and number[0] != "0"
        assert valid_number(number)


def test_numbers_are_not_in_sequence_and_come_from_the_given_source():
    assert new_number(lambda n: 0)[:8] == "10000000"  # the first digit is never 0
    assert new_number(lambda n: n - 1)[:8] == "99999999"
    # 8 random digits: 90 million numbers; 1000 draws collide with odds of about 1 in 180 (the store draws again)
    assert len({new_number() for _ in range(1000)}) >= 998


@pytest.mark.parametrize("text", ["", "12345678", "1234567890", "12345678a", "１２３４５６７８９", " 23636363", None])
def test_not_nine_ascii_digits_is_not_a_number(text):
    assert valid_number(text or "") is False


def test_a_pin_is_four_digits():
    pins = {new_pin() for _ in range(300)}
    assert all(len(p) == 4 and p.isdigit() for p in pins) and len(pins) > 100
    assert new_pin(lambda n: 0) == "0000"


@given(st.integers(min_value=0, max_value=2**32))
def test_every_single_digit_error_and_adjacent_transposition_is_refused(seed):
    number = new_number(random.Random(seed).randrange)
    assert valid_number(number)
    for position in range(9):
        for digit in "0123456789":
            if digit != number[position]:
                typo = number[:position] + digit + number[position + 1 :]
                assert not valid_number(typo), (number, typo)
    for position in range(8):
        a, b = number[position], number[position + 1]
        if a != b:
            swapped = number[:position] + b + a + number[position + 2 :]
            assert not valid_number(swapped), (number, swapped)


# -- reports -----------------------------------------------------------------------------------------------


def test_a_new_case_is_open_due_after_its_sla_with_its_categorys_department():
    case = a_case()
    assert case.status == "open" and case.version == 1 and case.closed_at is None
    assert case.department == "public_health" and case.due_at == T0 + timedelta(hours=48)
    assert not case.overdue(T0 + timedelta(hours=48)) and case.overdue(T0 + timedelta(hours=48, seconds=1))
    virus = check_report(PROFILE, category="virus", description="x", language="en", actor="a")
    assert virus.department == "technical"  # the default department


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"category": "parks"}, "category", "'parks' is not a category"),
        ({"description": ""}, "description", "must not be empty"),
        ({"description": "   "}, "description", "must not be empty"),
        ({"description": "x" * (MAX_DESCRIPTION + 1)}, "description", "2001 characters long (at most 2000)"),
        ({"location": "y" * 201}, "location", "at most 200"),
        ({"district": "salmiya"}, "district", "'salmiya' is not a district (one of hawalli)"),
        ({"department": "roads"}, "department", "'roads' is not a department"),
        ({"language": "fr"}, "language", "'fr' is not a language"),
        ({"source": "fax"}, "source", "source must be one of"),
        ({"actor": ""}, "actor", "actor must not be empty"),
    ],
)
def test_bad_reports_are_refused_naming_the_field(changes, field, words):
    fields = {"category": "complaints", "description": "d", "language": "ar", "actor": "amal", **changes}
    with pytest.raises(CaseError) as refused:
        check_report(PROFILE, **fields)
    assert refused.value.field == field and words in refused.value.message


def test_a_description_of_exactly_2000_characters_and_a_voice_note_without_text_pass():
    assert (
        len(check_report(PROFILE, category="virus", description="x" * 2000, language="ar", actor="a").description)
        == 2000
    )
    spoken = check_report(PROFILE, category="complaints", description="", language="ar", actor="phone",
                          source="phone", voice_note="abc.wav")  # fmt: skip
    assert spoken.description == ""


def test_a_profile_without_cases_refuses_every_report():
    from unit.test_profile import good

    with pytest.raises(CaseError, match="keeps no cases"):
        check_report(parse_profile(good(), source="p.yaml"), category="virus", description="d", language="ar",
                     actor="a")  # fmt: skip


# -- changes -----------------------------------------------------------------------------------------------

LATER = T0 + timedelta(hours=1)


@pytest.mark.parametrize("old", CASE_STATUSES)
@pytest.mark.parametrize("new", CASE_STATUSES)
def test_the_status_moves_only_along_the_transitions(old, new):
    case = a_case(status=old)
    if new == old:
        with pytest.raises(CaseError, match="nothing to change"):
            plan_change(PROFILE, case, actor="s", now=LATER, status=new)
        return
    if new not in TRANSITIONS[old]:
        with pytest.raises(CaseError, match=f"cannot become {new}"):
            plan_change(PROFILE, case, actor="s", now=LATER, status=new, reason="because")
        return
    change = plan_change(PROFILE, case, actor="s", now=LATER, status=new, reason="because")
    assert change.case.status == new and change.case.version == case.version + 1 and change.status_changed
    assert change.case.updated_at == LATER
    assert change.case.closed_at == (LATER if new in ("closed", "rejected") else None)
    assert [(h.action, h.old, h.new, h.note) for h in change.history] == [("status", old, new, "because")]


@pytest.mark.parametrize(("old", "new"), [("open", "closed"), ("in_progress", "rejected"), ("closed", "open"),
                                          ("rejected", "open")])  # fmt: skip
def test_closing_rejecting_and_reopening_need_a_reason(old, new):
    with pytest.raises(CaseError) as refused:
        plan_change(PROFILE, a_case(status=old), actor="s", now=LATER, status=new, reason="  ")
    assert refused.value.field == "reason" and "needs a reason" in refused.value.message


def test_a_bad_status_or_department_or_an_empty_change_is_refused():
    case = a_case()
    for kwargs, words in [
        ({"status": "done"}, "'done' is not a status"),
        ({"department": "roads"}, "'roads' is not a department"),
        ({}, "nothing to change"),
        ({"reason": "why"}, "a reason goes with a change of status"),
        ({"note": "n" * 1001}, "at most 1000"),
    ]:
        with pytest.raises(CaseError, match=words):
            plan_change(PROFILE, case, actor="s", now=LATER, **kwargs)


def test_a_department_and_a_note_are_history_too():
    change = plan_change(PROFILE, a_case(), actor="sara", now=LATER, status="assigned", department="technical",
                         note="sent to the roads team")  # fmt: skip
    assert change.case.department == "technical" and change.case.status == "assigned"
    assert [(h.actor, h.action, h.old, h.new, h.note) for h in change.history] == [
        ("sara", "status", "open", "assigned", None),
        ("sara", "department", "public_health", "technical", None),
        ("sara", "note", None, None, "sent to the roads team"),
    ]
    note_only = plan_change(PROFILE, a_case(), actor="sara", now=LATER, note="called back")
    assert not note_only.status_changed and note_only.case.version == 2


def test_the_webhook_body_is_compact_json_with_the_event_and_the_case():
    import json

    case = a_case()
    body = json.loads(webhook_body("case.created", "e1", case, T0))
    assert body == {"event_id": "e1", "kind": "case.created", "number": case.number, "status": "open",
                    "category": "complaints", "department": "public_health", "version": 1,
                    "at": "2027-03-01T09:00:00+00:00"}  # fmt: skip
