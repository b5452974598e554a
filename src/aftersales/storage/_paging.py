"""Reading every ticket or case of a query, a page at a time, by keyset cursor."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from aftersales.exceptions import StorageError
from aftersales.models import Case, Ticket
from aftersales.storage._protocol import Store
from aftersales.storage._unit import CaseQuery, TicketQuery

__all__ = ["every_case", "every_ticket"]

_Found = TypeVar("_Found", Ticket, Case)


def every_ticket(store: Store, query: TicketQuery) -> Iterator[Ticket]:
    """Every ticket matching ``query``, oldest first, read ``query.limit`` at a time.

    Each page starts after the last ticket of the one before (its cursor), so a ticket
    that leaves the query while the pages are read never makes the next page skip one that
    stayed, and the pages cost the same at the end of the table as at its start (an
    ``offset`` reads every row it skips).

    >>> from aftersales import Desk
    >>> desk = Desk()
    >>> for n in range(3):
    ...     _ = desk.open_ticket(customer="c-1", channel="email", subject=f"Order {n}")
    >>> [t.subject for t in every_ticket(desk.store, TicketQuery(customer_id="c-1", limit=2))]
    ['Order 0', 'Order 1', 'Order 2']
    """
    return _pages(store, store.find, query)


def every_case(store: Store, query: CaseQuery) -> Iterator[Case]:
    """Every case matching ``query``, oldest first, read ``query.limit`` at a time, each
    page after the last case of the one before (see :func:`every_ticket`).

    >>> from aftersales import Desk
    >>> desk = Desk()
    >>> ticket = desk.open_ticket(customer="c-1", channel="email", subject="Broken kettle")
    >>> for n in range(3):
    ...     _ = desk.cases.open_complaint(ticket.id, summary=f"Late delivery {n}")
    >>> len(list(every_case(desk.store, CaseQuery(ticket_id=ticket.id, limit=2))))
    3
    """
    return _pages(store, store.find_cases, query)


def _pages(store: Store, find: Callable[[Any], Sequence[_Found]], query: Any) -> Iterator[_Found]:
    """What ``find`` answers to ``query`` (a :class:`TicketQuery` or :class:`CaseQuery`),
    then to each next page's query, until a page comes back short."""
    next_query = query
    last: str | None = None
    while next_query is not None:
        page = find(next_query)
        last = _moved_on(store, page, last)
        yield from page
        next_query = next_query.next_page(page)


def _moved_on(
    store: Store, page: Sequence[Ticket] | Sequence[Case], last: str | None
) -> str | None:
    """The id the page ends on; a full page ending where the one before it ended means
    the store answered the same page again, as a store that ignores ``after`` does: an
    error, not a loop that never ends."""
    if not page:
        return last
    ends = page[-1].id
    if ends == last:
        raise StorageError(
            f"{type(store).__name__} answered the same page twice: it ignores the query's "
            "'after' cursor, which every store must honour"
        )
    return ends
