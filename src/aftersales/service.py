"""Deprecated home of the desk: :class:`~aftersales.Desk` lives in :mod:`aftersales.desk`,
ticket commands in :mod:`aftersales.tickets`, SLA tracking in
:mod:`aftersales.sla.tracker`, outbox delivery in :mod:`aftersales.notify`. Kept so that
``from aftersales.service import Desk`` (and the other names below) keeps working."""

from aftersales.desk import Desk, DueReport
from aftersales.notify._outbox import DispatchReport
from aftersales.sla.tracker import SLAReportRow
from aftersales.tickets import CustomerHistory, fold_events

__all__ = [
    "CustomerHistory",
    "Desk",
    "DispatchReport",
    "DueReport",
    "SLAReportRow",
    "fold_events",
]
