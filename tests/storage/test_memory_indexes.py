"""MemoryStore's indexes: whatever sequence of commits, updates and rewrites a store sees
(ties in creation time, imports out of order, tickets moving between statuses, assignees,
teams, tags...), find, due, sla_due and cases_due answer exactly what a scan of the stored
records answers; and they read only the tickets they return, not the whole table."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from aftersales import MemoryStore
from aftersales.models import Case, CaseKind, Channel, Ticket
from aftersales.models.ticket import Priority, StatusCategory
from aftersales.storage import CaseChange, Change, Rewrite, TicketCursor, TicketQuery, _memory_index

T0 = datetime(2024, 3, 4, 9, 0, tzinfo=timezone.utc)
STATUSES = {
    "new": StatusCategory.NEW,
    "assigned": StatusCategory.OPEN,
    "waiting": StatusCategory.WAITING_ON_CUSTOMER,
    "solved": StatusCategory.RESOLVED,
}
PEOPLE = [None, "ana", "bo"]
TEAMS = [None, "returns", "billing"]
CUSTOMERS = ["c1", "c2", "c3"]
CHANNELS = [Channel.EMAIL, Channel.WECHAT]
CATEGORIES = [None, "refund", "repair"]
PRIORITIES = [Priority.NORMAL, Priority.HIGH, "vip"]
TAGS = ["a", "b", "c"]
LINKS = [None, "t1", "t2"]

minutes = st.integers(min_value=0, max_value=12)
instants = minutes.map(lambda m: T0 + timedelta(minutes=m))
maybe_instants = st.none() | instants
ticket_fields = st.fixed_dictionaries(
    {
        "status": st.sampled_from(sorted(STATUSES)),
        "assignee": st.sampled_from(PEOPLE),
        "team": st.sampled_from(TEAMS),
        "customer_id": st.sampled_from(CUSTOMERS),
        "channel": st.sampled_from(CHANNELS),
        "category": st.sampled_from(CATEGORIES),
        "priority": st.sampled_from(PRIORITIES),
        "tags": st.lists(st.sampled_from(TAGS), max_size=3).map(tuple),
        "merged_into": st.sampled_from(LINKS),
        "parent_id": st.sampled_from(LINKS),
        "follow_up_of": st.sampled_from(LINKS),
        "due_at": maybe_instants,
        "sla_due_at": maybe_instants,
    }
)
changed_fields = ticket_fields.flatmap(
    lambda fields: st.sets(st.sampled_from(sorted(fields))).map(
        lambda names: {name: fields[name] for name in names}
    )
)


def built(ticket: Ticket | None, fields: dict[str, Any]) -> Ticket:
    """A valid ticket: ``ticket`` (or a fresh one) with ``fields`` and its status' category."""
    values = {} if ticket is None else ticket.model_dump()
    values.update(fields)
    values["status_category"] = STATUSES[values["status"]]
    return Ticket.model_validate(values)


def oracle_matches(ticket: Ticket, query: TicketQuery) -> bool:
    """What the query asks for, checked field by field on one ticket."""
    equal = (
        "status",
        "status_category",
        "assignee",
        "team",
        "customer_id",
        "channel",
        "category",
        "priority",
        "merged_into",
        "parent_id",
        "follow_up_of",
    )
    for name in equal:
        wanted = getattr(query, name)
        if wanted is not None and getattr(ticket, name) != wanted:
            return False
    if not set(query.tags) <= set(ticket.tags):
        return False
    if query.created_from is not None and ticket.created_at < query.created_from:
        return False
    if query.created_to is not None and ticket.created_at >= query.created_to:
        return False
    after = query.after
    return after is None or (ticket.created_at, ticket.number) > (after.created_at, after.number)


def oracle_find(tickets: dict[str, Ticket], query: TicketQuery) -> list[str]:
    found = sorted(
        (t for t in tickets.values() if oracle_matches(t, query)),
        key=lambda t: (t.created_at, t.number),
    )
    return [t.id for t in found[query.offset : query.offset + query.limit]]


queries = st.fixed_dictionaries(
    {},
    optional={
        "status": st.sampled_from(sorted(STATUSES)),
        "status_category": st.sampled_from(sorted(set(STATUSES.values()))),
        "assignee": st.sampled_from(PEOPLE[1:]),
        "team": st.sampled_from(TEAMS[1:]),
        "customer_id": st.sampled_from(CUSTOMERS),
        "channel": st.sampled_from(CHANNELS),
        "category": st.sampled_from(CATEGORIES[1:]),
        "priority": st.sampled_from(PRIORITIES),
        "tags": st.lists(st.sampled_from(TAGS), min_size=1, max_size=2).map(tuple),
        "merged_into": st.sampled_from(LINKS[1:]),
        "parent_id": st.sampled_from(LINKS[1:]),
        "follow_up_of": st.sampled_from(LINKS[1:]),
        "created_from": instants,
        "created_to": instants,
        "after": st.builds(
            TicketCursor, created_at=instants, number=st.integers(min_value=1, max_value=30)
        ),
        "limit": st.integers(min_value=1, max_value=6),
        "offset": st.integers(min_value=0, max_value=3),
    },
)


class IndexedStoreMachine(RuleBasedStateMachine):
    """Commits random changes to a MemoryStore and to a plain dictionary (the oracle)."""

    def __init__(self) -> None:
        super().__init__()
        # small chunks, so that a few dozen tickets already split and merge them; and the
        # values of only the two tickets put last kept, so that most moves start from the
        # stored version's values read again and a few from those kept
        self.saved = _memory_index._LOAD, _memory_index._RECENT_KEPT
        _memory_index._LOAD = _memory_index._RECENT_KEPT = 2
        self.store = MemoryStore()
        self.tickets: dict[str, Ticket] = {}
        self.cases: dict[str, Case] = {}

    def teardown(self) -> None:
        _memory_index._LOAD, _memory_index._RECENT_KEPT = self.saved

    @rule(
        batch=st.lists(st.tuples(ticket_fields, instants), min_size=1, max_size=5),
        one_by_one=st.booleans(),
    )
    def open_tickets(self, batch: list[tuple[dict[str, Any], datetime]], one_by_one: bool) -> None:
        first = self.store.reserve_numbers(len(batch))
        changes = []
        for number, (fields, created_at) in enumerate(batch, start=first):
            ticket = built(
                None,
                {
                    **fields,
                    "id": f"t{number}",
                    "number": number,
                    "subject": f"Ticket {number}",
                    "created_at": created_at,  # imports arrive out of order, ties happen
                    "updated_at": created_at,
                },
            )
            changes.append(Change(ticket=ticket, expected_version=0))
            self.tickets[ticket.id] = ticket
        if one_by_one:
            for change in changes:
                self.store.commit(change)
        else:
            self.store.commit_many(changes)

    @precondition(lambda self: self.tickets)
    @rule(data=st.data(), fields=changed_fields)
    def update(self, data: st.DataObject, fields: dict[str, Any]) -> None:
        stored = self.tickets[data.draw(st.sampled_from(sorted(self.tickets)))]
        ticket = built(stored, {**fields, "version": stored.version + 1})
        self.store.commit(Change(ticket=ticket, expected_version=stored.version))
        self.tickets[ticket.id] = ticket

    @precondition(lambda self: self.tickets)
    @rule(data=st.data(), fields=changed_fields, created_at=st.none() | instants)
    def rewrite(
        self, data: st.DataObject, fields: dict[str, Any], created_at: datetime | None
    ) -> None:
        names = data.draw(st.sets(st.sampled_from(sorted(self.tickets)), min_size=1, max_size=3))
        rewritten = []
        for name in sorted(names):
            stored = self.tickets[name]
            changes = {**fields, "version": stored.version + 1}
            if created_at is not None:
                changes["created_at"] = created_at  # a key that moves, too
            rewritten.append(built(stored, changes))
        self.store.rewrite(Rewrite(tickets=rewritten))
        self.tickets.update((ticket.id, ticket) for ticket in rewritten)

    @rule(name=st.sampled_from(["k1", "k2", "k3", "k4"]), step_due_at=maybe_instants)
    def put_case(self, name: str, step_due_at: datetime | None) -> None:
        stored = self.cases.get(name)
        version = 0 if stored is None else stored.version
        case = Case(
            id=name,
            kind=CaseKind.RETURN,
            workflow="return",
            status="requested",
            status_category="new",
            version=version + 1,
            ticket_id="t1",
            step_due_at=step_due_at,
            created_at=T0,
            updated_at=T0,
        )
        if stored is not None and version % 2 == 0:
            self.store.rewrite(Rewrite(cases=[case]))
        else:
            self.store.commit_cases([CaseChange(case=case, expected_version=version)])
        self.cases[name] = case

    @rule(fields=queries)
    def find(self, fields: dict[str, Any]) -> None:
        query = TicketQuery(**fields)
        assert [t.id for t in self.store.find(query)] == oracle_find(self.tickets, query)

    @rule(fields=queries)
    def count(self, fields: dict[str, Any]) -> None:
        query = TicketQuery(**fields)
        assert self.store.count(query) == len(oracle_find(self.tickets, query))

    @rule(fields=queries)
    def page_through(self, fields: dict[str, Any]) -> None:
        query: TicketQuery | None = TicketQuery(**{**fields, "offset": 0})
        assert query is not None
        everything = oracle_find(self.tickets, query.model_copy(update={"limit": 10_000}))
        paged: list[str] = []
        while query is not None:
            page = self.store.find(query)
            paged.extend(t.id for t in page)
            query = query.next_page(page)
        assert paged == everything

    @rule(before=instants, limit=st.integers(min_value=1, max_value=6))
    def due(self, before: datetime, limit: int) -> None:
        never = before + timedelta(days=1)  # a ticket without that due time is never due
        for field, answer in (("due_at", self.store.due), ("sla_due_at", self.store.sla_due)):
            due = [t for t in self.tickets.values() if (getattr(t, field) or never) <= before]
            due.sort(key=lambda t: (getattr(t, field), t.number))
            assert [t.id for t in answer(before, limit)] == [t.id for t in due[:limit]]

    @rule(before=instants, limit=st.integers(min_value=1, max_value=6))
    def cases_due(self, before: datetime, limit: int) -> None:
        due = [c for c in self.cases.values() if c.step_due_at and c.step_due_at <= before]
        due.sort(key=lambda c: (c.step_due_at, c.id))
        assert [c.id for c in self.store.cases_due(before, limit)] == [c.id for c in due[:limit]]

    @invariant()
    def stores_what_was_committed(self) -> None:
        everything = self.store.find(TicketQuery(limit=10_000))
        assert {t.id: t for t in everything} == self.tickets


TestIndexedStore = IndexedStoreMachine.TestCase
TestIndexedStore.settings = settings(
    max_examples=100,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


class CountingDict(dict[str, Any]):
    """A store's table that counts the records a query reads from it."""

    reads = 0

    def __getitem__(self, key: str) -> Any:
        self.reads += 1
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self.reads += 1
        return super().get(key, default)

    def values(self) -> Any:
        self.reads += len(self)
        return super().values()

    def items(self) -> Any:
        self.reads += len(self)
        return super().items()

    def __iter__(self) -> Iterator[str]:
        self.reads += len(self)
        return super().__iter__()


LARGE = 5000


def large_store() -> tuple[MemoryStore, CountingDict, CountingDict]:
    """5,000 open tickets of team "returns", none due, created in order but for every
    tenth (an import), plus ten of team "rare" and three due ones; 5,000 cases, two due."""
    store = MemoryStore()
    changes = []
    for number in range(1, LARGE + 1):
        minute = number if number % 10 else LARGE - number  # every tenth out of order
        fields: dict[str, Any] = {
            "id": f"t{number}",
            "number": number,
            "channel": Channel.EMAIL,
            "subject": f"Ticket {number}",
            "customer_id": f"c{number % 50}",
            "status": "assigned",
            "status_category": "open",
            "team": "rare" if number % 500 == 7 else "returns",
            "created_at": T0 + timedelta(minutes=minute),
            "updated_at": T0,
        }
        if number % 1700 == 3:
            fields["due_at"] = T0 + timedelta(minutes=number)
        changes.append(Change(ticket=Ticket(**fields), expected_version=0))
    store.commit_many(changes)
    store.commit_cases(
        [
            CaseChange(
                case=Case(
                    id=f"k{index}",
                    kind=CaseKind.RETURN,
                    workflow="return",
                    status="requested",
                    status_category="new",
                    version=1,
                    ticket_id="t1",
                    step_due_at=T0 + timedelta(minutes=index) if index % 2000 == 1 else None,
                    created_at=T0,
                    updated_at=T0,
                ),
                expected_version=0,
            )
            for index in range(LARGE)
        ]
    )
    tickets = CountingDict(store._tickets)
    cases = CountingDict(store._cases)
    store._tickets, store._cases = tickets, cases
    return store, tickets, cases


def test_find_reads_the_smallest_bucket_not_the_table() -> None:
    store, tickets, _ = large_store()
    rare = store.find(TicketQuery(team="rare", status_category="open", limit=1000))
    assert len(rare) == 10
    assert tickets.reads <= 10


def test_find_stops_at_its_page_and_starts_at_its_cursor() -> None:
    store, tickets, _ = large_store()
    first = store.find(TicketQuery(status_category="open", limit=5))
    assert len(first) == 5
    assert tickets.reads == 5
    tickets.reads = 0
    cursor = TicketCursor(created_at=T0 + timedelta(minutes=4000), number=4000)
    deep = TicketQuery(team="returns", after=cursor, limit=5)
    page = store.find(deep)
    assert [t.number for t in page] == [4001, 4002, 4003, 4004, 4005]
    assert tickets.reads == 5


def test_created_range_reads_only_the_range() -> None:
    store, tickets, _ = large_store()
    query = TicketQuery(
        created_from=T0 + timedelta(minutes=2001), created_to=T0 + timedelta(minutes=2004)
    )
    assert [t.number for t in store.find(query)] == [2001, 2002, 2003]
    assert tickets.reads == 3


def test_count_reads_no_ticket_where_one_bucket_answers() -> None:
    """A count of one filter (or none), with a creation range or a cursor or not, is a
    bucket's size between two bisections: no ticket read. Two filters walk the smaller
    bucket, and stop at the limit."""
    store, tickets, _ = large_store()
    assert store.count(TicketQuery(status_category="open", limit=10_000)) == LARGE
    assert store.count(TicketQuery(limit=10_000, offset=LARGE - 3)) == 3
    assert store.count(TicketQuery(status_category="open", limit=7)) == 7
    window = TicketQuery(
        team="returns",
        created_from=T0 + timedelta(minutes=2001),
        created_to=T0 + timedelta(minutes=2004),
    )
    assert store.count(window) == 3
    cursor = TicketCursor(created_at=T0 + timedelta(minutes=4000), number=4000)
    minute = {n: n if n % 10 else LARGE - n for n in range(1, LARGE + 1)}  # as made
    after = [n for n in minute if (minute[n], n) > (4000, 4000)]
    assert store.count(TicketQuery(after=cursor, limit=10_000)) == len(after) == 999
    assert store.count(TicketQuery(customer_id="nobody")) == 0
    assert tickets.reads == 0
    assert store.count(TicketQuery(team="rare", status_category="open", limit=1000)) == 10
    assert tickets.reads <= 10
    tickets.reads = 0
    assert store.count(TicketQuery(team="returns", customer_id="c1", limit=3)) == 3
    assert tickets.reads <= 3


def test_due_queries_read_only_what_is_due() -> None:
    store, tickets, cases = large_store()
    later = T0 + timedelta(days=30)
    assert [t.number for t in store.due(later, 2)] == [3, 1703]
    assert store.sla_due(later, 10) == []
    assert tickets.reads == 2
    assert [c.id for c in store.cases_due(later, 10)] == ["k1", "k2001", "k4001"]
    assert cases.reads == 3


def test_a_value_whose_tickets_all_left_finds_nothing() -> None:
    """Emptied buckets stay in the index (a ticket going back and forth would rebuild one
    on every commit); a find on their value still answers nothing, alone or with others."""
    store = MemoryStore()
    waiting = built(
        None,
        {
            "id": "t1",
            "number": 1,
            "subject": "Ticket 1",
            "status": "waiting",
            "channel": Channel.EMAIL,
            "customer_id": "c1",
            "assignee": "ana",
            "tags": ("a",),
            "created_at": T0,
            "updated_at": T0,
        },
    )
    store.commit(Change(ticket=waiting, expected_version=0))
    moved = built(waiting, {"status": "assigned", "assignee": "bo", "tags": (), "version": 2})
    store.commit(Change(ticket=moved, expected_version=1))
    for query in (
        TicketQuery(status="waiting"),
        TicketQuery(status_category=StatusCategory.WAITING_ON_CUSTOMER),
        TicketQuery(assignee="ana", customer_id="c1"),
        TicketQuery(tags=("a",)),
        TicketQuery(
            status="waiting", after=TicketCursor(created_at=T0 - timedelta(minutes=1), number=1)
        ),
    ):
        assert store.find(query) == []
    assert [t.id for t in store.find(TicketQuery(status="assigned", assignee="bo"))] == ["t1"]


def test_the_values_kept_of_tickets_put_last_are_bounded_and_each_ticket_still_moves() -> None:
    """The index keeps the indexed values of the tickets put last, at most
    ``_RECENT_KEPT`` of them; a ticket whose values were let go moves all the same."""
    store = MemoryStore()
    written = _memory_index._RECENT_KEPT + 5
    for n in range(written):
        store.commit(
            Change(
                ticket=built(
                    None,
                    {
                        "id": f"t{n}",
                        "number": n + 1,
                        "subject": f"Ticket {n}",
                        "status": "waiting",
                        "channel": Channel.EMAIL,
                        "customer_id": "c1",
                        "created_at": T0 + timedelta(seconds=n),
                        "updated_at": T0,
                    },
                ),
                expected_version=0,
            )
        )
    first = store.get("t0")
    store.commit(Change(built(first, {"status": "solved", "version": 2}), 1))
    kept = store._index._recent  # type: ignore[attr-defined]
    assert len(kept) == _memory_index._RECENT_KEPT
    # t0 had been let go (five tickets too many): its move read its values again, and
    # they are kept now in place of the oldest then kept
    assert ("t0" in kept, "t5" in kept, "t6" in kept) == (True, False, True)
    assert [t.id for t in store.find(TicketQuery(status="solved"))] == ["t0"]
    assert store.count(TicketQuery(status="waiting", limit=10_000)) == written - 1
