"""Warranty, return, exchange and refund policies that explain their decisions.

Usable alone, in one call, inside an e-commerce backend: build :class:`Facts` (validated,
no storage, the claim date is a fact) and ask a policy (a :class:`PolicySet`, a
:class:`PolicyBook` of versions, or :func:`decide` with the statutory presets):

>>> from aftersales.policies import Facts, decide
>>> facts = Facts.model_validate({
...     "jurisdiction": "cn",
...     "product": {"category": "apparel"},
...     "order": {"purchased_at": "2024-03-01T10:00:00+08:00",
...               "delivered_at": "2024-03-03T15:00:00+08:00",
...               "unit_price": {"amount": "199.00", "currency": "CNY"}},
...     "claim": {"at": "2024-03-10T23:59:00+08:00", "kind": "no_reason_return"},
... })
>>> decision = decide(facts)
>>> decision.outcome.value, decision.window.last_day.isoformat()
('allowed', '2024-03-10')
>>> print(decision.explain("zh"))
在七日无理由退货期限内，截止日期为 2024-03-10

Rule kinds are one module each in :mod:`~aftersales.policies.rules`, jurisdictions one
module each in :mod:`~aftersales.policies.presets` (add yours with
:func:`~aftersales.policies.presets.register`), and reason messages are templates keyed by
language in :mod:`~aftersales.policies.messages` (add a language with
:func:`~aftersales.policies.messages.add_language`).
"""

from aftersales.policies import messages, presets
from aftersales.policies.book import PolicyBook, PolicySet, PolicyVersion
from aftersales.policies.dates import (
    ClosedDays,
    CountryCalendar,
    HolidayCalendar,
    Period,
    StartEvent,
    Window,
    add_working_days,
    count_window,
    local_date,
    working_calendar,
)
from aftersales.policies.decision import (
    Deadline,
    Decision,
    DecisionWindow,
    Outcome,
    Party,
    Reason,
    RefundBreakdown,
    RefundDeadline,
    Remedy,
)
from aftersales.policies.facts import (
    ClaimFacts,
    ClaimKind,
    Condition,
    Facts,
    OrderFacts,
    Payment,
    ProductFacts,
    ProductFlag,
    RepairOutcome,
    RepairRecord,
    VehicleFacts,
)
from aftersales.policies.presets import decide
from aftersales.policies.rules import (
    Duration,
    HouseholdCarRule,
    LegalGuaranteeRule,
    QualityTiersRule,
    RefundTerms,
    ReturnWindowRule,
    RollForward,
    Rule,
    ShortTermRejectRule,
    StatutoryReturnRule,
    Tier,
)

__all__ = [
    "ClaimFacts",
    "ClaimKind",
    "ClosedDays",
    "Condition",
    "CountryCalendar",
    "Deadline",
    "Decision",
    "DecisionWindow",
    "Duration",
    "Facts",
    "HolidayCalendar",
    "HouseholdCarRule",
    "LegalGuaranteeRule",
    "OrderFacts",
    "Outcome",
    "Party",
    "Payment",
    "Period",
    "PolicyBook",
    "PolicySet",
    "PolicyVersion",
    "ProductFacts",
    "ProductFlag",
    "QualityTiersRule",
    "Reason",
    "RefundBreakdown",
    "RefundDeadline",
    "RefundTerms",
    "Remedy",
    "RepairOutcome",
    "RepairRecord",
    "ReturnWindowRule",
    "RollForward",
    "Rule",
    "ShortTermRejectRule",
    "StartEvent",
    "StatutoryReturnRule",
    "Tier",
    "VehicleFacts",
    "Window",
    "add_working_days",
    "count_window",
    "decide",
    "local_date",
    "messages",
    "presets",
    "working_calendar",
]
