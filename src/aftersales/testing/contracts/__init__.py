"""The contracts every :class:`~aftersales.Store` passes, as pytest test bases.

Subclass :class:`StoreContract` and implement ``make_store`` to test your own store.
Subclass :class:`RaceContract` too (``make_store`` and ``open_store``: another connection
to the same database) for writers at once, and :class:`CrashContract` instead when several
processes can share the store: writers racing in four processes and writers killed inside
transitions. This module imports pytest; the rest of :mod:`aftersales.testing` does not.
"""

from __future__ import annotations

from aftersales.testing._concurrency import (
    CrashContract,
    RaceContract,
    race_for_the_last_units,
)
from aftersales.testing.contracts._base import LOOKALIKE_IDENTIFIERS as LOOKALIKE_IDENTIFIERS
from aftersales.testing.contracts._base import StoreContractBase
from aftersales.testing.contracts._base import _case as _case
from aftersales.testing.contracts._base import _case_event as _case_event
from aftersales.testing.contracts._base import _case_line as _case_line
from aftersales.testing.contracts._base import _event as _event
from aftersales.testing.contracts._base import _notification as _notification
from aftersales.testing.contracts._base import _ticket as _ticket
from aftersales.testing.contracts.cases import CaseContract
from aftersales.testing.contracts.counting import CountContract
from aftersales.testing.contracts.integrity import IntegrityContract
from aftersales.testing.contracts.recorder import RecorderContract
from aftersales.testing.contracts.records import RecordContract
from aftersales.testing.contracts.tickets import TicketContract

# The builders above (the library's own tests use them) stay importable from here.

__all__ = [
    "CaseContract",
    "CountContract",
    "CrashContract",
    "IntegrityContract",
    "RaceContract",
    "RecordContract",
    "RecorderContract",
    "StoreContract",
    "StoreContractBase",
    "TicketContract",
    "race_for_the_last_units",
]


class StoreContract(TicketContract, CountContract, RecordContract, CaseContract, IntegrityContract):
    """Behaviour every store must have. Subclass it under a ``Test`` name::

        class TestMyStore(StoreContract):
            def make_store(self) -> Store:
                return MyStore(...)

    Each test gets a fresh, empty store from :meth:`make_store`.
    """
