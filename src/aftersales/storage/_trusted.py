"""Records read back from the JSON a store wrote, without validating it again.

What a store writes was validated when its record was built, so reading it back needs only
the conversions validation would make: text to datetimes, values to enum members, lists
to tuples, objects to nested records. :func:`decoder` derives those, once per model, from
its fields' annotations and generates one function that applies them in place
(pydantic-core's JSON parser, then a few dict stores, instead of the whole validator). The
model's own validators that may change a value run as pydantic would run them (a field's
``BeforeValidator``, ``field_validator``\\ s, ``model_validator(mode="after")``), so the
record is the one ``model_validate_json`` gives: equal, with the same field types and the
same ``model_fields_set``.

Whatever the generator does not understand (an annotation, a validator mode, a config
option that changes values) makes that model's decoder ``model_validate_json`` itself,
and so does any surprise in a row (a key the model does not have, a missing required
field, an unknown enum value, an unparsable datetime): the validator then answers, with
its own error for a row that is really invalid. A value that needs no conversion (a str,
an int) is taken as it is, unchecked: that is the point.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from datetime import timezone
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, TypeAdapter, create_model
from pydantic.fields import FieldInfo
from pydantic_core import from_json

from aftersales.models import Case, Customer, Event, Message, Ticket
from aftersales.models._base import Record, trusted
from aftersales.models.case import CaseLine
from aftersales.storage._trusted_fields import (
    Convert,
    Surprise,
    Unsupported,
    field_convert,
    instant,
    parse_datetime,
    register_models,
    takes_info,
)

__all__ = [
    "Decoder",
    "Unsupported",
    "decoder",
    "read_case",
    "read_customer",
    "read_event",
    "read_message",
    "read_ticket",
]

ModelT = TypeVar("ModelT", bound=BaseModel)
_utc = timezone.utc


class _Info:
    """What a validator taking ValidationInfo reads: the fields validated before it."""

    __slots__ = ("config", "data", "field_name")
    mode = "json"
    context = None

    def __init__(self, data: dict[str, Any], field_name: str | None, config: Any) -> None:
        self.data = data
        self.field_name = field_name
        self.config = config


_DENIED_CONFIG = (
    "str_strip_whitespace",
    "str_to_lower",
    "str_to_upper",
    "use_enum_values",
    "coerce_numbers_to_str",
    "validate_default",
    "alias_generator",
    "validate_by_alias",
)


def _check_model(cls: type[BaseModel]) -> None:
    config = cls.model_config
    if config.get("extra") == "allow":
        raise Unsupported("extra='allow'")
    for option in _DENIED_CONFIG:
        if config.get(option):
            raise Unsupported(f"config {option}")
    if getattr(cls, "__pydantic_root_model__", False):
        raise Unsupported("a root model")
    if cls.__pydantic_post_init__ is not None or cls.__private_attributes__:
        raise Unsupported("model_post_init or private attributes")
    decorators = cls.__pydantic_decorators__
    if decorators.validators or decorators.root_validators:
        raise Unsupported("pydantic v1 validators")
    for found in decorators.model_validators.values():
        if found.info.mode != "after":
            raise Unsupported(f"a model validator in mode {found.info.mode}")


class Decoder(Generic[ModelT]):
    """The records of one model from the JSON a store wrote (see the module's doc).

    Calling it with the JSON text gives the record; :meth:`build` takes JSON already
    parsed. ``supported`` says whether generated code builds the records; if not, calling
    it is ``model_validate_json`` and ``reason`` says why."""

    def __init__(self, cls: type[ModelT]) -> None:
        self.cls = cls
        self.reason: str | None = None
        self._build: Callable[[dict[str, Any]], ModelT] | None = None

    @property
    def supported(self) -> bool:
        """Whether records are built by the generated code rather than validated."""
        return self._build is not None

    def __call__(self, data: str | bytes) -> ModelT:
        build = self._build
        if build is not None:
            try:
                return build(_loads(data))
            except Exception:  # noqa: BLE001 - the validator below answers, error included
                pass
        return self.cls.model_validate_json(data)

    def build(self, value: Any) -> ModelT:
        """The record of parsed JSON by the generated code alone: raises where calling
        the decoder would fall back to the validator (for nested records and tests)."""
        build = self._build
        if build is None:
            raise Unsupported(f"{self.cls.__name__}: {self.reason}")
        return build(value)

    from_value = build
    """A nested record: built from a parsed object; an instance that a before-validator
    returned is kept, as validation keeps it."""


_loads = from_json
"""The parser: pydantic-core's own (what ``model_validate_json`` parses with), several
times faster than ``json.loads`` on text with Chinese in it (see benchmarks/bench_rows.py)."""
_DECODERS: dict[type[BaseModel], Decoder[Any]] = {}


def decoder(cls: type[ModelT]) -> Decoder[ModelT]:
    """The decoder of ``cls``, generated on first use and kept."""
    found = _DECODERS.get(cls)
    if found is not None:
        return found
    made: Decoder[ModelT] = Decoder(cls)
    _DECODERS[cls] = made  # before generating: a model may contain itself
    try:
        made._build = _generate(cls)
    except Unsupported as error:
        made.reason = str(error)
    return made


def _nested(cls: type[BaseModel]) -> Convert:
    made = decoder(cls)
    if made.reason is not None:
        raise Unsupported(f"{cls.__name__}: {made.reason}")
    # the generated function itself, one call less, unless it is still being generated
    # (a model containing itself)
    return made.from_value if made._build is None else made._build


register_models(_nested)


def _not_a_dict(cls: type[ModelT]) -> Callable[[Any], ModelT]:
    def keep_instance(value: Any) -> ModelT:
        # an instance a before-validator returned is kept, as validation keeps it
        if isinstance(value, cls):
            return value
        raise Surprise(f"{type(value).__name__} for {cls.__name__}")

    return keep_instance


def _inline(convert: Callable[..., Any], index: int, namespace: dict[str, Any]) -> str | None:
    """An expression of ``t`` (the JSON value) doing what ``convert`` does, without the
    call, for the commonest conversions: an Instant, an enum member."""
    if convert is instant:
        namespace["parse"] = parse_datetime
        namespace["utc"] = _utc
        namespace["instant"] = instant
        return "v if (v := parse(t)).tzinfo is utc else instant(t)"
    members = getattr(convert, "__self__", None)
    if type(members) is dict and getattr(convert, "__name__", None) == "__getitem__":
        namespace[f"members_{index}"] = members
        return f"members_{index}[t]"
    return None


def _fresh_default(field: FieldInfo, index: int, namespace: dict[str, Any]) -> str | None:
    """An expression of the default a record gets for each row without the field, or
    None when that is the field's default itself: pydantic-core puts a hashable default in
    as it is and copies only an unhashable one (or calls the factory)."""
    if field.default_factory is None:
        try:
            hash(field.default)
        except TypeError:
            pass
        else:
            return None
    namespace[f"f_{index}"] = field
    return f"f_{index}.get_default(call_default_factory=True)"


_SLOTS: dict[str, Any] = {
    f"set{name}": vars(BaseModel)[name].__set__
    for name in (
        "__dict__",
        "__pydantic_fields_set__",
        "__pydantic_extra__",
        "__pydantic_private__",
    )
}
"""Setters of a record's slots, by BaseModel's own descriptors: what object.__setattr__
ends up calling, without its lookup of the name and its check of the type."""


def _conversion(
    cls: type[BaseModel], name: str, field: FieldInfo, index: int, namespace: dict[str, Any]
) -> Callable[[str, str], str] | None:
    """The statement converting the field's JSON value in place, of the dict's name and
    the key's expression; None when there is nothing to convert."""
    convert, takes_info, nullable = field_convert(cls, name, field)
    if convert is None:
        return None
    namespace[f"c_{index}"] = convert
    inline = _inline(convert, index, namespace)
    if takes_info:
        namespace[f"e_{index}"] = tuple(cls.model_fields)[:index]
        return lambda d, k: (
            f"{d}[{k}] = c_{index}({d}[{k}], "
            f"Info({{n: {d}[n] for n in e_{index}}}, {name!r}, config))"
        )
    if inline is not None:
        if nullable:
            return lambda d, k: f"if (t := {d}[{k}]) is not None: {d}[{k}] = {inline}"
        return lambda d, k: f"t = {d}[{k}]; {d}[{k}] = {inline}"
    if nullable:
        return lambda d, k: f"if (v := {d}[{k}]) is not None: {d}[{k}] = c_{index}(v)"
    return lambda d, k: f"{d}[{k}] = c_{index}({d}[{k}])"


def _generate(cls: type[ModelT]) -> Callable[[dict[str, Any]], ModelT]:
    """One function per model, from source: a fast path for a row holding every field in
    field order (what the stores write by default) that converts in place, and a path
    that fills defaults in field order for a row without some (``exclude_none`` rows,
    rows older than a field)."""
    _check_model(cls)
    fields = cls.model_fields
    names = tuple(fields)
    namespace: dict[str, Any] = {
        "cls": cls,
        # the parser's own cached key strings where it keeps them: the order check then
        # compares pointers (any other str of the same text compares equal all the same)
        "NAMES": list(from_json(json.dumps(dict.fromkeys(names)))),
        "COUNT": len(names),
        "FIELDS": names,
        "KNOWN": frozenset(names),
        "ALL": set(names),
        "new": object.__new__,
        **_SLOTS,
        "Surprise": Surprise,
        "Info": _Info,
        "config": cls.model_config,
        "forbid": cls.model_config.get("extra") == "forbid",
        "not_a_dict": _not_a_dict(cls),
    }
    fast: list[str] = []
    slow: list[str] = []
    # each field's default in field order (None where the row must give the value or a
    # record gets its own), which a row's values then replace
    template: dict[str, Any] = {}
    required: list[str] = []
    for index, (name, field) in enumerate(fields.items()):
        key = repr(name)
        # the parser's key object: a lookup by it matches by identity, where one by the
        # name in this code compares the texts
        parsed = f"k_{index}"
        namespace[parsed] = namespace["NAMES"][index]
        template[name] = None
        if field.is_required():
            required.append(name)
        else:
            default = _fresh_default(field, index, namespace)
            if default is None:
                template[name] = field.default
            else:
                slow.append(f"    if {parsed} not in d: o[{key}] = {default}")
        conversion = _conversion(cls, name, field, index, namespace)
        if conversion is None:
            continue
        fast.append(f"    {conversion('d', parsed)}")
        if field.is_required():
            slow.append(f"    {conversion('o', key)}")
        else:  # only a value from the row: a default is the value validation gives
            slow.append(f"    if {parsed} in d:")
            slow.append(f"        {conversion('o', key)}")
    namespace["TEMPLATE"] = template
    namespace["REQUIRED"] = frozenset(required)
    finish = [
        "    r = new(cls)",
        "    set__dict__(r, values)",
        "    set__pydantic_fields_set__(r, fields_set)",
        "    set__pydantic_extra__(r, None)",
        "    set__pydantic_private__(r, None)",
    ]
    for index, found in enumerate(cls.__pydantic_decorators__.model_validators.values()):
        namespace[f"m_{index}"] = found.func
        info = ", Info(values, None, config)" if takes_info(found.func) else ""
        finish.append(f"    r = m_{index}(r{info})")
    finish.append("    return r")
    source = "\n".join(
        [
            "def build(d):",
            "    if type(d) is not dict: return not_a_dict(d)",
            "    if list(d) != NAMES: return rebuild(d)",
            *fast,
            "    values = d",
            "    fields_set = ALL",
            *finish,
            "",
            # a row without some fields (exclude_none, older than a field) or with others:
            # the defaults in field order, the row's values over them, then converted
            "def rebuild(d):",
            "    if not d.keys() >= REQUIRED: raise Surprise('a required field')",
            "    o = TEMPLATE.copy()",
            "    o.update(d)",
            "    fields_set = set(d)",
            # a key the model lacks: validation refuses it (extra="forbid") or drops it
            "    if len(o) != COUNT:",
            "        if forbid: raise Surprise('a key the model lacks')",
            "        o = {n: o[n] for n in FIELDS}",
            "        fields_set &= KNOWN",
            *slow,
            "    values = o",
            *finish,
        ]
    )
    code = compile(source, f"<trusted decoder of {cls.__qualname__}>", "exec")
    exec(code, namespace)  # our own source, made of the model's field names
    build: Callable[[dict[str, Any]], ModelT] = namespace["build"]
    return build


_TICKET = decoder(Ticket)
_MESSAGE = decoder(Message)
_EVENT = decoder(Event)
_CUSTOMER = decoder(Customer)
_CASE = decoder(Case)


def read_ticket(data: str | bytes) -> Ticket:
    """The :class:`~aftersales.models.Ticket` of a ``tickets.data`` column."""
    return _TICKET(data)


def read_message(data: str | bytes) -> Message:
    """The :class:`~aftersales.models.Message` of a ``messages.data`` column."""
    return _MESSAGE(data)


def read_event(data: str | bytes) -> Event:
    """The :class:`~aftersales.models.Event` of an ``events.data`` (or ``outbox.event``)
    column."""
    return _EVENT(data)


def read_customer(data: str | bytes) -> Customer:
    """The :class:`~aftersales.models.Customer` of a ``customers.data`` column."""
    return _CUSTOMER(data)


def read_case(data: str, terms: str | None) -> Case:
    """The case of its ``data`` and ``terms`` columns (see
    :func:`aftersales.storage._codec.case_terms`): each line's terms put back into its
    JSON object, then the case built as one record."""
    if _CASE.supported:
        try:
            parsed = _loads(data)
            if terms is not None:
                lines = parsed.get("lines", ())
                parts = _loads(terms)
                if type(parts) is not list or len(parts) != len(lines):
                    raise Surprise("terms of other lines")
                for line, part in zip(lines, parts, strict=True):
                    line.update(part)
            return _CASE.build(parsed)
        except Exception:  # noqa: BLE001 - validating below answers, error included
            pass
    return _validated_case(data, terms)


def _validated_case(data: str, terms: str | None) -> Case:
    # As the codec has always read a case: each column validated on its own, the parts
    # put together.
    case = Case.model_validate_json(data)
    if terms is None:
        return case
    lines = tuple(
        trusted(CaseLine, {**line.__dict__, **part.__dict__})
        for line, part in zip(case.lines, _terms_adapter().validate_json(terms), strict=True)
    )
    return trusted(Case, {**case.__dict__, "lines": lines})


@functools.cache
def _terms_adapter() -> TypeAdapter[tuple[BaseModel, ...]]:
    """The validator of a ``terms`` column, typed as CaseLine has those fields (made on
    first use: the codec, which names them, may import this module)."""
    from aftersales.storage._codec import TERMS_FIELDS

    fields: dict[str, Any] = {
        name: (CaseLine.model_fields[name].annotation, None) for name in TERMS_FIELDS
    }
    line_terms = create_model("_LineTerms", __base__=Record, **fields)
    return TypeAdapter(tuple[line_terms, ...])  # type: ignore[valid-type]
