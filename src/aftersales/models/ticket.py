"""Tickets and the messages on them (seeds S1)."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

from pydantic import BeforeValidator, Field

from aftersales._validation import NO_CONTROL_CHARACTERS
from aftersales.models._base import Identifier, Instant, Record, ShortText, Text, new_id
from aftersales.models.customer import Channel
from aftersales.models.order import OrderLineRef


class StatusCategory(str, Enum):
    """What a status means for reporting and SLAs, whatever the status is called."""

    NEW = "new"
    OPEN = "open"
    WAITING_ON_CUSTOMER = "waiting_on_customer"
    WAITING_ON_THIRD_PARTY = "waiting_on_third_party"
    RESOLVED = "resolved"
    CLOSED = "closed"


class Severity(str, Enum):
    """How bad the customer's problem is."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class SLAOutcome(str, Enum):
    """Where a ticket's first response or resolution target stands, as of its last
    change: what reports count SLA compliance by."""

    PENDING = "pending"
    """Running, paused or warned: not met yet, not missed yet."""
    MET = "met"
    BREACHED = "breached"
    """Missed: met late, or still open past the target."""


class Priority(str, Enum):
    """How soon the desk works on a ticket."""

    URGENT = "urgent"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


_PRIORITIES: dict[str, Priority] = {level.value: level for level in Priority}


def priority_level(value: str) -> Priority | str:
    """``value`` as a :class:`Priority` when it names a shipped level, else as given.

    Tickets keep the shipped levels as the enum (so ``Priority.HIGH`` matches them in SLA
    rules and comparisons) and a desk's own levels as plain strings."""
    if type(value) is str:
        # a lookup, not Priority(value): a desk's own level would raise and catch each time
        return _PRIORITIES.get(value, value)
    return value


PriorityLevel = Annotated[Priority | Identifier, BeforeValidator(priority_level)]
"""A priority: one of the shipped :class:`Priority` levels or a level a desk declares
(``DeskSettings.priorities``)."""

MAX_TAGS = 1000
"""Tags one ticket may carry in any case; a desk allows fewer (``DeskSettings.max_tags``)."""

PRIORITY_FOR_SEVERITY = {
    Severity.CRITICAL: Priority.URGENT,
    Severity.HIGH: Priority.HIGH,
    Severity.MEDIUM: Priority.NORMAL,
    Severity.LOW: Priority.LOW,
}
"""The priority a classification implies when it does not name one."""


class MessageKind(str, Enum):
    """A public reply the customer sees, or an internal note they never do."""

    PUBLIC_REPLY = "public_reply"
    INTERNAL_NOTE = "internal_note"


class AuthorRole(str, Enum):
    """Who wrote a message."""

    CUSTOMER = "customer"
    AGENT = "agent"
    BOT = "bot"
    SYSTEM = "system"


Tag = Annotated[str, Field(min_length=1, max_length=64)]


class Ticket(Record):
    """A customer's case as the desk tracks it.

    ``status`` is the workflow state of ``workflow`` (the name of the desk's workflow);
    ``status_category`` says what it means. The desk changes tickets only through
    workflow triggers; every change is an event. ``priority`` is a :class:`Priority` or,
    on a desk that declares its own levels, one of those (a string).
    """

    id: Identifier = Field(default_factory=new_id)
    number: Annotated[int, Field(ge=1)]
    workflow: Identifier = "ticket"
    channel: Channel
    subject: ShortText
    description: Annotated[str, Field(max_length=100_000)] = ""
    customer_id: Identifier
    order_line: OrderLineRef | None = None
    category: ShortText | None = None
    severity: Severity | None = None
    priority: PriorityLevel = Priority.NORMAL
    status: Identifier
    status_category: StatusCategory
    assignee: Identifier | None = None
    team: Identifier | None = None
    tags: Annotated[tuple[Tag, ...], Field(max_length=MAX_TAGS)] = ()
    escalation_level: Annotated[int, Field(ge=0)] = 0
    resolution: Text | None = None
    self_served_by: Identifier | None = None
    satisfaction: Annotated[int, Field(ge=1, le=5)] | None = None
    created_at: Instant
    updated_at: Instant
    first_response_at: Instant | None = None
    resolved_at: Instant | None = None
    closed_at: Instant | None = None
    reopen_count: Annotated[int, Field(ge=0)] = 0
    merged_into: Identifier | None = None
    parent_id: Identifier | None = None
    follow_up_of: Identifier | None = None
    due_at: Instant | None = None
    sla_rule: Identifier | None = None
    sla_due_at: Instant | None = None
    sla_first_response: SLAOutcome | None = None
    """Where the SLA's first response target stands as of the last change (None: no SLA
    target applies). A target passing between changes is recorded by ``run_due``."""
    first_response_business_seconds: Annotated[int, Field(ge=0)] | None = None
    """The business seconds (on the SLA rule's calendar, pauses left out) the first
    response took, once it was made; None without an SLA target."""
    sla_resolution: SLAOutcome | None = None
    """Where the SLA's resolution target stands as of the last change (see
    ``sla_first_response``); a reopened ticket's runs again."""
    resolution_business_seconds: Annotated[int, Field(ge=0)] | None = None
    """The business seconds the resolution took (see
    ``first_response_business_seconds``)."""
    version: Annotated[int, Field(ge=1)] = 1
    audit_chain: str | None = None
    """The ``chain`` of the last event (the head of the tamper-evident audit), checked by
    :meth:`~aftersales.Desk.verify_audit`."""

    @property
    def display_number(self) -> str:
        """The number people quote: ``#42``."""
        return f"#{self.number}"

    @property
    def is_closed(self) -> bool:
        """True once the ticket is in a closed-category status."""
        return self.status_category is StatusCategory.CLOSED


MAX_ATTACHMENT_NAME = 255
"""The longest file name an attachment keeps (what most file systems allow)."""

SHA256_PATTERN = r"^[0-9a-f]{64}$"
"""A SHA-256 digest as stored: 64 lower-case hex digits."""


class Attachment(Record):
    """A file a message carries, described: its bytes are in the desk's blob store
    (:mod:`aftersales.attachments`), found by ``sha256``.

    ``name`` is the file's base name as the sender gave it (no directories);
    ``content_type`` is the type the desk sniffed from the bytes, never the one the
    sender declared; ``size`` is in bytes.
    """

    name: Annotated[
        str, Field(min_length=1, max_length=MAX_ATTACHMENT_NAME, pattern=NO_CONTROL_CHARACTERS)
    ]
    content_type: Annotated[
        str, Field(min_length=3, max_length=127, pattern=r"^[a-z0-9][a-z0-9.+-]*/[a-z0-9.+-]+$")
    ]
    size: Annotated[int, Field(ge=1)]
    sha256: Annotated[str, Field(pattern=SHA256_PATTERN)]


ExternalId = Annotated[str, Field(min_length=1, max_length=200, pattern=NO_CONTROL_CHARACTERS)]
"""An id another system gave a message (an e-mail's ``Message-ID``): up to 200
characters, no control characters (it may go back into a mail header)."""


class Message(Record):
    """A public reply or an internal note on a ticket.

    ``attachments`` describes the files it carries (read them with
    :meth:`~aftersales.Desk.read_attachment`); ``external_id`` is the id the message had
    where it came from, e.g. an inbound e-mail's ``Message-ID``, for threading replies.
    """

    id: Identifier = Field(default_factory=new_id)
    ticket_id: Identifier
    kind: MessageKind = MessageKind.PUBLIC_REPLY
    author_id: Identifier
    author_role: AuthorRole
    body: Annotated[str, Field(min_length=1, max_length=100_000)]
    channel: Channel
    at: Instant
    attachments: tuple[Attachment, ...] = ()
    external_id: ExternalId | None = None
