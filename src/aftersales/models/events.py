"""The append-only event log: every change to a subject is one event."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field

from aftersales.models._base import Identifier, Instant, Record, trusted

__all__ = [
    "ASSESSED",
    "AUTOMATION_STOPPED",
    "CUSTOMER_MERGED",
    "CUSTOMER_REMINDER",
    "DUE_RESCHEDULED",
    "FIELDS_SET",
    "LOG_TIME",
    "MACRO_APPLIED",
    "MERGED_FROM",
    "MESSAGE_ADDED",
    "OPENED",
    "PERSONAL_DATA_ERASED",
    "RESERVED_TRIGGERS",
    "RULE_DUE",
    "SLA_BREACHED",
    "SLA_RESCHEDULED",
    "SLA_WARNING",
    "STEP_OVERDUE",
    "TICKET_KIND",
    "Event",
    "build_event",
]

OPENED = "created"
"""The trigger name of the event that creates a subject."""

MESSAGE_ADDED = "add_message"
"""The trigger name of the event that records a message on a ticket."""

SLA_WARNING = "sla_warning"
"""The trigger name of the event recording that an SLA metric reached its warning point."""

SLA_BREACHED = "sla_breached"
"""The trigger name of the event recording that an SLA metric missed its target."""

SLA_RESCHEDULED = "sla_rescheduled"
"""The trigger name of the event moving a ticket's next SLA checkpoint without a change."""

STEP_OVERDUE = "step_overdue"
"""The trigger name of the event recording that a case's step passed its time limit."""

ASSESSED = "assessed"
"""The trigger name of the event keeping a policy decision that moved no case."""

CUSTOMER_REMINDER = "customer_reminder"
"""The trigger name of the event :meth:`~aftersales.Desk.run_due` records on a ticket left
waiting on the customer for ``DeskSettings.customer_wait_days`` (with
``customer_wait_action`` ``"remind"``): subscribe to it to send the reminder."""

CUSTOMER_MERGED = "customer_merged"
"""The trigger name of the event :meth:`~aftersales.Desk.merge_customers` records on each
ticket and case it moves from a duplicate customer record to the one kept: its payload
names both (``from_customer_id``, ``into_customer_id``)."""

MERGED_FROM = "merged_from"
"""The trigger name of the event a merge records on the ticket merged into: its payload
names the duplicate (``ticket_id``, ``number``) and how many messages it had."""

DUE_RESCHEDULED = "due_rescheduled"
"""The trigger name of the event moving a ticket's ``due_at`` when the work due then cannot
be done (an auto-close refused while child tickets are open, a wait no longer timed):
without it, such a ticket would come back from every :meth:`~aftersales.Desk.run_due`
and take a place of its ``limit``."""

PERSONAL_DATA_ERASED = "personal_data_erased"
"""The trigger name of the event :meth:`~aftersales.Desk.erase_customer` (and retention)
records on each subject whose personal data it rewrote: who erased, when; its version
moves on, so no copy read before the erasure can write the data back."""
LOG_TIME = "log_time"
"""The trigger name of the event that logs an agent's time on a subject
(:meth:`~aftersales.Desk.log_time`): its payload's ``logged_seconds`` and ``note``."""
RULE_DUE = "rule_due"
"""The trigger name of the event recording that a time rule (or a level of an escalation
chain) of :mod:`aftersales.automations` came due on a subject: its payload names the
``rule`` and the ``window`` (the timestamp the hours count from), once per window."""
AUTOMATION_STOPPED = "automation_stopped"
"""The trigger name of the event recording that an automation rule was stopped at its
rule set's ``loop_limit`` (its payload names the ``rule`` and the ``limit``)."""
FIELDS_SET = "fields_set"
"""The trigger name of the event that changes a ticket's priority, tags, team, category
or severity outside the workflow (an automation's or a macro's action): its payload
names the fields set and the ``rule`` or ``macro`` that set them."""
MACRO_APPLIED = "macro_applied"
"""The trigger name of the event recording that a macro was applied to a ticket (its
payload names the ``macro`` and its ``version``)."""
RESERVED_TRIGGERS = frozenset(
    {
        RULE_DUE,
        AUTOMATION_STOPPED,
        FIELDS_SET,
        MACRO_APPLIED,
        LOG_TIME,
        PERSONAL_DATA_ERASED,
        OPENED,
        MESSAGE_ADDED,
        SLA_WARNING,
        SLA_BREACHED,
        SLA_RESCHEDULED,
        STEP_OVERDUE,
        ASSESSED,
        CUSTOMER_MERGED,
        CUSTOMER_REMINDER,
        MERGED_FROM,
        DUE_RESCHEDULED,
    }
)
"""Event names the library records itself; a workflow may not name a trigger after one."""


TICKET_KIND = "ticket"
"""The ``subject_kind`` of a ticket's events; a case's events carry its kind (``"return"``...)."""


class Event(Record):
    """One change to one subject.

    ``subject_kind`` says what the subject is: ``"ticket"`` or a case kind (``"return"``,
    ``"repair"``...), so a handler can tell a cancelled return from a cancelled ticket.
    ``sequence`` counts from 1 per subject and equals the subject's version after the
    change. ``payload`` is the validated input the trigger was given; ``changes`` holds
    the fields the event set, as JSON values, so folding a subject's ``changes`` in order
    rebuilds it exactly (see :meth:`aftersales.Desk.replay`).
    """

    subject_id: Identifier
    subject_kind: Identifier = TICKET_KIND
    sequence: Annotated[int, Field(ge=1)]
    trigger: Identifier
    from_state: Identifier | None
    to_state: Identifier
    actor: Identifier
    at: Instant
    payload: dict[str, Any] = Field(default_factory=dict)
    changes: dict[str, Any] = Field(default_factory=dict)
    chain: str | None = None
    """The tamper-evident audit: a keyed hash of this event and the ``chain`` of the one
    before it (see :mod:`aftersales.privacy.audit`); None on events written before the
    chain existed."""
    salt: str | None = None
    """The random salt that seals this event's personal values in ``chain``; dropped when
    they are erased."""
    erased: dict[str, str] | None = None
    """The seals of the personal values erased from this event (path → seal), so ``chain``
    still verifies after :meth:`~aftersales.Desk.erase_customer`."""

    @property
    def is_transition(self) -> bool:
        """True for workflow triggers, False for creation and messages."""
        return self.trigger not in RESERVED_TRIGGERS


def build_event(
    subject_id: str,
    subject_kind: str,
    sequence: int,
    trigger: str,
    from_state: str | None,
    to_state: str,
    actor: str,
    at: datetime,
    payload: dict[str, Any],
    changes: dict[str, Any],
) -> Event:
    """THE function that builds every event the library records (creation with
    ``from_state`` None and sequence 1, transitions, messages, SLA events, reminders,
    case steps), from parts already valid: ids, states and actor checked, ``at``
    timezone-aware, ``payload`` and ``changes`` JSON values. It skips validation, so
    the write path pays nothing for it (:mod:`aftersales._pipeline`)."""
    return trusted(
        Event,
        {
            "subject_id": subject_id,
            "subject_kind": subject_kind,
            "sequence": sequence,
            "trigger": trigger,
            "from_state": from_state,
            "to_state": to_state,
            "actor": actor,
            "at": at,
            "payload": payload,
            "changes": changes,
            "chain": None,
            "salt": None,
            "erased": None,
        },
    )
