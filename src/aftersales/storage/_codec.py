"""The one row mapper every SQL store shares (eventsourcing's ``Mapper``).

A ticket, a case, an event, a message or a notification becomes a tuple of plain values in
a fixed column order (the ``*_COLUMNS`` names below) and comes back from its columns. The
stores only say how a tuple reaches their database: pre-rendered statements take the
tuples as they are, so a new indexed field is a change here and in
:mod:`aftersales.storage._schema`, never in a backend.

Absent values are ``null``: ``None`` by default, ``''`` for a store that binds them
through ``NULLIF(?, '')`` (see :data:`aftersales.storage.sqlite._NULL`). Instants are
fixed-width UTC text (:func:`ts`), so that text order is time order on every database.
Enums bind as their plain ``str`` value (``_value_``, an instance attribute, where
``value`` is a property): given the enum, sqlite3 first looks for an adapter and for
``__conform__`` before it stores the str the enum is (2% of an import's instructions).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs
from pydantic import TypeAdapter
from pydantic_core import to_json

from aftersales._utc_text import utc_text
from aftersales.models import Case, Customer, Event, Message, Ticket
from aftersales.models.events import LOG_TIME
from aftersales.notify._notification import DeliveryStatus, Notification
from aftersales.storage import _trusted
from aftersales.storage._protocol import bounded_error
from aftersales.storage._unit import Change

__all__ = [
    "CASE_COLUMNS",
    "CASE_KEY_COLUMNS",
    "EVENT_COLUMNS",
    "MESSAGE_COLUMNS",
    "OUTBOX_COLUMNS",
    "SCHEMA_VERSION",
    "TERMS_FIELDS",
    "TICKET_COLUMNS",
    "TICKET_KEY_COLUMNS",
    "NewTicket",
    "NewTicketRows",
    "case_data",
    "case_key",
    "case_row",
    "case_terms",
    "customer_data",
    "dt",
    "event_json",
    "event_row",
    "message_row",
    "new_ticket_rows",
    "notification_row",
    "read_case",
    "read_notification",
    "tag_rows",
    "ticket_key",
    "ticket_row",
    "ticket_tags",
    "ts",
    "ts_of_json",
]

SCHEMA_VERSION = 12
"""The schema version of every SQL store (see
:data:`aftersales.storage._schema_versions.MIGRATIONS`)."""

TICKET_COLUMNS = (
    "status",
    "status_category",
    "version",
    "customer_id",
    "channel",
    "assignee",
    "team",
    "merged_into",
    "parent_id",
    "follow_up_of",
    "due_at",
    "sla_due_at",
    "category",
    "priority",
    "first_response_at",
    "resolved_at",
    "closed_at",
    "reopen_count",
    "sku",
    "satisfaction",
    "sla_first_response",
    "first_response_business_seconds",
    "sla_resolution",
    "resolution_business_seconds",
    "tags",
    "data",
)
"""The ticket's columns a transition writes, in :func:`ticket_row` order: the ones finds,
due work and reports filter or aggregate on, then its JSON."""
TICKET_KEY_COLUMNS = ("id", "number", "workflow", "created_at")
"""The ticket's columns written once, at insert, in :func:`ticket_key` order."""
CASE_COLUMNS = (
    "status",
    "status_category",
    "version",
    "step_due_at",
    "closed_at",
    "paid_at",
    "late",
    "part",
    "score",
    "sku",
    "product_category",
    "reason",
    "failures",
    "handed_back_at",
    "data",
)
"""The case's columns a transition writes, in :func:`case_row` order; ``terms`` is
written apart (see :func:`case_terms`)."""
CASE_KEY_COLUMNS = (
    "id",
    "kind",
    "ticket_id",
    "order_id",
    "serial",
    "parent_id",
    "customer_id",
    "created_at",
)
"""The case's columns written once, at insert, in :func:`case_key` order: a case's kind,
ticket, order, serial number, parent and customer never change. (Its product and reason
are written with every change: an erasure may rewrite the reason.)"""
EVENT_COLUMNS = (
    "subject_id",
    "sequence",
    "trigger",
    "at",
    "kind",
    "to_state",
    "actor",
    "logged_seconds",
    "data",
)
MESSAGE_COLUMNS = ("id", "ticket_id", "at", "author_role", "kind", "author_id", "data")
OUTBOX_COLUMNS = (
    "key",
    "handler",
    "subject_id",
    "sequence",
    "status",
    "attempts",
    "next_attempt_at",
    "lease_until",
    "last_error",
    "created_at",
    "delivered_at",
    "event",
)

_TS_TEXT: dict[datetime, str] = {}
_TS_TEXT_SIZE = 64


def ts(value: datetime | None) -> str | None:
    """Fixed-width UTC text, so that text order is time order."""
    if value is None:
        return None
    # A commit formats the same few instants many times over (the event's time, its outbox
    # rows' times, the lease), as equal values rather than the same objects.
    text = _TS_TEXT.get(value)
    if text is None:
        text = utc_text(value)
        if len(_TS_TEXT) >= _TS_TEXT_SIZE:
            _TS_TEXT.clear()
        _TS_TEXT[value] = text
    return text


def ts_of_json(text: str | None) -> str | None:
    """:func:`ts` of a UTC instant from its JSON as pydantic writes it (``...T08:00:00Z``,
    or ``...T08:00:00.000001Z`` with microseconds), as in a ticket's JSON values: a slice
    where formatting the datetime again takes ten times the instructions."""
    if text is None:
        return None
    if len(text) == 27:
        return f"{text[:-1]}+00:00"
    return f"{text[:-1]}.000000+00:00"


def dt(value: str | None) -> datetime | None:
    """The instant of :func:`ts` text."""
    return None if value is None else datetime.fromisoformat(value)


# ---------------------------------------------------------------------------- tickets

_TICKET_JSON = Ticket.__pydantic_serializer__.to_json


def ticket_row(
    ticket: Ticket,
    *,
    exclude_none: bool = False,
    null: str | None = None,
    data: str | None = None,
    values: Mapping[str, Any] | None = None,
) -> tuple[object, ...]:
    """The ticket's :data:`TICKET_COLUMNS`, ``null`` for the absent ones; ``data``: its
    JSON when already made (as ``exclude_none`` makes it); ``values``: its fields as
    pydantic's JSON mode makes them, when made, where its instants are read as text
    (see :func:`ts_of_json`)."""
    # Read from the instance's dict: a model's attribute goes through pydantic's
    # __getattr__ hook, twice the cost of a dict item, 26 times a row.
    f = ticket.__dict__
    order_line = f["order_line"]
    tags = f["tags"]
    first_response, resolution = f["sla_first_response"], f["sla_resolution"]
    if values is None:
        due, sla_due = ts(f["due_at"]), ts(f["sla_due_at"])
        first, resolved, closed = (
            ts(f["first_response_at"]),
            ts(f["resolved_at"]),
            ts(f["closed_at"]),
        )
    else:
        text, get = ts_of_json, values.get
        due, sla_due = text(get("due_at")), text(get("sla_due_at"))
        first, resolved = text(get("first_response_at")), text(get("resolved_at"))
        closed = text(get("closed_at"))
    return (
        f["status"],
        f["status_category"]._value_,
        f["version"],
        f["customer_id"],
        f["channel"]._value_,
        f["assignee"] or null,
        f["team"] or null,
        f["merged_into"] or null,
        f["parent_id"] or null,
        f["follow_up_of"] or null,
        due or null,
        sla_due or null,
        f["category"] or null,
        f["priority"],
        first or null,
        resolved or null,
        closed or null,
        f["reopen_count"],
        (None if order_line is None else order_line.sku) or null,
        f["satisfaction"],
        None if first_response is None else first_response._value_,
        f["first_response_business_seconds"],
        None if resolution is None else resolution._value_,
        f["resolution_business_seconds"],
        _TAGS_JSON(tags).decode() if tags else null,
        _TICKET_JSON(ticket, exclude_none=exclude_none).decode() if data is None else data,
    )


# The serializer itself: TypeAdapter.dump_json passes a dozen default arguments on.
_TAGS_JSON = TypeAdapter(tuple[str, ...]).serializer.to_json


def ticket_tags(ticket: Ticket) -> str | None:
    """The ticket's tags as a JSON array, in its order (None when it has none): the
    ``tags`` column a write compares to tell whether the ``ticket_tags`` rows change."""
    return _TAGS_JSON(ticket.tags).decode() if ticket.tags else None


def tag_rows(ticket: Ticket, created_at: str | None = None) -> list[tuple[str, str, int]]:
    """The ``ticket_tags`` rows of the ticket, ``(tag, created_at, number)``, one per
    distinct tag (``created_at``: the :func:`ts` text of its creation, when made)."""
    f = ticket.__dict__
    if created_at is None:
        created_at = ts(f["created_at"]) or ""
    number = f["number"]
    return [(tag, created_at, number) for tag in dict.fromkeys(f["tags"])]


def ticket_key(ticket: Ticket, created_at: str | None = None) -> tuple[object, ...]:
    """The ticket's :data:`TICKET_KEY_COLUMNS` (``created_at``: its :func:`ts` text, when
    made)."""
    f = ticket.__dict__
    if created_at is None:
        created_at = ts(f["created_at"])
    return (f["id"], f["number"], f["workflow"], created_at)


@attrs.define(slots=True)
class NewTicket(Change):
    """A new ticket whose JSON is made once (an import's): ``data`` is what
    :func:`ticket_row` writes with ``exclude_none``, ``changes`` the JSON of its first
    event's ``changes``. Its rows are built around that text (see
    :func:`new_ticket_rows`, which every store inserts a new ticket through), rather than
    render the same values twice more. Its first event is its creation (see
    :func:`aftersales.tickets._commands.creation_event`): at its ``created_at``, its
    ``changes`` its fields in pydantic's JSON mode, where the rows' instants are read."""

    data: str = ""
    changes: str = ""


NewTicketRows = tuple[
    tuple[object, ...], tuple[object, ...], list[tuple[object, ...]], list[tuple[str, str, int]]
]
"""The rows a new ticket's change inserts (see :func:`new_ticket_rows`): its
:data:`TICKET_COLUMNS`, its :data:`TICKET_KEY_COLUMNS`, each of its events'
:data:`EVENT_COLUMNS` in order, its ``ticket_tags`` rows. (A plain tuple: a named one is
built by a Python function, once per imported ticket.)"""


def new_ticket_rows(
    change: Change, *, exclude_none: bool = False, null: str | None = None
) -> NewTicketRows:
    """The rows of a change that creates its ticket, as :func:`ticket_row` (with
    ``exclude_none`` and ``null``), :func:`ticket_key`, :func:`event_row` and
    :func:`tag_rows` make them of its ticket and events: every store inserts a new ticket
    through here. A :class:`NewTicket` (an import's) has its rows built around the text it
    carries, rather than rendered again: its instants read in its creation event's
    ``changes`` (the ticket's JSON values), the creation event's JSON around their text,
    and, with ``exclude_none``, the ticket's JSON as it is."""
    ticket = change.ticket
    events = change.events
    if type(change) is NewTicket:
        first = events[0]
        values = first.changes
        created = ts_of_json(values["created_at"])
        row = ticket_row(
            ticket,
            exclude_none=exclude_none,
            null=null,
            data=change.data if exclude_none else None,
            values=values,
        )
        event_rows = [event_row(first, change.changes, created, null)]
        if len(events) > 1:  # an import's change has its creation event only
            event_rows += [event_row(e, null=null) for e in events[1:]]
    else:
        created = ts(ticket.__dict__["created_at"])
        row = ticket_row(ticket, exclude_none=exclude_none, null=null)
        event_rows = [event_row(e, null=null) for e in events]
    tags = tag_rows(ticket, created) if ticket.__dict__["tags"] else []
    return row, ticket_key(ticket, created), event_rows, tags


# ---------------------------------------------------------------------------- cases

TERMS_FIELDS = ("facts", "decision")
"""The fields of a case line kept in the ``terms`` column rather than in ``data``: what the
policy decided on and its decision, most of a case's size and left alone by most steps.
The codec takes their types from :class:`~aftersales.models.CaseLine` and knows nothing of
policies."""

_CASE_JSON = Case.__pydantic_serializer__.to_json
_WITHOUT_TERMS = {"lines": {"__all__": set(TERMS_FIELDS)}}
_ONLY_TERMS = {"lines": {"__all__": set(TERMS_FIELDS)}}


def case_row(case: Case, null: str | None = None) -> tuple[object, ...]:
    """The case's :data:`CASE_COLUMNS`. The others (see :func:`case_key`) are set once:
    an UPDATE that leaves them out does not rewrite their indexes on every step."""
    return (
        case.status,
        case.status_category._value_,
        case.version,
        ts(case.step_due_at) or null,
        ts(case.closed_at) or null,
        ts(case.refund.succeeded_at) if case.refund is not None else null,
        int(case.refund.late) if case.refund is not None else null,
        case_part(case) or null,
        case_score(case),
        case_sku(case) or null,
        case_product_category(case) or null,
        case_reason(case) or null,
        case_failures(case),
        ts(case_handed_back_at(case)) or null,
        case_data(case),
    )


def case_key(case: Case, null: str | None = None) -> tuple[object, ...]:
    """The case's :data:`CASE_KEY_COLUMNS`."""
    return (
        case.id,
        case.kind._value_,
        case.ticket_id,
        case.order_id or null,
        case.serial or null,
        case.parent_id or null,
        case.customer_id or null,
        ts(case.created_at),
    )


def ticket_sku(ticket: Ticket) -> str | None:
    """The ``sku`` column: the SKU of the order line the ticket is about."""
    return None if ticket.order_line is None else ticket.order_line.sku


def case_sku(case: Case) -> str | None:
    """The ``sku`` column: the first SKU among the case's lines."""
    return next((line.sku for line in case.lines if line.sku is not None), None)


def case_product_category(case: Case) -> str | None:
    """The ``product_category`` column: the product category of the first line with facts."""
    facts = next((line.facts for line in case.lines if line.facts is not None), None)
    return None if facts is None else facts.product.category


def case_reason(case: Case) -> str | None:
    """The ``reason`` column: the first line's claimed reason, else the kind of its claim
    (``no_reason_return``, ``quality_defect``...): what return reasons are counted by."""
    facts = next((line.facts for line in case.lines if line.facts is not None), None)
    if facts is None:
        return None
    return facts.claim.reason or facts.claim.kind._value_


def case_score(case: Case) -> int | None:
    """The ``score`` column: the score a case's details hold (a survey's answer), which
    satisfaction reports count; None for a case without one."""
    value = getattr(case.details, "score", None)
    return value if type(value) is int else None


def case_failures(case: Case) -> int | None:
    """The ``failures`` column: how many of a repair's repairs failed (a repair that did
    not hold, repaired again in the same case); None for other cases."""
    if case.repair is None:
        return None
    return sum(1 for record in case.repair.records if record.outcome._value_ == "failed")


def case_handed_back_at(case: Case) -> datetime | None:
    """The ``handed_back_at`` column: when a repair last gave the product back."""
    if case.repair is None:
        return None
    returned = [r.handed_back_at for r in case.repair.records if r.handed_back_at is not None]
    return max(returned) if returned else None


def case_part(case: Case) -> str | None:
    """The ``part`` column: the part the repair last named (its last record with one,
    else the part it waits for)."""
    if case.repair is None:
        return None
    named = [record.part for record in case.repair.records if record.part is not None]
    return named[-1] if named else None


def case_data(case: Case) -> str:
    """The ``data`` column: the case without its lines' :data:`TERMS_FIELDS`."""
    # Every field that may be None defaults to None (a test holds this), so leaving the
    # Nones out loses nothing.
    return _CASE_JSON(case, exclude_none=True, exclude=_WITHOUT_TERMS).decode()


def case_terms(case: Case) -> str | None:
    """The ``terms`` column: each line's :data:`TERMS_FIELDS` as a JSON array in line
    order, or None when no line has any."""
    if all(getattr(line, name) is None for line in case.lines for name in TERMS_FIELDS):
        return None
    # '{"lines":[...]}' -> '[...]'
    return _CASE_JSON(case, exclude_none=True, include=_ONLY_TERMS).decode()[9:-1]


def read_case(data: str, terms: str | None) -> Case:
    """The case of its ``data`` and ``terms`` columns, as the store wrote them: built
    without validating again (see :mod:`aftersales.storage._trusted`)."""
    return _trusted.read_case(data, terms)


# ---------------------------------------------------------------------------- the rest


_EVENT_JSON = Event.__pydantic_serializer__.to_json
_CHANGES_NULL = '"changes":null'


def event_json(event: Event, changes: str | None = None) -> str:
    """The event's JSON (``changes``: the JSON of its ``changes``, when already made: the
    rest is rendered around it, in one call rather than through the model's serializer)."""
    if changes is None:
        return _EVENT_JSON(event).decode()
    text = to_json({**event.__dict__, "changes": None}).decode()
    # The field's own '"changes":null' is the last: after it come only the chain and the
    # salt (hex digests) and the erased seals (text), where a quote is escaped.
    at = text.rindex(_CHANGES_NULL)
    return f'{text[:at]}"changes":{changes}{text[at + len(_CHANGES_NULL) :]}'


def event_row(
    event: Event,
    changes: str | None = None,
    at: str | None = None,
    null: str | None = None,
) -> tuple[object, ...]:
    """The event's :data:`EVENT_COLUMNS`, its JSON last (``changes``: see
    :func:`event_json`; ``at``: the :func:`ts` text of its time, when made), ``null`` for
    the time it logs when it logs none."""
    f = event.__dict__  # see ticket_row
    trigger = f["trigger"]
    logged = None if trigger != LOG_TIME else logged_seconds(event)
    return (
        f["subject_id"],
        f["sequence"],
        trigger,
        ts(f["at"]) if at is None else at,
        f["subject_kind"],
        f["to_state"],
        f["actor"],
        null if logged is None else logged,
        _EVENT_JSON(event).decode() if changes is None else event_json(event, changes),
    )


def logged_seconds(event: Event) -> int | None:
    """The ``logged_seconds`` column: the agent time a time entry (a ``log_time`` event)
    logs, which workload reports sum. Another event's payload cannot book time."""
    if event.trigger != LOG_TIME:
        return None
    value = event.payload.get("logged_seconds")
    return value if type(value) is int else None


def message_row(message: Message) -> tuple[object, ...]:
    """The message's :data:`MESSAGE_COLUMNS`."""
    return (
        message.id,
        message.ticket_id,
        ts(message.at),
        message.author_role._value_,
        message.kind._value_,
        message.author_id,
        message.model_dump_json(),
    )


def customer_data(customer: Customer) -> str:
    """The customer's ``data`` column."""
    return customer.model_dump_json()


def notification_row(
    n: Notification, event_json: str | None = None, null: str | None = None
) -> tuple[object, ...]:
    """The notification's :data:`OUTBOX_COLUMNS` (``event_json``: its event's JSON, when
    already made); an error text cut to its bound."""
    return (
        n.key,
        n.handler,
        n.event.subject_id,
        n.event.sequence,
        n.status._value_,
        n.attempts,
        ts(n.next_attempt_at),
        ts(n.lease_until) or null,
        None if n.last_error is None else bounded_error(n.last_error),
        ts(n.created_at),
        ts(n.delivered_at) or null,
        n.event.model_dump_json() if event_json is None else event_json,
    )


def read_notification(row: Mapping[str, Any]) -> Notification:
    """The notification of an outbox row, by column name."""
    return Notification(
        key=row["key"],
        handler=row["handler"],
        event=_trusted.read_event(row["event"]),
        created_at=dt(row["created_at"]),  # type: ignore[arg-type]
        next_attempt_at=dt(row["next_attempt_at"]),  # type: ignore[arg-type]
        lease_until=dt(row["lease_until"]),
        status=DeliveryStatus(row["status"]),
        attempts=row["attempts"],
        last_error=row["last_error"],
        delivered_at=dt(row["delivered_at"]),
    )
