"""One way to wait for a condition in a test: poll until it holds, or fail saying what never came."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

__all__ = ["eventually"]


async def eventually(
    check: Callable[[], T | Awaitable[T]],
    *,
    timeout: float = 5.0,
    interval: float = 0.01,
    what: str | None = None,
) -> T:
    """Wait until ``check()`` (a plain or an async function) returns a truthy value, and return it.

    ``check`` is called at once, then every ``interval`` seconds. After ``timeout`` seconds an
    ``AssertionError`` says ``what`` was waited for (default: the function's name) and the last value.
    An exception raised by ``check`` is not swallowed: it is the test's failure.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value  # type: ignore[return-value]
        if time.monotonic() >= deadline:
            name = what or getattr(check, "__name__", repr(check))
            raise AssertionError(f"timed out after {timeout} s waiting for {name} (last: {value!r})")
        await asyncio.sleep(interval)
