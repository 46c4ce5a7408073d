"""Incremental AMI parser: bytes in, :class:`~telephony.ami.message.Message` objects out.

* Bytes are decoded with an incremental UTF-8 decoder, so a multi-byte character split across
  two reads is decoded once both halves are there; only truly invalid bytes become U+FFFD.
* Messages are separated by a blank line (``\\r\\n\\r\\n``); bare ``\\n`` line ends are tolerated.
* The ``Asterisk Call Manager/x.y.z`` banner that opens the connection is consumed and stored in
  :attr:`AMIParser.version`.
* ``Command`` output: Asterisk >= 14 (so 22) sends ``Output:`` header lines, kept as repeated
  headers. The legacy ``Response: Follows`` body (raw lines up to ``--END COMMAND--``, possibly
  with blank lines) is turned into ``Output`` headers as well.
* Header lines are ``Name: value``; exactly one space after the colon is removed, so indented
  command output keeps its indentation. Lines without a colon are ignored.
* Caps: a line longer than ``max_line`` characters or a message longer than ``max_message``
  characters is dropped whole, with one error log line naming the cap, and the parser resumes at
  the next blank line. Memory held for an unfinished message never exceeds the cap (plus one
  read). :attr:`AMIParser.dropped` counts the dropped messages.

Performance: the work per message is a few ``str.split``/``str.partition`` calls, no
per-character Python loop.
"""

from __future__ import annotations

import codecs
import logging

from telephony.ami.message import Message

__all__ = ["MAX_LINE", "MAX_MESSAGE", "AMIParser"]

logger = logging.getLogger(__name__)

#: Default caps, in decoded characters. An AMI header line is short (a long caller name or a
#: channel variable is a few hundred characters), but a caller chooses their own display name: SIP
#: carries up to 64 KB of it (pjproject's packet limit), and Asterisk repeats it as ``CallerIDName``
#: in every event of the channel, so a line cap below that would drop all of that caller's events
#: (and their call record). A message with ``Output:`` lines of a CLI command is the largest thing
#: Asterisk sends us.
MAX_LINE = 128 * 1024
MAX_MESSAGE = 1024 * 1024

_BANNER_PREFIX = "Asterisk Call Manager/"
_END_COMMAND = "--END COMMAND--"
# Headers that may precede the raw output of a legacy "Response: Follows" block.
_FOLLOWS_HEADERS = frozenset({"response", "privilege", "actionid", "commandid", "message"})


class AMIParser:
    """Incremental AMI parser: ``feed(bytes) -> list[Message]`` (see the module docstring)."""

    __slots__ = (
        "_banner_checked", "_buffer", "_cr_pending", "_decoder", "_follows", "_follows_size", "_skipping",
        "dropped", "max_line", "max_message", "version",
    )  # fmt: skip

    def __init__(self, *, max_line: int = MAX_LINE, max_message: int = MAX_MESSAGE) -> None:
        if max_line <= 0 or max_message < max_line:
            raise ValueError("need 0 < max_line <= max_message")
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = ""
        self._cr_pending = False
        self._banner_checked = False
        self._follows: list[str] | None = None
        self._follows_size = 0
        self._skipping = False  # inside a dropped message: discard up to the next blank line
        self.max_line = max_line
        self.max_message = max_message
        #: Messages dropped because they broke a cap.
        self.dropped = 0
        #: AMI protocol version from the banner (e.g. "10.0.0"), or None before / without one.
        self.version: str | None = None

    def _drop(self, why: str, head: str) -> None:
        self.dropped += 1
        first = head.split("\n", 1)[0][:80]
        logger.error("AMI message dropped: %s (starts with %r)", why, first)

    def feed(self, data: bytes) -> list[Message]:
        """Parse ``data`` (any slice of the stream) and return the messages it completed."""
        text = self._decoder.decode(data)
        if not text:
            return []
        if self._cr_pending:
            text = "\r" + text
            self._cr_pending = False
        if text[-1] == "\r":
            # The matching "\n" may be in the next read: keep the "\r" back.
            text = text[:-1]
            self._cr_pending = True
        if "\r" in text:
            text = text.replace("\r\n", "\n")
        buffer = self._buffer + text if self._buffer else text
        if self._skipping:
            end = buffer.find("\n\n")
            if end < 0:
                self._buffer = "\n" if buffer.endswith("\n") else ""
                return []
            self._skipping = False
            buffer = buffer[end + 2 :]
        if not self._banner_checked:
            newline = buffer.find("\n")
            if newline < 0:
                if len(buffer) < len(_BANNER_PREFIX) and _BANNER_PREFIX.startswith(buffer):
                    self._buffer = buffer
                    return []
                if not buffer.startswith(_BANNER_PREFIX):
                    self._banner_checked = True
                elif len(buffer) <= self.max_line:
                    self._buffer = buffer
                    return []
                else:
                    self._banner_checked = True
            else:
                first = buffer[:newline]
                if first.startswith(_BANNER_PREFIX):
                    self.version = first[len(_BANNER_PREFIX) :].strip()
                    buffer = buffer[newline + 1 :]
                self._banner_checked = True
        if "\n\n" not in buffer:
            self._buffer = self._check_unfinished(buffer)
            return []
        blocks = buffer.split("\n\n")
        self._buffer = self._check_unfinished(blocks.pop())
        messages: list[Message] = []
        append = messages.append
        max_line = self.max_line
        for block in blocks:
            if self._follows is not None:
                if block.startswith(("Response:", "Event:")):
                    # A legacy Follows block without its end marker: close it.
                    append(self._parse_follows("\n\n".join(self._follows)))
                    self._follows = None
                else:
                    self._follows_size += len(block) + 2
                    if self._follows_size > self.max_message:
                        self._drop(f"longer than {self.max_message} characters", self._follows[0])
                        self._follows = None
                        continue
                    self._follows.append(block)
                    if _END_COMMAND in block:
                        append(self._parse_follows("\n\n".join(self._follows)))
                        self._follows = None
                    continue
            if not block:
                continue
            if block[0] == "\n":
                block = block.lstrip("\n")
                if not block:
                    continue
            if len(block) > max_line:
                if len(block) > self.max_message:
                    self._drop(f"longer than {self.max_message} characters", block)
                    continue
                if max(map(len, block.split("\n"))) > max_line:
                    self._drop(f"a line longer than {max_line} characters", block)
                    continue
            if block.startswith("Response: Follows"):
                if _END_COMMAND in block:
                    append(self._parse_follows(block))
                else:
                    self._follows = [block]
                    self._follows_size = len(block)
                continue
            lines = block.split("\n")
            # Fast path: every line is "Name: value" (what Asterisk writes).
            headers = [(k, v) for k, sep, v in [line.partition(": ") for line in lines] if sep]
            if len(headers) != len(lines):
                headers = self._parse_lines_slowly(lines)
                if not headers:
                    continue
            append(Message.from_parsed(headers, {k.lower(): v for k, v in headers}))
        return messages

    def _check_unfinished(self, rest: str) -> str:
        """The unfinished message to keep, or "" (and skip mode) when it already breaks a cap."""
        size = len(rest)
        if size <= self.max_line:
            return rest
        if size > self.max_message:
            self._drop(f"longer than {self.max_message} characters", rest)
        else:
            last_line = size - rest.rfind("\n") - 1
            if last_line <= self.max_line:
                return rest
            self._drop(f"a line longer than {self.max_line} characters", rest)
        self._skipping = True
        return "\n" if rest.endswith("\n") else ""

    @staticmethod
    def _parse_lines_slowly(lines: list[str]) -> list[tuple[str, str]]:
        """Header lines with odd spacing (``Name:value``, ``Name:``); lines without a colon
        are dropped."""
        headers: list[tuple[str, str]] = []
        for line in lines:
            key, sep, value = line.partition(":")
            if sep:
                headers.append((key, value[1:] if value[:1] == " " else value))
        return headers

    @staticmethod
    def _parse_follows(text: str) -> Message:
        """Parse a legacy ``Response: Follows`` block: leading headers, then raw output lines."""
        headers: list[tuple[str, str]] = []
        lines = text.split("\n")
        position = 0
        for position, line in enumerate(lines):  # noqa: B007 - position used after the loop
            key, sep, value = line.partition(":")
            if not sep or key.lower() not in _FOLLOWS_HEADERS:
                break
            headers.append((key, value[1:] if value[:1] == " " else value))
        else:
            position = len(lines)
        for line in lines[position:]:
            end = line.find(_END_COMMAND)
            if end >= 0:
                if line[:end]:
                    headers.append(("Output", line[:end]))
                break
            headers.append(("Output", line))
        return Message.from_parsed(headers, {k.lower(): v for k, v in headers})

    @property
    def buffered(self) -> int:
        """Number of decoded characters waiting for the end of their message."""
        return len(self._buffer)
