"""The base of every pydantic record that crosses the library's boundary."""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
)
from typing_extensions import Self

from aftersales._validation import NO_CONTROL_CHARACTERS, NO_NUL, invalid_input
from aftersales.exceptions import FieldError, InvalidInput

MIN_YEAR = 1900
"""The first year an :data:`Instant` may fall in."""
MAX_YEAR = 2200
"""The last year an :data:`Instant` may fall in. Windows, warranties and SLA targets
counted from an instant in range stay far from the ends of Python's calendar (years 1 and
9999), where date arithmetic overflows."""


_UTC = timezone.utc


def _to_utc(value: datetime) -> datetime:
    # Checked before converting (near year 1 or 9999 the conversion itself overflows) and
    # after (2200-12-31T23:00-05:00 is in 2201 in UTC).
    if MIN_YEAR <= value.year <= MAX_YEAR:
        if value.tzinfo is _UTC and type(value) is datetime:
            # what astimezone returns for it (itself), without its offset arithmetic:
            # most instants are made in UTC (imports give several a record)
            return value
        utc = value.astimezone(timezone.utc)
        if MIN_YEAR <= utc.year <= MAX_YEAR:
            return utc
    raise ValueError(f"must fall in the years {MIN_YEAR} to {MAX_YEAR} (UTC)")


Instant = Annotated[AwareDatetime, AfterValidator(_to_utc)]
"""A timezone-aware datetime in the years 1900-2200, normalised to UTC. A naive datetime
is rejected."""

_INSTANT = TypeAdapter(Instant)


def parse_instant(name: str, value: datetime) -> datetime:
    """``value`` as an :data:`Instant` (aware, 1900-2200, UTC) or InvalidInput on ``name``."""
    try:
        return _INSTANT.validate_python(value)
    except ValidationError as error:
        problem = error.errors(include_url=False)[0]
        message = problem["msg"].removeprefix("Value error, ")
        raise InvalidInput(name, [FieldError((name,), message, problem["type"])]) from None


Text = Annotated[str, Field(min_length=1, max_length=10_000, pattern=NO_NUL)]
"""Free text: valid Unicode (no lone surrogates), no NUL byte, up to 10,000 characters."""
ShortText = Annotated[str, Field(min_length=1, max_length=200, pattern=NO_NUL)]
"""Free text of up to 200 characters, as :data:`Text`."""
Identifier = Annotated[str, Field(min_length=1, max_length=128, pattern=NO_CONTROL_CHARACTERS)]
"""An id, a name or an address: 1 to 128 characters of valid Unicode, no control characters.

Every store keeps it exactly as given and compares it exactly (case, accents, spaces)."""


def new_id() -> str:
    """A fresh identifier: 32 hex characters, the microseconds since the epoch and then 72
    random bits, as UUIDv7 lays them out.

    Ids made one after another sort next to each other, so a store's primary keys and its
    event log grow at their ends instead of splitting pages at random places: fewer pages
    written per transition and per checkpoint. The price is that an id shows when its
    record was made, as ``created_at`` does anyway.
    """
    return f"{time.time_ns() // 1000:014x}{os.urandom(9).hex()}"


class Record(BaseModel):
    """Immutable, validated record. Invalid data raises :class:`~aftersales.InvalidInput`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as error:
            raise invalid_input(type(self).__name__, error) from None

    # Only translates errors: tell pydantic not to call it from inside validation.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    @classmethod
    def model_validate(cls, obj: Any, *args: Any, **kwargs: Any) -> Self:
        try:
            return super().model_validate(obj, *args, **kwargs)
        except ValidationError as error:
            raise invalid_input(cls.__name__, error) from None

    @classmethod
    def model_validate_json(
        cls, json_data: str | bytes | bytearray, *args: Any, **kwargs: Any
    ) -> Self:
        try:
            return super().model_validate_json(json_data, *args, **kwargs)
        except ValidationError as error:
            raise invalid_input(cls.__name__, error) from None


RecordT = TypeVar("RecordT", bound=BaseModel)
_FIELD_SETS: dict[type[BaseModel], set[str]] = {}


def _all_fields(cls: type[BaseModel]) -> set[str]:
    fields = _FIELD_SETS.get(cls)
    if fields is None:
        fields = _FIELD_SETS[cls] = set(cls.model_fields)
    return fields


def trusted(cls: type[RecordT], values: dict[str, Any]) -> RecordT:
    """Build ``cls`` from values that are already valid (every field given), skipping validation.

    For hot paths that assemble records from validated parts; what ``model_construct`` does,
    without its per-field loop.
    """
    record = _new(cls)
    _set_dict(record, values)
    # Shared safely: pydantic copies the set before changing it (model_copy, __copy__).
    fields = _FIELD_SETS.get(cls)
    _set_fields_set(record, _all_fields(cls) if fields is None else fields)
    _set_extra(record, None)
    _set_private(record, None)
    return record


_new = object.__new__
# The slots' own setters, called directly: ``object.__setattr__`` looks the name up in the
# type and walks its bases (the check that no C-level __setattr__ is skipped) on every
# call, about 1,150 instructions, the setter 700; a record built here sets four of them.
_set_dict = BaseModel.__dict__["__dict__"].__set__
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__
