"""The facade: one object that wires a store, the ticket workflow, hooks and a clock."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import nullcontext, suppress
from datetime import datetime, timedelta
from enum import Enum
from operator import attrgetter
from os import PathLike
from typing import Any

import attrs
from pydantic import TypeAdapter, ValidationError

from aftersales._pipeline import (
    ATTEMPTS,
    DeskServices,
    Pipeline,
    Recent,
    build_event,
    fire_with_retries,
    fold,
)
from aftersales._validation import invalid_input, parse, recorded_payload
from aftersales._validation import json_changes as _json_changes
from aftersales._validation import json_value as _json_value
from aftersales.casework import CaseDesk, DueCase, Inventory, Policy, StepLimit
from aftersales.clock import Clock, SystemClock
from aftersales.exceptions import (
    ConcurrencyError,
    FieldError,
    InvalidInput,
    TicketNotFound,
    TransitionError,
    TransitionRefused,
)
from aftersales.models import (
    MESSAGE_ADDED,
    OPENED,
    AuthorRole,
    Channel,
    Customer,
    Event,
    Message,
    MessageKind,
    OrderLineRef,
    Priority,
    Severity,
    StatusCategory,
    Ticket,
)
from aftersales.models._base import Identifier, ShortText, trusted
from aftersales.models.case import CaseKind
from aftersales.models.events import (
    CUSTOMER_REMINDER,
    DUE_RESCHEDULED,
    MERGED_FROM,
    RESERVED_TRIGGERS,
    SLA_BREACHED,
    SLA_RESCHEDULED,
    SLA_WARNING,
    TICKET_KIND,
)
from aftersales.models.ticket import priority_level
from aftersales.notify import DeliveryStatus, Handler, HookRegistry, Notification, Subscription
from aftersales.notify._outbox import DispatchReport as DispatchReport
from aftersales.notify._outbox import Outbox
from aftersales.routing._text import has_cjk
from aftersales.routing.assign import Assignment, Router, RouteRequest, RoutingConfig
from aftersales.routing.classify import CATEGORIES, Classifier, InquiryContext, RuleClassifier
from aftersales.settings import DeskSettings, WaitingAction
from aftersales.sla.policy import (
    FIRST_RESPONSE_MET_BY,
    Metric,
    MetricState,
    SLAPolicy,
    SLAStatus,
    meets_first_response,
)
from aftersales.storage import Change, MemoryStore, SQLiteStore, Store, TicketQuery
from aftersales.workflows import (
    COMPLAINT_WORKFLOW,
    EXCHANGE_WORKFLOW,
    REFUND_WORKFLOW,
    REPAIR_WORKFLOW,
    RETURN_WORKFLOW,
    TICKET_WORKFLOW,
    Refusal,
    TransitionContext,
    Workflow,
)

_ATTEMPTS = ATTEMPTS
_RECENT_TICKETS = 256
"""How many tickets a desk remembers as it last wrote them, to skip a read before the next
transition. A stale copy is harmless: the store's version check refuses the write and the
transition is decided again on a fresh read."""


TICKET_EVENTS = RESERVED_TRIGGERS
"""Events a ticket's history may hold besides its workflow's transitions."""

CASE_WORKFLOWS: dict[str, Workflow] = {
    CaseKind.RETURN.value: RETURN_WORKFLOW,
    CaseKind.EXCHANGE.value: EXCHANGE_WORKFLOW,
    CaseKind.REFUND.value: REFUND_WORKFLOW,
    CaseKind.REPAIR.value: REPAIR_WORKFLOW,
    CaseKind.COMPLAINT.value: COMPLAINT_WORKFLOW,
}
"""The workflow of each case kind, for validating subscriptions."""

ALL_KINDS = "all"
"""``kinds=ALL_KINDS`` subscribes to tickets and every case kind."""

_MAX_NUMBER = 2**63 - 1
_MAX_LIMIT = 1_000_000

_VALIDATORS = {
    128: TypeAdapter(Identifier).validate_python,
    200: TypeAdapter(ShortText).validate_python,
}


def _check_text(name: str, value: object, max_length: int = 128) -> str:
    """``value`` if it is an identifier (or, with ``max_length`` 200, a short text): a str
    of valid Unicode without control characters. Otherwise InvalidInput."""
    if type(value) is str and 0 < len(value) <= max_length and value.isprintable():
        return value  # the common case, without pydantic
    if isinstance(value, str) and 0 < len(value) <= max_length:
        try:
            _VALIDATORS[max_length](value)
        except ValidationError as error:
            raise invalid_input(name, error) from None
        return value
    raise InvalidInput(
        name, [FieldError((name,), f"must be a string of 1 to {max_length} characters")]
    )


def _check_count(name: str, value: object, maximum: int = _MAX_LIMIT) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise InvalidInput(name, [FieldError((name,), f"must be an int from 1 to {maximum:,}")])
    return value


def _unknown(
    where: str | tuple[str | int, ...],
    names: Iterable[object],
    known: Iterable[str],
    noun: str | None = None,
) -> FieldError:
    """The error for ``names`` that are not among ``known``, naming the known ones."""
    location = (where,) if isinstance(where, str) else where
    shown = ", ".join(repr(n.value if isinstance(n, Enum) else n) for n in names)
    return FieldError(
        location, f"unknown {noun or location[-1]} {shown}; known: {', '.join(known)}"
    )


# The validator itself: Ticket.model_validate adds a call and a translation per record,
# a fifth of what validating an imported record costs.
_validate_ticket = Ticket.__pydantic_validator__.validate_python
# Likewise the serializer itself, without model_dump's checks of its many arguments.
_ticket_json_values = Ticket.__pydantic_serializer__.to_python


def _creation_event(ticket: Ticket, actor: str, *, exclude_none: bool = False) -> Event:
    """The first event of a ticket: its whole initial record, so replay can rebuild it
    (without the fields that are None when ``exclude_none``: each defaults to None)."""
    return build_event(
        ticket.id,
        TICKET_KIND,
        1,
        OPENED,
        None,
        ticket.status,
        actor,
        ticket.created_at,
        {},
        _ticket_json_values(ticket, mode="json", exclude_none=exclude_none),
    )


def fold_events(events: Sequence[Event]) -> Ticket:
    """Rebuild a ticket from its events by applying each event's ``changes`` in order."""
    return fold(events, Ticket)


@attrs.frozen
class CustomerHistory:
    """One customer's tickets across every channel, oldest first (seeds S2 omnichannel)."""

    customer_id: str
    customer: Customer | None
    tickets: tuple[Ticket, ...]

    @property
    def channels(self) -> tuple[Channel, ...]:
        """The channels the customer has used, in order of first use."""
        return tuple(dict.fromkeys(ticket.channel for ticket in self.tickets))


@attrs.frozen
class DueReport:
    """What :meth:`Desk.run_due` did: tickets auto-closed (resolved and never confirmed,
    or left waiting on the customer), outbox deliveries, SLA events, after-sales case
    steps past their time limit, and reminders."""

    auto_closed: tuple[str, ...] = ()
    dispatch: DispatchReport = DispatchReport()  # noqa: RUF009 - frozen, shared safely
    sla_events: tuple[tuple[str, str, str], ...] = ()
    """(ticket id, ``sla_warning`` or ``sla_breached``, metric) for each event emitted."""
    cases: tuple[DueCase, ...] = ()
    """What was done with each overdue case step (see :meth:`CaseDesk.run_due`)."""
    reminded: tuple[str, ...] = ()
    """Tickets waiting on the customer that got a ``customer_reminder`` event."""


@attrs.frozen
class SLAReportRow:
    """SLA compliance of one group for one metric over a period."""

    group: str
    metric: Metric
    met: int
    breached: int
    running: int

    @property
    def compliance(self) -> float | None:
        """Met on time / (met on time + breached); None when nothing was decided."""
        decided = self.met + self.breached
        return None if decided == 0 else self.met / decided


class _TicketWriter:
    """How the write pipeline commits tickets: one change alone, several together."""

    __slots__ = ("commit_many", "commit_one", "recent")

    def __init__(self, store: Store) -> None:
        self.commit_one = store.commit
        self.commit_many = store.commit_many
        self.recent: Recent[Ticket] = Recent(_RECENT_TICKETS)

    subject: Callable[[Change], Ticket] = staticmethod(attrgetter("ticket"))

    def commit(self, changes: Sequence[Change]) -> None:
        if len(changes) == 1:
            self.commit_one(changes[0])
        else:
            self.commit_many(list(changes))


class Desk:
    """A service desk: open tickets, fire triggers, add messages, query, run due work.

    >>> from aftersales import Desk
    >>> desk = Desk()  # in memory; Desk.sqlite("desk.db") keeps it on disk
    >>> ticket = desk.open_ticket(customer="c-1", channel="email", subject="Broken kettle")
    >>> desk.classify(ticket.id, category="repair_warranty", severity="high").status
    'classified'

    Every change is validated first (bad input raises :class:`~aftersales.InvalidInput`
    and stores nothing), decided by the workflow, then committed with its event and outbox
    rows in one transaction. Hooks run after the commit.

    The desk declares its vocabulary: the categories tickets are classified with
    (``DeskSettings.categories``, by default the classifier's, see :attr:`categories`),
    its priority levels (``DeskSettings.priorities``) and its workflow's states and
    triggers. A name outside them raises :class:`~aftersales.InvalidInput` naming the
    known ones, and routing rules that name an unknown category refuse to build the desk.
    """

    def __init__(
        self,
        store: Store | None = None,
        *,
        clock: Clock | None = None,
        settings: DeskSettings | Mapping[str, Any] | None = None,
        workflow: Workflow = TICKET_WORKFLOW,
        sla: SLAPolicy | Mapping[str, Any] | None = None,
        classifier: Classifier | None = None,
        routing: Router | RoutingConfig | Mapping[str, Any] | None = None,
        route_on_open: bool = False,
        policy: Policy | None = None,
        inventory: Inventory | None = None,
        step_limits: Mapping[str, Mapping[str, StepLimit | Mapping[str, Any]]] | None = None,
    ) -> None:
        self.store: Store = MemoryStore() if store is None else store
        self.classifier = classifier
        if routing is None or isinstance(routing, Router):
            self.router = routing
        else:
            config = parse(RoutingConfig, routing, "routing")
            self.router = Router(config, self.store)
        self.route_on_open = route_on_open
        self.sla: SLAPolicy | None = None if sla is None else parse(SLAPolicy, sla, "SLA policy")
        self._sla_uses_tier = self.sla is not None and any(
            rule.match.tier is not None for rule in self.sla.rules
        )
        self.clock: Clock = SystemClock() if clock is None else clock
        self.settings = parse(DeskSettings, settings or {}, "settings")
        if not isinstance(workflow, Workflow):
            raise InvalidInput("desk", [FieldError(("workflow",), "must be a Workflow")])
        self.workflow = workflow
        self.categories: tuple[str, ...] = self._vocabulary(classifier)
        """The categories tickets may be classified with, as the desk declares them."""
        self._categories = frozenset(self.categories)
        self._check_routing()
        self._priorities = frozenset(self.settings.priorities)
        self._states = frozenset(state.name for state in workflow.states)
        self._hooks = HookRegistry()
        self._lock = threading.Lock()
        self._next_free = self._block_end = 0
        self._outbox = Outbox(self.store, self._hooks, self.settings)
        self.pipeline = Pipeline(self.store, self._outbox, self.clock)
        self._now: Callable[[], datetime] = self.pipeline.now
        """The clock's time, checked (see :meth:`Pipeline.now`)."""
        self._writer = _TicketWriter(self.store)
        self._recent: Recent[Ticket] = self._writer.recent
        self._customer_wait = self.settings.customer_wait
        self._first_response_met_by = (
            FIRST_RESPONSE_MET_BY if self.sla is None else self.sla.first_response_met_by
        )
        self._triggers = frozenset(workflow.triggers)
        self._empty_recorded: dict[str, dict[str, Any]] = {}
        self.services = DeskServices(
            self.store, self.settings, self.pipeline, self.router, self._remembered
        )
        """What the desk's parts share (see :class:`~aftersales._pipeline.DeskServices`)."""
        self.cases = CaseDesk(self, policy=policy, inventory=inventory, step_limits=step_limits)
        """Returns, exchanges, refunds, warranty repairs and complaints (see :class:`CaseDesk`)."""

    def _vocabulary(self, classifier: Classifier | None) -> tuple[str, ...]:
        names = dict.fromkeys(CATEGORIES)
        if isinstance(classifier, RuleClassifier):
            names.update(dict.fromkeys(classifier.rules.categories))
            names.update(dict.fromkeys(sorted(classifier.rules.extra_categories)))
        declared = self.settings.categories
        if declared is None:
            return tuple(names)
        if isinstance(classifier, RuleClassifier):
            answers = {"other", *classifier.rules.categories}
            missing = sorted(answers - set(declared))
            if missing:
                raise InvalidInput(
                    "desk",
                    [
                        FieldError(
                            ("settings", "categories"),
                            f"the classifier answers {', '.join(missing)}, which the desk's "
                            f"categories ({', '.join(declared)}) do not include",
                        )
                    ],
                )
        return declared

    def _check_routing(self) -> None:
        if self.router is None:
            return
        known = self._categories
        errors = []
        for index, rule in enumerate(self.router.config.rules):
            unknown = sorted((rule.match.category or frozenset()) - known)
            if unknown:
                errors.append(
                    FieldError(
                        ("rules", index, "match", "category"),
                        f"rule {rule.name!r} names unknown categories {', '.join(unknown)}; "
                        f"the desk's categories: {', '.join(self.categories)}",
                    )
                )
        for index, agent in enumerate(self.router.config.agents):
            unknown = sorted(agent.skills.categories - known)
            if unknown:
                errors.append(
                    FieldError(
                        ("agents", index, "skills", "categories"),
                        f"agent {agent.id!r} has skills in unknown categories "
                        f"{', '.join(unknown)}; the desk's categories: "
                        f"{', '.join(self.categories)}",
                    )
                )
        if errors:
            raise InvalidInput("routing", errors)

    def check_category(self, category: object) -> str:
        """``category`` if the desk knows it (see :attr:`categories`); otherwise
        :class:`~aftersales.InvalidInput` naming the known ones."""
        if isinstance(category, str) and category in self._categories:
            return category
        raise InvalidInput("category", [_unknown("category", [category], self.categories)])

    def priority_rank(self, priority: str) -> int:
        """The rank of a priority level: 0 for the most urgent of the desk's levels
        (``DeskSettings.priorities`` in order). Sort tickets with
        ``key=lambda t: desk.priority_rank(t.priority)``."""
        try:
            return self.settings.priorities.index(priority)
        except ValueError:
            raise InvalidInput(
                "priority",
                [_unknown("priority", [priority], self.settings.priorities)],
            ) from None

    @classmethod
    def sqlite(
        cls,
        path: str | PathLike[str] = "aftersales.db",
        *,
        clock: Clock | None = None,
        settings: DeskSettings | Mapping[str, Any] | None = None,
    ) -> Desk:
        """A desk on a SQLite file, created on first use."""
        return cls(SQLiteStore(path), clock=clock, settings=settings)

    # ---------------------------------------------------------------- lifecycle

    def close(self) -> None:
        """Acknowledge delivered notifications and close the store."""
        self.flush()
        self.store.close()

    def __enter__(self) -> Desk:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _checked_now(self, now: datetime | None) -> datetime:
        return self.pipeline.checked_now(now)

    def _remembered(self, ticket_id: str) -> Ticket:
        """The ticket as this desk last wrote it, else as stored."""
        return self._recent.get(ticket_id) or self.get(ticket_id)

    def _next_number(self) -> int:
        with self._lock:
            if self._next_free >= self._block_end:
                size = self.settings.number_block_size
                self._next_free = self.store.reserve_numbers(size)
                self._block_end = self._next_free + size
            number = self._next_free
            self._next_free += 1
            return number

    # ---------------------------------------------------------------- hooks

    def subscribe(
        self,
        handler: Handler,
        *,
        triggers: Iterable[str] | str | None = None,
        entered: Iterable[str] | str | None = None,
        messages: bool = False,
        kinds: Iterable[str] | str = ALL_KINDS,
        name: str | None = None,
    ) -> Subscription:
        """Call ``handler`` after each committed event it matches (see :class:`Subscription`).

        ``kinds`` says whose events: ``"ticket"``, a case kind (``"return"``,
        ``"exchange"``, ``"refund"``, ``"repair"``, ``"complaint"``), several of them, or
        ``"all"`` (the default here; :meth:`on_transition`, :meth:`on_enter` and
        :meth:`on_message` default to ``"ticket"``). ``triggers`` and ``entered`` must
        name triggers and states of those kinds' workflows (the ticket's is the desk's
        own); an unknown name raises :class:`~aftersales.InvalidInput` naming the known
        ones, rather than a subscription that never fires.

        ``name`` defaults to the handler's module and qualified name; it must be unique
        per desk and stable across restarts, because the outbox refers to it.
        """
        if not callable(handler):
            raise InvalidInput("subscription", [FieldError(("handler",), "must be callable")])
        if not isinstance(messages, bool):
            raise InvalidInput("subscription", [FieldError(("messages",), "must be a bool")])
        if name is None:
            name = f"{getattr(handler, '__module__', '?')}.{getattr(handler, '__qualname__', '?')}"
        name = _check_text("name", name, 200)
        chosen = self._kinds(kinds)
        workflows = [
            self.workflow if kind == TICKET_KIND else CASE_WORKFLOWS[kind]
            for kind in (chosen or (TICKET_KIND, *CASE_WORKFLOWS))
        ]
        trigger_names = self._names("triggers", triggers)
        if trigger_names is not None:
            known = set(TICKET_EVENTS).union(*(w.triggers for w in workflows))
            unknown = sorted(set(trigger_names) - known)
            if unknown:
                raise InvalidInput(
                    "subscription", [_unknown("triggers", unknown, sorted(known), "trigger")]
                )
        states = self._names("entered", entered)
        if states is not None:
            known = {state.name for w in workflows for state in w.states}
            unknown = sorted(set(states) - known)
            if unknown:
                raise InvalidInput(
                    "subscription", [_unknown("entered", unknown, sorted(known), "state")]
                )
        return self._hooks.add(
            Subscription(name, handler, trigger_names, states, messages, kinds=chosen)
        )

    @staticmethod
    def _names(what: str, names: Iterable[str] | str | None) -> tuple[str, ...] | None:
        if names is None:
            return None
        values: tuple[object, ...]
        if isinstance(names, str):
            values = (names,)
        else:
            try:
                values = tuple(names)
            except TypeError:
                values = (names,)
        return tuple(_check_text(what, value) for value in values)

    @staticmethod
    def _kinds(kinds: Iterable[str] | str) -> frozenset[str] | None:
        """The kinds asked for; None means every kind."""
        known = (TICKET_KIND, *CASE_WORKFLOWS)
        values = Desk._names("kinds", kinds)
        if not values:
            raise InvalidInput("subscription", [FieldError(("kinds",), "name at least one kind")])
        if ALL_KINDS in values:
            return None
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise InvalidInput(
                "subscription", [_unknown("kinds", unknown, [*known, ALL_KINDS], "kind")]
            )
        return frozenset(values)

    def on_transition(
        self,
        handler: Handler,
        *triggers: str,
        kinds: Iterable[str] | str = TICKET_KIND,
        name: str | None = None,
    ) -> Subscription:
        """Subscribe to every transition and creation of tickets, or only to ``triggers``
        (``kinds``: whose events, see :meth:`subscribe`)."""
        return self.subscribe(handler, triggers=triggers or None, kinds=kinds, name=name)

    def on_enter(
        self,
        state: str,
        handler: Handler,
        *,
        kinds: Iterable[str] | str = TICKET_KIND,
        name: str | None = None,
    ) -> Subscription:
        """Subscribe to a ticket entering ``state`` (or a case, with ``kinds``: e.g.
        ``desk.on_enter("refunded", send_sms, kinds="return")``)."""
        return self.subscribe(handler, entered=state, kinds=kinds, name=name)

    def on_message(self, handler: Handler, *, name: str | None = None) -> Subscription:
        """Subscribe to messages added to tickets."""
        return self.subscribe(handler, messages=True, kinds=TICKET_KIND, name=name)

    def unsubscribe(self, name: str) -> None:
        """Stop calling the handler subscribed under ``name``."""
        self._hooks.remove(_check_text("name", name, 200))

    def _dispatch(
        self, notifications: Sequence[Notification], now: datetime, *, report: bool = True
    ) -> DispatchReport | None:
        return self._outbox.dispatch(notifications, now, report=report)

    def flush(self) -> None:
        """Record deliveries not yet acknowledged in the store.

        Deliveries are acknowledged in the next commit to save a write each; ``flush``
        (also called by :meth:`close`, :meth:`run_due` and :meth:`dispatch_outbox`)
        acknowledges them now.
        """
        self._outbox.flush()

    def dispatch_outbox(self, now: datetime | None = None, *, limit: int = 100) -> DispatchReport:
        """Deliver pending notifications that are due, e.g. retries after failures, and
        those a process that crashed wrote but could not deliver (after their short
        ``inline_lease_seconds``).

        Safe to run from several workers at once: each claims its rows with a lease of
        ``delivery_lease_seconds``. ``limit`` (1 to 1,000,000) caps the rows claimed.
        """
        limit = _check_count("limit", limit)
        return self._outbox.dispatch_due(self._checked_now(now), limit)

    # The desk's parts used to share these; CaseDesk reads them until it takes
    # ``desk.services`` (see aftersales._pipeline.DeskServices).

    @property
    def _acks(self) -> list[str]:
        return self._outbox.acks

    @_acks.setter
    def _acks(self, acks: list[str]) -> None:
        self._outbox.acks = acks

    @property
    def _lease(self) -> timedelta:
        return self._outbox.lease

    @property
    def _deliver(self) -> Callable[[Subscription, Notification], None]:
        return self._outbox.deliver

    @_deliver.setter
    def _deliver(self, deliver: Callable[[Subscription, Notification], None]) -> None:
        self._outbox.deliver = deliver

    # ---------------------------------------------------------------- writing

    def _commit(
        self,
        ticket: Ticket,
        expected_version: int,
        events: Sequence[Event],
        messages: Sequence[Message] = (),
        customer: Customer | None = None,
    ) -> None:
        self.pipeline.commit(
            self._writer, (Change(ticket, expected_version, events, messages, (), (), customer),)
        )

    def open_ticket(
        self,
        *,
        customer: Customer | str,
        channel: Channel | str,
        subject: str,
        description: str = "",
        order_line: OrderLineRef | Mapping[str, Any] | None = None,
        priority: Priority | str | None = None,
        tags: Sequence[str] = (),
        parent_id: str | None = None,
        follow_up_of: str | None = None,
        actor: str = "system",
        route: bool | None = None,
    ) -> Ticket:
        """Record a new inquiry arriving on ``channel`` and return the new ticket.

        With ``route`` (default: the desk's ``route_on_open``) the desk classifies and
        assigns it too (see :meth:`route`); a desk without a classifier refuses that
        before it stores anything.

        ``customer`` is a :class:`Customer` (saved with the ticket, in the same
        transaction, with its contact points) or the id of one. ``parent_id`` and
        ``follow_up_of`` must name existing tickets. ``priority`` defaults to the desk's
        ``default_priority`` and must be one of its ``priorities``.
        """
        _check_text("actor", actor)
        record: Customer | None = None
        if isinstance(customer, Customer):
            record = self._checked_customer(customer)
            customer_id: object = record.id
        else:
            customer_id = customer
        routing = self.route_on_open if route is None else route
        if routing and self.classifier is None:
            raise InvalidInput(
                "route", [FieldError(("classifier",), "this desk has no classifier to route with")]
            )
        now = self._now()
        fields: dict[str, Any] = {
            "workflow": self.workflow.name,
            "channel": channel,
            "subject": subject,
            "description": description,
            "customer_id": customer_id,
            "order_line": order_line,
            "priority": self.settings.default_priority if priority is None else priority,
            "tags": tuple(tags) if isinstance(tags, (list, tuple)) else tags,
            "parent_id": parent_id,
            "follow_up_of": follow_up_of,
            "status": self.workflow.initial,
            "status_category": self.workflow.category_of(self.workflow.initial),
            "created_at": now,
            "updated_at": now,
            "number": 1,
        }
        if fields["status_category"] in self._first_response_met_by:
            fields["first_response_at"] = now  # created waiting: the metric counts it met
        ticket = parse(Ticket, fields, "ticket")
        self._check_ticket(ticket)
        for linked in (parent_id, follow_up_of):
            if linked is not None:
                self.get(linked)
        ticket = ticket.model_copy(update={"number": self._next_number()})
        event = _creation_event(ticket, actor)
        if self.sla is not None:
            ticket = self._with_sla(ticket, event, now)
        self._commit(ticket, 0, (event,), customer=record)
        if routing:
            return self.route(ticket.id)
        return ticket

    def _checked_customer(self, customer: Customer | Mapping[str, Any]) -> Customer:
        record = parse(Customer, customer, "customer")
        limit = self.settings.max_contacts
        if len(record.contacts) > limit:
            raise InvalidInput(
                "customer",
                [FieldError(("contacts",), f"at most {limit} contact points (max_contacts)")],
            )
        return record

    def _check_ticket(self, ticket: Ticket, where: tuple[str | int, ...] = ()) -> None:
        """The desk's own limits and vocabulary, beyond what a Ticket validates."""
        errors = []
        if len(ticket.tags) > self.settings.max_tags:
            errors.append(
                FieldError((*where, "tags"), f"at most {self.settings.max_tags} tags (max_tags)")
            )
        if ticket.priority not in self._priorities:
            errors.append(
                _unknown((*where, "priority"), [ticket.priority], self.settings.priorities)
            )
        if ticket.category is not None and ticket.category not in self._categories:
            errors.append(_unknown((*where, "category"), [ticket.category], self.categories))
        if errors:
            raise InvalidInput("ticket", errors)

    def route(self, ticket_id: str, *, previous_contacts: int | None = None) -> Ticket:
        """Classify a new ticket (with the desk's classifier) and assign it (with its
        router), each as a transition with its event; a ticket nobody can take now is
        queued on its team and assigned by :meth:`drain_queue` when capacity frees."""
        if previous_contacts is not None and (
            type(previous_contacts) is not int or not 0 <= previous_contacts <= _MAX_LIMIT
        ):
            raise InvalidInput(
                "route",
                [FieldError(("previous_contacts",), f"must be an int from 0 to {_MAX_LIMIT:,}")],
            )
        ticket = self.get(ticket_id)
        tier = self._customer_tier(ticket)
        if ticket.status == self.workflow.initial:
            if self.classifier is None:
                raise InvalidInput(
                    "route", [FieldError(("classifier",), "this desk has no classifier")]
                )
            contacts = previous_contacts
            if contacts is None:
                contacts = max(
                    len(self.store.find(TicketQuery(customer_id=ticket.customer_id, limit=100)))
                    - 1,
                    0,
                )
            result = self.classifier.classify(
                f"{ticket.subject}\n{ticket.description}",
                InquiryContext(
                    channel=ticket.channel, customer_tier=tier, previous_contacts=contacts
                ),
            )
            ticket = self._transition(
                ticket,
                "classify",
                "classifier",
                {
                    "category": result.category,
                    "severity": result.severity,
                    "confidence": result.confidence,
                    "evidence": result.evidence[:50],
                },
            )
        if self.router is None:
            return ticket
        assignment = self._assignment(ticket, tier)
        if assignment.agent is None:
            if ticket.team == assignment.team and ticket.status == "classified":
                return ticket  # already waiting in that queue: nothing new to record
            return self._transition(
                ticket, "queue", "router", {"team": assignment.team, "reason": assignment.reason}
            )
        return self._transition(
            ticket, "assign", "router", {"assignee": assignment.agent, "team": assignment.team}
        )

    def _customer_tier(self, ticket: Ticket) -> str | None:
        try:
            return self.store.get_customer(ticket.customer_id).tier
        except LookupError:
            return None

    def _assignment(self, ticket: Ticket, tier: str | None) -> Assignment:
        assert self.router is not None
        request = RouteRequest(
            category=ticket.category or "other",
            severity=ticket.severity or Severity.MEDIUM,
            channel=ticket.channel,
            language="zh" if has_cjk(ticket.subject + ticket.description) else "en",
            tier=tier,
            escalated=ticket.escalation_level > 0,
        )
        loads = {agent.id: self._load(agent.id) for agent in self.router.config.agents}
        return self.router.route(request, loads, self._now())

    def _load(self, agent_id: str) -> int:
        """Open tickets an agent holds, counted only where the SLA runs (not waiting)."""
        return len(
            self.store.find(
                TicketQuery(assignee=agent_id, status_category=StatusCategory.OPEN, limit=10_000)
            )
        )

    def drain_queue(self) -> tuple[str, ...]:
        """Assign queued tickets, oldest first, while agents have room; returns their ids."""
        if self.router is None or "classified" not in self._states:
            return ()  # a custom workflow without the shipped queue state queues nothing
        assigned = []
        full: set[str] = set()
        for ticket in self.store.find(TicketQuery(status="classified", limit=10_000)):
            if ticket.team is None or ticket.assignee is not None or ticket.team in full:
                continue
            routed = self.route(ticket.id)
            if routed.assignee is None:
                full.add(ticket.team)  # nobody free there: later tickets of the team wait too
                continue
            assigned.append(routed.id)
        return tuple(assigned)

    def import_tickets(
        self,
        records: Iterable[Ticket | Mapping[str, Any]],
        *,
        batch_size: int = 1000,
        actor: str = "import",
    ) -> int:
        """Import tickets from another system in batches (one transaction each).

        ``records`` is an iterable of :class:`~aftersales.Ticket` or mappings with its
        fields; ``number`` is assigned when missing, times are kept as given. ``status``
        must be a state of the desk's workflow, and ``status_category`` is always the one
        the workflow gives that state (a category given in the record is ignored);
        ``workflow`` is the desk's. Categories, priorities and tags must fit the desk
        (see :meth:`open_ticket`); a missing priority is the desk's ``default_priority``.
        Every ticket gets its creation event; hooks are not called (an import is history,
        not news). A record that does not validate raises :class:`~aftersales.InvalidInput`
        naming its position, and its whole batch is not written. Returns the count imported.
        """
        _check_text("actor", actor)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int):
            raise InvalidInput("import", [FieldError(("batch_size",), "must be 1 to 100,000")])
        if not 1 <= batch_size <= 100_000:
            raise InvalidInput("import", [FieldError(("batch_size",), "must be 1 to 100,000")])
        if isinstance(records, (str, bytes, bytearray, Mapping, Ticket)) or not isinstance(
            records, Iterable
        ):
            raise InvalidInput(
                "import",
                [FieldError(("records",), "must be an iterable of tickets or mappings")],
            )
        bulk_import = getattr(self.store, "bulk_import", None)
        with bulk_import() if bulk_import is not None else nullcontext():
            return self._import(records, batch_size, actor)

    def _import(
        self, records: Iterable[Ticket | Mapping[str, Any]], batch_size: int, actor: str
    ) -> int:
        imported = 0
        batch: list[Change] = []
        category_of = self.workflow.category_of
        states = self._states
        name = self.workflow.name
        default_priority = self.settings.default_priority
        for position, record in enumerate(records):
            if isinstance(record, Ticket):
                data = record.model_dump()
            elif isinstance(record, Mapping):
                data = dict(record)
            else:
                raise InvalidInput(
                    "import", [FieldError((position,), "must be a Ticket or a mapping")]
                )
            if "number" not in data or data["number"] is None:
                data["number"] = self._next_number()
            data["workflow"] = name
            if data.get("priority") is None:
                data["priority"] = default_priority
            if "status" in data:
                status = data["status"]
                if not isinstance(status, str) or status not in states:
                    raise InvalidInput(
                        "import",
                        [_unknown((position, "status"), [status], sorted(states))],
                    )
                data["status_category"] = category_of(status)
            try:
                ticket: Ticket = _validate_ticket(data)
            except ValidationError as error:
                raise InvalidInput(
                    "import",
                    [
                        FieldError((position, *e.location), e.message, e.kind)
                        for e in invalid_input("import", error).errors
                    ],
                ) from None
            self._check_ticket(ticket, (position,))
            if ticket.version != 1:
                ticket = ticket.model_copy(update={"version": 1})
            # an import is history written once: the Nones are left out of it (and of the
            # rows), a third of a ticket's bytes
            event = _creation_event(ticket, actor, exclude_none=True)
            batch.append(Change(ticket, 0, (event,)))
            if len(batch) >= batch_size:
                self.store.commit_many(batch)
                imported += len(batch)
                batch = []
        if batch:
            self.store.commit_many(batch)
            imported += len(batch)
        return imported

    def fire(
        self,
        ticket_id: str | int,
        trigger: str,
        *,
        actor: str = "system",
        payload: Mapping[str, Any] | None = None,
        expected_version: int | None = None,
    ) -> Ticket:
        """Fire ``trigger`` on a ticket (by id or number) and return the ticket after the
        transition.

        Raises :class:`~aftersales.TriggerNotAllowed` (naming the allowed triggers) or
        :class:`~aftersales.TransitionRefused` (with the guard's reason) and changes
        nothing. With ``expected_version`` (an int from 1), a ticket changed since then
        raises :class:`~aftersales.ConcurrencyError`. ``payload`` holds at most
        ``DeskSettings.max_payload_bytes`` of JSON.
        """
        if expected_version is not None and (
            type(expected_version) is not int or not 1 <= expected_version <= _MAX_NUMBER
        ):
            raise InvalidInput(
                "fire",
                [FieldError(("expected_version",), "must be an int from 1 (or None)")],
            )
        return fire_with_retries(
            ticket_id,  # type: ignore[arg-type]
            recent=self._recent,
            read=self.get,
            transition=lambda ticket: self._transition(ticket, trigger, actor, payload),
            expected_version=expected_version,
        )

    def _transition(
        self,
        ticket: Ticket,
        trigger: str,
        actor: str,
        payload: Mapping[str, Any] | None,
        now: datetime | None = None,
    ) -> Ticket:
        if now is None:
            now = self._now()
        changed, event = self._decide(ticket, trigger, actor, payload, now)
        if self.sla is not None:
            changed = self._with_sla(changed, event, now)
        self._commit(changed, ticket.version, (event,))
        return changed

    def _decide(
        self,
        ticket: Ticket,
        trigger: str,
        actor: str,
        payload: Mapping[str, Any] | None,
        now: datetime,
    ) -> tuple[Ticket, Event]:
        """The ticket after ``trigger`` and the event that records it, not yet committed."""
        _check_text("actor", actor)
        known = type(trigger) is str and trigger in self._triggers
        if not known:
            _check_text("trigger", trigger)
        if payload is not None and not isinstance(payload, Mapping):
            raise InvalidInput("payload", [FieldError(("payload",), "must be a mapping")])
        workflow = self.workflow
        parsed = workflow.parse_payload(trigger, payload) if known else None
        if parsed is None:
            recorded = dict(payload or {})
        else:
            recorded = recorded_payload(parsed, bool(payload), self._empty_recorded, trigger)
        if payload:
            self._check_payload_size(recorded)
        move = workflow.decide(
            TransitionContext(
                subject=ticket,
                subject_id=ticket.id,
                state=ticket.status,
                trigger=trigger,
                payload=parsed,
                actor=actor,
                now=now,
                settings=self.settings,
            )
        )
        version = ticket.version + 1
        updates = move.updates
        category = move.category
        if category is not ticket.status_category:
            self._on_new_category(ticket, trigger, category, updates, now)
        if "category" in updates or "priority" in updates:
            self._check_vocabulary(updates)
        changes = _json_changes(updates) if updates else {}
        updates["status"] = changes["status"] = move.dest
        updates["status_category"] = category
        changes["status_category"] = category.value
        updates["updated_at"] = now
        changes["updated_at"] = now.isoformat()
        updates["version"] = changes["version"] = version
        changed = trusted(Ticket, {**ticket.__dict__, **updates})
        event = build_event(
            ticket.id,
            TICKET_KIND,
            version,
            trigger,
            ticket.status,
            move.dest,
            actor,
            now,
            recorded,
            changes,
        )
        if (
            ticket.first_response_at is None
            and category is not ticket.status_category
            and self._meets_first_response(event)
        ):
            changes["first_response_at"] = now.isoformat()
            changed = trusted(Ticket, {**changed.__dict__, "first_response_at": now})
        return changed, event

    def _meets_first_response(self, event: Event) -> bool:
        """Whether ``event`` is the ticket's first response, by the rule the SLA
        first-response metric follows (the policy's ``first_response_met_by``)."""
        return meets_first_response(
            event, category_of=self.workflow.category_of, met_by=self._first_response_met_by
        )

    def _on_new_category(
        self,
        ticket: Ticket,
        trigger: str,
        category: StatusCategory,
        updates: dict[str, Any],
        now: datetime,
    ) -> None:
        """What entering another status category implies, whatever the workflow: the
        waiting-on-customer timer, and no closing a parent whose children are open."""
        if category is StatusCategory.WAITING_ON_CUSTOMER:
            if self._customer_wait is not None and "due_at" not in updates:
                updates["due_at"] = now + self._customer_wait
        elif (
            ticket.status_category is StatusCategory.WAITING_ON_CUSTOMER
            and ticket.due_at is not None
            and "due_at" not in updates
        ):
            updates["due_at"] = None
        if category is StatusCategory.CLOSED and not self.settings.close_parent_with_open_children:
            self._refuse_open_children(ticket, trigger)

    def _refuse_open_children(self, ticket: Ticket, trigger: str) -> None:
        children = self.store.find(TicketQuery(parent_id=ticket.id, limit=10_000))
        open_children = [child for child in children if not child.is_closed]
        if not open_children:
            return
        numbers = ", ".join(child.display_number for child in open_children[:10])
        raise TransitionRefused(
            subject_id=ticket.id,
            label=f"ticket {ticket.display_number}",
            trigger=trigger,
            state=ticket.status,
            allowed=self.workflow.allowed_triggers(ticket.status),
            refusal=Refusal(
                code="children_open",
                message=f"its child tickets {numbers} are still open; close them first",
                message_zh=f"子工单 {numbers} 尚未关闭，请先关闭子工单",
                params={"children": [child.id for child in open_children]},
            ),
        )

    def _check_vocabulary(self, updates: dict[str, Any]) -> None:
        category = updates.get("category")
        if category is not None:
            self.check_category(category)
        priority = updates.get("priority")
        if priority is not None:
            if priority not in self._priorities:
                raise InvalidInput(
                    "priority", [_unknown("priority", [priority], self.settings.priorities)]
                )
            updates["priority"] = priority_level(priority)

    def _check_payload_size(self, recorded: Mapping[str, Any]) -> None:
        limit = self.settings.max_payload_bytes
        size = len(json.dumps(recorded, default=str, ensure_ascii=False).encode())
        if size > limit:
            raise InvalidInput(
                "payload",
                [FieldError(("payload",), f"{size} bytes of JSON; at most {limit} allowed")],
            )

    # ---------------------------------------------------------------- SLA

    def _tier(self, ticket: Ticket) -> str | None:
        if not self._sla_uses_tier:
            return None
        try:
            return self.store.get_customer(ticket.customer_id).tier
        except LookupError:
            return None

    def _track(self, ticket: Ticket, events: Sequence[Event], now: datetime) -> SLAStatus:
        assert self.sla is not None
        return self.sla.track(
            ticket, events, now, category_of=self.workflow.category_of, tier=self._tier(ticket)
        )

    def _with_sla(
        self, changed: Ticket, event: Event, now: datetime, earlier: Sequence[Event] = ()
    ) -> Ticket:
        """Record the SLA rule in force and the next checkpoint with the change itself.
        ``earlier``: events of the same commit before ``event``, not stored yet."""
        first = earlier[0] if earlier else event
        history = [] if first.sequence == 1 else self.store.events(changed.id)
        status = self._track(changed, [*history, *earlier, event], now)
        extra: dict[str, Any] = {}
        checkpoint = status.next_checkpoint()
        if status.rule != changed.sla_rule:
            extra["sla_rule"] = status.rule
        if checkpoint != changed.sla_due_at:
            extra["sla_due_at"] = checkpoint
        if not extra:
            return changed
        event.changes.update(_json_changes(extra))
        return trusted(Ticket, {**changed.__dict__, **extra})

    def sla_status(self, ticket_id: str, now: datetime | None = None) -> SLAStatus:
        """Every SLA metric of the ticket at ``now``, computed from its history."""
        if self.sla is None:
            raise InvalidInput("sla", [FieldError(("sla",), "this desk has no SLA policy")])
        now = self._checked_now(now)
        ticket = self.get(ticket_id)
        return self._track(ticket, self.store.events(ticket.id), now)

    def _sla_step(self, ticket: Ticket, now: datetime) -> list[tuple[str, str, str]]:
        assert self.sla is not None
        events = self.store.events(ticket.id)
        status = self._track(ticket, events, now)
        emitted = {
            (e.trigger, e.payload.get("metric"), e.payload.get("started_at"))
            for e in events
            if e.trigger in (SLA_WARNING, SLA_BREACHED)
        }
        escalation = self.sla.escalation
        new_events: list[Event] = []
        fields: dict[str, Any] = {}
        version = ticket.version
        for metric, metric_status in status.metrics.items():
            if metric_status.state is MetricState.WARNING:
                trigger = SLA_WARNING
            elif metric_status.state is MetricState.BREACHED:
                trigger = SLA_BREACHED
            else:
                continue
            started = metric_status.started_at.isoformat()
            if (trigger, metric.value, started) in emitted:
                continue
            changes: dict[str, Any] = {}
            if trigger == SLA_BREACHED and escalation is not None and metric in escalation.on:
                changes["escalation_level"] = (
                    fields.get("escalation_level", ticket.escalation_level) + 1
                )
                if escalation.assignee is not None:
                    changes["assignee"] = escalation.assignee
                if escalation.team is not None:
                    changes["team"] = escalation.team
            version += 1
            changes.update(updated_at=now, version=version)
            fields.update(changes)
            new_events.append(
                self._sla_event(
                    ticket,
                    trigger,
                    version,
                    now,
                    {
                        "metric": metric.value,
                        "started_at": started,
                        "rule": status.rule,
                        "due_at": metric_status.due_at.isoformat(),
                        "used_seconds": metric_status.used_seconds,
                    },
                    changes,
                )
            )
        checkpoint = status.next_checkpoint()
        if checkpoint == ticket.sla_due_at and not new_events:
            return []
        if not new_events:
            version += 1
            fields.update(updated_at=now, version=version)
            new_events.append(
                self._sla_event(
                    ticket,
                    SLA_RESCHEDULED,
                    version,
                    now,
                    {},
                    {"updated_at": now, "version": version},
                )
            )
        fields["sla_due_at"] = checkpoint
        new_events[-1].changes["sla_due_at"] = _json_value(checkpoint)
        changed = trusted(Ticket, {**ticket.__dict__, **fields})
        self._commit(changed, ticket.version, new_events)
        return [
            (ticket.id, e.trigger, e.payload.get("metric", ""))
            for e in new_events
            if e.trigger != SLA_RESCHEDULED
        ]

    @staticmethod
    def _sla_event(
        ticket: Ticket,
        trigger: str,
        sequence: int,
        now: datetime,
        payload: dict[str, Any],
        changes: Mapping[str, Any],
    ) -> Event:
        return build_event(
            ticket.id,
            TICKET_KIND,
            sequence,
            trigger,
            ticket.status,
            ticket.status,
            "sla",
            now,
            payload,
            _json_changes(changes),
        )

    def sla_report(
        self,
        *,
        created_from: datetime,
        created_to: datetime,
        by: str = "priority",
        now: datetime | None = None,
    ) -> list[SLAReportRow]:
        """SLA compliance of the tickets created in [``created_from``, ``created_to``),
        per metric and per ``priority``, ``channel``, ``team`` or ``metric`` alone."""
        if self.sla is None:
            raise InvalidInput("sla", [FieldError(("sla",), "this desk has no SLA policy")])
        if by not in ("priority", "channel", "team", "metric"):
            raise InvalidInput(
                "sla report", [FieldError(("by",), "must be priority, channel, team or metric")]
            )
        now = self._checked_now(now)
        counts: dict[tuple[str, Metric], list[int]] = {}
        offset = 0
        while True:
            page = self.find(
                created_from=created_from, created_to=created_to, limit=1000, offset=offset
            )
            for ticket in page:
                status = self._track(ticket, self.store.events(ticket.id), now)
                priority = ticket.priority
                value = {
                    "priority": priority.value if isinstance(priority, Priority) else priority,
                    "channel": ticket.channel.value,
                    "team": ticket.team or "-",
                    "metric": "all",
                }[by]
                for metric, metric_status in status.metrics.items():
                    row = counts.setdefault((value, metric), [0, 0, 0])
                    if metric_status.state is MetricState.MET:
                        row[0] += 1
                    elif metric_status.state is MetricState.BREACHED:
                        row[1] += 1
                    else:
                        row[2] += 1
            if len(page) < 1000:
                break
            offset += 1000
        return [
            SLAReportRow(group, metric, *row)
            for (group, metric), row in sorted(
                counts.items(), key=lambda item: (item[0][0], list(Metric).index(item[0][1]))
            )
        ]

    # Convenience wrappers over fire() with typed arguments for the shipped triggers.

    def classify(
        self,
        ticket_id: str,
        *,
        category: str,
        severity: Severity | str,
        priority: Priority | str | None = None,
        actor: str = "system",
    ) -> Ticket:
        """Record the problem's category and severity (and priority, else implied)."""
        payload = {"category": category, "severity": severity, "priority": priority}
        return self.fire(ticket_id, "classify", actor=actor, payload=payload)

    def assign(
        self, ticket_id: str, *, assignee: str, team: str | None = None, actor: str = "system"
    ) -> Ticket:
        """Give the ticket to ``assignee`` (and ``team``)."""
        payload = {"assignee": assignee, "team": team}
        return self.fire(ticket_id, "assign", actor=actor, payload=payload)

    def resolve(self, ticket_id: str, *, resolution: str, actor: str = "system") -> Ticket:
        """Record the resolution; the customer confirms it or it auto-closes later."""
        return self.fire(ticket_id, "resolve", actor=actor, payload={"resolution": resolution})

    def escalate(
        self,
        ticket_id: str,
        *,
        reason: str,
        assignee: str | None = None,
        team: str | None = None,
        actor: str = "system",
    ) -> Ticket:
        """Raise the escalation level, record why, optionally hand the ticket over."""
        payload = {"reason": reason, "assignee": assignee, "team": team}
        return self.fire(ticket_id, "escalate", actor=actor, payload=payload)

    def cancel(self, ticket_id: str, *, reason: str, actor: str = "system") -> Ticket:
        """Cancel an open ticket."""
        return self.fire(ticket_id, "cancel", actor=actor, payload={"reason": reason})

    def reopen(self, ticket_id: str, *, reason: str, actor: str = "system") -> Ticket:
        """Reopen a resolved or confirmed ticket, or open a follow-up when that is too late.

        Within ``settings.reopen_within_days`` of the resolution the ticket goes back to
        ``in_progress`` and is returned. Later, or once followed up or closed, a new ticket
        linked by ``follow_up_of`` is opened and returned instead.
        """
        ticket = self.get(ticket_id)
        if ticket.status not in ("followed_up", "closed"):
            try:
                return self._transition(ticket, "reopen", actor, {"reason": reason})
            except TransitionRefused as refused:
                if refused.refusal.code != "reopen_window_passed":
                    raise
        return self.open_ticket(
            customer=ticket.customer_id,
            channel=ticket.channel,
            subject=f"Follow-up: {ticket.subject}"[:200],
            description=reason,
            order_line=ticket.order_line,
            follow_up_of=ticket.id,
            actor=actor,
        )

    def merge(self, ticket_id: str, *, into: str, actor: str = "system") -> Ticket:
        """Close ``ticket_id`` as a duplicate of ``into`` and return the duplicate.

        In one transaction: the duplicate moves to ``merged`` (``merged_into`` names the
        target) and the target records a ``merged_from`` event naming the duplicate.
        The duplicate's messages are linked to the target: :meth:`messages` of the target
        lists them too (each keeps the ``ticket_id`` it was written on), and a message
        added to the duplicate later goes to the target. Find duplicates by
        ``merged_into``.
        """
        ticket = self.get(ticket_id)
        target = self.get(into)
        if target.is_closed:
            raise TransitionRefused(
                subject_id=ticket.id,
                label=f"ticket {ticket.display_number}",
                trigger="merge",
                state=ticket.status,
                allowed=self.workflow.allowed_triggers(ticket.status),
                refusal=Refusal(
                    code="merge_target_closed",
                    message=f"ticket {target.display_number} is closed; merge into an open ticket",
                    message_zh=f"工单 {target.display_number} 已关闭，请合并到未关闭的工单",
                    params={"into": target.id},
                ),
            )
        now = self._now()
        merged, event = self._decide(ticket, "merge", actor, {"into": target.id}, now)
        if self.sla is not None:
            merged = self._with_sla(merged, event, now)
        version = target.version + 1
        updates: dict[str, Any] = {"updated_at": now, "version": version}
        linked = build_event(
            target.id,
            TICKET_KIND,
            version,
            MERGED_FROM,
            target.status,
            target.status,
            actor,
            now,
            {
                "ticket_id": ticket.id,
                "number": ticket.number,
                "messages": len(self.store.messages(ticket.id)),
            },
            _json_changes(updates),
        )
        receiving = target.model_copy(update=updates)
        self._commit_many(
            [
                (merged, ticket.version, (event,)),
                (receiving, target.version, (linked,)),
            ]
        )
        return merged

    def _commit_many(self, changes: Sequence[tuple[Ticket, int, Sequence[Event]]]) -> None:
        """Commit changes of several tickets in one transaction, then run their hooks."""
        self.pipeline.commit(
            self._writer, [Change(ticket, version, events) for ticket, version, events in changes]
        )

    def add_message(
        self,
        ticket_id: str,
        body: str,
        *,
        author_id: str,
        author_role: AuthorRole | str = AuthorRole.AGENT,
        kind: MessageKind | str = MessageKind.PUBLIC_REPLY,
        channel: Channel | str | None = None,
    ) -> Message:
        """Add a public reply or internal note and return it.

        - The first response (``first_response_at``) is what the SLA first-response
          metric counts (:func:`aftersales.sla.meets_first_response`): an agent's or
          bot's first public reply, or entering a status of the SLA policy's
          ``first_response_met_by`` (by default waiting on the customer).
          ``author_role`` is taken as given: the desk does not know who is calling, so
          a customer's message sent with ``author_role="agent"`` counts as the first
          response. Until roles come from an authenticated principal, set the role
          from your own session (a customer-facing endpoint always passes
          ``"customer"``).
        - A customer's public reply on a ticket waiting on the customer resumes it (the
          ``resume`` trigger, in the same transaction as the message), so the
          resolution clock runs again; ``DeskSettings.resume_on_customer_reply=False``
          turns this off.
        - A message to a ticket merged into another goes to that other ticket (the one
          :meth:`merge` kept).
        """
        ticket = self.get(ticket_id)
        for _ in range(100):
            if ticket.merged_into is None:
                break
            ticket = self.get(ticket.merged_into)
        now = self._now()
        message = parse(
            Message,
            {
                "ticket_id": ticket.id,
                "kind": kind,
                "author_id": author_id,
                "author_role": author_role,
                "body": body,
                "channel": ticket.channel if channel is None else channel,
                "at": now,
            },
            "message",
        )
        version = ticket.version + 1
        updates: dict[str, Any] = {"updated_at": now, "version": version}
        public = message.kind is MessageKind.PUBLIC_REPLY
        event = build_event(
            ticket.id,
            TICKET_KIND,
            version,
            MESSAGE_ADDED,
            ticket.status,
            ticket.status,
            message.author_id,
            now,
            {
                "message_id": message.id,
                "kind": message.kind.value,
                "author_role": message.author_role.value,
                "channel": message.channel.value,
            },
            _json_changes(updates),
        )
        if ticket.first_response_at is None and self._meets_first_response(event):
            updates["first_response_at"] = now
            event.changes["first_response_at"] = now.isoformat()
        changed = ticket.model_copy(update=updates)
        events: tuple[Event, ...] = (event,)
        if (
            public
            and message.author_role is AuthorRole.CUSTOMER
            and ticket.status_category is StatusCategory.WAITING_ON_CUSTOMER
            and self.settings.resume_on_customer_reply
            and "resume" in self.workflow.allowed_triggers(ticket.status)
        ):
            try:
                changed, resumed = self._decide(changed, "resume", message.author_id, None, now)
            except TransitionError:
                pass  # a custom workflow's guard keeps it waiting: the message stands alone
            else:
                events = (event, resumed)
        if self.sla is not None:
            changed = self._with_sla(changed, events[-1], now, events[:-1])
        self._commit(changed, ticket.version, events, (message,))
        return message

    # ---------------------------------------------------------------- customers

    def save_customer(self, customer: Customer | Mapping[str, Any]) -> Customer:
        """Insert or update a customer. A contact point may belong to one customer only;
        a customer has at most ``DeskSettings.max_contacts`` of them."""
        record = self._checked_customer(customer)
        # The store refuses a taken address inside its transaction, without naming whose.
        self.store.save_customer(record)
        return record

    def get_customer(self, customer_id: str) -> Customer:
        """The customer with this id; raises :class:`~aftersales.CustomerNotFound`."""
        return self.store.get_customer(_check_text("customer_id", customer_id))

    def find_customer(self, channel: Channel | str, address: str) -> Customer | None:
        """The customer known by ``address`` on ``channel`` (e.g. a WeChat OpenID), if any."""
        try:
            channel = Channel(channel)
        except ValueError:
            raise InvalidInput(
                "channel", [FieldError(("channel",), f"unknown channel {channel!r}")]
            ) from None
        return self.store.find_customer(channel, _check_text("address", address, 200))

    def customer_history(self, customer_id: str) -> CustomerHistory:
        """All of a customer's tickets on every channel, oldest first."""
        _check_text("customer_id", customer_id)
        tickets: list[Ticket] = []
        while True:
            page = self.store.find(
                TicketQuery(customer_id=customer_id, limit=1000, offset=len(tickets))
            )
            tickets.extend(page)
            if len(page) < 1000:
                break
        try:
            customer: Customer | None = self.store.get_customer(customer_id)
        except LookupError:
            customer = None
        return CustomerHistory(customer_id, customer, tuple(tickets))

    # ---------------------------------------------------------------- reading

    def get(self, ticket: str | int) -> Ticket:
        """A ticket by id, or by its human number (an int)."""
        if type(ticket) is int:
            if not 1 <= ticket <= _MAX_NUMBER:
                raise InvalidInput(
                    "ticket", [FieldError(("number",), f"must be from 1 to {_MAX_NUMBER}")]
                )
            return self.store.get_by_number(ticket)
        return self.store.get(_check_text("ticket_id", ticket))

    def find(self, query: TicketQuery | None = None, /, **filters: Any) -> list[Ticket]:
        """Tickets matching the filters of :class:`~aftersales.TicketQuery`, oldest first.

        A ``status`` the desk's workflow does not have raises
        :class:`~aftersales.InvalidInput` naming the known states.

        >>> Desk().find(status_category="open", assignee="li.wei")
        []
        """
        if query is None:
            query = parse(TicketQuery, filters, "ticket query")
        elif not isinstance(query, TicketQuery) or filters:
            raise InvalidInput(
                "ticket query",
                [FieldError(("query",), "pass a TicketQuery or filters, not both")],
            )
        if query.status is not None and query.status not in self._states:
            raise InvalidInput(
                "ticket query", [_unknown("status", [query.status], sorted(self._states))]
            )
        return self.store.find(query)

    def history(self, ticket_id: str) -> list[Event]:
        """The ticket's events, oldest first."""
        events = self.store.events(_check_text("ticket_id", ticket_id))
        if not events:
            raise TicketNotFound(ticket_id)
        return events

    def messages(self, ticket_id: str | int, *, include_internal: bool = False) -> list[Message]:
        """The ticket's public replies, oldest first, with those of the tickets merged
        into it (each message keeps the ``ticket_id`` it was written on).

        Internal notes are left out unless ``include_internal=True``: a customer-facing
        view cannot show them by accident; an agent's view asks for them.
        """
        if not isinstance(include_internal, bool):
            raise InvalidInput(
                "messages", [FieldError(("include_internal",), "must be True or False")]
            )
        ticket = self.get(ticket_id)
        found = list(self.store.messages(ticket.id))
        pending = [ticket.id]
        seen = {ticket.id}
        while pending:
            for duplicate in self.store.find(TicketQuery(merged_into=pending.pop(), limit=10_000)):
                if duplicate.id not in seen:
                    seen.add(duplicate.id)
                    pending.append(duplicate.id)
                    found.extend(self.store.messages(duplicate.id))
        if len(seen) > 1:
            found.sort(key=lambda message: message.at)
        if include_internal:
            return found
        return [m for m in found if m.kind is MessageKind.PUBLIC_REPLY]

    def replay(self, ticket_id: str) -> Ticket:
        """Rebuild a ticket from its event history alone; equals :meth:`get` for a sound store."""
        return fold_events(self.history(ticket_id))

    # ---------------------------------------------------------------- time step

    def run_due(self, now: datetime | None = None, *, limit: int = 1000) -> DueReport:
        """Do the work that has come due by ``now``: SLA warnings, breaches and
        escalations, auto-closing resolved tickets the customer never confirmed,
        reminding or closing tickets left waiting on the customer (when
        ``DeskSettings.customer_wait_days`` is set), and retrying notifications.
        ``limit`` (1 to 1,000,000) caps the tickets of each kind of work.

        Call it from your scheduler (cron, Celery beat, APScheduler); the library starts
        no threads of its own.
        """
        limit = _check_count("limit", limit)
        now = self._checked_now(now)
        self.flush()
        closed: list[str] = []
        reminded: list[str] = []
        sla_events: list[tuple[str, str, str]] = []
        if self.sla is not None:
            for ticket in self.store.sla_due(now, limit):
                try:
                    sla_events.extend(self._sla_step(ticket, now))
                except ConcurrencyError:
                    continue  # changed meanwhile; the change recomputed its checkpoint
        wait = self._customer_wait
        for ticket in self.store.due(now, limit):
            waiting = ticket.status_category is StatusCategory.WAITING_ON_CUSTOMER
            try:
                if not waiting and ticket.status == "resolved":
                    self._transition(ticket, "auto_close", "system", None, now)
                    closed.append(ticket.id)
                elif not waiting or wait is None:
                    # Nothing is due any more (the wait was switched off, the state moved on).
                    self._reschedule(ticket, None, now)
                elif self.settings.customer_wait_action is WaitingAction.CLOSE:
                    note = f"no reply from the customer in {wait.days} days"
                    self._transition(ticket, "auto_close", "system", {"note": note}, now)
                    closed.append(ticket.id)
                else:
                    self._remind(ticket, now, wait)
                    reminded.append(ticket.id)
            except ConcurrencyError:
                continue  # someone else changed it in the meantime; their change stands
            except TransitionError:
                # Refused (e.g. child tickets still open): look again in a day, so that it
                # does not come back first on every run and crowd out what can be done.
                with suppress(ConcurrencyError):  # changed meanwhile: it set its own due time
                    self._reschedule(ticket, now + timedelta(days=1), now)
        self.drain_queue()
        cases = self.cases.run_due(now, limit=limit)
        return DueReport(
            tuple(closed),
            self.dispatch_outbox(now),
            tuple(sla_events),
            tuple(cases),
            tuple(reminded),
        )

    def _remind(self, ticket: Ticket, now: datetime, wait: timedelta) -> None:
        self._record(ticket, CUSTOMER_REMINDER, {"days": wait.days}, {"due_at": now + wait}, now)

    def _reschedule(self, ticket: Ticket, due_at: datetime | None, now: datetime) -> None:
        self._record(ticket, DUE_RESCHEDULED, {}, {"due_at": due_at}, now)

    def _record(
        self,
        ticket: Ticket,
        trigger: str,
        payload: dict[str, Any],
        fields: dict[str, Any],
        now: datetime,
    ) -> None:
        """Commit an event that changes ``fields`` of ``ticket`` but not its state."""
        version = ticket.version + 1
        updates: dict[str, Any] = {"updated_at": now, "version": version, **fields}
        event = build_event(
            ticket.id,
            TICKET_KIND,
            version,
            trigger,
            ticket.status,
            ticket.status,
            "system",
            now,
            payload,
            _json_changes(updates),
        )
        self._commit(trusted(Ticket, {**ticket.__dict__, **updates}), ticket.version, (event,))

    def outbox(self, status: DeliveryStatus | str | None = None) -> list[Notification]:
        """The outbox, e.g. ``desk.outbox("dead")`` to review dead-lettered notifications."""
        if status is not None:
            try:
                status = DeliveryStatus(status)
            except ValueError:
                raise InvalidInput(
                    "status", [FieldError(("status",), f"unknown delivery status {status!r}")]
                ) from None
        return self.store.outbox(status)
