"""The data of ``aftersales demo``: its customers, the shop's SLA policy, routing rules and
surveys, the inquiries and the return's facts. Everything here is plain data a shop would
write itself (JSON in a real deployment); :mod:`aftersales.demo` plays it out."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import attrs

from aftersales.models import Channel, ContactPoint, Customer

__all__ = [
    "CUSTOMERS",
    "INQUIRIES",
    "KETTLE",
    "RETURN_PRICE",
    "ROUTING",
    "SHOP_TIME",
    "SLA_POLICY",
    "SURVEYS",
    "SURVEY_SCORES",
    "WASHER",
    "Inquiry",
    "kettle_facts",
    "local_time",
]

SHOP_TIME = timezone(timedelta(hours=8), "UTC+08:00")
"""The shop's wall clock (China Standard Time, no daylight saving): the demo shows every
time in it, with the year and the offset."""


def local_time(at: datetime) -> str:
    """``at`` on the shop's clock, e.g. ``2026-03-02 09:15 +08:00``."""
    local = at.astimezone(SHOP_TIME)
    offset = local.strftime("%z")
    return f"{local:%Y-%m-%d %H:%M} {offset[:3]}:{offset[3:]}"


CUSTOMERS = (
    Customer(
        id="cust-wang-fang",
        name="王芳",
        tier="vip",
        language="zh",
        contacts=(
            ContactPoint(channel=Channel.WECHAT, address="wx-o6_bmjrPTlm6_2sgVt7hMZOPfL2M"),
            ContactPoint(channel=Channel.PHONE, address="+86 138 0013 8000"),
        ),
    ),
    Customer(
        id="cust-john-smith",
        name="John Smith",
        language="en",
        contacts=(
            ContactPoint(channel=Channel.EMAIL, address="john.smith@example.com"),
            ContactPoint(channel=Channel.WEB_CHAT, address="visitor-4471"),
        ),
    ),
    Customer(
        id="cust-li-lei",
        name="李雷",
        language="zh",
        contacts=(ContactPoint(channel=Channel.APP, address="app-user-99812"),),
    ),
    Customer(
        id="cust-maria-garcia",
        name="Maria Garcia",
        language="en",
        contacts=(ContactPoint(channel=Channel.PHONE, address="+34 600 123 456"),),
    ),
)


@attrs.frozen
class Inquiry:
    """A customer's first message, and when it arrives after the round opens."""

    customer: str
    channel: Channel
    subject: str
    description: str
    language: str
    after: timedelta


WASHER, KETTLE = INQUIRIES = (
    Inquiry(
        "cust-wang-fang",
        Channel.WECHAT,
        "洗衣机漏水，还在保修期内吗？",
        "滚筒洗衣机底部漏水，买了半年。",
        "zh",
        timedelta(0),
    ),
    Inquiry(
        "cust-john-smith",
        Channel.EMAIL,
        "Refund for my kettle",
        "The kettle I received on Wednesday is too small. I want to return it for a refund.",
        "en",
        timedelta(minutes=50),
    ),
)

SLA_POLICY: dict[str, Any] = {
    "name": "shop",
    "calendar": {
        # no public holidays, so the demo needs no holidays extra; a shop adds
        # "country": "CN" (aftersales[calendars]) for holidays and make-up working days
        "time_zone": "Asia/Shanghai",
        "hours": {
            day: ["09:00-12:00", "13:30-18:00"] for day in ("mon", "tue", "wed", "thu", "fri")
        },
    },
    "rules": [
        {
            "name": "wechat",
            "match": {"channel": ["wechat"]},
            "targets": {
                "first_response": {"minutes": 30, "warning_minutes_before": 10},
                "resolution": {"minutes": 960},
            },
        },
        {
            "name": "e-mail and the rest",
            "targets": {
                "first_response": {"minutes": 120, "warning_minutes_before": 30},
                "resolution": {"minutes": 1440},
            },
        },
    ],
    "escalation": {"on": ["first_response"], "assignee": "shift.lead"},
}
"""First response within 30 business minutes on WeChat, 2 business hours otherwise,
on the shop's hours (Monday to Friday, 09:00-12:00 and 13:30-18:00 in Shanghai); a
missed first response goes to the shift lead."""

ROUTING: dict[str, Any] = {
    "teams": [{"id": "repairs"}, {"id": "returns"}, {"id": "service"}],
    "agents": [
        {"id": "zhao.gang", "teams": ["repairs"], "skills": {"languages": ["zh"]}},
        {"id": "emma", "teams": ["returns"], "capacity": 10},
        {"id": "li.na", "teams": ["returns"], "capacity": 10, "skills": {"languages": ["zh"]}},
        {"id": "chen.jing", "teams": ["service"]},
    ],
    "rules": [
        {
            "name": "repairs and warranty",
            "match": {"category": ["repair_warranty"]},
            "team": "repairs",
            "strategy": "skills",
        },
        {
            "name": "returns in English",
            "match": {"category": ["return_refund", "exchange"], "language": ["en"]},
            "team": "returns",
            "strategy": "least_loaded",
        },
    ],
    "default_team": "service",
}

SURVEYS: dict[str, Any] = {
    "rules": [{"kinds": ["ticket"], "survey": "csat", "after": "resolution", "delay_hours": 2}],
}
"""A CSAT survey (1-5) two hours after each ticket's resolution."""

SURVEY_SCORES = {"cust-wang-fang": 5, "cust-john-smith": 3}
"""What each customer answers: 王芳 had her answer in 12 minutes, John waited the weekend."""

RETURN_PRICE = "299.00"


def kettle_facts(delivered: datetime, claimed: datetime) -> dict[str, Any]:
    """The facts of John's return: a kettle bought online in China, delivered on
    ``delivered``, returned without a reason on ``claimed``."""
    return {
        "jurisdiction": "cn",
        "product": {"category": "kettle", "sku": "KETTLE-1L"},
        "order": {
            "purchased_at": (delivered - timedelta(days=1)).isoformat(),
            "delivered_at": delivered.isoformat(),
            "unit_price": {"amount": RETURN_PRICE, "currency": "CNY"},
        },
        "claim": {"at": claimed.isoformat(), "kind": "no_reason_return"},
    }
