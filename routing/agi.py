"""Feature codes from agent and doctor phones over FastAGI: log in, log out, pause, unpause.

The dialplan passes the action (``login`` …) as the AGI argument. The person is the phone's PJSIP
endpoint. The desk does the work; the agent then hears a confirmation in their own language. If
anything fails, no result is set and the dialplan plays the "could not be done" prompt.
"""

from __future__ import annotations

import logging
from typing import Protocol

from telephony import names as v
from profiles.model import Profile
from telephony.agi import AGIHangup, AGISession

log = logging.getLogger(__name__)

CONFIRMATIONS = {
    "login": "agent_logged_in",
    "logout": "agent_logged_out",
    "pause": "agent_paused",
    "unpause": "agent_unpaused",
}


class Desk(Protocol):
    async def login(self, person_id: str) -> None: ...
    async def logout(self, person_id: str) -> None: ...
    async def pause(self, person_id: str, reason: str = "break") -> None: ...
    async def unpause(self, person_id: str) -> None: ...


class AgentFeatureHandler:
    """The FastAGI route ``agent``."""

    def __init__(self, profile: Profile, desk: Desk, sounds_dir: str):
        self.profile = profile
        self.desk = desk
        self.sounds_dir = sounds_dir.rstrip("/")
        self.languages = {p.id: max(p.languages, key=lambda code: p.languages[code]) for p in profile.people}

    async def __call__(self, session: AGISession) -> None:
        action = session.args[0] if session.args else ""
        person_id = v.person_of_channel(session.channel)
        if action not in CONFIRMATIONS or person_id not in self.languages:
            log.warning("feature %r from %s refused: unknown action or person", action, session.channel)
            return
        try:
            if action == "pause":
                await self.desk.pause(person_id, "phone")
            else:
                await getattr(self.desk, action)(person_id)
        except ValueError as exc:  # the desk's refusals (e.g. pause while logged out)
            log.info("feature %s from %s refused: %s", action, person_id, exc)
            return
        prompt = v.agent_prompt(self.languages[person_id], CONFIRMATIONS[action])
        try:
            await session.mset({v.AGENT_PROMPT: f"{self.sounds_dir}/{prompt}", v.RESULT: v.RESULT_OK})
        except AGIHangup:
            pass
        log.info("%s: %s from the phone", person_id, action)
