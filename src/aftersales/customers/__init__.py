"""Customers as one view and one record (issue 18, seeds S10): the profile
(:meth:`aftersales.Desk.customer_profile`) and the merge of duplicate records
(:meth:`aftersales.Desk.merge_customers`)."""

from aftersales.customers.merge import MergeReport
from aftersales.customers.profile import (
    CaseSummary,
    ComplaintSummary,
    CustomerProfile,
    ProductStatus,
    RemedyStatus,
    SurveySummary,
    TicketSummary,
)
from aftersales.models.customer import ContactHours

__all__ = [
    "CaseSummary",
    "ComplaintSummary",
    "ContactHours",
    "CustomerProfile",
    "MergeReport",
    "ProductStatus",
    "RemedyStatus",
    "SurveySummary",
    "TicketSummary",
]
