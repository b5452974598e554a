"""The EU: the right of withdrawal and the legal guarantee.

Verification tags follow ../shared/policy-presets.md: [V] read in the legal text, [S] from
secondary sources, [M] from memory of the text, still to be checked.
"""

from __future__ import annotations

from datetime import date

from aftersales.policies.book import PolicyBook, PolicySet, PolicyVersion
from aftersales.policies.dates import StartEvent
from aftersales.policies.decision import Decision, Party
from aftersales.policies.facts import ClaimKind, Condition, Facts, ProductFlag
from aftersales.policies.presets._base import Jurisdiction
from aftersales.policies.rules import (
    Duration,
    LegalGuaranteeRule,
    RefundTerms,
    ReturnWindowRule,
    RollForward,
)

__all__ = ["JURISDICTION", "eu_legal_guarantee", "eu_withdrawal"]


def eu_withdrawal(
    *, time_zone: str = "Europe/Brussels", holiday_country: str | None = None
) -> PolicySet:
    """EU right of withdrawal (Directive 2011/83/EU) [M; numbers confirmed by S].

    14 days from physical possession of the last good of an order delivered in parts
    (art. 9); without withdrawal information the period ends 12 months later, or 14 days
    after the information arrives (art. 10). Exceptions (art. 16): made to specification,
    quick to deteriorate, unsealed hygiene goods, inseparably mixed goods, unsealed media,
    periodicals. Refund of all payments including standard delivery within 14 days of the
    notice, by the same means (art. 13), which the seller may withhold until it has the
    goods back or proof that they were sent (art. 13(3); ``claim.goods_returned_at``); the
    consumer bears the direct return cost (art. 14). Counting per Regulation 1182/71 [M]:
    the event day is not counted and a last day on a weekend (or a public holiday of
    ``holiday_country``) moves to the next working day.
    """
    return PolicySet(
        name="eu-withdrawal",
        version="2014",
        jurisdiction="eu",
        time_zone=time_zone,
        source="Directive 2011/83/EU arts. 9-16; Regulation 1182/71 [M; S]",
        rules=(
            ReturnWindowRule(
                name="14-day withdrawal",
                name_zh="14 日撤回期",
                period=Duration(days=14),
                start=StartEvent.LAST_ITEM,
                roll_forward=RollForward(weekends=True, country=holiday_country),
                absolute_exclusions=frozenset(
                    {
                        ProductFlag.MADE_TO_ORDER,
                        ProductFlag.PERISHABLE,
                        ProductFlag.INSEPARABLY_MIXED,
                        ProductFlag.PERIODICAL,
                    }
                ),
                not_intact=frozenset(),
                inspect=frozenset({Condition.SEAL_BROKEN, Condition.DAMAGED}),
                uninformed_extension_months=12,
                return_shipping_paid_by=Party.CONSUMER,
                refund=RefundTerms(
                    days=14,
                    counted_from="claim",
                    refund_shipping=True,
                    method="original_payment",
                    deduct_gifts_and_coupons=False,
                    withhold_until_goods_back=True,
                ),
            ),
        ),
    )


def eu_legal_guarantee(
    *, presumption_months: int = 12, time_zone: str = "Europe/Brussels"
) -> PolicyBook:
    """EU legal guarantee [M; 2 years S].

    Contracts from 2022-01-01 (Directive 2019/771): 2 years from delivery, a presumption
    that a defect existed at delivery for ``presumption_months`` (12; member states may
    choose 24), repair or replacement first, then price reduction or termination. Earlier
    contracts (Directive 1999/44/EC): 2 years with a 6-month presumption. The version in
    force on the contract date decides.
    """

    def version(name: str, months: int) -> PolicySet:
        return PolicySet(
            name="eu-legal-guarantee",
            version=name,
            jurisdiction="eu",
            time_zone=time_zone,
            source=f"Directive {name} [M; S]",
            rules=(LegalGuaranteeRule(presumption_months=months, refund=RefundTerms(days=14)),),
        )

    return PolicyBook(
        name="eu-legal-guarantee",
        versions=(
            PolicyVersion(effective_from=date(2002, 1, 1), policy=version("1999/44/EC", 6)),
            PolicyVersion(
                effective_from=date(2022, 1, 1), policy=version("2019/771", presumption_months)
            ),
        ),
    )


def _decide(facts: Facts) -> Decision:
    if facts.claim.kind is ClaimKind.NO_REASON_RETURN:
        return _EU_WITHDRAWAL.evaluate(facts)
    return _EU_GUARANTEE.evaluate(facts)


_EU_WITHDRAWAL = eu_withdrawal()
_EU_GUARANTEE = eu_legal_guarantee()

JURISDICTION = Jurisdiction(
    code="eu", decide=_decide, summary="EU: withdrawal, else the legal guarantee"
)
"""The EU's statutory default, chosen by ``facts.jurisdiction == "eu"``."""
