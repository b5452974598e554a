"""The router factory of the customer pages and the links to them."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from aftersales.desk import Desk
from aftersales.exceptions import FieldError, InvalidInput
from aftersales.web.pages._core import TEMPLATES, OrderLines, Pages
from aftersales.web.pages._returns import add_return_routes
from aftersales.web.pages._signing import ticket_token
from aftersales.web.pages._survey import add_survey_routes
from aftersales.web.pages._text import LANGUAGES
from aftersales.web.pages._ticket import add_ticket_routes

__all__ = ["customer_pages", "survey_link", "ticket_link"]

_CSS = (TEMPLATES / "pages.css").read_text(encoding="utf-8")


def customer_pages(
    desk: Desk,
    *,
    secret: str | bytes,
    orders: OrderLines | None = None,
    language: str = "en",
    form_minutes: int = 120,
    max_reply: int = 5_000,
    timezone: str = "UTC",
) -> APIRouter:
    """The customer pages over ``desk``, as a router to mount under any prefix
    (``app.include_router(router, prefix="/help")``).

    - ``secret`` signs the ticket links (:func:`ticket_link`) and the forms: at least
      :data:`MIN_SECRET_BYTES` bytes, kept on the server.
    - ``orders(ticket)`` gives the order lines the ticket's customer may return, from the
      shop's records; without it there is no return form.
    - ``language`` is the pages' language when neither the ``lang`` parameter, the
      survey's language nor the browser's ``Accept-Language`` names ``en`` or ``zh``.
    - A form posts back within ``form_minutes`` of being shown (then it is shown again,
      as filled, with a fresh token); a reply holds at most ``max_reply`` characters.
    - ``timezone`` (an IANA name, ``"Asia/Shanghai"``) is the clock the pages show
      times on, each with its offset (``2024-06-05 10:00 UTC+08:00``).

    Bad settings raise :class:`~aftersales.InvalidInput`.
    """
    problems = []
    if language not in LANGUAGES:
        problems.append(FieldError(("language",), f"must be one of {list(LANGUAGES)}"))
    if isinstance(form_minutes, bool) or not isinstance(form_minutes, int) or form_minutes < 1:
        problems.append(FieldError(("form_minutes",), "must be an int of minutes, 1 or more"))
    if isinstance(max_reply, bool) or not isinstance(max_reply, int) or max_reply < 1:
        problems.append(FieldError(("max_reply",), "must be an int, 1 or more"))
    if orders is not None and not callable(orders):
        problems.append(FieldError(("orders",), "must be a callable: orders(ticket)"))
    zone = _zone(timezone)
    if zone is None:
        problems.append(FieldError(("timezone",), 'must be a time zone name, e.g. "Asia/Shanghai"'))
    if problems:
        raise InvalidInput("customer pages", problems)
    assert zone is not None
    pages = Pages(desk, secret, orders, language, form_minutes * 60, max_reply, zone)
    router = APIRouter()

    @router.get("/pages.css", name="aftersales_pages_css", include_in_schema=False)
    def stylesheet(request: Request) -> Response:
        return Response(
            _CSS,
            media_type="text/css",
            headers={"Cache-Control": "max-age=3600", "X-Content-Type-Options": "nosniff"},
        )

    add_ticket_routes(router, pages)
    add_return_routes(router, pages)
    add_survey_routes(router, pages)
    return router


def _zone(name: object) -> ZoneInfo | None:
    """The zone named ``name``, or None when there is none by that name."""
    if not isinstance(name, str) or not name or len(name) > 64:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def ticket_link(base_url: str, ticket_id: str, *, secret: str | bytes, expires_at: datetime) -> str:
    """The link to a ticket's page for its customer, valid until ``expires_at``:
    ``base_url`` is where the pages are mounted (``https://shop.example/help``).

    >>> from datetime import datetime, timezone
    >>> link = ticket_link(
    ...     "https://shop.example/help/",
    ...     "t-1",
    ...     secret="a long random secret",
    ...     expires_at=datetime(2030, 1, 1, tzinfo=timezone.utc),
    ... )
    >>> link.startswith("https://shop.example/help/t/dC0x.1893456000.")
    True
    """
    token = ticket_token(ticket_id, secret=secret, expires_at=expires_at)
    return f"{base_url.rstrip('/')}/t/{token}"


def survey_link(base_url: str, token: str) -> str:
    """The link to a survey's page: ``token`` is the survey's own signed token (the
    ``send`` event's ``changes["details"]["token"]``)."""
    return f"{base_url.rstrip('/')}/s/{token}"
