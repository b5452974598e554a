"""Satisfaction figures from the answered surveys: CSAT (the share of the top two scores),
NPS (promoters minus detractors, in points) and CES (the mean effort score).

The SQL stores count the answers per channel, survey type, scale and score in the
database, over
the cases' ``score`` column (a survey's details hold its score, see
:func:`aftersales.storage._codec.case_score`); a MemoryStore counts its own objects. The
figures are then worked out from those few counts the same way for every store.
"""

from __future__ import annotations

import math
import sqlite3
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime

import attrs

from aftersales._validation import parse
from aftersales.cases.surveys import DEFAULT_SCALE, SurveyDetails, SurveyType, score_range
from aftersales.exceptions import FieldError, InvalidInput, StorageError
from aftersales.models._base import Instant, Record
from aftersales.models.customer import Channel
from aftersales.storage import MemoryStore, SQLiteStore, Store
from aftersales.storage._codec import ts

__all__ = ["SurveyFigures", "survey_figures", "survey_figures_by_channel"]

Tally = Counter[tuple[str | None, str, int, int]]
"""Answers per (channel, survey type, scale, score)."""

_CHANNEL = {
    "sqlite": "json_extract(data, '$.details.channel')",
    "postgresql": "CAST(data AS JSONB) -> 'details' ->> 'channel'",
    "mysql": "JSON_UNQUOTE(JSON_EXTRACT(data, '$.details.channel'))",
}

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
    ``distribution`` counts the answers per score and ``mean`` is their mean, both on
    ``scale``: the answers' own when they share one, otherwise the type's default scale
    (CSAT 5, NPS 10, CES 7) with each score mapped onto it in proportion (a 5 of 10 is a
    2.8 of 5, counted as a 3): a 5 of 10 and a 5 of 5 are never the same score."""

    survey: SurveyType
    answers: int
    score: float | None
    mean: float | None
    distribution: dict[int, int]
    promoters: int = 0
    detractors: int = 0
    scale: int | None = None


class _Period(Record):
    answered_from: Instant | None = None
    answered_to: Instant | None = None
    channel: tuple[Channel, ...] | None = None


def survey_figures(
    store: Store,
    *,
    answered_from: datetime | None = None,
    answered_to: datetime | None = None,
    channel: Sequence[Channel | str] | None = None,
) -> dict[SurveyType, SurveyFigures]:
    """CSAT, NPS and CES figures of the surveys answered in [``answered_from``,
    ``answered_to``) (every answer by default), per survey type asked; with ``channel``,
    only of the surveys sent on those channels.

    >>> from aftersales import MemoryStore
    >>> survey_figures(MemoryStore())
    {}
    """
    tally = _count(store, answered_from, answered_to, channel)
    merged: Tally = Counter()
    for (_, survey, scale, score), count in tally.items():
        merged[(None, survey, scale, score)] += count
    return _figures(merged)


def survey_figures_by_channel(
    store: Store,
    *,
    answered_from: datetime | None = None,
    answered_to: datetime | None = None,
    channel: Sequence[Channel | str] | None = None,
) -> dict[str | None, dict[SurveyType, SurveyFigures]]:
    """:func:`survey_figures` per channel the surveys were sent on (None for a survey
    sent on none), channels in alphabetical order, then None.

    >>> from aftersales import MemoryStore
    >>> survey_figures_by_channel(MemoryStore())
    {}
    """
    tally = _count(store, answered_from, answered_to, channel)
    by_channel: dict[str | None, Tally] = {}
    for key, count in tally.items():
        by_channel.setdefault(key[0], Counter())[key] += count
    ordered = sorted(by_channel, key=lambda name: (name is None, name or ""))
    return {name: _figures(by_channel[name]) for name in ordered}


def _count(
    store: Store,
    answered_from: datetime | None,
    answered_to: datetime | None,
    channel: Sequence[Channel | str] | None,
) -> Tally:
    if isinstance(channel, str):
        channel = (channel,)
    period = parse(
        _Period,
        {
            "answered_from": answered_from,
            "answered_to": answered_to,
            "channel": None if channel is None else tuple(channel),
        },
        "survey figures",
    )
    if isinstance(store, MemoryStore):
        return _memory_tally(store, period)
    if isinstance(store, SQLiteStore):
        return _sqlite_tally(store, period)
    return _other_tally(store, period)


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
        sent_on = None if details.channel is None else details.channel.value
        if period.channel is not None and details.channel not in period.channel:
            continue
        tally[(sent_on, details.survey.value, details.scale, details.score)] += 1
    return tally


def _statement(dialect: str, period: _Period, marker: str, tenant: str) -> tuple[str, list[str]]:
    """The counting statement with ``marker`` placeholders (``?`` or ``:p0``...)."""
    # the store's tenant first, as in every index
    where = [f"tenant = {marker.format(0)}", "kind = 'survey'"]
    where += ["score IS NOT NULL", "closed_at IS NOT NULL"]
    params: list[str] = [tenant]
    for op, instant in ((">=", period.answered_from), ("<", period.answered_to)):
        if instant is not None:
            where.append(f"closed_at {op} {marker.format(len(params))}")
            params.append(ts(instant) or "")
    if period.channel is not None:
        markers = []
        for each in period.channel:
            markers.append(marker.format(len(params)))
            params.append(each.value)
        where.append(f"{_CHANNEL[dialect]} IN ({', '.join(markers)})")
    sql = (
        f"SELECT {_CHANNEL[dialect]}, {_TYPE[dialect]}, {_SCALE[dialect]}, score, COUNT(*)"
        f" FROM cases WHERE {' AND '.join(where)} GROUP BY 1, 2, 3, 4"
    )
    return sql, params


def _tally(rows: Iterable[tuple[object, ...]]) -> Tally:
    tally: Tally = Counter()
    for channel, survey, scale, score, count in rows:
        # MySQL unquotes a JSON null to the text 'null' (no channel is named so)
        sent_on = None if channel is None or channel == "null" else str(channel)
        tally[(sent_on, str(survey), int(str(scale)), int(str(score)))] += int(str(count))
    return tally


def _sqlite_tally(store: SQLiteStore, period: _Period) -> Tally:
    recorder = store.recorder
    sql, params = _statement("sqlite", period, "?", store.tenant)

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
    sql, params = _statement(dialect, period, ":p{}", store.tenant)
    try:
        with store.engine.connect() as conn:
            rows = conn.execute(sa.text(sql), {f"p{i}": p for i, p in enumerate(params)}).all()
            conn.rollback()
    except sa.exc.SQLAlchemyError as error:
        raise StorageError(f"{store.dialect}: survey figures failed: {error}") from error
    return _tally(tuple(row) for row in rows)


def _on_scale(kind: SurveyType, score: int, scale: int, target: int) -> float:
    """``score`` of ``scale`` mapped in proportion onto ``target``'s range."""
    if scale == target:
        return float(score)
    source, onto = score_range(kind, scale), score_range(kind, target)
    share = (score - source[0]) / (source[-1] - source[0])
    return onto[0] + share * (onto[-1] - onto[0])


def _figures(tally: Tally) -> dict[SurveyType, SurveyFigures]:
    by_type: dict[SurveyType, Counter[tuple[int, int]]] = {}
    for (_, survey, scale, score), count in tally.items():
        kind = SurveyType(survey)
        by_type.setdefault(kind, Counter())[(scale, score)] += count
    figures: dict[SurveyType, SurveyFigures] = {}
    for kind in sorted(by_type, key=lambda k: k.value):
        answered = by_type[kind]
        scales = {scale for scale, _ in answered}
        # one scale: its own scores; several: each mapped onto the type's default scale
        target = scales.pop() if len(scales) == 1 else DEFAULT_SCALE[kind]
        placed = {key: _on_scale(kind, key[1], key[0], target) for key in answered}
        scores: Counter[int] = Counter()
        for key, n in answered.items():
            scores[math.floor(placed[key] + 0.5)] += n  # half up, not to even
        answers = sum(answered.values())
        mean = sum(placed[key] * n for key, n in answered.items()) / answers
        promoters = detractors = 0
        if kind is SurveyType.NPS:
            promoters = sum(n for score, n in scores.items() if score >= 9)
            detractors = sum(n for score, n in scores.items() if score <= 6)
            headline = 100 * (promoters - detractors) / answers
        elif kind is SurveyType.CSAT:
            # the top two of each answer's own scale: 4-5 of 5, 9-10 of 10
            top = sum(
                n
                for (_, survey, scale, score), n in tally.items()
                if survey == kind.value and score >= scale - 1
            )
            headline = 100 * top / answers
        else:
            headline = mean
        distribution = dict(sorted(scores.items()))
        figures[kind] = SurveyFigures(
            kind, answers, headline, mean, distribution, promoters, detractors, target
        )
    return figures
