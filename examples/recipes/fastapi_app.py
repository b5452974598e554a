"""FastAPI: the after-sales web API on the recipes' desk, beside their workers.

    cd examples/recipes
    export AFTERSALES_DB=postgresql+psycopg://shop@db/shop
    uvicorn fastapi_app:app --workers 4      # then open /docs
    aftersales worker --db "$AFTERSALES_DB" --app wiring:build_desk   # or Celery, RQ...

Each server process opens one desk when it starts (the lifespan) and closes it when it
stops, built by ``wiring.build_desk`` on the store ``AFTERSALES_DB`` names: the same
desk, the same URL and the same handlers' names as the workers', so a ticket opened over
HTTP leaves its receipt in the outbox for whichever worker the shop runs (the senders are
subscribed ``inline=False``: no request waits on a provider).

Who asks comes from the ``X-Demo-Principal`` header (``customer:cust-42``,
``agent:li.wei``, ``supervisor:wang``): a stand-in for your login, with no proof at all.
Replace :func:`demo_principal` with your session or token check before serving anyone.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import FastAPI, Header, HTTPException, Request
from wiring import open_desk

from aftersales import Desk
from aftersales.security import Principal
from aftersales.web import api_router


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open this process's desk when the server starts (after any fork: each process
    opens its own connections) and close it when the server stops."""
    desk = open_desk()
    app.state.desk = desk
    try:
        yield
    finally:
        desk.close()


def current_desk(request: Request) -> Desk:
    """The desk the lifespan opened."""
    desk: Desk = request.app.state.desk
    return desk


def demo_principal(x_demo_principal: Annotated[str | None, Header()] = None) -> Principal:
    """FOR DEMONSTRATION ONLY: believes the header. Yours checks a session or a token."""
    role, _, name = (x_demo_principal or "").partition(":")
    if role == "customer" and name:
        return Principal.customer(name)
    if role == "agent" and name:
        return Principal.agent(name)
    if role == "supervisor" and name:
        return Principal.supervisor(name)
    raise HTTPException(401, "who are you?", headers={"WWW-Authenticate": "X-Demo-Principal"})


app = FastAPI(title="Shop after-sales", lifespan=lifespan)
app.include_router(api_router(current_desk, principal=demo_principal), prefix="/api")
