"""Pluggable storage: the Store protocol, MemoryStore and the default SQLiteStore."""

from aftersales.storage._codec import SCHEMA_VERSION
from aftersales.storage._paging import every_case, every_ticket
from aftersales.storage._protocol import Store
from aftersales.storage._unit import (
    CaseChange,
    CaseCursor,
    CaseQuery,
    Change,
    Rewrite,
    TicketCursor,
    TicketQuery,
)
from aftersales.storage.memory import MemoryStore
from aftersales.storage.sqlite import SQLiteStore

__all__ = [
    "SCHEMA_VERSION",
    "CaseChange",
    "CaseCursor",
    "CaseQuery",
    "Change",
    "MemoryStore",
    "Rewrite",
    "SQLiteStore",
    "Store",
    "TicketCursor",
    "TicketQuery",
    "every_case",
    "every_ticket",
]
