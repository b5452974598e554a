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
  app that mounts it; :func:`add_problem_handlers` makes an app answer its own errors (an
  unknown path, 405) so too, as the app :func:`create_app` builds does. A problem's
  ``instance`` is the request's path as sent (percent-encoded); an ``about:blank``
  problem is titled with the HTTP status phrase.
- Authentication is the app's: ``principal`` is a FastAPI dependency that answers the
  :class:`~aftersales.security.Principal` of the request (from a session, a token...).
  There is no default: a router is not built without one, so an app never serves
  requests as an all-powerful "system" by omission. An app that authorises requests
  before they reach the router may pass :func:`system_principal`, explicitly. Every write
  is done as that principal (the desk's permission set decides it); reads show what it
  may read, and a customer principal only its own tickets and cases, on any desk, with
  only the fields and events meant for it (no internal notes, time logged, escalation
  reasons, tags...). A customer's return, exchange or repair is decided on the shop's
  order lines (``orders=``, :data:`OrderLines`), never on facts the customer sends.
- ``desk`` is the desk itself, or a dependency that answers it (one desk per process,
  e.g. opened in the app's lifespan and read from ``request.app.state``).
"""

from aftersales.web._access import OrderLines, system_principal
from aftersales.web._cases import OPENED_KINDS
from aftersales.web._problems import (
    PROBLEM_JSON,
    ProblemResponse,
    ProblemRoute,
    add_problem_handlers,
    problem_for,
)
from aftersales.web._router import api_router, create_app
from aftersales.web._tickets import MAX_PAGE

__all__ = [
    "MAX_PAGE",
    "OPENED_KINDS",
    "PROBLEM_JSON",
    "OrderLines",
    "ProblemResponse",
    "ProblemRoute",
    "add_problem_handlers",
    "api_router",
    "create_app",
    "problem_for",
    "system_principal",
]
