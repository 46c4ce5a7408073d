"""The records' journal on a real folder: append-only, 0600, a torn line skipped, old segments removed."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from cdr.journal import Journal


def record(linkedid: str) -> str:
    return json.dumps({"linkedid": linkedid, "caller_name": "राम \u202e ${EXTEN}\n"}, ensure_ascii=False)


async def test_what_is_not_done_is_replayed_once_in_order_and_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    folder = tmp_path / "journal"
    journal = Journal(folder)
    assert journal.open() == []
    for i in range(5):
        journal.append(f"17.{i}", record(f"17.{i}"))
    journal.append("17.1", record("17.1"))  # journaled twice: kept once
    journal.done("17.0")
    journal.done("17.3")
    await journal.sync()
    assert journal.syncs == 1 and journal.depth == 3
    journal.close()
    segment = next(folder.glob("records-*.jsonl"))
    assert stat.S_IMODE(segment.stat().st_mode) == 0o600 and stat.S_IMODE(folder.stat().st_mode) == 0o700
    with segment.open("a", encoding="utf-8") as handle:
        handle.write('{"id": "17.9", "r": {"linkedid": "17.')  # a write torn by a power cut

    again = Journal(folder)
    replayed = again.open()
    assert [r.linkedid for r in replayed] == ["17.1", "17.2", "17.4"]
    assert json.loads(replayed[0].text)["caller_name"] == "राम \u202e ${EXTEN}\n"  # byte-exact
    for entry in replayed:
        again.done(entry.linkedid)
    again.close()
    assert [p.name for p in folder.glob("records-*.jsonl")] == ["records-00000002.jsonl"]  # the old segment went
    assert Journal(folder).open() == []


async def test_a_full_segment_is_closed_and_removed_once_every_record_in_it_is_done(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j", max_bytes=500)
    journal.open()
    for i in range(40):
        journal.append(f"18.{i}", record(f"18.{i}"))
    segments = sorted((tmp_path / "j").glob("records-*.jsonl"))
    assert len(segments) > 3
    for i in range(39):
        journal.done(f"18.{i}")
    left = sorted((tmp_path / "j").glob("records-*.jsonl"))
    assert len(left) <= 2 and segments[-1] in left  # only the current one and the one holding 18.39
    journal.close()
    assert [r.linkedid for r in Journal(tmp_path / "j").open()] == ["18.39"]
