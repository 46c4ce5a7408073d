"""Import an existing Asterisk deployment's history: ``queue_log`` and CSV CDR (``Master.csv``).

Idempotent: rows are keyed on the call's linkedid (``call_records.linkedid`` is unique) and
inserted with "on conflict do nothing", so importing the same files twice adds nothing.

**queue_log** (``time|callid|queue|agent|event|data1|data2|...``; time as epoch seconds or
``YYYY-MM-DD HH:MM:SS[.ffffff]``): one record per ``callid`` (the caller channel's uniqueid, which
is the linkedid of an inbound call). Transfers are handled the way the reports need them
(asterisk#759, where tools count a call transferred between queues twice): the call is offered and
answered once, in the queue that answered it *first*; a later ENTERQUEUE/CONNECT in another queue
or a BLINDTRANSFER/ATTENDEDTRANSFER sets ``transferred_to``; the talk time is the sum of the
segments' call times (each segment counted once, never the overlapping totals). An unanswered
call that went through several queues (overflow) counts in the last one. Wait = first
ENTERQUEUE to CONNECT (or to ABANDON/EXIT*), across queues.

Legs (issue 12, as the live records have them, ``cdr.builder``): each CONNECT of the call is a leg of that
person (``how`` None for the first, "blind" after a BLINDTRANSFER, else "attended": an attended transfer is
logged under the consultation's callid, asterisk#759: with the CSV CDR, whose rows of that Local channel carry the
caller's number, the consultation's queue "call" is folded into the caller's, see ``_fold_consultations``; from
the queue_log alone it stays a call of its own), ending at the segment's COMPLETE*/transfer line (its
call time) or at the next CONNECT. The record's ``talk_seconds`` is the first answer's talk, as live; the
legs carry everyone's. From the CSV CDR, a row of the caller's channel that Dial()ed in the destinations
context (``hotline-destinations``) and was answered is a leg to that destination (``how`` "blind": the
caller's own channel dialled it; an attended transfer's consultation has a Local channel of its own, which
a CDR does not tie to the call, so it is not seen). A leg never says "refer" from the logs: they do not
tell a REFER from a key press. Legs are inserted after the records (``insert_legs``), only for calls that
have none yet, so a re-import or a live record's own legs are never doubled.

**CSV CDR** (``cdr_csv`` with ``loguniqueid=yes``: accountcode, src, dst, dcontext, clid, channel,
dstchannel, lastapp, lastdata, start, answer, end, duration, billsec, disposition, amaflags,
uniqueid[, userfield][, peeraccount, linkedid, sequence with ``newcdrcolumns=yes``]). Rows of one
call are merged (earliest start, latest end). Times are local unless ``usegmtime=yes``: pass the
zone. Calls that reach no queue become ``abandoned_ivr`` records; for calls also in the
queue_log the CDR only adds the caller number, the true start (IVR included) and the end time.

Language and topic are read from queue names ``<language>-<topic>[-<specialty>]`` (see
``routing.queues.queue_name``).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from telephony import names as v
from telephony.clock import utc

__all__ = [
    "ROW_COLUMNS",
    "QueueLogLine",
    "bulk_insert",
    "calls_from_cdr_csv",
    "calls_from_queue_log",
    "import_files",
    "import_gap",
    "insert_legs",
    "merge_calls",
    "parse_queue_log",
    "records_to_rows",
]

#: The columns of a call_records row, in the order bulk_insert and the importers give them.
ROW_COLUMNS: tuple[str, ...] = (
    "linkedid",
    "caller_number",
    "caller_name",
    "started_at",
    "ended_at",
    "language",
    "topic",
    "specialty",
    "queue",
    "wait_seconds",
    "outcome",
    "agent",
    "talk_seconds",
    "hangup_cause",
    "hangup_cause_text",
    "kind",
    "callback_of",
    "transferred_to",
    "wrapup_seconds",
)

_TRANSFER_EVENTS = frozenset({"BLINDTRANSFER", "ATTENDEDTRANSFER", "TRANSFER"})
_EXIT_EVENTS = frozenset({"EXITWITHTIMEOUT", "EXITEMPTY", "EXITWITHKEY"})
_COMPLETE_EVENTS = frozenset({"COMPLETECALLER", "COMPLETEAGENT"})


# -- bulk insert --------------------------------------------------------------------------------


def _sqlite_time(value: Any) -> Any:
    # The format SQLAlchemy's SQLite DateTime (and so storage.base.UTCDateTime) stores: naive UTC.
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: call record times must be timezone-aware")
        v = value.astimezone(UTC)
        return f"{v.year:04d}-{v.month:02d}-{v.day:02d} {v.hour:02d}:{v.minute:02d}:{v.second:02d}.{v.microsecond:06d}"
    return value


def bulk_insert(
    url: str,
    rows: Iterable[Sequence[Any]],
    columns: Sequence[str] = ROW_COLUMNS,
    chunk_size: int = 20_000,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Insert rows (tuples in ``columns`` order) fast, skipping linkedids already stored.

    SQLite: ``INSERT OR IGNORE`` with ``executemany`` in chunks; PostgreSQL: ``COPY`` into a
    temporary table, then ``INSERT .. SELECT .. ON CONFLICT (linkedid) DO NOTHING``. One
    transaction per chunk. Returns the number of rows added.
    """
    from sqlalchemy import create_engine

    from storage.engine import sync_url

    cols = list(columns)
    if "linkedid" not in cols:
        raise ValueError("rows need a linkedid column (the idempotency key)")
    engine = create_engine(sync_url(url))
    added = 0
    seen = 0
    try:
        raw = engine.raw_connection()
        try:
            driver = raw.driver_connection
            assert driver is not None  # a pooled connection always wraps the driver's (sqlite3 or psycopg) connection
            if engine.dialect.name == "sqlite":
                time_idx = [i for i, c in enumerate(cols) if c in ("started_at", "ended_at")]
                sql = f"INSERT OR IGNORE INTO call_records ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})"
                for chunk in _chunks(rows, chunk_size):
                    if time_idx:
                        chunk = [tuple(_sqlite_time(v) if i in time_idx else v for i, v in enumerate(r)) for r in chunk]
                    before = driver.total_changes
                    driver.executemany(sql, chunk)
                    driver.commit()
                    added += driver.total_changes - before
                    seen += len(chunk)
                    if progress is not None:
                        progress(seen)
            else:
                col_list = ", ".join(cols)
                for chunk in _chunks(rows, chunk_size):
                    with driver.cursor() as cur:
                        cur.execute(
                            "CREATE TEMP TABLE IF NOT EXISTS call_records_import "
                            "(LIKE call_records INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
                        )
                        with cur.copy(f"COPY call_records_import ({col_list}) FROM STDIN") as copy:
                            for r in chunk:
                                copy.write_row(r)
                        cur.execute(
                            f"INSERT INTO call_records ({col_list}) "
                            f"SELECT DISTINCT ON (linkedid) {col_list} FROM call_records_import "
                            "ON CONFLICT (linkedid) DO NOTHING"
                        )
                        added += max(cur.rowcount, 0)
                    driver.commit()
                    seen += len(chunk)
                    if progress is not None:
                        progress(seen)
        finally:
            raw.close()
    finally:
        engine.dispose()
    return added


def _chunks(rows: Iterable[Sequence[Any]], size: int) -> Iterator[list[Sequence[Any]]]:
    chunk: list[Sequence[Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def records_to_rows(records: Iterable[Any]) -> Iterator[tuple[Any, ...]]:
    """``CallRecord``-like objects (0003 attributes optional) as rows in ``ROW_COLUMNS`` order."""
    for r in records:
        yield (
            r.linkedid,
            r.caller_number,
            r.caller_name,
            r.started_at,
            r.ended_at,
            r.language,
            r.topic,
            r.specialty,
            r.queue,
            r.wait_seconds,
            str(getattr(r.outcome, "value", r.outcome)),
            r.agent,
            r.talk_seconds,
            r.hangup_cause,
            r.hangup_cause_text,
            getattr(r, "kind", "inbound") or "inbound",
            getattr(r, "callback_of", None),
            getattr(r, "transferred_to", None),
            getattr(r, "wrapup_seconds", None),
        )


# -- queue_log ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueueLogLine:
    time: float
    callid: str
    queue: str
    agent: str
    event: str
    data: tuple[str, ...]


def _parse_time(value: str, tz: ZoneInfo) -> float:
    value = value.strip()
    try:
        return float(value)
    except ValueError:
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=tz)
        return moment.timestamp()


def parse_queue_log(lines: Iterable[str], timezone: str = "UTC") -> Iterator[QueueLogLine]:
    """Lines of a queue_log; blank or malformed lines are skipped."""
    tz = ZoneInfo(timezone)
    for line in lines:
        parts = line.rstrip("\r\n").split("|")
        if len(parts) < 5 or not parts[4]:
            continue
        try:
            ts = _parse_time(parts[0], tz)
        except ValueError:
            continue
        yield QueueLogLine(ts, parts[1], parts[2], parts[3], parts[4].upper(), tuple(parts[5:]))


@dataclass(slots=True)
class _Call:
    callid: str
    first_enter: float | None = None
    queue: str | None = None  # the queue that answered first, else the last queue entered
    answered_at: float | None = None
    agent: str | None = None
    talk: float = 0.0
    open_segment: float | None = None  # CONNECT time of a segment not closed yet
    transferred_to: str | None = None
    abandoned_at: float | None = None
    exited_at: float | None = None
    last_time: float = 0.0
    caller: str | None = None
    saw_transfer: bool = False
    legs: list[dict[str, Any]] = field(default_factory=list)  # as the live builder's Leg, in order
    attended_at: float | None = None  # an ATTENDEDTRANSFER logged under this call's own callid (Asterisk 22)
    next_how: str | None = None  # a BLINDTRANSFER was seen: how the next CONNECT came

    def close_leg(self, end: float, talk: float | None = None) -> None:
        if self.legs and self.legs[-1]["ended_at"] is None:
            leg = self.legs[-1]
            start = leg["answered_at"].timestamp()
            talk = max(0.0, end - start) if talk is None else talk
            leg["ended_at"], leg["talk_seconds"] = utc(start + talk), talk


def _num(data: tuple[str, ...], index: int) -> float | None:
    try:
        return float(data[index])
    except (IndexError, ValueError):
        return None


def calls_from_queue_log(lines: Iterable[QueueLogLine]) -> dict[str, dict[str, Any]]:
    """One record (a dict of call_records columns) per callid seen entering a queue."""
    calls: dict[str, _Call] = {}
    for line in lines:
        if line.callid in ("", "NONE"):
            continue
        call = calls.get(line.callid)
        if line.event == "ENTERQUEUE":
            if call is None:
                call = calls[line.callid] = _Call(line.callid, first_enter=line.time)
                call.caller = line.data[1] if len(line.data) > 1 and line.data[1] else None
            if call.answered_at is None:
                call.queue = line.queue
                call.abandoned_at = call.exited_at = None
            elif line.queue != call.queue:
                call.transferred_to = line.queue
        elif call is None:
            continue
        elif line.event == "CONNECT":
            how: str | None = None
            if call.answered_at is None:
                call.answered_at = line.time
                call.queue = line.queue
                call.agent = line.agent or None
            else:
                how = call.next_how or "attended"
                if line.queue != call.queue:
                    call.transferred_to = line.queue
            if call.open_segment is not None:  # previous segment's end was logged under another callid
                call.talk += max(0.0, line.time - call.open_segment)
            call.close_leg(line.time)
            call.legs.append(_leg("person", line.agent or "?", line.queue or None, line.time, how))
            call.next_how = None
            call.open_segment = line.time
        elif line.event in _COMPLETE_EVENTS or line.event in _TRANSFER_EVENTS:
            if call.open_segment is not None:
                # calltime is the second-to-last field (…|holdtime|calltime|origposition)
                calltime = _num(line.data, len(line.data) - 2) if len(line.data) >= 2 else None
                call.talk += calltime if calltime is not None else max(0.0, line.time - call.open_segment)
                call.close_leg(line.time, calltime)
                call.open_segment = None
            if line.event in _TRANSFER_EVENTS:
                call.saw_transfer = True
                call.next_how = "blind" if line.event == "BLINDTRANSFER" else "attended"
                if line.event == "ATTENDEDTRANSFER" and call.answered_at is not None:
                    call.attended_at = line.time
            if line.event in _TRANSFER_EVENTS and call.transferred_to is None and call.answered_at is not None:
                target = line.data[0] if line.data else ""
                if line.event == "ATTENDEDTRANSFER" and len(line.data) > 1:
                    target = line.data[1]
                call.transferred_to = target or None
        elif line.event == "ABANDON" and call.answered_at is None:
            call.abandoned_at = line.time
            call.queue = line.queue
        elif line.event in _EXIT_EVENTS and call.answered_at is None:
            call.exited_at = line.time
            call.queue = line.queue
        call.last_time = max(call.last_time, line.time)
    # A callid that never connected but carries a transfer event is the agent's consultation
    # leg of an attended transfer (asterisk#759: logged with its own ENTERQUEUE), not a caller.
    return {
        cid: _record_from_queue_log(c) for cid, c in calls.items() if not (c.answered_at is None and c.saw_transfer)
    }


def _leg(kind: str, target: str, queue: str | None, at: float, how: str | None) -> dict[str, Any]:
    return {"kind": kind, "target": target, "queue": queue, "answered_at": utc(at), "ended_at": None,
            "talk_seconds": None, "how": how}  # fmt: skip


def _split_queue(queue: str | None) -> tuple[str | None, str | None, str | None]:
    if not queue:
        return None, None, None
    parts = queue.split("-")
    if len(parts) >= 2 and len(parts[0]) == 2 and parts[0].isalpha():
        return parts[0], parts[1], ("-".join(parts[2:]) or None)
    return None, None, None


def _record_from_queue_log(call: _Call) -> dict[str, Any]:
    assert call.first_enter is not None
    if call.answered_at is not None:
        outcome = "answered"
        wait: float | None = call.answered_at - call.first_enter
        if call.open_segment is not None:  # never completed in the log: up to the last line we saw
            call.talk += max(0.0, call.last_time - call.open_segment)
        call.close_leg(call.last_time)
        talk: float | None = call.legs[0]["talk_seconds"] if call.legs else call.talk  # the first answer's
        end = call.last_time
    elif call.abandoned_at is not None:
        outcome, wait, talk, end = "abandoned_queue", call.abandoned_at - call.first_enter, None, call.abandoned_at
    else:
        exit_time = call.exited_at if call.exited_at is not None else call.last_time
        outcome, wait, talk, end = "failed", exit_time - call.first_enter, None, exit_time
    language, topic, specialty = _split_queue(call.queue)
    return {
        "linkedid": call.callid,
        "caller_number": call.caller,
        "caller_name": None,
        "started_at": utc(call.first_enter),
        "ended_at": utc(end),
        "language": language,
        "topic": topic,
        "specialty": specialty,
        "queue": call.queue,
        "wait_seconds": round(wait, 3) if wait is not None else None,
        "outcome": outcome,
        "agent": call.agent,
        "talk_seconds": talk,
        "hangup_cause": None,
        "hangup_cause_text": None,
        "kind": "inbound",
        "callback_of": None,
        "transferred_to": call.transferred_to,
        "wrapup_seconds": None,
        "legs": call.legs if call.answered_at is not None else [],
        "next_how": call.next_how,  # a transfer after the last CONNECT (to a destination, seen in the CDR)
        "answered_at": utc(call.answered_at) if call.answered_at is not None else None,
        "attended_at": utc(call.attended_at) if call.attended_at is not None else None,
    }


# -- CSV CDR ------------------------------------------------------------------------------------


@dataclass(slots=True)
class _CdrCall:
    key: str
    start: datetime
    end: datetime | None
    src: str | None
    clid: str | None
    numbers: set[str] = field(default_factory=set)
    destinations: list[dict[str, Any]] = field(default_factory=list)  # legs to outside destinations


def _cdr_time(value: str, tz: ZoneInfo) -> datetime | None:
    value = value.strip()
    if not value:
        return None
    return datetime.fromisoformat(value).replace(tzinfo=tz).astimezone(UTC)


# where the dialplan dials the profile's destinations, and where transfers go (a row there is the hotline's call)
DESTINATIONS_CONTEXT, TRANSFER_CONTEXT = v.DESTINATIONS_CONTEXT, v.TRANSFER_CONTEXT


def calls_from_cdr_csv(
    lines: Iterable[str],
    timezone: str = "UTC",
    number: str | None = None,
    destinations_context: str = DESTINATIONS_CONTEXT,
    consultations: list[dict[str, Any]] | None = None,
) -> dict[str, dict[str, Any]]:
    """One record per call (key: linkedid column when present, else uniqueid) from Master.csv rows.

    ``number``: keep only calls with a row whose destination is the hotline number, or that went through the
    transfer or destinations context (a transfer re-stamps the caller's rows with the code keyed). An answered row in
    ``destinations_context`` is a leg to the destination it dialled (``dst``: the destination's id).

    Rows of an attended transfer's consultation (a ``Local/`` channel, or app_queue's own ``AppQueue`` row of the
    person's phone) are no call of their own: they go to ``consultations`` (if given) for :func:`merge_calls`.
    """
    tz = ZoneInfo(timezone)
    calls: dict[str, _CdrCall] = {}
    for row in csv.reader(lines):
        if len(row) < 17:
            continue  # without loguniqueid=yes there is no key to import idempotently
        key = (row[19] if len(row) >= 21 and row[19] else row[16]).strip()
        if not key:
            continue
        try:
            start = _cdr_time(row[9], tz)
            end = _cdr_time(row[11], tz)
        except ValueError:
            continue
        if start is None:
            continue
        if row[5].startswith("Local/") or row[7] == "AppQueue":
            if consultations is not None:
                try:
                    answer = _cdr_time(row[10], tz)
                except ValueError:
                    answer = None
                consultations.append({"key": key, "src": row[1], "dst": row[2], "context": row[3],
                                      "answered": row[14].strip().upper() == "ANSWERED", "answer": answer,
                                      "end": end})  # fmt: skip
            continue
        call = calls.get(key)
        if call is None:
            call = calls[key] = _CdrCall(key, start, end, row[1] or None, row[4] or None)
        else:
            call.start = min(call.start, start)
            if end is not None and (call.end is None or end > call.end):
                call.end = end
        call.numbers.add(row[2])
        if row[3] in (TRANSFER_CONTEXT, destinations_context):
            call.numbers.add(number or "")  # a transfer re-stamps the caller's rows with the code it keyed
        if row[3] == destinations_context and row[2] and row[14].strip().upper() == "ANSWERED":
            try:
                answer = _cdr_time(row[10], tz)
            except ValueError:
                answer = None
            if answer is not None:
                ended = end if end is not None and end >= answer else None
                talk = (ended - answer).total_seconds() if ended is not None else None
                call.destinations.append({"kind": "destination", "target": row[2], "queue": None,
                                          "answered_at": answer, "ended_at": ended, "talk_seconds": talk,
                                          "how": "blind"})  # fmt: skip
    out: dict[str, dict[str, Any]] = {}
    for key, call in calls.items():
        if number is not None and number not in call.numbers:
            continue
        out[key] = {
            "linkedid": key,
            "caller_number": call.src,
            "caller_name": _clid_name(call.clid),
            "started_at": call.start,
            "ended_at": call.end,
            "language": None,
            "topic": None,
            "specialty": None,
            "queue": None,
            "wait_seconds": None,
            "outcome": "abandoned_ivr",
            "agent": None,
            "talk_seconds": None,
            "hangup_cause": None,
            "hangup_cause_text": None,
            "kind": "inbound",
            "callback_of": None,
            "transferred_to": None,
            "wrapup_seconds": None,
            "legs": call.destinations,
        }
    return out


def _clid_name(clid: str | None) -> str | None:
    # '"Layla" <0791234567>' -> Layla
    if not clid or not clid.startswith('"'):
        return None
    end = clid.find('"', 1)
    return clid[1:end] or None if end > 0 else None


def _attended_call(queue_calls: dict[str, dict[str, Any]], caller: str, at: datetime | None) -> dict[str, Any] | None:
    """The answered call of ``caller`` whose person made an attended transfer after ``at`` (its consultation)."""
    if at is None:
        return None
    found = [
        q
        for q in queue_calls.values()
        if q.get("attended_at") is not None
        and q["caller_number"] == caller
        and q["answered_at"] <= at <= q["attended_at"]
    ]
    return min(found, key=lambda q: q["attended_at"]) if len(found) >= 1 else None


def _fold_consultations(
    queue_calls: dict[str, dict[str, Any]], consultations: Iterable[dict[str, Any]], destinations_context: str
) -> dict[str, dict[str, Any]]:
    """asterisk#759 in Asterisk 22's own logs: an attended transfer to a queue logs the consulted person's ENTERQUEUE
    and CONNECT under the consultation's callid (a Local channel), and one to a destination leaves only the Local
    channel's CDR row. The CDR tells them: the consultation's rows are a Local channel's, with the caller's number
    (after the transfer). Such a queue "call" becomes the legs of the caller's call (how "attended"), and a
    destination's row a destination leg; the caller's call says where it went."""
    local_rows = {c["key"]: c for c in consultations if c["src"]}
    folded = dict(queue_calls)
    for key, x in queue_calls.items():
        row = local_rows.get(key)
        if row is None or x["outcome"] != "answered" or not x.get("legs"):
            continue
        y = _attended_call(queue_calls, row["src"], x["started_at"])
        if y is None or y is x:
            continue
        legs = [dict(leg) for leg in x["legs"]]
        legs[0]["how"] = "attended"
        y["legs"] = sorted([*y["legs"], *legs], key=lambda leg: leg["answered_at"])
        y["transferred_to"] = x["queue"]
        del folded[key]
    for row in consultations:
        if row["context"] != destinations_context or not row["answered"] or row["answer"] is None or not row["dst"]:
            continue
        y = _attended_call(queue_calls, row["src"], row["answer"])
        if y is None:
            continue
        end = row["end"] if row["end"] is not None and row["end"] >= row["answer"] else None
        talk = (end - row["answer"]).total_seconds() if end is not None else None
        leg = {"kind": "destination", "target": row["dst"], "queue": None, "answered_at": row["answer"],
               "ended_at": end, "talk_seconds": talk, "how": "attended"}  # fmt: skip
        y["legs"] = sorted([*y["legs"], leg], key=lambda leg: leg["answered_at"])
        y["transferred_to"] = row["dst"]
    return folded


def merge_calls(
    queue_calls: dict[str, dict[str, Any]],
    cdr_calls: dict[str, dict[str, Any]],
    consultations: Iterable[dict[str, Any]] = (),
    destinations_context: str = DESTINATIONS_CONTEXT,
) -> dict[str, dict[str, Any]]:
    """queue_log records completed by the CDR (caller, true start, end); CDR-only calls kept as IVR abandons."""
    queue_calls = _fold_consultations(queue_calls, consultations, destinations_context)
    merged = {key: {**c, "legs": []} for key, c in cdr_calls.items()}  # legs only with an answer in a queue
    for key, q in queue_calls.items():
        c = cdr_calls.get(key)
        if c is None:
            merged[key] = q
            continue
        combined = dict(q)
        combined["caller_number"] = c["caller_number"] or q["caller_number"]
        combined["caller_name"] = c["caller_name"]
        combined["started_at"] = min(c["started_at"], q["started_at"])
        if c["ended_at"] is not None:
            combined["ended_at"] = c["ended_at"]
        destinations = c.get("legs") or []
        if q.get("legs") and destinations:
            legs = [dict(leg) for leg in q["legs"]]
            for leg in destinations:  # a person's leg ends when the caller went on to the destination
                for earlier in legs:
                    if earlier["ended_at"] is None or earlier["ended_at"] > leg["answered_at"]:
                        earlier["ended_at"] = max(leg["answered_at"], earlier["answered_at"])
                        earlier["talk_seconds"] = (earlier["ended_at"] - earlier["answered_at"]).total_seconds()
            combined["legs"] = sorted([*legs, *destinations], key=lambda leg: leg["answered_at"])
            if q.get("next_how"):
                for leg in destinations:
                    leg["how"] = q["next_how"]
            if combined["transferred_to"] is None or q.get("next_how"):
                combined["transferred_to"] = destinations[0]["target"]
        merged[key] = combined
    return merged


def insert_legs(url: str, calls: Iterable[dict[str, Any]]) -> int:
    """Insert the legs of imported calls (dicts with ``linkedid`` and ``legs``) whose record is stored and has
    no legs yet (one transaction); returns how many legs were added."""
    from sqlalchemy import create_engine, insert, select

    from cdr.rows import CallLegRow, CallRecordRow
    from storage.engine import sync_url

    wanted = {call["linkedid"]: call["legs"] for call in calls if call.get("legs")}
    if not wanted:
        return 0
    engine = create_engine(sync_url(url))
    try:
        with engine.begin() as conn:
            ids = list(wanted)
            have: set[str] = set()
            stored: set[str] = set()
            for batch in (ids[i : i + 500] for i in range(0, len(ids), 500)):
                have.update(conn.execute(select(CallLegRow.linkedid).where(CallLegRow.linkedid.in_(batch))).scalars())
                stored.update(
                    conn.execute(select(CallRecordRow.linkedid).where(CallRecordRow.linkedid.in_(batch))).scalars()
                )
            rows = [
                {"linkedid": linkedid, "position": position, **{k: leg[k] for k in _LEG_COLUMNS}}
                for linkedid, legs in wanted.items()
                if linkedid in stored and linkedid not in have
                for position, leg in enumerate(legs)
            ]
            if rows:
                conn.execute(insert(CallLegRow), rows)
        return len(rows)
    finally:
        engine.dispose()


_LEG_COLUMNS = ("kind", "target", "queue", "answered_at", "ended_at", "talk_seconds", "how")


def import_files(
    url: str,
    queue_log: Path | None = None,
    cdr_csv: Path | None = None,
    timezone: str = "UTC",
    number: str | None = None,
) -> tuple[int, int]:
    """Import into the migrated database at ``url``; returns (calls read, records added)."""
    queue_calls: dict[str, dict[str, Any]] = {}
    cdr_calls: dict[str, dict[str, Any]] = {}
    consultations: list[dict[str, Any]] = []
    if queue_log is not None:
        with open(queue_log, encoding="utf-8", errors="replace") as fh:
            queue_calls = calls_from_queue_log(parse_queue_log(fh, timezone))
    if cdr_csv is not None:
        with open(cdr_csv, encoding="utf-8", errors="replace", newline="") as fh:
            cdr_calls = calls_from_cdr_csv(fh, timezone, number, consultations=consultations)
    calls = merge_calls(queue_calls, cdr_calls, consultations)
    rows = ((*(call[c] for c in ROW_COLUMNS), "imported") for call in calls.values())
    added = bulk_insert(url, rows, (*ROW_COLUMNS, "source"))
    insert_legs(url, calls.values())
    return len(calls), added


def import_gap(url: str, log_dir: Path, since: datetime, number: str) -> tuple[int, int]:
    """Records of the calls that ended while no record was being built (a restart, an AMI gap).

    Read from the instance's own logs (``log_dir/queue_log`` and ``log_dir/cdr-csv/Master.csv``,
    written by Asterisk with ``usegmtime``). Only calls that Asterisk has finished (it writes the CDR
    row at the end) and that started at ``since`` or later are taken: a call still in progress gets
    its record from the live path, never a half one from here. Calls already stored are skipped
    (linkedid), so this runs at every start. The records made here are marked ``source = 'reconciled'``.
    Returns (calls taken, records added).
    """
    queue_log, cdr_csv = log_dir / "queue_log", log_dir / "cdr-csv" / "Master.csv"
    queue_calls: dict[str, dict[str, Any]] = {}
    cdr_calls: dict[str, dict[str, Any]] = {}
    consultations: list[dict[str, Any]] = []
    if cdr_csv.exists():
        with open(cdr_csv, encoding="utf-8", errors="replace", newline="") as fh:
            cdr_calls = calls_from_cdr_csv(fh, "UTC", number, consultations=consultations)
    if not cdr_calls:
        return 0, 0
    if queue_log.exists():
        with open(queue_log, encoding="utf-8", errors="replace") as fh:
            queue_calls = calls_from_queue_log(parse_queue_log(fh, "UTC"))
    calls = [
        call
        for key, call in merge_calls(queue_calls, cdr_calls, consultations).items()
        if key in cdr_calls and call["started_at"] >= since
    ]
    if not calls:
        return 0, 0
    rows = ((*(call[c] for c in ROW_COLUMNS), "reconciled") for call in calls)
    added = bulk_insert(url, rows, (*ROW_COLUMNS, "source"))
    insert_legs(url, calls)
    return len(calls), added
