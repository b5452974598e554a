"""What the command-line tests share (imported by name): running the app in-process, a
seeded SQLite desk, and the PostgreSQL and MariaDB servers (databases ``cli_pg`` and
``cli_my`` of their own).

The servers are taken from AFTERSALES_TEST_POSTGRES_URL and AFTERSALES_TEST_MYSQL_URL
(defaults: this machine's loopback servers); the tests use the server of that URL with
their own database. Without a server they skip, naming the variable; in CI (CI=true) they
fail instead.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import attrs
import pytest
from servers import no_server
from typer.testing import CliRunner

from aftersales import Desk, FrozenClock

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)

SERVERS = {
    "postgresql": (
        "AFTERSALES_TEST_POSTGRES_URL",
        "postgresql+psycopg://postgres@127.0.0.1:5432/test",
        "cli_pg",
    ),
    "mariadb": ("AFTERSALES_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test", "cli_my"),
}


@attrs.frozen
class Ran:
    """What one command printed and how it exited."""

    code: int
    out: str
    err: str
    stdout_bytes: bytes = b""
    """The standard output as written (``out`` has Click's \r\n made \n)."""


def run(*arguments: str, stdin: str | bytes | None = None) -> Ran:
    """Run ``aftersales ARGUMENTS`` in-process, on a terminal wide enough for its tables."""
    from aftersales.cli import _build_app

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COLUMNS", "250")
        result = CliRunner().invoke(_build_app(), list(arguments), input=stdin)
    return Ran(result.exit_code, result.stdout, result.stderr, result.stdout_bytes)


@attrs.frozen
class Seeded:
    """A SQLite desk file and what the seeding made in it."""

    db: Path
    ticket_ids: tuple[str, ...]
    case_id: str
    dead_keys: tuple[str, ...]


def broken_mailer(notification: object) -> None:
    """A handler whose receiver is down: every delivery fails."""
    raise RuntimeError("smtp down")


def seed(db: Path) -> Seeded:
    """Three tickets on different channels (one assigned and answered, one resolved), a
    complaint case, and two dead-lettered notifications of a broken mailer."""
    clock = FrozenClock(T0)
    with Desk.sqlite(db, clock=clock, settings={"max_delivery_attempts": 1}) as desk:
        kettle = desk.open_ticket(
            customer="c-1", channel="email", subject="Kettle leaks", tags=["vip", "repeat"]
        )
        desk.classify(kettle.id, category="repair_warranty", severity="high")
        desk.assign(kettle.id, assignee="li.wei", team="repairs")
        desk.add_message(kettle.id, "We will send a courier.", author_id="li.wei")
        desk.add_message(kettle.id, "Courier booked", author_id="li.wei", kind="internal_note")
        clock.advance(minutes=5)
        invoice = desk.open_ticket(customer="c-2", channel="wechat", subject="发票抬头错误")
        desk.classify(invoice.id, category="billing_invoice", severity="low")
        desk.assign(invoice.id, assignee="chen.jing")
        desk.fire(invoice.id, "start")
        desk.resolve(invoice.id, resolution="Reissued")
        clock.advance(minutes=5)
        case = desk.cases.open_complaint(kettle.id, summary="Second leak this year")
        desk.on_transition(broken_mailer, "classify", "assign", name="mailer")
        clock.advance(minutes=5)
        question = desk.open_ticket(customer="c-1", channel="phone", subject="Descaling?")
        desk.classify(question.id, category="product_inquiry", severity="low")
        desk.assign(question.id, assignee="li.wei")
        dead = tuple(n.key for n in desk.outbox("dead"))
    return Seeded(db, (kettle.id, invoice.id, question.id), case.id, dead)


def server_url(name: str) -> str:
    """The URL of this test's own database on the ``name`` server, created when missing;
    skips (fails in CI) without a server."""
    sqlalchemy = pytest.importorskip("sqlalchemy")
    variable, default, database = SERVERS[name]
    url = sqlalchemy.make_url(os.environ.get(variable, default))
    try:
        engine = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            if name == "postgresql":
                exists = conn.execute(
                    sqlalchemy.text("SELECT 1 FROM pg_database WHERE datname = :name"),
                    {"name": database},
                ).first()
                if exists is None:
                    conn.execute(sqlalchemy.text(f"CREATE DATABASE {database}"))
            else:
                conn.execute(sqlalchemy.text(f"CREATE DATABASE IF NOT EXISTS {database}"))
        engine.dispose()
    except Exception as error:  # noqa: BLE001 - any failure to connect means "no server"
        no_server(name, repr(url), variable, error)
    return url.set(database=database).render_as_string(hide_password=False)


def fresh_server_url(name: str) -> str:
    """:func:`server_url` with the store's tables dropped first."""
    url = server_url(name)
    from aftersales.storage.sqlalchemy import SQLAlchemyStore

    store = SQLAlchemyStore(url)
    store.drop_schema()
    store.close()
    return url


SLA_POLICY = {
    "name": "support",
    "rules": [
        {
            "name": "all",
            "targets": {"first_response": {"minutes": 60}, "resolution": {"minutes": 600}},
        }
    ],
}
"""One rule for every ticket: a first response within the hour, resolution in ten."""


def sla_desk(store: object) -> Desk:
    """What ``--app cli_helpers:sla_desk`` builds: a desk with :data:`SLA_POLICY`."""
    return Desk(store, sla=SLA_POLICY)  # type: ignore[arg-type]


def broken_app(store: object) -> Desk:
    """An ``--app`` whose own code fails."""
    raise RuntimeError("the app's settings are missing")
