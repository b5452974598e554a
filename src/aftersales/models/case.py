"""After-sales cases: returns, exchanges, refunds, warranty repairs and complaints.

A case is a subject of its own (own workflow, version and event log) that belongs to a
ticket; one ticket can carry several cases. Order lines, per-unit inspection results,
the policy decision behind each line and the money involved live on the case, so its
events alone rebuild it.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any

from pydantic import (
    Field,
    SerializeAsAny,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_validator,
)
from typing_extensions import Self

from aftersales.models._base import Identifier, Instant, Record, ShortText, Text, new_id
from aftersales.models.order import Money
from aftersales.models.ticket import Severity, StatusCategory
from aftersales.policies.decision import Decision
from aftersales.policies.facts import Facts, RepairRecord

__all__ = [
    "AnyKind",
    "Case",
    "CaseKind",
    "CaseLine",
    "ComplaintDetails",
    "ExchangeDetails",
    "KindName",
    "RefundDetails",
    "RefundMethod",
    "RepairDetails",
    "RepairSite",
    "ReturnLogistics",
    "ReturnMethod",
    "UnitResult",
    "case_kind",
    "register_kind",
]


class CaseKind(str, Enum):
    """What kind of after-sales case."""

    RETURN = "return"
    EXCHANGE = "exchange"
    REFUND = "refund"
    REPAIR = "repair"
    COMPLAINT = "complaint"


class KindName(str):
    """The name of a case kind registered beside the shipped :class:`CaseKind` members
    (``"visit"``). It is its str (equal, same hash) and, like an enum member, has
    ``value``; one object per name, so ``is`` compares kinds as it does members."""

    __slots__ = ()

    @property
    def value(self) -> str:
        """The name as a plain str (as ``CaseKind.RETURN.value`` is ``"return"``)."""
        return str.__str__(self)

    @property
    def _value_(self) -> str:
        return str.__str__(self)

    def __repr__(self) -> str:
        return f"KindName({str.__repr__(self)})"


AnyKind = CaseKind | KindName
"""A case's kind: a shipped :class:`CaseKind` member or a registered :class:`KindName`."""

_KINDS: dict[str, AnyKind] = {kind.value: kind for kind in CaseKind}
_DETAILS: dict[str, type[Record]] = {}


def register_kind(name: str, details: type[Record] | None = None) -> AnyKind:
    """Make ``name`` a case kind that cases may have and stores may load (the shipped
    ones are known already), with ``details`` the model that validates its cases'
    :attr:`Case.details`.

    Registering a name again with another details model replaces it (the latest
    definition of your own kind wins, as when a test suite or a reloaded module defines it
    again), except for the kinds the library ships: their model is refused a replacement,
    so their stored cases keep loading the same way."""
    kind = _KINDS.get(name)
    if kind is None:
        kind = _KINDS.setdefault(name, KindName(name))
    if details is not None:
        known = _DETAILS.get(kind.value)
        if (
            known is not None
            and known is not details
            and known.__module__.startswith("aftersales.")
        ):
            raise ValueError(
                f"case kind {name!r} ships with the details model {known.__name__}; "
                "name your own kind differently"
            )
        _DETAILS[kind.value] = details
    return kind


def case_kind(value: object) -> AnyKind:
    """The registered kind named ``value``; ValueError for a name nobody registered."""
    if value.__class__ is CaseKind:
        return value
    kind = _KINDS.get(value) if isinstance(value, str) else None
    if kind is None:
        raise ValueError(f"unknown case kind {value!r}; registered: {sorted(_KINDS)}")
    return kind


class UnitResult(str, Enum):
    """What inspection found for one returned unit."""

    RESTOCK = "restock"
    """As sold: goes back to stock and is refunded."""
    DAMAGED = "damaged"
    """Damaged by the customer: not refunded, sent back or kept per the shop's rules."""
    MISSING = "missing"
    """Announced in the return but absent from the parcel: not refunded."""
    NOT_AS_DESCRIBED = "not_as_described"
    """The seller's fault: refunded in full."""

    @property
    def refundable(self) -> bool:
        """Whether a unit with this result is refunded."""
        return self in (UnitResult.RESTOCK, UnitResult.NOT_AS_DESCRIBED)


class RefundMethod(str, Enum):
    """How money goes back to the customer."""

    ORIGINAL_PAYMENT = "original_payment"
    """Back to the payment methods used, split in proportion to what each paid."""
    STORE_CREDIT = "store_credit"
    VOUCHER = "voucher"


class ReturnMethod(str, Enum):
    """How the goods travel back."""

    LABEL = "label"
    ADDRESS = "address"
    PICKUP = "pickup"


class RepairSite(str, Enum):
    """Where a repair happens."""

    ON_SITE = "on_site"
    DEPOT = "depot"


class CaseLine(Record):
    """One order line in a case: how many units the case is about, how many were bought,
    what they cost, and what happened to them. ``decision`` is the policy's answer for
    this line, kept with its reasons."""

    line_id: Identifier
    sku: Identifier | None = None
    quantity: Annotated[int, Field(gt=0)]
    bought: Annotated[int, Field(gt=0)]
    unit_price: Money
    received: Annotated[int, Field(ge=0)] = 0
    received_at: Instant | None = None
    """When units of this line last arrived: what a refund due "from the goods received"
    counts from."""
    inspections: tuple[UnitResult, ...] = ()
    facts: Facts | None = None
    """What the policy decided on, kept so that a later step can ask it again."""
    decision: Decision | None = None

    @model_validator(mode="after")
    def _units_add_up(self) -> Self:
        if self.quantity > self.bought:
            raise ValueError(f"quantity {self.quantity} is more than the {self.bought} bought")
        if self.received > self.quantity:
            raise ValueError(f"received {self.received} is more than the {self.quantity} claimed")
        if len(self.inspections) > self.received:
            raise ValueError(
                f"{len(self.inspections)} inspections for {self.received} units received"
            )
        return self

    @property
    def paid(self) -> Decimal:
        """What the customer paid for every unit bought on this line."""
        return self.unit_price.amount * self.bought

    @property
    def refundable_units(self) -> int:
        """Inspected units that are refunded."""
        return sum(1 for result in self.inspections if result.refundable)


class ReturnLogistics(Record):
    """How the goods come back: a prepaid label, an address to send to, or a pickup."""

    method: ReturnMethod
    address: ShortText | None = None
    carrier: ShortText | None = None
    tracking: ShortText | None = None


class RefundDetails(Record):
    """The money of a refund case. ``allocation`` says how much of ``amount`` refunds each
    order line (what stops refunding a line above what was paid for it)."""

    amount: Money
    method: RefundMethod = RefundMethod.ORIGINAL_PAYMENT
    allocation: dict[str, Decimal] = Field(default_factory=dict)
    per_method: dict[str, Decimal] = Field(default_factory=dict)
    due_by: date | None = None
    sanctionable_after: date | None = None
    attempts: Annotated[int, Field(ge=0)] = 0
    last_error: Text | None = None
    reference: ShortText | None = None
    succeeded_at: Instant | None = None
    late: bool = False
    sanctionable: bool = False


class RepairDetails(Record):
    """A warranty or paid repair of one product, identified by its serial number.

    ``records`` holds one :class:`~aftersales.policies.RepairRecord` per hand-in of this
    case, in order; with the records of earlier cases on the same serial number they feed
    the policy on the next assessment (repair days extend the warranty, failed repairs
    lead to a replacement).
    """

    serial: Identifier
    site: RepairSite = RepairSite.DEPOT
    in_warranty: bool | None = None
    quote: Money | None = None
    quote_accepted: bool | None = None
    reminders: Annotated[int, Field(ge=0)] = 0
    diagnosis: Text | None = None
    records: tuple[RepairRecord, ...] = ()
    qc_failures: Annotated[int, Field(ge=0)] = 0
    waiting_for: ShortText | None = None
    waiting_since: Instant | None = None
    replacement_reason: ShortText | None = None
    replaced_at: Instant | None = None
    """When the replacement was handed over (its own record in ``records`` too)."""


class ComplaintDetails(Record):
    """A complaint: what it is about, who handles it, and the supervisor's sign-off."""

    severity: Severity = Severity.MEDIUM
    summary: Text
    proposal: Text | None = None
    acknowledged_at: Instant | None = None
    escalation_reason: Text | None = None
    escalated_by: Identifier | None = None
    """Who escalated: never the supervisor who signs off."""
    supervisor: Identifier | None = None
    signed_off_by: Identifier | None = None
    signed_off_at: Instant | None = None
    sign_off_note: Text | None = None


class ExchangeDetails(Record):
    """The replacement of an exchange (on a return settled by ``exchange``: the SKU it was
    exchanged for; its exchange case tracks the reservation and shipping)."""

    replacement_sku: Identifier
    reserved: bool = False
    carrier: ShortText | None = None
    tracking: ShortText | None = None
    shipped_at: Instant | None = None
    delivered_at: Instant | None = None
    out_of_stock: bool = False


class Case(Record):
    """One after-sales case, linked to its ticket and the order lines it is about.

    ``parent_id`` points from a refund to the return or exchange it pays (from an
    exchange to the return it ships the replacement for, and from a return to the repair
    whose refund it takes the goods back for), ``refund_case_id``, ``exchange_case_id``
    and ``return_case_id`` back. ``step_due_at`` is the time limit of the current step, set on
    entering it; ``step_action`` the trigger :meth:`aftersales.Desk.run_due` fires when it passes
    (None: the overdue step is only reported).
    """

    id: Identifier = Field(default_factory=new_id)
    kind: AnyKind
    """A :class:`CaseKind` member for the shipped kinds, else the :class:`KindName` of a
    registered kind (any other name is refused)."""
    workflow: Identifier
    status: Identifier
    status_category: StatusCategory
    version: Annotated[int, Field(ge=0)] = 0
    ticket_id: Identifier
    customer_id: Identifier | None = None
    order_id: Identifier | None = None
    parent_id: Identifier | None = None
    refund_case_id: Identifier | None = None
    """The refund case that pays this return or exchange, once it is opened."""
    exchange_case_id: Identifier | None = None
    """The exchange case that ships this return's replacement, once it is opened."""
    return_case_id: Identifier | None = None
    """The return case that takes back a repaired product for the refund its decision
    offers (``choose_refund`` on a repair), once it is opened."""
    lines: tuple[CaseLine, ...] = ()
    reason: Text | None = None
    logistics: ReturnLogistics | None = None
    refund: RefundDetails | None = None
    repair: RepairDetails | None = None
    complaint: ComplaintDetails | None = None
    exchange: ExchangeDetails | None = None
    details: SerializeAsAny[Record] | None = None
    """The details of a registered kind's case (a visit's window and technician), one JSON
    field validated by the kind's details model; the shipped kinds keep their own fields."""
    step_due_at: Instant | None = None
    step_action: Identifier | None = None
    created_at: Instant
    updated_at: Instant
    closed_at: Instant | None = None
    audit_chain: str | None = None
    """The ``chain`` of the last event (the head of the tamper-evident audit), checked by
    :meth:`~aftersales.Desk.verify_audit`."""

    @field_validator("kind", mode="plain", json_schema_input_type=Identifier)
    @classmethod
    def _registered_kind(cls, value: object) -> AnyKind:
        return case_kind(value)

    # JSON carries the kind's name; declaring it gives the serialization JSON Schema
    # (an OpenAPI response model) a type, which a plain validator alone does not.
    @field_serializer("kind", when_used="json")
    def _kind_name(self, kind: AnyKind) -> str:
        return kind.value

    @field_validator("details", mode="before")
    @classmethod
    def _kind_details(cls, value: object, info: ValidationInfo) -> Any:
        kind = info.data.get("kind")
        model = None if kind is None else _DETAILS.get(kind.value)
        if value is None or model is None or isinstance(value, model):
            return value
        return model.model_validate(value)

    @property
    def serial(self) -> str | None:
        """The repaired product's serial number, for repair cases."""
        return None if self.repair is None else self.repair.serial

    def line(self, line_id: str) -> CaseLine | None:
        """The case's line for ``line_id``, or None."""
        for line in self.lines:
            if line.line_id == line_id:
                return line
        return None
