"""The desk's customer profile and merge (a base of :class:`~aftersales.Desk`)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from aftersales._validation import acting, check_text
from aftersales.customers.merge import MergeReport, blanked, merged_pair, moved
from aftersales.customers.profile import CustomerProfile, build_profile
from aftersales.exceptions import ConcurrencyError, FieldError, InvalidInput
from aftersales.models import Case, Customer, Event, Ticket
from aftersales.policies.book import PolicyBook, PolicySet
from aftersales.security import Actor
from aftersales.storage import CaseQuery, Rewrite, Store, TicketQuery, every_case, every_ticket

if TYPE_CHECKING:
    from aftersales._pipeline import Pipeline
    from aftersales.cases import CaseDesk
    from aftersales.settings import DeskSettings

__all__ = ["CustomerFace"]

_PAGE = 500
_ATTEMPTS = 5
_MERGE_HOPS = 100


class CustomerFace:
    """A customer's profile and the merge of duplicate customers (a base of the desk)."""

    store: Store
    pipeline: Pipeline
    settings: DeskSettings
    cases: CaseDesk

    if TYPE_CHECKING:  # the compliance face's, a base of the desk before this one

        def _authorize(self, actor: Actor, kind: str, trigger: str, subject_id: str) -> None: ...

        def _forget(self, subject_ids: set[str]) -> None: ...

    @acting
    def customer_profile(
        self,
        customer_id: str,
        *,
        at: datetime | None = None,
        policy: PolicySet | PolicyBook | None = None,
        actor: Actor = "system",
    ) -> CustomerProfile:
        """One view of a customer (see :mod:`aftersales.customers.profile`): contact
        points, preferences, tier and tags; tickets, cases, complaints and surveys; the
        products their cases are about, each with the policy's answer to "may it be
        returned, exchanged or repaired at ``at`` (now by default), and why?". ``policy``
        defaults to the desk's case policy, else the statutory presets. A customer merged
        into another gives the other's profile. CustomerNotFound when there is no such
        customer; with permissions, ``actor`` needs a grant of ``read_profile`` on
        ``customer``."""
        customer_id = check_text("customer_id", customer_id)
        actor = check_text("actor", actor)
        if policy is not None and not isinstance(policy, PolicySet | PolicyBook):
            raise InvalidInput(
                "policy", [FieldError(("policy",), "must be a PolicySet or a PolicyBook")]
            )
        when = self.pipeline.checked_now(at)
        self._authorize(actor, "customer", "read_profile", customer_id)
        customer = self._kept(self.store.get_customer(customer_id))
        tickets = self._tickets_of(customer.id)
        cases = self._cases_of(customer.id, tickets)
        chosen = self.cases.policy if policy is None else policy
        return build_profile(customer, tickets, cases, when, chosen)

    @acting
    def merge_customers(
        self, customer_id: str, *, into: str, actor: Actor = "system"
    ) -> MergeReport:
        """Merge the customer ``customer_id`` (a duplicate record of the same person) into
        ``into``, the record kept (see :mod:`aftersales.customers.merge`): its contact
        points, tickets and cases move, each moved subject gets a ``customer_merged``
        event, the duplicate keeps ``merged_into`` and nothing personal; one transaction.
        Merging again (into the record it was merged into, or any record that one was
        merged into since) moves only what was written under the duplicate's id since to
        the final record (when nothing was, it writes nothing). InvalidInput, nothing
        stored, when the two are one, either was merged elsewhere, or their contact points
        together pass ``max_contacts``;
        CustomerNotFound when either is unknown. With permissions, ``actor`` needs a grant
        of ``merge`` on ``customer``."""
        customer_id = check_text("customer_id", customer_id)
        into = check_text("into", into)
        actor = check_text("actor", actor)
        self._authorize(actor, "customer", "merge", into)
        self._authorize(actor, "customer", "merge", customer_id)
        for attempt in range(_ATTEMPTS):
            kept = self.store.get_customer(into)
            duplicate = self.store.get_customer(customer_id)
            try:
                return self._merge(kept, duplicate, actor)
            except ConcurrencyError:
                if attempt == _ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _merge(self, kept: Customer, duplicate: Customer, actor: str) -> MergeReport:
        tickets = self._tickets_of(duplicate.id)
        cases = list(every_case(self.store, CaseQuery(customer_id=duplicate.id, limit=_PAGE)))
        customers: list[Customer] = []
        final = self._kept(kept)
        if (
            duplicate.merged_into is not None
            and duplicate.id != kept.id
            and self._kept(duplicate).id == final.id
        ):
            # Merged before, into ``kept`` or a record it was merged into since: what was
            # written under the old id since moves to the final record, the one whose
            # profile shows it. A duplicate merged before merges blanked it is blanked now.
            marked = blanked(duplicate, duplicate.merged_into)
            if marked != duplicate:
                customers = [marked]
            if not tickets and not cases and not customers:
                return MergeReport(final, duplicate.id, 0, 0, 0)
            kept = joined = final
        else:
            joined, marked = merged_pair(kept, duplicate, self.settings.max_contacts)
            # The duplicate goes first: it gives up the addresses the kept record takes.
            customers = [marked, joined]
        now = self.pipeline.now()
        chain = self.pipeline.chain
        added: list[Event] = []
        new_tickets = [moved(t, kept.id, duplicate.id, actor, now, chain, added) for t in tickets]
        new_cases = [moved(c, kept.id, duplicate.id, actor, now, chain, added) for c in cases]
        self.store.rewrite(
            Rewrite(tickets=new_tickets, cases=new_cases, added=added, customers=customers)
        )
        self._forget({t.id for t in tickets} | {c.id for c in cases})
        return MergeReport(
            joined,
            duplicate.id,
            len(joined.contacts) - len(kept.contacts),
            len(new_tickets),
            len(new_cases),
        )

    def _kept(self, customer: Customer) -> Customer:
        """The customer ``customer`` was merged into, following merges of merges."""
        for _ in range(_MERGE_HOPS):
            if customer.merged_into is None:
                return customer
            customer = self.store.get_customer(customer.merged_into)
        return customer

    def _tickets_of(self, customer_id: str) -> list[Ticket]:
        return list(every_ticket(self.store, TicketQuery(customer_id=customer_id, limit=_PAGE)))

    def _cases_of(self, customer_id: str, tickets: list[Ticket]) -> list[Case]:
        """The customer's cases, and the cases on their tickets that name no customer."""
        found: dict[str, Any] = {
            case.id: case
            for case in every_case(self.store, CaseQuery(customer_id=customer_id, limit=_PAGE))
        }
        for ticket in tickets:
            for case in every_case(self.store, CaseQuery(ticket_id=ticket.id, limit=_PAGE)):
                if case.customer_id in (None, customer_id):
                    found.setdefault(case.id, case)
        return list(found.values())
