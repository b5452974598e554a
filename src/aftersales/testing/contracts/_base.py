"""Builders of tickets, events, cases and notifications for the store contracts, and the
base they share: a fresh store per test from ``make_store``."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from aftersales.models import (
    Case,
    CaseKind,
    CaseLine,
    Channel,
    Event,
    Ticket,
)
from aftersales.notify import Notification
from aftersales.policies.facts import Facts
from aftersales.policies.presets import decide
from aftersales.storage import Change, Store

_T0 = datetime(2024, 3, 4, 9, 0, tzinfo=timezone.utc)

LOOKALIKE_IDENTIFIERS = [
    ("cust-abc", "CUST-ABC"),  # case
    ("li", "li "),  # a trailing space
    ("jose", "josé"),  # an accent
    ("cust-\U0001f600", "cust-\U0001f601"),  # two emoji
    ("\U00020000", "\U00020001"),  # CJK Extension B
    ("strasse", "straße"),
]
"""Pairs of identifiers that differ, but that a collation compares as equal
(``utf8mb4_general_ci``, MariaDB's default, takes every pair here for equal): every store
must keep them apart."""


def _ticket(number: int, **fields: Any) -> Ticket:
    values: dict[str, Any] = {
        "id": f"t{number}",
        "number": number,
        "channel": Channel.EMAIL,
        "subject": f"Ticket {number}",
        "customer_id": "c1",
        "status": "new",
        "status_category": "new",
        "created_at": _T0 + timedelta(minutes=number),
        "updated_at": _T0 + timedelta(minutes=number),
    }
    values.update(fields)
    return Ticket(**values)


def _event(ticket: Ticket, trigger: str = "open", from_state: str | None = None) -> Event:
    return Event(
        subject_id=ticket.id,
        sequence=ticket.version,
        trigger=trigger,
        from_state=from_state,
        to_state=ticket.status,
        actor="tester",
        at=ticket.updated_at,
        changes=ticket.model_dump(mode="json"),
    )


def _notification(event: Event, handler: str = "mailer") -> Notification:
    return Notification(
        key=Notification.key_for(event, handler),
        handler=handler,
        event=event,
        created_at=event.at,
        next_attempt_at=event.at,
        lease_until=event.at + timedelta(minutes=5),
    )


def _case(name: str, **fields: Any) -> Case:
    values: dict[str, Any] = {
        "id": name,
        "kind": CaseKind.RETURN,
        "workflow": "return",
        "status": "requested",
        "status_category": "new",
        "version": 1,
        "ticket_id": "t1",
        "order_id": "o1",
        "created_at": _T0,
        "updated_at": _T0,
    }
    values.update(fields)
    return Case(**values)


def _case_line(**claim: Any) -> CaseLine:
    """A returned order line with the facts the policy decided on and its decision."""
    facts = Facts.model_validate(
        {
            "jurisdiction": "cn",
            "product": {"category": "apparel", "sku": "DRESS-M"},
            "order": {
                "purchased_at": _T0 - timedelta(days=5),
                "delivered_at": _T0 - timedelta(days=3),
                "unit_price": {"amount": "299.00", "currency": "CNY"},
                "quantity": 2,
            },
            "claim": {"at": _T0, "kind": "no_reason_return", "quantity": 1, **claim},
        }
    )
    return CaseLine(
        line_id="l1",
        sku="DRESS-M",
        quantity=1,
        bought=2,
        unit_price=facts.order.unit_price,
        facts=facts,
        decision=decide(facts),
    )


def _case_event(case: Case, trigger: str = "created") -> Event:
    return Event(
        subject_id=case.id,
        subject_kind=case.kind.value,
        sequence=case.version,
        trigger=trigger,
        from_state=None,
        to_state=case.status,
        actor="tester",
        at=case.updated_at,
        changes=case.model_dump(mode="json"),
    )


class StoreContractBase:
    """A fresh, empty store per test from :meth:`make_store`, closed after it."""

    store: Store

    def make_store(self) -> Store:
        """Return a new, empty store."""
        raise NotImplementedError

    def setup_method(self, method: object = None) -> None:
        self.store = self.make_store()

    def teardown_method(self, method: object = None) -> None:
        self.store.close()

    def _create(self, number: int, **fields: Any) -> Ticket:
        ticket = _ticket(number, **fields)
        self.store.commit(Change(ticket, 0, (_event(ticket),)))
        return ticket

    def _advance(self, ticket: Ticket, **fields: Any) -> Ticket:
        fields.setdefault("updated_at", ticket.updated_at + timedelta(minutes=1))
        changed = ticket.model_copy(update={**fields, "version": ticket.version + 1})
        self.store.commit(
            Change(changed, ticket.version, (_event(changed, "step", ticket.status),))
        )
        return changed
