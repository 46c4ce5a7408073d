"""The agent desk: log in, log out and pause people, and keep Asterisk's queues as the policy wants.

This is the adapter around the pure routing core. The composition root hands it each typed AMI
event (``on_event``; it does not subscribe to AMI itself), it feeds them to ``LiveState``, asks
``routing.policy.decide`` what the queues should look like, and applies the difference with
QueueAdd, QueueRemove, QueuePause and QueuePenalty. After every AMI (re)login it resyncs from
QueueStatus (``add_on_connect``). Who is logged in and paused, live seat counts and skill overrides
are kept in the database, so a restart of the service or of Asterisk restores them.

When AMI is briefly gone: Asterisk keeps its members, penalties and waiting callers, and keeps
routing with the last penalties it was given, so calls in progress and new calls go on. Changes
asked for meanwhile are saved and applied on reconnect, after a full resync from QueueStatus.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from datetime import datetime

from profiles.model import Person, Profile
from routing.db import AgentSession, RoutingStore
from routing.policy import CENTRE, MISSED_RINGS, NO_SEAT, Decisions, centre_seats, decide, desired_penalties
from routing.queues import build_queues
from routing.state import LiveState, Snapshot
from telephony.ami.client import AMIClient, AMIDisconnected, AMIError, AMIException
from telephony.clock import utc_now
from telephony.events import Event, parse_queue_status
from telephony.names import WIDENED_MAX_PENALTY, interface, queue_name

log = logging.getLogger(__name__)

RECONCILE_DELAY = 0.05  # coalesce a burst of events into one decision


class AgentDeskError(ValueError):
    """A request about a person that cannot be done (unknown person, not logged in, …)."""


class AgentDesk:
    """``clock``: the time now, an aware UTC datetime (the wall clock unless a test gives its own)."""

    def __init__(
        self,
        profile: Profile,
        ami: AMIClient,
        store: RoutingStore,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.profile = profile
        self.ami = ami
        self.store = store
        self.clock = clock
        self.people: dict[str, Person] = {p.id: p for p in profile.people}
        self.queues = {q.name for q in build_queues(profile)}
        self.memberships: dict[str, list[str]] = {p.id: [] for p in profile.people}
        for queue in build_queues(profile):
            for member in queue.members:
                self.memberships[member.person_id].append(queue.name)
        self._skills: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}  # overridden ones only
        self.state = LiveState(profile, wrapup_seconds=profile.queue_settings.wrapup_seconds)
        self.sessions: dict[str, AgentSession] = {}
        self.seat_overrides: dict[str, int] = {}
        self._shift = ""
        self._reconcile_task: asyncio.Task[None] | None = None
        self._recheck: asyncio.TimerHandle | None = None
        self._lock = asyncio.Lock()
        self.synced = False
        self.decisions_applied = 0

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        """Load the saved sessions, seat counts and skill overrides, and resync after every AMI
        login. Events are not subscribed to here: the root calls :meth:`on_event`."""
        self.sessions = await self.store.sessions()
        await self._load_seats()
        for person_id, override in (await self.store.skill_overrides()).items():
            if person_id in self.people:
                self._set_memberships(person_id, override.topics, override.specialties)
            else:
                log.warning("skill override of %r ignored: not a person of this profile", person_id)
        self.ami.add_on_connect(self._on_connect)

    async def close(self) -> None:
        self.ami.remove_on_connect(self._on_connect)
        if self._recheck is not None:
            self._recheck.cancel()
        task, self._reconcile_task = self._reconcile_task, None
        if task is not None:
            task.cancel()
            await asyncio.wait([task])

    async def _load_seats(self) -> None:
        shift = self.profile.shift_at(self.clock())
        self._shift = shift.id if shift else ""
        self.seat_overrides = await self.store.seat_overrides(self._shift)

    # -- what people and supervisors ask for ------------------------------------------------------
    def _person(self, person_id: str) -> Person:
        person = self.people.get(person_id)
        if person is None:
            raise AgentDeskError(f"{person_id!r} is not an agent or doctor of this hotline")
        return person

    def session(self, person_id: str) -> AgentSession:
        return self.sessions.get(person_id) or AgentSession(person_id, False, False, None, None)

    async def login(self, person_id: str) -> None:
        self._person(person_id)
        if not self.session(person_id).logged_in:
            await self._save(AgentSession(person_id, True, False, None, self.clock()))
        async with self._lock:
            await self._apply_membership(person_id)
            await self._reconcile_locked()

    async def logout(self, person_id: str) -> None:
        self._person(person_id)
        await self._save(AgentSession(person_id, False, False, None, None))
        async with self._lock:
            await self._apply_membership(person_id)
            await self._reconcile_locked()

    async def pause(self, person_id: str, reason: str = "break") -> None:
        current = self._logged_in(person_id)
        reason = reason or "break"
        await self._save(AgentSession(person_id, True, True, reason, current.logged_in_at))
        await self._send(
            {"Action": "QueuePause", "Interface": interface(person_id), "Paused": "true", "Reason": reason}
        )
        self.schedule_reconcile()

    async def unpause(self, person_id: str) -> None:
        """Back to work: the person waits for a seat in each queue, and takes those that are free."""
        current = self._logged_in(person_id)
        await self._save(AgentSession(person_id, True, False, None, current.logged_in_at))
        async with self._lock:
            await self._send(
                {"Action": "QueuePause", "Interface": interface(person_id), "Paused": "true", "Reason": NO_SEAT}
            )
            await self._reconcile_locked()

    async def set_seats(self, queue: str, seats: int, by: str | None = None) -> None:
        if queue not in self.queues:
            raise AgentDeskError(f"{queue!r} is not a queue of this hotline")
        if seats < 0:
            raise AgentDeskError("seats cannot be negative")
        await self._load_seats()
        await self.store.set_seats(queue, self._shift, seats, by)
        self.seat_overrides[queue] = seats
        async with self._lock:
            await self._reconcile_locked()

    async def set_centre_seats(self, seats: int, by: str | None = None) -> None:
        """A supervisor's live centre-wide seats for this shift (all queues together), applied at once."""
        if seats < 0:
            raise AgentDeskError("seats cannot be negative")
        await self._load_seats()
        await self.store.set_seats(CENTRE, self._shift, seats, by)
        self.seat_overrides[CENTRE] = seats
        async with self._lock:
            await self._reconcile_locked()

    def centre_seats_now(self) -> tuple[str | None, int | None, int | None]:
        """``(shift id, the centre's seats now, the live override)``: seats None means no centre-wide
        limit; the override None means the profile's figure for the shift."""
        profile = self.profile
        shift = profile.shift_at(self.clock()) if profile.shifts else None
        return (
            shift.id if shift else None,
            centre_seats(profile, self.clock(), self.seat_overrides),
            self.seat_overrides.get(CENTRE),
        )

    # -- skills (a supervisor's override of a person's topics and specialties) ----------------------
    async def set_skills(self, person_id: str, topics: Iterable[str], specialties: Iterable[str], by: str) -> list[str]:
        """Save a person's topics and specialties (they join the matching queues at their next
        login) and return those queues, sorted. Unknown ids are refused with AgentDeskError."""
        self._person(person_id)
        topic_ids = tuple(sorted(set(topics)))
        specialty_ids = tuple(sorted(set(specialties)))
        allowed_topics = {t.id for t in self.profile.topics if not t.specialties}
        allowed_specialties = {s.id for t in self.profile.topics for s in t.specialties}
        for kind, given, allowed in (
            ("topics", topic_ids, allowed_topics), ("specialties", specialty_ids, allowed_specialties)
        ):  # fmt: skip
            unknown = sorted(set(given) - allowed)
            if unknown:
                raise AgentDeskError(f"unknown {kind}: {', '.join(unknown[:5])} (known: {', '.join(sorted(allowed))})")
        await self.store.set_skills(person_id, topic_ids, specialty_ids, by)
        self._set_memberships(person_id, topic_ids, specialty_ids)
        return self.queues_at_login(person_id)

    def skills(self, person_id: str) -> tuple[tuple[str, ...], tuple[str, ...], bool]:
        """``(topics, specialties, overridden)``: the override if there is one, else the profile's."""
        person = self._person(person_id)
        override = self._skills.get(person_id)
        if override is not None:
            return override[0], override[1], True
        return tuple(person.topics), tuple(person.specialties), False

    def queues_at_login(self, person_id: str) -> list[str]:
        """The queues the person joins at login, sorted."""
        self._person(person_id)
        return sorted(self.memberships[person_id])

    def _set_memberships(self, person_id: str, topics: tuple[str, ...], specialties: tuple[str, ...]) -> None:
        """The queues of a person with these skills: the rule of ``routing.queues.build_queues``
        (every language the person speaks, a topic's queue or a specialty's)."""
        person = self.people[person_id]
        wanted = set(self.queues)
        queues: list[str] = []
        for language in self.profile.language_codes:
            if language not in person.languages:
                continue
            for topic in self.profile.topics:
                if topic.specialties:
                    names = [queue_name(language, topic.id, s.id) for s in topic.specialties if s.id in specialties]
                else:
                    names = [queue_name(language, topic.id)] if topic.id in topics else []
                queues.extend(name for name in names if name in wanted)
        self._skills[person_id] = (topics, specialties)
        self.memberships[person_id] = queues

    # -- views for the console --------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        """The live routing state now (the desk's clock)."""
        return self.state.snapshot(self.clock())

    def seats_now(self) -> tuple[str | None, dict[str, int]]:
        """The current shift id (None without shifts or outside them) and the seats of each queue
        now: the live override, else the profile's for the shift."""
        profile = self.profile
        shift = profile.shift_at(self.clock()) if profile.shifts else None
        shift_id = shift.id if shift else None
        return shift_id, {q: self.seat_overrides.get(q, profile.seats_for(q, shift_id)) for q in sorted(self.queues)}

    def seat_override(self, queue: str) -> int | None:
        """A supervisor's live seat count for ``queue`` in this shift, or None."""
        return self.seat_overrides.get(queue)

    def taking_calls(self) -> list[str]:
        """People logged in with at least one queue where they are not paused."""
        snapshot = self.state.snapshot(self.clock())
        return sorted(pid for pid, view in snapshot.people.items() if any(not m.paused for m in view.queues.values()))

    def _logged_in(self, person_id: str) -> AgentSession:
        self._person(person_id)
        current = self.session(person_id)
        if not current.logged_in:
            raise AgentDeskError(f"{person_id} is not logged in")
        return current

    async def _save(self, session: AgentSession) -> None:
        await self.store.save(session)
        self.sessions[session.person_id] = session

    # -- applying to Asterisk ---------------------------------------------------------------------
    async def _send(self, action: dict[str, str]) -> bool:
        """Send one action; whether Asterisk has it as asked. AMI being gone is logged, not raised:
        the state is saved and resynced on reconnect."""
        try:
            await self.ami.send_action(action)
            return True
        except AMIError as exc:
            message = ((exc.response.get("Message") or "") if exc.response is not None else str(exc)).lower()
            if "already there" in message or "not there" in message:
                return True
            log.warning("%s failed: %s", action.get("Action"), exc)
        except AMIDisconnected:
            log.warning("AMI is gone; %s for %s is applied on reconnect", action.get("Action"), action.get("Interface"))
        except AMIException as exc:
            log.warning("%s failed: %s", action.get("Action"), exc)
        except ValueError as exc:  # CR/LF in a header (e.g. a pause reason): refused before sending
            log.warning("%s not sent: %s", action.get("Action"), exc)
        return False

    async def _apply_membership(self, person_id: str) -> None:
        """Make Asterisk's membership of one person match the saved session."""
        session = self.session(person_id)
        now = self.clock()
        snapshot = self.state.snapshot(now)
        view = snapshot.people.get(person_id)
        present = set(view.queues) if view is not None else set()
        wanted = set(self.memberships[person_id]) if session.logged_in else set()
        penalties = desired_penalties(snapshot, self.profile, now) if wanted - present else {}
        for queue in sorted(wanted - present):
            await self._send(
                {
                    "Action": "QueueAdd",
                    "Queue": queue,
                    "Interface": interface(person_id),
                    "StateInterface": interface(person_id),
                    "MemberName": person_id,
                    "Penalty": str(penalties.get((queue, person_id), WIDENED_MAX_PENALTY)),
                    # Added paused: the policy gives the seat, so never one member too many.
                    "Paused": "true",
                    "Reason": (session.pause_reason or "break") if session.paused else NO_SEAT,
                }
            )
        for queue in sorted(present - wanted):
            await self._send({"Action": "QueueRemove", "Queue": queue, "Interface": interface(person_id)})

    def schedule_reconcile(self) -> None:
        if self._reconcile_task is None or self._reconcile_task.done():
            self._reconcile_task = asyncio.create_task(self._delayed_reconcile(), name="hotline-routing-reconcile")

    async def _delayed_reconcile(self) -> None:
        await asyncio.sleep(RECONCILE_DELAY)
        async with self._lock:
            await self._reconcile_locked()

    async def _reconcile_locked(self) -> None:
        if not self.ami.connected or not self.synced:
            return
        now = self.clock()
        decisions: Decisions = decide(self.state.snapshot(now), self.profile, now, self.seat_overrides)
        for change in decisions.pauses:
            if change.paused and change.reason == MISSED_RINGS:
                current = self.session(change.person_id)
                await self._save(AgentSession(change.person_id, True, True, MISSED_RINGS, current.logged_in_at))
            action = {
                "Action": "QueuePause",
                "Interface": change.interface,
                "Paused": "true" if change.paused else "false",
                "Reason": change.reason,
            }
            if change.queue is not None:
                action["Queue"] = change.queue
            await self._send(action)
        for penalty in decisions.penalties:
            await self._send(
                {
                    "Action": "QueuePenalty",
                    "Interface": penalty.interface,
                    "Penalty": str(penalty.penalty),
                    "Queue": penalty.queue,
                }
            )
        self.decisions_applied += 1
        if self._recheck is not None:
            self._recheck.cancel()
            self._recheck = None
        if decisions.recheck_at is not None:
            delay = max(0.05, (decisions.recheck_at - now).total_seconds())
            self._recheck = asyncio.get_running_loop().call_later(delay, self.schedule_reconcile)

    # -- AMI --------------------------------------------------------------------------------------
    @property
    def event_types(self) -> frozenset[type]:
        """The typed events (``telephony.events``) that change the live state: the root pokes the
        console hub for these."""
        return self.state.event_types

    @property
    def events(self) -> frozenset[str]:
        """The AMI event names of :attr:`event_types` (e.g. for the client's event filter)."""
        return self.state.events

    def on_event(self, event: Event) -> None:
        """One typed AMI event, from the root; re-decides (debounced) when it is one routing uses."""
        if self.state.apply(event, self.clock()):
            self.schedule_reconcile()

    async def _on_connect(self, client: AMIClient) -> None:
        async with self._lock:
            self.synced = False
            try:
                status = await client.send_action_list({"Action": "QueueStatus"})
            except AMIException as exc:
                log.warning("resync after connect failed: %s", exc)
                return
            self.state.reset_from_queue_status(parse_queue_status(status), self.clock())
            self.synced = True
            for person_id in self.people:
                await self._apply_membership(person_id)
                session = self.session(person_id)
                if session.logged_in and session.paused:
                    await self._send(
                        {
                            "Action": "QueuePause",
                            "Interface": interface(person_id),
                            "Paused": "true",
                            "Reason": session.pause_reason or "break",
                        }
                    )
            await self._reconcile_locked()
            log.info("routing state resynced from QueueStatus (%d events)", len(status))
