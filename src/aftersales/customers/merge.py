"""Merging two customer records that turn out to be one person.

The record kept takes the duplicate's contact points and fills what it lacks from it
(tier, language, preferred channel, contact hours; tags are joined; an opt-out of
either stands). Every ticket and case of the duplicate moves to the kept customer with a
``customer_merged`` event, its version one on. The duplicate stays, without contact
points, with ``merged_into`` naming the kept record: nothing is deleted, and a lookup by
its id still finds where its history went. Its personal fields are blanked (its name
reads ``[erased]``; its tier, language, preferences and tags go) once the kept record has
taken what it lacks: the person is the kept record, so erasing that one leaves nothing of
them on the duplicate, and no index of ``merged_into`` is needed to find it. Only its opt-out
of care stays, a refusal worth keeping wherever the id turns up. All of it is one
transaction (:meth:`~aftersales.storage.Store.rewrite`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

from aftersales.exceptions import FieldError, InvalidInput
from aftersales.models import Case, Customer, Event, Ticket
from aftersales.models.events import CUSTOMER_MERGED, TICKET_KIND, build_event
from aftersales.privacy.audit import ERASED, Chain

__all__ = ["MergeReport", "blanked", "merged_pair", "moved"]


@attrs.frozen
class MergeReport:
    """What :meth:`~aftersales.Desk.merge_customers` did: the kept customer as stored,
    how many contact points, tickets and cases moved (all 0 when the duplicate was merged
    already)."""

    customer: Customer
    duplicate_id: str
    contacts: int
    tickets: int
    cases: int


def blanked(duplicate: Customer, kept_id: str) -> Customer:
    """The duplicate as a merge leaves it: its id, ``merged_into`` the kept record, and
    its opt-out of care; nothing else of the person."""
    return Customer(
        id=duplicate.id,
        name=ERASED,
        opted_out_of_care=duplicate.opted_out_of_care,
        merged_into=kept_id,
    )


def merged_pair(
    kept: Customer, duplicate: Customer, max_contacts: int
) -> tuple[Customer, Customer]:
    """The kept customer with the duplicate's contact points and preferences, and the
    duplicate marked merged and :func:`blanked`; InvalidInput if the two cannot be
    merged."""
    if kept.id == duplicate.id:
        raise InvalidInput(
            "merge", [FieldError(("into",), "a customer cannot be merged into itself")]
        )
    if kept.merged_into is not None:
        raise InvalidInput(
            "merge",
            [FieldError(("into",), f"{kept.id!r} was merged into {kept.merged_into!r}")],
        )
    if duplicate.merged_into is not None:
        raise InvalidInput(
            "merge",
            [
                FieldError(
                    ("customer_id",),
                    f"{duplicate.id!r} was merged into {duplicate.merged_into!r} already",
                )
            ],
        )
    have = {(c.channel, c.address) for c in kept.contacts}
    contacts = kept.contacts + tuple(
        c for c in duplicate.contacts if (c.channel, c.address) not in have
    )
    if len(contacts) > max_contacts:
        raise InvalidInput(
            "merge",
            [
                FieldError(
                    ("contacts",),
                    f"together they have {len(contacts)} contact points, more than "
                    f"{max_contacts} (max_contacts)",
                )
            ],
        )
    tags = tuple(dict.fromkeys(kept.tags + duplicate.tags))
    update: dict[str, Any] = {
        "contacts": contacts,
        "tier": kept.tier or duplicate.tier,
        "language": kept.language or duplicate.language,
        "preferred_channel": kept.preferred_channel or duplicate.preferred_channel,
        "contact_hours": kept.contact_hours or duplicate.contact_hours,
        "tags": tags,
        "opted_out_of_care": kept.opted_out_of_care or duplicate.opted_out_of_care,
    }
    # Validated again: the joined tags may be more than one customer may carry.
    joined = Customer.model_validate({**kept.model_dump(), **update})
    return joined, blanked(duplicate, kept.id)


def moved(
    subject: Ticket | Case,
    kept_id: str,
    duplicate_id: str,
    actor: str,
    at: datetime,
    chain: Chain,
    added: list[Event],
) -> Any:
    """``subject`` one version on, its customer the kept one, with the event that records
    the move (appended to ``added``) sealed into its chain."""
    version = subject.version + 1
    kind = TICKET_KIND if isinstance(subject, Ticket) else str(subject.kind.value)
    event = build_event(
        subject.id,
        kind,
        version,
        CUSTOMER_MERGED,
        subject.status,
        subject.status,
        actor,
        at,
        {"from_customer_id": duplicate_id, "into_customer_id": kept_id},
        {"customer_id": kept_id, "version": version},
    )
    sealed, head = chain.seal([event], subject.audit_chain)
    added.extend(sealed)
    return subject.model_copy(
        update={"customer_id": kept_id, "version": version, "audit_chain": head}
    )
