"""Legal presets and a typical retailer policy, each citing its source.

Verification tags follow ../shared/policy-presets.md: [V] read in the legal text, [S] from
secondary sources, [M] from memory of the text, still to be checked. Every contested
choice is a keyword argument with the documented default.

One module per jurisdiction (:mod:`~aftersales.policies.presets.cn`, ``eu``, ``uk``,
``us_ca``, and the ``retailer`` example), each declaring its presets and a
``JURISDICTION`` (:class:`Jurisdiction`: its code and its statutory default, or None);
:data:`PRESET_MODULES` lists them and :data:`JURISDICTIONS` is gathered from that tuple.
An application adds a jurisdiction of its own with :func:`register`.
"""

from __future__ import annotations

from importlib import import_module
from types import ModuleType
from typing import Any

from aftersales.policies.presets import cn, eu, retailer, uk, us_ca
from aftersales.policies.presets._base import JURISDICTIONS, Jurisdiction, decide, register
from aftersales.policies.presets.cn import (
    SANBAO_CATALOGUE,
    cn_household_car,
    cn_online_no_reason_return,
    cn_quality_return,
    cn_sanbao_general,
)
from aftersales.policies.presets.cn import (
    SHANGHAI as SHANGHAI,
)
from aftersales.policies.presets.eu import eu_legal_guarantee, eu_withdrawal
from aftersales.policies.presets.retailer import retailer_example
from aftersales.policies.presets.uk import uk_consumer_rights
from aftersales.policies.presets.us_ca import us_ca_1723

__all__ = [
    "JURISDICTIONS",
    "PRESET_MODULES",
    "SANBAO_CATALOGUE",
    "Jurisdiction",
    "cn_household_car",
    "cn_online_no_reason_return",
    "cn_quality_return",
    "cn_sanbao_general",
    "decide",
    "eu_legal_guarantee",
    "eu_withdrawal",
    "register",
    "retailer_example",
    "uk_consumer_rights",
    "us_ca_1723",
]

PRESET_MODULES: tuple[ModuleType, ...] = (cn, eu, uk, us_ca, retailer)
"""The shipped preset modules, one per jurisdiction (and the retailer example)."""

for _module in PRESET_MODULES:
    if _module.JURISDICTION is not None:
        register(_module.JURISDICTION)


# Names this module imported before it became a package, kept importable from here.
_MOVED = {
    **dict.fromkeys(("PolicyBook", "PolicySet", "PolicyVersion"), "aftersales.policies.book"),
    "StartEvent": "aftersales.policies.dates",
    **dict.fromkeys(("Decision", "Party", "Remedy"), "aftersales.policies.decision"),
    **dict.fromkeys(
        ("ClaimKind", "Condition", "Facts", "ProductFlag", "as_facts"),
        "aftersales.policies.facts",
    ),
    **dict.fromkeys(
        (
            "Duration",
            "HouseholdCarRule",
            "LegalGuaranteeRule",
            "QualityTiersRule",
            "RefundTerms",
            "ReturnWindowRule",
            "RollForward",
            "ShortTermRejectRule",
            "StatutoryReturnRule",
            "Tier",
        ),
        "aftersales.policies.rules",
    ),
    **dict.fromkeys(("FieldError", "InvalidInput"), "aftersales.exceptions"),
}


def __getattr__(name: str) -> Any:
    home = _MOVED.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(home), name)
