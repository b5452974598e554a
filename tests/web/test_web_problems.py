"""Problem details beyond the routes' own tests: each family's extension members, errors
outside the families, bodies FastAPI cannot read, and how messages are signed."""

from __future__ import annotations

import json

from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException
from web_client import Client

from aftersales import Desk
from aftersales.exceptions import InvalidWorkflow, StorageError, TicketNotFound, TransitionRefused
from aftersales.security import Principal
from aftersales.web import (
    PROBLEM_JSON,
    add_problem_handlers,
    api_router,
    create_app,
    system_principal,
)
from aftersales.web._problems import http_problem, instance_of, problem_for
from aftersales.workflows import Refusal


def test_a_guards_refusal_carries_its_code_and_messages() -> None:
    refused = TransitionRefused(
        subject_id="r-1",
        trigger="approve",
        state="requested",
        allowed=["approve", "refuse"],
        refusal=Refusal("window_passed", "The return window has passed", "退货期限已过"),
        label="return r-1",
    )
    response = problem_for(refused, "/cases/r-1/fire")
    body = json.loads(response.body)
    assert (response.status_code, response.media_type) == (409, PROBLEM_JSON)
    assert body["code"] == "transition_refused"
    assert body["refusal"] == {
        "code": "window_passed",
        "message": "The return window has passed",
        "message_zh": "退货期限已过",
    }
    assert body["allowed"] == ["approve", "refuse"]


def test_errors_outside_the_client_families_are_server_side() -> None:
    misconfigured = problem_for(InvalidWorkflow("ticket", ["no initial state"]), "/tickets")
    assert misconfigured.status_code == 500
    assert json.loads(misconfigured.body)["code"] == "invalid_workflow"
    assert problem_for(StorageError("disk full"), "/tickets").status_code == 503


def test_problem_details_render_text_without_a_utf8_form() -> None:
    response = problem_for(StorageError("bad \ud800 byte"), "/tickets")
    assert json.loads(response.body)["detail"] == "bad \ud800 byte"


def _app() -> FastAPI:
    return create_app(Desk(), principal=system_principal)


def test_a_body_that_is_not_text_is_a_malformed_request() -> None:
    response = Client(_app()).post(
        "/tickets", content=b'"\xff"', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["code"] == "malformed_request"


def test_messages_are_signed_with_the_principals_role() -> None:
    desk = Desk()
    ticket = desk.open_ticket(customer="c-1", channel="email", subject="Hi")
    roles = {}
    for principal in (Principal.system(), Principal.bot(), Principal.agent("li")):
        client = Client(create_app(desk, principal=lambda principal=principal: principal))
        sent = client.post(f"/tickets/{ticket.id}/messages", json={"body": "Hello"})
        roles[principal.id] = sent.json()["author_role"]
    assert roles == {"system": "system", "bot": "bot", "li": "agent"}


def test_an_app_of_ones_own_answers_its_errors_as_problems_with_the_handlers() -> None:
    own = FastAPI()
    add_problem_handlers(own)
    own.include_router(api_router(Desk(), principal=system_principal), prefix="/v1")

    @own.get("/health/{depth}")
    def health(depth: int) -> dict[str, int]:
        if depth > 1:
            raise TicketNotFound(depth)
        return {"depth": depth}

    client = Client(own)
    for url, status, code in [
        ("/nowhere", 404, "not_found"),
        ("/health/x", 422, "invalid_input"),
        ("/health/2", 404, "ticket_not_found"),
    ]:
        answer = client.get(url)
        assert (answer.status_code, answer.headers["content-type"]) == (status, PROBLEM_JSON)
        assert (answer.json()["code"], answer.json()["instance"]) == (code, url)
    assert client.get("/health/1").json() == {"depth": 1}


def test_an_instance_is_percent_encoded_when_the_server_keeps_no_raw_path() -> None:
    scope = {"type": "http", "method": "GET", "path": "/tickets/a b/单", "headers": []}
    assert instance_of(Request(scope)) == "/tickets/a%20b/%E5%8D%95"


def test_a_status_without_a_phrase_is_titled_error() -> None:
    response = http_problem(HTTPException(599, "the proxy gave up"), "/tickets")
    body = json.loads(response.body)
    assert (body["title"], body["detail"], body["code"]) == (
        "Error",
        "the proxy gave up",
        "http_error",
    )
