"""The automations of one desk: event rules evaluated in the commit (a dict lookup by
subject kind and trigger, then the candidate rules' compiled conditions), their actions
run after it through the outbox, loop protection, and the dry run (:meth:`explain`)."""

from __future__ import annotations

import collections
import functools
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from aftersales._validation import ACTING, acting, check_text
from aftersales.automations._actions import ActionRunner, Outcome, Renderer
from aftersales.automations._conditions import MISSING, ConditionVerdict, Facts, Lookups
from aftersales.automations._due import DueRules
from aftersales.automations._fast import compile_bucket
from aftersales.automations._install import Compiled, check_rules
from aftersales.automations._install import compile_rule as compile_ranked
from aftersales.automations._macros import MacroBook
from aftersales.automations._model import (
    EscalationRule,
    EventRule,
    RuleSet,
    TimeRule,
    parse_rules,
    rules_schema,
)
from aftersales.automations._records import record_on_subject
from aftersales.exceptions import CustomerNotFound, FieldError, InvalidInput
from aftersales.models import Event
from aftersales.models._base import trusted
from aftersales.models.events import AUTOMATION_STOPPED, RESERVED_TRIGGERS, RULE_DUE, TICKET_KIND
from aftersales.models.ticket import StatusCategory
from aftersales.notify._hooks import Subscription
from aftersales.notify._notification import Notification

if TYPE_CHECKING:
    from aftersales.desk import Desk
    from aftersales.security import Actor

__all__ = ["CHAIN", "Automations", "RuleRun", "RuleVerdict"]


_UNRESOLVED = frozenset(
    c.value for c in StatusCategory if c not in (StatusCategory.RESOLVED, StatusCategory.CLOSED)
)


@attrs.frozen
class _Chain:
    names: tuple[str, ...]
    stopped: set[str] = attrs.field(eq=False)


CHAIN: ContextVar[_Chain | None] = ContextVar("aftersales_automation_chain", default=None)
"""The rules whose actions are running in this context, outermost first: a commit inside
an action evaluates the rules in the same chain, so a rule that set itself off
``loop_limit`` times is stopped."""


@attrs.frozen
class RuleVerdict:
    """What :meth:`Automations.explain` found for one rule: whether it would fire, why
    not (``reason``), and each condition with the value it read."""

    rule: str
    would_fire: bool
    reason: str | None
    conditions: tuple[ConditionVerdict, ...] = ()
    any: tuple[ConditionVerdict, ...] = ()


@attrs.frozen
class RuleRun:
    """One delivery of a rule's actions: the subject, the event that set it off, and
    what each action did (kept in :attr:`Automations.runs`, the last 1,000)."""

    rule: str
    subject_id: str
    sequence: int
    outcomes: tuple[Outcome, ...]


class Automations:
    """A desk's automation rules (``Automations(desk, rules)`` installs them).

    ``rules`` is a :class:`~aftersales.automations.RuleSet`, a mapping or JSON text, checked
    against the desk (an unknown kind, trigger, state, priority, field, template or
    webhook raises :class:`~aftersales.InvalidInput` naming the path). Event rules are
    evaluated in each commit, against the event and the subject after the change; only
    a rule that matches adds an outbox row (handler ``rule:<name>``), whose delivery
    runs its actions after the commit, at least once, retried and dead-lettered as any
    hook. Time rules and escalation chains run from :meth:`~aftersales.Desk.run_due`.

    The actions act as ``actor`` (``"automation"`` by default; a
    :class:`~aftersales.security.Principal` to give it roles): on a desk with
    permissions, the actor needs grants for what its rules do (an id the directory does
    not know gets the permission set's default principal, the system in the shipped
    set). ``templates`` renders ``send_message``
    (:class:`aftersales.notify.templates.Templates`); ``webhooks`` maps names to
    callables taking the :class:`~aftersales.notify.Notification`; ``macros`` is a
    :class:`~aftersales.automations.MacroBook` (or its macros) for :meth:`apply_macro`.

    Installing sets ``desk.automations`` to the rule set when the desk has none yet
    (``Desk(automations=...)`` does the same), so code holding only the desk reaches
    :meth:`apply_macro` and :meth:`explain`; a second rule set installed beside it
    (its rule names must differ) leaves ``desk.automations`` to the first, and
    :meth:`uninstall` clears it.
    """

    def __init__(
        self,
        desk: Desk,
        rules: RuleSet | Mapping[str, Any] | str | bytes,
        *,
        templates: Renderer | None = None,
        webhooks: Mapping[str, Callable[[Notification], object]] | None = None,
        macros: MacroBook | Sequence[Any] | None = None,
        loop_limit: int | None = None,
        actor: Actor = "automation",
    ) -> None:
        self.desk = desk
        self.rules = parse_rules(rules)
        if loop_limit is not None and (
            isinstance(loop_limit, bool) or not isinstance(loop_limit, int) or loop_limit < 1
        ):
            raise InvalidInput(
                "automations", [FieldError(("loop_limit",), "must be an int from 1")]
            )
        self.loop_limit = self.rules.loop_limit if loop_limit is None else loop_limit
        check_text("actor", actor)
        self.actor: Actor = actor
        hooks = dict(webhooks or {})
        problems = check_rules(desk, self.rules, templates=templates, webhooks=hooks)
        try:
            zone = ZoneInfo(self.rules.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(
                FieldError(("time_zone",), f"unknown time zone {self.rules.time_zone!r}")
            )
        if problems:
            raise InvalidInput("rules", problems)
        self.runner = ActionRunner(desk, templates=templates, webhooks=hooks)
        self.macros = macros if isinstance(macros, MacroBook) else MacroBook(macros or ())
        self.macros.check(desk, templates=templates, webhooks=hooks)
        self.runs: collections.deque[RuleRun] = collections.deque(maxlen=1000)
        """What the last 1,000 deliveries of rules did (:class:`RuleRun`)."""
        self._customers: dict[str, Any] = {}
        self.lookups = Lookups(
            self._customer, self._roles, zone, None if desk.sla is None else _calendar_of(desk)
        )
        self._first = self.rules.mode == "first"
        self._event_rules: list[tuple[EventRule, Compiled]] = []
        self._timed: dict[str, Compiled] = {}
        self._compile()
        self._index = self._build_index()
        self._buckets = self._build_buckets()
        registry = desk._hooks
        self._handlers = [c.handler for _, c in self._event_rules] + [
            c.handler for c in self._timed.values()
        ]
        taken = [name for name in self._handlers if registry.get(name) is not None]
        if taken:
            raise InvalidInput(
                "rules", [FieldError(("rules",), f"installed on this desk already: {taken[0]}")]
            )
        for compiled in (*(c for _, c in self._event_rules), *self._timed.values()):
            registry.add_handler(Subscription(compiled.handler, self._handler(compiled), ()))
        registry.add_source(self._rows)
        self.due = DueRules(self, list(self._timed.values()))
        if self._timed:
            desk._due_work.append(self.due.run)
        if getattr(desk, "automations", None) is None:  # Desk(automations=) sets it after
            # what a build_desk reaches apply_macro and explain by; a second rule set
            # (other rule names) installed beside it leaves the first there
            desk.automations = self

    # ------------------------------------------------------------------ compiling

    def _compile(self) -> None:
        priorities = self.desk.settings.priorities
        compile_rule = functools.partial(compile_ranked, priorities=priorities)
        for rule in self.rules.rules:
            if isinstance(rule, EventRule):
                compiled = compile_rule(
                    rule.name, rule.when.subjects, rule.conditions, rule.any, rule.actions
                )
                self._event_rules.append((rule, compiled))
            elif isinstance(rule, TimeRule):
                self._timed[rule.name] = compile_rule(
                    rule.name,
                    rule.subjects,
                    rule.conditions,
                    rule.any,
                    rule.actions,
                    since=rule.since,
                    hours=rule.hours,
                    business_hours=rule.business_hours,
                    categories=frozenset(c.value for c in rule.categories),
                )
            else:
                self._compile_chain(rule)

    def _compile_chain(self, rule: EscalationRule) -> None:
        compile_rule = functools.partial(compile_ranked, priorities=self.desk.settings.priorities)
        for number, level in enumerate(rule.levels, start=1):
            name = f"{rule.name}.level{number}"
            self._timed[name] = compile_rule(
                name,
                (TICKET_KIND,),
                rule.conditions,
                (),
                level.actions,
                hours=level.after_hours,
                business_hours=level.business_hours,
                start=rule.start,
                level=number,
                categories=_UNRESOLVED,
            )

    def _build_index(self) -> dict[tuple[str, str], tuple[Compiled, ...]]:
        """The event rules that hear each (subject kind, trigger), in the rule set's order."""
        workflows = self.desk._subject_workflows()
        index: dict[tuple[str, str], tuple[Compiled, ...]] = {}
        for kind, workflow in workflows.items():
            for trigger in {*workflow.triggers, *RESERVED_TRIGGERS} - {RULE_DUE}:
                hearing = tuple(
                    compiled
                    for rule, compiled in self._event_rules
                    if kind in rule.when.subjects
                    and (rule.when.triggers is None or trigger in rule.when.triggers)
                )
                if hearing:
                    index[kind, trigger] = hearing
        return index

    def _build_buckets(self) -> dict[tuple[str, str], Callable[[Facts], list[Compiled]]]:
        """One compiled function per (kind, trigger), shared by the triggers whose rules
        are the same (see :func:`compile_bucket`)."""
        made: dict[tuple[str, tuple[int, ...]], Callable[[Facts], list[Compiled]]] = {}
        buckets = {}
        for (kind, trigger), rules in self._index.items():
            key = (kind, tuple(id(rule) for rule in rules))
            if key not in made:
                made[key] = compile_bucket(kind, rules, self._first)
            buckets[kind, trigger] = made[key]
        return buckets

    # ------------------------------------------------------------------ the commit

    def _customer(self, customer_id: str) -> Any:
        cache = self._customers
        customer = cache.get(customer_id, MISSING)
        if customer is MISSING:
            try:
                customer = self.desk.store.get_customer(customer_id)
            except CustomerNotFound:
                customer = None
            cache[customer_id] = customer
        return customer

    def _roles(self, actor: str) -> tuple[str, ...]:
        return tuple(sorted(self.desk.principal(actor).roles))

    def _rows(
        self, events: Sequence[Event], subject: object, now: datetime, lease_until: datetime
    ) -> list[Notification]:
        """The outbox rows of the rules that match the committed ``events`` (the row
        source the desk's hooks ask on every commit)."""
        rows: list[Notification] = []
        index = self._index
        buckets = self._buckets
        if self._customers:
            self._customers.clear()  # read once per commit, never kept longer
        for event in events:
            trigger = event.trigger
            if trigger == RULE_DUE:
                timed = self._timed.get(event.payload.get("rule", ""))
                if timed is not None:
                    handler = timed.handler
                    key = f"{event.subject_id}:{event.sequence}:{handler}"
                    rows.append(Notification(key, handler, event, now, now, lease_until))
                continue
            bucket = buckets.get((event.subject_kind, trigger))
            if bucket is None:
                continue
            seen = subject
            if subject is not None and getattr(subject, "version", None) != event.sequence:
                seen = self._as_left(event, subject)  # a later event of this commit moved it
            facts = Facts(event, seen, self.lookups, now)
            if subject is not None:
                matched = bucket(facts)
            else:  # a caller without the subject (Outbox.rows_for): conditions read none
                matched = [
                    rule for rule in index[event.subject_kind, trigger] if rule.matches(facts)
                ]
                matched = matched[:1] if self._first else matched
            for rule in matched:
                handler = rule.handler
                key = f"{event.subject_id}:{event.sequence}:{handler}"
                rows.append(Notification(key, handler, event, now, now, lease_until))
        return rows

    # ------------------------------------------------------------------ delivery

    def _handler(self, rule: Compiled) -> Callable[[Notification], None]:
        def deliver(notification: Notification) -> None:
            self._deliver(rule, notification)

        deliver.__qualname__ = f"Automations.deliver[{rule.name}]"
        return deliver

    def _deliver(self, rule: Compiled, notification: Notification) -> None:
        chain = CHAIN.get()
        names = () if chain is None else chain.names
        stopped: set[str] = set() if chain is None else chain.stopped
        event = notification.event
        if names.count(rule.name) >= self.loop_limit:
            if rule.name not in stopped:
                stopped.add(rule.name)
                record_on_subject(
                    self.desk,
                    event.subject_kind,
                    event.subject_id,
                    AUTOMATION_STOPPED,
                    {"rule": rule.name, "limit": self.loop_limit, "sequence": event.sequence},
                    lambda subject: {},
                )
            return
        token = CHAIN.set(_Chain((*names, rule.name), stopped))
        acted = ACTING.set(None if isinstance(self.actor, str) else self.actor)
        try:
            outcomes = self.runner.run(
                rule.actions,
                event,
                actor=self.actor,
                source={"rule": rule.name},
                notification=notification,
            )
        finally:
            ACTING.reset(acted)
            CHAIN.reset(token)
        self.runs.append(RuleRun(rule.name, event.subject_id, event.sequence, tuple(outcomes)))

    # ------------------------------------------------------------------ the dry run

    def explain(self, event: Event, subject: object = None) -> list[RuleVerdict]:
        """Which event rules ``event`` would set off, and why, without doing anything:
        one verdict per event rule, in order, each condition with the value it read.
        ``subject`` is the subject after the event (by default as stored, with the
        status the event left it in, as the commit evaluates it). Writes
        nothing: no event, no outbox row, no action."""
        if not isinstance(event, Event):
            raise InvalidInput("explain", [FieldError(("event",), "must be an Event")])
        if subject is None:
            subject = self._subject(event.subject_kind, event.subject_id)
            if getattr(subject, "version", None) != event.sequence:
                subject = self._as_left(event, subject)
        facts = Facts(event, subject, self.lookups, self.desk.pipeline.now())
        verdicts: list[RuleVerdict] = []
        fired = False
        reason: str | None
        for rule, compiled in self._event_rules:
            when = rule.when
            if event.trigger == RULE_DUE:
                # a time rule's own event is never heard by event rules (see _rows)
                verdicts.append(RuleVerdict(rule.name, False, "reserved for time rules"))
                continue
            if event.subject_kind not in when.subjects or (
                when.triggers is not None and event.trigger not in when.triggers
            ):
                reason = f"does not hear {event.trigger} on a {event.subject_kind}"
                verdicts.append(RuleVerdict(rule.name, False, reason))
                continue
            every = tuple(check.verdict(facts) for check in compiled.every)
            some = tuple(check.verdict(facts) for check in compiled.some)
            passed = all(v.passed for v in every) and (not some or any(v.passed for v in some))
            reason = None if passed else "a condition does not hold"
            if passed and fired and self._first:
                passed, reason = False, "an earlier rule fires (mode first)"
            fired = fired or passed
            verdicts.append(RuleVerdict(rule.name, passed, reason, every, some))
        return verdicts

    @acting  # as desk.fire(actor=principal): actor.role reads the principal's roles
    def explain_trigger(
        self,
        ticket_id: str,
        trigger: str,
        *,
        actor: Actor = "system",
        payload: Mapping[str, Any] | None = None,
    ) -> list[RuleVerdict]:
        """:meth:`explain` for firing ``trigger`` on the ticket now, decided by the
        workflow but not committed (a refused trigger raises as :meth:`Desk.fire` would)."""
        desk = self.desk
        ticket = desk.get(ticket_id)
        changed, event = desk._core.decide(
            ticket, trigger, check_text("actor", actor), payload, desk.pipeline.now()
        )
        return self.explain(event, changed)

    def _as_left(self, event: Event, subject: Any) -> Any:
        """``subject`` with the status ``event`` left it in, when events after it (a
        resume on a customer's reply, in the same commit) moved it on: ``subject.status``
        is the state the event entered; the other fields are as after them."""
        if subject.status == event.to_state:
            return subject
        category = self.desk._subject_workflows()[event.subject_kind].category_of(event.to_state)
        return trusted(
            type(subject),
            {**subject.__dict__, "status": event.to_state, "status_category": category},
        )

    def _subject(self, kind: str, subject_id: str) -> Any:
        if kind == TICKET_KIND:
            return self.desk.get(subject_id)
        return self.desk.cases.get(subject_id)

    # ------------------------------------------------------------------ macros

    @acting
    def apply_macro(
        self, ticket_id: str, name: str, *, actor: Actor, version: int | None = None
    ) -> list[Outcome]:
        """Apply the macro ``name`` (its latest version, or ``version``, an int from 1)
        to the ticket now, acting as ``actor`` (see :meth:`MacroBook.apply`)."""
        return self.macros.apply(
            self.desk, self.runner, ticket_id, name, actor=actor, version=version
        )

    @staticmethod
    def rules_schema() -> dict[str, Any]:
        """The JSON Schema of a rule set (see :func:`rules_schema`)."""
        return rules_schema()

    def uninstall(self) -> None:
        """Stop evaluating the rules on this desk and delivering their rows (rows
        already written wait in the outbox for a desk that has the rules installed)."""
        registry = self.desk._hooks
        registry.remove_source(self._rows)
        for name in self._handlers:
            registry.remove(name)
        if self.due.run in self.desk._due_work:
            self.desk._due_work.remove(self.due.run)
        if self.desk.automations is self:
            self.desk.automations = None


def _calendar_of(desk: Desk) -> Callable[[Any], Any]:
    sla = desk.sla
    assert sla is not None

    def calendar(subject: Any) -> Any:
        if hasattr(subject, "team") and hasattr(subject, "priority"):
            return sla.calendar_for(subject)
        return sla.calendar.calendar

    return calendar
