"""Campaign simulation: one day of the Raipur COVID call centre's daily health check, progressive pacing against
a fixed dial rate.

A seeded discrete-event simulation (pure Python, deterministic, no Asterisk): 5,000 patients in home isolation,
20 volunteers (doctors) who take the patients who press 2, the campaign's 8-hour window. The campaign's rules come
from ``profiles/covid-followup.yaml`` (window, attempts per day, backoff, ring time, the cap of concurrent calls,
the quiet hours) and its decisions from :mod:`outbound.model`: ``window_open`` (may a call be placed now),
``day_state`` and ``next_attempt_at`` (who is due, after ``retry_delay``; reached, not reached after every
attempt), and ``progressive_slots`` (how many calls may be placed now).

Each patient's day is drawn once from the seed and is the same in both modes (answered or not, ring time, the key,
the talk with the doctor): only the pacing differs.

- **progressive**: a call is placed only while a doctor is free to take a "2" who is not already covered by a call
  in flight (``progressive_slots``), within the campaign's ``max_concurrent``. Nobody who presses 2 should wait.
- **fixed**: one call every ``60 / rate`` seconds, whatever the doctors are doing; the rate is the one that would
  reach everyone in the window if nobody pressed 2 (the expected attempts of the list, over the window less the
  backoffs), unless ``--fixed-rate`` gives one. A patient who pressed 2 waits for a doctor, first come first
  served, and hangs up after ``--patience`` seconds.

The article (../shared/seeds/covid-call-centre-raipur.txt) gives no figures for any of this: it tells what the
centre did (a daily call to every patient in home isolation, doctors, the control room for an ambulance), not how
often people answered or pressed what. Every assumption is a flag; the script time is what the profile's Hindi
prompts last (greeting 7.6 s, the question 7.7 s, spoken by espeak-ng at 150 words a minute).

Usage: ``.venv/bin/python bench/campaign_sim.py [--patients N] [--share-doctor 0.3] ...``. Human-readable lines
first; the last line is one JSON object with all figures.
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
import sys
import time as clock
from collections import deque
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from outbound.model import (  # noqa: E402
    Action,
    Attempt,
    DayState,
    Outcome,
    day_state,
    next_attempt_at,
    progressive_slots,
    retry_delay,
    window_open,
)
from profiles.model import Campaign, Profile, load_profile  # noqa: E402

PROFILE = ROOT / "profiles" / "covid-followup.yaml"
CAMPAIGN = "daily_health_check"
MODES = ("progressive", "fixed")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--profile", type=Path, default=PROFILE)
    p.add_argument("--patients", type=int, default=5000, help="the home_isolation list (issue 14: 5,000)")
    p.add_argument("--doctors", type=int, default=20, help="volunteers (doctors) who take a 2 (issue 14: 20)")
    p.add_argument("--seed", type=int, default=14)
    p.add_argument("--day", type=date.fromisoformat, default=date(2026, 12, 2), help="the campaign's local day")
    p.add_argument("--max-concurrent", type=int, default=None, help="default: the campaign's max_concurrent")
    p.add_argument("--fixed-rate", type=float, default=None, help="calls a minute; default: see the module")
    p.add_argument("--answer", type=float, default=0.70, help="share of attempts answered")
    p.add_argument("--busy", type=float, default=0.05, help="share of attempts busy (3 s)")
    p.add_argument("--failed", type=float, default=0.03, help="share of attempts that fail at once (1 s)")
    p.add_argument("--ring-answered", type=float, nargs=2, default=(4.0, 20.0), metavar=("MIN", "MAX"),
                   help="ringing before an answer, s (uniform); unanswered: the campaign's ring_seconds")  # fmt: skip
    p.add_argument("--script-seconds", type=float, default=15.3, help="greeting and question (the Hindi prompts)")
    p.add_argument("--key-seconds", type=float, nargs=2, default=(1.0, 5.0), metavar=("MIN", "MAX"),
                   help="from the end of the question to the key (uniform)")  # fmt: skip
    p.add_argument("--share-doctor", type=float, default=0.20, help="of those who answer, share pressing 2")
    p.add_argument("--share-emergency", type=float, default=0.01, help="of those who answer, share pressing 9")
    p.add_argument("--share-no-key", type=float, default=0.04, help="of those who answer, share keying nothing")
    p.add_argument("--talk-seconds", type=float, default=300.0, help="mean of a doctor's talk (exponential)")
    p.add_argument("--patience", type=float, default=300.0, help="seconds a patient holds after 2 before hanging up")
    return p.parse_args(argv)


@dataclass(frozen=True, slots=True)
class Draw:
    """One attempt of one patient, as the seed decides it."""

    outcome: Outcome  # ANSWERED, NO_ANSWER, BUSY or FAILED
    ring: float  # seconds until the answer or the end
    action: Action  # what the key does when answered
    key: float  # seconds from the answer to the key (the script, then the key or the retries)
    talk: float  # seconds with a doctor after a 2 (without the wrap-up)


def draws(args: argparse.Namespace, campaign: Campaign) -> list[list[Draw]]:
    """Every patient's attempts of the day, drawn once: the same for both modes."""
    rng = random.Random(args.seed)
    script = campaign.script
    no_key = args.script_seconds + script.retries * (7.7 + script.timeout_seconds) + script.timeout_seconds
    days = []
    for _ in range(args.patients):
        attempts = []
        for _ in range(campaign.attempts_per_day):
            u = rng.random()
            if u < args.answer:
                outcome, ring = Outcome.ANSWERED, rng.uniform(*args.ring_answered)
            elif u < args.answer + args.busy:
                outcome, ring = Outcome.BUSY, 3.0
            elif u < args.answer + args.busy + args.failed:
                outcome, ring = Outcome.FAILED, 1.0
            else:
                outcome, ring = Outcome.NO_ANSWER, float(campaign.ring_seconds)
            v = rng.random()
            if v < args.share_doctor:
                action = Action.DOCTOR
            elif v < args.share_doctor + args.share_emergency:
                action = Action.EMERGENCY
            elif v < args.share_doctor + args.share_emergency + args.share_no_key:
                action = Action.NONE
            else:
                action = Action.WELL
            key = args.script_seconds + rng.uniform(*args.key_seconds) if action is not Action.NONE else no_key
            attempts.append(Draw(outcome, ring, action, key, rng.expovariate(1 / args.talk_seconds)))
        days.append(attempts)
    return days


def fixed_rate(args: argparse.Namespace, campaign: Campaign, window_seconds: float) -> float:
    """Calls a minute that would reach everyone in the window if nobody pressed 2: the list's expected attempts
    over the window less the backoffs of the last attempts (so a last retry still falls inside it)."""
    missed = 1 - args.answer
    expected = sum(missed**k for k in range(campaign.attempts_per_day))
    backoffs = sum(retry_delay(campaign, k).total_seconds() for k in range(1, campaign.attempts_per_day))
    usable = max(window_seconds - backoffs - campaign.ring_seconds, 60.0)
    return args.patients * expected / usable * 60


def percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered) + 0.5) - 1))]


class Sim:
    def __init__(self, mode: str, args: argparse.Namespace, profile: Profile, campaign: Campaign,
                 days: list[list[Draw]], start: datetime, end: datetime, rate: float) -> None:  # fmt: skip
        assert profile.outbound is not None
        self.mode, self.args, self.profile, self.campaign, self.days = mode, args, profile, campaign, days
        self.rules = profile.outbound
        self.start, self.window = start, (end - start).total_seconds()
        self.max_concurrent = args.max_concurrent or campaign.max_concurrent
        self.rate = rate
        self.wrapup = float(profile.queue_settings.wrapup_seconds)
        self.attempts: list[list[Attempt]] = [[] for _ in days]
        self.due: list[tuple[float, int]] = [(0.0, i) for i in range(len(days))]  # (when, patient): list order
        self.events: list[tuple[float, int, str, tuple[int, ...]]] = []
        self.seq = 0
        self.free = args.doctors
        self.in_flight = 0
        self.waiting: deque[list] = deque()  # [pressed at, patient, still there]
        self.holding: list[list] = []  # every patient who waited after a 2, by index (their hang-up event names it)
        self.waits: list[float] = []  # after a 2: until a doctor, or until hanging up
        self.busy = 0.0  # doctors' seconds (talk and wrap-up) inside the window
        self.m = {"calls_placed": 0, "answered": 0, "well": 0, "doctor": 0, "emergency": 0, "no_key": 0,
                  "abandoned_after_2": 0, "waited_after_2": 0, "peak_in_flight": 0, "peak_waiting": 0}  # fmt: skip
        self.last_dial = 0.0

    def at(self, t: float) -> datetime:
        return self.start + timedelta(seconds=t)

    def push(self, t: float, kind: str, *payload: int) -> None:
        self.seq += 1
        heapq.heappush(self.events, (t, self.seq, kind, payload))

    # -- the run ---------------------------------------------------------------------------------------------------

    def run(self) -> dict:
        heapq.heapify(self.due)
        if self.mode == "fixed":
            self.push(0.0, "tick")
        else:
            self.push(0.0, "wake")
        handlers = {"tick": self.tick, "wake": lambda t, p: self.dispatch(t), "ended": self.ended,
                    "keyed": self.keyed, "done": self.done, "hang_up": self.hang_up}  # fmt: skip
        while self.events:
            t, _, kind, payload = heapq.heappop(self.events)
            handlers[kind](t, payload)
        return self.report()

    def open(self, t: float) -> bool:
        return t < self.window and window_open(self.campaign, self.rules, self.profile.timezone, self.at(t))

    def next_due(self, t: float) -> int | None:
        """The first patient of the list who is due now (their next attempt's time has come), or None."""
        if self.due and self.due[0][0] <= t:
            return heapq.heappop(self.due)[1]
        return None

    def dispatch(self, t: float) -> None:
        """Progressive pacing: as many calls as progressive_slots allows, to the patients due."""
        if self.mode != "progressive" or not self.open(t):
            return
        slots = progressive_slots(free_people=self.free, in_flight=self.in_flight, max_concurrent=self.max_concurrent)
        for _ in range(slots):
            patient = self.next_due(t)
            if patient is None:
                return
            self.dial(t, patient)

    def tick(self, t: float, payload: tuple[int, ...]) -> None:
        """Fixed rate: one call each tick, to the first patient due, whatever the doctors are doing."""
        if not self.open(t):
            return
        patient = self.next_due(t)
        if patient is not None:
            self.dial(t, patient)
        self.push(t + 60.0 / self.rate, "tick")

    def dial(self, t: float, patient: int) -> None:
        made = self.attempts[patient]
        assert day_state(self.campaign, made) is DayState.PENDING  # the model's rule: never a reached patient again
        number = len(made) + 1
        made.append(Attempt(None, self.campaign.id, patient, self.args.day, number, self.at(t), "sim", self.at(t)))
        draw = self.days[patient][number - 1]
        self.in_flight += 1
        self.m["calls_placed"] += 1
        self.m["peak_in_flight"] = max(self.m["peak_in_flight"], self.in_flight)
        self.last_dial = t
        if draw.outcome is Outcome.ANSWERED:
            self.push(t + draw.ring + draw.key, "keyed", patient, number)
        else:
            self.push(t + draw.ring, "ended", patient, number)

    def finish(self, t: float, patient: int, **changes: object) -> None:
        made = self.attempts[patient]
        made[-1] = replace(made[-1], ended_at=self.at(t), **changes)  # type: ignore[arg-type]

    def ended(self, t: float, payload: tuple[int, ...]) -> None:
        """An attempt nobody answered: the next one after the campaign's backoff (next_attempt_at)."""
        patient, number = payload
        draw = self.days[patient][number - 1]
        self.in_flight -= 1
        self.finish(t, patient, outcome=draw.outcome)
        after = next_attempt_at(self.campaign, self.attempts[patient])
        if after is not None:
            when = (after - self.start).total_seconds()
            heapq.heappush(self.due, (when, patient))
            if self.mode == "progressive":
                self.push(when, "wake")
        self.dispatch(t)

    def keyed(self, t: float, payload: tuple[int, ...]) -> None:
        patient, number = payload
        draw = self.days[patient][number - 1]
        answered = self.at(t - draw.key)
        self.in_flight -= 1
        self.m["answered"] += 1
        self.finish(t, patient, outcome=Outcome.ANSWERED, answered_at=answered, action=draw.action)
        self.m[{"well": "well", "doctor": "doctor", "emergency": "emergency", "none": "no_key"}[draw.action.value]] += 1
        if draw.action is Action.DOCTOR:
            entry = [t, patient, True]
            if self.free:
                self.consult(t, entry)
            else:
                self.waiting.append(entry)
                self.m["waited_after_2"] += 1
                self.m["peak_waiting"] = max(self.m["peak_waiting"], len(self.waiting))
                self.push(t + self.args.patience, "hang_up", len(self.holding))
                self.holding.append(entry)
        self.dispatch(t)

    def consult(self, t: float, entry: list) -> None:
        entry[2] = False
        self.waits.append(t - entry[0])
        self.free -= 1
        end = t + self.days[entry[1]][len(self.attempts[entry[1]]) - 1].talk + self.wrapup
        self.busy += max(0.0, min(end, self.window) - min(t, self.window))
        self.push(end, "done")

    def hang_up(self, t: float, payload: tuple[int, ...]) -> None:
        entry = self.holding[payload[0]]
        if not entry[2]:  # a doctor took them first
            return
        entry[2] = False
        self.waits.append(t - entry[0])
        self.m["abandoned_after_2"] += 1

    def done(self, t: float, payload: tuple[int, ...]) -> None:
        self.free += 1
        while self.waiting:
            entry = self.waiting.popleft()
            if entry[2]:
                self.consult(t, entry)
                break
        self.dispatch(t)

    # -- the figures -----------------------------------------------------------------------------------------------

    def report(self) -> dict:
        states = [day_state(self.campaign, made) for made in self.attempts]
        n = len(states)
        reached = states.count(DayState.REACHED)
        not_reached = states.count(DayState.NOT_REACHED)
        left = states.count(DayState.PENDING)  # the window closed before their attempts were used
        tz = ZoneInfo(self.profile.timezone)
        return {
            "reached": reached,
            "reached_share": round(reached / n, 4),
            "not_reached_after_all_attempts": not_reached,
            "not_reached_window_closed": left,
            "not_reached_share": round((n - reached) / n, 4),
            "calls_placed": self.m["calls_placed"],
            "answered": self.m["answered"],
            "pressed_1": self.m["well"],
            "pressed_2": self.m["doctor"],
            "pressed_9": self.m["emergency"],
            "no_key": self.m["no_key"],
            "waited_after_2": self.m["waited_after_2"],
            "abandoned_after_2": self.m["abandoned_after_2"],
            "longest_wait_after_2_s": round(max(self.waits, default=0.0), 1),
            "p95_wait_after_2_s": round(percentile(self.waits, 0.95), 1),
            "mean_wait_after_2_s": round(sum(self.waits) / len(self.waits), 1) if self.waits else 0.0,
            "occupancy": round(self.busy / (self.args.doctors * self.window), 4),
            "peak_calls_in_flight": self.m["peak_in_flight"],
            "peak_waiting_after_2": self.m["peak_waiting"],
            "last_call_placed_at": self.at(self.last_dial).astimezone(tz).strftime("%H:%M"),
        }


def simulate(args: argparse.Namespace) -> dict:
    """Both modes on the same patients; the figures as one mapping (what main prints on its last line)."""
    profile = load_profile(args.profile)
    assert profile.outbound is not None, f"{args.profile} has no outbound campaigns"
    campaign = profile.outbound.campaign(CAMPAIGN)
    tz = ZoneInfo(profile.timezone)
    start = datetime.combine(args.day, campaign.window.start, tz).astimezone(UTC)
    end = datetime.combine(args.day, campaign.window.end, tz).astimezone(UTC)
    window = (end - start).total_seconds()
    rate = args.fixed_rate or fixed_rate(args, campaign, window)
    days = draws(args, campaign)
    results = {}
    for mode in MODES:
        results[mode] = Sim(mode, args, profile, campaign, days, start, end, rate).run()
    return {
        "seed": args.seed,
        "patients": args.patients,
        "doctors": args.doctors,
        "window": [campaign.window.start.strftime("%H:%M"), campaign.window.end.strftime("%H:%M"), profile.timezone],
        "window_hours": round(window / 3600, 2),
        "rules": {
            "attempts_per_day": campaign.attempts_per_day,
            "retry_after_seconds": list(campaign.retry_after_seconds),
            "ring_seconds": campaign.ring_seconds,
            "max_concurrent": args.max_concurrent or campaign.max_concurrent,
            "wrapup_seconds": profile.queue_settings.wrapup_seconds,
        },
        "fixed_rate_per_minute": round(rate, 2),
        "assumptions": {
            "answer": args.answer,
            "busy": args.busy,
            "failed": args.failed,
            "ring_answered_s": list(args.ring_answered),
            "script_s": args.script_seconds,
            "key_s": list(args.key_seconds),
            "share_doctor": args.share_doctor,
            "share_emergency": args.share_emergency,
            "share_no_key": args.share_no_key,
            "talk_mean_s": args.talk_seconds,
            "patience_s": args.patience,
        },
        **results,
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    started = clock.perf_counter()
    out = simulate(args)
    print(f"campaign_sim: {out['patients']} patients, {out['doctors']} doctors, window {out['window'][0]}-"
          f"{out['window'][1]} {out['window'][2]} ({out['window_hours']} h), {out['rules']['attempts_per_day']} "
          f"attempts, backoff {out['rules']['retry_after_seconds']} s, max_concurrent "
          f"{out['rules']['max_concurrent']}, seed {out['seed']}")  # fmt: skip
    print(f"assumptions: answer {args.answer:.0%}, 2 {args.share_doctor:.0%}, 9 {args.share_emergency:.0%}, "
          f"no key {args.share_no_key:.0%}, talk {args.talk_seconds:.0f} s (mean), patience {args.patience:.0f} s; "
          f"fixed rate {out['fixed_rate_per_minute']} calls/min")  # fmt: skip
    for mode in MODES:
        r = out[mode]
        print(
            f"{mode:>11}: reached {r['reached_share']:.1%}, not reached {r['not_reached_after_all_attempts']} "
            f"after all attempts + {r['not_reached_window_closed']} at the window's end; after 2: longest wait "
            f"{r['longest_wait_after_2_s']} s, p95 {r['p95_wait_after_2_s']} s, {r['abandoned_after_2']} hung up; "
            f"occupancy {r['occupancy']:.1%}; {r['calls_placed']} calls, the last at {r['last_call_placed_at']}"
        )
    out["seconds"] = round(clock.perf_counter() - started, 2)
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
