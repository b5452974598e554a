"""What a case kind declares: one record of data the generic case desk reads.

A kind names its workflow, the model of its details, its step time limits and the
self-transitions that start a step's clock again, and its cascades as data: per trigger,
the kind of case the transition opens (with the builder of that case) or that it closes
the case waiting on it, as django-oscar's ``OSCAR_ORDER_STATUS_CASCADE`` maps a status to
what follows. The desk holds a registry of kinds (:attr:`CaseDesk.kinds`); an application
adds its own with :meth:`CaseDesk.register`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import attrs
from pydantic import Field

from aftersales.exceptions import InvalidWorkflow
from aftersales.models._base import Identifier, Record
from aftersales.models.case import AnyKind, Case, register_kind
from aftersales.policies.decision import Decision
from aftersales.storage import CaseChange
from aftersales.workflows import CaseEnvironment, Workflow

if TYPE_CHECKING:
    from aftersales.cases._writer import CaseWriter

__all__ = ["CLOSES_PARENT", "CaseKindSpec", "ClosesParent", "Opens", "StepLimit"]


class StepLimit(Record):
    """How long a step may take. When it passes, :meth:`CaseDesk.run_due` fires
    ``action`` (a trigger of the workflow) or, with no action, reports the step overdue."""

    hours: Annotated[float, Field(gt=0, le=24 * 3660)]
    action: Identifier | None = None


FollowUp = Callable[["CaseWriter", Case, str, datetime, CaseChange], CaseChange]
"""Builds the case a transition opens: ``(cases, parent after the step, actor, now, the
parent's change)`` → the new case's change (it commits with the parent's)."""

Opener = Callable[..., Case]
"""Opens a case of the kind: ``(cases, ticket_id, *, actor, **fields)`` → the case."""

StepHook = Callable[["CaseWriter", Case, datetime], "dict[str, Any] | None"]
"""A kind's own step time limit (``{"step_due_at": ..., "step_action": ...}``) for the
state the case is in, or None to use the configured :class:`StepLimit`."""

EnvironmentHook = Callable[["CaseWriter", Case, str, "Decision | None"], CaseEnvironment]
"""What a transition of the kind sees besides its payload (e.g. a team's supervisor)."""


@attrs.frozen
class Opens:
    """A cascade: the trigger opens a case of ``kind`` in its own transaction, built by
    ``build``; ``link`` names the field of the opening case that keeps the new case's id
    (``"refund_case_id"``), or None when only the new case's ``parent_id`` links them."""

    kind: str
    build: FollowUp
    link: str | None = None


@attrs.frozen
class ClosesParent:
    """A cascade: the trigger finishes the case, which closes the case that opened it
    when that one waits on it (and so on up the chain)."""


CLOSES_PARENT = ClosesParent()

Cascade = Opens | ClosesParent


@attrs.frozen
class CaseKindSpec:
    """One case kind, as data: what the case desk needs to open, step and link its cases.

    ``details`` validates :attr:`~aftersales.Case.details` of a new kind's cases (the
    shipped five keep their own fields and leave it None). ``waiting`` are the states in
    which a case waits for the case it opened to finish, then closes on ``close``.
    ``openers`` are the kind's functions that open a case (the first one answers
    :meth:`CaseDesk.open`)."""

    name: str
    workflow: Workflow
    details: type[Record] | None = None
    step_limits: Mapping[str, StepLimit] = attrs.field(factory=dict)
    restarts: frozenset[str] = frozenset()
    """Self-transitions that start their step's clock again (a reminder every N days)."""
    cascades: Mapping[str, Cascade] = attrs.field(factory=dict)
    waiting: frozenset[str] = frozenset()
    opener: Opener | None = None
    step: StepHook | None = None
    environment: EnvironmentHook | None = None
    kind: AnyKind = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        problems = [
            f"case kind {self.name!r}: no state {state!r}"
            for state in (*self.step_limits, *self.waiting)
            if state not in {s.name for s in self.workflow.states}
        ]
        triggers = {t.trigger for t in self.workflow.transitions}
        problems += [
            f"case kind {self.name!r}: no trigger {trigger!r}"
            for trigger in sorted((set(self.cascades) | self.restarts) - triggers)
        ]
        if problems:
            raise InvalidWorkflow(self.workflow.name, problems)
        try:
            kind = register_kind(self.name, self.details)
        except ValueError as error:
            raise InvalidWorkflow(self.workflow.name, [str(error)]) from None
        object.__setattr__(self, "kind", kind)
