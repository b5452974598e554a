"""Two messages written on one ticket at once both stand: a message that loses the race
is written again on the ticket as stored now, as a fired trigger is."""

from __future__ import annotations

from typing import Any

from aftersales import Desk
from aftersales.storage import MemoryStore


class _RacingStore(MemoryStore):
    """Lets another desk write a message just before the first commit of this one."""

    def __init__(self) -> None:
        super().__init__()
        self.before_first_commit: Any = None

    def commit(self, *args: Any, **kwargs: Any) -> None:
        interfere, self.before_first_commit = self.before_first_commit, None
        if interfere is not None:
            interfere()
        super().commit(*args, **kwargs)


def test_a_message_that_loses_a_race_is_written_again_and_both_stand() -> None:
    store = _RacingStore()
    desk, other_desk = Desk(store), Desk(store)
    ticket = desk.open_ticket(customer="c-1", channel="app", subject="Parcel late")
    store.before_first_commit = lambda: other_desk.add_message(
        ticket.id, "Any news?", author_id="c-1", author_role="customer"
    )

    desk.add_message(ticket.id, "We are on it", author_id="li.wei")

    assert [m.body for m in desk.messages(ticket.id)] == ["Any news?", "We are on it"]
    history = desk.history(ticket.id)
    assert [e.sequence for e in history] == list(range(1, len(history) + 1))
    assert desk.replay(ticket.id) == desk.get(ticket.id)
