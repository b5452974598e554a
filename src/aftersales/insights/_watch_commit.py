"""How a risk watch writes: the events of its new alerts, their outbox rows, the pending
acknowledgements and the watch's :class:`~aftersales.insights.AlertState`, in one store
transaction, through the desk's write pipeline (:mod:`aftersales._pipeline`).

Each series (a SKU and a case kind) is a subject of its own, ``risk:<kind>:<key>``, whose
events are its alerts in sequence order, sealed into its audit chain like every event.
Its head (its last sequence and chain, what a ticket's ``version`` and ``audit_chain``
are to its events) is a state row ``aftersales.risk_series:<subject>`` written in the
same transaction, so removing its latest alerts is found by
:func:`~aftersales.insights.verify_alerts`.
The :class:`AlertWriter` is the pipeline's :class:`~aftersales._pipeline.Writer` for these
subjects. The store has no method for events without a ticket or a case, so the writer
commits through what every SQL store is built on (its recorder's transaction) or under
MemoryStore's lock; any other store is refused before anything is judged.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import attrs

from aftersales._pipeline import Recent
from aftersales.exceptions import ConcurrencyError, FieldError, InvalidInput
from aftersales.models import Event
from aftersales.notify._notification import Notification
from aftersales.storage import MemoryStore, Store
from aftersales.storage import _codec as codec
from aftersales.storage._record_store import RecordStore
from aftersales.storage._record_writes import log

RISK_KIND = "risk"
"""The ``subject_kind`` of an alert's event: the subject is a series, not a ticket or a case."""

RISK_ALERT = "risk_alert"
"""The trigger of an alert's event."""

ALERTED = "alerted"
"""The state an alert's event enters (a series' first alert comes from no state)."""


def series_subject_id(kind: str, key: str) -> str:
    """The subject of a series' alerts: ``risk:<kind>:<key>``, or, when the kind holds a
    ``:`` or that is longer than an id may be (128 characters), ``risk:`` and a SHA-256
    of kind and key."""
    readable = f"{RISK_KIND}:{kind}:{key}"
    # the first ':' after the prefix ends the kind, so a key may hold ':' and a kind not:
    # ('A', 'B:C') and ('A:B', 'C') would be one subject; a digest has no second ':'
    if len(readable) <= 128 and ":" not in kind:
        return readable
    # kind and key are text without control characters: NUL separates them unambiguously
    digest = hashlib.sha256(f"{kind}\x00{key}".encode()).hexdigest()
    return f"{RISK_KIND}:{digest}"


HEAD_PREFIX = "aftersales.risk_series:"
"""A series' head is kept in the store's state under this prefix and its subject id."""


def head_key(subject_id: str) -> str:
    return HEAD_PREFIX + subject_id


@attrs.frozen
class SeriesHead:
    """A series' last sequence and the chain of that event, as the watch wrote them."""

    sequence: int
    chain: str

    def to_json(self) -> str:
        return json.dumps({"sequence": self.sequence, "chain": self.chain})

    @classmethod
    def from_json(cls, text: str) -> SeriesHead | None:
        """The head ``text`` holds; None when it is not one the watch wrote."""
        try:
            data = json.loads(text)
        except ValueError:
            return None
        if not isinstance(data, dict) or set(data) != {"sequence", "chain"}:
            return None
        sequence, chain = data["sequence"], data["chain"]
        if type(sequence) is not int or sequence < 1 or not isinstance(chain, str):
            return None
        return cls(sequence, chain)


def check_store(store: object) -> None:
    """InvalidInput unless the watch can write its events and state together there."""
    if not isinstance(store, MemoryStore | RecordStore):
        raise InvalidInput(
            "store",
            [
                FieldError(
                    ("store",),
                    "a risk watch writes on a MemoryStore or a store on a recorder "
                    f"(SQLiteStore, SQLAlchemyStore, RecordStore), not {type(store).__name__}",
                )
            ],
        )


@attrs.define(eq=False)
class AlertSeries:
    """A series as the pipeline sees it (a :class:`~aftersales._pipeline.Subject`): its
    version is its last event's sequence, its ``audit_chain`` that event's chain (the
    new ones once the pipeline sealed the events); ``head_read`` its head row as the run
    read it (None before its first alert)."""

    id: str
    version: int
    updated_at: datetime
    audit_chain: str | None
    head_read: str | None = None

    @property
    def head(self) -> str:
        """The head row to write once the events are sealed."""
        return SeriesHead(self.version, self.audit_chain or "").to_json()


@attrs.define(eq=False)
class AlertUnit:
    """The new alerts of one series (a :class:`~aftersales._pipeline.Unit`)."""

    series: AlertSeries
    events: Sequence[Event]
    outbox: Sequence[Notification] = ()
    delivered: Sequence[str] = ()


@attrs.frozen
class StateWrite:
    """The watch's state as read before judging (``read``) and as it is after (``value``)."""

    key: str
    read: str | None
    value: str


def _moved(key: str) -> ConcurrencyError:
    """Another run of the same watch wrote first: this one is judged again."""
    return ConcurrencyError(key, 0, None, label=f"state {key!r} changed since it was read")


class AlertWriter:
    """The pipeline's writer for alert events: commits the units, their series' heads and
    the watch's state in one transaction, refusing (ConcurrencyError, nothing written)
    when the state or a head is no longer what the run read, or a series has an event
    the run did not see."""

    def __init__(self, store: Store, state: StateWrite) -> None:
        self.store = store
        self.state = state
        self.recent: Recent[AlertSeries] = Recent(64)

    def subject(self, unit: AlertUnit) -> AlertSeries:
        return unit.series

    def commit(self, units: Sequence[AlertUnit]) -> None:
        write(self.store, units, self.state)


def write(store: Store, units: Sequence[AlertUnit], state: StateWrite) -> None:
    """Write the units' events, outbox rows, acknowledgements and heads and the state,
    all or nothing."""
    if isinstance(store, MemoryStore):
        _write_in_memory(store, units, state)
    elif isinstance(store, RecordStore):
        _write_records(store, units, state)
    else:  # pragma: no cover - refused by check_store before anything is judged
        check_store(store)


def _write_in_memory(store: MemoryStore, units: Sequence[AlertUnit], state: StateWrite) -> None:
    with store._lock:
        if store._state.get(state.key) != state.read:
            raise _moved(state.key)
        for unit in units:
            series = unit.series
            before = series.version - len(unit.events)
            held = store._events.get(series.id)
            last = held[-1].sequence if held else 0
            if last > before or store._state.get(head_key(series.id)) != series.head_read:
                raise ConcurrencyError(series.id, before, last)
        for unit in units:
            store._events.setdefault(unit.series.id, []).extend(unit.events)
            for notification in unit.outbox:
                store._outbox[notification.key] = notification
            if unit.delivered:
                store._acknowledge(unit.delivered, unit.series.updated_at)
            store._state[head_key(unit.series.id)] = unit.series.head
        store._state[state.key] = state.value


def _write_records(store: RecordStore, units: Sequence[AlertUnit], state: StateWrite) -> None:
    def work(records: Any) -> None:
        rows = records.select("state", {"key": state.key}, columns=("value",))
        if (str(rows[0]["value"]) if rows else None) != state.read:
            raise _moved(state.key)
        for unit in units:
            series = unit.series
            before = series.version - len(unit.events)
            key = head_key(series.id)
            rows = records.select("state", {"key": key}, columns=("value",))
            if (str(rows[0]["value"]) if rows else None) != series.head_read:
                raise ConcurrencyError(series.id, before, None)
            # the events' key (subject, sequence) refuses a sequence another run took
            if not log(records, unit.events, unit.outbox):
                raise ConcurrencyError(series.id, before, None)
            if unit.delivered:
                records.acknowledge(unit.delivered, codec.ts(series.updated_at) or "")
            records.put("state", {"key": key, "value": series.head})
        records.put("state", {"key": state.key, "value": state.value})

    # holding the state's and the heads' keys: two runs on PostgreSQL or MariaDB read and
    # write them one after the other (SQLite's write lock holds every key)
    heads = [head_key(unit.series.id) for unit in units]
    store.recorder.atomically(work, hold=[state.key, *heads])
