"""Where the process loses time: :func:`dwell_times` and :func:`bottlenecks`.

The dwell time of a state is how long a subject (a ticket, or a case of any kind) stayed in
it, from the event that entered the state to the event that left it. A :class:`DwellQuery`
names the subjects (created in a period, optionally of some kinds and teams), the instant
the clock stops (``as_of``) and whether to split by team. Each store counts the stays in
one aggregate query (SQLiteStore and SQLAlchemyStore in SQL with window functions,
MemoryStore in Python over the same definitions) into a histogram per state and leaving
trigger, and this module turns the counts into :class:`DwellReport` rows, so every store
gives the same numbers. The definitions are in ``docs/reference/bottlenecks.md``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

import attrs

from aftersales.exceptions import FieldError, InvalidInput
from aftersales.insights._dwell_sql import (
    DwellPlan,
    DwellRow,
    memory_rows,
    sqlalchemy_rows,
    sqlite_rows,
)
from aftersales.insights._filters import (
    IdentifierFilter,
)
from aftersales.insights.metrics import DurationStats, Period
from aftersales.storage import MemoryStore, SQLiteStore, Store

__all__ = [
    "Bottleneck",
    "DwellQuery",
    "DwellReport",
    "StateDwell",
    "TransitionWait",
    "bottlenecks",
    "dwell_times",
]


def _texts(values: tuple[str, ...] | None) -> tuple[str, ...] | None:
    """A filter's values as the text their columns hold (a CaseKind member as its value),
    each once."""
    if values is None:
        return None
    return tuple(dict.fromkeys(str(getattr(v, "value", v)) for v in values))


class DwellQuery(Period):
    """Which stays to count: those of the subjects created in [``created_from``,
    ``created_to``), up to ``as_of`` (default ``created_to``).

    - ``kind``: subject kinds (``"ticket"``, ``"return"``, ``"repair"``...), one or
      several; None for all.
    - ``team``: teams, one or several (a case counts with its ticket's team); None for all.
    - ``group_by``: ``"team"`` for rows per team (subjects without one in the None group).

    Bad input raises :class:`~aftersales.InvalidInput`.
    """

    kind: IdentifierFilter = None
    team: IdentifierFilter = None
    group_by: Literal["none", "team"] = "none"

    @property
    def until(self) -> datetime:
        """The instant the clock stops (``as_of``, which defaults to ``created_to``)."""
        assert self.as_of is not None  # filled by the validator
        return self.as_of

    def _plan(self) -> DwellPlan:
        return DwellPlan(
            created_from=self.created_from,
            created_to=self.created_to,
            as_of=self.until,
            kinds=_texts(self.kind),
            teams=_texts(self.team),
            by_team=self.group_by == "team",
        )


@attrs.frozen
class StateDwell:
    """The stays in one state of one kind's workflow (in one group): how many, their
    durations (``dwell``: count, median, p90 and histogram, as
    :class:`~aftersales.insights.metrics.DurationStats`), their total in seconds and its
    ``share`` of the total of every state of that kind in the group (None when that
    total is zero)."""

    group: str | None
    kind: str
    state: str
    dwell: DurationStats
    total_seconds: float
    share: float | None


@attrs.frozen
class TransitionWait:
    """The stays in ``state`` that ended with ``trigger`` (None: still there at
    ``as_of``): the wait before that transition. ``share`` is of the kind's total in the
    group, as :class:`StateDwell`'s."""

    group: str | None
    kind: str
    state: str
    trigger: str | None
    dwell: DurationStats
    total_seconds: float
    share: float | None


@attrs.frozen
class DwellReport:
    """:func:`dwell_times`' answer: the states and the transitions (ordered by group,
    tickets without a team last, then kind, state and trigger), and each group's total
    waiting time in seconds (``totals``: ``(group, seconds)`` pairs in the same order)."""

    query: DwellQuery
    states: tuple[StateDwell, ...]
    transitions: tuple[TransitionWait, ...]
    totals: tuple[tuple[str | None, float], ...]


@attrs.frozen
class Bottleneck:
    """One place the process loses time: a state (``trigger`` None when ranking states)
    or a wait before a transition (``trigger`` None there: stays still running), ranked
    from 1 within its group by total waiting time; ``share`` is of the group's total over
    every kind (None when that is zero)."""

    rank: int
    group: str | None
    kind: str
    state: str
    trigger: str | None
    count: int
    total_seconds: float
    share: float | None
    median_seconds: float | None
    p90_seconds: float | None


def _rows(store: Store, plan: DwellPlan) -> list[DwellRow]:
    """The rows, where the data is."""
    if isinstance(store, MemoryStore):
        return memory_rows(store, plan)
    if isinstance(store, SQLiteStore):
        return sqlite_rows(store, plan)
    try:
        from aftersales.storage.sqlalchemy import SQLAlchemyStore
    except ImportError:  # pragma: no cover - without the sql extra
        pass
    else:
        if isinstance(store, SQLAlchemyStore):
            return sqlalchemy_rows(store, plan)
    raise InvalidInput(
        "dwell_times",
        [
            FieldError(
                ("store",),
                "must be a MemoryStore, SQLiteStore or SQLAlchemyStore,"
                f" not {type(store).__name__}",
            )
        ],
    )


def _checked(query: object, caller: str) -> DwellQuery:
    if not isinstance(query, DwellQuery):
        raise InvalidInput(
            caller, [FieldError(("query",), f"must be a DwellQuery, not {type(query).__name__}")]
        )
    return query


def _group_order(group: str | None) -> tuple[bool, str]:
    return (group is None, group or "")


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


_Key = tuple[str | None, str, str, str | None]


def _report(query: DwellQuery, rows: Iterable[DwellRow]) -> DwellReport:
    histograms: defaultdict[_Key, Counter[int]] = defaultdict(Counter)
    micros: Counter[_Key] = Counter()
    for group, kind, state, left_by, bucket, count, total in rows:
        key = (group, kind, state, left_by)
        histograms[key][bucket] += count
        micros[key] += total
    kind_totals: Counter[tuple[str | None, str]] = Counter()
    group_totals: Counter[str | None] = Counter()
    state_histograms: defaultdict[tuple[str | None, str, str], Counter[int]] = defaultdict(Counter)
    state_micros: Counter[tuple[str | None, str, str]] = Counter()
    for (group, kind, state, left_by), total in micros.items():
        kind_totals[group, kind] += total
        group_totals[group] += total
        state_histograms[group, kind, state].update(histograms[group, kind, state, left_by])
        state_micros[group, kind, state] += total

    def order(key: tuple[Any, ...]) -> tuple[Any, ...]:
        return (_group_order(key[0]), *((v is None, v or "") for v in key[1:]))

    states = tuple(
        StateDwell(
            group=group,
            kind=kind,
            state=state,
            dwell=DurationStats.of(state_histograms[group, kind, state]),
            total_seconds=total / 1e6,
            share=_share(total, kind_totals[group, kind]),
        )
        for (group, kind, state), total in sorted(state_micros.items(), key=lambda i: order(i[0]))
    )
    transitions = tuple(
        TransitionWait(
            group=group,
            kind=kind,
            state=state,
            trigger=left_by,
            dwell=DurationStats.of(histograms[group, kind, state, left_by]),
            total_seconds=total / 1e6,
            share=_share(total, kind_totals[group, kind]),
        )
        for (group, kind, state, left_by), total in sorted(
            micros.items(), key=lambda i: order(i[0])
        )
    )
    totals = tuple(
        (group, group_totals[group] / 1e6) for group in sorted(group_totals, key=_group_order)
    )
    return DwellReport(query, states, transitions, totals)


def dwell_times(store: Store, query: DwellQuery) -> DwellReport:
    """How long the subjects of ``query`` stayed in each state of each kind's workflow
    (count, median, p90, total and share), and how long they waited before each
    transition (state → trigger), per team when asked.

    SQLiteStore and SQLAlchemyStore (SQLite, PostgreSQL, MariaDB) count in one SQL
    statement; MemoryStore counts its own objects; all give the same numbers. Another
    kind of store raises :class:`~aftersales.InvalidInput`.
    """
    checked = _checked(query, "dwell_times")
    return _report(checked, _rows(store, checked._plan()))


def bottlenecks(
    store: Store,
    query: DwellQuery,
    *,
    by: Literal["transition", "state"] = "transition",
    limit: int | None = 10,
) -> tuple[Bottleneck, ...]:
    """Where the process loses time: the waits before each transition (``by=
    "transition"``) or the states (``by="state"``) of :func:`dwell_times`, ranked by
    total waiting time within each group (longest first; ties by kind, state, trigger),
    at most ``limit`` per group (None: all), with their share of the group's total."""
    checked = _checked(query, "bottlenecks")
    errors = []
    if by not in ("transition", "state"):
        errors.append(FieldError(("by",), "must be 'transition' or 'state'"))
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        errors.append(FieldError(("limit",), "must be a positive whole number or None"))
    if errors:
        raise InvalidInput("bottlenecks", errors)
    report = _report(checked, _rows(store, checked._plan()))
    group_totals = dict(report.totals)
    places: list[tuple[str | None, str, str, str | None, DurationStats, float]] = (
        [(s.group, s.kind, s.state, None, s.dwell, s.total_seconds) for s in report.states]
        if by == "state"
        else [
            (t.group, t.kind, t.state, t.trigger, t.dwell, t.total_seconds)
            for t in report.transitions
        ]
    )
    places.sort(key=lambda p: (_group_order(p[0]), -p[5], p[1], p[2], p[3] is None, p[3] or ""))
    ranked: list[Bottleneck] = []
    rank, previous_group = 0, object()
    for group, kind, state, trigger, dwell, total in places:
        rank = rank + 1 if group == previous_group else 1
        previous_group = group
        if limit is not None and rank > limit:
            continue
        whole = group_totals[group]
        ranked.append(
            Bottleneck(
                rank=rank,
                group=group,
                kind=kind,
                state=state,
                trigger=trigger,
                count=dwell.count,
                total_seconds=total,
                share=total / whole if whole else None,
                median_seconds=dwell.median_seconds,
                p90_seconds=dwell.p90_seconds,
            )
        )
    return tuple(ranked)
