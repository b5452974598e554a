"""Cases in a store: writes, the order check, reads."""

from __future__ import annotations

from datetime import timedelta

import pytest

from aftersales.exceptions import (
    CaseNotFound,
    ConcurrencyError,
    FieldError,
    InvalidInput,
)
from aftersales.models import (
    CaseKind,
    StatusCategory,
)
from aftersales.storage import CaseChange, CaseCursor, CaseQuery, every_case
from aftersales.testing.contracts._base import (
    _T0,
    StoreContractBase,
    _case,
    _case_event,
    _case_line,
)


class CaseContract(StoreContractBase):
    """What a store does with cases and their events."""

    def test_a_case_round_trips_with_its_events(self) -> None:
        case = _case("r1", reason="不合适 — too small 🙂")
        self.store.commit_cases([CaseChange(case, 0, (_case_event(case),))])
        assert self.store.get_case("r1") == case
        assert [e.trigger for e in self.store.events("r1")] == ["created"]
        with pytest.raises(CaseNotFound):
            self.store.get_case("nope")

    def test_a_case_keeps_its_lines_facts_and_decisions_across_steps(self) -> None:
        line = _case_line()
        case = _case("r1", lines=(line,))
        self.store.commit_cases([CaseChange(case, 0, (_case_event(case),))])
        assert self.store.get_case("r1") == case
        received = case.model_copy(
            update={
                "status": "received",
                "version": 2,
                "lines": (line.model_copy(update={"received": 1}),),
            }
        )
        # the same facts and decision: a store may leave them as they are
        self.store.commit_cases(
            [CaseChange(received, 1, (_case_event(received, "receive"),), terms_changed=False)]
        )
        assert self.store.get_case("r1") == received
        late = _case_line(at=_T0 + timedelta(days=30))
        reassessed = received.model_copy(
            update={
                "version": 3,
                "lines": (late.model_copy(update={"received": 1}),),
            }
        )
        assert reassessed.lines[0].decision != line.decision
        self.store.commit_cases([CaseChange(reassessed, 2, (_case_event(reassessed, "assess"),))])
        assert self.store.get_case("r1") == reassessed
        assert self.store.find_cases(CaseQuery(order_id="o1")) == [reassessed]
        bare = reassessed.model_copy(
            update={
                "version": 4,
                "lines": (late.model_copy(update={"facts": None, "decision": None}),),
            }
        )
        self.store.commit_cases([CaseChange(bare, 3, (_case_event(bare, "assess"),))])
        assert self.store.get_case("r1") == bare

    def test_an_order_check_sees_the_orders_cases_inside_the_commit(self) -> None:
        first = _case("r1")
        elsewhere = _case("x1", order_id="o2")
        self.store.commit_cases([CaseChange(c, 0, (_case_event(c),)) for c in (first, elsewhere)])
        seen: list[list[str]] = []
        second = _case("r2", created_at=_T0 + timedelta(minutes=1))
        self.store.commit_cases(
            [
                CaseChange(
                    second,
                    0,
                    (_case_event(second),),
                    order_check=lambda cases: seen.append([c.id for c in cases]),
                )
            ]
        )
        assert seen == [["r1"]]
        refund = _case(
            "f1",
            kind=CaseKind.REFUND,
            workflow="refund",
            status="pending",
            created_at=_T0 + timedelta(minutes=2),
        )
        self.store.commit_cases(
            [
                CaseChange(
                    refund,
                    0,
                    (_case_event(refund),),
                    order_check=lambda cases: seen.append([c.id for c in cases]),
                    order_check_kinds=(CaseKind.REFUND,),
                )
            ]
        )
        assert seen[-1] == []  # only refunds asked for: the returns r1 and r2 are left out

        def refuse(cases: object) -> None:
            raise InvalidInput("return", [FieldError(("lines",), "no units left")])

        third = _case("r3")
        with pytest.raises(InvalidInput):
            self.store.commit_cases(
                [CaseChange(third, 0, (_case_event(third),), order_check=refuse)]
            )
        with pytest.raises(CaseNotFound):
            self.store.get_case("r3")
        assert self.store.events("r3") == []

    def test_a_stale_case_write_changes_nothing(self) -> None:
        case = _case("r1")
        self.store.commit_cases([CaseChange(case, 0, (_case_event(case),))])
        moved = case.model_copy(update={"status": "approved", "version": 2})
        self.store.commit_cases([CaseChange(moved, 1, (_case_event(moved, "approve"),))])
        stale = case.model_copy(update={"status": "refused", "version": 2})
        with pytest.raises(ConcurrencyError):
            self.store.commit_cases([CaseChange(stale, 1, (_case_event(stale, "refuse"),))])
        with pytest.raises(ConcurrencyError):
            self.store.commit_cases([CaseChange(case, 0, ())])
        assert self.store.get_case("r1").status == "approved"
        assert [e.trigger for e in self.store.events("r1")] == ["created", "approve"]

    def test_case_changes_commit_together_or_not_at_all(self) -> None:
        first = _case("r1")
        self.store.commit_cases([CaseChange(first, 0, (_case_event(first),))])
        refund = _case("f1", kind=CaseKind.REFUND, workflow="refund", status="pending")
        stale = first.model_copy(update={"status": "refunded", "version": 2})
        with pytest.raises(ConcurrencyError):
            self.store.commit_cases(
                [CaseChange(refund, 0, (_case_event(refund),)), CaseChange(stale, 5, ())]
            )
        with pytest.raises(CaseNotFound):
            self.store.get_case("f1")
        assert self.store.events("f1") == []

    def test_cases_are_found_by_ticket_order_kind_and_state(self) -> None:
        cases = [
            _case("a", created_at=_T0, updated_at=_T0),
            _case("b", ticket_id="t2", created_at=_T0 + timedelta(minutes=1)),
            _case(
                "c",
                kind=CaseKind.REFUND,
                workflow="refund",
                status="pending",
                parent_id="a",
                created_at=_T0 + timedelta(minutes=2),
            ),
        ]
        self.store.commit_cases([CaseChange(c, 0, (_case_event(c),)) for c in cases])
        assert [c.id for c in self.store.find_cases(CaseQuery(ticket_id="t1"))] == ["a", "c"]
        assert [c.id for c in self.store.find_cases(CaseQuery(order_id="o1"))] == ["a", "b", "c"]
        assert [c.id for c in self.store.find_cases(CaseQuery(kind=CaseKind.REFUND))] == ["c"]
        assert [c.id for c in self.store.find_cases(CaseQuery(parent_id="a"))] == ["c"]
        assert [c.id for c in self.store.find_cases(CaseQuery(status="pending"))] == ["c"]
        assert self.store.find_cases(CaseQuery(status_category=StatusCategory.CLOSED)) == []
        assert [c.id for c in self.store.find_cases(CaseQuery(limit=1))] == ["a"]

    def test_cases_are_paged_by_cursor_in_creation_then_id_order(self) -> None:
        # ties in creation time are broken by id; an id may hold the cursor's own bar
        times = [_T0, _T0 + timedelta(minutes=1)]
        ids = ["b|2", "a", "é", "c", "b|10", "z"]
        cases = [_case(case_id, created_at=times[n % 2]) for n, case_id in enumerate(ids)]
        self.store.commit_cases([CaseChange(c, 0, (_case_event(c),)) for c in cases])
        # ids in the store's own text order (a SQL server's collation may order "é" and
        # "z" as it likes), creation time first
        expected = [c.id for c in self.store.find_cases(CaseQuery(order_id="o1"))]
        assert sorted(expected) == sorted(ids)
        assert set(expected[:3]) == set(ids[0::2])  # the three made first come first
        query: CaseQuery | None = CaseQuery(order_id="o1", limit=2)
        pages: list[list[str]] = []
        while query is not None and len(pages) <= len(ids):  # a store ignoring the cursor
            page = self.store.find_cases(query)
            pages.append([c.id for c in page])
            if query.after is not None:  # the cursor survives its own text
                assert CaseQuery(after=CaseCursor.parse(query.after.token())) == CaseQuery(
                    after=query.after
                )
            query = query.next_page(page)
        assert pages == [expected[0:2], expected[2:4], expected[4:6], []]
        assert [c.id for c in every_case(self.store, CaseQuery(order_id="o1", limit=4))] == (
            expected
        )

    def test_a_case_leaving_a_query_between_pages_shifts_no_other(self) -> None:
        cases = [_case(f"r{n}", created_at=_T0 + timedelta(minutes=n)) for n in range(5)]
        self.store.commit_cases([CaseChange(c, 0, (_case_event(c),)) for c in cases])
        query = CaseQuery(status="requested", limit=2)
        first = self.store.find_cases(query)
        closed = first[0].model_copy(update={"status": "closed", "version": 2})
        self.store.commit_cases([CaseChange(closed, 1, (_case_event(closed, "close"),))])
        following = query.next_page(first)
        assert following is not None
        assert [c.id for c in self.store.find_cases(following)] == ["r2", "r3"]

    def test_cases_due_are_listed_earliest_first(self) -> None:
        cases = [
            _case("late", step_due_at=_T0 + timedelta(hours=5)),
            _case("soon", step_due_at=_T0 + timedelta(hours=1)),
            _case("none"),
        ]
        self.store.commit_cases([CaseChange(c, 0, (_case_event(c),)) for c in cases])
        due = self.store.cases_due(_T0 + timedelta(hours=6), 10)
        assert [c.id for c in due] == ["soon", "late"]
        assert [c.id for c in self.store.cases_due(_T0 + timedelta(hours=2), 10)] == ["soon"]
