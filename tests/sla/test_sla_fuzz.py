"""A fuzz of the public constructors and functions of :mod:`aftersales.sla`: calendars,
calendar specs, SLA policies and their parts, adding and measuring business time, tracking
and the first-response functions. Whatever they are given, only errors of our tree
(:class:`~aftersales.AftersalesError`) escape.

The budget is small by default (CI); set ``AFTERSALES_FUZZ_EXAMPLES`` for a longer run,
e.g. ``AFTERSALES_FUZZ_EXAMPLES=20000 pytest tests/sla/test_sla_fuzz.py``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aftersales import AftersalesError, Desk, FrozenClock, MemoryStore
from aftersales.sla import (
    BusinessCalendar,
    CalendarSpec,
    Escalation,
    SLAMatch,
    SLAPolicy,
    SLARule,
    Target,
    first_response_at,
    meets_first_response,
)
from aftersales.workflows import TICKET_WORKFLOW

EXAMPLES = int(os.environ.get("AFTERSALES_FUZZ_EXAMPLES", "200"))
UTC = timezone.utc
NOW = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)
CATEGORY_OF = TICKET_WORKFLOW.category_of

NASTY: list[Any] = [
    "",
    " ",
    "²",
    "٠٩:00-12:00",
    "\ud800",
    "a\x00b",
    "../etc/passwd",
    "America",
    "utils",
    "x" * 300,
    "24:00",
    "09:00-18:00",
    "mon",
    "0",
    2**70,
    -(2**70),
    10**400,
    -1,
    0,
    7,
    1.7e9,
    1e12,
    -1e12,
    1e30,
    10**7,
    525_601,
    float("nan"),
    float("inf"),
    -float("inf"),
    Decimal("1e30"),
    Decimal("NaN"),
    datetime(9999, 12, 31, 23, 59, tzinfo=UTC),
    datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14))),
    datetime(1899, 12, 31, 23, tzinfo=UTC),
    datetime(2200, 12, 31, 23, tzinfo=UTC),
    datetime(2024, 3, 4, 9, 0),  # naive
    datetime.max,
    date(9999, 12, 31),
    date(2024, 3, 5),
    timedelta(days=-1),
    timedelta(0),
    timedelta.max,
    timedelta(days=365),
    b"\xff",
    (),
    [],
    {},
    set(),
    frozenset({"waiting_on_customer"}),
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
    st.datetimes(timezones=st.none() | st.timezones()),
    st.dates(),
    st.timedeltas(),
    st.sampled_from(NASTY),
)
junk = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.text(max_size=10)
            | st.sampled_from(["mon", "0", "minutes", "hours"])
            | st.integers(),
            inner,
        )
    ),
    max_leaves=6,
)


def _hashable(value: object) -> bool:
    try:
        hash(value)
    except TypeError:  # lists, dicts, a signalling Decimal NaN
        return False
    return True


keys = scalars.filter(_hashable)
timestamps = st.floats(-2.3e9, 7.4e9) | st.integers(-(2**40), 2**40) | junk
aware = st.datetimes(
    min_value=datetime(1899, 1, 1), max_value=datetime(2201, 12, 31), timezones=st.timezones()
)
hours = st.dictionaries(
    st.sampled_from([0, 1, 5, 6, "mon", "sat", "sunday", "3", "²", "funday"]) | keys,
    st.lists(
        st.sampled_from(["09:00-12:00", "13:00-18:00", "00:00-24:00", "02:30-06:00"]) | junk,
        max_size=3,
    )
    | junk,
    max_size=3,
)
CALENDAR_ARGUMENTS: dict[str, st.SearchStrategy[Any]] = {
    "time_zone": st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Asia/Shanghai"]),
    "hours": hours,
    "holidays": st.lists(st.dates()),
    "working_days": st.lists(st.dates()),
    "country": st.sampled_from(["CN", "DE", "US"]),
    "subdivision": st.sampled_from(["BY", "CA", "XX"]),
    "always_open": st.booleans(),
    "make_up_hours_from": st.sampled_from([0, 4, 6, "mon", "friday", "sun"]),
}


def arguments(
    data: st.DataObject, plausible: dict[str, st.SearchStrategy[Any]], *, unknown: bool = False
) -> dict[str, Any]:
    """Each argument left out, plausible or junk; with ``unknown``, sometimes an unknown
    one too (for data: a misspelt keyword argument is Python's TypeError, not input)."""
    kwargs: dict[str, Any] = {}
    for name, strategy in plausible.items():
        choice = data.draw(st.sampled_from(["omit", "plausible", "junk"]))
        if choice != "omit":
            kwargs[name] = data.draw(strategy if choice == "plausible" else junk)
    if unknown and data.draw(st.integers(0, 9)) == 0:
        kwargs[data.draw(st.text(max_size=8))] = data.draw(junk)
    return kwargs


TARGET = st.fixed_dictionaries(
    {},
    optional={
        "minutes": st.floats(0, 10**8) | junk,
        "warning_fraction": st.floats(0, 1) | junk,
        "warning_minutes_before": st.floats(0, 10**8) | junk,
    },
)
RULE = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["r", ""]) | junk,
        "targets": st.dictionaries(
            st.sampled_from(["first_response", "next_response", "periodic_update", "resolution"])
            | keys,
            TARGET | junk,
            max_size=3,
        )
        | junk,
    },
    optional={"match": st.fixed_dictionaries({}, optional={"priority": junk, "tier": junk})},
)
POLICY = st.fixed_dictionaries(
    {"name": st.just("p") | junk, "rules": st.lists(RULE, max_size=2) | junk},
    optional={
        "calendar": st.builds(
            lambda kwargs: kwargs,
            st.fixed_dictionaries(
                {},
                optional={name: strategy | junk for name, strategy in CALENDAR_ARGUMENTS.items()},
            ),
        )
        | junk,
        "pauses": st.dictionaries(
            st.sampled_from(["first_response", "resolution", "next_response"]) | keys,
            st.lists(st.sampled_from(["waiting_on_customer", "open", "x"]) | junk),
        )
        | junk,
        "first_response_met_by": st.lists(
            st.sampled_from(["waiting_on_customer", "waiting_on_third_party", "new", "closed"])
            | junk
        )
        | junk,
        "escalation": junk,
        "team_calendars": junk,
    },
)

CALENDARS = [
    BusinessCalendar(
        time_zone="Europe/Berlin",
        hours={d: ["08:30-12:00", "13:00-17:30"] for d in range(5)} | {6: ["02:30-06:00"]},
        holidays=[date(2024, 12, 25)],
    ),
    BusinessCalendar(always_open=True),
    BusinessCalendar(time_zone="Asia/Shanghai", country="CN"),
]


def _history() -> tuple[SLAPolicy, Any, list[Any]]:
    clock = FrozenClock(NOW)
    policy = SLAPolicy.model_validate(
        {
            "name": "fuzz",
            "calendar": {"time_zone": "Europe/Berlin"},
            "rules": [{"name": "all", "targets": {"first_response": {"minutes": 60}}}],
        }
    )
    desk = Desk(MemoryStore(), clock=clock, sla=policy)
    ticket = desk.open_ticket(customer="c1", channel="email", subject="Broken")
    clock.advance(minutes=5)
    desk.add_message(ticket.id, "on it", author_id="li")
    return policy, desk.get(ticket.id), desk.history(ticket.id)


FUZZ_POLICY, TICKET, EVENTS = _history()


def entries(data: st.DataObject) -> tuple[str, Callable[[], Any]]:
    calendar = data.draw(st.sampled_from(CALENDARS))
    events = st.just(EVENTS) | st.lists(st.sampled_from(EVENTS) | junk, max_size=3) | junk
    met_by = st.just(frozenset()) | st.lists(st.sampled_from(["resolved", "new"]) | junk) | junk
    category_of = st.just(CATEGORY_OF) | junk
    calls: dict[str, Callable[[], Any]] = {
        "BusinessCalendar": lambda: BusinessCalendar(**arguments(data, CALENDAR_ARGUMENTS)),
        "CalendarSpec": lambda: CalendarSpec.model_validate(
            arguments(data, CALENDAR_ARGUMENTS, unknown=True)
        ),
        "CalendarSpec(junk)": lambda: CalendarSpec.model_validate(data.draw(junk)),
        "SLAPolicy": lambda: SLAPolicy.model_validate(data.draw(POLICY)),
        "SLAPolicy(junk)": lambda: SLAPolicy.model_validate(data.draw(junk)),
        "Target": lambda: Target.model_validate(data.draw(TARGET | junk)),
        "SLARule": lambda: SLARule.model_validate(data.draw(RULE | junk)),
        "SLAMatch": lambda: SLAMatch.model_validate(data.draw(junk)),
        "Escalation": lambda: Escalation.model_validate(data.draw(junk)),
        "add": lambda: calendar.add(data.draw(aware | junk), data.draw(st.timedeltas() | junk)),
        "elapsed": lambda: calendar.elapsed(data.draw(aware | junk), data.draw(aware | junk)),
        "is_open": lambda: calendar.is_open(data.draw(aware | junk)),
        "next_opening": lambda: calendar.next_opening(data.draw(aware | junk)),
        "add_seconds": lambda: calendar.add_seconds(
            data.draw(timestamps), data.draw(st.floats() | st.integers() | junk)
        ),
        "elapsed_seconds": lambda: calendar.elapsed_seconds(
            data.draw(timestamps), data.draw(timestamps)
        ),
        "position": lambda: calendar.position(data.draw(timestamps)),
        "track": lambda: FUZZ_POLICY.track(
            data.draw(st.just(TICKET) | junk),
            data.draw(events),
            data.draw(aware | junk),
            category_of=data.draw(category_of),
            tier=data.draw(st.none() | st.just("vip") | junk),
        ),
        "rule_for": lambda: FUZZ_POLICY.rule_for(
            data.draw(st.just(TICKET) | junk), data.draw(junk)
        ),
        "calendar_for": lambda: FUZZ_POLICY.calendar_for(data.draw(st.just(TICKET) | junk)),
        "first_response_at": lambda: first_response_at(
            data.draw(events), category_of=data.draw(category_of), met_by=data.draw(met_by)
        ),
        "meets_first_response": lambda: meets_first_response(
            data.draw(st.sampled_from(EVENTS) | junk),
            category_of=data.draw(category_of),
            met_by=data.draw(met_by),
        ),
    }
    name = data.draw(st.sampled_from(sorted(calls)), label="entry")
    return name, calls[name]


@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")  # large reprs
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
@given(data=st.data())
def test_every_public_sla_entry_raises_only_our_errors(data: st.DataObject) -> None:
    name, call = entries(data)
    try:
        call()
    except AftersalesError:
        pass
    except Exception as error:  # noqa: BLE001 - the assertion names it
        pytest.fail(f"{name} raised {error!r}, not an AftersalesError")
