"""The bases of the API's bodies and answers as pydantic models, shared by the console and the features.

Request bodies are strict (a number is not a text, ``true`` is not a count) and refuse unknown
fields. :func:`parse` turns a refusal into one clear message naming the field; each body may give
its own message per field (``messages``), which the API has always answered with. Answers are
checked against their model on the way out (:func:`dump`), so the OpenAPI document generated from
these models says what the API really sends.
"""

from __future__ import annotations

import functools
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError


class BodyError(ValueError):
    """A body that does not fit its model; the message names the field."""


def _printable(value: str) -> str:
    if not value.isprintable():
        raise ValueError("must be printable")
    return value


Text64 = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64), AfterValidator(_printable)
]
Id = Annotated[str, Field(min_length=1, max_length=64)]
Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
Number = int | float


class Body(BaseModel):
    """A request body: strict, frozen, no unknown fields."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    #: The message for a field that does not fit (else pydantic's own, after the field's name).
    messages: ClassVar[dict[str, str]] = {}


B = TypeVar("B", bound=Body)


def parse(model: type[B], data: Any) -> B:
    """``data`` as ``model``, or a :class:`BodyError` naming the first field that does not fit."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else ""
        if first["type"] == "extra_forbidden":
            known = ", ".join(model.model_fields)
            raise BodyError(f"unknown field {field!r} (known: {known})") from None
        message = model.messages.get(field)
        if message is None:
            message = f"{field} is required" if first["type"] == "missing" else f"{field}: {first['msg']}"
        raise BodyError(message) from None


class Answer(BaseModel):
    """An answer: no field beyond the model's."""

    model_config = ConfigDict(extra="forbid")


class Error(Answer):
    error: str  # every refusal is {"error": message} (no docstring: it would be the schema's description)


@functools.cache
def _adapter(shape: Any) -> TypeAdapter[Any]:
    return TypeAdapter(shape)


def dump(shape: Any, data: Any) -> Any:
    """``data`` checked against ``shape`` (a model, or e.g. ``list[Model]``), as JSON-ready values."""
    return _adapter(shape).dump_python(_adapter(shape).validate_python(data), mode="json")
