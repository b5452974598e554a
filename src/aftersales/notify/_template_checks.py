"""What :class:`~aftersales.notify.templates.Templates` checks when it loads a template:
its syntax, the variables, filters and tests it uses, and the fields it reads of the
context's records (and of the records a loop, ``set``, ``with`` or macro parameter holds),
so a typo fails at load instead of sending an empty string (or nothing) later."""

from __future__ import annotations

import collections.abc
import datetime
import decimal
import enum
import inspect
import types
import typing
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import attrs
import jinja2
from jinja2 import meta, nodes
from jinja2.environment import Environment, Template
from pydantic import BaseModel

from aftersales.exceptions import TemplateError
from aftersales.models import Case, Customer, Event, Message, Ticket
from aftersales.models._base import Record
from aftersales.policies.decision import Decision

CONTEXT_TYPES: Mapping[str, type[BaseModel]] = {
    "case": Case,
    "customer": Customer,
    "decision": Decision,
    "event": Event,
    "message": Message,
    "ticket": Ticket,
}
"""The context's records: a template's ``customer.<name>`` must name one of Customer's."""

# Loading another template needs a loader, and would read outside the template set.
_REFUSED_TAGS: tuple[tuple[type[nodes.Node], str], ...] = (
    (nodes.Extends, "extends"),
    (nodes.Include, "include"),
    (nodes.Import, "import"),
    (nodes.FromImport, "from ... import"),
)
_PYDANTIC_MEMBERS = frozenset(dir(BaseModel))
# values whose attributes are those of their type alone (no item falls back to an
# attribute, as a dict's would), so a name their type lacks reads nothing at send time
_VALUES: tuple[type, ...] = (
    str,
    int,
    float,
    decimal.Decimal,
    datetime.date,
    datetime.time,
    datetime.timedelta,
    uuid.UUID,
    enum.Enum,
)
_SEQUENCES = frozenset({tuple, list, set, frozenset, collections.abc.Sequence, collections.abc.Set})
# names Jinja binds itself inside loops, macros and call blocks, whatever the context holds
_IMPLICIT = frozenset({"loop", "caller", "varargs", "kwargs", "self"})


@attrs.frozen
class _Many:
    """A collection (tuple, list, set) whose items are all of ``item``."""

    item: type


_Shape = type | _Many | None
"""What a template's value is known to be: a record model or a value type, a collection
of one, or None (anything: the check leaves it alone)."""
_MEMBERS: dict[type, dict[str, _Shape]] = {}


def compile_template(
    environment: Environment, source: str, template: str, part: str, names: frozenset[str]
) -> Template:
    """``source`` compiled, or TemplateError on ``template`` (``"resolved/en"``) saying
    which ``part`` (subject, body, html) and line is wrong."""
    try:
        tree = environment.parse(source)
        _check(environment, tree, template, part, names)
        return environment.from_string(tree)
    except jinja2.TemplateError as error:  # a syntax error, or a filter the compiler lacks
        line = getattr(error, "lineno", None)
        where = part if line is None else f"{part}, line {line}"
        raise TemplateError(template, f"{where}: {error.message}") from None
    except RecursionError:
        raise TemplateError(template, f"{part}: nested too deeply to compile") from None


def _check(
    environment: Environment,
    tree: nodes.Template,
    template: str,
    part: str,
    names: frozenset[str],
) -> None:
    for kind, tag in _REFUSED_TAGS:
        found = next(tree.find_all(kind), None)
        if found is not None:
            raise TemplateError(
                template,
                f"{part}, line {found.lineno}: '{tag}' is not supported (each template "
                "stands alone)",
            )
    unknown = sorted(meta.find_undeclared_variables(tree) - names)
    if unknown:
        raise TemplateError(
            template,
            f"{part}: unknown variable {', '.join(unknown)} (the context has "
            f"{', '.join(sorted(names))})",
        )
    for node in tree.find_all((nodes.Filter, nodes.Test)):
        known = environment.filters if isinstance(node, nodes.Filter) else environment.tests
        if node.name not in known:
            what = "filter" if isinstance(node, nodes.Filter) else "test"
            raise TemplateError(template, f"{part}, line {node.lineno}: no {what} {node.name!r}")
    _check_attributes(tree, template, part, {*names, *environment.globals})


def _check_attributes(tree: nodes.Template, template: str, part: str, names: Iterable[str]) -> None:
    """Each attribute read of a record (``ticket.subject``, ``decision.refund.net``,
    ``contact.address`` in a loop over ``customer.contacts``) names a field, property or
    method of its model; an attribute starting with ``_`` is refused whatever it is read
    of (the sandbox would refuse it at send time)."""
    shapes = _shapes(tree, names)
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter)):
        attribute = _attribute(node)
        if attribute is not None and attribute.startswith("_"):
            raise TemplateError(
                template, f"{part}, line {node.lineno}: attribute {attribute!r} is unsafe"
            )
        _shape_of(node, shapes, (template, part))


def _attribute(node: nodes.Node) -> str | None:
    """The name ``node`` reads as an attribute: ``x.name``, ``x['name']``,
    ``x|attr('name')``; None for anything else."""
    if isinstance(node, nodes.Getattr):
        return node.attr
    if isinstance(node, nodes.Getitem):
        arg = node.arg
    elif (
        isinstance(node, nodes.Filter)
        and node.name == "attr"
        and node.node is not None
        and len(node.args) == 1
        and not node.kwargs
        and node.dyn_args is None
        and node.dyn_kwargs is None
    ):
        arg = node.args[0]
    else:
        return None
    if isinstance(arg, nodes.Const) and isinstance(arg.value, str):
        return arg.value
    return None


def _shape_of(
    node: nodes.Node, shapes: Mapping[str, _Shape], where: tuple[str, str] | None
) -> _Shape:
    """What the expression ``node`` evaluates to, when known (checking each name read on
    the way, when ``where`` names the template and part to blame)."""
    if isinstance(node, nodes.Name):
        return shapes.get(node.name)
    if not isinstance(node, (nodes.Getattr, nodes.Getitem, nodes.Filter)):
        return None
    attribute = _attribute(node)
    if attribute is None:
        if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            index = node.arg.value
            parent = _shape_of(node.node, shapes, where)
            if isinstance(parent, _Many) and isinstance(index, int):
                return parent.item
        return None
    parent = None if node.node is None else _shape_of(node.node, shapes, where)
    if not isinstance(parent, type):
        return None
    members = _members(parent)
    if attribute in members:
        return members[attribute]
    if where is None:
        return None
    template, part = where
    if issubclass(parent, BaseModel):
        lacks = f"is not a field of {parent.__name__} (it has {', '.join(sorted(members))})"
    else:
        lacks = f"is not an attribute of {parent.__name__}"
    raise TemplateError(template, f"{part}, line {node.lineno}: {_path(node)} {lacks}")


def _path(node: nodes.Node) -> str:
    """``customer.nmae`` as the template wrote it (an item read as an attribute)."""
    attribute = _attribute(node)
    if attribute is not None:
        return f"{_path(node.node)}.{attribute}"  # type: ignore[attr-defined]
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        return f"{_path(node.node)}[{node.arg.value!r}]"
    return node.name if isinstance(node, nodes.Name) else "(expression)"


# ------------------------------------------------------------------ what names hold


@attrs.frozen
class _Binding:
    """One way a name gets its value: ``value`` evaluated (its items, for a loop's
    target), or a known ``shape`` (a context record), or None when it may hold
    anything."""

    value: nodes.Node | None = None
    items: bool = False
    shape: _Shape = None


_ANYTHING = _Binding()


def _shapes(tree: nodes.Template, names: Iterable[str]) -> dict[str, _Shape]:
    """What each name of ``tree`` holds wherever it is read: the one shape all its
    bindings (the context's value, each loop, ``set``, ``with``, macro call binding it)
    agree on, else None. A read of a name sees one of its bindings whatever the scope,
    so what they all agree on is what it holds."""
    bindings: dict[str, list[_Binding]] = {}
    for name in (*names, *_IMPLICIT):
        shape = CONTEXT_TYPES.get(name) if name not in _IMPLICIT else None
        bindings.setdefault(name, []).append(_Binding(shape=shape) if shape else _ANYTHING)
    bound: dict[int, list[_Binding]] = _macro_bindings(tree)
    for node in tree.find_all((nodes.For, nodes.Assign, nodes.With)):
        if isinstance(node, nodes.For):
            # a recursive loop binds its target again to the items of loop(...)
            if isinstance(node.target, nodes.Name) and not node.recursive:
                bound[id(node.target)] = [_Binding(node.iter, items=True)]
        elif isinstance(node, nodes.Assign):
            if isinstance(node.target, nodes.Name):
                bound[id(node.target)] = [_Binding(node.node)]
        else:
            with_ = typing.cast(nodes.With, node)
            for target, value in zip(with_.targets, with_.values, strict=False):
                if isinstance(target, nodes.Name):
                    bound[id(target)] = [_Binding(value)]
    for target in tree.find_all(nodes.Name):
        if target.ctx in ("store", "param"):
            bindings.setdefault(target.name, []).extend(bound.get(id(target), [_ANYTHING]))
    for macro in tree.find_all(nodes.Macro):
        bindings.setdefault(macro.name, []).append(_ANYTHING)
    return _settle(bindings)


def _settle(bindings: Mapping[str, list[_Binding]]) -> dict[str, _Shape]:
    """The shapes of ``bindings``, each known once every binding of it is. From nothing
    known, a name is learnt when all its bindings are, and never unlearnt or changed (an
    expression's shape is known only once the name it starts from is), so each round
    learns a name or is the last: it settles in as many rounds as there are names (a name
    bound from itself stays unknown)."""
    shapes: dict[str, _Shape] = {}
    while True:
        learnt = {name: _agreed(found, shapes) for name, found in bindings.items()}
        learnt = {name: shape for name, shape in learnt.items() if shape is not None}
        if learnt == shapes:
            return shapes
        shapes = learnt


def _agreed(bindings: list[_Binding], shapes: Mapping[str, _Shape]) -> _Shape:
    agreed: _Shape = None
    for binding in bindings:
        if binding.value is None:
            shape = binding.shape
        else:
            shape = _shape_of(binding.value, shapes, None)
            if binding.items:
                shape = shape.item if isinstance(shape, _Many) else None
        if shape is None or (agreed is not None and shape != agreed):
            return None
        agreed = shape
    return agreed


def _macro_bindings(tree: nodes.Template) -> dict[int, list[_Binding]]:
    """The bindings of each macro's parameters: each call's argument for it, else its
    default; for a macro only ever called by name (never passed on, given ``*args`` or
    defined twice), else none (its parameters may hold anything)."""
    macros: dict[str, list[nodes.Macro]] = {}
    for macro in tree.find_all(nodes.Macro):
        macros.setdefault(macro.name, []).append(macro)
    calls: dict[str, list[nodes.Call]] = {}
    loads: dict[str, int] = {}
    for node in tree.find_all((nodes.Call, nodes.Name)):
        if isinstance(node, nodes.Name):
            if node.ctx == "load":
                loads[node.name] = loads.get(node.name, 0) + 1
        elif isinstance(node, nodes.Call) and isinstance(node.node, nodes.Name):
            calls.setdefault(node.node.name, []).append(node)
    stored = {name.name for name in tree.find_all(nodes.Name) if name.ctx != "load"}
    bound: dict[int, list[_Binding]] = {}
    for name, defined in macros.items():
        sites = calls.get(name, [])
        if (
            len(defined) > 1
            or name in stored
            or loads.get(name, 0) != len(sites)
            or any(call.dyn_args is not None or call.dyn_kwargs is not None for call in sites)
        ):
            continue
        macro = defined[0]
        defaults = dict(zip(reversed(macro.args), reversed(macro.defaults), strict=False))
        for param in macro.args:
            bound[id(param)] = []
        for call in sites:
            keywords = {keyword.key: keyword.value for keyword in call.kwargs}
            for position, param in enumerate(macro.args):
                if position < len(call.args):
                    value: nodes.Node | None = call.args[position]
                else:
                    value = keywords.get(param.name, defaults.get(param))
                # no value is Undefined: any read of it fails at send whatever it names
                if value is not None:
                    bound[id(param)].append(_Binding(value))
    return bound


def _members(kind: type) -> dict[str, _Shape]:
    """What a template may read of a ``kind``: a record's fields, properties and public
    methods (not pydantic's own), a value's public attributes, each with its shape."""
    members = _MEMBERS.get(kind)
    if members is None:
        if issubclass(kind, BaseModel):
            members = {
                name: _annotation_shape(info.annotation) for name, info in kind.model_fields.items()
            }
            for name, value in inspect.getmembers(kind):
                if name.startswith("_") or name in members or name in _PYDANTIC_MEMBERS:
                    continue
                # a method, or a class constant, holds nothing a template could check
                members[name] = _returned(value) if isinstance(value, property) else None
        else:
            members = dict.fromkeys(name for name in dir(kind) if not name.startswith("_"))
            if issubclass(kind, enum.Enum):
                members.update(name=None, value=None)
        _MEMBERS[kind] = members
    return members


def _returned(prop: property) -> _Shape:
    try:
        hints = typing.get_type_hints(prop.fget)
    except (NameError, TypeError):  # a hint that names what its module imports lazily
        return None
    return _annotation_shape(hints.get("return"))


def _annotation_shape(annotation: Any) -> _Shape:
    """The shape an annotation holds: a record model (``RefundDetails | None`` holds
    RefundDetails), a value type, a collection of either (``tuple[ContactPoint, ...]``),
    else None (a mapping, a union of types, a base record whose subclasses add fields)."""
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return None if annotation in (BaseModel, Record) else annotation
        return annotation if issubclass(annotation, _VALUES) else None
    origin = typing.get_origin(annotation)
    arguments = typing.get_args(annotation)
    if origin is typing.Annotated:
        # metadata may widen a record (SerializeAsAny), never a value's type
        inner = arguments[0]
        if isinstance(inner, type) and not issubclass(inner, BaseModel):
            return _annotation_shape(inner)
        return None
    if origin in (typing.Union, types.UnionType):
        options = [arg for arg in arguments if arg is not type(None)]
        return _annotation_shape(options[0]) if len(options) == 1 else None
    if origin in _SEQUENCES:
        items = {_annotation_shape(arg) for arg in arguments if arg is not Ellipsis}
        item = items.pop() if len(items) == 1 else None
        return _Many(item) if isinstance(item, type) else None
    return None
