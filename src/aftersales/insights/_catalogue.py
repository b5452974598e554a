"""What a generated history is made of: the catalogue of products with their case rates,
the teams and agents, a :class:`RateShift`, and the mixes tickets are drawn from
(channels, severities, categories, weekdays, hours, and the shares of tickets cancelled,
self-served, escalated and reopened), with the checks of a catalogue and a shift.

Re-exported from :mod:`aftersales.insights.history`, whose documentation describes the
defaults.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Literal

import attrs

from aftersales.exceptions import FieldError
from aftersales.models import Channel

CaseKindName = Literal["return", "repair", "complaint"]
CASE_KINDS: tuple[CaseKindName, ...] = ("return", "repair", "complaint")

REOPEN_SHARE = 0.08
"""Probability that a resolved ticket (resolved once, within the period) is reopened."""


@attrs.frozen
class CatalogueItem:
    """One product of the catalogue tickets are about, with its per-ticket case rates.

    ``policy_category`` is the product category the desk's policy decides returns and
    repairs by; ``popularity`` weighs how many tickets are about this SKU."""

    sku: str
    policy_category: str
    price: str
    popularity: float
    return_rate: float
    repair_rate: float
    complaint_rate: float

    def rate(self, kind: CaseKindName) -> float:
        """The probability that a ticket about this SKU opens a case of ``kind``."""
        if kind == "return":
            return self.return_rate
        if kind == "repair":
            return self.repair_rate
        return self.complaint_rate


DEFAULT_CATALOGUE: tuple[CatalogueItem, ...] = (
    CatalogueItem("PHONE-X1", "mobile_phone", "2999.00", 0.20, 0.06, 0.10, 0.04),
    CatalogueItem("PHONE-X2", "mobile_phone", "1999.00", 0.15, 0.08, 0.14, 0.05),
    CatalogueItem("EARBUDS-2", "electronics", "399.00", 0.15, 0.12, 0.05, 0.03),
    CatalogueItem("KETTLE-K3", "small_appliance", "199.00", 0.12, 0.05, 0.08, 0.02),
    CatalogueItem("JACKET-M", "apparel", "599.00", 0.12, 0.18, 0.00, 0.02),
    CatalogueItem("LAPTOP-P14", "laptop", "6999.00", 0.08, 0.04, 0.09, 0.03),
    CatalogueItem("WATCH-S", "electronics", "1299.00", 0.10, 0.07, 0.06, 0.06),
    CatalogueItem("VACUUM-V8", "home_appliance", "1599.00", 0.08, 0.05, 0.12, 0.04),
)
"""Eight SKUs whose return, repair and complaint rates differ (e.g. the jacket is
returned three times as often as the laptop and never repaired)."""

DEFAULT_TEAMS: Mapping[str, tuple[str, ...]] = {
    "care": ("agent-01", "agent-02", "agent-03", "agent-04", "agent-05"),
    "repairs": ("agent-06", "agent-07", "agent-08"),
    "logistics": ("agent-09", "agent-10"),
}
"""Teams and their agents; ``care`` takes every category not mapped to another team."""

TEAM_OF_CATEGORY = {"repair_warranty": "repairs", "exchange": "repairs", "delivery": "logistics"}

CHANNEL_WEIGHTS: tuple[tuple[Channel, float], ...] = (
    (Channel.EMAIL, 24),
    (Channel.PHONE, 20),
    (Channel.WEB_CHAT, 16),
    (Channel.WECHAT, 14),
    (Channel.APP, 12),
    (Channel.SMS, 4),
    (Channel.QQ, 3),
    (Channel.WEIBO, 3),
    (Channel.IN_STORE, 2),
    (Channel.LETTER, 1),
    (Channel.SELF_SERVICE, 1),
)
SEVERITY_WEIGHTS = (("critical", 5), ("high", 20), ("medium", 50), ("low", 25))
CATEGORY_WEIGHTS = {
    "return_refund": 14,
    "exchange": 7,
    "repair_warranty": 12,
    "delivery": 20,
    "billing_invoice": 8,
    "account": 6,
    "product_inquiry": 18,
    "complaint": 5,
    "other": 4,
}
CASE_CATEGORY: dict[CaseKindName, str] = {
    "return": "return_refund",
    "repair": "repair_warranty",
    "complaint": "complaint",
}
WEEKDAY_WEIGHTS = (1.0, 1.0, 1.0, 1.0, 1.0, 0.45, 0.35)
# Share of a day's arrivals in each local hour: ~85 % between 09:00 and 18:00.
HOUR_WEIGHTS = (
    *(0.2, 0.1, 0.1, 0.1, 0.1, 0.2, 0.4, 1.0, 2.5),  # 00-08
    *(8.0, 11.0, 11.5, 9.0, 8.0, 10.0, 10.5, 9.5, 7.5),  # 09-17
    *(2.5, 1.8, 1.6, 1.4, 1.0, 0.5),  # 18-23
)
WORKING_HOURS = (9, 18)
"""Local hours [from, to) when agents work on weekdays, and most tickets arrive."""
WEEKEND_HOURS = (10, 16)
CUSTOMER_HOURS = (8, 22)

CANCEL_SHARE = 0.04
SELF_SERVE_SHARE = 0.02
ESCALATE_SHARE = 0.06


@attrs.frozen
class RateShift:
    """From day ``from_day`` of the period (0 is the first), tickets about ``sku`` open
    a ``kind`` case ``factor`` times as often (capped at probability 1)."""

    sku: str
    kind: CaseKindName
    from_day: int
    factor: float


def catalogue_problems(catalogue: object) -> Iterator[FieldError]:
    if (
        not isinstance(catalogue, Sequence)
        or not catalogue
        or not all(isinstance(item, CatalogueItem) for item in catalogue)
    ):
        yield FieldError(("catalogue",), "must be a non-empty sequence of CatalogueItem")
        return
    skus = [item.sku for item in catalogue]
    if len(set(skus)) != len(skus):
        yield FieldError(("catalogue",), "SKUs must be unique")
    for item in catalogue:
        rates = (item.return_rate, item.repair_rate, item.complaint_rate)
        if not all(isinstance(r, (int, float)) and 0 <= r <= 1 for r in rates):
            yield FieldError(("catalogue", item.sku), "rates must be from 0 to 1")
        if not isinstance(item.popularity, (int, float)) or not (
            math.isfinite(item.popularity) and item.popularity > 0
        ):
            yield FieldError(("catalogue", item.sku), "popularity must be above 0")


def shift_problems(shift: object, catalogue: object, days: object) -> Iterator[FieldError]:
    if not isinstance(shift, RateShift):
        yield FieldError(("shift",), "must be a RateShift or None")
        return
    if isinstance(catalogue, Sequence) and shift.sku not in {
        getattr(item, "sku", None) for item in catalogue
    }:
        yield FieldError(("shift", "sku"), f"{shift.sku!r} is not in the catalogue")
    if shift.kind not in CASE_KINDS:
        yield FieldError(("shift", "kind"), f"must be one of {', '.join(CASE_KINDS)}")
    if (
        not isinstance(shift.from_day, int)
        or shift.from_day < 0
        or (isinstance(days, int) and shift.from_day >= days)
    ):
        yield FieldError(("shift", "from_day"), "must be a day of the period (0 to days - 1)")
    if not isinstance(shift.factor, (int, float)) or not (
        math.isfinite(shift.factor) and shift.factor >= 0
    ):
        yield FieldError(("shift", "factor"), "must be a finite number, 0 or more")
