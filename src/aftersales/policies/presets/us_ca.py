"""California: Civil Code §1723.

Verification tags follow ../shared/policy-presets.md: [V] read in the legal text, [S] from
secondary sources, [M] from memory of the text, still to be checked.
"""

from __future__ import annotations

from aftersales.policies.book import PolicySet
from aftersales.policies.presets._base import Jurisdiction
from aftersales.policies.rules import (
    RefundTerms,
    StatutoryReturnRule,
)

__all__ = ["JURISDICTION", "us_ca_1723"]


def us_ca_1723() -> PolicySet:
    """California Civil Code §1723 [S]: a retailer whose return policy is less than a full
    refund or exchange within 7 days and is not posted must refund or exchange goods
    returned on or before the 30th day after purchase. Exempt: food, plants and
    perishables; goods marked "as is", "no returns" or "all sales final"; used or damaged
    goods; custom goods; goods not in the original package; goods not resellable for
    health reasons."""
    return PolicySet(
        name="us-ca-1723",
        version="1723",
        jurisdiction="us-ca",
        time_zone="America/Los_Angeles",
        source="California Civil Code §1723 [S]",
        rules=(StatutoryReturnRule(refund=RefundTerms(days=14)),),
    )


JURISDICTION = Jurisdiction(code="us-ca", decide=us_ca_1723().evaluate, summary="California: §1723")
"""California's statutory default, chosen by ``facts.jurisdiction == "us-ca"``."""
