"""The callback service: offers, requests, and the scheduler that calls callers back exactly once.

- The offer: each tick, a queue whose wait is long enough gets the "press 1" announcement (the
  periodic announcement file of the queue is switched between the offer and silence).
- Requests come from the callback menu (ivr/callback_offer.py) and from call records of callers
  who abandoned. One open request per number; a caller who gets through on their own cancels it.
- The scheduler dials a request when it reaches the front and a matching person is free, and
  only while fewer callbacks are under way (ringing the caller, or answered and waiting in the
  queue) than free people can take (``policy.callbacks_under_way``). It checks the number again
  just before the dial (the profile may have changed; a stored request may be forged) and refuses
  one that fails, and it keeps to the hourly cap on dials of every instance together. Each
  attempt is claimed under its own id in the database (FOR UPDATE SKIP LOCKED on PostgreSQL), marked
  as dialling BEFORE the Originate is sent, and the Originate is sent once: our AMI client never
  re-sends an action, and an attempt whose fate is unknown after a crash or an AMI drop is never
  dialled again at once.
- A request is served only when a person talks to the called-back caller: when the caller
  answers, the attempt stays open (the request DIALING) while they wait in the queue. It is closed
  CONNECTED when the live routing state shows a person on that call (AgentConnect), or when the
  callback call's record says a person answered it; a caller who left the queue before a person
  answered ends the attempt ABANDONED, and the request is retried under the policy.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from callbacks import policy
from callbacks.agi import Booking, OfferContext
from callbacks.db import CallbackStore
from callbacks.model import AttemptOutcome, CallbackAttempt, CallbackRequest, Origin, RequestStatus
from cdr.builder import CallRecord, Outcome
from profiles.model import Profile
from routing.policy import call_priority
from routing.service import AgentDesk
from routing.state import Snapshot
from telephony import names as v
from telephony.ami.client import AMIClient, AMIDisconnected, AMIException
from telephony.clock import utc_now
from telephony.events import OriginateResponse
from telephony.prompts import set_offer

log = logging.getLogger(__name__)

TICK_SECONDS = 1.0
ORIGINATE_TIMEOUT_MS = 30_000
#: A callback dialled this long ago, and neither waiting in a queue nor with a person now, has ended
#: unseen (its OriginateResponse or record was lost in an AMI gap): closed UNKNOWN, so that it stops
#: holding a free person and its request is retried under the policy.
STALE_AFTER = timedelta(hours=1)
#: How often the hourly cap is logged while it holds requests back.
_CAP_LOG_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class Faults:
    """Fault injection, handed in by the composition root (only the end-to-end tests turn it on)."""

    crash_after_claim: bool = False  # exit the process between the claim of an attempt and its dial


# OriginateResponse Reason codes (Asterisk's AST_CONTROL_* values) of a failed dial
_REASONS = {5: AttemptOutcome.BUSY, 3: AttemptOutcome.NO_ANSWER, 1: AttemptOutcome.NO_ANSWER}


class CallbackService:
    def __init__(
        self,
        profile: Profile,
        ami: AMIClient,
        store: CallbackStore,
        desk: AgentDesk,
        sounds_host_dir: Path | None,
        instance: str,
        clock: Callable[[], datetime] = utc_now,
        faults: Faults = Faults(),
    ) -> None:
        self.profile = profile
        self.faults = faults
        self.rules = profile.callbacks
        self.ami = ami
        self.store = store
        self.desk = desk
        self.sounds_host_dir = sounds_host_dir
        self.clock = clock
        self.instance = instance
        self._task: asyncio.Task[None] | None = None
        self._pending: dict[str, tuple[CallbackRequest, CallbackAttempt]] = {}  # ActionID -> claimed
        self._offers: dict[str, bool] = {}
        self._capped_at: datetime | None = None  # when the hourly cap was last logged
        self.dialled = 0
        self.claimed = 0  # attempts this instance claimed (each then dialled once, or closed): hotline.metrics

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        recovered = await self.store.recover(
            self.instance, self.clock(), next_state=lambda r, o, n: policy.after_attempt(r, o, self.rules, n)
        )
        if recovered:
            log.info("callbacks: %d attempts recovered after a restart", len(recovered))
        if self.rules.enabled:
            self._task = asyncio.create_task(self._run(), name="hotline-callback-scheduler")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task])
        # Originates still in flight: their outcome is unknown; never dialled again at once.
        for request, attempt in list(self._pending.values()):
            await self._finish(request, attempt, AttemptOutcome.UNKNOWN)
        self._pending.clear()

    # -- requests -------------------------------------------------------------------------------
    def check(self, raw: str, *, caller_id: bool) -> Booking:
        result = policy.check_number(raw, self.rules, caller_id=caller_id)
        return Booking(result.ok, result.number, result.reason)

    async def book(
        self, number: str, context: OfferContext, *, at: datetime | None = None, origin: Origin = Origin.OFFER
    ) -> Booking:
        """A request for ``number``; with ``at`` (a message left while the topic was closed: its next
        opening) it is not dialled before then, and it expires ``expire_after_seconds`` after it."""
        now = self.clock()
        recent = await self.store.recent_request_times(number, now - policy.DAY)
        if policy.rate_limited(number, recent, self.rules, now):
            return Booking(False, number, "rate_limited")
        request = CallbackRequest(
            id=None,
            number=number,
            language=context.language,
            topic=context.topic,
            specialty=context.specialty,
            queue=context.queue,
            origin=origin,
            original_linkedid=context.linkedid,
            place_at=context.place_at or now,
            created_at=now,
            expires_at=max(now, at or now) + timedelta(seconds=self.rules.expire_after_seconds),
            priority=call_priority(context.topic, False, self.profile) if context.topic else 0,
        )
        if at is not None:
            request = replace(request, next_attempt_at=at)
        stored = await self.store.add(request)
        log.info("callback request %s for %s (%s), place %s", stored.id, number, context.queue, stored.place_at)
        return Booking(True, number, None)

    async def refused(self, raw: str, reason: str, context: OfferContext) -> None:
        await self.store.add_refusal(raw, reason, context.linkedid, self.clock())
        log.warning("callback number refused (%s) for call %s", reason, context.linkedid)

    async def on_record(self, record: CallRecord) -> None:
        """Every completed call record: abandoned callers get a request; one who got through cancels theirs.
        The record of a callback call ends its attempt: served when a person answered it, else retried."""
        if record.kind == "callback":
            await self._callback_ended(record)
            return
        if not self.rules.enabled or record.caller_number is None:
            return
        if record.outcome is Outcome.ANSWERED and record.kind == "inbound":
            cancelled = await self.store.cancel_open_for_number(record.caller_number)
            if cancelled:
                log.info("callback for %s cancelled: the caller got through", record.caller_number)
            return
        if record.kind != "inbound" or record.outcome not in (Outcome.ABANDONED_QUEUE, Outcome.ABANDONED_IVR):
            return
        now = self.clock()
        snapshot = self.desk.state.snapshot(now)
        request = policy.abandoned_request(
            record, is_peak=policy.is_peak(snapshot, self.rules), rules=self.rules, profile=self.profile, now=now
        )
        if request is None:
            return
        if policy.rate_limited(request.number, await self.store.recent_request_times(request.number, now - policy.DAY),
                               self.rules, now):  # fmt: skip
            return
        stored = await self.store.add(request)
        log.info("callback request %s for %s after %s", stored.id, stored.number, record.outcome.value)

    # -- for the console ----------------------------------------------------------------------------
    async def open_requests(self) -> list[CallbackRequest]:
        return await self.store.open_requests()

    async def all_requests(self) -> list[CallbackRequest]:
        return await self.store.all_requests()

    async def get(self, request_id: int) -> CallbackRequest | None:
        return await self.store.get(request_id)

    async def cancel(self, request_id: int) -> bool:
        """Cancel an open request (False if it is not open, or is being dialled)."""
        return await self.store.cancel(request_id)

    async def reschedule(self, request_id: int, at: datetime) -> bool:
        """Move an open request's next attempt to ``at`` (an aware datetime); False if it is not open."""
        return await self.store.reschedule(request_id, at)

    # -- the scheduler --------------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:  # a database or AMI hiccup must not stop callbacks for good
                log.exception("callback scheduler tick failed")
            await asyncio.sleep(TICK_SECONDS)

    async def tick(self) -> None:
        now = self.clock()
        await self.store.expire(now)
        if not self.ami.connected or not self.desk.synced:
            return
        snapshot = self.desk.state.snapshot(now)
        self._update_offers(snapshot, now)
        in_flight = await self._settle(await self.store.in_flight(), snapshot, now)
        requests = [r for r in await self.store.open_requests() if r.status is RequestStatus.OPEN]
        refused = {r.id for r in requests if self._refusal(r) is not None}
        if refused:  # closed before the pacing decision: a forged request never takes a real caller's turn
            for request, attempt in await self.store.claim(
                sorted(i for i in refused if i is not None), self.instance, now
            ):
                self.claimed += 1
                await self._dial(request, attempt)  # refused there, once, by whoever claimed it
            requests = [r for r in requests if r.id not in refused]
        # Every callback under way (any instance's) holds a free person until a person talks to the caller.
        under_way = policy.callbacks_under_way([request.queue for request, _ in in_flight], snapshot)
        due = policy.due_requests(requests, snapshot, self.rules, now, profile=self.profile, dialing=under_way)
        if not due:
            return
        left = policy.dials_left(await self.store.dial_times(now - policy.HOUR), self.rules, now)
        if left <= 0:
            if self._capped_at is None or now - self._capped_at >= _CAP_LOG_EVERY:
                log.warning("callbacks: %d dials in the last hour, the cap (max_dials_per_hour): %d requests wait",
                            self.rules.max_dials_per_hour, len(due))  # fmt: skip
                self._capped_at = now
            return
        ids = [d.request_id for d in due if d.request_id is not None]
        for request, attempt in await self.store.claim(ids, self.instance, now, limit=left):
            if self.faults.crash_after_claim:
                log.critical("fault injection: exiting between the claim and the dial")
                os._exit(70)
            self.claimed += 1
            await self._dial(request, attempt)

    async def _settle(
        self, in_flight: list[tuple[CallbackRequest, CallbackAttempt]], snapshot: Snapshot, now: datetime
    ) -> list[tuple[CallbackRequest, CallbackAttempt]]:
        """Close as served the callbacks a person talks to now (the live state saw AgentConnect on
        the callback call), and as UNKNOWN those dialled over ``STALE_AFTER`` ago that no
        queue holds any more; the others are still under way."""
        talking = {view.call_uniqueid for view in snapshot.people.values() if view.call_uniqueid}
        still: list[tuple[CallbackRequest, CallbackAttempt]] = []
        for request, attempt in in_flight:
            if attempt.linkedid is not None and attempt.linkedid in talking:
                await self._finish(request, attempt, AttemptOutcome.CONNECTED)
            elif (
                attempt.dialed_at is not None
                and now - attempt.dialed_at > STALE_AFTER
                and attempt.linkedid not in snapshot.calls
            ):
                log.warning("callback attempt %s for %s dialled %.0f s ago and not seen since: outcome unknown",
                            attempt.id, request.number, (now - attempt.dialed_at).total_seconds())  # fmt: skip
                self._pending.pop(f"callback-{attempt.id}", None)
                await self._finish(request, attempt, AttemptOutcome.UNKNOWN)
            else:
                still.append((request, attempt))
        return still

    def _refusal(self, request: CallbackRequest) -> str | None:
        """Why the request's number may not be dialled now (the profile's rules of today), or None."""
        check = policy.check_number(request.number, self.rules, caller_id=False)
        if not check.ok:
            return check.reason.value if check.reason is not None else "not_allowed"
        if check.number != request.number:
            return "not_normalised"  # the service stores numbers normalised: this one is not its own
        return None

    async def _dial(self, request: CallbackRequest, attempt: CallbackAttempt) -> None:
        assert attempt.id is not None
        reason = self._refusal(request)
        if reason is not None:
            # The profile changed since the request was made, or the stored request is not ours.
            log.warning("callback request %s refused at dial time: number %r %s", request.id, request.number, reason)
            await self.store.add_refusal(request.number, f"dial_{reason}", request.original_linkedid, self.clock())
            await self._close_failed(request, attempt)
            return
        # Write-ahead (from here, never re-dialled), and the hourly cap of every instance together.
        cap = self.rules.max_dials_per_hour
        if not await self.store.mark_dialing(attempt.id, self.clock(), max_dials_per_hour=cap):
            log.info("callback request %s not dialled: cancelled or closed meanwhile, or the hourly cap reached",
                     request.id)  # fmt: skip
            return
        action_id = f"callback-{attempt.id}"
        action: dict[str, Any] = {
            "Action": "Originate",
            "Channel": v.trunk_dial(request.number),
            "Context": "hotline-callback-out",
            "Exten": "s",
            "Priority": "1",
            "CallerID": f'"{self.profile.number}" <{self.profile.number}>',
            "Timeout": str(ORIGINATE_TIMEOUT_MS),
            "Async": "true",
            "Variable": [
                f"{v.CALLBACK_ATTEMPT}={attempt.id}",
                f"{v.CALLBACK_NUMBER}={request.number}",
                f"{v.CALLBACK_OF}={request.original_linkedid or ''}",
                f"{v.LANGUAGE}={request.language}",
                f"{v.QUEUE}={request.queue}",
                f"{v.PRIORITY}={policy.callback_priority(request)}",
            ],
            "ActionID": action_id,
        }
        self._pending[action_id] = (request, attempt)
        self.dialled += 1
        try:
            await self.ami.send_action(action, timeout=10)
            log.info("calling back %s (request %s, attempt %s)", request.number, request.id, attempt.id)
        except AMIDisconnected:
            # Maybe sent, maybe not: the outcome is unknown, and it is never sent again blindly.
            self._pending.pop(action_id, None)
            await self._finish(request, attempt, AttemptOutcome.UNKNOWN)
        except AMIException as exc:
            self._pending.pop(action_id, None)
            log.warning("callback Originate for %s refused: %s", request.number, exc)
            await self._finish(request, attempt, AttemptOutcome.FAILED)

    async def on_originate_response(self, event: OriginateResponse) -> None:
        """The outcome of a callback dial (the root hands over each typed OriginateResponse).

        Answered: the caller now waits in the queue; the attempt stays open with the callback call's
        linkedid until a person talks to them (served) or they leave (retried). Not answered: the
        attempt ends, and the request is retried under the policy."""
        claimed = self._pending.pop(event.action_id, None)
        if claimed is None:
            return
        request, attempt = claimed
        assert attempt.id is not None
        linkedid = event.uniqueid if event.uniqueid not in ("", "<null>") else None
        if event.success and linkedid is not None:
            if await self.store.answered(attempt.id, linkedid):
                log.info("callback attempt %s for %s answered: the caller waits for a person (call %s)",
                         attempt.id, request.number, linkedid)  # fmt: skip
            return
        outcome = AttemptOutcome.UNKNOWN if event.success else _REASONS.get(event.reason, AttemptOutcome.FAILED)
        await self._finish(request, attempt, outcome, linkedid=linkedid)

    async def _callback_ended(self, record: CallRecord) -> None:
        """The record of a callback call: served when a person answered it, else the attempt ends
        ABANDONED (the caller answered, then left before a person did) and is retried."""
        served = record.outcome is Outcome.ANSWERED and record.agent is not None
        found = await self.store.open_attempt_of_call(record.linkedid)
        if found is None:
            # Already closed (served when a person connected), or closed UNKNOWN by a restart while
            # the caller waited: then a person talking to them still serves the request.
            if served and (late := await self.store.served_late(record.linkedid, self.clock())) is not None:
                log.info("callback request %s for %s served after a restart (call %s)", late.id, late.number,
                         record.linkedid)  # fmt: skip
            return
        request, attempt = found
        await self._finish(request, attempt, AttemptOutcome.CONNECTED if served else AttemptOutcome.ABANDONED)

    async def _close_failed(self, request: CallbackRequest, attempt: CallbackAttempt) -> None:
        """Close a claimed attempt that is not dialled, and its request, as FAILED (never dialled again)."""
        assert attempt.id is not None
        await self.store.finish(attempt.id, AttemptOutcome.FAILED, self.clock(),
                                next_request_state=replace(request, status=RequestStatus.FAILED))  # fmt: skip

    async def _finish(
        self, request: CallbackRequest, attempt: CallbackAttempt, outcome: AttemptOutcome, linkedid: str | None = None
    ) -> None:
        assert attempt.id is not None
        now = self.clock()
        next_state = policy.after_attempt(request, outcome, self.rules, now)
        await self.store.finish(attempt.id, outcome, now, linkedid=linkedid, next_request_state=next_state)
        log.info("callback attempt %s for %s: %s -> request %s", attempt.id, request.number, outcome.value,
                 next_state.status.value)  # fmt: skip

    # -- the offer ------------------------------------------------------------------------------
    def _update_offers(self, snapshot: Snapshot, now: datetime) -> None:
        if self.sounds_host_dir is None:
            return
        waiting: dict[str, int] = {}
        for call in snapshot.calls.values():
            waiting[call.queue] = waiting.get(call.queue, 0) + 1
        for queue in self.desk.queues:
            offer = waiting.get(queue, 0) > 0 and policy.should_offer(
                snapshot, queue, waiting.get(queue, 0), policy.aht_from_snapshot(snapshot, now, queue), self.rules, now
            )
            if self._offers.get(queue) != offer:
                language = queue.split("-", 1)[0]
                set_offer(self.sounds_host_dir, queue, language if offer else None)
                self._offers[queue] = offer
