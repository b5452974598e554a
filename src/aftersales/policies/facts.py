"""The facts a policy decides on, validated. No storage and no clock: the claim date is a fact."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import Enum
from typing import Annotated, Any

from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator
from typing_extensions import Self

from aftersales.exceptions import FieldError, InvalidInput
from aftersales.models._base import Identifier, Instant, Record, ShortText
from aftersales.models.order import Money

__all__ = [
    "ClaimFacts",
    "ClaimKind",
    "Condition",
    "Facts",
    "OrderFacts",
    "Payment",
    "ProductFacts",
    "ProductFlag",
    "RepairOutcome",
    "RepairRecord",
    "VehicleFacts",
    "as_facts",
]

MAX_QUANTITY = 1_000_000
"""The most units an order line or a claim may hold."""
MAX_DAYS = 100_000
"""The most days a count of days in the facts may hold (about 270 years)."""
MAX_KM = 10_000_000
"""The most kilometres an odometer may show."""


def _not_negative(money: Money) -> Money:
    if money.amount < 0:
        raise ValueError("must not be negative")
    return money


Amount = Annotated[Money, AfterValidator(_not_negative)]
"""Money that cannot be negative: a price, a payment, shipping, a gift's or coupon's value."""
Quantity = Annotated[int, Field(gt=0, le=MAX_QUANTITY)]
Days = Annotated[int, Field(ge=0, le=MAX_DAYS)]


class ProductFlag(str, Enum):
    """Properties of a product that return and warranty rules look at."""

    PERISHABLE = "perishable"
    MADE_TO_ORDER = "made_to_order"
    SEALED_HYGIENE = "sealed_hygiene"
    SEALED_MEDIA = "sealed_media"
    DIGITAL_DOWNLOAD = "digital_download"
    PERIODICAL = "periodical"
    NEAR_EXPIRY_MARKED = "near_expiry_marked"
    DEFECT_MARKED = "defect_marked"
    SECOND_HAND = "second_hand"
    ACTIVATION_LOSES_VALUE = "activation_loses_value"
    UNSEALING_AFFECTS_SAFETY = "unsealing_affects_safety"
    INSEPARABLY_MIXED = "inseparably_mixed"
    FINAL_SALE = "final_sale"
    NOT_RESELLABLE_FOR_HEALTH = "not_resellable_for_health"


class ClaimKind(str, Enum):
    """What the customer asks for."""

    NO_REASON_RETURN = "no_reason_return"
    QUALITY_RETURN = "quality_return"
    EXCHANGE = "exchange"
    WARRANTY_REPAIR = "warranty_repair"
    LEGAL_GUARANTEE = "legal_guarantee"
    FINAL_REJECTION = "final_rejection"


class Condition(str, Enum):
    """The state the goods come back in."""

    UNOPENED = "unopened"
    OPENED = "opened"
    INTACT_LABELS = "intact_labels"
    LABELS_REMOVED = "labels_removed"
    SEAL_BROKEN = "seal_broken"
    DAMAGED = "damaged"
    ACTIVATED = "activated"


class RepairOutcome(str, Enum):
    """How one repair ended."""

    FIXED = "fixed"
    FAILED = "failed"
    REPLACED = "replaced"
    IN_REPAIR = "in_repair"


class RepairRecord(Record):
    """One repair: when the goods were handed in and back, and how it went.

    ``waiting_for_parts_days`` and ``repairer_fault_days`` are the days of the repair spent
    waiting for parts or delayed by the repairer, where the rules care about them.
    """

    handed_in_at: Instant
    handed_back_at: Instant | None = None
    outcome: RepairOutcome = RepairOutcome.FIXED
    part: ShortText | None = None
    waiting_for_parts_days: Days = 0
    repairer_fault_days: Days = 0
    requested_at: Instant | None = None
    """When the consumer requested or agreed to the repair or replacement, if not the day
    the goods were handed in. The UK's waiting period begins with that day (Consumer
    Rights Act s22(8)(a))."""

    @field_validator("handed_back_at")
    @classmethod
    def _back_after_in(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        handed_in = info.data.get("handed_in_at")
        if value is not None and handed_in is not None and value < handed_in:
            raise ValueError("is before handed_in_at")
        return value

    @field_validator("requested_at")
    @classmethod
    def _requested_before_back(
        cls, value: datetime | None, info: ValidationInfo
    ) -> datetime | None:
        back = info.data.get("handed_back_at")
        if value is not None and back is not None and value > back:
            raise ValueError("is after handed_back_at")
        return value

    @property
    def waiting_from(self) -> datetime:
        """The instant the consumer started waiting: the request, else the hand-in."""
        return self.requested_at or self.handed_in_at


class Payment(Record):
    """One payment method and the amount paid with it."""

    method: ShortText
    amount: Amount


class ProductFacts(Record):
    """The product as the rules see it."""

    sku: Identifier | None = None
    category: ShortText
    flags: frozenset[ProductFlag] = frozenset()
    parts: tuple[ShortText, ...] = ()
    same_model_available: bool | None = None
    """Whether a unit of the same model and specification is available to replace it
    (China's 三包: a refund after failed repairs is less depreciation only when one is;
    None, not known, is taken as available)."""


class OrderFacts(Record):
    """The order line: dates, price, quantity, payments.

    ``delivered_at`` is this item's delivery (or sign-off); ``order_completed_at`` the
    delivery of the order's last item, when the order arrived in several parcels.
    """

    purchased_at: Instant
    invoiced_at: Instant | None = None
    delivered_at: Instant | None = None
    order_completed_at: Instant | None = None
    installed_at: Instant | None = None
    unit_price: Amount
    quantity: Quantity = 1
    shipping_paid: Amount | None = None
    payments: tuple[Payment, ...] = ()
    gifts_value: Amount | None = None
    coupon_value: Amount | None = None

    @field_validator("invoiced_at", "delivered_at", "order_completed_at", "installed_at")
    @classmethod
    def _after_purchase(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        purchased = info.data.get("purchased_at")
        if value is not None and purchased is not None and value < purchased:
            raise ValueError("is before purchased_at")
        return value

    @model_validator(mode="after")
    def _one_currency(self) -> Self:
        currencies = {self.unit_price.currency}
        for money in (self.shipping_paid, self.gifts_value, self.coupon_value):
            if money is not None:
                currencies.add(money.currency)
        currencies.update(p.amount.currency for p in self.payments)
        if len(currencies) > 1:
            raise ValueError(f"amounts in more than one currency: {sorted(currencies)}")
        return self

    @property
    def currency(self) -> str:
        """The order's currency."""
        return self.unit_price.currency


class ClaimFacts(Record):
    """The customer's claim. ``part`` names the failed part where warranties differ per
    part; ``fault`` is a fault code that policies may cover or exclude."""

    at: Instant
    kind: ClaimKind
    quantity: Quantity = 1
    reason: ShortText | None = None
    defect: ShortText | None = None
    condition: Condition = Condition.UNOPENED
    part: ShortText | None = None
    fault: ShortText | None = None
    misuse: bool = False
    unauthorised_repair: bool = False
    proof_of_purchase: bool = True
    refund_agreed_at: Instant | None = None
    """When the trader agreed that the consumer is entitled to a refund: the UK's 14 days
    to refund count from then (Consumer Rights Act s20(15))."""
    goods_returned_at: Instant | None = None
    """When the seller received the goods back, or the consumer supplied evidence of
    having sent them, whichever came first: an EU withdrawal refund may be withheld until
    then (Directive 2011/83/EU art. 13(3))."""


class VehicleFacts(Record):
    """What the Chinese household-car rules need: mileage and the failed system."""

    odometer_km: Annotated[int, Field(ge=0, le=MAX_KM)]
    failed_system: ShortText | None = None
    serious_safety_fault: bool = False
    assembly_replacements: Annotated[int, Field(ge=0, le=1_000)] = 0


class Facts(Record):
    """Everything a policy decides on. Build it once per question; it is immutable.

    ``jurisdiction`` names the preset family that applies (``cn``, ``eu``, ``uk``,
    ``us-ca``) or the shop's own policy name.
    """

    jurisdiction: Identifier
    product: ProductFacts
    order: OrderFacts
    claim: ClaimFacts
    repairs: tuple[RepairRecord, ...] = ()
    confirmed_non_returnable_at_checkout: bool = False
    withdrawal_information_given_at: Instant | None = None
    retailer_policy_posted: bool = True
    vehicle: VehicleFacts | None = None

    @field_validator("claim")
    @classmethod
    def _claim_fits_the_order(cls, claim: ClaimFacts, info: ValidationInfo) -> ClaimFacts:
        order: OrderFacts | None = info.data.get("order")
        if order is None:
            return claim
        if claim.quantity > order.quantity:
            raise ValueError("quantity is more than the order line's quantity")
        if claim.at < (order.delivered_at or order.purchased_at):
            raise ValueError("at is before the goods were delivered")
        return claim

    @field_validator("repairs")
    @classmethod
    def _repairs_after_purchase(
        cls, repairs: tuple[RepairRecord, ...], info: ValidationInfo
    ) -> tuple[RepairRecord, ...]:
        order: OrderFacts | None = info.data.get("order")
        for repair in repairs:
            if order is not None and repair.waiting_from < order.purchased_at:
                raise ValueError("a repair was requested or handed in before the purchase")
        return repairs

    def event_time(self, name: str) -> datetime | None:
        """The instant of a start event (see :class:`~aftersales.policies.StartEvent`)."""
        from aftersales.policies.dates import StartEvent
        from aftersales.policies.rules._common import _START_EVENTS

        try:
            return _START_EVENTS[StartEvent(name)](self.order)
        except ValueError:
            return None


def as_facts(value: Any) -> Facts:
    """``value`` as :class:`Facts`: Facts as they are, a mapping validated (errors name the
    field), anything else refused with InvalidInput."""
    if isinstance(value, Facts):
        return value
    if isinstance(value, Mapping):
        return Facts.model_validate(dict(value))
    raise InvalidInput(
        "facts",
        [
            FieldError(
                (),
                f"expected Facts or a mapping of facts, got {type(value).__name__}",
                "model_type",
            )
        ],
    )
