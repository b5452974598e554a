"""The ticket queries and a transition at scale (issue 23): every kind of ``Desk.find``,
``store.due`` and ``store.sla_due``, and ``Desk.fire``, on stores of 1,000, 10,000,
100,000 and 1,000,000 tickets, on SQLite (SQLiteStore) and PostgreSQL (SQLAlchemyStore).

Targets, as ratios measured in the same run: each query at the largest size at most 2x
its time at the smallest (1,000 tickets); a fire at most 1.3x (SQLite; PostgreSQL is
printed too).

The stores of every size stay open together, and each figure is taken in rounds that
visit the sizes in turn: one batch of back-to-back calls per size and round (the
collector off), its mean per call one sample. A figure is the median of its samples; a
ratio is the median over rounds of the two sizes' samples side by side, so a machine that
slows down between rounds does not move it. Next to them, in the same rounds, the floor
of one statement on the store's own connection (SQLite: ``SELECT id FROM tickets WHERE
rowid = ?``; PostgreSQL: ``SELECT 1``) and the floor of reading 100 known tickets (their
rows by number and their decoding): what any answer of 100 tickets costs. Under each
fire, the pages it read from files (on Linux): those SQLite's page cache did not hold, and
the WAL frames its checkpoints copy into the database.

A query whose larger stores return more tickets than the smallest (e.g. one agent's
tickets: about 50 among 1,000 tickets, 100 at the limit among 1,000,000) is timed again
with ``limit`` set to the smallest store's count ("same rows"): the rest is the decoding
of the extra tickets, which is not the search. Every answer is checked against its
filter: a store that ignores one (or the cursor) is marked WRONG rather than timed as if
it had answered.

The stores are filled through ``Desk.import_tickets`` (batches of 10,000), except those
larger than 100,000 tickets: those are the store of 100,000 grown by copies of its rows
made in the database (INSERT ... SELECT: new numbers, ids of the same shape and new
customers, written into the tickets' JSON, their events' and their tag rows too; the
times and the audit chain are the original's), then read back as tickets. They hold one
generated mix (see :func:`records`): about 30% of the tickets still active and 20% in
the open category, most of them among the newest (older tickets are mostly closed, as
on a real desk), 200 agents in 20 teams with a skew, 8 channels, 30 categories, 4
priorities, 50 tags with a skew (0 to 3 a ticket), four tickets per customer, due and
SLA due times on the active tickets. SQLite is left as the store leaves it (no ANALYZE:
the store never runs it); PostgreSQL gets ``VACUUM ANALYZE``, as its autovacuum would.

Run: python benchmarks/bench_scale.py [--sizes 1000,10000,...] [--backend sqlite|postgresql|all]
     [--quick] [--rounds N] [--grow-from N]
``--quick`` is 1,000 and 10,000 tickets with fewer rounds (a smoke run of seconds);
PostgreSQL uses databases of its own next to the one of AFTERSALES_TEST_POSTGRES_URL
(``bench_scale_<size>``, dropped at the end).
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import attrs

from _timing import interleaved_samples, median_ratio
from aftersales import Desk, SQLiteStore, Ticket, TicketQuery
from aftersales.models import StatusCategory
from aftersales.routing import CATEGORIES as SHIPPED_CATEGORIES
from aftersales.storage import Store, TicketCursor

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SIZES = (1_000, 10_000, 100_000, 1_000_000)
QUICK_SIZES = (1_000, 10_000)
FIND_TARGET = 2.0
FIRE_TARGET = 1.3
BATCH_SECONDS = 0.03
"""About how long one batch of back-to-back calls runs (at least one call)."""
FIRE_BATCH_SECONDS = 0.5
"""The same for fires: about 1,500 a batch (see :func:`run_backend`)."""
IMPORT_BATCH = 10_000
GROW_FROM = 100_000
"""A store of a multiple of this many tickets, larger, is grown from the store of this
many (imported) by copying its rows in the database: an import of 1,000,000 tickets
takes minutes on a busy machine."""

NOW = datetime(2026, 1, 5, 9, tzinfo=timezone.utc)
SPAN = timedelta(days=3 * 365)
"""The tickets' creation times spread evenly over the three years before NOW."""
AGENTS = tuple(f"agent-{n:03d}" for n in range(200))
TEAMS = 20
CATEGORIES = (*SHIPPED_CATEGORIES, *(f"topic_{n:02d}" for n in range(30 - len(SHIPPED_CATEGORIES))))
TAGS = tuple(f"tag-{n:02d}" for n in range(50))
CHANNELS = {
    "email": 30, "phone": 20, "web_chat": 15, "wechat": 12, "app": 10, "sms": 5, "qq": 4,
    "weibo": 4,
}  # fmt: skip
PRIORITIES = {"urgent": 5, "high": 20, "normal": 60, "low": 15}
ACTIVE = {
    "new": 10, "classified": 7, "assigned": 20, "in_progress": 47, "waiting_on_customer": 10,
    "waiting_on_third_party": 6,
}  # fmt: skip
"""The states of the active tickets (about 30% of all): two thirds open."""
SETTLED = {"resolved": 10, "confirmed": 5, "closed": 82, "cancelled": 3}
DESCRIPTION = (
    "The customer reports that the appliance stopped working after a few weeks; they "
    "attached the receipt and ask for a repair or a replacement under warranty."
)
SETTINGS: dict[str, Any] = {"categories": CATEGORIES}


def _weighted(rng: random.Random, table: dict[str, int]) -> Callable[[], str]:
    names, weights = list(table), list(table.values())
    cumulative = [sum(weights[: i + 1]) for i in range(len(weights))]
    choices = rng.choices

    def pick() -> str:
        return choices(names, cum_weights=cumulative)[0]

    return pick


def _skewed(rng: random.Random, count: int) -> int:
    """An index below ``count``, small ones far more often (the busiest agents, the
    commonest tags): index 0 about 7% of the time among 200."""
    return int(count * rng.random() ** 2)


def records(count: int, seed: int = 23) -> Iterator[dict[str, Any]]:
    """``count`` tickets to import, oldest first, numbered from 1 (see the module's
    docstring for the mix). The same ``count`` and ``seed`` give the same tickets."""
    rng = random.Random(seed)
    channel, priority = _weighted(rng, CHANNELS), _weighted(rng, PRIORITIES)
    active_state, settled_state = _weighted(rng, ACTIVE), _weighted(rng, SETTLED)
    customers = max(1, count // 4)
    start, step = NOW - SPAN, SPAN / count
    day = timedelta(days=1)
    for index in range(count):
        created = start + step * index
        recency = index / count
        active = rng.random() < 0.9 * recency * recency  # 30% in all, most of them recent
        status = active_state() if active else settled_state()
        category = CATEGORIES[_skewed(rng, len(CATEGORIES))]
        record: dict[str, Any] = {
            "number": index + 1,
            "channel": channel(),
            "subject": f"Case {index}: {category.replace('_', ' ')}",
            "description": DESCRIPTION,
            "customer_id": f"cust-{index % customers:07d}",
            "priority": priority(),
            "status": status,
            "tags": sorted({TAGS[_skewed(rng, len(TAGS))] for _ in range(rng.randrange(4))}),
            "created_at": created,
            "updated_at": created + step / 2,
        }
        if status != "new":
            record["category"] = category
        if status not in ("new", "classified"):
            agent = _skewed(rng, len(AGENTS))
            record["assignee"] = AGENTS[agent]
            record["team"] = f"team-{agent % TEAMS:02d}"
            record["first_response_at"] = created + step / 4
        if active:
            record["due_at"] = NOW + day * rng.uniform(-2, 2)
            record["sla_due_at"] = NOW + day * rng.uniform(-1, 3)
        elif status in ("resolved", "confirmed"):
            record["resolved_at"] = created + step / 3
            record["due_at"] = NOW + day * rng.uniform(0, 7)  # its auto-close
        else:
            record["closed_at"] = created + step / 3
        yield record


# ---------------------------------------------------------------------------------- stores


@attrs.define
class Sized:
    """One store of ``size`` tickets, with what its probes need."""

    size: int
    desk: Desk
    store: Store
    statement: Callable[[], object]
    """The floor: one bare statement on the store's connection."""
    read_known: Callable[[], object]
    """The floor of an answer: 100 known tickets read by number and decoded."""
    raw_fire: Callable[[str, int], object] | None = None
    """The floor of a fire (SQLite): its statements, raw, on another ticket (see
    :func:`_raw_fire`)."""
    fire_ids: list[str] = attrs.Factory(list)
    floor_ids: list[str] = attrs.Factory(list)
    """Tickets the floor of a fire writes to: none of them is one the desk fires on."""
    fired: int = 0
    queries: dict[str, TicketQuery] = attrs.Factory(dict)


def _load(desk: Desk, size: int) -> float:
    started = time.perf_counter()
    assert desk.import_tickets(records(size), batch_size=IMPORT_BATCH) == size
    return time.perf_counter() - started


def _known_numbers(size: int) -> list[int]:
    return random.Random(size).sample(range(1, size + 1), min(100, size))


# Growing a store: each copy k (from 1) of the base's tickets gets the number
# number + k * base, an id of the same shape (the original's with its first hex digit,
# 0 in this century, replaced by k: never another ticket's), its own customer (the
# original's id, "-k"), and the same times; its JSON is the original's with those three
# values replaced, and so are its events' and its tag rows. At most 15 copies.
_COPY_ID = {
    "sqlite": "printf('%x', k) || substr({0}, 2)",
    "postgresql": "to_hex(k) || substr({0}, 2)",
}
_COPY_CUSTOMER = "t.customer_id || '-' || k"
_COPY_NUMBER = "t.number + k * {base}"


def _copy_data(column: str, new_id: str, base: int) -> str:
    number = _COPY_NUMBER.format(base=base)
    return (
        f"replace(replace(replace({column}, t.id, {new_id}),"
        f" '\"number\":' || t.number || ',', '\"number\":' || ({number}) || ','),"
        f" '\"customer_id\":\"' || t.customer_id || '\"',"
        f" '\"customer_id\":\"' || {_COPY_CUSTOMER} || '\"')"
    )


def _copies_sql(dialect: str, columns: dict[str, list[str]], base: int, copies: str) -> list[str]:
    """The statements that add the copies of the base's ``base`` tickets (numbered 1 to
    ``base``), ``copies`` naming a table of the copy numbers ``k``, for the tables of
    ``columns`` (their column names) that hold rows of tickets."""
    new_id = _COPY_ID[dialect].format("t.id")
    number = _COPY_NUMBER.format(base=base)
    statements = []
    for table, names in columns.items():
        if table == "tickets":
            cells = {"id": new_id, "number": number, "customer_id": _COPY_CUSTOMER,
                     "data": _copy_data("t.data", new_id, base)}  # fmt: skip
            source = f"FROM tickets t CROSS JOIN {copies} WHERE t.number <= {base}"
            order = " ORDER BY k, t.number"
        elif table == "events":
            cells = {"subject_id": new_id, "data": _copy_data("e.data", new_id, base)}
            cells.update({name: f"e.{name}" for name in names if name not in cells})
            source = (
                f"FROM events e JOIN tickets t ON t.id = e.subject_id CROSS JOIN {copies}"
                f" WHERE t.number <= {base}"
            )
            order = " ORDER BY k, t.number, e.sequence"
        else:  # the tag rows: by number
            cells = {"number": f"x.number + k * {base}"}
            cells.update({name: f"x.{name}" for name in names if name not in cells})
            source = f"FROM {table} x CROSS JOIN {copies} WHERE x.number <= {base}"
            order = ""
        select = ", ".join(cells.get(name, f"t.{name}") for name in names)
        statements.append(
            f"INSERT INTO {table} ({', '.join(names)}) SELECT {select} {source}"
            + (order if dialect == "sqlite" else "")
        )
    statements.append(
        "UPDATE counters SET value = (SELECT max(number) + 1 FROM tickets)"
        " WHERE name = 'ticket_number'"
    )
    return statements


def _grown_tables(names: dict[str, list[str]], counts: dict[str, int]) -> dict[str, list[str]]:
    """The tables holding the base's tickets, which the copies add to: tickets, events and
    any table of rows by ticket number (a store writes nothing else on an import)."""
    grown = {}
    for table, columns in names.items():
        if table in ("counters", "state", "aftersales_schema") or not counts[table]:
            continue
        if table not in ("tickets", "events") and "number" not in columns:
            raise RuntimeError(f"cannot grow the store: it keeps rows of tickets in {table}")
        grown[table] = columns
    return grown


def _check_copies(store: Store, base: int, size: int) -> None:
    """Copies read back as tickets of their own id, number and customer."""
    for number in random.Random(size).sample(range(base + 1, size + 1), 200):
        ticket = store.get_by_number(number)
        original = store.get_by_number((number - 1) % base + 1)
        k = (number - 1) // base
        assert ticket.id == f"{k:x}{original.id[1:]}", (ticket.id, original.id)
        assert ticket.customer_id == f"{original.customer_id}-{k}"
        assert store.get(ticket.id).number == number


def _sqlite_grown(base: Path, path: Path, size: int, base_size: int) -> float:
    started = time.perf_counter()
    with sqlite3.connect(base) as source, sqlite3.connect(path) as target:
        source.backup(target)
    conn = sqlite3.connect(path, isolation_level=None)
    # a build, not a store's write: no journal (the store sets WAL again when it opens
    # the file), no syncs, a large cache
    conn.execute("PRAGMA journal_mode = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -1000000")
    tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    names = {t: [row[1] for row in conn.execute(f"PRAGMA table_info({t})")] for t in tables}
    counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}
    grown = _grown_tables(names, counts)
    indexes = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'tickets'"
        " AND sql IS NOT NULL"
    ).fetchall()
    conn.execute("CREATE TEMP TABLE copies (k INTEGER)")
    conn.executemany("INSERT INTO copies VALUES (?)", [(k,) for k in range(1, size // base_size)])
    conn.execute("BEGIN")
    for name, _sql in indexes:  # built again at the end, as an import does
        conn.execute(f"DROP INDEX {name}")
    for statement in _copies_sql("sqlite", grown, base_size, "copies"):
        conn.execute(statement)
    for _name, sql in indexes:
        conn.execute(sql)
    conn.execute("COMMIT")
    for table in grown:
        found = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        assert found == counts[table] * (size // base_size), (table, found)
    conn.close()
    return time.perf_counter() - started


def _sqlite(folder: Path, size: int, grow_from: int | None) -> Sized:
    path = folder / f"scale-{size}.db"
    if grow_from is None:
        store = SQLiteStore(path)
        desk = Desk(store, settings=SETTINGS)
        seconds = _load(desk, size)
        how = "through Desk.import_tickets"
    else:
        seconds = _sqlite_grown(folder / f"scale-{grow_from}.db", path, size, grow_from)
        store = SQLiteStore(path)
        desk = Desk(store, settings=SETTINGS)
        _check_copies(store, grow_from, size)
        how = f"as {size // grow_from} copies of the {grow_from:,} imported (INSERT ... SELECT)"
    print(f"     SQLite: loaded {size:,} tickets {how} in {seconds:.1f} s")
    conn, lock = store._conn, store._lock
    rowids = [row[0] for row in conn.execute("SELECT rowid FROM tickets LIMIT 1000")]
    known = _known_numbers(size)
    # by the tenant and the number, as the store reads one (the unique index leads with
    # the tenant: without it, SQLite scans the table, 1.5 s at 1M tickets)
    read_known_sql = (
        f"SELECT data FROM tickets WHERE tenant = ? AND number IN ({','.join('?' * len(known))})"
    )
    params: list[object] = [store.tenant, *known]
    turn = 0

    def statement() -> object:
        nonlocal turn
        turn += 1
        with lock:
            return conn.execute(
                "SELECT id FROM tickets WHERE rowid = ?", (rowids[turn % len(rowids)],)
            ).fetchone()

    def read_known() -> object:
        with lock:
            rows = conn.execute(read_known_sql, params).fetchall()
        return [Ticket.model_validate_json(row[0]) for row in rows]

    return Sized(size, desk, store, statement, read_known, _raw_fire(store))


def _raw_fire(store: SQLiteStore) -> Callable[[str, int], object]:
    """The statements a fire of ``assign`` on a ticket read from the store runs, as the
    trace of ``SQLiteStore`` shows them, raw on the store's own connection (its page
    cache; another connection's commits would empty it): read the ticket, take the write
    lock, read its columns, update the changed ones and its JSON (written back as read:
    the same size), append its event (a copy of a reassignment's JSON), commit. Its
    cost at 1M tickets over 1k is what SQLite itself adds with the size of the file: the
    ceiling of a fire's ratio on this machine."""
    conn, lock, tenant = store._conn, store._lock, store.tenant
    at = NOW.isoformat()
    assigned: list[str] = []

    def fire(ticket_id: str, turn: int) -> object:
        agent = turn % len(AGENTS)
        if not assigned:  # a reassignment's event, of the size the desk's fires append
            (found,) = conn.execute(
                "SELECT data FROM events WHERE trigger = 'assign' ORDER BY rowid DESC LIMIT 1"
            ).fetchone()
            assigned.append(found)
        event = assigned[0]
        with lock:
            (data,) = conn.execute(
                "SELECT data FROM tickets WHERE tenant = ? AND id = ?", (tenant, ticket_id)
            ).fetchone()
            conn.execute("BEGIN IMMEDIATE")
            (version,) = conn.execute(
                "SELECT version FROM tickets WHERE id = ?", (ticket_id,)
            ).fetchone()
            conn.execute(
                "UPDATE tickets SET version = ?, assignee = ?, team = ?, data = ?"
                " WHERE id = ? AND version = ? AND tenant = ?",
                (version + 1, AGENTS[agent], f"team-{agent % TEAMS:02d}", data, ticket_id,
                 version, tenant),
            )  # fmt: skip
            conn.execute(
                "INSERT INTO events (subject_id, sequence, trigger, at, kind, to_state, actor,"
                " logged_seconds, data, tenant) VALUES"
                " (?, ?, 'assign', ?, 'ticket', 'in_progress', 'agent-001', NULL, ?, ?)",
                (ticket_id, 1_000_000 + turn, at, event, tenant),
            )
            conn.execute("COMMIT")
        return data

    return fire


def _postgres_url(base: str, size: int) -> str:
    return base.rsplit("/", 1)[0] + f"/bench_scale_{size}"


def _admin(base: str) -> Any:
    import psycopg

    return psycopg.connect(base.replace("postgresql+psycopg", "postgresql"), autocommit=True)


def _postgres_grown(url: str, size: int, base_size: int) -> float:
    import sqlalchemy as sa

    started = time.perf_counter()
    engine = sa.create_engine(url)
    try:
        _postgres_copy(engine, size, base_size)
    finally:
        engine.dispose()
    return time.perf_counter() - started


def _postgres_copy(engine: Any, size: int, base_size: int) -> None:
    import sqlalchemy as sa

    with engine.begin() as conn:
        tables = (
            conn.execute(
                sa.text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
            )
            .scalars()
            .all()
        )
        names = {
            t: list(
                conn.execute(
                    sa.text(
                        "SELECT column_name FROM information_schema.columns WHERE table_name ="
                        " :t AND table_schema = current_schema() ORDER BY ordinal_position"
                    ),
                    {"t": t},
                ).scalars()
            )
            for t in tables
        }
        counts = {
            t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one() for t in tables
        }
        grown = _grown_tables(names, counts)
        indexes = conn.execute(
            sa.text(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'tickets'"
                " AND schemaname = current_schema()"
                " AND indexname NOT IN (SELECT conname FROM pg_constraint)"
            )
        ).all()
        for name, _definition in indexes:
            conn.execute(sa.text(f"DROP INDEX {name}"))
        copies = f"generate_series(1, {size // base_size - 1}) AS c(k)"
        for statement in _copies_sql("postgresql", grown, base_size, copies):
            conn.exec_driver_sql(statement)
        for _name, definition in indexes:
            conn.execute(sa.text(definition))
        for table in grown:
            found = conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
            assert found == counts[table] * (size // base_size), (table, found)


def _postgres_load(base: str, size: int, grow_from: int | None, stack: ExitStack) -> None:
    """Fill a database of its own with ``size`` tickets (imported, or grown from the
    database of ``grow_from``, copied as a template); it is dropped when ``stack``
    closes."""
    import sqlalchemy as sa

    from aftersales.storage.sqlalchemy import SQLAlchemyStore

    url = _postgres_url(base, size)
    name = url.rsplit("/", 1)[1]
    template = (
        "" if grow_from is None else f" TEMPLATE {_postgres_url(base, grow_from).rsplit('/', 1)[1]}"
    )
    with _admin(base) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {name}{template}")

    def drop() -> None:
        with _admin(base) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    stack.callback(drop)
    if grow_from is None:
        store = SQLAlchemyStore(url)
        seconds = _load(Desk(store, settings=SETTINGS), size)
        how = "through Desk.import_tickets"
    else:
        seconds = _postgres_grown(url, size, grow_from)
        store = SQLAlchemyStore(url)
        _check_copies(store, grow_from, size)
        how = f"as {size // grow_from} copies of the {grow_from:,} imported (INSERT ... SELECT)"
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))
    store.close()  # a template database takes no connection
    print(f"     PostgreSQL: loaded {size:,} tickets {how} in {seconds:.1f} s, then VACUUM ANALYZE")


def _postgres(base: str, size: int, stack: ExitStack) -> Sized:
    from aftersales.storage.sqlalchemy import SQLAlchemyStore

    store = SQLAlchemyStore(_postgres_url(base, size))
    stack.callback(store.close)
    return _postgres_sized(store, Desk(store, settings=SETTINGS), size, stack)


def _postgres_sized(store: Any, desk: Desk, size: int, stack: ExitStack) -> Sized:
    import sqlalchemy as sa

    conn = stack.enter_context(store.engine.connect())
    ping = sa.text("SELECT 1")
    read_known_sql = sa.text(  # by the tenant and the number, as the store reads one
        "SELECT data FROM tickets WHERE tenant = :tenant AND number = ANY(:numbers)"
    )
    known = {"tenant": store.tenant, "numbers": _known_numbers(size)}

    def statement() -> object:
        return conn.execute(ping).fetchall()

    def read_known() -> object:
        rows = conn.execute(read_known_sql, known).fetchall()
        conn.commit()  # as the store's reads: no transaction left open
        return [Ticket.model_validate_json(row[0]) for row in rows]

    return Sized(size, desk, store, statement, read_known)


# ---------------------------------------------------------------------------------- probes

Answer = Callable[[Sized, int], list[Ticket]]
"""A probe's call on one store, with the limit to ask for."""


@attrs.frozen
class Probe:
    name: str
    answer: Answer
    fits: Callable[[Sized, Ticket], bool]
    """Whether a ticket of the answer fits the query (a store that ignored a filter
    answers tickets that do not)."""
    ordered: Callable[[Ticket], tuple[Any, ...]] = lambda t: (t.created_at, t.number)
    """The order the answer must be in."""


def _find(**filters: Any) -> Answer:
    query = TicketQuery(**filters)

    def answer(sized: Sized, limit: int) -> list[Ticket]:
        return sized.desk.find(query.model_copy(update={"limit": limit}))

    return answer


def _named(key: str) -> Answer:
    """A query built for each store (it depends on the store's tickets)."""

    def answer(sized: Sized, limit: int) -> list[Ticket]:
        return sized.desk.find(sized.queries[key].model_copy(update={"limit": limit}))

    return answer


OPEN = StatusCategory.OPEN
BUSIEST = AGENTS[0]
BUSIEST_TEAM = "team-00"
MONTH = (datetime(2024, 6, 1, tzinfo=timezone.utc), datetime(2024, 7, 1, tzinfo=timezone.utc))
QUERIED_CATEGORY = CATEGORIES[3]
QUERIED_TAG = TAGS[3]


def _after_cursor(sized: Sized, ticket: Ticket) -> bool:
    cursor = sized.queries["second page"].after
    assert cursor is not None
    return (ticket.created_at, ticket.number) > (cursor.created_at, cursor.number)


PROBES = (
    Probe(
        "open queue",
        _find(status_category="open"),
        lambda s, t: t.status_category is OPEN,
    ),
    Probe(
        "open queue, 2nd page (cursor)",
        _named("second page"),
        lambda s, t: t.status_category is OPEN and _after_cursor(s, t),
    ),
    Probe("my tickets (assignee)", _find(assignee=BUSIEST), lambda s, t: t.assignee == BUSIEST),
    Probe(
        "my open tickets",
        _find(assignee=BUSIEST, status_category="open"),
        lambda s, t: t.assignee == BUSIEST and t.status_category is OPEN,
    ),
    Probe(
        "team queue (team, open)",
        _find(team=BUSIEST_TEAM, status_category="open"),
        lambda s, t: t.team == BUSIEST_TEAM and t.status_category is OPEN,
    ),
    Probe(
        "status=waiting_on_third_party",
        _find(status="waiting_on_third_party"),
        lambda s, t: t.status == "waiting_on_third_party",
    ),
    Probe("channel=sms", _find(channel="sms"), lambda s, t: t.channel.value == "sms"),
    Probe(
        f"category={QUERIED_CATEGORY}",
        _find(category=QUERIED_CATEGORY),
        lambda s, t: t.category == QUERIED_CATEGORY,
    ),
    Probe("priority=urgent", _find(priority="urgent"), lambda s, t: t.priority == "urgent"),
    Probe(
        "customer_id (4 tickets)",
        _named("customer"),
        lambda s, t: t.customer_id == s.queries["customer"].customer_id,
    ),
    Probe(
        "created in June 2024",
        _find(created_from=MONTH[0], created_to=MONTH[1]),
        lambda s, t: MONTH[0] <= t.created_at < MONTH[1],
    ),
    Probe(f"tags=({QUERIED_TAG},)", _find(tags=(QUERIED_TAG,)), lambda s, t: QUERIED_TAG in t.tags),
    Probe(
        "store.due(now, 100)",
        lambda s, limit: s.store.due(NOW, limit),
        lambda s, t: t.due_at is not None and t.due_at <= NOW,
        lambda t: (t.due_at, t.number),
    ),
    Probe(
        "store.sla_due(now, 100)",
        lambda s, limit: s.store.sla_due(NOW, limit),
        lambda s, t: t.sla_due_at is not None and t.sla_due_at <= NOW,
        lambda t: (t.sla_due_at, t.number),
    ),
)


def _prepare(sized: Sized) -> None:
    """The queries that depend on the store's tickets, and the tickets to fire on."""
    first = TicketQuery(status_category=OPEN, limit=100)
    page = sized.desk.find(first)
    # a store too small for a second page: ask for the (empty) one after its last anyway
    sized.queries["second page"] = first.next_page(page) or first.model_copy(
        update={"after": TicketCursor.of(page[-1])}
    )
    sized.queries["customer"] = TicketQuery(
        customer_id=f"cust-{(sized.size // 2) % (sized.size // 4 or 1):07d}"
    )
    sample = random.Random(sized.size).sample(range(1, sized.size + 1), min(sized.size, 20_000))
    ids = []
    for number in sample:
        ticket = sized.desk.get(number)
        if ticket.status in ("assigned", "in_progress"):
            ids.append(ticket.id)
        if len(ids) == 601:
            break
    # one reassignment beforehand: the event the raw floor appends is a copy of its event
    sized.desk.fire(ids.pop(), "assign", actor="agent-001", payload={"assignee": AGENTS[0]})
    sized.fire_ids, sized.floor_ids = ids[::2], ids[1::2]


# ---------------------------------------------------------------------------------- timing


@attrs.define
class Curve:
    """Seconds per call at each size (one sample a round), in the same rounds."""

    samples: dict[int, list[float]]

    def median(self, size: int) -> float:
        return statistics.median(self.samples[size])

    def ratio(self, size: int, smallest: int) -> float:
        return median_ratio(self.samples[size], self.samples[smallest])


def measure(stores: list[Sized], call: Callable[[Sized], object], rounds: int) -> Curve:
    """``call`` on each store, in rounds that visit the stores in turn: each round one
    batch of back-to-back calls per store, about BATCH_SECONDS long."""
    return measure_together(stores, {"": call}, rounds)[""]


def measure_together(
    stores: list[Sized],
    calls: dict[str, Callable[[Sized], object]],
    rounds: int,
    settle: Callable[[Sized], object] | None = None,
    seconds: float = BATCH_SECONDS,
) -> dict[str, Curve]:
    """Each of ``calls`` on each store, in the same rounds: a round runs one batch of
    each call on each store in turn, so that a floor and what it is the floor of see the
    same machine state and the same warmth of the store's pages (a floor measured first,
    alone, read the pages that the calls measured after it found in the cache).
    ``settle`` ends each batch, timed with it: the batch pays for the work its calls
    left (a write's WAL checkpoint) and leaves none to the next batch; ``seconds`` is a
    batch's length (at most 20,000 calls a second)."""
    per_batch = {}
    for name, call in calls.items():
        for sized in stores:
            started = time.perf_counter()
            call(sized)
            elapsed = max(time.perf_counter() - started, 1e-7)
            calls_in = int(seconds / elapsed)
            per_batch[name, sized.size] = max(1, min(int(seconds * 20_000), calls_in))

    def batch(name: str, sized: Sized) -> Callable[[], None]:
        call, count = calls[name], per_batch[name, sized.size]

        def run() -> None:
            for _ in range(count):
                call(sized)
            if settle is not None:
                settle(sized)

        return run

    batches = {f"{name}@{s.size}": batch(name, s) for s in stores for name in calls}
    raw = interleaved_samples(batches, 1, rounds)
    return {
        name: Curve(
            {s.size: [x / per_batch[name, s.size] for x in raw[f"{name}@{s.size}"]] for s in stores}
        )
        for name in calls
    }


def _check(probe: Probe, sized: Sized, answer: list[Ticket]) -> str | None:
    """What is wrong with ``answer``, if anything."""
    misfits = [t for t in answer if not probe.fits(sized, t)]
    if misfits:
        return f"{len(misfits)} of {len(answer)} tickets do not fit"
    keys = [probe.ordered(t) for t in answer]
    if keys != sorted(keys):
        return "not in order"
    return None


def _cells(curve: Curve, sizes: list[int], rows: dict[int, int] | None = None) -> str:
    smallest = sizes[0]
    cells = []
    for size in sizes:
        ms = curve.median(size) * 1e3
        ratio = "" if size == smallest else f"{curve.ratio(size, smallest):.2f}x"
        count = "" if rows is None else f"[{rows[size]}]"
        cells.append(f"{ms:8.3f} {ratio:>6} {count:>5}")
    return " ".join(cells)


def _label(size: int) -> str:
    return f"{size // 1_000_000}M" if size >= 1_000_000 else f"{size // 1_000}k"


def run_backend(
    name: str, stores: list[Sized], rounds: int, only: str = "all", fire_rounds: int = 9
) -> list[str]:
    """Print the curves of ``stores`` (ascending sizes); return the misses."""
    sizes = [s.size for s in stores]
    smallest, largest = sizes[0], sizes[-1]
    for sized in stores:
        _prepare(sized)
    width = 40
    print(
        f"\n{name}: ms per call, median of {rounds} rounds (sizes in turns, each a batch of "
        f"back-to-back calls); ratio to {_label(smallest)} (median over rounds); "
        f"[tickets answered]"
    )
    print(" " * width + " ".join(f"{_label(size):>21}" for size in sizes) + "   verdict")
    floors = measure(stores, lambda s: s.statement(), rounds)
    print(f"{'floor: one bare statement':<{width}}{_cells(floors, sizes)}")
    known = measure(stores, lambda s: s.read_known(), rounds)
    print(f"{'floor: read 100 known tickets':<{width}}{_cells(known, sizes)}")
    misses = []
    for probe in PROBES if only in ("all", "find") else ():
        answers = {s.size: probe.answer(s, 100) for s in stores}
        rows = {size: len(answer) for size, answer in answers.items()}
        wrong = {
            s.size: problem
            for s in stores
            if (problem := _check(probe, s, answers[s.size])) is not None
        }
        curve = measure(stores, lambda s, p=probe: p.answer(s, 100), rounds)  # type: ignore[misc]
        ratio = curve.ratio(largest, smallest)
        verdict = "OK" if ratio <= FIND_TARGET else "MISS"
        same_rows = None
        if rows[largest] != rows[smallest]:
            limit = max(1, rows[smallest])
            same_rows = measure(stores, lambda s, p=probe, n=limit: p.answer(s, n), rounds)  # type: ignore[misc]
            if verdict == "MISS" and same_rows.ratio(largest, smallest) <= FIND_TARGET:
                verdict = "OK at same rows"
        if wrong:
            verdict = "WRONG: " + "; ".join(f"{_label(k)} {v}" for k, v in wrong.items())
        print(f"{probe.name:<{width}}{_cells(curve, sizes, rows)}   {verdict}")
        if same_rows is not None:
            label = f"  same rows (limit {max(1, rows[smallest])})"
            print(f"{label:<{width}}{_cells(same_rows, sizes)}")
        if not verdict.startswith("OK"):
            misses.append(f"{name} {probe.name}: {ratio:.2f}x ({verdict})")
    fires: dict[str, Callable[[Sized], object]] = {
        "Desk.fire, ticket read from the store": lambda s: _fire_one(s, cold=True),
        "Desk.fire, ticket this desk wrote last": lambda s: _fire_one(s, cold=False),
    }
    floor_label = "floor: a fire's statements, raw"
    if only in ("all", "fire"):
        calls = dict(fires)
        if all(s.raw_fire is not None for s in stores):
            calls = {floor_label: _raw_fire_one, **fires}
        # batches of ~1,500 fires: each crosses SQLite's 1,000-page checkpoint several
        # times and spreads its closing checkpoint's fsync over many fires
        curves = measure_together(
            stores, calls, max(rounds, fire_rounds), _checkpoint, FIRE_BATCH_SECONDS
        )
        if floor_label in curves:
            note = "(the ceiling: SQLite's own ratio, measured in the same rounds)"
            print(f"{floor_label:<{width}}{_cells(curves[floor_label], sizes)}   {note}")
        for label, fire_call in fires.items():
            ratio = curves[label].ratio(largest, smallest)
            ok = ratio <= FIRE_TARGET
            verdict = f"{'OK' if ok else 'MISS'} (<= {FIRE_TARGET}x)"
            print(f"{label:<{width}}{_cells(curves[label], sizes)}   {verdict}")
            if not ok:
                misses.append(f"{name} {label}: {ratio:.2f}x")
            pages = {s.size: _pages_read(lambda s=s, f=fire_call: f(s)) for s in stores}  # type: ignore[misc]
            if all(count is not None for count in pages.values()):
                cells = " ".join(f"{pages[size]:14.1f} pages" for size in sizes)
                print(f"{'  pages read a fire (file, WAL)':<{width}}{cells}")
    return misses


def _pages_read(call: Callable[[], object], calls: int = 200) -> float | None:
    """Pages of 4 KiB the process read from files per ``call`` (the database's pages
    that SQLite's cache did not hold, and the WAL frames a checkpoint copies), from
    Linux's /proc/self/io; None elsewhere."""
    if not Path("/proc/self/io").exists():
        return None

    def read_bytes() -> int:
        with open("/proc/self/io") as io:
            return int(next(line for line in io if line.startswith("rchar:")).split()[1])

    before = read_bytes()
    for _ in range(calls):
        call()
    return (read_bytes() - before) / calls / 4096


def _checkpoint(sized: Sized) -> object:
    """Copy the WAL's pages into the database file (SQLite; nothing elsewhere). A batch of
    fires ends with it, so that each pays for the pages it wrote: SQLite checkpoints when
    the WAL reaches 1,000 pages, and that cost, which grows with the file (the pages of a
    million tickets' rows and indexes are far apart), fell on whichever batch crossed the
    line, a floor's in one round and a fire's in the next."""
    conn = getattr(sized.store, "_conn", None)
    if conn is None:
        return None
    with sized.store._lock:  # type: ignore[attr-defined]
        return conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()


def _raw_fire_one(sized: Sized) -> object:
    """The floor of a fire on a ticket read from the store, on tickets of its own."""
    assert sized.raw_fire is not None
    sized.fired += 1
    return sized.raw_fire(sized.floor_ids[sized.fired % len(sized.floor_ids)], sized.fired)


def _fire_one(sized: Sized, *, cold: bool) -> object:
    """A realistic transition on an open ticket: reassign it. ``cold``: a ticket of
    several hundred, read from the store and written in full (the copies the desk and
    the store keep of the rows they last wrote are dropped first, as in another process);
    else one of eight tickets fired in turn, which this desk wrote last (its copy is
    read, and the store writes the columns that changed)."""
    sized.fired += 1
    ids = sized.fire_ids if cold else sized.fire_ids[:8]
    ticket_id = ids[sized.fired % len(ids)]
    if cold:
        sized.desk._recent.pop(ticket_id, None)
        getattr(sized.store, "_written", {}).pop(ticket_id, None)
    agent = sized.fired % len(AGENTS)
    return sized.desk.fire(
        ticket_id,
        "assign",
        actor="agent-001",
        payload={"assignee": AGENTS[agent], "team": f"team-{agent % TEAMS:02d}"},
    )


def _plan(sizes: list[int], grow_from: int | None) -> list[tuple[int, int | None]]:
    """The stores to build, in order, each with the size it is grown from (None: imported).
    The base of a grown store is built even when it is not measured."""
    plan: list[tuple[int, int | None]] = []
    for size in sizes:
        if grow_from and size > grow_from and size % grow_from == 0 and size <= 16 * grow_from:
            if all(built != grow_from for built, _ in plan):
                plan.append((grow_from, None))
            plan.append((size, grow_from))
        else:
            plan.append((size, None))
    return plan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", help="comma-separated ticket counts (default 1k to 1M)")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "all"), default="all")
    parser.add_argument("--quick", action="store_true", help="1,000 and 10,000 tickets")
    parser.add_argument("--rounds", type=int, default=None, help="rounds per figure")
    parser.add_argument("--postgres", default=None, help="URL of a database on the server")
    parser.add_argument(
        "--grow-from",
        type=int,
        default=GROW_FROM,
        help=f"grow a store of a larger multiple of this many tickets from the one of this "
        f"many by copies (default {GROW_FROM:,}; 0: import every store)",
    )
    parser.add_argument("--only", choices=("all", "find", "fire"), default="all")
    parser.add_argument("--fire-rounds", type=int, default=9, help="rounds of the fires")
    args = parser.parse_args(argv)
    if args.sizes:
        sizes = sorted({int(size.replace("_", "")) for size in args.sizes.split(",")})
    else:
        sizes = list(QUICK_SIZES if args.quick else SIZES)
    rounds = args.rounds or (3 if args.quick else 7)
    plan = _plan(sizes, args.grow_from or None)
    options = (rounds, args.only, args.fire_rounds)
    misses: list[str] = []
    if args.backend in ("sqlite", "all"):
        with tempfile.TemporaryDirectory() as name, ExitStack() as stack:
            built = {}
            for size, grow_from in plan:
                built[size] = _sqlite(Path(name), size, grow_from)
                stack.callback(built[size].desk.close)
            misses += run_backend("SQLite (SQLiteStore)", [built[size] for size in sizes], *options)
    if args.backend in ("postgresql", "all"):
        import os

        base = args.postgres or os.environ.get("AFTERSALES_TEST_POSTGRES_URL", PG)
        with ExitStack() as stack:
            for size, grow_from in plan:
                _postgres_load(base, size, grow_from, stack)
            stores = [_postgres(base, size, stack) for size in sizes]
            misses += run_backend("PostgreSQL (SQLAlchemyStore)", stores, *options)
    print()
    for miss in misses:
        print(f"MISS {miss}")
    print("all targets met" if not misses else f"{len(misses)} target(s) missed")
    return 0 if not misses else 1


if __name__ == "__main__":
    sys.exit(main())
