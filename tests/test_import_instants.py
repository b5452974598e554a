"""An imported record's instants: one already in UTC is kept as it is (the shortcut
``_to_utc`` takes), any other is converted, and the years are checked either way."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from aftersales.exceptions import InvalidInput
from aftersales.models._base import parse_instant


class _Moment(datetime):
    """A datetime subclass: not taken by the shortcut."""


def test_an_instant_in_utc_is_kept_and_others_are_converted() -> None:
    utc = datetime(2024, 3, 4, 9, 0, 0, 5, tzinfo=timezone.utc)
    assert parse_instant("at", utc) is utc
    for zone in (timezone(timedelta(hours=8)), ZoneInfo("UTC"), ZoneInfo("Asia/Shanghai")):
        given = utc.astimezone(zone)
        parsed = parse_instant("at", given)
        assert parsed == utc
        assert parsed.tzinfo is timezone.utc
    moment = _Moment(2024, 3, 4, 9, tzinfo=timezone.utc)
    assert parse_instant("at", moment) == moment.astimezone(timezone.utc)


@pytest.mark.parametrize(
    "at",
    [
        datetime(1899, 12, 31, 23, 59, tzinfo=timezone.utc),
        datetime(2201, 1, 1, tzinfo=timezone.utc),
        datetime(2200, 12, 31, 23, tzinfo=timezone(timedelta(hours=-5))),
    ],
)
def test_an_instant_out_of_range_is_refused_in_utc_too(at: datetime) -> None:
    with pytest.raises(InvalidInput, match="must fall in the years 1900 to 2200"):
        parse_instant("at", at)
