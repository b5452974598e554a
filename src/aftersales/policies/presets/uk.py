"""The UK: the Consumer Rights Act 2015.

Verification tags follow ../shared/policy-presets.md: [V] read in the legal text, [S] from
secondary sources, [M] from memory of the text, still to be checked.
"""

from __future__ import annotations

from aftersales.policies.book import PolicySet
from aftersales.policies.presets._base import Jurisdiction
from aftersales.policies.rules import (
    RefundTerms,
    ShortTermRejectRule,
)

__all__ = ["JURISDICTION", "uk_consumer_rights"]


def uk_consumer_rights() -> PolicySet:
    """UK Consumer Rights Act 2015.

    Short-term right to reject: 30 days beginning with the first day after ownership,
    delivery and any installation (s22) [V]; the period stops while the consumer waits for
    a repair or replacement, then the consumer has the remainder or 7 days, whichever is
    longer (s22(6)-(8)); the wait begins with the day the repair is requested
    (``RepairRecord.requested_at``, else the hand-in day) [V]. Final right to reject or
    price reduction after one failed repair or replacement (s24(5)) [V]; defects within 6
    months of delivery are presumed present at delivery [M]; a deduction for use may apply
    after 6 months, and for motor vehicles [M]. Refund within 14 days of the trader
    agreeing (s20(15); ``claim.refund_agreed_at``) [S].
    """
    return PolicySet(
        name="uk-consumer-rights",
        version="2015",
        jurisdiction="uk",
        time_zone="Europe/London",
        source="Consumer Rights Act 2015 ss20, 22, 24 [V; M; S]",
        rules=(ShortTermRejectRule(refund=RefundTerms(days=14, counted_from="refund_agreed")),),
    )


JURISDICTION = Jurisdiction(
    code="uk", decide=uk_consumer_rights().evaluate, summary="UK: the Consumer Rights Act"
)
"""The UK's statutory default, chosen by ``facts.jurisdiction == "uk"``."""
