"""Customers, the outbox and key-value state of
:class:`~aftersales.storage.sqlalchemy.SQLAlchemyStore`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from aftersales.exceptions import (
    CustomerNotFound,
    StorageError,
)
from aftersales.models import Channel, Customer
from aftersales.notify._notification import DeliveryStatus, Notification
from aftersales.storage import _codec as codec
from aftersales.storage._protocol import (
    address_taken,
    bounded_error,
    check_id,
    check_limit,
)
from aftersales.storage._sqlalchemy.connection import (
    SQLAlchemyConnection,
)
from aftersales.storage._sqlalchemy.tables import (
    _PENDING,
    contact_points,
    customers,
    outbox,
    state,
)


class SQLAlchemyRecords(SQLAlchemyConnection):
    """Customers with their contact points, outbox rows and state."""

    def save_customer(self, customer: Customer) -> None:
        try:
            with self._begin() as conn:
                self._save_customer(conn, customer)
        except IntegrityError:  # another writer took one of the addresses meanwhile
            with self._read() as conn:
                taken = self._taken(conn, customer)
            if taken:
                raise address_taken(customer, taken) from None
            raise StorageError(f"{self.dialect}: customer {customer.id!r} not saved") from None

    @staticmethod
    def _taken(conn: Connection, customer: Customer) -> list[int]:
        """Indexes of the customer's contact points that another customer holds."""
        return [
            index
            for index, contact in enumerate(customer.contacts)
            if conn.execute(
                sa.select(contact_points.c.customer_id).where(
                    contact_points.c.channel == contact.channel.value,
                    contact_points.c.address == contact.address,
                    contact_points.c.customer_id != customer.id,
                )
            ).first()
            is not None
        ]

    def _save_customer(self, conn: Connection, customer: Customer) -> None:
        taken = self._taken(conn, customer)
        if taken:
            raise address_taken(customer, taken)
        conn.execute(contact_points.delete().where(contact_points.c.customer_id == customer.id))
        conn.execute(customers.delete().where(customers.c.id == customer.id))
        conn.execute(customers.insert().values(id=customer.id, data=codec.customer_data(customer)))
        contacts = {(c.channel.value, c.address) for c in customer.contacts}
        if contacts:
            conn.execute(
                contact_points.insert(),
                [
                    {"channel": channel, "address": address, "customer_id": customer.id}
                    for channel, address in sorted(contacts)
                ],
            )

    def get_customer(self, customer_id: str) -> Customer:
        check_id(customer_id, "customer_id")
        with self._read() as conn:
            data = conn.execute(
                sa.select(customers.c.data).where(customers.c.id == customer_id)
            ).scalar()
        if data is None:
            raise CustomerNotFound(customer_id)
        return Customer.model_validate_json(data)

    def find_customer(self, channel: Channel, address: str) -> Customer | None:
        statement = (
            sa.select(customers.c.data)
            .join(contact_points, contact_points.c.customer_id == customers.c.id)
            .where(contact_points.c.channel == channel.value, contact_points.c.address == address)
        )
        with self._read() as conn:
            data = conn.execute(statement).scalar()
        return None if data is None else Customer.model_validate_json(data)

    def get_state(self, key: str) -> str | None:
        with self._read() as conn:
            value = conn.execute(sa.select(state.c.value).where(state.c.key == key)).scalar()
        return None if value is None else str(value)

    def set_state(self, key: str, value: str) -> None:
        with self._begin() as conn:
            conn.execute(state.delete().where(state.c.key == key))
            conn.execute(state.insert().values(key=key, value=value))

    def claim_outbox(self, now: datetime, lease_until: datetime, limit: int) -> list[Notification]:
        check_limit(limit)
        statement = (
            sa.select(outbox)
            .where(
                outbox.c.status == _PENDING,  # as the partial index says it: not a parameter
                outbox.c.next_attempt_at <= codec.ts(now),
                sa.or_(outbox.c.lease_until.is_(None), outbox.c.lease_until <= codec.ts(now)),
            )
            .order_by(outbox.c.next_attempt_at, outbox.c.key)
            .limit(limit)
        )
        if self._skip_locked:
            statement = statement.with_for_update(skip_locked=True)
        with self._begin() as conn:
            rows = conn.execute(statement).mappings().all()
            if rows:
                conn.execute(
                    outbox.update()
                    .where(outbox.c.key.in_([r["key"] for r in rows]))
                    .values(lease_until=codec.ts(lease_until))
                )
        return [attrs.evolve(codec.read_notification(row), lease_until=lease_until) for row in rows]  # type: ignore[arg-type]

    def mark_delivered(self, keys: Sequence[str], at: datetime) -> None:
        if keys:
            with self._begin() as conn:
                self._acknowledge(conn, keys, at)

    def mark_failed(self, key: str, error: str, retry_at: datetime | None, at: datetime) -> None:
        values: dict[str, Any] = {
            "attempts": outbox.c.attempts + 1,
            "last_error": bounded_error(error),
            "lease_until": None,
            "status": "pending" if retry_at else "dead",
        }
        if retry_at is not None:
            values["next_attempt_at"] = codec.ts(retry_at)
        with self._begin() as conn:
            conn.execute(
                outbox.update()
                .where(outbox.c.key == key, outbox.c.status == "pending")
                .values(**values)
            )

    def outbox(self, status: DeliveryStatus | None = None) -> list[Notification]:
        statement = sa.select(outbox).order_by(outbox.c.created_at, outbox.c.key)
        if status is not None:
            statement = statement.where(outbox.c.status == status.value)
        with self._read() as conn:
            return [codec.read_notification(row) for row in conn.execute(statement).mappings()]  # type: ignore[arg-type]
