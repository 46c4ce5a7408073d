"""SIPp injection files (``-inf``): how a SIP password reaches SIPp without a command line.

A process's command line is readable by every local user (``ps``, ``/proc/<pid>/cmdline``), so
``-ap <password>`` would publish the agent phones' SIP passwords. Instead the credentials go into
a CSV file that only we can read: a fresh private directory (``mkdtemp``, mode 0700) holding a
file created with mode 0600 from the start (``os.open(..., 0o600)`` with ``O_EXCL``, never a
``chmod`` afterwards), removed as soon as the SIPp run that reads it is over. The scenario refers
to the fields as ``[field0]``, ``[field1]``, e.g. ``[authentication username="[field0]"
password="[field1]"]``.

SIPp's format (``SEQUENTIAL`` then one ``;``-separated line per call) has no quoting, so a field
cannot hold ``;``, a line break or NUL; a line starting with ``#`` is a comment; and SIPp re-reads
an injected ``[authentication`` as a keyword. Such values are refused with a ValueError.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

_FORBIDDEN = (";", "\r", "\n", "\x00")


def injection_line(fields: Sequence[str]) -> str:
    """One line of an injection file, or ValueError if SIPp could not read the fields back."""
    if not fields:
        raise ValueError("an injection line needs at least one field")
    for index, value in enumerate(fields):
        if not isinstance(value, str):
            raise ValueError(f"injection field {index} must be a string")
        if any(char in value for char in _FORBIDDEN):
            raise ValueError(
                f"injection field {index} cannot contain ';', CR, LF or NUL (SIPp's injection file has no quoting)"
            )
        if "[authentication" in value:
            raise ValueError(f"injection field {index} cannot contain '[authentication'")
    line = ";".join(fields)
    if line.startswith("#") or not line:
        raise ValueError("an injection line cannot be empty or start with '#' (a comment for SIPp)")
    return line


def injection_file(
    rows: Sequence[Sequence[str]], *, name: str = "fields.csv"
) -> contextlib.AbstractContextManager[Path]:
    """A private SEQUENTIAL injection file holding ``rows``: made on entering the context,
    removed (with its directory) on exit. The rows are checked now, before anything is made."""
    if not rows:
        raise ValueError("an injection file needs at least one line")
    text = "SEQUENTIAL\n" + "".join(injection_line(fields) + "\n" for fields in rows)
    return _private_file(text, name)


@contextlib.contextmanager
def _private_file(text: str, name: str) -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="hotline-sipp-"))
    try:
        path = directory / name
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        yield path
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def credentials_file(user: str, password: str) -> contextlib.AbstractContextManager[Path]:
    """An injection file with the one line ``<user>;<password>`` (``[field0]``, ``[field1]``)."""
    if not isinstance(password, str) or any(char in password for char in _FORBIDDEN):
        raise ValueError(
            "the password must be a string without ';', CR, LF or NUL (SIPp's injection file has no quoting)"
        )
    return injection_file([(user, password)], name="credentials.csv")
