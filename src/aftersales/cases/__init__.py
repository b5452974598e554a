"""After-sales cases as a registry of kinds.

A case kind is one module declaring a :class:`CaseKindSpec`: its workflow, the model of
its details, its opener, step time limits and cascades as data (which trigger opens which
kind of case, which closes the case waiting on it). :data:`KINDS` are the kinds every desk
registers; an application adds its own with :meth:`CaseDesk.register` (or the ``kinds``
of :class:`CaseDesk`), and opens their cases with :meth:`CaseDesk.open`.

The shipped kinds: returns, exchanges, refunds, warranty repairs, complaints, and on-site
service visits (:mod:`aftersales.cases.visits`), satisfaction surveys
(:mod:`aftersales.cases.surveys`), return visits (回访,
:mod:`aftersales.cases.return_visits`) coupons (:mod:`aftersales.cases.coupons`) and care actions
(:mod:`aftersales.cases.care`).
"""

from importlib import import_module
from typing import cast

from aftersales.cases._desk import CaseDesk, DueCase
from aftersales.cases._goods import ClaimLine
from aftersales.cases._records import LINE_CHANGES, fold_case
from aftersales.cases._spec import CLOSES_PARENT, CaseKindSpec, ClosesParent, Opens, StepLimit
from aftersales.cases._writer import Policy
from aftersales.cases.care import CARE
from aftersales.cases.complaints import COMPLAINT
from aftersales.cases.coupons import COUPON
from aftersales.cases.exchanges import EXCHANGE, Inventory, MemoryInventory
from aftersales.cases.refunds import REFUND
from aftersales.cases.repairs import REPAIR
from aftersales.cases.return_visits import RETURN_VISIT
from aftersales.cases.returns import RETURN
from aftersales.cases.surveys import SURVEY

KIND_MODULES: tuple[str, ...] = (
    "returns",
    "exchanges",
    "refunds",
    "repairs",
    "complaints",
    "visits",
    "surveys",
    "return_visits",
    "coupons",
    "care",
)
"""The modules of :mod:`aftersales.cases` whose ``KIND`` every desk registers, in this
order: shipping a new kind is its module and one line here."""

KINDS: tuple[CaseKindSpec, ...] = tuple(
    cast(CaseKindSpec, import_module(f"aftersales.cases.{name}").KIND) for name in KIND_MODULES
)
"""The case kinds every desk registers, in this order."""

DEFAULT_STEP_LIMITS: dict[str, dict[str, StepLimit]] = {
    spec.workflow.name: dict(spec.step_limits) for spec in KINDS
}
"""Time limits per workflow and state of the shipped kinds (each kind declares its own;
``Desk(step_limits=...)`` overrides them). A refund's limit comes from its policy's due
date when there is one (China's 三包 parts wait is 90 days; refunds are due in 7 or 14)."""

__all__ = [
    "CARE",
    "CLOSES_PARENT",
    "COMPLAINT",
    "COUPON",
    "DEFAULT_STEP_LIMITS",
    "EXCHANGE",
    "KINDS",
    "KIND_MODULES",
    "LINE_CHANGES",
    "REFUND",
    "REPAIR",
    "RETURN",
    "RETURN_VISIT",
    "SURVEY",
    "CaseDesk",
    "CaseKindSpec",
    "ClaimLine",
    "ClosesParent",
    "DueCase",
    "Inventory",
    "MemoryInventory",
    "Opens",
    "Policy",
    "StepLimit",
    "fold_case",
]
