"""Risk alerts that act: a scheduled watch that judges series, records each new alert as an
event and hands it to the hooks, and never repeats one while its condition lasts.

:class:`RiskWatch` (or :func:`watch_risk` for one run) runs :func:`detect_many` with the
:class:`AlertState` kept in the desk's store under :attr:`RiskWatch.state_key`
(``aftersales.risk_watch:<name>``, the state's :meth:`~AlertState.to_json` text), so a
daily run alerts once when a series rises, stays quiet while it stays high, and alerts
again after it went back to normal for ``rearm_after`` judged days and rose again.

Each new alert is an event:

- ``subject_id`` :func:`alert_subject_id` (``risk:<kind>:<key>``): each series is a subject
  with its own sequence and audit chain (the pipeline seals the events like every other),
  whose head (last sequence and chain) is written with them under
  ``aftersales.risk_series:<subject>`` and checked by :func:`verify_alerts`;
- ``subject_kind`` :data:`RISK_KIND` (``"risk"``), ``trigger`` :data:`RISK_ALERT`
  (``"risk_alert"``), ``to_state`` ``"alerted"``, ``actor`` the watch's (``"system"``);
- ``payload``: the watch's ``name`` and :meth:`Alert.to_dict`: the series (``key``,
  ``kind``), the ``method``, the window, the ``baseline`` rate, the ``expected`` and
  ``observed`` counts, the ``exposure``, the ``statistic`` and its ``limit``, the
  ``severity`` and the ``evidence`` in words.

The events go through the desk's write pipeline, so each hook subscribed to them
(:func:`on_risk_alert`, or ``desk.subscribe(handler)`` for every event) gets an outbox row
in the same commit, is called once the commit stands, and is retried by
``desk.dispatch_outbox`` / ``desk.run_due`` when it fails, like every notification.

One transaction: the new state, the events, their heads and outbox rows are written together or
not at all (MemoryStore under its lock; SQLiteStore, SQLAlchemyStore and any
:class:`~aftersales.storage.recorder.RecordStore` in one database transaction). A crash
before the commit leaves the state as it was, so the next run finds the same alerts and
records them; after it, the state says they were raised, so no run records them again.
Nothing is lost and nothing is repeated. When two runs of the same watch overlap, the
commit checks that the stored state is still the one the run read (and that no other run
took the next sequence of a series); the later run then judges again on what is stored
now, up to five times, and raises :class:`~aftersales.ConcurrencyError` after that.

:func:`case_series` builds the daily series from the store: cases of a kind per SKU per
day, with the SKU's tickets or the caller's sales as exposure.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Literal

import attrs

from aftersales._pipeline import ATTEMPTS
from aftersales._validation import ACTING, check_text
from aftersales.desk import Desk
from aftersales.exceptions import ConcurrencyError, FieldError, InvalidInput
from aftersales.insights._watch_audit import verify_alerts
from aftersales.insights._watch_commit import (
    ALERTED,
    RISK_ALERT,
    RISK_KIND,
    AlertSeries,
    AlertUnit,
    AlertWriter,
    SeriesHead,
    StateWrite,
    check_store,
    head_key,
    series_subject_id,
)
from aftersales.insights._watch_series import Tally, count, day_after
from aftersales.insights.risk import Alert, AlertState, RiskRule, Series, detect_many
from aftersales.models import CaseKind, Event
from aftersales.models.case import case_kind
from aftersales.models.events import build_event
from aftersales.notify import Handler, Subscription
from aftersales.notify.senders import Recipient, render_plain
from aftersales.security import Actor
from aftersales.storage import Store

__all__ = [
    "RISK_ALERT",
    "RISK_KIND",
    "STATE_PREFIX",
    "RiskWatch",
    "WatchRun",
    "alert_subject_id",
    "case_series",
    "on_risk_alert",
    "render_alert",
    "verify_alerts",
    "watch_risk",
]

STATE_PREFIX = "aftersales.risk_watch:"
"""A watch's state is kept under this prefix and its name (see :attr:`RiskWatch.state_key`)."""

MAX_DAYS = 3660
"""The longest span :func:`case_series` counts (ten years of days)."""


def alert_subject_id(kind: str, key: str) -> str:
    """The subject whose events are the alerts of the series ``(key, kind)``:
    ``risk:<kind>:<key>`` (or ``risk:`` and a SHA-256 when that exceeds 128 characters
    or the kind holds a ``:``, so each series has a subject of its own).
    Read them with ``desk.store.events(alert_subject_id(kind, key))``."""
    return series_subject_id(kind, key)


@attrs.frozen
class WatchRun:
    """What one run of a watch did: the new alerts (each series' oldest first, in the
    order of the series given, rule after rule), the event that records each (same
    order), and the state it stored."""

    alerts: tuple[Alert, ...]
    events: tuple[Event, ...]
    state: AlertState


def _rules(rules: RiskRule | Sequence[RiskRule] | None) -> tuple[RiskRule, ...]:
    if rules is None:
        return (RiskRule(),)
    if isinstance(rules, RiskRule):
        return (rules,)
    if isinstance(rules, str | bytes) or not isinstance(rules, Sequence) or not rules:
        raise InvalidInput(
            "watch", [FieldError(("rules",), "must be a RiskRule or a list of them")]
        )
    problems = [
        FieldError(("rules", index), f"must be a RiskRule, not {type(rule).__name__}")
        for index, rule in enumerate(rules)
        if not isinstance(rule, RiskRule)
    ]
    methods = [rule.method for rule in rules if isinstance(rule, RiskRule)]
    if not problems and len(set(methods)) != len(methods):
        # the state is kept per series and method: two rules of one method would share it
        problems.append(FieldError(("rules",), "must use each method at most once"))
    if problems:
        raise InvalidInput("watch", problems)
    return tuple(rules)


def _series_list(series: Iterable[Series]) -> list[Series]:
    if isinstance(series, Series | str | bytes) or not isinstance(series, Iterable):
        raise InvalidInput("watch", [FieldError(("series",), "must be a list of Series")])
    listed = list(series)
    problems = []
    seen: set[tuple[str, str]] = set()
    for index, one in enumerate(listed):
        if not isinstance(one, Series):
            problems.append(
                FieldError(("series", index), f"must be a Series, not {type(one).__name__}")
            )
        elif (one.key, one.kind) in seen:
            problems.append(
                FieldError(("series", index), f"repeats the series ({one.key!r}, {one.kind!r})")
            )
        else:
            seen.add((one.key, one.kind))
    if problems:
        raise InvalidInput("watch", problems)
    return listed


class RiskWatch:
    """A named early warning on a desk: each :meth:`run` judges the series it is given
    with ``rules`` (default ``RiskRule()``; several rules must use different methods) and
    records the new alerts (see the module documentation). ``actor`` is who the events
    say raised them: an id, or a :class:`~aftersales.security.Principal` whose roles the
    desk's permissions judge during each run (as for every desk method's ``actor``).

    Bad arguments raise :class:`~aftersales.InvalidInput`; so does a store the watch
    cannot write its events on in one transaction (one that is neither a MemoryStore nor
    built on a recorder, as SQLiteStore and SQLAlchemyStore are).
    """

    def __init__(
        self,
        desk: Desk,
        rules: RiskRule | Sequence[RiskRule] | None = None,
        *,
        name: str = "default",
        actor: Actor = "system",
    ) -> None:
        if not isinstance(desk, Desk):
            raise InvalidInput("watch", [FieldError(("desk",), "must be a Desk")])
        check_store(desk.store)
        self.desk = desk
        self.rules = _rules(rules)
        self.name = check_text("name", name)
        self.actor = check_text("actor", actor)
        # the principal itself, not only its id: the guard would judge the id as whoever
        # the directory or the default says it is (the system, with every grant)
        self._principal = None if type(actor) is str else actor

    @property
    def state_key(self) -> str:
        """Where the store keeps this watch's :class:`AlertState`:
        ``aftersales.risk_watch:<name>``."""
        return STATE_PREFIX + self.name

    def state(self) -> AlertState:
        """The state as stored (empty before the first run)."""
        text = self.desk.store.get_state(self.state_key)
        return AlertState() if text is None else AlertState.from_json(text)

    def run(self, series: Iterable[Series], *, now: datetime | None = None) -> WatchRun:
        """Judge ``series`` against the stored state and record what is new, at ``now``
        (the desk's clock by default). Running it again on the same data records
        nothing; bad series raise InvalidInput and store nothing."""
        listed = _series_list(series)
        at = self.desk.pipeline.checked_now(now)
        if self._principal is None:
            return self._attempts(listed, at)
        token = ACTING.set(self._principal)
        try:
            return self._attempts(listed, at)
        finally:
            ACTING.reset(token)  # its roles never outlive the run that brought them

    def _attempts(self, listed: list[Series], at: datetime) -> WatchRun:
        for _attempt in range(ATTEMPTS - 1):
            try:
                return self._run_once(listed, at)
            except ConcurrencyError:
                continue  # another run of this watch wrote first: judge again on its state
        return self._run_once(listed, at)

    def _run_once(self, listed: list[Series], at: datetime) -> WatchRun:
        store = self.desk.store
        read = store.get_state(self.state_key)
        state = AlertState() if read is None else AlertState.from_json(read)
        alerts = [alert for rule in self.rules for alert in detect_many(listed, rule, state)]
        value = state.to_json()
        write = StateWrite(self.state_key, read, value)
        if not alerts:
            if value != read:
                AlertWriter(store, write).commit([])
            return WatchRun((), (), state)
        units = self._units(alerts, at)
        self.desk.pipeline.commit(AlertWriter(store, write), units)
        by_subject = {unit.series.id: iter(unit.events) for unit in units}
        events = tuple(next(by_subject[alert_subject_id(a.kind, a.key)]) for a in alerts)
        return WatchRun(tuple(alerts), events, state)

    def _units(self, alerts: Sequence[Alert], at: datetime) -> list[AlertUnit]:
        grouped: dict[str, list[Alert]] = {}
        for alert in alerts:
            grouped.setdefault(alert_subject_id(alert.kind, alert.key), []).append(alert)
        units = []
        store = self.desk.store
        for subject_id, raised in grouped.items():
            read = store.get_state(head_key(subject_id))
            head = None if read is None else SeriesHead.from_json(read)
            log = store.events(subject_id)
            last = log[-1] if log else None
            # the head goes on from the last alert written, even one removed since (the
            # gap is then what verify_alerts finds); events without a head (or past it)
            # carry on from the log
            chain: str | None
            if head is not None and (last is None or last.sequence <= head.sequence):
                sequence, chain = head.sequence, head.chain
            else:
                sequence = 0 if last is None else last.sequence
                chain = None if last is None else last.chain
            events = []
            for alert in raised:
                sequence += 1
                events.append(
                    build_event(
                        subject_id,
                        RISK_KIND,
                        sequence,
                        RISK_ALERT,
                        None if sequence == 1 else ALERTED,
                        ALERTED,
                        self.actor,
                        at,
                        {"watch": self.name, **alert.to_dict()},
                        {},
                    )
                )
            series = AlertSeries(subject_id, sequence, at, chain, read)
            units.append(AlertUnit(series, events))
        return units


def watch_risk(
    desk: Desk,
    series: Iterable[Series],
    rules: RiskRule | Sequence[RiskRule] | None = None,
    *,
    name: str = "default",
    now: datetime | None = None,
    actor: Actor = "system",
) -> WatchRun:
    """One run of the watch ``name`` on ``desk``: ``RiskWatch(desk, rules, name=name,
    actor=actor).run(series, now=now)``."""
    return RiskWatch(desk, rules, name=name, actor=actor).run(series, now=now)


def on_risk_alert(desk: Desk, handler: Handler, *, name: str | None = None) -> Subscription:
    """Call ``handler`` with the notification of each risk alert recorded on ``desk``
    (its ``event.payload`` is the alert; see the module documentation), after the commit,
    with the outbox's retries. ``name`` as in :meth:`~aftersales.Desk.subscribe` (unique
    per desk, stable across restarts; default: the handler's module and qualified name)."""
    if not isinstance(desk, Desk):
        raise InvalidInput("subscription", [FieldError(("desk",), "must be a Desk")])
    if not callable(handler):
        raise InvalidInput("subscription", [FieldError(("handler",), "must be callable")])
    if name is None:
        name = f"{getattr(handler, '__module__', '?')}.{getattr(handler, '__qualname__', '?')}"
    subscription = Subscription(
        check_text("name", name, 200),
        handler,
        triggers=frozenset({RISK_ALERT}),
        kinds=frozenset({RISK_KIND}),
    )
    # desk.subscribe checks kinds and triggers against the workflows, which know no series
    return desk._hooks.add(subscription)


def render_alert(event: Event, recipient: Recipient) -> str:
    """The text of a risk alert for a sender (``render=`` of
    :class:`~aftersales.notify.senders.SenderHandler`), e.g. ``"JACKET-M return: 6 from
    2024-04-08 to 2024-04-14, 1.5 expected (critical; P(X >= 6 | Poisson(1.458)) = 0.0039
    <= 0.01)"``; the series is named by ``recipient.about`` when it is set. Any other
    event is rendered by :func:`~aftersales.notify.senders.render_plain`."""
    alert = event.payload
    if event.trigger != RISK_ALERT or event.subject_kind != RISK_KIND:
        return render_plain(event, recipient)
    return (
        f"{recipient.about or alert['key']} {alert['kind']}: {alert['observed']} from "
        f"{alert['window_start']} to {alert['window_end']}, {alert['expected']:.1f} expected "
        f"({alert['severity']}; {alert['evidence']})"
    )


# ---------------------------------------------------------------------------------------
# Series from the store


def _check_day(name: str, value: object) -> date:
    if type(value) is not date:
        raise InvalidInput("case_series", [FieldError((name,), "must be a date (not a datetime)")])
    return value


def _check_kind(kind: object) -> str:
    if isinstance(kind, CaseKind):
        return kind.value
    name = check_text("kind", kind)
    try:
        # a typo ("returns") would count nothing and give a watch that never alerts
        return case_kind(name).value
    except ValueError as error:
        raise InvalidInput("case_series", [FieldError(("kind",), str(error))]) from None


def _sales(
    sales: Mapping[str, Sequence[float]], days: int
) -> tuple[dict[str, list[float]], list[FieldError]]:
    checked: dict[str, list[float]] = {}
    problems = []
    for sku, values in sales.items():
        if not isinstance(sku, str) or not sku:
            problems.append(FieldError(("exposure",), f"{sku!r} is not a SKU"))
            continue
        if hasattr(values, "tolist"):
            values = values.tolist()
        if isinstance(values, str | bytes) or not isinstance(values, Sequence):
            problems.append(FieldError(("exposure", sku), "must be a list of numbers per day"))
            continue
        if len(values) != days:
            problems.append(
                FieldError(("exposure", sku), f"has {len(values)} values for {days} days")
            )
            continue
        bad = [
            index
            for index, value in enumerate(values)
            if isinstance(value, bool)
            or not isinstance(value, numbers.Real)
            or not (math.isfinite(float(value)) and float(value) >= 0)
        ]
        if bad:
            problems.append(
                FieldError(("exposure", sku, bad[0]), "must be a finite number, not negative")
            )
            continue
        checked[sku] = [float(value) for value in values]
    return checked, problems


def case_series(
    store: Store,
    kind: CaseKind | str,
    *,
    first_day: date,
    last_day: date,
    exposure: Literal["tickets"] | Mapping[str, Sequence[float]] | None = None,
    skus: Iterable[str] = (),
) -> list[Series]:
    """Daily series of the cases of ``kind`` (``"return"``, ``"repair"``,
    ``"complaint"``... or a kind registered with
    :func:`~aftersales.models.case.register_kind`; another name is InvalidInput) per
    SKU, from ``first_day`` to ``last_day`` (both included, UTC days), sorted by SKU;
    each series' ``kind`` is the case kind.

    A case counts on the UTC day it was created, under the first SKU among its lines, or
    its ticket's SKU when no line names one (a complaint has no lines: it counts under the
    order line its ticket is about); cases with neither are not counted. ``exposure``:

    - None: counts only (the baseline is a mean per day);
    - ``"tickets"``: the SKU's tickets opened each day (those whose order line names it);
    - a mapping of SKU to one number per day (units sold): only these SKUs get a series,
      since a rate needs its exposure (a SKU's cases without sales are left out).

    ``skus`` adds SKUs without any case in the period (series of zeros), so a SKU that
    starts failing is compared with its quiet past. Counted by one GROUP BY per table on
    SQLiteStore and SQLAlchemyStore (cases by their ``kind`` and ``created_at`` index),
    over the objects on MemoryStore, through one page of ``find_cases`` on any other store
    (InvalidInput when it holds 10,000 cases or more of the kind, however old; of any
    kind, for a registered kind). Bad arguments raise :class:`~aftersales.InvalidInput`.
    """
    problems: list[FieldError] = []
    try:
        kind_name = _check_kind(kind)
    except InvalidInput as error:
        problems.extend(error.errors)
        kind_name = ""
    try:
        start, last = _check_day("first_day", first_day), _check_day("last_day", last_day)
    except InvalidInput as error:
        raise InvalidInput("case_series", [*problems, *error.errors]) from None
    days = (last - start).days + 1
    if not 1 <= days <= MAX_DAYS:
        problems.append(
            FieldError(("last_day",), f"must be from first_day to {MAX_DAYS} days after it")
        )
    sales: dict[str, list[float]] | None = None
    if isinstance(exposure, Mapping):
        sales, found = _sales(exposure, days)
        problems.extend(found)
    elif exposure not in (None, "tickets"):
        problems.append(
            FieldError(("exposure",), "must be None, 'tickets' or a mapping of SKU to sales")
        )
    if isinstance(skus, str | bytes) or not isinstance(skus, Iterable):
        problems.append(FieldError(("skus",), "must be a list of SKUs"))
        extra: list[str] = []
    else:
        extra = list(skus)
        problems.extend(
            FieldError(("skus", index), "must be a SKU (text)")
            for index, sku in enumerate(extra)
            if not isinstance(sku, str) or not sku
        )
    if not isinstance(store, Store):
        problems.append(FieldError(("store",), "must be a Store"))
    if problems:
        raise InvalidInput("case_series", problems)
    cases, tickets = count(store, kind_name, start, day_after(last), tickets=exposure == "tickets")
    keys = set(sales) if sales is not None else {sku for sku, _day in cases} | set(extra)
    counts = _per_day(cases, keys, start, days)
    weights: dict[str, list[float]] | None = sales
    if tickets is not None:
        weights = {
            sku: [float(n) for n in row]
            for sku, row in _per_day(tickets, keys, start, days).items()
        }
    return [
        Series(sku, kind_name, start, counts[sku], None if weights is None else weights[sku])
        for sku in sorted(keys)
    ]


def _per_day(tally: Tally, keys: set[str], start: date, days: int) -> dict[str, list[int]]:
    rows = {sku: [0] * days for sku in keys}
    for (sku, day), number in tally.items():
        row = rows.get(sku)
        if row is not None:
            row[(day - start).days] += number
    return rows
