"""Care plans (issue 18): rules, as data, that schedule care actions for a product after
its delivery or a repair of it closed: care messages, maintenance reminders by product age
(every N months; before a model's known failure age) and coupons, each a ``care`` case
(:mod:`aftersales.cases.care`) that :meth:`~aftersales.Desk.run_due` fires on its day."""

from __future__ import annotations

import calendar
import contextlib
import statistics
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field, model_validator
from typing_extensions import Self

from aftersales._validation import parse
from aftersales.cases._records import check_text
from aftersales.cases.care import (
    CARE,
    CareAction,
    CareDetails,
    care_action_id,
    unreachable_reason,
)
from aftersales.cases.coupons import CouponOffer
from aftersales.exceptions import CaseNotFound, ConcurrencyError, TransitionError
from aftersales.models import StatusCategory
from aftersales.models._base import Identifier, Instant, Record, ShortText, Text
from aftersales.models.case import Case, CaseKind
from aftersales.notify._notification import Notification
from aftersales.storage import CaseChange, CaseQuery, every_case

if TYPE_CHECKING:
    from aftersales.desk import Desk

__all__ = ["CARE_HOOK", "Care", "CarePlan", "CareSettings", "add_months", "known_failure_age"]

CARE_HOOK = "aftersales.feedback.care"
"""The name of the internal hook that schedules care after a repair closes."""

_NOT_SERVED = frozenset({"cancelled", "refused", "expired"})


def add_months(when: datetime, months: int) -> datetime:
    """``when`` ``months`` calendar months later, the day clamped to the month's end
    (31 January + 1 month is 28 or 29 February)."""
    month = when.month - 1 + months
    year, month = when.year + month // 12, month % 12 + 1
    day = min(when.day, calendar.monthrange(year, month)[1])
    return when.replace(year=year, month=month, day=day)


def known_failure_age(ages_in_days: Iterable[float], *, min_failures: int = 5) -> int | None:
    """A model's known failure age from its repair history (each failure's product age in
    days): the lower quartile, so a check-up before it comes before most failures; None
    with fewer than ``min_failures`` failures (too few to know)."""
    ages = sorted(float(age) for age in ages_in_days)
    if len(ages) < max(min_failures, 2):
        return None
    return int(statistics.quantiles(ages, n=4, method="inclusive")[0])


class CarePlan(Record):
    """One care rule: ``on`` a product's ``"delivery"`` (reported by
    :meth:`Care.delivered`) or a repair of it closed (``"repair_closed"``), for the
    ``skus`` named (None: any), do ``action`` ``days`` after ``start`` (the trigger, the
    warranty's end, or the model's known failure age counted from delivery; negative days
    are before it); with ``every_months``, ``times`` times, every ``every_months`` months
    from then (a filter every 6 months from delivery: the first 6 months after it).
    A message or reminder says its ``template``; a coupon gives ``coupon``."""

    id: Identifier
    on: Literal["delivery", "repair_closed"] = "delivery"
    skus: Annotated[tuple[Identifier, ...], Field(min_length=1, max_length=1000)] | None = None
    action: CareAction
    start: Literal["trigger", "warranty_end", "failure_age"] = "trigger"
    days: Annotated[int, Field(ge=-3660, le=3660)] = 0
    every_months: Annotated[int, Field(ge=1, le=120)] | None = None
    times: Annotated[int, Field(ge=1, le=120)] = 1
    template: Identifier | None = None
    coupon: CouponOffer | None = None

    @model_validator(mode="after")
    def _fits(self) -> Self:
        if (self.action is CareAction.COUPON) != (self.coupon is not None):
            raise ValueError("a coupon offer goes with the coupon action, and only")
        if self.action is not CareAction.COUPON and self.template is None:
            raise ValueError(f"a {self.action.value} needs a template")
        if self.times > 1 and self.every_months is None:
            raise ValueError("an action done more than once needs every_months")
        if self.on == "repair_closed" and self.start != "trigger":
            raise ValueError("a plan on a closed repair starts from the repair's closing")
        return self


class CareSettings(Record):
    """A desk's care (``Desk(care=...)``): its ``plans``, the ``templates`` they say (per
    key, the text per language), the ``language`` a customer without one (or without a
    text in theirs) gets, and the known failure age in days per SKU (see
    :func:`known_failure_age`; :meth:`Care.learn_failure_ages` learns them from the
    stored repairs)."""

    plans: Annotated[tuple[CarePlan, ...], Field(min_length=1, max_length=1000)]
    templates: dict[Identifier, dict[ShortText, Text]] = Field(default_factory=dict)
    language: ShortText = "en"
    failure_ages: dict[Identifier, Annotated[int, Field(ge=1, le=36_600)]] = Field(
        default_factory=dict
    )

    @model_validator(mode="after")
    def _known(self) -> Self:
        ids = [plan.id for plan in self.plans]
        if len(set(ids)) != len(ids):
            raise ValueError("plan ids must be unique")
        for index, plan in enumerate(self.plans):
            texts = self.templates.get(plan.template or "", {})
            if plan.template is not None and self.language not in texts:
                raise ValueError(
                    f"plans[{index}]: no {plan.template!r} template in {self.language!r}"
                )
        return self


class Care:
    """The care plans of one desk (``Desk(care=...)``, then ``desk.care``)."""

    def __init__(self, desk: Desk, settings: CareSettings) -> None:
        self.desk = desk
        self.settings = settings
        self._learned: dict[str, int] = {}
        if any(plan.on == "repair_closed" for plan in settings.plans):
            workflow = desk.cases.spec(CaseKind.REPAIR.value).workflow
            closed = sorted(
                s.name
                for s in workflow.states
                if s.category is StatusCategory.CLOSED and s.name not in _NOT_SERVED
            )
            desk.subscribe(
                self._repair_closed, entered=closed, kinds=CaseKind.REPAIR.value, name=CARE_HOOK
            )

    def learn_failure_ages(self, *, min_failures: int = 5, limit: int = 10_000) -> dict[str, int]:
        """Learn each model's known failure age from the stored repairs (up to ``limit``,
        oldest first): a repaired line's product age is its claim's time less the
        delivery (else the purchase) its policy facts name; per SKU with at least
        ``min_failures`` repairs, :func:`known_failure_age`. Plans starting from
        ``"failure_age"`` use these for SKUs ``CareSettings.failure_ages`` does not name.
        The ages learned, by SKU."""
        query = CaseQuery(kind=CaseKind.REPAIR, limit=limit)
        ages: dict[str, list[float]] = {}
        for repair in self.desk.store.find_cases(query):
            for line in repair.lines:
                facts = line.facts
                if line.sku is None or facts is None:
                    continue
                order = facts.order
                since = order.delivered_at or order.purchased_at
                age = (facts.claim.at - since).total_seconds() / 86_400
                if age >= 0:
                    ages.setdefault(line.sku, []).append(age)
        learned = {
            sku: known
            for sku, found in sorted(ages.items())
            if (known := known_failure_age(found, min_failures=min_failures)) is not None
        }
        self._learned = learned
        return dict(learned)

    def delivered(
        self,
        ticket_id: str,
        *,
        serial: str,
        delivered_at: datetime,
        sku: str | None = None,
        warranty_until: datetime | None = None,
        order_id: str | None = None,
    ) -> list[Case]:
        """Schedule the care of a product delivered to the ticket's customer (the ticket
        the order or installation is recorded on): every plan ``on="delivery"`` for its
        SKU. Calling it again schedules nothing twice; a customer erased or opted out of
        care gets nothing. The care actions newly scheduled, oldest due first."""
        facts = parse(
            _Delivery,
            {
                "serial": serial,
                "sku": sku,
                "delivered_at": delivered_at,
                "warranty_until": warranty_until,
                "order_id": order_id,
            },
            "delivery",
        )
        return self._schedule("delivery", check_text("ticket_id", ticket_id), facts)

    def withdraw(self, customer_id: str, *, actor: str = "system") -> list[Case]:
        """Cancel every care action still scheduled for the customer (they opted out, or
        are about to be erased): the actions cancelled."""
        query = CaseQuery(customer_id=customer_id, kind=CARE.kind, status="scheduled")
        return [
            cancelled
            for case in list(every_case(self.desk.store, query))
            if (cancelled := self._cancel(case, actor)) is not None
        ]

    def withdraw_due(self, now: datetime, limit: int) -> list[Case]:
        """Cancel the care actions due by ``now`` whose customer was erased or opted out
        since they were scheduled (:meth:`~aftersales.Desk.run_due` calls it before it
        fires what is due)."""
        cancelled: list[Case] = []
        for case in self.desk.store.cases_due(now, limit):
            if case.kind.value != CARE.name:
                continue
            if unreachable_reason(self.desk.cases, case.customer_id) is None:
                continue
            done = self._cancel(case, "system")
            if done is not None:
                cancelled.append(done)
        return cancelled

    # ------------------------------------------------------------------ scheduling

    def _cancel(self, case: Case, actor: str) -> Case | None:
        with contextlib.suppress(TransitionError, ConcurrencyError):
            return self.desk.cases.fire(case.id, "cancel", actor=actor)
        return None

    def _repair_closed(self, notification: Notification) -> None:
        event = notification.event
        repair = self.desk.store.get_case(event.subject_id)
        if repair.serial is None or repair.status_category is not StatusCategory.CLOSED:
            return
        sku = next((line.sku for line in repair.lines if line.sku is not None), None)
        facts = _Delivery(
            serial=repair.serial, sku=sku, closed_at=event.at, order_id=repair.order_id
        )
        self._schedule("repair_closed", repair.ticket_id, facts)

    def _schedule(self, on: str, ticket_id: str, facts: _Delivery) -> list[Case]:
        cases = self.desk.cases
        ticket = cases._ticket(ticket_id)
        if unreachable_reason(cases, ticket.customer_id) is not None:
            return []
        planned = [
            details
            for plan in self.settings.plans
            if plan.on == on and (plan.skus is None or facts.sku in plan.skus)
            for details in self._occurrences(plan, facts)
        ]
        for _ in range(3):  # another scheduler may open some of them meanwhile
            changes: list[CaseChange] = []
            for details in planned:
                case_id = care_action_id(details.plan_id, details.serial, details.occurrence)
                if self._exists(case_id):
                    continue
                _, change = cases._new(
                    CARE.kind,
                    ticket,
                    "system",
                    id=case_id,
                    order_id=facts.order_id,
                    details=details,
                )
                changes.append(change)
            if not changes:
                return []
            try:
                cases._commit(changes)
            except ConcurrencyError:
                continue
            return sorted((c.case for c in changes), key=_due_first)
        return []  # pragma: no cover - three races lost: the others scheduled them

    def _occurrences(self, plan: CarePlan, facts: _Delivery) -> list[CareDetails]:
        start = self._start(plan, facts)
        if start is None:
            return []
        texts = dict(self.settings.templates.get(plan.template or "", {}))
        first = start + timedelta(days=plan.days)
        return [
            CareDetails(
                plan_id=plan.id,
                action=plan.action,
                occurrence=index,
                serial=facts.serial,
                sku=facts.sku,
                due_at=(
                    first
                    if plan.every_months is None
                    else add_months(first, (index + 1) * plan.every_months)
                ),
                template=plan.template,
                texts=texts,
                language=self.settings.language,
                coupon=plan.coupon,
            )
            for index in range(plan.times)
        ]

    def _start(self, plan: CarePlan, facts: _Delivery) -> datetime | None:
        """When the plan's days count from, or None when the product has no such date
        (no warranty end given, no known failure age for its SKU)."""
        if plan.start == "trigger":
            return facts.closed_at if plan.on == "repair_closed" else facts.delivered_at
        if plan.start == "warranty_end":
            return facts.warranty_until
        sku = facts.sku or ""
        age = self.settings.failure_ages.get(sku, self._learned.get(sku))
        if age is None or facts.delivered_at is None:
            return None
        return facts.delivered_at + timedelta(days=age)

    def _exists(self, case_id: str) -> bool:
        try:
            self.desk.store.get_case(case_id)
        except CaseNotFound:
            return False
        return True


class _Delivery(Record):
    """What a plan counts from: a delivered product, or a repaired one."""

    serial: Identifier
    sku: Identifier | None = None
    delivered_at: Instant | None = None
    warranty_until: Instant | None = None
    closed_at: Instant | None = None
    order_id: Identifier | None = None


def _due_first(case: Case) -> tuple[datetime, str]:
    details = case.details
    assert isinstance(details, CareDetails)
    return details.due_at, case.id
