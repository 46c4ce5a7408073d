"""``hotline records check``: the store against Asterisk's own CDR (``Master.csv``) for a time range.

Asterisk writes a CDR row for every channel whatever happens to the service; the service writes one record
per call. For the calls of the hotline (a CDR call to its number, or through its transfer or destinations
contexts, as :func:`cdr.importer.calls_from_cdr_csv` selects them) that started in the range, the check lists:

- **missing**: a call in Master.csv with no record in the store (lost, or not yet imported: a start of the
  service reconciles such gaps from these files);
- **unknown**: an inbound record in the store with no call in Master.csv (a record of a call Asterisk never
  logged: an import from another system, or a CDR file rotated away);
- **different**: both, but the caller's number differs, or the start differs by more than ``tolerance``.

Outbound records (callbacks, campaigns, manual calls) are Asterisk calls of other contexts: they are not
compared here, since the CDR has no marker that ties them to the hotline's number.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cdr.builder import CallRecord

__all__ = ["Difference", "RecordsCheck", "compare"]

TOLERANCE = timedelta(seconds=2)


@dataclass(frozen=True)
class Difference:
    linkedid: str
    field: str
    store: str
    cdr: str


@dataclass
class RecordsCheck:
    compared: int = 0  # calls found on both sides
    missing: list[str] = field(default_factory=list)  # in Master.csv, not in the store
    unknown: list[str] = field(default_factory=list)  # in the store, not in Master.csv
    different: list[Difference] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unknown or self.different)


def compare(
    records: Iterable[CallRecord],
    cdr_calls: dict[str, dict[str, Any]],
    start: datetime,
    end: datetime,
    tolerance: timedelta = TOLERANCE,
) -> RecordsCheck:
    """Compare the store's ``records`` with the CDR's calls (:func:`cdr.importer.calls_from_cdr_csv`), both
    for calls that started in ``[start, end)``."""
    result = RecordsCheck()
    stored = {r.linkedid: r for r in records if start <= r.started_at < end}
    logged = {key: call for key, call in cdr_calls.items() if start <= call["started_at"] < end}
    for key, call in sorted(logged.items(), key=lambda item: (item[1]["started_at"], item[0])):
        record = stored.get(key)
        if record is None:
            result.missing.append(key)
            continue
        result.compared += 1
        if (record.caller_number or "") != (call["caller_number"] or ""):
            result.different.append(Difference(key, "caller_number", record.caller_number or "",
                                               call["caller_number"] or ""))  # fmt: skip
        if abs(record.started_at - call["started_at"]) > tolerance:
            result.different.append(Difference(key, "started_at", record.started_at.isoformat(),
                                               call["started_at"].isoformat()))  # fmt: skip
    result.unknown = sorted(
        (key for key, record in stored.items() if key not in logged and record.kind == "inbound"),
        key=lambda key: (stored[key].started_at, key),
    )
    return result
