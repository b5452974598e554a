"""Macros: named, versioned canned responses an agent applies to a ticket in one go."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from aftersales._validation import check_text
from aftersales.automations._install import check_actions
from aftersales.automations._model import Macro, Remind, parse_json
from aftersales.automations._records import record_on_ticket
from aftersales.exceptions import FieldError, InvalidInput
from aftersales.models.events import MACRO_APPLIED, TICKET_KIND

if TYPE_CHECKING:
    from aftersales.automations._actions import ActionRunner, Outcome
    from aftersales.desk import Desk
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
        (the fields they set record the macro and version in their event's payload)."""
        macro = self.get(name, version)
        actor_id = check_text("actor", actor)
        ticket = desk.get(ticket_id)
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
