"""Turn pydantic's validation errors into our InvalidInput."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from aftersales.exceptions import FieldError, InvalidInput

ModelT = TypeVar("ModelT", bound=BaseModel)


def invalid_input(subject: str, error: ValidationError) -> InvalidInput:
    """Translate a pydantic ``ValidationError`` into :class:`InvalidInput`."""
    return InvalidInput(
        subject,
        [
            FieldError(
                location=tuple(detail["loc"]),
                message=detail["msg"].removeprefix("Value error, "),
                kind=detail["type"],
            )
            for detail in error.errors(include_url=False)
        ],
    )


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
        return value.isoformat()
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


def fold(events: Sequence[Any], model: type[ModelT]) -> ModelT:
    """Moved to :func:`aftersales._pipeline.fold` (replay lives with the write path)."""
    from aftersales._pipeline import fold as replay

    return replay(events, model)
