"""The desk's compliance operations (a base of :class:`~aftersales.Desk`): permissions in
the write pipeline, the security log, erasure, access and retention of personal data,
and the audit check."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta
from os import PathLike
from typing import TYPE_CHECKING, Any

import attrs

from aftersales._validation import ACTING, acting, check_text
from aftersales.attachments import BlobStore
from aftersales.compliance.erasure import Eraser, ErasureReport, delete_files
from aftersales.compliance.guard import CaseOnTicket, PermissionGuard
from aftersales.exceptions import ConcurrencyError, CustomerNotFound, FieldError, InvalidInput
from aftersales.models import Case, Customer, Event, Message, Ticket
from aftersales.models.events import PERSONAL_DATA_ERASED, TICKET_KIND, build_event
from aftersales.models.security import SecurityEntry
from aftersales.models.ticket import StatusCategory
from aftersales.notify._notification import Notification
from aftersales.privacy.audit import AuditFinding
from aftersales.security import (
    CUSTOMER_PREFIX,
    Action,
    Actor,
    Directory,
    MemoryDirectory,
    PermissionSet,
    Principal,
    as_permission_set,
)
from aftersales.storage import CaseQuery, Rewrite, Store, TicketCursor, TicketQuery
from aftersales.storage._paging import every_case, every_ticket
from aftersales.storage._protocol import check_id, check_limit

if TYPE_CHECKING:
    from aftersales._pipeline import Pipeline

__all__ = ["AuditReport", "ComplianceFace"]

_PAGE = 500
_ATTEMPTS = 5
_RETENTION_MARK = "retention-erased:"
_RETENTION_CURSOR = "retention-cursor"
"""Where the next pass of the retention erasure starts (a ticket cursor; empty: the
oldest closed ticket)."""
_RETENTION_SCAN = 5_000
"""Closed tickets a pass of the retention erasure reads at most: a pass costs the same
at a million tickets as at a thousand; a ticket past its retention waits about (closed
tickets / this) passes."""


def _resume_at(saved: str) -> TicketCursor | None:
    """Where the retention pass resumes: the saved cursor, or the oldest ticket when
    there is none or it is not one (a bad value must not stop ``run_due``)."""
    if not saved:
        return None
    try:
        return TicketCursor.parse(saved)
    except InvalidInput:
        return None


@attrs.frozen
class AuditReport:
    """What :meth:`~aftersales.Desk.verify_audit` checked and found: ``ok`` when no
    finding; each finding names the subject, the event and what is wrong."""

    subjects: int
    events: int
    findings: tuple[AuditFinding, ...] = ()
    unchained: int = 0
    """Events without a chain (written before the chain existed, or stripped of it):
    checked for order and place only. On a desk that has always sealed, 0."""

    @property
    def ok(self) -> bool:
        return not self.findings


class ComplianceFace:
    """Permissions, the security log, personal data and the audit check (a base of the
    desk)."""

    store: Store
    pipeline: Pipeline
    principals: Directory
    permissions: PermissionSet | None
    blobs: BlobStore | None
    _eraser: Eraser
    _retention_days: int | None

    def _set_up_compliance(
        self,
        permissions: PermissionSet | Mapping[str, Any] | str | PathLike[str] | None,
        principals: Directory | None,
        eraser: Eraser,
        retention_days: int | None,
    ) -> None:
        self.principals = MemoryDirectory() if principals is None else principals
        self.permissions = None
        if permissions is not None:
            self.permissions = as_permission_set(permissions)
            self.pipeline.guard = PermissionGuard(
                self.permissions, self.principals, self.store, self.pipeline.now
            )
        self._eraser = eraser
        self._retention_days = retention_days

    # ------------------------------------------------------------------ permissions

    def principal(self, actor: Actor | Principal) -> Principal:
        """Who ``actor`` is to this desk: the principal itself, the directory's principal
        of that id, else the permission set's default principal (no permissions: a
        principal with no roles)."""
        if isinstance(actor, Principal):
            return actor
        actor = check_text("actor", actor)
        acting = ACTING.get()
        if acting is not None and acting.id == actor:
            return acting  # type: ignore[no-any-return]
        if self.permissions is None:
            return self.principals.principal(actor) or Principal(actor, ())
        return self.permissions.principal_for(actor, self.principals)

    @contextmanager
    def acting_as(self, principal: Principal) -> Iterator[Principal]:
        """Run the desk calls of a ``with`` block as ``principal``: every event they
        write is checked with its roles, also for calls that name the actor by id (a
        message's ``author_id``, an ``actor="c-42"``) when the id is the principal's.
        The roles never outlive the block, and each thread or asyncio task has its own
        (a web request's principal stays in its request).

        >>> from aftersales import Desk
        >>> from aftersales.security import Principal, default_permissions
        >>> desk = Desk(permissions=default_permissions())
        >>> ticket = desk.open_ticket(customer="c-42", channel="app", subject="Late parcel")
        >>> with desk.acting_as(Principal.customer("c-42")) as me:
        ...     reply = desk.add_message(
        ...         ticket.id, "Any news?", author_id=me.id, author_role="customer"
        ...     )
        >>> reply.author_id
        'customer:c-42'
        """
        if not isinstance(principal, Principal):
            raise InvalidInput("acting_as", [FieldError(("principal",), "must be a Principal")])
        token = ACTING.set(principal)
        try:
            yield principal
        finally:
            ACTING.reset(token)

    def may_read(self, actor: Actor | Principal, subject: Ticket | Case) -> bool:
        """Whether ``actor`` may see ``subject`` under the permission set's row rules
        (always, on a desk without permissions)."""
        if not isinstance(subject, Ticket | Case):
            raise InvalidInput("subject", [FieldError(("subject",), "must be a Ticket or a Case")])
        principal = self.principal(actor)
        if self.permissions is None:
            return True
        if isinstance(subject, Ticket):
            return self.permissions.may_read(principal, "ticket", subject)
        # a case is read as a write is checked: with its ticket's team
        return self.permissions.may_read(
            principal, subject.kind.value, CaseOnTicket(subject, self.store)
        )

    def visible(self, actor: Actor | Principal, subjects: Iterable[Any]) -> list[Any]:
        """The subjects (tickets or cases) ``actor`` may see, in their order: filter any
        read with it (``desk.visible(user, desk.find(status_category="open"))``)."""
        if isinstance(subjects, str | bytes) or not isinstance(subjects, Iterable):
            raise InvalidInput("subjects", [FieldError(("subjects",), "must be tickets or cases")])
        return [subject for subject in subjects if self.may_read(actor, subject)]

    def _authorize(self, actor: Actor, kind: str, trigger: str, subject_id: str) -> None:
        """Check an action that is not a commit against the permission set (its grants:
        ``customer`` ``erase`` and ``export``, ``security_log`` ``read``)."""
        guard = self.pipeline.guard
        if not isinstance(guard, PermissionGuard):
            return
        guard.check(
            Action(
                principal=self.principal(actor),
                subject_kind=kind,
                subject_id=subject_id,
                trigger=trigger,
                subject={"id": subject_id, "customer_id": subject_id},
            )
        )

    @acting
    def security_log(
        self,
        *,
        since: datetime | None = None,
        limit: int = 1000,
        actor: Actor = "system",
    ) -> list[SecurityEntry]:
        """Refusals and privacy requests, oldest first (what supervisors review; with
        permissions, ``actor`` needs a grant of ``read`` on ``security_log``)."""
        self._authorize(check_text("actor", actor), "security_log", "read", "security_log")
        if since is not None:
            since = self.pipeline.checked_now(since)
        return self.store.security_log(since=since, limit=check_limit(limit))

    # ------------------------------------------------------------------ personal data

    @acting
    def export_customer(self, customer_id: str, *, actor: Actor = "system") -> dict[str, Any]:
        """Everything stored about a customer, as JSON values (an access request):
        the customer, its tickets with their messages and events, its cases with
        their events, and the messages they wrote on tickets that are not theirs
        (``messages_on_other_tickets``, oldest first: a reply to the desk's mail on
        another customer's thread, or on a ticket one of theirs was merged into; only
        their own messages, nothing else of those tickets). Messages list their
        attachments (name, content type, size, SHA-256); hand over the files themselves
        with :meth:`read_attachment`. The export is recorded in the security log
        (without the data). With permissions, ``actor`` needs a grant of ``export`` on
        ``customer``."""
        check_id(customer_id, "customer_id")
        actor = check_text("actor", actor)
        self._authorize(actor, "customer", "export", customer_id)
        customer, tickets, cases = self._holdings(customer_id)
        elsewhere = self._written_elsewhere(customer_id, tickets)
        store = self.store
        export = {
            "customer": None if customer is None else customer.model_dump(mode="json"),
            "tickets": [
                {
                    **ticket.model_dump(mode="json"),
                    "messages": [m.model_dump(mode="json") for m in store.messages(ticket.id)],
                    "events": [e.model_dump(mode="json") for e in store.events(ticket.id)],
                }
                for ticket in tickets
            ],
            "cases": [
                {
                    **case.model_dump(mode="json"),
                    "events": [e.model_dump(mode="json") for e in store.events(case.id)],
                }
                for case in cases
            ],
            "messages_on_other_tickets": [
                m.model_dump(mode="json")
                for m in sorted(
                    (m for written in elsewhere.values() for m in written), key=lambda m: m.at
                )
            ],
        }
        self._log(
            "exported",
            actor,
            f"export customer {customer_id}",
            customer_id=customer_id,
            details={"tickets": len(tickets), "cases": len(cases)},
        )
        return export

    def _holdings(self, customer_id: str) -> tuple[Customer | None, list[Ticket], list[Case]]:
        """The customer record (None if only its tickets exist), its tickets and cases;
        CustomerNotFound when there is none of them."""
        try:
            customer: Customer | None = self.store.get_customer(customer_id)
        except CustomerNotFound:
            customer = None
        tickets = self._eraser.tickets_of(customer_id)
        cases = self._eraser.cases_of(customer_id, tickets)
        if customer is None and not tickets and not cases:
            raise CustomerNotFound(customer_id)
        return customer, tickets, cases

    def _written_elsewhere(
        self, customer_id: str, tickets: list[Ticket]
    ) -> dict[str, list[Message]]:
        """The messages the customer wrote on tickets that are not theirs, by ticket id:
        replies to the desk's mail on another customer's thread (inbound mail threads
        them there), or to a ticket of theirs after it was merged into another's. Found
        through the store's author index, whatever ticket they are on."""
        mine = {ticket.id for ticket in tickets}
        found: dict[str, list[Message]] = {}
        for author in (customer_id, CUSTOMER_PREFIX + customer_id):
            for message in self.store.messages_by_author(author):
                if message.ticket_id not in mine:
                    found.setdefault(message.ticket_id, []).append(message)
        return found

    @acting
    def erase_customer(self, customer_id: str, *, actor: Actor = "system") -> ErasureReport:
        """Make every personal value of a customer unreadable wherever it is stored (see
        :mod:`aftersales.compliance.erasure`): the customer record and contact points, its
        tickets, cases, messages (their attachments' names too), their events and outbox
        rows, and the messages they wrote on tickets of others, in one transaction; then
        the attachments' files are deleted from the desk's blob store (``files`` in the
        report): every file of their tickets, and on others' tickets the files only their
        messages carry. Tickets and cases keep their ids, states and
        times; each one rewritten gets a ``personal_data_erased`` event (its version
        moves on, so no copy read before can write the data back) and its hash chain
        still verifies. Recorded in the security log. With permissions, ``actor`` needs a
        grant of ``erase`` on ``customer``."""
        check_id(customer_id, "customer_id")
        actor = check_text("actor", actor)
        self._authorize(actor, "customer", "erase", customer_id)
        eraser = self._eraser
        for attempt in range(_ATTEMPTS):
            customer, tickets, cases = self._holdings(customer_id)
            erased_customer = None if customer is None else eraser.customer(customer)
            if erased_customer is customer:
                erased_customer = None  # nothing personal left on it
            elsewhere = self._written_elsewhere(customer_id, tickets)
            try:
                return self._rewrite(
                    tickets,
                    cases,
                    elsewhere,
                    erased_customer,
                    SecurityEntry(
                        kind="erased",
                        at=self.pipeline.now(),
                        principal=actor,
                        action=f"erase customer {customer_id}"[:200],
                        customer_id=customer_id,
                    ),
                    customer_id,
                )
            except ConcurrencyError:
                if attempt == _ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _rewrite(
        self,
        tickets: list[Ticket],
        cases: list[Case],
        elsewhere: Iterable[str],
        customer: Customer | None,
        entry: SecurityEntry,
        customer_id: str,
    ) -> ErasureReport:
        eraser = self._eraser
        store = self.store
        touched: set[str] = set()
        messages: list[Message] = []
        for ticket in tickets:
            for message in store.messages(ticket.id):
                erased = eraser.message(message)
                if erased is not message:
                    messages.append(erased)
                    touched.add(ticket.id)
        # On the tickets of others (``elsewhere``) only the customer's own messages go;
        # the ticket is read whole for the files another author's message still carries.
        authors = frozenset({customer_id, CUSTOMER_PREFIX + customer_id})
        others: dict[str, Ticket] = {}
        foreign: dict[str, tuple[Ticket, list[Message]]] = {}
        for ticket_id in elsewhere:
            other = store.get(ticket_id)
            foreign[ticket_id] = (other, store.messages(ticket_id))
            for message in foreign[ticket_id][1]:
                if message.author_id in authors:
                    erased = eraser.message(message)
                    if erased is not message:
                        messages.append(erased)
                        others[ticket_id] = other
        events: dict[tuple[str, int], Event] = {}
        subjects: list[tuple[str, str]] = [(t.id, TICKET_KIND) for t in tickets]
        subjects += [(c.id, c.kind.value) for c in cases]
        for subject_id, kind in subjects:
            for event in store.events(subject_id):
                erased_event = eraser.event(event, kind)
                if erased_event is not event:
                    events[(event.subject_id, event.sequence)] = erased_event
                    touched.add(subject_id)
        subject_ids = {subject_id for subject_id, _ in subjects}
        outbox: list[Notification] = []
        for notification in (n for i in subject_ids for n in store.outbox(subject_id=i)):
            event = notification.event
            if event.subject_id in subject_ids:
                replacement = events.get((event.subject_id, event.sequence))
                if replacement is None:
                    replacement = eraser.event(event, event.subject_kind)
                if replacement is not event or notification.last_error is not None:
                    outbox.append(attrs.evolve(notification, event=replacement))
                    touched.add(event.subject_id)
        now = self.pipeline.now()
        added: list[Event] = []
        new_tickets: list[Ticket] = []
        for ticket in tickets:
            erased_ticket = eraser.record(ticket, TICKET_KIND)
            if erased_ticket is not ticket or ticket.id in touched:
                new_tickets.append(
                    self._erased_version(erased_ticket, TICKET_KIND, entry, now, added)
                )
        for other in others.values():  # only its version moves on (its data is not erased)
            new_tickets.append(self._erased_version(other, TICKET_KIND, entry, now, added))
        new_cases: list[Case] = []
        for case in cases:
            erased_case = eraser.record(case, case.kind.value)
            if erased_case is not case or case.id in touched:
                new_cases.append(
                    self._erased_version(erased_case, case.kind.value, entry, now, added)
                )
        report = ErasureReport(
            customer_id,
            tickets=len(new_tickets),
            cases=len(new_cases),
            messages=len(messages),
            events=len(events),
            outbox=len(outbox),
            customer=customer is not None,
        )
        entry = entry.model_copy(update={"details": attrs.asdict(report)})
        store.rewrite(
            Rewrite(
                tickets=new_tickets,
                cases=new_cases,
                events=list(events.values()),
                added=added,
                messages=messages,
                outbox=outbox,
                customer=customer,
                security=[entry],
            )
        )
        self._forget(subject_ids | others.keys())  # their versions moved on
        files = delete_files(self.blobs, tickets, foreign.values(), authors)
        return attrs.evolve(report, files=files) if files else report

    def _erased_version(
        self, subject: Any, kind: str, entry: SecurityEntry, now: datetime, added: list[Event]
    ) -> Any:
        """``subject`` one version on, with the event that records the erasure (appended
        to ``added``) sealed into its chain."""
        version = subject.version + 1
        event = build_event(
            subject.id,
            kind,
            version,
            PERSONAL_DATA_ERASED,
            subject.status,
            subject.status,
            entry.principal,
            now,
            {},
            {"version": version},
        )
        sealed, head = self.pipeline.chain.seal([event], subject.audit_chain)
        added.extend(sealed)
        return subject.model_copy(update={"version": version, "audit_chain": head})

    def _forget(self, subject_ids: set[str]) -> None:
        """Drop the remembered copies of rewritten subjects (they held the personal data)."""
        for recent in self._caches():
            for subject_id in subject_ids:
                recent.pop(subject_id, None)

    def _caches(self) -> list[dict[str, Any]]:
        return []

    def _log(
        self,
        kind: Any,
        actor: Actor,
        action: str,
        *,
        customer_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.store.log_security(
            [
                SecurityEntry(
                    kind=kind,
                    at=self.pipeline.now(),
                    principal=check_text("actor", actor),
                    action=action[:200],
                    customer_id=customer_id,
                    details=details or {},
                )
            ]
        )

    def _erase_expired(self, now: datetime, limit: int) -> tuple[str, ...]:
        """Erase the personal data of tickets closed at least ``retention_days`` before
        ``now`` (with their cases, messages, events, outbox rows and attachments' files;
        the customer record, and what they wrote on any other ticket, stay: the ticket a
        duplicate was merged into keeps running); the ids of the tickets erased. Called by
        :meth:`run_due`."""
        days = self._retention_days
        if days is None:
            return ()
        cutoff = now - timedelta(days=days)
        erased: list[str] = []
        # A pass goes on from where the last one stopped, reading at most _RETENTION_SCAN
        # tickets (erased tickets stay closed and are read again: from the start, every
        # pass read every closed ticket of the years kept, a million state lookups at a
        # million tickets). Reaching the end, the next pass starts again from the oldest.
        saved = self.store.get_state(_RETENTION_CURSOR) or ""
        after = _resume_at(saved)
        examined = 0
        finished = False
        try:
            while examined < _RETENTION_SCAN and len(erased) < limit:
                query = TicketQuery(
                    status_category=StatusCategory.CLOSED,
                    created_to=cutoff,
                    limit=min(_PAGE, _RETENTION_SCAN - examined),
                    after=after,
                )
                page = self.store.find(query)
                for ticket in page:
                    if len(erased) >= limit:
                        break
                    examined += 1
                    # past it even if its erasure fails (or every pass would fail there)
                    after = TicketCursor.of(ticket)
                    if self._erase_if_expired(ticket, now, cutoff):
                        erased.append(ticket.id)
                else:
                    if len(page) < query.limit:
                        finished = True  # the next pass starts again from the oldest
                        break
        finally:
            resume = "" if finished or after is None else after.token()
            if resume != saved:
                self.store.set_state(_RETENTION_CURSOR, resume)
        return tuple(erased)

    def _erase_if_expired(self, ticket: Ticket, now: datetime, cutoff: datetime) -> bool:
        """Erase ``ticket`` if it was closed before ``cutoff``, is not erased yet and has
        no case that still needs its data; whether it did."""
        if ticket.closed_at is None or ticket.closed_at > cutoff:
            return False
        mark = _RETENTION_MARK + ticket.id
        if self.store.get_state(mark) is not None:
            return False
        cases = list(every_case(self.store, CaseQuery(ticket_id=ticket.id, limit=_PAGE)))
        if any(
            case.status_category is not StatusCategory.CLOSED
            or case.closed_at is None
            or case.closed_at > cutoff
            for case in cases
        ):
            return False  # a case still running (or closed lately) needs its data
        entry = SecurityEntry(
            kind="retention",
            at=now,
            principal="system",
            action=f"erase closed ticket {ticket.id}"[:200],
            subject_id=ticket.id,
            customer_id=ticket.customer_id,
        )
        try:
            self._rewrite([ticket], cases, (), None, entry, ticket.customer_id)
        except ConcurrencyError:
            return False  # changed meanwhile: a later pass sees it again
        self.store.set_state(mark, now.isoformat())
        return True

    # ------------------------------------------------------------------ audit

    def verify_audit(self, subject_ids: Iterable[str] | None = None) -> AuditReport:
        """Check the hash chain of each subject's events (all tickets and their cases
        when ``subject_ids`` is None): every edited, deleted, reordered or moved event is
        a finding naming the subject and the event."""
        chain = self.pipeline.chain
        findings: list[AuditFinding] = []
        subjects = events = unchained = 0
        for subject in self._audit_subjects(subject_ids):
            log = self.store.events(subject.id)
            subjects += 1
            events += len(log)
            unchained += sum(1 for event in log if event.chain is None)
            findings.extend(chain.verify(subject.id, log, subject.audit_chain, subject.version))
        return AuditReport(subjects, events, tuple(findings), unchained)

    def _audit_subjects(self, subject_ids: Iterable[str] | None) -> Iterable[Ticket | Case]:
        store = self.store
        if subject_ids is not None:
            if isinstance(subject_ids, str | bytes) or not isinstance(subject_ids, Iterable):
                raise InvalidInput(
                    "subject_ids", [FieldError(("subject_ids",), "must be ids of subjects")]
                )
            for subject_id in list(subject_ids):
                check_id(subject_id, "subject_ids")
                try:
                    yield store.get(subject_id)
                except LookupError:
                    try:
                        yield store.get_case(subject_id)
                    except LookupError:
                        raise InvalidInput(
                            "subject_ids",
                            [FieldError(("subject_ids",), f"no ticket or case {subject_id!r}")],
                        ) from None
            return
        for ticket in every_ticket(store, TicketQuery(limit=_PAGE)):
            yield ticket
            yield from every_case(store, CaseQuery(ticket_id=ticket.id, limit=_PAGE))
