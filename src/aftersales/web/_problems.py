"""Errors as RFC 9457 problem details (``application/problem+json``).

Every error the library raises on purpose becomes a problem with its ``code``
(:attr:`aftersales.AftersalesError.code`); FastAPI's own request validation errors become
one with the code ``invalid_input`` and the same ``errors`` list, so a client reads every
refusal of its input in one shape.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine, Iterable, Mapping
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from aftersales.exceptions import (
    AftersalesError,
    ConcurrencyError,
    DeliveryFailed,
    InvalidInput,
    NotFound,
    PermissionDenied,
    StorageError,
    TransitionError,
    TransitionRefused,
)

__all__ = [
    "PROBLEM_JSON",
    "ProblemResponse",
    "ProblemRoute",
    "add_problem_handlers",
    "instance_of",
    "problem_for",
    "problem_responses",
]

PROBLEM_JSON = "application/problem+json"
"""The media type of a problem details document (RFC 9457)."""

TYPE_PREFIX = "urn:aftersales:problem:"
"""A problem's ``type`` is this prefix and its ``code``: a URI that names the problem
without promising a page to read at it."""

_STATUS: tuple[tuple[type[AftersalesError], int, str], ...] = (
    (InvalidInput, 422, "Invalid input"),
    (NotFound, 404, "Not found"),
    (TransitionError, 409, "Transition not possible"),
    (ConcurrencyError, 409, "Changed meanwhile"),
    (PermissionDenied, 403, "Not allowed"),
    (DeliveryFailed, 502, "Delivery failed"),
    (StorageError, 503, "Storage unavailable"),
)


class ProblemResponse(Response):
    """A problem details document. ASCII JSON: a message quoting what the client sent
    can hold text that has no UTF-8 form (a lone surrogate), and must still render."""

    media_type = PROBLEM_JSON

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def _field_errors(errors: Iterable[tuple[Iterable[object], str, str]]) -> list[dict[str, Any]]:
    return [
        {
            "location": [part if isinstance(part, int) else str(part) for part in location],
            "message": message,
            "kind": kind,
        }
        for location, message, kind in errors
    ]


def problem_for(error: AftersalesError, instance: str) -> ProblemResponse:
    """The problem details of one of the library's errors, about the request path
    ``instance``: its status by family (invalid input 422, not found 404, a transition
    refused or a concurrent change 409, permission denied 403), ``code`` the error's,
    and what each family carries (``errors``; the ``state``, ``trigger`` and ``allowed``
    triggers of a transition; the guard's ``refusal``)."""
    status, title = 500, "Internal error"
    for family, family_status, family_title in _STATUS:
        if isinstance(error, family):
            status, title = family_status, family_title
            break
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + error.code,
        "title": title,
        "status": status,
        "detail": str(error),
        "instance": instance,
        "code": error.code,
    }
    if isinstance(error, InvalidInput):
        body["errors"] = _field_errors((e.location, e.message, e.kind) for e in error.errors)
    if isinstance(error, TransitionError):
        body.update(state=error.state, trigger=error.trigger, allowed=list(error.allowed))
    if isinstance(error, TransitionRefused):
        refusal = error.refusal
        body["refusal"] = {
            "code": refusal.code,
            "message": refusal.message,
            "message_zh": refusal.message_zh,
        }
    return ProblemResponse(body, status_code=status)


def validation_problem(error: RequestValidationError, instance: str) -> ProblemResponse:
    """FastAPI's refusal of a request (a missing field, a wrong type, JSON that does not
    parse) as the problem an :class:`~aftersales.InvalidInput` gives."""
    found: list[Mapping[str, Any]] = list(error.errors())
    errors = _field_errors(
        (e.get("loc", ()), str(e.get("msg", "invalid")), str(e.get("type", "value_error")))
        for e in found
    )
    detail = "; ".join(
        ".".join(str(part) for part in each["location"]) + ": " + each["message"] for each in errors
    )
    body = {
        "type": TYPE_PREFIX + InvalidInput.code,
        "title": "Invalid input",
        "status": 422,
        "detail": f"invalid request: {detail}",
        "instance": instance,
        "code": InvalidInput.code,
        "errors": errors,
    }
    return ProblemResponse(body, status_code=422)


_HTTP_CODES = {
    400: "malformed_request",
    401: "unauthenticated",
    404: "not_found",
    405: "method_not_allowed",
}

_URI_SAFE = "/!$&'()*+,;=:@-._~%"
"""What a path keeps unescaped: RFC 3986 ``pchar`` and ``/``, and ``%`` (escapes the
client sent stay as sent)."""


def instance_of(request: Request) -> str:
    """The request's path as a URI reference (RFC 9457 3.1.5): as the client sent it,
    percent-encoded (``/tickets/a%20b``, ``/tickets/a%2Fb``), not decoded."""
    raw = request.scope.get("raw_path")
    if isinstance(raw, bytes) and raw:
        return quote(raw, safe=_URI_SAFE)
    return quote(request.url.path, safe=_URI_SAFE.replace("%", ""))


def _status_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def http_problem(error: HTTPException, instance: str) -> ProblemResponse:
    """An HTTP error FastAPI or Starlette raised (a body it cannot read, no such path, a
    method the path does not take) or the app's principal dependency did (401 for a
    request without credentials) as a problem. Its type is ``about:blank``, so its title
    is the status phrase (RFC 9457 4.2.1) and the message its ``detail``."""
    body = {
        "type": "about:blank",
        "title": _status_phrase(error.status_code),
        "status": error.status_code,
        "detail": str(error.detail),
        "instance": instance,
        "code": _HTTP_CODES.get(error.status_code, "http_error"),
    }
    return ProblemResponse(body, status_code=error.status_code, headers=error.headers)


class ProblemRoute(APIRoute):
    """A route that answers its errors as problem details itself, so the router keeps
    that promise in whatever app mounts it (exception handlers belong to an app)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handle_with_problems(request: Request) -> Response:
            try:
                return await handle(request)
            except AftersalesError as error:
                return problem_for(error, instance_of(request))
            except RequestValidationError as error:
                return validation_problem(error, instance_of(request))
            except HTTPException as error:
                return http_problem(error, instance_of(request))

        return handle_with_problems


def add_problem_handlers(app: FastAPI) -> None:
    """Answer the errors that happen outside the routes as problem details too: an
    unknown path (404), a method the path does not take (405), and any HTTP, validation
    or library error of the app's other routes."""

    async def as_problem(request: Request, error: Exception) -> Response:
        instance = instance_of(request)
        if isinstance(error, AftersalesError):
            return problem_for(error, instance)
        if isinstance(error, RequestValidationError):
            return validation_problem(error, instance)
        if isinstance(error, HTTPException):
            return http_problem(error, instance)
        raise error  # pragma: no cover - registered for the three above only

    for family in (HTTPException, RequestValidationError, AftersalesError):
        app.add_exception_handler(family, as_problem)


_PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string", "description": "a URI naming the problem"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {
            "type": "string",
            "description": "the request's path, percent-encoded (a URI reference)",
        },
        "code": {
            "type": "string",
            "description": "the error's stable code (aftersales.AftersalesError.code)",
        },
        "errors": {
            "type": "array",
            "description": "each field refused (invalid input only)",
            "items": {
                "type": "object",
                "properties": {
                    "location": {
                        "type": "array",
                        "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                    },
                    "message": {"type": "string"},
                    "kind": {"type": "string"},
                },
            },
        },
        "allowed": {
            "type": "array",
            "items": {"type": "string"},
            "description": "the triggers the subject's state allows (transitions only)",
        },
    },
    "additionalProperties": True,
}

_EXAMPLES: dict[int, tuple[str, dict[str, Any]]] = {
    400: (
        "The body could not be read (not text in the encoding it names).",
        {
            "type": "about:blank",
            "title": "Bad Request",
            "status": 400,
            "detail": "There was an error parsing the body",
            "instance": "/tickets",
            "code": "malformed_request",
        },
    ),
    401: (
        "The app's principal dependency refused the request (no or bad credentials).",
        {
            "type": "about:blank",
            "title": "Unauthorized",
            "status": 401,
            "detail": "who are you?",
            "instance": "/tickets",
            "code": "unauthenticated",
        },
    ),
    403: (
        "The principal may not do this (its permission set refused it).",
        {
            "type": TYPE_PREFIX + "permission_denied",
            "title": "Not allowed",
            "status": 403,
            "detail": "customer:c-42 may not fire classify on ticket #1: no grant (rule grants)",
            "instance": "/tickets/1/fire",
            "code": "permission_denied",
        },
    ),
    404: (
        "No such ticket or case, or none this principal may see.",
        {
            "type": TYPE_PREFIX + "ticket_not_found",
            "title": "Not found",
            "status": 404,
            "detail": "no ticket #12",
            "instance": "/tickets/12",
            "code": "ticket_not_found",
        },
    ),
    409: (
        "The trigger does not leave the current state, a guard refused it, or the "
        "subject changed since the version given.",
        {
            "type": TYPE_PREFIX + "trigger_not_allowed",
            "title": "Transition not possible",
            "status": 409,
            "detail": "ticket #1: trigger 'start' is not allowed in state 'resolved' "
            "(allowed: confirm, reopen)",
            "instance": "/tickets/1/fire",
            "code": "trigger_not_allowed",
            "state": "resolved",
            "trigger": "start",
            "allowed": ["confirm", "reopen"],
        },
    ),
    422: (
        "The input was refused; nothing was stored. ``errors`` names each field.",
        {
            "type": TYPE_PREFIX + "invalid_input",
            "title": "Invalid input",
            "status": 422,
            "detail": "invalid ticket: priority: unknown priority 'ultra'; known: urgent, "
            "high, normal, low",
            "instance": "/tickets",
            "code": "invalid_input",
            "errors": [
                {
                    "location": ["priority"],
                    "message": "unknown priority 'ultra'; known: urgent, high, normal, low",
                    "kind": "value_error",
                }
            ],
        },
    ),
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` of these error statuses, documented as problem details
    with an example each."""
    return {
        status: {
            "description": _EXAMPLES[status][0],
            "content": {PROBLEM_JSON: {"schema": _PROBLEM_SCHEMA, "example": _EXAMPLES[status][1]}},
        }
        for status in statuses
    }
