"""The live records path of the service as the root builds it: real Asterisk 22 streams of transferred calls arrive
on its AMI socket (the fake AMI server sends the captured bytes), and the stored record has every leg, counted once.
"""

from __future__ import annotations

from pathlib import Path

from support.app import running_service
from support.eventually import eventually
from support.streams import STREAMS

from cdr.db import RecordStore


async def test_calls_transferred_live_are_stored_with_their_legs_and_counted_once(tmp_path: Path) -> None:
    async with running_service(tmp_path) as running:
        (conn,) = running.ami.logged_in_connections
        for name in ("blind_transfer_to_destination", "attended_transfer_to_queue", "refer_transfer_to_queue"):
            await conn.send_raw((STREAMS / f"{name}.txt").read_bytes())
        async with RecordStore(running.db_url) as store:

            async def all_three() -> list:
                records = await store.list_records()
                return records if len(records) == 3 else []

            records = await eventually(all_three, timeout=10, interval=0.05, what="three records")
            by_caller = {r.linkedid: r for r in records}
            queues = {q: (m.offered, m.answered, m.transferred) for q, m in (await store.service_level_by_queue(
                min(r.started_at for r in records))).items()}  # fmt: skip

    to_destination = by_caller["1796215516.8"]
    assert [(leg.kind, leg.target, leg.how) for leg in to_destination.legs] == [
        ("person", "agent-ar-2", None),
        ("destination", "technical-affairs", "refer"),
    ]
    attended = by_caller["1796216880.9"]
    assert [(leg.kind, leg.target, leg.queue, leg.how) for leg in attended.legs] == [
        ("person", "agent-ar-2", "ar-virus", None),
        ("person", "agent-ar-3", "ar-complaints", "attended"),
    ]
    refer = by_caller["1796215950.12"]
    assert [(leg.target, leg.how) for leg in refer.legs] == [("agent-ar-2", None), ("agent-ar-3", "refer")]
    assert all(leg.talk_seconds and leg.talk_seconds > 0 for r in records for leg in r.legs)
    # the wallboard's figures: each call once, in the queue that answered it first
    assert queues == {"ar-general": (1, 1, 1), "ar-virus": (2, 2, 2)}
