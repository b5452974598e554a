"""Pluggable storage: the Store protocol, MemoryStore and the default SQLiteStore."""

from aftersales.storage._protocol import CaseChange, CaseQuery, Change, Store, TicketQuery
from aftersales.storage.memory import MemoryStore
from aftersales.storage.sqlite import SCHEMA_VERSION, SQLiteStore

__all__ = [
    "SCHEMA_VERSION",
    "CaseChange",
    "CaseQuery",
    "Change",
    "MemoryStore",
    "SQLiteStore",
    "Store",
    "TicketQuery",
]
