"""Feature codes from agent and doctor phones over FastAGI: log in, log out, pause, unpause.

The dialplan passes the action (``login`` …) and ``${CHANNEL(endpoint)}`` as the AGI arguments. The
person is the phone's PJSIP endpoint as Asterisk gives it, and it must agree with the channel
(``PJSIP/<endpoint>-<8 hex digits>``, the name chan_pjsip gives) and be a person of the profile;
anything else is refused and nothing is done. (Only Asterisk can call this route: the FastAGI server
checks its per-start secret first.) The desk does the work; the agent then hears a confirmation in
their own language. If anything fails, no result is set and the dialplan plays the "could not be
done" prompt.
"""

from __future__ import annotations

import contextlib
import logging
import re
from typing import Protocol

from profiles.model import Profile
from telephony import names as v
from telephony.agi import AGIHangup, AGISession

log = logging.getLogger(__name__)

# chan_pjsip names a channel "PJSIP/<endpoint>-%08x".
_CHANNEL_SUFFIX = re.compile(r"[0-9a-f]{8}")

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

    def person_of(self, session: AGISession) -> str | None:
        """The person calling, or None unless the endpoint Asterisk gave, the channel name and the
        profile agree."""
        endpoint = session.args[1] if len(session.args) > 1 else ""
        if endpoint not in self.languages or v.person_of_channel(session.channel) != endpoint:
            return None
        prefix = v.interface(endpoint) + "-"
        if not session.channel.startswith(prefix) or not _CHANNEL_SUFFIX.fullmatch(session.channel[len(prefix) :]):
            return None
        return endpoint

    async def __call__(self, session: AGISession) -> None:
        action = session.args[0] if session.args else ""
        person_id = self.person_of(session)
        if action not in CONFIRMATIONS or person_id is None:
            log.warning(
                "feature %r from channel %r (endpoint %r) refused: unknown action, or not a phone of the profile",
                action,
                session.channel,
                session.args[1] if len(session.args) > 1 else None,
            )
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
        with contextlib.suppress(AGIHangup):
            await session.mset({v.AGENT_PROMPT: f"{self.sounds_dir}/{prompt}", v.RESULT: v.RESULT_OK})
        log.info("%s: %s from the phone", person_id, action)
