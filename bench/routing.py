"""Routing benchmark: decision latency and AMI ingest speed, on one core.

1. Decision latency: a synthetic hotline of 2,000 agents in 100 queues (5 languages x 20 topics)
   with random skills and an hour of random load, 500 waiting callers. Times
   ``routing.policy.choose_for_call`` for every waiting call (p50/p99 in microseconds), a
   ``LiveState.snapshot`` and a full ``routing.policy.decide``.
2. AMI ingest: a realistic Asterisk 22 event stream (queue calls with their Newchannel, VarSet,
   Hangup and device-state noise) encoded as bytes and fed in TCP-sized chunks to our parser
   (``telephony.ami.parser.AMIParser``), each message typed once (``telephony.events.parse_event``)
   and applied (``LiveState.apply``), and to panoramisk 1.4's own parser (``AMIProtocol.data_received``,
   no network) on the same bytes, typed and applied the same way.

Usage: ``.venv/bin/python bench/routing.py [--quick]``. Human-readable lines first; the last line
is one JSON object with all figures.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from profiles.model import Language, Person, Topic, load_profile  # noqa: E402
from routing.policy import choose_for_call, decide, desired_penalties  # noqa: E402
from routing.queues import build_queues  # noqa: E402
from routing.state import LiveState  # noqa: E402
from telephony.ami.parser import AMIParser  # noqa: E402
from telephony.clock import utc, utc_now  # noqa: E402
from telephony.events import (  # noqa: E402
    AgentComplete,
    AgentConnect,
    AgentRingNoAnswer,
    QueueMemberPause,
    QueueMemberPenalty,
    parse_event,
)

SEED = 151
LANGS = ("ar", "en", "fr", "hi", "ur")
TOPICS = tuple(f"topic{i:02}" for i in range(20))
NOW = 1_750_000_000.0  # epoch seconds, as Asterisk stamps its events
AT = utc(NOW)  # the same time as the core takes it
SIX, SEVEN = timedelta(seconds=6), timedelta(seconds=7)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


# -- 1. decisions -----------------------------------------------------------------------------------


def synthetic_profile(n_people: int, rng: random.Random):
    base = load_profile(ROOT / "profiles" / "moh-151.yaml")
    languages = tuple(Language(code, str(i + 1), code) for i, code in enumerate(LANGS))
    topics = tuple(Topic(t, str(i % 10), dict.fromkeys(LANGS, t)) for i, t in enumerate(TOPICS))
    people = []
    for i in range(n_people):
        first = rng.choice(LANGS)
        langs = {first: rng.choice((4, 5, 5))}
        for extra in rng.sample(LANGS, rng.choice((0, 1, 1, 2))):
            langs.setdefault(extra, rng.randint(1, 5))
        people.append(
            Person(f"agent-{i:04}", f"Agent {i}", "agent", langs, tuple(rng.sample(TOPICS, 4)), (), rng.randint(1, 5))
        )
    return dataclasses.replace(
        base,
        languages=languages,
        topics=topics,
        people=tuple(people),
        default_language="ar",
        default_topic=TOPICS[0],
        # seats bind in 10 queues only
        seats={f"{lang}-{TOPICS[i]}": {shift.id: 60 for shift in base.shifts} for lang in LANGS[:1] for i in range(10)},
        default_seats=500,
    )


def loaded_state(profile, n_calls: int, rng: random.Random) -> LiveState:
    """Everyone logged in within the last 2 h with up to an hour of calls; some busy, ringing,
    paused or in wrap-up; ``n_calls`` callers waiting 0..240 s."""
    state = LiveState.from_profile(profile)
    specs = build_queues(profile)
    memberships: dict[str, list[str]] = {}
    for spec in specs:
        for member in spec.members:
            memberships.setdefault(member.person_id, []).append(spec.name)

    def apply(headers: dict[str, str], t: float) -> None:
        """Hand-written AMI headers, typed once by the boundary's parser, then applied at ``t`` (epoch)."""
        state.apply(parse_event({"Timestamp": repr(t), **headers}), utc(t))

    for pid, queues in memberships.items():
        login = NOW - rng.uniform(600, 7200)
        for queue in queues:
            apply({"Event": "QueueMemberAdded", "Queue": queue, "MemberName": pid, "Interface": f"PJSIP/{pid}",
                   "Penalty": "0", "Paused": "0", "LoginTime": f"{login:.0f}", "Status": "1"}, login)  # fmt: skip
        t = login + rng.uniform(0, 120)
        while t < NOW - 400:
            queue = rng.choice(queues)
            talk = rng.uniform(30, 400)
            apply({"Event": "AgentConnect", "Queue": queue, "MemberName": pid, "Uniqueid": f"h{t}"}, t)
            apply({"Event": "AgentComplete", "Queue": queue, "MemberName": pid, "TalkTime": f"{talk:.0f}"}, t + talk)
            t += talk + rng.uniform(5, 300)
        roll = rng.random()
        queue = queues[0]
        if roll < 0.45:
            apply({"Event": "AgentConnect", "Queue": queue, "MemberName": pid, "Uniqueid": f"c-{pid}"},
                  NOW - rng.uniform(1, 300))  # fmt: skip
        elif roll < 0.50:
            apply({"Event": "AgentCalled", "Queue": queue, "MemberName": pid, "Uniqueid": f"r-{pid}"}, NOW - 2)
        elif roll < 0.55:
            for q in queues:
                apply({"Event": "QueueMemberPause", "Queue": q, "MemberName": pid, "Paused": "1",
                       "PausedReason": "break"}, NOW - 60)  # fmt: skip
        elif roll < 0.60:
            apply({"Event": "AgentComplete", "Queue": queue, "MemberName": pid, "TalkTime": "100"}, NOW - 2)
    queue_names = [spec.name for spec in specs]
    for i in range(n_calls):
        joined = NOW - rng.uniform(0, 240)
        apply({"Event": "QueueCallerJoin", "Queue": rng.choice(queue_names), "Uniqueid": f"w{i}",
               "Position": "1"}, joined)  # fmt: skip
        if rng.random() < 0.1:
            state.set_call_priority(f"w{i}", 5)
    return state


def bench_decisions(n_people: int, n_calls: int, rounds: int) -> dict[str, Any]:
    rng = random.Random(SEED)
    profile = synthetic_profile(n_people, rng)
    n_queues = len(build_queues(profile))
    state = loaded_state(profile, n_calls, rng)

    gc.collect()
    t0 = time.perf_counter()
    snap = state.snapshot(AT)
    first_snapshot = time.perf_counter() - t0
    snapshot_times = []
    for i in range(20):
        state.apply(AgentRingNoAnswer(NOW, "ar-topic00", "", "", f"agent-{i:04}", "", 0), AT)
        t0 = time.perf_counter()
        snap = state.snapshot(AT)
        snapshot_times.append(time.perf_counter() - t0)
    members = sum(len(m) for m in snap.queues.values())
    calls = sorted(snap.calls.values(), key=lambda c: c.uniqueid)
    choose_for_call(snap, calls[0], profile, AT)  # index the profile once
    samples = []
    person_samples = []  # the calls that are not overflowing (those scan the queue)
    outcomes = {"person": 0, "overflow": 0, "none": 0}
    for round_ in range(rounds):
        for call in calls:
            t0 = time.perf_counter_ns()
            choice = choose_for_call(snap, call, profile, AT)
            elapsed = (time.perf_counter_ns() - t0) / 1000
            samples.append(elapsed)
            if choice is None or choice.overflow_to is None:
                person_samples.append(elapsed)
            if round_ == 0:
                outcomes["none" if choice is None else "overflow" if choice.overflow_to else "person"] += 1
    decide_times = []
    for _ in range(5):
        t0 = time.perf_counter()
        decisions = decide(snap, profile, AT)
        decide_times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    desired_penalties(snap, profile, AT)
    penalties_time = time.perf_counter() - t0
    # Steady state: Asterisk has applied the decisions; then one agent ends a call.
    for change in decisions.penalties:
        state.apply(QueueMemberPenalty(NOW, change.queue, change.person_id, "", "", penalty=change.penalty), AT)
    for pause in decisions.pauses:
        for queue in [pause.queue] if pause.queue else list(snap.people[pause.person_id].queues):
            state.apply(QueueMemberPause(NOW, queue, pause.person_id, "", "", paused=pause.paused,
                                         paused_reason=pause.reason), AT)  # fmt: skip
    settled = decide(state.snapshot(AT), profile, AT)
    busy = next(v for v in snap.people.values() if v.call_started is not None and len(v.queues) > 1)
    state.apply(AgentComplete(NOW, next(iter(busy.queues)), "", "", busy.person_id, "", 0, 60, "caller"), AT)
    t0 = time.perf_counter()
    after = decide(state.snapshot(AT + SIX), profile, AT + SIX)
    after_time = time.perf_counter() - t0
    # ... and one free agent (ranked first somewhere) takes a call: the ranks behind it move up.
    settled_snap = state.snapshot(AT + SIX)
    for change in after.penalties:
        state.apply(
            QueueMemberPenalty(NOW + 6, change.queue, change.person_id, "", "", penalty=change.penalty), AT + SIX
        )
    starter = next(c.person_id for c in decide(settled_snap, profile, AT + SIX).choices if c.person_id)
    state.apply(AgentConnect(NOW + 7, next(iter(settled_snap.people[starter].queues)), "bench-start", "", "", "",
                             starter, "", 0, 0), AT + SEVEN)  # fmt: skip
    start_changes = len(decide(state.snapshot(AT + SEVEN), profile, AT + SEVEN).penalties)
    result: dict[str, Any] = {
        "people": n_people,
        "queues": n_queues,
        "memberships": members,
        "waiting_calls": len(calls),
        "choose_p50_us": round(statistics.median(samples), 1),
        "choose_p99_us": round(percentile(samples, 99), 1),
        "choose_max_us": round(max(samples), 1),
        "choose_p99_us_non_overflow": round(percentile(person_samples, 99), 1),
        "snapshot_first_ms": round(first_snapshot * 1000, 2),
        "snapshot_incremental_us": round(statistics.median(snapshot_times) * 1e6, 1),
        "decide_ms_median": round(statistics.median(decide_times) * 1000, 2),
        "desired_penalties_ms": round(penalties_time * 1000, 2),
        "decide_penalty_changes": len(decisions.penalties),
        "decide_pauses": len(decisions.pauses),
        "decide_settled_penalty_changes": len(settled.penalties),
        "decide_after_one_call_end_ms": round(after_time * 1000, 2),
        "decide_after_one_call_end_penalty_changes": len(after.penalties),
        "decide_after_one_call_start_penalty_changes": start_changes,
        "choices": outcomes,
    }
    print(
        f"decisions: {n_people} people, {n_queues} queues, {members} memberships, {len(calls)} waiting calls "
        f"({outcomes['person']} to a person, {outcomes['overflow']} overflow, {outcomes['none']} wait)"
    )
    print(
        f"  choose_for_call: p50 {result['choose_p50_us']} us, p99 {result['choose_p99_us']} us, "
        f"max {result['choose_max_us']} us over {len(samples)} calls "
        f"(p99 of non-overflow calls: {result['choose_p99_us_non_overflow']} us)"
    )
    print(
        f"  snapshot: first {result['snapshot_first_ms']} ms, after one event {result['snapshot_incremental_us']} us; "
        f"decide: {result['decide_ms_median']} ms ({len(decisions.penalties)} penalty changes, "
        f"{len(decisions.pauses)} pauses from a cold start); "
        f"desired_penalties alone: {result['desired_penalties_ms']} ms"
    )
    print(
        f"  once applied: {len(settled.penalties)} changes; after one call ends (+ its wrap-up): decide "
        f"{result['decide_after_one_call_end_ms']} ms, {len(after.penalties)} penalty changes (6 s later: other "
        f"wrap-ups ended too); after one call starts: {start_changes} penalty changes"
    )
    return result


# -- 2. AMI ingest ----------------------------------------------------------------------------------


def _block(headers: list[tuple[str, str]]) -> str:
    return "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"


def _channel(prefix: str, name: str, uid: str, state: str, num: str, cid_name: str) -> list[tuple[str, str]]:
    return [
        (f"{prefix}Channel", name), (f"{prefix}ChannelState", state),
        (f"{prefix}ChannelStateDesc", {"4": "Ring", "5": "Ringing", "6": "Up"}.get(state, "Down")),
        (f"{prefix}CallerIDNum", num), (f"{prefix}CallerIDName", cid_name),
        (f"{prefix}ConnectedLineNum", "<unknown>"), (f"{prefix}ConnectedLineName", "<unknown>"),
        (f"{prefix}Language", "ar"), (f"{prefix}AccountCode", ""), (f"{prefix}Context", "hotline-queue"),
        (f"{prefix}Exten", "151"), (f"{prefix}Priority", "7"), (f"{prefix}Uniqueid", uid),
        (f"{prefix}Linkedid", uid),
    ]  # fmt: skip


def _member(queue: str, pid: str, status: str, in_call: str, calls: int, event: str) -> list[tuple[str, str]]:
    return [
        ("Event", event), ("Privilege", "agent,all"), ("Queue", queue), ("MemberName", pid),
        ("Interface", f"PJSIP/{pid}"), ("StateInterface", f"PJSIP/{pid}"), ("Membership", "dynamic"),
        ("Penalty", "3"), ("CallsTaken", str(calls)), ("LastCall", "1750000000"), ("LastPause", "0"),
        ("LoginTime", "1749990000"), ("InCall", in_call), ("Status", status), ("Paused", "0"),
        ("PausedReason", ""), ("Ringinuse", "0"), ("Wrapuptime", "0"),
    ]  # fmt: skip


def ami_stream(n_calls: int, people: list[str], queues: list[str], rng: random.Random) -> tuple[bytes, int]:
    """Bytes of an AMI session: banner, then ``n_calls`` queue calls with their noise."""
    parts = ["Asterisk Call Manager/10.0.0\r\n"]
    events = 0
    names = ["محمد العلي", "Fatima Hassan", "Rao", "أحمد", "Maria"]
    for i in range(n_calls):
        uid = f"1750000000.{2 * i}"
        agent_uid = f"1750000000.{2 * i + 1}"
        queue = rng.choice(queues)
        pid = rng.choice(people)
        num = f"9655{rng.randint(1000000, 9999999)}"
        cname = rng.choice(names)
        caller = f"PJSIP/trunk-{2 * i:08x}"
        agent = f"PJSIP/{pid}-{2 * i + 1:08x}"
        blocks = [
            [("Event", "Newchannel"), ("Privilege", "call,all"), *_channel("", caller, uid, "4", num, cname)],
            *[
                [("Event", "VarSet"), ("Privilege", "dialplan,all"), *_channel("", caller, uid, "6", num, cname),
                 ("Variable", var), ("Value", value)]
                for var, value in (("HOTLINE_LANG", "ar"), ("HOTLINE_TOPIC", "general"), ("CHANNEL(language)", "ar"),
                                   ("QUEUE_MAX_PENALTY", "99"), ("QUEUE_PRIO", "0"))
            ],
            [("Event", "QueueCallerJoin"), ("Privilege", "agent,all"), *_channel("", caller, uid, "6", num, cname),
             ("Queue", queue), ("Position", "1"), ("Count", "1")],
            [("Event", "Newchannel"), ("Privilege", "call,all"), *_channel("", agent, agent_uid, "0", pid, pid)],
            [("Event", "AgentCalled"), ("Privilege", "agent,all"), *_channel("", caller, uid, "6", num, cname),
             *_channel("Dest", agent, agent_uid, "5", pid, pid), ("Queue", queue), ("Interface", f"PJSIP/{pid}"),
             ("MemberName", pid)],
            _member(queue, pid, "6", "0", i, "QueueMemberStatus"),
            [("Event", "QueueCallerLeave"), ("Privilege", "agent,all"), *_channel("", caller, uid, "6", num, cname),
             ("Queue", queue), ("Count", "0"), ("Position", "1")],
            [("Event", "AgentConnect"), ("Privilege", "agent,all"), *_channel("", caller, uid, "6", num, cname),
             *_channel("Dest", agent, agent_uid, "6", pid, pid), ("Queue", queue), ("Interface", f"PJSIP/{pid}"),
             ("MemberName", pid), ("HoldTime", "12"), ("RingTime", "3")],
            _member(queue, pid, "2", "1", i, "QueueMemberStatus"),
            [("Event", "VarSet"), ("Privilege", "dialplan,all"), *_channel("", agent, agent_uid, "6", pid, pid),
             ("Variable", "MEMBERINTERFACE"), ("Value", f"PJSIP/{pid}")],
            [("Event", "AgentComplete"), ("Privilege", "agent,all"), *_channel("", caller, uid, "6", num, cname),
             *_channel("Dest", agent, agent_uid, "6", pid, pid), ("Queue", queue), ("Interface", f"PJSIP/{pid}"),
             ("MemberName", pid), ("HoldTime", "12"), ("TalkTime", "95"), ("Reason", "caller")],
            [("Event", "Hangup"), ("Privilege", "call,all"), *_channel("", caller, uid, "6", num, cname),
             ("Cause", "16"), ("Cause-txt", "Normal Clearing")],
            [("Event", "Hangup"), ("Privilege", "call,all"), *_channel("", agent, agent_uid, "6", pid, pid),
             ("Cause", "16"), ("Cause-txt", "Normal Clearing")],
            _member(queue, pid, "1", "0", i + 1, "QueueMemberStatus"),
        ]  # fmt: skip
        if rng.random() < 0.1:
            blocks.append(
                [("Event", "AgentRingNoAnswer"), ("Privilege", "agent,all"),
                 *_channel("", caller, uid, "6", num, cname), ("Queue", queue), ("MemberName", pid),
                 ("Interface", f"PJSIP/{pid}"), ("RingTime", "15")]
            )  # fmt: skip
        events += len(blocks)
        parts.extend(_block(b) for b in blocks)
    return "".join(parts).encode("utf-8"), events


def chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def ours(pieces: list[bytes], people: list[str], with_state: bool) -> tuple[float, int]:
    state = LiveState(people, wrapup_seconds=5)
    parser = AMIParser()
    apply = state.apply
    count = 0
    gc.collect()
    t0 = time.perf_counter()
    for piece in pieces:
        now = utc_now()
        messages = parser.feed(piece)
        count += len(messages)
        if with_state:
            for message in messages:
                event = parse_event(message)
                if event is not None:
                    apply(event, now)
    elapsed = time.perf_counter() - t0
    if with_state:
        state.snapshot(utc_now())
    return elapsed, count


def panoramisk_run(pieces: list[bytes], people: list[str], with_state: bool) -> tuple[float, int]:
    import logging

    from panoramisk.ami_protocol import AMIProtocol

    logging.getLogger("panoramisk").setLevel(logging.WARNING)
    state = LiveState(people, wrapup_seconds=5)
    apply = state.apply
    count = [0]

    class Factory:
        """What AMIProtocol calls back: the Manager's dispatch, reduced to counting (+ our state)."""

        forgetable_actions = ()
        awaiting_actions: ClassVar[list[Any]] = []

        def dispatch(self, message):
            count[0] += 1
            if with_state:
                event = parse_event(dict(message))
                if event is not None:
                    apply(event, utc_now())

        def connection_lost(self, exc):  # pragma: no cover - never called here
            pass

    class Transport:
        def write(self, data):  # pragma: no cover
            pass

        def close(self):  # pragma: no cover
            pass

    protocol = AMIProtocol()
    protocol.connection_made(Transport())
    protocol.factory = Factory()
    protocol.encoding = "utf8"  # panoramisk's default is ascii (drops Arabic letters)
    gc.collect()
    t0 = time.perf_counter()
    for piece in pieces:
        protocol.data_received(piece)
    return time.perf_counter() - t0, count[0]


def bench_ingest(n_calls: int, chunk_size: int, repeat: int) -> dict[str, Any]:
    rng = random.Random(SEED)
    people = [f"agent-{i:04}" for i in range(2000)]
    queues = [f"{lang}-{topic}" for lang in LANGS for topic in TOPICS]
    data, n_events = ami_stream(n_calls, people, queues, rng)
    pieces = chunks(data, chunk_size)
    best: dict[str, float] = {}
    runs = {
        "ours_parse_apply": lambda: ours(pieces, people, True),
        "ours_parse_only": lambda: ours(pieces, people, False),
        "panoramisk_parse_only": lambda: panoramisk_run(pieces, people, False),
        "panoramisk_parse_apply": lambda: panoramisk_run(pieces, people, True),
    }
    for _ in range(repeat):
        for name, run in runs.items():
            elapsed, count = run()
            if count != n_events:
                raise SystemExit(f"{name}: {count} events parsed, {n_events} expected")
            best[name] = max(best.get(name, 0.0), count / elapsed)
    result: dict[str, Any] = {
        "events": n_events,
        "bytes": len(data),
        "chunk_bytes": chunk_size,
        **{f"{name}_events_per_s": round(rate) for name, rate in best.items()},
    }
    result["ratio_ours_parse_apply_vs_panoramisk_parse_only"] = round(
        best["ours_parse_apply"] / best["panoramisk_parse_only"], 2
    )
    result["ratio_parse_only"] = round(best["ours_parse_only"] / best["panoramisk_parse_only"], 2)
    result["ratio_parse_apply"] = round(best["ours_parse_apply"] / best["panoramisk_parse_apply"], 2)
    print(
        f"ingest: {n_events} events, {len(data) / 1e6:.1f} MB in {len(pieces)} chunks of {chunk_size} B "
        f"(best of {repeat})"
    )
    print(
        f"  ours (AMIParser + parse_event + LiveState.apply): {result['ours_parse_apply_events_per_s']:,} events/s; "
        f"AMIParser alone: {result['ours_parse_only_events_per_s']:,} events/s"
    )
    print(
        f"  panoramisk 1.4 AMIProtocol.data_received: {result['panoramisk_parse_only_events_per_s']:,} events/s; "
        f"+ LiveState.apply: {result['panoramisk_parse_apply_events_per_s']:,} events/s"
    )
    print(
        f"  ratio ours(parse+apply)/panoramisk(parse): {result['ratio_ours_parse_apply_vs_panoramisk_parse_only']}; "
        f"parse only: {result['ratio_parse_only']}; parse+apply: {result['ratio_parse_apply']}"
    )
    return result


def main() -> None:
    quick = "--quick" in sys.argv
    started = time.perf_counter()
    decisions = bench_decisions(2000, 500, rounds=2 if quick else 10)
    ingest = bench_ingest(1000 if quick else 4000, 1460, repeat=1 if quick else 3)
    big = bench_ingest(1000 if quick else 4000, 65536, repeat=1 if quick else 2)
    targets = {
        "choose_p99_under_1ms": decisions["choose_p99_us"] < 1000,
        "ingest_over_20k_events_per_s": ingest["ours_parse_apply_events_per_s"] >= 20000,
    }
    print(f"targets: {targets}; total {time.perf_counter() - started:.1f} s")
    print(
        json.dumps(
            {
                "python": sys.version.split()[0],
                "decisions": decisions,
                "ingest": ingest,
                "ingest_64k_chunks": big,
                "targets_met": targets,
                "seconds": round(time.perf_counter() - started, 1),
            },
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
