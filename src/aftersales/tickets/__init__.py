"""Tickets: the commands of a desk's tickets, their customers, reading and import.

:class:`~aftersales.Desk` is the way in; the modules here hold what it delegates to (the
write core over :mod:`aftersales._pipeline`, the commands, customers, import).
"""

from aftersales.tickets._reading import fold_events
from aftersales.tickets.customers import CustomerHistory

__all__ = ["CustomerHistory", "fold_events"]
