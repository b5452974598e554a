"""What every customer page shares: the desk, the keys, the templates (Jinja2,
autoescaped), the language of the request, the security headers and the error pages."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse

from aftersales.desk import Desk
from aftersales.models import Ticket
from aftersales.web.pages._case_text import case_status_label
from aftersales.web.pages._orders import ReturnableLine
from aftersales.web.pages._signing import (
    LinkRefused,
    check_form_token,
    form_token,
    form_token_nonce,
    page_keys,
    read_ticket_token,
)
from aftersales.web.pages._text import LANGUAGES, choose_language, status_label, text

__all__ = ["SECURITY_HEADERS", "OrderLines", "Pages"]

TEMPLATES = Path(__file__).parent / "templates"

OrderLines = Callable[[Ticket], Sequence[ReturnableLine]]
"""The shop's order lines a ticket's customer may return: the shop's own records,
never what the customer types (purchase dates and prices decide a return)."""

SECURITY_HEADERS = {
    # no script at all, styles and forms from this site only, never in a frame
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    # the link's token is in the path: never hand it to another site
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}
"""The headers of every page: what a page that carries a secret in its URL needs."""

_ENVIRONMENT = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=True,  # every template is HTML: customer text is always escaped
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

_ERRORS = {
    "invalid": (404, "invalid_title", "invalid"),
    "expired": (403, "expired_title", "expired"),
    "used": (410, "used_title", "used"),
    "survey_expired": (410, "expired_title", "survey_expired"),
    "cancelled": (410, "cancelled_title", "cancelled"),
    "not_found": (404, "not_found_title", "not_found"),
}


@attrs.frozen
class Page:
    """The request a page answers and the language it speaks."""

    request: Request
    language: str

    def t(self, key: str, **params: object) -> str:
        """The page text ``key`` in the page's language."""
        return text(self.language, key, **params)

    def url(self, name: str, **params: str) -> str:
        """The path of route ``name`` (under whatever prefix the pages are mounted),
        keeping a language the visitor picked."""
        path = self.request.url_for(name, **params).path
        asked = self.request.query_params.get("lang")
        return f"{path}?lang={self.language}" if asked else path


@attrs.define
class Pages:
    """The state of one mounted set of customer pages."""

    desk: Desk
    secret: str | bytes
    orders: OrderLines | None
    default_language: str
    form_seconds: int
    max_reply: int
    zone: ZoneInfo
    link_key: bytes = attrs.field(init=False)
    form_key: bytes = attrs.field(init=False)
    sending: threading.Lock = attrs.field(init=False, factory=threading.Lock)
    """Held while a send is looked up and made, so two presses of Send in this process
    cannot both find it not made yet."""

    def __attrs_post_init__(self) -> None:
        self.link_key, self.form_key = page_keys(self.secret)

    def now(self) -> datetime:
        """The desk clock's time: links and forms expire on it."""
        return self.desk.clock.now()

    def page(self, request: Request, about: str | None = None) -> Page:
        """The page answering ``request``, in its language (``about``: the language of
        what it shows, if it has one)."""
        language = choose_language(
            request.query_params.get("lang"),
            request.headers.get("accept-language"),
            about,
            self.default_language,
        )
        return Page(request, language)

    def ticket_id(self, token: str) -> str:
        """The ticket a link's token names (:class:`LinkRefused` otherwise)."""
        return read_ticket_token(token, secret=self.secret, now=self.now())

    def form_token(self, purpose: str) -> str:
        """A fresh token for a form bound to ``purpose``."""
        return form_token(self.form_key, purpose, self.now(), self.form_seconds)

    def form_ok(self, purpose: str, token: str) -> bool:
        """Whether a posted form token was made for ``purpose`` and is still valid."""
        return check_form_token(self.form_key, purpose, token, self.now())

    def form_nonce(self, purpose: str, token: str) -> str | None:
        """The nonce of a posted form token made for ``purpose`` and still valid."""
        return form_token_nonce(self.form_key, purpose, token, self.now())

    def sent_with(self, form: str, nonce: str) -> str | None:
        """What the send of the ``form`` rendering ``nonce`` made (a case id, a reply's
        digest), or None when it was not sent yet."""
        return self.desk.store.get_state(_sent_key(form, nonce))

    def remember_sent(self, form: str, nonce: str, made: str) -> None:
        """Keep what the send of the ``form`` rendering ``nonce`` made, so it is not
        made again when the same form is posted again."""
        self.desk.store.set_state(_sent_key(form, nonce), made)

    def local_time(self, at: datetime) -> str:
        """``at`` on the pages' clock, with the zone it is on (``2024-06-05 10:00
        UTC+08:00``): a customer never has to guess which clock a time is on."""
        local = at.astimezone(self.zone)
        offset = local.strftime("%z")
        zone = "UTC" if offset == "+0000" else f"UTC{offset[:3]}:{offset[3:5]}"
        return f"{local:%Y-%m-%d %H:%M} {zone}"

    def render(
        self, page: Page, template: str, *, title: str, status: int = 200, **context: Any
    ) -> HTMLResponse:
        """``template`` rendered for ``page``, with the security headers."""
        request = page.request
        other = next(language for language in LANGUAGES if language != page.language)
        switch = context.pop("switch_url", None)
        if switch is None and request.method == "GET":
            switch = request.url.path
        body = _ENVIRONMENT.get_template(template).render(
            lang=page.language,
            t=page.t,
            url=page.url,
            status_label=lambda status: status_label(page.language, status),
            case_status=lambda case: case_status_label(page.language, case.kind.value, case.status),
            local_time=self.local_time,
            title=title,
            css_url=request.url_for("aftersales_pages_css").path,
            # a page answering a post has no address of its own to show in another language
            switch_url=None if switch is None else f"{switch}?lang={other}",
            switch_language=other,
            **context,
        )
        return HTMLResponse(body, status_code=status, headers=SECURITY_HEADERS)

    def refused(self, page: Page, reason: str) -> HTMLResponse:
        """The page of a refused link or survey: what went wrong, and nothing about the
        ticket or survey it named."""
        status, title, message = _ERRORS.get(reason, _ERRORS["invalid"])
        return self.render(
            page, "message.html", title=page.t(title), status=status, message=page.t(message)
        )

    def link_refused(self, page: Page, error: LinkRefused) -> HTMLResponse:
        """The page of a refused ticket link."""
        return self.refused(page, error.reason)


def _sent_key(form: str, nonce: str) -> str:
    return f"aftersales.pages.sent.{form}.{nonce}"


def redirect(url: str) -> RedirectResponse:
    """See other (303): the browser GETs the result, so reloading it posts nothing twice."""
    return RedirectResponse(url, status_code=303, headers=SECURITY_HEADERS)
