"""Contact lists from CSV files (issue 14): parse a file, check every row, report every bad one. Pure.

A list file is CSV in UTF-8 (with or without a byte order mark), comma-separated (a semicolon or a tab is
accepted when the header uses it). Its first line is the header; it names the columns, in any order and
case: ``number`` (required), ``name``, ``language``, and ``ward`` or ``district`` (either name, stored as the
district). Any other named column is kept, as text, in the contact's free fields.

Every row is checked, and every bad row is reported with its line in the file (the header is line 1; a row
whose quoted field spans lines is reported at its first line) and the reason; a problem of the whole file
(not UTF-8, too big, no header) has line 0 when it is no line's. A file with any bad row is refused whole:
the store (``outbound.list_db``) writes nothing of it.

- **number**: the one check every outgoing call passes (``profiles.numbers.check_allowed`` with the profile's
  ``outbound.allowed_numbers``), stored normalised (separators dropped). Twice the same number in one file
  is an error naming both lines. A number on the do-not-call list is no error: it is imported, counted
  (``ParsedList.dnc``), and never dialled (the engine checks the list at dial time).
- **language**: a language code of the profile (any case); empty: the profile's default language.
- **text**: kept byte for byte (Hindi, Arabic, ``${...}`` and all); control characters are refused (NUL,
  escape... ; a free field may hold line breaks and tabs), and so are the bidirectional overrides, embeddings
  and isolates (U+202A-U+202E, U+2066-U+2069) that would turn a console line around. The marks
  Arabic and Hindi text do use (U+200C-U+200F) are kept.
- **sizes**: a file up to ``MAX_FILE_BYTES``, ``MAX_ROWS`` rows, ``MAX_COLUMNS`` columns, and each field
  within its column's limit (``MAX_CHARS``).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from profiles.model import Profile
from profiles.numbers import Reason, check_allowed, is_international

__all__ = [
    "LIST_NAME",
    "MAX_CHARS",
    "MAX_COLUMNS",
    "MAX_FILE_BYTES",
    "MAX_ROWS",
    "ContactLine",
    "ImportRefused",
    "ParsedList",
    "RowError",
    "check_list_name",
    "dnc_forms",
    "dnc_key",
    "fields_json",
    "parse_csv",
]

MAX_FILE_BYTES = 8 * 1024 * 1024
MAX_ROWS = 100_000
MAX_COLUMNS = 50
#: The longest value of each column (characters); a free field's name and value have theirs.
MAX_CHARS = {"number": 32, "name": 255, "language": 16, "district": 128, "field_name": 64, "field": 1000}
#: A list's name: what a campaign's ``list`` names (a profile id).
LIST_NAME = re.compile(r"[a-z][a-z0-9_]{0,23}")

_NUMBER = "number"
_KNOWN = {"number": "number", "name": "name", "language": "language", "ward": "district", "district": "district"}
_DELIMITERS = (",", ";", "\t")
_BOM = "\ufeff"
_SPACE = " "  # trimmed around a value; nothing else is touched (a name stays byte for byte)
#: Bidirectional embeddings, overrides and isolates: they reorder what follows them on a line.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_FREE_TEXT_CONTROLS = frozenset("\n\r\t")  # a free field (a note) may hold line breaks and tabs
#: csv's own limit on one field (characters): a longer one stops the reader.
_CSV_FIELD_LIMIT = csv.field_size_limit()


@dataclass(frozen=True, slots=True)
class RowError:
    """A bad row: its line in the file (1 is the header; 0 the whole file) and why."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}" if self.line else f"file: {self.reason}"


class ImportRefused(Exception):
    """A file with bad rows (or a bad list name): nothing of it was stored. ``errors`` has every one."""

    def __init__(self, errors: Sequence[RowError]) -> None:
        self.errors = list(errors)
        first = str(self.errors[0]) if self.errors else "refused"
        more = f" (and {len(self.errors) - 1} more)" if len(self.errors) > 1 else ""
        super().__init__(f"{first}{more}")


@dataclass(frozen=True, slots=True)
class ContactLine:
    """One good row of a file: a person to call."""

    line: int
    number: str  # normalised (profiles.numbers.check_allowed)
    name: str
    language: str  # a code of the profile
    district: str | None
    fields: dict[str, str]  # the other columns, in the file's order


@dataclass(frozen=True, slots=True)
class ParsedList:
    """A file read: its rows when every one is good, else every error (and no rows)."""

    sha256: str
    contacts: tuple[ContactLine, ...]
    errors: tuple[RowError, ...]
    dnc: int  # rows whose number is on the do-not-call list (imported, never dialled)

    @property
    def ok(self) -> bool:
        return not self.errors


def check_list_name(name: str) -> str | None:
    """Why ``name`` cannot name a list (None when it can): a campaign names its list by a profile id."""
    if LIST_NAME.fullmatch(name):
        return None
    return f"the list's name {name!r} must be an id: a lower-case letter, then letters, digits or _ (24 at most)"


def dnc_key(number: str) -> str:
    """The form two spellings of one number share on the do-not-call list: separators, a leading ``+`` or
    ``00`` dropped (``+91 98…``, ``0091-98…`` and ``9198…`` are one number)."""
    text = re.sub(r"[\s\-.()]", "", number)
    if text.startswith("+"):
        return text[1:]
    if text.startswith("00"):
        return text[2:]
    return text


def dnc_forms(number: str) -> tuple[str, ...]:
    """The stored spellings that are the same number as ``number`` on the do-not-call list (for a lookup)."""
    key = dnc_key(number)
    return (key, f"+{key}", f"00{key}")


def fields_json(fields: dict[str, str]) -> str:
    """The free fields as stored: a JSON object, the text as it is (no escapes of non-ASCII)."""
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":"))


# -- the file ----------------------------------------------------------------------------------------


def _decode(data: bytes) -> tuple[str | None, list[RowError]]:
    """The file's text, or every line that is not UTF-8."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None, [RowError(0, "the file is UTF-16: save it as 'CSV UTF-8'")]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        errors = []
        for index, raw in enumerate(data.split(b"\n"), start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                bad = f"byte 0x{raw[exc.start : exc.start + 1].hex()} at byte {exc.start + 1}"
                errors.append(RowError(index, f"is not UTF-8 ({bad}): save the file as 'CSV UTF-8'"))
        return None, errors or [RowError(0, "the file is not UTF-8: save it as 'CSV UTF-8'")]
    return text.removeprefix(_BOM), []


def _records(text: str, delimiter: str) -> Iterator[tuple[int, list[str] | None, str | None]]:
    """(first line, fields, None) for each record of ``text``, or (line, None, why) for one csv cannot read."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    while True:
        start = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield start, None, _csv_reason(str(exc))
            continue
        yield start, fields, None


def _csv_reason(message: str) -> str:
    """What csv's own error means for the person who saved the file."""
    if "field larger than field limit" in message:
        return f"a field is longer than {_CSV_FIELD_LIMIT} characters"
    if "unexpected end of data" in message:
        return 'a quote (") opened on this line is never closed'
    if "expected after" in message:
        return 'text after a closing quote: a quote inside a quoted field is written twice ("")'
    return f"is not valid CSV: {message}"


def _header(text: str) -> tuple[str, list[str]] | RowError:
    """The delimiter and the header's cells, from the first line."""
    first = text.split("\n", 1)[0].rstrip("\r")
    for delimiter in _DELIMITERS:
        try:
            cells = next(csv.reader([first], delimiter=delimiter, strict=True), [])
        except csv.Error:
            continue
        if _NUMBER in (cell.strip().lower() for cell in cells):
            return delimiter, cells
    hint = ""
    if re.fullmatch(r"\s*\+?[0-9][0-9 ()\-.]*", re.split(r"[,;\t]", first, maxsplit=1)[0]):
        hint = " (it looks like a row of data)"
    return RowError(
        1, f"no header{hint}: the first line must name the columns, with a 'number' column (number,name,language,ward)"
    )


def _bad_text(value: str, *, free: bool) -> str | None:
    """What is wrong with a text value (a control character, a bidirectional override), or None."""
    for char in value:
        if char in _BIDI_CONTROLS:
            return f"a bidirectional control character (U+{ord(char):04X})"
        if unicodedata.category(char) == "Cc" and not (free and char in _FREE_TEXT_CONTROLS):
            return f"a control character (U+{ord(char):04X})"
    return None


def _number_reason(number: str, reason: Reason | None) -> str:
    if reason is Reason.EMPTY:
        return "no number"
    if reason is Reason.NOT_DIGITS:
        return f"the number {number!r} is not a phone number: digits only, with an optional leading +"
    international = " (an international number needs a pattern naming its 00 or + prefix)"
    return (
        f"the number {number!r} matches none of the profile's outbound.allowed_numbers"
        f"{international if is_international(number) else ''}"
    )


class _Columns:
    """The header read: which column is which, and the free fields' names."""

    def __init__(self, cells: list[str]) -> None:
        self.count = len(cells)
        self.known: dict[str, int] = {}
        self.free: list[tuple[int, str]] = []
        self.unnamed: list[int] = []  # columns without a name: only empty values allowed below them
        self.errors: list[str] = []
        seen: dict[str, int] = {}
        if len(cells) > MAX_COLUMNS:
            self.errors.append(f"{len(cells)} columns, at most {MAX_COLUMNS}")
        for index, cell in enumerate(cells):
            name = cell.strip()
            key = name.lower()
            bad = _bad_text(name, free=False)
            if bad:
                self.errors.append(f"column {index + 1}'s name has {bad}")
                continue
            if not name:
                self.unnamed.append(index)
                continue
            if len(name) > MAX_CHARS["field_name"]:
                self.errors.append(f"column {index + 1}'s name is longer than {MAX_CHARS['field_name']} characters")
                continue
            if key in seen:
                self.errors.append(f"columns {seen[key] + 1} and {index + 1} have the same name {name!r}")
                continue
            seen[key] = index
            target = _KNOWN.get(key)
            if target is None:
                self.free.append((index, name))
            elif target in self.known:
                self.errors.append("both a 'ward' and a 'district' column: keep one")
            else:
                self.known[target] = index


def parse_csv(data: bytes, profile: Profile, *, dnc: Iterable[str] = ()) -> ParsedList:
    """Read a list file for ``profile``: its good rows, or every error. ``dnc``: the numbers on the
    do-not-call list (the profile's and the table's), to count the rows that will not be dialled."""
    sha256 = hashlib.sha256(data).hexdigest()

    def refused(errors: list[RowError]) -> ParsedList:
        return ParsedList(sha256, (), tuple(errors), 0)

    if len(data) > MAX_FILE_BYTES:
        return refused([RowError(0, f"the file has {len(data)} bytes, at most {MAX_FILE_BYTES}")])
    if profile.outbound is None:
        return refused([RowError(0, "the profile has no 'outbound' section: no number may be called")])
    text, errors = _decode(data)
    if text is None:
        return refused(errors)
    if not text.strip():
        return refused([RowError(0, "the file is empty")])
    header = _header(text)
    if isinstance(header, RowError):
        return refused([header])
    delimiter, cells = header
    columns = _Columns(cells)
    if columns.errors:
        return refused([RowError(1, reason) for reason in columns.errors])

    patterns = profile.outbound.allowed_numbers
    languages = {code.lower(): code for code in profile.language_codes}
    blocked = {dnc_key(n) for n in (*profile.outbound.do_not_call, *dnc)}
    first_line: dict[str, int] = {}  # a number's key -> the line it is first on
    contacts: list[ContactLine] = []
    dnc_rows = 0
    rows = 0
    records = _records(text, delimiter)
    next(records)  # the header
    for line, values, problem in records:
        if problem is not None or values is None:
            errors.append(RowError(line, problem or "is not valid CSV"))
            continue
        if not any(value.strip(" ") for value in values):
            continue  # a blank line (or one of empty values only, as spreadsheets write them)
        rows += 1
        if rows > MAX_ROWS:
            errors.append(RowError(line, f"more than {MAX_ROWS} rows: split the list"))
            break
        reasons = _row_reasons(values, columns)
        if reasons:
            errors.extend(RowError(line, reason) for reason in reasons)
            continue

        def cell(column: str, values: list[str] = values) -> str:
            index = columns.known.get(column)
            return "" if index is None else values[index].strip(_SPACE)

        reasons = []
        check = check_allowed(cell("number"), patterns)
        key = dnc_key(check.number)
        if not check.ok:
            reasons.append(_number_reason(check.number or cell("number"), check.reason))
        elif key in first_line:
            reasons.append(f"the number {check.number} is also on line {first_line[key]}")
        else:
            first_line[key] = line
        raw_language = cell("language")
        language = languages.get(raw_language.lower()) if raw_language else profile.default_language
        if language is None:
            known = ", ".join(profile.language_codes)
            reasons.append(f"unknown language {raw_language!r}: one of {known} (empty: {profile.default_language})")
        if reasons or language is None:
            errors.extend(RowError(line, reason) for reason in reasons)
            continue
        dnc_rows += key in blocked
        contacts.append(
            ContactLine(
                line=line,
                number=check.number,
                name=cell("name"),
                language=language,
                district=cell("district") or None,
                fields={name: values[index] for index, name in columns.free},
            )
        )
    if not errors and not contacts:
        errors.append(RowError(0, "the file has no rows under its header"))
    if errors:
        return refused(errors)
    return ParsedList(sha256, tuple(contacts), (), dnc_rows)


def _row_reasons(values: list[str], columns: _Columns) -> list[str]:
    """What is wrong with a row's shape and text (its number and language are checked after)."""
    if len(values) != columns.count:
        return [f"{len(values)} values, the header has {columns.count} columns"]
    reasons = []
    for column, index in columns.known.items():
        value = values[index].strip(_SPACE)
        if len(value) > MAX_CHARS[column]:
            reasons.append(f"the {column} is longer than {MAX_CHARS[column]} characters ({len(value)})")
        elif bad := _bad_text(value, free=False):
            reasons.append(f"the {column} has {bad}")
    for index, name in columns.free:
        value = values[index]
        if len(value) > MAX_CHARS["field"]:
            reasons.append(f"the field {name!r} is longer than {MAX_CHARS['field']} characters ({len(value)})")
        elif bad := _bad_text(value, free=True):
            reasons.append(f"the field {name!r} has {bad}")
    for index in columns.unnamed:
        if values[index].strip(_SPACE):
            reasons.append(f"a value in column {index + 1}, which has no name in the header")
    return reasons
