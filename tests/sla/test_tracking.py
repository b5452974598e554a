"""SLA metrics computed from ticket history: targets, pauses, warnings, breaches, reports."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from aftersales import Desk, FrozenClock, InvalidInput, MemoryStore, SQLiteStore, Store
from aftersales.sla import Metric, MetricState, SLAPolicy

UTC = timezone.utc
MONDAY_11 = datetime(2024, 3, 4, 11, tzinfo=UTC)


def _targets(response: int, resolution: int) -> dict[str, Any]:
    return {
        "first_response": {"minutes": response},
        "resolution": {"minutes": resolution},
        "next_response": {"minutes": response},
        "periodic_update": {"minutes": resolution},
    }


POLICY: dict[str, Any] = {
    "name": "frappe-default",
    "calendar": {"hours": {str(d): ["10:00-18:00"] for d in range(5)}},
    "rules": [
        {"name": "urgent", "match": {"priority": ["urgent"]}, "targets": _targets(30, 120)},
        {"name": "high", "match": {"priority": ["high"]}, "targets": _targets(60, 240)},
        {"name": "vip", "match": {"tier": ["vip"]}, "targets": _targets(120, 600)},
        {"name": "medium", "match": {"priority": ["normal"]}, "targets": _targets(480, 1440)},
        {"name": "low", "targets": _targets(1440, 4320)},
    ],
    "escalation": {"on": ["first_response"], "assignee": "supervisor", "team": "escalations"},
}


@pytest.fixture(params=["memory", "sqlite"])
def sla_desk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Desk]:
    store: Store = MemoryStore() if request.param == "memory" else SQLiteStore(tmp_path / "sla.db")
    desk = Desk(store, clock=FrozenClock(MONDAY_11), sla=POLICY)
    yield desk
    desk.close()


def _high(desk: Desk) -> str:
    ticket = desk.open_ticket(customer="c1", channel="email", subject="Broken")
    return desk.classify(ticket.id, category="repair_warranty", severity="high").id


def _status(desk: Desk, ticket_id: str, metric: Metric) -> Any:
    return desk.sla_status(ticket_id).metrics[metric]


def test_targets_follow_the_first_matching_rule_on_business_hours(sla_desk: Desk) -> None:
    ticket_id = _high(sla_desk)
    status = sla_desk.sla_status(ticket_id)
    assert status.rule == "high"
    assert status.metrics[Metric.FIRST_RESPONSE].due_at == datetime(2024, 3, 4, 12, tzinfo=UTC)
    assert status.metrics[Metric.RESOLUTION].due_at == datetime(2024, 3, 4, 15, tzinfo=UTC)
    assert sla_desk.get(ticket_id).sla_rule == "high"
    assert sla_desk.get(ticket_id).sla_due_at == datetime(2024, 3, 4, 11, 48, tzinfo=UTC)


def test_an_agent_reply_meets_the_first_response_a_customer_message_does_not(
    sla_desk: Desk,
) -> None:
    clock: FrozenClock = sla_desk.clock  # type: ignore[assignment]
    ticket_id = _high(sla_desk)
    clock.advance(minutes=20)
    sla_desk.add_message(ticket_id, "hello?", author_id="c1", author_role="customer")
    assert _status(sla_desk, ticket_id, Metric.FIRST_RESPONSE).state is MetricState.RUNNING
    clock.advance(minutes=20)
    sla_desk.add_message(ticket_id, "on it", author_id="li")
    first = _status(sla_desk, ticket_id, Metric.FIRST_RESPONSE)
    assert (first.state, first.met_at, first.used_seconds) == (MetricState.MET, clock.now(), 2400)


def test_waiting_on_the_customer_pauses_resolution_not_first_response(sla_desk: Desk) -> None:
    clock: FrozenClock = sla_desk.clock  # type: ignore[assignment]
    ticket_id = _high(sla_desk)
    sla_desk.assign(ticket_id, assignee="li")
    sla_desk.fire(ticket_id, "start")
    clock.advance(hours=1)
    sla_desk.fire(ticket_id, "wait_for_customer")  # Monday 12:00
    clock.set(datetime(2024, 3, 5, 11, tzinfo=UTC))  # across midnight: 7 business hours paused
    sla_desk.fire(ticket_id, "resume")
    resolution = _status(sla_desk, ticket_id, Metric.RESOLUTION)
    assert resolution.paused_seconds == 7 * 3600
    assert resolution.used_seconds == 3600  # Monday 11:00-12:00; the rest was paused
    assert resolution.due_at == datetime(2024, 3, 5, 14, tzinfo=UTC)  # 4 h target + 7 h paused
    first = _status(sla_desk, ticket_id, Metric.FIRST_RESPONSE)
    assert first.met_at == datetime(2024, 3, 4, 12, tzinfo=UTC)  # waiting on the customer answers


def test_a_pause_over_a_weekend_counts_only_business_time(sla_desk: Desk) -> None:
    clock: FrozenClock = sla_desk.clock  # type: ignore[assignment]
    clock.set(datetime(2024, 3, 8, 16, tzinfo=UTC))
    ticket_id = _high(sla_desk)
    sla_desk.assign(ticket_id, assignee="li")
    sla_desk.fire(ticket_id, "start")
    sla_desk.fire(ticket_id, "wait_for_third_party")
    clock.set(datetime(2024, 3, 11, 12, tzinfo=UTC))
    assert _status(sla_desk, ticket_id, Metric.RESOLUTION).state is MetricState.PAUSED
    sla_desk.fire(ticket_id, "resume")
    resolution = _status(sla_desk, ticket_id, Metric.RESOLUTION)
    assert resolution.paused_seconds == 4 * 3600  # Fri 16-18 and Mon 10-12
    assert resolution.due_at == datetime(2024, 3, 11, 16, tzinfo=UTC)


def test_run_due_warns_and_breaches_once_each_and_escalates(sla_desk: Desk) -> None:
    clock: FrozenClock = sla_desk.clock  # type: ignore[assignment]
    ticket_id = _high(sla_desk)
    assert sla_desk.run_due(clock.now()).sla_events == ()
    clock.set(datetime(2024, 3, 4, 11, 50, tzinfo=UTC))
    assert sla_desk.run_due().sla_events == ((ticket_id, "sla_warning", "first_response"),)
    assert sla_desk.run_due().sla_events == ()
    clock.set(datetime(2024, 3, 4, 12, 0, 1, tzinfo=UTC))
    assert sla_desk.run_due().sla_events == ((ticket_id, "sla_breached", "first_response"),)
    assert sla_desk.run_due().sla_events == ()
    escalated = sla_desk.get(ticket_id)
    assert (escalated.escalation_level, escalated.assignee, escalated.team) == (
        1,
        "supervisor",
        "escalations",
    )
    assert sla_desk.replay(ticket_id) == escalated
    breach = sla_desk.history(ticket_id)[-1]
    assert (breach.trigger, breach.actor, breach.payload["rule"]) == ("sla_breached", "sla", "high")
    assert escalated.sla_due_at == datetime(2024, 3, 4, 14, 12, tzinfo=UTC)  # resolution's warning


def test_breach_hooks_are_notified(sla_desk: Desk) -> None:
    clock: FrozenClock = sla_desk.clock  # type: ignore[assignment]
    paged: list[str] = []
    sla_desk.on_transition(
        lambda n: paged.append(n.event.payload["metric"]), "sla_breached", name="pager"
    )
    _high(sla_desk)
    clock.advance(days=2)
    sla_desk.run_due()
    assert sorted(paged) == ["first_response", "periodic_update", "resolution"]


def test_a_priority_change_mid_ticket_is_recorded_and_applied(sla_desk: Desk) -> None:
    clock: FrozenClock = sla_desk.clock  # type: ignore[assignment]
    ticket_id = _high(sla_desk)
    clock.advance(minutes=10)
    sla_desk.classify(ticket_id, category="repair_warranty", severity="critical")
    assert sla_desk.history(ticket_id)[-1].changes["sla_rule"] == "urgent"
    status = sla_desk.sla_status(ticket_id)
    assert status.rule == "urgent"
    assert status.metrics[Metric.FIRST_RESPONSE].due_at == datetime(2024, 3, 4, 11, 30, tzinfo=UTC)
    assert sla_desk.replay(ticket_id) == sla_desk.get(ticket_id)


def test_customer_tiers_choose_rules(sla_desk: Desk) -> None:
    sla_desk.save_customer({"id": "gold", "name": "Gold", "tier": "vip"})
    ticket = sla_desk.open_ticket(customer="gold", channel="app", subject="hi")
    assert sla_desk.sla_status(ticket.id).rule == "vip"


def test_next_response_and_periodic_updates(sla_desk: Desk) -> None:
    clock: FrozenClock = sla_desk.clock  # type: ignore[assignment]
    ticket_id = _high(sla_desk)
    assert Metric.NEXT_RESPONSE not in sla_desk.sla_status(ticket_id).metrics
    sla_desk.add_message(ticket_id, "looking", author_id="li")
    clock.advance(minutes=30)
    sla_desk.add_message(ticket_id, "any news?", author_id="c1", author_role="customer")
    waiting = _status(sla_desk, ticket_id, Metric.NEXT_RESPONSE)
    assert (waiting.state, waiting.started_at) == (MetricState.RUNNING, clock.now())
    clock.advance(minutes=15)
    sla_desk.add_message(ticket_id, "soon", author_id="li")
    answered = _status(sla_desk, ticket_id, Metric.NEXT_RESPONSE)
    assert (answered.state, answered.used_seconds) == (MetricState.MET, 900)
    periodic = _status(sla_desk, ticket_id, Metric.PERIODIC_UPDATE)
    assert periodic.started_at == clock.now()


def test_a_resolved_ticket_stops_the_clock_and_a_reopen_continues_it(sla_desk: Desk) -> None:
    clock: FrozenClock = sla_desk.clock  # type: ignore[assignment]
    ticket_id = _high(sla_desk)
    sla_desk.assign(ticket_id, assignee="li")
    sla_desk.fire(ticket_id, "start")
    clock.advance(hours=1)
    sla_desk.resolve(ticket_id, resolution="done")
    met = _status(sla_desk, ticket_id, Metric.RESOLUTION)
    assert (met.state, met.used_seconds) == (MetricState.MET, 3600)
    assert Metric.PERIODIC_UPDATE not in sla_desk.sla_status(ticket_id).metrics
    clock.advance(hours=2)
    sla_desk.reopen(ticket_id, reason="again")
    clock.advance(hours=1)
    running = _status(sla_desk, ticket_id, Metric.RESOLUTION)
    assert (running.state, running.used_seconds) == (MetricState.RUNNING, 2 * 3600)


def test_compliance_report_per_priority(sla_desk: Desk) -> None:
    clock: FrozenClock = sla_desk.clock  # type: ignore[assignment]
    fast = _high(sla_desk)
    sla_desk.add_message(fast, "hi", author_id="li")
    _high(sla_desk)
    clock.advance(days=3)
    rows = sla_desk.sla_report(created_from=MONDAY_11, created_to=MONDAY_11 + timedelta(days=1))
    first = next(r for r in rows if r.metric is Metric.FIRST_RESPONSE)
    assert (first.group, first.met, first.breached, first.compliance) == ("high", 1, 1, 0.5)
    by_metric = sla_desk.sla_report(created_from=MONDAY_11, created_to=clock.now(), by="metric")
    assert {r.group for r in by_metric} == {"all"}
    with pytest.raises(InvalidInput):
        sla_desk.sla_report(created_from=MONDAY_11, created_to=clock.now(), by="moon")


def test_a_desk_without_an_sla_policy_says_so() -> None:
    desk = Desk()
    ticket = desk.open_ticket(customer="c", channel="sms", subject="x")
    with pytest.raises(InvalidInput):
        desk.sla_status(ticket.id)
    with pytest.raises(InvalidInput):
        desk.sla_report(created_from=MONDAY_11, created_to=MONDAY_11)


@pytest.mark.parametrize(
    ("change", "location"),
    [
        ({"rules": []}, ("rules",)),
        (
            {"rules": [{"name": "x", "targets": {"first_response": {"minutes": 0}}}]},
            ("rules", 0, "targets"),
        ),
        (
            {"rules": [{"name": "x", "targets": {"first_response": {"minutes": -5}}}]},
            ("rules", 0, "targets"),
        ),
        ({"calendar": {"time_zone": "Nowhere/Land"}}, ("calendar",)),
        ({"calendar": {"hours": {"0": ["12:00-11:00"]}}}, ("calendar",)),
    ],
)
def test_bad_sla_policies_are_invalid_input(
    change: dict[str, Any], location: tuple[Any, ...]
) -> None:
    with pytest.raises(InvalidInput) as raised:
        SLAPolicy.model_validate({**POLICY, **change})
    assert raised.value.errors[0].location[: len(location)] == location


def test_warnings_come_minutes_before_the_target_when_asked_else_at_a_fraction() -> None:
    from aftersales.sla import Target

    assert Target(minutes=60, warning_minutes_before=15).warning_seconds == 45 * 60
    assert Target(minutes=60).warning_seconds == 48 * 60
    assert Target(minutes=60, warning_fraction=None).warning_seconds is None
    assert Target(minutes=10, warning_minutes_before=30).warning_seconds == 0


def test_sla_rules_match_a_desks_own_priority_levels() -> None:
    policy = {
        **POLICY,
        "rules": [
            {"name": "p1", "match": {"priority": ["p1"]}, "targets": _targets(30, 120)},
            {"name": "rest", "targets": _targets(1440, 4320)},
        ],
    }
    levels = {"critical": "p1", "high": "p1", "medium": "p2", "low": "p2"}
    settings = {
        "priorities": ["p1", "p2"],
        "default_priority": "p2",
        "priority_for_severity": levels,
    }
    desk = Desk(clock=FrozenClock(MONDAY_11), sla=policy, settings=settings)
    urgent = _high(desk)
    other = desk.open_ticket(customer="c2", channel="email", subject="Question").id
    assert desk.sla_status(urgent).rule == "p1"
    assert desk.sla_status(other).rule == "rest"


def test_a_ticket_keeps_its_sla_outcomes_and_business_durations_for_reports(
    sla_desk: Desk,
) -> None:
    clock: FrozenClock = sla_desk.clock  # type: ignore[assignment]
    clock.set(datetime(2024, 3, 8, 17, tzinfo=UTC))  # Friday 17:00, an hour before closing
    ticket_id = _high(sla_desk)  # first response due in 1 business hour, resolution in 4
    opened = sla_desk.get(ticket_id)
    assert (opened.sla_first_response, opened.sla_resolution) == ("pending", "pending")
    assert opened.first_response_business_seconds is None
    clock.set(datetime(2024, 3, 11, 10, 30, tzinfo=UTC))  # Monday 10:30: 1.5 business hours
    sla_desk.add_message(ticket_id, "on it", author_id="li")
    answered = sla_desk.get(ticket_id)
    assert answered.sla_first_response == "breached"  # met, but late
    assert answered.first_response_business_seconds == 90 * 60
    assert answered.sla_resolution == "pending"
    sla_desk.assign(ticket_id, assignee="li")
    sla_desk.fire(ticket_id, "start")
    clock.set(datetime(2024, 3, 11, 12, tzinfo=UTC))  # 3 business hours in all
    sla_desk.resolve(ticket_id, resolution="replaced")
    resolved = sla_desk.get(ticket_id)
    assert (resolved.sla_resolution, resolved.resolution_business_seconds) == ("met", 3 * 3600)
    assert sla_desk.replay(ticket_id) == resolved  # the outcomes are in the events too


def test_run_due_records_a_target_missed_while_nothing_happened(sla_desk: Desk) -> None:
    clock: FrozenClock = sla_desk.clock  # type: ignore[assignment]
    ticket_id = _high(sla_desk)
    clock.advance(hours=2)  # first response due after one business hour
    assert sla_desk.get(ticket_id).sla_first_response == "pending"
    sla_desk.run_due()
    missed = sla_desk.get(ticket_id)
    assert missed.sla_first_response == "breached"
    assert missed.first_response_business_seconds is None  # not responded yet
    assert sla_desk.replay(ticket_id) == missed


def test_a_desk_without_an_sla_keeps_no_outcomes() -> None:
    desk = Desk(clock=FrozenClock(MONDAY_11))
    ticket = _high(desk)
    desk.add_message(ticket, "on it", author_id="li")
    kept = desk.get(ticket)
    assert (kept.sla_first_response, kept.first_response_business_seconds) == (None, None)
