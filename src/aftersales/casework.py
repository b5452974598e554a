"""After-sales cases on a desk: returns, exchanges, refunds, warranty repairs, complaints.

Reach it as ``desk.cases``. Every case belongs to a ticket; its transitions are decided by
its workflow (guards consult the policy decisions kept on the case), written with their
events and outbox rows in one transaction, and replayable from those events alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from itertools import islice
from typing import TYPE_CHECKING, Annotated, Any, Protocol, runtime_checkable

import attrs
from pydantic import Field, TypeAdapter, ValidationError

from aftersales._retry import fire_with_retries
from aftersales._validation import (
    fold,
    invalid_input,
    json_changes,
    json_value,
    parse,
    recorded_payload,
)
from aftersales.exceptions import (
    ConcurrencyError,
    FieldError,
    InvalidInput,
    InvalidWorkflow,
    TransitionError,
)
from aftersales.models import Event, StatusCategory
from aftersales.models._base import Identifier, Record, new_id, trusted
from aftersales.models.case import (
    Case,
    CaseKind,
    CaseLine,
    ComplaintDetails,
    ExchangeDetails,
    RefundDetails,
    RefundMethod,
    RepairDetails,
    RepairSite,
)
from aftersales.models.events import ASSESSED, OPENED, STEP_OVERDUE
from aftersales.models.order import Money
from aftersales.models.ticket import Severity
from aftersales.policies.book import PolicyBook, PolicySet
from aftersales.policies.dates import local_date
from aftersales.policies.decision import Decision, RefundDeadline
from aftersales.policies.facts import ClaimKind, Facts, RepairRecord
from aftersales.policies.presets import decide
from aftersales.storage import CaseChange, CaseQuery
from aftersales.storage._protocol import MAX_LIMIT
from aftersales.workflows import (
    COMPLAINT_WORKFLOW,
    EXCHANGE_WORKFLOW,
    REFUND_WORKFLOW,
    REPAIR_WORKFLOW,
    RETURN_WORKFLOW,
    CaseEnvironment,
    TransitionContext,
    Workflow,
)
from aftersales.workflows.repair import offers_instead_of_repair

if TYPE_CHECKING:
    from aftersales.service import Desk

__all__ = [
    "DEFAULT_STEP_LIMITS",
    "LINE_CHANGES",
    "CaseDesk",
    "ClaimLine",
    "DueCase",
    "Inventory",
    "MemoryInventory",
    "Policy",
    "StepLimit",
]

_MAX_VERSION = 2**63 - 1
_CENT = Decimal("0.01")
_ATTEMPTS = 5
"""How often ``fire`` decides again after losing a race to another writer."""
_RECENT_CASES = 256
"""Cases remembered as last written, to skip a read before the next transition; a stale
copy is caught by the store's version check and decided again on a fresh read."""


class StepLimit(Record):
    """How long a step may take. When it passes, :meth:`CaseDesk.run_due` fires
    ``action`` (a trigger of the workflow) or, with no action, reports the step overdue."""

    hours: Annotated[float, Field(gt=0, le=24 * 3660)]
    action: Identifier | None = None


DEFAULT_STEP_LIMITS: dict[str, dict[str, StepLimit]] = {
    "return": {
        "requested": StepLimit(hours=48),
        "awaiting_goods": StepLimit(hours=14 * 24, action="expire"),
        "received": StepLimit(hours=72),
    },
    "exchange": {
        "requested": StepLimit(hours=48),
        "awaiting_goods": StepLimit(hours=14 * 24, action="expire"),
        "replacement_reserved": StepLimit(hours=72),
    },
    "refund": {"pending": StepLimit(hours=7 * 24, action="mark_late")},
    "repair": {
        "claimed": StepLimit(hours=48),
        "quoted": StepLimit(hours=7 * 24, action="remind"),
        "diagnosed": StepLimit(hours=72),
        "waiting_for_parts": StepLimit(hours=90 * 24, action="parts_wait_exceeded"),
    },
    "complaint": {
        "received": StepLimit(hours=24),
        "investigating": StepLimit(hours=7 * 24),
    },
}
"""Time limits per workflow and state. A refund's limit comes from its policy's due date
when there is one (China's 三包 parts wait is 90 days; refunds are due in 7 or 14)."""


Policy = PolicySet | PolicyBook
"""What decides a claim: a shop's :class:`~aftersales.policies.PolicySet`, a versioned
:class:`~aftersales.policies.PolicyBook`, or None for the statutory presets."""


@runtime_checkable
class Inventory(Protocol):
    """Stock for exchanges: reserve units of a SKU, or say there are none."""

    def reserve(self, sku: str, quantity: int) -> bool:
        """Reserve ``quantity`` units of ``sku``; False when there are not enough."""
        ...


class MemoryInventory:
    """Stock counts in a dict; the default inventory (everything out of stock)."""

    def __init__(self, stock: Mapping[str, int] | None = None) -> None:
        self.stock: dict[str, int] = dict(stock or {})

    def reserve(self, sku: str, quantity: int) -> bool:
        if self.stock.get(sku, 0) < quantity:
            return False
        self.stock[sku] -= quantity
        return True


class ClaimLine(Record):
    """One order line of a claim: the facts the policy decides on (the claim's quantity is
    the number of units claimed, the order's quantity the number bought)."""

    line_id: Identifier
    facts: Facts
    sku: Identifier | None = None


@attrs.frozen
class DueCase:
    """What :meth:`CaseDesk.run_due` did with an overdue step: the trigger it fired, or
    ``"step_overdue"`` when the step is only reported."""

    case_id: str
    kind: CaseKind
    state: str
    action: str


_WORKFLOWS: dict[CaseKind, Workflow] = {
    CaseKind.RETURN: RETURN_WORKFLOW,
    CaseKind.EXCHANGE: EXCHANGE_WORKFLOW,
    CaseKind.REFUND: REFUND_WORKFLOW,
    CaseKind.REPAIR: REPAIR_WORKFLOW,
    CaseKind.COMPLAINT: COMPLAINT_WORKFLOW,
}
_GOODS_KINDS = (CaseKind.RETURN, CaseKind.EXCHANGE)
_OPENS_REFUND = frozenset({(CaseKind.RETURN, "refund"), (CaseKind.EXCHANGE, "out_of_stock")})
"""Transitions that open the linked refund case in their own transaction."""
_OPENS_EXCHANGE = frozenset({(CaseKind.RETURN, "exchange")})
"""Transitions that open the linked exchange case (the replacement's shipping)."""
_OPENS_RETURN = frozenset({(CaseKind.REPAIR, "choose_refund")})
"""Transitions that open the linked return case (a repair's goods back for a refund)."""
_WAITING_ON_CHILD = frozenset({"refunded", "exchanged", "refunding"})
"""States in which a case waits for the case it opened to finish, then closes."""
_NOT_RETURNED = frozenset({"refused", "cancelled"})


def _returnable(claimed: Sequence[CaseLine]) -> Callable[[Sequence[Case]], None]:
    """The order check of a new return or exchange: no line is returned beyond what was
    bought minus what the order's earlier cases already took back."""

    def check(stored: Sequence[Case]) -> None:
        # An exchange opened by a return ships the replacement of units that return took.
        earlier = [
            c
            for c in stored
            if c.kind in _GOODS_KINDS
            and c.status not in _NOT_RETURNED
            and not (c.kind is CaseKind.EXCHANGE and c.parent_id is not None)
        ]
        for index, line in enumerate(claimed):
            bought = line.bought
            taken = sum(
                case_line.quantity
                for case in earlier
                for case_line in case.lines
                if case_line.line_id == line.line_id
            )
            wanted = line.quantity
            if taken + wanted > bought:
                raise _bad(
                    "return",
                    ("lines", index, "facts", "claim", "quantity"),
                    f"{wanted} units claimed but only {bought - taken} of the {bought} bought "
                    f"on line {line.line_id} are left to return",
                )

    return check


def _paid_for(line: CaseLine) -> Decimal:
    """What the customer paid for an order line, by the order facts kept with it: every
    unit bought and, where the facts say so, its delivery; never less than the refund its
    policy decision grants (an EU withdrawal refunds the standard delivery too)."""
    facts = line.facts
    if facts is None:
        paid = line.paid
    else:
        order = facts.order
        paid = order.unit_price.amount * order.quantity
        if order.shipping_paid is not None:
            paid += order.shipping_paid.amount
    decision = line.decision
    if decision is not None and decision.refund is not None and decision.refund.net > paid:
        paid = decision.refund.net
    return paid


def _refundable(
    lines: Sequence[CaseLine],
    allocation: Mapping[str, Decimal],
    limits: Mapping[str, Decimal] | None = None,
) -> Callable[[Sequence[Case]], None]:
    """The order check of a new refund: no line is refunded beyond what was paid for it,
    counting the order's earlier refunds that were not cancelled.

    What was paid comes from ``limits`` (the order facts and decisions of the case the
    refund pays) or, for a refund of its own, from the order facts stored with the
    order's cases, never from the refund's request: a request whose price or quantity
    disagrees with them is refused. Only a line the store knows nothing about yet is
    limited by the request's own figures, which then stay with it."""

    def check(stored: Sequence[Case]) -> None:
        refunded: dict[str, Decimal] = {}
        for case in stored:
            if case.kind is CaseKind.REFUND and case.status != "cancelled" and case.refund:
                for line_id, amount in case.refund.allocation.items():
                    refunded[line_id] = refunded.get(line_id, Decimal(0)) + amount
        known = _stored_lines(stored) if limits is None else {}
        for index, line in enumerate(lines):
            if limits is not None:
                paid = limits.get(line.line_id, line.paid)
            else:
                on_record = known.get(line.line_id)
                paid = line.paid if on_record is None else _agrees(line, on_record, index)
            already = refunded.get(line.line_id, Decimal(0))
            wanted = allocation.get(line.line_id, Decimal(0))
            if already + wanted > paid:
                raise _bad(
                    "refund",
                    ("lines", index, "line_id"),
                    f"refunding {wanted} on line {line.line_id} would make "
                    f"{already + wanted}, more than the {paid} paid "
                    f"({already} refunded before)",
                )

    return check


def _stored_lines(stored: Sequence[Case]) -> dict[str, CaseLine]:
    """Per order line, the stored line that says best what was paid: the first one with
    order facts, else the first one stored."""
    found: dict[str, CaseLine] = {}
    for case in stored:
        for line in case.lines:
            earlier = found.get(line.line_id)
            if earlier is None or (earlier.facts is None and line.facts is not None):
                found[line.line_id] = line
    return found


def _agrees(line: CaseLine, on_record: CaseLine, index: int) -> Decimal:
    """What was paid for ``line`` by the stored record of its order line; a request that
    says otherwise about the price or the units bought is refused."""
    facts = on_record.facts
    price = facts.order.unit_price if facts is not None else on_record.unit_price
    bought = facts.order.quantity if facts is not None else on_record.bought
    if line.unit_price != price:
        raise _bad(
            "refund",
            ("lines", index, "unit_price"),
            f"line {line.line_id} was sold at {price.amount} {price.currency} a unit, "
            f"not {line.unit_price.amount} {line.unit_price.currency}",
        )
    if line.bought != bought:
        raise _bad(
            "refund",
            ("lines", index, "bought"),
            f"{bought} units were bought on line {line.line_id}, not {line.bought}",
        )
    return _paid_for(on_record)


def _bad(subject: str, location: tuple[str | int, ...], message: str) -> InvalidInput:
    return InvalidInput(subject, [FieldError(location, message)])


_IDENTIFIER: TypeAdapter[str] = TypeAdapter(Identifier)


def _check_text(name: str, value: object) -> str:
    """``value`` if it is an identifier (an id, an actor, a trigger): a str of 1 to 128
    characters of valid Unicode without control characters; otherwise InvalidInput."""
    if type(value) is str and 0 < len(value) <= 128 and value.isprintable():
        return value  # the common case, without pydantic
    if not isinstance(value, str):
        raise _bad(name, (name,), "must be a string of 1 to 128 characters")
    try:
        return _IDENTIFIER.validate_python(value)
    except ValidationError as error:
        raise invalid_input(name, error) from None


def _creation_event(case: Case, actor: str) -> Event:
    return trusted(
        Event,
        {
            "subject_id": case.id,
            "subject_kind": case.kind.value,
            "sequence": 1,
            "trigger": OPENED,
            "from_state": None,
            "to_state": case.status,
            "actor": actor,
            "at": case.created_at,
            "payload": {},
            "changes": case.model_dump(mode="json", exclude_none=True),
        },
    )


LINE_CHANGES = "line_changes"
"""The key of an event's ``changes`` that holds what changed on some of the case's lines,
by line id (``{"l1": {"received": 2}}``): a step that counts units records those counts,
not every line again with its facts and decision."""


def fold_case(events: Sequence[Event]) -> Case:
    """Rebuild a case from its events by applying each event's ``changes`` in order (and
    the per-line changes under :data:`LINE_CHANGES` to the lines they name)."""
    if not any(LINE_CHANGES in event.changes for event in events):
        return fold(events, Case)
    data: dict[str, Any] = {}
    for event in events:
        changes = dict(event.changes)
        patches = changes.pop(LINE_CHANGES, None)
        data.update(changes)
        if isinstance(patches, Mapping):
            data["lines"] = [
                {**line, **patches.get(line.get("line_id"), {})} for line in data.get("lines", [])
            ]
    return parse(Case, data, "case events")


def _terms_changed(before: Case, after: Case) -> bool:
    """Whether a step gave any line other facts or another decision (records are frozen,
    so the same objects mean the same terms)."""
    if len(before.lines) != len(after.lines):
        return True
    return any(
        old.facts is not new.facts or old.decision is not new.decision
        for old, new in zip(before.lines, after.lines, strict=True)
    )


def _line_changes(before: Sequence[CaseLine], after: Sequence[CaseLine]) -> dict[str, Any] | None:
    """What changed on each line, field by field; None when lines were added, removed or
    reordered (the event then records every line)."""
    if len(before) != len(after) or any(
        old.line_id != new.line_id for old, new in zip(before, after, strict=True)
    ):
        return None
    patches: dict[str, Any] = {}
    for old, new in zip(before, after, strict=True):
        if old is new:
            continue
        changed = {
            name: json_value(value)
            for name in _LINE_FIELDS
            if (value := getattr(new, name)) is not (previous := getattr(old, name))
            and value != previous
        }
        if changed:
            patches[new.line_id] = changed
    return patches


_LINE_FIELDS = tuple(CaseLine.model_fields)


def _split(amount: Decimal, weights: Mapping[str, Decimal]) -> dict[str, Decimal]:
    """``amount`` split in proportion to ``weights``, in cents that add up to it exactly
    (the largest share absorbs the rounding)."""
    total = sum(weights.values(), Decimal(0))
    if not weights or total <= 0:
        return {}
    shares = {
        name: (amount * weight / total).quantize(_CENT, ROUND_HALF_UP)
        for name, weight in weights.items()
    }
    largest = max(shares, key=lambda name: shares[name])
    shares[largest] += amount - sum(shares.values(), Decimal(0))
    return shares


def _end_of(day: date, zone: tzinfo) -> datetime:
    """The last instant of ``day`` where the desk is, in UTC."""
    return datetime.combine(day, time.max, tzinfo=zone).astimezone(timezone.utc)


class CaseDesk:
    """The after-sales cases of one :class:`~aftersales.Desk` (``desk.cases``).

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
    ) -> None:
        self.desk = desk
        self.policy = policy
        self.inventory: Inventory = MemoryInventory() if inventory is None else inventory
        limits = {k: dict(v) for k, v in DEFAULT_STEP_LIMITS.items()}
        for workflow, states in (step_limits or {}).items():
            if not isinstance(states, Mapping):
                raise _bad("step limits", (workflow,), "must map states to limits")
            known = {w.name: w for w in _WORKFLOWS.values()}
            if workflow not in known:
                raise _bad("step limits", (workflow,), f"unknown workflow; known: {sorted(known)}")
            for state, limit in states.items():
                try:
                    known[workflow].state(state)
                except InvalidWorkflow:
                    raise _bad("step limits", (workflow, state), "unknown state") from None
                limits.setdefault(workflow, {})[state] = parse(StepLimit, limit, "step limit")
        self.step_limits = limits
        self.max_lines: int = desk.settings.max_case_lines
        """The most order lines one case may hold (a longer request is bad input)."""
        self._recent: dict[str, Case] = {}
        self._empty_recorded: dict[tuple[CaseKind, str], dict[str, Any]] = {}

    # ------------------------------------------------------------------ reading

    def get(self, case_id: str) -> Case:
        """The case with this id; raises :class:`~aftersales.CaseNotFound`."""
        return self.desk.store.get_case(_check_text("case_id", case_id))

    def find(self, query: CaseQuery | None = None, /, **filters: Any) -> list[Case]:
        """Cases matching the filters of :class:`~aftersales.storage.CaseQuery`."""
        if query is None:
            query = parse(CaseQuery, filters, "case query")
        elif not isinstance(query, CaseQuery) or filters:
            raise _bad(
                "case query", ("query",), "must be a CaseQuery, or filters as keywords (not both)"
            )
        return self.desk.store.find_cases(query)

    def for_ticket(self, ticket_id: str) -> list[Case]:
        """The cases a ticket carries, oldest first: how a ticket shows its cases' states."""
        return self.find(ticket_id=ticket_id)

    def history(self, case_id: str) -> list[Event]:
        """The case's events, oldest first."""
        self.get(case_id)
        return self.desk.store.events(case_id)

    def replay(self, case_id: str) -> Case:
        """Rebuild a case from its events alone; equals :meth:`get` for a sound store."""
        return fold_case(self.history(case_id))

    def repair_history(self, serial: str) -> list[RepairRecord]:
        """Every repair of the product with this serial number, oldest first."""
        return [r for case in self.find(serial=serial) if case.repair for r in case.repair.records]

    # ------------------------------------------------------------------ policy

    def _decide(self, facts: Facts) -> Decision:
        if self.policy is None:
            return decide(facts)
        return self.policy.evaluate(facts)

    # ------------------------------------------------------------------ opening

    def _ticket(self, ticket_id: str) -> Any:
        _check_text("ticket_id", ticket_id)
        return self.desk._recent.get(ticket_id) or self.desk.get(ticket_id)

    def _new(
        self, kind: CaseKind, ticket: Any, actor: str, **fields: Any
    ) -> tuple[Case, CaseChange]:
        _check_text("actor", actor)
        workflow = _WORKFLOWS[kind]
        now = self.desk._now()
        values: dict[str, Any] = {
            "id": new_id(),  # a linked refund passes the id its parent already names
            "kind": kind,
            "workflow": workflow.name,
            "status": workflow.initial,
            "status_category": workflow.category_of(workflow.initial),
            "version": 1,
            "ticket_id": ticket.id,
            "customer_id": ticket.customer_id,
            "created_at": now,
            "updated_at": now,
            **fields,
        }
        case = parse(Case, values, f"{kind.value} case")
        case = trusted(Case, {**case.__dict__, **self._step(case, now)})
        return case, CaseChange(case, 0, (_creation_event(case, actor),))

    def _lines(self, lines: object, subject: str) -> list[Any]:
        """The order lines of a new case, as a list of at most :attr:`max_lines`; anything
        that is not a sequence (or iterator) of lines is bad input."""
        if (
            lines is None
            or isinstance(lines, (str, bytes, bytearray, Mapping))
            or not (isinstance(lines, Iterable))
        ):
            raise _bad(subject, ("lines",), "must be a list of order lines")
        bounded = list(islice(lines, self.max_lines + 1))
        if len(bounded) > self.max_lines:
            raise _bad(
                subject,
                ("lines",),
                f"a case holds at most {self.max_lines} order lines (CaseDesk.max_lines)",
            )
        return bounded

    def _claim_lines(
        self, lines: Iterable[ClaimLine | Mapping[str, Any]], kinds: Sequence[ClaimKind]
    ) -> list[tuple[ClaimLine, Decision]]:
        parsed = [parse(ClaimLine, line, "claim line") for line in self._lines(lines, "claim")]
        if not parsed:
            raise _bad("claim", ("lines",), "at least one order line is needed")
        seen: set[str] = set()
        for index, line in enumerate(parsed):
            if line.line_id in seen:
                raise _bad("claim", ("lines", index, "line_id"), "appears twice")
            seen.add(line.line_id)
            if line.facts.claim.kind not in kinds:
                raise _bad(
                    "claim",
                    ("lines", index, "facts", "claim", "kind"),
                    f"must be one of {[k.value for k in kinds]}",
                )
        return [(line, self._decide(line.facts)) for line in parsed]

    @staticmethod
    def _case_line(line: ClaimLine, decision: Decision) -> CaseLine:
        return CaseLine(
            line_id=line.line_id,
            sku=line.sku or line.facts.product.sku,
            quantity=line.facts.claim.quantity,
            bought=line.facts.order.quantity,
            unit_price=line.facts.order.unit_price,
            facts=line.facts,
            decision=decision,
        )

    def request_return(
        self,
        ticket_id: str,
        *,
        order_id: str,
        lines: Iterable[ClaimLine | Mapping[str, Any]],
        actor: str = "system",
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
        return self._request_goods(
            CaseKind.RETURN, ticket_id, order_id, lines, actor, decide_now, instructions
        )

    def request_exchange(
        self,
        ticket_id: str,
        *,
        order_id: str,
        line: ClaimLine | Mapping[str, Any],
        replacement_sku: str,
        actor: str = "system",
        decide_now: bool = True,
        instructions: Mapping[str, Any] | None = None,
    ) -> Case:
        """Open an exchange of one order line's units for ``replacement_sku`` (decided and
        instructed as :meth:`request_return` does)."""
        exchange = parse(ExchangeDetails, {"replacement_sku": replacement_sku}, "exchange")
        return self._request_goods(
            CaseKind.EXCHANGE,
            ticket_id,
            order_id,
            [line],
            actor,
            decide_now,
            instructions,
            exchange=exchange,
        )

    def _request_goods(
        self,
        kind: CaseKind,
        ticket_id: str,
        order_id: str,
        lines: Iterable[ClaimLine | Mapping[str, Any]],
        actor: str,
        decide_now: bool,
        instructions: Mapping[str, Any] | None,
        **fields: Any,
    ) -> Case:
        if instructions is not None and not decide_now:
            raise _bad("return", ("instructions",), "go out with a decision: needs decide_now")
        _check_text("order_id", order_id)
        ticket = self._ticket(ticket_id)
        kinds = (
            (
                ClaimKind.NO_REASON_RETURN,
                ClaimKind.QUALITY_RETURN,
                ClaimKind.LEGAL_GUARANTEE,
                ClaimKind.FINAL_REJECTION,
            )
            if kind is CaseKind.RETURN
            else (ClaimKind.EXCHANGE, ClaimKind.QUALITY_RETURN, ClaimKind.NO_REASON_RETURN)
        )
        decided = self._claim_lines(lines, kinds)
        case, change = self._new(
            kind,
            ticket,
            actor,
            order_id=order_id,
            lines=tuple(self._case_line(line, decision) for line, decision in decided),
            **fields,
        )
        # checked by the store inside the transaction: no other writer gets in between
        change.order_check = _returnable(case.lines)
        change.order_check_kinds = _GOODS_KINDS
        if not decide_now:
            self._commit([change])
            return case
        # The decision is made now: creation and approval (or refusal) commit together.
        if not all(d.allowed for _, d in decided):
            return self._transition(case, "refuse", actor, None, created=change)
        now = change.case.updated_at
        approved = self._decided(case, "approve", actor, None, now, created=change)
        if instructions is None:
            self._commit([approved])
            return approved.case
        instructed = self._decided(
            approved.case, "send_instructions", actor, instructions, now, created=approved
        )
        self._commit([instructed])
        return instructed.case

    def open_refund(
        self,
        ticket_id: str,
        *,
        order_id: str,
        lines: Iterable[CaseLine | Mapping[str, Any]],
        amount: Money | Mapping[str, Any] | None = None,
        method: RefundMethod | str = RefundMethod.ORIGINAL_PAYMENT,
        due_by: date | None = None,
        actor: str = "system",
    ) -> Case:
        """Open a refund of order lines without a return (a goodwill or price refund).

        ``amount`` defaults to the price of the lines' units; it is spread over the lines
        in order, and no line is ever refunded above what was paid for it, counting every
        earlier refund of the order.
        """
        ticket = self._ticket(ticket_id)
        _check_text("order_id", order_id)
        _check_text("actor", actor)
        case_lines = [parse(CaseLine, line, "refund line") for line in self._lines(lines, "refund")]
        if not case_lines:
            raise _bad("refund", ("lines",), "at least one order line is needed")
        currency = case_lines[0].unit_price.currency
        if any(line.unit_price.currency != currency for line in case_lines):
            raise _bad("refund", ("lines",), "lines in more than one currency")
        if amount is None:
            total = sum((line.unit_price.amount * line.quantity for line in case_lines), Decimal(0))
            money = Money(amount=total, currency=currency)
        else:
            money = parse(Money, amount, "refund amount")
        if money.currency != currency:
            raise _bad("refund", ("amount", "currency"), f"must be {currency}, as the lines")
        if money.amount <= 0:
            raise _bad("refund", ("amount", "amount"), "must be more than zero")
        allocation: dict[str, Decimal] = {}
        left = money.amount
        for line in case_lines:
            share = min(left, line.unit_price.amount * line.quantity)
            allocation[line.line_id] = share
            left -= share
        if left > 0:
            raise _bad(
                "refund",
                ("amount", "amount"),
                f"{money.amount} is more than the {money.amount - left} the lines' units cost",
            )
        details = parse(
            RefundDetails,
            {"amount": money, "method": method, "allocation": allocation, "due_by": due_by},
            "refund",
        )
        case, change = self._new(
            CaseKind.REFUND,
            ticket,
            actor,
            order_id=order_id,
            lines=tuple(case_lines),
            refund=details,
        )
        change.order_check = _refundable(case_lines, allocation)
        change.order_check_kinds = ()  # the order facts may be on any case of the order
        self._commit([change])
        return case

    def open_repair(
        self,
        ticket_id: str,
        *,
        serial: str,
        line: ClaimLine | Mapping[str, Any],
        order_id: str | None = None,
        site: RepairSite | str = RepairSite.DEPOT,
        actor: str = "system",
        assess: bool = True,
    ) -> Case:
        """Open a warranty repair of the product with ``serial``; with ``assess`` the
        policy decides at once (see :meth:`assess_repair`), and the case is stored with
        that decision in one transaction: a claim the policy cannot decide (no version in
        force, facts it refuses) raises and stores nothing."""
        ticket = self._ticket(ticket_id)
        claim = parse(ClaimLine, line, "claim line")
        repair = parse(RepairDetails, {"serial": serial, "site": site}, "repair")
        case, change = self._new(
            CaseKind.REPAIR,
            ticket,
            actor,
            order_id=order_id,
            repair=repair,
            lines=(
                CaseLine(
                    line_id=claim.line_id,
                    sku=claim.sku or claim.facts.product.sku,
                    quantity=claim.facts.claim.quantity,
                    bought=claim.facts.order.quantity,
                    unit_price=claim.facts.order.unit_price,
                    facts=claim.facts,
                ),
            ),
        )
        if not assess:
            self._commit([change])
            return case
        return self._assess(case, actor, created=change)

    def assess_repair(self, case_id: str, *, actor: str = "system") -> Case:
        """Ask the policy about a claimed repair, with every earlier repair of the serial
        number, and act on the answer: offer a replacement or a refund when the decision
        gives those instead of another repair (failed repairs, a long parts wait, China's
        car rules), accept the claim inside the warranty, or leave it claimed with the
        decision kept so the shop can ``quote`` a paid repair."""
        _check_text("actor", actor)
        case = self.get(case_id)
        if case.kind is not CaseKind.REPAIR or not case.lines or case.lines[0].facts is None:
            raise _bad("repair", ("case_id",), "is not a repair case with facts")
        if case.status != "claimed":
            raise _bad("repair", ("case_id",), f"is {case.status}, not claimed")
        return self._assess(case, actor)

    def _assess(self, case: Case, actor: str, created: CaseChange | None = None) -> Case:
        facts = case.lines[0].facts
        assert facts is not None
        decision = self._decide(self._facts_now(facts, self.repair_history(case.serial or "")))
        if offers_instead_of_repair(decision):
            trigger = "offer_replacement"
        elif decision.allowed:
            trigger = "accept_claim"
        else:  # outside the warranty: keep the decision; the shop may quote a paid repair
            first = case.lines[0].model_copy(update={"decision": decision})
            repair = case.repair.model_copy(update={"in_warranty": False}) if case.repair else None
            updates = {"lines": (first, *case.lines[1:]), "repair": repair}
            now = case.updated_at if created is not None else self.desk._now()
            change = self._change(case, ASSESSED, actor, now, updates, {}, created=created)
            self._commit([change])
            return change.case
        return self._transition(case, trigger, actor, None, decision, created=created)

    def _facts_now(self, facts: Facts, repairs: Sequence[RepairRecord]) -> Facts:
        now = self.desk._now()
        claim = facts.claim.model_copy(update={"at": max(now, facts.claim.at)})
        return facts.model_copy(update={"claim": claim, "repairs": tuple(repairs)})

    def open_complaint(
        self,
        ticket_id: str,
        *,
        summary: str,
        severity: Severity | str = Severity.MEDIUM,
        order_id: str | None = None,
        actor: str = "system",
    ) -> Case:
        """Record a complaint; its acknowledgement time limit starts now."""
        ticket = self._ticket(ticket_id)
        complaint = parse(ComplaintDetails, {"summary": summary, "severity": severity}, "complaint")
        case, change = self._new(
            CaseKind.COMPLAINT, ticket, actor, order_id=order_id, complaint=complaint
        )
        self._commit([change])
        return case

    # ------------------------------------------------------------------ firing

    def fire(
        self,
        case_id: str,
        trigger: str,
        *,
        actor: str = "system",
        payload: Mapping[str, Any] | None = None,
        expected_version: int | None = None,
    ) -> Case:
        """Fire ``trigger`` on a case and return it after the transition.

        Refusals name the case, the trigger, the state and the allowed triggers; a policy
        refusal carries the policy's reason codes and messages in English and Chinese.
        ``refund`` on a return and ``out_of_stock`` on an exchange open the linked refund
        case in the same transaction; a refund that succeeds closes the case it pays.
        ``exchange`` on a return opens the linked exchange case, whose ``deliver`` closes
        the return.
        """
        _check_text("trigger", trigger)
        _check_text("actor", actor)
        if expected_version is not None and (
            isinstance(expected_version, bool)
            or not isinstance(expected_version, int)
            or not 0 <= expected_version <= _MAX_VERSION
        ):
            raise _bad(
                "case", ("expected_version",), "must be a version number (an int, 0 or more)"
            )
        return fire_with_retries(
            case_id,
            recent=self._recent,
            read=self.get,
            transition=lambda case: self._transition(case, trigger, actor, payload),
            expected_version=expected_version,
            attempts=_ATTEMPTS,
        )

    def reserve_replacement(self, case_id: str, *, actor: str = "system") -> Case:
        """Reserve an exchange's replacement from the inventory; when it is out of stock
        the exchange falls back to a refund."""
        _check_text("actor", actor)
        case = self.get(case_id)
        if case.kind is not CaseKind.EXCHANGE or case.exchange is None:
            raise _bad("exchange", ("case_id",), "is not an exchange")
        units = sum(line.refundable_units for line in case.lines)
        trigger = "out_of_stock"
        if (
            case.status == "inspected"
            and units
            and self.inventory.reserve(case.exchange.replacement_sku, units)
        ):
            trigger = "reserve"
        return self._transition(case, trigger, actor, None)

    def _transition(
        self,
        case: Case,
        trigger: str,
        actor: str,
        payload: Mapping[str, Any] | None,
        decision: Decision | None = None,
        now: datetime | None = None,
        created: CaseChange | None = None,
    ) -> Case:
        now = self.desk._now() if now is None else now
        linked = None
        if (case.kind, trigger) in _OPENS_REFUND:
            linked = {"refund_case_id": new_id()}
        elif (case.kind, trigger) in _OPENS_EXCHANGE:
            linked = {"exchange_case_id": new_id()}
        elif (case.kind, trigger) in _OPENS_RETURN:
            linked = {"return_case_id": new_id()}
        change = self._decided(case, trigger, actor, payload, now, decision, created, linked)
        method = None
        if linked is not None and "refund_case_id" in linked:
            asked = change.events[-1].payload.get("method")
            method = None if asked is None else RefundMethod(asked)
        changes = [change, *self._follow_ups(change.case, trigger, actor, now, method)]
        self._commit(changes)
        return change.case

    def _decided(
        self,
        case: Case,
        trigger: str,
        actor: str,
        payload: Mapping[str, Any] | None,
        now: datetime,
        decision: Decision | None = None,
        created: CaseChange | None = None,
        linked: dict[str, str] | None = None,
    ) -> CaseChange:
        """What firing ``trigger`` writes: decided by the workflow, not yet committed
        (with the id of the refund or exchange case the transition opens, if it opens one:
        ``{"refund_case_id": id}``)."""
        _check_text("actor", actor)
        _check_text("trigger", trigger)
        if payload is not None and not isinstance(payload, Mapping):
            raise _bad("payload", ("payload",), "must be a mapping")
        workflow = _WORKFLOWS[case.kind]
        parsed = workflow.parse_payload(trigger, payload)
        move = workflow.decide(
            TransitionContext(
                subject=case,
                subject_id=case.id,
                state=case.status,
                trigger=trigger,
                payload=parsed,
                actor=actor,
                now=now,
                settings=self._environment(case, trigger, decision),
                label=f"{case.kind.value} case {case.id}",
            )
        )
        updates = dict(move.updates)
        updates["status"] = move.dest
        updates["status_category"] = move.category
        if move.category is StatusCategory.CLOSED:
            updates["closed_at"] = now
        if linked is not None:
            updates.update(linked)
        recorded = (
            {}
            if parsed is None
            else recorded_payload(parsed, bool(payload), self._empty_recorded, (case.kind, trigger))
        )
        return self._change(case, trigger, actor, now, updates, recorded, move.dest, created)

    def _environment(self, case: Case, trigger: str, decision: Decision | None) -> CaseEnvironment:
        """What a case transition sees besides its payload: the desk's settings, the
        decision of this step and, to escalate a complaint, the team's supervisor."""
        if case.kind is not CaseKind.COMPLAINT or trigger != "escalate":
            return CaseEnvironment(self.desk.settings, decision)
        router = self.desk.router
        if router is None:
            return CaseEnvironment(self.desk.settings, decision)
        team = self._ticket(case.ticket_id).team or router.config.default_team
        supervisors = tuple(
            t.supervisor for t in router.config.teams if t.id == team and t.supervisor
        )
        return CaseEnvironment(self.desk.settings, decision, supervisors, team)

    def _change(
        self,
        case: Case,
        trigger: str,
        actor: str,
        now: datetime,
        updates: dict[str, Any],
        recorded: dict[str, Any],
        dest: str | None = None,
        created: CaseChange | None = None,
    ) -> CaseChange:
        """The case after ``updates`` and its event (with the creation event when the
        case is new), the step's time limit set when a step is entered."""
        dest = case.status if dest is None else dest
        version = case.version + 1
        updates["updated_at"] = now
        updates["version"] = version
        # The parts are validated (effects build records, the workflow names the state):
        # assemble without validating again, as Desk.fire does for tickets.
        changed = trusted(Case, {**case.__dict__, **updates})
        if dest != case.status or trigger in _RESTARTS:
            step = self._step(changed, now)
            if step["step_due_at"] != changed.step_due_at or step["step_action"] != (
                changed.step_action
            ):
                updates.update(step)
                changed = trusted(Case, {**changed.__dict__, **step})
        patches = _line_changes(case.lines, changed.lines) if "lines" in updates else None
        if patches is None:
            recorded_changes = json_changes(updates)
        else:
            recorded_changes = json_changes({k: v for k, v in updates.items() if k != "lines"})
            if patches:
                recorded_changes[LINE_CHANGES] = patches
        event = trusted(
            Event,
            {
                "subject_id": case.id,
                "subject_kind": case.kind.value,
                "sequence": version,
                "trigger": trigger,
                "from_state": case.status,
                "to_state": dest,
                "actor": actor,
                "at": now,
                "payload": recorded,
                "changes": recorded_changes,
            },
        )
        if created is None:
            return CaseChange(
                changed, case.version, (event,), terms_changed=_terms_changed(case, changed)
            )
        return CaseChange(
            changed,
            0,
            (*created.events, event),
            order_check=created.order_check,
            order_check_kinds=created.order_check_kinds,
        )

    def _step(self, case: Case, now: datetime) -> dict[str, Any]:
        """The time limit of the step ``case`` is in, set when the step is entered."""
        if case.status_category is StatusCategory.CLOSED:
            return {"step_due_at": None, "step_action": None}
        refund = case.refund
        if case.kind is CaseKind.REFUND and refund is not None:
            if refund.late:
                return {"step_due_at": None, "step_action": None}
            if refund.due_by is not None:
                return {
                    "step_due_at": _end_of(refund.due_by, self.desk.settings.zone),
                    "step_action": "mark_late",
                }
        limit = self.step_limits.get(case.workflow, {}).get(case.status)
        if limit is None:
            return {"step_due_at": None, "step_action": None}
        return {
            "step_due_at": now + timedelta(hours=limit.hours),
            "step_action": limit.action,
        }

    # ------------------------------------------------------------------ linked cases

    def _follow_ups(
        self,
        case: Case,
        trigger: str,
        actor: str,
        now: datetime,
        method: RefundMethod | None = None,
    ) -> list[CaseChange]:
        if (case.kind, trigger) in _OPENS_REFUND:
            return [self._refund_for(case, actor, now, method)]
        if (case.kind, trigger) in _OPENS_EXCHANGE:
            return [self._exchange_for(case, actor)]
        if (case.kind, trigger) in _OPENS_RETURN:
            return [self._return_for(case, actor)]
        finished = (case.kind is CaseKind.REFUND and trigger == "succeed") or (
            case.kind is CaseKind.EXCHANGE and trigger == "deliver"
        )
        return self._close_parents(case, actor, now) if finished else []

    def _close_parents(self, case: Case, actor: str, now: datetime) -> list[CaseChange]:
        """Close the cases waiting on ``case`` to finish: the return or exchange a refund
        paid, the return an exchange replaced, and so on up the chain (a return, its
        exchange out of stock, that exchange's refund)."""
        closed: list[CaseChange] = []
        while case.parent_id:
            parent = self._recent.get(case.parent_id) or self.get(case.parent_id)
            if parent.status not in _WAITING_ON_CHILD:
                break
            closed.append(self._decided(parent, "close", actor, None, now))
            case = parent
        return closed

    def _exchange_for(self, case: Case, actor: str) -> CaseChange:
        """The exchange case that ships a return's replacement for the units that passed
        inspection. It starts inspected, as those units are: each line keeps the units
        claimed, with its facts and decision (out of stock, its refund is the decision's
        share for the units replaced), but only the passed units received."""
        lines = [
            line.model_copy(
                update={
                    "received": line.refundable_units,
                    "inspections": tuple(r for r in line.inspections if r.refundable),
                }
            )
            for line in case.lines
            if line.refundable_units
        ]
        _, change = self._new(
            CaseKind.EXCHANGE,
            self._ticket(case.ticket_id),
            actor,
            id=case.exchange_case_id or new_id(),
            status="inspected",
            status_category=_WORKFLOWS[CaseKind.EXCHANGE].category_of("inspected"),
            order_id=case.order_id,
            parent_id=case.id,
            lines=tuple(lines),
            exchange=case.exchange,
        )
        return change

    def _return_for(self, case: Case, actor: str) -> CaseChange:
        """The return that takes a repaired product back for the refund its decision
        offers: approved already (the repair's decision, kept on the line, allows it), with
        the repair's facts and decision, so its refund pays what that decision grants."""
        lines = tuple(
            line.model_copy(update={"received": 0, "received_at": None, "inspections": ()})
            for line in case.lines
        )
        _, change = self._new(
            CaseKind.RETURN,
            self._ticket(case.ticket_id),
            actor,
            id=case.return_case_id or new_id(),
            status="approved",
            status_category=_WORKFLOWS[CaseKind.RETURN].category_of("approved"),
            order_id=case.order_id,
            parent_id=case.id,
            lines=lines,
        )
        change.order_check = _returnable(lines)
        change.order_check_kinds = _GOODS_KINDS
        return change

    def _refund_for(
        self, case: Case, actor: str, now: datetime, method: RefundMethod | None = None
    ) -> CaseChange:
        """The refund case that pays a return's (or a failed exchange's) refunded units, per
        each line's policy decision: its net refund scaled to the units refunded, paid by
        ``method`` (the original payment by default, split as the order was paid)."""
        method = RefundMethod.ORIGINAL_PAYMENT if method is None else method
        split = method is RefundMethod.ORIGINAL_PAYMENT
        lines: list[CaseLine] = []
        allocation: dict[str, Decimal] = {}
        limits: dict[str, Decimal] = {}
        per_method: dict[str, Decimal] = {}
        due: date | None = None
        sanction: date | None = None
        currency = case.lines[0].unit_price.currency
        for line in case.lines:
            units = line.refundable_units
            if not units:
                continue
            decision = line.decision
            breakdown = decision.refund if decision is not None else None
            if breakdown is not None and breakdown.currency == currency:
                share = Decimal(units) / Decimal(line.quantity)
                amount = (breakdown.net * share).quantize(_CENT, ROUND_HALF_UP)
                if split:
                    for name, paid in _split(amount, breakdown.per_method).items():
                        per_method[name] = per_method.get(name, Decimal(0)) + paid
            else:
                amount = line.unit_price.amount * units
            allocation[line.line_id] = amount
            limits[line.line_id] = _paid_for(line)
            # The facts and the decision stay on the case the refund pays (parent_id):
            # copying them would write every policy reason again with each refund step.
            lines.append(
                line.model_copy(
                    update={
                        "quantity": units,
                        "received": 0,
                        "received_at": None,
                        "inspections": (),
                        "facts": None,
                        "decision": None,
                    }
                )
            )
            deadline = decision.refund_deadline if decision is not None else None
            if deadline is not None:
                line_due, line_sanction = self._refund_due(case, line, deadline, now)
                due = line_due if due is None else min(due, line_due)
                if line_sanction is not None:
                    sanction = line_sanction if sanction is None else min(sanction, line_sanction)
        total = sum(allocation.values(), Decimal(0))
        details = RefundDetails(
            amount=Money(amount=total, currency=currency),
            method=method,
            allocation=allocation,
            per_method=per_method,
            due_by=due,
            sanctionable_after=sanction,
        )
        ticket = self._ticket(case.ticket_id)
        _, change = self._new(
            CaseKind.REFUND,
            ticket,
            actor,
            id=case.refund_case_id or new_id(),
            order_id=case.order_id,
            parent_id=case.id,
            lines=tuple(lines),
            refund=details,
        )
        change.order_check = _refundable(lines, allocation, limits)
        change.order_check_kinds = (CaseKind.REFUND,)
        return change

    def _refund_due(
        self, case: Case, line: CaseLine, deadline: RefundDeadline, now: datetime
    ) -> tuple[date, date | None]:
        """A line's refund due date and the day after which a regulator may sanction a late
        refund, counted from the claim or from the day its goods were received (China
        办法 arts. 13 and 31), however long the inspection took."""
        if deadline.counted_from == "claim":
            counted_from = case.created_at
        elif deadline.counted_from == "goods_received":
            counted_from = line.received_at or now
        else:
            counted_from = now
        start = local_date(counted_from, self.desk.settings.zone)
        # One counter, one calendar: the policy's (working days skip the public holidays
        # of the deadline's holiday_country, with its make-up working days).
        due = deadline.due_by or deadline.due_from(start)
        return due, deadline.sanctionable_from(start)

    # ------------------------------------------------------------------ writing

    def _commit(self, changes: list[CaseChange]) -> None:
        desk = self.desk
        now = changes[0].case.updated_at
        if desk._hooks:
            for change in changes:
                change.outbox = desk._hooks.notifications_for(change.events, now, now + desk._lease)
        acks, desk._acks = desk._acks, []
        changes[0].delivered = acks
        try:
            desk.store.commit_cases(changes)
        except BaseException:
            desk._acks = acks + desk._acks
            for change in changes:
                self._recent.pop(change.case.id, None)
            raise
        recent = self._recent
        for change in changes:
            recent[change.case.id] = change.case
        while len(recent) > _RECENT_CASES:
            del recent[next(iter(recent))]
        outbox = [n for change in changes for n in change.outbox]
        if outbox:
            desk._dispatch(outbox, now, report=False)

    # ------------------------------------------------------------------ time step

    def run_due(self, now: datetime, *, limit: int = 1000) -> list[DueCase]:
        """Act on steps whose time limit passed by ``now``: fire the step's action (cancel
        a return whose goods never came, remind about a quote, flag a late refund, offer a
        replacement after the parts wait) or record the step as overdue."""
        now = self.desk._checked_now(now)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
            raise _bad("run_due", ("limit",), f"must be an int from 1 to {MAX_LIMIT:,}")
        done: list[DueCase] = []
        for case in self.desk.store.cases_due(now, limit):
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


_RESTARTS = frozenset({"remind", "receive", "inspect", "mark_late"})
"""Self-transitions that start their step's clock again (a reminder every N days)."""
