"""Review of the case KPIs (issue 20): each test states what a user of
:func:`aftersales.insights.case_metrics.case_metrics` relies on, on MemoryStore and
SQLiteStore (the ``store`` fixture), worked out by hand."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from case_facts import claim_line, phone

from aftersales import Desk, FrozenClock, MemoryStore, SQLiteStore, Store
from aftersales.insights.case_metrics import CaseReport, CaseReportQuery, case_metrics

UTC = timezone.utc
START = datetime(2024, 3, 1, tzinfo=UTC)  # the conftest clock: Monday March 4, 09:00
END = datetime(2024, 6, 1, tzinfo=UTC)


def report(store: Store, **options: Any) -> CaseReport:
    return case_metrics(store, CaseReportQuery(period_from=START, period_to=END, **options))


def ticket(desk: Desk, sku: str | None = None, name: str = "c-1") -> str:
    order_line = None if sku is None else {"order_id": "o-1", "line_id": "l1", "sku": sku}
    return desk.open_ticket(
        customer=name, channel="email", subject="after-sales", order_line=order_line
    ).id


def hand_back(desk: Desk, case_id: str) -> None:
    for trigger, payload in [
        ("hand_in", {"site": "depot"}),
        ("diagnose", {"diagnosis": "worn"}),
        ("start_repair", None),
        ("finish_repair", None),
        ("pass_qc", None),
        ("hand_back", None),
    ]:
        desk.cases.fire(case_id, trigger, payload=payload)


def repaired(desk: Desk, ticket_id: str, serial: str, line: dict[str, Any]) -> str:
    case = desk.cases.open_repair(ticket_id, serial=serial, line=line)
    assert case.status == "awaiting_device"
    hand_back(desk, case.id)
    assert desk.cases.fire(case.id, "close").status == "closed"
    return case.id


# ------------------------------------------------------------------- repeat failures


def test_a_repair_that_failed_again_in_its_own_case_is_a_repeat_failure(
    desk: Desk, clock: FrozenClock
) -> None:
    # The repair workflow's own path for a repair that did not hold: handed back, the
    # customer reports the fault again (report_failure: a "failed" repair record), the
    # device is repaired a second time in the same case.
    case = desk.cases.open_repair(ticket(desk), serial="IMEI-1", line=phone())
    hand_back(desk, case.id)
    clock.advance(days=3)
    desk.cases.fire(case.id, "report_failure", payload={"reason": "fails again"})
    again = desk.cases.assess_repair(case.id)
    assert again.status == "awaiting_device"
    assert again.repair is not None
    assert [r.outcome.value for r in again.repair.records] == ["failed"]
    hand_back(desk, case.id)
    desk.cases.fire(case.id, "close")
    repairs = report(desk.store).total.repairs
    assert repairs.repairs == 1
    assert (repairs.repeats, repairs.repeat_rate) == (1, 1.0)


def take_back_for_refund(desk: Desk, repair_id: str) -> None:
    """The refund the decision offers instead of a third repair: a linked return takes
    the phone back, its refund paid closes the repair."""
    returned = desk.cases.fire(repair_id, "choose_refund").return_case_id
    assert returned is not None
    desk.cases.fire(returned, "send_instructions", payload={"method": "address"})
    desk.cases.fire(returned, "receive", payload={"units": {"phone": 1}})
    desk.cases.fire(returned, "inspect", payload={"results": {"phone": ["not_as_described"]}})
    refund = desk.cases.fire(returned, "refund").refund_case_id
    assert refund is not None
    desk.cases.fire(refund, "process")
    desk.cases.fire(refund, "succeed")


@pytest.mark.parametrize(
    ("line", "failures", "ending", "status"),
    [
        # 三包: two repairs that did not hold, then a replacement
        (phone(), 2, "accept_replacement", "replaced"),
        # the EU legal guarantee after one failed repair: the goods back for a refund
        (phone(jurisdiction="eu", kind="legal_guarantee"), 1, "choose_refund", "closed"),
    ],
    ids=["replaced", "refunded"],
)
def test_a_repair_ended_without_a_repair_is_no_completed_repair(
    desk: Desk, clock: FrozenClock, line: dict[str, Any], failures: int, ending: str, status: str
) -> None:
    case = desk.cases.open_repair(ticket(desk), serial="IMEI-2", line=line)
    for _ in range(failures):
        hand_back(desk, case.id)
        clock.advance(days=3)
        desk.cases.fire(case.id, "report_failure", payload={"reason": "fails again"})
        offered = desk.cases.assess_repair(case.id)
    assert offered.status == "replacement_offered"
    if ending == "choose_refund":
        take_back_for_refund(desk, case.id)
    else:
        desk.cases.fire(case.id, ending)
    ended = desk.cases.get(case.id)
    assert (ended.status, ended.closed_at) == (status, clock.now())
    repairs = report(desk.store).total.repairs
    # "completed: closed, neither declined nor cancelled" lets it in as a repair done
    # (with no repeat: its failures were in the case itself)
    assert (repairs.repairs, repairs.turnaround.count) == (0, 0)


def test_the_same_serial_on_another_model_is_not_a_repeat_failure(desk: Desk) -> None:
    # Serial numbers are the maker's, per model: SN-1 of a tablet is not SN-1 of a phone.
    tablet = phone()
    tablet["sku"] = tablet["facts"]["product"]["sku"] = "SKU-tablet"
    repaired(desk, ticket(desk), "SN-1", phone())
    repaired(desk, ticket(desk, name="c-2"), "SN-1", tablet)
    rows = {row.group: row for row in report(desk.store, group_by="sku").rows}
    assert rows["SKU-tablet"].repairs.repairs == 1
    assert rows["SKU-tablet"].repairs.repeats == 0


def test_a_repair_handed_back_but_not_closed_is_an_earlier_repair(
    desk: Desk, clock: FrozenClock
) -> None:
    # The device went back to its owner on March 4 (the case left at "returned", no
    # one fired "close"); it fails ten days later and a new case is opened for it.
    first = desk.cases.open_repair(ticket(desk), serial="IMEI-3", line=phone())
    hand_back(desk, first.id)
    assert desk.cases.get(first.id).status == "returned"
    clock.advance(days=10)
    repaired(desk, ticket(desk, name="c-2"), "IMEI-3", phone())
    repairs = report(desk.store).total.repairs
    assert (repairs.repairs, repairs.repeats) == (1, 1)


# ------------------------------------------------------------------- return rates


def request_return(desk: Desk, ticket_id: str, order_id: str, *lines: dict[str, Any]) -> str:
    case = desk.cases.request_return(ticket_id, order_id=order_id, lines=list(lines))
    assert case.status == "approved"
    return case.id


def test_a_return_rate_is_never_above_one_return_per_ticket(desk: Desk) -> None:
    # One ticket names the SKU; two more (an e-mail without an order line) lead to
    # returns of it: three tickets, two returns of SKU-l1.
    ticket(desk, "SKU-l1")
    for name in ("c-2", "c-3"):
        request_return(desk, ticket(desk, name=name), f"o-{name}", claim_line("l1", claimed=1))
    rows = {row.group: row for row in report(desk.store, group_by="sku").rows}
    returns = rows["SKU-l1"].returns
    assert returns.returns == 2
    assert returns.return_rate is not None
    assert returns.return_rate <= 1.0  # it is 2 returns / 1 ticket = 2.0


def test_a_merged_duplicate_ticket_is_not_a_second_ticket_about_the_product(
    desk: Desk,
) -> None:
    first = ticket(desk, "SKU-l1")
    duplicate = ticket(desk, "SKU-l1")
    desk.merge(duplicate, into=first)
    request_return(desk, first, "o-1", claim_line("l1", claimed=1))
    returns = report(desk.store, sku="SKU-l1").total.returns
    assert (returns.returns, returns.tickets, returns.return_rate) == (1, 1, 1.0)


def test_every_returned_unit_counts_for_its_own_sku(desk: Desk) -> None:
    # one return of 1 unit of SKU-l1 and 2 units of SKU-l2, which sold 10
    request_return(
        desk, ticket(desk), "o-1", claim_line("l1", claimed=1), claim_line("l2", claimed=2)
    )
    total = report(desk.store, sales={"SKU-l2": 10}).total.returns
    assert total.returned_units == 3
    assert (total.units_sold, total.unit_return_rate) == (10, 0.2)


def test_a_cancelled_return_returned_no_units(desk: Desk) -> None:
    # two units asked back, then the customer kept them: the return is cancelled
    # before the goods arrived ("cancelled", as the order checks count it: nothing back)
    returned = request_return(desk, ticket(desk, "SKU-l1"), "o-1", claim_line("l1", claimed=2))
    cancelled = desk.cases.fire(returned, "cancel", payload={"reason": "kept them"})
    assert cancelled.status == "cancelled"
    total = report(desk.store, sales={"SKU-l1": 10}).total.returns
    assert (total.returned_units, total.unit_return_rate) == (0, 0.0)


def test_units_sold_of_a_sku_the_sales_do_not_name_are_unknown_filtered_or_grouped(
    desk: Desk,
) -> None:
    request_return(desk, ticket(desk, "SKU-l1"), "o-1", claim_line("l1", claimed=1))
    sales = {"SKU-l2": 10}
    (grouped,) = report(desk.store, group_by="sku", sales=sales).rows
    assert (grouped.group, grouped.returns.units_sold) == ("SKU-l1", None)
    filtered = report(desk.store, sku="SKU-l1", sales=sales).total.returns
    assert (filtered.units_sold, filtered.unit_return_rate) == (None, None)


# ------------------------------------------------------------------- erasure

SAID = "Zhang Wei, 13800138000: the lid does not close"
"""A claim's reason as the customer wrote it: free text, personal data."""


def reasons_after_erasure(desk: Desk) -> tuple[str | None, ...]:
    customer = desk.get(ticket_id := ticket(desk, "SKU-l1")).customer_id
    request_return(desk, ticket_id, "o-1", claim_line("l1", claimed=1, reason=SAID))
    assert report(desk.store).total.returns.reasons == ((SAID, 1),)
    desk.erase_customer(customer)
    return tuple(reason for reason, _ in report(desk.store).total.returns.reasons)


def test_an_erased_customers_reason_is_not_reported(desk: Desk) -> None:
    # A claim's reason is free text the customer may have written: personal data.
    assert SAID not in reasons_after_erasure(desk)


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_a_reason_declared_personal_is_erased_from_the_report_on_every_store(
    kind: str, clock: FrozenClock, tmp_path: Path
) -> None:
    store: Store = MemoryStore() if kind == "memory" else SQLiteStore(tmp_path / "e.db")
    desk = Desk(store, clock=clock, personal_fields={"case": ["lines.facts.claim.reason"]})
    reasons = reasons_after_erasure(desk)
    facts = desk.cases.find(kind="return")[0].lines[0].facts
    assert facts is not None
    assert facts.claim.reason != SAID  # the case itself no longer holds it
    assert SAID not in reasons
    store.close()


# ------------------------------------------------------------------- found sound


def test_each_family_is_bounded_by_its_own_instant_half_open(
    desk: Desk, clock: FrozenClock
) -> None:
    # a return on March 4 09:00, refunded at March 5 00:00 sharp; a repair opened March 4
    # 09:00, closed March 6 12:00; SKUs differing by case only are two products
    day = timedelta(days=1)
    march_5 = datetime(2024, 3, 5, tzinfo=UTC)
    returned = request_return(desk, ticket(desk, "kettle"), "o-1", claim_line("l1", claimed=2))
    fire = desk.cases.fire
    fire(returned, "send_instructions", payload={"method": "label"})
    fire(returned, "receive", payload={"units": {"l1": 2}})
    fire(returned, "inspect", payload={"results": {"l1": ["restock", "restock"]}})
    refund = fire(returned, "refund").refund_case_id
    assert refund is not None
    fire(refund, "process")
    repair = desk.cases.open_repair(ticket(desk, "KETTLE", name="c-2"), serial="S", line=phone())
    hand_back(desk, repair.id)
    clock.set(march_5)
    fire(refund, "succeed")
    clock.set(march_5 + day + timedelta(hours=12))
    fire(repair.id, "close")

    def total(start: datetime, end: datetime) -> Any:
        return case_metrics(desk.store, CaseReportQuery(period_from=start, period_to=end)).total

    before, on = total(march_5 - day, march_5), total(march_5, march_5 + day)
    assert (before.refunds.paid, on.refunds.paid) == (0, 1)
    assert (before.returns.returns, on.returns.returns) == (1, 0)
    assert on.refunds.lead_time.count == 1
    closed = total(march_5 + day, march_5 + 2 * day)
    assert (closed.repairs.repairs, on.repairs.repairs) == (1, 0)
    china = timezone(timedelta(hours=8))
    assert total((march_5 + day).astimezone(china), march_5 + 2 * day) == closed
    grouped = report(desk.store, group_by="sku")
    assert [row.group for row in grouped.rows] == ["KETTLE", "SKU-l1", "SKU-phone", "kettle"]


# ------------------------------------------------------------------- every store


def write_every_reviewed_case(desk: Desk, clock: FrozenClock) -> None:
    """The cases of the tests above, on one desk: what every store must count alike."""
    ticket(desk, "SKU-l1")
    for name in ("c-2", "c-3"):  # tickets naming no product, returns of SKU-l1
        request_return(desk, ticket(desk, name=name), f"o-{name}", claim_line("l1", claimed=1))
    first, duplicate = ticket(desk, "SKU-l1", "c-4"), ticket(desk, "SKU-l1", "c-4")
    desk.merge(duplicate, into=first)
    request_return(desk, first, "o-4", claim_line("l1", claimed=1))
    request_return(
        desk, ticket(desk, name="c-5"), "o-5", claim_line("l1", claimed=1), claim_line("l2")
    )
    kept = request_return(desk, ticket(desk, "SKU-l1", "c-6"), "o-6", claim_line("l1"))
    desk.cases.fire(kept, "cancel", payload={"reason": "kept them"})
    # a repair failing again in its own case
    failed = desk.cases.open_repair(ticket(desk, name="c-7"), serial="IMEI-1", line=phone())
    hand_back(desk, failed.id)
    clock.advance(days=3)
    desk.cases.fire(failed.id, "report_failure", payload={"reason": "fails again"})
    desk.cases.assess_repair(failed.id)
    hand_back(desk, failed.id)
    desk.cases.fire(failed.id, "close")
    # replaced, and taken back for a refund
    for serial, line, failures in (
        ("IMEI-2", phone(), 2),
        ("IMEI-4", phone(jurisdiction="eu", kind="legal_guarantee"), 1),
    ):
        case = desk.cases.open_repair(ticket(desk, name="c-8"), serial=serial, line=line)
        for _ in range(failures):
            hand_back(desk, case.id)
            desk.cases.fire(case.id, "report_failure", payload={"reason": "fails again"})
            desk.cases.assess_repair(case.id)
        if failures == 2:
            desk.cases.fire(case.id, "accept_replacement")
        else:
            take_back_for_refund(desk, case.id)
    # one serial on two models; a repair handed back, not closed, failing ten days later
    tablet = phone()
    tablet["sku"] = tablet["facts"]["product"]["sku"] = "SKU-tablet"
    repaired(desk, ticket(desk, name="c-9"), "SN-1", phone())
    repaired(desk, ticket(desk, name="c-9"), "SN-1", tablet)
    hand_back(desk, desk.cases.open_repair(ticket(desk), serial="IMEI-3", line=phone()).id)
    clock.advance(days=10)
    repaired(desk, ticket(desk, name="c-2"), "IMEI-3", phone())


def write_reviewed_cases(store: Store) -> None:
    clock = FrozenClock(datetime(2024, 3, 4, 9, tzinfo=UTC))
    write_every_reviewed_case(Desk(store, clock=clock), clock)


@pytest.mark.parametrize("kind", ["sqlalchemy-sqlite", "postgresql", "mariadb", "public-api"])
def test_every_store_counts_the_reviewed_cases_as_memory_does(kind: str, tmp_path: Path) -> None:
    from insight_stores import filled

    # the servers and the public-API store hold the cases copied (insight_stores.filled)
    store = filled(kind, tmp_path, write_reviewed_cases)
    reference = MemoryStore()
    write_reviewed_cases(reference)
    sales = {"SKU-l2": 10, "SKU-l1": 20}
    for options in [
        {},
        {"group_by": "sku", "sales": sales},
        {"group_by": "channel"},
        {"sku": ["SKU-l1", "SKU-phone"], "sales": sales},
        {"group_by": "category", "repeat_window_days": 7},
    ]:
        assert report(store, **options) == report(reference, **options), options
    total = report(store, sales=sales).total
    # returns: 2 + 1 + 1 + 1 cancelled, and the phone taken back: 7 units (2 of SKU-l2),
    # the cancelled return's 2 not among them; SKU-l1's 4 and SKU-l2's 2 of the 30 sold
    assert (total.returns.returns, total.returns.returned_units) == (6, 7)
    assert total.returns.unit_return_rate == 0.2
    # repairs: the one failing in its case, SN-1 twice, IMEI-3's second (a repeat)
    assert (total.repairs.repairs, total.repairs.repeats) == (4, 2)
    store.close()
