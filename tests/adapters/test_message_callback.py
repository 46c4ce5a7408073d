"""A message left while a topic is closed becomes a callback request for its next opening (the root's
``leave_message`` over the real CallbackService and store), or a case when the profile keeps cases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from callbacks.db import CallbackStore
from callbacks.model import Origin, RequestStatus
from callbacks.service import CallbackService
from hotline.messages import MESSAGE_DESCRIPTION, leave_message
from ivr.message import LeftMessage
from profiles.model import load_profile
from storage.engine import upgrade

PROFILE = load_profile(Path(__file__).parents[2] / "profiles" / "moh-151.yaml")
NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
SUNDAY = datetime(2026, 12, 6, 5, 0, tzinfo=UTC)


@pytest.fixture
async def service(db_url: str) -> AsyncIterator[CallbackService]:
    upgrade(db_url)
    store = CallbackStore(db_url)
    yield CallbackService(PROFILE, None, store, None, None, "test", clock=lambda: NOW)  # type: ignore[arg-type]
    await store.close()


def message(number: str | None = "96512345", answer_at: datetime | None = SUNDAY) -> LeftMessage:
    return LeftMessage(number, "ar", "medical", "ar-medical", None, None, "1700000000.9", answer_at)


async def test_a_message_is_a_callback_request_not_dialled_before_the_next_opening(service) -> None:
    assert await leave_message(None, service)(message()) is True
    (request,) = await service.open_requests()
    assert request.origin is Origin.MESSAGE and request.status is RequestStatus.OPEN
    assert request.number == "96512345" and request.queue == "ar-medical" and request.topic == "medical"
    assert request.next_attempt_at == SUNDAY and request.original_linkedid == "1700000000.9"
    assert request.expires_at == SUNDAY + timedelta(seconds=PROFILE.callbacks.expire_after_seconds)
    # The store does not hand it to the scheduler before then.
    assert await service.store.claim([request.id], "test", SUNDAY - timedelta(seconds=1)) == []
    assert len(await service.store.claim([request.id], "test", SUNDAY)) == 1


async def test_a_withheld_or_bad_number_leaves_no_request(service) -> None:
    assert await leave_message(None, service)(message(number=None)) is False
    assert await leave_message(None, service)(message(number="07x1")) is False
    assert await service.open_requests() == []


async def test_with_cases_the_message_is_a_case_with_the_voice_note(tmp_path) -> None:
    opened: list[dict] = []

    class Cases:
        async def open(self, **fields):
            opened.append(fields)
            return type("Case", (), {"number": "2612-0001"})()

    note = tmp_path / "n.wav"
    said = LeftMessage("96512345", "en", "medical", "en-medical", note, 3.5, "1700000000.9", SUNDAY)
    assert await leave_message(Cases(), None)(said) is True  # type: ignore[arg-type]
    (fields,) = opened
    assert fields["category"] == "medical" and fields["voice_note"] == str(note)
    assert fields["voice_note_seconds"] == 3.5 and fields["description"] == MESSAGE_DESCRIPTION
    assert fields["linkedid"] == "1700000000.9" and fields["source"] == "phone"
