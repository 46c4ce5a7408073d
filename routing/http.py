"""Routing's HTTP API: the agents (list; log in, log out, pause, unpause; skills), the queues (list; seats) and the
live calls (list; a supervisor listens to, whispers to or barges into one: :mod:`routing.ear`).

:func:`routes` describes the operations with their handlers bound to the desk; the host (the console's
/api/v1) signs the request in, checks the role and sets the acting user (``restapi.http.ACTOR``), whose
``audit`` each change calls. :func:`agents` and :func:`queues` are the views that the answers (and the
console's pages) are made of.
"""

from __future__ import annotations

import logging
import re
from typing import Annotated, Any, ClassVar, Literal

from aiohttp import web
from pydantic import Field

from restapi.http import ACTOR, Operation, body_of, error, path_param, reply
from restapi.models import Answer, Body, Id, Number, Text64, Timestamp
from routing.ear import MODES, Ear, EarError
from routing.queues import build_queues
from routing.service import AgentDesk, AgentDeskError
from routing.state import PersonState
from telephony.names import queue_name

log = logging.getLogger(__name__)

AGENT_ACTIONS = ("login", "logout", "pause", "unpause")
_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


# -- bodies and answers ------------------------------------------------------------------------------------


class Pause(Body):
    reason: Text64 = "supervisor"
    messages: ClassVar[dict[str, str]] = {"reason": "reason must be a text of 1 to 64 printable characters"}


class Skills(Body):
    topics: list[Id] = Field(default=[], max_length=64)
    specialties: list[Id] = Field(default=[], max_length=64)
    messages: ClassVar[dict[str, str]] = {
        "topics": "topics must be a list of ids",
        "specialties": "specialties must be a list of ids",
    }


class Seats(Body):
    seats: Annotated[int, Field(ge=0, le=10000)]
    messages: ClassVar[dict[str, str]] = {"seats": "seats must be a whole number from 0 to 10000"}


class EarRequest(Body):
    """Listen to, whisper to (the agent hears you) or barge into (both hear you) a live call, on your own phone."""

    mode: Literal["listen", "whisper", "barge"]
    phone: Id | None = None  # the phone to ring: only your own (the default)
    messages: ClassVar[dict[str, str]] = {
        "mode": f"mode must be one of {', '.join(MODES)}",
        "phone": "phone must be the id of your own phone",
    }


class LiveCallOut(Answer):
    call: str
    person: str
    queue: str
    since: Timestamp


class EarOut(Answer):
    call: str
    mode: Literal["listen", "whisper", "barge"]
    person: str
    queue: str
    phone: str
    ringing: bool


class Agent(Answer):
    id: str
    name: str
    kind: str
    level: int
    languages: dict[str, int]
    topics: list[str]
    specialties: list[str]
    skills_overridden: bool
    state: str
    pause_reason: str
    queues_now: list[str]
    queues_at_login: list[str]
    logged_in: bool
    paused: bool


class AgentDone(Answer):
    person: str
    done: Literal["login", "logout", "pause", "unpause"]
    logged_in: bool
    paused: bool
    pause_reason: str | None


class SkillsOut(Answer):
    person: str
    topics: list[str]
    specialties: list[str]
    queues_at_login: list[str]
    applies: str


class Shift(Answer):
    id: str
    start: str
    end: str


class Rules(Answer):
    widen_after_seconds: Number | None
    overflow_after_seconds: Number | None
    overflow_topic: str


class QueueOut(Answer):
    queue: str
    language: str
    topic: str
    specialty: str | None
    seats_now: int
    seats_override: int | None
    seats_by_shift: dict[str, int]
    members: list[str]
    logged_in: list[str]
    overflow_to: str


class Queues(Answer):
    current_shift: str | None
    shifts: list[Shift]
    rules: Rules
    queues: list[QueueOut]


class SeatsOut(Answer):
    queue: str
    seats: int
    shift: str | None


class CentreSeatsOut(Answer):
    """The seats of the whole centre (all queues together): None, no centre-wide limit."""

    shift: str | None
    seats_now: int | None
    seats_override: int | None
    seats_by_shift: dict[str, int | None]
    taking_calls: list[str]


# -- views -------------------------------------------------------------------------------------------------


def agents(desk: AgentDesk) -> list[dict[str, Any]]:
    """Every person of the profile: state, skills, queues (an :class:`Agent` each)."""
    snapshot = desk.snapshot()
    out = []
    for person in desk.profile.people:
        view = snapshot.people.get(person.id)
        session = desk.session(person.id)
        topics, specialties, overridden = desk.skills(person.id)
        out.append({
            "id": person.id, "name": person.name, "kind": person.kind, "level": person.level,
            "languages": dict(person.languages), "topics": list(topics), "specialties": list(specialties),
            "skills_overridden": overridden,
            "state": (view.state if view else PersonState.LOGGED_OUT).value,
            "pause_reason": (view.pause_reason if view else "") or session.pause_reason or "",
            "queues_now": sorted(view.queues) if view else [],
            "queues_at_login": sorted(desk.queues_at_login(person.id)),
            "logged_in": session.logged_in, "paused": session.paused,
        })  # fmt: skip
    return out


def queues(desk: AgentDesk) -> dict[str, Any]:
    """The queues: seats now and per shift, members, overflow rules (a :class:`Queues`)."""
    profile = desk.profile
    snapshot = desk.snapshot()
    shift_id, seats = desk.seats_now()
    overflow_topic = profile.routing.overflow_topic or profile.default_topic
    rows = []
    for spec in build_queues(profile):
        rows.append({
            "queue": spec.name, "language": spec.language, "topic": spec.topic, "specialty": spec.specialty,
            "seats_now": seats.get(spec.name, 0), "seats_override": desk.seat_override(spec.name),
            "seats_by_shift": {s.id: profile.seats_for(spec.name, s.id) for s in profile.shifts},
            "members": [m.person_id for m in spec.members],
            "logged_in": list(snapshot.queues.get(spec.name, ())),
            "overflow_to": queue_name(spec.language, overflow_topic),
        })  # fmt: skip
    return {
        "current_shift": shift_id,
        "shifts": [{"id": s.id, "start": s.start.strftime("%H:%M"), "end": s.end.strftime("%H:%M")}
                   for s in profile.shifts],
        "rules": {"widen_after_seconds": profile.routing.widen_after_seconds,
                  "overflow_after_seconds": profile.routing.overflow_after_seconds,
                  "overflow_topic": overflow_topic},
        "queues": rows,
    }  # fmt: skip


# -- handlers ----------------------------------------------------------------------------------------------


def _id_list(value: list[str], key: str, allowed: set[str]) -> tuple[str, ...]:
    unknown = sorted(set(value) - allowed)
    if unknown:
        known = ", ".join(sorted(allowed))
        raise error(web.HTTPBadRequest, f"unknown {key}: {', '.join(unknown[:5])} (known: {known})")
    return tuple(sorted(set(value)))


class _Handlers:
    def __init__(self, desk: AgentDesk) -> None:
        self.desk = desk

    def _person(self, request: web.Request) -> str:
        person = request.match_info["person"]
        if not _ID.match(person) or person not in self.desk.people:
            raise error(web.HTTPNotFound, f"{person!r} is not an agent or doctor of this hotline")
        return person

    async def agents_list(self, request: web.Request) -> web.Response:
        return reply(list[Agent], agents(self.desk))

    async def agent_action(self, request: web.Request) -> web.Response:
        person = self._person(request)
        action = request.match_info["action"]
        if action not in AGENT_ACTIONS:
            raise error(web.HTTPNotFound, f"unknown action {action!r} (one of {', '.join(AGENT_ACTIONS)})")
        desk = self.desk
        details: dict[str, Any] = {}
        try:
            if action == "pause":
                reason = (await body_of(request, Pause, optional=True)).reason
                details["reason"] = reason
                await desk.pause(person, reason)
            else:
                await getattr(desk, action)(person)
        except AgentDeskError as exc:
            raise error(web.HTTPConflict, str(exc)) from None
        await request[ACTOR].audit(f"agent.{action}", person, details)
        session = desk.session(person)
        return reply(
            AgentDone,
            {
                "person": person,
                "done": action,
                "logged_in": session.logged_in,
                "paused": session.paused,
                "pause_reason": session.pause_reason,
            },
        )

    async def agent_skills(self, request: web.Request) -> web.Response:
        person = self._person(request)
        body = await body_of(request, Skills)
        profile = self.desk.profile
        topics = _id_list(body.topics, "topics", {t.id for t in profile.topics if not t.specialties})
        specialties = _id_list(body.specialties, "specialties", {s.id for t in profile.topics for s in t.specialties})
        actor = request[ACTOR]
        try:
            queues_at_login = await self.desk.set_skills(person, topics, specialties, by=actor.name)
        except AgentDeskError as exc:
            raise error(web.HTTPBadRequest, str(exc)) from None
        await actor.audit(
            "agent.skills",
            person,
            {"topics": list(topics), "specialties": list(specialties), "queues_at_login": queues_at_login},
        )
        return reply(
            SkillsOut,
            {
                "person": person,
                "topics": list(topics),
                "specialties": list(specialties),
                "queues_at_login": queues_at_login,
                "applies": "at the next login",
            },
        )

    async def queues_list(self, request: web.Request) -> web.Response:
        return reply(Queues, queues(self.desk))

    async def queue_seats(self, request: web.Request) -> web.Response:
        queue = request.match_info["queue"]
        desk = self.desk
        if queue not in desk.queues:
            raise error(web.HTTPNotFound, f"{queue!r} is not a queue of this hotline")
        seats = (await body_of(request, Seats)).seats
        actor = request[ACTOR]
        before = desk.seats_now()[1].get(queue)
        try:
            await desk.set_seats(queue, seats, by=actor.name)
        except AgentDeskError as exc:
            raise error(web.HTTPBadRequest, str(exc)) from None
        shift, _ = desk.seats_now()
        await actor.audit("queue.seats", queue, {"seats": seats, "before": before, "shift": shift})
        return reply(SeatsOut, {"queue": queue, "seats": seats, "shift": shift})

    async def centre_seats(self, request: web.Request) -> web.Response:
        return reply(CentreSeatsOut, centre_seats_view(self.desk))

    async def set_centre_seats(self, request: web.Request) -> web.Response:
        desk = self.desk
        seats = (await body_of(request, Seats)).seats
        actor = request[ACTOR]
        before = desk.centre_seats_now()[1]
        try:
            await desk.set_centre_seats(seats, by=actor.name)
        except AgentDeskError as exc:
            raise error(web.HTTPBadRequest, str(exc)) from None
        view = centre_seats_view(desk)
        await actor.audit("centre.seats", "centre", {"seats": seats, "before": before, "shift": view["shift"]})
        return reply(CentreSeatsOut, view)


#: How each refusal of the ear is answered.
_EAR_STATUS: dict[str, type[web.HTTPException]] = {
    "bad_call": web.HTTPBadRequest,
    "bad_mode": web.HTTPBadRequest,
    "unknown_call": web.HTTPNotFound,
    "no_phone": web.HTTPForbidden,
    "not_your_phone": web.HTTPForbidden,
    "unavailable": web.HTTPServiceUnavailable,
}


class _EarHandlers:
    def __init__(self, ear: Ear) -> None:
        self.ear = ear

    async def calls_live(self, request: web.Request) -> web.Response:
        return reply(
            list[LiveCallOut],
            [{"call": c.call, "person": c.person, "queue": c.queue, "since": c.since.isoformat()}
             for c in self.ear.live()],
        )  # fmt: skip

    async def call_ear(self, request: web.Request) -> web.Response:
        body = await body_of(request, EarRequest)
        actor = request[ACTOR]
        call_id = request.match_info["call"]
        try:
            rung = await self.ear.ring(call_id, body.mode, actor.person, body.phone)
        except EarError as exc:
            log.warning("ear: %s refused to %s (%s %s): %s", actor.name, call_id[:80], body.mode, exc.reason, exc)
            raise error(_EAR_STATUS[exc.reason], str(exc)) from None
        call = rung.call
        await actor.audit(
            f"call.{rung.mode}",
            call.call,
            {"person": call.person, "queue": call.queue, "phone": rung.phone, "agent_channel": call.agent_channel},
        )
        out = {"call": call.call, "mode": rung.mode, "person": call.person, "queue": call.queue, "phone": rung.phone,
               "ringing": True}  # fmt: skip
        return reply(EarOut, out, status=202)


def ear_routes(ear: Ear) -> tuple[Operation, ...]:
    """The live calls and the supervisor's ear, bound to ``ear``."""
    h = _EarHandlers(ear)
    return (
        Operation(
            "get",
            "/calls/live",
            "calls_live",
            "the calls connected to a person now (a call's id is what the ear names)",
            h.calls_live,
            answer=list[LiveCallOut],
        ),
        Operation(
            "post",
            "/calls/{call}/ear",
            "call_ear",
            "ring your own phone to listen to, whisper to or barge into a live call (ChanSpy on the agent's channel)",
            h.call_ear,
            body=EarRequest,
            answer=EarOut,
            status=202,
            errors=(400, 403, 404, 503),
            parameters=(path_param("call", {"type": "string", "maxLength": 32}, "a live call's id"),),
        ),
    )


def centre_seats_view(desk: AgentDesk) -> dict[str, Any]:
    """The centre's seats now, the live override, the profile's per shift, and who takes calls now."""
    shift, seats, override = desk.centre_seats_now()
    profile = desk.profile
    return {
        "shift": shift,
        "seats_now": seats,
        "seats_override": override,
        "seats_by_shift": {s.id: profile.centre_seats_for(s.id) for s in profile.shifts},
        "taking_calls": desk.taking_calls(),
    }


PERSON = path_param("person", {"type": "string", "maxLength": 64}, "an agent's or doctor's id")


def routes(desk: AgentDesk, ear: Ear | None = None) -> tuple[Operation, ...]:
    """Routing's operations, their handlers bound to ``desk`` (and the live calls' to ``ear``, when given)."""
    h = _Handlers(desk)
    return (*(ear_routes(ear) if ear is not None else ()), *_desk_routes(h))


def _desk_routes(h: _Handlers) -> tuple[Operation, ...]:
    return (
        Operation(
            "get", "/agents", "agents_list", "every person: state, skills, queues", h.agents_list, answer=list[Agent]
        ),
        Operation(
            "post",
            "/agents/{person}/{action}",
            "agent_action",
            "log in, log out, pause (optional reason), unpause",
            h.agent_action,
            body=Pause,
            body_required=False,
            answer=AgentDone,
            errors=(400, 403, 404, 409),
            parameters=(PERSON, path_param("action", {"type": "string", "enum": list(AGENT_ACTIONS)})),
        ),
        Operation(
            "put",
            "/agents/{person}/skills",
            "agent_skills",
            "change a person's topics and specialties (stored; applied at the next login)",
            h.agent_skills,
            body=Skills,
            answer=SkillsOut,
            errors=(400, 403, 404),
            parameters=(PERSON,),
        ),
        Operation(
            "get",
            "/queues",
            "queues_list",
            "queues: seats now and per shift, members, overflow rules",
            h.queues_list,
            answer=Queues,
        ),
        Operation(
            "put",
            "/queues/{queue}/seats",
            "queue_seats",
            "the queue's seats for the current shift, live",
            h.queue_seats,
            body=Seats,
            answer=SeatsOut,
            errors=(400, 403, 404),
            parameters=(path_param("queue", {"type": "string", "maxLength": 128}),),
        ),
        Operation(
            "get",
            "/centre/seats",
            "centre_seats",
            "the whole centre's seats (people taking calls in all queues together) now and per shift",
            h.centre_seats,
            answer=CentreSeatsOut,
        ),
        Operation(
            "put",
            "/centre/seats",
            "centre_seats_set",
            "the whole centre's seats for the current shift, live",
            h.set_centre_seats,
            body=Seats,
            answer=CentreSeatsOut,
            errors=(400, 403),
        ),
    )
