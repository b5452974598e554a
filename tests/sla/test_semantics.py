"""What users rely on in SLA semantics: a breach's due time stays put, resolved time does
not count, which statuses meet the first response, and the supported range of targets."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aftersales import AftersalesError, Desk, FrozenClock, InvalidInput, MemoryStore
from aftersales.models import Event, Ticket
from aftersales.models.ticket import StatusCategory
from aftersales.sla import (
    FIRST_RESPONSE_MET_BY,
    MAX_TARGET_MINUTES,
    Metric,
    MetricState,
    SLAPolicy,
    Target,
    first_response_at,
    meets_first_response,
)
from aftersales.workflows import TICKET_WORKFLOW

UTC = timezone.utc
MONDAY_11 = datetime(2024, 3, 4, 11, tzinfo=UTC)
CATEGORY_OF = TICKET_WORKFLOW.category_of

POLICY: dict[str, Any] = {
    "name": "frappe-high",
    "calendar": {"hours": {str(d): ["10:00-18:00"] for d in range(5)}},
    "rules": [
        {
            "name": "high",
            "targets": {"first_response": {"minutes": 60}, "resolution": {"minutes": 240}},
        }
    ],
}


def _desk(**changes: Any) -> tuple[Desk, FrozenClock]:
    clock = FrozenClock(MONDAY_11)
    return Desk(MemoryStore(), clock=clock, sla={**POLICY, **changes}), clock


def _started(desk: Desk) -> str:
    ticket = desk.open_ticket(customer="c1", channel="email", subject="Broken")
    desk.classify(ticket.id, category="repair_warranty", severity="high")
    desk.assign(ticket.id, assignee="li")
    desk.fire(ticket.id, "start")
    return ticket.id


def _resolution(desk: Desk, ticket_id: str, now: datetime | None = None) -> Any:
    return desk.sla_status(ticket_id, now).metrics[Metric.RESOLUTION]


# ------------------------------------------------------------ a breach's due time


def test_a_pause_after_the_target_is_used_up_does_not_move_its_due_time() -> None:
    desk, clock = _desk()
    policy = desk.sla
    assert policy is not None
    ticket_id = _started(desk)  # Monday 11:00, resolution due 15:00
    clock.set(datetime(2024, 3, 4, 12, tzinfo=UTC))
    desk.fire(ticket_id, "wait_for_third_party")
    clock.set(datetime(2024, 3, 4, 13, tzinfo=UTC))
    desk.fire(ticket_id, "resume")  # paused an hour before the target was used up: 16:00
    clock.set(datetime(2024, 3, 4, 17, tzinfo=UTC))
    desk.fire(ticket_id, "wait_for_customer")  # already breached at 16:00
    ticket, events = desk.get(ticket_id), desk.history(ticket_id)
    due = datetime(2024, 3, 4, 16, tzinfo=UTC)
    for now in (
        datetime(2024, 3, 4, 17, 30, tzinfo=UTC),
        datetime(2024, 3, 5, 12, tzinfo=UTC),
        datetime(2024, 3, 11, 12, tzinfo=UTC),
    ):
        status = policy.track(ticket, events, now, category_of=CATEGORY_OF)
        resolution = status.metrics[Metric.RESOLUTION]
        assert (resolution.state, resolution.due_at) == (MetricState.BREACHED, due), now
        assert resolution.used_seconds == 5 * 3600  # 11-12 and 13-17
    clock.set(datetime(2024, 3, 5, 12, tzinfo=UTC))
    desk.fire(ticket_id, "resume")
    clock.set(datetime(2024, 3, 5, 13, tzinfo=UTC))
    resolution = _resolution(desk, ticket_id)
    assert (resolution.due_at, resolution.used_seconds) == (due, 6 * 3600)
    assert resolution.paused_seconds == 4 * 3600  # 12-13, then Monday 17-18 and Tuesday 10-12


def test_run_due_and_sla_status_agree_on_a_breached_targets_due_time() -> None:
    desk, clock = _desk()
    ticket_id = _started(desk)
    desk.add_message(ticket_id, "on it", author_id="li")
    clock.set(datetime(2024, 3, 4, 15, 0, 1, tzinfo=UTC))
    assert (ticket_id, "sla_breached", "resolution") in desk.run_due().sla_events
    breach = next(
        e
        for e in desk.history(ticket_id)
        if e.trigger == "sla_breached" and e.payload["metric"] == "resolution"
    )
    assert breach.payload["due_at"] == "2024-03-04T15:00:00+00:00"
    clock.set(datetime(2024, 3, 4, 16, tzinfo=UTC))
    desk.fire(ticket_id, "wait_for_customer")
    for day in (5, 6, 11):
        clock.set(datetime(2024, 3, day, 12, tzinfo=UTC))
        assert desk.run_due().sla_events == ()
        resolution = _resolution(desk, ticket_id)
        assert resolution.state is MetricState.BREACHED
        assert resolution.due_at.isoformat() == breach.payload["due_at"]


def test_a_reopened_ticket_is_due_after_the_time_it_spent_resolved() -> None:
    desk, clock = _desk()
    ticket_id = _started(desk)
    clock.advance(hours=1)
    desk.resolve(ticket_id, resolution="done")  # 12:00, one hour used
    clock.advance(hours=2)
    desk.reopen(ticket_id, reason="again")  # 14:00
    clock.advance(hours=1)
    running = _resolution(desk, ticket_id)
    assert (running.state, running.used_seconds) == (MetricState.RUNNING, 2 * 3600)
    assert running.due_at == datetime(2024, 3, 4, 17, tzinfo=UTC)  # 2 of 4 hours left at 15:00
    assert desk.get(ticket_id).sla_due_at == datetime(2024, 3, 4, 16, 12, tzinfo=UTC)  # 80%


# ------------------------------------------------------------ the first response


def _first(desk: Desk, ticket_id: str) -> Any:
    return desk.sla_status(ticket_id).metrics[Metric.FIRST_RESPONSE]


def test_by_default_only_waiting_on_the_customer_meets_the_first_response() -> None:
    desk, clock = _desk()
    ticket_id = _started(desk)
    clock.advance(minutes=10)
    desk.fire(ticket_id, "wait_for_third_party")
    clock.advance(minutes=10)
    first = _first(desk, ticket_id)
    assert (first.state, first.met_at, first.used_seconds) == (MetricState.RUNNING, None, 1200)
    desk.fire(ticket_id, "resume")
    desk.fire(ticket_id, "wait_for_customer")
    assert _first(desk, ticket_id).met_at == clock.now()
    assert {StatusCategory.WAITING_ON_CUSTOMER} == FIRST_RESPONSE_MET_BY


def test_a_policy_chooses_which_waiting_states_meet_the_first_response() -> None:
    desk, clock = _desk(first_response_met_by=["waiting_on_customer", "waiting_on_third_party"])
    ticket_id = _started(desk)
    clock.advance(minutes=10)
    desk.fire(ticket_id, "wait_for_third_party")
    first = _first(desk, ticket_id)
    assert (first.state, first.met_at) == (MetricState.MET, clock.now())

    replies_only, clock = _desk(first_response_met_by=[])
    ticket_id = _started(replies_only)
    replies_only.fire(ticket_id, "wait_for_customer")
    clock.advance(minutes=5)
    assert _first(replies_only, ticket_id).state is MetricState.RUNNING
    replies_only.add_message(ticket_id, "hello", author_id="li")
    assert _first(replies_only, ticket_id).met_at == clock.now()


@pytest.mark.parametrize(
    ("change", "location"),
    [
        ({"pauses": {"first_response": ["waiting_on_third_party"]}}, ()),
        ({"first_response_met_by": ["open"]}, ()),
        ({"first_response_met_by": ["new", "waiting_on_customer"]}, ()),
        ({"first_response_met_by": ["asleep"]}, ("first_response_met_by",)),
    ],
)
def test_the_first_response_is_never_paused_and_only_waiting_or_resolving_meets_it(
    change: dict[str, Any], location: tuple[Any, ...]
) -> None:
    with pytest.raises(InvalidInput) as raised:
        SLAPolicy.model_validate({**POLICY, **change})
    error = raised.value.errors[0]
    assert error.location[: len(location)] == location
    assert "first_response" in str(raised.value) or "first response" in str(raised.value)


ACTIONS = st.lists(
    st.one_of(
        st.sampled_from(sorted(TICKET_WORKFLOW.triggers)),
        st.sampled_from(["agent", "bot", "customer", "note"]),
    ),
    max_size=12,
)
MET_BY = st.frozensets(
    st.sampled_from(
        [
            StatusCategory.WAITING_ON_CUSTOMER,
            StatusCategory.WAITING_ON_THIRD_PARTY,
            StatusCategory.RESOLVED,
            StatusCategory.CLOSED,
        ]
    )
)


PAYLOADS: dict[str, dict[str, Any]] = {
    "assign": {"assignee": "li"},
    "classify": {"category": "repair_warranty", "severity": "high"},
    "queue": {"team": "support"},
    "resolve": {"resolution": "done"},
    "reopen": {"reason": "again"},
    "cancel": {"reason": "duplicate"},
    "escalate": {"reason": "angry"},
}


def _play(desk: Desk, clock: FrozenClock, actions: Sequence[str]) -> str:
    ticket = desk.open_ticket(customer="c1", channel="email", subject="Broken")
    for action in actions:
        clock.advance(minutes=7)
        if action in ("agent", "bot", "customer"):
            desk.add_message(ticket.id, "hi", author_id="someone", author_role=action)
        elif action == "note":
            desk.add_message(ticket.id, "psst", author_id="li", kind="internal_note")
        else:
            try:
                desk.fire(ticket.id, action, payload=PAYLOADS.get(action))
            except AftersalesError:  # refused or missing input: the history is what matters
                continue
    return ticket.id


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(actions=ACTIONS, met_by=MET_BY)
def test_the_first_response_time_has_one_definition(
    actions: list[str], met_by: frozenset[StatusCategory]
) -> None:
    desk, clock = _desk(first_response_met_by=sorted(met_by))
    ticket_id = _play(desk, clock, actions)
    events: list[Event] = desk.history(ticket_id)
    metric = _first(desk, ticket_id).met_at
    assert first_response_at(events, category_of=CATEGORY_OF, met_by=met_by) == metric
    policy = desk.sla
    assert policy is not None
    assert policy.first_response_at(events, category_of=CATEGORY_OF) == metric
    first_meeting = next(
        (e.at for e in events if policy.meets_first_response(e, category_of=CATEGORY_OF)), None
    )
    assert first_meeting == metric
    assert (
        next(
            (
                e.at
                for e in events
                if meets_first_response(e, category_of=CATEGORY_OF, met_by=met_by)
            ),
            None,
        )
        == metric
    )


# ------------------------------------------------------------ the range of targets


def test_targets_run_up_to_365_days_of_business_time() -> None:
    assert MAX_TARGET_MINUTES == 365 * 24 * 60
    assert Target(minutes=MAX_TARGET_MINUTES).seconds == 365 * 86400
    for minutes in (MAX_TARGET_MINUTES + 1, 10**7, float("inf"), float("nan"), 0, -1):
        with pytest.raises(InvalidInput) as raised:
            Target(minutes=minutes)
        assert raised.value.errors[0].location == ("minutes",)
    with pytest.raises(InvalidInput):
        Target(minutes=60, warning_minutes_before=10**9)


def test_a_target_due_after_the_supported_range_is_refused_and_nothing_is_stored() -> None:
    clock = FrozenClock(datetime(2200, 6, 1, 9, tzinfo=UTC))
    far: dict[str, Any] = {
        "name": "far",
        "rules": [{"name": "all", "targets": {"resolution": {"minutes": MAX_TARGET_MINUTES}}}],
    }
    store = MemoryStore()
    desk = Desk(store, clock=clock, sla=far)
    with pytest.raises(InvalidInput) as raised:
        desk.open_ticket(customer="c1", channel="email", subject="Broken")
    assert raised.value.errors[0].location == ("resolution",)
    assert "rule 'all': a target of 525600 minutes" in str(raised.value)
    assert "after the supported range (years 1900-2200 UTC)" in str(raised.value)
    assert desk.find() == []
    clock.set(datetime(2199, 1, 1, tzinfo=UTC))
    ticket = desk.open_ticket(customer="c1", channel="email", subject="Broken")
    assert desk.sla_status(ticket.id).metrics[Metric.RESOLUTION].due_at == datetime(
        2200, 1, 1, tzinfo=UTC
    )


def test_tracking_refuses_what_is_not_a_history() -> None:
    desk, _ = _desk()
    policy = desk.sla
    assert policy is not None
    ticket_id = _started(desk)
    ticket: Ticket = desk.get(ticket_id)
    events = desk.history(ticket_id)
    bad_calls = [
        lambda: policy.track(ticket, [], MONDAY_11, category_of=CATEGORY_OF),
        lambda: policy.track(ticket, "abc", MONDAY_11, category_of=CATEGORY_OF),  # type: ignore[arg-type]
        lambda: policy.track(ticket, [1, 2], MONDAY_11, category_of=CATEGORY_OF),  # type: ignore[list-item]
        lambda: policy.track(
            ticket, events, MONDAY_11.replace(tzinfo=None), category_of=CATEGORY_OF
        ),
        lambda: policy.track(
            ticket, events, datetime(9999, 1, 1, tzinfo=UTC), category_of=CATEGORY_OF
        ),
        lambda: policy.track({}, events, MONDAY_11, category_of=CATEGORY_OF),  # type: ignore[arg-type]
        lambda: first_response_at(None, category_of=CATEGORY_OF),  # type: ignore[arg-type]
    ]
    for call in bad_calls:
        with pytest.raises(InvalidInput):
            call()
