"""Customers, the outbox and key-value state of
:class:`~aftersales.storage.sqlite.SQLiteStore`."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime

import attrs

from aftersales.exceptions import CustomerNotFound
from aftersales.models import Channel, Customer
from aftersales.notify._notification import DeliveryStatus, Notification
from aftersales.storage import _codec as codec
from aftersales.storage._protocol import address_taken, bounded_error, check_id, check_limit
from aftersales.storage._sqlite.connection import SQLiteConnection
from aftersales.storage._sqlite.statements import _OUTBOX_SELECT, _acknowledge


class SQLiteRecords(SQLiteConnection):
    """Customers with their contact points, outbox rows and state."""

    def save_customer(self, customer: Customer) -> None:
        self._atomically(lambda conn: self._save_customer(conn, customer))

    @staticmethod
    def _save_customer(conn: sqlite3.Connection, customer: Customer) -> None:
        taken = [
            index
            for index, c in enumerate(customer.contacts)
            if conn.execute(
                "SELECT 1 FROM contact_points WHERE channel = ? AND address = ? "
                "AND customer_id <> ?",
                (c.channel.value, c.address, customer.id),
            ).fetchone()
        ]
        if taken:
            raise address_taken(customer, taken)
        conn.execute("DELETE FROM contact_points WHERE customer_id = ?", (customer.id,))
        conn.execute(
            "INSERT OR REPLACE INTO customers (id, data) VALUES (?, ?)",
            (customer.id, codec.customer_data(customer)),
        )
        conn.executemany(
            "INSERT OR REPLACE INTO contact_points (channel, address, customer_id) VALUES (?,?,?)",
            [(c.channel.value, c.address, customer.id) for c in customer.contacts],
        )

    def get_customer(self, customer_id: str) -> Customer:
        check_id(customer_id, "customer_id")
        customer = self._one(
            "SELECT data FROM customers WHERE id = ?", (customer_id,), Customer.model_validate_json
        )
        if customer is None:
            raise CustomerNotFound(customer_id)
        return customer

    def find_customer(self, channel: Channel, address: str) -> Customer | None:
        return self._one(
            "SELECT c.data FROM contact_points p JOIN customers c ON c.id = p.customer_id "
            "WHERE p.channel = ? AND p.address = ?",
            (channel.value, address),
            Customer.model_validate_json,
        )

    def get_state(self, key: str) -> str | None:
        return self._one("SELECT value FROM state WHERE key = ?", (key,), str)

    def set_state(self, key: str, value: str) -> None:
        with self._transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)", (key, value))

    def claim_outbox(self, now: datetime, lease_until: datetime, limit: int) -> list[Notification]:
        check_limit(limit)
        with self._transaction() as conn:
            rows = conn.execute(
                f"SELECT {_OUTBOX_SELECT} FROM outbox WHERE status = 'pending' "
                "AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until <= ?) "
                "ORDER BY next_attempt_at, key LIMIT ?",
                (codec.ts(now), codec.ts(now), limit),
            ).fetchall()
            conn.executemany(
                "UPDATE outbox SET lease_until = ? WHERE key = ?",
                [(codec.ts(lease_until), row["key"]) for row in rows],
            )
        return [attrs.evolve(codec.read_notification(row), lease_until=lease_until) for row in rows]

    def mark_delivered(self, keys: Sequence[str], at: datetime) -> None:
        if keys:
            with self._transaction() as conn:
                _acknowledge(conn, keys, at)

    def mark_failed(self, key: str, error: str, retry_at: datetime | None, at: datetime) -> None:
        with self._transaction() as conn:
            conn.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?, lease_until = NULL, "
                "next_attempt_at = COALESCE(?, next_attempt_at), status = ? "
                "WHERE key = ? AND status = 'pending'",
                (
                    bounded_error(error),
                    codec.ts(retry_at),
                    DeliveryStatus.PENDING.value if retry_at else DeliveryStatus.DEAD.value,
                    key,
                ),
            )

    def outbox(self, status: DeliveryStatus | None = None) -> list[Notification]:
        sql = f"SELECT {_OUTBOX_SELECT} FROM outbox"
        params: tuple[object, ...] = ()
        if status is not None:
            sql += " WHERE status = ?"
            params = (status.value,)
        with self._guard():
            rows = self._conn.execute(sql + " ORDER BY created_at, key", params).fetchall()
        return [codec.read_notification(row) for row in rows]
