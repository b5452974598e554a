"""Desk-wide settings, validated."""

from __future__ import annotations

from datetime import timedelta
from enum import Enum
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr, field_validator, model_validator
from typing_extensions import Self

from aftersales.exceptions import InvalidInput
from aftersales.models._base import Identifier, Record
from aftersales.models.ticket import PRIORITY_FOR_SEVERITY, Priority, Severity
from aftersales.policies.dates import zone
from aftersales.privacy.redact import RedactionSettings

SHIPPED_PRIORITIES: tuple[str, ...] = tuple(priority.value for priority in Priority)
"""The shipped priority levels, most urgent first: urgent, high, normal, low."""


class WaitingAction(str, Enum):
    """What :meth:`~aftersales.Desk.run_due` does with a ticket left waiting on the
    customer for ``customer_wait_days``."""

    REMIND = "remind"
    """Record a ``customer_reminder`` event (hooks hear it: send the reminder there) and
    wait another ``customer_wait_days``."""
    CLOSE = "close"
    """Close the ticket (trigger ``auto_close``)."""


class DeskSettings(Record):
    """How a desk behaves. Every value has a sensible default.

    Lifecycle:

    - ``reopen_within_days``: a resolved or confirmed ticket may be reopened this long
      after it was resolved; later, :meth:`~aftersales.Desk.reopen` opens a follow-up.
    - ``auto_close_after_days``: a resolved ticket the customer never confirms is closed
      by :meth:`~aftersales.Desk.run_due` this long after it was resolved.
    - ``resume_on_customer_reply`` (default True): a customer's public reply on a ticket
      waiting on the customer fires ``resume`` in the same commit as the message, so the
      ticket is back in progress and the resolution clock runs again.
    - ``customer_wait_days`` (default None: off): a ticket left waiting on the customer
      this many days is handled by :meth:`~aftersales.Desk.run_due` as
      ``customer_wait_action`` says: ``"remind"`` (the default) records a
      ``customer_reminder`` event and waits as long again; ``"close"`` fires
      ``auto_close``.
    - ``close_parent_with_open_children`` (default False): a ticket whose child tickets
      (``parent_id``) are still open cannot be closed or cancelled; True allows it.

    Vocabulary:

    - ``categories``: the categories tickets may be classified with. None (the default)
      means the classifier's: :data:`aftersales.routing.CATEGORIES`, plus the categories
      of the desk's :class:`~aftersales.routing.RuleClassifier` rules.
    - ``priorities``: the priority levels, most urgent first (default: urgent, high,
      normal, low). ``default_priority`` is a new ticket's; ``priority_for_severity``
      the level a classification implies when it names none.

    Limits (a value beyond raises :class:`~aftersales.InvalidInput`):

    - ``max_tags``: tags on one ticket (default 50).
    - ``max_contacts``: contact points of one customer (default 20).
    - ``max_payload_bytes``: a trigger's payload, as JSON (default 64 KiB).
    - ``max_case_lines``: order lines of one after-sales case (default 500).

    Notifications:

    - ``max_delivery_attempts``: a hook that fails this often goes to dead-letter.
    - ``retry_backoff_seconds``: the first retry waits this long, each next one twice as long.
    - ``inline_lease_seconds`` (default 10): a notification written with a change is
      leased this long to the process that wrote it, which delivers it right after the
      commit. If that process dies first, :meth:`~aftersales.Desk.dispatch_outbox` in any
      process delivers it once the lease has passed: a crash delays it by seconds.
    - ``delivery_lease_seconds`` (default 300): how long
      :meth:`~aftersales.Desk.dispatch_outbox` reserves the rows it claims for the worker
      delivering them (a slow handler keeps its rows) before another worker may take them.
      A pass starts deliveries only in the first half of its lease and gives the rest
      back, so set it to more than twice your slowest delivery.

    Other:

    - ``number_block_size``: ticket numbers are reserved from the store this many at a
      time (fewer writes; numbers reserved by a process that exits are skipped).
    - ``time_zone``: the desk's own (IANA) time zone. A refund due on a date is late once
      that date has ended there, and refund deadlines count from the local date.

    Privacy and audit (see :mod:`aftersales.compliance`):

    - ``audit_key`` (default None: the library's public key): the secret of the events'
      hash chain. With a key kept outside the database, someone who can write the
      database cannot rebuild the chain after editing it.
    - ``retention_days`` (default None: kept): :meth:`~aftersales.Desk.run_due` erases the
      personal data of tickets closed at least this many days ago (and of their cases).
    - ``survey_key`` (default None: derived from ``audit_key``, else the library's public
      key): the secret that signs survey links (:mod:`aftersales.feedback`). Production
      must set one (or an ``audit_key``): with the public default anyone can forge a link.
    - ``redaction`` (default None: off): personal data found in a new ticket's subject and
      description and in messages is redacted before it is stored
      (:class:`~aftersales.privacy.RedactionSettings`).
    """

    reopen_within_days: Annotated[int, Field(ge=0, le=3650)] = 7
    auto_close_after_days: Annotated[int, Field(ge=1, le=3650)] = 7
    resume_on_customer_reply: bool = True
    customer_wait_days: Annotated[int, Field(ge=1, le=3650)] | None = None
    customer_wait_action: WaitingAction = WaitingAction.REMIND
    close_parent_with_open_children: bool = False
    categories: Annotated[tuple[Identifier, ...], Field(min_length=1, max_length=1000)] | None = (
        None
    )
    priorities: Annotated[tuple[Identifier, ...], Field(min_length=1, max_length=100)] = (
        SHIPPED_PRIORITIES
    )
    default_priority: Identifier = Priority.NORMAL.value
    priority_for_severity: dict[Severity, Identifier] = Field(
        default_factory=lambda: {s: p.value for s, p in PRIORITY_FOR_SEVERITY.items()}
    )
    max_tags: Annotated[int, Field(ge=0, le=10_000)] = 50
    max_contacts: Annotated[int, Field(ge=0, le=10_000)] = 20
    max_payload_bytes: Annotated[int, Field(ge=2, le=16_777_216)] = 65_536
    max_case_lines: Annotated[int, Field(ge=1, le=100_000)] = 500
    max_delivery_attempts: Annotated[int, Field(ge=1, le=100)] = 5
    retry_backoff_seconds: Annotated[float, Field(gt=0, le=86_400)] = 30.0
    inline_lease_seconds: Annotated[float, Field(gt=0, le=86_400)] = 10.0
    delivery_lease_seconds: Annotated[float, Field(gt=0, le=86_400)] = 300.0
    number_block_size: Annotated[int, Field(ge=1, le=10_000)] = 20
    time_zone: Annotated[str, Field(min_length=1, max_length=64)] = "UTC"
    audit_key: SecretStr | None = None
    retention_days: Annotated[int, Field(ge=0, le=36_500)] | None = None
    redaction: RedactionSettings | None = None
    survey_key: SecretStr | None = None

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            zone(name)
        except InvalidInput:
            raise ValueError(f"unknown time zone {name!r}") from None
        return name

    @field_validator("categories", "priorities")
    @classmethod
    def _unique(cls, names: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if names is not None:
            repeated = sorted({name for name in names if names.count(name) > 1})
            if repeated:
                raise ValueError(f"named more than once: {', '.join(repeated)}")
        return names

    @model_validator(mode="after")
    def _known_priorities(self) -> Self:
        levels = set(self.priorities)
        if self.default_priority not in levels:
            raise ValueError(
                f"default_priority {self.default_priority!r} is not one of the priorities "
                f"({', '.join(self.priorities)})"
            )
        missing = [s.value for s in Severity if s not in self.priority_for_severity]
        if missing:
            raise ValueError(f"priority_for_severity has no level for {', '.join(missing)}")
        unknown = sorted(set(self.priority_for_severity.values()) - levels)
        if unknown:
            raise ValueError(
                f"priority_for_severity names unknown priorities {', '.join(unknown)} "
                f"(known: {', '.join(self.priorities)})"
            )
        return self

    @property
    def zone(self) -> ZoneInfo:
        """``time_zone`` as a ``ZoneInfo``."""
        return zone(self.time_zone)

    @property
    def reopen_window(self) -> timedelta:
        """``reopen_within_days`` as a timedelta."""
        return timedelta(days=self.reopen_within_days)

    @property
    def auto_close_after(self) -> timedelta:
        """``auto_close_after_days`` as a timedelta."""
        return timedelta(days=self.auto_close_after_days)

    @property
    def customer_wait(self) -> timedelta | None:
        """``customer_wait_days`` as a timedelta, or None when off."""
        days = self.customer_wait_days
        return None if days is None else timedelta(days=days)
