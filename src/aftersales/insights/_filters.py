"""The filter fields the insight queries share: one value, or one to a hundred of them
(a ticket, case or entry passes with any), or None for no filter."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from aftersales.models import Channel, PriorityLevel
from aftersales.models._base import Identifier, ShortText

__all__ = [
    "MAX_FILTER_VALUES",
    "CategoryFilter",
    "ChannelFilter",
    "IdentifierFilter",
    "PriorityFilter",
    "one_or_many",
]

MAX_FILTER_VALUES = 100


def one_or_many(value: Any) -> Any:
    """A filter given as one value means a tuple of that value."""
    if isinstance(value, (str, Channel)):
        return (value,)
    return value


_SOME = Field(min_length=1, max_length=MAX_FILTER_VALUES)
ChannelFilter = Annotated[
    Annotated[tuple[Channel, ...], _SOME] | None, BeforeValidator(one_or_many)
]
CategoryFilter = Annotated[
    Annotated[tuple[ShortText, ...], _SOME] | None, BeforeValidator(one_or_many)
]
PriorityFilter = Annotated[
    Annotated[tuple[PriorityLevel, ...], _SOME] | None, BeforeValidator(one_or_many)
]
IdentifierFilter = Annotated[
    Annotated[tuple[Identifier, ...], _SOME] | None, BeforeValidator(one_or_many)
]
"""Teams, SKUs, agents: identifiers."""
