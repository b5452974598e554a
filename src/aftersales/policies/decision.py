"""Decisions that explain themselves: outcome, remedies, reasons, windows and money."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date
from decimal import Decimal
from enum import Enum
from typing import Any

from pydantic import ConfigDict, Field, computed_field

from aftersales.models._base import Record, trusted
from aftersales.models.order import Money
from aftersales.policies.dates import (
    NO_CLOSED_DAYS,
    ClosedDays,
    HolidayCalendar,
    add_working_days,
    working_calendar,
)
from aftersales.policies.messages import _LANGUAGES, _TEMPLATES, template

_WEEKDAYS = HolidayCalendar()


def _empty(value: Any) -> bool:
    return not value


__all__ = [
    "LANGUAGES",
    "MESSAGES",
    "Deadline",
    "Decision",
    "DecisionWindow",
    "Outcome",
    "Party",
    "Reason",
    "RefundBreakdown",
    "RefundDeadline",
    "Remedy",
    "reason",
]


class Outcome(str, Enum):
    """The answer to the claim."""

    ALLOWED = "allowed"
    REFUSED = "refused"
    NEEDS_INSPECTION = "needs_inspection"


class Remedy(str, Enum):
    """What the customer may get."""

    REFUND = "refund"
    EXCHANGE = "exchange"
    REPAIR = "repair"
    REPLACEMENT = "replacement"
    PRICE_REDUCTION = "price_reduction"
    STORE_CREDIT = "store_credit"
    VOUCHER = "voucher"


class Party(str, Enum):
    """Who bears a cost or a burden."""

    SELLER = "seller"
    CONSUMER = "consumer"


class _EnglishChineseView(Mapping[str, tuple[str, str]]):
    """Reason code -> (English, Chinese) templates, read live from the catalogue."""

    def __getitem__(self, code: str) -> tuple[str, str]:
        found = _TEMPLATES[code]
        return found["en"], found["zh"]

    def __iter__(self) -> Iterator[str]:
        return (code for code, found in list(_TEMPLATES.items()) if "en" in found and "zh" in found)

    def __len__(self) -> int:
        return sum(1 for _ in self)


MESSAGES: Mapping[str, tuple[str, str]] = _EnglishChineseView()
"""Reason code -> (English, Chinese) templates, kept for compatibility: the templates
now live in each rule module, keyed by language (see :mod:`aftersales.policies.messages`)."""

LANGUAGES: tuple[str, ...] = ("en", "zh")
"""The languages shipped with the library; :func:`~aftersales.policies.messages.languages`
lists every language added since."""


class Reason(Record):
    """One reason behind a decision: a stable ``code``, its ``params`` and messages.

    ``permits`` is True for reasons that allow something and False for refusals. The
    messages come from the templates of the rule that gave the reason, keyed by language
    (:mod:`aftersales.policies.messages`); they are formatted when read or serialised.
    ``window_zh`` and ``window_names`` name the window in Chinese and in other languages
    where the rule does (``window_names`` is None, and left out of JSON, when it names
    the window in no further language).
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    code: str
    permits: bool
    params: dict[str, Any] = Field(default_factory=dict)
    window_zh: str | None = None
    window_names: dict[str, str] | None = Field(default=None, exclude_if=_empty)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def message(self) -> str:
        """The reason in English."""
        return self.explain("en")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def message_zh(self) -> str:
        """The reason in Chinese."""
        return self.explain("zh")

    def explain(self, language: str = "en") -> str:
        """The reason in ``language`` (a language code, see
        :func:`~aftersales.policies.messages.languages`); InvalidInput when there is no
        template for this reason in that language."""
        text = template(self.code, language)
        params = self.params
        name = self.window_names.get(language) if self.window_names else None
        if name is None and language == "zh":
            name = self.window_zh
        if name is not None:
            params = {**params, "window": name}
        return text.format(**params)


def reason(
    code: str,
    permits: bool,
    window_zh: str | None = None,
    window_names: dict[str, str] | None = None,
    **params: Any,
) -> Reason:
    """Build a reason from the message catalogue (``window_zh`` names the window in
    Chinese, ``window_names`` in other languages)."""
    return trusted(
        Reason,
        {
            "code": code,
            "permits": permits,
            "params": params,
            "window_zh": window_zh,
            "window_names": window_names or None,
        },
    )


class DecisionWindow(Record):
    """The window that decided: its name, first counted day and last day (inclusive)."""

    name: str
    first_day: date
    last_day: date


class RefundBreakdown(Record):
    """How the refund is computed, in one ``currency``: ``net = gross - restocking_fee -
    deductions - gifts_and_coupons + shipping``."""

    currency: str
    gross: Decimal
    restocking_fee: Decimal
    deductions: Decimal
    gifts_and_coupons: Decimal
    shipping: Decimal
    net: Decimal
    per_method: dict[str, Decimal] = Field(default_factory=dict)
    """The net split over the order's payment methods in proportion to what each paid
    (China's art. 14 for mixed payments); empty when the order lists no payments."""

    @property
    def net_money(self) -> Money:
        """The net refund as :class:`~aftersales.Money`."""
        return money(self.net, self.currency)


class Deadline(Record):
    """A deadline of ``days`` counted from the ``counted_from`` event, due on ``due_by``
    when that event's date is known.

    ``working_days`` counts Monday to Friday, less the public holidays of
    ``holiday_country`` (with its make-up working days) when it is set. When the event is
    later than the decision, count from its day with :meth:`due_from`, which uses the
    same calendar.
    """

    days: int
    counted_from: str
    due_by: date | None = None
    working_days: bool = False
    holiday_country: str | None = None

    def calendar(self) -> ClosedDays:
        """The days this deadline does not count (none when it counts calendar days)."""
        if not self.working_days:
            return NO_CLOSED_DAYS
        if self.holiday_country:
            return working_calendar(self.holiday_country)
        return _WEEKDAYS

    def due_from(self, start: date) -> date:
        """The day the deadline falls when ``counted_from`` happened on ``start``.

        >>> from datetime import date
        >>> deadline = RefundDeadline(days=20, counted_from="claim", working_days=True,
        ...                           holiday_country="CN")
        >>> deadline.due_from(date(2024, 9, 20))
        datetime.date(2024, 10, 23)
        """
        return add_working_days(start, self.days, self.calendar())


class RefundDeadline(Deadline):
    """When the refund is due (see :class:`Deadline`); ``sanctionable_after_days`` where a
    regulator may fine.

    ``counted_from`` is ``claim`` (the claim or notice), ``goods_received`` (the seller
    receiving the goods back) or ``refund_agreed`` (the trader agreeing to refund: UK
    Consumer Rights Act s20(15); ``due_by`` is None until ``claim.refund_agreed_at`` is
    known). ``withheld_until_goods_back``: the seller may withhold the refund until it has
    the goods back or proof that they were sent (EU Directive 2011/83/EU art. 13(3));
    ``due_by`` is then the later of the deadline and ``claim.goods_returned_at`` when that
    is known.
    """

    sanctionable_after_days: int | None = None
    withheld_until_goods_back: bool = False

    def sanctionable_from(self, start: date) -> date | None:
        """The last day before a regulator may sanction (``sanctionable_after_days``
        counted from ``start`` as :meth:`due_from` counts), or None."""
        if self.sanctionable_after_days is None:
            return None
        return add_working_days(start, self.sanctionable_after_days, self.calendar())


class Decision(Record):
    """The answer to one claim, with everything needed to act on it and explain it."""

    outcome: Outcome
    remedies: tuple[Remedy, ...] = ()
    reasons: tuple[Reason, ...] = ()
    window: DecisionWindow | None = None
    burden_of_proof: Party | None = None
    return_shipping_paid_by: Party | None = None
    refund: RefundBreakdown | None = None
    refund_deadline: RefundDeadline | None = None
    reply_deadline: Deadline | None = None
    refund_method: str | None = None
    compensation: Money | None = None
    policy: str

    @property
    def allowed(self) -> bool:
        """True when the claim is allowed (possibly after inspection)."""
        return self.outcome is not Outcome.REFUSED

    @property
    def codes(self) -> tuple[str, ...]:
        """The reason codes, in order."""
        return tuple(r.code for r in self.reasons)

    def explain(self, language: str = "en") -> str:
        """The reasons as one sentence per line, in ``language``: English (``en``, the
        default), Chinese (``zh``), or a language added with
        :func:`~aftersales.policies.messages.add_language`.

        Any other language raises InvalidInput naming the known ones: a decision never
        falls back to another language silently."""
        if language not in _LANGUAGES:
            template("", language)  # raises, naming the known languages
        return "\n".join([r.explain(language) for r in self.reasons])


def money(amount: Decimal, currency: str) -> Money:
    """A Money built without validation, for amounts computed from validated ones."""
    return trusted(Money, {"amount": amount, "currency": currency})
