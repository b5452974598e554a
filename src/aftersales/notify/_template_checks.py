"""What :class:`~aftersales.notify.templates.Templates` checks when it loads a template:
its syntax, the variables it reads, and the fields it reads of the context's records, so a
typo fails at load instead of sending an empty string (or nothing) later."""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Mapping
from typing import Any

from jinja2 import TemplateSyntaxError, meta, nodes
from jinja2.environment import Environment, Template
from pydantic import BaseModel

from aftersales.exceptions import TemplateError
from aftersales.models import Case, Customer, Event, Message, Ticket
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
_MEMBERS: dict[type[BaseModel], dict[str, type[BaseModel] | None]] = {}


def compile_template(
    environment: Environment, source: str, template: str, part: str, names: frozenset[str]
) -> Template:
    """``source`` compiled, or TemplateError on ``template`` (``"resolved/en"``) saying
    which ``part`` (subject, body, html) and line is wrong."""
    try:
        tree = environment.parse(source)
    except TemplateSyntaxError as error:
        raise TemplateError(template, f"{part}, line {error.lineno}: {error.message}") from None
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
    _check_attributes(tree, template, part)
    return environment.from_string(tree)


def _check_attributes(tree: nodes.Template, template: str, part: str) -> None:
    """Each attribute read of a context record (``ticket.subject``, ``decision.refund.net``)
    names a field, property or method of its model; an attribute starting with ``_`` is
    refused whatever it is read of (the sandbox would refuse it at send time)."""
    rebound = {name.name for name in tree.find_all(nodes.Name) if name.ctx in ("store", "param")}
    roots = {name: model for name, model in CONTEXT_TYPES.items() if name not in rebound}
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        if isinstance(node, nodes.Getattr) and node.attr.startswith("_"):
            raise TemplateError(
                template, f"{part}, line {node.lineno}: attribute {node.attr!r} is unsafe"
            )
        _model_of(node, roots, template, part)


def _model_of(
    node: nodes.Node, roots: Mapping[str, type[BaseModel]], template: str, part: str
) -> type[BaseModel] | None:
    """The model the expression ``node`` evaluates to, when it is a context record or a
    record field of one (checking each name on the way), else None."""
    if isinstance(node, nodes.Name):
        return roots.get(node.name)
    if isinstance(node, nodes.Getattr):
        attribute = node.attr
    elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        attribute = node.arg.value
        if not isinstance(attribute, str):
            return None
    else:
        return None
    parent = _model_of(node.node, roots, template, part)
    if parent is None:
        return None
    members = _members(parent)
    if attribute not in members:
        raise TemplateError(
            template,
            f"{part}, line {node.lineno}: {_path(node)} is not a field of "
            f"{parent.__name__} (it has {', '.join(sorted(members))})",
        )
    return members[attribute]


def _path(node: nodes.Node) -> str:
    """``customer.nmae`` as the template wrote it (an item read as an attribute)."""
    if isinstance(node, nodes.Getattr):
        return f"{_path(node.node)}.{node.attr}"
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        return f"{_path(node.node)}.{node.arg.value}"
    return node.name if isinstance(node, nodes.Name) else "(expression)"


def _members(model: type[BaseModel]) -> dict[str, type[BaseModel] | None]:
    """What a template may read of ``model``: its fields, properties and public methods
    (not pydantic's own), each with the record model it holds, if any."""
    members = _MEMBERS.get(model)
    if members is None:
        members = {name: _record_type(info.annotation) for name, info in model.model_fields.items()}
        for name, value in inspect.getmembers(model):
            if name.startswith("_") or name in members or name in _PYDANTIC_MEMBERS:
                continue
            # a method, or a class constant, holds no record a template could read into
            members[name] = _returned_record(value) if isinstance(value, property) else None
        _MEMBERS[model] = members
    return members


def _returned_record(prop: property) -> type[BaseModel] | None:
    try:
        hints = typing.get_type_hints(prop.fget)
    except (NameError, TypeError):  # a hint that names what its module imports lazily
        return None
    return _record_type(hints.get("return"))


def _record_type(annotation: Any) -> type[BaseModel] | None:
    """The record model an annotation holds (``RefundDetails | None`` holds RefundDetails),
    or None for anything else (values, collections of records, unions of models)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        options = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(options) == 1:
            return _record_type(options[0])
    return None
