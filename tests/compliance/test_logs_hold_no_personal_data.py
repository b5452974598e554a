"""Logs never hold personal data: every log record (every logger, at DEBUG) and every
warning of a full demo run, with a failing hook whose error names the customer, redaction
on intake, retention, a refused permission, an erasure and an export, holds none of the
demo customers' names, phone numbers, e-mail addresses or WeChat ids."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from case_facts import claim_line

from aftersales import Channel, Desk, DeskSettings, FrozenClock, Notification, SQLiteStore
from aftersales.demo import CUSTOMERS, run_demo
from aftersales.exceptions import PermissionDenied
from aftersales.privacy import RedactionSettings
from aftersales.security import MemoryDirectory, Principal, default_permissions

_QUIET = logging.getLogger("tests.compliance.quiet")
_QUIET.propagate = False  # like a library logger with its own handlers

OPENING = datetime(2026, 3, 2, 1, 15, tzinfo=timezone.utc)  # 09:15 in the shop


def _personal_values() -> dict[str, str]:
    """Every name and contact address of the demo's customers, and each phone number
    as people also write it: digits only, without the country code."""
    values: dict[str, str] = {}
    for customer in CUSTOMERS:
        values[f"{customer.id} name"] = customer.name
        for contact in customer.contacts:
            values[f"{customer.id} {contact.channel.value}"] = contact.address
            if contact.channel is Channel.PHONE:
                digits = "".join(c for c in contact.address if c.isdigit())
                values[f"{customer.id} phone digits"] = digits
                values[f"{customer.id} national number"] = digits[2:]
    return values


PERSONAL = _personal_values()
assert "王芳" in PERSONAL.values()
assert "john.smith@example.com" in PERSONAL.values()
assert "13800138000" in PERSONAL.values()


@dataclass
class Captured:
    """Everything logged and warned, as text."""

    records: list[logging.LogRecord] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)


class _Keep(logging.Handler):
    def __init__(self, captured: Captured) -> None:
        super().__init__(logging.DEBUG)
        self.captured = captured
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.captured.records.append(record)
        texts = [self.format(record), str(record.msg), repr(record.args)]
        texts += [repr(value) for value in vars(record).values()]
        self.captured.texts.extend(texts)


@pytest.fixture
def captured() -> Iterator[Captured]:
    """Every logger at DEBUG, propagating or not, disabled or not, into one handler; and
    every warning recorded instead of raised."""
    captured = Captured()
    handler = _Keep(captured)
    root = logging.getLogger()
    saved_root = root.level
    loggers = [
        logger
        for logger in logging.root.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    saved = [(logger, logger.level, logger.disabled) for logger in loggers]
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
        logger.disabled = False
        if not logger.propagate:
            logger.addHandler(handler)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield captured
    captured.texts.extend(f"{w.category.__name__}: {w.message} {w.filename}" for w in caught)
    root.removeHandler(handler)
    root.setLevel(saved_root)
    for logger, level, disabled in saved:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.disabled = disabled


def _leaks(texts: list[str]) -> dict[str, str]:
    return {
        what: text for text in texts for what, value in PERSONAL.items() if value and value in text
    }


def test_the_capture_sees_debug_records_of_every_logger(captured: Captured) -> None:
    """The capture itself works: a library logger at DEBUG and a logger that does not
    propagate both reach it (else the test below could not fail)."""
    logging.getLogger("aftersales.canary").debug("canary %s", PERSONAL["cust-john-smith name"])
    _QUIET.debug("quiet %s", PERSONAL["cust-wang-fang phone"])

    assert [r.name for r in captured.records] == ["aftersales.canary", _QUIET.name]
    assert set(_leaks(captured.texts)) == {"cust-john-smith name", "cust-wang-fang phone"}


def test_a_full_demo_run_logs_no_personal_data(captured: Captured, tmp_path: Path) -> None:
    clock = FrozenClock(OPENING)
    desk = Desk(
        SQLiteStore(tmp_path / "demo.db"),
        clock=clock,
        settings=DeskSettings(retention_days=30, redaction=RedactionSettings(style="mask")),
    )

    def mail_the_customer(notification: Notification) -> None:
        event = notification.event
        if event.subject_kind != "ticket":
            return
        customer = desk.get_customer(desk.get(event.subject_id).customer_id)
        contacts = ", ".join(c.address for c in customer.contacts)
        raise ConnectionError(f"cannot reach {customer.name} at {contacts}")

    desk.on_transition(mail_the_customer, name="mail.customer")

    result = run_demo(desk, clock.advance)

    assert result.total_tickets > 0
    failed = [n.last_error or "" for n in desk.outbox("pending") + desk.outbox("dead")]
    assert any("john.smith@example.com" in error for error in failed)  # the hook did fail
    wang = desk.open_ticket(
        customer="cust-wang-fang",
        channel="wechat",
        subject="王芳的烘干机不转，电话 13800138000",
        description="请联系 john.smith@example.com",
    )
    desk.cases.request_return(
        wang.id,
        order_id="o-log",
        lines=[
            claim_line(
                claim_at=clock.now().isoformat(),
                purchased="2026-02-20T10:00:00+08:00",
                delivered="2026-02-21T10:00:00+08:00",
            )
        ],
    )
    for _ in range(3):
        clock.advance(timedelta(days=20))
        desk.run_due()
        desk.dispatch_outbox()
    desk.export_customer("cust-john-smith")
    desk.erase_customer("cust-wang-fang")
    assert desk.verify_audit().ok
    desk.close()

    john = Principal.customer("cust-john-smith")
    guarded = Desk(
        clock=clock, permissions=default_permissions(), principals=MemoryDirectory([john])
    )
    guarded.save_customer(CUSTOMERS[3])
    maria = guarded.open_ticket(
        customer="cust-maria-garcia", channel="phone", subject="Maria Garcia's parcel"
    )
    with pytest.raises(PermissionDenied):  # another customer's ticket
        guarded.fire(maria.id, "cancel", actor=john.id, payload={"reason": "not mine"})
    assert [e.kind for e in guarded.security_log()] == ["refused"]

    assert _leaks(captured.texts) == {}
