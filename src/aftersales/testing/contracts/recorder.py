"""The contract of a :class:`~aftersales.storage.recorder.Recorder`, at the level of rows.

A backend that is a recorder only passes this one first (it names the row-level rule a
failure breaks), then :class:`~aftersales.testing.contracts.StoreContract` through
``RecordStore(recorder)``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from aftersales.exceptions import AftersalesError
from aftersales.models import Ticket
from aftersales.storage import _codec as codec
from aftersales.storage.recorder import Recorder, Records, Row
from aftersales.testing.contracts._base import _T0, _event, _notification, _ticket


def _ticket_row(ticket: Ticket) -> Row:
    values = (*codec.ticket_row(ticket), *codec.ticket_key(ticket))
    return dict(zip(codec.TICKET_COLUMNS + codec.TICKET_KEY_COLUMNS, values, strict=True))


def _ts(minutes: int) -> str:
    return codec.ts(_T0 + timedelta(minutes=minutes)) or ""


class _Refused(AftersalesError):
    """Raised by a transaction's work: one of ours, so every recorder lets it pass."""


class RecorderContract:
    """Rows every recorder must keep. Subclass it under a ``Test`` name and implement
    :meth:`make_recorder` (a recorder on a fresh, empty database)."""

    recorder: Recorder

    def make_recorder(self) -> Recorder:
        """Return a new, empty recorder."""
        raise NotImplementedError

    def setup_method(self, method: object = None) -> None:
        self.recorder = self.make_recorder()

    def teardown_method(self, method: object = None) -> None:
        self.recorder.close()

    def _write(self, *tickets: Ticket) -> list[bool]:
        rows = [_ticket_row(t) for t in tickets]
        return self.recorder.atomically(lambda r: [r.insert("tickets", row) for row in rows])

    def _read(self, table: str, **where: Any) -> list[Row]:
        return self.recorder.reading(lambda r: r.select(table, where))

    def test_a_row_whose_key_is_taken_is_refused_and_not_written(self) -> None:
        assert self._write(_ticket(1)) == [True]
        taken_id = _ticket(2, id="t1")
        taken_number = _ticket(1, id="other")
        assert self._write(taken_id, taken_number) == [False, False]
        assert [row["number"] for row in self._read("tickets")] == [1]

    def test_an_update_needs_the_version_it_names(self) -> None:
        self._write(_ticket(1))
        changed = _ticket_row(_ticket(1, version=2, status="open"))
        changed = {c: changed[c] for c in codec.TICKET_COLUMNS}
        assert not self.recorder.atomically(lambda r: r.update("tickets", "t1", 7, changed))
        assert self.recorder.atomically(lambda r: r.update("tickets", "t1", 1, changed))
        assert not self.recorder.atomically(lambda r: r.update("tickets", "nope", 1, changed))
        [row] = self._read("tickets", id="t1")
        assert (row["version"], row["status"], row["number"]) == (2, "open", 1)

    def test_select_filters_ranges_orders_and_pages(self) -> None:
        self._write(*(_ticket(n, team="a" if n % 2 else "b") for n in (5, 3, 1, 4, 2)))

        def numbers(**options: Any) -> list[int]:
            where = options.pop("where", {})
            rows = self.recorder.reading(lambda r: r.select("tickets", where, **options))
            return [row["number"] for row in rows]

        assert numbers(where={"team": "a"}, order=("created_at", "number")) == [1, 3, 5]
        assert numbers(order=("number",), limit=2, offset=1) == [2, 3]
        assert numbers(
            since={"created_at": _ts(2)}, until={"created_at": _ts(4)}, order=("number",)
        ) == [2, 3]

    def test_count_rows_counts_what_select_selects(self) -> None:
        self._write(*(_ticket(n, team="a" if n % 2 else "b") for n in (5, 3, 1, 4, 2)))
        tags = [{"tag": "vip", "created_at": _ts(n), "number": n} for n in (1, 2, 4)]
        self.recorder.atomically(lambda r: [r.insert("ticket_tags", row) for row in tags])
        asked: list[dict[str, Any]] = [
            {"where": {}},
            {"where": {"team": "a"}},
            {"where": {"team": "a"}, "limit": 2},
            {"where": {}, "limit": 2, "offset": 4},
            {"where": {}, "offset": 9},
            {"where": {}, "since": {"created_at": _ts(2)}, "until": {"created_at": _ts(4)}},
            {"where": {}, "after": {"created_at": _ts(3), "number": 3}},
            {"where": {"team": "b"}, "tags": ["vip"]},
            {"where": {}, "tags": ["vip"], "after": {"created_at": _ts(1), "number": 1}},
            {"where": {"team": "nobody"}},
        ]
        for options in asked:
            where = options.pop("where")
            order = ("created_at", "number")
            selected = self.recorder.reading(
                lambda r: r.select("tickets", where, order=order, **options)  # noqa: B023
            )
            counted = self.recorder.reading(
                lambda r: r.count_rows("tickets", where, **options)  # noqa: B023
            )
            assert counted == len(selected), (where, options)
        assert self.recorder.reading(lambda r: r.count_rows("tickets", {"team": "a"})) == 3

    def test_due_lists_the_rows_whose_time_has_come_earliest_first(self) -> None:
        self._write(
            _ticket(1, due_at=_T0 + timedelta(hours=3)),
            _ticket(2, due_at=_T0 + timedelta(hours=1)),
            _ticket(3),
            _ticket(4, due_at=_T0 + timedelta(hours=9)),
        )
        at = _ts(5 * 60)
        rows = self.recorder.reading(lambda r: r.due("tickets", "due_at", at, ("due_at", "id"), 10))
        assert [row["number"] for row in rows] == [2, 1]

    def test_a_failed_transaction_writes_nothing(self) -> None:
        def work(records: Records) -> None:
            records.insert("tickets", _ticket_row(_ticket(1)))
            records.put("state", {"key": "k", "value": "v"})
            records.count("ticket_number", add=5)
            raise _Refused

        with pytest.raises(_Refused):
            self.recorder.atomically(work)
        assert self._read("tickets") == []
        assert self._read("state") == []
        assert self.recorder.atomically(lambda r: r.count("ticket_number")) == 1

    def test_events_keep_their_sequence_once(self) -> None:
        ticket = _ticket(1)
        event = dict(zip(codec.EVENT_COLUMNS, codec.event_row(_event(ticket)), strict=True))
        assert self.recorder.atomically(lambda r: r.append([event], []))
        assert not self.recorder.atomically(lambda r: r.append([event], []))
        assert len(self._read("events", subject_id="t1")) == 1

    def test_outbox_rows_are_claimed_with_a_lease_then_delivered_or_failed(self) -> None:
        event = _event(_ticket(1))
        rows = [
            dict(
                zip(
                    codec.OUTBOX_COLUMNS,
                    codec.notification_row(_notification(event, handler), None),
                    strict=True,
                )
            )
            for handler in ("a", "b", "c")
        ]
        for row in rows:
            row["lease_until"] = None
        self.recorder.atomically(lambda r: r.append([], rows))
        now, later = _ts(10), _ts(20)
        claimed = self.recorder.atomically(lambda r: r.claim(now, later, 2))
        assert len(claimed) == 2
        assert len(self.recorder.atomically(lambda r: r.claim(now, later, 5))) == 1
        first, second = (row["key"] for row in claimed)
        self.recorder.atomically(lambda r: r.acknowledge([first], now))
        self.recorder.atomically(lambda r: r.fail(second, "down", None, "dead"))
        by_key = {row["key"]: row for row in self._read("outbox")}
        assert (by_key[first]["status"], by_key[first]["delivered_at"]) == ("delivered", now)
        assert (by_key[second]["status"], by_key[second]["attempts"]) == ("dead", 1)
        assert by_key[second]["last_error"] == "down"

    def test_contact_points_belong_to_the_customer_last_saved_with_them(self) -> None:
        email, phone = ("email", "a@example.com"), ("sms", "+8613800000000")
        self.recorder.atomically(lambda r: r.put_customer("c1", "{}", [email, phone]))
        self.recorder.atomically(lambda r: r.put_customer("c1", "{}", [phone]))
        owners = self.recorder.reading(lambda r: r.contact_owners([email, phone]))
        assert owners == [None, "c1"]
        assert [row["id"] for row in self._read("customers")] == ["c1"]

    def test_counters_add_and_rise_and_state_is_replaced(self) -> None:
        assert self.recorder.atomically(lambda r: r.count("ticket_number", add=10)) == 11
        assert self.recorder.atomically(lambda r: r.count("ticket_number", at_least=5)) == 11
        assert self.recorder.atomically(lambda r: r.count("ticket_number", at_least=50)) == 50
        self.recorder.atomically(lambda r: r.put("state", {"key": "k", "value": "1"}))
        self.recorder.atomically(lambda r: r.put("state", {"key": "k", "value": "2"}))
        assert [row["value"] for row in self._read("state", key="k")] == ["2"]
