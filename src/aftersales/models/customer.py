"""Customers and the channels they reach us on (seeds S2, S10)."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

from pydantic import Field

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
    number, a WeChat OpenID, a QQ number, a Weibo handle.
    """

    channel: Channel
    address: ShortText


MAX_CONTACTS = 1000
"""Contact points one customer may have in any case; a desk allows fewer
(``DeskSettings.max_contacts``)."""


class Customer(Record):
    """A customer, with every contact point they use, so one history spans all channels."""

    id: Identifier = Field(default_factory=new_id)
    name: ShortText
    tier: ShortText | None = None
    language: ShortText | None = None
    contacts: Annotated[tuple[ContactPoint, ...], Field(max_length=MAX_CONTACTS)] = ()

    def address_on(self, channel: Channel) -> str | None:
        """The customer's address on ``channel``, or None when they have none there."""
        for contact in self.contacts:
            if contact.channel is channel:
                return contact.address
        return None
