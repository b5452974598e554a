"""Turn pydantic's validation errors into our InvalidInput."""

from __future__ import annotations

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
