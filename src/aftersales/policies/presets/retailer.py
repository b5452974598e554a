"""A typical retailer's own policy, as an example of a shop's (no jurisdiction: a shop
evaluates its own policy)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from aftersales.policies.book import PolicyBook, PolicySet, PolicyVersion
from aftersales.policies.dates import StartEvent
from aftersales.policies.decision import Party, Remedy
from aftersales.policies.facts import ClaimKind, Condition, ProductFlag
from aftersales.policies.rules import (
    Duration,
    RefundTerms,
    ReturnWindowRule,
)

__all__ = ["JURISDICTION", "retailer_example"]


def retailer_example(
    *, days: int = 30, restocking_fee_percent: Decimal = Decimal(15), time_zone: str = "UTC"
) -> PolicyBook:
    """A typical retailer's own policy, as an example of a shop's: returns within ``days``
    of delivery, a ``restocking_fee_percent`` fee on opened items, refund in 14 days to the
    original payment. Versioned like a real one: before 2025 there was no restocking fee
    (Apple once charged 10% on opened items, then dropped it: a real case for versions)."""

    def version(name: str, fee: Decimal) -> PolicySet:
        return PolicySet(
            name="retailer-returns",
            version=name,
            time_zone=time_zone,
            source="example retailer policy",
            rules=(
                ReturnWindowRule(
                    name=f"{days}-day return",
                    period=Duration(days=days),
                    start=StartEvent.DELIVERY,
                    count_start_day=True,
                    handles=frozenset({ClaimKind.NO_REASON_RETURN, ClaimKind.EXCHANGE}),
                    absolute_exclusions=frozenset(
                        {ProductFlag.FINAL_SALE, ProductFlag.DIGITAL_DOWNLOAD}
                    ),
                    not_intact=frozenset({Condition.DAMAGED}),
                    remedies=(Remedy.REFUND, Remedy.EXCHANGE, Remedy.STORE_CREDIT),
                    return_shipping_paid_by=Party.SELLER,
                    refund=RefundTerms(
                        days=14,
                        restocking_fee_percent=fee,
                        restocking_fee_on=frozenset({Condition.OPENED, Condition.ACTIVATED}),
                    ),
                ),
            ),
        )

    return PolicyBook(
        name="retailer-returns",
        versions=(
            PolicyVersion(effective_from=date(2020, 1, 1), policy=version("2020", Decimal(0))),
            PolicyVersion(
                effective_from=date(2025, 1, 1), policy=version("2025", restocking_fee_percent)
            ),
        ),
    )


JURISDICTION = None
"""A shop's policy is no statutory default: :func:`~aftersales.policies.decide` does not
choose it; call its ``evaluate``."""
