"""The permission check in the write pipeline: the action each commit was asked for (its
first event), before the store writes anything (see :class:`aftersales._pipeline.Guard`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial
from typing import NoReturn

from aftersales._pipeline import ON_REMEMBERED_COPY
from aftersales._validation import ACTING
from aftersales.exceptions import TicketNotFound
from aftersales.models import Case, Event
from aftersales.models.events import MESSAGE_ADDED, TICKET_KIND
from aftersales.models.security import SecurityEntry
from aftersales.models.ticket import AuthorRole
from aftersales.security import (
    Action,
    Directory,
    PermissionRefusal,
    PermissionSet,
    Principal,
    Role,
)
from aftersales.storage import Store

__all__ = ["PermissionGuard"]

_OWNERSHIP = frozenset({"customer_id", "team", "assignee"})


class PermissionGuard:
    """Checks each event's actor against the permission set; a refusal is written to the
    security log and raised as :class:`~aftersales.PermissionDenied` (the commit is then
    abandoned, so nothing else is stored)."""

    __slots__ = ("directory", "now", "permissions", "store")

    def __init__(
        self,
        permissions: PermissionSet,
        directory: Directory,
        store: Store,
        now: Callable[[], datetime],
    ) -> None:
        self.permissions = permissions
        self.directory = directory
        self.store = store
        self.now = now

    def principal(self, actor: str | Principal) -> Principal:
        """The principal behind an actor id (see :meth:`PermissionSet.principal_for`)."""
        return self.permissions.principal_for(actor, self.directory)

    def _before(self, event: Event, subject: object) -> object:
        """The subject as it was before the event, as far as row rules read it: the
        subject after the change unless the event moved it to another owner, team or
        assignee (then the stored subject, which the change has not reached yet). A
        case comes with its ticket's team (:class:`CaseOnTicket`)."""
        before = subject
        if event.sequence > 1 and not _OWNERSHIP.isdisjoint(event.changes):
            if event.subject_kind == TICKET_KIND:
                before = self.store.get(event.subject_id)
            else:
                before = self.store.get_case(event.subject_id)
        if isinstance(before, Case):
            return CaseOnTicket(before, self.store)
        return before

    def _earlier_actors(self, subject_id: str, triggers: frozenset[str]) -> frozenset[str]:
        return frozenset(e.actor for e in self.store.events(subject_id) if e.trigger in triggers)

    def __call__(self, subject: object, events: Sequence[Event]) -> None:
        permissions = self.permissions
        acting = ACTING.get()
        for event in events:
            actor = event.actor
            principal = (
                acting
                if acting is not None and acting.id == actor
                else permissions.principal_for(actor, self.directory)
            )
            before = self._before(event, subject)

            def action(
                event: Event = event, principal: Principal = principal, before: object = before
            ) -> Action:
                return Action(
                    principal,
                    event.subject_kind,
                    event.subject_id,
                    event.trigger,
                    subject,
                    event.payload,
                    partial(self._earlier_actors, event.subject_id),
                    before,
                )

            refusal = permissions.refusal_of(
                principal, event.subject_kind, event.subject_id, event.trigger, before, action
            )
            if refusal is None and event.trigger == MESSAGE_ADDED:
                refusal = _posing(action())
            if refusal is not None:
                self.refuse(refusal, event.subject_id)

    def check(self, action: Action) -> None:
        """Check one action that is not a commit (an erasure, an export, reading the
        security log)."""
        refusal = self.permissions.refusal(action)
        if refusal is not None:
            self.refuse(refusal, action.subject_id)

    def refuse(self, refusal: PermissionRefusal, subject_id: str | None) -> NoReturn:
        """Record ``refusal`` in the security log and raise it (a refusal decided on a
        remembered copy is raised only: it is decided again on a fresh read)."""
        if ON_REMEMBERED_COPY.get():
            raise refusal.error()
        self.store.log_security(
            [
                SecurityEntry(
                    kind="refused",
                    at=self.now(),
                    principal=refusal.principal,
                    action=refusal.action[:200],
                    rule=refusal.rule[:200],
                    reason=refusal.reason[:10_000],
                    subject_id=subject_id,
                )
            ]
        )
        raise refusal.error()


class CaseOnTicket:
    """A case as row rules read it: its fields, and the ``team`` of its ticket (read when
    a rule asks), as a case has no team of its own: a rule keeping agents to their
    teams' tickets keeps them to those tickets' cases too. A case whose ticket is gone
    has no team."""

    __slots__ = ("_case", "_store", "_team")

    def __init__(self, case: Case, store: Store) -> None:
        self._case = case
        self._store = store
        self._team: tuple[str | None] | None = None

    @property
    def team(self) -> str | None:
        if self._team is None:
            try:
                self._team = (self._store.get(self._case.ticket_id).team,)
            except TicketNotFound:
                self._team = (None,)
        return self._team[0]

    def __getattr__(self, name: str) -> object:
        if name.startswith("__"):  # no __dict__: a rule's path reads the case's fields
            raise AttributeError(name)
        return getattr(self._case, name)


def _posing(action: Action) -> PermissionRefusal | None:
    """A customer writing a message as someone else (an agent's reply counts as the
    first response): refused whatever the permission set says."""
    if action.trigger != MESSAGE_ADDED or Role.CUSTOMER not in action.principal.roles:
        return None
    role = action.payload.get("author_role")
    if role in (None, AuthorRole.CUSTOMER.value):
        return None
    return PermissionRefusal(
        action.principal.id,
        action.describe(),
        "author_role",
        f"a customer writes as a customer, not as {role!r}",
    )
