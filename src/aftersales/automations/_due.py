"""Time rules and escalation levels, run by :meth:`~aftersales.Desk.run_due`: which
subjects are due, and firing each rule once per subject and window with a ``rule_due``
event committed with the version check (two workers racing: one commits, the other
reads it back and fires nothing)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import attrs

from aftersales._validation import parse
from aftersales.automations._conditions import Facts
from aftersales.automations._install import Compiled
from aftersales.automations._records import record_on_subject
from aftersales.exceptions import ConcurrencyError
from aftersales.models.events import AUTOMATION_STOPPED, RULE_DUE, TICKET_KIND
from aftersales.models.ticket import StatusCategory
from aftersales.storage import CaseQuery, TicketQuery, every_case, every_ticket

if TYPE_CHECKING:
    from aftersales.automations._engine import Automations

__all__ = ["DueRules"]

PAGE = 500
"""Subjects read per query while looking for due ones."""
KNOWN = 100_000
"""Subjects whose history facts are remembered (by version) between runs."""
_ENDED = frozenset({StatusCategory.RESOLVED, StatusCategory.CLOSED})
_BOOKKEEPING = frozenset({RULE_DUE, AUTOMATION_STOPPED})
"""The automations' own events, which move ``updated_at`` but change nothing a person
did: a time rule on ``updated_at`` counts from the last other event, or it would fire
again every window on a subject nobody touches."""


@attrs.frozen
class _Now:
    """The moment a time rule is evaluated, as conditions read an event."""

    at: datetime
    subject_kind: str
    trigger: str = RULE_DUE
    actor: str = "system"
    payload: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class _History:
    """What a subject's events say for its time rules: the (rule, window) pairs fired,
    and for each chain's start trigger the window of the running chain (None: none)."""

    version: int
    fired: frozenset[tuple[str, str]]
    starts: dict[str, tuple[str, datetime] | None]
    touched: datetime | None
    """When its last event that is not the automations' bookkeeping was recorded."""


class DueRules:
    """The time rules and escalation levels of one desk's automations."""

    def __init__(self, automations: Automations, timed: list[Compiled]) -> None:
        self.automations = automations
        self.desk = automations.desk
        self.by_kind: dict[str, list[Compiled]] = {}
        for rule in timed:
            for kind in rule.kinds:
                self.by_kind.setdefault(kind, []).append(rule)
        self.starts = frozenset(rule.start for rule in timed if rule.start is not None)
        self._known: dict[str, _History] = {}

    def run(self, now: datetime, limit: int) -> list[tuple[str, str]]:
        """Fire what came due by ``now`` (at most ``limit`` firings); answers (subject
        id, rule name) for each."""
        fired: list[tuple[str, str]] = []
        for kind, rules in self.by_kind.items():
            categories = frozenset().union(*(rule.categories for rule in rules))
            for subject in self._candidates(kind, categories):
                for rule in rules:
                    if len(fired) >= limit:
                        return fired
                    if subject.status_category.value in rule.categories and self._fire(
                        kind, subject, rule, now
                    ):
                        fired.append((subject.id, rule.name))
        return fired

    def _candidates(self, kind: str, categories: frozenset[str]) -> Iterator[Any]:
        store = self.desk.store
        for category in sorted(categories):
            if kind == TICKET_KIND:
                # by cursor: a subject an action moves out of the category moves no other
                # out of the next page (by offset, every page was read first, and each
                # read every row before it)
                query = parse(TicketQuery, {"status_category": category, "limit": PAGE})
                yield from every_ticket(store, query)
            else:
                # every page, not the first 10,000 cases: the rules of a kind with more
                # open cases than that never reached its newer ones
                cases = {"kind": kind, "status_category": category, "limit": PAGE}
                yield from every_case(store, parse(CaseQuery, cases))

    # ------------------------------------------------------------------ one subject

    def history(self, kind: str, subject: Any) -> _History:
        """What the subject's events say (read again only when its version moved)."""
        known = self._known.get(subject.id)
        if known is not None and known.version == subject.version:
            return known
        events = self.desk.store.events(subject.id)
        fired = frozenset(
            (str(e.payload.get("rule")), str(e.payload.get("window")))
            for e in events
            if e.trigger == RULE_DUE
        )
        starts: dict[str, tuple[str, datetime] | None] = {}
        if self.starts:
            category_of = self.desk._subject_workflows()[kind].category_of
            for start in self.starts:
                running: tuple[str, datetime] | None = None
                for event in events:
                    if event.trigger == start:
                        running = (f"{event.at.isoformat()}#{event.sequence}", event.at)
                    elif running is not None and category_of(event.to_state) in _ENDED:
                        running = None  # resolved since: the chain is over
                starts[start] = running
        touched = next((e.at for e in reversed(events) if e.trigger not in _BOOKKEEPING), None)
        known = _History(subject.version, fired, starts, touched)
        if len(self._known) >= KNOWN:
            self._known.clear()
        self._known[subject.id] = known
        return known

    def window(self, kind: str, subject: Any, rule: Compiled) -> tuple[str, datetime] | None:
        """(the window, the time the rule comes due in it), or None: no window now."""
        if rule.start is not None:
            started = self.history(kind, subject).starts.get(rule.start)
            if started is None:
                return None
            window, since = started
        else:
            assert rule.since is not None
            stamp: datetime | None = getattr(subject, rule.since, None)
            if rule.since == "updated_at" and stamp is not None:
                stamp = self.history(kind, subject).touched or stamp
            if stamp is None:
                return None
            window, since = stamp.isoformat(), stamp
        due = since + timedelta(hours=rule.hours)
        if rule.business_hours and rule.hours > 0:
            calendar = self.automations.lookups.calendar
            assert calendar is not None
            due = calendar(subject).add(since, timedelta(hours=rule.hours))
        return window, due

    def _fire(self, kind: str, subject: Any, rule: Compiled, now: datetime) -> bool:
        found = self.window(kind, subject, rule)
        if found is None or now < found[1]:
            return False
        window = found[0]
        if (rule.name, window) in self.history(kind, subject).fired:
            return False
        lookups = self.automations.lookups
        if not rule.matches(Facts(_Now(now, kind), subject, lookups, now)):
            return False
        payload: dict[str, Any] = {"rule": rule.name, "window": window}
        if rule.level is not None:
            payload["level"] = rule.level

        def decide(current: Any) -> dict[str, Any] | None:
            if current.version < subject.version:
                # a copy this desk remembers from before: decide again on a fresh read
                raise ConcurrencyError(subject.id, current.version, subject.version)
            if current.version != subject.version:
                # moved since it was read: fired by another worker, its window moved, or
                # it left the rule's categories or conditions (resolved meanwhile)
                if (rule.name, window) in self.history(kind, current).fired:
                    return None
                again = self.window(kind, current, rule)
                if again is None or again[0] != window:
                    return None
                if current.status_category.value not in rule.categories:
                    return None
                if not rule.matches(Facts(_Now(now, kind), current, lookups, now)):
                    return None
            if rule.level is not None:
                return self._level(kind, current, rule, window)
            return {}

        try:
            event = record_on_subject(self.desk, kind, subject.id, RULE_DUE, payload, decide)
        except ConcurrencyError:
            return False  # lost every race meanwhile: the next run decides on what is stored
        return event is not None

    def _level(self, kind: str, current: Any, rule: Compiled, window: str) -> dict[str, Any]:
        """The escalation level a chain's level sets: its own number when it is the
        first level of this chain's run to fire (a chain started again starts from its
        level, not from the last run's top), else the higher of it and the ticket's."""
        assert rule.level is not None
        chain = rule.name.rpartition(".level")[0]
        fired = self.history(kind, current).fired
        siblings = {f"{chain}.level{n}" for n in range(1, 21)} - {rule.name}
        running = any((name, window) in fired for name in siblings)
        level = max(rule.level, current.escalation_level) if running else rule.level
        return {} if level == current.escalation_level else {"escalation_level": level}
