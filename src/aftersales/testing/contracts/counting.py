"""Counting tickets: :meth:`~aftersales.Store.count` answers ``len(find(query))`` for every
query, without the tickets.

The property test draws its queries with Hypothesis (a test dependency of this library,
not of this module: without it that one test skips, the others run)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from aftersales.exceptions import InvalidInput
from aftersales.models import Channel, Priority, StatusCategory, Ticket
from aftersales.storage import TicketCursor, TicketQuery
from aftersales.testing.contracts._base import _T0, StoreContractBase

_STATUSES = {
    "new": StatusCategory.NEW,
    "open": StatusCategory.OPEN,
    "waiting": StatusCategory.WAITING_ON_CUSTOMER,
    "solved": StatusCategory.RESOLVED,
}
_ASSIGNEES = (None, "li", "li ", "wang")  # "li " is not "li" (identifiers compare exactly)
_TEAMS = (None, "returns", "billing")
_CUSTOMERS = ("c1", "c2", "C1")
_CHANNELS = (Channel.EMAIL, Channel.WECHAT, Channel.PHONE)
_CATEGORIES = (None, "refund", "repair")
_PRIORITIES = (Priority.NORMAL, Priority.HIGH, "p1-vip")
_TAGS = ("vip", "refund", "退款")
_TICKETS = 36


def _fields(number: int) -> dict[str, Any]:
    """The varied fields of the ``number``-th ticket of :meth:`CountContract._fill`
    (a function of the number, so that a failure replays)."""
    status = list(_STATUSES)[number % 4]
    return {
        "status": status,
        "status_category": _STATUSES[status],
        "assignee": _ASSIGNEES[number % 4 if number % 3 else (number // 3) % 4],
        "team": _TEAMS[number % 3],
        "customer_id": _CUSTOMERS[number % 5 % 3],
        "channel": _CHANNELS[number % 7 % 3],
        "category": _CATEGORIES[number % 2 + number // 20],
        "priority": _PRIORITIES[number % 11 % 3],
        "tags": tuple(tag for i, tag in enumerate(_TAGS) if number >> i & 1),
        # three tickets a minute, created out of number order: ties in time, and find
        # order (time, then number) that is not the order of writing
        "created_at": _T0 + timedelta(minutes=(number * 7) % _TICKETS // 3),
        "updated_at": _T0 + timedelta(hours=1),
    }


class CountContract(StoreContractBase):
    """How a store counts tickets: exactly what its ``find`` of the same query answers
    (every filter, the creation range, the cursor and the page), without the tickets."""

    def _fill(self) -> dict[int, Ticket]:
        """:data:`_TICKETS` tickets of :func:`_fields`; then a few move (status,
        assignee, tags), so that what is counted is where they are now."""
        made = {number: self._create(number, **_fields(number)) for number in range(1, _TICKETS)}
        for number in (3, 8, 21):
            made[number] = self._advance(
                made[number],
                status="open",
                status_category=StatusCategory.OPEN,
                assignee="wang",
                tags=("refund",),
            )
        return made

    def _same(self, query: TicketQuery) -> None:
        found = self.store.find(query)
        assert self.store.count(query) == len(found), query

    def test_count_answers_what_find_finds_for_every_query(self) -> None:
        try:
            from hypothesis import HealthCheck, given, settings
            from hypothesis import strategies as st
        except ImportError:
            pytest.skip("draws its queries with Hypothesis: pip install hypothesis")
        made = self._fill()

        def maybe(values: tuple[Any, ...]) -> st.SearchStrategy[Any]:
            return st.none() | st.sampled_from([v for v in values if v is not None])

        minutes = st.integers(min_value=-1, max_value=_TICKETS // 3 + 1)
        instants = st.none() | minutes.map(lambda m: _T0 + timedelta(minutes=m))
        cursors = st.none() | st.sampled_from(sorted(made)).map(
            lambda number: TicketCursor.of(made[number])
        )
        queries = st.builds(
            TicketQuery,
            status=maybe(tuple(_STATUSES)),
            status_category=maybe(tuple(_STATUSES.values())),
            assignee=maybe(_ASSIGNEES),
            team=maybe(_TEAMS),
            customer_id=maybe(_CUSTOMERS),
            channel=maybe(_CHANNELS),
            category=maybe(_CATEGORIES),
            priority=maybe(_PRIORITIES),
            tags=st.lists(st.sampled_from(_TAGS), max_size=3).map(tuple),
            created_from=instants,
            created_to=instants,
            after=cursors,
            limit=st.integers(min_value=1, max_value=_TICKETS + 2),
            offset=st.sampled_from((0, 0, 0, 1, 3)),
        )

        @settings(
            max_examples=60,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(query=queries)
        def counts(query: TicketQuery) -> None:
            self._same(query)

        counts()

    def test_count_stops_at_the_limit_and_honours_the_page(self) -> None:
        made = self._fill()
        everything = self.store.count(TicketQuery(limit=10_000))
        assert everything == _TICKETS - 1
        assert self.store.count(TicketQuery(limit=5)) == 5
        assert self.store.count(TicketQuery(limit=5, offset=everything - 2)) == 2
        assert self.store.count(TicketQuery(limit=5, offset=everything)) == 0
        first = self.store.find(TicketQuery(limit=1))[0]
        assert self.store.count(TicketQuery(after=TicketCursor.of(first))) == everything - 1
        wang = TicketQuery(assignee="wang", status_category=StatusCategory.OPEN)
        assert self.store.count(wang) == len(self.store.find(wang)) >= 3
        assert self.store.count(wang.model_copy(update={"limit": 2})) == 2
        assert self.store.count(TicketQuery(tags=("refund",), limit=1)) == 1
        assert self.store.count(TicketQuery(after=TicketCursor.of(made[8]), limit=1)) == 1

    def test_counts_follow_tickets_as_they_move(self) -> None:
        queue = TicketQuery(assignee="li", status_category=StatusCategory.OPEN)
        tagged = TicketQuery(tags=("vip", "refund"))
        first = self._create(1, assignee="li", status="open", status_category="open")
        second = self._create(2, assignee="li", status="open", status_category="open")
        assert (self.store.count(queue), self.store.count(tagged)) == (2, 0)
        first = self._advance(first, status="solved", status_category=StatusCategory.RESOLVED)
        second = self._advance(second, tags=("refund", "vip"))
        assert (self.store.count(queue), self.store.count(tagged)) == (1, 1)
        self._advance(second, assignee="wang", tags=("vip",))
        assert (self.store.count(queue), self.store.count(tagged)) == (0, 0)
        assert self.store.count(TicketQuery(assignee="wang")) == 1
        assert self.store.count(TicketQuery(assignee="nobody")) == 0
        assert self.store.count(TicketQuery(tags=("never",))) == 0

    def test_an_empty_store_counts_nothing(self) -> None:
        assert self.store.count(TicketQuery()) == 0
        assert self.store.count(TicketQuery(status_category=StatusCategory.OPEN)) == 0

    @pytest.mark.parametrize("query", [None, {"assignee": "li"}, "open", 3])
    def test_count_and_find_refuse_anything_but_a_query(self, query: Any) -> None:
        self._create(1, assignee="li")
        with pytest.raises(InvalidInput):
            self.store.count(query)
        with pytest.raises(InvalidInput):
            self.store.find(query)
        assert self.store.count(TicketQuery(assignee="li")) == 1  # nothing changed
