"""Feature codes from agent and doctor phones over FastAGI: log in, log out, pause, unpause, wrap-up.

The dialplan passes the action (``login`` …) and ``${CHANNEL(endpoint)}`` as the AGI arguments. The
person is the phone's PJSIP endpoint as Asterisk gives it, and it must agree with the channel
(``PJSIP/<endpoint>-<8 hex digits>``, the name chan_pjsip gives) and be a person of the profile;
anything else is refused and nothing is done. (Only Asterisk can call this route: the FastAGI server
checks its per-start secret first.) The desk does the work; the agent then hears a confirmation in
their own language. If anything fails, no result is set and the dialplan plays the "could not be
done" prompt.

Wrap-up: ``*5`` and a wrap-up code (one or two digits) reaches this route as the action ``wrapup<code>``;
the code is applied to the person's last call (it must be one of the dispositions of that call's topic,
see ``cdr.wrapup``). The agent then hears a beep; an unknown code, or no call to wrap up, gets the
"could not be done" prompt.
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
WRAPUP = "wrapup"  # the action of *5<code>: "wrapup" and the code's digits
_WRAPUP_CODE = re.compile(r"[0-9]{1,2}")
WRAPUP_CONFIRMATION = "beep"  # an Asterisk sound: the code is kept

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


class WrapupCodes(Protocol):
    """Applies a wrap-up code keyed on a phone to the person's last call (``cdr.wrapup.Wrapups``); a
    ``ValueError`` refuses it."""

    async def choose_by_code(self, person: str, code: str) -> object: ...


class AgentFeatureHandler:
    """The FastAGI route ``agent``."""

    def __init__(self, profile: Profile, desk: Desk, sounds_dir: str, wrapups: WrapupCodes | None = None):
        self.profile = profile
        self.desk = desk
        self.wrapups = wrapups
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
        if action.startswith(WRAPUP):
            await self._wrapup(session, action[len(WRAPUP) :])
            return
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

    async def _wrapup(self, session: AGISession, code: str) -> None:
        person_id = self.person_of(session)
        if person_id is None or self.wrapups is None or not _WRAPUP_CODE.fullmatch(code):
            log.warning("wrap-up code %r from channel %r refused: not a code, or not a phone of the profile",
                        code[:8], session.channel)  # fmt: skip
            return
        try:
            await self.wrapups.choose_by_code(person_id, code)
        except ValueError as exc:  # an unknown code for the call's topic, no call, another's call
            log.info("wrap-up code %s from %s refused: %s", code, person_id, exc)
            return
        with contextlib.suppress(AGIHangup):
            await session.mset({v.AGENT_PROMPT: WRAPUP_CONFIRMATION, v.RESULT: v.RESULT_OK})
        log.info("%s: wrap-up code %s from the phone", person_id, code)
