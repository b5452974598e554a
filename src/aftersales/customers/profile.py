"""One view of a customer (issue 18, seeds S10): who they are and how to reach them, their
tickets, cases, complaints, surveys, and the products they bought with each product's
warranty status as the desk's policy decides it today.

What the profile can know is what the desk stores. The desk keeps no orders: the products
are the order lines its cases were opened about, with the facts each case kept (purchase
and delivery dates, price, jurisdiction) and the serial a repair named. A product bought
but never brought to after-sales is not in the profile; a line whose cases kept no facts
is, without a status (``status`` empty). A survey or return visit opened on another
customer's ticket is not theirs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from types import MappingProxyType

import attrs

from aftersales.cases.surveys import SurveyDetails
from aftersales.exceptions import InvalidInput
from aftersales.models import Case, Customer, Ticket
from aftersales.models.customer import Channel, ContactHours, ContactPoint
from aftersales.models.ticket import StatusCategory
from aftersales.policies import Decision, Facts, decide
from aftersales.policies.book import PolicyBook, PolicySet
from aftersales.policies.facts import ClaimKind

__all__ = [
    "CaseSummary",
    "ComplaintSummary",
    "CustomerProfile",
    "ProductStatus",
    "RemedyStatus",
    "SurveySummary",
    "TicketSummary",
    "build_profile",
]

REMEDIES: Mapping[str, ClaimKind] = MappingProxyType(
    {
        "return": ClaimKind.NO_REASON_RETURN,
        "exchange": ClaimKind.EXCHANGE,
        "repair": ClaimKind.WARRANTY_REPAIR,
    }
)
"""The questions a product's status answers ("may it be returned, exchanged, repaired
today?") and the claim each is asked as."""


@attrs.frozen
class TicketSummary:
    """One ticket of the customer: where it came from and how it ended."""

    id: str
    number: int
    channel: Channel
    status: str
    status_category: StatusCategory
    satisfaction: int | None
    created_at: datetime
    closed_at: datetime | None


@attrs.frozen
class CaseSummary:
    """One after-sales case of the customer and its outcome (its status once closed)."""

    id: str
    kind: str
    status: str
    status_category: StatusCategory
    ticket_id: str
    order_id: str | None
    created_at: datetime
    closed_at: datetime | None


@attrs.frozen
class ComplaintSummary:
    """One complaint: how severe, whether it was signed off, how it ended."""

    case_id: str
    severity: str
    status: str
    status_category: StatusCategory
    signed_off_at: datetime | None
    created_at: datetime


@attrs.frozen
class SurveySummary:
    """One survey sent to the customer: its type, the score (None until answered)."""

    case_id: str
    survey: str
    score: int | None
    scale: int
    negative: bool | None
    answered_at: datetime | None
    status: str


@attrs.frozen
class RemedyStatus:
    """The policy's answer to one question about a product on the profile's day: may it
    be returned (``remedy`` ``"return"``), exchanged or repaired, until when, and why (the
    reason codes; ``explanation`` in English). ``outcome`` None: the policy could not
    decide the facts (``explanation`` says why)."""

    remedy: str
    outcome: str | None
    last_day: date | None
    reasons: tuple[str, ...]
    explanation: str


@attrs.frozen
class ProductStatus:
    """A product the customer bought, as their cases know it: the order line, the serial
    (a repair's), the dates, the cases about it, and each remedy's status."""

    order_id: str | None
    line_id: str
    sku: str | None
    serial: str | None
    purchased_at: datetime | None
    delivered_at: datetime | None
    case_ids: tuple[str, ...]
    status: tuple[RemedyStatus, ...]

    def remedy(self, remedy: str) -> RemedyStatus | None:
        """The status of ``remedy`` (``"return"``, ``"exchange"``, ``"repair"``), if known."""
        return next((s for s in self.status if s.remedy == remedy), None)


@attrs.frozen
class CustomerProfile:
    """One view of a customer (see :meth:`aftersales.Desk.customer_profile`).

    ``customer`` is the record itself; its contact points, language, preferences, tier
    and tags are repeated as attributes. Tickets and cases are oldest first; ``at`` is
    the instant the products' status was decided at."""

    customer: Customer
    at: datetime
    tickets: tuple[TicketSummary, ...]
    cases: tuple[CaseSummary, ...]
    complaints: tuple[ComplaintSummary, ...]
    surveys: tuple[SurveySummary, ...]
    products: tuple[ProductStatus, ...]

    @property
    def customer_id(self) -> str:
        return self.customer.id

    @property
    def contacts(self) -> tuple[ContactPoint, ...]:
        return self.customer.contacts

    @property
    def language(self) -> str | None:
        return self.customer.language

    @property
    def preferred_channel(self) -> Channel | None:
        return self.customer.preferred_channel

    @property
    def contact_hours(self) -> tuple[ContactHours, ...]:
        return self.customer.contact_hours

    @property
    def tier(self) -> str | None:
        """The value tier (``DeskSettings`` routing reads the same field)."""
        return self.customer.tier

    @property
    def tags(self) -> tuple[str, ...]:
        return self.customer.tags

    @property
    def channels(self) -> tuple[Channel, ...]:
        """Every channel the customer is known on or wrote through, contact points first."""
        used = [c.channel for c in self.customer.contacts] + [t.channel for t in self.tickets]
        return tuple(dict.fromkeys(used))

    def cases_by_kind(self) -> dict[str, tuple[CaseSummary, ...]]:
        """The cases grouped by kind, each group oldest first."""
        grouped: dict[str, list[CaseSummary]] = {}
        for case in self.cases:
            grouped.setdefault(case.kind, []).append(case)
        return {kind: tuple(cases) for kind, cases in grouped.items()}


def build_profile(
    customer: Customer,
    tickets: Sequence[Ticket],
    cases: Sequence[Case],
    at: datetime,
    policy: PolicySet | PolicyBook | None,
) -> CustomerProfile:
    """The profile of ``customer`` from what the desk read; the products' status is
    decided at ``at`` by ``policy`` (None: the statutory presets of each product's
    jurisdiction)."""
    ordered = sorted(cases, key=lambda c: (c.created_at, c.id))
    return CustomerProfile(
        customer=customer,
        at=at,
        tickets=tuple(_ticket(t) for t in sorted(tickets, key=lambda t: (t.created_at, t.number))),
        cases=tuple(_case(c) for c in ordered),
        complaints=tuple(_complaint(c) for c in ordered if c.complaint is not None),
        surveys=tuple(
            _survey(c, c.details) for c in ordered if isinstance(c.details, SurveyDetails)
        ),
        products=tuple(_products(ordered, at, policy)),
    )


def _ticket(ticket: Ticket) -> TicketSummary:
    return TicketSummary(
        ticket.id,
        ticket.number,
        ticket.channel,
        ticket.status,
        ticket.status_category,
        ticket.satisfaction,
        ticket.created_at,
        ticket.closed_at,
    )


def _case(case: Case) -> CaseSummary:
    return CaseSummary(
        case.id,
        str(case.kind.value),
        case.status,
        case.status_category,
        case.ticket_id,
        case.order_id,
        case.created_at,
        case.closed_at,
    )


def _complaint(case: Case) -> ComplaintSummary:
    assert case.complaint is not None
    return ComplaintSummary(
        case.id,
        case.complaint.severity.value,
        case.status,
        case.status_category,
        case.complaint.signed_off_at,
        case.created_at,
    )


def _survey(case: Case, details: SurveyDetails) -> SurveySummary:
    return SurveySummary(
        case.id,
        details.survey.value,
        details.score,
        details.scale,
        details.negative,
        details.answered_at,
        case.status,
    )


def _products(
    cases: Iterable[Case], at: datetime, policy: PolicySet | PolicyBook | None
) -> Iterable[ProductStatus]:
    """One product per order line the cases are about; the latest case's facts and
    serial win (a later case knows more: a repair's history, a delivery date)."""
    lines: dict[tuple[str | None, str], dict[str, object]] = {}
    for case in cases:
        serial = None if case.repair is None else case.repair.serial
        for line in case.lines:
            known = lines.setdefault(
                (case.order_id, line.line_id),
                {"sku": None, "serial": None, "facts": None, "cases": []},
            )
            known["sku"] = line.sku or known["sku"]
            known["serial"] = serial or known["serial"]
            known["facts"] = line.facts or known["facts"]
            cases_of_line = known["cases"]
            assert isinstance(cases_of_line, list)
            cases_of_line.append(case.id)
    for (order_id, line_id), known in lines.items():
        facts = known["facts"]
        assert facts is None or isinstance(facts, Facts)
        case_ids = known["cases"]
        assert isinstance(case_ids, list)
        yield ProductStatus(
            order_id=order_id,
            line_id=line_id,
            sku=known["sku"] if isinstance(known["sku"], str) else None,
            serial=known["serial"] if isinstance(known["serial"], str) else None,
            purchased_at=None if facts is None else facts.order.purchased_at,
            delivered_at=None if facts is None else facts.order.delivered_at,
            case_ids=tuple(case_ids),
            status=() if facts is None else tuple(_statuses(facts, at, policy)),
        )


def _statuses(
    facts: Facts, at: datetime, policy: PolicySet | PolicyBook | None
) -> Iterable[RemedyStatus]:
    for remedy, kind in REMEDIES.items():
        # Only the when and the what of the claim change: the goods' condition and the
        # earlier repairs are the best the desk knows; the customer's words are not asked.
        claim = facts.claim.model_copy(
            update={"at": at, "kind": kind, "reason": None, "defect": None, "fault": None}
        )
        asked = facts.model_copy(update={"claim": claim})
        try:
            checked = Facts.model_validate(asked.model_dump(mode="json"))
            decision: Decision = decide(checked) if policy is None else policy.evaluate(checked)
        except InvalidInput as error:  # a claim before the delivery, no version in force
            yield RemedyStatus(remedy, None, None, (), str(error))
            continue
        yield RemedyStatus(
            remedy,
            decision.outcome.value,
            None if decision.window is None else decision.window.last_day,
            tuple(reason.code for reason in decision.reasons),
            decision.explain("en"),
        )
