"""Caller screening at run time: an in-memory view of the block list and of the warnings still to hear, so the
check at call start (:meth:`ScreeningService.screen`) costs no database round trip; the view is refreshed on
every change made here (the console, the API, the detection) and at start.

The detection is fed by the stored records (:meth:`on_record`, a record hook): a number making too many short
calls is warned the first time (a ``nuisance_warnings`` row), then blocked for the profile's ``block_minutes``
(an ``automatic`` block). Bad input for the block list raises :class:`~screening.model.ScreeningError` and
changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from cdr.builder import CallRecord, Outcome
from profiles.model import Profile
from screening.db import ScreeningStore
from screening.model import (
    Block,
    Decision,
    Detector,
    ScreeningError,
    ShortCall,
    Verdict,
    caller_key,
    valid_expiry,
    valid_number,
    valid_reason,
    verdict,
)
from telephony.clock import utc_now

log = logging.getLogger(__name__)

AUTOMATIC, MANUAL = "automatic", "manual"
DETECTION = "detection"  # who made an automatic block


class ScreeningService:
    def __init__(self, profile: Profile, store: ScreeningStore, clock: Callable[[], datetime] = utc_now) -> None:
        self.profile = profile
        self.store = store
        self.clock = clock
        self.rules = profile.nuisance
        self.detector = Detector(self.rules) if self.rules is not None else None
        self._blocks: dict[str, datetime | None] = {}  # key -> end of its latest block in force (None: no end)
        self._to_hear: set[str] = set()  # keys warned that have not heard the warning yet

    @property
    def block_withheld(self) -> bool:
        return self.rules is not None and self.rules.block_withheld

    async def start(self) -> None:
        await self.refresh()
        if self.detector is not None:
            warned = await self.store.warnings()
            self.detector.warned.update(number for number, _ in warned)
            # A warning of the last day not heard before a restart (no call since it) is heard on the next call.
            self._to_hear.update(await self.store.unheard_warnings(self.clock() - timedelta(days=1)))

    async def refresh(self) -> None:
        blocks: dict[str, datetime | None] = {}
        for block in await self.store.current(self.clock()):
            if block.number in blocks and blocks[block.number] is None:
                continue
            if block.expires_at is None or block.number not in blocks:
                blocks[block.number] = block.expires_at
            else:
                previous = blocks[block.number]
                blocks[block.number] = max(block.expires_at, previous) if previous is not None else None
        self._blocks = blocks

    # -- the check at call start (no I/O) ---------------------------------------------------------------------

    async def screen(self, number: str | None) -> str:
        """The verdict for a call from ``number``: ``block``, ``warn`` (heard once: the next call passes) or
        ``pass``. No database round trip."""
        found = verdict(number, self._blocks, self._to_hear, self.clock(), self.block_withheld)
        if found is Verdict.WARN:
            self._to_hear.discard(caller_key(number))
        return found.value

    # -- the detection (a record hook) ------------------------------------------------------------------------

    async def on_record(self, record: CallRecord) -> None:
        if self.detector is None or self.rules is None or record.kind != "inbound":
            return
        call = ShortCall(
            number=record.caller_number,
            started_at=record.started_at,
            ended_at=record.ended_at,
            counts=record.outcome is not Outcome.BLOCKED,
        )
        decision = self.detector.observe(call)
        key = caller_key(record.caller_number)
        now = self.clock()
        if decision is Decision.WARN:
            await self.store.warn(key, now)
            self._to_hear.add(key)
            log.info("nuisance: %s warned (%d short calls)", key, self.rules.max_short_calls)
        elif decision is Decision.BLOCK:
            until = now + timedelta(minutes=self.rules.block_minutes)
            reason = (
                f"{self.rules.max_short_calls} calls within {self.rules.within_minutes} min, each under "
                f"{self.rules.short_call_seconds} s, after a warning"
            )
            await self.store.add(key, reason, AUTOMATIC, DETECTION, now, until)
            self._to_hear.discard(key)
            await self.refresh()
            log.info("nuisance: %s blocked until %s", key, until.isoformat())

    # -- the block list (console, API, CLI) -------------------------------------------------------------------

    async def block(self, number: str, reason: str, actor: str, expires_at: datetime | None = None) -> Block:
        now = self.clock()
        key = valid_number(number)
        text = valid_reason(reason)
        until = valid_expiry(expires_at, now)
        block = await self.store.add(key, text, MANUAL, actor, now, until)
        await self.refresh()
        return block

    async def unblock(self, number: str, actor: str) -> list[Block]:
        key = number.strip() if isinstance(number, str) else ""
        if key != "withheld":
            key = valid_number(number)
        ended = await self.store.remove(key, actor, self.clock())
        if not ended:
            raise ScreeningError(f"{key} is not blocked")
        await self.refresh()
        return ended

    async def current(self) -> list[Block]:
        return await self.store.current(self.clock())

    async def past(self, limit: int = 200) -> list[Block]:
        return await self.store.past(self.clock(), limit)

    async def warnings(self) -> list[tuple[str, datetime]]:
        return await self.store.warnings()
