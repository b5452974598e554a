"""What a store refuses or keeps apart: lookalike identifiers, control characters, ids
shared by a ticket and a case, taken numbers, bad limits."""

from __future__ import annotations

from datetime import timedelta

import pytest

from aftersales.exceptions import (
    AftersalesError,
    CaseNotFound,
    CustomerNotFound,
    InvalidInput,
    TicketNotFound,
)
from aftersales.models import (
    Channel,
    ContactPoint,
    Customer,
)
from aftersales.notify import DeliveryStatus
from aftersales.service import Desk
from aftersales.storage import CaseChange, CaseQuery, Change, TicketQuery
from aftersales.testing.contracts._base import (
    _T0,
    LOOKALIKE_IDENTIFIERS,
    StoreContractBase,
    _case,
    _case_event,
    _event,
    _notification,
    _ticket,
)


class IntegrityContract(StoreContractBase):
    """What a store refuses, and the values it keeps apart."""

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
                    # WeChat OpenIDs are case-sensitive (e-mail addresses are kept in
                    # lower case by ContactPoint itself)
                    contacts=(ContactPoint(channel=Channel.WECHAT, address=f"wx-{name}"),),
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
            found = self.store.find_customer(Channel.WECHAT, f"wx-{name}")
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
