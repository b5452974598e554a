"""Customers and the channels they reach us on (seeds S2, S10)."""

from __future__ import annotations

from datetime import time
from enum import Enum
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator
from typing_extensions import Self

from aftersales.models._base import Identifier, Record, ShortText, new_id


class Channel(str, Enum):
    """Where an inquiry arrives or a reply goes (seeds S2)."""

    PHONE = "phone"
    EMAIL = "email"
    WEB_CHAT = "web_chat"
    APP = "app"
    WECHAT = "wechat"
    QQ = "qq"
    WEIBO = "weibo"
    SMS = "sms"
    LETTER = "letter"
    IN_STORE = "in_store"
    ON_SITE = "on_site"
    SELF_SERVICE = "self_service"
    BOT = "bot"


class ContactPoint(Record):
    """One way to reach a customer: a channel and the address on it.

    The address is what the channel knows the customer by: an e-mail address, a phone
    number, a WeChat OpenID, a QQ number, a Weibo handle. An e-mail address is kept in
    lower case, as mail providers compare them.
    """

    channel: Channel
    address: ShortText

    @model_validator(mode="after")
    def _email_in_lower_case(self) -> Self:
        # Mail providers treat addresses case-blind, so one person writing "Wang.Fang@"
        # and "wang.fang@" must not become two customers.
        if self.channel is Channel.EMAIL and not self.address.islower():
            object.__setattr__(self, "address", self.address.lower())
        return self


MAX_CONTACTS = 1000
"""Contact points one customer may have in any case; a desk allows fewer
(``DeskSettings.max_contacts``)."""


MAX_CUSTOMER_TAGS = 100
"""Tags one customer may carry."""

Weekday = Annotated[int, Field(ge=1, le=7)]
"""An ISO weekday: 1 is Monday, 7 Sunday."""


class ContactHours(Record):
    """When a customer wants to be called or written to: from ``start`` to ``end`` (local
    time in ``time_zone``, an IANA name) on the given ISO ``weekdays``. Data, so a
    scheduler or a dialler can read it; the library does not hold messages back by it."""

    weekdays: Annotated[frozenset[Weekday], Field(min_length=1)] = frozenset(range(1, 8))
    start: time
    end: time
    time_zone: ShortText = "UTC"

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _start_before_end(self) -> Self:
        if self.start >= self.end:
            raise ValueError(f"start {self.start} is not before end {self.end}")
        return self


class Customer(Record):
    """A customer, with every contact point they use, so one history spans all channels.

    ``preferred_channel`` is where they want replies, ``contact_hours`` when (empty:
    any time); ``tags`` are the desk's labels (``vip``, ``hard-of-hearing``);
    ``opted_out_of_care`` records that they want no care contact (surveys, care calls):
    what schedules such contact reads it here. ``merged_into`` is set
    on a duplicate record merged into another (:meth:`~aftersales.Desk.merge_customers`):
    its history and contact points are the other's now."""

    id: Identifier = Field(default_factory=new_id)
    name: ShortText
    tier: ShortText | None = None
    language: ShortText | None = None
    contacts: Annotated[tuple[ContactPoint, ...], Field(max_length=MAX_CONTACTS)] = ()
    preferred_channel: Channel | None = None
    contact_hours: Annotated[tuple[ContactHours, ...], Field(max_length=14)] = ()
    tags: Annotated[
        tuple[Annotated[str, Field(min_length=1, max_length=64)], ...],
        Field(max_length=MAX_CUSTOMER_TAGS),
    ] = ()
    opted_out_of_care: bool = False
    merged_into: Identifier | None = None

    def address_on(self, channel: Channel) -> str | None:
        """The customer's address on ``channel``, or None when they have none there."""
        for contact in self.contacts:
            if contact.channel is channel:
                return contact.address
        return None
