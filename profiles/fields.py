"""The field types of the profile, and how pydantic's errors become ``file: path: message`` lines.

Each type says what a value must be and how it is told when it is not: ``Key`` is "a single
digit", ``Clock`` "a time of day HH:MM". References to other parts of the profile (a topic id, a
language code) are checked against the ids the loader found in the raw document, passed as the
validation context, so every problem is reported in one run. Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
import re
import types
from collections.abc import Callable, Iterable, Sequence
from datetime import time
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import AfterValidator, BeforeValidator, Field, Strict, StrictInt, ValidationError, ValidationInfo
from pydantic.fields import FieldInfo

__all__ = [
    "RESERVED_PERSON_IDS",
    "Clock",
    "ClosingClock",
    "Fraction",
    "Id",
    "Key",
    "Level",
    "Loc",
    "PersonId",
    "ProfileError",
    "Regex",
    "Text",
    "between",
    "format_path",
    "kind",
    "matching",
    "one_of",
    "problems_from",
    "reference",
    "sort_by_document",
]

Loc = tuple[str | int, ...]


class ProfileError(ValueError):
    """A profile that cannot be used. ``str()`` gives ``file: path: message`` for each problem."""

    def __init__(self, source: str, problems: list[tuple[str, str]]):
        self.source = source
        self.problems = problems
        super().__init__("\n".join(f"{source}: {path}: {message}" for path, message in problems))


def kind(value: Any) -> str:
    if value is None:
        return "nothing"
    return type(value).__name__


def _number_as_text(value: Any) -> Any:
    """YAML reads ``key: 1`` and ``number: 151`` as integers: take them as the text they look like."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _non_empty(value: str) -> str:
    if not value.strip():
        raise ValueError("must be a non-empty string")
    return value


#: A non-empty string (an unquoted YAML number counts as its text).
Text = Annotated[str, BeforeValidator(_number_as_text), Strict(), AfterValidator(_non_empty)]


def matching(pattern: str, what: str) -> AfterValidator:
    """The whole value must match ``pattern`` (``re.fullmatch``: no trailing newline slips through)."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"{value!r} is not {what}")
        return value

    return AfterValidator(check)


def one_of(values: Sequence[str], what: str = "") -> AfterValidator:
    """The value must be one of ``values``."""

    def check(value: str) -> str:
        if value not in values:
            raise ValueError(f"{value!r} is not {what or 'one of ' + ', '.join(values)}")
        return value

    return AfterValidator(check)


def between(low: int, high: int) -> FieldInfo:
    """The bounds of an integer: ``Annotated[StrictInt, between(1, 5)]`` is an integer from 1 to 5 (YAML integers
    only, by StrictInt: not ``"5"``, not ``true``). Metadata rather than a type, so type checkers see the int."""
    return Field(ge=low, le=high)


Key = Annotated[Text, matching(r"[0-9]", "a single digit")]
Id = Annotated[Text, matching(r"[a-z][a-z0-9_]{0,23}", "an id (lower case letters, digits, _)")]
Level = Annotated[StrictInt, between(1, 5)]
#: A share: a number above 0 and at most 1.
Fraction = Annotated[float, Strict(), Field(gt=0, le=1)]


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"is not a regular expression: {exc}") from None
    return value


Regex = Annotated[Text, AfterValidator(_regex)]


def _clock(allow_24: bool) -> Callable[[Any], time | None]:
    def parse(value: Any) -> time | None:
        if isinstance(value, time):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            # YAML 1.1 reads an unquoted 23:00 as the number 1380 (base 60)
            raise ValueError(f'{value} is not a time of day HH:MM (quote times: "23:00")')
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"must be a time of day HH:MM, got {kind(value)}")
        if allow_24 and value == "24:00":
            return None
        try:
            return time.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a time of day HH:MM") from None

    return parse


#: A time of day, "HH:MM".
Clock = Annotated[time, BeforeValidator(_clock(allow_24=False))]
#: A closing time: "24:00" (midnight at the end of the day) reads as None.
ClosingClock = Annotated[time | None, BeforeValidator(_clock(allow_24=True))]


def reference(context_key: str, what: str) -> AfterValidator:
    """The value must be one of the ids in ``context[context_key]`` (found by the loader in the raw
    document). Without a context (an object built in code), anything goes."""

    def check(value: Any, info: ValidationInfo) -> Any:
        known = (info.context or {}).get(context_key)
        if known is not None and value not in known:
            listed = f" ({', '.join(known)})" if 0 < len(known) <= 12 else " (none defined)" if not known else ""
            raise ValueError(f"{value!r} is not {what}{listed}")
        return value

    return AfterValidator(check)


#: Person ids become pjsip section names: these are Asterisk's or ours (telephony/templates/asterisk/pjsip.conf.j2).
RESERVED_PERSON_IDS = frozenset(
    {"global", "system", "trunk", "anonymous", "transport-udp", "transport-tcp", "transport-tls"}
)
#: ... and so are every name with these prefixes, for the trunk's and the transports' sections to come.
RESERVED_PERSON_PREFIXES = ("trunk-", "transport-")


def _person_id(value: str) -> str:
    if value in RESERVED_PERSON_IDS or value.startswith(RESERVED_PERSON_PREFIXES):
        raise ValueError(
            f"{value!r} is the name of an Asterisk SIP section (reserved: {', '.join(sorted(RESERVED_PERSON_IDS))}, "
            f"{', '.join(p + '…' for p in RESERVED_PERSON_PREFIXES)}); choose another id"
        )
    return value


PersonId = Annotated[
    Text, matching(r"[a-z][a-z0-9-]{0,39}", "an id (lower case letters, digits, -)"), AfterValidator(_person_id)
]


# -- errors -------------------------------------------------------------------------------------


def format_path(loc: Iterable[str | int]) -> str:
    """``('topics', 1, 'specialties', 0, 'key')`` -> ``topics[1].specialties[0].key``."""
    text = ""
    for step in loc:
        if isinstance(step, int):
            text += f"[{step}]"
        else:
            text += f".{step}" if text else str(step)
    return text or "(top)"


def _unwrap(tp: Any) -> Any:
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            tp = next(arg for arg in get_args(tp) if arg is not type(None))
        else:
            return tp


def _fields_of(tp: Any) -> dict[str, Any] | None:
    fields = getattr(tp, "__pydantic_fields__", None)
    if fields is None:
        return None
    return {name: info.annotation if not info.metadata else Annotated[(info.annotation, *info.metadata)]
            for name, info in fields.items()}  # fmt: skip


def type_at(root: Any, loc: Sequence[str | int]) -> Any:
    """The declared type at ``loc`` under ``root`` (a pydantic dataclass or model), or None."""
    tp = _unwrap(root)
    for step in loc:
        fields = _fields_of(tp)
        if fields is not None:
            if step not in fields:
                return None
            tp = _unwrap(fields[step])
            continue
        origin, args = get_origin(tp), get_args(tp)
        if origin in (list, tuple) and args:
            tp = _unwrap(args[0])
        elif origin is dict and args:
            tp = _unwrap(args[1])
        else:
            return None
    return tp


def known_fields(root: Any, loc: Sequence[str | int]) -> list[str]:
    tp = type_at(root, loc)
    if tp is None or not dataclasses.is_dataclass(tp):
        return []
    return [f.name for f in dataclasses.fields(tp)]


def _message(error: Any, root: Any, loc: Loc) -> str:
    kind_ = error["type"]
    ctx = error.get("ctx") or {}
    value = error.get("input")
    if kind_ == "value_error":
        return str(ctx.get("error", error["msg"]))
    if kind_ in ("missing", "missing_argument"):
        return "is missing"
    if kind_ in ("unexpected_keyword_argument", "extra_forbidden"):
        known = known_fields(root, loc[:-1])
        return "unknown field" + (f" (known: {', '.join(sorted(known))})" if known else "")
    if kind_ in ("int_type", "int_parsing", "int_from_float"):
        return f"must be an integer, got {_show(value)}"
    if kind_ in ("float_type", "float_parsing"):
        return f"must be a number, got {_show(value)}"
    if kind_ in ("bool_type", "bool_parsing"):
        return f"must be true or false, got {_show(value)}"
    if kind_ == "string_type":
        return f"must be a non-empty string, got {kind(value)}"
    if kind_ in ("dict_type", "dataclass_type", "dataclass_args_type", "model_type", "model_attributes_type"):
        return f"must be a mapping, got {kind(value)}"
    if kind_ in ("list_type", "tuple_type"):
        return f"must be a list, got {kind(value)}"
    if kind_ == "too_short":
        return "must not be empty"
    if kind_ == "greater_than_equal":
        return f"must be at least {ctx['ge']}, got {value}"
    if kind_ == "less_than_equal":
        return f"must be at most {ctx['le']}, got {value}"
    if kind_ == "greater_than":
        return f"must be above {ctx['gt']}, got {value}"
    return str(error["msg"])


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, (str, int, float, bool)) else kind(value)


def problems_from(exc: ValidationError, root: Any, prefix: Loc = ()) -> list[tuple[Loc, str]]:
    """pydantic's errors as (location, message), in pydantic's order. ``root``: the validated type."""
    result = []
    for error in exc.errors(include_url=False):
        loc = tuple(step for step in error["loc"] if step != "[key]")
        result.append(((*prefix, *loc), _message(error, root, loc)))
    return result


def sort_by_document(problems: list[tuple[Loc, str]], document: Any) -> list[tuple[Loc, str]]:
    """The problems in the order their places appear in the document (the YAML's own key order;
    a missing key after the present ones). Ties keep their order."""

    def position(loc: Loc) -> tuple[int, ...]:
        node, key = document, []
        for step in loc:
            if isinstance(node, dict):
                keys = list(node)
                key.append(keys.index(step) if step in node else len(keys))
                node = node.get(step)
            elif isinstance(node, list) and isinstance(step, int):
                key.append(step)
                node = node[step] if 0 <= step < len(node) else None
            else:
                break
        return tuple(key)

    return sorted(problems, key=lambda problem: position(problem[0]))
