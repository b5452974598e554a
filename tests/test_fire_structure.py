"""What the structural trims of Desk.fire keep: times in an event's ``changes`` read as
``isoformat`` writes them, an outbox row built without attrs' ``__init__`` is the one it
builds, and the pipeline's events sealed in place carry the chain :meth:`Chain.seal`
gives their copies."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aftersales import Desk, FrozenClock, Notification
from aftersales._utc_text import iso_text, utc_text
from aftersales.models._base import trusted
from aftersales.models.events import Event, build_event
from aftersales.notify._notification import leased
from aftersales.privacy.audit import Chain

T0 = datetime(2024, 3, 4, 9, tzinfo=timezone.utc)
ZONES = st.sampled_from([timezone.utc, None, timezone(timedelta(hours=8)), timezone.min])


@given(st.datetimes(timezones=ZONES), st.sampled_from([None, 0, 5, 100, 999_999]))
def test_iso_text_is_isoformat_for_every_datetime(at: datetime, micro: int | None) -> None:
    if micro is not None:
        at = at.replace(microsecond=micro)  # zero microseconds are left out of the text
    assert iso_text(at) == at.isoformat()


def test_a_leased_notification_is_the_one_its_init_builds() -> None:
    event = build_event("t-1", "ticket", 2, "start", "new", "in_progress", "a", T0, {}, {})
    lease = T0 + timedelta(minutes=5)
    fast = leased("t-1:2:hook", "hook", event, T0, lease)
    built = Notification("t-1:2:hook", "hook", event, T0, T0, lease)
    assert fast == built
    assert repr(fast) == repr(built)
    assert attrs.asdict(fast, recurse=False) == attrs.asdict(built, recurse=False)
    assert list(vars(fast).items()) == list(vars(built).items())  # in the same order
    second = leased("t-1:2:other", "other", event, T0, None)
    assert second == Notification("t-1:2:other", "other", event, T0, T0, None)
    assert fast.key == "t-1:2:hook"  # not changed by a notification built after it
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        fast.attempts = 1  # type: ignore[misc]
    assert attrs.evolve(fast, attempts=1).attempts == 1


def test_the_rows_of_a_fire_are_the_notifications_subscriptions_want() -> None:
    desk = Desk(clock=FrozenClock(T0))
    heard: list[Notification] = []
    desk.on_transition(heard.append, name="all")
    desk.subscribe(heard.append, entered=["waiting_on_customer"], name="entered")
    ticket = desk.open_ticket(customer="c", channel="email", subject="s")
    desk.classify(ticket.id, category="repair_warranty", severity="low")
    desk.assign(ticket.id, assignee="a")
    desk.fire(ticket.id, "start")
    heard.clear()
    desk.fire(ticket.id, "wait_for_customer")
    desk.fire(ticket.id, "resume")
    assert [(n.key, n.handler, n.event.trigger) for n in heard] == [
        (f"{ticket.id}:5:all", "all", "wait_for_customer"),
        (f"{ticket.id}:5:entered", "entered", "wait_for_customer"),
        (f"{ticket.id}:6:all", "all", "resume"),
    ]
    for notification in heard:
        assert notification == Notification(
            notification.key,
            notification.handler,
            notification.event,
            T0,
            T0,
            notification.lease_until,
        )


def _fresh(*, note: str | None = None) -> list[Event]:
    payload = {} if note is None else {"note": note}
    return [
        build_event("t-1", "ticket", 1, "created", None, "new", "a", T0, {}, {"status": "new"}),
        build_event("t-1", "ticket", 2, "start", "new", "in_progress", "a", T0, payload, {}),
    ]


def test_seal_built_seals_fresh_events_in_place_as_seal_seals_copies() -> None:
    chain = Chain()
    copies, head = chain.seal(_fresh(), None)
    events = _fresh()
    sealed, built_head = chain.seal_built(events, None)
    assert sealed is events
    assert built_head == head
    assert [e.chain for e in events] == [e.chain for e in copies]
    assert events == copies


def test_seal_built_of_personal_values_verifies() -> None:
    chain = Chain()
    events, head = chain.seal_built(_fresh(note="call me on 555-0100"), None)
    assert events[1].salt is not None
    assert chain.verify("t-1", events, head, 2) == []


def _mixed() -> list[Event]:
    # personal values in some events only: each sealing event gets its own salt
    at = [T0 + timedelta(minutes=n) for n in range(4)]
    return [
        build_event("t-1", "ticket", 1, "created", None, "new", "a", at[0], {}, {"subject": "s"}),
        build_event("t-1", "ticket", 2, "start", "new", "in_progress", "a", at[1], {}, {}),
        build_event("t-1", "ticket", 3, "wait", "in_progress", "w", "a", at[2], {"note": "n"}, {}),
        build_event("t-1", "ticket", 4, "resume", "w", "in_progress", "a", at[3], {}, {}),
    ]


def test_seal_built_salts_only_the_events_holding_personal_values_as_seal_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from aftersales.privacy import audit

    def counting(size: int) -> bytes:
        counting.made += 1  # type: ignore[attr-defined]
        return bytes([counting.made]) * size  # type: ignore[attr-defined]

    chain = Chain()
    counting.made = 0  # type: ignore[attr-defined]
    monkeypatch.setattr(audit, "_urandom", counting)
    copies, head = chain.seal(_mixed(), "previous")
    counting.made = 0  # type: ignore[attr-defined]
    events, built_head = chain.seal_built(_mixed(), "previous")
    assert built_head == head
    assert events == copies
    assert [e.salt for e in events] == ["01" * 16, None, "02" * 16, None]
    first, first_head = chain.seal_built(_mixed(), None)
    assert chain.verify("t-1", list(first), first_head, 4) == []


def test_seal_built_leaves_an_event_sealed_before_as_it_is() -> None:
    chain = Chain()
    first, head = chain.seal(_fresh(), None)
    again, again_head = chain.seal_built(first, None)
    assert again is not first
    assert [e.chain for e in first] == [e.chain for e in again]  # the originals untouched
    assert again_head == head


def test_a_trusted_record_is_the_one_validation_builds() -> None:
    checked = build_event("t-1", "ticket", 2, "start", "new", "in_progress", "a", T0, {}, {})
    validated = Event.model_validate(dict(checked.__dict__))
    fast = trusted(Event, dict(validated.__dict__))
    assert fast == validated
    assert fast.model_fields_set == validated.model_fields_set
    assert fast.model_dump(mode="json") == validated.model_dump(mode="json")
    assert fast.__pydantic_extra__ is None
    assert fast.__pydantic_private__ is None
    assert fast.model_copy(update={"sequence": 3}).sequence == 3
    assert repr(fast) == repr(validated)


@given(st.datetimes(timezones=ZONES), st.sampled_from([None, 0, 5, 100, 999_999]))
def test_utc_text_of_the_instant_iso_text_just_formatted_is_its_own(
    at: datetime, micro: int | None
) -> None:
    if micro is not None:
        at = at.replace(microsecond=micro)
    iso_text(at)  # leaves its text for utc_text to read back
    expected = None if at.tzinfo is None else at.astimezone(timezone.utc)
    if expected is not None:
        assert utc_text(at) == expected.isoformat(timespec="microseconds")


def test_fire_checks_its_actor_once_where_it_decides() -> None:
    from aftersales import InvalidInput
    from aftersales.security import Principal, Role

    desk = Desk(clock=FrozenClock(T0))
    ticket = desk.open_ticket(customer="c", channel="email", subject="s")
    desk.classify(ticket.id, category="repair_warranty", severity="low")
    desk.assign(ticket.id, assignee="a")
    with pytest.raises(InvalidInput):
        desk.fire(ticket.id, "start", actor="bad\x00actor")
    assert desk.get(ticket.id).version == 3
    agent = Principal(id="li.wei", roles=frozenset({Role.AGENT}))
    fired = desk.fire(ticket.id, "start", actor=agent)  # type: ignore[arg-type]
    assert desk.history(fired.id)[-1].actor == "li.wei"
