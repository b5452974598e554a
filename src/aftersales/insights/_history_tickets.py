"""A generated ticket's life: what it is about, then classify, assign, start, waits,
resolve, and the customer's confirmation, reopening or silence, fired through the desk as
the simulation's clock reaches each step.

:class:`TicketWork` is a part of the simulation in :mod:`aftersales.insights.history`,
which provides the desk, the clock, the random stream and the bookkeeping it declares;
the cases a ticket opens are :class:`~aftersales.insights._history_cases.CaseWork`'s.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import attrs

from aftersales.insights._catalogue import (
    CANCEL_SHARE,
    CASE_CATEGORY,
    CASE_KINDS,
    CATEGORY_WEIGHTS,
    ESCALATE_SHARE,
    REOPEN_SHARE,
    SELF_SERVE_SHARE,
    TEAM_OF_CATEGORY,
    WORKING_HOURS,
    CaseKindName,
    CatalogueItem,
)
from aftersales.insights._history_cases import Step
from aftersales.models import AuthorRole, Channel, Customer, Ticket

if TYPE_CHECKING:
    from collections import Counter

    from aftersales.desk import Desk
    from aftersales.insights._catalogue import RateShift


@attrs.frozen
class Arrival:
    """A ticket's arrival and what it is about."""

    at: datetime
    channel: Channel
    item: CatalogueItem
    severity: str
    customer: int
    tier: str
    case_rolls: tuple[float, float, float, float]
    """Uniform draws deciding its return, repair and complaint cases (and which of a
    return and a repair wins when both come up)."""
    category_roll: float


class TicketWork:
    """The ticket processes of the simulation: one per arrival, from opening to closing."""

    if TYPE_CHECKING:
        desk: Desk
        rng: random.Random
        start: datetime
        teams: Mapping[str, Sequence[str]]
        shift: RateShift | None
        categories: Sequence[str]
        ids: list[str]
        index_of: dict[str, int]
        numbers: list[int]
        customer_of: list[str]
        status: list[str]
        status_category: list[str]
        counters: dict[str, Counter[str]]
        weekdays: Counter[int]
        in_hours: int
        flags: dict[str, list[int]]
        waits: int
        known_customers: set[str]
        daily_tickets: dict[str, list[int]]

        def note(self, what: str, subject: int | str, detail: str = "") -> None: ...
        def local(self, at: datetime) -> datetime: ...
        def agent_after(self, minutes: float) -> datetime: ...
        def customer_after(self, hours_low: float, hours_high: float) -> datetime: ...
        def day_of(self, at: datetime) -> int: ...
        def spawn(self, at: datetime, process: Step) -> None: ...
        def log_effort(self, subject_id: str, agent: str, *, case: bool = False) -> None: ...
        def case(
            self,
            kind: CaseKindName,
            index: int,
            ticket_id: str,
            item: CatalogueItem,
            agent: str,
            day: int,
        ) -> Step: ...

    def pick_case_kinds(self, arrival: Arrival, day: int) -> list[CaseKindName]:
        item, rolls = arrival.item, arrival.case_rolls
        kinds: list[CaseKindName] = []
        for kind, roll in zip(CASE_KINDS, rolls, strict=False):
            rate = item.rate(kind)
            shift = self.shift
            shifted = shift is not None and (shift.sku, shift.kind) == (item.sku, kind)
            if shift is not None and shifted and day >= shift.from_day:
                rate = min(1.0, rate * shift.factor)
            if roll < rate:
                kinds.append(kind)
        if "return" in kinds and "repair" in kinds:  # one product: taken back or repaired
            kinds.remove("repair" if rolls[3] < 0.5 else "return")
        return kinds

    def pick_category(self, kinds: Sequence[CaseKindName], roll: float) -> str:
        for kind in kinds:
            if CASE_CATEGORY[kind] in self.categories:
                return CASE_CATEGORY[kind]
        weights = [CATEGORY_WEIGHTS.get(name, 5) for name in self.categories]
        threshold, total = roll * sum(weights), 0.0
        for name, weight in zip(self.categories, weights, strict=True):
            total += weight
            if threshold < total:
                return name
        return self.categories[-1]  # pragma: no cover - rounding at the very top

    def team_for(self, category: str) -> str:
        names = list(self.teams)
        team = TEAM_OF_CATEGORY.get(category, names[0])
        return team if team in self.teams else names[0]

    def order_id(self, index: int) -> str:
        """One order per ticket. A later history on the same desk starts later, so its
        orders are others (a return claims units of an order only once)."""
        return f"order-{self.start:%Y%m%d%H%M%S}-{index + 1:07d}"

    def record(self, index: int, ticket: Ticket) -> None:
        self.status[index] = ticket.status
        self.status_category[index] = ticket.status_category.value

    def ticket(self, arrival: Arrival) -> Step:
        desk = self.desk
        index = len(self.ids)
        channel, item, severity = arrival.channel, arrival.item, arrival.severity
        day = self.day_of(arrival.at)
        kinds = self.pick_case_kinds(arrival, day)
        category = self.pick_category(kinds, arrival.category_roll)
        customer_id = f"customer-{arrival.customer:06d}"
        customer: Customer | str = customer_id
        if customer_id not in self.known_customers:
            self.known_customers.add(customer_id)
            name = f"Customer {arrival.customer}"
            customer = Customer(id=customer_id, name=name, tier=arrival.tier)
        order_line = {"order_id": self.order_id(index), "line_id": "l1", "sku": item.sku}
        ticket = desk.open_ticket(
            customer=customer,
            channel=channel,
            subject=f"{category.replace('_', ' ')}: {item.sku}",
            description=f"About my {item.policy_category.replace('_', ' ')} {item.sku}.",
            order_line=order_line,
        )
        self.note("open", index, f"{channel.value}/{item.sku}/{category}/{severity}")
        self.ids.append(ticket.id)
        self.index_of[ticket.id] = index
        self.numbers.append(ticket.number)
        self.customer_of.append(customer_id)
        self.status.append(ticket.status)
        self.status_category.append(ticket.status_category.value)
        local = self.local(arrival.at)
        self.weekdays[local.weekday()] += 1
        if local.weekday() < 5 and WORKING_HOURS[0] <= local.hour < WORKING_HOURS[1]:
            self.in_hours += 1
        counters = self.counters
        counters["channel"][channel.value] += 1
        counters["sku"][item.sku] += 1
        self.daily_tickets[item.sku][day] += 1
        yield from self.lifecycle(index, ticket.id, item, category, severity, kinds, day)

    def lifecycle(
        self,
        index: int,
        ticket_id: str,
        item: CatalogueItem,
        category: str,
        severity: str,
        kinds: Sequence[CaseKindName],
        day: int,
    ) -> Step:
        rng, desk, number = self.rng, self.desk, self.numbers[index]
        if not kinds and rng.random() < CANCEL_SHARE:
            yield self.customer_after(0.2, 6)
            self.record(index, desk.cancel(ticket_id, reason="The customer withdrew the request"))
            self.note("cancel", index)
            self.flags["cancelled"].append(number)
            return
        if not kinds and self_served(rng):
            yield self.customer_after(0.05, 0.5)
            ticket = desk.fire(
                ticket_id,
                "self_serve",
                payload={"resolution": "Answered by an article", "article_id": "kb-faq-1"},
            )
            self.record(index, ticket)
            self.note("self_serve", index)
            self.flags["self_served"].append(number)
            yield from self.after_resolution(index, ticket_id, allow_reopen=False)
            return
        yield self.agent_after(20)
        ticket = desk.classify(ticket_id, category=category, severity=severity)
        self.record(index, ticket)
        self.note("classify", index)
        self.counters["category"][category] += 1
        self.counters["severity"][severity] += 1
        self.counters["priority"][str(getattr(ticket.priority, "value", ticket.priority))] += 1
        team = self.team_for(category)
        agent = rng.choice(list(self.teams[team]))
        yield self.agent_after(40)
        self.record(index, desk.assign(ticket_id, assignee=agent, team=team))
        self.note("assign", index, agent)
        self.counters["team"][team] += 1
        for kind in kinds:
            self.spawn(self.agent_after(90), self.case(kind, index, ticket_id, item, agent, day))
        yield self.agent_after(60 if severity in ("critical", "high") else 180)
        self.record(index, desk.fire(ticket_id, "start", actor=agent))
        desk.add_message(
            ticket_id, "Thank you, we are looking into it.", author_id=agent, channel=None
        )
        self.log_effort(ticket_id, agent)
        self.note("start", index)
        escalate_share = ESCALATE_SHARE * (4 if severity == "critical" else 1)
        if rng.random() < escalate_share:
            yield self.agent_after(120)
            self.record(index, desk.escalate(ticket_id, reason="Needs a senior agent"))
            self.note("escalate", index)
            self.flags["escalated"].append(number)
        yield from self.work(index, ticket_id, agent)
        yield from self.after_resolution(index, ticket_id, allow_reopen=True, agent=agent)

    def work(self, index: int, ticket_id: str, agent: str) -> Step:
        """Waits on the customer or a third party, then the resolution."""
        rng, desk = self.rng, self.desk
        waits = rng.choices((0, 1, 2, 3), (50, 30, 14, 6))[0]
        answer = False  # a customer's message waits for the agent's next step
        for _ in range(waits):
            yield self.agent_after(120)
            if answer:
                self.answer(ticket_id, agent)
                answer = False
            third_party = rng.random() < 0.25
            trigger = "wait_for_third_party" if third_party else "wait_for_customer"
            self.record(index, desk.fire(ticket_id, trigger, actor=agent))
            self.note(trigger, index)
            self.log_effort(ticket_id, agent)
            self.waits += 1
            if third_party:
                yield self.agent_after(60 * 24)
                self.record(index, desk.fire(ticket_id, "resume", actor=agent))
                self.note("resume", index)
                continue
            yield self.customer_after(1, 60)
            desk.add_message(
                ticket_id,
                "Here are the details you asked for.",
                author_id=self.customer_of[index],
                author_role=AuthorRole.CUSTOMER,
            )
            self.note("customer_reply", index)
            answer = True
            if not desk.settings.resume_on_customer_reply:
                desk.fire(ticket_id, "resume", actor=agent)
                self.note("resume", index)
            self.record(index, desk.get(ticket_id))
        yield self.agent_after(240)
        if answer:
            self.answer(ticket_id, agent)
        self.record(index, desk.resolve(ticket_id, resolution="Solved", actor=agent))
        self.log_effort(ticket_id, agent)
        self.note("resolve", index)

    def answer(self, ticket_id: str, agent: str) -> None:
        """The agent answers the customer's message as they take the next step."""
        self.desk.add_message(ticket_id, "Thank you, that helps.", author_id=agent)

    def after_resolution(
        self, index: int, ticket_id: str, *, allow_reopen: bool, agent: str = "system"
    ) -> Step:
        rng, desk, number = self.rng, self.desk, self.numbers[index]
        reopened = False
        # reopened 4 to 96 hours after the resolution: inside the default 7-day window
        can_reopen = desk.settings.reopen_within_days >= 4
        while True:
            roll = rng.random()
            if allow_reopen and not reopened and roll < REOPEN_SHARE and can_reopen:
                reopened = True
                yield self.customer_after(4, 96)
                self.record(index, desk.reopen(ticket_id, reason="It broke again"))
                self.note("reopen", index)
                self.flags["reopened"].append(number)
                yield from self.work(index, ticket_id, agent)
                continue
            if roll < REOPEN_SHARE + 0.55:
                yield self.customer_after(2, 48)
                self.record(index, desk.fire(ticket_id, "confirm", actor="customer"))
                self.note("confirm", index)
                yield self.agent_after(60 * 24)
                if rng.random() < 0.4:
                    satisfaction = rng.choices((1, 2, 3, 4, 5), (4, 6, 15, 35, 40))[0]
                    payload = {"satisfaction": satisfaction}
                    self.record(index, desk.fire(ticket_id, "follow_up", payload=payload))
                    self.note("follow_up", index, str(satisfaction))
                    yield self.agent_after(60)
                self.record(index, desk.fire(ticket_id, "close", actor=agent))
                self.note("close", index)
            # otherwise the customer never confirms: run_due auto-closes it
            return


def self_served(rng: random.Random) -> bool:
    """Whether this inquiry is answered by a knowledge-base article (no agent)."""
    return rng.random() < SELF_SERVE_SHARE
