"""What the trimmed fire path must keep: the deciding machine's invalid-source paths
answer as a stock machine's, and the memory index moves a ticket under every value a
single commit changes (several at once), and nowhere else."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import pytest
from transitions import Machine, MachineError

from aftersales.storage._memory_index import FIELDS, TicketIndex
from aftersales.storage._unit import TicketQuery
from aftersales.workflows._machine import DecidingMachine

T0 = datetime(2024, 3, 4, 9, tzinfo=timezone.utc)


class _Model:
    def __init__(self, state: str) -> None:
        self.state = state


def _door(kind: type[Machine], ignore: bool) -> Machine:
    return kind(
        model=None,
        states=["open", "shut", "locked"],
        transitions=[{"trigger": "close", "source": "open", "dest": "shut"}],
        initial="open",
        auto_transitions=False,
        send_event=True,
        ignore_invalid_triggers=ignore,
    )


@pytest.mark.parametrize("ignore", [False, True])
def test_a_trigger_from_a_state_it_does_not_leave_answers_as_a_stock_machine(
    ignore: bool,
) -> None:
    outcomes = []
    for kind in (Machine, DecidingMachine):
        model = _Model("locked")
        try:
            outcome: Any = _door(kind, ignore).events["close"].trigger(model)
        except MachineError as error:
            outcome = str(error)
        outcomes.append((outcome, model.state))
    assert outcomes[0] == outcomes[1]
    assert outcomes[1][0] is False if ignore else "Can't trigger" in outcomes[1][0]


def _ticket(**values: Any) -> SimpleNamespace:
    fields: dict[str, Any] = dict.fromkeys(FIELDS)
    fields.update(created_at=T0, number=1, id="t1", tags=(), due_at=None, sla_due_at=None)
    fields.update(values)
    return SimpleNamespace(**fields)


def _found(index: TicketIndex, ticket: SimpleNamespace, **query: Any) -> list[str]:
    return [t.id for t in index.find(TicketQuery(**query), {ticket.id: ticket})]


def test_one_commit_changing_several_indexed_values_moves_the_ticket_under_each() -> None:
    index = TicketIndex()
    before = _ticket(status="new", assignee="ann", tags=("a", "b"))
    index.put(None, before)
    after = _ticket(
        status="open",
        assignee=None,
        team="blue",
        tags=("b", "c"),
        due_at=T0 + timedelta(hours=1),
        sla_due_at=T0 + timedelta(hours=2),
    )
    index.put(before, after)
    assert _found(index, after, status="open") == ["t1"]
    assert _found(index, after, status="new") == []
    assert _found(index, after, assignee="ann") == []
    assert _found(index, after, team="blue") == ["t1"]
    assert _found(index, after, tags=("c",)) == ["t1"]
    assert _found(index, after, tags=("a",)) == []
    assert index.due_until(index.due, T0 + timedelta(hours=1), 10) == ["t1"]
    assert index.due_until(index.sla_due, T0 + timedelta(hours=2), 10) == ["t1"]
    back = _ticket(status="new", assignee="ann", tags=("a", "b"))
    index.put(after, back)
    assert _found(index, back, status="new", assignee="ann", tags=("a",)) == ["t1"]
    assert _found(index, back, team="blue") == []
    assert len(index.due) == len(index.sla_due) == 0


@pytest.mark.parametrize("given", [None, {}], ids=["None", "empty"])
def test_fires_without_a_payload_each_record_their_own_copy_of_the_triggers_defaults(
    given: dict[str, Any] | None,
) -> None:
    from aftersales import Desk, FrozenClock, InvalidInput

    desk = Desk(clock=FrozenClock(T0))
    ticket = desk.open_ticket(customer="c", channel="email", subject="s")
    desk.classify(ticket.id, category="repair_warranty", severity="low")
    desk.assign(ticket.id, assignee="a")
    desk.fire(ticket.id, "start")
    for _ in range(2):
        desk.fire(ticket.id, "wait_for_customer", payload=given)
        desk.fire(ticket.id, "resume", payload=given)
    desk.fire(ticket.id, "wait_for_customer", payload={"note": "called"})
    events = desk.history(ticket.id)[-5:]
    assert [e.payload for e in events] == [{}, {}, {}, {}, {"note": "called"}]
    events[0].payload["mine"] = 1  # a reader's change reaches no later fire's payload
    desk.fire(ticket.id, "resume", payload=given)
    desk.fire(ticket.id, "wait_for_customer", payload=given)
    assert [e.payload for e in desk.history(ticket.id)[-2:]] == [{}, {}]
    for _ in range(2):  # a trigger whose payload is required refuses every time
        with pytest.raises(InvalidInput):
            desk.fire(ticket.id, "cancel", payload=given)
