"""Ordered indexes for :class:`~aftersales.storage.memory.MemoryStore`: each ticket filter's
buckets, the whole table and the due times, kept in order so that a query reads a few
entries from where it starts instead of scanning and sorting every ticket."""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Callable, Hashable, Iterator, Mapping
from datetime import datetime
from operator import attrgetter, itemgetter
from typing import Any

from aftersales.models import Ticket
from aftersales.storage._unit import TicketQuery

__all__ = ["SortedKeys", "TicketIndex", "TicketKey"]

TicketKey = tuple[datetime, int, str]
"""A ticket's place in find order: (created_at, number, id). Numbers are unique, so the
id is never compared; it is there to reach the ticket."""

_LOAD = 512
"""Entries per chunk: small enough that inserting into one moves little memory, large
enough that the list of chunks stays short."""


class SortedKeys:
    """Distinct keys in ascending order, kept in chunks (a list of sorted lists and each
    chunk's largest key): adding or removing one costs a bisect and a move within one
    chunk, not within the whole list, and appending a key larger than all is O(1)
    amortised (the usual case: a new ticket is the newest)."""

    __slots__ = ("_chunks", "_maxes", "_size")

    def __init__(self) -> None:
        self._chunks: list[list[Any]] = []
        self._maxes: list[Any] = []
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def add(self, key: Any) -> None:
        """Insert ``key``, which must not be present."""
        self._size += 1
        maxes = self._maxes
        if not maxes:
            self._chunks.append([key])
            maxes.append(key)
            return
        if key > maxes[-1]:
            place = len(maxes) - 1
            chunk = self._chunks[place]
            chunk.append(key)
            maxes[place] = key
        else:
            place = bisect_left(maxes, key)
            chunk = self._chunks[place]
            insort(chunk, key)
        if len(chunk) > 2 * _LOAD:
            self._chunks.insert(place + 1, chunk[_LOAD:])
            del chunk[_LOAD:]
            maxes.insert(place, chunk[-1])

    def discard(self, key: Any) -> None:
        """Remove ``key`` if present."""
        maxes = self._maxes
        place = bisect_left(maxes, key)
        if place == len(maxes):
            return
        chunk = self._chunks[place]
        position = bisect_left(chunk, key)
        if position == len(chunk) or chunk[position] != key:
            return
        del chunk[position]
        self._size -= 1
        if not chunk:
            del self._chunks[place]
            del maxes[place]
            return
        maxes[place] = chunk[-1]
        if len(chunk) < _LOAD // 2 and len(self._chunks) > 1:
            # merge a thin chunk into a neighbour, so removals never leave many tiny ones
            left = place - 1 if place > 0 else place
            merged = self._chunks[left] + self._chunks[left + 1]
            del self._chunks[left + 1]
            del maxes[left + 1]
            if len(merged) > 2 * _LOAD:
                half = len(merged) // 2
                self._chunks[left] = merged[:half]
                self._chunks.insert(left + 1, merged[half:])
                maxes[left] = merged[half - 1]
                maxes.insert(left + 1, merged[-1])
            else:
                self._chunks[left] = merged
                maxes[left] = merged[-1]

    def from_key(self, start: Any) -> Iterator[Any]:
        """The keys ``>= start``, in order; the caller holds the store's lock while it
        iterates (nothing may add or remove keys meanwhile)."""
        place = bisect_left(self._maxes, start)
        chunks = self._chunks
        if place == len(chunks):
            return
        chunk = chunks[place]
        yield from chunk[bisect_left(chunk, start) :]
        for chunk in chunks[place + 1 :]:
            yield from chunk

    def below(self, key: Any) -> int:
        """How many keys are ``< key``: a bisection in the chunks' largest keys and one
        in a chunk, plus the sizes of the chunks before it."""
        maxes = self._maxes
        place = bisect_left(maxes, key)
        if place == len(maxes):
            return self._size
        before = sum(len(chunk) for chunk in self._chunks[:place])
        return before + bisect_left(self._chunks[place], key)

    def __iter__(self) -> Iterator[Any]:
        for chunk in self._chunks:
            yield from chunk

    def first(self) -> Any:
        """The smallest key; the index must not be empty."""
        return self._chunks[0][0]


FIELDS = (
    "status_category",
    "status",
    "assignee",
    "team",
    "customer_id",
    "channel",
    "category",
    "priority",
    "merged_into",
    "parent_id",
    "follow_up_of",
    "tags",
)
"""Each indexed filter of :class:`TicketQuery`: a ticket is found under its value of each
(under each of its tags; ``None`` is never a filter, so it is not indexed)."""


_SINGLE_FIELDS = tuple(field for field in FIELDS if field != "tags")
_indexed_values = itemgetter(
    "created_at", "number", "id", *_SINGLE_FIELDS, "tags", "due_at", "sla_due_at"
)
"""Every value of a ticket the index keeps it by, read from its ``__dict__`` (a pydantic
model's fields; getattr on a model goes through its ``__getattr__`` hook, several times
dearer) in one C call: a commit compares them at once, then moves the ticket only where a
value changed (most commits change one or two, or none)."""
_SINGLE_PLACES = tuple(enumerate(_SINGLE_FIELDS, start=3))
"""Each single-valued field's place in :data:`_indexed_values` (after the key's three)."""
_TAGS, _DUE, _SLA_DUE = range(3 + len(_SINGLE_FIELDS), 6 + len(_SINGLE_FIELDS))

_RECENT_KEPT = 1024
"""Tickets whose indexed values an index keeps from their last put: a desk writes a ticket
several times in a row (classify, assign, start, reply), and reading the values of the
stored version again was an eighth of a move. Bounded, so memory does not grow with the
table."""


def _filters(query: TicketQuery) -> Iterator[tuple[str, Hashable]]:
    """Each (field, value) the query filters an indexed field on."""
    for field in FIELDS:
        if field == "tags":
            for tag in query.tags:
                yield field, tag
        else:
            value = getattr(query, field)
            if value is not None:
                yield field, value


def _check(filters: list[tuple[str, Hashable]]) -> Callable[[Ticket], bool] | None:
    """A predicate for the equality and tag filters a walk does not already satisfy
    (its bucket's own, the creation range and the cursor are), or None when none is
    left: it runs on every ticket the walk reads, so it reads the fields in one call."""
    tags = frozenset(value for field, value in filters if field == "tags")
    pairs = [(field, value) for field, value in filters if field != "tags"]
    if not pairs and not tags:
        return None
    if not pairs:
        return lambda ticket: tags.issubset(ticket.tags)
    fields = attrgetter(*(field for field, _ in pairs))
    # attrgetter of one name answers the value, of several a tuple
    wanted = pairs[0][1] if len(pairs) == 1 else tuple(value for _, value in pairs)
    if not tags:
        return lambda ticket: fields(ticket) == wanted
    return lambda ticket: fields(ticket) == wanted and tags.issubset(ticket.tags)


def _distinct(tags: tuple[str, ...]) -> tuple[str, ...]:
    """A ticket's tags without repeats: it is found once under each."""
    return tuple(dict.fromkeys(tags))


def _join_bucket(buckets: dict[Hashable, SortedKeys], value: Hashable, key: TicketKey) -> None:
    """Add ``key`` to the bucket of ``value`` (None is never a filter: not indexed)."""
    if value is None:
        return
    bucket = buckets.get(value)
    if bucket is None:
        bucket = buckets[value] = SortedKeys()
    bucket.add(key)


def _leave_bucket(buckets: dict[Hashable, SortedKeys], value: Hashable, key: TicketKey) -> None:
    """Remove ``key`` from the bucket of ``value``. An emptied bucket stays: a ticket going
    back and forth between two statuses would otherwise drop and rebuild one on every
    commit, and a find answers the same from an empty bucket as from none. What stays is
    one small object per value ever indexed, bounded by the desk's vocabulary (statuses,
    people, teams, tags) and its tickets' links."""
    if value is not None:
        buckets[value].discard(key)


def _move_due(keys: SortedKeys, old_at: Any, new_at: Any, key: TicketKey) -> None:
    """Move a ticket (its find-order ``key``) in due order from ``old_at`` to ``new_at``
    (None: not there); due keys are (due time, number, id)."""
    if old_at is not None:
        keys.discard((old_at, key[1], key[2]))
    if new_at is not None:
        keys.add((new_at, key[1], key[2]))


class TicketIndex:
    """The ordered structures of a ticket table: the whole table and each filter's value
    in find order, and the tickets with a due time and an SLA due time in due order.
    Not locked: the store calls it under its own lock."""

    def __init__(self) -> None:
        self.order = SortedKeys()
        self.buckets: dict[str, dict[Hashable, SortedKeys]] = {field: {} for field in FIELDS}
        self.due = SortedKeys()
        self.sla_due = SortedKeys()
        self._recent: dict[str, tuple[Ticket, tuple[Any, ...]]] = {}
        """By id, the tickets put last (at most :data:`_RECENT_KEPT`) and their indexed
        values: a ticket's next put starts from them instead of reading them again."""

    def put(
        self, previous: Ticket | None, ticket: Ticket, values: dict[str, Any] | None = None
    ) -> None:
        """Move ``ticket`` from where ``previous`` (its stored version, if any) stood;
        ``values`` is the ticket's ``__dict__`` if the caller read it already."""
        new = _indexed_values(ticket.__dict__ if values is None else values)
        recent = self._recent
        ticket_id = new[2]
        kept = recent.get(ticket_id)
        recent[ticket_id] = (ticket, new)
        if kept is None and len(recent) > _RECENT_KEPT:
            del recent[next(iter(recent))]  # the first put of those kept
        if previous is None:
            self._enter(new)
            return
        # the values kept are previous's only if it is the very ticket put last (a record
        # is frozen, so its values cannot have changed since)
        old = (
            kept[1]
            if kept is not None and kept[0] is previous
            else _indexed_values(previous.__dict__)
        )
        if old == new:
            return
        key: TicketKey = new[:3]
        # a rewrite moved its creation time or number (its id is previous's): every entry
        # moves
        if old[0] != key[0] or old[1] != key[1]:
            self._leave(old)
            self._enter(new)
            return
        buckets = self.buckets
        for place, field in _SINGLE_PLACES:
            if old[place] != new[place]:
                # _leave_bucket and _join_bucket inlined: most commits move the ticket
                # under one or two values, and the calls were a third of each move
                of_field = buckets[field]
                value = old[place]
                if value is not None:
                    of_field[value].discard(key)
                value = new[place]
                if value is not None:
                    bucket = of_field.get(value)
                    if bucket is None:
                        bucket = of_field[value] = SortedKeys()
                    bucket.add(key)
        if old[_TAGS] != new[_TAGS]:
            tags = buckets["tags"]
            for tag in _distinct(old[_TAGS]):
                _leave_bucket(tags, tag, key)
            for tag in _distinct(new[_TAGS]):
                _join_bucket(tags, tag, key)
        if old[_DUE] != new[_DUE]:
            _move_due(self.due, old[_DUE], new[_DUE], key)
        if old[_SLA_DUE] != new[_SLA_DUE]:
            _move_due(self.sla_due, old[_SLA_DUE], new[_SLA_DUE], key)

    def _enter(self, values: tuple[Any, ...]) -> None:
        """Add a ticket (its :data:`_indexed_values`) to every structure it belongs in."""
        key: TicketKey = values[:3]
        self.order.add(key)
        buckets = self.buckets
        for place, field in _SINGLE_PLACES:
            _join_bucket(buckets[field], values[place], key)
        for tag in _distinct(values[_TAGS]):
            _join_bucket(buckets["tags"], tag, key)
        _move_due(self.due, None, values[_DUE], key)
        _move_due(self.sla_due, None, values[_SLA_DUE], key)

    def _leave(self, values: tuple[Any, ...]) -> None:
        """Remove a ticket (its :data:`_indexed_values`) from every structure it is in."""
        key: TicketKey = values[:3]
        self.order.discard(key)
        buckets = self.buckets
        for place, field in _SINGLE_PLACES:
            _leave_bucket(buckets[field], values[place], key)
        for tag in _distinct(values[_TAGS]):
            _leave_bucket(buckets["tags"], tag, key)
        _move_due(self.due, values[_DUE], None, key)
        _move_due(self.sla_due, values[_SLA_DUE], None, key)

    def _plan(self, query: TicketQuery) -> tuple[SortedKeys, Callable[[Ticket], bool] | None]:
        """Where a walk for ``query`` reads: the smallest bucket among its filters (or
        the whole table; an empty one when a filter's value was never indexed), and the
        check of the filters that bucket does not satisfy already (None: none left)."""
        chosen, chosen_filter = self.order, None
        for field, value in _filters(query):
            bucket = self.buckets[field].get(value)
            if bucket is None:
                return SortedKeys(), None
            # any bucket beats the whole table, even of the same size: it needs no check
            if chosen_filter is None or len(bucket) < len(chosen):
                chosen, chosen_filter = bucket, (field, value)
        return chosen, _check([f for f in _filters(query) if f != chosen_filter])

    @staticmethod
    def _start(query: TicketQuery) -> tuple[datetime, int] | None:
        """The first find-order key a query can match (before every ticket's key of
        that instant and number), or None: from the first ticket."""
        start: tuple[datetime, int] | None = None
        if query.created_from is not None:
            start = (query.created_from, 0)
        if query.after is not None:
            after = (query.after.created_at, query.after.number + 1)
            start = after if start is None else max(start, after)
        return start

    def find(self, query: TicketQuery, tickets: Mapping[str, Ticket]) -> list[Ticket]:
        """The first ``offset + limit`` tickets of ``tickets`` (the table this indexes)
        that match ``query``, in find order. Walks the smallest bucket among the query's
        filters (or the whole table) from where the query starts, checks the other
        filters, and stops at the page's end or the creation range's."""
        chosen, check = self._plan(query)
        start = self._start(query)
        keys = iter(chosen) if start is None else chosen.from_key(start)
        end = query.created_to
        wanted = query.offset + query.limit
        found: list[Ticket] = []
        for key in keys:
            if end is not None and key[0] >= end:
                break
            ticket = tickets[key[2]]
            if check is None or check(ticket):
                found.append(ticket)
                if len(found) == wanted:
                    break
        return found

    def count(self, query: TicketQuery, tickets: Mapping[str, Ticket]) -> int:
        """``len(find(query, tickets)[query.offset:])`` without the list: a query that
        one bucket answers (a single filter, or none; with a creation range or a cursor
        or not) is that bucket's size between two bisections; any other walks the
        smallest bucket as :meth:`find` does, checking the other filters, and stops at
        ``offset + limit``."""
        chosen, check = self._plan(query)
        start = self._start(query)
        wanted = query.offset + query.limit
        if check is None:
            end = query.created_to
            matched = len(chosen) if end is None else chosen.below((end,))
            if start is not None:
                matched -= chosen.below(start)
        else:
            keys = iter(chosen) if start is None else chosen.from_key(start)
            end = query.created_to
            matched = 0
            for key in keys:
                if end is not None and key[0] >= end:
                    break
                if check(tickets[key[2]]):
                    matched += 1
                    if matched == wanted:
                        break
        return max(0, min(matched, wanted) - query.offset)

    @staticmethod
    def due_until(keys: SortedKeys, before: datetime, limit: int) -> list[str]:
        """Ids of the first ``limit`` entries of ``keys`` due at or before ``before``."""
        found: list[str] = []
        for key in keys:
            if key[0] > before or len(found) == limit:
                break
            found.append(key[-1])
        return found
