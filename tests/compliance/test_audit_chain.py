"""``verify_audit`` finds every edited, deleted, reordered or moved event, named by its
subject and sequence, when someone edits the database directly (raw SQL on SQLite,
PostgreSQL and MariaDB); a clean desk, with every kind of case, verifies; erasure keeps
the chain verifying; a desk with its own key rejects a chain rebuilt with the default.

PostgreSQL and MariaDB come from AFTERSALES_TEST_POSTGRES_URL and AFTERSALES_TEST_MYSQL_URL
(defaults: this machine's loopback servers), as in tests/test_sqlalchemy_store.py.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from case_facts import CARE_ROUTING, claim_line, phone
from pydantic import SecretStr

from aftersales import (
    Customer,
    Desk,
    DeskSettings,
    FrozenClock,
    MemoryStore,
    SQLiteStore,
    Store,
)
from aftersales.models import Event, Ticket
from aftersales.privacy.audit import DEFAULT_AUDIT_KEY, AuditFinding, Chain
from test_sqlalchemy_store import server_url

sqlalchemy = pytest.importorskip(
    "sqlalchemy", reason='needs the sql extra: pip install "aftersales[sql]"'
)

from aftersales.storage.sqlalchemy import SQLAlchemyStore, metadata  # noqa: E402

MONDAY_9AM = datetime(2024, 3, 4, 9, 0, tzinfo=timezone.utc)
GOODWILL_LINE = {
    "line_id": "g1",
    "sku": "SKU-g1",
    "quantity": 1,
    "bought": 1,
    "unit_price": {"amount": "100.00", "currency": "CNY"},
}
"""An order line refunded without a return."""


@dataclass
class Database:
    """A database a desk runs on, reopened after each raw edit as an auditor would."""

    name: str
    url: str  # SQLAlchemy URL for the raw edits
    open: Callable[[], Store]

    def sql(self, statement: str, **values: Any) -> list[Any]:
        """Run one statement outside the library; the rows it returns."""
        engine = sqlalchemy.create_engine(self.url)
        try:
            with engine.begin() as connection:
                result = connection.execute(sqlalchemy.text(statement), values)
                return list(result) if result.returns_rows else []
        finally:
            engine.dispose()

    def edit_event(self, subject_id: str, sequence: int, edit: Callable[[Any], None]) -> None:
        """Change one event's stored JSON (``edit`` changes the decoded data in place)."""
        [(data,)] = self.sql(
            "SELECT data FROM events WHERE subject_id = :s AND sequence = :n",
            s=subject_id,
            n=sequence,
        )
        decoded = json.loads(data)
        edit(decoded)
        self.sql(
            "UPDATE events SET data = :d WHERE subject_id = :s AND sequence = :n",
            d=json.dumps(decoded, ensure_ascii=False),
            s=subject_id,
            n=sequence,
        )


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    opened: list[Store] = []
    if request.param == "sqlite":
        path = tmp_path / "desk.db"

        def open_sqlite() -> Store:
            opened.append(SQLiteStore(path))
            return opened[-1]

        made = Database("sqlite", f"sqlite:///{path}", open_sqlite)
    else:
        url = server_url(request.param)
        engine = sqlalchemy.create_engine(url)
        metadata.drop_all(engine)
        engine.dispose()

        def open_server() -> Store:
            opened.append(SQLAlchemyStore(url))
            return opened[-1]

        made = Database(request.param, url, open_server)
    yield made
    for store in opened:
        store.close()


def _ticket_with_history(desk: Desk, subject: str) -> str:
    """A ticket with six events: created, classify, assign, start, a message, resolve."""
    ticket = desk.open_ticket(customer="cust-1", channel="email", subject=subject)
    desk.classify(ticket.id, category="repair_warranty", severity="high")
    desk.assign(ticket.id, assignee="agent-1")
    desk.fire(ticket.id, "start")
    desk.add_message(ticket.id, "我们明天上门", author_id="agent-1")
    desk.resolve(ticket.id, resolution="换了排水泵")
    assert desk.get(ticket.id).version == 6
    return ticket.id


def _two_tickets(database: Database) -> tuple[str, str]:
    desk = Desk(database.open(), clock=FrozenClock(MONDAY_9AM))
    first = _ticket_with_history(desk, "洗衣机漏水")
    second = _ticket_with_history(desk, "冰箱不制冷")
    assert desk.verify_audit().ok
    desk.close()
    return first, second


def _findings(database: Database) -> list[AuditFinding]:
    desk = Desk(database.open(), clock=FrozenClock(MONDAY_9AM))
    report = desk.verify_audit()
    assert report.subjects == 2
    desk.close()
    return list(report.findings)


def _named(findings: list[AuditFinding]) -> set[tuple[str, int | None]]:
    return {(f.subject_id, f.sequence) for f in findings}


# ---------------------------------------------------------------------------- tampering


def test_an_edited_payload_is_found_and_named(database: Database) -> None:
    first, _ = _two_tickets(database)

    def downgrade(data: Any) -> None:
        assert data["trigger"] == "classify"
        data["payload"]["severity"] = "low"

    database.edit_event(first, 2, downgrade)

    assert _named(_findings(database)) == {(first, 2)}


def test_an_edited_last_event_is_found(database: Database) -> None:
    first, _ = _two_tickets(database)

    def reword(data: Any) -> None:
        assert data["trigger"] == "resolve"
        data["actor"] = "agent-2"

    database.edit_event(first, 6, reword)

    assert _named(_findings(database)) == {(first, 6)}


def test_a_deleted_event_is_found_and_named(database: Database) -> None:
    first, _ = _two_tickets(database)

    database.sql("DELETE FROM events WHERE subject_id = :s AND sequence = 3", s=first)

    findings = _findings(database)
    assert {f.subject_id for f in findings} == {first}
    assert (first, 4) in _named(findings)  # the event after the gap
    assert (first, None) in _named(findings)  # six events recorded, five left


def test_a_deleted_last_event_with_the_version_put_back_is_found(database: Database) -> None:
    """Cutting the history short and making the ticket agree still leaves the ticket's
    head pointing at the removed event's chain."""
    first, _ = _two_tickets(database)
    [(data,)] = database.sql("SELECT data FROM tickets WHERE id = :s", s=first)
    ticket = json.loads(data)
    ticket["version"] = 5
    database.sql("DELETE FROM events WHERE subject_id = :s AND sequence = 6", s=first)
    database.sql(
        "UPDATE tickets SET version = 5, data = :d WHERE id = :s",
        d=json.dumps(ticket, ensure_ascii=False),
        s=first,
    )

    findings = _findings(database)
    assert _named(findings) == {(first, None)}
    assert "head" in findings[0].problem


def test_two_swapped_events_are_found_and_named(database: Database) -> None:
    first, _ = _two_tickets(database)

    for old, new in ((2, -1), (3, 2), (-1, 3)):  # through a free number: (id, seq) is unique
        database.sql(
            "UPDATE events SET sequence = :new WHERE subject_id = :s AND sequence = :old",
            new=new,
            old=old,
            s=first,
        )

    findings = _findings(database)
    assert {f.subject_id for f in findings} == {first}
    assert {(first, 2), (first, 3)} <= _named(findings)


def test_an_event_moved_to_another_subject_is_found_on_both(database: Database) -> None:
    first, second = _two_tickets(database)

    database.sql(
        "UPDATE events SET subject_id = :to, sequence = 7 WHERE subject_id = :s AND sequence = 3",
        to=second,
        s=first,
    )

    findings = _findings(database)
    assert (first, 4) in _named(findings)  # where the moved event is missing
    moved = [f for f in findings if f.subject_id == second and f.sequence is not None]
    assert moved, findings
    assert any(first in f.problem for f in moved)  # it says whose event it is


def test_an_event_moved_with_its_json_rewritten_is_found(database: Database) -> None:
    """Moving an event and making its own JSON name the new subject and place."""
    first, second = _two_tickets(database)

    def move(data: Any) -> None:
        data["subject_id"] = second
        data["sequence"] = 7

    database.edit_event(first, 6, move)
    database.sql(
        "UPDATE events SET subject_id = :to, sequence = 7 WHERE subject_id = :s AND sequence = 6",
        to=second,
        s=first,
    )

    assert (second, 7) in _named(_findings(database))
    assert {f.subject_id for f in _findings(database)} == {first, second}


# ---------------------------------------------------------------------------- clean desks


def _every_kind_of_case(desk: Desk) -> list[str]:
    """A return refunded (dates, decimals, policy decisions in payloads), a repair
    through diagnosis and hand-back, an exchange, a goodwill refund, a complaint
    escalated and signed off; the ids of their tickets."""
    desk.save_customer(Customer(id="c-1", name="王芳"))
    ticket = desk.open_ticket(customer="c-1", channel="app", subject="after-sales")
    line = claim_line(bought=3, claimed=2, payments=(("card", "200.00"), ("points", "100.00")))
    returned = desk.cases.request_return(ticket.id, order_id="o-1", lines=[line])
    desk.cases.fire(
        returned.id, "send_instructions", payload={"method": "label", "tracking": "SF1"}
    )
    desk.cases.fire(returned.id, "receive", payload={"units": {"l1": 2}})
    desk.cases.fire(returned.id, "inspect", payload={"results": {"l1": ["restock", "damaged"]}})
    refund_id = desk.cases.fire(returned.id, "refund").refund_case_id
    assert refund_id is not None
    desk.cases.fire(refund_id, "process")
    desk.cases.fire(refund_id, "succeed", payload={"reference": "PSP-9"})

    repair = desk.cases.open_repair(ticket.id, serial="SN-1", line=phone())
    desk.cases.fire(repair.id, "hand_in", payload={"site": "depot"})
    desk.cases.fire(repair.id, "diagnose", payload={"diagnosis": "主板故障"})
    desk.cases.fire(repair.id, "start_repair")
    desk.cases.fire(repair.id, "finish_repair")
    desk.cases.fire(repair.id, "pass_qc")
    desk.cases.fire(repair.id, "hand_back")

    desk.cases.request_exchange(
        ticket.id, order_id="o-2", line=claim_line("l2"), replacement_sku="SKU-l2-big"
    )
    desk.cases.open_refund(
        ticket.id, order_id="o-9", lines=[GOODWILL_LINE], amount={"amount": "30", "currency": "CNY"}
    )

    complaint = desk.cases.open_complaint(ticket.id, summary="快递员态度恶劣")
    desk.cases.fire(complaint.id, "acknowledge", actor="agent-1")
    desk.cases.fire(complaint.id, "investigate", actor="agent-1")
    desk.cases.fire(
        complaint.id,
        "escalate",
        actor="agent-1",
        payload={"supervisor": "sup-wang", "reason": "客户要求主管处理"},
    )
    return [ticket.id]


def test_a_clean_desk_with_every_kind_of_case_verifies(database: Database) -> None:
    desk = Desk(database.open(), clock=FrozenClock(MONDAY_9AM), routing=CARE_ROUTING)
    [ticket_id] = _every_kind_of_case(desk)
    kinds = {c.kind for c in desk.cases.for_ticket(ticket_id)}
    assert kinds >= {"return", "refund", "repair", "exchange", "complaint"}

    report = desk.verify_audit()

    assert report.ok, report.findings
    assert report.subjects == 1 + len(desk.cases.for_ticket(ticket_id))
    assert report.events == sum(
        len(desk.cases.history(c.id)) for c in desk.cases.for_ticket(ticket_id)
    ) + len(desk.history(ticket_id))
    desk.close()
    reopened = Desk(database.open(), clock=FrozenClock(MONDAY_9AM))
    assert reopened.verify_audit() == report


def test_a_decimal_in_a_case_event_edited_in_the_database_is_found(database: Database) -> None:
    desk = Desk(database.open(), clock=FrozenClock(MONDAY_9AM))
    ticket = desk.open_ticket(customer="c-1", channel="app", subject="refund")
    refund = desk.cases.open_refund(
        ticket.id,
        order_id="o-9",
        lines=[GOODWILL_LINE],
        amount={"amount": "80.00", "currency": "CNY"},
    )
    desk.close()
    text = " ".join(
        row[0] for row in database.sql("SELECT data FROM events WHERE subject_id = :s", s=refund.id)
    )
    assert "80.00" in text  # the amount is in the stored event

    def inflate(data: Any) -> None:
        data["changes"] = json.loads(json.dumps(data["changes"]).replace("80.00", "800.00"))

    database.edit_event(refund.id, 1, inflate)

    reopened = Desk(database.open(), clock=FrozenClock(MONDAY_9AM))
    assert _named(list(reopened.verify_audit().findings)) == {(refund.id, 1)}


# ---------------------------------------------------------------------------- erasure


def test_after_erasure_the_chain_verifies_and_edits_are_still_found(database: Database) -> None:
    """What erasure leaves is still sealed: the seal kept for each erased value, and
    every value that was not personal (see aftersales.privacy.audit)."""
    desk = Desk(database.open(), clock=FrozenClock(MONDAY_9AM))
    desk.save_customer(Customer(id="cust-1", name="张伟明"))
    first = _ticket_with_history(desk, "张伟明的洗衣机漏水")
    desk.erase_customer("cust-1")
    assert desk.verify_audit().ok
    desk.close()
    [(data,)] = database.sql(
        "SELECT data FROM events WHERE subject_id = :s AND sequence = 1", s=first
    )
    created = json.loads(data)
    assert created["changes"]["subject"] == "[erased]"
    assert created["salt"] is None
    assert "changes.subject" in created["erased"]

    def forge_seal(data: Any) -> None:
        data["erased"]["changes.subject"] = "0" * 64

    database.edit_event(first, 1, forge_seal)
    assert _named(_findings_of(database)) == {(first, 1)}


def test_after_erasure_an_edited_value_that_was_not_personal_is_found(
    database: Database,
) -> None:
    desk = Desk(database.open(), clock=FrozenClock(MONDAY_9AM))
    desk.save_customer(Customer(id="cust-1", name="张伟明"))
    first = _ticket_with_history(desk, "张伟明的洗衣机漏水")
    desk.erase_customer("cust-1")
    desk.close()

    def reprioritise(data: Any) -> None:
        data["changes"]["priority"] = "urgent"

    database.edit_event(first, 1, reprioritise)
    assert _named(_findings_of(database)) == {(first, 1)}


def test_an_edited_personal_value_not_yet_erased_is_found(database: Database) -> None:
    """A personal value enters the chain as its seal: changing it breaks the seal."""
    first, _ = _two_tickets(database)

    def rename(data: Any) -> None:
        assert data["changes"]["subject"] == "洗衣机漏水"
        data["changes"]["subject"] = "李秀英的洗衣机漏水"

    database.edit_event(first, 1, rename)
    assert _named(_findings_of(database)) == {(first, 1)}


def test_a_value_written_over_an_erased_one_is_found(database: Database) -> None:
    """After erasure the chain holds the erased value's seal; a text written in place of
    ``"[erased]"`` is named (a review found it verified before)."""
    desk = Desk(database.open(), clock=FrozenClock(MONDAY_9AM))
    desk.save_customer(Customer(id="cust-1", name="张伟明"))
    first = _ticket_with_history(desk, "张伟明的洗衣机漏水")
    desk.erase_customer("cust-1")
    desk.close()

    def write_back(data: Any) -> None:
        data["changes"]["subject"] = "李秀英的洗衣机漏水"

    database.edit_event(first, 1, write_back)

    assert [(f.subject_id, f.sequence, f.problem) for f in _findings_of(database)] == [
        (first, 1, "an erased personal value was written over")
    ]


def _findings_of(database: Database) -> list[AuditFinding]:
    desk = Desk(database.open(), clock=FrozenClock(MONDAY_9AM))
    findings = list(desk.verify_audit().findings)
    desk.close()
    return findings


# ---------------------------------------------------------------------------- the key


def _overwrite(store: Store, path: Path, ticket: Ticket, events: list[Event]) -> None:
    """Write a ticket and its events over the stored ones, as someone editing the
    database directly would (no version check, no new event)."""
    if isinstance(store, MemoryStore):
        store._tickets[ticket.id] = ticket
        store._events[ticket.id] = list(events)
        return
    from aftersales.storage import _codec as codec

    connection = sqlite3.connect(path)
    with connection:
        connection.execute(
            "UPDATE tickets SET data = ? WHERE id = ?", (codec.ticket_row(ticket)[-1], ticket.id)
        )
        for event in events:
            connection.execute(
                "UPDATE events SET data = ? WHERE subject_id = ? AND sequence = ?",
                (codec.event_row(event)[-1], event.subject_id, event.sequence),
            )
    connection.close()


@pytest.mark.parametrize("make", [MemoryStore, "sqlite"])
def test_a_desk_with_its_own_key_rejects_a_chain_rebuilt_with_the_default(
    make: Any, tmp_path: Path
) -> None:
    store: Store = SQLiteStore(tmp_path / "keyed.db") if make == "sqlite" else make()
    settings = DeskSettings(audit_key=SecretStr("a secret kept outside the database"))
    desk = Desk(store, clock=FrozenClock(MONDAY_9AM), settings=settings)
    ticket_id = _ticket_with_history(desk, "洗衣机漏水")
    assert desk.verify_audit().ok
    assert not Desk(store, clock=FrozenClock(MONDAY_9AM)).verify_audit().ok  # the key matters

    # someone who can write the database and knows the library edits an event and
    # re-seals the whole chain with the library's default key
    events = store.events(ticket_id)
    forged = events[1].model_copy(update={"payload": {**events[1].payload, "severity": "low"}})
    events[1] = forged
    resealed, head = Chain(DEFAULT_AUDIT_KEY).seal(events, None)
    ticket = store.get(ticket_id).model_copy(update={"audit_chain": head})
    _overwrite(store, tmp_path / "keyed.db", ticket, resealed)
    assert Desk(store, clock=FrozenClock(MONDAY_9AM)).verify_audit().ok  # a default desk: fooled

    findings = Desk(store, clock=FrozenClock(MONDAY_9AM), settings=settings).verify_audit().findings
    assert {f.subject_id for f in findings} == {ticket_id}
    assert 1 in {f.sequence for f in findings}  # the first link already fails
    store.close()
