"""The narrow storage port: a backend implements a :class:`Recorder` of plain rows, and
:class:`RecordStore` turns any recorder into a whole :class:`~aftersales.Store`.

See :mod:`aftersales.storage._recorder` for the tables, their keys and what each method
must do; :class:`MemoryRecorder` is the reference recorder,
:class:`SQLiteRecorder` one on SQLite. Prove a recorder with the
store contracts::

    from aftersales.testing.contracts import StoreContract

    class TestMyRecorder(StoreContract):
        def make_store(self):
            return RecordStore(MyRecorder())
"""

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

__all__ = [
    "CounterRecords",
    "CustomerRecords",
    "MemoryRecorder",
    "OutboxRecords",
    "RecordStore",
    "Recorder",
    "Records",
    "Row",
    "SQLiteRecorder",
    "SubjectRecords",
]
