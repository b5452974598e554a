"""A shop's FastAPI app serving the after-sales web API under /api.

One desk per process: the lifespan opens it on a SQLite file when the app starts (the
path in AFTERSALES_DB, default aftersales-web.db) and closes it when the app stops. Who
asks comes from the X-Demo-Principal header ("customer:cust-42", "agent:li.wei",
"supervisor:wang"): a stand-in for your login, with no proof at all. Replace
``demo_principal`` with your session or token check before serving anyone. A customer's
return is decided on the shop's order lines (``shop_orders``, a stand-in for your order
records), never on facts the customer sends.

Serve it:  uvicorn --app-dir examples fastapi_app:app   (then open /docs)
Run: python examples/fastapi_app.py   (a customer and an agent work a ticket in process)
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Annotated

import httpx
from fastapi import FastAPI, Header, HTTPException, Request

from aftersales import Desk, SQLiteStore
from aftersales.models import Ticket
from aftersales.security import Principal, default_permissions
from aftersales.web import add_problem_handlers, api_router
from aftersales.web.pages import ReturnableLine

SLA = {
    "name": "support",
    "calendar": {
        "time_zone": "Asia/Shanghai",
        "hours": {day: ["09:00-18:00"] for day in ("mon", "tue", "wed", "thu", "fri")},
    },
    "rules": [{"name": "default", "targets": {"first_response": {"minutes": 60}}}],
}


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the process's desk on startup, close it (and its database) on shutdown."""
    path = os.environ.get("AFTERSALES_DB", "aftersales-web.db")
    desk = Desk(SQLiteStore(path), sla=SLA, permissions=default_permissions())
    app.state.desk = desk
    try:
        yield
    finally:
        desk.close()


def current_desk(request: Request) -> Desk:
    """The desk the lifespan opened."""
    desk: Desk = request.app.state.desk
    return desk


def shop_orders(ticket: Ticket) -> Sequence[ReturnableLine]:
    """FOR DEMONSTRATION ONLY: every customer bought the same headphones on
    2026-03-02. Yours reads the ticket customer's orders from your shop's records."""
    facts = {
        "jurisdiction": "cn",
        "product": {"category": "headphones"},
        "order": {
            "purchased_at": "2026-03-02T10:00:00+08:00",
            "delivered_at": "2026-03-03T16:20:00+08:00",
            "unit_price": {"amount": "299.00", "currency": "CNY"},
        },
    }
    return [ReturnableLine("o-1001", "1", "Headphones", facts, sku="HP-1")]


def demo_principal(x_demo_principal: Annotated[str | None, Header()] = None) -> Principal:
    """FOR DEMONSTRATION ONLY: believes the header. Yours checks a session or a token."""
    if not x_demo_principal:
        raise HTTPException(401, "who are you?", headers={"WWW-Authenticate": "X-Demo-Principal"})
    role, _, name = x_demo_principal.partition(":")
    if role == "customer" and name:
        return Principal.customer(name)
    if role == "agent" and name:
        return Principal.agent(name, "repairs")
    if role == "supervisor" and name:
        return Principal.supervisor(name)
    raise HTTPException(401, "unknown principal", headers={"WWW-Authenticate": "X-Demo-Principal"})


app = FastAPI(title="Shop after-sales", lifespan=lifespan)
add_problem_handlers(app)  # its own 404s and 405s as problem details too
app.include_router(
    api_router(current_desk, principal=demo_principal, orders=shop_orders), prefix="/api"
)


async def tour() -> None:
    """A customer opens a ticket, an agent works it, the customer confirms; the refusals
    come back as problem details."""
    customer = {"X-Demo-Principal": "customer:cust-42"}
    agent = {"X-Demo-Principal": "agent:li.wei"}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://shop.example"
        ) as client,
    ):
        opened = await client.post(
            "/api/tickets",
            json={"channel": "wechat", "subject": "扫地机器人无法充电"},
            headers=customer,
        )
        ticket = opened.json()
        print(f"{opened.status_code} opened #{ticket['number']} for {ticket['customer_id']}")
        url = f"/api/tickets/{ticket['number']}"
        for trigger, payload in [
            ("classify", {"category": "repair_warranty", "severity": "medium"}),
            ("assign", {"assignee": "li.wei", "team": "repairs"}),
            ("start", None),
            ("resolve", {"resolution": "Charging contacts cleaned"}),
        ]:
            fired = await client.post(
                f"{url}/fire", json={"trigger": trigger, "payload": payload}, headers=agent
            )
            print(f"{fired.status_code} {trigger} -> {fired.json()['status']}")
        confirmed = await client.post(f"{url}/fire", json={"trigger": "confirm"}, headers=customer)
        print(f"{confirmed.status_code} confirm -> {confirmed.json()['status']}")
        refused = await client.post(f"{url}/fire", json={"trigger": "start"}, headers=agent)
        problem = refused.json()
        print(f"{refused.status_code} {refused.headers['content-type']}: {problem['code']}")
        print(f"  allowed instead: {', '.join(problem['allowed'])}")
        anonymous = await client.get(url)
        print(f"{anonymous.status_code} without a principal: {anonymous.json()['code']}")
        sla = await client.get(f"{url}/sla", headers=agent)
        print(
            f"{sla.status_code} first response: {sla.json()['metrics']['first_response']['state']}"
        )
        claim = {"line_id": "1", "kind": "no_reason_return", "reason": "too big"}
        asked = await client.post(
            "/api/cases/return",
            json={"ticket_id": ticket["id"], "fields": {"order_id": "o-1001", "lines": [claim]}},
            headers=customer,
        )
        price = asked.json()["lines"][0]["unit_price"]["amount"]
        print(f"{asked.status_code} return of the line the shop sold at {price}")
        made_up = {"line_id": "1", "facts": {"order": {"unit_price": "99999.00"}}}
        refused = await client.post(
            "/api/cases/return",
            json={"ticket_id": ticket["id"], "fields": {"order_id": "o-1001", "lines": [made_up]}},
            headers=customer,
        )
        where = ".".join(str(part) for part in refused.json()["errors"][0]["location"])
        print(f"{refused.status_code} facts from the customer refused: {where}")
        mine = await client.get("/api/tickets", headers=customer)
        print(f"{mine.status_code} the customer sees {len(mine.json()['items'])} ticket(s)")


if __name__ == "__main__":
    asyncio.run(tour())
