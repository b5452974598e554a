"""Policy kinds. Each is validated configuration (so a shop writes it as JSON) with a pure
``evaluate`` method: facts in, :class:`~aftersales.policies.Decision` out, no I/O, no clock.

One module per kind, each declaring its rule class (``RULE``) and the message templates of
the reasons it gives (``MESSAGES``, by code and language); :data:`RULE_MODULES` lists them,
and :data:`Rule` (the union a policy set's ``rules`` accept, chosen by ``kind``) is built
from that tuple. A new kind is one module here and one line in the tuple.
"""

from __future__ import annotations

from importlib import import_module
from types import ModuleType
from typing import TYPE_CHECKING, Annotated, Any, Union

from pydantic import Field

from aftersales.policies import messages
from aftersales.policies.rules import (
    _common,
    household_car,
    legal_guarantee,
    quality_tiers,
    return_window,
    short_term_reject,
    statutory_return,
)
from aftersales.policies.rules._common import (
    Context,
    Duration,
    NamedRule,
    RefundTerms,
    RollForward,
    decision,
    refund_breakdown,
    refund_deadline,
    refund_fields,
    repair_days,
)
from aftersales.policies.rules.household_car import (
    MAIN_ASSEMBLIES,
    SEVERE_FAILURES,
    HouseholdCarRule,
)
from aftersales.policies.rules.legal_guarantee import LegalGuaranteeRule
from aftersales.policies.rules.quality_tiers import QualityTiersRule, Tier
from aftersales.policies.rules.return_window import ReturnWindowRule
from aftersales.policies.rules.short_term_reject import ShortTermRejectRule
from aftersales.policies.rules.statutory_return import StatutoryReturnRule

__all__ = [
    "MAIN_ASSEMBLIES",
    "RULE_MODULES",
    "SEVERE_FAILURES",
    "Context",
    "Duration",
    "HouseholdCarRule",
    "LegalGuaranteeRule",
    "NamedRule",
    "QualityTiersRule",
    "RefundTerms",
    "ReturnWindowRule",
    "RollForward",
    "Rule",
    "ShortTermRejectRule",
    "StatutoryReturnRule",
    "Tier",
    "decision",
    "refund_breakdown",
    "refund_deadline",
    "refund_fields",
    "repair_days",
]

RULE_MODULES: tuple[ModuleType, ...] = (
    return_window,
    quality_tiers,
    legal_guarantee,
    short_term_reject,
    statutory_return,
    household_car,
)
"""The rule kinds, one module each, in the order configuration errors list them."""

messages.add_messages(_common.MESSAGES)
for _module in RULE_MODULES:
    messages.add_messages(_module.MESSAGES)

if TYPE_CHECKING:
    Rule = NamedRule
else:
    Rule = Annotated[
        Union[tuple(module.RULE for module in RULE_MODULES)],  # noqa: UP007 - built at runtime
        Field(discriminator="kind"),
    ]
"""Any policy kind, chosen by its ``kind`` field in configuration."""

# Names this module held before it became a package, kept importable from here.
_MOVED = {
    "ClosedDays": "aftersales.policies.dates",
    "HolidayCalendar": "aftersales.policies.dates",
    "Period": "aftersales.policies.dates",
    "StartEvent": "aftersales.policies.dates",
    "Window": "aftersales.policies.dates",
    "add_working_days": "aftersales.policies.dates",
    "count_window": "aftersales.policies.dates",
    "local_date": "aftersales.policies.dates",
    "working_calendar": "aftersales.policies.dates",
    "Deadline": "aftersales.policies.decision",
    "Decision": "aftersales.policies.decision",
    "DecisionWindow": "aftersales.policies.decision",
    "Outcome": "aftersales.policies.decision",
    "Party": "aftersales.policies.decision",
    "Reason": "aftersales.policies.decision",
    "RefundBreakdown": "aftersales.policies.decision",
    "RefundDeadline": "aftersales.policies.decision",
    "Remedy": "aftersales.policies.decision",
    "money": "aftersales.policies.decision",
    "reason": "aftersales.policies.decision",
    "ClaimKind": "aftersales.policies.facts",
    "Condition": "aftersales.policies.facts",
    "Facts": "aftersales.policies.facts",
    "OrderFacts": "aftersales.policies.facts",
    "Payment": "aftersales.policies.facts",
    "ProductFlag": "aftersales.policies.facts",
    "RepairOutcome": "aftersales.policies.facts",
    "RepairRecord": "aftersales.policies.facts",
    "Record": "aftersales.models._base",
    "trusted": "aftersales.models._base",
    "FieldError": "aftersales.exceptions",
    "InvalidInput": "aftersales.exceptions",
}


def __getattr__(name: str) -> Any:
    home = _MOVED.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(home), name)
