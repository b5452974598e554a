"""The web API: a FastAPI router over a :class:`~aftersales.Desk` that a shop mounts in its
own app (extra ``web``).

>>> from fastapi import FastAPI
>>> from aftersales import Desk
>>> from aftersales.security import Principal
>>> from aftersales.web import api_router
>>> desk = Desk()
>>> app = FastAPI()
>>> app.include_router(api_router(desk, principal=lambda: Principal.agent("li.wei")), prefix="/api")

- Tickets: open, read (by id or number), list with filters and pages, messages, triggers
  with their payload, history, SLA status, their cases. Cases: open one of a kind on a
  ticket, read, fire, history. The policy check (facts in, the library's decision JSON
  out), reports, and survey answers by their link's token.
- Errors are RFC 9457 problem details (``application/problem+json``) with the error's
  ``code`` (:attr:`aftersales.AftersalesError.code`) and, for invalid input, ``errors``
  naming each field: invalid input 422, not found 404, a refused transition or a
  concurrent change 409, permission denied 403. FastAPI's own validation errors answer
  the same way (code ``invalid_input``). The router's routes answer so themselves, in any
  app that mounts it.
- Authentication is the app's: ``principal`` is a FastAPI dependency that answers the
  :class:`~aftersales.security.Principal` of the request (from a session, a token...).
  There is no default: a router is not built without one, so an app never serves
  requests as an all-powerful "system" by omission. An app that authorises requests
  before they reach the router may pass :func:`system_principal`, explicitly. Every write
  is done as that principal (the desk's permission set decides it); reads show what it
  may read, and a customer principal only its own tickets and cases, on any desk.
- ``desk`` is the desk itself, or a dependency that answers it (one desk per process,
  e.g. opened in the app's lifespan and read from ``request.app.state``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter, FastAPI

from aftersales.cases import Policy
from aftersales.desk import Desk
from aftersales.web._access import (
    DeskDependency,
    PrincipalDependency,
    Wiring,
    desk_dependency,
    system_principal,
)
from aftersales.web._cases import OPENED_KINDS, add_case_routes
from aftersales.web._checks import add_check_routes
from aftersales.web._problems import PROBLEM_JSON, ProblemResponse, ProblemRoute
from aftersales.web._tickets import MAX_PAGE, add_ticket_routes

__all__ = [
    "MAX_PAGE",
    "OPENED_KINDS",
    "PROBLEM_JSON",
    "ProblemResponse",
    "ProblemRoute",
    "api_router",
    "create_app",
    "system_principal",
]


def api_router(
    desk: Desk | DeskDependency,
    *,
    principal: PrincipalDependency,
    policy: Policy | None = None,
    case_kinds: Iterable[str] = OPENED_KINDS,
    tags: Iterable[str] = ("aftersales",),
) -> APIRouter:
    """The API's routes over ``desk`` (a desk, or a dependency answering one), each
    request acting as the principal the ``principal`` dependency answers.

    ``policy`` decides the policy check (default: the desk's case policy, else the
    statutory presets); ``case_kinds`` are the kinds ``POST /cases/{kind}`` opens.
    """
    if principal is None:
        raise TypeError(
            "api_router needs principal=, a dependency answering the request's Principal "
            "(pass aftersales.web.system_principal only if the app authorises requests itself)"
        )
    wiring = Wiring(
        desk=desk_dependency(desk),
        principal=principal,
        policy=policy,
        case_kinds=tuple(case_kinds),
    )
    router = APIRouter(route_class=ProblemRoute, tags=list(tags))
    add_ticket_routes(router, wiring)
    add_case_routes(router, wiring)
    add_check_routes(router, wiring)
    return router


def create_app(
    desk: Desk | DeskDependency,
    *,
    principal: PrincipalDependency,
    policy: Policy | None = None,
    prefix: str = "",
    **fastapi_options: Any,
) -> FastAPI:
    """A FastAPI app serving :func:`api_router` under ``prefix``; ``fastapi_options``
    go to :class:`fastapi.FastAPI` (``title``, ``lifespan``...)."""
    options: dict[str, Any] = {
        "title": "aftersales",
        "summary": "After-sales service: tickets, cases, policies, SLAs, reports, surveys.",
        **fastapi_options,
    }
    app = FastAPI(**options)
    app.include_router(api_router(desk, principal=principal, policy=policy), prefix=prefix)
    return app
