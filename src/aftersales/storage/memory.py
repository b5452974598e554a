"""A store in process memory: the default for tests and short-lived desks."""

from __future__ import annotations

import heapq
import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import attrs

from aftersales.exceptions import CaseNotFound, ConcurrencyError, CustomerNotFound, TicketNotFound
from aftersales.models import Case, CaseKind, Channel, Customer, Event, Message, Ticket
from aftersales.models.security import SecurityEntry
from aftersales.notify._notification import DeliveryStatus, Notification
from aftersales.storage._memory_index import SortedKeys, TicketIndex
from aftersales.storage._protocol import (
    CaseChange,
    CaseQuery,
    Change,
    TicketQuery,
    address_taken,
    bounded_error,
    check_count,
    check_id,
    check_limit,
    check_number,
    check_query,
    id_taken,
    number_taken,
)
from aftersales.storage._tenant import DEFAULT_TENANT, check_tenant
from aftersales.storage._unit import Rewrite

_PENDING = DeliveryStatus.PENDING


def _case_order(case: Case) -> tuple[datetime, str]:
    """A case's place in find order: its creation time, then its id."""
    return (case.created_at, case.id)


def case_matches(case: Case, query: CaseQuery) -> bool:
    """Whether ``case`` passes every filter of ``query``."""
    return (
        (query.ticket_id is None or case.ticket_id == query.ticket_id)
        and (query.order_id is None or case.order_id == query.order_id)
        and (query.serial is None or case.serial == query.serial)
        and (query.parent_id is None or case.parent_id == query.parent_id)
        and (query.customer_id is None or case.customer_id == query.customer_id)
        and (query.kind is None or case.kind == query.kind)
        and (query.status is None or case.status == query.status)
        and (query.status_category is None or case.status_category is query.status_category)
    )


class MemoryStore:
    """Keeps everything in dictionaries, guarded by one lock. Nothing survives the process.

    ``tenant`` names the shop whose records the store keeps, as in a SQL store;
    :meth:`for_tenant` gives another shop's store of the same memory (one lock, ids
    unique across the shops), so that an app serving several shops runs its tests in
    memory as it runs on a shared database (docs/how-to/several-shops.md)."""

    def __init__(self, tenant: str = DEFAULT_TENANT) -> None:
        self._open(check_tenant(tenant), threading.Lock(), {})

    def for_tenant(self, tenant: str) -> MemoryStore:
        """The store of ``tenant``'s records in the same memory: made on first use,
        the same object afterwards; a name that is no tenant's raises
        :class:`~aftersales.InvalidInput`."""
        name = check_tenant(tenant)
        with self._lock:
            found = self._tenants.get(name)
            if found is None:
                found = MemoryStore.__new__(MemoryStore)
                found._open(name, self._lock, self._tenants)
            return found

    def _open(self, tenant: str, lock: threading.Lock, tenants: dict[str, MemoryStore]) -> None:
        """Start empty as ``tenant``'s store among ``tenants`` (the shops sharing the
        memory, and ``lock``)."""
        self.tenant = tenant
        self._tenants = tenants
        tenants[tenant] = self
        self._lock = lock
        self._tickets: dict[str, Ticket] = {}
        self._by_number: dict[int, str] = {}
        # Tickets in find order by each filter's value, and in due order, so that find
        # and the due queries read from where they start rather than scan every ticket.
        self._index = TicketIndex()
        self._events: dict[str, list[Event]] = {}
        self._messages: dict[str, list[Message]] = {}
        # Each author's messages as (ticket id, place in its list): rewrites keep places.
        self._by_author: dict[str, list[tuple[str, int]]] = {}
        self._customers: dict[str, Customer] = {}
        self._contacts: dict[tuple[Channel, str], str] = {}
        self._outbox: dict[str, Notification] = {}
        # Acknowledged keys and when: cheaper than rebuilding each notification on the hot path.
        self._delivered: dict[str, datetime] = {}
        self._state: dict[str, str] = {}
        self._cases: dict[str, Case] = {}
        self._cases_due = SortedKeys()  # (step_due_at, case id)
        self._security: dict[str, SecurityEntry] = {}
        self._next_number = 1

    def reserve_numbers(self, count: int) -> int:
        check_count(count)
        with self._lock:
            first = self._next_number
            self._next_number += count
            return first

    def commit_many(self, changes: Sequence[Change]) -> None:
        with self._lock:
            seen: set[str] = set()
            numbers: set[int] = set()
            contacts: dict[tuple[Channel, str], str] = {}
            for change in changes:
                ticket = change.ticket
                if ticket.id in seen:
                    raise ConcurrencyError(ticket.id, change.expected_version, None)
                self._check(change, numbers, contacts)
                seen.add(ticket.id)
            for change in changes:
                self._apply(change)

    def commit(self, change: Change) -> None:
        # read once: each attribute read on a pydantic model goes through its __getattr__
        # hook, and so does reading its __dict__
        values = change.ticket.__dict__
        ticket_id = values["id"]
        with self._lock:
            current = self._tickets.get(ticket_id)
            # the common case, a stored ticket at the version expected and no customer
            # saved with it, passes every check _check makes: it is not called
            if (
                current is None
                or current.__dict__["version"] != change.expected_version
                or change.customer is not None
            ):
                self._check(change, set(), {})
            self._apply(change, values, current)

    def _check(
        self,
        change: Change,
        numbers: set[int],
        contacts: dict[tuple[Channel, str], str],
    ) -> None:
        """Refuse a change that a SQL store would refuse; the lock is held. ``numbers``
        and ``contacts`` collect what earlier changes of the same batch take."""
        ticket = change.ticket
        current = self._tickets.get(ticket.id)
        actual = None if current is None else current.version
        if (actual or 0) != change.expected_version:
            raise ConcurrencyError(ticket.id, change.expected_version, actual)
        if current is None:
            if self._taken(ticket.id):
                raise id_taken("ticket", ticket.id)
            if ticket.number in self._by_number or ticket.number in numbers:
                raise number_taken(ticket.number)
            numbers.add(ticket.number)
        if change.customer is not None:
            self._check_contacts(change.customer, contacts)

    def _taken(self, subject_id: str) -> bool:
        """Whether a ticket or case of any tenant has ``subject_id``; the lock is held.
        Ids are unique across tenants, as in a SQL store."""
        return any(
            subject_id in shop._tickets or subject_id in shop._cases
            for shop in self._tenants.values()
        )

    def _check_contacts(
        self, customer: Customer, pending: dict[tuple[Channel, str], str] | None = None
    ) -> None:
        taken = []
        for index, contact in enumerate(customer.contacts):
            key = (contact.channel, contact.address)
            if pending is not None and key in pending:
                owner: str | None = pending[key]
            else:
                owner = self._contacts.get(key)
            if owner is not None and owner != customer.id:
                taken.append(index)
            elif pending is not None:
                pending[key] = customer.id
        if taken:
            raise address_taken(customer, taken)

    def _apply(
        self,
        change: Change,
        values: dict[str, Any] | None = None,
        previous: Ticket | None = None,
    ) -> None:
        """Write a change that passed :meth:`_check`; the lock is held. ``values`` (the
        ticket's ``__dict__``) and ``previous`` (the stored ticket) when the caller read
        them already."""
        ticket = change.ticket
        if values is None:
            # read once: each attribute read on a pydantic model goes through its
            # __getattr__ hook
            values = ticket.__dict__
            previous = self._tickets.get(values["id"])
        ticket_id: str = values["id"]
        if change.customer is not None:
            self._put_customer(change.customer)
        if previous is None:
            self._by_number[ticket.number] = ticket_id
            if ticket.number >= self._next_number:
                self._next_number = ticket.number + 1
        self._index.put(previous, ticket, values)
        self._tickets[ticket_id] = ticket
        if change.events:
            written = self._events.get(ticket_id)  # (setdefault makes a list each time)
            if written is None:
                self._events[ticket_id] = list(change.events)
            else:
                written.extend(change.events)
        if change.messages:
            kept = self._messages.setdefault(ticket_id, [])
            for message in change.messages:
                self._by_author.setdefault(message.author_id, []).append((ticket_id, len(kept)))
                kept.append(message)
        for notification in change.outbox:
            self._outbox[notification.key] = notification
        if change.delivered:
            self._acknowledge(change.delivered, values["updated_at"])

    def get(self, ticket_id: str) -> Ticket:
        check_id(ticket_id, "ticket_id")
        try:
            return self._tickets[ticket_id]
        except KeyError:
            raise TicketNotFound(ticket_id) from None

    def get_by_number(self, number: int) -> Ticket:
        check_number(number)
        ticket_id = self._by_number.get(number)
        if ticket_id is None:
            raise TicketNotFound(f"#{number}")
        return self._tickets[ticket_id]

    def find(self, query: TicketQuery) -> list[Ticket]:
        check_query(query)
        with self._lock:
            found = self._index.find(query, self._tickets)
        return found[query.offset :]

    def count(self, query: TicketQuery) -> int:
        check_query(query)
        with self._lock:
            return self._index.count(query, self._tickets)

    def events(self, subject_id: str) -> list[Event]:
        return list(self._events.get(subject_id, ()))

    def messages(self, ticket_id: str) -> list[Message]:
        return list(self._messages.get(ticket_id, ()))

    def messages_by_author(self, author_id: str) -> list[Message]:
        check_id(author_id, "author_id")
        with self._lock:
            places = list(self._by_author.get(author_id, ()))
            found = [self._messages[ticket_id][place] for ticket_id, place in places]
        # a rewrite may have changed the author (a desk may declare it personal)
        return sorted((m for m in found if m.author_id == author_id), key=lambda m: m.at)

    def save_customer(self, customer: Customer) -> None:
        with self._lock:
            self._check_contacts(customer)
            self._put_customer(customer)

    def _put_customer(self, customer: Customer) -> None:
        previous = self._customers.get(customer.id)
        if previous is not None:
            for contact in previous.contacts:
                self._contacts.pop((contact.channel, contact.address), None)
        self._customers[customer.id] = customer
        for contact in customer.contacts:
            self._contacts[(contact.channel, contact.address)] = customer.id

    def get_customer(self, customer_id: str) -> Customer:
        check_id(customer_id, "customer_id")
        try:
            return self._customers[customer_id]
        except KeyError:
            raise CustomerNotFound(customer_id) from None

    def find_customer(self, channel: Channel, address: str) -> Customer | None:
        customer_id = self._contacts.get((channel, address))
        return None if customer_id is None else self._customers[customer_id]

    def due(self, before: datetime, limit: int) -> list[Ticket]:
        check_limit(limit)
        with self._lock:
            ids = self._index.due_until(self._index.due, before, limit)
            return [self._tickets[ticket_id] for ticket_id in ids]

    def _current(self, notification: Notification) -> Notification:
        delivered_at = self._delivered.get(notification.key)
        if delivered_at is None:
            return notification
        return attrs.evolve(
            notification,
            status=DeliveryStatus.DELIVERED,
            delivered_at=delivered_at,
            lease_until=None,
        )

    def _pending(self, key: str) -> Notification | None:
        notification = self._outbox.get(key)
        if (
            notification is None
            or notification.status is not DeliveryStatus.PENDING
            or key in self._delivered
        ):
            return None
        return notification

    def sla_due(self, before: datetime, limit: int) -> list[Ticket]:
        check_limit(limit)
        with self._lock:
            ids = self._index.due_until(self._index.sla_due, before, limit)
            return [self._tickets[ticket_id] for ticket_id in ids]

    def get_state(self, key: str) -> str | None:
        return self._state.get(key)

    def set_state(self, key: str, value: str) -> None:
        with self._lock:
            self._state[key] = value

    def claim_outbox(self, now: datetime, lease_until: datetime, limit: int) -> list[Notification]:
        check_limit(limit)
        with self._lock:
            claimable = sorted(
                (
                    n
                    for key, n in self._outbox.items()
                    if self._pending(key) is not None
                    and n.next_attempt_at <= now
                    and (n.lease_until is None or n.lease_until <= now)
                ),
                key=lambda n: (n.next_attempt_at, n.key),
            )[:limit]
            claimed = [attrs.evolve(n, lease_until=lease_until) for n in claimable]
            for notification in claimed:
                self._outbox[notification.key] = notification
            return claimed

    def _acknowledge(self, keys: Sequence[str], at: datetime) -> None:
        outbox, delivered = self._outbox, self._delivered
        for key in keys:
            # _pending, inlined: every commit after a delivery acknowledges it
            notification = outbox.get(key)
            if (
                notification is not None
                and notification.status is _PENDING
                and key not in delivered
            ):
                delivered[key] = at

    def mark_delivered(self, keys: Sequence[str], at: datetime) -> None:
        with self._lock:
            self._acknowledge(keys, at)

    def mark_failed(
        self,
        key: str,
        error: str,
        retry_at: datetime | None,
        at: datetime,
        *,
        lease_until: datetime | None = None,
    ) -> None:
        with self._lock:
            notification = self._pending(key)
            if notification is None or (
                lease_until is not None and notification.lease_until != lease_until
            ):
                return
            self._outbox[key] = attrs.evolve(
                notification,
                attempts=notification.attempts + 1,
                last_error=bounded_error(error),
                lease_until=None,
                next_attempt_at=retry_at or notification.next_attempt_at,
                status=DeliveryStatus.PENDING if retry_at else DeliveryStatus.DEAD,
            )

    def release_outbox(
        self, keys: Sequence[str], at: datetime, *, lease_until: datetime | None = None
    ) -> None:
        with self._lock:
            for key in keys:
                notification = self._pending(key)
                if (
                    notification is None
                    or notification.lease_until is None
                    or (lease_until is not None and notification.lease_until != lease_until)
                ):
                    continue
                self._outbox[key] = attrs.evolve(
                    notification,
                    lease_until=None,
                    next_attempt_at=min(notification.next_attempt_at, at),
                )

    def requeue_dead(self, keys: Sequence[str] | None, at: datetime) -> int:
        chosen = None if keys is None else {check_id(key, "keys") for key in keys}
        with self._lock:
            dead = [
                n
                for key, n in self._outbox.items()
                if n.status is DeliveryStatus.DEAD and (chosen is None or key in chosen)
            ]
            for notification in dead:
                self._outbox[notification.key] = attrs.evolve(
                    notification,
                    status=DeliveryStatus.PENDING,
                    attempts=0,
                    lease_until=None,
                    next_attempt_at=at,
                )
            return len(dead)

    def outbox(
        self, status: DeliveryStatus | None = None, *, subject_id: str | None = None
    ) -> list[Notification]:
        with self._lock:
            entries = [
                self._current(n)
                for n in self._outbox.values()
                if subject_id is None or n.event.subject_id == subject_id
            ]
        entries = [n for n in entries if status is None or n.status is status]
        entries.sort(key=lambda n: (n.created_at, n.key))
        return entries

    def commit_cases(self, changes: Sequence[CaseChange]) -> None:
        with self._lock:
            seen: set[str] = set()
            for change in changes:
                case = change.case
                current = self._cases.get(case.id)
                actual = None if current is None else current.version
                if (actual or 0) != change.expected_version or case.id in seen:
                    raise ConcurrencyError(case.id, change.expected_version, actual)
                if current is None and self._taken(case.id):
                    raise id_taken("case", case.id)
                seen.add(case.id)
                if change.order_check is not None and case.order_id is not None:
                    change.order_check(self._on_order(case.order_id, change.order_check_kinds))
            for change in changes:
                case = change.case
                self._put_case(case)
                if change.events:
                    self._events.setdefault(case.id, []).extend(change.events)
                for notification in change.outbox:
                    self._outbox[notification.key] = notification
                if change.delivered:
                    self._acknowledge(change.delivered, case.updated_at)

    def rewrite(self, rewrite: Rewrite) -> None:
        with self._lock:
            for ticket in rewrite.tickets:
                current = self._tickets.get(ticket.id)
                if current is None or current.version != ticket.version - 1:
                    raise ConcurrencyError(
                        ticket.id,
                        ticket.version - 1,
                        None if current is None else current.version,
                    )
            for case in rewrite.cases:
                stored = self._cases.get(case.id)
                if stored is None or stored.version != case.version - 1:
                    raise ConcurrencyError(
                        case.id, case.version - 1, None if stored is None else stored.version
                    )
            self._check_contacts_in_turn(rewrite.customers)
            for ticket in rewrite.tickets:
                self._index.put(self._tickets[ticket.id], ticket)
                self._tickets[ticket.id] = ticket
            for case in rewrite.cases:
                self._put_case(case)
            for event in rewrite.added:
                self._events.setdefault(event.subject_id, []).append(event)
            for event in rewrite.events:
                log = self._events.get(event.subject_id, [])
                for position, old in enumerate(log):
                    if old.sequence == event.sequence:
                        log[position] = event
            replaced = {message.id: message for message in rewrite.messages}
            for ticket_id, message_list in self._messages.items():
                for position, old_message in enumerate(message_list):
                    if old_message.id in replaced:
                        new = message_list[position] = replaced[old_message.id]
                        if new.author_id != old_message.author_id:
                            places = self._by_author.setdefault(new.author_id, [])
                            places.append((ticket_id, position))
            for notification in rewrite.outbox:
                stored_row = self._outbox.get(notification.key)
                if stored_row is not None:
                    self._outbox[notification.key] = attrs.evolve(
                        stored_row, event=notification.event, last_error=None
                    )
            if rewrite.customer is not None:
                self._put_customer(rewrite.customer)
            for customer in rewrite.customers:
                self._put_customer(customer)
            for entry in rewrite.security:
                self._security.setdefault(entry.id, entry)

    def _check_contacts_in_turn(self, customers: Sequence[Customer]) -> None:
        """Check the contact points of ``customers`` as if each were saved in turn (one
        may give up an address the next takes), before anything is written."""
        owners = dict(self._contacts)
        for customer in customers:
            previous = self._customers.get(customer.id)
            for contact in () if previous is None else previous.contacts:
                owners.pop((contact.channel, contact.address), None)
            taken = [
                index
                for index, contact in enumerate(customer.contacts)
                if owners.get((contact.channel, contact.address), customer.id) != customer.id
            ]
            if taken:
                raise address_taken(customer, taken)
            for contact in customer.contacts:
                owners[(contact.channel, contact.address)] = customer.id

    def log_security(self, entries: Sequence[SecurityEntry]) -> None:
        with self._lock:
            for entry in entries:
                self._security.setdefault(entry.id, entry)

    def security_log(
        self, *, since: datetime | None = None, limit: int = 1000
    ) -> list[SecurityEntry]:
        check_limit(limit)
        with self._lock:
            entries = list(self._security.values())
        found = [e for e in entries if since is None or e.at >= since]
        found.sort(key=lambda e: (e.at, e.id))
        return found[:limit]

    def _on_order(self, order_id: str, kinds: Sequence[CaseKind]) -> list[Case]:
        cases = [
            c
            for c in self._cases.values()
            if c.order_id == order_id and (not kinds or c.kind in kinds)
        ]
        cases.sort(key=lambda c: (c.created_at, c.id))
        return cases

    def get_case(self, case_id: str) -> Case:
        check_id(case_id, "case_id")
        try:
            return self._cases[case_id]
        except KeyError:
            raise CaseNotFound(case_id) from None

    def find_cases(self, query: CaseQuery) -> list[Case]:
        after = query.after
        start = None if after is None else (after.created_at, after.id)
        with self._lock:
            cases = [
                c
                for c in self._cases.values()
                if case_matches(c, query) and (start is None or _case_order(c) > start)
            ]
        # the page alone kept in order, not every match sorted: pages read one after
        # another each cost one pass over the cases, not a sort of them
        return heapq.nsmallest(query.limit, cases, key=_case_order)

    def cases_due(self, before: datetime, limit: int) -> list[Case]:
        check_limit(limit)
        with self._lock:
            ids = TicketIndex.due_until(self._cases_due, before, limit)
            return [self._cases[case_id] for case_id in ids]

    def _put_case(self, case: Case) -> None:
        """Store ``case`` and move it in due order; the lock is held."""
        previous = self._cases.get(case.id)
        old = None if previous is None else previous.step_due_at
        if old != case.step_due_at:
            if old is not None:
                self._cases_due.discard((old, case.id))
            if case.step_due_at is not None:
                self._cases_due.add((case.step_due_at, case.id))
        self._cases[case.id] = case

    def close(self) -> None:
        """Nothing to release (every tenant's records stay)."""
