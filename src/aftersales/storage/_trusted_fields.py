"""Each field's conversion from the JSON value a store wrote to the value validation gives
(see :mod:`aftersales.storage._trusted`, which generates a model's decoder from these).

A field holding a model converts with that model's decoder, which the decoders' module
registers here (:func:`register_models`): it imports this module, so this one cannot
import it back, and a model may hold itself (the decoder and its fields' conversions call
each other while one is generated).
"""

from __future__ import annotations

import inspect
import sys
import types
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, time, timezone
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import (
    AfterValidator,
    AllowInfNan,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    PlainSerializer,
    PlainValidator,
    Strict,
    WrapSerializer,
)
from pydantic.fields import FieldInfo
from pydantic.functional_serializers import SerializeAsAny
from pydantic_core import TzInfo

from aftersales.models._base import _to_utc

__all__ = [
    "Convert",
    "Surprise",
    "Unsupported",
    "field_convert",
    "instant",
    "parse_datetime",
    "register_models",
    "takes_info",
]

Convert = Callable[[Any], Any]
"""One field's conversion from its JSON value to the value validation gives."""


class Unsupported(Exception):
    """An annotation, validator or config the generator cannot reproduce: the model's
    decoder validates instead."""


class Surprise(Exception):
    """A row the generated code does not expect: the validator decides."""


_utc = timezone.utc
_fromisoformat = datetime.fromisoformat

if sys.version_info >= (3, 11):
    parse_datetime: Callable[[str], datetime] = _fromisoformat
else:  # 3.10's fromisoformat reads only what isoformat() writes: "+00:00", never "Z"

    def parse_datetime(text: str) -> datetime:
        if text[-1:] == "Z":
            text = text[:-1] + "+00:00"
        return _fromisoformat(text)


def instant(text: str) -> datetime:
    """An :data:`~aftersales.models._base.Instant` (AwareDatetime then ``_to_utc``) from the
    text pydantic writes: aware, in ``timezone.utc``. The year range was checked when the
    record was built."""
    value = parse_datetime(text)
    tz = value.tzinfo
    if tz is _utc:
        return value
    if tz is None:
        raise Surprise("naive datetime")
    return value.astimezone(_utc)


def _datetime(text: str) -> datetime:
    # What pydantic's parser gives a bare datetime: its own fixed-offset TzInfo.
    value = parse_datetime(text)
    offset = value.utcoffset()
    if offset is None:
        return value
    return value.replace(tzinfo=TzInfo(int(offset.total_seconds())))


def _aware_datetime(text: str) -> datetime:
    value = _datetime(text)
    if value.tzinfo is None:
        raise Surprise("naive datetime")
    return value


def _time(text: str) -> time:
    value = time.fromisoformat(text)
    if value.tzinfo is not None:  # pydantic's own TzInfo: not worth reproducing
        raise Surprise("time with an offset")
    return value


def _decimal(value: object) -> Decimal:
    # pydantic writes decimals as strings; a number is a row we did not write
    if type(value) is not str:
        raise Surprise("decimal not as text")
    return Decimal(value)


def _float(value: object) -> float:
    if type(value) is float:
        return value
    if type(value) is int:
        return float(value)
    raise Surprise("not a number")


_IDENTITY: frozenset[object] = frozenset({str, int, bool, Any, object, type(None)})
_SCALARS: frozenset[type] = frozenset({str, int, bool, float, type(None)})
_CHECK_ONLY_GENERAL = frozenset({"pattern", "allow_inf_nan", "max_digits", "decimal_places"})
_SERIALIZATION_ONLY = (PlainSerializer, WrapSerializer, SerializeAsAny)
_TYPES_WITH_PARSERS: dict[object, Convert] = {
    datetime: _datetime,
    AwareDatetime: _aware_datetime,
    date: date.fromisoformat,
    time: _time,
    Decimal: _decimal,
    float: _float,
}


def takes_info(function: Callable[..., Any]) -> bool:
    """Whether pydantic passes ``function`` a ValidationInfo: as pydantic decides, by the
    number of parameters (one or two)."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        raise Unsupported(f"cannot inspect {function!r}") from None
    positional = [
        p
        for p in parameters
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    if len(positional) not in (1, 2):
        raise Unsupported(f"{function!r} takes {len(positional)} arguments")
    return len(positional) == 2


def _check_only(metadata: object) -> bool:
    """Metadata that only accepts or refuses a value (lengths, bounds, patterns) or
    concerns serialization: nothing to reproduce for a value that was valid."""
    if isinstance(metadata, annotated_types.BaseMetadata | AllowInfNan | Strict):
        return True
    if isinstance(metadata, annotated_types.GroupedMetadata):  # StringConstraints may transform
        return all(_check_only(inner) for inner in metadata)
    if isinstance(metadata, _SERIALIZATION_ONLY):
        return True
    if type(metadata).__name__ == "_PydanticGeneralMetadata":
        return set(vars(metadata)) <= _CHECK_ONLY_GENERAL
    if isinstance(metadata, FieldInfo):
        return all(_check_only(inner) for inner in metadata.metadata) and not (
            metadata.discriminator or metadata.validation_alias or metadata.alias
        )
    return False


def _chain(functions: Sequence[Convert]) -> Convert | None:
    """One function applying ``functions`` in order (closures for the short chains: a
    loop costs more than the calls)."""
    if not functions:
        return None
    if len(functions) == 1:
        return functions[0]
    if len(functions) == 2:
        first, second = functions
        return lambda value: second(first(value))
    steps = tuple(functions)

    def run(value: Any) -> Any:
        for function in steps:
            value = function(value)
        return value

    return run


def _compose(
    befores: list[tuple[Callable[..., Any], bool]],
    base: Convert | None,
    afters: list[tuple[Callable[..., Any], bool]],
    *,
    with_info: bool,
) -> Callable[..., Any] | None:
    """The before-validators, the base conversion, the after-validators, in the order
    pydantic runs the schema they wrap: ``value -> value``, or ``(value, info) -> value``
    ``with_info``; None when nothing converts."""
    steps: list[tuple[Callable[..., Any], bool]] = [*befores]
    if base is not None:
        steps.append((base, False))
    steps.extend(afters)
    if not with_info:
        return _chain([function for function, _ in steps])
    chain = tuple(steps)

    def run(value: Any, info: Any) -> Any:
        for function, takes_info in chain:
            value = function(value, info) if takes_info else function(value)
        return value

    return run


def _validators(
    base: object, items: Sequence[tuple[str, Callable[..., Any]]], *, info_allowed: bool
) -> Callable[..., Any] | None:
    """The conversion of ``base`` wrapped by ``items`` (mode, function), innermost first.

    pydantic wraps each validator around the schema before it: so the before-validators
    run from the last to the first, then the type, then the after-validators from the
    first to the last; a plain validator replaces everything inside it."""
    plain = [i for i, (mode, _) in enumerate(items) if mode == "plain"]
    if plain:
        items = items[plain[-1] :]
    for mode, _ in items:
        if mode not in ("before", "after", "plain"):
            raise Unsupported(f"a {mode} validator")
    checked = [(mode, function, takes_info(function)) for mode, function in items]
    if not info_allowed and any(takes for _, _, takes in checked):
        raise Unsupported("an Annotated validator taking ValidationInfo")
    befores = [(f, takes) for mode, f, takes in reversed(checked) if mode != "after"]
    afters = [(f, takes) for mode, f, takes in checked if mode == "after"]
    convert: Convert | None
    if plain:
        convert = None
    elif (
        not befores
        and afters
        and afters[0][0] is _to_utc
        and _strip(base) in (AwareDatetime, datetime)
    ):
        # An Instant: _instant normalises to UTC as _to_utc would (its range check is what
        # the record passed when it was written).
        convert = instant
        afters = afters[1:]
    else:
        # after a before-validator, the type sees the Python value the function returned
        convert = _convert(base, after_function=bool(befores))
    return _compose(befores, convert, afters, with_info=info_allowed)


def _functional(metadata: object) -> tuple[str, Callable[..., Any]]:
    if isinstance(metadata, BeforeValidator):
        return "before", metadata.func
    if isinstance(metadata, AfterValidator):
        return "after", metadata.func
    if isinstance(metadata, PlainValidator):
        return "plain", metadata.func
    raise Unsupported(f"metadata {metadata!r}")


def _with_metadata(annotation: object, metadata: list[object]) -> Convert | None:
    """The conversion of ``Annotated[annotation, *metadata]``."""
    items = [_functional(m) for m in metadata if not _check_only(m)]
    if not items:
        return _convert(annotation)
    return _validators(annotation, items, info_allowed=False)


def _exact_types(choices: tuple[object, ...]) -> Convert:
    """A union of JSON's own types (``int | str``): smart mode keeps a value of one of
    them as it is; any other value is a row we did not write."""
    allowed = frozenset(choices)

    def keep(value: Any) -> Any:
        if type(value) not in allowed:
            raise Surprise(f"{type(value).__name__} in a union")
        return value

    return keep


def _strip(annotation: object) -> object:
    """``annotation`` without check-only Annotated metadata (so ``Identifier`` is ``str``)."""
    if get_origin(annotation) is Annotated:
        inner, *metadata = get_args(annotation)
        if all(_check_only(m) for m in metadata):
            return _strip(inner)
    return annotation


def _convert(annotation: object, *, after_function: bool = False) -> Convert | None:
    """The conversion of a JSON value to what validating it as ``annotation`` gives; None
    when there is nothing to convert. Unsupported for what it cannot reproduce."""
    origin = get_origin(annotation)
    if origin is Annotated:
        inner, *metadata = get_args(annotation)
        return _with_metadata(inner, metadata)
    if annotation in _IDENTITY:
        return None
    parse = _TYPES_WITH_PARSERS.get(annotation)
    if parse is not None:
        return parse
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        members: Mapping[object, Enum] = {m.value: m for m in annotation}
        if after_function:
            return lambda value: value if type(value) is annotation else members[value]
        return members.__getitem__
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _model(annotation)
    if origin is Literal:
        if all(type(choice) in (str, int, bool) for choice in get_args(annotation)):
            return None
        raise Unsupported(f"{annotation!r}")
    if origin is Union or origin is types.UnionType:
        return _union(get_args(annotation), after_function=after_function)
    if origin in (tuple, list, frozenset, set):
        return _collection(origin, get_args(annotation))
    if origin is dict:
        key, value = get_args(annotation)
        if _strip(key) is not str:
            raise Unsupported(f"dict keys of {key!r}")
        item = _convert(value)
        if item is None:
            return None
        return lambda mapping: {k: item(v) for k, v in mapping.items()}
    raise Unsupported(f"{annotation!r}")


def _union(choices: tuple[object, ...], *, after_function: bool) -> Convert | None:
    nullable = type(None) in choices
    others = tuple(c for c in choices if c is not type(None))
    if len(others) == 1:
        inner = _convert(others[0], after_function=after_function)
        if inner is None:
            return None
        return lambda value: None if value is None else inner(value)
    stripped = tuple(_strip(c) for c in others)
    allowed = (*stripped, type(None)) if nullable else stripped
    if all(c in _SCALARS for c in stripped):
        return _exact_types(allowed)  # JSON's own types tell these apart, as smart mode does
    if after_function and all(
        c in _SCALARS or (isinstance(c, type) and issubclass(c, Enum)) for c in stripped
    ):
        # The function gave a member (a Priority or a desk's own level) for this very
        # value when the record was written, and smart mode kept it as it was.
        return None
    raise Unsupported(f"a union of {choices!r}")


def _collection(origin: object, arguments: tuple[object, ...]) -> Convert | None:
    if origin is tuple:
        if len(arguments) != 2 or arguments[1] is not Ellipsis:
            raise Unsupported(f"tuple[{arguments!r}]")
    elif len(arguments) != 1:
        raise Unsupported(f"{origin!r}[{arguments!r}]")
    item = _convert(arguments[0])
    if origin is list:
        return None if item is None else (lambda values: [item(v) for v in values])
    make: Callable[[Any], Any] = (
        tuple if origin is tuple else frozenset if origin is frozenset else set
    )
    if item is None:
        return make
    return lambda values: make(map(item, values))


_models: list[Callable[[type[BaseModel]], Convert]] = []
"""The conversion of a field holding a model (its decoder's build), once registered."""


def register_models(conversion: Callable[[type[BaseModel]], Convert]) -> None:
    """Make ``conversion`` give the conversion of each field that holds a model."""
    _models[:] = [conversion]


def _model(cls: type[BaseModel]) -> Convert:
    if not _models:
        raise Unsupported(f"{cls.__name__}: no decoders of models registered")
    return _models[0](cls)


def field_convert(
    cls: type[BaseModel], name: str, field: FieldInfo
) -> tuple[Callable[..., Any] | None, bool, bool]:
    """The field's conversion; whether it takes ``(value, info)`` (a field_validator
    reading ValidationInfo) rather than the value alone; whether None is kept as is
    without calling it (an optional field: the generated code tests for None inline)."""
    if field.discriminator or field.validation_alias or field.alias:
        raise Unsupported(f"{cls.__name__}.{name}: an alias or a discriminator")
    if getattr(field, "default_factory_takes_data", False):
        raise Unsupported(f"{cls.__name__}.{name}: a default factory taking data")
    annotation: Any = field.annotation
    if field.metadata:
        parameters = (annotation, *field.metadata)
        annotation = Annotated[parameters]
    decorators = [
        (found.info.mode, found.func)
        for found in cls.__pydantic_decorators__.field_validators.values()
        if name in found.info.fields or "*" in found.info.fields
    ]
    if decorators:
        return _validators(annotation, decorators, info_allowed=True), True, False
    stripped = _strip(annotation)
    if get_origin(stripped) in (Union, types.UnionType):
        choices = get_args(stripped)
        others = [c for c in choices if c is not type(None)]
        if len(others) == 1 and len(choices) == 2:
            return _convert(others[0]), False, True
    return _convert(annotation), False, False
