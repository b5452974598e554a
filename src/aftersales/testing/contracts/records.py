"""Customers, key-value state and the outbox in a store."""

from __future__ import annotations

from datetime import timedelta

import pytest

from aftersales.exceptions import (
    ConcurrencyError,
    CustomerNotFound,
    InvalidInput,
    TicketNotFound,
)
from aftersales.models import (
    CaseKind,
    Channel,
    ContactPoint,
    Customer,
)
from aftersales.notify import DeliveryStatus
from aftersales.storage import CaseChange, Change, Rewrite, TicketQuery
from aftersales.storage._protocol import MAX_ERROR_LENGTH
from aftersales.testing.contracts._base import (
    _T0,
    StoreContractBase,
    _case,
    _case_event,
    _event,
    _notification,
    _ticket,
)


class RecordContract(StoreContractBase):
    """What a store does with customers, state and outbox rows."""

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

    def test_a_rewrite_moves_contact_points_between_customers_with_the_tickets(self) -> None:
        wechat = ContactPoint(channel=Channel.WECHAT, address="wx-1")
        email = ContactPoint(channel=Channel.EMAIL, address="d@example.com")
        kept = Customer(id="kept", name="Kept")
        duplicate = Customer(id="dup", name="Dup", contacts=(wechat, email))
        self.store.save_customer(kept)
        self.store.save_customer(duplicate)
        ticket = _ticket(1, customer_id="dup")
        self.store.commit(Change(ticket, 0, (_event(ticket),)))
        moved = ticket.model_copy(update={"customer_id": "kept", "version": 2})
        joined = kept.model_copy(update={"contacts": (wechat, email)})
        released = duplicate.model_copy(update={"contacts": (), "merged_into": "kept"})
        # in the wrong order the address is still taken: nothing is written
        with pytest.raises(InvalidInput):
            self.store.rewrite(
                Rewrite(tickets=[moved], added=[_event(moved)], customers=[joined, released])
            )
        assert self.store.get("t1") == ticket
        assert self.store.events("t1") == [_event(ticket)]
        assert self.store.find_customer(Channel.WECHAT, "wx-1") == duplicate
        assert self.store.get_customer("kept") == kept
        self.store.rewrite(
            Rewrite(tickets=[moved], added=[_event(moved)], customers=[released, joined])
        )
        assert self.store.find_customer(Channel.WECHAT, "wx-1") == joined
        assert self.store.find_customer(Channel.EMAIL, "d@example.com") == joined
        assert self.store.get_customer("dup") == released
        assert self.store.get("t1") == moved
        assert [t.id for t in self.store.find(TicketQuery(customer_id="kept"))] == ["t1"]

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

    def test_the_outbox_lists_one_subjects_rows(self) -> None:
        first, second = _ticket(1), _ticket(2)
        first_event, second_event = _event(first), _event(second)
        kept = _notification(first_event, "a")
        self.store.commit(Change(first, 0, (first_event,), (), (kept,)))
        self.store.commit(
            Change(second, 0, (second_event,), (), (_notification(second_event, "b"),))
        )
        self.store.mark_delivered([kept.key], _T0 + timedelta(minutes=1))
        assert [n.key for n in self.store.outbox(subject_id="t1")] == [kept.key]
        assert self.store.outbox(DeliveryStatus.PENDING, subject_id="t1") == []
        assert self.store.outbox(subject_id="nobody") == []

    def test_released_notifications_can_be_claimed_at_once_and_others_stay_as_they_were(
        self,
    ) -> None:
        ticket = _ticket(1)
        event = _event(ticket)
        delivered, released, dead, waiting = (_notification(event, h) for h in "abcd")
        self.store.commit(Change(ticket, 0, (event,), (), (delivered, released, dead, waiting)))
        later = _T0 + timedelta(minutes=10)
        lease = later + timedelta(minutes=5)
        claimed = self.store.claim_outbox(later, lease, 10)
        assert {n.key for n in claimed} == {delivered.key, released.key, dead.key, waiting.key}
        self.store.mark_delivered([delivered.key], later)
        self.store.mark_failed(dead.key, "gone", None, later)
        retry_at = later + timedelta(hours=1)
        self.store.mark_failed(waiting.key, "busy", retry_at, later)
        keys = [delivered.key, released.key, dead.key, waiting.key, "nobody"]
        self.store.release_outbox(keys, later + timedelta(seconds=1), lease_until=lease)
        by_key = {n.key: n for n in self.store.outbox()}
        assert by_key[released.key].lease_until is None
        assert by_key[released.key].next_attempt_at == released.next_attempt_at  # already due
        assert by_key[delivered.key].status is DeliveryStatus.DELIVERED
        assert by_key[dead.key].status is DeliveryStatus.DEAD
        assert by_key[waiting.key].next_attempt_at == retry_at  # not leased: still waits
        again = self.store.claim_outbox(later, later + timedelta(minutes=5), 10)
        assert [n.key for n in again] == [released.key]

    def test_a_release_keeps_a_lease_another_claimer_holds(self) -> None:
        ticket = _ticket(1)
        event = _event(ticket)
        note = _notification(event)
        self.store.commit(Change(ticket, 0, (event,), (), (note,)))
        later = _T0 + timedelta(minutes=10)
        lease = later + timedelta(minutes=5)
        (claimed,) = self.store.claim_outbox(later, lease, 10)
        assert claimed.lease_until == lease
        self.store.release_outbox([note.key], later, lease_until=lease - timedelta(minutes=1))
        assert self.store.claim_outbox(later, lease, 10) == []
        self.store.release_outbox([note.key], later)  # without a lease: whoever holds it
        (pending,) = self.store.outbox(DeliveryStatus.PENDING)
        assert pending.lease_until is None
        assert [n.key for n in self.store.claim_outbox(later, lease, 10)] == [note.key]

    def test_a_released_notification_is_due_by_the_release_time(self) -> None:
        ticket = _ticket(1)
        event = _event(ticket)
        note = _notification(event)
        self.store.commit(Change(ticket, 0, (event,), (), (note,)))
        earlier = note.next_attempt_at - timedelta(minutes=1)
        self.store.release_outbox([note.key], earlier)  # leased by its writer until +5 min
        self.store.release_outbox([], earlier)
        (pending,) = self.store.outbox(DeliveryStatus.PENDING)
        assert (pending.lease_until, pending.next_attempt_at) == (None, earlier)
        assert [n.key for n in self.store.claim_outbox(earlier, earlier, 10)] == [note.key]

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

    def test_requeued_dead_letters_are_pending_again_with_their_error_and_no_attempts(
        self,
    ) -> None:
        ticket = _ticket(1)
        event = _event(ticket)
        dead, other_dead, pending = (_notification(event, name) for name in "abc")
        self.store.commit(Change(ticket, 0, (event,), (), (dead, other_dead, pending)))
        at = _T0 + timedelta(minutes=1)
        self.store.mark_failed(dead.key, "gone", None, at)
        self.store.mark_failed(other_dead.key, "gone too", None, at)
        requeue_at = at + timedelta(hours=1)
        moved = self.store.requeue_dead([dead.key, pending.key, "no-such-key"], requeue_at)
        assert moved == 1  # the pending row and the unknown key are left alone
        still_dead = self.store.outbox(DeliveryStatus.DEAD)
        assert [n.key for n in still_dead] == [other_dead.key]
        requeued = {n.key: n for n in self.store.outbox(DeliveryStatus.PENDING)}
        assert (requeued[dead.key].attempts, requeued[dead.key].last_error) == (0, "gone")
        claimed = self.store.claim_outbox(requeue_at, requeue_at + timedelta(minutes=5), 10)
        assert dead.key in {n.key for n in claimed}
        assert self.store.requeue_dead(None, requeue_at) == 1  # every dead row
        assert self.store.outbox(DeliveryStatus.DEAD) == []

    def test_a_failure_marks_a_row_only_under_the_lease_that_claimed_it(self) -> None:
        ticket = _ticket(1)
        event = _event(ticket)
        note = _notification(event)
        self.store.commit(Change(ticket, 0, (event,), (), (note,)))
        later = _T0 + timedelta(minutes=10)
        first_lease = later + timedelta(minutes=1)
        (first,) = self.store.claim_outbox(later, first_lease, 10)
        assert first.lease_until == first_lease
        # the first claimer outlives its lease; a second one claims the row
        reclaim_at = first_lease + timedelta(seconds=1)
        second_lease = reclaim_at + timedelta(minutes=5)
        (second,) = self.store.claim_outbox(reclaim_at, second_lease, 10)
        assert second.lease_until == second_lease
        self.store.mark_failed(note.key, "late", None, reclaim_at, lease_until=first_lease)
        assert self.store.outbox(DeliveryStatus.DEAD) == []  # the late failure is ignored
        (held,) = self.store.outbox(DeliveryStatus.PENDING)
        assert (held.attempts, held.lease_until) == (0, second_lease)
        self.store.mark_failed(note.key, "now", None, reclaim_at, lease_until=second_lease)
        (dead,) = self.store.outbox(DeliveryStatus.DEAD)
        assert (dead.key, dead.last_error) == (note.key, "now")
