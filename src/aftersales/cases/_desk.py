"""The case desk: reading, firing and running due work for cases of every registered
kind, and the openers of the shipped kinds under their familiar names."""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import attrs

from aftersales._pipeline import ATTEMPTS, fire_with_retries
from aftersales._time_log import LOG_TIME, time_entry
from aftersales._validation import acting, parse
from aftersales.cases import complaints, exchanges, refunds, repairs, returns
from aftersales.cases._goods import ClaimLine
from aftersales.cases._orders import bad
from aftersales.cases._records import check_text, fold_case
from aftersales.cases._spec import CaseKindSpec, StepLimit
from aftersales.cases._writer import CaseWriter, Policy
from aftersales.cases.exchanges import Inventory, MemoryInventory
from aftersales.exceptions import ConcurrencyError, TransitionError
from aftersales.models import Event
from aftersales.models.case import AnyKind, Case, CaseLine, RefundMethod, RepairSite
from aftersales.models.events import STEP_OVERDUE
from aftersales.models.order import Money
from aftersales.models.ticket import Severity
from aftersales.policies.facts import RepairRecord
from aftersales.security import Actor
from aftersales.storage import CaseQuery
from aftersales.storage._protocol import MAX_LIMIT

if TYPE_CHECKING:
    from aftersales.desk import Desk

__all__ = ["CaseDesk", "DueCase"]

_MAX_VERSION = 2**63 - 1
_CREATE_FIELDS = frozenset({"details", "lines", "order_id", "parent_id", "reason"})


@attrs.frozen
class DueCase:
    """What :meth:`CaseDesk.run_due` did with an overdue step: the trigger it fired, or
    ``"step_overdue"`` when the step is only reported."""

    case_id: str
    kind: AnyKind
    state: str
    action: str


class CaseDesk(CaseWriter):
    """The after-sales cases of one :class:`~aftersales.Desk` (``desk.cases``): returns,
    exchanges, refunds, warranty repairs, complaints, on-site visits, and any kind an
    application registers (:meth:`register`).

    >>> from aftersales import Desk
    >>> desk = Desk()
    >>> ticket = desk.open_ticket(customer="c-1", channel="email", subject="Rude courier")
    >>> complaint = desk.cases.open_complaint(ticket.id, summary="The courier was rude")
    >>> desk.cases.fire(complaint.id, "acknowledge").status
    'acknowledged'
    """

    def __init__(
        self,
        desk: Desk,
        *,
        policy: Policy | None = None,
        inventory: Inventory | None = None,
        step_limits: Mapping[str, Mapping[str, StepLimit | Mapping[str, Any]]] | None = None,
        kinds: Iterable[CaseKindSpec] | None = None,
    ) -> None:
        from aftersales.cases import KINDS

        self.desk = desk
        self.services = desk.services
        self.policy = policy
        self.inventory: Inventory = MemoryInventory() if inventory is None else inventory
        self._setup((*KINDS, *(kinds or ())), step_limits)

    # ------------------------------------------------------------------ reading

    def get(self, case_id: str) -> Case:
        """The case with this id; raises :class:`~aftersales.CaseNotFound`."""
        return self.services.store.get_case(check_text("case_id", case_id))

    def find(self, query: CaseQuery | None = None, /, **filters: Any) -> list[Case]:
        """Cases matching the filters of :class:`~aftersales.storage.CaseQuery`."""
        if query is None:
            query = parse(CaseQuery, filters, "case query")
        elif not isinstance(query, CaseQuery) or filters:
            raise bad(
                "case query", ("query",), "must be a CaseQuery, or filters as keywords (not both)"
            )
        return self.services.store.find_cases(query)

    def for_ticket(self, ticket_id: str) -> list[Case]:
        """The cases a ticket carries, oldest first: how a ticket shows its cases' states."""
        return self.find(ticket_id=ticket_id)

    def history(self, case_id: str) -> list[Event]:
        """The case's events, oldest first."""
        self.get(case_id)
        return self.services.store.events(case_id)

    def replay(self, case_id: str) -> Case:
        """Rebuild a case from its events alone; equals :meth:`get` for a sound store."""
        return fold_case(self.history(case_id))

    def repair_history(self, serial: str) -> list[RepairRecord]:
        """Every repair of the product with this serial number, oldest first."""
        return repairs.repair_history(self, serial)

    # ------------------------------------------------------------------ opening

    def open(self, kind: str, ticket_id: str, /, **fields: Any) -> Case:
        """Open a case of a registered ``kind`` on the ticket with the kind's opener:
        ``desk.cases.open("visit", ticket.id, address=..., window_start=..., ...)``.
        ``fields`` are the opener's keywords; one it does not take is bad input."""
        opener = self.spec(kind).opener
        if opener is None:
            raise bad("case kind", ("kind",), f"case kind {kind!r} has no opener")
        try:
            inspect.signature(opener).bind(self, ticket_id, **fields)
        except TypeError as error:
            raise bad(f"{kind} case", ("fields",), str(error)) from None
        return opener(self, ticket_id, **fields)

    @acting
    def create(
        self, kind: str, ticket_id: str, /, *, actor: Actor = "system", **fields: Any
    ) -> Case:
        """Store a new case of a registered ``kind`` on the ticket in its workflow's first
        state: what a kind's opener calls once it has checked its input. ``fields`` are
        among ``details`` (validated by the kind's model), ``lines``, ``order_id``,
        ``parent_id`` and ``reason``."""
        unknown = sorted(set(fields) - _CREATE_FIELDS)
        if unknown:
            raise bad(f"{kind} case", (unknown[0],), f"must be one of {sorted(_CREATE_FIELDS)}")
        case, change = self._new(
            self.spec(kind).kind, self._ticket(ticket_id), check_text("actor", actor), **fields
        )
        self._commit([change])
        return case

    @acting
    def request_return(
        self,
        ticket_id: str,
        *,
        order_id: str,
        lines: Iterable[ClaimLine | Mapping[str, Any]],
        actor: Actor = "system",
        decide_now: bool = True,
        instructions: Mapping[str, Any] | None = None,
    ) -> Case:
        """Open a return for some units of one or more order lines of ``order_id``.

        The policy decides every line at once and the decisions stay on the lines. With
        ``decide_now`` the return is then approved, or refused with the policy's reasons.
        ``instructions`` (the ``send_instructions`` payload: a label, an address or a
        pickup) go out with an approval, in the same transaction, as shops that issue
        the return label on approval do. Claiming more units than were bought, minus
        those earlier returns took back, raises :class:`~aftersales.InvalidInput` and
        stores nothing.
        """
        return returns.request_return(
            self,
            ticket_id,
            order_id=order_id,
            lines=lines,
            actor=check_text("actor", actor),
            decide_now=decide_now,
            instructions=instructions,
        )

    @acting
    def request_exchange(
        self,
        ticket_id: str,
        *,
        order_id: str,
        line: ClaimLine | Mapping[str, Any],
        replacement_sku: str,
        actor: Actor = "system",
        decide_now: bool = True,
        instructions: Mapping[str, Any] | None = None,
    ) -> Case:
        """Open an exchange of one order line's units for ``replacement_sku`` (decided and
        instructed as :meth:`request_return` does)."""
        return exchanges.request_exchange(
            self,
            ticket_id,
            order_id=order_id,
            line=line,
            replacement_sku=replacement_sku,
            actor=check_text("actor", actor),
            decide_now=decide_now,
            instructions=instructions,
        )

    @acting
    def open_refund(
        self,
        ticket_id: str,
        *,
        order_id: str,
        lines: Iterable[CaseLine | Mapping[str, Any]],
        amount: Money | Mapping[str, Any] | None = None,
        method: RefundMethod | str = RefundMethod.ORIGINAL_PAYMENT,
        due_by: date | None = None,
        actor: Actor = "system",
    ) -> Case:
        """Open a refund of order lines without a return (a goodwill or price refund).

        ``amount`` defaults to the price of the lines' units; it is spread over the lines
        in order, and no line is ever refunded above what was paid for it, counting every
        earlier refund of the order.
        """
        return refunds.open_refund(
            self,
            ticket_id,
            order_id=order_id,
            lines=lines,
            amount=amount,
            method=method,
            due_by=due_by,
            actor=check_text("actor", actor),
        )

    @acting
    def open_repair(
        self,
        ticket_id: str,
        *,
        serial: str,
        line: ClaimLine | Mapping[str, Any],
        order_id: str | None = None,
        site: RepairSite | str = RepairSite.DEPOT,
        actor: Actor = "system",
        assess: bool = True,
    ) -> Case:
        """Open a warranty repair of the product with ``serial``; with ``assess`` the
        policy decides at once (see :meth:`assess_repair`), and the case is stored with
        that decision in one transaction: a claim the policy cannot decide (no version in
        force, facts it refuses) raises and stores nothing."""
        return repairs.open_repair(
            self,
            ticket_id,
            serial=serial,
            line=line,
            order_id=order_id,
            site=site,
            actor=check_text("actor", actor),
            assess=assess,
        )

    @acting
    def assess_repair(self, case_id: str, *, actor: Actor = "system") -> Case:
        """Ask the policy about a claimed repair, with every earlier repair of the serial
        number, and act on the answer: offer a replacement or a refund when the decision
        gives those instead of another repair (failed repairs, a long parts wait, China's
        car rules), accept the claim inside the warranty, or leave it claimed with the
        decision kept so the shop can ``quote`` a paid repair."""
        return repairs.assess_repair(self, case_id, actor=check_text("actor", actor))

    @acting
    def open_complaint(
        self,
        ticket_id: str,
        *,
        summary: str,
        severity: Severity | str = Severity.MEDIUM,
        order_id: str | None = None,
        actor: Actor = "system",
    ) -> Case:
        """Record a complaint; its acknowledgement time limit starts now."""
        return complaints.open_complaint(
            self,
            ticket_id,
            summary=summary,
            severity=severity,
            order_id=order_id,
            actor=check_text("actor", actor),
        )

    # ------------------------------------------------------------------ firing

    @acting
    def fire(
        self,
        case_id: str,
        trigger: str,
        *,
        actor: Actor = "system",
        payload: Mapping[str, Any] | None = None,
        expected_version: int | None = None,
    ) -> Case:
        """Fire ``trigger`` on a case and return it after the transition.

        Refusals name the case, the trigger, the state and the allowed triggers; a policy
        refusal carries the policy's reason codes and messages in English and Chinese.
        A trigger its kind declares a cascade for opens the linked case in the same
        transaction (``refund`` on a return and ``out_of_stock`` on an exchange open the
        refund, ``exchange`` on a return the exchange, ``needs_depot_repair`` on a visit
        the repair) or closes the case waiting on it (a refund that succeeds closes the
        case it pays; an exchange's ``deliver`` closes its return).
        """
        check_text("trigger", trigger)
        actor = check_text("actor", actor)
        if expected_version is not None and (
            isinstance(expected_version, bool)
            or not isinstance(expected_version, int)
            or not 0 <= expected_version <= _MAX_VERSION
        ):
            raise bad("case", ("expected_version",), "must be a version number (an int, 0 or more)")
        return fire_with_retries(
            case_id,
            recent=self._recent,
            read=self.get,
            transition=lambda case: self._transition(case, trigger, actor, payload),
            expected_version=expected_version,
            attempts=ATTEMPTS,
        )

    @acting
    def reserve_replacement(self, case_id: str, *, actor: Actor = "system") -> Case:
        """Reserve an exchange's replacement from the inventory; when it is out of stock
        the exchange falls back to a refund."""
        return exchanges.reserve_replacement(
            self, self.inventory, case_id, actor=check_text("actor", actor)
        )

    @acting
    def log_time(
        self,
        case_id: str,
        *,
        minutes: int | timedelta,
        actor: Actor,
        note: str | None = None,
    ) -> Case:
        """Log ``minutes`` of ``actor``'s work on a case and return the case after it: a
        ``log_time`` event, as :meth:`aftersales.Desk.log_time` records on a ticket (the
        same bounds, the same payload; the state and its step's time limit do not
        change). Bad input raises :class:`~aftersales.InvalidInput` and stores nothing."""
        payload = time_entry(minutes, note, self.desk._redact_text)
        actor = check_text("actor", actor)

        def record(case: Case) -> Case:
            now = self.services.now()
            change = self._change(case, LOG_TIME, actor, now, {}, dict(payload))
            self._commit([change])
            return change.case

        return fire_with_retries(
            case_id,
            recent=self._recent,
            read=self.get,
            transition=record,
            expected_version=None,
            attempts=ATTEMPTS,
        )

    # ------------------------------------------------------------------ time step

    def run_due(self, now: datetime, *, limit: int = 1000) -> list[DueCase]:
        """Act on steps whose time limit passed by ``now``: fire the step's action (cancel
        a return whose goods never came, remind about a quote, flag a late refund, offer a
        replacement after the parts wait) or record the step as overdue."""
        now = self.services.checked_now(now)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
            raise bad("run_due", ("limit",), f"must be an int from 1 to {MAX_LIMIT:,}")
        done: list[DueCase] = []
        for case in self.services.store.cases_due(now, limit):
            action = case.step_action
            try:
                if action is None:
                    due = {"due_at": case.step_due_at.isoformat() if case.step_due_at else None}
                    cleared = {"step_due_at": None, "step_action": None}
                    self._commit([self._change(case, STEP_OVERDUE, "system", now, cleared, due)])
                else:
                    self._transition(case, action, "system", None, now=now)
            except (ConcurrencyError, TransitionError):
                continue  # changed meanwhile; the change set the step's new limit
            done.append(DueCase(case.id, case.kind, case.status, action or STEP_OVERDUE))
        return done
