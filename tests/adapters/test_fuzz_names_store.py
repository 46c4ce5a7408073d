"""Hostile caller names and numbers through the record store, on SQLite and PostgreSQL (issue 15, item 5).

The rule (``cdr.db.storable_text``): a name or number is read back exactly as the phone sent it, with two
visible exceptions, the same on both databases: a character no database text can hold (NUL, which
PostgreSQL refuses; a lone surrogate) becomes U+FFFD, and text longer than its column (255 characters for
a name, 128 for a number) keeps its start and ends with U+2026. Before this, PostgreSQL refused such a
record whole (NUL, or a 1 KB name in ``VARCHAR(255)``) and the call had no record.
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdr.builder import CallRecord, Outcome
from cdr.db import CALLER_NAME_LENGTH, CALLER_NUMBER_LENGTH, ELLIPSIS, REPLACEMENT, RecordStore, storable_text
from cdr.rows import CallRecordRow
from storage.engine import upgrade

STARTED = datetime(2024, 2, 1, 9, 30, tzinfo=UTC)
_ids = itertools.count(1)

HOSTILE = [
    'Abu "Sami" O\'Brien',
    "line one\nline two\r\nAction: Originate\r\n\r\n",
    "${SHELL(id)} $[1+1] ${EXTEN}",
    "\u202eevil\u202c gnp.exe",
    "nul\x00inside",
    "\x00",
    "<script>alert(1)</script> & &amp;",
    "\ufffd already replaced",
    "محمد عبدالله 🙂 Rene\u0301",
    "lone \ud800 surrogate",
    "x" * 1024,
    "ب" * 1024,
    "y" * 65536,
    "",
]


def a_record(name: str | None, number: str | None) -> CallRecord:
    return CallRecord(
        linkedid=f"1706779800.{next(_ids)}",
        caller_number=number,
        caller_name=name,
        started_at=STARTED,
        language="ar",
        topic="general",
        specialty=None,
        queue="ar-general",
        wait_seconds=3.0,
        outcome=Outcome.ABANDONED_QUEUE,
        agent=None,
        talk_seconds=None,
        hangup_cause=16,
        hangup_cause_text="Normal Clearing",
        ended_at=STARTED,
    )


def expected(value: str | None, length: int) -> str | None:
    """The rule, spelled out independently of the store's code."""
    if value is None:
        return None
    text = "".join(REPLACEMENT if c == "\x00" or 0xD800 <= ord(c) <= 0xDFFF else c for c in value)
    return text if len(text) <= length else text[: length - 1] + ELLIPSIS


async def round_trip(url: str, name: str | None, number: str | None) -> CallRecord:
    store = RecordStore(url)
    try:
        record = a_record(name, number)
        assert await store.add(record)
        stored = await store.get(record.linkedid)
        assert stored is not None
        return stored
    finally:
        await store.close()


def test_the_limits_are_the_columns() -> None:
    columns = CallRecordRow.__table__.c
    assert columns.caller_name.type.length == CALLER_NAME_LENGTH  # type: ignore[attr-defined]
    assert columns.caller_number.type.length == CALLER_NUMBER_LENGTH  # type: ignore[attr-defined]


async def test_hostile_names_are_stored_byte_exact_or_visibly_replaced(db_url: str) -> None:
    upgrade(db_url)
    store = RecordStore(db_url)
    try:
        for name in HOSTILE:
            record = a_record(name, name[:200])
            assert await store.add(record), name[:40]
            stored = await store.get(record.linkedid)
            assert stored is not None
            assert stored.caller_name == expected(name, CALLER_NAME_LENGTH)
            assert stored.caller_number == expected(name[:200], CALLER_NUMBER_LENGTH)
            if "\x00" not in name and "\ud800" not in name and len(name) <= CALLER_NAME_LENGTH:
                assert stored.caller_name is not None and stored.caller_name.encode() == name.encode()  # byte-exact
            if "\x00" in name:
                assert "\x00" not in (stored.caller_name or "") and REPLACEMENT in (stored.caller_name or "")
            if len(name) > CALLER_NAME_LENGTH:
                assert stored.caller_name is not None and stored.caller_name.endswith(ELLIPSIS)
                assert len(stored.caller_name) == CALLER_NAME_LENGTH
        assert len(await store.by_caller(expected("nul\x00inside", CALLER_NUMBER_LENGTH) or "")) == 1
    finally:
        await store.close()


# Any Unicode text (surrogates, NUL and controls included), short or over the column.
NAMES = st.one_of(
    st.none(),
    st.text(max_size=40),
    st.text(st.characters(codec="utf-8", categories=("Cc", "Cf", "Zl", "Zp", "Po", "Sm")), min_size=200, max_size=400),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=NAMES, number=st.one_of(st.none(), st.text(max_size=140)))
def test_any_name_and_number_follow_the_rule_on_both_databases(
    db_url: str, name: str | None, number: str | None
) -> None:
    upgrade(db_url)
    stored = asyncio.run(round_trip(db_url, name, number))
    assert stored.caller_name == expected(name, CALLER_NAME_LENGTH)
    assert stored.caller_number == expected(number, CALLER_NUMBER_LENGTH)


@given(st.text(), st.integers(min_value=2, max_value=300))
def test_storable_text_only_replaces_what_cannot_be_stored(value: str, length: int) -> None:
    stored = storable_text(value, length)
    assert stored == expected(value, length)
    assert stored is not None and len(stored) <= length
    stored.encode("utf-8")  # always encodable: no lone surrogate is left


def test_the_console_puts_a_caller_name_on_the_page_as_text_only() -> None:
    # The desk's screen pop shows the stored name and number with textContent, and the console's script
    # never builds HTML from data; its pages are Jinja2 templates with autoescape (console/app.py).
    console = Path(__file__).parents[2] / "console"
    desk = (console / "static" / "desk.js").read_text()
    assert '$("pop-name").textContent = call.caller_name' in desk
    assert '$("pop-number").textContent = call.caller_number' in desk
    # ... in a <bdi>, so a name with U+202E (RIGHT-TO-LEFT OVERRIDE) cannot turn the text after it around
    page = (console / "templates" / "desk.html").read_text()
    assert '<bdi id="pop-name">' in page and '<bdi id="pop-number" dir="ltr">' in page
    for script in (console / "static").glob("*.js"):
        code = script.read_text()
        assert "innerHTML" not in code and "insertAdjacentHTML" not in code and "outerHTML" not in code, script
    assert "autoescape=True" in (console / "app.py").read_text()
    for template in (console / "templates").glob("*.html"):
        assert "caller_name|safe" not in template.read_text().replace(" ", ""), template
