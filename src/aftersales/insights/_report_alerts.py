"""The risk alerts a :class:`~aftersales.insights.RiskWatch` recorded in a store, read
back for a report: :func:`stored_alerts`.

Each recorded alert is a ``risk_alert`` event on its series' subject, with the alert in
its payload (:meth:`~aftersales.insights.Alert.to_dict`). The series are found from the
heads the watch writes with its alerts (a few rows of the ``state`` table), never by a
scan of the events table, which has no index on the event's kind; each series' events are
then read by subject.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from aftersales.exceptions import FieldError, InvalidInput
from aftersales.insights._watch_commit import HEAD_PREFIX, RISK_ALERT, RISK_KIND, check_store
from aftersales.insights.metrics import ReportQuery
from aftersales.insights.risk import Alert, Severity
from aftersales.models import Event
from aftersales.storage import MemoryStore, Store
from aftersales.storage._record_store import RecordStore

__all__ = ["stored_alerts"]

_FIELDS = (
    "key",
    "kind",
    "method",
    "baseline",
    "expected",
    "observed",
    "exposure",
    "statistic",
    "limit",
)


def _series_ids(store: Store) -> list[str]:
    """The alert series with a head, sorted."""
    if isinstance(store, MemoryStore):
        with store._lock:
            keys = [key for key in store._state if key.startswith(HEAD_PREFIX)]
    else:
        assert isinstance(store, RecordStore)  # check_store refused any other

        def read(records: Any) -> list[str]:
            # few keys; a text range would depend on the database's collation
            rows = records.select("state", {}, columns=("key",))
            return [str(row["key"]) for row in rows if str(row["key"]).startswith(HEAD_PREFIX)]

        keys = store.recorder.reading(read)
    return sorted(key[len(HEAD_PREFIX) :] for key in keys)


def _alert(event: Event) -> Alert | None:
    """The alert an event records; None for any other event or a payload that is not
    one (verify_alerts tells whether the series was tampered with)."""
    if event.trigger != RISK_ALERT or event.subject_kind != RISK_KIND:
        return None
    data = event.payload
    try:
        return Alert(
            **{name: data[name] for name in _FIELDS},
            window_start=date.fromisoformat(data["window_start"]),
            window_end=date.fromisoformat(data["window_end"]),
            severity=Severity(data["severity"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=timezone.utc)


def stored_alerts(store: Store, query: ReportQuery) -> tuple[Alert, ...]:
    """The alerts recorded in ``store`` by risk watches (``risk_alert`` events) whose
    window's last day (a UTC day) overlaps ``query``'s period, each once (two watches
    recording the same alert give it once), in the order of their series and sequence.

    The store must be one a watch writes on (MemoryStore, SQLiteStore, SQLAlchemyStore,
    a RecordStore): any other raises :class:`~aftersales.InvalidInput`.
    """
    if not isinstance(query, ReportQuery):
        raise InvalidInput(
            "report", [FieldError(("query",), f"must be a ReportQuery, not {type(query).__name__}")]
        )
    check_store(store)
    found: dict[Alert, None] = {}
    for subject_id in _series_ids(store):
        for event in store.events(subject_id):
            alert = _alert(event)
            if alert is None:
                continue
            last_day = _midnight(alert.window_end)
            if last_day < query.created_to and last_day + timedelta(days=1) > query.created_from:
                found.setdefault(alert, None)
    return tuple(found)
