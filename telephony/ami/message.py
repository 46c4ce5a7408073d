"""One AMI message, and how an action is written on the wire.

* :class:`Message` - one AMI message (a response or an event), headers kept in order, looked up
  case-insensitively, repeated headers preserved (:meth:`Message.getall`). There is deliberately
  no ``to_dict``: the typed events of :mod:`telephony.events` are what leaves the boundary.
* :func:`encode_action` - an action (a mapping of header -> value, list values for a repeated
  header such as ``Variable``) as the bytes to send; CR, LF or NUL in a name or value is refused.
* :func:`redact` - a copy of an action with its secrets (``Secret``, ``Key``) replaced, for logs
  and exceptions.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeAlias

__all__ = ["ActionValue", "Message", "encode_action", "header", "redact"]

#: A header value of an action: a scalar, or a sequence for a repeated header (``Variable``).
ActionValue: TypeAlias = "str | int | float | Sequence[str | int | float]"

# Header values never written to logs nor kept in exceptions.
SECRET_HEADERS = frozenset({"secret", "key"})
REDACTED = "********"


class Message:
    """One AMI message: a response (``Response:``) or an event (``Event:``).

    Headers are kept in arrival order, repeated headers included (several ``ChanVariable:`` or
    ``Output:`` lines). Lookup is case-insensitive; ``msg[name]`` and :meth:`get` return the *last*
    value of a repeated header, :meth:`getall` returns all of them.

    >>> m = Message([("Event", "Newchannel"), ("CallerIDName", "محمد")])
    >>> m["calleridname"], m.event, m.is_event
    ('محمد', 'Newchannel', True)
    """

    __slots__ = ("_headers", "_index")

    def __init__(
        self,
        headers: Iterable[tuple[str, str]] | Mapping[str, str | Sequence[str]] = (),
    ) -> None:
        items: list[tuple[str, str]] = []
        pairs: Iterable[tuple[str, Any]] = headers.items() if isinstance(headers, Mapping) else headers
        for key, value in pairs:
            if isinstance(value, (list, tuple)):
                items.extend((key, str(v)) for v in value)
            else:
                items.append((key, str(value)))
        self._headers: list[tuple[str, str]] = items
        self._index: dict[str, str] = {k.lower(): v for k, v in items}

    @classmethod
    def from_parsed(cls, headers: list[tuple[str, str]], index: dict[str, str]) -> Message:
        """Build a message from already parsed headers (fast path of the parser)."""
        msg = cls.__new__(cls)
        msg._headers = headers
        msg._index = index
        return msg

    # -- mapping-like access ----------------------------------------------------------------

    def __getitem__(self, name: str) -> str:
        return self._index[name.lower()]

    def get(self, name: str, default: str | None = None) -> str | None:
        """The last value of header ``name`` (case-insensitive), or ``default``."""
        return self._index.get(name.lower(), default)

    def getall(self, name: str) -> list[str]:
        """All values of header ``name`` (case-insensitive), in order; [] if absent."""
        lname = name.lower()
        return [v for k, v in self._headers if k.lower() == lname]

    def getdict(self, name: str) -> dict[str, str]:
        """Parse a repeated ``NAME=value`` header (``ChanVariable``, ``Variable``) into a dict."""
        result: dict[str, str] = {}
        for item in self.getall(name):
            key, _, value = item.partition("=")
            result[key] = value
        return result

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._index

    def keys(self) -> list[str]:
        """Distinct header names, in order of first appearance (spelling of the first one)."""
        seen: dict[str, str] = {}
        for key, _ in self._headers:
            seen.setdefault(key.lower(), key)
        return list(seen.values())

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    @property
    def headers(self) -> list[tuple[str, str]]:
        """All ``(name, value)`` pairs in arrival order, repeated headers included (a copy)."""
        return list(self._headers)

    # -- AMI semantics ----------------------------------------------------------------------

    @property
    def is_event(self) -> bool:
        """True for an event (has an ``Event`` header)."""
        return "event" in self._index

    @property
    def event(self) -> str | None:
        """The event name (``Newchannel``...), or None for a response."""
        return self._index.get("event")

    @property
    def is_response(self) -> bool:
        """True for a response to an action (has a ``Response`` header)."""
        return "response" in self._index

    @property
    def response(self) -> str | None:
        """The ``Response`` header (``Success``, ``Error``, ``Follows``...), or None."""
        return self._index.get("response")

    @property
    def action_id(self) -> str | None:
        """The ``ActionID`` header, or None."""
        return self._index.get("actionid")

    @property
    def is_error(self) -> bool:
        """True for ``Response: Error`` (also the legacy ``Fail``/``Failure``)."""
        response = self._index.get("response")
        return response is not None and response.lower() in ("error", "fail", "failure")

    @property
    def event_list(self) -> str | None:
        """The ``EventList`` header lower-cased (``start``, ``complete``), or None."""
        value = self._index.get("eventlist")
        return value.lower() if value is not None else None

    @property
    def output(self) -> list[str]:
        """Command output lines: the ``Output:`` headers of Asterisk >= 14 (and of the raw
        ``Response: Follows`` body, which the parser stores as ``Output`` headers)."""
        return self.getall("Output")

    # -- dunder -------------------------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Message):
            return NotImplemented
        return self._headers == other._headers

    # unhashable, as mutable and compared by value; typeshed declares __hash__ as a method, so None needs the ignore
    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={REDACTED if k.lower() in SECRET_HEADERS else v!r}" for k, v in self._headers)
        return f"<Message {shown}>"


# --------------------------------------------------------------------------------------------
# Actions
# --------------------------------------------------------------------------------------------


def redact(action: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``action`` with secret values (``Secret``, ``Key``) replaced."""
    return {k: (REDACTED if k.lower() in SECRET_HEADERS else v) for k, v in action.items()}


def _check_header_text(text: str, what: str) -> None:
    if "\r" in text or "\n" in text or "\x00" in text:
        # CR/LF would end the action early and let the rest be read as another one; Asterisk reads a
        # line as a C string, so a NUL would silently cut the value short.
        raise ValueError(f"AMI {what} must not contain CR or LF (nor NUL): {text[:40]!r}")


def encode_action(action: Mapping[str, Any]) -> bytes:
    """Serialise an action; list/tuple values become repeated headers.

    Raises ValueError when a header name or value contains CR or LF (it would end the action
    early and let the rest be read as another action) or NUL (Asterisk would cut the value there).
    """
    lines: list[str] = []
    for key, value in action.items():
        _check_header_text(key, "header name")
        values = value if isinstance(value, (list, tuple)) else (value,)
        for item in values:
            text = str(item)
            _check_header_text(text, f"value of {key!r}")
            lines.append(f"{key}: {text}\r\n")
    lines.append("\r\n")
    return "".join(lines).encode("utf-8")


def header(action: Mapping[str, Any], name: str) -> Any:
    """The value of header ``name`` of an action, looked up case-insensitively, or None."""
    lname = name.lower()
    for key, value in action.items():
        if key.lower() == lname:
            return value
    return None
