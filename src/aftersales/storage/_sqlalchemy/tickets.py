"""Ticket reads of :class:`~aftersales.storage.sqlalchemy.SQLAlchemyStore`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from aftersales.exceptions import (
    TicketNotFound,
)
from aftersales.models import Event, Message, Ticket
from aftersales.storage import _codec as codec
from aftersales.storage._protocol import (
    check_id,
    check_limit,
    check_number,
)
from aftersales.storage._sqlalchemy.connection import (
    SQLAlchemyConnection,
)
from aftersales.storage._sqlalchemy.tables import (
    events,
    messages,
    tickets,
)
from aftersales.storage._unit import TicketQuery


class SQLAlchemyTickets(SQLAlchemyConnection):
    """The ticket reads."""

    def _tickets(self, statement: sa.Select[Any]) -> list[Ticket]:
        with self._read() as conn:
            return [Ticket.model_validate_json(row[0]) for row in conn.execute(statement)]

    def get(self, ticket_id: str) -> Ticket:
        check_id(ticket_id, "ticket_id")
        found = self._tickets(sa.select(tickets.c.data).where(tickets.c.id == ticket_id))
        if not found:
            raise TicketNotFound(ticket_id)
        return found[0]

    def get_by_number(self, number: int) -> Ticket:
        check_number(number)
        found = self._tickets(sa.select(tickets.c.data).where(tickets.c.number == number))
        if not found:
            raise TicketNotFound(f"#{number}")
        return found[0]

    def find(self, query: TicketQuery) -> list[Ticket]:
        statement = sa.select(tickets.c.data)
        for column, value in (
            (tickets.c.status, query.status),
            (tickets.c.status_category, query.status_category and query.status_category.value),
            (tickets.c.assignee, query.assignee),
            (tickets.c.team, query.team),
            (tickets.c.customer_id, query.customer_id),
            (tickets.c.channel, query.channel and query.channel.value),
            (tickets.c.merged_into, query.merged_into),
            (tickets.c.parent_id, query.parent_id),
            (tickets.c.follow_up_of, query.follow_up_of),
        ):
            if value is not None:
                statement = statement.where(column == value)
        if query.created_from is not None:
            statement = statement.where(tickets.c.created_at >= codec.ts(query.created_from))
        if query.created_to is not None:
            statement = statement.where(tickets.c.created_at < codec.ts(query.created_to))
        statement = statement.order_by(tickets.c.created_at, tickets.c.number)
        return self._tickets(statement.limit(query.limit).offset(query.offset))

    def events(self, subject_id: str) -> list[Event]:
        with self._read() as conn:
            rows = conn.execute(
                sa.select(events.c.data)
                .where(events.c.subject_id == subject_id)
                .order_by(events.c.sequence)
            )
            return [Event.model_validate_json(row[0]) for row in rows]

    def messages(self, ticket_id: str) -> list[Message]:
        with self._read() as conn:
            rows = conn.execute(
                sa.select(messages.c.data)
                .where(messages.c.ticket_id == ticket_id)
                .order_by(messages.c.at, messages.c.position)
            )
            return [Message.model_validate_json(row[0]) for row in rows]

    def due(self, before: datetime, limit: int) -> list[Ticket]:
        check_limit(limit)
        return self._tickets(
            sa.select(tickets.c.data)
            .where(tickets.c.due_at.isnot(None), tickets.c.due_at <= codec.ts(before))
            .order_by(tickets.c.due_at, tickets.c.number)
            .limit(limit)
        )

    def sla_due(self, before: datetime, limit: int) -> list[Ticket]:
        check_limit(limit)
        return self._tickets(
            sa.select(tickets.c.data)
            .where(tickets.c.sla_due_at.isnot(None), tickets.c.sla_due_at <= codec.ts(before))
            .order_by(tickets.c.sla_due_at, tickets.c.number)
            .limit(limit)
        )
