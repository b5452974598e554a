"""What a risk watch remembers between runs: per series and method whether it is in
alert and since when it has been normal, and per method the last day judged; and how a
run moves that on (see the cool-down in :mod:`aftersales.insights.risk`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, timedelta
from typing import TYPE_CHECKING, Literal

import attrs
from pydantic import BaseModel, ConfigDict, Field

from aftersales._validation import parse
from aftersales.exceptions import FieldError, InvalidInput

if TYPE_CHECKING:
    from aftersales.insights.risk import RiskRule, Series

Method = Literal["poisson", "binomial", "ewma", "cusum"]


@attrs.frozen
class SeriesState:
    """Where one series stood after the last run: in alert or not, how many windows in a
    row it has been normal, and the last day that run judged."""

    in_alert: bool
    normal_windows: int
    through: date


StateKey = tuple[str, str, str]
"""``(key, kind, method)``: one state per series and method."""


class _StateRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str
    kind: str
    method: Method
    in_alert: bool
    normal_windows: int = Field(ge=0)
    through: date


class _StateDocument(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Literal[1]
    series: list[_StateRow]
    judged_through: dict[Method, date] = Field(default_factory=dict)


@attrs.define
class AlertState:
    """Which series are in alert, kept between runs so that an alert is not repeated while
    its condition lasts. :func:`~aftersales.insights.detect` and
    :func:`~aftersales.insights.detect_many` read and update it."""

    series: dict[StateKey, SeriesState] = attrs.field(factory=dict)
    judged_through: dict[str, date] = attrs.field(factory=dict)
    """Per method, the last day judged over all series: a series without a state of its
    own (new, or forgotten) is judged only after it."""

    def in_alert(self) -> list[StateKey]:
        """The series (and methods) in alert now, sorted."""
        return sorted(key for key, state in self.series.items() if state.in_alert)

    def to_json(self) -> str:
        """The state as JSON text (sorted, so equal states give equal text)."""
        rows = [
            {
                "key": key,
                "kind": kind,
                "method": method,
                "in_alert": state.in_alert,
                "normal_windows": state.normal_windows,
                "through": state.through.isoformat(),
            }
            for (key, kind, method), state in sorted(self.series.items())
        ]
        through = {method: day.isoformat() for method, day in sorted(self.judged_through.items())}
        return json.dumps(
            {"version": 1, "series": rows, "judged_through": through}, ensure_ascii=False
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> AlertState:
        """The state :meth:`to_json` wrote; InvalidInput if ``text`` is not one."""
        try:
            data = json.loads(text)
        except ValueError as error:
            raise InvalidInput("AlertState", [FieldError((), f"not JSON: {error}")]) from None
        document = parse(_StateDocument, data, "AlertState")
        return cls(
            {
                (row.key, row.kind, row.method): SeriesState(
                    row.in_alert, row.normal_windows, row.through
                )
                for row in document.series
            },
            {str(method): day for method, day in document.judged_through.items()},
        )


def finish(state: AlertState, rule: RiskRule, series_list: Sequence[Series]) -> None:
    """After a run of ``rule`` over ``series_list``: move the method's last day judged
    on, and forget the series not in alert whose last day judged lies further back than
    every window that could still read it (baseline, test window, re-arming)."""
    method = rule.method
    mine = [(key, entry) for key, entry in state.series.items() if key[2] == method]
    known = state.judged_through.get(method)
    latest = max((entry.through for _key, entry in mine), default=known)
    if latest is None:
        return
    if known is not None and known > latest:
        latest = known
    state.judged_through[method] = latest
    period = max((series.period_days for series in series_list), default=1)
    windows = rule.baseline_windows + rule.test_windows + rule.rearm_after
    horizon = latest - timedelta(days=windows * period)
    for key, entry in mine:
        if not entry.in_alert and entry.through < horizon:
            del state.series[key]
