from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from aftersales import (
    TICKET_WORKFLOW,
    Channel,
    ConcurrencyError,
    ContactPoint,
    Customer,
    CustomerNotFound,
    Desk,
    FrozenClock,
    InvalidInput,
    MemoryStore,
    MessageKind,
    Priority,
    StatusCategory,
    StorageError,
    Store,
    Ticket,
    TicketNotFound,
    TicketQuery,
    TransitionRefused,
    TriggerNotAllowed,
    Workflow,
)
from aftersales.sla import Metric, MetricState
from aftersales.storage import Change


def _open(desk: Desk, **fields: object) -> Ticket:
    values: dict[str, object] = {"customer": "c1", "channel": "email", "subject": "Kettle leaks"}
    values.update(fields)
    return desk.open_ticket(**values)  # type: ignore[arg-type]


def _in_progress(desk: Desk, **fields: object) -> Ticket:
    ticket = _open(desk, **fields)
    desk.classify(ticket.id, category="repair_warranty", severity="high")
    desk.assign(ticket.id, assignee="li.wei", team="repairs")
    return desk.fire(ticket.id, "start", actor="li.wei")


def test_a_ticket_goes_through_the_whole_lifecycle(desk: Desk, clock: FrozenClock) -> None:
    ticket = _open(desk)
    assert (ticket.status, ticket.status_category, ticket.version) == ("new", StatusCategory.NEW, 1)
    ticket = desk.classify(ticket.id, category="repair_warranty", severity="high")
    assert (ticket.status, ticket.category, ticket.priority.value) == (
        "classified",
        "repair_warranty",
        "high",
    )
    ticket = desk.assign(ticket.id, assignee="li.wei", team="repairs")
    assert (ticket.status, ticket.assignee, ticket.team) == ("assigned", "li.wei", "repairs")
    ticket = desk.fire(ticket.id, "start", actor="li.wei")
    ticket = desk.fire(ticket.id, "wait_for_customer", actor="li.wei")
    assert ticket.status_category is StatusCategory.WAITING_ON_CUSTOMER
    ticket = desk.fire(ticket.id, "resume", actor="li.wei")
    ticket = desk.fire(ticket.id, "wait_for_third_party", payload={"note": "parts ordered"})
    assert ticket.status_category is StatusCategory.WAITING_ON_THIRD_PARTY
    ticket = desk.fire(ticket.id, "resume")
    clock.advance(hours=3)
    ticket = desk.resolve(ticket.id, resolution="Replaced the seal", actor="li.wei")
    assert (ticket.status, ticket.resolution, ticket.resolved_at) == (
        "resolved",
        "Replaced the seal",
        clock.now(),
    )
    ticket = desk.fire(ticket.id, "confirm", actor="c1")
    ticket = desk.fire(ticket.id, "follow_up", actor="survey", payload={"satisfaction": 4})
    assert (ticket.status, ticket.satisfaction) == ("followed_up", 4)
    ticket = desk.fire(ticket.id, "close", actor="li.wei")
    assert (ticket.status, ticket.closed_at, ticket.is_closed) == ("closed", clock.now(), True)
    assert ticket.version == 12
    assert desk.get(ticket.id) == ticket
    history = desk.history(ticket.id)
    assert [e.sequence for e in history] == list(range(1, 13))
    assert [e.trigger for e in history][:3] == ["created", "classify", "assign"]
    assert history[-1].actor == "li.wei"
    assert history[6].payload == {"note": "parts ordered"}


def test_a_refused_trigger_names_ticket_trigger_state_and_allowed_and_changes_nothing(
    desk: Desk,
) -> None:
    ticket = _open(desk)
    with pytest.raises(TriggerNotAllowed) as raised:
        desk.fire(ticket.id, "resolve", payload={"resolution": "x"})
    error = raised.value
    assert (error.subject_id, error.trigger, error.state) == (ticket.id, "resolve", "new")
    assert error.allowed == ("cancel", "classify", "merge", "self_serve")
    assert str(error).startswith(f"ticket #{ticket.number}: trigger 'resolve'")
    assert desk.get(ticket.id) == ticket
    assert len(desk.history(ticket.id)) == 1


def test_an_unknown_trigger_is_refused_the_same_way(desk: Desk) -> None:
    ticket = _open(desk)
    with pytest.raises(TriggerNotAllowed):
        desk.fire(ticket.id, "teleport")


def test_priority_follows_severity_unless_given(desk: Desk) -> None:
    first = desk.classify(_open(desk).id, category="delivery", severity="critical")
    second = desk.classify(_open(desk).id, category="delivery", severity="critical", priority="low")
    assert (first.priority.value, second.priority.value) == ("urgent", "low")
    reclassified = desk.classify(first.id, category="complaint", severity="low")
    assert (reclassified.category, reclassified.priority.value) == ("complaint", "low")


def test_reassigning_keeps_the_state_and_the_team_unless_given(desk: Desk) -> None:
    ticket = _in_progress(desk)
    ticket = desk.assign(ticket.id, assignee="zhang.min")
    assert (ticket.status, ticket.assignee, ticket.team) == ("in_progress", "zhang.min", "repairs")


def test_escalation_raises_the_level_and_may_hand_over(desk: Desk) -> None:
    ticket = _in_progress(desk)
    ticket = desk.escalate(ticket.id, reason="customer threatens to sue")
    assert (ticket.escalation_level, ticket.assignee, ticket.status) == (1, "li.wei", "in_progress")
    ticket = desk.escalate(ticket.id, reason="no answer", assignee="boss", team="supervisors")
    assert (ticket.escalation_level, ticket.assignee, ticket.team) == (2, "boss", "supervisors")
    assert desk.history(ticket.id)[-1].payload == {
        "reason": "no answer",
        "assignee": "boss",
        "team": "supervisors",
    }
    with pytest.raises(InvalidInput) as raised:
        desk.escalate(ticket.id, reason="")
    assert raised.value.errors[0].location == ("reason",)


def test_reopen_within_the_window_goes_back_to_work(desk: Desk, clock: FrozenClock) -> None:
    ticket = desk.resolve(_in_progress(desk).id, resolution="fixed")
    clock.advance(days=7)
    reopened = desk.reopen(ticket.id, reason="leaks again")
    assert reopened.id == ticket.id
    assert (reopened.status, reopened.reopen_count, reopened.resolved_at) == (
        "in_progress",
        1,
        None,
    )
    assert reopened.resolution is None
    assert reopened.due_at is None


def test_reopen_after_the_window_opens_a_linked_follow_up(desk: Desk, clock: FrozenClock) -> None:
    ticket = desk.resolve(_in_progress(desk).id, resolution="fixed")
    desk.fire(ticket.id, "confirm")
    clock.advance(days=7, seconds=1)
    follow_up = desk.reopen(ticket.id, reason="leaks again", actor="agent")
    assert follow_up.id != ticket.id
    assert (follow_up.follow_up_of, follow_up.subject) == (ticket.id, "Follow-up: Kettle leaks")
    assert (follow_up.customer_id, follow_up.status) == ("c1", "new")
    assert desk.get(ticket.id).status == "confirmed"
    assert desk.find(follow_up_of=ticket.id) == [follow_up]


def test_the_reopen_guard_refuses_with_its_reason_when_fired_by_name(
    desk: Desk, clock: FrozenClock
) -> None:
    ticket = desk.resolve(_in_progress(desk).id, resolution="fixed")
    clock.advance(days=8)
    with pytest.raises(TransitionRefused) as raised:
        desk.fire(ticket.id, "reopen", payload={"reason": "again"})
    assert raised.value.refusal.code == "reopen_window_passed"
    assert raised.value.refusal.params["days"] == 7
    assert "请新建跟进工单" in (raised.value.refusal.message_zh or "")


def test_a_closed_ticket_is_never_reopened_but_followed_up(desk: Desk) -> None:
    ticket = desk.resolve(_in_progress(desk).id, resolution="fixed")
    desk.fire(ticket.id, "confirm")
    desk.fire(ticket.id, "close")
    follow_up = desk.reopen(ticket.id, reason="broke again")
    assert follow_up.follow_up_of == ticket.id
    assert desk.get(ticket.id).status == "closed"


def test_reopening_an_open_ticket_is_refused(desk: Desk) -> None:
    with pytest.raises(TriggerNotAllowed):
        desk.reopen(_in_progress(desk).id, reason="?")


def test_the_reopen_window_is_configurable(store: object, clock: FrozenClock) -> None:
    desk = Desk(clock=clock, settings={"reopen_within_days": 1})
    ticket = desk.resolve(_in_progress(desk).id, resolution="fixed")
    clock.advance(days=2)
    assert desk.reopen(ticket.id, reason="again").id != ticket.id


def test_a_duplicate_merges_into_the_original(desk: Desk) -> None:
    original = _open(desk)
    duplicate = _open(desk, channel="web_chat")
    merged = desk.merge(duplicate.id, into=original.id, actor="agent")
    assert (merged.status, merged.status_category, merged.merged_into) == (
        "merged",
        StatusCategory.CLOSED,
        original.id,
    )
    assert desk.find(merged_into=original.id) == [merged]


def test_merging_into_itself_or_a_closed_ticket_is_refused(desk: Desk) -> None:
    ticket = _open(desk)
    with pytest.raises(TransitionRefused) as raised:
        desk.merge(ticket.id, into=ticket.id)
    assert raised.value.refusal.code == "merge_into_itself"
    closed = desk.cancel(_open(desk).id, reason="spam")
    with pytest.raises(TransitionRefused) as raised:
        desk.merge(ticket.id, into=closed.id)
    assert raised.value.refusal.code == "merge_target_closed"
    with pytest.raises(TicketNotFound):
        desk.merge(ticket.id, into="missing")
    assert desk.get(ticket.id) == ticket


def test_cancel_closes_an_open_ticket_with_a_reason(desk: Desk, clock: FrozenClock) -> None:
    ticket = desk.cancel(_open(desk).id, reason="customer withdrew")
    assert (ticket.status, ticket.closed_at) == ("cancelled", clock.now())
    with pytest.raises(TriggerNotAllowed):
        desk.cancel(ticket.id, reason="again")


def test_run_due_auto_closes_resolved_tickets_never_confirmed(
    desk: Desk, clock: FrozenClock
) -> None:
    resolved = desk.resolve(_in_progress(desk).id, resolution="fixed")
    confirmed = desk.resolve(_in_progress(desk).id, resolution="fixed")
    desk.fire(confirmed.id, "confirm")
    assert resolved.due_at == clock.now() + timedelta(days=7)
    assert desk.run_due(clock.now() + timedelta(days=6)).auto_closed == ()
    later = clock.advance(days=7)
    report = desk.run_due()
    assert report.auto_closed == (resolved.id,)
    closed = desk.get(resolved.id)
    assert (closed.status, closed.closed_at, closed.due_at) == ("closed", later, None)
    assert desk.history(resolved.id)[-1].actor == "system"
    assert desk.get(confirmed.id).status == "confirmed"
    assert desk.run_due().auto_closed == ()


def test_run_due_uses_the_time_it_is_given(desk: Desk, clock: FrozenClock) -> None:
    ticket = desk.resolve(_in_progress(desk).id, resolution="fixed")
    when = clock.now() + timedelta(days=30)
    assert desk.run_due(when).auto_closed == (ticket.id,)
    assert desk.get(ticket.id).closed_at == when
    with pytest.raises(InvalidInput):
        desk.run_due(when.replace(tzinfo=None))


def test_auto_close_delay_is_configurable(clock: FrozenClock) -> None:
    desk = Desk(clock=clock, settings={"auto_close_after_days": 2})
    ticket = desk.resolve(_in_progress(desk).id, resolution="fixed")
    assert desk.run_due(clock.now() + timedelta(days=2)).auto_closed == (ticket.id,)


def test_an_agents_first_public_reply_is_the_first_response(desk: Desk, clock: FrozenClock) -> None:
    ticket = _open(desk)
    clock.advance(minutes=5)
    desk.add_message(ticket.id, "any news?", author_id="c1", author_role="customer")
    desk.add_message(ticket.id, "check the seal", author_id="li", kind="internal_note")
    assert desk.get(ticket.id).first_response_at is None
    clock.advance(minutes=5)
    reply = desk.add_message(ticket.id, "We are on it", author_id="li")
    first = clock.now()
    clock.advance(minutes=5)
    desk.add_message(ticket.id, "Still on it", author_id="li")
    stored = desk.get(ticket.id)
    assert stored.first_response_at == first
    assert stored.version == 5
    messages = desk.messages(ticket.id, include_internal=True)
    assert [m.body for m in messages] == [
        "any news?",
        "check the seal",
        "We are on it",
        "Still on it",
    ]
    assert messages[2] == reply
    assert (reply.channel, reply.kind) == (Channel.EMAIL, MessageKind.PUBLIC_REPLY)
    assert desk.history(ticket.id)[-1].trigger == "add_message"


def test_a_stale_expected_version_raises_and_changes_nothing(desk: Desk) -> None:
    ticket = _open(desk)
    desk.classify(ticket.id, category="repair_warranty", severity="low")
    with pytest.raises(ConcurrencyError) as raised:
        desk.fire(ticket.id, "cancel", payload={"reason": "x"}, expected_version=1)
    assert (raised.value.expected_version, raised.value.actual_version) == (1, 2)
    assert desk.get(ticket.id).status == "classified"
    assert desk.fire(ticket.id, "cancel", payload={"reason": "x"}, expected_version=2).version == 3


def test_a_concurrent_writer_loses_cleanly(desk: Desk) -> None:
    ticket = _open(desk)
    desk.classify(ticket.id, category="repair_warranty", severity="low")
    with pytest.raises(ConcurrencyError):
        desk._transition(ticket, "cancel", "late", {"reason": "stale read"})
    assert desk.get(ticket.id).status == "classified"
    assert len(desk.history(ticket.id)) == 2


def test_tickets_are_found_by_id_number_and_filters(desk: Desk, clock: FrozenClock) -> None:
    first = _open(desk, channel="wechat", customer="c1")
    clock.advance(hours=1)
    second = desk.assign(
        desk.classify(_open(desk, customer="c2").id, category="billing_invoice", severity="low").id,
        assignee="li",
    )
    assert desk.get(first.number) == first
    assert desk.get(first.id) == first
    assert desk.find(channel="wechat") == [first]
    assert desk.find(assignee="li") == [second]
    assert desk.find(status_category="open") == [second]
    assert desk.find(status="new") == [first]
    assert desk.find(created_from=clock.now()) == [second]
    assert desk.find(created_to=clock.now()) == [first]
    assert [t.id for t in desk.find()] == [first.id, second.id]
    with pytest.raises(InvalidInput):
        desk.find(colour="blue")
    with pytest.raises(TicketNotFound):
        desk.get(999)


def test_ticket_numbers_are_unique_and_increasing(desk: Desk) -> None:
    numbers = [_open(desk).number for _ in range(45)]
    assert numbers == sorted(set(numbers))


def test_parent_and_follow_up_links_must_exist(desk: Desk) -> None:
    parent = _open(desk)
    child = _open(desk, parent_id=parent.id)
    assert desk.find(parent_id=parent.id) == [child]
    with pytest.raises(TicketNotFound):
        _open(desk, parent_id="missing")


def test_one_customers_history_spans_every_channel(desk: Desk, clock: FrozenClock) -> None:
    customer = Customer(
        id="wang",
        name="王芳",
        contacts=(
            ContactPoint(channel=Channel.WECHAT, address="wx-1"),
            ContactPoint(channel=Channel.PHONE, address="+86 138"),
        ),
    )
    first = _open(desk, customer=customer, channel="wechat")
    clock.advance(days=1)
    _open(desk, customer="someone-else")
    second = _open(desk, customer="wang", channel="phone")
    assert desk.find_customer("wechat", "wx-1") == customer
    assert desk.find_customer(Channel.PHONE, "+86 138") == customer
    assert desk.find_customer("email", "nobody@example.com") is None
    history = desk.customer_history("wang")
    assert history.customer == customer
    assert [t.id for t in history.tickets] == [first.id, second.id]
    assert history.channels == (Channel.WECHAT, Channel.PHONE)
    assert desk.customer_history("ghost").customer is None


def test_a_contact_point_belongs_to_one_customer(desk: Desk) -> None:
    desk.save_customer(
        {"id": "a", "name": "A", "contacts": [{"channel": "qq", "address": "10001"}]}
    )
    with pytest.raises(InvalidInput) as raised:
        desk.save_customer(
            {"id": "b", "name": "B", "contacts": [{"channel": "qq", "address": "10001"}]}
        )
    assert raised.value.errors[0].location == ("contacts", 0)
    with pytest.raises(CustomerNotFound):
        desk.get_customer("b")
    assert desk.get_customer("a").name == "A"
    with pytest.raises(InvalidInput):
        desk.find_customer("pager", "1")


def test_replay_rebuilds_the_stored_ticket(desk: Desk) -> None:
    ticket = desk.escalate(_in_progress(desk).id, reason="vip")
    desk.add_message(ticket.id, "hello", author_id="li")
    desk.resolve(ticket.id, resolution="done")
    assert desk.replay(ticket.id) == desk.get(ticket.id)
    with pytest.raises(TicketNotFound):
        desk.replay("missing")


def test_the_desk_closes_its_store_as_a_context_manager(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "desk.db"
    with Desk.sqlite(path) as desk:
        ticket = desk.open_ticket(customer="c", channel="sms", subject="hi")
    with Desk.sqlite(path) as again:
        assert again.get(ticket.id) == ticket


class _RacingStore(MemoryStore):
    """Lets another writer in right after the desk has read a ticket, once."""

    def __init__(self) -> None:
        super().__init__()
        self.race: Callable[[], object] | None = None

    def get(self, ticket_id: str) -> Ticket:
        ticket = super().get(ticket_id)
        race, self.race = self.race, None
        if race is not None:
            race()
        return ticket


def test_a_trigger_that_loses_a_race_is_decided_again_on_the_stored_ticket(
    clock: FrozenClock,
) -> None:
    store = _RacingStore()
    desk, rival = Desk(store, clock=clock), Desk(store, clock=clock)
    ticket = _in_progress(rival)
    store.race = lambda: rival.assign(ticket.id, assignee="zhang.min")
    escalated = desk.escalate(ticket.id, reason="vip")
    assert (escalated.version, escalated.assignee, escalated.escalation_level) == (
        6,
        "zhang.min",
        1,
    )
    assert [e.trigger for e in desk.history(ticket.id)][-2:] == ["assign", "escalate"]


def test_a_race_with_an_expected_version_is_the_callers_to_handle(clock: FrozenClock) -> None:
    store = _RacingStore()
    desk, rival = Desk(store, clock=clock), Desk(store, clock=clock)
    ticket = _in_progress(rival)
    store.race = lambda: rival.assign(ticket.id, assignee="zhang.min")
    with pytest.raises(ConcurrencyError):
        desk.fire(ticket.id, "escalate", payload={"reason": "vip"}, expected_version=4)
    assert desk.get(ticket.id).escalation_level == 0


def test_a_clock_that_returns_naive_times_is_refused_before_anything_is_stored() -> None:
    from datetime import datetime

    class LocalClock:
        def now(self) -> datetime:
            return datetime(2024, 3, 4, 9, 0)

    desk = Desk(clock=LocalClock())
    with pytest.raises(InvalidInput, match="naive"):
        _open(desk)
    assert desk.find() == []


def test_replaying_no_events_is_our_error() -> None:
    from aftersales import fold_events

    with pytest.raises(InvalidInput):
        fold_events([])


def test_a_custom_workflow_stamps_its_own_name_on_tickets(clock: FrozenClock) -> None:
    data = TICKET_WORKFLOW.to_dict()
    data["name"] = "support_v2"
    workflow = Workflow.from_dict(
        data,
        guards=TICKET_WORKFLOW.guards,
        effects=TICKET_WORKFLOW.effects,
        payloads=TICKET_WORKFLOW.payloads,
    )
    desk = Desk(clock=clock, workflow=workflow)
    ticket = _open(desk)
    assert ticket.workflow == "support_v2"
    assert desk.get(ticket.id).workflow == "support_v2"
    desk.import_tickets([{**_record(), "status": "in_progress"}])
    assert [t.workflow for t in desk.find()] == ["support_v2", "support_v2"]


def _record(**fields: object) -> dict[str, object]:
    record: dict[str, object] = {
        "channel": "email",
        "subject": "Imported",
        "customer_id": "c9",
        "status": "new",
        "status_category": "new",
        "created_at": "2024-01-02T03:04:05+00:00",
        "updated_at": "2024-01-02T03:04:05+00:00",
    }
    record.update(fields)
    return record


def test_finding_an_unknown_status_names_the_known_ones(desk: Desk) -> None:
    _open(desk)
    with pytest.raises(InvalidInput, match=r"unknown status 'neww'; known: .*'?new'?"):
        desk.find(status="neww")
    with pytest.raises(InvalidInput, match="unknown status"):
        desk.find(TicketQuery(status="resolvd"))
    assert len(desk.find(status="new")) == 1


def test_a_customers_reply_resumes_a_ticket_waiting_on_them(desk: Desk) -> None:
    ticket = desk.fire(_in_progress(desk).id, "wait_for_customer")
    desk.add_message(ticket.id, "internal", author_id="li.wei", kind="internal_note")
    desk.add_message(ticket.id, "Any update?", author_id="li.wei")
    assert desk.get(ticket.id).status == "waiting_on_customer"
    desk.add_message(ticket.id, "Here is the photo", author_id="c1", author_role="customer")
    resumed = desk.get(ticket.id)
    assert (resumed.status, resumed.status_category) == ("in_progress", StatusCategory.OPEN)
    history = desk.history(ticket.id)
    assert [(e.trigger, e.actor) for e in history[-2:]] == [("add_message", "c1"), ("resume", "c1")]
    assert desk.replay(ticket.id) == resumed


def test_a_customers_reply_may_leave_the_ticket_waiting(store: Store, clock: FrozenClock) -> None:
    desk = Desk(store, clock=clock, settings={"resume_on_customer_reply": False})
    ticket = desk.fire(_in_progress(desk).id, "wait_for_customer")
    desk.add_message(ticket.id, "Here is the photo", author_id="c1", author_role="customer")
    assert desk.get(ticket.id).status == "waiting_on_customer"


def test_tickets_left_waiting_on_the_customer_are_reminded_when_configured(
    store: Store, clock: FrozenClock
) -> None:
    desk = Desk(store, clock=clock, settings={"customer_wait_days": 3})
    ticket = desk.fire(_in_progress(desk).id, "wait_for_customer")
    assert ticket.due_at == clock.now() + timedelta(days=3)
    assert desk.run_due(clock.now() + timedelta(days=2)).reminded == ()
    report = desk.run_due(clock.now() + timedelta(days=3))
    assert (report.reminded, report.auto_closed) == ((ticket.id,), ())
    reminded = desk.get(ticket.id)
    assert (reminded.status, reminded.due_at) == (
        "waiting_on_customer",
        clock.now() + timedelta(days=6),
    )
    assert desk.history(ticket.id)[-1].trigger == "customer_reminder"
    assert desk.replay(ticket.id) == reminded
    resumed = desk.fire(ticket.id, "resume")
    assert resumed.due_at is None
    assert desk.run_due(clock.now() + timedelta(days=30)).reminded == ()


def test_tickets_left_waiting_on_the_customer_may_auto_close(
    store: Store, clock: FrozenClock
) -> None:
    settings = {"customer_wait_days": 5, "customer_wait_action": "close"}
    desk = Desk(store, clock=clock, settings=settings)
    ticket = desk.fire(_in_progress(desk).id, "wait_for_customer")
    report = desk.run_due(clock.now() + timedelta(days=5))
    assert report.auto_closed == (ticket.id,)
    closed = desk.get(ticket.id)
    assert (closed.status, closed.due_at) == ("closed", None)
    assert desk.history(ticket.id)[-1].payload == {"note": "no reply from the customer in 5 days"}


def test_waiting_on_the_customer_never_times_out_by_default(desk: Desk, clock: FrozenClock) -> None:
    ticket = desk.fire(_in_progress(desk).id, "wait_for_customer")
    assert ticket.due_at is None
    report = desk.run_due(clock.now() + timedelta(days=365))
    assert (report.reminded, report.auto_closed) == ((), ())


def test_a_merge_links_messages_records_it_on_the_target_and_redirects_replies(
    desk: Desk, clock: FrozenClock
) -> None:
    original = _open(desk)
    duplicate = _open(desk, subject="Kettle leaks (sent twice)")
    desk.add_message(original.id, "Please send a photo", author_id="li.wei")
    clock.advance(minutes=1)
    desk.add_message(duplicate.id, "It leaks from the base", author_id="c1", author_role="customer")
    clock.advance(minutes=1)
    merged = desk.merge(duplicate.id, into=original.id, actor="li.wei")
    assert (merged.status, merged.merged_into) == ("merged", original.id)
    event = desk.history(original.id)[-1]
    assert (event.trigger, event.actor, event.payload) == (
        "merged_from",
        "li.wei",
        {"ticket_id": duplicate.id, "number": duplicate.number, "messages": 1},
    )
    clock.advance(minutes=1)
    later = desk.add_message(duplicate.id, "Photo attached", author_id="c1", author_role="customer")
    assert later.ticket_id == original.id
    assert [(m.body, m.ticket_id) for m in desk.messages(original.id)] == [
        ("Please send a photo", original.id),
        ("It leaks from the base", duplicate.id),
        ("Photo attached", original.id),
    ]
    assert desk.replay(original.id) == desk.get(original.id)


def test_a_parent_cannot_close_while_its_children_are_open(desk: Desk) -> None:
    parent = _in_progress(desk)
    child = _open(desk, parent_id=parent.id)
    with pytest.raises(TransitionRefused, match=f"child tickets #{child.number}") as raised:
        desk.cancel(parent.id, reason="done")
    assert raised.value.refusal.code == "children_open"
    desk.resolve(parent.id, resolution="fixed")  # resolving is fine
    desk.fire(parent.id, "confirm")
    with pytest.raises(TransitionRefused):
        desk.fire(parent.id, "close")
    desk.cancel(child.id, reason="part of the parent")
    assert desk.fire(parent.id, "close").status == "closed"


def test_a_desk_may_let_parents_close_with_open_children(store: Store, clock: FrozenClock) -> None:
    desk = Desk(store, clock=clock, settings={"close_parent_with_open_children": True})
    parent = _open(desk)
    _open(desk, parent_id=parent.id)
    assert desk.cancel(parent.id, reason="done").status == "cancelled"


def test_a_desk_may_declare_its_own_priority_levels_in_order(clock: FrozenClock) -> None:
    levels = {"critical": "p1", "high": "p2", "medium": "p3", "low": "p4"}
    desk = Desk(
        clock=clock,
        settings={
            "priorities": ["p1", "p2", "p3", "p4"],
            "default_priority": "p3",
            "priority_for_severity": levels,
        },
    )
    ticket = _open(desk)
    assert ticket.priority == "p3"
    assert desk.classify(ticket.id, category="delivery", severity="high").priority == "p2"
    assert desk.classify(
        ticket.id, category="delivery", severity="low", priority="p1"
    ).priority == ("p1")
    with pytest.raises(InvalidInput, match=r"unknown priority 'urgent'; known: p1, p2, p3, p4"):
        desk.classify(ticket.id, category="delivery", severity="low", priority="urgent")
    with pytest.raises(InvalidInput, match="unknown priority"):
        _open(desk, priority="normal")
    assert [desk.priority_rank(p) for p in ("p4", "p1")] == [3, 0]
    assert desk.replay(ticket.id) == desk.get(ticket.id)


def test_the_shipped_priorities_stay_the_default(desk: Desk) -> None:
    ticket = _open(desk, priority="high")
    assert ticket.priority is Priority.HIGH
    assert desk.priority_rank(ticket.priority) == 1
    with pytest.raises(InvalidInput, match="unknown priority 'p1'"):
        _open(desk, priority="p1")


def test_classify_refuses_a_category_outside_the_desks_vocabulary(desk: Desk) -> None:
    ticket = _open(desk)
    with pytest.raises(InvalidInput, match=r"unknown category 'repair'.*repair_warranty"):
        desk.classify(ticket.id, category="repair", severity="high")
    with pytest.raises(InvalidInput, match="unknown category 'billing'"):
        desk.fire(ticket.id, "classify", payload={"category": "billing", "severity": "low"})
    assert desk.get(ticket.id) == ticket
    assert desk.classify(ticket.id, category="repair_warranty", severity="high").category == (
        "repair_warranty"
    )


def test_a_desk_may_declare_its_own_categories(clock: FrozenClock) -> None:
    desk = Desk(clock=clock, settings={"categories": ["repair", "return", "billing"]})
    assert desk.categories == ("repair", "return", "billing")
    ticket = _open(desk)
    assert desk.classify(ticket.id, category="repair", severity="low").category == "repair"
    with pytest.raises(InvalidInput, match="known: repair, return, billing"):
        desk.classify(ticket.id, category="repair_warranty", severity="low")


def test_routing_on_open_without_a_classifier_stores_nothing(desk: Desk) -> None:
    with pytest.raises(InvalidInput, match="no classifier"):
        desk.open_ticket(
            customer=Customer(id="c7", name="Wang"), channel="app", subject="Hi", route=True
        )
    assert desk.find() == []
    with pytest.raises(CustomerNotFound):
        desk.get_customer("c7")


class _FailingCommits(MemoryStore):
    def commit(self, change: Change) -> None:
        raise StorageError("the database went away")


def test_a_ticket_and_its_new_customer_are_stored_together_or_not_at_all(
    clock: FrozenClock,
) -> None:
    store = _FailingCommits()
    desk = Desk(store, clock=clock)
    customer = Customer(id="c8", name="Li", contacts=[ContactPoint(channel="sms", address="138")])
    with pytest.raises(StorageError):
        desk.open_ticket(customer=customer, channel="sms", subject="Hi")
    with pytest.raises(CustomerNotFound):
        store.get_customer("c8")
    assert store.find_customer(Channel.SMS, "138") is None


def test_a_new_customer_is_saved_with_the_ticket(desk: Desk) -> None:
    customer = Customer(id="c8", name="Li", contacts=[ContactPoint(channel="sms", address="138")])
    ticket = desk.open_ticket(customer=customer, channel="sms", subject="Hi")
    assert ticket.customer_id == "c8"
    assert desk.get_customer("c8") == customer


@pytest.mark.parametrize(
    "call",
    [
        lambda desk, t: desk.import_tickets(" "),
        lambda desk, t: desk.import_tickets(None),
        lambda desk, t: desk.import_tickets([1]),
        lambda desk, t: desk.run_due(limit=""),
        lambda desk, t: desk.run_due(limit=0),
        lambda desk, t: desk.run_due(limit=2**70),
        lambda desk, t: desk.fire(t, "classify", expected_version="1"),
        lambda desk, t: desk.fire(t, "classify", expected_version=True),
        lambda desk, t: desk.fire(2**70, "start"),
        lambda desk, t: desk.fire(-1, "start"),
        lambda desk, t: desk.get({}),
        lambda desk, t: desk.get(2**70),
        lambda desk, t: desk.get("\ud800"),
        lambda desk, t: desk.get("a\x00b"),
        lambda desk, t: desk.cancel(t, reason="x", actor="\ud800"),
        lambda desk, t: desk.cancel(t, reason="x", actor="bob\x07"),
        lambda desk, t: desk.open_ticket(customer="c1", channel="sms", subject="x", actor="\ud800"),
        lambda desk, t: desk.import_tickets([], actor="a\nb"),
        lambda desk, t: desk.messages(t, include_internal="yes"),
    ],
    ids=[
        "import-str",
        "import-none",
        "import-int-record",
        "run_due-limit-str",
        "run_due-limit-0",
        "run_due-limit-2**70",
        "expected_version-str",
        "expected_version-bool",
        "fire-number-2**70",
        "fire-number-negative",
        "get-dict",
        "get-number-2**70",
        "get-lone-surrogate",
        "get-nul",
        "actor-lone-surrogate",
        "actor-control-character",
        "open-actor-lone-surrogate",
        "import-actor-newline",
        "messages-include_internal-str",
    ],
)
def test_wrong_types_and_bad_identifiers_raise_invalid_input_and_change_nothing(
    desk: Desk, call: Callable[[Desk, str], object]
) -> None:
    ticket = _open(desk)
    with pytest.raises(InvalidInput):
        call(desk, ticket.id)
    assert desk.find() == [ticket]
    assert len(desk.history(ticket.id)) == 1


def test_messages_leave_internal_notes_out_unless_asked(desk: Desk) -> None:
    ticket = _open(desk)
    desk.add_message(ticket.id, "Hello", author_id="c1", author_role="customer")
    desk.add_message(ticket.id, "VIP, be nice", author_id="li", kind="internal_note")
    desk.add_message(ticket.id, "Hi, how can we help?", author_id="li")
    assert [m.body for m in desk.messages(ticket.id)] == ["Hello", "Hi, how can we help?"]
    assert [m.body for m in desk.messages(ticket.id, include_internal=True)] == [
        "Hello",
        "VIP, be nice",
        "Hi, how can we help?",
    ]


def test_collections_on_tickets_and_customers_are_bounded(store: Store, clock: FrozenClock) -> None:
    desk = Desk(store, clock=clock)
    with pytest.raises(InvalidInput, match="at most 50 tags"):
        _open(desk, tags=[f"t{i}" for i in range(51)])
    contacts = [ContactPoint(channel="sms", address=str(i)) for i in range(21)]
    with pytest.raises(InvalidInput, match="at most 20 contact points"):
        desk.save_customer(Customer(id="c5", name="Many", contacts=contacts))
    ticket = _open(desk)
    evidence = {"category": "other", "severity": "low", "evidence": ["x" * 200] * 400}
    with pytest.raises(InvalidInput, match="bytes of JSON"):
        desk.fire(ticket.id, "classify", payload=evidence)
    assert desk.find() == [ticket]
    ticket = _in_progress(desk)
    small = Desk(store, clock=clock, settings={"max_tags": 2, "max_payload_bytes": 100})
    with pytest.raises(InvalidInput, match="at most 2 tags"):
        _open(small, tags=["a", "b", "c"])
    with pytest.raises(InvalidInput, match="bytes of JSON"):
        small.fire(ticket.id, "wait_for_customer", payload={"note": "x" * 100})
    assert desk.get(ticket.id) == ticket


def test_a_customers_reply_restarts_the_resolution_clock(store: Store, clock: FrozenClock) -> None:
    policy = {
        "name": "all-day",
        "calendar": {"hours": {str(day): ["00:00-24:00"] for day in range(7)}},
        "rules": [{"name": "any", "targets": {"resolution": {"minutes": 600}}}],
    }
    desk = Desk(store, clock=clock, sla=policy)
    ticket = desk.fire(_in_progress(desk).id, "wait_for_customer")
    clock.advance(hours=2)
    assert desk.sla_status(ticket.id).metrics[Metric.RESOLUTION].state is MetricState.PAUSED
    paused_due = desk.get(ticket.id).sla_due_at
    desk.add_message(ticket.id, "Photo attached", author_id="c1", author_role="customer")
    status = desk.sla_status(ticket.id).metrics[Metric.RESOLUTION]
    assert status.state is MetricState.RUNNING
    assert status.due_at == clock.now() + timedelta(minutes=600)  # the 2 hours waiting paused it
    stored = desk.get(ticket.id)
    assert stored.sla_due_at is not None
    assert stored.sla_due_at != paused_due
    assert desk.replay(ticket.id) == stored


def test_first_response_at_agrees_with_the_sla_first_response_metric(
    store: Store, clock: FrozenClock
) -> None:
    desk = Desk(store, clock=clock)
    ticket = _in_progress(desk)
    clock.advance(minutes=20)
    waiting = desk.fire(ticket.id, "wait_for_customer")  # asking the customer answers them
    assert waiting.first_response_at == clock.now()
    assert desk.replay(ticket.id) == waiting
    policy = {
        "name": "strict",
        "rules": [{"name": "any", "targets": {"first_response": {"minutes": 60}}}],
        "first_response_met_by": ["resolved"],
    }
    strict = Desk(store, clock=clock, sla=policy)
    other = _in_progress(strict, customer="c2")
    clock.advance(minutes=5)
    assert strict.fire(other.id, "wait_for_customer").first_response_at is None
    clock.advance(minutes=5)
    resolved = strict.resolve(other.id, resolution="done")
    metric = strict.sla_status(other.id).metrics[Metric.FIRST_RESPONSE]
    assert resolved.first_response_at == metric.met_at == clock.now()


def test_a_new_customer_with_a_taken_address_stores_neither(desk: Desk) -> None:
    desk.save_customer(
        Customer(id="c1", name="Zhang", contacts=[{"channel": "sms", "address": "138"}])
    )
    taken = Customer(id="c9", name="Wang", contacts=[ContactPoint(channel="sms", address="138")])
    with pytest.raises(InvalidInput, match="taken"):
        desk.open_ticket(customer=taken, channel="sms", subject="Hi")
    assert desk.find() == []
    with pytest.raises(CustomerNotFound):
        desk.get_customer("c9")


def test_due_work_that_cannot_be_done_does_not_crowd_out_work_that_can(
    store: Store, clock: FrozenClock
) -> None:
    desk = Desk(store, clock=clock, settings={"customer_wait_days": 2})
    parents = []
    for _ in range(2):
        parent = _in_progress(desk)
        _open(desk, parent_id=parent.id)
        parents.append(desk.resolve(parent.id, resolution="fixed"))
    waiting = desk.fire(_in_progress(desk).id, "wait_for_customer")
    clock.advance(minutes=1)
    resolved = desk.resolve(_in_progress(desk).id, resolution="fixed")
    unwatched = Desk(store, clock=clock)  # the same tickets, with the wait switched off
    later = clock.now() + timedelta(days=8)
    # The parents' auto-close is refused while their children are open, and the desk no
    # longer times waits: each moves out of the way instead of coming back first.
    assert unwatched.run_due(later, limit=3).auto_closed == ()
    assert unwatched.run_due(later, limit=3).auto_closed == (resolved.id,)
    assert desk.get(waiting.id).due_at is None
    for parent in parents:
        moved = desk.get(parent.id)
        assert (moved.status, moved.due_at) == ("resolved", later + timedelta(days=1))
        assert desk.history(parent.id)[-1].trigger == "due_rescheduled"
        assert desk.replay(parent.id) == moved
