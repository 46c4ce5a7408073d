"""Callback simulation: a peak month of the 151 line, without and with callbacks.

A seeded discrete-event simulation (pure Python + numpy, deterministic) shaped like the seed:
about 120,000 calls in March 2021 (31 days, fresh calls plus redials), a daily curve that rises
through the month with surge days (the curfew announcement, a vaccination campaign), an hourly
curve (busy daytime, quiet night), 30 seats in each of 3 shifts, exponential handle times (mean
3 min, plus 5 s wrap-up) and caller patience (mean 2 min) drawn per call.

One queue, one pool of 30 people: every person matches every caller (the skill split is the
routing benchmark's business). A caller who is not answered within their patience hangs up; an
unserved caller redials later with some probability (at most twice).

With callbacks, decisions come from :mod:`callbacks.policy` with the profile's rules
(``profiles/moh-151.yaml``):

* at join, ``wait_from_counts``/``offer_from_counts`` decide the offer; a share of the offered
  callers accept; their caller ID goes through ``check_number`` (with the 24 h rate limit) and
  ``merge_request`` (one open request per number, the earlier place kept);
* a caller who hangs up in the queue gets ``abandoned_request`` (after ``abandoned_after_seconds``)
  and so does one who hangs up in the IVR when ``peak_from_counts`` says peak;
* the scheduler asks ``due_requests`` (customer-first, capacity share, quiet hours 23:00-07:00,
  backoff) whenever a person frees with nobody waiting, an attempt ends or a backoff ends; it
  passes the snapshot of the free people and the head of the live queue;
* each attempt rings ~12 s (answered) or 30 s (not), its end goes to ``after_attempt``; an
  answered callback enters the queue ahead of the live callers (``callback_priority``); old
  requests go to ``expire`` (24 h); a caller answered live ``cancels`` their open request.

Usage: ``.venv/bin/python bench/callbacks_sim.py``. Human-readable lines first; the last line is
one JSON object with all figures.
"""

from __future__ import annotations

import heapq
import json
import random
import sys
import time as clock
from collections import deque
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from callbacks.model import AttemptOutcome, CallbackRequest, Origin, RequestStatus  # noqa: E402
from callbacks.policy import (  # noqa: E402
    HOUR,
    abandoned_request,
    after_attempt,
    callback_priority,
    cancels,
    check_number,
    dials_left,
    due_requests,
    expire,
    in_quiet_hours,
    merge_request,
    new_request,
    offer_from_counts,
    peak_from_counts,
    wait_from_counts,
)
from profiles.model import load_profile  # noqa: E402
from routing.state import Membership, PersonState, PersonView, Snapshot, WaitingCall  # noqa: E402
from telephony.clock import EPOCH  # noqa: E402

SEED = 151
DAYS = 31
FRESH_CALLS = 110_000  # first calls; redials bring the month to about 120,000
SEATS = 30
AHT = 180.0
WRAPUP = 5.0
PATIENCE = 120.0
IVR_ABANDON = 0.04  # hang up in the IVR
ACCEPT_OFFER = 0.5
ANSWER_CALLBACK = 0.7
REDIAL = 0.5  # an unserved caller calls again...
REDIAL_WITH_REQUEST = 0.2  # ... less often when promised a callback
MAX_REDIALS = 2
REDIAL_DELAY = 1800.0
QUEUE = "ar-general"
START = datetime(2021, 2, 28, 21, 0, tzinfo=UTC)  # 2021-03-01 00:00 in Kuwait
HORIZON = DAYS * 86400.0
TAIL = 2 * 86400.0  # run on after March so requests end (connected, failed or expired)

# Kuwait, March 2021: announcements send bursts of calls within hours (the partial curfew from
# the 7th, its extension, the vaccination registration push): (day, local hour, extra calls).
# Bursts decay exponentially (mean 90 min) from the announcement.
BURSTS = ((5, 20, 5000), (6, 9, 3500), (13, 19, 3000), (20, 10, 4500), (21, 9, 3000), (27, 20, 2500))
BURST_DECAY = 5400.0
SURGE = {6: 1.5, 7: 1.3, 21: 1.4, 22: 1.2}  # the days after: a busier ordinary flow
HOURLY = np.array([0.5, 0.3, 0.2, 0.15, 0.15, 0.25, 0.6, 1.3, 2.3, 2.9, 3.1, 3.0,
                   2.7, 2.5, 2.4, 2.3, 2.2, 2.3, 2.5, 2.6, 2.4, 1.9, 1.3, 0.8])  # fmt: skip


def demand(rng: np.random.Generator) -> list[tuple[float, int]]:
    """(arrival offset in seconds, caller index) of every fresh call of the month, sorted."""
    days = np.linspace(0.8, 1.25, DAYS)
    for day in range(DAYS):
        weekday = (0 + day) % 7  # 2021-03-01 was a Monday; Friday/Saturday are the weekend
        if weekday == 4:
            days[day] *= 0.75
        elif weekday == 5:
            days[day] *= 0.85
        days[day] *= SURGE.get(day, 1.0)
    base = FRESH_CALLS - sum(extra for _, _, extra in BURSTS)
    per_day = rng.poisson(base * days / days.sum())
    hourly = HOURLY / HOURLY.sum()
    times = []
    for day, n in enumerate(per_day):
        per_hour = rng.multinomial(n, hourly)
        for hour, k in enumerate(per_hour):
            times.append(day * 86400.0 + hour * 3600.0 + rng.uniform(0, 3600.0, k))
    for day, hour, extra in BURSTS:
        times.append(day * 86400.0 + hour * 3600.0 + rng.exponential(BURST_DECAY, rng.poisson(extra)))
    arrivals = np.sort(np.concatenate(times))
    arrivals = arrivals[arrivals < HORIZON]
    return [(float(t), i) for i, t in enumerate(arrivals)]


def _rid(req: CallbackRequest) -> int:
    """The id of a request the simulation keeps (it numbers every request it stores)."""
    assert req.id is not None
    return req.id


class Caller:
    """One person with a need: their number and whether they were served."""

    __slots__ = ("calls", "number", "request_id", "request_times", "served")

    def __init__(self, number: str) -> None:
        self.number = number
        self.served = False
        self.calls = 0
        self.request_id: int | None = None
        self.request_times: list[datetime] = []


def numbers(rng: np.random.Generator, n: int) -> list[str]:
    """Caller IDs: national mobiles (some with the country code), a few international or withheld."""
    kind = rng.random(n)
    body = rng.integers(0, 10_000_000, n)
    out = []
    for k, b in zip(kind, body, strict=True):
        if k < 0.92:
            out.append(f"{5 + 4 * int(b % 2)}{b:07d}")  # 5xxxxxxx or 9xxxxxxx
        elif k < 0.95:
            out.append(f"9656{b:07d}")
        elif k < 0.98:
            out.append(f"+44{b:07d}0")
        else:
            out.append("anonymous")
    return out


class Sim:
    def __init__(self, callbacks: bool, arrivals: list[tuple[float, int]], attrs: dict, profile) -> None:
        self.cb = callbacks
        self.rules = profile.callbacks
        self.tz = profile.timezone
        self.rng = random.Random(SEED + (1 if callbacks else 0))
        self.attrs = attrs
        self.callers = [Caller(n) for n in attrs["number"]]
        self.events: list[tuple[float, int, str, object]] = []
        self.seq = 0
        for t, i in arrivals:
            self.push(t, "arrive", (i, 0))
        self.free: dict[int, float] = dict.fromkeys(range(SEATS), 0.0)  # person -> idle since
        self.views: dict[int, PersonView] = {}
        self.live: deque[list] = deque()  # [join_t, caller, alive, call_no]
        self.returning: deque[tuple[float, int, int]] = deque()  # connected callbacks: (t, caller, request id)
        self.live_count = 0
        self.max_waiting = 0
        self.callback_delays: list[float] = []
        self.busy_seconds = 0.0
        self.handle_times: deque[float] = deque(maxlen=200)
        # requests
        self.requests: dict[int, CallbackRequest] = {}
        self.ready: list[tuple[int, datetime, datetime, int]] = []  # heap (-priority, place, created, id)
        self.backoff: list[tuple[datetime, int]] = []
        self.dialing: dict[int, CallbackRequest] = {}
        self.dial_times: deque[datetime] = deque()  # the last hour's dials: the hourly cap
        self.next_id = 1
        self.m = {"calls": 0, "entered_queue": 0, "answered_live": 0, "abandoned_queue": 0, "abandoned_ivr": 0,
                      "offered": 0, "offer_accepted": 0, "offer_refused_number": 0, "left_for_callback": 0,
                      "callbacks_requested": 0, "callbacks_merged": 0, "callbacks_refused": 0, "callbacks_connected": 0,
                      "callbacks_failed": 0, "callbacks_expired": 0, "callbacks_cancelled": 0, "attempts": 0,
                      "requests_offer": 0, "requests_abandoned_queue": 0, "requests_abandoned_ivr": 0,
                      "wait_answered": 0.0, "time_to_callback": 0.0, "due_calls": 0, "dials_capped": 0}  # fmt: skip

    # -- plumbing ---------------------------------------------------------------------------------

    def push(self, t: float, kind: str, payload: object) -> None:
        self.seq += 1
        heapq.heappush(self.events, (t, self.seq, kind, payload))

    def run(self) -> dict:
        for day in range(DAYS + 2):  # the end of the quiet hours each morning
            self.push(day * 86400.0 + 7 * 3600.0, "wake", None)
        end = HORIZON + TAIL
        handlers = {"arrive": self.arrive, "join": self.join, "ivr_hangup": self.ivr_hangup,
                    "abandon": self.abandon, "done": self.done, "dial_end": self.dial_end,
                    "wake": lambda t, p: self.schedule(t)}  # fmt: skip
        while self.events:
            t, _, kind, payload = heapq.heappop(self.events)
            if t > end:
                break
            handlers[kind](t, payload)
        return self.report()

    def at(self, t: float) -> datetime:
        """The time ``t`` seconds into the simulation, as the policy takes it."""
        return START + timedelta(seconds=t)

    # -- callers ------------------------------------------------------------------------------------

    def arrive(self, t: float, payload) -> None:
        i, redial = payload
        caller = self.callers[i]
        caller.calls += 1
        self.m["calls"] += 1
        a = self.attrs
        ivr = a["ivr"][i] if redial == 0 else self.rng.uniform(15, 40)
        ivr_abandon = a["ivr_abandon"][i] if redial == 0 else self.rng.random() < IVR_ABANDON
        if ivr_abandon:
            self.push(t + ivr * 0.6, "ivr_hangup", (i, redial))
        else:
            self.push(t + ivr, "join", (i, redial))

    def ivr_hangup(self, t: float, payload) -> None:
        i, redial = payload
        self.m["abandoned_ivr"] += 1
        if self.cb:
            peak = peak_from_counts(self.live_count, SEATS, self.rules)
            caller = self.callers[i]
            req = abandoned_request(
                caller_number=caller.number, language=None, topic=None, specialty=None, queue=None,
                outcome="abandoned_ivr", wait_seconds=None, started_at=self.at(t - 20), linkedid=None,
                is_peak=peak, rules=self.rules, now=self.at(t), default_language="ar", default_topic="general",
                recent_request_times=caller.request_times,
            )  # fmt: skip
            if req is not None:
                self.add_request(t, i, req)
        self.maybe_redial(t, i, redial)

    def join(self, t: float, payload) -> None:
        i, redial = payload
        self.m["entered_queue"] += 1
        caller = self.callers[i]
        if self.free and not self.returning and not self.live_count:
            self.answer_live(t, i, t)
            return
        if self.cb:
            position = self.live_count + 1
            aht = sum(self.handle_times) / len(self.handle_times) if self.handle_times else None
            wait = wait_from_counts(position, len(self.free), SEATS, aht)
            if offer_from_counts(wait, position, SEATS, self.rules):
                self.m["offered"] += 1
                accepts = self.attrs["accept"][i] if redial == 0 else self.rng.random() < ACCEPT_OFFER
                if accepts:
                    self.m["offer_accepted"] += 1
                    check = check_number(
                        caller.number,
                        self.rules,
                        caller_id=True,
                        recent_request_times=caller.request_times,
                        now=self.at(t),
                    )
                    if check.ok:
                        req = new_request(number=check.number, language="ar", topic="general", specialty=None,
                                          queue=QUEUE, origin=Origin.OFFER, place_at=self.at(t),
                                          rules=self.rules, now=self.at(t))  # fmt: skip
                        self.m["left_for_callback"] += 1
                        self.add_request(t, i, req)
                        return
                    self.m["offer_refused_number"] += 1  # "we cannot call back this number": stays
        entry = [t, i, True, redial]
        self.live.append(entry)
        self.live_count += 1
        self.max_waiting = max(self.max_waiting, self.live_count)
        patience = self.attrs["patience"][i] if redial == 0 else self.rng.expovariate(1 / PATIENCE)
        self.push(t + patience, "abandon", entry)

    def abandon(self, t: float, entry) -> None:
        if not entry[2]:
            return
        entry[2] = False
        self.live_count -= 1
        self.m["abandoned_queue"] += 1
        i, redial = entry[1], entry[3]
        if self.cb:
            caller = self.callers[i]
            req = abandoned_request(
                caller_number=caller.number, language="ar", topic="general", specialty=None, queue=QUEUE,
                outcome="abandoned_queue", wait_seconds=t - entry[0], started_at=None, joined_at=self.at(entry[0]),
                linkedid=None, is_peak=False, rules=self.rules, now=self.at(t), default_language="ar",
                default_topic="general", recent_request_times=caller.request_times,
            )  # fmt: skip
            if req is not None:
                self.add_request(t, i, req)
        self.maybe_redial(t, i, redial)

    def maybe_redial(self, t: float, i: int, redial: int) -> None:
        caller = self.callers[i]
        if redial >= MAX_REDIALS or caller.served:
            return
        pending = caller.request_id is not None and self.requests[caller.request_id].status in (
            RequestStatus.OPEN,
            RequestStatus.DIALING,
        )
        if self.rng.random() < (REDIAL_WITH_REQUEST if pending else REDIAL):
            self.push(t + self.rng.expovariate(1 / REDIAL_DELAY), "arrive", (i, redial + 1))

    def answer_live(self, t: float, i: int, joined: float) -> None:
        self.m["answered_live"] += 1
        self.m["wait_answered"] += t - joined
        caller = self.callers[i]
        caller.served = True
        if caller.request_id is not None:
            req = self.requests[caller.request_id]
            if cancels(req, caller.number, self.at(t)):
                self.requests[_rid(req)] = replace(req, status=RequestStatus.CANCELLED)
                self.dialing.pop(_rid(req), None)
                self.m["callbacks_cancelled"] += 1
        self.start_service(t)

    def start_service(self, t: float) -> None:
        agent = min(self.free, key=self.free.__getitem__)  # longest idle, like leastrecent
        del self.free[agent]
        self.views.pop(agent, None)
        handle = self.rng.expovariate(1 / AHT)
        self.handle_times.append(handle + WRAPUP)
        end = t + handle + WRAPUP
        self.busy_seconds += max(0.0, min(end, HORIZON) - min(t, HORIZON))
        self.push(end, "done", agent)

    def done(self, t: float, agent: int) -> None:
        self.free[agent] = t
        if self.returning:
            _, i, _rid = self.returning.popleft()
            self.start_service(t)
            self.callers[i].served = True
            return
        while self.live:
            entry = self.live.popleft()
            if entry[2]:
                entry[2] = False
                self.live_count -= 1
                self.answer_live(t, entry[1], entry[0])
                return
        self.schedule(t)

    # -- callbacks ----------------------------------------------------------------------------------

    def add_request(self, t: float, i: int, req: CallbackRequest) -> None:
        caller = self.callers[i]
        existing = self.requests.get(caller.request_id) if caller.request_id is not None else None
        decision = merge_request(existing, req)
        if decision.action == "keep":
            assert existing is not None  # merge_request keeps only an existing request
            self.m["callbacks_merged"] += 1
            self.requests[_rid(existing)] = decision.request
            moved = (decision.request.place_at, decision.request.priority) != (existing.place_at, existing.priority)
            if moved and existing.status is RequestStatus.OPEN:
                self.queue_request(decision.request)
            return
        req = replace(req, id=self.next_id)
        self.next_id += 1
        self.requests[_rid(req)] = req
        caller.request_id = req.id
        caller.request_times.append(req.created_at)
        self.m["callbacks_requested"] += 1
        self.m[f"requests_{req.origin.value}"] += 1
        self.owner[_rid(req)] = i
        self.queue_request(req)
        self.schedule(t)

    owner: dict[int, int]

    def queue_request(self, req: CallbackRequest) -> None:
        heapq.heappush(self.ready, (-req.priority, req.place_at, req.created_at, _rid(req)))

    def schedule(self, t: float) -> None:
        if not self.cb or not self.free or self.live_count or self.returning:
            return
        now = self.at(t)
        while self.backoff and self.backoff[0][0] <= now:
            _, rid = heapq.heappop(self.backoff)
            self.queue_request(self.requests[rid])
        if not self.ready or in_quiet_hours(self.rules, now, self.tz):
            return
        # The first requests in dialling order, enough for the capacity share of the free people.
        candidates: list[CallbackRequest] = []
        seen: set[int] = set()
        while self.ready and len(candidates) < len(self.free):
            key = heapq.heappop(self.ready)
            req = self.requests[key[3]]
            if req.status is not RequestStatus.OPEN or key != (-req.priority, req.place_at, req.created_at, req.id):
                continue  # stale entry: cancelled, merged to an earlier place, dialing...
            if req.id in seen:
                continue
            seen.add(_rid(req))
            if req.next_attempt_at > now:  # merged while backing off: the backoff heap has it
                continue
            gone = expire([req], now)
            if gone:
                self.requests[_rid(req)] = gone[0]
                self.m["callbacks_expired"] += 1
                continue
            candidates.append(req)
        self.m["due_calls"] += 1
        dials = due_requests(candidates + list(self.dialing.values()), self.snapshot(now), self.rules, now,
                             waiting_calls=self.waiting_head(), timezone=self.tz)  # fmt: skip
        while self.dial_times and self.dial_times[0] <= now - HOUR:
            self.dial_times.popleft()
        allowed = dials_left(self.dial_times, self.rules, now)  # the scheduler's hourly cap
        self.m["dials_capped"] += len(dials) > allowed
        dials = dials[:allowed]
        self.dial_times.extend(now for _ in dials)
        dialled = {d.request_id for d in dials}
        for req in candidates:
            if req.id not in dialled:
                self.queue_request(req)
        for dial in dials:
            assert dial.request_id is not None  # every candidate has an id
            req = replace(self.requests[dial.request_id], status=RequestStatus.DIALING)
            self.requests[_rid(req)] = req
            self.dialing[_rid(req)] = req
            self.m["attempts"] += 1
            u = self.rng.random()
            if u < ANSWER_CALLBACK:
                outcome, ring = AttemptOutcome.CONNECTED, self.rng.uniform(5, 20)
            elif u < ANSWER_CALLBACK + 0.24:
                outcome, ring = AttemptOutcome.NO_ANSWER, 30.0
            elif u < ANSWER_CALLBACK + 0.29:
                outcome, ring = AttemptOutcome.BUSY, 3.0
            else:
                outcome, ring = AttemptOutcome.FAILED, 1.0
            self.push(t + ring, "dial_end", (req.id, outcome))

    def snapshot(self, now: datetime) -> Snapshot:
        """The free people as the policy sees them (busy people do not change a callback decision)."""
        people = {}
        for agent, idle in self.free.items():
            view = self.views.get(agent)
            if view is None:
                view = self.views[agent] = PersonView(
                    person_id=f"agent-{agent:02}", state=PersonState.AVAILABLE, pause_reason="", reachable=True,
                    queues=MappingProxyType({QUEUE: Membership(QUEUE, f"PJSIP/agent-{agent:02}", 0, False, "", START)}),
                    login_time=START, idle_since=START + timedelta(seconds=idle), calls_taken=0, history=(),
                    sessions=(), missed_rings=0, call_uniqueid=None, call_started=None, wrapup_until=EPOCH, free=True,
                )  # fmt: skip
            people[view.person_id] = view
        return Snapshot(at=now, people=people, queues={QUEUE: tuple(sorted(people))}, calls={})

    def waiting_head(self) -> list[WaitingCall]:
        for entry in self.live:
            if entry[2]:
                return [WaitingCall(f"live-{entry[1]}", QUEUE, self.at(entry[0]), 1, 0)]
        return []

    def dial_end(self, t: float, payload) -> None:
        rid, outcome = payload
        self.dialing.pop(rid, None)
        req = self.requests[rid]
        cancelled = req.status is RequestStatus.CANCELLED
        req = self.requests[rid] = after_attempt(req, outcome, self.rules, self.at(t))
        if cancelled:
            pass
        elif req.status is RequestStatus.CONNECTED:
            self.m["callbacks_connected"] += 1
            delay = (self.at(t) - req.created_at).total_seconds()
            self.m["time_to_callback"] += delay
            self.callback_delays.append(delay)
            i = self.owner[rid]
            assert callback_priority(req) > 0  # enters ahead of the live callers
            if self.free:
                self.start_service(t)
                self.callers[i].served = True
            else:
                self.returning.append((t, i, rid))
        elif req.status is RequestStatus.FAILED:
            self.m["callbacks_failed"] += 1
        else:
            heapq.heappush(self.backoff, (req.next_attempt_at, rid))
            self.push((req.next_attempt_at - START).total_seconds(), "wake", None)
        self.schedule(t)

    # -- figures --------------------------------------------------------------------------------------

    def report(self) -> dict:
        m = self.m
        left_open = 0
        for req in self.requests.values():
            if req.status in (RequestStatus.OPEN, RequestStatus.DIALING):
                left_open += 1
        entered = max(m["entered_queue"], 1)
        needs = len(self.callers)
        served = sum(1 for c in self.callers if c.served)
        return {
            "callers": needs,
            "calls": m["calls"],
            "entered_queue": m["entered_queue"],
            "offered": m["offered"],
            "offer_accepted": m["offer_accepted"],
            "offer_refused_number": m["offer_refused_number"],
            "answered_share": round(m["answered_live"] / entered, 4),
            "abandonment_share": round(m["abandoned_queue"] / entered, 4),
            "left_for_callback_share": round(m["left_for_callback"] / entered, 4),
            "abandoned_ivr": m["abandoned_ivr"],
            "callbacks_requested": m["callbacks_requested"],
            "callbacks_by_origin": {o.value: m[f"requests_{o.value}"] for o in Origin},
            "callbacks_merged": m["callbacks_merged"],
            "callbacks_connected": m["callbacks_connected"],
            "callbacks_failed": m["callbacks_failed"],
            "callbacks_expired": m["callbacks_expired"],
            "callbacks_cancelled": m["callbacks_cancelled"],
            "callbacks_left_open": left_open,
            "callback_attempts": m["attempts"],
            "decisions_held_back_by_the_hourly_cap": m["dials_capped"],
            "mean_time_to_callback_s": round(m["time_to_callback"] / max(m["callbacks_connected"], 1), 1),
            "median_time_to_callback_s": round(float(np.median(self.callback_delays)), 1)
            if self.callback_delays
            else 0.0,
            "p90_time_to_callback_s": round(float(np.percentile(self.callback_delays, 90)), 1)
            if self.callback_delays
            else 0.0,
            "max_waiting_live": self.max_waiting,
            "occupancy": round(self.busy_seconds / (SEATS * HORIZON), 4),
            "asa_s": round(m["wait_answered"] / max(m["answered_live"], 1), 1),
            "served_share": round(served / needs, 4),
        }


def main() -> None:
    started = clock.perf_counter()
    profile = load_profile(ROOT / "profiles" / "moh-151.yaml")
    rng = np.random.default_rng(SEED)
    arrivals = demand(rng)
    n = len(arrivals)
    attrs = {
        "number": numbers(rng, n),
        "patience": rng.exponential(PATIENCE, n).tolist(),
        "ivr": rng.uniform(15, 40, n).tolist(),
        "ivr_abandon": (rng.random(n) < IVR_ABANDON).tolist(),
        "accept": (rng.random(n) < ACCEPT_OFFER).tolist(),
    }
    print(f"callbacks_sim: {n} callers in March ({DAYS} days), {SEATS} seats per shift, "
          f"AHT {AHT:.0f} s + {WRAPUP:.0f} s wrap-up, patience {PATIENCE:.0f} s, seed {SEED}")  # fmt: skip
    results = {}
    for name, enabled in (("without_callbacks", False), ("with_callbacks", True)):
        t0 = clock.perf_counter()
        sim = Sim(enabled, arrivals, attrs, profile)
        sim.owner = {}
        results[name] = figures = sim.run()
        print(f"{name}: {figures['calls']} calls, answered {figures['answered_share']:.1%}, "
              f"abandoned {figures['abandonment_share']:.1%}, ASA {figures['asa_s']} s, "
              f"occupancy {figures['occupancy']:.1%}, offered {figures['offered']}, "
              f"callbacks {figures['callbacks_requested']} requested / {figures['callbacks_connected']} connected / "
              f"{figures['callbacks_failed']} failed / {figures['callbacks_expired']} expired, "
              f"served {figures['served_share']:.1%} ({clock.perf_counter() - t0:.1f} s)")  # fmt: skip
    rules = profile.callbacks
    out = {
        "seed": SEED,
        "days": DAYS,
        "seats": SEATS,
        "callers": n,
        "rules": {
            "offer_after_wait_seconds": rules.offer_after_wait_seconds,
            "offer_callers_per_person": rules.offer_callers_per_person,
            "abandoned_after_seconds": rules.abandoned_after_seconds,
            "capacity_share": rules.capacity_share,
            "max_attempts": rules.max_attempts,
            "retry_after_seconds": list(rules.retry_after_seconds),
            "quiet_hours": [str(rules.quiet_start), str(rules.quiet_end)],
            "max_dials_per_hour": rules.max_dials_per_hour,
        },
        "assumptions": {"accept_offer": ACCEPT_OFFER, "answer_callback": ANSWER_CALLBACK, "redial": REDIAL,
                        "redial_with_request": REDIAL_WITH_REQUEST, "ivr_abandon": IVR_ABANDON},
        **results,
        "seconds": round(clock.perf_counter() - started, 2),
    }  # fmt: skip
    print(json.dumps(out, sort_keys=False))


if __name__ == "__main__":
    main()
