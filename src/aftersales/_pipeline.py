"""THE write path for every subject (a ticket or a case of any kind).

Every change goes through the same six steps::

    decide -> event -> change -> commit -> remember -> dispatch

1. **decide**: the subject's workflow decides the transition (or the caller decides a
   non-workflow change such as an SLA warning); nothing is written yet.
2. **event**: :func:`build_event` (defined beside :class:`~aftersales.Event`, re-exported
   here) builds the event that records it. It is the ONE place events are built:
   creation, transition, message, SLA, reminders, case steps.
3. **change**: the caller assembles the subject after the change and its unit of work (a
   :class:`~aftersales.storage.Change` for a ticket, a
   :class:`~aftersales.storage.CaseChange` for a case).
4. **commit**: :meth:`Pipeline.commit` writes state + events + outbox rows + the pending
   acknowledgements in one store transaction, through a :class:`Writer` (the small adapter
   that knows which store method commits that kind of unit).
5. **remember**: the subjects as written go into the writer's :class:`Recent` cache, so the
   next transition skips a read; a failed commit forgets them.
6. **dispatch**: after the commit, the outbox rows are delivered to the hooks
   (:class:`~aftersales.notify._outbox.Outbox`); a failing hook never undoes the commit.

:meth:`Pipeline.fire` wraps a transition in the retries on lost races (a transition
decided on a stale copy is decided again on what is stored), and :func:`fold` replays a
subject from its events.

A subject kind plugs in with a :class:`Writer`::

    class CaseWriter:
        recent = Recent[Case](256)
        def __init__(self, store): self.store = store
        def subject(self, change: CaseChange) -> Case: return change.case
        def commit(self, changes: Sequence[CaseChange]) -> None:
            self.store.commit_cases(changes)

    pipeline.commit(case_writer, [change, *follow_ups])

Private to the package: the desk, the ticket commands and the case desk use it; the
public API is :class:`~aftersales.Desk`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import attrs

from aftersales._validation import parse
from aftersales.clock import Clock
from aftersales.exceptions import (
    ConcurrencyError,
    FieldError,
    InvalidInput,
    PermissionDenied,
    TransitionError,
)
from aftersales.models._base import parse_instant
from aftersales.models.events import Event, build_event
from aftersales.notify._notification import Notification
from aftersales.notify._outbox import Outbox
from aftersales.privacy.audit import Chain

if TYPE_CHECKING:
    from pydantic import BaseModel

    from aftersales.routing.assign import Router
    from aftersales.settings import DeskSettings
    from aftersales.storage import Store

__all__ = [
    "ATTEMPTS",
    "ON_REMEMBERED_COPY",
    "DeskServices",
    "Guard",
    "Pipeline",
    "Recent",
    "Subject",
    "Unit",
    "Writer",
    "build_event",
    "fire_with_retries",
    "fold",
]

ATTEMPTS = 5
"""How often a transition is decided again after losing a race to another writer."""

ON_REMEMBERED_COPY: ContextVar[bool] = ContextVar("aftersales_on_remembered_copy", default=False)
"""True while a transition is decided on a remembered copy, which a refusal sends to a
fresh read: the permission check then logs nothing yet (the fresh decision logs)."""


class Subject(Protocol):
    """What the pipeline needs of a ticket or a case."""

    @property
    def id(self) -> str: ...

    @property
    def version(self) -> int: ...

    @property
    def updated_at(self) -> datetime: ...

    @property
    def audit_chain(self) -> str | None: ...


class Unit(Protocol):
    """A unit of work a store commits (``Change``, ``CaseChange``): its events, and the
    outbox rows and acknowledgements the pipeline adds to it before the commit."""

    events: Sequence[Event]
    outbox: Sequence[Notification]
    delivered: Sequence[str]


SubjectT = TypeVar("SubjectT", bound=Subject)
UnitT = TypeVar("UnitT", bound=Unit)
UnitT_contra = TypeVar("UnitT_contra", bound=Unit, contravariant=True)
ModelT = TypeVar("ModelT", bound="BaseModel")


class Recent(dict[str, SubjectT]):
    """The subjects of one kind as this desk last wrote them, the newest last, at most
    ``size`` of them. A stale copy is harmless: the store's version check refuses the write
    and the transition is decided again on a fresh read."""

    __slots__ = ("size",)

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def remember(self, subject: SubjectT) -> None:
        self[subject.id] = subject
        if len(self) > self.size:
            del self[next(iter(self))]


class Writer(Protocol[UnitT_contra, SubjectT]):
    """The adapter between the pipeline and one kind of unit of work: which subject a unit
    writes, which store method commits a list of them (in one transaction), and where the
    subjects written are remembered."""

    @property
    def recent(self) -> Recent[SubjectT]: ...

    def subject(self, unit: UnitT_contra) -> SubjectT: ...

    def commit(self, units: Sequence[UnitT_contra]) -> None: ...


def fold(
    events: Sequence[Event],
    model: type[ModelT],
    apply: Callable[[dict[str, Any], Mapping[str, Any]], None] | None = None,
) -> ModelT:
    """Rebuild a subject from its events by applying each event's ``changes`` in order
    (with ``apply(data, changes)`` when a kind records some changes its own way)."""
    if not events:
        raise InvalidInput("events", [FieldError(("events",), "no events to replay")])
    data: dict[str, Any] = {}
    for event in events:
        if apply is None:
            data.update(event.changes)
        else:
            apply(data, event.changes)
    data["audit_chain"] = events[-1].chain
    return parse(model, data)


def fire_with_retries(
    subject_id: str,
    *,
    recent: dict[str, SubjectT],
    read: Callable[[str], SubjectT],
    transition: Callable[..., SubjectT],
    expected_version: int | None,
    attempts: int = ATTEMPTS,
    guarded: bool = True,
    args: tuple[Any, ...] = (),
) -> SubjectT:
    """Run ``transition`` on the remembered copy of the subject (or a fresh read).

    Without ``expected_version``, a transition that loses a race to another writer is
    decided again on what is stored now, up to ``attempts`` times, as if the calls had run
    one after the other; with it, the caller asked to fail and ``ConcurrencyError`` is
    raised. A refusal decided on a remembered copy is decided again on a fresh read,
    because the copy may be stale.

    ``transition`` is called with the subject and ``args`` (a caller passes them rather
    than a closure over them, made on every call).

    ``guarded=False`` (a desk without a permission guard, the only reader of
    :data:`ON_REMEMBERED_COPY`) leaves the variable as it is: setting and resetting it
    cost 2,300 instructions a call.
    """
    for attempt in range(attempts):
        cached = recent.get(subject_id) if isinstance(subject_id, str) else None
        subject = read(subject_id) if cached is None else cached
        if expected_version is not None and subject.version != expected_version:
            if cached is None:
                raise ConcurrencyError(
                    subject.id, expected_version, subject.version, label=_label(subject)
                )
            del recent[subject.id]
            continue
        token = ON_REMEMBERED_COPY.set(cached is not None) if guarded else None
        try:
            return transition(subject, *args)
        except ConcurrencyError:
            if expected_version is not None or attempt == attempts - 1:
                raise
        except (TransitionError, PermissionDenied):
            # a refusal decided on a remembered copy may be the copy's (another desk
            # moved the subject to another team since): decide again on a fresh read
            if cached is None:
                raise
        finally:
            if token is not None:
                ON_REMEMBERED_COPY.reset(token)
        recent.pop(subject.id, None)
    raise AssertionError("unreachable")  # pragma: no cover


def _label(subject: object) -> str | None:
    """How an error names the subject to people: ``ticket #12`` for a numbered ticket."""
    number = getattr(subject, "display_number", None)
    return None if number is None else f"ticket {number}"


class Guard(Protocol):
    """What checks a commit before it is written (the desk's permissions), given the
    subject after the change and the event of the action asked for: raises
    (:class:`~aftersales.PermissionDenied`) to refuse the whole commit; nothing is
    written then."""

    def __call__(self, subject: Subject, events: Sequence[Event]) -> None: ...


class Pipeline:
    """The commit, remember and dispatch steps of one desk, and its checked clock."""

    __slots__ = ("chain", "clock", "guard", "outbox", "store")

    def __init__(
        self, store: Store, outbox: Outbox, clock: Clock, chain: Chain | None = None
    ) -> None:
        self.store = store
        self.outbox = outbox
        self.clock = clock
        self.chain = Chain() if chain is None else chain
        """Seals every committed event into its subject's audit chain."""
        self.guard: Guard | None = None
        """Checks every commit before it is written (see :class:`Guard`)."""
        outbox.now = self.now

    def now(self) -> datetime:
        """The clock's time; a naive datetime from the clock is InvalidInput."""
        now = self.clock.now()
        if now.tzinfo is None:
            raise InvalidInput(
                "clock", [FieldError(("now",), "the clock returned a naive datetime")]
            )
        return now

    def checked_now(self, now: datetime | None) -> datetime:
        """``now`` as an instant (timezone-aware, in the years an Instant allows), the
        clock's time if it is None; otherwise InvalidInput."""
        if now is None:
            return self.now()
        if not isinstance(now, datetime) or now.tzinfo is None:
            raise InvalidInput("now", [FieldError(("now",), "must be a timezone-aware datetime")])
        return parse_instant("now", now)

    def commit(self, writer: Writer[UnitT, SubjectT], units: Sequence[UnitT]) -> None:
        """Commit ``units`` in one transaction with their outbox rows and the pending
        acknowledgements, remember the subjects written, then deliver the rows.

        If the commit fails, nothing is remembered (the copies may be stale), the
        acknowledgements stay pending and the error propagates.
        """
        outbox = self.outbox
        subject = writer.subject
        guard = self.guard
        if guard is not None:
            # What the caller asked of each subject: the first event of each unit (a merge
            # writes on two tickets). What the workflow and the policies decide as its
            # consequence on the same subject in the same commit (a policy's approval, a
            # resume on a customer's reply) is the library's decision and not checked again.
            for unit in units:
                if unit.events:
                    guard(subject(unit), unit.events[:1])
        seal = self.chain.seal_built
        for unit in units:
            if unit.events:
                written = subject(unit)
                unit.events, head = seal(unit.events, written.audit_chain)
                # The subject after the change was built from the one before it, so it
                # still holds the previous head; it now holds the new one.
                # (into its __dict__: object.__setattr__ walks the type's bases each call;
                # a slotted subject, such as an alert series, has none)
                try:
                    written.__dict__["audit_chain"] = head
                except AttributeError:
                    object.__setattr__(written, "audit_chain", head)
        now = subject(units[0]).updated_at
        rows: list[Notification] = []
        queued: list[Notification] = []
        hooks = outbox.hooks
        deadline = None
        if hooks:
            # the lease and its half-lease deadline run from the clock's time, not from
            # ``now``: ``now`` may be the start of a long pass (run_due takes it once),
            # and a lease counted from it could end while its rows are delivered here
            clock_now = self.clock.now()
            if clock_now.tzinfo is None:
                self.now()  # raises, naming the naive clock
            lease_until = (clock_now if clock_now > now else now) + outbox.lease  # max()
            deadline = outbox.monotonic() + outbox.delivery_window
            for unit in units:
                entries = hooks.notifications_for(unit.events, now, lease_until, subject(unit))
                unit.outbox = entries
                # rows leased to nobody are the worker's (subscriptions not inline)
                for entry in entries:
                    (queued if entry.lease_until is None else rows).append(entry)
        acks = outbox.acks
        if acks:
            outbox.acks = []
            units[0].delivered = acks
        recent = writer.recent
        try:
            writer.commit(units)
        except BaseException:
            outbox.give_back(acks)
            for unit in units:
                recent.pop(subject(unit).id, None)
            raise
        size = recent.size
        for unit in units:
            written = subject(unit)
            recent[written.id] = written
            if len(recent) > size:
                del recent[next(iter(recent))]
        if queued and outbox.queued is not None:
            outbox.queued(queued)
        if rows:
            outbox.dispatch(rows, now, report=False, deadline=deadline)


@attrs.define(eq=False)
class DeskServices:
    """What a desk's parts share (the ticket commands, the SLA tracker, the dispatcher,
    the case desk): depend on this instead of the desk's private attributes."""

    store: Store
    settings: DeskSettings
    pipeline: Pipeline
    router: Router | None
    """The desk's router (its teams and supervisors), if it routes."""
    ticket: Callable[[str], Any]
    """A ticket by id: the copy this desk remembers, else a read."""

    @property
    def clock(self) -> Clock:
        return self.pipeline.clock

    @property
    def outbox(self) -> Outbox:
        return self.pipeline.outbox

    def now(self) -> datetime:
        """The desk's clock, checked (see :meth:`Pipeline.now`)."""
        return self.pipeline.now()

    def checked_now(self, now: datetime | None) -> datetime:
        """See :meth:`Pipeline.checked_now`."""
        return self.pipeline.checked_now(now)
