"""Several shops in one database: a desk of one tenant never reads, finds, counts,
reports or dispatches another tenant's rows.

The property test runs random interleavings of three desks (the default tenant and two
named ones) on one database, and the same operations of each on a private database of its
own (the tenant's model). After every step each shared desk must answer exactly as its
model does: gets, finds with every filter, counts, events, messages, customers (the
tenants share customer ids and addresses), the outbox and its claims, due tickets, the
ticket and case reports, and dispatch. Ticket ids are random, so tickets are compared by
number, which each tenant counts from #1.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from case_facts import claim_line
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aftersales import (
    AftersalesError,
    CaseQuery,
    Channel,
    ContactPoint,
    Customer,
    Desk,
    FrozenClock,
    InvalidInput,
    MemoryStore,
    SQLiteStore,
    TicketNotFound,
    TicketQuery,
)
from aftersales.insights import CaseReportQuery, ReportQuery, case_metrics, ticket_metrics
from aftersales.storage._codec import SCHEMA_VERSION
from aftersales.storage.recorder import RecordStore
from test_sqlalchemy_store import server_url

sa = pytest.importorskip("sqlalchemy", reason='needs the sql extra: pip install "aftersales[sql]"')

from aftersales.storage.sqlalchemy import (  # noqa: E402
    SQLAlchemyStore,
    enable_row_level_security,
    metadata,
    row_level_security_statements,
)

START = datetime(2024, 3, 4, 9, tzinfo=timezone.utc)
TENANTS = ("", "shop-a", "shop-b")
CUSTOMERS = ("c1", "c2")


def postgres_url() -> str:
    return server_url("postgresql")


def drop_tables(url: str) -> None:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    metadata.drop_all(engine)
    engine.dispose()


# ------------------------------------------------------------------ the operations

Op = tuple[str, int, int]
"""(what, which tenant, a number the operation picks its ticket, customer or text by)."""

OPS = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "open",
                "open",
                "customer",
                "customer",
                "assign",
                "resolve",
                "message",
                "return",
                "import",
                "dispatch",
                "wait",
            ]
        ),
        st.integers(0, len(TENANTS) - 1),
        st.integers(0, 5),
    ),
    min_size=1,
    max_size=10,
)


def _nth(desk: Desk, pick: int) -> str | None:
    """The id of the desk's ticket numbered ``pick`` (modulo how many there are)."""
    tickets = desk.find(TicketQuery(limit=1000))
    if not tickets:
        return None
    return tickets[pick % len(tickets)].id


def apply(desk: Desk, clock: FrozenClock, what: str, pick: int) -> object:
    """One operation on one desk; what it answered (or the error's type)."""
    try:
        if what == "open":
            customer = CUSTOMERS[pick % len(CUSTOMERS)]
            channel = ("email", "phone")[pick % 2]
            return desk.open_ticket(customer=customer, channel=channel, subject=f"s{pick}").number
        if what == "customer":
            # the tenants give their customers the same ids and the same addresses (one
            # address may be another customer's in another tenant)
            customer_id = (*CUSTOMERS, "c3")[pick % 3]
            return desk.save_customer(
                Customer(
                    id=customer_id,
                    name=f"name {pick}",
                    contacts=(ContactPoint(channel=Channel.EMAIL, address=_address(pick)),),
                )
            ).name
        if what == "import":
            return desk.import_tickets(
                [
                    {
                        "number": 100 + pick,  # the same numbers in every tenant
                        "customer_id": CUSTOMERS[0],
                        "channel": "email",
                        "subject": "imported",
                        "status": "new",
                        "status_category": "new",
                        "created_at": clock.now() - timedelta(days=1),
                        "updated_at": clock.now() - timedelta(days=1),
                    }
                ]
            )
        if what == "dispatch":
            report = desk.dispatch_outbox(clock.now() + timedelta(hours=1))
            return (report.delivered, report.failed)
        if what == "wait":
            return None  # the clock moves for every desk: see run
        ticket_id = _nth(desk, pick)
        if ticket_id is None:
            return None
        if what == "assign":
            return desk.assign(ticket_id, assignee=f"agent-{pick % 2}").version
        if what == "resolve":
            return desk.resolve(ticket_id, resolution="fixed").status
        if what == "message":
            return desk.add_message(ticket_id, f"body {pick}", author_id=CUSTOMERS[0]).body
        if what == "return":
            lines = [claim_line(bought=3, claimed=1)]
            return desk.cases.request_return(ticket_id, order_id=f"o{pick}", lines=lines).status
    except AftersalesError as error:
        return type(error).__name__
    raise AssertionError(what)


# ------------------------------------------------------------------ what a desk sees


def _ticket(ticket: Any) -> tuple[Any, ...]:
    return (
        ticket.number,
        ticket.subject,
        ticket.status,
        ticket.customer_id,
        ticket.channel,
        ticket.assignee,
        ticket.version,
        ticket.created_at,
        ticket.due_at,
    )


def seen(desk: Desk, clock: FrozenClock) -> dict[str, Any]:
    """Everything a desk answers about its tenant, ids left out (they are random)."""
    store = desk.store
    found = store.find(TicketQuery(limit=1000))
    number = {ticket.id: ticket.number for ticket in found}
    filters: list[dict[str, Any]] = [
        {"customer_id": "c1"},
        {"customer_id": "c2"},
        {"status": "new"},
        {"status": "resolved"},
        {"assignee": "agent-0"},
        {"channel": Channel.PHONE},
    ]
    period = {"created_from": START - timedelta(days=3), "created_to": START + timedelta(days=3)}
    return {
        "tickets": [_ticket(t) for t in found],
        "by number": [_ticket(store.get_by_number(t.number)) for t in found],
        "finds": [[t.number for t in store.find(TicketQuery(**f, limit=100))] for f in filters],
        "counts": [store.count(TicketQuery(**f, limit=1000)) for f in filters],
        "loads": [
            store.count(TicketQuery(assignee=a, status_category="open", limit=2))
            for a in ("agent-0", "agent-1")
        ],
        "period": [t.number for t in store.find(TicketQuery(**period, limit=100))],
        "events": [
            [(e.sequence, e.trigger, e.to_state) for e in store.events(t.id)] for t in found
        ],
        "messages": [[m.body for m in store.messages(t.id)] for t in found],
        "customers": [
            (
                _customer(store, customer_id),
                _name(store.find_customer(Channel.EMAIL, _address(pick))),
            )
            for pick, customer_id in enumerate((*CUSTOMERS, "c3"))
        ],
        "outbox": sorted(
            (n.handler, n.status.value, number.get(n.event.subject_id), n.event.sequence)
            for n in store.outbox()
        ),
        "due": [t.number for t in store.due(clock.now() + timedelta(days=30), 100)],
        "cases": sorted(
            (c.kind, c.status, number.get(c.ticket_id))
            for t in found
            for c in store.find_cases(CaseQuery(ticket_id=t.id))
        ),
        "report": ticket_metrics(store, ReportQuery(**period)),
        "case report": case_metrics(
            store,
            CaseReportQuery(period_from=period["created_from"], period_to=period["created_to"]),
        ),
    }


def _address(pick: int) -> str:
    return f"addr{pick % 2}@example.com"


def _customer(store: Any, customer_id: str) -> str | None:
    try:
        return str(store.get_customer(customer_id).name)
    except AftersalesError:
        return None


def _name(customer: Customer | None) -> str | None:
    return None if customer is None else customer.name


# ------------------------------------------------------------------ the property


def desks(store: RecordStore | MemoryStore, clock: FrozenClock) -> tuple[list[Desk], list[Desk]]:
    """A desk per tenant on ``store``'s database and one on a database of its own, each
    with a subscriber the outbox keeps rows for."""
    shared = [Desk(store.for_tenant(tenant), clock=clock) for tenant in TENANTS]
    models = [Desk(SQLiteStore(":memory:"), clock=clock) for _ in TENANTS]
    for desk in (*shared, *models):
        desk.subscribe(lambda _event: None, name="mailer", inline=False, messages=True)
    return shared, models


def run(store: RecordStore | MemoryStore, ops: list[Op]) -> None:
    clock = FrozenClock(START)
    shared, models = desks(store, clock)
    try:
        for what, tenant, pick in ops:
            if what == "wait":
                clock.advance(hours=pick + 1)
            answered = apply(shared[tenant], clock, what, pick)
            assert answered == apply(models[tenant], clock, what, pick), (what, tenant)
            for desk, model in zip(shared, models, strict=True):
                assert seen(desk, clock) == seen(model, clock)
        # and no id of another tenant's is found
        ids = [{t.id for t in d.store.find(TicketQuery(limit=1000))} for d in shared]
        for tenant, desk in enumerate(shared):
            others = set().union(*ids) - ids[tenant]
            for other in others:
                with pytest.raises(TicketNotFound):
                    desk.store.get(other)
                assert desk.store.events(other) == []
                assert desk.store.messages(other) == []
    finally:
        for model in models:
            model.store.close()


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(ops=OPS)
def test_desks_of_different_tenants_on_one_sqlite_file_see_only_their_own(
    ops: list[Op],
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        store = SQLiteStore(Path(folder) / "shops.db")
        try:
            run(store, ops)
        finally:
            store.close()


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(ops=OPS)
def test_desks_of_different_tenants_of_one_memory_store_see_only_their_own(
    ops: list[Op],
) -> None:
    run(MemoryStore(), ops)


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    url = postgres_url()
    yield url
    drop_tables(url)


def test_desks_of_different_tenants_on_one_postgresql_database_see_only_their_own(
    pg_url: str,
) -> None:
    @settings(
        max_examples=6,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(ops=OPS)
    def interleavings(ops: list[Op]) -> None:
        drop_tables(pg_url)
        store = SQLAlchemyStore(pg_url)
        try:
            run(store, ops)
        finally:
            store.close()

    interleavings()


# ------------------------------------------------------------------ numbering, ids, keys


def test_each_tenant_numbers_its_tickets_from_one(tmp_path: Path) -> None:
    clock = FrozenClock(START)
    with SQLiteStore(tmp_path / "shops.db", tenant="shop-a") as store:
        a = Desk(store, clock=clock)
        b = Desk(store.for_tenant("shop-b"), clock=clock)
        assert [a.open_ticket(customer="c", channel="email", subject="x").number] == [1]
        assert a.open_ticket(customer="c", channel="email", subject="y").number == 2
        assert b.open_ticket(customer="c", channel="email", subject="z").number == 1
        assert a.open_ticket(customer="c", channel="email", subject="w").number == 3
        assert [t.subject for t in b.find()] == ["z"]
        assert a.get(1).subject == "x"
        assert b.get(1).subject == "z"


def test_tenants_import_tickets_with_the_same_numbers(tmp_path: Path) -> None:
    clock = FrozenClock(START)
    record = {
        "number": 100,
        "customer_id": "c",
        "channel": "email",
        "status": "new",
        "status_category": "new",
        "created_at": START,
        "updated_at": START,
    }
    with SQLiteStore(tmp_path / "shops.db") as store:
        for tenant in TENANTS:
            desk = Desk(store.for_tenant(tenant), clock=clock)
            assert desk.import_tickets([{**record, "subject": tenant or "default"}]) == 1
            assert desk.get(100).subject == (tenant or "default")
            # the counter moved past the imported number, for this tenant only
            assert desk.open_ticket(customer="c", channel="email", subject="next").number > 100
        with pytest.raises(InvalidInput):  # a number is unique within its tenant
            Desk(store, clock=clock).import_tickets([{**record, "subject": "again"}])


def test_an_id_another_tenant_has_is_taken_and_tells_nothing_else(tmp_path: Path) -> None:
    clock = FrozenClock(START)
    with SQLiteStore(tmp_path / "shops.db", tenant="shop-a") as store:
        a = Desk(store, clock=clock)
        b = Desk(store.for_tenant("shop-b"), clock=clock)
        ticket = a.open_ticket(customer="c", channel="email", subject="secret")
        copy = ticket.model_copy(update={"number": 7, "subject": "mine"})
        with pytest.raises(InvalidInput) as raised:
            b.import_tickets([copy])
        assert "id_taken" in str(raised.value.errors[0].kind)
        assert "secret" not in str(raised.value)
        assert b.find() == []
        assert a.get(ticket.id) == ticket


def test_a_memory_stores_tenants_number_from_one_and_share_no_id() -> None:
    clock = FrozenClock(START)
    store = MemoryStore(tenant="shop-a")
    other = store.for_tenant("shop-b")
    assert (store.tenant, other.tenant) == ("shop-a", "shop-b")
    assert store.for_tenant("shop-b") is other
    assert other.for_tenant("shop-a") is store
    a, b = Desk(store, clock=clock), Desk(other, clock=clock)
    ticket = a.open_ticket(customer="c", channel="email", subject="secret")
    assert b.open_ticket(customer="c", channel="email", subject="mine").number == 1
    with pytest.raises(InvalidInput) as raised:  # the id is shop-a's ticket's
        b.import_tickets([ticket.model_copy(update={"number": 7})])
    assert raised.value.errors[0].kind == "id_taken"
    assert "secret" not in str(raised.value)
    with pytest.raises(TicketNotFound):
        b.get(ticket.id)
    assert [t.subject for t in b.find()] == ["mine"]
    other.close()
    assert a.get(ticket.id) == ticket  # closing a tenant's store released nothing


@pytest.mark.parametrize("tenant", ["a" * 65, "shop a", 7, None])
def test_a_memory_store_refuses_a_bad_tenant(tenant: Any) -> None:
    store = MemoryStore()
    with pytest.raises(InvalidInput) as raised:
        store.for_tenant(tenant)
    assert raised.value.errors[0].location == ("tenant",)
    with pytest.raises(InvalidInput):
        MemoryStore(tenant=tenant)
    assert list(store._tenants) == [""]


def test_for_tenant_shares_the_connection_and_closing_it_closes_nothing(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "shops.db")
    other = store.for_tenant("shop-b")
    assert (store.tenant, other.tenant) == ("", "shop-b")
    assert other._conn is store._conn
    other.close()
    assert store.find(TicketQuery()) == []  # still open
    store.close()


@pytest.mark.parametrize(
    "tenant",
    ["a" * 65, "shop a", "-shop", "shop/a", "ünï", 7, None, b"shop"],
    ids=["too long", "space", "dash first", "slash", "non-ascii", "int", "none", "bytes"],
)
def test_a_bad_tenant_is_refused_and_changes_nothing(tmp_path: Path, tenant: Any) -> None:
    path = tmp_path / "shops.db"
    with SQLiteStore(path) as store:
        Desk(store, clock=FrozenClock(START)).open_ticket(
            customer="c", channel="email", subject="x"
        )
        with pytest.raises(InvalidInput) as raised:
            store.for_tenant(tenant)
        assert raised.value.errors[0].location == ("tenant",)
    with pytest.raises(InvalidInput):
        SQLiteStore(path, tenant=tenant)
    with pytest.raises(InvalidInput):
        SQLAlchemyStore(f"sqlite:///{path}", tenant=tenant)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT tenant, number FROM tickets").fetchall() == [("", 1)]
    conn.close()


def test_row_level_security_is_refused_off_postgresql(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput):
        SQLAlchemyStore(f"sqlite:///{tmp_path / 'x.db'}", row_level_security=True)


# ------------------------------------------------------------------ upgrading


def test_a_database_from_before_tenants_upgrades_with_every_row_in_the_default_tenant(
    tmp_path: Path,
) -> None:
    from aftersales.storage._schema import INDEXES, TABLES, TENANT
    from aftersales.storage._schema_versions import added_later
    from aftersales.storage._sqlite.statements import _rekey

    path = tmp_path / "old.db"
    clock = FrozenClock(START)
    with SQLiteStore(path) as store:
        desk = Desk(store, clock=clock)
        desk.save_customer(
            Customer(
                id="c1",
                name="Ann",
                contacts=(ContactPoint(channel=Channel.EMAIL, address="ann@example.com"),),
            )
        )
        first = desk.open_ticket(customer="c1", channel="email", subject="before")
        desk.add_message(first.id, "hello", author_id="c1")
        store.set_state("cursor", "7")
    # the database as the version before tenants (11) made it
    version = 10
    columns, _ = added_later(version)
    conn = sqlite3.connect(path, isolation_level=None)
    for index in INDEXES:
        conn.execute(f"DROP INDEX IF EXISTS {index.name}")
    rekeyed = [t.name for t in TABLES if TENANT in t.primary_key or t.unique]
    for table in rekeyed:
        _rekey(conn, table, version)
    for table, column in sorted(columns):
        if table not in rekeyed:
            conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    conn.execute(f"PRAGMA user_version={version}")
    assert "tenant" not in {row[1] for row in conn.execute("PRAGMA table_info(tickets)")}
    conn.close()

    with SQLiteStore(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        desk = Desk(store, clock=clock)
        assert desk.get(1).subject == "before"
        assert desk.find_customer("email", "ann@example.com") is not None
        assert store.get_state("cursor") == "7"
        # the counter carried on (a desk reserves numbers in blocks)
        assert desk.open_ticket(customer="c1", channel="email", subject="after").number > 1
        other = Desk(store.for_tenant("shop-b"), clock=clock)
        assert other.find() == []
        assert other.find_customer("email", "ann@example.com") is None
        assert other.open_ticket(customer="c1", channel="email", subject="b").number == 1
    conn = sqlite3.connect(path)
    for table in ("tickets", "events", "messages", "customers", "contact_points", "state"):
        tenants = {row[0] for row in conn.execute(f"SELECT tenant FROM {table}")}
        assert "" in tenants, table
        assert tenants <= {"", "shop-b"}, table
    # every index leads with the tenant
    for index in INDEXES:
        keyed = [row[2] for row in conn.execute(f"PRAGMA index_info({index.name})")]
        assert keyed[0] == "tenant", index.name
    conn.close()


# ------------------------------------------------------------------ row-level security


def test_row_level_security_shows_a_role_only_the_tenant_its_transaction_names(
    pg_url: str,
) -> None:
    drop_tables(pg_url)
    clock = FrozenClock(START)
    owner = SQLAlchemyStore(pg_url)
    Desk(owner.for_tenant("shop-a"), clock=clock).open_ticket(
        customer="c", channel="email", subject="a's"
    )
    Desk(owner.for_tenant("shop-b"), clock=clock).open_ticket(
        customer="c", channel="email", subject="b's"
    )
    enable_row_level_security(owner.engine)
    enable_row_level_security(owner.engine)  # again: the policies are replaced
    role = "aftersales_tenancy_reader"
    with owner.engine.begin() as conn:
        if _role_exists(conn, role):
            conn.exec_driver_sql(f"DROP OWNED BY {role}")
        conn.exec_driver_sql(f"DROP ROLE IF EXISTS {role}")
        conn.exec_driver_sql(f"CREATE ROLE {role}")
        conn.exec_driver_sql(
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}"
        )
    try:
        with owner.engine.connect() as conn:
            conn.exec_driver_sql(f"SET ROLE {role}")
            conn.exec_driver_sql("SELECT set_config('aftersales.tenant', 'shop-b', true)")
            rows = conn.exec_driver_sql("SELECT tenant, number FROM tickets").all()
            assert rows == [("shop-b", 1)]
            conn.rollback()
            conn.exec_driver_sql(f"SET ROLE {role}")
            # a transaction that names no tenant sees nothing
            assert conn.exec_driver_sql("SELECT * FROM tickets").all() == []
            conn.rollback()
            conn.exec_driver_sql("RESET ROLE")
        # a store working as that role, with row_level_security, sees its tenant's rows
        engine = sa.create_engine(
            pg_url, connect_args={"options": f"-c role={role}"}, poolclass=sa.pool.NullPool
        )
        bound = SQLAlchemyStore(engine, tenant="shop-a", row_level_security=True)
        desk = Desk(bound, clock=clock)
        assert [t.subject for t in desk.find()] == ["a's"]
        assert desk.open_ticket(customer="c", channel="email", subject="a2").number > 1
        assert [t.subject for t in Desk(bound.for_tenant("shop-b"), clock=clock).find()] == ["b's"]
        # raw SQL on the store's engine: its tenant's rows only
        with bound.engine.connect() as conn:
            assert {row[0] for row in conn.exec_driver_sql("SELECT tenant FROM tickets")} == {
                "shop-a"
            }
        # the policy refuses a row of another tenant's, whatever the statement says
        with (
            pytest.raises(sa.exc.ProgrammingError, match="row-level security"),
            bound.engine.begin() as conn,
        ):
            conn.exec_driver_sql(
                "INSERT INTO state (tenant, key, value) VALUES ('shop-b', 'k', 'v')"
            )
        bound.close()
    finally:
        with owner.engine.begin() as conn:
            conn.exec_driver_sql(f"DROP OWNED BY {role}")
            conn.exec_driver_sql(f"DROP ROLE {role}")
        owner.close()
    assert len(row_level_security_statements()) == 3 * (len(metadata.tables) - 1)


def _role_exists(conn: Any, role: str) -> bool:
    return bool(conn.exec_driver_sql(f"SELECT 1 FROM pg_roles WHERE rolname = '{role}'").first())


def test_the_guide_shows_the_policies_the_function_makes() -> None:
    guide = (Path(__file__).parents[2] / "docs" / "how-to" / "several-shops.md").read_text(
        encoding="utf-8"
    )
    shown = " ".join(guide.split())
    for statement in row_level_security_statements():
        if " tickets" in statement:
            assert " ".join(statement.split()) + ";" in shown
    assert any(" security_log " in s for s in row_level_security_statements())
