"""Caller screening, the pure part: numbers as the block list keeps them, withheld callers, the verdict at
call start, and the automatic detection of nuisance callers.

No I/O and no clock: moments come in as aware UTC datetimes.

Detection (the profile's ``nuisance`` rules): ``max_short_calls`` calls from one number within
``within_minutes``, each shorter than ``short_call_seconds`` after the answer, make a nuisance. The first time,
the number is warned (it hears ``nuisance_warning`` on its next call); the next time (after the warning, with
calls made after it), it is blocked for ``block_minutes``. A call's length after the answer is its record's
``ended_at - started_at``: the dialplan answers first thing. Calls that were blocked, callbacks and records
with no end do not count. Withheld numbers (no number, ``anonymous``, ``Restricted``, …) are one group,
:data:`WITHHELD`, which is never warned nor blocked unless the rules say ``block_withheld``.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from profiles.model import NuisanceRules

__all__ = [
    "MAX_REASON",
    "WITHHELD",
    "Block",
    "Decision",
    "Detector",
    "ScreeningError",
    "ShortCall",
    "Verdict",
    "caller_key",
    "is_withheld",
    "valid_expiry",
    "valid_number",
    "valid_reason",
    "verdict",
]

#: The group of every withheld caller (what the block list keeps for them when ``block_withheld``).
WITHHELD = "withheld"
#: What Asterisk or a trunk gives for a number it will not tell (compared case-insensitively).
WITHHELD_NAMES = frozenset(
    {"", "anonymous", "restricted", "private", "unknown", "unavailable", "withheld", "<unknown>", "none"}
)
MAX_REASON = 500
_NUMBER = re.compile(r"\+?[0-9]{3,32}")
_SEPARATORS = re.compile(r"[\s\-().]")


class ScreeningError(ValueError):
    """Bad input for the block list; the message says what is wrong (nothing was changed)."""


class Verdict(StrEnum):
    PASS = "pass"
    WARN = "warn"  # hears the warning once, then goes on
    BLOCK = "block"  # hears the blocked message (if any) and is hung up


class Decision(StrEnum):
    NONE = "none"
    WARN = "warn"
    BLOCK = "block"


def is_withheld(number: str | None) -> bool:
    return number is None or number.strip().lower() in WITHHELD_NAMES


def caller_key(number: str | None) -> str:
    """The key a caller is screened and counted under: the number without separators, or :data:`WITHHELD`."""
    if is_withheld(number):
        return WITHHELD
    assert number is not None
    return _SEPARATORS.sub("", number.strip())


def valid_number(text: str) -> str:
    """A number a supervisor blocks: digits (3 to 32, an optional leading +; spaces, dashes, dots and
    brackets are dropped). ScreeningError otherwise."""
    cleaned = _SEPARATORS.sub("", text.strip()) if isinstance(text, str) else ""
    if not _NUMBER.fullmatch(cleaned):
        raise ScreeningError(
            f"number must be a phone number: 3 to 32 digits, an optional leading + (got {str(text)[:40]!r})"
        )
    return cleaned


def valid_reason(text: str) -> str:
    reason = text.strip() if isinstance(text, str) else ""
    if not reason:
        raise ScreeningError("reason is required (why the number is blocked)")
    if len(reason) > MAX_REASON:
        raise ScreeningError(f"reason must be at most {MAX_REASON} characters (got {len(reason)})")
    if not all(ch.isprintable() or ch in "\n\t" for ch in reason):
        raise ScreeningError("reason must be printable text")
    return reason


def valid_expiry(expires_at: datetime | None, now: datetime) -> datetime | None:
    if expires_at is None:
        return None
    if expires_at.tzinfo is None:
        raise ScreeningError("expires_at must have a time zone (e.g. 2027-01-01T00:00:00Z)")
    if expires_at <= now:
        raise ScreeningError("expires_at must be in the future (leave it out for a block with no end)")
    return expires_at


@dataclass(frozen=True, slots=True)
class Block:
    """One entry of the block list (current or past)."""

    id: int
    number: str
    reason: str
    source: str  # manual | automatic
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    removed_at: datetime | None = None
    removed_by: str | None = None

    def active(self, now: datetime) -> bool:
        return self.removed_at is None and (self.expires_at is None or self.expires_at > now)


def verdict(
    number: str | None,
    blocks: Mapping[str, datetime | None],
    warned: Iterable[str],
    now: datetime,
    block_withheld: bool = False,
) -> Verdict:
    """What a call from ``number`` gets at its start: ``blocks`` maps a key to its block's end (None: none),
    ``warned`` holds the keys that have a warning to hear."""
    key = caller_key(number)
    if key == WITHHELD and not block_withheld:
        return Verdict.PASS
    if key in blocks:
        until = blocks[key]
        if until is None or until > now:
            return Verdict.BLOCK
    return Verdict.WARN if key in warned else Verdict.PASS


@dataclass(frozen=True, slots=True)
class ShortCall:
    """What detection needs of one stored call record."""

    number: str | None
    started_at: datetime
    ended_at: datetime | None
    counts: bool = True  # False: a blocked call, a callback


class Detector:
    """Counts each number's short calls in its window and says when to warn or block.

    ``warned`` are the keys warned before (from the store); a decision resets the number's window, so a block
    takes calls made after the warning."""

    def __init__(self, rules: NuisanceRules, warned: Iterable[str] = ()) -> None:
        self.rules = rules
        self.warned: set[str] = set(warned)
        self._calls: dict[str, deque[datetime]] = {}

    def is_short(self, call: ShortCall) -> bool:
        if not call.counts or call.ended_at is None:
            return False
        return (call.ended_at - call.started_at).total_seconds() < self.rules.short_call_seconds

    def observe(self, call: ShortCall) -> Decision:
        key = caller_key(call.number)
        if key == WITHHELD and not self.rules.block_withheld:
            return Decision.NONE
        if not self.is_short(call):
            return Decision.NONE
        window = timedelta(minutes=self.rules.within_minutes)
        starts = self._calls.setdefault(key, deque())
        starts.append(call.started_at)
        latest = max(starts)
        while starts and latest - min(starts) > window:
            starts.remove(min(starts))
        if len(starts) < self.rules.max_short_calls:
            return Decision.NONE
        del self._calls[key]
        if key in self.warned:
            return Decision.BLOCK
        self.warned.add(key)
        return Decision.WARN

    def forget(self, key: str) -> None:
        """A supervisor cleared the number: it starts again with no calls and no warning."""
        self._calls.pop(key, None)
        self.warned.discard(key)
