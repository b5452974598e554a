"""The router and the app factory of :mod:`aftersales.web`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter, FastAPI

from aftersales.cases import Policy
from aftersales.desk import Desk
from aftersales.web._access import (
    DeskDependency,
    OrderLines,
    PrincipalDependency,
    Wiring,
    desk_dependency,
)
from aftersales.web._cases import OPENED_KINDS, add_case_routes
from aftersales.web._checks import add_check_routes
from aftersales.web._problems import ProblemRoute, add_problem_handlers
from aftersales.web._tickets import add_ticket_routes

__all__ = ["api_router", "create_app"]


def api_router(
    desk: Desk | DeskDependency,
    *,
    principal: PrincipalDependency,
    policy: Policy | None = None,
    orders: OrderLines | None = None,
    case_kinds: Iterable[str] = OPENED_KINDS,
    tags: Iterable[str] = ("aftersales",),
) -> APIRouter:
    """The API's routes over ``desk`` (a desk, or a dependency answering one), each
    request acting as the principal the ``principal`` dependency answers.

    ``policy`` decides the policy check (default: the desk's case policy, else the
    statutory presets); ``case_kinds`` are the kinds ``POST /cases/{kind}`` opens.

    ``orders(ticket)`` answers the shop's order lines the ticket's customer may claim
    (:class:`aftersales.web.pages.ReturnableLine`, as the customer pages take them): a
    customer's return, exchange or repair is decided on their facts, never on facts the
    customer sends (refused, 422). Without it customers open no such case; staff
    principals give the facts themselves.
    """
    if orders is not None and not callable(orders):
        raise TypeError(f"orders must be a callable orders(ticket), not {orders!r:.80}")
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
        orders=orders,
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
    orders: OrderLines | None = None,
    prefix: str = "",
    **fastapi_options: Any,
) -> FastAPI:
    """A FastAPI app serving :func:`api_router` under ``prefix``; ``fastapi_options``
    go to :class:`fastapi.FastAPI` (``title``, ``lifespan``...). Every error the app
    answers is problem details, also an unknown path (404) or a method a path does not
    take (405)."""
    options: dict[str, Any] = {
        "title": "aftersales",
        "summary": "After-sales service: tickets, cases, policies, SLAs, reports, surveys.",
        **fastapi_options,
    }
    app = FastAPI(**options)
    add_problem_handlers(app)
    app.include_router(
        api_router(desk, principal=principal, policy=policy, orders=orders), prefix=prefix
    )
    return app
