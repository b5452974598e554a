"""The security log: what supervisors read about refusals and privacy requests."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from aftersales.models._base import Identifier, Instant, Record, ShortText, Text, new_id

__all__ = ["SecurityEntry", "SecurityEntryKind"]

SecurityEntryKind = Literal["refused", "erased", "exported", "retention"]
"""``refused``: a permission check said no (nothing else was stored); ``erased``: a
customer's personal data was erased; ``exported``: it was exported for an access request;
``retention``: personal data of closed subjects was erased after the retention period."""


class SecurityEntry(Record):
    """One entry of the security log. It never holds personal data: ids, the action and
    the rule only."""

    id: Identifier = Field(default_factory=new_id)
    kind: SecurityEntryKind
    at: Instant
    principal: Identifier
    action: ShortText
    rule: ShortText | None = None
    reason: Text | None = None
    subject_id: Identifier | None = None
    customer_id: Identifier | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    """Counts and the like (``{"tickets": 3, "events": 41}``), never personal values."""
