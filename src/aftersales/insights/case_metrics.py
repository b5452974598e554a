"""After-sales case KPIs, computed where the data is: :func:`case_metrics`.

A :class:`CaseReportQuery` names a period, optional filters (SKU, product category,
channel) and a grouping. Each store answers with one aggregate query per metric family
(returns, refunds, repairs, complaints) and one counting the period's tickets (SQLiteStore
and SQLAlchemyStore in SQL, one GROUP BY each; MemoryStore and any other store in Python
over the same definitions), and this module turns their counts into a :class:`CaseReport`,
so every store gives the same numbers. The definitions are in
``docs/reference/case-metrics.md``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

import attrs
from pydantic import Field, ValidationInfo, field_validator

from aftersales.exceptions import FieldError, InvalidInput
from aftersales.insights._case_memory import (
    CasePlan,
    CaseRows,
    memory_tally,
    store_tally,
)
from aftersales.insights._case_sql import sqlalchemy_tally, sqlite_tally
from aftersales.insights._filters import (
    CategoryFilter,
    ChannelFilter,
    IdentifierFilter,
)
from aftersales.insights.metrics import DurationStats
from aftersales.models import Instant, Record
from aftersales.models._base import Identifier
from aftersales.storage import MemoryStore, SQLiteStore, Store

__all__ = [
    "CaseGroupBy",
    "CaseReport",
    "CaseReportQuery",
    "CaseReportRow",
    "ComplaintMetrics",
    "RefundMetrics",
    "RepairMetrics",
    "RepairPartRow",
    "ReturnMetrics",
    "case_metrics",
]

CaseGroupBy = Literal["none", "sku", "category", "channel"]
"""What a case report's rows are per: one row for everything, or one per SKU (the case's
first line's, else its ticket's product; a return's units per line, by each line's SKU),
product category (the case's first line's, else its parent case's) or channel (the case's
ticket's)."""

_MAX_SALES_SKUS = 100_000
_Sales = Annotated[dict[Identifier, Annotated[int, Field(ge=0)]], Field(max_length=_MAX_SALES_SKUS)]


class CaseReportQuery(Record):
    """What to report on: the cases of [``period_from``, ``period_to``) passing every
    filter given, per ``group_by``.

    What "of the period" means follows each family (see ``docs/reference/case-metrics.md``):
    returns and complaints created in it, refunds paid in it, repairs completed (closed)
    in it; tickets (the rates' denominator) created in it.

    - ``sku``, ``product_category``, ``channel``: one value or several (a case passes with
      any of them); None for no filter.
    - ``sales``: units sold in the period per SKU, for the returned-units rate.
    - ``repeat_window_days``: how soon after an earlier repair of the same product (serial
      and SKU) gave it back a repair counts as a repeat failure.

    Bad input raises :class:`~aftersales.InvalidInput`.
    """

    period_from: Instant
    period_to: Instant
    sku: IdentifierFilter = None
    product_category: CategoryFilter = None
    channel: ChannelFilter = None
    group_by: CaseGroupBy = "none"
    sales: _Sales | None = None
    repeat_window_days: Annotated[int, Field(ge=1, le=3650)] = 90

    @field_validator("period_to")
    @classmethod
    def _after_the_start(cls, value: datetime, info: ValidationInfo) -> datetime:
        start = info.data.get("period_from")
        if start is not None and value <= start:
            raise ValueError("must be after period_from")
        return value

    def _plan(self) -> CasePlan:
        def distinct(values: Iterable[Any] | None) -> tuple[str, ...] | None:
            if values is None:
                return None
            return tuple(dict.fromkeys(str(getattr(v, "value", v)) for v in values))

        return CasePlan(
            period_from=self.period_from,
            period_to=self.period_to,
            group=None if self.group_by == "none" else self.group_by,
            skus=distinct(self.sku),
            categories=distinct(self.product_category),
            channels=distinct(self.channel),
            repeat_window=timedelta(days=self.repeat_window_days),
        )


def _rate(part: int, whole: int | None) -> float | None:
    return part / whole if whole else None


@attrs.frozen
class ReturnMetrics:
    """The return cases created in the period.

    ``reasons`` holds ``(reason, returns)`` pairs, most returns first (then by reason; a
    return without policy facts has reason None, last among equals). ``returned_units``
    are the units the returns claim, each line's for its own SKU (per SKU and under a SKU
    filter, the units of that SKU), none for a refused or cancelled return. ``tickets``
    are the tickets created in the period (but those merged into another) in the same
    group and filters, a ticket's product being its order line's SKU, else its first
    return's (None when the report is grouped or filtered by product category, which
    tickets do not have): ``return_rate`` is ``returns / tickets``. ``units_sold`` sums
    the query's ``sales`` over the row's SKUs (None without sales, when ``sales`` names
    none of them, and for channel and category rows, whose sales are unknown):
    ``unit_return_rate`` is ``returned units of those SKUs / units_sold``. Rates are None
    over zero.
    """

    returns: int
    returned_units: int
    reasons: tuple[tuple[str | None, int], ...]
    tickets: int | None
    return_rate: float | None
    units_sold: int | None
    unit_return_rate: float | None


@attrs.frozen
class RefundMetrics:
    """The refund cases paid in the period: ``lead_time`` from the refund case's creation
    to its payment; ``late`` those paid after their due day (``late_rate = late / paid``)."""

    paid: int
    late: int
    late_rate: float | None
    lead_time: DurationStats


@attrs.frozen
class RepairMetrics:
    """The repair cases completed in the period: closed with the product repaired (not
    declined, cancelled, replaced, nor taken back for a refund). ``turnaround`` from the
    case's creation to its closing; ``repeats`` those that failed again in the case itself
    (a failed repair record), or were opened within the query's window after an earlier
    repair of the same serial and SKU gave the product back (``repeat_rate = repeats /
    repairs``)."""

    repairs: int
    repeats: int
    repeat_rate: float | None
    turnaround: DurationStats


@attrs.frozen
class ComplaintMetrics:
    """The complaint cases created in the period, over the tickets created in it (as for
    :attr:`ReturnMetrics.tickets`)."""

    complaints: int
    tickets: int | None
    complaint_rate: float | None


@attrs.frozen
class CaseReportRow:
    """One group's metrics: ``group`` is the value of the query's ``group_by`` column
    (None for cases without one, and for the ungrouped row and the total)."""

    group: str | None
    returns: ReturnMetrics
    refunds: RefundMetrics
    repairs: RepairMetrics
    complaints: ComplaintMetrics


@attrs.frozen
class RepairPartRow:
    """The repairs of the report that last named ``part`` (None: none named)."""

    part: str | None
    repairs: RepairMetrics


@attrs.frozen
class CaseReport:
    """:func:`case_metrics`' answer: a row per group (ordered by group, None last), the
    total over them all, and the repairs per part (ordered the same way)."""

    query: CaseReportQuery
    rows: tuple[CaseReportRow, ...]
    total: CaseReportRow
    parts: tuple[RepairPartRow, ...]


@attrs.define
class _Tally:
    """One group's counts, as the stores' rows add up."""

    tickets: int = 0
    returns: int = 0
    reasons: Counter[str | None] = attrs.Factory(Counter)
    units: Counter[str | None] = attrs.Factory(Counter)
    """Returned units per SKU."""
    paid: int = 0
    late: int = 0
    lead_time: Counter[int] = attrs.Factory(Counter)
    repairs: int = 0
    repeats: int = 0
    turnaround: Counter[int] = attrs.Factory(Counter)
    complaints: int = 0

    def add(self, other: _Tally) -> None:
        for name in ("tickets", "returns", "paid", "late", "repairs", "repeats", "complaints"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in ("reasons", "units", "lead_time", "turnaround"):
            getattr(self, name).update(getattr(other, name))

    def repair_metrics(self) -> RepairMetrics:
        return RepairMetrics(
            repairs=self.repairs,
            repeats=self.repeats,
            repeat_rate=_rate(self.repeats, self.repairs),
            turnaround=DurationStats.of(self.turnaround),
        )

    def row(
        self,
        group: str | None,
        plan: CasePlan,
        sales: Mapping[str, int],
        sold_skus: tuple[str, ...] | None,
    ) -> CaseReportRow:
        """The metrics; ``sold_skus`` are the SKUs of ``sales`` whose units sold the row
        counts (None: units sold are unknown)."""
        tickets = self.tickets if plan.counts_tickets else None
        sold = returned = None
        if sold_skus is not None:
            sold = sum(sales[sku] for sku in sold_skus)
            returned = sum(self.units[sku] for sku in sold_skus)
        reasons = sorted(
            self.reasons.items(), key=lambda item: (-item[1], item[0] is None, item[0] or "")
        )
        return CaseReportRow(
            group=group,
            returns=ReturnMetrics(
                returns=self.returns,
                returned_units=sum(self.units.values()),
                reasons=tuple(reasons),
                tickets=tickets,
                return_rate=_rate(self.returns, tickets),
                units_sold=sold,
                unit_return_rate=None if returned is None else _rate(returned, sold),
            ),
            refunds=RefundMetrics(
                paid=self.paid,
                late=self.late,
                late_rate=_rate(self.late, self.paid),
                lead_time=DurationStats.of(self.lead_time),
            ),
            repairs=self.repair_metrics(),
            complaints=ComplaintMetrics(
                complaints=self.complaints,
                tickets=tickets,
                complaint_rate=_rate(self.complaints, tickets),
            ),
        )


def _by_group(rows: CaseRows) -> tuple[dict[str | None, _Tally], dict[str | None, _Tally]]:
    """The tallies per group and the repairs' per part."""
    groups: dict[str | None, _Tally] = {}
    parts: dict[str | None, _Tally] = {}

    def of(found: dict[str | None, _Tally], key: str | None) -> _Tally:
        tally = found.get(key)
        if tally is None:
            tally = found[key] = _Tally()
        return tally

    for group, tickets in rows.tickets or ():
        of(groups, group).tickets += tickets
    for group, reason, returns in rows.returns:
        tally = of(groups, group)
        tally.returns += returns
        tally.reasons[reason] += returns
    for group, sku, units in rows.units:
        of(groups, group).units[sku] += units
    for group, bucket, paid, late in rows.refunds:
        tally = of(groups, group)
        tally.paid += paid
        tally.late += late
        tally.lead_time[bucket] += paid
    for group, part, bucket, repairs, repeats in rows.repairs:
        for tally in (of(groups, group), of(parts, part)):
            tally.repairs += repairs
            tally.repeats += repeats
            tally.turnaround[bucket] += repairs
    for group, complaints in rows.complaints:
        of(groups, group).complaints += complaints
    return groups, parts


def _ordered(keys: Iterable[str | None]) -> list[str | None]:
    return sorted(keys, key=lambda key: (key is None, key or ""))


def _counted(store: Store, plan: CasePlan) -> CaseRows:
    """The rows, where the data is: SQL on the SQL stores, Python on the others."""
    if isinstance(store, MemoryStore):
        return memory_tally(store, plan)
    rows = None
    if isinstance(store, SQLiteStore):
        rows = sqlite_tally(store, plan)
    else:
        try:
            from aftersales.storage.sqlalchemy import SQLAlchemyStore
        except ImportError:  # pragma: no cover - without the sql extra
            pass
        else:
            if isinstance(store, SQLAlchemyStore):
                rows = sqlalchemy_tally(store, plan)
    return store_tally(store, plan) if rows is None else rows


def case_metrics(store: Store, query: CaseReportQuery) -> CaseReport:
    """The case KPIs of ``query`` over ``store``: returns with their reasons, return rate
    and returned-units rate; refund lead time and late-refund rate; repair turnaround and
    repeat-failure rate (per group and per part); complaint rate.

    SQLiteStore and SQLAlchemyStore (SQLite, PostgreSQL, MariaDB) count in one SQL
    statement per family plus one for the tickets; MemoryStore counts its own objects;
    any other store is read through ``find_cases``, ``find`` and ``get``. All give the
    same numbers.
    """
    if not isinstance(query, CaseReportQuery):
        raise InvalidInput(
            "case_metrics",
            [FieldError(("query",), f"must be a CaseReportQuery, not {type(query).__name__}")],
        )
    plan = query._plan()
    groups, parts = _by_group(_counted(store, plan))
    if plan.group is None and not groups:
        groups[None] = _Tally()
    sales_apply = query.sales is not None and plan.channels is None and plan.categories is None
    sales = query.sales or {}
    every_sku = _sold_skus(sales, plan.skus) if sales_apply else None

    def sold_skus(group: str | None) -> tuple[str, ...] | None:
        """The SKUs whose units sold a row counts (None: units sold are unknown)."""
        if plan.group is None:
            return every_sku
        if plan.group == "sku" and every_sku is not None and group in every_sku:
            return (group,)
        return None

    rows = tuple(
        groups[group].row(group, plan, sales, sold_skus(group)) for group in _ordered(groups)
    )
    total = _Tally()
    for tally in groups.values():
        total.add(tally)
    return CaseReport(
        query=query,
        rows=rows,
        total=total.row(None, plan, sales, every_sku),
        parts=tuple(RepairPartRow(part, parts[part].repair_metrics()) for part in _ordered(parts)),
    )


def _sold_skus(sales: Mapping[str, int], skus: tuple[str, ...] | None) -> tuple[str, ...] | None:
    """The SKUs of ``sales`` passing the SKU filter; None when there are none, as the
    units sold of the SKUs reported are then unknown (not 0)."""
    sold = tuple(sku for sku in sales if skus is None or sku in skus)
    return sold or None
