"""Pluggable storage: the Store protocol, MemoryStore and the default SQLiteStore."""

from aftersales.storage._protocol import Change, Store, TicketQuery
from aftersales.storage.memory import MemoryStore
from aftersales.storage.sqlite import SCHEMA_VERSION, SQLiteStore

__all__ = ["SCHEMA_VERSION", "Change", "MemoryStore", "SQLiteStore", "Store", "TicketQuery"]
