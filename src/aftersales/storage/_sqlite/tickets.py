"""Ticket reads of :class:`~aftersales.storage.sqlite.SQLiteStore`: by id, by number,
by query, the due ones, a ticket's events and messages."""

from __future__ import annotations

from datetime import datetime

from aftersales.exceptions import TicketNotFound
from aftersales.models import Event, Message, Ticket
from aftersales.storage import _codec as codec
from aftersales.storage._protocol import check_id, check_limit, check_number
from aftersales.storage._sqlite.connection import SQLiteConnection
from aftersales.storage._unit import TicketQuery


class SQLiteTickets(SQLiteConnection):
    """The ticket reads."""

    def _version(self, ticket_id: str) -> int | None:
        row = self._conn.execute(
            "SELECT version FROM tickets WHERE id = ?", (ticket_id,)
        ).fetchone()
        return None if row is None else int(row[0])

    def get(self, ticket_id: str) -> Ticket:
        check_id(ticket_id, "ticket_id")
        ticket = self._one(
            "SELECT data FROM tickets WHERE id = ?", (ticket_id,), Ticket.model_validate_json
        )
        if ticket is None:
            raise TicketNotFound(ticket_id)
        return ticket

    def get_by_number(self, number: int) -> Ticket:
        check_number(number)
        ticket = self._one(
            "SELECT data FROM tickets WHERE number = ?", (number,), Ticket.model_validate_json
        )
        if ticket is None:
            raise TicketNotFound(f"#{number}")
        return ticket

    def find(self, query: TicketQuery) -> list[Ticket]:
        clauses: list[str] = []
        params: list[object] = []
        for column, value in (
            ("status", query.status),
            ("status_category", query.status_category and query.status_category.value),
            ("assignee", query.assignee),
            ("team", query.team),
            ("customer_id", query.customer_id),
            ("channel", query.channel and query.channel.value),
            ("merged_into", query.merged_into),
            ("parent_id", query.parent_id),
            ("follow_up_of", query.follow_up_of),
        ):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if query.created_from is not None:
            clauses.append("created_at >= ?")
            params.append(codec.ts(query.created_from))
        if query.created_to is not None:
            clauses.append("created_at < ?")
            params.append(codec.ts(query.created_to))
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = f"SELECT data FROM tickets {where} ORDER BY created_at, number LIMIT ? OFFSET ?"
        with self._guard():
            rows = self._conn.execute(sql, (*params, query.limit, query.offset)).fetchall()
        return [Ticket.model_validate_json(row[0]) for row in rows]

    def events(self, subject_id: str) -> list[Event]:
        with self._guard():
            rows = self._conn.execute(
                "SELECT data FROM events WHERE subject_id = ? ORDER BY sequence", (subject_id,)
            ).fetchall()
        return [Event.model_validate_json(row[0]) for row in rows]

    def messages(self, ticket_id: str) -> list[Message]:
        with self._guard():
            rows = self._conn.execute(
                "SELECT data FROM messages WHERE ticket_id = ? ORDER BY at, rowid", (ticket_id,)
            ).fetchall()
        return [Message.model_validate_json(row[0]) for row in rows]

    def due(self, before: datetime, limit: int) -> list[Ticket]:
        check_limit(limit)
        with self._guard():
            rows = self._conn.execute(
                "SELECT data FROM tickets WHERE due_at IS NOT NULL AND due_at <= ? "
                "ORDER BY due_at, number LIMIT ?",
                (codec.ts(before), limit),
            ).fetchall()
        return [Ticket.model_validate_json(row[0]) for row in rows]

    def sla_due(self, before: datetime, limit: int) -> list[Ticket]:
        check_limit(limit)
        with self._guard():
            rows = self._conn.execute(
                "SELECT data FROM tickets WHERE sla_due_at IS NOT NULL AND sla_due_at <= ? "
                "ORDER BY sla_due_at, number LIMIT ?",
                (codec.ts(before), limit),
            ).fetchall()
        return [Ticket.model_validate_json(row[0]) for row in rows]
