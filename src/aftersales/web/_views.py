"""What a customer principal is shown of its own tickets and cases: allow-lists, so a
field or an event the library adds later stays with the staff until it is listed here.

Staff see everything; a customer sees the events that moved its ticket or case (not the
desk's own bookkeeping: time logged, rules due, SLA checkpoints, macros), its public
messages but no internal note, and of each payload and change only the fields meant for
it (not an escalation's reason, a time note, the assignee's team or the refund's
retries).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aftersales.models import Event, MessageKind
from aftersales.models.events import MESSAGE_ADDED, OPENED, RESERVED_TRIGGERS

__all__ = ["customer_case", "customer_events", "customer_ticket"]

_HIDDEN_TRIGGERS = frozenset({"escalate"})
"""Workflow triggers that are the staff's business: why and when a subject was escalated."""

_LIBRARY_TRIGGERS = RESERVED_TRIGGERS - {OPENED, MESSAGE_ADDED}
"""The desk's own bookkeeping events (log_time, rule_due, sla_warning, fields_set...):
every other trigger is one of the subject's workflow (a workflow may not use these
names), a step the customer sees in the subject's status anyway."""

PAYLOAD_KEYS = frozenset(
    {
        "message_id",
        "kind",
        "author_role",
        "channel",
        "category",
        "resolution",
        "rating",
        "window_start",
        "window_end",
        "replacement_sku",
        "method",
        "carrier",
        "tracking",
    }
)
"""The payload fields of an event a customer is shown."""

TICKET_FIELDS = frozenset(
    {
        "id",
        "number",
        "workflow",
        "channel",
        "subject",
        "description",
        "customer_id",
        "order_line",
        "category",
        "status",
        "status_category",
        "resolution",
        "created_at",
        "updated_at",
        "first_response_at",
        "resolved_at",
        "closed_at",
        "reopen_count",
        "merged_into",
        "parent_id",
        "follow_up_of",
        "version",
    }
)
"""The fields of a ticket a customer is shown, and whose changes it is shown in the
ticket's history (not its tags, priority, severity, assignee and team, escalation level,
SLA targets and due times, or satisfaction score)."""

CASE_FIELDS: Mapping[str, frozenset[str] | None] = {
    "id": None,
    "kind": None,
    "workflow": None,
    "status": None,
    "status_category": None,
    "version": None,
    "ticket_id": None,
    "customer_id": None,
    "order_id": None,
    "parent_id": None,
    "refund_case_id": None,
    "exchange_case_id": None,
    "return_case_id": None,
    "reason": None,
    "created_at": None,
    "updated_at": None,
    "closed_at": None,
    "lines": frozenset(
        {
            "line_id",
            "sku",
            "quantity",
            "bought",
            "unit_price",
            "received",
            "received_at",
            "inspections",
            "facts",
            "decision",
        }
    ),
    "logistics": frozenset({"method", "address", "carrier", "tracking"}),
    "refund": frozenset({"amount", "method", "due_by", "reference", "succeeded_at"}),
    "repair": frozenset(
        {
            "serial",
            "site",
            "in_warranty",
            "quote",
            "quote_accepted",
            "diagnosis",
            "replacement_reason",
            "replaced_at",
        }
    ),
    "complaint": frozenset({"severity", "summary", "proposal", "acknowledged_at"}),
    "exchange": frozenset({"replacement_sku", "carrier", "tracking", "shipped_at", "delivered_at"}),
    "details": frozenset(
        {
            # a visit's: where, when, what came of it (not the technician's notes)
            "purpose",
            "address",
            "window_start",
            "window_end",
            "serial",
            "reschedules",
            "outcome",
            "parts",
            "confirmed_at",
            "rating",
            "repair_case_id",
        }
    ),
}
"""The fields of a case a customer is shown, and of each nested record the keys it is
shown (None: the value whole)."""


def _only(value: Any, keys: frozenset[str]) -> Any:
    """``value`` (a record, or a list of records, as JSON) with only ``keys``."""
    if isinstance(value, Mapping):
        return {key: item for key, item in value.items() if key in keys}
    if isinstance(value, list):
        return [_only(item, keys) for item in value]
    return value


def customer_ticket(ticket: Mapping[str, Any]) -> dict[str, Any]:
    """A ticket's JSON as its customer is shown it."""
    shown: dict[str, Any] = _only(ticket, TICKET_FIELDS)
    return shown


def customer_case(case: Mapping[str, Any]) -> dict[str, Any]:
    """A case's JSON (or the fields an event changed) as its customer is shown it."""
    shown: dict[str, Any] = {}
    for key, value in case.items():
        if key not in CASE_FIELDS:
            continue
        keys = CASE_FIELDS[key]
        shown[key] = value if keys is None else _only(value, keys)
    return shown


def _shown(event: Event) -> bool:
    if event.trigger in _LIBRARY_TRIGGERS or event.trigger in _HIDDEN_TRIGGERS:
        return False
    return not (
        event.trigger == MESSAGE_ADDED
        and event.payload.get("kind") != MessageKind.PUBLIC_REPLY.value
    )


def customer_events(events: list[Event], *, ticket: bool) -> list[dict[str, Any]]:
    """A ticket's (``ticket``) or a case's events as JSON, as its customer is shown
    them: the workflow's steps and public messages, each with the payload and changes
    meant for the customer."""
    shown = []
    for event in events:
        if not _shown(event):
            continue
        data = event.model_dump(mode="json")
        data["payload"] = _only(data["payload"], PAYLOAD_KEYS)
        changes = data["changes"]
        data["changes"] = _only(changes, TICKET_FIELDS) if ticket else customer_case(changes)
        shown.append(data)
    return shown
