"""The storage protocol every store implements, and the checks and errors every store
shares. The unit of work and the queries live in :mod:`aftersales.storage._unit`
(re-exported here)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from aftersales.exceptions import FieldError, InvalidInput
from aftersales.models import Case, Channel, Customer, Event, Message, Ticket
from aftersales.models.security import SecurityEntry
from aftersales.notify._notification import DeliveryStatus, Notification
from aftersales.storage._unit import CaseChange, CaseQuery, Change, Rewrite, TicketQuery

__all__ = [
    "MAX_ERROR_LENGTH",
    "MAX_LIMIT",
    "CaseChange",
    "CaseQuery",
    "Change",
    "Store",
    "TicketQuery",
    "address_taken",
    "bounded_error",
    "check_count",
    "check_id",
    "check_limit",
    "check_number",
    "check_query",
    "id_taken",
    "number_taken",
]


MAX_LIMIT = 1_000_000_000
"""The largest ``limit`` (and ``count``) a store method takes: it fits every database's
32-bit integers."""

MAX_ERROR_LENGTH = 2000
"""How many characters of a failed delivery's error text a store keeps (``last_error``);
longer text is cut and ends with an ellipsis."""


def check_limit(limit: object, name: str = "limit") -> int:
    """``limit`` if it is an int from 1 to :data:`MAX_LIMIT`; otherwise
    :class:`~aftersales.InvalidInput`. Every store checks its limits the same way, so that
    no backend reads -1 as "all" and another as "all but the last"."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(
            name, [FieldError((name,), f"must be a whole number from 1 to {MAX_LIMIT:,}")]
        )
    return limit


def check_id(value: object, name: str = "id") -> str:
    """``value`` if it is a str (an id to look up); otherwise
    :class:`~aftersales.InvalidInput`, the same on every store."""
    if not isinstance(value, str):
        raise InvalidInput(name, [FieldError((name,), f"must be text, not {type(value).__name__}")])
    return value


def check_number(value: object) -> int:
    """``value`` if it is an int that can be a ticket number (not a bool); otherwise
    :class:`~aftersales.InvalidInput`."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(
            "number",
            [FieldError(("number",), f"must be a whole number, not {type(value).__name__}")],
        )
    return value


def check_query(query: object) -> TicketQuery:
    """``query`` if it is a :class:`TicketQuery` (validated as it was made); otherwise
    :class:`~aftersales.InvalidInput`, the same on every store's ``find`` and ``count``
    (a dict of filters or None would otherwise fail each backend its own way)."""
    if not isinstance(query, TicketQuery):
        raise InvalidInput(
            "query",
            [FieldError(("query",), f"must be a TicketQuery, not {type(query).__name__}")],
        )
    return query


def check_count(count: object) -> int:
    """The ``count`` of :meth:`Store.reserve_numbers`, checked as :func:`check_limit`."""
    return check_limit(count, "count")


def bounded_error(error: str) -> str:
    """``error`` cut to :data:`MAX_ERROR_LENGTH` characters (the end replaced by "…")."""
    if len(error) <= MAX_ERROR_LENGTH:
        return error
    return error[: MAX_ERROR_LENGTH - 1] + "…"


def id_taken(subject: str, subject_id: str) -> InvalidInput:
    """The error for a new ticket or case whose id another subject (a case or a ticket)
    already has: ids are unique across subjects, whose events share one log."""
    return InvalidInput(
        subject,
        [FieldError(("id",), f"{subject_id!r} is already the id of another subject", "id_taken")],
    )


def number_taken(number: int) -> InvalidInput:
    """The error for a new ticket whose number another ticket has."""
    return InvalidInput(
        "ticket", [FieldError(("number",), f"#{number} is already taken", "number_taken")]
    )


def address_taken(customer: Customer, taken: Sequence[int]) -> InvalidInput:
    """The error for a customer whose contact points at ``taken`` (indexes into
    ``customer.contacts``) belong to another customer. It names neither the other customer
    nor the address: an error text travels to logs and to callers that may not see who
    else is reachable there."""
    return InvalidInput(
        "customer",
        [
            FieldError(
                ("contacts", index),
                f"this {customer.contacts[index].channel.value} address is already taken",
                "address_taken",
            )
            for index in taken
        ],
    )


@runtime_checkable
class Store(Protocol):
    """Where a desk keeps tickets, events, messages, customers and its outbox.

    Every store passes :class:`aftersales.testing.StoreContract`, and the race and crash
    contracts (:class:`~aftersales.testing.contracts.RaceContract`,
    :class:`~aftersales.testing.contracts.CrashContract`) where it applies.
    """

    def reserve_numbers(self, count: int) -> int:
        """Reserve ``count`` (1 to :data:`MAX_LIMIT`) consecutive ticket numbers that no
        ticket has; return the first. A ticket created with a number the store did not
        hand out (an import's) moves the counter past it."""
        ...

    def commit(self, change: Change) -> None:
        """Write ``change`` atomically, checking the ticket's version first.

        Writes nothing and raises :class:`~aftersales.ConcurrencyError` on a version
        conflict (a new ticket whose id a ticket has included), and
        :class:`~aftersales.InvalidInput` when a new ticket's id is a case's (kind
        ``id_taken``: ids are unique across subjects), its number is taken
        (``number_taken``) or an address of ``change.customer`` belongs to another
        customer (``address_taken``)."""
        ...

    def commit_many(self, changes: Sequence[Change]) -> None:
        """Write many changes in one transaction (bulk import): all of them or none, with
        the checks of :meth:`commit` (two new tickets of the batch with one id or one
        number included)."""
        ...

    def get(self, ticket_id: str) -> Ticket:
        """The ticket with this id; raises TicketNotFound."""
        ...

    def get_by_number(self, number: int) -> Ticket:
        """The ticket with this human number; raises TicketNotFound."""
        ...

    def find(self, query: TicketQuery) -> list[Ticket]:
        """Tickets matching ``query``, oldest first (by creation time, then number).
        Anything but a :class:`TicketQuery` raises :class:`~aftersales.InvalidInput`."""
        ...

    def count(self, query: TicketQuery) -> int:
        """How many tickets :meth:`find` would answer to ``query``: ``len(find(query))``,
        without reading or decoding a ticket (a SQL store counts in its indexes, the
        memory store from its buckets).

        Every filter counts as it finds, the tenant's rows only. The page fields are
        honoured too, so the answer is at most ``query.limit``: a count stops once it
        reaches it (how many open tickets an agent holds, up to 10,000, costs what that
        agent holds, never the whole queue); ``after`` counts the tickets after the
        cursor, and ``offset`` leaves out as many as it skips. Order plays no part.
        Anything but a :class:`TicketQuery` raises :class:`~aftersales.InvalidInput`
        and reads nothing."""
        ...

    def events(self, subject_id: str) -> list[Event]:
        """The subject's events in sequence order (empty when there are none)."""
        ...

    def messages(self, ticket_id: str) -> list[Message]:
        """The ticket's messages, oldest first."""
        ...

    def messages_by_author(self, author_id: str) -> list[Message]:
        """The messages whose ``author_id`` is ``author_id``, on any ticket, oldest first
        (what erasing a customer finds of theirs on tickets that are not theirs). Read
        through an index: the cost grows with the author's messages, not the store's."""
        ...

    def save_customer(self, customer: Customer) -> None:
        """Insert or replace a customer and index its contact points.

        A contact point belongs to one customer at most: an address another customer
        holds raises :class:`~aftersales.InvalidInput` (which says that the address is
        taken, never by whom) and saves nothing."""
        ...

    def get_customer(self, customer_id: str) -> Customer:
        """The customer with this id; raises CustomerNotFound."""
        ...

    def find_customer(self, channel: Channel, address: str) -> Customer | None:
        """The customer reachable at ``address`` on ``channel``, if any."""
        ...

    def due(self, before: datetime, limit: int) -> list[Ticket]:
        """Tickets whose ``due_at`` is at or before ``before``, earliest first.

        ``limit`` here and in the other methods that take one is an int from 1 to
        :data:`MAX_LIMIT`; anything else raises :class:`~aftersales.InvalidInput`."""
        ...

    def sla_due(self, before: datetime, limit: int) -> list[Ticket]:
        """Tickets whose ``sla_due_at`` is at or before ``before``, earliest first."""
        ...

    def get_state(self, key: str) -> str | None:
        """A small value kept for the desk's own bookkeeping (e.g. round-robin positions)."""
        ...

    def set_state(self, key: str, value: str) -> None:
        """Keep ``value`` under ``key``, replacing what was there."""
        ...

    def claim_outbox(self, now: datetime, lease_until: datetime, limit: int) -> list[Notification]:
        """Lease up to ``limit`` pending notifications that are due and not leased."""
        ...

    def mark_delivered(self, keys: Sequence[str], at: datetime) -> None:
        """Record these notifications as delivered."""
        ...

    def mark_failed(
        self,
        key: str,
        error: str,
        retry_at: datetime | None,
        at: datetime,
        *,
        lease_until: datetime | None = None,
    ) -> None:
        """Record a failed attempt; ``retry_at`` None sends it to dead-letter. ``error`` is
        kept to :data:`MAX_ERROR_LENGTH` characters (see :func:`bounded_error`).

        With ``lease_until`` (the lease :meth:`claim_outbox` gave), only a row still
        under that lease is marked: the late failure of a worker whose lease ran out
        leaves alone a row another worker claimed since, or one requeued meanwhile."""
        ...

    def release_outbox(
        self, keys: Sequence[str], at: datetime, *, lease_until: datetime | None = None
    ) -> None:
        """Give back claimed notifications that were not delivered (a worker stopping):
        each of ``keys`` still pending and leased loses its lease and is due by ``at``
        (a later ``next_attempt_at`` moves to ``at``), so any worker may claim it at once.

        With ``lease_until``, only rows still under that lease are released: the
        claimer's own, not a row another worker claimed after the lease ran out.
        Delivered and dead rows, rows not leased and unknown keys are left alone."""
        ...

    def requeue_dead(self, keys: Sequence[str] | None, at: datetime) -> int:
        """Move dead-lettered notifications back to pending, due at ``at``: those of
        ``keys``, or every dead one when ``keys`` is None; how many were moved.

        A requeued row starts again: ``attempts`` 0, no lease, due at ``at`` (the next
        dispatch delivers it, with the full ``max_delivery_attempts`` before it can die
        again). ``last_error`` is kept, saying why it died, until the next failed attempt
        replaces it. Pending and delivered rows and unknown keys are left alone."""
        ...

    def outbox(
        self, status: DeliveryStatus | None = None, *, subject_id: str | None = None
    ) -> list[Notification]:
        """Outbox entries, optionally of one status and of one subject's events, oldest
        first (for inspection, and for erasure to find a subject's rows)."""
        ...

    def commit_cases(self, changes: Sequence[CaseChange]) -> None:
        """Write case changes atomically, checking each case's version first; a new case
        whose id a ticket has raises :class:`~aftersales.InvalidInput` (``id_taken``).

        A case's kind, ticket, order, serial number, parent and customer never change
        after it is created; a store may index them once, at insert."""
        ...

    def get_case(self, case_id: str) -> Case:
        """The case with this id; raises CaseNotFound."""
        ...

    def find_cases(self, query: CaseQuery) -> list[Case]:
        """Cases matching ``query``, oldest first (by creation time, then id)."""
        ...

    def cases_due(self, before: datetime, limit: int) -> list[Case]:
        """Cases whose current step's ``step_due_at`` is at or before ``before``, earliest
        first."""
        ...

    def rewrite(self, rewrite: Rewrite) -> None:
        """Rewrite records in place in one transaction (see :class:`Rewrite`): what
        erasing personal data writes. ConcurrencyError, and nothing written, when a ticket
        or case in it is no longer at the version it carries."""
        ...

    def log_security(self, entries: Sequence[SecurityEntry]) -> None:
        """Append entries to the security log (each id once; a repeated id is ignored)."""
        ...

    def security_log(
        self, *, since: datetime | None = None, limit: int = 1000
    ) -> list[SecurityEntry]:
        """Security log entries at or after ``since``, oldest first, at most ``limit``."""
        ...

    def close(self) -> None:
        """Release the store's resources."""
        ...
