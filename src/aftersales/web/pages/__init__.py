"""Customer pages a shop mounts in FastAPI (extra ``aftersales[web]``): server-rendered
HTML (Jinja2, autoescaped), no JavaScript, English and Chinese.

- **The ticket page** (``/t/<token>``): a ticket's status, public messages and cases for
  its customer, reached by a signed link (:func:`ticket_link`; HMAC-SHA256 over the
  ticket id and an expiry with the shop's secret); the customer replies from it.
- **The survey page** (``/s/<survey token>``): the question of a CSAT, NPS or CES
  survey behind the desk's own signed survey token, the answer, the thanks.
- **The return form** (``/t/<token>/return``): the customer picks one of the shop's
  order lines (:class:`ReturnableLine`), checks what the desk's policy decides, explained
  in their language, then sends the request and sees the return case it opened.

>>> from fastapi import FastAPI
>>> from aftersales import Desk
>>> app = FastAPI()
>>> app.include_router(customer_pages(Desk(), secret="a long random secret"), prefix="/help")

See ``docs/how-to/customer-pages.md``.
"""

from __future__ import annotations

try:
    import fastapi  # noqa: F401
    import jinja2  # noqa: F401
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        'the customer pages need the web extra: pip install "aftersales[web]"'
    ) from error

from aftersales.web.pages._core import SECURITY_HEADERS, OrderLines
from aftersales.web.pages._orders import RETURN_CLAIMS, ReturnableLine
from aftersales.web.pages._router import customer_pages, survey_link, ticket_link
from aftersales.web.pages._signing import (
    MIN_SECRET_BYTES,
    LinkRefused,
    read_ticket_token,
    ticket_token,
)
from aftersales.web.pages._text import LANGUAGES

__all__ = [
    "LANGUAGES",
    "MIN_SECRET_BYTES",
    "RETURN_CLAIMS",
    "SECURITY_HEADERS",
    "LinkRefused",
    "OrderLines",
    "ReturnableLine",
    "customer_pages",
    "read_ticket_token",
    "survey_link",
    "ticket_link",
    "ticket_token",
]
