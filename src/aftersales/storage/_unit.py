"""The unit of work a store commits (:class:`Change`, :class:`CaseChange`) and the
queries it answers (:class:`TicketQuery`, :class:`CaseQuery`): plain values every backend
takes, apart from any one backend."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated

import attrs
from pydantic import Field, field_validator

from aftersales.exceptions import FieldError, InvalidInput
from aftersales.models import Case, CaseKind, Channel, Customer, Event, Instant, Message, Ticket
from aftersales.models._base import Identifier, Record, ShortText
from aftersales.models.case import AnyKind, case_kind
from aftersales.models.security import SecurityEntry
from aftersales.models.ticket import MAX_TAGS, PriorityLevel, StatusCategory, Tag
from aftersales.notify._notification import Notification

__all__ = [
    "CaseChange",
    "CaseCursor",
    "CaseQuery",
    "Change",
    "Rewrite",
    "TicketCursor",
    "TicketQuery",
]


@attrs.define(slots=True)
class Change:
    """Everything one transition writes, committed in one transaction or not at all.

    ``expected_version`` is the version the caller read; 0 creates the ticket. The store
    raises :class:`~aftersales.ConcurrencyError` when it differs and writes nothing.
    ``delivered`` lists outbox keys delivered earlier, acknowledged in the same commit.
    ``customer``, when given, is saved in the same transaction, exactly as
    :meth:`Store.save_customer` saves it (inserted or replaced, its contact points indexed,
    an address that belongs to another customer refused with
    :class:`~aftersales.InvalidInput`): a ticket opened for a new customer stores both or
    neither.
    """

    ticket: Ticket
    expected_version: int
    events: Sequence[Event] = ()
    messages: Sequence[Message] = ()
    outbox: Sequence[Notification] = ()
    delivered: Sequence[str] = ()
    customer: Customer | None = None


@attrs.define(slots=True)
class CaseChange:
    """One transition of an after-sales case: the case as it is after the change, the
    version read (0 creates it), its events and outbox rows. Several case changes commit
    together (a return and the refund it opens) or not at all."""

    case: Case
    expected_version: int
    events: Sequence[Event] = ()
    outbox: Sequence[Notification] = ()
    delivered: Sequence[str] = ()
    terms_changed: bool = True
    """False when every line keeps the facts and the decision of the version read, so a
    store that keeps them apart from the rest of the case may leave them as they are."""
    order_check: Callable[[Sequence[Case]], None] | None = None
    """For a new case on an order: the store calls it inside the transaction, before it
    writes anything, with the cases it holds on ``case.order_id`` (oldest first; only those
    of ``order_check_kinds`` when that is not empty), with no
    other writer able to add or change one of them until the commit. It raises (our
    ``InvalidInput``) to refuse the change: no line returned beyond what was bought, none
    refunded beyond what was paid, even when two processes ask at the same moment."""
    order_check_kinds: tuple[CaseKind, ...] = ()


@attrs.define(slots=True)
class Rewrite:
    """Records rewritten in place, in one transaction: what erasing personal data writes.

    Each ticket and case carries the version after the rewrite, one more than the version
    it was read at, and ``added`` holds the event of each that records the rewrite (the
    events before it are rewritten the same way, so replaying them still gives the
    subject); the store raises :class:`~aftersales.ConcurrencyError` and writes nothing
    when one has moved on since it was read, and a copy read before the rewrite can no
    longer be written back. ``events`` are matched by subject and sequence, ``messages``
    by id, ``outbox`` rows by key (their event only; status and attempts stay as they
    are, the last error is cleared). ``customer`` replaces the stored customer and its
    contact points; ``customers`` are then written the same way, in order, with each
    contact point checked as :meth:`Store.save_customer` checks it (so one customer can
    give up an address the next one takes: what merging customers writes).
    ``security`` entries are appended to the security log."""

    tickets: Sequence[Ticket] = ()
    cases: Sequence[Case] = ()
    events: Sequence[Event] = ()
    added: Sequence[Event] = ()
    messages: Sequence[Message] = ()
    outbox: Sequence[Notification] = ()
    customer: Customer | None = None
    security: Sequence[SecurityEntry] = ()
    customers: Sequence[Customer] = ()


class CaseCursor(Record):
    """Where a page of :meth:`Store.find_cases` ended: the last case's creation time and
    id, the order cases are found in. The next page starts after it, so a case that
    leaves or joins the query between two pages never shifts the cases that stay.

    >>> from datetime import datetime, timezone
    >>> cursor = CaseCursor(created_at=datetime(2026, 3, 1, tzinfo=timezone.utc), id="r-7")
    >>> CaseCursor.parse(cursor.token()) == cursor
    True
    """

    created_at: Instant
    id: Identifier

    @classmethod
    def of(cls, case: Case) -> CaseCursor:
        """The cursor just after ``case``."""
        return cls(created_at=case.created_at, id=case.id)

    def token(self) -> str:
        """The cursor as opaque URL-safe text (what a web page or an API hands back)."""
        text = f"{self.created_at.isoformat()}|{self.id}".encode()
        return base64.urlsafe_b64encode(text).decode().rstrip("=")

    @classmethod
    def parse(cls, token: str) -> CaseCursor:
        """The cursor :meth:`token` wrote; anything else raises
        :class:`~aftersales.InvalidInput`."""
        try:
            text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
            created_at, bar, case_id = text.partition("|")  # an id may hold a bar itself
            if not bar:
                raise ValueError(text)
            return cls(created_at=datetime.fromisoformat(created_at), id=case_id)
        except (ValueError, TypeError, UnicodeError, InvalidInput) as error:
            raise InvalidInput(
                "case cursor",
                [FieldError(("after",), "is not a cursor this library wrote", "invalid_cursor")],
            ) from error


class CaseQuery(Record):
    """Filters for finding after-sales cases; every filter given must match. Oldest first
    (by creation time, then id). ``after`` pages by keyset: the cases after that cursor
    (see :meth:`next_page`).

    >>> CaseQuery(kind="return", limit=2).next_page([]) is None
    True
    """

    ticket_id: Identifier | None = None
    order_id: Identifier | None = None
    serial: Identifier | None = None
    parent_id: Identifier | None = None
    customer_id: Identifier | None = None
    kind: AnyKind | None = None
    """A shipped :class:`~aftersales.CaseKind` or the name of a registered kind
    (``"visit"``, ``"survey"``...); an unknown name is refused."""
    status: Identifier | None = None
    status_category: StatusCategory | None = None
    after: CaseCursor | None = None
    limit: Annotated[int, Field(ge=1, le=10_000)] = 1000

    @field_validator("kind", mode="plain", json_schema_input_type=Identifier | None)
    @classmethod
    def _registered_kind(cls, value: object) -> AnyKind | None:
        return None if value is None else case_kind(value)

    def next_page(self, page: Sequence[Case]) -> CaseQuery | None:
        """The query for the page after ``page`` (what :meth:`Store.find_cases` answered
        to this query), or ``None`` when ``page`` was the last: shorter than ``limit``."""
        if len(page) < self.limit:
            return None
        return self.model_copy(update={"after": CaseCursor.of(page[-1])})


class TicketCursor(Record):
    """Where a page of :meth:`Store.find` ended: the last ticket's creation time and
    number, the order tickets are found in. The next page starts after it, so a ticket
    that leaves or joins the query between two pages never shifts the tickets that stay
    (what ``offset`` cannot promise).

    >>> from datetime import datetime, timezone
    >>> cursor = TicketCursor(created_at=datetime(2026, 3, 1, tzinfo=timezone.utc), number=7)
    >>> TicketCursor.parse(cursor.token()) == cursor
    True
    """

    created_at: Instant
    number: Annotated[int, Field(ge=1, le=2**63 - 1)]

    @classmethod
    def of(cls, ticket: Ticket) -> TicketCursor:
        """The cursor just after ``ticket``."""
        return cls(created_at=ticket.created_at, number=ticket.number)

    def token(self) -> str:
        """The cursor as opaque URL-safe text (what a web page or an API hands back)."""
        text = f"{self.created_at.isoformat()}|{self.number}".encode()
        return base64.urlsafe_b64encode(text).decode().rstrip("=")

    @classmethod
    def parse(cls, token: str) -> TicketCursor:
        """The cursor :meth:`token` wrote; anything else raises
        :class:`~aftersales.InvalidInput`."""
        try:
            text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
            created_at, number = text.split("|")
            return cls(created_at=datetime.fromisoformat(created_at), number=int(number))
        except (ValueError, TypeError, UnicodeError) as error:
            raise InvalidInput(
                "ticket cursor",
                [FieldError(("after",), "is not a cursor this library wrote", "invalid_cursor")],
            ) from error


class TicketQuery(Record):
    """Filters for finding tickets; every filter given must match. Oldest first (by
    creation time, then number).

    ``created_from`` is inclusive and ``created_to`` exclusive. ``tags`` match tickets
    that carry every tag given. ``after`` pages by keyset: the tickets after that cursor
    (see :meth:`next_page`); ``offset`` still skips rows, at a cost that grows with it.

    >>> query = TicketQuery(status_category="open", limit=2)
    >>> query.next_page([]) is None
    True
    """

    status: Identifier | None = None
    status_category: StatusCategory | None = None
    assignee: Identifier | None = None
    team: Identifier | None = None
    customer_id: Identifier | None = None
    channel: Channel | None = None
    category: ShortText | None = None
    priority: PriorityLevel | None = None
    tags: Annotated[tuple[Tag, ...], Field(max_length=MAX_TAGS)] = ()
    merged_into: Identifier | None = None
    parent_id: Identifier | None = None
    follow_up_of: Identifier | None = None
    created_from: Instant | None = None
    created_to: Instant | None = None
    after: TicketCursor | None = None
    limit: Annotated[int, Field(ge=1, le=10_000)] = 100
    offset: Annotated[int, Field(ge=0)] = 0

    def next_page(self, page: Sequence[Ticket]) -> TicketQuery | None:
        """The query for the page after ``page`` (what :meth:`Store.find` answered to
        this query), or ``None`` when ``page`` was the last: shorter than ``limit``."""
        if len(page) < self.limit:
            return None
        return self.model_copy(update={"after": TicketCursor.of(page[-1]), "offset": 0})
