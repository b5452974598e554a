"""Validated records that cross the library's boundary (pydantic v2, frozen, UTC times)."""

from aftersales.models._base import Instant, Record, new_id
from aftersales.models.case import (
    Case,
    CaseKind,
    CaseLine,
    ComplaintDetails,
    ExchangeDetails,
    RefundDetails,
    RefundMethod,
    RepairDetails,
    RepairSite,
    ReturnLogistics,
    ReturnMethod,
    UnitResult,
)
from aftersales.models.customer import Channel, ContactPoint, Customer
from aftersales.models.events import MESSAGE_ADDED, OPENED, Event
from aftersales.models.order import Money, Order, OrderLine, OrderLineRef, Product
from aftersales.models.ticket import (
    PRIORITY_FOR_SEVERITY,
    AuthorRole,
    Message,
    MessageKind,
    Priority,
    PriorityLevel,
    Severity,
    StatusCategory,
    Ticket,
)

__all__ = [
    "MESSAGE_ADDED",
    "OPENED",
    "PRIORITY_FOR_SEVERITY",
    "AuthorRole",
    "Case",
    "CaseKind",
    "CaseLine",
    "Channel",
    "ComplaintDetails",
    "ContactPoint",
    "Customer",
    "Event",
    "ExchangeDetails",
    "Instant",
    "Message",
    "MessageKind",
    "Money",
    "Order",
    "OrderLine",
    "OrderLineRef",
    "Priority",
    "PriorityLevel",
    "Product",
    "Record",
    "RefundDetails",
    "RefundMethod",
    "RepairDetails",
    "RepairSite",
    "ReturnLogistics",
    "ReturnMethod",
    "Severity",
    "StatusCategory",
    "Ticket",
    "UnitResult",
    "new_id",
]
