"""The contracts every :class:`~aftersales.Store` passes, as pytest test bases.

Subclass :class:`StoreContract` and implement ``make_store`` to test your own store.
Subclass :class:`RaceContract` too (``make_store`` and ``open_store``: another connection
to the same database) for writers at once, and :class:`CrashContract` instead when several
processes can share the store: writers racing in four processes and writers killed inside
transitions. This module imports pytest; the rest of :mod:`aftersales.testing` does not.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from aftersales.exceptions import (
    AftersalesError,
    CaseNotFound,
    ConcurrencyError,
    CustomerNotFound,
    FieldError,
    InvalidInput,
    TicketNotFound,
)
from aftersales.models import (
    AuthorRole,
    Case,
    CaseKind,
    CaseLine,
    Channel,
    ContactPoint,
    Customer,
    Event,
    Message,
    StatusCategory,
    Ticket,
)
from aftersales.notify import DeliveryStatus, Notification
from aftersales.policies.facts import Facts
from aftersales.policies.presets import decide
from aftersales.service import Desk
from aftersales.storage import CaseChange, CaseQuery, Change, Store, TicketQuery
from aftersales.storage._protocol import MAX_ERROR_LENGTH
from aftersales.testing._concurrency import (
    CrashContract,
    RaceContract,
    race_for_the_last_units,
)

__all__ = ["CrashContract", "RaceContract", "StoreContract", "race_for_the_last_units"]


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


class StoreContract:
    """Behaviour every store must have. Subclass it under a ``Test`` name::

        class TestMyStore(StoreContract):
            def make_store(self) -> Store:
                return MyStore(...)

    Each test gets a fresh, empty store from :meth:`make_store`.
    """

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

    def test_a_created_ticket_reads_back_equal_by_id_and_number(self) -> None:
        ticket = self._create(1, tags=("vip", "网购"), description="坏了 'x'; DROP TABLE t;--")
        assert self.store.get("t1") == ticket
        assert self.store.get_by_number(1) == ticket

    def test_unknown_tickets_raise_ticket_not_found(self) -> None:
        with pytest.raises(TicketNotFound):
            self.store.get("nope")
        with pytest.raises(TicketNotFound):
            self.store.get_by_number(99)

    def test_a_commit_writes_state_and_event_together(self) -> None:
        ticket = self._create(1)
        changed = self._advance(ticket, status="classified")
        assert self.store.get("t1") == changed
        assert [e.sequence for e in self.store.events("t1")] == [1, 2]
        assert self.store.events("t1")[-1].to_state == "classified"

    def test_a_stale_version_raises_and_writes_nothing(self) -> None:
        ticket = self._create(1)
        self._advance(ticket, status="classified")
        stale = ticket.model_copy(update={"status": "cancelled", "version": 2})
        late = _event(stale, "cancel", "new")
        with pytest.raises(ConcurrencyError) as raised:
            self.store.commit(Change(stale, 1, (late,), (), (_notification(late),)))
        assert (raised.value.expected_version, raised.value.actual_version) == (1, 2)
        assert self.store.get("t1").status == "classified"
        assert len(self.store.events("t1")) == 2
        assert self.store.outbox() == []

    def test_creating_an_existing_ticket_raises_concurrency_error(self) -> None:
        ticket = self._create(1)
        with pytest.raises(ConcurrencyError):
            self.store.commit(Change(ticket, 0, ()))
        assert len(self.store.events("t1")) == 1

    def test_updating_a_missing_ticket_raises_concurrency_error(self) -> None:
        ghost = _ticket(7, version=2)
        with pytest.raises(ConcurrencyError) as raised:
            self.store.commit(Change(ghost, 1, ()))
        assert raised.value.actual_version is None

    def test_messages_come_back_in_order(self) -> None:
        ticket = self._create(1)
        messages = [
            Message(
                ticket_id="t1",
                author_id="agent",
                author_role=AuthorRole.AGENT,
                body=f"reply {i} 你好",
                channel=Channel.EMAIL,
                at=_T0 + timedelta(minutes=10 + i),
            )
            for i in range(3)
        ]
        changed = ticket.model_copy(update={"version": 2})
        self.store.commit(Change(changed, 1, (_event(changed, "add_message", "new"),), messages))
        assert self.store.messages("t1") == messages
        assert self.store.messages("other") == []

    def test_find_filters_orders_and_pages(self) -> None:
        self._create(1, channel="wechat", customer_id="c1")
        second = self._create(2, channel="email", customer_id="c2", assignee="li")
        self._create(
            3, channel="wechat", customer_id="c1", status="closed", status_category="closed"
        )
        assert [t.number for t in self.store.find(TicketQuery())] == [1, 2, 3]
        assert [t.number for t in self.store.find(TicketQuery(customer_id="c1"))] == [1, 3]
        assert [
            t.number for t in self.store.find(TicketQuery(channel=Channel.WECHAT, status="new"))
        ] == [1]
        assert self.store.find(TicketQuery(assignee="li")) == [second]
        assert [
            t.number for t in self.store.find(TicketQuery(status_category=StatusCategory.CLOSED))
        ] == [3]
        window = TicketQuery(
            created_from=_T0 + timedelta(minutes=2), created_to=_T0 + timedelta(minutes=3)
        )
        assert self.store.find(window) == [second]
        assert [t.number for t in self.store.find(TicketQuery(limit=1, offset=1))] == [2]

    def test_number_blocks_never_overlap(self) -> None:
        first = self.store.reserve_numbers(10)
        second = self.store.reserve_numbers(5)
        third = self.store.reserve_numbers(1)
        assert second == first + 10
        assert third == second + 5

    def test_customers_are_found_by_any_contact_point(self) -> None:
        customer = Customer(
            id="c1",
            name="王小明",
            contacts=(
                ContactPoint(channel=Channel.WECHAT, address="wx-openid-1"),
                ContactPoint(channel=Channel.EMAIL, address="xm@example.com"),
            ),
        )
        self.store.save_customer(customer)
        assert self.store.get_customer("c1") == customer
        assert self.store.find_customer(Channel.WECHAT, "wx-openid-1") == customer
        updated = customer.model_copy(
            update={"contacts": (ContactPoint(channel=Channel.EMAIL, address="new@example.com"),)}
        )
        self.store.save_customer(updated)
        assert self.store.find_customer(Channel.WECHAT, "wx-openid-1") is None
        assert self.store.find_customer(Channel.EMAIL, "new@example.com") == updated
        with pytest.raises(CustomerNotFound):
            self.store.get_customer("nobody")

    def test_due_returns_tickets_due_by_then_earliest_first(self) -> None:
        self._create(1, due_at=_T0 + timedelta(days=3))
        self._create(2, due_at=_T0 + timedelta(days=1))
        self._create(3)
        due = self.store.due(_T0 + timedelta(days=5), 10)
        assert [t.number for t in due] == [2, 1]
        assert [t.number for t in self.store.due(_T0 + timedelta(days=2), 10)] == [2]
        assert self.store.due(_T0 + timedelta(days=5), 1)[0].number == 2

    def test_sla_due_returns_tickets_whose_next_sla_checkpoint_has_come(self) -> None:
        self._create(1, sla_due_at=_T0 + timedelta(hours=4))
        self._create(2, sla_due_at=_T0 + timedelta(hours=1))
        self._create(3, due_at=_T0)
        due = self.store.sla_due(_T0 + timedelta(hours=5), 10)
        assert [t.number for t in due] == [2, 1]
        assert [t.number for t in self.store.sla_due(_T0 + timedelta(hours=2), 10)] == [2]

    def test_commit_many_writes_all_or_nothing(self) -> None:
        first, second = _ticket(1), _ticket(2)
        self.store.commit_many(
            [Change(first, 0, (_event(first),)), Change(second, 0, (_event(second),))]
        )
        assert [t.number for t in self.store.find(TicketQuery())] == [1, 2]
        third = _ticket(3)
        with pytest.raises(ConcurrencyError):
            self.store.commit_many([Change(third, 0, (_event(third),)), Change(first, 0, ())])
        assert [t.number for t in self.store.find(TicketQuery())] == [1, 2]
        assert self.store.events("t3") == []

    def test_state_values_are_kept_and_replaced(self) -> None:
        assert self.store.get_state("round_robin:returns") is None
        self.store.set_state("round_robin:returns", "agent-3")
        self.store.set_state("round_robin:returns", "agent-4")
        assert self.store.get_state("round_robin:returns") == "agent-4"

    def test_outbox_rows_commit_with_the_change_and_are_leased(self) -> None:
        ticket = _ticket(1)
        event = _event(ticket)
        note = _notification(event)
        self.store.commit(Change(ticket, 0, (event,), (), (note,)))
        assert [n.key for n in self.store.outbox(DeliveryStatus.PENDING)] == [note.key]
        assert self.store.claim_outbox(_T0, _T0 + timedelta(minutes=5), 10) == []
        later = _T0 + timedelta(minutes=10)
        claimed = self.store.claim_outbox(later, later + timedelta(minutes=5), 10)
        assert [n.key for n in claimed] == [note.key]
        assert claimed[0].event == event
        assert self.store.claim_outbox(later, later + timedelta(minutes=5), 10) == []

    def test_delivered_and_failed_notifications_are_recorded(self) -> None:
        ticket = _ticket(1)
        event = _event(ticket)
        first, second = _notification(event, "a"), _notification(event, "b")
        self.store.commit(Change(ticket, 0, (event,), (), (first, second)))
        at = _T0 + timedelta(minutes=1)
        self.store.mark_delivered([first.key], at)
        self.store.mark_failed(second.key, "boom", at + timedelta(minutes=1), at)
        delivered = self.store.outbox(DeliveryStatus.DELIVERED)
        assert [(n.key, n.delivered_at) for n in delivered] == [(first.key, at)]
        (pending,) = self.store.outbox(DeliveryStatus.PENDING)
        assert (pending.attempts, pending.last_error, pending.lease_until) == (1, "boom", None)
        self.store.mark_failed(second.key, "boom again", None, at)
        (dead,) = self.store.outbox(DeliveryStatus.DEAD)
        assert (dead.key, dead.attempts, dead.last_error) == (second.key, 2, "boom again")

    def test_acknowledgements_ride_on_the_next_commit(self) -> None:
        ticket = _ticket(1)
        event = _event(ticket)
        note = _notification(event)
        self.store.commit(Change(ticket, 0, (event,), (), (note,)))
        changed = ticket.model_copy(update={"version": 2})
        self.store.commit(
            Change(changed, 1, (_event(changed, "step", "new"),), delivered=[note.key])
        )
        assert [n.key for n in self.store.outbox(DeliveryStatus.DELIVERED)] == [note.key]

    # ------------------------------------------------------------------ cases

    def test_a_case_round_trips_with_its_events(self) -> None:
        case = _case("r1", reason="不合适 — too small 🙂")
        self.store.commit_cases([CaseChange(case, 0, (_case_event(case),))])
        assert self.store.get_case("r1") == case
        assert [e.trigger for e in self.store.events("r1")] == ["created"]
        with pytest.raises(CaseNotFound):
            self.store.get_case("nope")

    def test_a_case_keeps_its_lines_facts_and_decisions_across_steps(self) -> None:
        line = _case_line()
        case = _case("r1", lines=(line,))
        self.store.commit_cases([CaseChange(case, 0, (_case_event(case),))])
        assert self.store.get_case("r1") == case
        received = case.model_copy(
            update={
                "status": "received",
                "version": 2,
                "lines": (line.model_copy(update={"received": 1}),),
            }
        )
        # the same facts and decision: a store may leave them as they are
        self.store.commit_cases(
            [CaseChange(received, 1, (_case_event(received, "receive"),), terms_changed=False)]
        )
        assert self.store.get_case("r1") == received
        late = _case_line(at=_T0 + timedelta(days=30))
        reassessed = received.model_copy(
            update={
                "version": 3,
                "lines": (late.model_copy(update={"received": 1}),),
            }
        )
        assert reassessed.lines[0].decision != line.decision
        self.store.commit_cases([CaseChange(reassessed, 2, (_case_event(reassessed, "assess"),))])
        assert self.store.get_case("r1") == reassessed
        assert self.store.find_cases(CaseQuery(order_id="o1")) == [reassessed]
        bare = reassessed.model_copy(
            update={
                "version": 4,
                "lines": (late.model_copy(update={"facts": None, "decision": None}),),
            }
        )
        self.store.commit_cases([CaseChange(bare, 3, (_case_event(bare, "assess"),))])
        assert self.store.get_case("r1") == bare

    def test_an_order_check_sees_the_orders_cases_inside_the_commit(self) -> None:
        first = _case("r1")
        elsewhere = _case("x1", order_id="o2")
        self.store.commit_cases([CaseChange(c, 0, (_case_event(c),)) for c in (first, elsewhere)])
        seen: list[list[str]] = []
        second = _case("r2", created_at=_T0 + timedelta(minutes=1))
        self.store.commit_cases(
            [
                CaseChange(
                    second,
                    0,
                    (_case_event(second),),
                    order_check=lambda cases: seen.append([c.id for c in cases]),
                )
            ]
        )
        assert seen == [["r1"]]
        refund = _case(
            "f1",
            kind=CaseKind.REFUND,
            workflow="refund",
            status="pending",
            created_at=_T0 + timedelta(minutes=2),
        )
        self.store.commit_cases(
            [
                CaseChange(
                    refund,
                    0,
                    (_case_event(refund),),
                    order_check=lambda cases: seen.append([c.id for c in cases]),
                    order_check_kinds=(CaseKind.REFUND,),
                )
            ]
        )
        assert seen[-1] == []  # only refunds asked for: the returns r1 and r2 are left out

        def refuse(cases: object) -> None:
            raise InvalidInput("return", [FieldError(("lines",), "no units left")])

        third = _case("r3")
        with pytest.raises(InvalidInput):
            self.store.commit_cases(
                [CaseChange(third, 0, (_case_event(third),), order_check=refuse)]
            )
        with pytest.raises(CaseNotFound):
            self.store.get_case("r3")
        assert self.store.events("r3") == []

    def test_a_stale_case_write_changes_nothing(self) -> None:
        case = _case("r1")
        self.store.commit_cases([CaseChange(case, 0, (_case_event(case),))])
        moved = case.model_copy(update={"status": "approved", "version": 2})
        self.store.commit_cases([CaseChange(moved, 1, (_case_event(moved, "approve"),))])
        stale = case.model_copy(update={"status": "refused", "version": 2})
        with pytest.raises(ConcurrencyError):
            self.store.commit_cases([CaseChange(stale, 1, (_case_event(stale, "refuse"),))])
        with pytest.raises(ConcurrencyError):
            self.store.commit_cases([CaseChange(case, 0, ())])
        assert self.store.get_case("r1").status == "approved"
        assert [e.trigger for e in self.store.events("r1")] == ["created", "approve"]

    def test_case_changes_commit_together_or_not_at_all(self) -> None:
        first = _case("r1")
        self.store.commit_cases([CaseChange(first, 0, (_case_event(first),))])
        refund = _case("f1", kind=CaseKind.REFUND, workflow="refund", status="pending")
        stale = first.model_copy(update={"status": "refunded", "version": 2})
        with pytest.raises(ConcurrencyError):
            self.store.commit_cases(
                [CaseChange(refund, 0, (_case_event(refund),)), CaseChange(stale, 5, ())]
            )
        with pytest.raises(CaseNotFound):
            self.store.get_case("f1")
        assert self.store.events("f1") == []

    def test_cases_are_found_by_ticket_order_kind_and_state(self) -> None:
        cases = [
            _case("a", created_at=_T0, updated_at=_T0),
            _case("b", ticket_id="t2", created_at=_T0 + timedelta(minutes=1)),
            _case(
                "c",
                kind=CaseKind.REFUND,
                workflow="refund",
                status="pending",
                parent_id="a",
                created_at=_T0 + timedelta(minutes=2),
            ),
        ]
        self.store.commit_cases([CaseChange(c, 0, (_case_event(c),)) for c in cases])
        assert [c.id for c in self.store.find_cases(CaseQuery(ticket_id="t1"))] == ["a", "c"]
        assert [c.id for c in self.store.find_cases(CaseQuery(order_id="o1"))] == ["a", "b", "c"]
        assert [c.id for c in self.store.find_cases(CaseQuery(kind=CaseKind.REFUND))] == ["c"]
        assert [c.id for c in self.store.find_cases(CaseQuery(parent_id="a"))] == ["c"]
        assert [c.id for c in self.store.find_cases(CaseQuery(status="pending"))] == ["c"]
        assert self.store.find_cases(CaseQuery(status_category=StatusCategory.CLOSED)) == []
        assert [c.id for c in self.store.find_cases(CaseQuery(limit=1))] == ["a"]

    def test_cases_due_are_listed_earliest_first(self) -> None:
        cases = [
            _case("late", step_due_at=_T0 + timedelta(hours=5)),
            _case("soon", step_due_at=_T0 + timedelta(hours=1)),
            _case("none"),
        ]
        self.store.commit_cases([CaseChange(c, 0, (_case_event(c),)) for c in cases])
        due = self.store.cases_due(_T0 + timedelta(hours=6), 10)
        assert [c.id for c in due] == ["soon", "late"]
        assert [c.id for c in self.store.cases_due(_T0 + timedelta(hours=2), 10)] == ["soon"]

    # ------------------------------------------------------------------ customers

    def test_a_ticket_and_the_customer_it_names_commit_together_or_not_at_all(self) -> None:
        email = ContactPoint(channel=Channel.EMAIL, address="wang@example.com")
        customer = Customer(id="c1", name="王小明", contacts=(email,))
        ticket = _ticket(1, customer_id="c1")
        self.store.commit(Change(ticket, 0, (_event(ticket),), customer=customer))
        assert self.store.get("t1") == ticket
        assert self.store.get_customer("c1") == customer
        assert self.store.find_customer(Channel.EMAIL, "wang@example.com") == customer
        # another customer with the same address: neither the ticket nor the customer
        thief = Customer(id="c2", name="Someone", contacts=(email,))
        second = _ticket(2, customer_id="c2")
        with pytest.raises(InvalidInput) as raised:
            self.store.commit(Change(second, 0, (_event(second),), customer=thief))
        assert [e.location for e in raised.value.errors] == [("contacts", 0)]
        # a ticket that cannot be written (its id is taken): no customer either
        newcomer = Customer(id="c3", name="New", contacts=())
        with pytest.raises(ConcurrencyError):
            self.store.commit(Change(_ticket(3, id="t1"), 0, (), customer=newcomer))
        for missing in ("c2", "c3"):
            with pytest.raises(CustomerNotFound):
                self.store.get_customer(missing)
        with pytest.raises(TicketNotFound):
            self.store.get("t2")
        assert self.store.events("t2") == []
        assert self.store.find_customer(Channel.EMAIL, "wang@example.com") == customer
        # in a batch too
        third = _ticket(4, id="t4", customer_id="c4")
        fourth = _ticket(5, id="t5", customer_id="c5")
        with pytest.raises(InvalidInput):
            self.store.commit_many(
                [
                    Change(third, 0, (_event(third),), customer=Customer(id="c4", name="Four")),
                    Change(
                        fourth, 0, (_event(fourth),), customer=thief.model_copy(update={"id": "c5"})
                    ),
                ]
            )
        with pytest.raises(CustomerNotFound):
            self.store.get_customer("c4")
        assert [t.id for t in self.store.find(TicketQuery())] == ["t1"]

    def test_an_address_taken_by_another_customer_is_refused_without_naming_them(self) -> None:
        phone = ContactPoint(channel=Channel.PHONE, address="+86 138 0000 0000")
        owner = Customer(id="owner-7", name="Owner", contacts=(phone,))
        self.store.save_customer(owner)
        other = Customer(
            id="other",
            name="Other",
            contacts=(ContactPoint(channel=Channel.EMAIL, address="o@example.com"), phone),
        )
        with pytest.raises(InvalidInput) as raised:
            self.store.save_customer(other)
        assert [e.location for e in raised.value.errors] == [("contacts", 1)]
        assert "owner-7" not in str(raised.value)
        assert "taken" in str(raised.value)
        with pytest.raises(CustomerNotFound):
            self.store.get_customer("other")
        assert self.store.find_customer(Channel.EMAIL, "o@example.com") is None
        assert self.store.find_customer(Channel.PHONE, phone.address) == owner
        # the owner may save itself again, and give the address up
        self.store.save_customer(owner.model_copy(update={"name": "Owner 2"}))
        self.store.save_customer(owner.model_copy(update={"contacts": ()}))
        self.store.save_customer(other)
        assert self.store.find_customer(Channel.PHONE, phone.address) == other

    # ------------------------------------------------------------------ identifiers

    @pytest.mark.parametrize(("first", "second"), LOOKALIKE_IDENTIFIERS)
    def test_identifiers_that_differ_only_in_case_space_accent_or_symbol_stay_apart(
        self, first: str, second: str
    ) -> None:
        for number, name in enumerate((first, second), start=1):
            self._create(number, id=f"t{number}", customer_id=name, assignee=name, team=name)
            self.store.save_customer(
                Customer(
                    id=name,
                    name=f"customer {number}",
                    contacts=(ContactPoint(channel=Channel.EMAIL, address=f"{name}@example.com"),),
                )
            )
            case = _case(name, ticket_id=f"t{number}", order_id=name, customer_id=name)
            self.store.commit_cases([CaseChange(case, 0, (_case_event(case),))])
        for number, name in enumerate((first, second), start=1):
            ticket_id = f"t{number}"
            for query in (
                TicketQuery(customer_id=name),
                TicketQuery(assignee=name),
                TicketQuery(team=name),
            ):
                assert [t.id for t in self.store.find(query)] == [ticket_id], (query, name)
            assert self.store.get_customer(name).name == f"customer {number}"
            found = self.store.find_customer(Channel.EMAIL, f"{name}@example.com")
            assert found is not None
            assert found.id == name
            assert self.store.get_case(name).ticket_id == ticket_id
            assert [c.id for c in self.store.find_cases(CaseQuery(order_id=name))] == [name]
            assert [c.id for c in self.store.find_cases(CaseQuery(customer_id=name))] == [name]
            assert [e.subject_id for e in self.store.events(name)] == [name]

    def test_control_characters_are_refused_everywhere_and_nothing_is_stored(self) -> None:
        desk = Desk(self.store)
        ticket = desk.open_ticket(customer="c1", channel="email", subject="s")
        for bad in ("c\x00", "li\x00wei", "\x00", "tab\there", "bell\x07"):
            with pytest.raises(InvalidInput):
                desk.open_ticket(customer=bad, channel="email", subject="s")
            for field in ("customer_id", "assignee", "team"):
                with pytest.raises(InvalidInput):  # no such ticket reaches a store
                    ticket.model_validate({**ticket.model_dump(), field: bad})
            with pytest.raises(InvalidInput):
                desk.save_customer({"id": bad, "name": "x"})
            with pytest.raises(InvalidInput):
                desk.open_ticket(customer=Customer(id=bad, name="x"), channel="email", subject="s")
        with pytest.raises(InvalidInput):
            desk.save_customer(
                {"id": "c9", "name": "x", "contacts": [{"channel": "email", "address": "a\x00b"}]}
            )
        assert [t.id for t in self.store.find(TicketQuery())] == [ticket.id]
        assert self.store.get(ticket.id) == ticket
        assert len(self.store.events(ticket.id)) == 1
        with pytest.raises(CustomerNotFound):
            self.store.get_customer("c9")

    def test_lookups_of_values_that_are_no_identifier_raise_only_our_errors(self) -> None:
        self._create(1)
        bad: object
        for bad in ("\ud800", 2**70, -1, {}, None, b"t1"):
            for lookup in (
                self.store.get,
                self.store.get_case,
                self.store.get_customer,
                self.store.get_by_number,
            ):
                with pytest.raises(AftersalesError):
                    lookup(bad)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ integrity

    def test_ids_are_unique_across_tickets_and_cases(self) -> None:
        case = _case("shared")
        self.store.commit_cases([CaseChange(case, 0, (_case_event(case),))])
        ticket = _ticket(1, id="shared")
        with pytest.raises(InvalidInput) as raised:
            self.store.commit(Change(ticket, 0, (_event(ticket),)))
        assert [e.kind for e in raised.value.errors] == ["id_taken"]
        with pytest.raises(InvalidInput):
            self.store.commit_many([Change(ticket, 0, (_event(ticket),))])
        with pytest.raises(TicketNotFound):
            self.store.get("shared")
        assert [e.trigger for e in self.store.events("shared")] == ["created"]
        self._create(2)
        other = _case("t2")
        with pytest.raises(InvalidInput):
            self.store.commit_cases([CaseChange(other, 0, (_case_event(other),))])
        with pytest.raises(CaseNotFound):
            self.store.get_case("t2")
        assert [e.trigger for e in self.store.events("t2")] == ["open"]
        # without events to collide in the log, too
        with pytest.raises(InvalidInput):
            self.store.commit(Change(_ticket(3, id="shared"), 0, ()))
        with pytest.raises(InvalidInput):
            self.store.commit_cases([CaseChange(other, 0, ())])
        with pytest.raises(TicketNotFound):
            self.store.get("shared")
        with pytest.raises(CaseNotFound):
            self.store.get_case("t2")

    def test_imported_numbers_move_the_counter_and_a_taken_number_is_refused(self) -> None:
        first = self.store.reserve_numbers(1)
        imported = _ticket(first + 40, id="imported")
        self.store.commit_many([Change(imported, 0, (_event(imported),))])
        assert self.store.reserve_numbers(1) > imported.number
        one = _ticket(first + 90, id="one")
        self.store.commit(Change(one, 0, (_event(one),)))
        following = self.store.reserve_numbers(10)
        assert following > one.number
        assert self.store.reserve_numbers(1) == following + 10
        for commit in (self.store.commit, lambda c: self.store.commit_many([c])):
            twin = _ticket(imported.number, id="twin")
            with pytest.raises(InvalidInput) as raised:
                commit(Change(twin, 0, (_event(twin),)))
            assert [e.kind for e in raised.value.errors] == ["number_taken"]
        with pytest.raises(TicketNotFound):
            self.store.get("twin")
        assert self.store.get_by_number(imported.number) == imported
        assert self.store.events("twin") == []
        # two new tickets of one batch with one number
        a, b = _ticket(first + 200, id="a"), _ticket(first + 200, id="b")
        with pytest.raises(InvalidInput):
            self.store.commit_many([Change(a, 0, (_event(a),)), Change(b, 0, (_event(b),))])
        assert self.store.events("a") == []

    @pytest.mark.parametrize("limit", [0, -1, 2**70, True, 1.5, "10", None])
    def test_a_limit_that_is_no_positive_whole_number_is_refused(self, limit: object) -> None:
        ticket = _ticket(1, due_at=_T0, sla_due_at=_T0)
        event = _event(ticket)
        note = _notification(event)
        self.store.commit(Change(ticket, 0, (event,), (), (note,)))
        case = _case("r1", step_due_at=_T0)
        self.store.commit_cases([CaseChange(case, 0, (_case_event(case),))])
        later = _T0 + timedelta(hours=1)
        for call in (
            lambda: self.store.claim_outbox(later, later + timedelta(minutes=5), limit),  # type: ignore[arg-type]
            lambda: self.store.due(later, limit),  # type: ignore[arg-type]
            lambda: self.store.sla_due(later, limit),  # type: ignore[arg-type]
            lambda: self.store.cases_due(later, limit),  # type: ignore[arg-type]
            lambda: self.store.reserve_numbers(limit),  # type: ignore[arg-type]
        ):
            with pytest.raises(InvalidInput):
                call()
        (pending,) = self.store.outbox(DeliveryStatus.PENDING)
        assert pending.lease_until == note.lease_until  # not claimed
        assert [n.key for n in self.store.claim_outbox(later, later, 1)] == [note.key]

    # ------------------------------------------------------------------ events and outbox

    def test_events_and_notifications_keep_their_subjects_kind(self) -> None:
        ticket = _ticket(1)
        ticket_event = _event(ticket)
        self.store.commit(Change(ticket, 0, (ticket_event,), (), (_notification(ticket_event),)))
        for kind in CaseKind:
            case = _case(f"{kind.value}-1", kind=kind, workflow=kind.value)
            event = _case_event(case)
            assert event.subject_kind == kind.value
            self.store.commit_cases(
                [CaseChange(case, 0, (event,), (_notification(event, f"h-{kind.value}"),))]
            )
            assert self.store.events(case.id) == [event]
        assert [e.subject_kind for e in self.store.events("t1")] == ["ticket"]
        later = _T0 + timedelta(minutes=10)
        for notifications in (
            self.store.outbox(),
            self.store.claim_outbox(later, later + timedelta(minutes=5), 100),
        ):
            kinds = {n.event.subject_id: n.event.subject_kind for n in notifications}
            assert kinds == {"t1": "ticket", **{f"{k.value}-1": k.value for k in CaseKind}}

    def test_a_long_delivery_error_is_kept_cut_to_its_bound(self) -> None:
        ticket = _ticket(1)
        event = _event(ticket)
        note = _notification(event)
        self.store.commit(Change(ticket, 0, (event,), (), (note,)))
        self.store.mark_failed(note.key, "E" * 100_000, _T0 + timedelta(minutes=1), _T0)
        (pending,) = self.store.outbox(DeliveryStatus.PENDING)
        assert pending.last_error is not None
        assert len(pending.last_error) == MAX_ERROR_LENGTH
        assert pending.last_error.startswith("EEE")
