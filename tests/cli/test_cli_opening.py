"""How the commands open ``--db``: a command that only reads opens an existing store of
the current schema and makes nothing (no file, no tables, no upgrade); ``import`` may
make a new store; a URL whose driver is missing is an error line naming one to install."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_helpers import Seeded, fresh_server_url, run

from aftersales import Desk
from aftersales.storage.sqlite import SCHEMA_VERSION

LEGACY = (
    "channel,subject,customer_id,status,created_at,updated_at\n"
    "email,Kettle leaks,c-1,new,2026-03-02T09:00:00Z,2026-03-02T09:00:00Z\n"
)


@pytest.mark.parametrize(
    ("scheme", "says"),
    [
        (
            "mysql",
            "the driver of mysql:// (MySQLdb) is not installed; install it, or name a "
            "driver, e.g. mysql+pymysql://",
        ),
        ("postgresql+pg8000", "the driver of postgresql+pg8000:// (pg8000) is not installed"),
    ],
)
def test_a_url_whose_driver_is_missing_names_one_to_install(scheme: str, says: str) -> None:
    pytest.importorskip("sqlalchemy")
    for module in ("MySQLdb", "pg8000"):
        try:
            __import__(module)
        except ImportError:
            continue
        pytest.skip(f"{module} is installed here")
    ran = run("tickets", "list", "--db", f"{scheme}://app@127.0.0.1:1/service")
    assert (ran.code, ran.out) == (1, "")
    assert ran.err.startswith("error: ")
    assert says in ran.err


def _foreign(path: Path, user_version: int) -> Path:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE other (x)")
        conn.execute(f"PRAGMA user_version={user_version}")
    conn.close()
    return path


def test_a_read_command_refuses_a_file_that_holds_no_store(tmp_path: Path) -> None:
    empty, foreign = tmp_path / "empty.db", _foreign(tmp_path / "foreign.db", 0)
    empty.touch()
    not_sqlite = tmp_path / "notes.db"
    not_sqlite.write_text("not a database, just notes\n" * 10)
    for path in (empty, foreign):
        ran = run("outbox", "--db", str(path))
        assert (ran.code, ran.out) == (1, "")
        assert f"no aftersales store in {path}" in ran.err
    assert empty.stat().st_size == 0  # nothing made in it
    refused = run("tickets", "list", "--db", str(not_sqlite))
    assert refused.code == 1
    assert f"cannot open {not_sqlite}" in refused.err


def test_a_read_command_refuses_an_older_schema_and_leaves_it(tmp_path: Path) -> None:
    older = _foreign(tmp_path / "older.db", SCHEMA_VERSION - 1)
    ran = run("tickets", "list", "--db", str(older))
    assert ran.code == 1
    assert f"has schema version {SCHEMA_VERSION - 1}, older than" in ran.err
    with sqlite3.connect(f"{older.as_uri()}?mode=ro", uri=True) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION - 1
    conn.close()


def test_a_read_command_on_a_sqlite_url_of_no_file_makes_none(tmp_path: Path) -> None:
    pytest.importorskip("sqlalchemy")
    for url in (f"sqlite+pysqlite:///{tmp_path / 'ghost.db'}", "sqlite+pysqlite://"):
        ran = run("tickets", "list", "--db", url, "--json")
        assert (ran.code, ran.out) == (1, "")
        assert "no SQLite file" in ran.err
    assert list(tmp_path.iterdir()) == []


def test_a_read_command_opens_a_sqlite_url_of_a_store(seeded: Seeded) -> None:
    pytest.importorskip("sqlalchemy")
    ran = run("tickets", "list", "--db", f"sqlite+pysqlite:///{seeded.db}", "--json")
    assert ran.code == 1  # a SQLite file of SQLiteStore is no SQLAlchemy store
    assert "no aftersales store in sqlite+pysqlite:///" in ran.err


def test_import_makes_a_new_sqlite_store_but_not_for_an_empty_file(tmp_path: Path) -> None:
    legacy, empty = tmp_path / "legacy.csv", tmp_path / "empty.jsonl"
    legacy.write_text(LEGACY, encoding="utf-8")
    empty.write_text("", encoding="utf-8")
    nothing = run("import", str(empty), "--db", str(tmp_path / "none.db"))
    assert nothing.code == 1
    assert "no SQLite file" in nothing.err
    assert not (tmp_path / "none.db").exists()
    ran = run("import", str(legacy), "--db", str(tmp_path / "new.db"))
    assert (ran.code, ran.out) == (0, "imported 1 tickets\n")
    with Desk.sqlite(tmp_path / "new.db") as desk:
        assert [t.subject for t in desk.find()] == ["Kettle leaks"]


@pytest.fixture(params=["postgresql", "mariadb"])
def server_without_a_store(request: pytest.FixtureRequest) -> Iterator[str]:
    """The URL of this module's database on each server, its store's tables dropped."""
    url = fresh_server_url(request.param)
    yield url
    fresh_server_url(request.param)


@pytest.fixture
def postgres_without_a_store() -> Iterator[str]:
    """The URL of this module's PostgreSQL database, its store's tables dropped."""
    url = fresh_server_url("postgresql")
    yield url
    fresh_server_url("postgresql")


def _tables(url: str) -> list[str]:
    import sqlalchemy

    engine = sqlalchemy.create_engine(url)
    try:
        return sorted(sqlalchemy.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_a_read_command_makes_no_tables_in_a_database_without_a_store(
    server_without_a_store: str, tmp_path: Path
) -> None:
    url = server_without_a_store
    scheme = url.split("://", 1)[0]
    for command in (["tickets", "list"], ["outbox"], ["export"], ["report"]):
        ran = run(*command, "--db", url)
        assert ran.code == 1, command
        assert f"no aftersales store in {scheme}://" in ran.err
    assert _tables(url) == []
    legacy = tmp_path / "legacy.csv"
    legacy.write_text(LEGACY, encoding="utf-8")
    assert run("import", str(legacy), "--db", url).code == 0  # import may make the store
    assert "aftersales_schema" in _tables(url)
    listed = run("tickets", "list", "--db", url, "--json")
    assert listed.code == 0
    assert "Kettle leaks" in listed.out


def test_a_read_command_refuses_an_older_schema_on_a_server(
    postgres_without_a_store: str,
) -> None:
    import sqlalchemy

    from aftersales.storage.sqlalchemy import SQLAlchemyStore

    url = postgres_without_a_store
    SQLAlchemyStore(url).close()
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                sqlalchemy.text(f"UPDATE aftersales_schema SET version = {SCHEMA_VERSION - 1}")
            )
        ran = run("outbox", "--db", url)
        assert ran.code == 1
        assert f"has schema version {SCHEMA_VERSION - 1}, older than" in ran.err
        with engine.connect() as conn:
            found = conn.execute(sqlalchemy.text("SELECT version FROM aftersales_schema"))
            assert found.scalar_one() == SCHEMA_VERSION - 1
    finally:
        with engine.begin() as conn:  # as it was, so that the teardown can drop it
            conn.execute(
                sqlalchemy.text(f"UPDATE aftersales_schema SET version = {SCHEMA_VERSION}")
            )
        engine.dispose()


def test_a_server_that_cannot_be_reached_is_an_error_line() -> None:
    pytest.importorskip("sqlalchemy")
    ran = run("tickets", "list", "--db", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert (ran.code, ran.out) == (1, "")
    assert ran.err.startswith("error: ")
    assert "cannot open postgresql+psycopg://" in ran.err
