"""Case KPIs (:func:`aftersales.insights.case_metrics.case_metrics`): every metric of a
small fixed history checked against values worked out by hand, and every store
(MemoryStore, SQLiteStore, SQLAlchemyStore on SQLite, PostgreSQL and MariaDB, and a store
read through its public API only) giving the same report on it and on a generated history.

PostgreSQL and MariaDB are taken from AFTERSALES_TEST_POSTGRES_URL and
AFTERSALES_TEST_MYSQL_URL (defaults: this machine's loopback servers); without them
those stores skip, naming the variable (in CI they fail instead).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import attrs
import pytest
from insight_stores import MAKERS, filled, sqlalchemy_sqlite

from aftersales import (
    Desk,
    FrozenClock,
    InvalidInput,
    MemoryStore,
    SQLiteStore,
    StorageError,
    Store,
    TicketNotFound,
)
from aftersales.insights import _case_memory, _case_sql
from aftersales.insights.case_metrics import (
    CaseReport,
    CaseReportQuery,
    CaseReportRow,
    RepairPartRow,
    case_metrics,
)
from aftersales.insights.history import generate_history
from aftersales.insights.metrics import DurationStats
from aftersales.storage.recorder import MemoryRecorder, RecordStore

# aftersales.insights exports the function case_metrics under the module's own name: the
# module itself comes from the import system
case_metrics_module = importlib.import_module("aftersales.insights.case_metrics")

UTC = timezone.utc
MARCH_2 = datetime(2026, 3, 2, tzinfo=UTC)  # the queried week: March 2 to 9
MARCH_9 = datetime(2026, 3, 9, tzinfo=UTC)
GENERATED_START = datetime(2026, 6, 1, tzinfo=UTC)
GENERATED_DAYS = 60
HOUR, DAY = 3600, 86400


def at(day: int, hour: int, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


# ----------------------------------------------------------------------- the fixed history

# name: (created, channel, SKU of the order line or None)
TICKETS: dict[str, tuple[datetime, str, str | None]] = {
    "t1": (at(2, 9), "email", "KETTLE"),
    "t2": (at(3, 9), "email", "KETTLE"),
    "t3": (at(4, 9), "phone", "KETTLE"),
    "t4": (at(2, 10), "phone", "PHONE"),
    "t5": (at(5, 10), "web_chat", "PHONE"),
    "t6": (at(6, 10), "email", None),
    # outside the week: the ticket of an older return, of an older repair, and one
    # created when the week ends
    "t7": (at(20, 9, 2), "email", "KETTLE"),
    "t8": (at(5, 9, 1), "phone", "PHONE"),
    "t9": (MARCH_9, "phone", "PHONE"),
}
CATEGORIES = {"KETTLE": "small_appliance", "kettle": "small_appliance", "PHONE": "mobile_phone"}


class FixedHistory:
    """The fixed history written through a desk, the clock set before each step."""

    def __init__(self, desk: Desk, clock: FrozenClock) -> None:
        self.desk, self.clock = desk, clock
        self.tickets: dict[str, str] = {}

    def write(self) -> None:
        for name, (created, channel, sku) in TICKETS.items():
            self.clock.set(created)
            order_line = (
                None if sku is None else {"order_id": f"o-{name}", "line_id": "l1", "sku": sku}
            )
            ticket = self.desk.open_ticket(
                customer=f"customer-{name}", channel=channel, subject=name, order_line=order_line
            )
            self.tickets[name] = ticket.id
        # Returns: r1 two kettles, returned and refunded within the week; r2 one kettle
        # with a reason of its own (and a line of "kettle", another SKU: its unit counts
        # for "kettle"), never sent back; r3 a phone, refunded after the week;
        # r4 a kettle returned in February, its refund paid late in the week.
        r1 = self.return_case("t1", at(2, 10), "KETTLE", units=2)
        refund1 = self.take_back(r1, at(3, 10), units=2)
        self.pay(refund1, at(4, 12), at(5, 12))
        self.return_case("t2", at(3, 10), "KETTLE", units=1, reason="lid does not close")
        r3 = self.return_case("t4", at(3, 11), "PHONE", units=1)
        refund3 = self.take_back(r3, at(8, 10), units=1)
        self.pay(refund3, at(8, 20), at(9, 1))
        r4 = self.return_case("t7", at(20, 10, 2), "KETTLE", units=1)
        refund4 = self.take_back(r4, at(21, 10, 2), units=1)
        self.pay(refund4, at(21, 12, 2), at(4, 12))
        # Repairs of phones: p0 of serial A handed back and closed January 20; p1 of
        # serial A opened 41 days later, waiting for a battery, closed in the week; p2 of
        # serial B closed in the week; p3 closed after it; p4 declined (closed in the
        # week, nothing repaired).
        self.repair("t8", "IMEI-A", at(5, 11, 1), at(20, 10, 1))
        self.repair("t4", "IMEI-A", at(2, 11), at(6, 11), part="battery")
        self.repair("t5", "IMEI-B", at(5, 11), at(7, 11))
        self.repair("t3", "IMEI-C", at(4, 10), at(12, 10), sku="KETTLE")
        self.declined_repair("t6", "IMEI-D", at(6, 12), at(7, 12))
        # Complaints: about t3's kettle (the complaint names no product: its ticket's SKU
        # counts), about t6 (no SKU at all), and one when the week ends.
        for name, created in (("t3", at(4, 11)), ("t6", at(6, 11)), ("t9", MARCH_9)):
            self.clock.set(created)
            self.desk.cases.open_complaint(self.tickets[name], summary="Unhappy", severity="low")

    def line(
        self, sku: str, units: int, kind: str, delivered_days_ago: float, **claim: Any
    ) -> dict[str, Any]:
        now = self.clock.now()
        delivered = now - timedelta(days=delivered_days_ago)
        return {
            "line_id": "l2" if sku == "kettle" else "l1",
            "sku": sku,
            "facts": {
                "jurisdiction": "cn",
                "product": {"category": CATEGORIES[sku], "sku": sku},
                "order": {
                    "purchased_at": (delivered - timedelta(days=2)).isoformat(),
                    "delivered_at": delivered.isoformat(),
                    "unit_price": {"amount": "199.00", "currency": "CNY"},
                    "quantity": 3,
                },
                "claim": {"at": now.isoformat(), "kind": kind, "quantity": units, **claim},
            },
        }

    def return_case(
        self, ticket: str, created: datetime, sku: str, *, units: int, reason: str | None = None
    ) -> str:
        self.clock.set(created)
        claim = {} if reason is None else {"reason": reason}
        lines = [self.line(sku, units, "no_reason_return", 2, **claim)]
        if reason is not None:
            lines.append(self.line("kettle", 1, "no_reason_return", 2))
        case = self.desk.cases.request_return(
            self.tickets[ticket], order_id=f"o-{ticket}", lines=lines
        )
        assert case.status == "approved"
        return case.id

    def take_back(self, case_id: str, received: datetime, *, units: int) -> str:
        """The goods received and restocked, the return refunded: the refund case's id."""
        self.clock.set(received)
        fire = self.desk.cases.fire
        fire(case_id, "send_instructions", payload={"method": "label", "tracking": "SF1"})
        fire(case_id, "receive", payload={"units": {"l1": units}})
        fire(case_id, "inspect", payload={"results": {"l1": ["restock"] * units}})
        refund_id = fire(case_id, "refund").refund_case_id
        assert refund_id is not None
        return refund_id

    def pay(self, refund_id: str, processed: datetime, paid: datetime) -> None:
        self.clock.set(processed)
        self.desk.cases.fire(refund_id, "process")
        self.clock.set(paid)
        self.desk.cases.fire(refund_id, "succeed", payload={"reference": "PSP"})

    def repair(
        self, ticket: str, serial: str, opened: datetime, closed: datetime, **kw: str
    ) -> None:
        part, sku = kw.get("part"), kw.get("sku", "PHONE")
        self.clock.set(opened)
        line = self.line(sku, 1, "warranty_repair", 60)
        case = self.desk.cases.open_repair(self.tickets[ticket], serial=serial, line=line)
        assert case.status == "awaiting_device"
        parts = [("wait_for_parts", {"part": part}), ("parts_arrived", None)] if part else []
        for trigger, payload in [
            ("hand_in", {"site": "depot"}),
            ("diagnose", {"diagnosis": "worn"}),
            ("start_repair", None),
            *parts,
            *[("finish_repair", None), ("pass_qc", None)],
        ]:
            self.desk.cases.fire(case.id, trigger, payload=payload)
        self.clock.set(closed)  # handed back and closed at once
        self.desk.cases.fire(case.id, "hand_back")
        assert self.desk.cases.fire(case.id, "close").closed_at == closed

    def declined_repair(self, ticket: str, serial: str, opened: datetime, closed: datetime) -> None:
        self.clock.set(opened)
        line = self.line("PHONE", 1, "warranty_repair", 800)
        case = self.desk.cases.open_repair(self.tickets[ticket], serial=serial, line=line)
        assert case.status == "claimed"
        amount = {"amount": {"amount": "380.00", "currency": "CNY"}}
        self.desk.cases.fire(case.id, "quote", payload=amount)
        self.clock.set(closed)
        assert self.desk.cases.fire(case.id, "decline_quote").status == "declined"


# ----------------------------------------------------------------------- the stores


def write_fixed_history(store: Store) -> Store:
    clock = FrozenClock(MARCH_2)
    FixedHistory(Desk(store, clock=clock), clock).write()
    return store


def populated(kind: str, folder: Path) -> Store:
    """A store holding the fixed history, then a generated one after it (from June on,
    so it adds nothing to the fixed history's counts)."""
    return filled(kind, folder, write_histories)


def write_histories(store: Store) -> None:
    write_fixed_history(store)
    clock = FrozenClock(GENERATED_START)
    generate_history(
        Desk(store, clock=clock), tickets=300, start=GENERATED_START, days=GENERATED_DAYS, seed=20
    )


@pytest.fixture(scope="module", params=list(MAKERS))
def any_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    store = populated(request.param, tmp_path_factory.mktemp(request.param))
    yield store
    store.close()


@pytest.fixture(scope="module")
def reference() -> Store:
    """The same histories on a MemoryStore, the report every store must give."""
    return populated("memory", Path("."))


def approx(value: float) -> Any:
    return pytest.approx(value)


def week(**options: Any) -> CaseReportQuery:
    return CaseReportQuery(period_from=MARCH_2, period_to=MARCH_9, **options)


def rows(report: CaseReport) -> dict[str | None, CaseReportRow]:
    return {row.group: row for row in report.rows}


def of(metrics: object, *names: str) -> tuple[Any, ...]:
    """The named fields of ``metrics``, to compare several at once."""
    return tuple(getattr(metrics, name) for name in names)


def only_row(report: CaseReport) -> CaseReportRow:
    (row,) = report.rows
    assert row.group is None
    assert report.total == row
    return row


# ----------------------------------------------------------------------- hand-computed


def test_every_metric_of_the_fixed_week_matches_the_hand_computed_value(any_store: Store) -> None:
    report = case_metrics(any_store, week())
    row = only_row(report)
    # Tickets created in [March 2, March 9): t1 to t6 (not t7, t8, nor t9 at March 9).
    # Returns created in the week: r1 (2 units), r2 (1 kettle and 1 of "kettle", its own
    # reason), r3 (1); not r4 (February), though its refund was paid in the week.
    returns = row.returns
    assert (returns.returns, returns.returned_units, returns.tickets) == (3, 5, 6)
    assert returns.reasons == (("no_reason_return", 2), ("lid does not close", 1))
    assert returns.return_rate == 0.5
    assert (returns.units_sold, returns.unit_return_rate) == (None, None)
    # Refunds paid in the week: r1's, created March 3 10:00 and paid March 5 12:00
    # (180000 s, bucket 69: 155871-185362 s), on time; r4's, created February 21 10:00
    # and paid March 4 12:00 (957600 s, bucket 79: 881743-1048574 s), after its due day
    # (February 28). Not r3's, paid March 9 01:00. Median: rank 1 ends bucket 69
    # (185363); p90: rank 1.8 is 0.8 into bucket 79: 881743 + 0.8 * 166832.
    refunds = row.refunds
    assert (refunds.paid, refunds.late, refunds.late_rate) == (2, 1, 0.5)
    assert refunds.lead_time == DurationStats(2, 185363.0, approx(1015208.6), ((69, 1), (79, 1)))
    # Repairs completed in the week: p1 (serial A, 4 days: 345600 s, bucket 73:
    # 311743-370726 s), opened 41 days after p0 of serial A was handed back: a repeat; p2
    # (serial B, 2 days: 172800 s, bucket 69). Not p3 (closed March 12) nor p4 (declined).
    # Median: rank 1 ends bucket 69 (185363); p90: 0.8 into bucket 73: 311743 + 0.8 * 58984.
    repairs = row.repairs
    assert (repairs.repairs, repairs.repeats, repairs.repeat_rate) == (2, 1, 0.5)
    assert repairs.turnaround == DurationStats(2, 185363.0, approx(358930.2), ((69, 1), (73, 1)))
    # Complaints created in the week: about t3 and t6 (not the one at March 9): 2 of 6.
    complaints = row.complaints
    assert (complaints.complaints, complaints.tickets) == (2, 6)
    assert complaints.complaint_rate == approx(1 / 3)
    # Per part: p1 waited for a battery; p2 named none. One repair each: the median is
    # half into its bucket, the p90 0.9 into it.
    battery, no_part = report.parts
    assert battery == RepairPartRow(
        "battery",
        case_metrics_module.RepairMetrics(
            1,
            1,
            1.0,
            DurationStats(1, 311743 + 0.5 * 58984, approx(311743 + 0.9 * 58984), ((73, 1),)),
        ),
    )
    assert no_part.part is None
    assert of(no_part.repairs, "repairs", "repeats", "repeat_rate") == (1, 0, 0.0)
    assert no_part.repairs.turnaround.median_seconds == 155871 + 0.5 * 29492


def test_rows_per_sku_with_the_units_sold(any_store: Store) -> None:
    sales = {"KETTLE": 30, "PHONE": 10, "TOASTER": 5}
    report = case_metrics(any_store, week(group_by="sku", sales=sales))
    assert [row.group for row in report.rows] == ["KETTLE", "PHONE", "kettle", None]
    kettle, phone, lower_case_kettle, no_sku = (row for row in report.rows)
    # KETTLE: tickets t1 t2 t3; returns r1 (2 units) and r2 (1); refunds r1's and r4's;
    # no repair completed (p3 closes after the week); t3's complaint
    assert of(kettle.returns, "returns", "returned_units", "tickets") == (2, 3, 3)
    assert kettle.returns.return_rate == approx(2 / 3)
    assert (kettle.returns.units_sold, kettle.returns.unit_return_rate) == (30, 0.1)
    assert (kettle.refunds.paid, kettle.refunds.late) == (2, 1)
    assert kettle.repairs.repairs == 0
    assert kettle.repairs.repeat_rate is None
    assert kettle.repairs.turnaround == DurationStats(0, None, None, ())
    assert of(kettle.complaints, "complaints", "complaint_rate") == (1, approx(1 / 3))
    # PHONE: tickets t4 t5; return r3 (1 unit); repairs p1 p2
    assert (phone.returns.returns, phone.returns.tickets, phone.returns.return_rate) == (1, 2, 0.5)
    assert (phone.returns.units_sold, phone.returns.unit_return_rate) == (10, 0.1)
    assert (phone.repairs.repairs, phone.repairs.repeats) == (2, 1)
    assert (phone.refunds.paid, phone.complaints.complaints) == (0, 0)
    # "kettle": r2's second line, a unit of its own SKU in a return counted under KETTLE
    assert of(lower_case_kettle.returns, "returns", "returned_units", "tickets") == (0, 1, 0)
    assert of(lower_case_kettle.returns, "return_rate", "units_sold") == (None, None)
    # no SKU: ticket t6 and its complaint
    assert of(no_sku.returns, "returns", "tickets", "return_rate") == (0, 1, 0.0)
    assert (no_sku.returns.units_sold, no_sku.returns.unit_return_rate) == (None, None)
    assert (no_sku.complaints.complaints, no_sku.complaints.complaint_rate) == (1, 1.0)
    # the total: 5 units returned, 4 of them of the 45 sold (the toaster sold, never
    # returned; "kettle" not sold)
    total = report.total.returns
    assert of(total, "returns", "returned_units", "units_sold") == (3, 5, 45)
    assert total.unit_return_rate == approx(4 / 45)
    ungrouped = only_row(case_metrics(any_store, week(sales=sales)))
    assert report.total == ungrouped
    # sales that do not name a SKU leave its units sold unknown
    kettles_only = rows(case_metrics(any_store, week(group_by="sku", sales={"KETTLE": 30})))
    assert kettles_only["KETTLE"].returns.unit_return_rate == 0.1
    assert of(kettles_only["PHONE"].returns, "units_sold", "unit_return_rate") == (None, None)


def test_rows_per_channel(any_store: Store) -> None:
    report = case_metrics(any_store, week(group_by="channel", sales={"KETTLE": 30}))
    email, phone, web_chat = (rows(report)[name] for name in ("email", "phone", "web_chat"))
    assert list(rows(report)) == ["email", "phone", "web_chat"]
    # email: tickets t1 t2 t6 (and t7's refund); phone: t3 t4; web chat: t5
    assert of(email.returns, "returns", "tickets", "return_rate") == (2, 3, approx(2 / 3))
    assert (phone.returns.returns, phone.returns.tickets, phone.returns.return_rate) == (1, 2, 0.5)
    assert (web_chat.returns.returns, web_chat.returns.tickets) == (0, 1)
    assert (email.refunds.paid, phone.refunds.paid) == (2, 0)
    assert (phone.repairs.repairs, web_chat.repairs.repairs, web_chat.repairs.repeats) == (1, 1, 0)
    assert (email.complaints.complaints, phone.complaints.complaints) == (1, 1)
    assert phone.complaints.complaint_rate == 0.5
    # units sold are not known per channel; the total has them
    assert (email.returns.units_sold, email.returns.unit_return_rate) == (None, None)
    assert (report.total.returns.units_sold, report.total.returns.unit_return_rate) == (30, 0.1)


def test_rows_per_product_category_have_no_ticket_rates(any_store: Store) -> None:
    report = case_metrics(any_store, week(group_by="category"))
    assert list(rows(report)) == ["mobile_phone", "small_appliance", None]
    phones, kettles, no_category = report.rows
    assert (phones.returns.returns, phones.repairs.repairs, kettles.returns.returns) == (1, 2, 2)
    assert (kettles.refunds.paid, kettles.refunds.late_rate) == (2, 0.5)
    # complaints name no product
    assert (no_category.complaints.complaints, no_category.returns.returns) == (2, 0)
    for row in (*report.rows, report.total):
        assert (row.returns.tickets, row.returns.return_rate) == (None, None)
        assert (row.complaints.tickets, row.complaints.complaint_rate) == (None, None)


def test_filters_keep_the_cases_with_any_of_their_values(any_store: Store) -> None:
    phones = only_row(case_metrics(any_store, week(sku="PHONE")))
    assert (phones.returns.returns, phones.returns.tickets, phones.repairs.repairs) == (1, 2, 2)
    assert (phones.refunds.paid, phones.complaints.complaints) == (0, 0)
    by_sku = rows(case_metrics(any_store, week(group_by="sku")))
    assert phones == attrs.evolve(by_sku["PHONE"], group=None)
    chat_or_email = only_row(case_metrics(any_store, week(channel=["web_chat", "email"])))
    assert (chat_or_email.returns.returns, chat_or_email.returns.tickets) == (2, 4)
    assert (chat_or_email.repairs.repairs, chat_or_email.complaints.complaints) == (1, 1)
    kettles = only_row(
        case_metrics(any_store, week(product_category="small_appliance", channel="email"))
    )
    assert (kettles.returns.returns, kettles.refunds.paid, kettles.returns.tickets) == (2, 2, None)
    nothing = only_row(case_metrics(any_store, week(sku="PHONE", channel="email")))
    assert (nothing.returns.returns, nothing.repairs.repairs, nothing.returns.tickets) == (0, 0, 0)
    assert nothing.returns.return_rate is None


def test_a_repair_is_a_repeat_within_the_window_only(any_store: Store) -> None:
    # p1 of serial A was opened 41 days and 1 hour after p0 was handed back (and closed)
    def repeats(days: int) -> int:
        return only_row(case_metrics(any_store, week(repeat_window_days=days))).repairs.repeats

    assert [repeats(days) for days in (41, 42, 90)] == [0, 1, 1]


def test_the_period_bounds_each_family_by_its_own_instant(any_store: Store) -> None:
    # one more day: t9 and its complaint (created March 9 00:00), r3's refund (paid
    # March 9 01:00)
    row = only_row(
        case_metrics(any_store, CaseReportQuery(period_from=MARCH_2, period_to=at(10, 0)))
    )
    assert (row.returns.tickets, row.complaints.complaints, row.refunds.paid) == (7, 3, 3)
    assert row.returns.returns == 3
    # February: r4 (created February 20), p0 closed in January is not in it
    february = only_row(
        case_metrics(any_store, CaseReportQuery(period_from=at(1, 0, 2), period_to=MARCH_2))
    )
    assert (february.returns.returns, february.refunds.paid, february.repairs.repairs) == (1, 0, 0)
    assert february.returns.tickets == 1


# ----------------------------------------------------------------------- every store agrees

GENERATED_SALES = {"PHONE-X1": 400, "KETTLE-K3": 250, "JACKET-M": 300, "NOTHING-SOLD": 0}
AGREEMENT_QUERIES: list[dict[str, Any]] = [
    {"group_by": group_by} for group_by in ("none", "sku", "category", "channel")
] + [
    {"group_by": "sku", "sales": GENERATED_SALES},
    {"sales": GENERATED_SALES, "sku": ["PHONE-X1", "JACKET-M"]},
    {"group_by": "channel", "product_category": ["mobile_phone", "apparel"]},
    {"group_by": "category", "channel": ["email", "phone"], "repeat_window_days": 7},
]


@pytest.mark.parametrize("options", AGREEMENT_QUERIES, ids=str)
def test_every_store_gives_the_reference_report_on_the_generated_history(
    any_store: Store, reference: Store, options: dict[str, Any]
) -> None:
    query = CaseReportQuery(
        period_from=GENERATED_START + timedelta(days=10),
        period_to=GENERATED_START + timedelta(days=GENERATED_DAYS),
        **options,
    )
    report = case_metrics(any_store, query)
    assert report == case_metrics(reference, query)
    assert report.total.returns.returns + report.total.repairs.repairs > 5  # there is a history


def test_every_store_gives_the_reference_report_on_the_fixed_history(
    any_store: Store, reference: Store
) -> None:
    for options in AGREEMENT_QUERIES:
        query = week(**options)
        assert case_metrics(any_store, query) == case_metrics(reference, query)


def test_sqlite_counts_in_one_statement_per_family(tmp_path: Path) -> None:
    store = write_fixed_history(SQLiteStore(tmp_path / "desk.db"))
    statements: list[str] = []
    store.recorder._conn.set_trace_callback(statements.append)
    report = case_metrics(store, week(group_by="sku"))
    store.recorder._conn.set_trace_callback(None)
    reading = [sql for sql in statements if "FROM cases" in sql or "FROM tickets" in sql]
    # tickets, returns, refunds, repairs, complaints: nothing read case by case
    assert len(reading) == 5
    assert report == case_metrics(write_fixed_history(MemoryStore()), week(group_by="sku"))
    store.close()


def test_sqlite_finds_earlier_repairs_through_the_serials_index(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "desk.db")
    conn = store.recorder._conn
    dialect = _case_sql.case_sqlite_dialect(conn.execute)
    assert dialect is not None
    sql, params = _case_sql.repairs_statement(week()._plan(), dialect)
    scoped = {**params, "tenant": ""}
    plan = " ".join(str(row[-1]) for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", scoped))
    # one look-up of the serial's cases per repair, not a scan of every repair
    assert "SEARCH p USING INDEX cases_serial" in plan
    store.close()


def test_only_a_store_without_a_faster_path_is_read_case_by_case(
    any_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(store: Store, plan: object) -> None:
        raise AssertionError("read case by case")

    monkeypatch.setattr(case_metrics_module, "store_tally", refuse)
    if type(any_store) is RecordStore:
        with pytest.raises(AssertionError, match="case by case"):
            case_metrics(any_store, week())
    else:  # SQL in the database, or MemoryStore's own objects
        assert only_row(case_metrics(any_store, week())).returns.returns == 3


def test_a_store_read_through_its_api_counts_every_page_of_cases(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    public = write_fixed_history(RecordStore(MemoryRecorder()))
    monkeypatch.setattr(_case_memory, "PAGE", 2)  # five repairs, three returns: several pages
    assert case_metrics(public, week()) == case_metrics(write_fixed_history(MemoryStore()), week())


def test_a_case_whose_ticket_is_gone_counts_without_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    public = write_fixed_history(RecordStore(MemoryRecorder()))

    def no_ticket(ticket_id: str) -> None:
        raise TicketNotFound(ticket_id)

    monkeypatch.setattr(public, "get", no_ticket)
    # no ticket: no channel, and a complaint has no SKU
    by_channel = rows(case_metrics(public, week(group_by="channel")))
    assert list(by_channel) == ["email", "phone", "web_chat", None]
    assert (by_channel["email"].returns.tickets, by_channel["email"].returns.returns) == (3, 0)
    cases = by_channel[None]
    assert (cases.returns.returns, cases.repairs.repairs, cases.complaints.complaints) == (3, 2, 2)
    assert by_channel[None].complaints.tickets == 0


def test_sqlite_without_math_or_json_functions_counts_in_python(
    any_store: Store, reference: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_case_sql, "case_sqlite_dialect", lambda execute: None)
    query = week(group_by="sku", sales={"KETTLE": 3})
    assert case_metrics(any_store, query) == case_metrics(reference, query)


def test_the_sqlite_dialect_needs_the_json_functions() -> None:
    def dialect_without(name: str) -> object:
        def execute(sql: str) -> None:
            if name in sql:
                raise RuntimeError(f"no such function: {name}")

        return _case_sql.case_sqlite_dialect(execute)

    assert dialect_without("json_extract") is None
    assert dialect_without("log2") is None
    assert dialect_without("nothing") is not None


def test_a_failing_database_raises_storage_error(tmp_path: Path) -> None:
    sqlalchemy = pytest.importorskip("sqlalchemy")
    store = sqlalchemy_sqlite(tmp_path)
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'sa.db'}")
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text("DROP TABLE cases"))
    engine.dispose()
    with pytest.raises(StorageError, match="case metrics failed"):
        case_metrics(store, week())
    store.close()


# ----------------------------------------------------------------------- edges


@pytest.mark.parametrize("kind", ["memory", "sqlite", "sqlalchemy-sqlite", "public-api"])
def test_an_empty_store_gives_zeros_and_nones(kind: str, tmp_path: Path) -> None:
    store = MAKERS[kind](tmp_path)
    row = only_row(case_metrics(store, week(sales={"KETTLE": 0})))
    assert (row.returns.returns, row.returns.tickets, row.returns.reasons) == (0, 0, ())
    assert (row.returns.return_rate, row.returns.unit_return_rate) == (None, None)
    assert row.returns.units_sold == 0
    assert (row.refunds.paid, row.refunds.late_rate) == (0, None)
    assert row.refunds.lead_time == DurationStats(0, None, None, ())
    assert (row.repairs.repairs, row.repairs.repeat_rate) == (0, None)
    assert (row.complaints.complaints, row.complaints.complaint_rate) == (0, None)
    grouped = case_metrics(store, week(group_by="sku"))
    assert (grouped.rows, grouped.parts) == ((), ())
    assert grouped.total.returns.tickets == 0
    store.close()


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"period_to": MARCH_2}, ("period_to",)),
        ({"period_from": datetime(2026, 3, 2)}, ("period_from",)),
        ({"group_by": "part"}, ("group_by",)),
        ({"channel": "pigeon"}, ("channel", 0)),
        ({"sku": []}, ("sku",)),
        ({"product_category": ""}, ("product_category", 0)),
        ({"sales": {"KETTLE": -1}}, ("sales", "KETTLE")),
        ({"sales": {"": 1}}, ("sales",)),
        ({"repeat_window_days": 0}, ("repeat_window_days",)),
        ({"unknown": 1}, ("unknown",)),
    ],
)
def test_a_bad_query_raises_invalid_input_naming_the_field(
    options: dict[str, Any], field: tuple[object, ...]
) -> None:
    values: dict[str, Any] = {"period_from": MARCH_2, "period_to": MARCH_9, **options}
    with pytest.raises(InvalidInput) as raised:
        CaseReportQuery(**values)
    assert any(error.location[: len(field)] == field for error in raised.value.errors)


def test_the_query_must_be_a_case_report_query() -> None:
    with pytest.raises(InvalidInput, match="CaseReportQuery"):
        case_metrics(MemoryStore(), {"period_from": MARCH_2})  # type: ignore[arg-type]


def test_one_filter_value_is_a_tuple_and_instants_become_utc() -> None:
    china = timezone(timedelta(hours=8))
    one: dict[str, Any] = {"sku": "KETTLE"}
    query = CaseReportQuery(period_from=MARCH_2.astimezone(china), period_to=MARCH_9, **one)
    assert (query.sku, query.period_from.tzinfo, query.repeat_window_days) == (("KETTLE",), UTC, 90)
