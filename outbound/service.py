"""The campaign service: every enabled campaign's day, called exactly once per attempt, paced progressively.

- Each tick, for each campaign whose window is open (``outbound.model.window_open``: its days and hours, never in
  the quiet hours), the people of its list whose day is PENDING and due are called, language by language, only
  while a person of that language's doctor queue is free (routing's live state: in the queue, not paused, not on a
  call) who is not already covered by a call in flight of the campaign, and never more than ``max_concurrent`` at
  once (``outbound.model.progressive_slots``; the cap is checked again in the claim, every instance's calls
  counted).
- Each attempt is claimed in the database (``CampaignStore.claim``: exactly once across restarts and instances),
  its number checked again (the profile's allowed patterns, the do-not-call lists: REFUSED, never dialled), marked
  dialled BEFORE the Originate is sent, and the Originate is sent once (our AMI client never re-sends an action).
- The Originate's answer: not answered -> NO_ANSWER, BUSY or FAILED, retried after the backoff; answered -> the
  person is reached (never called again that day). The script (``hotline-campaign-out``, pure dialplan) sends the
  key pressed and its action (UserEvent ``HotlineCampaignKey``): recorded on the attempt; an emergency writes an
  alert and tells the listeners (the console). The call's record ends the attempt, with the person of the doctor
  queue who took it (also seen live on AgentConnect).
- An AMI drop mid-dial: the attempt is UNKNOWN (never re-dialled that day). A restart: ``recover``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from cdr.builder import CallRecord
from outbound.campaign_db import CampaignStore, Claimed, DayFigures
from outbound.model import (
    Action,
    Alert,
    Attempt,
    Contact,
    DayState,
    Outcome,
    local_day,
    next_attempt_at,
    window_open,
)
from outbound.model import progressive_slots as slots_of
from profiles.model import Campaign, Profile
from profiles.numbers import check_allowed
from routing.service import AgentDesk
from routing.state import Snapshot
from telephony import names as v
from telephony.ami.client import AMIClient, AMIDisconnected, AMIException
from telephony.ami.message import Message
from telephony.clock import utc_now
from telephony.events import OriginateResponse

log = logging.getLogger(__name__)

TICK_SECONDS = 1.0
#: At most this many due people are handed to one claim (in the list's order).
CANDIDATES = 200
ACTION_PREFIX = "campaign-"
#: An attempt answered this long ago whose record never came (an AMI gap) is ended as it is.
STALE_AFTER = timedelta(hours=1)
#: A dial whose OriginateResponse has not come this long after its ring time ended (an AMI gap) is UNKNOWN.
UNANSWERED_GRACE = timedelta(minutes=2)
# OriginateResponse Reason codes (Asterisk's AST_CONTROL_* values) of a call not answered
_REASONS = {5: Outcome.BUSY, 3: Outcome.NO_ANSWER, 1: Outcome.NO_ANSWER, 0: Outcome.FAILED, 8: Outcome.FAILED}

AlertListener = Callable[[Alert], None]


def doctor_queue(campaign: Campaign, language: str) -> str:
    """The queue a "doctor" key of a person of ``language`` joins (routing/queues.py's naming)."""
    return v.queue_name(language, campaign.topic, campaign.specialty)


def free_people(snapshot: Snapshot, queue: str) -> int:
    """People who may be rung for ``queue`` now: logged in to it, not paused, not on a call or in wrap-up."""
    return sum(1 for view in snapshot.people.values() if view.can_take(queue))


def new_calls(
    campaign: Campaign, snapshot: Snapshot, in_flight: list[tuple[Contact, Attempt]], languages: list[str]
) -> dict[str, int]:
    """How many new calls each language may get now: progressive pacing per doctor queue, within the campaign's
    cap (``in_flight``: the campaign's attempts not ended; those a person already took hold nobody free)."""
    flying = Counter(contact.language for contact, attempt in in_flight if attempt.agent is None)
    left = campaign.max_concurrent - len(in_flight)
    result: dict[str, int] = {}
    for language in languages:
        if left <= 0:
            break
        slots = slots_of(
            free_people=free_people(snapshot, doctor_queue(campaign, language)),
            in_flight=flying.get(language, 0),
            max_concurrent=campaign.max_concurrent,
        )
        slots = min(slots, left)
        if slots > 0:
            result[language] = slots
            left -= slots
    return result


class CampaignService:
    def __init__(
        self,
        profile: Profile,
        ami: AMIClient,
        store: CampaignStore,
        desk: AgentDesk,
        instance: str,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        assert profile.outbound is not None
        self.profile = profile
        self.rules = profile.outbound
        self.ami = ami
        self.store = store
        self.desk = desk
        self.instance = instance
        self.clock = clock
        self._task: asyncio.Task[None] | None = None
        self._pending: dict[str, Claimed] = {}  # ActionID -> the attempt being originated
        self._listeners: list[AlertListener] = []
        self.dialled = 0

    # -- lifecycle ------------------------------------------------------------------------------------------
    async def start(self) -> None:
        recovered = await self.store.recover(self.instance, self.clock())
        if recovered:
            log.warning("campaigns: %d attempts in flight at the last stop recovered (dialled ones are not "
                        "called again today)", len(recovered))  # fmt: skip
        if any(c.enabled for c in self.rules.campaigns):
            self._task = asyncio.create_task(self._run(), name="hotline-campaigns")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task])
        for claimed in list(self._pending.values()):  # Originates in flight: their fate is unknown
            assert claimed.attempt.id is not None
            await self.store.end(claimed.attempt.id, Outcome.UNKNOWN, self.clock())
        self._pending.clear()

    # -- for the console --------------------------------------------------------------------------------------
    def add_alert_listener(self, listener: AlertListener) -> None:
        self._listeners.append(listener)

    async def figures(self, campaign_id: str, day: date) -> DayFigures:
        return await self.store.figures(self.rules.campaign(campaign_id), day)

    async def people(
        self, campaign_id: str, day: date, state: DayState | None = None
    ) -> list[tuple[Contact, DayState, list[Attempt]]]:
        people = await self.store.people(self.rules.campaign(campaign_id), day)
        return [p for p in people if state is None or p[1] is state]

    async def alerts(self, open_only: bool = True) -> list[Alert]:
        return await self.store.alerts(open_only=open_only)

    async def acknowledge(self, alert_id: int, by: str) -> bool:
        return await self.store.acknowledge(alert_id, by, self.clock())

    def today(self) -> date:
        return local_day(self.profile.timezone, self.clock())

    # -- the loop ---------------------------------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:  # a database or AMI hiccup must not stop the campaigns for good
                log.exception("campaign tick failed")
            await asyncio.sleep(TICK_SECONDS)

    async def tick(self) -> None:
        now = self.clock()
        if not self.ami.connected or not self.desk.synced:
            return
        snapshot = self.desk.state.snapshot(now)
        await self._settle(snapshot, now)
        for campaign in self.rules.campaigns:
            if window_open(campaign, self.rules, self.profile.timezone, now):
                await self._campaign_tick(campaign, snapshot, now)

    async def _settle(self, snapshot: Snapshot, now: datetime) -> None:
        """Attempts a person of a queue talks to now get their ``agent``; answered ones never seen ending end."""
        talking = {view.call_uniqueid: pid for pid, view in snapshot.people.items() if view.call_uniqueid}
        ring = {c.id: timedelta(seconds=c.ring_seconds) for c in self.rules.campaigns}
        for _contact, attempt in await self.store.in_flight():
            assert attempt.id is not None
            if attempt.linkedid and attempt.agent is None and attempt.linkedid in talking:
                await self.store.took(attempt.linkedid, talking[attempt.linkedid])
            elif attempt.answered_at is not None and now - attempt.answered_at > STALE_AFTER:
                await self.store.end(attempt.id, Outcome.ANSWERED, now)
            elif (
                attempt.claimed_by == self.instance
                and attempt.dialed_at is not None
                and attempt.answered_at is None
                and now - attempt.dialed_at > ring.get(attempt.campaign, timedelta(0)) + UNANSWERED_GRACE
            ):
                # Its OriginateResponse never came (lost in an AMI gap): its fate is unknown, never dialled again.
                self._pending.pop(f"{ACTION_PREFIX}{attempt.id}", None)
                log.warning("campaign attempt %s: no answer to its dial seen: unknown", attempt.id)
                await self.store.end(attempt.id, Outcome.UNKNOWN, now)

    async def _campaign_tick(self, campaign: Campaign, snapshot: Snapshot, now: datetime) -> None:
        day = local_day(self.profile.timezone, now)
        in_flight = await self.store.in_flight(campaign.id)
        if len(in_flight) >= campaign.max_concurrent:
            return
        people = await self.store.people(campaign, day)
        due: dict[str, list[int]] = {}
        for contact, state, attempts in people:
            if state is not DayState.PENDING or contact.id is None:
                continue
            due_at = next_attempt_at(campaign, attempts)
            if due_at is None or due_at > now:
                continue
            due.setdefault(contact.language, []).append(contact.id)
        if not due:
            return
        allowed = new_calls(campaign, snapshot, in_flight, sorted(due))
        for language, count in allowed.items():
            candidates = due[language][: max(CANDIDATES, count)]  # the first due ones: a short IN (...)
            claimed = await self.store.claim(campaign, candidates, self.instance, day, now, limit=count)
            for one in claimed:
                await self._dial(campaign, one)

    def _refusal(self, number: str) -> str | None:
        check = check_allowed(number, self.rules.allowed_numbers)
        if not check.ok:
            return check.reason.value if check.reason is not None else "not_allowed"
        if check.number != number:
            return "not_normalised"
        return None

    async def _dial(self, campaign: Campaign, claimed: Claimed) -> None:
        contact, attempt = claimed.contact, claimed.attempt
        assert attempt.id is not None
        reason = self._refusal(contact.number)
        if reason is None and await self.store.lists.is_dnc(contact.number, self.profile):
            reason = "do_not_call"
        if reason is not None:
            log.warning("campaign %s: %s (contact %s) refused at dial time: %s", campaign.id, contact.number,
                        contact.id, reason)  # fmt: skip
            await self.store.end(attempt.id, Outcome.REFUSED, self.clock())
            return
        if not await self.store.mark_dialled(attempt.id, self.clock()):  # write-ahead: never dialled again
            return
        action_id = f"{ACTION_PREFIX}{attempt.id}"
        action: dict[str, Any] = {
            "Action": "Originate",
            "Channel": v.trunk_dial(contact.number),
            "Context": v.CAMPAIGN_CONTEXT,
            "Exten": campaign.id,
            "Priority": "1",
            "CallerID": f'"{self.profile.number}" <{self.profile.number}>',
            "Timeout": str(campaign.ring_seconds * 1000),
            "Async": "true",
            "Variable": [
                f"{v.OUTBOUND_KIND}=campaign",
                f"{v.OUTBOUND_NUMBER}={contact.number}",
                f"{v.CAMPAIGN}={campaign.id}",
                f"{v.CAMPAIGN_ATTEMPT}={attempt.id}",
                f"{v.LANGUAGE}={contact.language}",
                f"{v.QUEUE}={doctor_queue(campaign, contact.language)}",
            ],
            "ActionID": action_id,
        }
        self._pending[action_id] = claimed
        self.dialled += 1
        try:
            await self.ami.send_action(action, timeout=10)
            log.info("campaign %s: calling %s (attempt %s, #%d today)", campaign.id, contact.number, attempt.id,
                     attempt.number)  # fmt: skip
        except AMIDisconnected:
            self._pending.pop(action_id, None)  # maybe sent, maybe not: never sent again blindly
            await self.store.end(attempt.id, Outcome.UNKNOWN, self.clock())
        except AMIException as exc:
            self._pending.pop(action_id, None)
            log.warning("campaign Originate for %s refused: %s", contact.number, exc)
            await self.store.end(attempt.id, Outcome.FAILED, self.clock())

    # -- what Asterisk tells -----------------------------------------------------------------------------------
    async def on_originate_response(self, event: OriginateResponse) -> None:
        claimed = self._pending.pop(event.action_id, None)
        if claimed is None:
            return
        attempt = claimed.attempt
        assert attempt.id is not None
        linkedid = event.uniqueid if event.uniqueid not in ("", "<null>") else None
        now = self.clock()
        if event.success:
            await self.store.answered(attempt.id, linkedid, now)
            log.info("campaign attempt %s answered by %s (call %s)", attempt.id, claimed.contact.number, linkedid)
            return
        outcome = _REASONS.get(event.reason, Outcome.FAILED)
        await self.store.end(attempt.id, outcome, now, linkedid=linkedid)
        log.info("campaign attempt %s to %s: %s", attempt.id, claimed.contact.number, outcome.value)

    async def on_message(self, message: Message) -> None:
        """UserEvent HotlineCampaignKey: the key pressed in the script and its action."""
        if message.get("UserEvent") != v.CAMPAIGN_KEY_USEREVENT:
            return
        raw = (message.get("Attempt") or "").strip()
        if not raw.isdigit():
            return
        action_text = (message.get("Action") or "").strip().lower()
        action = Action(action_text) if action_text in {a.value for a in Action} else Action.NONE
        key = (message.get("Key") or "").strip()
        now = self.clock()
        attempt = await self.store.keyed(int(raw), key, action, now)
        if attempt is None:
            return
        log.info("campaign attempt %s: key %r (%s)", attempt.id, key, action.value)
        if action is Action.EMERGENCY:
            alert = await self.store.raise_alert(int(raw), now)
            if alert is not None:
                log.warning("campaign %s: EMERGENCY from %s (%s), attempt %s", alert.campaign, alert.number,
                            alert.name, alert.attempt_id)  # fmt: skip
                for listener in self._listeners:
                    try:
                        listener(alert)
                    except Exception:
                        log.exception("campaign alert listener failed")

    async def on_record(self, record: CallRecord) -> None:
        """The record of a campaign call: its attempt ends, with the person who took a "doctor" key."""
        if record.kind != "campaign":
            return
        attempt = await self.store.end_call(record.linkedid, self.clock(), agent=record.agent)
        if attempt is not None and record.agent:
            log.info("campaign attempt %s taken by %s", attempt.id, record.agent)
