"""The narrow storage port: a backend implements a :class:`Recorder` of plain rows, and
:class:`RecordStore` turns any recorder into a whole :class:`~aftersales.Store`.

See :mod:`aftersales.storage._recorder` for the tables, their keys and what each method
must do; :class:`MemoryRecorder` is the reference recorder,
:class:`SQLiteRecorder` one on SQLite, :class:`SQLAlchemyRecorder` (extra ``sql``, imported
on first use) one on PostgreSQL, MariaDB/MySQL or SQLite. Prove a recorder with the
store contracts::

    from aftersales.testing.contracts import StoreContract

    class TestMyRecorder(StoreContract):
        def make_store(self):
            return RecordStore(MyRecorder())
"""

from typing import TYPE_CHECKING, Any

from aftersales.storage._memory_recorder import MemoryRecorder
from aftersales.storage._record_store import RecordStore
from aftersales.storage._recorder import (
    CounterRecords,
    CustomerRecords,
    OutboxRecords,
    Recorder,
    Records,
    Row,
    SubjectRecords,
)
from aftersales.storage._sqlite.recorder import SQLiteRecorder

if TYPE_CHECKING:
    from aftersales.storage._sqlalchemy.recorder import SQLAlchemyRecorder

__all__ = [
    "CounterRecords",
    "CustomerRecords",
    "MemoryRecorder",
    "OutboxRecords",
    "RecordStore",
    "Recorder",
    "Records",
    "Row",
    "SQLAlchemyRecorder",
    "SQLiteRecorder",
    "SubjectRecords",
]


def __getattr__(name: str) -> Any:
    """:class:`SQLAlchemyRecorder`, imported on first use: SQLAlchemy is an optional
    extra (``pip install "aftersales[sql]"``)."""
    if name == "SQLAlchemyRecorder":
        from aftersales.storage._sqlalchemy.recorder import SQLAlchemyRecorder

        return SQLAlchemyRecorder
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
