"""The fixtures of the customer pages' tests: a shop with the pages mounted."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from page_shop import NOW, PREFIX, SECRET, Shop, TestClient, make_desk, open_tickets, orders

from aftersales import FrozenClock
from aftersales.web.pages import customer_pages


@pytest.fixture
def make_shop() -> Iterator[Callable[..., Shop]]:
    clients: list[TestClient] = []

    def make(
        *,
        desk_options: dict[str, Any] | None = None,
        prefix: str = PREFIX,
        **page_options: Any,
    ) -> Shop:
        clock = FrozenClock(NOW)
        desk = make_desk(clock, **(desk_options or {}))
        ticket, other = open_tickets(desk)
        app = FastAPI()
        page_options.setdefault("orders", orders)
        app.include_router(customer_pages(desk, secret=SECRET, **page_options), prefix=prefix)
        client = TestClient(app)
        clients.append(client)
        return Shop(desk, clock, app, client, ticket, other)

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def shop(make_shop: Callable[..., Shop]) -> Shop:
    return make_shop()
