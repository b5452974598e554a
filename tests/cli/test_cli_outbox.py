"""``aftersales outbox`` and ``aftersales dead-letters [requeue]``, on SQLite files and on
PostgreSQL and MariaDB URLs."""

from __future__ import annotations

import json

import pytest
from cli_helpers import T0, Seeded, fresh_server_url, run

from aftersales import Desk, FrozenClock
from aftersales.storage import SQLiteStore, Store


def _records(output: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in output.splitlines()]


def test_outbox_lists_the_rows_with_a_count_of_each_status(seeded: Seeded) -> None:
    ran = run("outbox", "--db", str(seeded.db))
    assert (ran.code, ran.err) == (0, "")
    for key in seeded.dead_keys:
        assert key in ran.out
    assert "RuntimeError: smtp down" in ran.out
    assert "pending 0, delivered 0, dead 2" in ran.out


def test_outbox_filters_by_status_and_prints_json_lines(seeded: Seeded) -> None:
    dead = _records(run("outbox", "--db", str(seeded.db), "--status", "dead", "--json").out)
    assert [(r["key"], r["status"], r["attempts"]) for r in dead] == [
        (key, "dead", 1) for key in seeded.dead_keys
    ]
    assert dead[0]["handler"] == "mailer"
    assert dead[0]["trigger"] == "classify"
    assert run("outbox", "--db", str(seeded.db), "--status", "pending", "--json").out == ""
    bad = run("outbox", "--db", str(seeded.db), "--status", "lost")
    assert (bad.code, bad.out) == (2, "")
    assert "Invalid value for '--status'" in bad.err


def test_dead_letters_lists_only_dead_rows(seeded: Seeded) -> None:
    ran = run("dead-letters", "--db", str(seeded.db), "--json")
    assert ran.code == 0
    assert [r["key"] for r in _records(ran.out)] == list(seeded.dead_keys)
    table = run("dead-letters", "--db", str(seeded.db))
    assert "dead letters" in table.out
    assert seeded.dead_keys[0] in table.out


def test_a_limit_shows_the_oldest_rows_and_still_counts_them_all(seeded: Seeded) -> None:
    table = run("outbox", "--db", str(seeded.db), "--limit", "1")
    assert seeded.dead_keys[0] in table.out
    assert seeded.dead_keys[1] not in table.out
    assert "dead 2; the first 1 of 2 shown (--limit)" in table.out
    dead = _records(run("dead-letters", "--db", str(seeded.db), "--json", "--limit", "1").out)
    assert [r["key"] for r in dead] == [seeded.dead_keys[0]]


def test_dead_letters_without_a_database_is_a_usage_error() -> None:
    ran = run("dead-letters")
    assert (ran.code, ran.out) == (2, "")
    assert "--db is required" in ran.err


def test_requeue_by_key_moves_that_row_back_to_pending(seeded: Seeded) -> None:
    first, second = seeded.dead_keys
    ran = run("dead-letters", "requeue", first, "--db", str(seeded.db))
    assert (ran.code, ran.out, ran.err) == (0, "requeued 1 notification\n", "")
    pending = _records(run("outbox", "--db", str(seeded.db), "--status", "pending", "--json").out)
    assert [(r["key"], r["attempts"], r["last_error"]) for r in pending] == [
        (first, 0, "RuntimeError: smtp down")
    ]
    still = _records(run("dead-letters", "--db", str(seeded.db), "--json").out)
    assert [r["key"] for r in still] == [second]


def test_requeue_all_and_the_next_dispatch_delivers(seeded: Seeded) -> None:
    ran = run("dead-letters", "requeue", "--all", "--db", str(seeded.db))
    assert (ran.code, ran.out) == (0, "requeued 2 notifications\n")
    received: list[str] = []
    with Desk(SQLiteStore(seeded.db), clock=FrozenClock(T0.replace(year=2030))) as desk:
        desk.on_transition(lambda n: received.append(n.key), "classify", "assign", name="mailer")
        assert desk.dispatch_outbox().delivered == 2
    assert sorted(received) == sorted(seeded.dead_keys)


@pytest.mark.parametrize(
    ("arguments", "code", "says"),
    [
        ([], 2, "give the keys of dead notifications, or --all"),
        (["--all", "KEY"], 2, "not both"),
        (["no-such-key"], 1, "not dead-lettered, nothing requeued: no-such-key"),
    ],
)
def test_requeue_refuses_bad_input_and_moves_nothing(
    seeded: Seeded, arguments: list[str], code: int, says: str
) -> None:
    keys = [seeded.dead_keys[0] if a == "KEY" else a for a in arguments]
    # a known key beside an unknown one: still nothing moves
    if code == 1:
        keys = [seeded.dead_keys[0], *keys]
    ran = run("dead-letters", "requeue", *keys, "--db", str(seeded.db))
    assert (ran.code, ran.out) == (code, "")
    assert says in ran.err
    dead = _records(run("dead-letters", "--db", str(seeded.db), "--json").out)
    assert [r["key"] for r in dead] == list(seeded.dead_keys)


@pytest.mark.parametrize("server", ["postgresql", "mariadb"])
def test_requeue_on_a_server_database_url(server: str) -> None:
    from aftersales.storage.sqlalchemy import SQLAlchemyStore

    url = fresh_server_url(server)
    store: Store = SQLAlchemyStore(url)
    desk = Desk(store, clock=FrozenClock(T0), settings={"max_delivery_attempts": 1})

    def down(notification: object) -> None:
        raise ConnectionError("down")

    desk.on_transition(down, name="hook")
    ticket = desk.open_ticket(customer="c-1", channel="email", subject="Kettle")
    desk.close()

    listed = run("dead-letters", "--db", url, "--json")
    assert [r["key"] for r in _records(listed.out)] == [f"{ticket.id}:1:hook"]
    ran = run("dead-letters", "requeue", f"{ticket.id}:1:hook", "--db", url)
    assert (ran.code, ran.out) == (0, "requeued 1 notification\n"), ran.err
    pending = _records(run("outbox", "--db", url, "--status", "pending", "--json").out)
    assert [(r["key"], r["attempts"]) for r in pending] == [(f"{ticket.id}:1:hook", 0)]
