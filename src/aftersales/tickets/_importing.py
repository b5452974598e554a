"""Importing tickets from another system, in batches of one transaction each."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import nullcontext
from typing import Any

from pydantic import ValidationError
from pydantic_core import to_json

from aftersales._validation import check_text, invalid_input, unknown
from aftersales.exceptions import FieldError, InvalidInput
from aftersales.models import Message, Ticket
from aftersales.storage import Change
from aftersales.storage._codec import NewTicket
from aftersales.tickets._commands import creation_event
from aftersales.tickets._core import TicketCore

# The validator itself: Ticket.model_validate adds a call and a translation per record,
# a fifth of what validating an imported record costs.
_validate_ticket = Ticket.__pydantic_validator__.validate_python
_validate_message = Message.__pydantic_validator__.validate_python
if tuple(Ticket.model_fields)[-1] != "audit_chain":  # the ticket's JSON ends with it (below)
    raise RuntimeError("Ticket.audit_chain must be the ticket's last field")

_MAX_BATCH = 100_000


def import_tickets(
    core: TicketCore,
    records: Iterable[Ticket | Mapping[str, Any]],
    batch_size: int,
    actor: str,
) -> int:
    """Import ``records`` (see :meth:`aftersales.Desk.import_tickets`); returns the count."""
    actor = check_text("actor", actor)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int):
        raise InvalidInput("import", [FieldError(("batch_size",), "must be 1 to 100,000")])
    if not 1 <= batch_size <= _MAX_BATCH:
        raise InvalidInput("import", [FieldError(("batch_size",), "must be 1 to 100,000")])
    if isinstance(records, (str, bytes, bytearray, Mapping, Ticket)) or not isinstance(
        records, Iterable
    ):
        raise InvalidInput(
            "import",
            [FieldError(("records",), "must be an iterable of tickets or mappings")],
        )
    bulk_import = getattr(core.store, "bulk_import", None)
    with bulk_import() if bulk_import is not None else nullcontext():
        return _import(core, records, batch_size, actor)


set_attribute = object.__setattr__


def _import(
    core: TicketCore, records: Iterable[Ticket | Mapping[str, Any]], batch_size: int, actor: str
) -> int:
    imported = 0
    batch: list[Change] = []
    workflow = core.workflow
    category_of = workflow.category_of
    states = core.vocabulary.states
    name = workflow.name
    default_priority = core.settings.default_priority
    check_ticket = core.vocabulary.check_ticket
    commit_many = core.store.commit_many
    seal = core.pipeline.chain.seal
    guard = core.pipeline.guard
    for position, record in enumerate(records):
        # a dict first: Ticket and Mapping are checked by ABCMeta.__instancecheck__
        if type(record) is dict:
            data = record.copy()
        elif isinstance(record, Ticket):
            data = record.model_dump()
        elif isinstance(record, Mapping):
            data = dict(record)
        else:
            raise InvalidInput("import", [FieldError((position,), "must be a Ticket or a mapping")])
        messages = data.pop("messages", None)
        if data.get("number") is None:
            data["number"] = core.next_number()
        data["workflow"] = name
        # the chain starts at the import's own event, whatever the source said
        data["audit_chain"] = None
        if data.get("priority") is None:
            data["priority"] = default_priority
        if "status" in data:
            status = data["status"]
            if not isinstance(status, str) or status not in states:
                raise InvalidInput(
                    "import",
                    [unknown((position, "status"), [status], sorted(states))],
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
        check_ticket(ticket, (position,))
        if ticket.version != 1:
            ticket = ticket.model_copy(update={"version": 1})
        # an import is history written once: the Nones are left out of it (and of the
        # rows), a third of a ticket's bytes
        created = (creation_event(ticket, actor, exclude_none=True),)
        if guard is not None:
            guard(ticket, created)  # an import opens tickets: the same check as opening one
        events, head = seal(created, None)
        set_attribute(ticket, "audit_chain", head)
        if messages is None:
            # the ticket's JSON rendered once: its creation event's changes, and with its
            # audit head the ticket's row
            rendered = to_json(created[0].changes).decode()
            batch.append(
                NewTicket(ticket, 0, events, data=_with_head(rendered, head), changes=rendered)
            )
        else:
            batch.append(Change(ticket, 0, events, _messages(messages, ticket, position)))
        if len(batch) >= batch_size:
            commit_many(batch)
            imported += len(batch)
            batch = []
    if batch:
        commit_many(batch)
        imported += len(batch)
    return imported


def _with_head(rendered: str, head: str) -> str:
    """The JSON of a ticket without its Nones (``rendered``) with ``audit_chain`` set to
    ``head``: its last field, and a hex digest (nothing to escape)."""
    return f'{rendered[:-1]},"audit_chain":"{head}"}}'


def _messages(messages: object, ticket: Ticket, position: int) -> tuple[Message, ...]:
    """The messages a record carries, on its ticket; InvalidInput naming each bad one."""
    if isinstance(messages, (str, bytes, Mapping)) or not isinstance(messages, (list, tuple)):
        raise InvalidInput(
            "import", [FieldError((position, "messages"), "must be a list of messages")]
        )
    carried = []
    for index, message in enumerate(messages):
        where = (position, "messages", index)
        if isinstance(message, Message):
            data = message.model_dump()
        elif isinstance(message, Mapping):
            data = dict(message)
        else:
            raise InvalidInput("import", [FieldError(where, "must be a Message or a mapping")])
        given = data.setdefault("ticket_id", ticket.id)
        if given != ticket.id:
            raise InvalidInput(
                "import",
                [FieldError((*where, "ticket_id"), "must be the ticket's id (or left out)")],
            )
        try:
            carried.append(_validate_message(data))
        except ValidationError as error:
            raise InvalidInput(
                "import",
                [
                    FieldError((*where, *e.location), e.message, e.kind)
                    for e in invalid_input("import", error).errors
                ],
            ) from None
    return tuple(carried)
