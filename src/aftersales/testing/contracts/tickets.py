"""Tickets in a store: writes with their version check, reads, finds, dues, numbers."""

from __future__ import annotations

from datetime import timedelta

import pytest

from aftersales.exceptions import (
    ConcurrencyError,
    InvalidInput,
    TicketNotFound,
)
from aftersales.models import (
    AuthorRole,
    Channel,
    Message,
    Priority,
    StatusCategory,
    Ticket,
)
from aftersales.storage import Change, Rewrite, TicketCursor, TicketQuery
from aftersales.testing.contracts._base import (
    _T0,
    StoreContractBase,
    _event,
    _notification,
    _ticket,
)


class TicketContract(StoreContractBase):
    """What a store does with tickets, their events and messages."""

    def test_a_created_ticket_reads_back_equal_by_id_and_number(self) -> None:
        ticket = self._create(1, tags=("vip", "网购"), description="坏了 'x'; DROP TABLE t;--")
        assert self.store.get("t1") == ticket
        assert self.store.get_by_number(1) == ticket

    def test_unknown_tickets_raise_ticket_not_found(self) -> None:
        with pytest.raises(TicketNotFound):
            self.store.get("nope")
        with pytest.raises(TicketNotFound):
            self.store.get_by_number(99)

    def test_a_commit_writes_state_and_event_together(self) -> None:
        ticket = self._create(1)
        changed = self._advance(ticket, status="classified")
        assert self.store.get("t1") == changed
        assert [e.sequence for e in self.store.events("t1")] == [1, 2]
        assert self.store.events("t1")[-1].to_state == "classified"

    def test_a_stale_version_raises_and_writes_nothing(self) -> None:
        ticket = self._create(1)
        self._advance(ticket, status="classified")
        stale = ticket.model_copy(update={"status": "cancelled", "version": 2})
        late = _event(stale, "cancel", "new")
        with pytest.raises(ConcurrencyError) as raised:
            self.store.commit(Change(stale, 1, (late,), (), (_notification(late),)))
        assert (raised.value.expected_version, raised.value.actual_version) == (1, 2)
        assert self.store.get("t1").status == "classified"
        assert len(self.store.events("t1")) == 2
        assert self.store.outbox() == []

    def test_creating_an_existing_ticket_raises_concurrency_error(self) -> None:
        ticket = self._create(1)
        with pytest.raises(ConcurrencyError):
            self.store.commit(Change(ticket, 0, ()))
        assert len(self.store.events("t1")) == 1

    def test_updating_a_missing_ticket_raises_concurrency_error(self) -> None:
        ghost = _ticket(7, version=2)
        with pytest.raises(ConcurrencyError) as raised:
            self.store.commit(Change(ghost, 1, ()))
        assert raised.value.actual_version is None

    def test_messages_come_back_in_order(self) -> None:
        ticket = self._create(1)
        messages = [
            Message(
                ticket_id="t1",
                author_id="agent",
                author_role=AuthorRole.AGENT,
                body=f"reply {i} 你好",
                channel=Channel.EMAIL,
                at=_T0 + timedelta(minutes=10 + i),
            )
            for i in range(3)
        ]
        changed = ticket.model_copy(update={"version": 2})
        self.store.commit(Change(changed, 1, (_event(changed, "add_message", "new"),), messages))
        assert self.store.messages("t1") == messages
        assert self.store.messages("other") == []

    def test_an_authors_messages_are_found_on_any_ticket_oldest_first(self) -> None:
        def write(number: int, *said: tuple[str, int, str]) -> list[Message]:
            ticket = self._create(number, customer_id=f"c{number}")
            messages = [
                Message(
                    ticket_id=ticket.id,
                    author_id=author,
                    author_role=AuthorRole.AGENT if author == "agent" else AuthorRole.CUSTOMER,
                    body=body,
                    channel=Channel.EMAIL,
                    at=_T0 + timedelta(minutes=minutes),
                )
                for author, minutes, body in said
            ]
            changed = ticket.model_copy(update={"version": 2})
            self.store.commit(
                Change(changed, 1, (_event(changed, "add_message", "new"),), messages)
            )
            return messages

        mine, agents = write(1, ("c1", 30, "on my ticket"), ("agent", 40, "noted"))
        on_theirs, theirs = write(2, ("c1", 20, "mine leaks too"), ("c2", 10, "it leaks"))
        assert self.store.messages_by_author("c1") == [on_theirs, mine]
        assert self.store.messages_by_author("c2") == [theirs]
        assert self.store.messages_by_author("agent") == [agents]
        assert self.store.messages_by_author("C1") == []  # ids compare exactly
        assert self.store.messages_by_author("nobody") == []
        with pytest.raises(InvalidInput):
            self.store.messages_by_author(None)  # type: ignore[arg-type]
        # a rewritten message is found as rewritten; a rewritten author moves it
        erased = on_theirs.model_copy(update={"body": "[erased]"})
        moved = mine.model_copy(update={"author_id": "c9"})
        self.store.rewrite(Rewrite(messages=[erased, moved]))
        assert self.store.messages_by_author("c1") == [erased]
        assert self.store.messages_by_author("c9") == [moved]

    def test_find_filters_orders_and_pages(self) -> None:
        self._create(1, channel="wechat", customer_id="c1")
        second = self._create(2, channel="email", customer_id="c2", assignee="li")
        self._create(
            3, channel="wechat", customer_id="c1", status="closed", status_category="closed"
        )
        assert [t.number for t in self.store.find(TicketQuery())] == [1, 2, 3]
        assert [t.number for t in self.store.find(TicketQuery(customer_id="c1"))] == [1, 3]
        assert [
            t.number for t in self.store.find(TicketQuery(channel=Channel.WECHAT, status="new"))
        ] == [1]
        assert self.store.find(TicketQuery(assignee="li")) == [second]
        assert [
            t.number for t in self.store.find(TicketQuery(status_category=StatusCategory.CLOSED))
        ] == [3]
        window = TicketQuery(
            created_from=_T0 + timedelta(minutes=2), created_to=_T0 + timedelta(minutes=3)
        )
        assert self.store.find(window) == [second]
        assert [t.number for t in self.store.find(TicketQuery(limit=1, offset=1))] == [2]

    def _numbers(self, query: TicketQuery) -> list[int]:
        return [t.number for t in self.store.find(query)]

    def _all_pages(self, query: TicketQuery) -> list[list[int]]:
        """Each page's numbers, following :meth:`TicketQuery.next_page` to the end."""
        pages: list[list[int]] = []
        page_query: TicketQuery | None = query
        while page_query is not None:
            page = self.store.find(page_query)
            pages.append([t.number for t in page])
            page_query = page_query.next_page(page)
        return pages

    def test_find_by_category_and_priority(self) -> None:
        self._create(1, category="repair", priority=Priority.HIGH)
        self._create(2, category="billing", priority="p1-vip")  # a desk's own level
        self._create(3, priority=Priority.HIGH)
        self._create(4, category="repair")
        assert self._numbers(TicketQuery(category="repair")) == [1, 4]
        assert self._numbers(TicketQuery(category="Repair")) == []  # compared exactly
        assert self._numbers(TicketQuery(priority=Priority.HIGH)) == [1, 3]
        assert self._numbers(TicketQuery(priority="high")) == [1, 3]  # the shipped level
        assert self._numbers(TicketQuery(priority="p1-vip")) == [2]
        assert self._numbers(TicketQuery(priority=Priority.NORMAL)) == [4]
        assert self._numbers(TicketQuery(category="repair", priority="high")) == [1]

    def test_find_by_tags_matches_tickets_with_every_tag(self) -> None:
        first = self._create(1, tags=("vip", "refund"))
        second = self._create(2, tags=("vip",))
        self._create(3, tags=("refund", "urgent", "vip"), status_category="open")
        self._create(4)
        self._create(5, tags=("VIP", "退款"))
        assert self._numbers(TicketQuery(tags=("vip",))) == [1, 2, 3]
        assert self._numbers(TicketQuery(tags=("vip", "refund"))) == [1, 3]
        assert self._numbers(TicketQuery(tags=("refund", "vip"))) == [1, 3]
        assert self._numbers(TicketQuery(tags=("vip", "vip"))) == [1, 2, 3]
        assert self._numbers(TicketQuery(tags=("vip", "nope"))) == []
        assert self._numbers(TicketQuery(tags=("退款",))) == [5]
        assert self._numbers(TicketQuery(tags=("VIP",))) == [5]  # compared exactly
        open_vip = TicketQuery(tags=("vip",), status_category=StatusCategory.OPEN)
        assert self._numbers(open_vip) == [3]
        assert self._numbers(TicketQuery(tags=("vip",), limit=1, offset=1)) == [2]
        after_first = TicketQuery(tags=("vip",), after=TicketCursor.of(first))
        assert self._numbers(after_first) == [2, 3]
        # a ticket whose tags change joins and leaves the tags' results
        second = self._advance(second, tags=("vip", "refund"))
        assert self._numbers(TicketQuery(tags=("vip", "refund"))) == [1, 2, 3]
        first = self._advance(first, tags=("refund",))
        assert self._numbers(TicketQuery(tags=("vip",))) == [2, 3]
        assert self._numbers(TicketQuery(tags=("refund",))) == [1, 2, 3]
        first = self._advance(first, tags=())
        assert self._numbers(TicketQuery(tags=("refund",))) == [2, 3]
        # a step that keeps the tags keeps the ticket in the results
        self._advance(second, status="classified")
        assert self._numbers(TicketQuery(tags=("vip", "refund"))) == [2, 3]
        assert self.store.get("t1").tags == ()

    def test_a_rewritten_tickets_tags_are_found_as_rewritten(self) -> None:
        ticket = self._create(1, tags=("vip", "alice@example.com"))
        erased = ticket.model_copy(update={"tags": ("vip",), "version": 2})
        self.store.rewrite(Rewrite(tickets=[erased]))
        assert self._numbers(TicketQuery(tags=("alice@example.com",))) == []
        assert self._numbers(TicketQuery(tags=("vip",))) == [1]

    def test_imported_tickets_are_found_by_their_tags(self) -> None:
        tickets = [_ticket(n, tags=("import", f"batch-{n % 2}")) for n in range(1, 6)]
        self.store.commit_many([Change(t, 0, (_event(t),)) for t in tickets])
        assert self._numbers(TicketQuery(tags=("import", "batch-1"))) == [1, 3, 5]

    def test_a_cursor_pages_in_creation_order_and_the_number_breaks_ties(self) -> None:
        at = {1: 1, 2: 10, 3: 10, 4: 10, 5: 10, 6: 20, 7: 5}  # number -> minute created
        made: dict[int, Ticket] = {}
        for number, minute in at.items():
            made[number] = self._create(number, created_at=_T0 + timedelta(minutes=minute))
        in_order = [1, 7, 2, 3, 4, 5, 6]
        assert self._numbers(TicketQuery()) == in_order
        assert self._all_pages(TicketQuery(limit=2)) == [[1, 7], [2, 3], [4, 5], [6]]
        assert self._all_pages(TicketQuery(limit=7)) == [in_order, []]
        assert self._numbers(TicketQuery(after=TicketCursor.of(made[3]))) == [4, 5, 6]
        assert self._numbers(TicketQuery(after=TicketCursor.of(made[7]), limit=1)) == [2]
        assert self._numbers(TicketQuery(after=TicketCursor.of(made[6]))) == []
        # a cursor between tickets: after minute 10's number 3, whatever is stored there
        between = TicketCursor(created_at=_T0 + timedelta(minutes=10), number=3)
        assert self._numbers(TicketQuery(after=between, limit=2)) == [4, 5]
        # with other filters and a creation window
        window = TicketQuery(
            created_from=_T0 + timedelta(minutes=5),
            created_to=_T0 + timedelta(minutes=20),
            after=TicketCursor.of(made[2]),
        )
        assert self._numbers(window) == [3, 4, 5]
        # the token a web page hands back pages the same way
        token = TicketCursor.of(made[4]).token()
        assert self._numbers(TicketQuery(after=TicketCursor.parse(token))) == [5, 6]

    def test_paging_a_queue_while_tickets_leave_it_misses_none_that_stayed(self) -> None:
        queue = TicketQuery(status_category=StatusCategory.OPEN, limit=3)
        tickets = {n: self._create(n, status="open", status_category="open") for n in range(1, 11)}
        self._create(11)  # never in the queue
        seen: list[int] = []
        page_query: TicketQuery | None = queue
        left: set[int] = set()
        while page_query is not None:
            page = self.store.find(page_query)
            seen += [t.number for t in page]
            # an agent works the page: its tickets leave the queue, and so does one
            # further down that another agent closes meanwhile
            for ticket in page:
                self._advance(
                    tickets[ticket.number], status="closed", status_category=StatusCategory.CLOSED
                )
                left.add(ticket.number)
            later = [n for n in tickets if n not in left and n > max(seen)]
            if later:
                self._advance(
                    tickets[later[-1]], status="closed", status_category=StatusCategory.CLOSED
                )
                left.add(later[-1])
            page_query = page_query.next_page(page)
        assert len(seen) == len(set(seen))  # none twice
        assert set(range(1, 11)) - set(seen) <= left  # each one missed had left
        assert seen == [1, 2, 3, 4, 5, 6, 7, 8]  # 10 and 9 closed before their page

    def test_number_blocks_never_overlap(self) -> None:
        first = self.store.reserve_numbers(10)
        second = self.store.reserve_numbers(5)
        third = self.store.reserve_numbers(1)
        assert second == first + 10
        assert third == second + 5

    def test_due_returns_tickets_due_by_then_earliest_first(self) -> None:
        self._create(1, due_at=_T0 + timedelta(days=3))
        self._create(2, due_at=_T0 + timedelta(days=1))
        self._create(3)
        due = self.store.due(_T0 + timedelta(days=5), 10)
        assert [t.number for t in due] == [2, 1]
        assert [t.number for t in self.store.due(_T0 + timedelta(days=2), 10)] == [2]
        assert self.store.due(_T0 + timedelta(days=5), 1)[0].number == 2

    def test_sla_due_returns_tickets_whose_next_sla_checkpoint_has_come(self) -> None:
        self._create(1, sla_due_at=_T0 + timedelta(hours=4))
        self._create(2, sla_due_at=_T0 + timedelta(hours=1))
        self._create(3, due_at=_T0)
        due = self.store.sla_due(_T0 + timedelta(hours=5), 10)
        assert [t.number for t in due] == [2, 1]
        assert [t.number for t in self.store.sla_due(_T0 + timedelta(hours=2), 10)] == [2]

    def test_commit_many_writes_all_or_nothing(self) -> None:
        first, second = _ticket(1), _ticket(2)
        self.store.commit_many(
            [Change(first, 0, (_event(first),)), Change(second, 0, (_event(second),))]
        )
        assert [t.number for t in self.store.find(TicketQuery())] == [1, 2]
        third = _ticket(3)
        with pytest.raises(ConcurrencyError):
            self.store.commit_many([Change(third, 0, (_event(third),)), Change(first, 0, ())])
        assert [t.number for t in self.store.find(TicketQuery())] == [1, 2]
        assert self.store.events("t3") == []
