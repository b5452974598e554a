"""Erasure and access requests (GDPR arts. 15 and 17, PIPL arts. 45 and 47).

Erasure rewrites: every personal value of the customer (the fields
:data:`~aftersales.privacy.PERSONAL_FIELDS` declares) becomes ``"[erased]"`` (or empty)
in the customer record and its contact points, its tickets, cases and messages, every
event of those subjects and every outbox row carrying one of those events, in one
transaction. Ids, states, times, amounts and versions stay, so reports and replays keep
working (replaying the rewritten events gives the rewritten subjects). Each erased
event keeps the seal of each erased value (:mod:`aftersales.privacy.audit`), so its hash
chain still verifies.

Why rewriting and not crypto-shredding: every read, search, classifier and report works
on the stored text as it is; there is no key store to back up, rotate and protect, and
nothing to decrypt on every read. The price: a backup taken before the erasure still
holds the data until it expires (keep backups on a schedule shorter than the period the
law allows), and the database must not keep old row versions (SQLite runs with
``secure_delete``; run ``VACUUM`` on PostgreSQL and let MariaDB purge).

Attachments (:mod:`aftersales.attachments`): their names are rewritten with the messages
(a file name such as ``id-card-zhang-wei.jpg`` is personal), and once the rewrite has
committed their files are deleted from the desk's blob store: the namespace of each
erased ticket, and the customer's own files on a ticket of someone else (a reply to the
desk's mail on another customer's thread, or a ticket one of theirs was merged into;
found through the store's author index) unless another author's message there carries
the same bytes. Retention erases a closed ticket alone: what its customer wrote on any
other ticket stays.
Files are deleted after the commit, never before: a failed commit leaves the data as it
was, and a failed deletion is done again by the next erasure of the same customer.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from aftersales.attachments import BlobStore
from aftersales.models import Case, Customer, Event, Message, Ticket
from aftersales.privacy.audit import ERASED, Chain, erased_value
from aftersales.storage import CaseQuery, Store, TicketQuery, every_case, every_ticket

__all__ = ["Eraser", "ErasureReport", "delete_files", "personal_paths"]

_TICKET_PAGE = 500
_CASE_PAGE = 500


def personal_paths(fields: Mapping[str, frozenset[str]], kind: str) -> tuple[tuple[str, ...], ...]:
    """The declared personal field paths of records of ``kind`` (a case kind also takes
    the ``case`` entry), split at the dots."""
    paths = set(fields.get(kind, frozenset()))
    if kind not in ("customer", "ticket", "message", "event"):
        paths |= fields.get("case", frozenset())
    return tuple(sorted(tuple(path.split(".")) for path in paths))


def _erase_path(data: Any, path: Sequence[str]) -> bool:
    """Erase the value at ``path`` in JSON-like ``data`` (going into each element of a
    list on the way); whether anything was erased."""
    if isinstance(data, list):
        erased = [_erase_path(item, path) for item in data]  # every element, no short cut
        return any(erased)
    if not isinstance(data, dict) or path[0] not in data:
        return False
    if len(path) == 1:
        value = data[path[0]]
        if value in (None, "", [], {}, ERASED):
            return False
        data[path[0]] = erased_value(value)
        return True
    return _erase_path(data[path[0]], path[1:])


@attrs.frozen
class ErasureReport:
    """What :meth:`~aftersales.Desk.erase_customer` rewrote, by kind of record."""

    customer_id: str
    tickets: int = 0
    cases: int = 0
    messages: int = 0
    events: int = 0
    outbox: int = 0
    customer: bool = False
    files: int = 0
    """Attachment files deleted from the desk's blob store."""


class Eraser:
    """Builds the rewritten records of an erasure and the export of an access request."""

    __slots__ = ("chain", "fields", "store")

    def __init__(self, store: Store, chain: Chain, fields: Mapping[str, frozenset[str]]) -> None:
        self.store = store
        self.chain = chain
        self.fields = fields

    # ------------------------------------------------------------------ reading

    def tickets_of(self, customer_id: str) -> list[Ticket]:
        query = TicketQuery(customer_id=customer_id, limit=_TICKET_PAGE)
        return list(every_ticket(self.store, query))

    def cases_of(self, customer_id: str, tickets: Iterable[Ticket]) -> list[Case]:
        found: dict[str, Case] = {
            case.id: case
            for case in every_case(self.store, CaseQuery(customer_id=customer_id, limit=_CASE_PAGE))
        }
        for ticket in tickets:
            for case in every_case(self.store, CaseQuery(ticket_id=ticket.id, limit=_CASE_PAGE)):
                found.setdefault(case.id, case)
        return list(found.values())

    # ------------------------------------------------------------------ rewriting

    def record(self, record: Any, kind: str) -> Any:
        """``record`` (a pydantic model) with its declared personal fields erased, or
        the record itself when it has none set."""
        data = record.model_dump(mode="json")
        changed = False
        for path in personal_paths(self.fields, kind):
            changed = _erase_path(data, path) or changed
        return type(record).model_validate(data) if changed else record

    def customer(self, customer: Customer) -> Customer:
        """The customer with its personal fields erased and no contact points (they find
        it no more: they are removed, not rewritten); itself when nothing is left."""
        erased: Customer = self.record(customer, "customer")
        return erased.model_copy(update={"contacts": ()}) if erased.contacts else erased

    def event(self, event: Event, kind: str) -> Event:
        """``event`` with every personal value erased: under the subject kind's declared
        paths in ``changes`` (they rebuild the subject) and under any personal key in
        ``payload``. The seal of each erased value is kept in ``erased`` so the chain
        still verifies (seals are keyed: they cannot be guessed back without the audit
        key). The salt goes when nothing sealed is left in the clear; values under a
        personal key that no declared path covers (a product's ``name`` in a case line)
        stay, and keep being checked with it."""
        payload = copy.deepcopy(event.payload)
        changes = copy.deepcopy(event.changes)
        erased = dict(event.erased or {})
        salt = event.salt
        record_paths = personal_paths(self.fields, kind)
        keys = self.chain.personal_keys
        remaining = False
        for root, data in (("payload", payload), ("changes", changes)):
            for path, value, parent, key in _sealed_values(data, keys, root, erased):
                relative = tuple(part for part in path.split(".")[1:] if not part.isdigit())
                if root == "changes" and relative not in record_paths:
                    remaining = True
                    continue
                if salt is not None:
                    erased[path] = self.chain.seal_of(value, salt)
                parent[key] = erased_value(value)
        if payload == event.payload and changes == event.changes:
            return event
        values = dict(event.__dict__)
        values.update(
            payload=payload,
            changes=changes,
            erased=erased or None,
            salt=salt if remaining else None,
        )
        return Event.model_validate(values)

    def message(self, message: Message) -> Message:
        """``message`` with its personal fields and its attachments' names erased."""
        erased: Message = self.record(message, "message")
        if any(attachment.name != ERASED for attachment in erased.attachments):
            erased = erased.model_copy(
                update={
                    "attachments": tuple(
                        attachment.model_copy(update={"name": ERASED})
                        for attachment in erased.attachments
                    )
                }
            )
        return erased


def delete_files(
    blobs: BlobStore | None,
    tickets: Iterable[Ticket],
    foreign: Iterable[tuple[Ticket, Sequence[Message]]],
    authors: frozenset[str],
) -> int:
    """Delete the files of an erasure from ``blobs`` (after its rewrite committed): every
    file of ``tickets`` (their namespaces), and of each (ticket, its messages) in
    ``foreign`` the files of messages by ``authors`` that no other author's message there
    carries. The number of files deleted."""
    if blobs is None:
        return 0
    deleted = sum(blobs.delete_namespace(ticket.id) for ticket in tickets)
    for ticket, messages in foreign:
        theirs = {a.sha256 for m in messages if m.author_id in authors for a in m.attachments}
        kept = {a.sha256 for m in messages if m.author_id not in authors for a in m.attachments}
        deleted += sum(blobs.delete(ticket.id, sha256) for sha256 in sorted(theirs - kept))
    return deleted


def _sealed_values(
    data: Any, keys: frozenset[str], path: str, erased: Mapping[str, str]
) -> Iterable[tuple[str, Any, Any, Any]]:
    """(path, value, parent, key) of each value the audit chain seals in ``data`` and
    that is not erased yet: the non-empty values under a personal key, at any depth (as
    :meth:`~aftersales.privacy.audit.Chain.seal` walks them)."""
    if isinstance(data, dict):
        for key, item in list(data.items()):
            where = f"{path}.{key}"
            if where in erased:
                continue
            if key in keys:
                if item is not None and item != "" and item != []:
                    yield where, item, data, key
            else:
                yield from _sealed_values(item, keys, where, erased)
    elif isinstance(data, list):
        for index, item in enumerate(data):
            yield from _sealed_values(item, keys, f"{path}.{index}", erased)
