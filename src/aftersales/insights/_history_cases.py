"""The return, repair and complaint cases a generated ticket opens, each a process of
planned steps fired through ``desk.cases`` as the simulation's clock reaches them.

:class:`CaseWork` is a part of the simulation in :mod:`aftersales.insights.history`,
which provides the desk, the clock, the random stream and the bookkeeping it declares.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from aftersales.exceptions import TransitionError
from aftersales.insights._catalogue import CaseKindName, CatalogueItem

if TYPE_CHECKING:
    import random
    from collections import Counter

    from aftersales.clock import FrozenClock
    from aftersales.desk import Desk
    from aftersales.models import Case

Step = Generator[datetime, None, None]
"""A process of the simulation: it yields the instant it waits for, then acts."""

CaseStep = tuple[Callable[[], datetime], str, "str | None", "Mapping[str, object] | None"]
"""A planned case step: when it happens, its trigger, who fires it (None: the ticket's
agent) and its payload."""


class CaseWork:
    """The case processes of the simulation: opening a case, then firing its plan."""

    if TYPE_CHECKING:
        desk: Desk
        clock: FrozenClock
        rng: random.Random
        skipped: int
        case_ids: list[str]
        case_state: dict[str, tuple[str, str]]
        case_position: dict[str, int]
        cases_by_sku: dict[str, Counter[str]]
        daily_cases: dict[str, dict[str, list[int]]]

        def note(self, what: str, subject: int | str, detail: str = "") -> None: ...
        def agent_after(self, minutes: float) -> datetime: ...
        def customer_after(self, hours_low: float, hours_high: float) -> datetime: ...
        def order_id(self, index: int) -> str: ...
        def log_effort(self, subject_id: str, agent: str, *, case: bool = False) -> None: ...

    def case(
        self,
        kind: CaseKindName,
        index: int,
        ticket_id: str,
        item: CatalogueItem,
        agent: str,
        day: int,
    ) -> Step:
        self.cases_by_sku[kind][item.sku] += 1
        self.daily_cases[kind][item.sku][day] += 1
        if kind == "return":
            yield from self.return_case(index, ticket_id, item, agent)
        elif kind == "repair":
            yield from self.repair_case(index, ticket_id, item, agent)
        else:
            yield from self.complaint_case(index, ticket_id, item, agent)

    def opened(self, case: Case, index: int, kind: str) -> int:
        position = len(self.case_ids)
        self.case_ids.append(case.id)
        self.case_position[case.id] = position
        self.case_state[case.id] = (kind, case.status)
        self.note(f"open_{kind}", index, f"case {position}: {case.status}")
        return position

    def step(
        self, case_id: str, trigger: str, agent: str, payload: Mapping[str, object] | None = None
    ) -> Case | None:
        """Fire a planned case step; None (and the plan stops) when the case moved on."""
        try:
            case = self.desk.cases.fire(case_id, trigger, actor=agent, payload=payload)
        except TransitionError:
            self.skipped += 1
            self.note("skipped", self.case_position[case_id], trigger)
            return None
        kind = self.case_state[case_id][0]
        self.case_state[case_id] = (kind, case.status)
        self.note(trigger, self.case_position[case_id])
        if agent != "customer":
            self.log_effort(case_id, agent, case=True)
        return case

    def claim_line(
        self, item: CatalogueItem, claim: str, delivered_days_ago: float
    ) -> dict[str, object]:
        now = self.clock.now()
        delivered = now - timedelta(days=delivered_days_ago)
        return {
            "line_id": "l1",
            "sku": item.sku,
            "facts": {
                "jurisdiction": "cn",
                "product": {"category": item.policy_category, "sku": item.sku},
                "order": {
                    "purchased_at": (delivered - timedelta(days=2)).isoformat(),
                    "delivered_at": delivered.isoformat(),
                    "unit_price": {"amount": item.price, "currency": "CNY"},
                    "quantity": 1,
                },
                "claim": {"at": now.isoformat(), "kind": claim, "quantity": 1},
            },
        }

    def later(self, minutes: float) -> Callable[[], datetime]:
        """An agent's wait of about ``minutes``, drawn when the wait starts."""
        return lambda: self.agent_after(minutes)

    def customer_later(self, hours_low: float, hours_high: float) -> Callable[[], datetime]:
        """The customer's wait of ``hours_low`` to ``hours_high``, drawn when it starts."""
        return lambda: self.customer_after(hours_low, hours_high)

    def steps(
        self, case_id: str, agent: str, plan: Sequence[CaseStep]
    ) -> Generator[datetime, None, bool]:
        """Fire ``plan``'s steps in turn, each when its wait ends; False when the desk
        refused one (the case moved on meanwhile) and the rest was dropped."""
        for wait, trigger, actor, payload in plan:
            yield wait()
            if self.step(case_id, trigger, actor or agent, payload) is None:
                return False
        return True

    def return_case(self, index: int, ticket_id: str, item: CatalogueItem, agent: str) -> Step:
        rng = self.rng
        line = self.claim_line(item, "no_reason_return", rng.uniform(0.5, 5))
        case = self.desk.cases.request_return(
            ticket_id, order_id=self.order_id(index), lines=[line], actor=agent
        )
        self.opened(case, index, "return")
        if case.status != "approved":
            return
        # the goods never come (run_due expires the return after 14 days), or come damaged
        # (nothing refundable: they are sent back)
        lost = rng.random() < 0.08
        damaged = rng.random() < 0.15
        instructions = {"method": "label", "carrier": "SF", "tracking": f"SF{index:08d}"}
        result = "damaged" if damaged else "restock"
        goods_in: list[CaseStep] = [
            (self.customer_later(24, 24 * 6), "receive", None, {"units": {"l1": 1}}),
            (self.later(60 * 8), "inspect", None, {"results": {"l1": [result]}}),
        ]
        outcome: list[CaseStep] = (
            [
                (self.later(60 * 4), "send_back", None, {"carrier": "SF"}),
                (self.later(60 * 24), "close", None, None),
            ]
            if damaged
            else [(self.later(60 * 4), "refund", None, None)]
        )
        plan: list[CaseStep] = [
            (self.later(120), "send_instructions", None, instructions),
            *([] if lost else [*goods_in, *outcome]),
        ]
        done = yield from self.steps(case.id, agent, plan)
        if not done or lost or damaged:
            return
        # the refund trigger opened the refund case that pays the return
        refund_id = self.desk.cases.get(case.id).refund_case_id
        assert refund_id is not None
        self.case_position[refund_id] = len(self.case_ids)
        self.case_ids.append(refund_id)
        self.case_state[refund_id] = ("refund", "pending")
        paid = yield from self.steps(
            refund_id,
            agent,
            [
                (self.later(60 * 6), "process", None, None),
                (self.later(60 * 24), "succeed", None, {"reference": f"PSP-{index}"}),
            ],
        )
        del paid  # paid or not, the return's state is read back: a paid refund closes it
        self.case_state[case.id] = ("return", self.desk.cases.get(case.id).status)

    def repair_case(self, index: int, ticket_id: str, item: CatalogueItem, agent: str) -> Step:
        rng = self.rng
        out_of_warranty = rng.random() < 0.10
        age = rng.uniform(400, 800) if out_of_warranty else rng.uniform(20, 330)
        serial = f"SN-{item.sku}-{index:07d}"
        line = self.claim_line(item, "warranty_repair", age)
        case = self.desk.cases.open_repair(ticket_id, serial=serial, line=line, actor=agent)
        self.opened(case, index, "repair")
        declined = rng.random() < 0.5
        waits_for_parts = int(rng.random() < 0.2)
        failed_checks = rng.choices((0, 1), (90, 10))[0]
        quote = {"amount": {"amount": "380.00", "currency": "CNY"}}
        answer = "decline_quote" if declined else "accept_quote"
        # outside the warranty the case waits, claimed, for a paid repair's quote
        head: list[CaseStep] = (
            [
                (self.later(60 * 4), "quote", None, quote),
                (self.customer_later(6, 72), answer, "customer", None),
            ]
            if case.status == "claimed"
            else []
        )
        repair: list[CaseStep] = [
            (self.customer_later(12, 24 * 4), "hand_in", None, {"site": "depot"}),
            (self.later(60 * 8), "diagnose", None, {"diagnosis": "Worn part"}),
            (self.later(60 * 4), "start_repair", None, None),
            *[
                (self.later(60), "wait_for_parts", None, {"part": "board"}),
                (self.later(60 * 24 * rng.uniform(2, 10)), "parts_arrived", None, None),
            ]
            * waits_for_parts,
            *[
                (self.later(60 * 6), "finish_repair", None, None),
                (self.later(60 * 2), "fail_qc", None, {"reason": "Still faulty"}),
            ]
            * failed_checks,
            (self.later(60 * 6), "finish_repair", None, None),
            (self.later(60 * 2), "pass_qc", None, None),
            (self.customer_later(12, 72), "hand_back", None, None),
            (self.later(60 * 24 * 2), "close", None, None),
        ]
        quote_declined = bool(head) and declined
        yield from self.steps(case.id, agent, [*head, *([] if quote_declined else repair)])

    def complaint_case(self, index: int, ticket_id: str, item: CatalogueItem, agent: str) -> Step:
        rng = self.rng
        severity = rng.choices(("low", "medium", "high"), (30, 55, 15))[0]
        case = self.desk.cases.open_complaint(
            ticket_id, summary=f"Unhappy with {item.sku}", severity=severity, actor=agent
        )
        self.opened(case, index, "complaint")
        rejections = rng.choices((0, 1), (80, 20))[0]
        proposal = (self.later(60 * 24), "propose", None, {"proposal": "A voucher"})
        plan: list[CaseStep] = [
            (self.later(60 * 3), "acknowledge", None, None),
            (self.later(60 * 6), "investigate", None, None),
            *[proposal, (self.customer_later(4, 72), "reject", "customer", None)] * rejections,
            proposal,
            (self.customer_later(4, 72), "accept", "customer", None),
            (self.later(60 * 4), "close", None, None),
        ]
        yield from self.steps(case.id, agent, plan)
