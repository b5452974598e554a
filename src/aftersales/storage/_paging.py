"""Reading every ticket of a query, a page at a time, by keyset cursor."""

from __future__ import annotations

from collections.abc import Iterator

from aftersales.models import Ticket
from aftersales.storage._protocol import Store
from aftersales.storage._unit import TicketQuery

__all__ = ["every_ticket"]


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
    next_query: TicketQuery | None = query
    while next_query is not None:
        page = store.find(next_query)
        yield from page
        next_query = next_query.next_page(page)
