"""What the structural trims of Desk.fire keep: times in an event's ``changes`` read as
``isoformat`` writes them, ..."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from aftersales._utc_text import iso_text

ZONES = st.sampled_from([timezone.utc, None, timezone(timedelta(hours=8)), timezone.min])


@given(st.datetimes(timezones=ZONES), st.sampled_from([None, 0, 5, 100, 999_999]))
def test_iso_text_is_isoformat_for_every_datetime(at: datetime, micro: int | None) -> None:
    if micro is not None:
        at = at.replace(microsecond=micro)  # zero microseconds are left out of the text
    assert iso_text(at) == at.isoformat()
