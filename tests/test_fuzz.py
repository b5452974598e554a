"""A fuzz of every public entry point of a desk, on every store.

Each example calls one public method of :class:`~aftersales.Desk` or of its case desk with
arguments that are each either plausible or arbitrary (JSON-like data, Python objects,
far dates, huge numbers, control characters, lone surrogates). Two promises are checked:

- only errors of our tree (:class:`~aftersales.AftersalesError`) escape;
- a call that raises leaves everything stored as it was.

The budget is small by default (CI); set ``AFTERSALES_FUZZ_EXAMPLES`` for a longer run, e.g.
``AFTERSALES_FUZZ_EXAMPLES=20000 pytest tests/test_fuzz.py``.
"""

from __future__ import annotations

import inspect
import os
import sqlite3
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from case_facts import claim_line, phone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aftersales import (
    AftersalesError,
    Case,
    Desk,
    FrozenClock,
    MemoryStore,
    SQLiteStore,
    Store,
    Ticket,
)
from aftersales.workflows import (
    COMPLAINT_WORKFLOW,
    EXCHANGE_WORKFLOW,
    REFUND_WORKFLOW,
    REPAIR_WORKFLOW,
    RETURN_WORKFLOW,
    TICKET_WORKFLOW,
)

EXAMPLES = int(os.environ.get("AFTERSALES_FUZZ_EXAMPLES", "150"))
NOW = datetime(2024, 3, 4, 9, 0, tzinfo=timezone.utc)

TRIGGERS = sorted(
    {
        trigger
        for workflow in (
            TICKET_WORKFLOW,
            RETURN_WORKFLOW,
            EXCHANGE_WORKFLOW,
            REFUND_WORKFLOW,
            REPAIR_WORKFLOW,
            COMPLAINT_WORKFLOW,
        )
        for trigger in workflow.triggers
    }
)

NASTY = [
    "",
    " ",
    "\ud800",
    "a\x00b",
    "\x1f",
    "CUST-1 ",
    "neww",
    "resolv",
    "1e30",
    "9999-12-31T23:59:59+00:00",
    "0001-01-01T00:00:00+14:00",
    "x" * 300,
    2**70,
    -(2**70),
    -1,
    0,
    1e30,
    float("nan"),
    float("inf"),
    Decimal("1e30"),
    Decimal("NaN"),
    datetime(9999, 12, 31, 23, 59, tzinfo=timezone.utc),
    datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14))),
    datetime(2024, 3, 4, 9, 0),  # naive
    date(9999, 12, 31),
    timedelta(days=-1),
    b"\xff",
    (),
    [],
    {},
    set(),
    object(),
    print,
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=12),
    st.decimals(),
    st.sampled_from(NASTY),
)
junk = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=10) | st.sampled_from(["amount", "sku", "facts"]), inner)
    ),
    max_leaves=6,
)


class World:
    """A desk with a ticket, a customer, a return and a repair to aim calls at."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.clock = FrozenClock(NOW)
        self.desk = Desk(store, clock=self.clock)
        self.names = 0
        ticket = self.desk.open_ticket(customer="cust-1", channel="email", subject="退货")
        other = self.desk.open_ticket(customer="cust-2", channel="app", subject="repair")
        self.ticket_id, self.other_id, self.number = ticket.id, other.id, ticket.number
        self.return_id = self.desk.cases.request_return(
            ticket.id, order_id="o-1", lines=[claim_line(bought=3, claimed=1)]
        ).id
        self.repair_id = self.desk.cases.open_repair(
            other.id, serial="SN-1", line=phone(), order_id="o-2"
        ).id

    def plausible(self, name: str) -> st.SearchStrategy[Any] | None:
        """A valid-looking value for a parameter called ``name``, or None for junk only."""
        values: dict[str, st.SearchStrategy[Any]] = {
            "ticket_id": st.sampled_from([self.ticket_id, self.other_id]),
            "ticket": st.sampled_from([self.ticket_id, self.number]),
            "into": st.sampled_from([self.other_id, self.ticket_id]),
            "case_id": st.sampled_from([self.return_id, self.repair_id]),
            "trigger": st.sampled_from(TRIGGERS),
            "actor": st.sampled_from(["agent-1", "cust-1", "system"]),
            "author_id": st.just("agent-1"),
            "assignee": st.just("li.wei"),
            "team": st.just("repairs"),
            "category": st.sampled_from(["repair_warranty", "return_refund", "repair"]),
            "severity": st.sampled_from(["high", "low"]),
            "priority": st.sampled_from(["high", "normal"]),
            "customer": st.sampled_from(["cust-1", "cust-3"]),
            "customer_id": st.just("cust-1"),
            "channel": st.sampled_from(["email", "phone"]),
            "address": st.just("a@example.com"),
            "subject": st.just("耳机没有声音"),
            "body": st.just("Any news?"),
            "reason": st.just("duplicate"),
            "resolution": st.just("fixed"),
            "summary": st.just("rude courier"),
            "now": st.sampled_from(
                [
                    NOW + timedelta(days=1),
                    datetime(9999, 12, 31, 23, 59, tzinfo=timezone.utc),
                    datetime(2200, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-5))),
                ]
            ),
            "limit": st.integers(1, 5),
            "batch_size": st.integers(1, 5),
            "order_id": st.sampled_from(["o-1", "o-3"]),
            "lines": st.just([claim_line(bought=3, claimed=1)]),
            "line": st.sampled_from([phone(), claim_line(bought=3, claimed=1)]),
            "serial": st.just("SN-1"),
            "replacement_sku": st.just("SKU-new"),
            "payload": st.just({}),
            "expected_version": st.none(),
            "state": st.sampled_from(["closed", "resolved"]),
            "handler": st.just(lambda notification: None),
            "created_from": st.just(NOW - timedelta(days=1)),
            "created_to": st.just(NOW + timedelta(days=1)),
            "by": st.just("priority"),
            "status": st.sampled_from(["pending", None]),
        }
        return values.get(name)


def entry_points(world: World) -> list[tuple[str, Callable[..., Any]]]:
    """Every public method of the desk and its case desk, but those that end it."""
    skip = {"close", "sqlite", "flush"}
    found = []
    for owner, prefix in ((world.desk, "desk"), (world.desk.cases, "cases")):
        for name, method in inspect.getmembers(owner, inspect.ismethod):
            if not name.startswith("_") and name not in skip:
                found.append((f"{prefix}.{name}", method))
    return sorted(found, key=lambda item: item[0])


def call_arguments(
    data: st.DataObject, world: World, method: Callable[..., Any]
) -> tuple[list[Any], dict[str, Any]]:
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    parameters = inspect.signature(method).parameters.values()
    # Before a *args parameter, arguments can only be given by position.
    by_position = any(parameter.kind is parameter.VAR_POSITIONAL for parameter in parameters)
    for parameter in parameters:
        if parameter.kind is parameter.VAR_KEYWORD:
            kwargs.update(data.draw(st.dictionaries(st.text(max_size=15), junk, max_size=2)))
            continue
        if parameter.kind is parameter.VAR_POSITIONAL:
            args.extend(data.draw(st.lists(junk | st.sampled_from(TRIGGERS), max_size=2)))
            continue
        positional = parameter.kind is parameter.POSITIONAL_ONLY or (
            by_position and parameter.kind is parameter.POSITIONAL_OR_KEYWORD
        )
        optional = parameter.default is not parameter.empty
        if optional and not positional and data.draw(st.booleans()):
            continue  # leave it out
        plausible = world.plausible(parameter.name)
        if plausible is not None and data.draw(st.booleans()):
            value = data.draw(plausible)
        else:
            value = data.draw(junk)
        if parameter.name == "name":
            world.names += 1
            value = f"fuzz-{world.names}" if plausible is None and optional else value
        if positional:
            args.append(value)
        else:
            kwargs[parameter.name] = value
    return args, kwargs


def stored_state(store: Store) -> Any:
    """Everything a store holds, as comparable data (ticket numbers reserved aside: a
    failed call may skip numbers, which the docs allow)."""
    if isinstance(store, SQLiteStore):
        path = store.path
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
            tables = [
                name
                for (name,) in connection.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
                )
                if name != "counters"
            ]
            return {
                table: sorted(map(repr, connection.execute(f"SELECT * FROM {table}")))
                for table in tables
            }
    return {
        name: repr(sorted(map(repr, value.items())) if isinstance(value, dict) else value)
        for name, value in vars(store).items()
        if isinstance(value, (dict, list)) and "number" not in name
    }


@pytest.fixture(params=["memory", "sqlite"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    store: Store = MemoryStore() if request.param == "memory" else SQLiteStore(tmp_path / "f.db")
    yield World(store)
    store.close()


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
@given(data=st.data())
def test_every_public_entry_raises_only_our_errors_and_changes_nothing_when_it_fails(
    world: World, data: st.DataObject
) -> None:
    entries = entry_points(world)
    label, method = data.draw(st.sampled_from(entries), label="entry")
    args, kwargs = call_arguments(data, world, method)
    before = stored_state(world.store)
    try:
        result = method(*args, **kwargs)
    except AftersalesError:
        assert stored_state(world.store) == before, f"{label} failed but changed the store"
    except Exception as error:  # noqa: BLE001 - the assertion names it
        pytest.fail(f"{label}(*{args!r}, **{kwargs!r}) raised {error!r}, not an AftersalesError")
    else:
        assert_every_subject_replays(world, result, label)


def assert_every_subject_replays(world: World, result: object, label: str) -> None:
    """What a successful call stored can be read back, and its events rebuild it."""
    desk = world.desk
    tickets = {world.ticket_id, world.other_id}
    cases = {world.return_id, world.repair_id}
    if isinstance(result, Ticket):
        tickets.add(result.id)
    elif isinstance(result, Case):
        cases.add(result.id)
    for ticket_id in tickets:
        assert desk.replay(ticket_id) == desk.get(ticket_id), f"ticket after {label}"
    for case_id in cases:
        assert desk.cases.replay(case_id) == desk.cases.get(case_id), f"case after {label}"
