"""Deprecated home of the desk: :class:`~aftersales.Desk` lives in :mod:`aftersales.desk`,
ticket commands in :mod:`aftersales.tickets`, SLA tracking in
:mod:`aftersales.sla.tracker`, outbox delivery in :mod:`aftersales.notify`. Kept so that
``from aftersales.service import Desk`` (and the other names below) keeps working."""

from aftersales.cases import KINDS as _KINDS
from aftersales.desk import Desk, DueReport
from aftersales.models.events import RESERVED_TRIGGERS
from aftersales.notify._outbox import DispatchReport
from aftersales.notify._subscriptions import ALL_KINDS
from aftersales.sla.tracker import SLAReportRow
from aftersales.tickets import CustomerHistory, fold_events
from aftersales.workflows import Workflow

TICKET_EVENTS = RESERVED_TRIGGERS
"""Events a ticket's history may hold besides its workflow's transitions."""

CASE_WORKFLOWS: dict[str, Workflow] = {spec.name: spec.workflow for spec in _KINDS}
"""The workflow of each shipped case kind."""

__all__ = [
    "ALL_KINDS",
    "CASE_WORKFLOWS",
    "TICKET_EVENTS",
    "CustomerHistory",
    "Desk",
    "DispatchReport",
    "DueReport",
    "SLAReportRow",
    "fold_events",
]
