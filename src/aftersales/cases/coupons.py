"""Coupons: a value a customer may spend once before it expires, as a case of its own.

A coupon is issued (by hand, as goodwill after a low survey score, or by a follow-up
rule when a complaint closes), redeemed once with its code, revoked, or expired by
:meth:`~aftersales.CaseDesk.run_due` at its ``expires_at``. The code is drawn from
:mod:`secrets` (60 bits, unguessable); the redemption checks it, so a coupon's id alone
spends nothing. A second redemption is refused (the coupon is no longer ``issued``) and
stores nothing.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field

from aftersales._validation import parse
from aftersales.cases._spec import CaseKindSpec
from aftersales.models._base import Identifier, Instant, Record, ShortText
from aftersales.models.case import Case
from aftersales.models.order import CurrencyCode, Money
from aftersales.workflows import Refusal, State, Transition, TransitionContext, Workflow
from aftersales.workflows._case_steps import Payload

if TYPE_CHECKING:
    from aftersales.cases._writer import CaseWriter

__all__ = [
    "COUPON",
    "COUPON_WORKFLOW",
    "CouponDetails",
    "CouponOffer",
    "coupon_code",
    "coupon_details",
    "issue_coupon",
]

_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
"""No 0/O or 1/I: a code read out over the phone or typed from a receipt survives."""


def coupon_code() -> str:
    """A fresh code: 12 characters of 32 (60 bits from :mod:`secrets`) as ``XXXX-XXXX-XXXX``."""
    raw = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(12))
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


class CouponOffer(Record):
    """What a coupon is worth and how long it stays valid: a rule's goodwill offer."""

    amount: Annotated[Decimal, Field(gt=0, max_digits=18, decimal_places=6, allow_inf_nan=False)]
    currency: CurrencyCode
    valid_days: Annotated[int, Field(ge=1, le=3660)] = 90

    @property
    def value(self) -> Money:
        """The offer's value."""
        return Money(amount=self.amount, currency=self.currency)


class CouponDetails(Record):
    """One coupon: its code, value and expiry, why it was issued and its redemption."""

    code: Annotated[str, Field(min_length=8, max_length=40)]
    value: Money
    expires_at: Instant
    reason: ShortText | None = None
    subject_id: Identifier | None = None
    """What the coupon makes up for (a survey, a complaint), if anything."""
    subject_kind: Identifier | None = None
    redeemed_at: Instant | None = None
    redeemed_order_id: Identifier | None = None


def coupon_details(
    offer: CouponOffer,
    now: datetime,
    *,
    reason: str | None = None,
    subject_id: str | None = None,
    subject_kind: str | None = None,
) -> CouponDetails:
    """A new coupon's details for ``offer``, valid from ``now``."""
    return parse(
        CouponDetails,
        {
            "code": coupon_code(),
            "value": offer.value,
            "expires_at": now + timedelta(days=offer.valid_days),
            "reason": reason,
            "subject_id": subject_id,
            "subject_kind": subject_kind,
        },
        "coupon",
    )


# ---------------------------------------------------------------------- workflow


class RedeemInput(Payload):
    """The code the customer presents, and the order it is spent on."""

    code: Annotated[str, Field(min_length=1, max_length=40)]
    order_id: Identifier | None = None


def _details(context: TransitionContext) -> CouponDetails:
    case: Case = context.subject
    details = case.details
    assert isinstance(details, CouponDetails)
    return details


def _code_matches(context: TransitionContext) -> Refusal | None:
    payload = context.payload
    assert isinstance(payload, RedeemInput)
    code = payload.code.strip().upper()
    if hmac.compare_digest(code.encode(), _details(context).code.encode()):
        return None
    return Refusal("wrong_code", "the coupon code does not match", "优惠券码不正确")


def _valid(context: TransitionContext) -> Refusal | None:
    """run_due expires a coupon at its expiry, but may not have run yet."""
    expires_at = _details(context).expires_at
    if context.now < expires_at:
        return None
    return Refusal(
        "coupon_expired",
        f"the coupon was valid until {expires_at.isoformat()}",
        f"优惠券已于 {expires_at.isoformat()} 过期",
    )


def _redeem(context: TransitionContext) -> Mapping[str, Any]:
    payload = context.payload
    assert isinstance(payload, RedeemInput)
    update = {"redeemed_at": context.now, "redeemed_order_id": payload.order_id}
    return {"details": _details(context).model_copy(update=update)}


COUPON_WORKFLOW = Workflow(
    "coupon",
    initial="issued",
    states=[
        State("issued", "waiting_on_customer", description="Valid: the customer may spend it."),
        State("redeemed", "closed", description="Spent, once."),
        State("expired", "closed", description="Not spent before its expiry."),
        State("revoked", "closed", description="Withdrawn before it was spent."),
    ],
    transitions=[
        Transition(
            "redeem", "issued", "redeemed", guards=["code_matches", "valid"], effects=["redeem"]
        ),
        Transition("expire", "issued", "expired"),
        Transition("revoke", "issued", "revoked"),
    ],
    guards={"code_matches": _code_matches, "valid": _valid},
    effects={"redeem": _redeem},
    payloads={"redeem": RedeemInput},
)
"""The coupon workflow: issued → redeemed | expired | revoked."""


# ---------------------------------------------------------------------- desk side


def issue_coupon(
    cases: CaseWriter,
    ticket_id: str,
    *,
    amount: Decimal | int | str,
    currency: str,
    valid_days: int = 90,
    reason: str | None = None,
    subject_id: str | None = None,
    subject_kind: str | None = None,
    order_id: str | None = None,
    parent_id: str | None = None,
    actor: str = "system",
    id: str | None = None,
    delay_hours: float | None = None,
) -> Case:
    """Issue a coupon to the ticket's customer: ``desk.cases.open("coupon", ticket_id,
    amount="20", currency="CNY")``. A follow-up rule (``opens="coupon"``, its
    ``options`` the amount, currency and validity) issues one when a complaint closes;
    ``delay_hours`` is accepted from such a rule and ignored (a coupon is issued at once).

    >>> from datetime import datetime, timezone
    >>> from aftersales import Desk, FrozenClock
    >>> desk = Desk(clock=FrozenClock(datetime(2026, 3, 2, 8, tzinfo=timezone.utc)))
    >>> ticket = desk.open_ticket(customer="c-1", channel="email", subject="Late parcel")
    >>> coupon = desk.cases.open("coupon", ticket.id, amount="20", currency="CNY")
    >>> coupon.status, str(coupon.details.value), coupon.step_action
    ('issued', '20 CNY', 'expire')
    """
    del delay_hours
    ticket = cases._ticket(ticket_id)
    if order_id is None and subject_id is not None and subject_kind not in (None, "ticket"):
        # a follow-up rule names the subject only: the coupon is about the same order
        order_id = cases.services.store.get_case(subject_id).order_id
    offer = parse(
        CouponOffer,
        {"amount": amount, "currency": currency, "valid_days": valid_days},
        "coupon",
    )
    details = coupon_details(
        offer,
        cases.services.now(),
        reason=reason,
        subject_id=subject_id,
        subject_kind=subject_kind,
    )
    fields: dict[str, Any] = {"details": details, "order_id": order_id, "parent_id": parent_id}
    if id is not None:
        fields["id"] = id
    case, change = cases._new(COUPON.kind, ticket, actor, **fields)
    cases._commit([change])
    return case


def _coupon_step(cases: CaseWriter, case: Case, now: datetime) -> dict[str, Any] | None:
    """An issued coupon expires at its ``expires_at``."""
    details = case.details
    if case.status == "issued" and isinstance(details, CouponDetails):
        return {"step_due_at": details.expires_at, "step_action": "expire"}
    return None


COUPON = CaseKindSpec(
    "coupon",
    COUPON_WORKFLOW,
    details=CouponDetails,
    opener=issue_coupon,
    step=_coupon_step,
)
"""The coupon kind."""

KIND = COUPON
"""What :data:`aftersales.cases.KINDS` registers from this module."""
