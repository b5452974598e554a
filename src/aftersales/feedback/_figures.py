"""Satisfaction figures from the answered surveys: CSAT (the share of the top two scores),
NPS (promoters minus detractors, in points) and CES (the mean effort score).

The SQL stores count the answers per survey type, scale and score in the database, over
the cases' ``score`` column (a survey's details hold its score, see
:func:`aftersales.storage._codec.case_score`); a MemoryStore counts its own objects. The
figures are then worked out from those few counts the same way for every store.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterable
from datetime import datetime

import attrs

from aftersales._validation import parse
from aftersales.cases.surveys import SurveyDetails, SurveyType
from aftersales.exceptions import FieldError, InvalidInput, StorageError
from aftersales.models._base import Instant, Record
from aftersales.storage import MemoryStore, SQLiteStore, Store
from aftersales.storage._codec import ts

__all__ = ["SurveyFigures", "survey_figures"]

Tally = Counter[tuple[str, int, int]]
"""Answers per (survey type, scale, score)."""

_TYPE = {
    "sqlite": "json_extract(data, '$.details.survey')",
    "postgresql": "CAST(data AS JSONB) -> 'details' ->> 'survey'",
    "mysql": "JSON_UNQUOTE(JSON_EXTRACT(data, '$.details.survey'))",
}
_SCALE = {
    "sqlite": "json_extract(data, '$.details.scale')",
    "postgresql": "CAST(CAST(data AS JSONB) -> 'details' ->> 'scale' AS INTEGER)",
    "mysql": "CAST(JSON_EXTRACT(data, '$.details.scale') AS SIGNED)",
}


@attrs.frozen
class SurveyFigures:
    """The figures of one survey type over the answers counted.

    ``score`` is the type's headline: for CSAT the percentage of answers in the top two
    scores of the scale (4 and 5 of 5), for NPS the percentage of promoters (9-10) minus
    that of detractors (0-6), for CES the mean score; None without answers.
    ``distribution`` counts the answers per score."""

    survey: SurveyType
    answers: int
    score: float | None
    mean: float | None
    distribution: dict[int, int]
    promoters: int = 0
    detractors: int = 0


class _Period(Record):
    answered_from: Instant | None = None
    answered_to: Instant | None = None


def survey_figures(
    store: Store,
    *,
    answered_from: datetime | None = None,
    answered_to: datetime | None = None,
) -> dict[SurveyType, SurveyFigures]:
    """CSAT, NPS and CES figures of the surveys answered in [``answered_from``,
    ``answered_to``) (every answer by default), per survey type asked.

    >>> from aftersales import MemoryStore
    >>> survey_figures(MemoryStore())
    {}
    """
    period = parse(
        _Period, {"answered_from": answered_from, "answered_to": answered_to}, "survey figures"
    )
    if isinstance(store, MemoryStore):
        tally = _memory_tally(store, period)
    elif isinstance(store, SQLiteStore):
        tally = _sqlite_tally(store, period)
    else:
        tally = _other_tally(store, period)
    return _figures(tally)


def _memory_tally(store: MemoryStore, period: _Period) -> Tally:
    with store._lock:
        cases = list(store._cases.values())
    tally: Tally = Counter()
    start, end = period.answered_from, period.answered_to
    for case in cases:
        details = case.details
        if not isinstance(details, SurveyDetails) or details.score is None:
            continue
        closed = case.closed_at
        if closed is None or (start is not None and closed < start):
            continue
        if end is not None and closed >= end:
            continue
        tally[(details.survey.value, details.scale, details.score)] += 1
    return tally


def _statement(dialect: str, period: _Period, marker: str) -> tuple[str, list[str]]:
    """The counting statement with ``marker`` placeholders (``?`` or ``:p0``...)."""
    where = ["kind = 'survey'", "score IS NOT NULL", "closed_at IS NOT NULL"]
    params: list[str] = []
    for op, instant in ((">=", period.answered_from), ("<", period.answered_to)):
        if instant is not None:
            where.append(f"closed_at {op} {marker.format(len(params))}")
            params.append(ts(instant) or "")
    sql = (
        f"SELECT {_TYPE[dialect]}, {_SCALE[dialect]}, score, COUNT(*) FROM cases"
        f" WHERE {' AND '.join(where)} GROUP BY 1, 2, 3"
    )
    return sql, params


def _tally(rows: Iterable[tuple[object, ...]]) -> Tally:
    tally: Tally = Counter()
    for survey, scale, score, count in rows:
        tally[(str(survey), int(str(scale)), int(str(score)))] += int(str(count))
    return tally


def _sqlite_tally(store: SQLiteStore, period: _Period) -> Tally:
    recorder = store.recorder
    sql, params = _statement("sqlite", period, "?")

    def read(_records: object) -> Tally:
        conn: sqlite3.Connection = recorder._conn
        return _tally(conn.execute(sql, params).fetchall())

    return recorder.reading(read)


def _other_tally(store: Store, period: _Period) -> Tally:
    try:
        from aftersales.storage.sqlalchemy import SQLAlchemyStore
    except ImportError:  # pragma: no cover - the sql extra is absent
        SQLAlchemyStore = None  # type: ignore[assignment,misc]  # noqa: N806
    if SQLAlchemyStore is None or not isinstance(store, SQLAlchemyStore):
        message = "survey figures are counted on a MemoryStore, SQLiteStore or SQLAlchemyStore"
        raise InvalidInput("store", [FieldError(("store",), message)])
    import sqlalchemy as sa

    dialect = "mysql" if store.dialect in ("mysql", "mariadb") else store.dialect
    if dialect not in _TYPE:
        raise InvalidInput("store", [FieldError(("store",), f"no survey SQL for {dialect}")])
    sql, params = _statement(dialect, period, ":p{}")
    try:
        with store.engine.connect() as conn:
            rows = conn.execute(sa.text(sql), {f"p{i}": p for i, p in enumerate(params)}).all()
            conn.rollback()
    except sa.exc.SQLAlchemyError as error:
        raise StorageError(f"{store.dialect}: survey figures failed: {error}") from error
    return _tally(tuple(row) for row in rows)


def _figures(tally: Tally) -> dict[SurveyType, SurveyFigures]:
    by_type: dict[SurveyType, Counter[int]] = {}
    for (survey, _, score), count in tally.items():
        kind = SurveyType(survey)
        by_type.setdefault(kind, Counter())[score] += count
    figures: dict[SurveyType, SurveyFigures] = {}
    for kind in sorted(by_type, key=lambda k: k.value):
        scores = by_type[kind]
        answers = sum(scores.values())
        mean = sum(score * n for score, n in scores.items()) / answers
        promoters = detractors = 0
        if kind is SurveyType.NPS:
            promoters = sum(n for score, n in scores.items() if score >= 9)
            detractors = sum(n for score, n in scores.items() if score <= 6)
            headline = 100 * (promoters - detractors) / answers
        elif kind is SurveyType.CSAT:
            # the top two of each answer's own scale: 4-5 of 5, 9-10 of 10
            top = sum(
                n
                for (survey, scale, score), n in tally.items()
                if survey == kind.value and score >= scale - 1
            )
            headline = 100 * top / answers
        else:
            headline = mean
        figures[kind] = SurveyFigures(
            kind, answers, headline, mean, dict(sorted(scores.items())), promoters, detractors
        )
    return figures
