"""The facade: :class:`Desk` wires a store, a clock, the ticket workflow, the write
pipeline, hooks, SLA tracking, routing and the case desk, and delegates to them.

Each concern lives in its own module: the write path in :mod:`aftersales._pipeline`,
ticket commands in :mod:`aftersales.tickets`, SLA tracking in
:mod:`aftersales.sla.tracker`, routing in :mod:`aftersales.routing.dispatcher`, outbox
delivery in :mod:`aftersales.notify`, cases in :mod:`aftersales.cases`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from os import PathLike
from typing import Any

import attrs

from aftersales._pipeline import DeskServices, Pipeline
from aftersales._validation import check_count, parse
from aftersales.attachments import BlobStore
from aftersales.automations import Automations, RuleSet
from aftersales.cases import CaseDesk, CaseKindSpec, DueCase, Inventory, Policy, StepLimit
from aftersales.clock import Clock, SystemClock
from aftersales.compliance._desk import ComplianceFace
from aftersales.compliance.erasure import Eraser
from aftersales.customers._desk import CustomerFace
from aftersales.exceptions import ConcurrencyError, FieldError, InvalidInput
from aftersales.feedback import Care, CareSettings, Surveys, SurveySettings
from aftersales.models import (
    Ticket,
)
from aftersales.models.events import TICKET_KIND
from aftersales.notify import HookRegistry
from aftersales.notify._desk import DeskHooks
from aftersales.notify._outbox import DispatchReport, Outbox
from aftersales.privacy.audit import DEFAULT_AUDIT_KEY, Chain
from aftersales.privacy.redact import (
    PERSONAL_FIELDS,
    Redactor,
    extend_personal_fields,
    personal_keys,
)
from aftersales.routing.assign import Router, RoutingConfig
from aftersales.routing.classify import Classifier
from aftersales.routing.dispatcher import Dispatcher
from aftersales.security import Directory, PermissionSet
from aftersales.settings import DeskSettings
from aftersales.sla.policy import FIRST_RESPONSE_MET_BY, SLAPolicy, SLAStatus
from aftersales.sla.tracker import SLAReportRow, SLATracker
from aftersales.storage import MemoryStore, SQLiteStore, Store
from aftersales.tickets._commands import TicketCommands
from aftersales.tickets._core import TicketCore
from aftersales.tickets._desk import TicketFace
from aftersales.tickets._reading import TicketReader
from aftersales.tickets._vocabulary import Vocabulary
from aftersales.tickets.customers import Customers
from aftersales.workflows import TICKET_WORKFLOW, Workflow

__all__ = ["Desk", "DueReport"]


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
    erased: tuple[str, ...] = ()
    """Closed tickets whose personal data was erased after ``DeskSettings.retention_days``."""
    automations: tuple[tuple[str, str], ...] = ()
    """(subject id, rule name) for each time rule or escalation level that came due and
    fired (see :mod:`aftersales.automations`)."""


DueWork = Callable[[datetime, int], Iterable[tuple[str, str]]]
"""Work a capability adds to :meth:`Desk.run_due` (the time rules): called with ``now`` and
``limit``, it does what came due and answers (subject id, rule name) for each firing."""


class Desk(TicketFace, DeskHooks, ComplianceFace, CustomerFace):
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
    ``case_kinds`` registers case kinds beside the shipped ones (see :mod:`aftersales.cases`).
    ``surveys`` follows resolved and closed subjects up with surveys, ``care`` schedules
    care plans' messages, reminders and coupons (see :mod:`aftersales.feedback`).
    ``blobs`` keeps the files messages carry (see :mod:`aftersales.attachments`).
    ``automations`` installs a rule set (event rules, time rules, escalation chains; see
    :mod:`aftersales.automations`); a rule set that sends templates, calls webhooks or
    has macros is installed with :class:`~aftersales.automations.Automations` instead.
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
        case_kinds: Iterable[CaseKindSpec] | None = None,
        permissions: PermissionSet | Mapping[str, Any] | str | PathLike[str] | None = None,
        principals: Directory | None = None,
        personal_fields: Mapping[str, Iterable[str]] | None = None,
        surveys: SurveySettings | Mapping[str, Any] | None = None,
        care: CareSettings | Mapping[str, Any] | None = None,
        blobs: BlobStore | None = None,
        automations: RuleSet | Mapping[str, Any] | str | None = None,
    ) -> None:
        self.store: Store = MemoryStore() if store is None else store
        if blobs is not None and not isinstance(blobs, BlobStore):
            raise InvalidInput("desk", [FieldError(("blobs",), "must be a BlobStore")])
        self.blobs = blobs
        """Where messages' attachments are kept (see :mod:`aftersales.attachments`); with
        None, a message with attachments is refused."""
        self.classifier = classifier
        if routing is None or isinstance(routing, Router):
            self.router = routing
        else:
            self.router = Router(parse(RoutingConfig, routing, "routing"), self.store)
        self.route_on_open = route_on_open
        self.sla: SLAPolicy | None = None if sla is None else parse(SLAPolicy, sla, "SLA policy")
        self.clock: Clock = SystemClock() if clock is None else clock
        self.settings = parse(DeskSettings, settings or {}, "settings")
        if not isinstance(workflow, Workflow):
            raise InvalidInput("desk", [FieldError(("workflow",), "must be a Workflow")])
        self.workflow = workflow
        self._vocabulary = Vocabulary(self.settings, workflow, classifier)
        self.categories: tuple[str, ...] = self._vocabulary.categories
        """The categories tickets may be classified with, as the desk declares them."""
        self._vocabulary.check_routing(self.router)
        self._hooks = HookRegistry()
        self._outbox = Outbox(self.store, self._hooks, self.settings)
        fields = (
            PERSONAL_FIELDS if personal_fields is None else extend_personal_fields(personal_fields)
        )
        key = self.settings.audit_key
        chain = Chain(
            DEFAULT_AUDIT_KEY if key is None else key.get_secret_value().encode(),
            personal_keys(fields),
        )
        self.pipeline = Pipeline(self.store, self._outbox, self.clock, chain)
        redaction = self.settings.redaction
        if redaction is not None:
            self._redact_text = Redactor(redaction).redact
        self._now = self.pipeline.now
        self._checked_now = self.pipeline.checked_now
        met_by = FIRST_RESPONSE_MET_BY if self.sla is None else self.sla.first_response_met_by
        core = TicketCore(
            self.store, self.settings, workflow, self._vocabulary, self.pipeline, met_by
        )
        self._core = core
        self._recent = core.recent
        self._reader = TicketReader(self.store, self._vocabulary)
        self._customers = Customers(self.store, self.settings)
        self._tickets = TicketCommands(core, self._reader, self._customers, blobs)
        self._sla = None
        if self.sla is not None:
            self._sla = core.sla = SLATracker(
                self.sla, category_of=workflow.category_of, log=self._reader, commit=core.commit
            )
        self._dispatcher = Dispatcher(
            classifier=classifier,
            router=self.router,
            initial=workflow.initial,
            states=self._vocabulary.states,
            tickets=self._reader,
            transition=core.transition,
            now=self._now,
        )
        self.services = DeskServices(
            self.store, self.settings, self.pipeline, self.router, self._remembered
        )
        # What the desk's parts share (aftersales._pipeline.DeskServices): for the
        # package (the case desk), not part of the public API.
        self.cases = CaseDesk(
            self, policy=policy, inventory=inventory, step_limits=step_limits, kinds=case_kinds
        )
        """Returns, exchanges, refunds, warranty repairs and complaints (see :class:`CaseDesk`)."""
        self.surveys: Surveys | None = (
            None if surveys is None else Surveys(self, parse(SurveySettings, surveys, "surveys"))
        )
        """The follow-up surveys, with ``surveys`` rules (see :mod:`aftersales.feedback`)."""
        self.care: Care | None = (
            None if care is None else Care(self, parse(CareSettings, care, "care"))
        )
        """The care plans, with ``care`` settings (see :mod:`aftersales.feedback`)."""
        self._due_work: list[DueWork] = []
        """What capabilities add to :meth:`run_due` (the automations' time rules)."""
        self._set_up_compliance(
            permissions,
            principals,
            Eraser(self.store, chain, fields),
            self.settings.retention_days,
        )
        self.automations: Automations | None = (
            None if automations is None else Automations(self, automations)
        )
        """The rule set installed with ``automations``, if any."""

    def _caches(self) -> list[dict[str, Any]]:
        return [self._recent, self.cases._recent]

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

    def close(self) -> None:
        """Acknowledge delivered notifications and close the store."""
        self.flush()
        self.store.close()

    def __enter__(self) -> Desk:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def check_category(self, category: object) -> str:
        """``category`` if the desk knows it (see :attr:`categories`); otherwise
        :class:`~aftersales.InvalidInput` naming the known ones."""
        return self._vocabulary.check_category(category)

    def priority_rank(self, priority: str) -> int:
        """The rank of a priority level: 0 for the most urgent of the desk's levels
        (``DeskSettings.priorities`` in order). Sort tickets with
        ``key=lambda t: desk.priority_rank(t.priority)``."""
        return self._vocabulary.priority_rank(priority)

    def _subject_workflows(self) -> dict[str, Workflow]:
        kinds = self.cases.kinds
        return {TICKET_KIND: self.workflow, **{k: spec.workflow for k, spec in kinds.items()}}

    def _remembered(self, ticket_id: str) -> Ticket:
        """The ticket as this desk last wrote it, else as stored."""
        return self._recent.get(ticket_id) or self.get(ticket_id)

    # ---------------------------------------------------------------- SLA and due work

    def _sla_tracker(self) -> SLATracker:
        if self._sla is None:
            raise InvalidInput("sla", [FieldError(("sla",), "this desk has no SLA policy")])
        return self._sla

    def sla_status(self, ticket_id: str, now: datetime | None = None) -> SLAStatus:
        """Every SLA metric of the ticket at ``now``, computed from its history."""
        tracker = self._sla_tracker()
        now = self._checked_now(now)
        return tracker.status(self.get(ticket_id), now)

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
        tracker = self._sla_tracker()
        tracker.check_group(by)
        now = self._checked_now(now)
        return tracker.report(created_from=created_from, created_to=created_to, by=by, now=now)

    def run_due(self, now: datetime | None = None, *, limit: int = 1000) -> DueReport:
        """Do the work that has come due by ``now``: SLA warnings, breaches and
        escalations, auto-closing resolved tickets the customer never confirmed,
        reminding or closing tickets left waiting on the customer (when
        ``DeskSettings.customer_wait_days`` is set), and retrying notifications.
        ``limit`` (1 to 1,000,000) caps the tickets of each kind of work.

        Call it from your scheduler (cron, Celery beat, APScheduler); the library starts
        no threads of its own.
        """
        limit = check_count("limit", limit)
        now = self._checked_now(now)
        self.flush()
        sla_events: list[tuple[str, str, str]] = []
        if self._sla is not None:
            for ticket in self.store.sla_due(now, limit):
                try:
                    sla_events.extend(self._sla.step(ticket, now))
                except ConcurrencyError:
                    continue  # changed meanwhile; the change recomputed its checkpoint
        closed, reminded = self._tickets.run_due(now, limit)
        self.drain_queue()
        # at fire time: a customer erased or opted out of care since gets none
        if self.surveys is not None:
            self.surveys.withdraw_due(now, limit)
        if self.care is not None:
            self.care.withdraw_due(now, limit)
        cases = self.cases.run_due(now, limit=limit)
        fired = [firing for work in self._due_work for firing in work(now, limit)]
        # a survey or care action past the window withdrawn above was refused by its
        # 'reachable' guard and is still due: cancel it now, or it would be retried (and
        # fill the due window) on every run
        if self.surveys is not None:
            self.surveys.withdraw_due(now, limit)
        if self.care is not None:
            self.care.withdraw_due(now, limit)
        erased = self._erase_expired(now, limit)
        return DueReport(
            tuple(closed),
            self.dispatch_outbox(now),
            tuple(sla_events),
            tuple(cases),
            tuple(reminded),
            erased,
            tuple(fired),
        )
