"""A shop for the customer pages' tests: a desk on a frozen clock with surveys, two
customers' tickets, the shop's order lines, and the pages mounted under a prefix (the
fixtures are in conftest.py; tests import these helpers by this unique module name)."""

from __future__ import annotations

import re
import warnings
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs
from fastapi import FastAPI
from starlette.exceptions import StarletteDeprecationWarning

from aftersales import Desk, FrozenClock, Ticket
from aftersales.security import default_permissions
from aftersales.web.pages import ReturnableLine, ticket_link

with warnings.catch_warnings():
    # Starlette's test client asks for the httpx2 package; httpx serves it all the same
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

SECRET = "the shop's long random page secret"
PREFIX = "/help"
NOW = datetime(2024, 6, 5, 2, tzinfo=timezone.utc)  # 10:00 in Shanghai, 2 days after delivery
HEADPHONES = ReturnableLine(
    "SO-1",
    "L1",
    "Headphones X",
    {
        "jurisdiction": "cn",
        "product": {"category": "headphones", "sku": "HX-1"},
        "order": {
            "purchased_at": "2024-06-01T10:00:00+08:00",
            "delivered_at": "2024-06-03T16:20:00+08:00",
            "unit_price": {"amount": "1299.00", "currency": "CNY"},
            "quantity": 2,
        },
    },
    sku="HX-1",
)
KETTLE = ReturnableLine(
    "SO-1",
    "L2",
    "Kettle <Deluxe>",
    {
        "jurisdiction": "cn",
        "product": {"category": "kitchen"},
        "order": {
            "purchased_at": "2024-05-01T10:00:00+08:00",
            "delivered_at": "2024-05-02T10:00:00+08:00",
            "unit_price": {"amount": "199.00", "currency": "CNY"},
        },
    },
)
SURVEY_RULES = [
    {"kinds": ["ticket"], "channels": ["email"], "survey": "csat", "delay_hours": 1},
    {"kinds": ["ticket"], "channels": ["wechat"], "survey": "nps", "delay_hours": 1},
    {"kinds": ["ticket"], "channels": ["sms"], "survey": "ces", "delay_hours": 1},
]


def form_field(html: str, name: str) -> str:
    """The value of a hidden or text input of a rendered form."""
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found is not None, f"no {name} in the page"
    return found.group(1)


@attrs.define
class Shop:
    """The desk, its clock, the app with the pages mounted, and a client of it."""

    desk: Desk
    clock: FrozenClock
    app: FastAPI
    client: TestClient
    ticket: Ticket
    other: Ticket

    def link(self, ticket: Ticket | None = None, *, days: int = 30) -> str:
        """The path of a ticket's page (the customer's ticket by default)."""
        chosen = self.ticket if ticket is None else ticket
        expires = self.clock.now() + timedelta(days=days)
        return ticket_link(PREFIX, chosen.id, secret=SECRET, expires_at=expires)

    def resolve(self, ticket: Ticket) -> None:
        """Work a ticket to resolved: its survey is scheduled an hour later."""
        desk = self.desk
        desk.classify(ticket.id, category="repair_warranty", severity="medium")
        desk.fire(ticket.id, "assign", payload={"assignee": "li.agent"})
        desk.fire(ticket.id, "start")
        desk.fire(ticket.id, "resolve", payload={"resolution": "Replaced the left driver"})

    def survey_token(self, ticket: Ticket) -> str:
        """Resolve a ticket, send its survey and return the survey's token."""
        self.resolve(ticket)
        self.clock.advance(hours=2)
        self.desk.run_due()
        (survey,) = [c for c in self.desk.cases.for_ticket(ticket.id) if c.kind.value == "survey"]
        token = getattr(survey.details, "token", None)
        assert isinstance(token, str)
        return token


def make_desk(clock: FrozenClock, **options: Any) -> Desk:
    return Desk(
        clock=clock,
        settings={"survey_key": "the shop's survey secret"},
        surveys={"rules": SURVEY_RULES},
        **options,
    )


def open_tickets(desk: Desk) -> tuple[Ticket, Ticket]:
    """The customer's ticket, with a reply, an internal note and an answer, and another
    customer's ticket."""
    ticket = desk.open_ticket(
        customer="c-1",
        channel="email",
        subject="Headphones <b>buzz</b>",
        order_line={"order_id": "SO-1", "line_id": "L1"},
    )
    desk.add_message(
        ticket.id,
        "The left side is silent <script>alert('pwned')</script>",
        author_id="customer:c-1",
        author_role="customer",
    )
    desk.add_message(
        ticket.id,
        "Customer sounds angry; refund limit 500",
        author_id="li.agent",
        kind="internal_note",
    )
    desk.add_message(
        ticket.id, "Sorry to hear that! Could you try the other cable?", author_id="li.agent"
    )
    other = desk.open_ticket(customer="c-2", channel="email", subject="Invoice for order SO-9")
    desk.add_message(
        other.id,
        "Please send the invoice to Berlin",
        author_id="customer:c-2",
        author_role="customer",
    )
    return ticket, other


def orders(ticket: Ticket) -> list[ReturnableLine]:
    """The shop's records: customer c-1 bought the headphones and the kettle."""
    return [HEADPHONES, KETTLE] if ticket.customer_id == "c-1" else []


def without_grant(kind: str, trigger: str) -> dict[str, Any]:
    """The shipped permissions, except that customers may not fire ``trigger`` on
    ``kind``."""
    permissions = default_permissions().model_dump(mode="json")
    for grant in permissions["grants"]:
        if grant["roles"] == ["customer"] and kind in grant["kinds"]:
            grant["triggers"] = [t for t in grant["triggers"] if t != trigger]
    return permissions
