"""The one time form of the core, and where it meets Asterisk's epochs.

Inside the service, a moment is an aware UTC :class:`~datetime.datetime` and a duration a
:class:`~datetime.timedelta` (or seconds computed from two datetimes). Asterisk speaks in epoch
seconds (the ``Timestamp:`` of an AMI event, a member's ``LoginTime`` and ``LastCall``, the time
the dialplan hands to an AGI route): those are turned into datetimes here, once, where they come
in, and nowhere else. Pure: no I/O, no asyncio.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

__all__ = ["EPOCH", "epoch", "utc", "utc_now"]

#: 1970-01-01 00:00 UTC: epoch 0, the "never" of a time that has not happened yet.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def utc(seconds: float) -> datetime:
    """The aware UTC datetime of ``seconds`` since the epoch (as Asterisk gives them)."""
    return EPOCH + timedelta(seconds=seconds)


def epoch(moment: datetime) -> float:
    """Seconds since the epoch of an aware datetime (for Asterisk, or an API that speaks epochs).
    A naive datetime is refused: its zone is a guess."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"a naive datetime has no epoch: {moment!r}")
    return (moment - EPOCH).total_seconds()


def utc_now() -> datetime:
    """The wall clock, as an aware UTC datetime: the default clock of the services."""
    return datetime.now(UTC)
