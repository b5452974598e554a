""":class:`RecordStore`: the whole :class:`~aftersales.Store` protocol over any
:class:`~aftersales.storage.recorder.Recorder` and the row codec."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

import attrs

from aftersales.exceptions import (
    AftersalesError,
    CaseNotFound,
    ConcurrencyError,
    CustomerNotFound,
    StorageError,
    TicketNotFound,
)
from aftersales.models import Case, Channel, Customer, Event, Message, Ticket
from aftersales.models.security import SecurityEntry
from aftersales.notify._notification import DeliveryStatus, Notification
from aftersales.storage import _codec as codec
from aftersales.storage import _record_writes as writes
from aftersales.storage import _trusted
from aftersales.storage._protocol import (
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
from aftersales.storage._record_queries import (
    case_after,
    case_filter,
    ticket_filter,
    ticket_range,
)
from aftersales.storage._recorder import Recorder, Records, Row
from aftersales.storage._tenant import DEFAULT_TENANT, check_tenant
from aftersales.storage._unit import CaseChange, CaseQuery, Change, Rewrite, TicketQuery

S = TypeVar("S", bound="RecordStore")
_DATA = ("data",)
_CASE = ("data", "terms")


def _ticket(row: Row) -> Ticket:
    return _trusted.read_ticket(row["data"])


class RecordStore:
    """A :class:`~aftersales.Store` on a :class:`~aftersales.storage.recorder.Recorder`:
    every check, error and record-to-row mapping of the protocol, written once.

    >>> from aftersales.storage.recorder import MemoryRecorder
    >>> store = RecordStore(MemoryRecorder())
    >>> store.reserve_numbers(10)
    1
    """

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self._counter_floor = 0
        """A value the ticket counter is known to have reached (it only grows): a new
        ticket numbered below it (from a reserved block) needs no counter statement."""
        self._owner = True
        """Whether :meth:`close` releases the recorder (a :meth:`for_tenant` store shares
        its opener's)."""

    # ------------------------------------------------------------------ tenants

    @property
    def tenant(self) -> str:
        """The shop whose rows this store reads and writes: ``""`` (the default) for a
        database that serves one shop. Every statement it runs names it."""
        return str(getattr(self.recorder, "tenant", DEFAULT_TENANT))

    def for_tenant(self: S, tenant: str) -> S:
        """This store for another shop of the same database: the same connection (or
        pool), its statements and options, no schema check; every row it reads, finds,
        counts, reports or dispatches is ``tenant``'s, and its tickets are numbered from
        #1 apart from the others'. Cheap enough to call per request. Closing it releases
        nothing: the store that opened the database does that.

        Raises :class:`~aftersales.InvalidInput` for a value that is no tenant (see
        docs/how-to/several-shops.md), :class:`~aftersales.StorageError` on a recorder
        that keeps one shop only (:class:`~aftersales.storage.recorder.MemoryRecorder`).
        """
        tenant = check_tenant(tenant)
        scoping = getattr(self.recorder, "for_tenant", None)
        if scoping is None:
            raise StorageError(
                f"{type(self.recorder).__name__} keeps the rows of one shop: no tenants"
            )
        scoped = copy.copy(self)
        scoped.recorder = scoping(tenant)
        scoped._counter_floor = 0  # another tenant's counter
        scoped._owner = False
        scoped._scoped(scoped.recorder)
        return scoped

    def _scoped(self, recorder: Any) -> None:
        """Point a :meth:`for_tenant` copy's own references at its new ``recorder``."""

    # ------------------------------------------------------------------ tickets

    def reserve_numbers(self, count: int) -> int:
        check_count(count)
        last = self.recorder.atomically(lambda r: r.count("ticket_number", add=count))
        self._counter_floor = max(self._counter_floor, last)
        return last - count

    def commit(self, change: Change) -> None:
        reached = self.recorder.atomically(lambda r: self._write(r, change))
        if reached > self._counter_floor:  # committed: the counter keeps it
            self._counter_floor = reached

    def commit_many(self, changes: Sequence[Change]) -> None:
        def work(records: Records) -> int:
            return max([self._write(records, change) for change in changes], default=0)

        reached = self.recorder.atomically(work)
        if reached > self._counter_floor:
            self._counter_floor = reached

    def _write(self, records: Records, change: Change) -> int:
        """Write one change; the ticket counter's value when it had to be read, else 0."""
        reached = 0
        ticket = change.ticket
        if change.customer is not None:
            self._put_customer(records, change.customer)
        if change.expected_version == 0:
            # a case's id is refused by the events' key (the case's first event holds
            # (id, 1)); without events, only a look at the cases can tell
            if not change.events and records.select(
                "cases", {"id": ticket.id}, limit=1, columns=writes.KEY
            ):
                raise id_taken("ticket", ticket.id)
            values, key, event_rows, tag_rows = codec.new_ticket_rows(change)
            row = dict(zip(codec.TICKET_COLUMNS, values, strict=True))
            row.update(zip(codec.TICKET_KEY_COLUMNS, key, strict=True))
            if not records.insert("tickets", row):
                raise self._why_not_created(records, ticket)
            for tag, created, number in tag_rows:
                records.insert("ticket_tags", {"tag": tag, "created_at": created, "number": number})
            if ticket.number >= self._counter_floor:
                reached = records.count("ticket_number", at_least=ticket.number + 1)
            if not writes.log(records, change.events, change.outbox, event_rows):
                raise id_taken("ticket", ticket.id)
        else:
            row = dict(zip(codec.TICKET_COLUMNS, codec.ticket_row(ticket), strict=True))
            if not writes.update_ticket(records, ticket, change.expected_version, row):
                raise ConcurrencyError(
                    ticket.id,
                    change.expected_version,
                    writes.stored_version(records, "tickets", ticket.id),
                )
            if not writes.log(records, change.events, change.outbox):
                raise ConcurrencyError(ticket.id, change.expected_version, None)
        for message in change.messages:
            records.insert(
                "messages",
                dict(zip(codec.MESSAGE_COLUMNS, codec.message_row(message), strict=True)),
            )
        if change.delivered:
            records.acknowledge(change.delivered, codec.ts(ticket.updated_at) or "")
        return reached

    @staticmethod
    def _why_not_created(records: Records, ticket: Ticket) -> AftersalesError:
        version = writes.stored_version(records, "tickets", ticket.id)
        if version is not None:
            return ConcurrencyError(ticket.id, 0, version)
        if records.select("tickets", {"number": ticket.number}, limit=1, columns=writes.KEY):
            return number_taken(ticket.number)
        return id_taken("ticket", ticket.id)

    def _one_ticket(self, where: dict[str, Any]) -> Ticket | None:
        rows = self.recorder.reading(lambda r: r.select("tickets", where, limit=1, columns=_DATA))
        return _ticket(rows[0]) if rows else None

    def get(self, ticket_id: str) -> Ticket:
        check_id(ticket_id, "ticket_id")
        ticket = self._one_ticket({"id": ticket_id})
        if ticket is None:
            raise TicketNotFound(ticket_id)
        return ticket

    def get_by_number(self, number: int) -> Ticket:
        check_number(number)
        ticket = self._one_ticket({"number": number})
        if ticket is None:
            raise TicketNotFound(f"#{number}")
        return ticket

    def find(self, query: TicketQuery) -> list[Ticket]:
        where, found = ticket_filter(check_query(query)), ticket_range(query)
        rows = self.recorder.reading(
            lambda r: r.select(
                "tickets", where, order=("created_at", "number"), columns=_DATA, **found
            )
        )
        return [_ticket(row) for row in rows]

    def count(self, query: TicketQuery) -> int:
        where, found = ticket_filter(check_query(query)), ticket_range(query)
        return self.recorder.reading(lambda r: r.count_rows("tickets", where, **found))

    def events(self, subject_id: str) -> list[Event]:
        rows = self.recorder.reading(
            lambda r: r.select(
                "events", {"subject_id": subject_id}, order=("sequence",), columns=_DATA
            )
        )
        return [_trusted.read_event(row["data"]) for row in rows]

    def messages(self, ticket_id: str) -> list[Message]:
        rows = self.recorder.reading(
            lambda r: r.select("messages", {"ticket_id": ticket_id}, order=("at",), columns=_DATA)
        )
        return [_trusted.read_message(row["data"]) for row in rows]

    def messages_by_author(self, author_id: str) -> list[Message]:
        check_id(author_id, "author_id")
        rows = self.recorder.reading(
            lambda r: r.select("messages", {"author_id": author_id}, order=("at",), columns=_DATA)
        )
        return [_trusted.read_message(row["data"]) for row in rows]

    def _due(self, table: str, column: str, before: datetime, limit: int) -> list[Row]:
        check_limit(limit)
        # in the order of the column's index (see _schema.INDEXES)
        tie = "number" if column == "due_at" else "id"
        at = codec.ts(before) or ""
        columns = _DATA if table == "tickets" else _CASE
        return self.recorder.reading(
            lambda r: r.due(table, column, at, (column, tie), limit, columns=columns)
        )

    def due(self, before: datetime, limit: int) -> list[Ticket]:
        return [_ticket(row) for row in self._due("tickets", "due_at", before, limit)]

    def sla_due(self, before: datetime, limit: int) -> list[Ticket]:
        return [_ticket(row) for row in self._due("tickets", "sla_due_at", before, limit)]

    # ------------------------------------------------------------------ customers and state

    def save_customer(self, customer: Customer) -> None:
        self.recorder.atomically(lambda r: self._put_customer(r, customer))

    @staticmethod
    def _put_customer(records: Records, customer: Customer) -> None:
        contacts = [(c.channel.value, c.address) for c in customer.contacts]
        owners = records.contact_owners(contacts)
        taken = [i for i, owner in enumerate(owners) if owner not in (None, customer.id)]
        if taken:
            raise address_taken(customer, taken)
        records.put_customer(customer.id, codec.customer_data(customer), contacts)

    def get_customer(self, customer_id: str) -> Customer:
        check_id(customer_id, "customer_id")
        rows = self.recorder.reading(
            lambda r: r.select("customers", {"id": customer_id}, columns=_DATA)
        )
        if not rows:
            raise CustomerNotFound(customer_id)
        return _trusted.read_customer(rows[0]["data"])

    def find_customer(self, channel: Channel, address: str) -> Customer | None:
        def read(records: Records) -> list[Row]:
            owner = records.contact_owners([(channel.value, address)])[0]
            return (
                [] if owner is None else records.select("customers", {"id": owner}, columns=_DATA)
            )

        rows = self.recorder.reading(read)
        return _trusted.read_customer(rows[0]["data"]) if rows else None

    def get_state(self, key: str) -> str | None:
        rows = self.recorder.reading(lambda r: r.select("state", {"key": key}, columns=("value",)))
        return str(rows[0]["value"]) if rows else None

    def set_state(self, key: str, value: str) -> None:
        self.recorder.atomically(lambda r: r.put("state", {"key": key, "value": value}))

    # ------------------------------------------------------------------ outbox

    def claim_outbox(self, now: datetime, lease_until: datetime, limit: int) -> list[Notification]:
        check_limit(limit)
        rows = self.recorder.atomically(
            lambda r: r.claim(codec.ts(now) or "", codec.ts(lease_until) or "", limit)
        )
        return [attrs.evolve(codec.read_notification(row), lease_until=lease_until) for row in rows]

    def mark_delivered(self, keys: Sequence[str], at: datetime) -> None:
        if keys:
            self.recorder.atomically(lambda r: r.acknowledge(keys, codec.ts(at) or ""))

    def mark_failed(
        self,
        key: str,
        error: str,
        retry_at: datetime | None,
        at: datetime,
        *,
        lease_until: datetime | None = None,
    ) -> None:
        status = DeliveryStatus.PENDING if retry_at else DeliveryStatus.DEAD
        if lease_until is None:
            self.recorder.atomically(
                lambda r: r.fail(key, bounded_error(error), codec.ts(retry_at), status.value)
            )
            return
        held = {
            "key": key,
            "status": DeliveryStatus.PENDING.value,
            "lease_until": codec.ts(lease_until),
        }

        def fail_under_the_lease(records: Records) -> None:
            found = records.select("outbox", held, columns=("attempts", "next_attempt_at"))
            if not found:  # the lease ran out: another worker's row now, or requeued
                return
            # the lease is part of the condition, as release_outbox's is
            records.rewrite(
                "outbox",
                held,
                {
                    "attempts": found[0]["attempts"] + 1,
                    "last_error": bounded_error(error),
                    "lease_until": None,
                    "next_attempt_at": codec.ts(retry_at) or found[0]["next_attempt_at"],
                    "status": status.value,
                },
            )

        self.recorder.atomically(fail_under_the_lease)

    def release_outbox(
        self, keys: Sequence[str], at: datetime, *, lease_until: datetime | None = None
    ) -> None:
        if not keys:
            return
        due = codec.ts(at) or ""
        own = codec.ts(lease_until)

        def release(records: Records) -> None:
            for key in keys:
                found = records.select(
                    "outbox",
                    {"key": key, "status": "pending"},
                    columns=("lease_until", "next_attempt_at"),
                )
                # SQLite's fast path writes "no lease" as "" rather than NULL
                held = found[0]["lease_until"] if found else None
                if not held or (own is not None and held != own):
                    continue
                # the lease read is part of the condition: a row another worker claimed
                # in between (its lease is another) keeps that claim
                records.rewrite(
                    "outbox",
                    {"key": key, "status": "pending", "lease_until": held},
                    {"lease_until": None, "next_attempt_at": min(found[0]["next_attempt_at"], due)},
                )

        self.recorder.atomically(release)

    def requeue_dead(self, keys: Sequence[str] | None, at: datetime) -> int:
        dead = DeliveryStatus.DEAD.value
        again = {
            "status": DeliveryStatus.PENDING.value,
            "attempts": 0,
            "lease_until": None,
            "next_attempt_at": codec.ts(at) or "",
        }
        if keys is None:
            return self.recorder.atomically(lambda r: r.rewrite("outbox", {"status": dead}, again))
        chosen = list(dict.fromkeys(check_id(key, "keys") for key in keys))
        if not chosen:
            return 0
        return self.recorder.atomically(
            lambda r: sum(
                r.rewrite("outbox", {"key": key, "status": dead}, again) for key in chosen
            )
        )

    def outbox(
        self, status: DeliveryStatus | None = None, *, subject_id: str | None = None
    ) -> list[Notification]:
        where: dict[str, Any] = {} if status is None else {"status": status.value}
        if subject_id is not None:
            where["subject_id"] = subject_id
        rows = self.recorder.reading(
            lambda r: r.select("outbox", where, order=("created_at", "key"))
        )
        return [codec.read_notification(row) for row in rows]

    # ------------------------------------------------------------------ cases

    def commit_cases(self, changes: Sequence[CaseChange]) -> None:
        hold = sorted(
            {
                f"order:{c.case.order_id}"
                for c in changes
                if c.order_check is not None and c.case.order_id is not None
            }
        )

        def work(records: Records) -> None:
            for change in changes:
                writes.write_case(records, change)

        self.recorder.atomically(work, hold=hold)

    def get_case(self, case_id: str) -> Case:
        check_id(case_id, "case_id")
        rows = self.recorder.reading(
            lambda r: r.select("cases", {"id": case_id}, limit=1, columns=_CASE)
        )
        if not rows:
            raise CaseNotFound(case_id)
        return writes.case_of(rows[0])

    def find_cases(self, query: CaseQuery) -> list[Case]:
        where, after = case_filter(query), case_after(query)
        rows = self.recorder.reading(
            lambda r: r.select(
                "cases",
                where,
                order=("created_at", "id"),
                limit=query.limit,
                columns=_CASE,
                after=after,
            )
        )
        return [writes.case_of(row) for row in rows]

    def cases_due(self, before: datetime, limit: int) -> list[Case]:
        return [writes.case_of(row) for row in self._due("cases", "step_due_at", before, limit)]

    # ------------------------------------------------------------------ privacy

    def rewrite(self, rewrite: Rewrite) -> None:
        def work(records: Records) -> None:
            for ticket in rewrite.tickets:
                row = dict(zip(codec.TICKET_COLUMNS, codec.ticket_row(ticket), strict=True))
                if not writes.update_ticket(records, ticket, ticket.version - 1, row):
                    raise ConcurrencyError(
                        ticket.id,
                        ticket.version - 1,
                        writes.stored_version(records, "tickets", ticket.id),
                    )
            for case in rewrite.cases:
                row = dict(zip(codec.CASE_COLUMNS, codec.case_row(case), strict=True))
                row["terms"] = codec.case_terms(case)
                if not records.update("cases", case.id, case.version - 1, row):
                    raise ConcurrencyError(
                        case.id, case.version - 1, writes.stored_version(records, "cases", case.id)
                    )
            if rewrite.added and not writes.log(records, rewrite.added, ()):
                raise ConcurrencyError(rewrite.added[0].subject_id, 0, None)
            for event in rewrite.events:
                records.rewrite(
                    "events",
                    {"subject_id": event.subject_id, "sequence": event.sequence},
                    {"data": codec.event_row(event)[-1]},
                )
            for message in rewrite.messages:
                row = dict(zip(codec.MESSAGE_COLUMNS, codec.message_row(message), strict=True))
                # the indexed author follows the message (a desk may declare it personal)
                records.rewrite(
                    "messages", {"id": message.id}, {k: row[k] for k in ("author_id", "data")}
                )
            for notification in rewrite.outbox:
                records.rewrite(
                    "outbox",
                    {"key": notification.key},
                    {"event": notification.event.model_dump_json(), "last_error": None},
                )
            if rewrite.customer is not None:
                self._put_customer(records, rewrite.customer)
            for customer in rewrite.customers:
                self._put_customer(records, customer)
            writes.log_security(records, rewrite.security)

        self.recorder.atomically(work)

    def log_security(self, entries: Sequence[SecurityEntry]) -> None:
        self.recorder.atomically(lambda r: writes.log_security(r, entries))

    def security_log(
        self, *, since: datetime | None = None, limit: int = 1000
    ) -> list[SecurityEntry]:
        check_limit(limit)
        start = {} if since is None else {"at": codec.ts(since)}
        rows = self.recorder.reading(
            lambda r: r.select(
                "security_log", {}, since=start, order=("at", "id"), limit=limit, columns=_DATA
            )
        )
        return [SecurityEntry.model_validate_json(row["data"]) for row in rows]

    def close(self) -> None:
        """Close the recorder; the store cannot be used afterwards. (A store from
        :meth:`for_tenant` releases nothing: the store it came from owns the
        connection.)"""
        if self._owner:
            self.recorder.close()

    def __enter__(self) -> RecordStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
