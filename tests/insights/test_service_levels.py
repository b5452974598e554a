"""SLA compliance and business-hours durations (issue 20): hand-computed on a fixed
history, and every store agreeing on a generated one."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from insight_stores import MAKERS, filled

from aftersales import Desk, FrozenClock, InvalidInput, Store
from aftersales.insights import ReportQuery
from aftersales.insights import _sla_tally as tally_module
from aftersales.insights.history import generate_history
from aftersales.insights.service_levels import service_levels

UTC = timezone.utc
MONDAY = datetime(2024, 3, 4, tzinfo=UTC)

POLICY: dict[str, Any] = {
    "name": "office hours",
    "calendar": {"hours": {str(d): ["09:00-17:00"] for d in range(5)}},
    "rules": [
        {
            "name": "standard",
            "targets": {"first_response": {"minutes": 60}, "resolution": {"minutes": 240}},
        }
    ],
}


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2024, 3, day, hour, minute, tzinfo=UTC)


def write_fixed_history(desk: Desk, clock: FrozenClock) -> None:
    """Four tickets of the week of 4 March 2024, office hours 9-17 on weekdays.

    - A (email): answered after 30 min, resolved after 3 h: both met.
    - B (phone): opened Friday 16:30, answered Monday 10:00 (1.5 business hours: late),
      resolved Monday 11:00 (2.5 business hours: met).
    - C (email): never answered; run_due on Tuesday records the missed first response.
    - D (phone): answered after 10 min, never resolved: run_due on the next Monday
      records the missed resolution (C's too).
    """

    def open_(channel: str, subject: str) -> str:
        ticket = desk.open_ticket(customer="c-1", channel=channel, subject=subject)
        desk.classify(ticket.id, category="repair_warranty", severity="medium")
        return ticket.id

    def resolve(ticket_id: str) -> None:
        desk.assign(ticket_id, assignee="li", team="repairs")
        desk.fire(ticket_id, "start")
        desk.resolve(ticket_id, resolution="fixed")

    clock.set(at(4, 9))
    a = open_("email", "A")
    clock.set(at(4, 9, 30))
    desk.add_message(a, "on it", author_id="li")
    clock.set(at(4, 12))
    resolve(a)
    clock.set(at(4, 13))
    c = open_("email", "C")
    clock.set(at(5, 10))
    desk.run_due()
    clock.set(at(6, 9))
    d = open_("phone", "D")
    clock.set(at(6, 9, 10))
    desk.add_message(d, "looking", author_id="li")
    clock.set(at(8, 16, 30))
    b = open_("phone", "B")
    clock.set(at(11, 10))
    desk.add_message(b, "sorry for the wait", author_id="li")
    clock.set(at(11, 11))
    resolve(b)
    clock.set(at(11, 12))
    desk.run_due()
    assert c


def week(**options: Any) -> ReportQuery:
    return ReportQuery(created_from=MONDAY, created_to=MONDAY + timedelta(days=7), **options)


GENERATED_START = datetime(2024, 6, 3, tzinfo=UTC)


def populated(kind: str, folder: Path) -> Store:
    """The fixed history, then a generated one from June on (adding nothing to March)."""
    return filled(kind, folder, write_histories)


def write_histories(store: Store) -> None:
    clock = FrozenClock(at(4, 8))
    desk = Desk(store, clock=clock, sla=POLICY)
    write_fixed_history(desk, clock)
    clock.set(GENERATED_START)
    generate_history(desk, tickets=200, start=GENERATED_START, days=21, seed=7)


@pytest.fixture(scope="module", params=list(MAKERS))
def any_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    store = populated(request.param, tmp_path_factory.mktemp(request.param))
    yield store
    store.close()


@pytest.fixture(scope="module")
def reference() -> Store:
    return populated("memory", Path("."))


def test_compliance_and_business_durations_match_the_hand_computed_values(
    any_store: Store,
) -> None:
    total = service_levels(any_store, week()).total
    first, resolution = total.first_response, total.resolution
    assert (first.met, first.breached, first.pending) == (2, 2, 0)  # A, D met; B late, C missed
    assert first.compliance == 0.5
    # answered: A 30 min, D 10 min, B 90 business minutes; C never
    assert first.business.count == 3
    assert first.business.median_seconds == pytest.approx(30 * 60, rel=0.2)
    assert (resolution.met, resolution.breached, resolution.pending) == (2, 2, 0)
    assert resolution.business.count == 2  # A 3 h, B 2.5 business hours
    assert resolution.business.p90_seconds == pytest.approx(3 * 3600, rel=0.2)


def test_rows_per_channel_and_filters(any_store: Store) -> None:
    report = service_levels(any_store, week(group_by="channel"))
    rows = {row.group: row for row in report.rows}
    assert set(rows) == {"email", "phone"}
    assert (rows["email"].first_response.met, rows["email"].first_response.breached) == (1, 1)
    assert (rows["phone"].first_response.met, rows["phone"].first_response.breached) == (1, 1)
    assert (rows["phone"].resolution.met, rows["phone"].resolution.breached) == (1, 1)
    phone = service_levels(any_store, week(channel="phone")).total
    assert phone == rows["phone"].__class__(None, *(rows["phone"].first_response,
                                                    rows["phone"].resolution))  # fmt: skip
    assert report.total == service_levels(any_store, week()).total


def test_every_store_gives_the_reference_figures_on_the_generated_history(
    any_store: Store, reference: Store
) -> None:
    june = ReportQuery(
        created_from=GENERATED_START, created_to=GENERATED_START + timedelta(days=21)
    )
    for group_by in ("none", "team", "priority", "tier", "product"):
        query = june.model_copy(update={"group_by": group_by})
        assert service_levels(any_store, query) == service_levels(reference, query)
    counted = service_levels(reference, june).total
    assert counted.first_response.tickets > 100  # the generated tickets have targets
    assert counted.first_response.met > 0
    assert counted.resolution.met > 0


def test_a_target_not_reached_yet_is_pending_and_has_no_duration() -> None:
    clock = FrozenClock(at(4, 9))
    desk = Desk(clock=clock, sla=POLICY)
    ticket = desk.open_ticket(customer="c-1", channel="email", subject="A")
    clock.set(at(4, 9, 20))
    desk.add_message(ticket.id, "on it", author_id="li")
    clock.set(at(4, 10))
    desk.run_due()
    total = service_levels(desk.store, week()).total
    assert (total.first_response.met, total.resolution.pending) == (1, 1)
    assert total.resolution.compliance is None
    assert total.resolution.business.count == 0


def test_sqlite_without_math_functions_counts_in_python(
    any_store: Store, reference: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tally_module, "sqlite_dialect", lambda execute: None)
    query = week(group_by="channel")
    assert service_levels(any_store, query) == service_levels(reference, query)


def test_a_desk_without_an_sla_counts_nothing() -> None:
    clock = FrozenClock(at(4, 8))
    desk = Desk(clock=clock)
    ticket = desk.open_ticket(customer="c-1", channel="email", subject="A")
    desk.add_message(ticket.id, "on it", author_id="li")
    total = service_levels(desk.store, week()).total
    assert (total.first_response.tickets, total.first_response.compliance) == (0, None)
    assert total.resolution.business.median_seconds is None


def test_a_bad_query_raises_invalid_input() -> None:
    with pytest.raises(InvalidInput):
        week(group_by="moon")
