"""Random sequences of after-sales steps never return more than was bought, never refund
more than was paid, and every case's events replay to its stored state."""

from __future__ import annotations

import contextlib
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from case_facts import claim_line
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from aftersales import AftersalesError, CaseKind, Desk, FrozenClock, SQLiteStore, Store
from aftersales.storage import MemoryStore

BOUGHT = {"l1": 3, "l2": 2}
PRICE = {"l1": Decimal("100.00"), "l2": Decimal("35.50")}
unit_results = st.sampled_from(["restock", "damaged", "missing", "not_as_described"])


class AfterSalesMachine(RuleBasedStateMachine):
    make_store: Any = MemoryStore

    def __init__(self) -> None:
        super().__init__()
        self.clock = FrozenClock(datetime(2024, 3, 4, 9, tzinfo=timezone.utc))
        self.desk = Desk(self.make_store(), clock=self.clock)
        self.ticket = self.desk.open_ticket(customer="c", channel="app", subject="p").id
        # Case ids are random: draw by position in creation order, or Hypothesis cannot
        # replay an example (see note_new_cases).
        self.known: list[tuple[str, CaseKind]] = []

    def teardown(self) -> None:
        self.desk.close()

    def cases(self, kind: CaseKind) -> list[str]:
        return [case_id for case_id, case_kind in self.known if case_kind is kind]

    @invariant()
    def note_new_cases(self) -> None:
        """Runs after every step, and a step opens at most one case: so the order of
        ``known`` never depends on the random ids of cases opened in the same instant."""
        seen = {case_id for case_id, _ in self.known}
        new = [c for c in self.desk.cases.find(order_id="o") if c.id not in seen]
        assert len(new) <= 1
        self.known.extend((c.id, c.kind) for c in new)

    def attempt(self, action: Any, *args: Any, **kwargs: Any) -> None:
        with contextlib.suppress(AftersalesError):
            action(*args, **kwargs)

    @rule(
        lines=st.lists(
            st.tuples(st.sampled_from(sorted(BOUGHT)), st.integers(1, 4)),
            min_size=1,
            max_size=2,
            unique_by=lambda pair: pair[0],
        ),
        decide_now=st.booleans(),
    )
    def request_return(self, lines: list[tuple[str, int]], decide_now: bool) -> None:
        claim = [
            claim_line(
                line, bought=BOUGHT[line], claimed=min(n, BOUGHT[line] + 1), price=str(PRICE[line])
            )
            for line, n in lines
        ]
        self.attempt(
            self.desk.cases.request_return,
            self.ticket,
            order_id="o",
            lines=claim,
            decide_now=decide_now,
        )

    @precondition(lambda self: self.cases(CaseKind.RETURN))
    @rule(
        data=st.data(),
        trigger=st.sampled_from(
            [
                "approve",
                "refuse",
                "send_instructions",
                "receive",
                "inspect",
                "refund",
                "send_back",
                "cancel",
                "close",
            ]
        ),
    )
    def step_return(self, data: st.DataObject, trigger: str) -> None:
        case_id = data.draw(st.sampled_from(self.cases(CaseKind.RETURN)))
        line = data.draw(st.sampled_from(sorted(BOUGHT)))
        payload: dict[str, Any] | None = {
            "send_instructions": {"method": "label"},
            "receive": {"units": {line: data.draw(st.integers(1, 3))}},
            "inspect": {
                "results": {line: data.draw(st.lists(unit_results, min_size=1, max_size=3))}
            },
        }.get(trigger)
        self.attempt(self.desk.cases.fire, case_id, trigger, payload=payload)

    @precondition(lambda self: self.cases(CaseKind.REFUND))
    @rule(
        data=st.data(), trigger=st.sampled_from(["process", "succeed", "fail", "retry", "cancel"])
    )
    def step_refund(self, data: st.DataObject, trigger: str) -> None:
        case_id = data.draw(st.sampled_from(self.cases(CaseKind.REFUND)))
        payload = {"error": "declined"} if trigger == "fail" else None
        self.attempt(self.desk.cases.fire, case_id, trigger, payload=payload)

    @rule(line=st.sampled_from(sorted(BOUGHT)), cents=st.integers(1, 40_000))
    def goodwill_refund(self, line: str, cents: int) -> None:
        self.attempt(
            self.desk.cases.open_refund,
            self.ticket,
            order_id="o",
            lines=[
                {
                    "line_id": line,
                    "quantity": BOUGHT[line],
                    "bought": BOUGHT[line],
                    "unit_price": {"amount": str(PRICE[line]), "currency": "CNY"},
                }
            ],
            amount={"amount": str(Decimal(cents) / 100), "currency": "CNY"},
        )

    @rule(days=st.integers(0, 20))
    def time_passes(self, days: int) -> None:
        self.clock.advance(days=days)
        self.desk.run_due()

    @invariant()
    def never_more_units_returned_than_bought(self) -> None:
        for line, bought in BOUGHT.items():
            taken = sum(
                case_line.quantity
                for case in self.desk.cases.find(order_id="o", kind=CaseKind.RETURN)
                if case.status not in ("refused", "cancelled")
                for case_line in case.lines
                if case_line.line_id == line
            )
            assert taken <= bought

    @invariant()
    def never_more_refunded_than_paid(self) -> None:
        for line, bought in BOUGHT.items():
            refunded = sum(
                (
                    case.refund.allocation.get(line, Decimal(0))
                    for case in self.desk.cases.find(order_id="o", kind=CaseKind.REFUND)
                    if case.refund is not None and case.status != "cancelled"
                ),
                Decimal(0),
            )
            assert refunded <= PRICE[line] * bought

    @invariant()
    def replay_equals_state(self) -> None:
        for case in self.desk.cases.find(order_id="o"):
            assert self.desk.cases.replay(case.id) == case


class SQLiteMachine(AfterSalesMachine):
    @staticmethod
    def make_store() -> Store:
        return SQLiteStore(":memory:")


_settings = settings(
    max_examples=40,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestOnMemory = AfterSalesMachine.TestCase
TestOnMemory.settings = _settings
TestOnSQLite = SQLiteMachine.TestCase
TestOnSQLite.settings = _settings
