"""Issue 17's proof of erasure: after ``erase_customer`` none of the customer's name,
phone, e-mail, address or message text is left anywhere a store keeps data (the SQLite
file with its WAL, a ``pg_dump`` or ``mariadb-dump`` of the database, the memory store's
objects), a second customer's data is untouched, and every ticket and case still replays
to its stored state with a verifying hash chain.

PostgreSQL and MariaDB come from AFTERSALES_TEST_POSTGRES_URL and AFTERSALES_TEST_MYSQL_URL
(defaults: this machine's loopback servers), as in tests/test_sqlalchemy_store.py; without
a server or its dump tool the test skips naming what is missing (fails under CI=true).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from case_facts import claim_line, phone
from servers import unavailable

from aftersales import (
    Case,
    Channel,
    ContactPoint,
    Customer,
    CustomerNotFound,
    Desk,
    DeskSettings,
    FrozenClock,
    MemoryStore,
    Notification,
    SQLiteStore,
    StorageError,
    Store,
)
from aftersales.cases import fold_case
from test_sqlalchemy_store import server_url

MONDAY_9AM = datetime(2024, 3, 4, 9, 0, tzinfo=timezone.utc)


def _dump_tool(name: str) -> str:
    candidates = ["pg_dump"] if name == "postgresql" else ["mariadb-dump", "mysqldump"]
    for tool in candidates:
        found = shutil.which(tool)
        if found:
            return found
    unavailable(f"{' or '.join(candidates)} is not on PATH: cannot dump the {name} database")
    raise AssertionError("unreachable")  # pragma: no cover


def _dump_server(name: str, url: str) -> bytes:
    """The whole test database as its dump tool writes it (rows as SQL text)."""
    from sqlalchemy.engine import make_url

    tool = _dump_tool(name)
    parts = make_url(url)
    env = dict(os.environ)
    if name == "postgresql":
        command = [tool, "-h", parts.host or "127.0.0.1", "-p", str(parts.port or 5432)]
        command += ["-U", parts.username or "postgres", "--no-password", parts.database or ""]
        if parts.password:
            env["PGPASSWORD"] = str(parts.password)
    else:
        command = [tool, "--protocol=tcp", "-h", parts.host or "127.0.0.1"]
        command += ["-P", str(parts.port or 3306), "-u", parts.username or "root"]
        if parts.password:
            command.append(f"--password={parts.password}")
        command.append(parts.database or "")
    done = subprocess.run(command, capture_output=True, env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout


def _fresh_sql_store(url: str) -> Store:
    from sqlalchemy import create_engine

    from aftersales.storage.sqlalchemy import SQLAlchemyStore, metadata

    engine = create_engine(url)
    metadata.drop_all(engine)
    engine.dispose()
    return SQLAlchemyStore(url)


def _strings(root: object) -> Iterator[str]:
    """Every text (and decoded bytes) reachable from ``root`` through containers, models
    and object attributes: what a memory store or a desk's caches hold. Functions are
    not entered (a hook's code is the test's, not stored data)."""
    seen: set[int] = set()
    stack: list[object] = [root]
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, str):
            yield item
        elif isinstance(item, bytes | bytearray):
            yield bytes(item).decode("utf-8", errors="replace")
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend(item)
        elif isinstance(item, type) or callable(item):
            continue
        else:
            stack.extend(getattr(item, "__dict__", {}).values())
            for slot in getattr(type(item), "__slots__", ()):
                stack.append(getattr(item, slot, None))


@dataclass
class Backend:
    """A store to run the desk on and a way to read back all it holds as bytes."""

    name: str
    make: Callable[[], Store]
    dump: Callable[[Desk], bytes]
    reopen: Callable[[], Store] = MemoryStore
    made: list[Store] = field(default_factory=list)

    def store(self) -> Store:
        store = self.make()
        self.made.append(store)
        return store

    def store_again(self) -> Store:
        """The same database opened anew (not emptied)."""
        store = self.reopen()
        self.made.append(store)
        return store


def _memory_dump(desk: Desk) -> bytes:
    return "\n".join(_strings(desk)).encode()


@pytest.fixture(params=["memory", "sqlite", "postgresql", "mariadb"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    yield from _backend(request.param, tmp_path)


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def durable_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """A backend whose store outlives its desk (not the memory store)."""
    yield from _backend(request.param, tmp_path)


def _backend(name: str, tmp_path: Path) -> Iterator[Backend]:
    if name == "memory":
        made = Backend(name, MemoryStore, _memory_dump)
    elif name == "sqlite":
        path = tmp_path / "desk.db"

        def sqlite_dump(desk: Desk) -> bytes:
            desk.close()
            files = [path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")]
            return b"".join(f.read_bytes() for f in files if f.exists())

        made = Backend(name, lambda: SQLiteStore(path), sqlite_dump, lambda: SQLiteStore(path))
    else:
        url = server_url(name)
        _dump_tool(name)

        def server_dump(desk: Desk) -> bytes:
            desk.close()
            return _dump_server(name, url)

        from aftersales.storage.sqlalchemy import SQLAlchemyStore

        made = Backend(
            name, lambda: _fresh_sql_store(url), server_dump, lambda: SQLAlchemyStore(url)
        )
    yield made
    for store in made.made:
        store.close()


# ---------------------------------------------------------------------------- people


@dataclass(frozen=True)
class Person:
    """A customer and the personal values the scenario writes for them."""

    id: str
    name: str
    phone: str
    mobile: str  # the same number as people type it in free text
    email: str
    address: str
    story: str  # message text that identifies them

    def customer(self) -> Customer:
        return Customer(
            id=self.id,
            name=self.name,
            contacts=(
                ContactPoint(channel=Channel.PHONE, address=self.phone),
                ContactPoint(channel=Channel.EMAIL, address=self.email),
            ),
        )

    def needles(self) -> dict[str, str]:
        return {
            "name": self.name,
            "phone": self.phone,
            "mobile": self.mobile,
            "email": self.email,
            "address": self.address,
            "message": self.story,
        }


FIRST = Person(
    id="cust-zhang",
    name="张伟明",
    phone="+86 139 1234 5678",
    mobile="13912345678",
    email="zhang.weiming@example.com",
    address="上海市浦东新区张江路1001弄5号",
    story="漏水把楼下邻居家的天花板泡坏了",
)
SECOND = Person(
    id="cust-li",
    name="李秀英",
    phone="+86 137 5555 6666",
    mobile="13755556666",
    email="li.xiuying@example.org",
    address="北京市朝阳区建国路88号",
    story="冰箱不制冷已经三天了",
)


def _forms(text: str) -> list[bytes]:
    """The byte forms a stored text can take: UTF-8, and JSON with non-ASCII escaped."""
    return [text.encode(), json.dumps(text).strip('"').encode()]


def _found(data: bytes, text: str) -> bool:
    return any(form in data for form in _forms(text))


@dataclass
class Lived:
    """The ids of what one customer's after-sales history made."""

    ticket: str
    cases: list[str]


def _live_through(desk: Desk, person: Person) -> Lived:
    """One customer's ticket with every place personal data goes: the customer with
    contact points, a subject naming them, a description and messages with their
    phone and address, a refused return with a reason, a complaint, a resolution."""
    desk.save_customer(person.customer())
    ticket = desk.open_ticket(
        customer=person.id,
        channel=Channel.PHONE,
        subject=f"{person.name}的洗衣机漏水",
        description=f"地址：{person.address}，电话{person.mobile}",
    )
    desk.classify(ticket.id, category="repair_warranty", severity="high")
    desk.assign(ticket.id, assignee="agent-1")
    desk.add_message(
        ticket.id,
        f"{person.story}。请上门到{person.address}，电话 {person.mobile}，邮件 {person.email}",
        author_id=person.id,
        author_role="customer",
    )
    desk.fire(ticket.id, "start")
    late = claim_line(claim_at="2024-03-20T10:00:00+08:00")
    refused = desk.cases.request_return(ticket.id, order_id="o-1", lines=[late], decide_now=False)
    desk.cases.fire(
        refused.id, "refuse", payload={"reason": f"{person.name}已搬离{person.address}"}
    )
    complaint = desk.cases.open_complaint(
        ticket.id, summary=f"{person.name}（{person.mobile}）投诉维修员态度差"
    )
    desk.cases.fire(complaint.id, "acknowledge", actor="agent-1")
    desk.resolve(ticket.id, resolution=f"已给{person.name}换了排水泵")
    return Lived(ticket.id, [refused.id, complaint.id])


def _subscribe(desk: Desk) -> list[Notification]:
    """Hooks so outbox rows hold the events; one fails with the customer's e-mail in its
    error, so outbox.last_error holds personal data too."""
    heard: list[Notification] = []
    desk.on_transition(heard.append, name="audit.copy")
    desk.on_message(heard.append, name="audit.messages")

    def mail_the_customer(notification: Notification) -> None:
        event = notification.event
        if event.subject_kind != "ticket":
            return
        customer = desk.get_customer(desk.get(event.subject_id).customer_id)
        raise ConnectionError(f"mail to {customer.address_on(Channel.EMAIL)} bounced")

    desk.on_transition(mail_the_customer, "created", name="mail.customer")
    return heard


def _shape(desk: Desk, lived: list[Lived]) -> list[tuple[str, str, int]]:
    """Ids, states and versions of every ticket and case (what erasure must keep)."""
    shape = []
    for one in lived:
        ticket = desk.get(one.ticket)
        shape.append((ticket.id, ticket.status, ticket.version))
        for case_id in one.cases:
            case = desk.cases.get(case_id)
            shape.append((case.id, case.status, case.version))
    return shape


def _assert_consistent(desk: Desk, lived: list[Lived]) -> None:
    for one in lived:
        assert desk.replay(one.ticket) == desk.get(one.ticket)
        for case_id in one.cases:
            stored: Case = desk.cases.get(case_id)
            assert fold_case(desk.cases.history(case_id)) == stored
            assert desk.cases.replay(case_id) == stored
    report = desk.verify_audit()
    assert report.ok, report.findings
    assert report.subjects == 3 * len(lived)


# ---------------------------------------------------------------------------- erasure


def test_erasure_leaves_none_of_the_customers_data_and_all_of_anothers(
    backend: Backend,
) -> None:
    desk = Desk(backend.store(), clock=FrozenClock(MONDAY_9AM))
    _subscribe(desk)
    first = _live_through(desk, FIRST)
    second = _live_through(desk, SECOND)
    failed = {n.event.subject_id: n.last_error for n in desk.outbox("pending")}
    assert FIRST.email in (failed[first.ticket] or "")  # the scenario stores it there
    shape = _shape(desk, [first, second])

    report = desk.erase_customer(FIRST.id)

    counts = (report.customer, report.tickets, report.cases, report.messages)
    assert counts == (True, 1, 2, 1)
    assert report.events > 0
    assert report.outbox > 0
    # the same ids and states; each of the first customer's subjects one version on, its
    # last event recording the erasure (so no copy read before can write the data back)
    erased_ids = {first.ticket, *first.cases}
    assert _shape(desk, [first, second]) == [
        (subject_id, status, version + (subject_id in erased_ids))
        for subject_id, status, version in shape
    ]
    assert desk.history(first.ticket)[-1].trigger == "personal_data_erased"
    assert desk.history(second.ticket)[-1].trigger != "personal_data_erased"
    _assert_consistent(desk, [first, second])
    erased = desk.get(first.ticket)
    assert (erased.subject, erased.description, erased.resolution) == ("[erased]",) * 3
    assert [m.body for m in desk.messages(first.ticket)] == ["[erased]"]
    assert desk.get_customer(FIRST.id).name == "[erased]"
    assert desk.find_customer(Channel.EMAIL, FIRST.email) is None
    assert desk.find_customer(Channel.EMAIL, SECOND.email) == desk.get_customer(SECOND.id)
    assert desk.get(second.ticket).subject == f"{SECOND.name}的洗衣机漏水"
    [entry] = [e for e in desk.security_log() if e.kind == "erased"]
    assert entry.customer_id == FIRST.id
    logged = entry.model_dump_json().encode()
    assert not [k for k, v in FIRST.needles().items() if _found(logged, v)]

    stored = backend.dump(desk)
    left = [kind for kind, value in FIRST.needles().items() if _found(stored, value)]
    assert left == [], f"{backend.name} still holds the erased customer's {left}"
    kept = [kind for kind, value in SECOND.needles().items() if _found(stored, value)]
    assert kept == list(SECOND.needles()), f"{backend.name} lost the other customer's data"


def test_an_erased_desk_reopened_from_its_store_still_replays_and_verifies(
    durable_backend: Backend,
) -> None:
    backend = durable_backend
    desk = Desk(backend.store(), clock=FrozenClock(MONDAY_9AM))
    _subscribe(desk)
    first = _live_through(desk, FIRST)
    second = _live_through(desk, SECOND)
    desk.erase_customer(FIRST.id)
    shape = _shape(desk, [first, second])
    desk.close()
    reopened = Desk(backend.store_again(), clock=FrozenClock(MONDAY_9AM))
    assert _shape(reopened, [first, second]) == shape
    _assert_consistent(reopened, [first, second])
    assert [
        n.last_error for n in reopened.outbox("pending") if FIRST.email in (n.last_error or "")
    ] == []


def test_export_returns_the_customers_data_as_json_and_is_logged(backend: Backend) -> None:
    desk = Desk(backend.store(), clock=FrozenClock(MONDAY_9AM))
    _subscribe(desk)
    first = _live_through(desk, FIRST)
    second = _live_through(desk, SECOND)
    desk.erase_customer(FIRST.id)

    export = desk.export_customer(SECOND.id, actor="dpo-1")

    text = json.dumps(export, ensure_ascii=False)
    assert set(export) == {"customer", "tickets", "cases", "messages_on_other_tickets"}
    assert export["customer"]["name"] == SECOND.name
    assert {c["address"] for c in export["customer"]["contacts"]} == {SECOND.phone, SECOND.email}
    [ticket] = export["tickets"]
    assert ticket["id"] == second.ticket
    [message] = ticket["messages"]
    assert message["body"].startswith(SECOND.story)
    assert [e["sequence"] for e in ticket["events"]] == list(
        range(1, desk.get(second.ticket).version + 1)
    )
    assert {c["id"] for c in export["cases"]} == set(second.cases)
    assert all(c["events"] for c in export["cases"])
    assert all(_found(text.encode(), value) for value in SECOND.needles().values())
    assert first.ticket not in text
    exported = [e for e in desk.security_log() if e.kind == "exported"]
    assert [(e.principal, e.customer_id) for e in exported] == [("dpo-1", SECOND.id)]
    assert SECOND.name not in exported[0].model_dump_json()

    erased_export = json.dumps(desk.export_customer(FIRST.id), ensure_ascii=False).encode()
    assert [k for k, v in FIRST.needles().items() if _found(erased_export, v)] == []
    with pytest.raises(CustomerNotFound):
        desk.export_customer("cust-nobody")


def test_erasing_twice_is_harmless_and_an_unknown_customer_is_refused(
    backend: Backend,
) -> None:
    desk = Desk(backend.store(), clock=FrozenClock(MONDAY_9AM))
    _subscribe(desk)
    first = _live_through(desk, FIRST)
    second = _live_through(desk, SECOND)
    desk.erase_customer(FIRST.id)
    tickets = [desk.get(first.ticket), desk.get(second.ticket)]
    log = desk.security_log()

    desk.erase_customer(FIRST.id)

    assert [desk.get(first.ticket), desk.get(second.ticket)] == tickets
    assert [m.body for m in desk.messages(first.ticket)] == ["[erased]"]
    _assert_consistent(desk, [first, second])
    with pytest.raises(CustomerNotFound):
        desk.erase_customer("cust-nobody")
    assert [e.kind for e in desk.security_log()] == [e.kind for e in log] + ["erased"]
    assert [desk.get(first.ticket), desk.get(second.ticket)] == tickets


def test_a_second_erasure_reports_nothing_rewritten(backend: Backend) -> None:
    """The report says what was rewritten: on a customer already erased, nothing (a data
    protection officer reads a non-zero count as personal data that was still there)."""
    desk = Desk(backend.store(), clock=FrozenClock(MONDAY_9AM))
    _live_through(desk, FIRST)
    desk.erase_customer(FIRST.id)

    again = desk.erase_customer(FIRST.id)

    assert (again.tickets, again.cases, again.messages, again.events) == (0, 0, 0, 0)


def _book_visit(desk: Desk, ticket_id: str) -> Case:
    """An on-site visit to the first customer's address, the day after the clock."""
    return desk.cases.open(
        "visit",
        ticket_id,
        address=FIRST.address,
        window_start=MONDAY_9AM + timedelta(days=1),
        window_end=MONDAY_9AM + timedelta(days=1, hours=3),
    )


def test_a_visit_address_is_erased_with_its_customer(backend: Backend) -> None:
    """A visit case keeps the address of the visit (``details.address``): personal data
    of the customer like a return's logistics address."""
    desk = Desk(backend.store(), clock=FrozenClock(MONDAY_9AM))
    desk.save_customer(FIRST.customer())
    ticket = desk.open_ticket(customer=FIRST.id, channel="phone", subject="上门安装洗衣机")
    visit = _book_visit(desk, ticket.id)

    desk.erase_customer(FIRST.id)

    assert desk.cases.replay(visit.id) == desk.cases.get(visit.id)
    assert desk.verify_audit().ok
    stored = backend.dump(desk)
    assert not _found(stored, FIRST.address), f"{backend.name} keeps the visit's address"


def test_personal_fields_declared_for_a_shipped_case_kind_are_erased() -> None:
    """A desk may declare more personal fields for one case kind (``{"repair": [...]}``);
    erasure honours them for the shipped kinds as for registered ones."""
    desk = Desk(
        clock=FrozenClock(MONDAY_9AM),
        personal_fields={"repair": ["repair.serial"], "visit": ["details.address"]},
    )
    desk.save_customer(FIRST.customer())
    ticket = desk.open_ticket(customer=FIRST.id, channel="phone", subject="手机坏了")
    repair = desk.cases.open_repair(ticket.id, serial="IMEI-861234567890123", line=phone())
    visit = _book_visit(desk, ticket.id)

    desk.erase_customer(FIRST.id)

    details = desk.cases.get(visit.id).details
    assert details is not None
    assert details.model_dump()["address"] == "[erased]"  # a registered kind: honoured
    erased = desk.cases.get(repair.id).repair
    assert erased is not None
    assert erased.serial == "[erased]"  # a shipped kind (CaseKind.REPAIR)
    assert desk.cases.replay(repair.id) == desk.cases.get(repair.id)


# ---------------------------------------------------------------------------- retention


def _closed_ticket(desk: Desk, person: Person) -> str:
    ticket = desk.open_ticket(
        customer=person.id,
        channel="phone",
        subject=f"{person.name}的冰箱",
        description=person.address,
    )
    desk.add_message(ticket.id, person.story, author_id=person.id, author_role="customer")
    desk.classify(ticket.id, category="repair_warranty", severity="low")
    desk.assign(ticket.id, assignee="agent-1")
    desk.fire(ticket.id, "start")
    desk.resolve(ticket.id, resolution="换了压缩机")
    desk.fire(ticket.id, "confirm")
    desk.fire(ticket.id, "close")
    return ticket.id


def test_retention_erases_tickets_closed_longer_ago_than_the_setting_once(
    backend: Backend,
) -> None:
    clock = FrozenClock(MONDAY_9AM)
    desk = Desk(backend.store(), clock=clock, settings=DeskSettings(retention_days=30))
    desk.save_customer(FIRST.customer())
    desk.save_customer(SECOND.customer())
    old = _closed_ticket(desk, FIRST)
    clock.advance(timedelta(days=21))
    recent = _closed_ticket(desk, SECOND)
    clock.advance(timedelta(days=10))  # old: closed 31 days ago; recent: 10

    due = desk.run_due()

    assert due.erased == (old,)
    assert desk.get(old).subject == "[erased]"
    assert [m.body for m in desk.messages(old)] == ["[erased]"]
    assert desk.get(recent).subject == f"{SECOND.name}的冰箱"
    assert [m.body for m in desk.messages(recent)] == [SECOND.story]
    assert desk.replay(old) == desk.get(old)
    assert desk.verify_audit().ok
    assert [e.subject_id for e in desk.security_log() if e.kind == "retention"] == [old]
    assert desk.run_due().erased == ()
    assert [e.subject_id for e in desk.security_log() if e.kind == "retention"] == [old]
    clock.advance(timedelta(days=21))  # now the recent one is 31 days closed too
    assert desk.run_due().erased == (recent,)


def test_retention_reads_a_bounded_share_of_closed_tickets_a_pass_and_goes_on_from_there(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aftersales.compliance import _desk

    clock = FrozenClock(MONDAY_9AM)
    desk = Desk(backend.store(), clock=clock, settings=DeskSettings(retention_days=30))
    desk.save_customer(FIRST.customer())
    old = [_closed_ticket(desk, FIRST) for _ in range(5)]
    clock.advance(timedelta(days=25))
    recent = _closed_ticket(desk, FIRST)  # created 25 days after the others
    clock.advance(timedelta(days=10))  # the five closed 35 days ago, the recent one 10
    monkeypatch.setattr(_desk, "_RETENTION_SCAN", 2)
    read: list[int] = []
    find = desk.store.find

    def counted(query: Any) -> Any:
        found = find(query)
        if query.status_category == "closed":
            read.append(len(found))
        return found

    monkeypatch.setattr(desk.store, "find", counted)
    passes = [desk.run_due().erased for _ in range(4)]
    # two tickets a pass; the third reached the end, so the fourth read the first two again
    assert passes == [tuple(old[:2]), tuple(old[2:4]), (old[4],), ()]
    clock.advance(timedelta(days=21))  # the recent one is past its retention too
    # going on from there: old 2-3, then old 4 and the recent one, then from the oldest
    assert [desk.run_due().erased for _ in range(3)] == [(), (recent,), ()]
    assert [desk.get(t).subject for t in (*old, recent)] == ["[erased]"] * 6
    assert max(read) <= 2  # a pass reads its share of the closed tickets


def test_retention_starts_from_the_oldest_when_its_saved_place_is_no_cursor(
    backend: Backend,
) -> None:
    clock = FrozenClock(MONDAY_9AM)
    desk = Desk(backend.store(), clock=clock, settings=DeskSettings(retention_days=30))
    desk.save_customer(FIRST.customer())
    old = _closed_ticket(desk, FIRST)
    clock.advance(timedelta(days=31))
    desk.store.set_state("retention-cursor", "not a cursor")
    assert desk.run_due().erased == (old,)  # and the outbox was dispatched as always


def test_a_ticket_whose_erasure_fails_does_not_hold_up_the_others(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FrozenClock(MONDAY_9AM)
    desk = Desk(backend.store(), clock=clock, settings=DeskSettings(retention_days=30))
    desk.save_customer(FIRST.customer())
    first, second = _closed_ticket(desk, FIRST), _closed_ticket(desk, FIRST)
    clock.advance(timedelta(days=31))
    rewrite = desk._rewrite
    failing = {first}

    def flaky(tickets: Any, *rest: Any) -> Any:
        if tickets[0].id in failing:
            raise StorageError("disk full")
        return rewrite(tickets, *rest)

    monkeypatch.setattr(desk, "_rewrite", flaky)
    with pytest.raises(StorageError):
        desk.run_due()
    assert desk.run_due().erased == (second,)  # the pass went on past the failed one
    failing.clear()
    assert desk.run_due().erased == (first,)  # and came round to it again


def test_every_case_of_the_customer_is_erased_however_many_pages_they_fill(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from aftersales.compliance import erasure

    monkeypatch.setattr(erasure, "_CASE_PAGE", 2)  # three visits: two pages
    desk = Desk(clock=FrozenClock(MONDAY_9AM))
    desk.save_customer(FIRST.customer())
    ticket = desk.open_ticket(customer=FIRST.id, channel="phone", subject="上门安装洗衣机")
    visits = [_book_visit(desk, ticket.id) for _ in range(3)]

    report = desk.erase_customer(FIRST.id)

    assert report.cases == 3
    for visit in visits:
        assert FIRST.address not in desk.cases.get(visit.id).model_dump_json()
