"""How a case's changes are recorded: its events, the per-line patches under
:data:`LINE_CHANGES`, and folding events back into the case."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timezone, tzinfo
from typing import Any

from aftersales._pipeline import fold
from aftersales._validation import check_text as _check_text
from aftersales._validation import json_value, parse
from aftersales.models import Event
from aftersales.models.case import Case, CaseLine

__all__ = ["LINE_CHANGES", "fold_case"]


def check_text(name: str, value: object) -> str:
    """``value`` if it is an identifier (an id, an actor, a trigger): a str of 1 to 128
    characters of valid Unicode without control characters (an ``actor`` may be a
    principal: its id); otherwise InvalidInput. The desk's one check
    (:func:`aftersales._validation.check_text`)."""
    return _check_text(name, value)


LINE_CHANGES = "line_changes"
"""The key of an event's ``changes`` that holds what changed on some of the case's lines,
by line id (``{"l1": {"received": 2}}``): a step that counts units records those counts,
not every line again with its facts and decision."""


def fold_case(events: Sequence[Event]) -> Case:
    """Rebuild a case from its events by applying each event's ``changes`` in order (and
    the per-line changes under :data:`LINE_CHANGES` to the lines they name)."""
    if not any(LINE_CHANGES in event.changes for event in events):
        return fold(events, Case)
    data: dict[str, Any] = {}
    for event in events:
        changes = dict(event.changes)
        patches = changes.pop(LINE_CHANGES, None)
        data.update(changes)
        if isinstance(patches, Mapping):
            data["lines"] = [
                {**line, **patches.get(line.get("line_id"), {})} for line in data.get("lines", [])
            ]
    data["audit_chain"] = events[-1].chain
    return parse(Case, data, "case events")


def terms_changed(before: Case, after: Case) -> bool:
    """Whether a step gave any line other facts or another decision (records are frozen,
    so the same objects mean the same terms)."""
    if len(before.lines) != len(after.lines):
        return True
    return any(
        old.facts is not new.facts or old.decision is not new.decision
        for old, new in zip(before.lines, after.lines, strict=True)
    )


def line_changes(before: Sequence[CaseLine], after: Sequence[CaseLine]) -> dict[str, Any] | None:
    """What changed on each line, field by field; None when lines were added, removed or
    reordered (the event then records every line)."""
    if len(before) != len(after) or any(
        old.line_id != new.line_id for old, new in zip(before, after, strict=True)
    ):
        return None
    patches: dict[str, Any] = {}
    for old, new in zip(before, after, strict=True):
        if old is new:
            continue
        changed = {
            name: json_value(value)
            for name in _LINE_FIELDS
            if (value := getattr(new, name)) is not (previous := getattr(old, name))
            and value != previous
        }
        if changed:
            patches[new.line_id] = changed
    return patches


_LINE_FIELDS = tuple(CaseLine.model_fields)


def end_of(day: date, zone: tzinfo) -> datetime:
    """The last instant of ``day`` where the desk is, in UTC."""
    return datetime.combine(day, time.max, tzinfo=zone).astimezone(timezone.utc)
