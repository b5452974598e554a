"""Every error the library raises on purpose.

Catch :class:`AftersalesError` to handle all of them. The tree::

    AftersalesError
    ├── InvalidInput (also ValueError)      bad data at a public entry point; ``.errors``
    │   ├── SurveyTokenRefused              a survey link forged, used, expired; ``.reason``
    │   ├── TemplateError                   a template that cannot load or render; ``.template``
    │   └── AttachmentRefused               a file too large, empty or badly named; ``.reason``
    ├── NotFound (also LookupError)
    │   ├── TicketNotFound                  ``.ticket_id``
    │   ├── CustomerNotFound                ``.customer_id``
    │   └── CaseNotFound                    ``.case_id``
    ├── WorkflowError
    │   ├── InvalidWorkflow (also ValueError)   a definition that cannot be built; ``.problems``
    │   └── TransitionError                 ``.subject_id``, ``.trigger``, ``.state``, ``.allowed``
    │       ├── TriggerNotAllowed           the trigger does not leave the current state
    │       └── TransitionRefused           a guard said no; ``.refusal``
    ├── ConcurrencyError                    the subject changed since it was read; nothing written
    ├── PermissionDenied                    not allowed; ``.principal``, ``.action``, ``.rule``
    ├── DeliveryFailed                      a sender failed; ``.retry_after``, ``.permanent``
    └── StorageError                        the store failed or holds data it cannot read
        └── SchemaVersionError              the database schema is newer than this library

Each class has its own ``code`` (``TicketNotFound.code == "ticket_not_found"``), the
stable name clients branch on.

``transitions.MachineError``, ``KeyError`` and raw pydantic ``ValidationError`` never escape
the public API: they are translated into the classes above.

Messages name a ticket by its number (``ticket #12``) wherever the number is known, and
name each field once (``invalid now: must be timezone-aware``, not ``invalid now: now: ...``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

import attrs

if TYPE_CHECKING:
    from aftersales.workflows import Refusal

__all__ = [
    "AftersalesError",
    "AttachmentRefused",
    "CaseNotFound",
    "ConcurrencyError",
    "CustomerNotFound",
    "DeliveryFailed",
    "FieldError",
    "InvalidInput",
    "InvalidWorkflow",
    "NotFound",
    "PermissionDenied",
    "SchemaVersionError",
    "StorageError",
    "SurveyTokenRefused",
    "TemplateError",
    "TicketNotFound",
    "TransitionError",
    "TransitionRefused",
    "TriggerNotAllowed",
    "WorkflowError",
]


class AftersalesError(Exception):
    """Root of every error this library raises on purpose.

    ``code`` names the error's class in a stable, machine-readable way (``"invalid_input"``,
    ``"ticket_not_found"``...): each class has its own, and it stays when a class is renamed
    or moved, so clients (the web API's problem details carry it) can branch on it.
    """

    code: ClassVar[str] = "error"


@attrs.frozen
class FieldError:
    """One problem with one field of some input.

    ``location`` is the path to the field (``("customer", "email")``), ``message`` says
    what is wrong and ``kind`` is a machine-readable tag such as ``"missing"``.
    """

    location: tuple[str | int, ...]
    message: str
    kind: str = "value_error"

    def __str__(self) -> str:
        where = ".".join(str(part) for part in self.location) or "(input)"
        return f"{where}: {self.message}"


class InvalidInput(AftersalesError, ValueError):
    """Input to a public entry point was malformed; nothing was stored.

    ``errors`` lists every problem found, each naming the field it belongs to.
    """

    code: ClassVar[str] = "invalid_input"

    def __init__(self, subject: str, errors: Sequence[FieldError]) -> None:
        self.subject = subject
        self.errors: tuple[FieldError, ...] = tuple(errors)
        details = "; ".join(_detail(subject, error) for error in self.errors)
        super().__init__(f"invalid {subject}: {details}")


def _detail(subject: str, error: FieldError) -> str:
    """``error`` as shown after ``invalid <subject>:``, without saying the subject twice
    (a location that starts with the subject's name continues from it)."""
    if error.location[:1] != (subject,):
        return str(error)
    rest = error.location[1:]
    return f"{FieldError(rest, error.message, error.kind)}" if rest else error.message


class SurveyTokenRefused(InvalidInput):
    """A survey answer's token is refused; nothing was stored.

    ``reason`` says why, for the page the customer sees: ``"invalid"`` (malformed, or
    not signed with this desk's key), ``"used"`` (the survey is answered already),
    ``"expired"`` (the response window has passed) or ``"cancelled"``.
    """

    code: ClassVar[str] = "survey_token_refused"

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__("survey token", [FieldError(("token",), message, reason)])


class TemplateError(InvalidInput):
    """A message template that cannot be used: a syntax error, a variable the template's
    context does not provide (found when the template is loaded, never an empty string at
    send time), or an unsafe operation refused by the sandbox. ``template`` names it
    (``"resolved/en"``)."""

    code: ClassVar[str] = "template_error"

    def __init__(self, template: str, message: str) -> None:
        self.template = template
        super().__init__("template", [FieldError((template,), message)])


class AttachmentRefused(InvalidInput):
    """A file a message cannot carry. ``reason``: ``"too_large"``, ``"empty"``,
    ``"bad_name"``, ``"too_many"`` (more files than a message carries), ``"no_blob_store"``
    (the desk keeps no files) or ``"unknown_blob"`` (no such file on the ticket)."""

    code: ClassVar[str] = "attachment_refused"

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__("attachment", [FieldError(("attachment",), message)])


class NotFound(AftersalesError, LookupError):
    """Something asked for by id does not exist."""

    code: ClassVar[str] = "not_found"


class TicketNotFound(NotFound):
    """No ticket has this id or number.

    ``ticket_id`` is what was asked for: an id, or a number written ``#12`` (an ``int``
    given here is written that way too). A number is shown as such: ``no ticket #12``.
    """

    code: ClassVar[str] = "ticket_not_found"

    def __init__(self, ticket_id: str | int) -> None:
        if isinstance(ticket_id, int):
            ticket_id = f"#{ticket_id}"
        self.ticket_id = ticket_id
        shown = ticket_id if _is_number(ticket_id) else repr(ticket_id)
        super().__init__(f"no ticket {shown}")


def _is_number(text: str) -> bool:
    """Whether ``text`` is a ticket number as people write it: ``#`` and digits."""
    return text.startswith("#") and text[1:].isascii() and text[1:].isdigit()


class CustomerNotFound(NotFound):
    """No customer has this id or contact point."""

    code: ClassVar[str] = "customer_not_found"

    def __init__(self, customer_id: str) -> None:
        self.customer_id = customer_id
        super().__init__(f"no customer {customer_id!r}")


class CaseNotFound(NotFound):
    """No after-sales case has this id."""

    code: ClassVar[str] = "case_not_found"

    def __init__(self, case_id: str) -> None:
        self.case_id = case_id
        super().__init__(f"no case {case_id!r}")


class WorkflowError(AftersalesError):
    """Base of errors about workflow definitions and transitions."""

    code: ClassVar[str] = "workflow_error"


class InvalidWorkflow(WorkflowError, ValueError):
    """A workflow definition failed validation; ``problems`` names each one."""

    code: ClassVar[str] = "invalid_workflow"

    def __init__(self, workflow: str, problems: Sequence[str]) -> None:
        self.workflow = workflow
        self.problems: tuple[str, ...] = tuple(problems)
        super().__init__(f"workflow {workflow!r} is invalid: " + "; ".join(self.problems))


class TransitionError(WorkflowError):
    """A trigger did not move the subject; nothing changed.

    Carries the subject, the trigger, the current state and the triggers that *are*
    allowed from it, so the caller can show the user what to do instead.
    """

    code: ClassVar[str] = "transition_error"

    def __init__(
        self, message: str, *, subject_id: str, trigger: str, state: str, allowed: Sequence[str]
    ) -> None:
        self.subject_id = subject_id
        self.trigger = trigger
        self.state = state
        self.allowed: tuple[str, ...] = tuple(allowed)
        super().__init__(message)


class TriggerNotAllowed(TransitionError):
    """The trigger does not leave the subject's current state."""

    code: ClassVar[str] = "trigger_not_allowed"

    def __init__(
        self,
        *,
        subject_id: str,
        trigger: str,
        state: str,
        allowed: Sequence[str],
        label: str | None = None,
        message: str | None = None,
    ) -> None:
        allowed_text = ", ".join(allowed) if allowed else "none"
        super().__init__(
            message
            or f"{label or subject_id}: trigger {trigger!r} is not allowed in state {state!r} "
            f"(allowed: {allowed_text})",
            subject_id=subject_id,
            trigger=trigger,
            state=state,
            allowed=allowed,
        )


class TransitionRefused(TransitionError):
    """A guard refused the transition; ``refusal`` gives its code and reason."""

    code: ClassVar[str] = "transition_refused"

    def __init__(
        self,
        *,
        subject_id: str,
        trigger: str,
        state: str,
        allowed: Sequence[str],
        refusal: Refusal,
        label: str | None = None,
    ) -> None:
        self.refusal = refusal
        super().__init__(
            f"{label or subject_id}: trigger {trigger!r} refused in state {state!r}: "
            f"{refusal.message} [{refusal.code}]",
            subject_id=subject_id,
            trigger=trigger,
            state=state,
            allowed=allowed,
        )


class ConcurrencyError(AftersalesError):
    """The subject was changed by someone else since it was read; nothing was written.

    ``label`` is how the message names the subject to people (``ticket #12``); without
    one the message shows ``subject_id``.
    """

    code: ClassVar[str] = "concurrency_conflict"

    def __init__(
        self,
        subject_id: str,
        expected_version: int,
        actual_version: int | None,
        *,
        label: str | None = None,
    ) -> None:
        self.subject_id = subject_id
        self.expected_version = expected_version
        self.actual_version = actual_version
        super().__init__(
            f"{label or subject_id}: expected version {expected_version}, "
            f"store has {actual_version if actual_version is not None else 'nothing'}"
        )


class PermissionDenied(AftersalesError):
    """A principal may not do what it asked; nothing was stored.

    ``principal`` is the id of who asked, ``action`` what was asked (``fire approve on
    refund r-1``), ``rule`` which rule of the permission set refused it (``grants``,
    ``four_eyes[0]``...), ``reason`` the rule's words for people.
    """

    code: ClassVar[str] = "permission_denied"

    def __init__(self, principal: str, action: str, rule: str, reason: str) -> None:
        self.principal = principal
        self.action = action
        self.rule = rule
        self.reason = reason
        super().__init__(f"{principal} may not {action}: {reason} (rule {rule})")


class DeliveryFailed(AftersalesError):
    """A sender could not deliver a message: the outbox retries it with backoff, after
    ``retry_after`` seconds when the receiver said so (HTTP ``Retry-After``), and
    dead-letters it at once when ``permanent`` (a receiver that refuses the message as
    such, e.g. HTTP 400, or an SMTP 5xx reply), so a bad message does not use up retries.
    """

    code: ClassVar[str] = "delivery_failed"

    def __init__(
        self, message: str, *, retry_after: float | None = None, permanent: bool = False
    ) -> None:
        self.retry_after = retry_after
        self.permanent = permanent
        super().__init__(message)


class StorageError(AftersalesError):
    """The store failed, or holds data this library cannot read."""

    code: ClassVar[str] = "storage_error"


class SchemaVersionError(StorageError):
    """The database was written by a newer schema than this library knows."""

    code: ClassVar[str] = "schema_version_unsupported"

    def __init__(self, found: int, supported: int) -> None:
        self.found = found
        self.supported = supported
        super().__init__(
            f"database schema version {found} is newer than the {supported} this "
            "version of aftersales supports; upgrade aftersales"
        )
