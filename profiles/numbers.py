"""Numbers hotline may dial out: the one check every outgoing call passes (a callback, a campaign's
contact, a number an agent types on the desk). Pure.

A public number is a target. Separators (spaces, dashes, dots, brackets) are dropped; the rest must be
digits (one leading ``+`` allowed as a character), and fully match one of the profile's patterns. An
international number (a leading ``00`` or ``+``) must match a pattern that names that prefix itself (it
starts with ``00``, ``\\+`` or ``[+]``): a loose pattern such as ``[0-9]{6,15}`` never lets ``00882…``
through. A caller ID gets the same check as a typed number: it can be spoofed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

__all__ = ["NumberCheck", "Reason", "check_allowed", "is_international", "plain"]

_STRIP = re.compile(r"[\s\-.()]")
_DIGITS = re.compile(r"\+?[0-9]+")
#: Caller IDs that are no number at all (withheld, unknown): read as empty.
_NO_CALLER_ID = frozenset({"anonymous", "unknown", "restricted", "private", "unavailable", "<unknown>"})


class Reason(StrEnum):
    """Why a number is refused: stable codes for logs, reports and the IVR."""

    EMPTY = "empty"
    NOT_DIGITS = "not_digits"
    NOT_ALLOWED = "not_allowed"
    RATE_LIMITED = "rate_limited"


@dataclass(frozen=True, slots=True)
class NumberCheck:
    ok: bool
    number: str  # normalised (separators dropped); "" when empty
    reason: Reason | None = None  # None when ok


@lru_cache(maxsize=64)
def _patterns(patterns: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(p) for p in patterns)


#: What a pattern starts with when it names an international prefix itself (after ``^`` and ``(``/``(?:``).
_INTERNATIONAL_PATTERN = re.compile(r"(?:\^)?(?:\((?:\?:)?)*(?:00|\\\+|\[\+\])")


@lru_cache(maxsize=64)
def _international_patterns(patterns: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    """The patterns that name a leading ``00`` or ``+`` themselves: only these may match an international number."""
    return tuple(re.compile(p) for p in patterns if _INTERNATIONAL_PATTERN.match(p))


def is_international(number: str) -> bool:
    """A number with a leading ``+`` or ``00``: it leaves the country (and may cost a fortune)."""
    return number.startswith(("+", "00"))


def check_allowed(raw: str | None, patterns: Iterable[str], *, caller_id: bool = False) -> NumberCheck:
    """Validate a number to dial: ``empty`` when nothing is left after the separators (or, for a caller ID,
    a withheld one: ``anonymous``, ``unknown``...), ``not_digits`` for anything but digits after an optional
    leading ``+``, ``not_allowed`` unless it fully matches one of ``patterns`` (see the module's rule for
    international numbers)."""
    text = (raw or "").strip()
    if caller_id and text.lower() in _NO_CALLER_ID:
        text = ""
    number = _STRIP.sub("", text)
    if not number:
        return NumberCheck(False, "", Reason.EMPTY)
    if not _DIGITS.fullmatch(number):
        return NumberCheck(False, number, Reason.NOT_DIGITS)
    usable = tuple(patterns)
    compiled = _international_patterns(usable) if is_international(number) else _patterns(usable)
    if not any(p.fullmatch(number) for p in compiled):
        return NumberCheck(False, number, Reason.NOT_ALLOWED)
    return NumberCheck(True, number)


def plain(number: str) -> str:
    """A number without separators or a leading ``+``: to compare two forms of one number."""
    return _STRIP.sub("", number).lstrip("+")
