"""Checking a subscription against the workflows of the kinds it names, so that a typo
raises instead of building a subscription that never fires."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from aftersales._validation import check_text, unknown
from aftersales.exceptions import FieldError, InvalidInput
from aftersales.models.events import RESERVED_TRIGGERS
from aftersales.notify._hooks import Subscription
from aftersales.notify._notification import Handler

if TYPE_CHECKING:
    from aftersales.workflows import Workflow

ALL_KINDS = "all"
"""``kinds=ALL_KINDS`` subscribes to tickets and every case kind."""


def checked_subscription(
    handler: Handler,
    *,
    workflows: Mapping[str, Workflow],
    triggers: Iterable[str] | str | None,
    entered: Iterable[str] | str | None,
    messages: bool,
    kinds: Iterable[str] | str,
    name: str | None,
    inline: bool = True,
) -> Subscription:
    """A :class:`Subscription` whose kinds, triggers and states exist: ``workflows`` maps
    each subject kind the desk knows (``"ticket"`` first, then its case kinds) to its
    workflow. Raises :class:`~aftersales.InvalidInput` naming the known ones."""
    if not callable(handler):
        raise InvalidInput("subscription", [FieldError(("handler",), "must be callable")])
    if not isinstance(messages, bool):
        raise InvalidInput("subscription", [FieldError(("messages",), "must be a bool")])
    if not isinstance(inline, bool):
        raise InvalidInput("subscription", [FieldError(("inline",), "must be a bool")])
    if name is None:
        name = f"{getattr(handler, '__module__', '?')}.{getattr(handler, '__qualname__', '?')}"
    name = check_text("name", name, 200)
    chosen = _kinds(kinds, tuple(workflows))
    chosen_workflows = [workflows[kind] for kind in (chosen or workflows)]
    trigger_names = _names("triggers", triggers)
    if trigger_names is not None:
        known = set(RESERVED_TRIGGERS).union(*(w.triggers for w in chosen_workflows))
        missing = sorted(set(trigger_names) - known)
        if missing:
            raise InvalidInput(
                "subscription", [unknown("triggers", missing, sorted(known), "trigger")]
            )
    states = _names("entered", entered)
    if states is not None:
        known = {state.name for w in chosen_workflows for state in w.states}
        missing = sorted(set(states) - known)
        if missing:
            raise InvalidInput(
                "subscription", [unknown("entered", missing, sorted(known), "state")]
            )
    return Subscription(name, handler, trigger_names, states, messages, kinds=chosen, inline=inline)


def _names(what: str, names: Iterable[str] | str | None) -> tuple[str, ...] | None:
    if names is None:
        return None
    values: tuple[object, ...]
    if isinstance(names, str):
        values = (names,)
    else:
        try:
            values = tuple(names)
        except TypeError:
            values = (names,)
    return tuple(check_text(what, value) for value in values)


def _kinds(kinds: Iterable[str] | str, known: tuple[str, ...]) -> frozenset[str] | None:
    """The kinds asked for; None means every kind."""
    values = _names("kinds", kinds)
    if not values:
        raise InvalidInput("subscription", [FieldError(("kinds",), "name at least one kind")])
    if ALL_KINDS in values:
        return None
    missing = sorted(set(values) - set(known))
    if missing:
        raise InvalidInput("subscription", [unknown("kinds", missing, [*known, ALL_KINDS], "kind")])
    return frozenset(values)
