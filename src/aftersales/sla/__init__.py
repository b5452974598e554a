"""SLAs on business calendars: targets per priority and channel, pauses, warnings, breaches
and escalation, computed from each ticket's event history.

>>> from datetime import datetime, timedelta, timezone
>>> from aftersales.sla import BusinessCalendar
>>> calendar = BusinessCalendar(time_zone="Europe/Berlin",
...                             hours={d: ["09:00-12:00", "13:00-17:00"] for d in range(5)})
>>> calendar.add(datetime(2024, 3, 4, 10, 30, tzinfo=timezone.utc), timedelta(hours=2)).isoformat()
'2024-03-04T13:30:00+00:00'
"""

from aftersales.sla.calendar import BusinessCalendar
from aftersales.sla.measure import (
    FIRST_RESPONSE_MET_BY,
    Metric,
    MetricState,
    MetricStatus,
    SLAStatus,
    first_response_at,
    meets_first_response,
)
from aftersales.sla.policy import (
    MAX_TARGET_MINUTES,
    CalendarSpec,
    Escalation,
    SLAMatch,
    SLAPolicy,
    SLARule,
    Target,
)
from aftersales.sla.tracker import SLAReportRow

__all__ = [
    "FIRST_RESPONSE_MET_BY",
    "MAX_TARGET_MINUTES",
    "BusinessCalendar",
    "CalendarSpec",
    "Escalation",
    "Metric",
    "MetricState",
    "MetricStatus",
    "SLAMatch",
    "SLAPolicy",
    "SLAReportRow",
    "SLARule",
    "SLAStatus",
    "Target",
    "first_response_at",
    "meets_first_response",
]
