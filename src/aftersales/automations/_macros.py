"""Macros: named, versioned canned responses an agent applies to a ticket in one go."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from aftersales._validation import check_text
from aftersales.automations._install import check_actions
from aftersales.automations._model import (
    AddNote,
    Assign,
    Fire,
    Macro,
    Remind,
    SendMessage,
    SetFields,
    SetPriority,
    Tags,
    parse_json,
)
from aftersales.automations._records import record_on_ticket
from aftersales.exceptions import FieldError, InvalidInput, TransitionError
from aftersales.models.events import (
    FIELDS_SET,
    MACRO_APPLIED,
    MESSAGE_ADDED,
    TICKET_KIND,
    build_event,
)
from aftersales.models.ticket import AuthorRole, MessageKind

if TYPE_CHECKING:
    from aftersales.automations._actions import ActionRunner, Outcome
    from aftersales.desk import Desk
    from aftersales.models import Ticket
    from aftersales.security import Actor

__all__ = ["MacroBook"]


class MacroBook:
    """The macros of a desk, every version of each.

    >>> book = MacroBook([{"name": "refund-ok", "title": "Refund approved",
    ...                    "actions": [{"do": "add_tags", "tags": ["refund"]}]}])
    >>> book.get("refund-ok").version
    1
    """

    def __init__(self, macros: Iterable[Macro | Mapping[str, Any]] = ()) -> None:
        self._versions: dict[str, dict[int, Macro]] = {}
        for macro in macros:
            self.add(macro)

    def add(self, macro: Macro | Mapping[str, Any]) -> Macro:
        """Keep ``macro`` (a :class:`Macro` or its data); a name and version kept before
        raises :class:`~aftersales.InvalidInput`, as does a ``remind`` (for rules)."""
        if not isinstance(macro, Macro):
            if not isinstance(macro, Mapping):
                raise InvalidInput("macro", [FieldError(("macro",), "must be a mapping")])
            try:
                text = json.dumps(macro)
            except (TypeError, ValueError, RecursionError) as error:
                raise InvalidInput(
                    "macro", [FieldError(("macro",), f"not JSON: {error}")]
                ) from None
            macro = parse_json(Macro, text, "macro")
        if any(isinstance(action, Remind) for action in macro.actions):
            raise InvalidInput("macro", [FieldError(("actions",), "remind is for rules")])
        versions = self._versions.setdefault(macro.name, {})
        if macro.version in versions:
            raise InvalidInput(
                "macro", [FieldError(("version",), f"{macro.name} v{macro.version} is kept")]
            )
        versions[macro.version] = macro
        return macro

    def get(self, name: str, version: int | None = None) -> Macro:
        """The macro ``name`` at ``version`` (by default its latest); an unknown name or
        version raises :class:`~aftersales.InvalidInput` naming the known ones."""
        versions = self._versions.get(check_text("name", name))
        if versions is None:
            known = ", ".join(sorted(self._versions)) or "none"
            raise InvalidInput(
                "macro", [FieldError(("name",), f"no macro {name!r}; known: {known}")]
            )
        if version is None:
            return versions[max(versions)]
        if type(version) is not int or version < 1:  # True is not version 1
            raise InvalidInput("macro", [FieldError(("version",), "must be an int from 1")])
        if version not in versions:
            known = ", ".join(map(str, sorted(versions)))
            raise InvalidInput(
                "macro",
                [FieldError(("version",), f"{name} has no version {version!r}; known: {known}")],
            )
        return versions[version]

    def __iter__(self) -> Iterator[Macro]:
        for versions in self._versions.values():
            yield from versions.values()

    def check(self, desk: Desk, *, templates: object, webhooks: Mapping[str, object]) -> None:
        """Raise :class:`~aftersales.InvalidInput` if a macro does what ``desk`` cannot."""
        problems: list[FieldError] = []
        for macro in self:
            where = ("macros", f"{macro.name}@{macro.version}", "actions")
            check_actions(desk, macro.actions, [TICKET_KIND], where, templates, webhooks, problems)
        if problems:
            raise InvalidInput("macros", problems)

    def apply(
        self,
        desk: Desk,
        runner: ActionRunner,
        ticket_id: str,
        name: str,
        *,
        actor: Actor,
        version: int | None = None,
    ) -> list[Outcome]:
        """Apply a macro to the ticket now, acting as ``actor``: a ``macro_applied``
        event (payload: ``macro``, ``version``, ``title``), then its actions in order
        (the fields they set record the macro and version in their event's payload).

        On a desk with permissions, every action is checked against what ``actor`` may
        do before anything is written: one the actor may not do raises
        :class:`~aftersales.PermissionDenied` and the macro changes nothing."""
        macro = self.get(name, version)
        actor_id = check_text("actor", actor)
        ticket = desk.get(ticket_id)
        if desk.pipeline.guard is not None:
            _check_allowed(desk, macro, ticket, actor_id)
        source = {"macro": macro.name, "version": macro.version}
        applied = record_on_ticket(
            desk,
            ticket.id,
            MACRO_APPLIED,
            {**source, "title": macro.title},
            lambda current: {},
            actor_id,
        )
        assert applied is not None
        return runner.run(macro.actions, applied, actor=actor, source=source)


def _check_allowed(desk: Desk, macro: Macro, ticket: Ticket, actor: str) -> None:
    """Raise :class:`~aftersales.PermissionDenied` if the desk's guard refuses one of the
    macro's actions to ``actor``, each decided on the ticket as it is now (an action the
    ticket's state would skip is not checked: it will not be done)."""
    guard = desk.pipeline.guard
    assert guard is not None
    core = desk._core
    now = desk.pipeline.now()
    for action in macro.actions:
        if isinstance(action, (Fire, Assign)):
            if isinstance(action, Fire):
                trigger, given = action.trigger, action.payload
            else:
                trigger, given = "assign", {"assignee": action.assignee, "team": action.team}
            if trigger not in desk.workflow.allowed_triggers(ticket.status):
                continue
            try:
                changed, event = core.decide(ticket, trigger, actor, given, now)
            except TransitionError:
                continue  # refused by the workflow: the run skips it
            guard(changed, (event,))
            continue
        payload: dict[str, Any]
        if isinstance(action, (SetPriority, Tags, SetFields)):
            trigger, payload = FIELDS_SET, {"macro": macro.name}
        elif isinstance(action, (AddNote, SendMessage)):
            kind = (
                MessageKind.INTERNAL_NOTE
                if isinstance(action, AddNote)
                else MessageKind.PUBLIC_REPLY
            )
            trigger = MESSAGE_ADDED
            payload = {
                "message_id": "macro",
                "kind": kind.value,
                "author_role": AuthorRole.AGENT.value,
                "channel": ticket.channel.value,
            }
        else:
            continue
        event = build_event(
            ticket.id,
            TICKET_KIND,
            ticket.version + 1,
            trigger,
            ticket.status,
            ticket.status,
            actor,
            now,
            payload,
            {},
        )
        guard(ticket, (event,))
