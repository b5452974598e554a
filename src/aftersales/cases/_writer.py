"""The write path of cases, kind by kind through the registry: decide a transition with
the kind's workflow, build the case and its event, open or close the cases its cascades
name, commit everything in one transaction, remember and dispatch.

Nothing here names a case kind: what differs between kinds is data on their
:class:`~aftersales.cases.CaseKindSpec`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from aftersales._pipeline import Recent, build_event
from aftersales._validation import json_changes, parse, recorded_payload
from aftersales.cases._orders import bad
from aftersales.cases._records import (
    LINE_CHANGES,
    check_text,
    line_changes,
    terms_changed,
)
from aftersales.cases._spec import CaseKindSpec, ClosesParent, Opens, StepLimit
from aftersales.exceptions import InvalidWorkflow
from aftersales.models import StatusCategory
from aftersales.models._base import MAX_YEAR, MIN_YEAR, new_id, trusted
from aftersales.models.case import AnyKind, Case, case_kind
from aftersales.models.events import OPENED
from aftersales.policies.book import PolicyBook, PolicySet
from aftersales.policies.decision import Decision
from aftersales.policies.facts import Facts
from aftersales.policies.presets import decide
from aftersales.storage import CaseChange
from aftersales.workflows import CaseEnvironment

if TYPE_CHECKING:
    from aftersales._pipeline import DeskServices
    from aftersales.desk import Desk

__all__ = ["Policy"]

_RECENT_CASES = 256
"""Cases remembered as last written, to skip a read before the next transition; a stale
copy is caught by the store's version check and decided again on a fresh read."""

Policy = PolicySet | PolicyBook
"""What decides a claim: a shop's :class:`~aftersales.policies.PolicySet`, a versioned
:class:`~aftersales.policies.PolicyBook`, or None for the statutory presets."""


_CASE_DEFAULTS: dict[str, Any] = {
    name: field.default
    for name, field in Case.model_fields.items()
    if not field.is_required() and field.default_factory is None
}
"""The defaults of a Case's optional fields (all but ``id``, whose default is a factory and
which every new case is given), for a case assembled from valid parts."""


class _Store:
    """How the pipeline writes cases: ``commit_cases`` in one transaction, remembered in
    ``recent`` (see :class:`aftersales._pipeline.Writer`)."""

    __slots__ = ("recent", "store")

    def __init__(self, services: DeskServices) -> None:
        self.store = services.store
        self.recent: Recent[Case] = Recent(_RECENT_CASES)

    @staticmethod
    def subject(change: CaseChange) -> Case:
        return change.case

    def commit(self, changes: Sequence[CaseChange]) -> None:
        self.store.commit_cases(list(changes))


class CaseWriter:
    """The registry of case kinds and the write path every kind's cases take (the base of
    :class:`~aftersales.CaseDesk`)."""

    desk: Desk
    services: DeskServices
    policy: Policy | None
    step_limits: dict[str, dict[str, StepLimit]]

    @property
    def max_lines(self) -> int:
        """The most order lines one case may hold (``DeskSettings.max_case_lines``); a
        longer request is bad input."""
        return self.services.settings.max_case_lines

    def _setup(
        self,
        kinds: Iterable[CaseKindSpec],
        step_limits: Mapping[str, Mapping[str, StepLimit | Mapping[str, Any]]] | None,
    ) -> None:
        self._kinds: dict[AnyKind, CaseKindSpec] = {}
        self.step_limits = {}
        for spec in kinds:
            self.register(spec)
        for workflow, states in (step_limits or {}).items():
            if not isinstance(states, Mapping):
                raise bad("step limits", (workflow,), "must map states to limits")
            known = {spec.workflow.name: spec.workflow for spec in self._kinds.values()}
            if workflow not in known:
                raise bad("step limits", (workflow,), f"unknown workflow; known: {sorted(known)}")
            for state, limit in states.items():
                try:
                    known[workflow].state(state)
                except InvalidWorkflow:
                    raise bad("step limits", (workflow, state), "unknown state") from None
                self.step_limits[workflow][state] = parse(StepLimit, limit, "step limit")
        self._store = _Store(self.services)
        self._recent: Recent[Case] = self._store.recent
        self._empty_recorded: dict[tuple[AnyKind, str], dict[str, Any]] = {}

    def register(self, spec: CaseKindSpec) -> None:
        """Add a case kind to this desk (its cases can then be opened, fired and due):
        a kind of its own of the application, or one the library ships beside the
        defaults. Registering a kind again replaces its spec (and its step limits)."""
        if not isinstance(spec, CaseKindSpec):
            raise bad("case kind", ("spec",), "must be a CaseKindSpec")
        self._kinds[spec.kind] = spec
        self.step_limits[spec.workflow.name] = dict(spec.step_limits)

    @property
    def kinds(self) -> dict[str, CaseKindSpec]:
        """The registered case kinds by name."""
        return {spec.name: spec for spec in self._kinds.values()}

    def spec(self, kind: str) -> CaseKindSpec:
        """The registered kind named ``kind``; :class:`~aftersales.InvalidInput` for
        another name."""
        try:
            return self._kinds[case_kind(kind)]
        except (ValueError, KeyError):
            raise bad(
                "case kind", ("kind",), f"unknown case kind {kind!r}; known: {sorted(self.kinds)}"
            ) from None

    # ------------------------------------------------------------------ helpers of openers

    def _decide(self, facts: Facts) -> Decision:
        if self.policy is None:
            return decide(facts)
        return self.policy.evaluate(facts)

    def _ticket(self, ticket_id: str) -> Any:
        return self.services.ticket(check_text("ticket_id", ticket_id))

    def _new(
        self, kind: AnyKind, ticket: Any, actor: str, *, valid: bool = False, **fields: Any
    ) -> tuple[Case, CaseChange]:
        """A new case of ``kind`` on ``ticket``, not yet committed, with its creation event.

        ``valid``: the caller vouches that ``fields`` are valid values of their Case
        fields (records built by their models, checked ids, tuples of lines): the case is
        assembled without validating them again."""
        actor = check_text("actor", actor)
        workflow = self._kinds[kind].workflow
        now = self.services.now()
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
        if valid and now.tzinfo is timezone.utc and MIN_YEAR <= now.year <= MAX_YEAR:
            # The ticket's ids are stored (valid), the rest is the workflow's or vouched
            # for, and ``now`` is already the Instant validation would make of it (a clock
            # in another zone or out of range takes the validating path and its errors).
            case = trusted(Case, {**_CASE_DEFAULTS, **values})
        else:
            case = parse(Case, values, f"{kind.value} case")
        case = trusted(Case, {**case.__dict__, **self._step(case, now)})
        created = build_event(
            case.id,
            kind.value,
            1,
            OPENED,
            None,
            case.status,
            actor,
            now,
            {},
            case.model_dump(mode="json", exclude_none=True),
        )
        return case, CaseChange(case, 0, (created,))

    # ------------------------------------------------------------------ transitions

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
        """Fire ``trigger`` on ``case`` and commit it with the cases its cascade opens or
        closes."""
        now = self.services.now() if now is None else now
        cascade = self._kinds[case.kind].cascades.get(trigger)
        linked = None
        if isinstance(cascade, Opens) and cascade.link is not None:
            linked = {cascade.link: new_id()}  # the new case takes this id
        change = self._decided(case, trigger, actor, payload, now, decision, created, linked)
        if isinstance(cascade, Opens):
            changes = [change, cascade.build(self, change.case, actor, now, change)]
        elif isinstance(cascade, ClosesParent):
            changes = [change, *self._close_parents(change.case, actor, now)]
        else:
            changes = [change]
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
        (with the id of the case the transition opens, if its link field names it:
        ``{"refund_case_id": id}``)."""
        actor = check_text("actor", actor)
        check_text("trigger", trigger)
        if payload is not None and not isinstance(payload, Mapping):
            raise bad("payload", ("payload",), "must be a mapping")
        spec = self._kinds[case.kind]
        workflow = spec.workflow
        parsed = workflow.parse_payload(trigger, payload)
        environment = (
            CaseEnvironment(self.services.settings, decision)
            if spec.environment is None
            else spec.environment(self, case, trigger, decision)
        )
        move = workflow.decide_for(
            case,
            trigger,
            payload=parsed,
            actor=actor,
            now=now,
            settings=environment,
            label=f"{spec.name} case {case.id}",
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
        if dest != case.status or trigger in self._kinds[case.kind].restarts:
            step = self._step(changed, now)
            if step["step_due_at"] != changed.step_due_at or step["step_action"] != (
                changed.step_action
            ):
                updates.update(step)
                changed = trusted(Case, {**changed.__dict__, **step})
        patches = line_changes(case.lines, changed.lines) if "lines" in updates else None
        if patches is None:
            recorded_changes = json_changes(updates)
        else:
            recorded_changes = json_changes({k: v for k, v in updates.items() if k != "lines"})
            if patches:
                recorded_changes[LINE_CHANGES] = patches
        event = build_event(
            case.id,
            case.kind.value,
            version,
            trigger,
            case.status,
            dest,
            actor,
            now,
            recorded,
            recorded_changes,
        )
        if created is None:
            return CaseChange(
                changed, case.version, (event,), terms_changed=terms_changed(case, changed)
            )
        return CaseChange(
            changed,
            0,
            (*created.events, event),
            order_check=created.order_check,
            order_check_kinds=created.order_check_kinds,
        )

    def _step(self, case: Case, now: datetime) -> dict[str, Any]:
        """The time limit of the step ``case`` is in, set when the step is entered: the
        kind's own (a refund's due date) or the configured limit of the state."""
        if case.status_category is StatusCategory.CLOSED:
            return {"step_due_at": None, "step_action": None}
        hook = self._kinds[case.kind].step
        if hook is not None:
            own = hook(self, case, now)
            if own is not None:
                return own
        limit = self.step_limits.get(case.workflow, {}).get(case.status)
        if limit is None:
            return {"step_due_at": None, "step_action": None}
        return {
            "step_due_at": now + timedelta(hours=limit.hours),
            "step_action": limit.action,
        }

    def _close_parents(self, case: Case, actor: str, now: datetime) -> list[CaseChange]:
        """Close the cases waiting on ``case`` to finish: the return or exchange a refund
        paid, the return an exchange replaced, and so on up the chain (a return, its
        exchange out of stock, that exchange's refund)."""
        closed: list[CaseChange] = []
        while case.parent_id:
            parent = self._recent.get(case.parent_id) or self.services.store.get_case(
                case.parent_id
            )
            spec = self._kinds.get(parent.kind)
            if spec is None or parent.status not in spec.waiting:
                break
            closed.append(self._decided(parent, "close", actor, None, now))
            case = parent
        return closed

    # ------------------------------------------------------------------ writing

    def _commit(self, changes: Sequence[CaseChange]) -> None:
        """Commit the changes in one transaction, remember and dispatch (the pipeline)."""
        self.services.pipeline.commit(self._store, changes)
