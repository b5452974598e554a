"""How :class:`~aftersales.storage.recorder.RecordStore` puts a ticket or case query to
its recorder: the columns each filter names, and a find's creation range, cursor, tags and
page, shared by ``select`` (a find) and ``count_rows`` (a count), so that a count matches
exactly what the find of the same query reads."""

from __future__ import annotations

from enum import Enum
from typing import Any

from aftersales.storage import _codec as codec
from aftersales.storage._unit import CaseQuery, TicketQuery

__all__ = ["case_after", "case_filter", "ticket_filter", "ticket_range"]


def _plain(value: object) -> object:
    """An enum's value as the row holds it; anything else as it is."""
    return value.value if isinstance(value, Enum) else value


def ticket_filter(query: TicketQuery) -> dict[str, Any]:
    """The columns a query names, with the value each must have."""
    return {
        column: value
        for column, value in (
            ("status", query.status),
            ("status_category", query.status_category and query.status_category.value),
            ("assignee", query.assignee),
            ("team", query.team),
            ("customer_id", query.customer_id),
            ("channel", query.channel and query.channel.value),
            ("category", query.category),
            ("priority", _plain(query.priority)),
            ("merged_into", query.merged_into),
            ("parent_id", query.parent_id),
            ("follow_up_of", query.follow_up_of),
        )
        if value is not None
    }


def ticket_range(query: TicketQuery) -> dict[str, Any]:
    """The keyword arguments of a find's ``select`` (and of its ``count_rows``) beyond
    its filters: the creation range, the keyset cursor (on find order's columns), the
    tags (each once) and the page."""
    cursor = query.after
    return {
        "since": {} if query.created_from is None else {"created_at": codec.ts(query.created_from)},
        "until": {} if query.created_to is None else {"created_at": codec.ts(query.created_to)},
        "after": (
            {}
            if cursor is None
            else {"created_at": codec.ts(cursor.created_at), "number": cursor.number}
        ),
        "tags": tuple(dict.fromkeys(query.tags)),
        "limit": query.limit,
        "offset": query.offset,
    }


def case_filter(query: CaseQuery) -> dict[str, Any]:
    """The columns a query names, with the value each must have."""
    return {
        column: value
        for column, value in (
            ("ticket_id", query.ticket_id),
            ("order_id", query.order_id),
            ("serial", query.serial),
            ("parent_id", query.parent_id),
            ("customer_id", query.customer_id),
            ("kind", query.kind and query.kind.value),
            ("status", query.status),
            ("status_category", query.status_category and query.status_category.value),
        )
        if value is not None
    }


def case_after(query: CaseQuery) -> dict[str, Any]:
    """The keyset cursor of a case find, on find order's columns (none: from the first)."""
    cursor = query.after
    return {} if cursor is None else {"created_at": codec.ts(cursor.created_at), "id": cursor.id}
