"""Products, orders and order lines: the facts a ticket or a claim refers to."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import Field

from aftersales.models._base import Identifier, Instant, Record, ShortText

CurrencyCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]


MONEY_MAX_DIGITS = 18
"""Digits an amount may have in all (a trillion with six decimals fits)."""
MONEY_DECIMAL_PLACES = 6
"""Decimal places an amount may have."""


class Money(Record):
    """An amount in a currency (ISO 4217 code). Never a float.

    An amount has at most 18 digits, 6 of them after the point, so sums, shares and
    rounding to the currency's minor unit never overflow a decimal context.
    """

    amount: Annotated[
        Decimal,
        Field(
            allow_inf_nan=False,
            max_digits=MONEY_MAX_DIGITS,
            decimal_places=MONEY_DECIMAL_PLACES,
        ),
    ]
    currency: CurrencyCode

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"


class Product(Record):
    """A sellable product. ``warranty_terms`` names the warranty policy that covers it."""

    sku: Identifier
    name: ShortText
    category: ShortText | None = None
    warranty_terms: Identifier | None = None


class OrderLine(Record):
    """One line of an order: a product, how many, and at what unit price."""

    line_id: Identifier
    product: Product
    quantity: Annotated[int, Field(gt=0)]
    unit_price: Money
    delivered_at: Instant | None = None

    @property
    def total(self) -> Money:
        """Unit price times quantity."""
        return Money(
            amount=self.unit_price.amount * self.quantity, currency=self.unit_price.currency
        )


class Order(Record):
    """An order with its purchase, invoice and delivery dates."""

    order_id: Identifier
    customer_id: Identifier
    purchased_at: Instant
    invoiced_at: Instant | None = None
    delivered_at: Instant | None = None
    lines: tuple[OrderLine, ...] = Field(min_length=1)

    def line(self, line_id: str) -> OrderLine | None:
        """The line with ``line_id``, or None."""
        for line in self.lines:
            if line.line_id == line_id:
                return line
        return None


class OrderLineRef(Record):
    """A reference from a ticket to the order line it is about."""

    order_id: Identifier
    line_id: Identifier
    sku: Identifier | None = None
