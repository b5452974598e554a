"""Turn pydantic's validation errors into our InvalidInput."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any, ParamSpec, TypeVar

from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from aftersales._utc_text import iso_text
from aftersales.exceptions import FieldError, InvalidInput

ModelT = TypeVar("ModelT", bound=BaseModel)


def invalid_input(subject: str, error: ValidationError) -> InvalidInput:
    """Translate a pydantic ``ValidationError`` into :class:`InvalidInput`."""
    return InvalidInput(
        subject,
        [
            FieldError(
                location=tuple(detail["loc"]) or (subject,),
                message=_message(detail),
                kind=detail["type"],
            )
            for detail in error.errors(include_url=False)
        ],
    )


def _message(detail: Any) -> str:
    if detail["type"] == "string_pattern_mismatch":
        pattern = detail.get("ctx", {}).get("pattern")
        if pattern in _PATTERN_MESSAGES:
            return _PATTERN_MESSAGES[pattern]
    return str(detail["msg"]).removeprefix("Value error, ")


def parse(model: type[ModelT], data: Any, subject: str | None = None) -> ModelT:
    """Validate ``data`` (a mapping or an instance) as ``model`` or raise InvalidInput."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise invalid_input(subject or model.__name__, error) from None


def json_value(value: Any) -> Any:
    """A field value as JSON data, the way pydantic would dump it."""
    kind = type(value)
    if kind is str or kind is int or value is None or kind is bool or kind is float:
        return value
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return iso_text(value)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, (tuple, list)):
        return [json_value(item) for item in value]
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot record {kind.__name__} in an event")  # pragma: no cover


def json_changes(updates: Mapping[str, Any]) -> dict[str, Any]:
    return {name: json_value(value) for name, value in updates.items()}


def recorded_payload(
    parsed: BaseModel, given: bool, empties: dict[Any, dict[str, Any]], key: Any
) -> dict[str, Any]:
    """What an event records of a validated payload: its fields without the Nones. An empty
    payload's defaults are dumped once per ``key`` (a trigger) and copied after that."""
    if given:
        return parsed.model_dump(mode="json", exclude_none=True)
    empty = empties.get(key)
    if empty is None:
        empty = empties[key] = parsed.model_dump(mode="json", exclude_none=True)
    return dict(empty)


MAX_LIMIT = 1_000_000
"""The largest ``limit`` a desk method takes."""

NO_CONTROL_CHARACTERS = r"^[^\x00-\x1f\x7f]+$"
"""The pattern of an identifier: no control characters (NUL included)."""
NO_NUL = r"^[^\x00]*$"
"""The pattern of free text: anything but NUL."""

_PATTERN_MESSAGES = {
    NO_CONTROL_CHARACTERS: "must not contain control characters (such as NUL, tab or newline)",
    NO_NUL: "must not contain a NUL character",
}

_TEXT_VALIDATORS: dict[int, Any] = {}


ACTING: ContextVar[Any] = ContextVar("aftersales_acting", default=None)
"""The principal object passed as the ``actor`` of the desk call running in this context
(thread or task), set by :func:`acting` for the length of the call: the permission check
takes its roles for events of that actor id, so a caller may pass a
:class:`~aftersales.security.Principal` instead of registering it."""

P = ParamSpec("P")
R = TypeVar("R")


def acting(method: Callable[P, R]) -> Callable[P, R]:
    """Run a desk method with :data:`ACTING` set to the principal passed as ``actor=``
    (None for an id, unless the call runs inside one by the principal of that id), and
    reset when it returns or raises: roles never outlive the call that brought them."""

    current_principal = ACTING.get

    @functools.wraps(method)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        actor = kwargs.get("actor")
        if actor is None or type(actor) is str:
            current = current_principal()
            if current is None:
                return method(*args, **kwargs)  # the common case: nothing to set or reset
            given = current if current.id == actor else None
        else:
            given = actor
        token = ACTING.set(given)
        try:
            return method(*args, **kwargs)
        finally:
            ACTING.reset(token)

    return call


def check_text(name: str, value: object, max_length: int = 128) -> str:
    """``value`` if it is an identifier (or, with ``max_length`` 200, a short text): a str
    of valid Unicode without control characters. Otherwise InvalidInput. An ``actor``
    may be a principal (an object with an ``id`` and ``roles``): its id, and it is kept
    in :data:`ACTING`."""
    if type(value) is str and 0 < len(value) <= max_length and value.isprintable():
        return value  # the common case, without pydantic
    if name == "actor" and hasattr(value, "roles") and isinstance(getattr(value, "id", None), str):
        return check_text(name, value.id, max_length)  # type: ignore[attr-defined]
    if isinstance(value, str) and 0 < len(value) <= max_length:
        validate = _TEXT_VALIDATORS.get(max_length)
        if validate is None:
            pattern = NO_CONTROL_CHARACTERS if max_length <= 128 else NO_NUL
            kind = Annotated[str, Field(pattern=pattern)]
            validate = _TEXT_VALIDATORS[max_length] = TypeAdapter(kind).validate_python
        try:
            validate(value)
        except ValidationError as error:
            raise invalid_input(name, error) from None
        return value
    raise InvalidInput(
        name, [FieldError((name,), f"must be a string of 1 to {max_length} characters")]
    )


def check_count(name: str, value: object, maximum: int = MAX_LIMIT) -> int:
    """``value`` if it is an int (not a bool) from 1 to ``maximum``; otherwise InvalidInput."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise InvalidInput(name, [FieldError((name,), f"must be an int from 1 to {maximum:,}")])
    return value


def unknown(
    where: str | tuple[str | int, ...],
    names: Iterable[object],
    known: Iterable[str],
    noun: str | None = None,
) -> FieldError:
    """The error for ``names`` that are not among ``known``, naming the known ones."""
    location = (where,) if isinstance(where, str) else where
    shown = ", ".join(repr(n.value if isinstance(n, Enum) else n) for n in names)
    return FieldError(
        location, f"unknown {noun or location[-1]} {shown}; known: {', '.join(known)}"
    )
