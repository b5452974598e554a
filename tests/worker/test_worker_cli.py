"""``aftersales worker`` in-process: options, --app, --once, the stop on SIGTERM."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from typer.testing import CliRunner
from worker_app import read_keys, write_pending

from aftersales import Desk, SQLiteStore
from aftersales.cli import _build_app


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("WORKER_TEST_DIR", str(tmp_path))
    return tmp_path


def _run(*arguments: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(_build_app(), ["worker", *arguments])
    return result.exit_code, result.stdout, result.stderr


def test_one_pass_with_the_apps_desk_delivers_what_is_pending(folder: Path) -> None:
    db = folder / "desk.db"
    pending = write_pending(db, 12)
    code, out, err = _run("--db", str(db), "--app", "worker_app:build", "--once", "--batch", "5")
    assert (code, out) == (0, "")
    assert "warning" not in err
    assert sorted(read_keys(folder / "delivered")) == sorted(pending)
    with Desk.sqlite(db) as desk:
        assert desk.outbox("pending") == []


def test_a_worker_of_one_tenant_delivers_only_that_tenants_notifications(folder: Path) -> None:
    db = folder / "desk.db"
    mine = write_pending(db, 3, tenant="shop-a")
    theirs = write_pending(db, 2, tenant="shop-b")
    code, _, err = _run(
        "--db", str(db), "--app", "worker_app:build", "--once", "--tenant", "shop-a"
    )
    assert code == 0, err
    assert sorted(read_keys(folder / "delivered")) == sorted(mine)
    with Desk(SQLiteStore(db, tenant="shop-b")) as desk:
        assert sorted(n.key for n in desk.outbox("pending")) == sorted(theirs)


def test_an_app_whose_desk_serves_another_tenant_is_refused(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = folder / "desk.db"
    mine = write_pending(db, 2, tenant="shop-a")
    monkeypatch.setenv("WORKER_TEST_DB", str(db))
    code, _, err = _run(
        "--db", str(db), "--app", "worker_app:build_own_store", "--once", "--tenant", "shop-a"
    )
    assert code == 1
    assert "a desk of tenant '', not 'shop-a' (--tenant)" in err
    assert read_keys(folder / "delivered") == []
    with Desk(SQLiteStore(db, tenant="shop-a")) as desk:
        assert sorted(n.key for n in desk.outbox("pending")) == sorted(mine)


def test_without_an_app_it_is_a_usage_error_that_touches_nothing(folder: Path) -> None:
    db = folder / "desk.db"
    pending = write_pending(db, 2)
    code, _, err = _run("--db", f"sqlite:///{db}", "--once")
    assert code == 2
    assert "--app is required" in err
    with Desk.sqlite(db) as desk:
        still = desk.outbox("pending")
    assert sorted(n.key for n in still) == sorted(pending)
    assert all(n.lease_until is None for n in still)


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:", ":memory:"])
def test_an_in_memory_database_is_refused_naming_db(folder: Path, url: str) -> None:
    code, _, err = _run("--db", url, "--app", "worker_app:build", "--once")
    assert code == 1
    assert f"--db: {url} is an in-memory database" in err


def test_an_app_whose_desk_has_no_handlers_warns_that_nothing_is_delivered(
    folder: Path,
) -> None:
    db = folder / "desk.db"
    pending = write_pending(db, 2)
    code, _, err = _run("--db", str(db), "--app", "worker_app:build_bare", "--once")
    assert code == 0
    assert "warning: no handlers are subscribed" in err
    with Desk.sqlite(db) as desk:
        still = desk.outbox("pending")
    assert sorted(n.key for n in still) == sorted(pending)
    assert all(n.lease_until is None for n in still)


def test_sigterm_during_a_delivery_finishes_it_releases_the_rest_and_exits_0(
    folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = folder / "desk.db"
    pending = write_pending(db, 4)
    with caplog.at_level(logging.INFO, logger="aftersales.worker"):
        code, _, err = _run("--db", str(db), "--app", "worker_app:build_stopping")
    assert code == 0, err
    assert "worker stopping on SIGTERM" in caplog.messages
    (delivered,) = read_keys(folder / "delivered")
    with Desk.sqlite(db) as desk:
        assert [n.key for n in desk.outbox("delivered")] == [delivered]
        released = desk.outbox("pending")
    assert sorted(n.key for n in released) == sorted(set(pending) - {delivered})
    assert all(n.lease_until is None for n in released)


def test_a_second_sigterm_interrupts_the_delivery_and_exits_130(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORKER_TEST_SIGNALS", "2")
    db = folder / "desk.db"
    write_pending(db, 2)
    code, _, err = _run("--db", str(db), "--app", "worker_app:build_stopping")
    assert code == 130
    assert "interrupted during a delivery" in err
    assert read_keys(folder / "delivered") == []


@pytest.mark.parametrize(
    ("app", "message"),
    [
        ("worker_app", "must be module:callable"),
        ("no_such_module_here:build", "cannot load no_such_module_here:build"),
        ("worker_app:missing", "cannot load worker_app:missing"),
        ("worker_app:NOT_CALLABLE", "worker_app:NOT_CALLABLE is not callable"),
        ("worker_app:build_nothing", "returned SQLiteStore, not a Desk"),
        ("worker_app:build_broken", 'RuntimeError("the app\'s settings are missing")'),
    ],
)
def test_an_app_that_cannot_be_loaded_or_built_exits_1_saying_why(
    folder: Path, app: str, message: str
) -> None:
    db = folder / "desk.db"
    write_pending(db, 1)
    code, _, err = _run("--db", str(db), "--app", app, "--once")
    assert code == 1
    assert message in err


def test_a_missing_sqlite_file_exits_1(folder: Path) -> None:
    code, _, err = _run("--db", str(folder / "nope.db"), "--app", "worker_app:build", "--once")
    assert code == 1
    assert "no SQLite file" in err
    assert not (folder / "nope.db").exists()


def test_a_failing_pass_with_once_exits_1(folder: Path) -> None:
    db = folder / "desk.db"
    write_pending(db, 1)
    code, _, err = _run("--db", str(db), "--app", "worker_app:build_closed", "--once")
    assert code == 1
    assert "error:" in err


def test_a_once_pass_whose_due_work_fails_delivers_all_the_same_then_exits_1(
    folder: Path,
) -> None:
    db = folder / "desk.db"
    pending = write_pending(db, 3)
    code, _, err = _run("--db", str(db), "--app", "worker_app:build_due_failing", "--once")
    assert code == 1
    assert "ticket row 17 cannot be read" in err
    assert sorted(read_keys(folder / "delivered")) == sorted(pending)


def test_a_due_failure_that_is_not_ours_is_shown_as_its_repr(folder: Path) -> None:
    db = folder / "desk.db"
    write_pending(db, 1)
    code, _, err = _run("--db", str(db), "--app", "worker_app:build_due_crashing", "--once")
    assert code == 1
    assert "ValueError('a bug in a time rule')" in err


@pytest.mark.parametrize(
    "arguments",
    [["--log-level", "LOUD"], ["--interval", "0"], ["--batch", "0"], []],
)
def test_usage_errors_exit_2(folder: Path, arguments: list[str]) -> None:
    db = folder / "desk.db"
    write_pending(db, 1)
    app = ["--db", str(db), "--app", "worker_app:build"] if arguments else []
    code, _, _ = _run(*app, *arguments)
    assert code == 2
