"""``--tenant`` (or ``AFTERSALES_TENANT``): a command works on one shop's tickets of a
database several shops share, and on no other shop's."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_helpers import T0, fresh_server_url, run

from aftersales import Desk, FrozenClock, SQLiteStore
from aftersales.storage import Store

SHOPS = {"shop-a": ["Kettle leaks"], "shop-b": ["Toaster burns", "Fan rattles"]}


def _open(where: str, tenant: str) -> Store:
    if "://" not in where:
        return SQLiteStore(where, tenant=tenant)
    from aftersales.storage.sqlalchemy import SQLAlchemyStore

    return SQLAlchemyStore(where, tenant=tenant)


def _fill(where: str) -> None:
    for tenant, subjects in SHOPS.items():
        with Desk(_open(where, tenant), clock=FrozenClock(T0)) as desk:
            for subject in subjects:
                desk.open_ticket(customer=f"{tenant}-c1", channel="email", subject=subject)


@pytest.fixture(params=["sqlite", "postgresql"])
def shared(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database holding the tickets of two shops (SQLite file or PostgreSQL URL)."""
    where = str(tmp_path / "shops.db") if request.param == "sqlite" else None
    where = where or fresh_server_url("postgresql")
    _fill(where)
    yield where
    if "://" in where:
        fresh_server_url("postgresql")


def _listed(*arguments: str) -> list[tuple[int, str]]:
    ran = run("tickets", "list", "--json", *arguments)
    assert (ran.code, ran.err) == (0, "")
    return [(t["number"], t["subject"]) for t in map(json.loads, ran.out.splitlines())]


def test_a_command_lists_only_its_tenants_tickets_numbered_per_tenant(shared: str) -> None:
    assert _listed("--db", shared, "--tenant", "shop-a") == [(1, "Kettle leaks")]
    assert _listed("--db", shared, "--tenant", "shop-b") == [
        (1, "Toaster burns"),
        (2, "Fan rattles"),
    ]
    assert _listed("--db", shared) == []  # the database's own shop has none


def test_the_environment_names_the_tenant_and_the_option_overrides_it(
    shared: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AFTERSALES_TENANT", "shop-b")
    assert [n for n, _ in _listed("--db", shared)] == [1, 2]
    assert _listed("--db", shared, "--tenant", "shop-a") == [(1, "Kettle leaks")]


def test_a_number_names_the_tenants_own_ticket(shared: str) -> None:
    for tenant, subject in (("shop-a", "Kettle leaks"), ("shop-b", "Toaster burns")):
        ran = run("tickets", "show", "1", "--db", shared, "--tenant", tenant, "--json")
        assert ran.code == 0, ran.err
        assert json.loads(ran.out)["ticket"]["subject"] == subject
    ran = run("tickets", "show", "2", "--db", shared, "--tenant", "shop-a")
    assert ran.code == 1  # shop-b's #2 is not shop-a's
    assert "Fan rattles" not in ran.out + ran.err


def test_export_and_import_move_one_tenants_tickets(shared: str, tmp_path: Path) -> None:
    exported = tmp_path / "shop-b.jsonl"
    ran = run("export", "--db", shared, "--tenant", "shop-b", "-o", str(exported))
    assert ran.code == 0, ran.err
    lines = [json.loads(line) for line in exported.read_text().splitlines()]
    assert sorted(line["subject"] for line in lines) == ["Fan rattles", "Toaster burns"]
    copy = str(tmp_path / "copy.db")
    ran = run("import", str(exported), "--db", copy, "--tenant", "shop-c")
    assert (ran.code, ran.out) == (0, "imported 2 tickets\n")
    assert sorted(s for _, s in _listed("--db", copy, "--tenant", "shop-c")) == [
        "Fan rattles",
        "Toaster burns",
    ]
    assert _listed("--db", copy) == []
    assert _listed("--db", shared, "--tenant", "shop-a") == [(1, "Kettle leaks")]


def test_the_report_counts_only_its_tenants_tickets(shared: str) -> None:
    created = []
    for tenant in SHOPS:
        ran = run(
            "report", "--db", shared, "--tenant", tenant, "--json",
            "--from", "2026-03-01", "--to", "2026-03-02",
        )  # fmt: skip
        assert ran.code == 0, ran.err
        (tickets,) = json.loads(ran.out)["tables"]["tickets"]
        created.append(tickets["created"])
    assert created == [1, 2]


@pytest.mark.parametrize("tenant", ["shop a", "-shop", "x" * 200, "shop/b"])
def test_a_tenant_that_names_none_is_refused_and_nothing_is_made(
    tenant: str, tmp_path: Path
) -> None:
    source = tmp_path / "one.jsonl"
    source.write_text(json.dumps({"customer": "c1", "channel": "email", "subject": "Hi"}) + "\n")
    db = tmp_path / "new.db"
    ran = run("import", str(source), "--db", str(db), "--tenant", tenant)
    assert ran.code == 1
    assert "--tenant" in ran.err
    assert not db.exists()


@pytest.mark.parametrize("placed", [["--tenant", "shop-b"], ["--db", "other.db"]])
def test_a_store_option_before_a_subcommand_is_refused_not_lost(
    placed: list[str], tmp_path: Path
) -> None:
    db = str(tmp_path / "shops.db")
    _fill(db)
    # before, "dead-letters --tenant shop-b requeue --all" requeued the default shop's
    ran = run("dead-letters", *placed, "requeue", "--db", db, "--all")
    assert ran.code == 2
    assert f"{placed[0]} go after the subcommand" in ran.err
    ran = run("dead-letters", "requeue", "--db", db, "--all", "--tenant", "shop-b")
    assert (ran.code, ran.out) == (0, "requeued 0 notifications\n")
