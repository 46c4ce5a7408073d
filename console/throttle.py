"""When a sign-in may be tried again: failed sign-ins counted per account and per address (pure).

The account is the name as typed, whether or not such a user exists, so a refusal says nothing
about which names are real. While a name or an address is throttled, the password is not even
checked: the right one is refused too, until the window has moved on.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class LoginThrottle:
    window: timedelta = timedelta(minutes=15)
    per_account: int = 5  # failures of one name within the window
    per_address: int = 20  # failures from one address within the window, whatever the names

    def since(self, now: datetime) -> datetime:
        return now - self.window

    def retry_after(self, account: Sequence[datetime], address: Sequence[datetime], now: datetime) -> int | None:
        """Whole seconds until a sign-in may be tried again, or None if it may be tried now."""
        waits = []
        for failures, limit in ((account, self.per_account), (address, self.per_address)):
            recent = sorted(t for t in failures if t > now - self.window)
            if len(recent) >= limit:
                # free again when the oldest of the last `limit` failures leaves the window
                waits.append((recent[-limit] + self.window - now).total_seconds())
        if not waits:
            return None
        return max(1, math.ceil(max(waits)))
