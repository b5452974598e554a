"""aftersales: after-sales customer service as a library.

Tickets through inquiry → classify → assign → handle → resolve → confirm → follow-up, on
workflows compiled once into shared ``transitions`` machines, with an event for every
change, durable SQLite storage by default and hooks that never lose work.

>>> from aftersales import Desk
>>> desk = Desk()
>>> t = desk.open_ticket(customer="c-1", channel="wechat", subject="屏幕不亮")
>>> t.status, t.status_category.value
('new', 'new')
"""

from aftersales.clock import Clock, FrozenClock, SystemClock
from aftersales.exceptions import (
    AftersalesError,
    ConcurrencyError,
    CustomerNotFound,
    FieldError,
    InvalidInput,
    InvalidWorkflow,
    NotFound,
    SchemaVersionError,
    StorageError,
    TicketNotFound,
    TransitionError,
    TransitionRefused,
    TriggerNotAllowed,
    WorkflowError,
)
from aftersales.models import (
    AuthorRole,
    Channel,
    ContactPoint,
    Customer,
    Event,
    Message,
    MessageKind,
    Money,
    Order,
    OrderLine,
    OrderLineRef,
    Priority,
    Product,
    Severity,
    StatusCategory,
    Ticket,
)
from aftersales.notify import DeliveryStatus, Notification, Subscription
from aftersales.service import CustomerHistory, Desk, DispatchReport, DueReport, fold_events
from aftersales.settings import DeskSettings
from aftersales.storage import Change, MemoryStore, SQLiteStore, Store, TicketQuery
from aftersales.workflows import (
    TICKET_WORKFLOW,
    Refusal,
    State,
    Transition,
    TransitionContext,
    Workflow,
)

__version__ = "0.1.0"

__all__ = [
    "TICKET_WORKFLOW",
    "AftersalesError",
    "AuthorRole",
    "Change",
    "Channel",
    "Clock",
    "ConcurrencyError",
    "ContactPoint",
    "Customer",
    "CustomerHistory",
    "CustomerNotFound",
    "DeliveryStatus",
    "Desk",
    "DeskSettings",
    "DispatchReport",
    "DueReport",
    "Event",
    "FieldError",
    "FrozenClock",
    "InvalidInput",
    "InvalidWorkflow",
    "MemoryStore",
    "Message",
    "MessageKind",
    "Money",
    "NotFound",
    "Notification",
    "Order",
    "OrderLine",
    "OrderLineRef",
    "Priority",
    "Product",
    "Refusal",
    "SQLiteStore",
    "SchemaVersionError",
    "Severity",
    "State",
    "StatusCategory",
    "StorageError",
    "Store",
    "Subscription",
    "SystemClock",
    "Ticket",
    "TicketNotFound",
    "TicketQuery",
    "Transition",
    "TransitionContext",
    "TransitionError",
    "TransitionRefused",
    "TriggerNotAllowed",
    "Workflow",
    "WorkflowError",
    "__version__",
    "fold_events",
]
