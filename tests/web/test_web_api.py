"""The web API through HTTP: a ticket's life, lists and pages, problem details for each
error family, what a customer may see, the policy check, cases, SLA, reports, surveys."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Header, Request
from web_client import Client

from aftersales import Desk, FrozenClock
from aftersales.insights import ReportQuery, build_report
from aftersales.policies import PolicySet, decide
from aftersales.security import Principal, default_permissions
from aftersales.web import api_router, create_app, system_principal

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc)  # a Monday, 09:00 in Shanghai
SLA = {
    "name": "support",
    "calendar": {"time_zone": "Asia/Shanghai", "hours": {"mon": ["09:00-18:00"]}},
    "rules": [{"name": "default", "targets": {"first_response": {"minutes": 60}}}],
}
FACTS: dict[str, Any] = {
    "jurisdiction": "cn",
    "product": {"category": "headphones"},
    "order": {
        "purchased_at": "2024-06-01T10:00:00+08:00",
        "delivered_at": "2024-06-03T16:20:00+08:00",
        "unit_price": {"amount": "1299.00", "currency": "CNY"},
    },
    "claim": {"at": "2024-06-11T09:00:00+08:00", "kind": "no_reason_return"},
}
SHOP_POLICY = Path(__file__).parents[2] / "examples" / "shop_policy.json"


def principal_from_header(x_principal: str = Header()) -> Principal:
    """``customer:c-1``, ``supervisor:wang``, ``agent:li.wei`` (tests only: no proof)."""
    role, _, name = x_principal.partition(":")
    if role == "customer":
        return Principal.customer(name)
    if role == "agent":
        return Principal.agent(name, "repairs")
    return Principal.supervisor(name)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
def desk(clock: FrozenClock) -> Desk:
    return Desk(
        clock=clock,
        sla=SLA,
        permissions=default_permissions(),
        settings={"survey_key": "a test secret"},
        surveys={"rules": [{"kinds": ["ticket"], "survey": "nps", "after": "closure"}]},
    )


@pytest.fixture
def app(desk: Desk) -> FastAPI:
    return create_app(desk, principal=principal_from_header, prefix="/api")


@pytest.fixture
def staff(app: FastAPI) -> Client:
    return Client(app, {"X-Principal": "supervisor:wang"})


@pytest.fixture
def alice(app: FastAPI) -> Client:
    return Client(app, {"X-Principal": "customer:alice"})


@pytest.fixture
def bob(app: FastAPI) -> Client:
    return Client(app, {"X-Principal": "customer:bob"})


def open_ticket(client: Client, **fields: Any) -> dict[str, Any]:
    body = {"channel": "wechat", "subject": "扫地机器人无法充电", **fields}
    response = client.post("/api/tickets", json=body)
    assert response.status_code == 201, response.text
    ticket: dict[str, Any] = response.json()
    return ticket


def fire(client: Client, ticket: str, trigger: str, **payload: Any) -> Any:
    return client.post(
        f"/api/tickets/{ticket}/fire", json={"trigger": trigger, "payload": payload or None}
    )


def test_a_ticket_goes_from_inquiry_to_closed_through_http(
    desk: Desk, staff: Client, alice: Client
) -> None:
    ticket = open_ticket(alice)
    assert (ticket["customer_id"], ticket["status"]) == ("alice", "new")
    number = str(ticket["number"])
    steps = [
        ("classify", {"category": "repair_warranty", "severity": "medium"}),
        ("assign", {"assignee": "li.wei", "team": "repairs"}),
        ("start", {}),
        ("resolve", {"resolution": "Charging contacts cleaned"}),
    ]
    for trigger, payload in steps:
        response = fire(staff, number, trigger, **payload)
        assert response.status_code == 200, response.text
    reply = alice.post(f"/api/tickets/{number}/messages", json={"body": "Works now, thanks"})
    assert reply.status_code == 201, reply.text
    assert reply.json()["author_role"] == "customer"
    assert fire(alice, ticket["id"], "confirm").json()["status"] == "confirmed"
    closed = fire(staff, ticket["id"], "close")
    assert closed.json()["status"] == "closed"
    assert closed.json() == desk.get(ticket["id"]).model_dump(mode="json")
    history = staff.get(f"/api/tickets/{number}/history").json()
    assert [event["trigger"] for event in history] == [
        "created",
        "classify",
        "assign",
        "start",
        "resolve",
        "add_message",
        "confirm",
        "close",
    ]
    assert [e["actor"] for e in history][:2] == ["customer:alice", "wang"]


def test_lists_filter_and_page_through_every_ticket(staff: Client) -> None:
    opened = [
        open_ticket(staff, customer=f"c-{n}", channel="email" if n % 2 else "wechat")
        for n in range(7)
    ]
    fire(staff, opened[0]["id"], "classify", category="billing_invoice", severity="low")
    emails = staff.get("/api/tickets", params={"channel": "email"}).json()
    assert [t["id"] for t in emails["items"]] == [
        t["id"] for t in opened if t["channel"] == "email"
    ]
    assert emails["next_offset"] is None
    classified = staff.get("/api/tickets", params={"status": "classified"}).json()["items"]
    assert [t["id"] for t in classified] == [opened[0]["id"]]
    assert (
        staff.get("/api/tickets", params={"customer": "c-3"}).json()["items"][0]["id"]
        == (opened[3]["id"])
    )
    seen: list[str] = []
    offset: int | None = 0
    while offset is not None:
        page = staff.get("/api/tickets", params={"limit": 3, "offset": offset}).json()
        assert len(page["items"]) <= 3
        seen += [t["id"] for t in page["items"]]
        offset = page["next_offset"]
    assert seen == [t["id"] for t in opened]
    new = staff.get("/api/tickets", params={"status_category": "new", "limit": 500}).json()
    assert len(new["items"]) == 7  # classified is still new


def _problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert (body["status"], body["code"], body["type"]) == (
        status,
        code,
        f"urn:aftersales:problem:{code}",
    )
    assert body["title"]
    assert body["detail"]
    assert body["instance"].startswith("/api/")
    return body


def test_each_error_family_answers_as_problem_details(
    desk: Desk, staff: Client, alice: Client
) -> None:
    bad_priority = staff.post(
        "/api/tickets",
        json={"customer": "c-1", "channel": "email", "subject": "Hi", "priority": "ultra"},
    )
    errors = _problem(bad_priority, 422, "invalid_input")["errors"]
    assert [e["location"] for e in errors] == [["priority"]]  # the desk's refusal
    assert "known: urgent, high, normal, low" in errors[0]["message"]
    bad_channel = staff.post(
        "/api/tickets", json={"customer": "c-1", "channel": "pigeon", "subject": "Hi"}
    )
    errors = _problem(bad_channel, 422, "invalid_input")["errors"]
    assert [(e["location"], e["kind"]) for e in errors] == [(["body", "channel"], "enum")]
    nobody = staff.post("/api/tickets", json={"channel": "email", "subject": "Hi"})
    assert _problem(nobody, 422, "invalid_input")["errors"][0]["location"] == ["customer"]
    missing = staff.post("/api/tickets", json={"channel": "email"})
    errors = _problem(missing, 422, "invalid_input")["errors"]
    assert (errors[0]["location"], errors[0]["kind"]) == (["body", "subject"], "missing")
    not_json = staff.post(
        "/api/tickets", content=b"{", headers={"content-type": "application/json"}
    )
    assert _problem(not_json, 422, "invalid_input")["errors"][0]["kind"] == "json_invalid"
    _problem(staff.get("/api/tickets/404"), 404, "ticket_not_found")
    _problem(staff.get("/api/cases/nope"), 404, "case_not_found")
    ticket = open_ticket(alice)
    refused = _problem(fire(staff, ticket["id"], "start"), 409, "trigger_not_allowed")
    assert (refused["state"], "classify" in refused["allowed"]) == ("new", True)
    stale = staff.post(
        f"/api/tickets/{ticket['id']}/fire",
        json={
            "trigger": "classify",
            "payload": {"category": "repair_warranty", "severity": "low"},
            "expected_version": 1,
        },
    )
    assert stale.status_code == 200
    conflict = staff.post(
        f"/api/tickets/{ticket['id']}/fire", json={"trigger": "cancel", "expected_version": 1}
    )
    _problem(conflict, 409, "concurrency_conflict")
    denied = fire(alice, ticket["id"], "assign", assignee="alice")
    _problem(denied, 403, "permission_denied")
    assert desk.get(ticket["id"]).version == 2  # none of the refusals stored anything
    guard = staff.post(
        f"/api/tickets/{ticket['id']}/fire",
        json={"trigger": "resolve", "payload": {"resolution": "x"}},
    )
    _problem(guard, 409, "trigger_not_allowed")


def test_a_customer_sees_only_its_own_tickets(staff: Client, alice: Client, bob: Client) -> None:
    mine = open_ticket(alice)
    theirs = open_ticket(bob)
    _problem(alice.get(f"/api/tickets/{theirs['id']}"), 404, "ticket_not_found")
    _problem(alice.get(f"/api/tickets/{theirs['number']}/history"), 404, "ticket_not_found")
    _problem(alice.get(f"/api/tickets/{theirs['id']}/messages"), 404, "ticket_not_found")
    _problem(
        alice.post(f"/api/tickets/{theirs['id']}/messages", json={"body": "hi"}),
        404,
        "ticket_not_found",
    )
    assert alice.get(f"/api/tickets/{mine['id']}").json()["id"] == mine["id"]
    listed = alice.get("/api/tickets").json()["items"]
    assert [t["id"] for t in listed] == [mine["id"]]
    assert alice.get("/api/tickets", params={"customer": "bob"}).json()["items"] == []
    for_bob = alice.post(
        "/api/tickets", json={"customer": "bob", "channel": "email", "subject": "Hi"}
    )
    _problem(for_bob, 403, "permission_denied")
    assert len(staff.get("/api/tickets").json()["items"]) == 2


def test_a_customer_never_sees_internal_notes(staff: Client, alice: Client) -> None:
    ticket = open_ticket(alice)
    note = staff.post(
        f"/api/tickets/{ticket['id']}/messages",
        json={"body": "Customer called twice", "kind": "internal_note"},
    )
    assert note.status_code == 201
    staff.post(f"/api/tickets/{ticket['id']}/messages", json={"body": "We are on it"})
    url = f"/api/tickets/{ticket['id']}/messages"
    assert len(staff.get(url, params={"include_internal": True}).json()) == 2
    assert [m["body"] for m in alice.get(url, params={"include_internal": True}).json()] == [
        "We are on it"
    ]
    history = alice.get(f"/api/tickets/{ticket['id']}/history").json()
    assert [e["payload"].get("kind") for e in history if e["trigger"] == "add_message"] == [
        "public_reply"
    ]
    own_note = alice.post(url, json={"body": "psst", "kind": "internal_note"})
    _problem(own_note, 403, "permission_denied")


def test_the_policy_check_answers_the_librarys_decision_json(desk: Desk, staff: Client) -> None:
    answer = staff.post("/api/policy/check", json=FACTS)
    assert answer.status_code == 200
    assert answer.json() == decide(FACTS).model_dump(mode="json")
    assert answer.json()["outcome"] == "refused"
    bad = staff.post("/api/policy/check", json={**FACTS, "jurisdiction": "atlantis"})
    assert _problem(bad, 422, "invalid_input")["errors"][0]["location"] == ["jurisdiction"]
    shop = PolicySet.from_json(SHOP_POLICY.read_text("utf-8"))
    app = create_app(desk, principal=system_principal, policy=shop)
    by_shop = Client(app).post("/policy/check", json=FACTS)
    assert by_shop.json() == shop.evaluate(FACTS).model_dump(mode="json")
    assert by_shop.json() != answer.json()


def test_cases_open_fire_and_read_through_http(staff: Client, alice: Client, bob: Client) -> None:
    ticket = open_ticket(alice)
    opened = alice.post(
        "/api/cases/complaint",
        json={"ticket_id": ticket["id"], "fields": {"summary": "The courier was rude"}},
    )
    assert opened.status_code == 201, opened.text
    case = opened.json()
    assert (case["kind"], case["ticket_id"]) == ("complaint", ticket["id"])
    acknowledged = staff.post(f"/api/cases/{case['id']}/fire", json={"trigger": "acknowledge"})
    assert acknowledged.json()["status"] == "acknowledged"
    assert alice.get(f"/api/cases/{case['id']}").json()["status"] == "acknowledged"
    listed = alice.get(f"/api/tickets/{ticket['id']}/cases").json()
    assert [c["id"] for c in listed] == [case["id"]]
    history = staff.get(f"/api/cases/{case['id']}/history").json()
    assert [e["trigger"] for e in history] == ["created", "acknowledge"]
    assert [e["actor"] for e in history] == ["customer:alice", "wang"]
    _problem(bob.get(f"/api/cases/{case['id']}"), 404, "case_not_found")
    _problem(
        staff.post("/api/cases/coupon", json={"ticket_id": ticket["id"]}), 422, "invalid_input"
    )
    as_other = staff.post(
        "/api/cases/complaint",
        json={"ticket_id": ticket["id"], "fields": {"summary": "x", "actor": "system"}},
    )
    assert _problem(as_other, 422, "invalid_input")["errors"][0]["location"] == [
        "fields",
        "actor",
    ]
    unknown_field = staff.post(
        "/api/cases/complaint", json={"ticket_id": ticket["id"], "fields": {"colour": "red"}}
    )
    _problem(unknown_field, 422, "invalid_input")


def test_the_sla_status_of_a_ticket(desk: Desk, staff: Client, alice: Client) -> None:
    ticket = open_ticket(alice)
    status = staff.get(f"/api/tickets/{ticket['id']}/sla").json()
    expected = desk.sla_status(ticket["id"])
    assert status["rule"] == expected.rule == "default"
    first = status["metrics"]["first_response"]
    assert first["state"] == "running"
    assert datetime.fromisoformat(first["due_at"]) == NOW + timedelta(hours=1)
    plain = Client(create_app(Desk(), principal=system_principal))
    opened = plain.post("/tickets", json={"customer": "c", "channel": "email", "subject": "s"})
    _problem_plain = plain.get(f"/tickets/{opened.json()['id']}/sla")
    assert _problem_plain.status_code == 422
    assert _problem_plain.json()["errors"][0]["location"] == ["sla"]


def test_reports_answer_the_librarys_json_to_staff_only(
    desk: Desk, staff: Client, alice: Client
) -> None:
    open_ticket(alice)
    query = {"created_from": "2026-03-01T00:00:00Z", "created_to": "2026-03-08T00:00:00Z"}
    answer = staff.post("/api/reports", json={"query": query, "trend_points": 7})
    assert answer.status_code == 200, answer.text
    built = build_report(desk.store, ReportQuery.model_validate(query), trend_points=7)
    assert answer.json() == json.loads(built.to_json())
    assert answer.json()["tables"]["tickets"][0]["created"] == 1
    _problem(alice.post("/api/reports", json={"query": query}), 403, "permission_denied")
    bad = staff.post("/api/reports", json={"query": {"created_from": "2026-03-01"}})
    _problem(bad, 422, "invalid_input")


def test_a_survey_is_answered_by_its_token_once(
    desk: Desk, clock: FrozenClock, staff: Client
) -> None:
    tokens: list[str] = []
    desk.subscribe(
        lambda n: tokens.append(n.event.changes["details"]["token"]),
        triggers="send",
        kinds="survey",
        name="survey-link",
    )
    ticket = open_ticket(staff, customer="c-9")
    fire(staff, ticket["id"], "classify", category="repair_warranty", severity="low")
    fire(staff, ticket["id"], "assign", assignee="li.wei")
    fire(staff, ticket["id"], "start")
    fire(staff, ticket["id"], "resolve", resolution="fixed")
    fire(staff, ticket["id"], "confirm")
    assert fire(staff, ticket["id"], "close").json()["status"] == "closed"
    clock.advance(days=3)
    desk.run_due()
    (token,) = tokens
    anonymous = Client(staff.app)  # the token is the proof: no principal header
    answer = anonymous.post("/api/surveys/answer", json={"token": token, "score": 9})
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "answered"
    again = anonymous.post("/api/surveys/answer", json={"token": token, "score": 9})
    assert _problem(again, 422, "survey_token_refused")["errors"][0]["kind"] == "used"
    none = Client(create_app(Desk(), principal=system_principal))
    assert none.post("/surveys/answer", json={"token": "x", "score": 1}).status_code == 404


def test_a_router_needs_a_principal_dependency_that_answers_a_principal() -> None:
    with pytest.raises(TypeError, match="principal"):
        api_router(Desk(), principal=None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="dependency"):
        api_router(Desk(), principal="system")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Desk"):
        api_router(42, principal=system_principal)  # type: ignore[arg-type]
    lying = Client(create_app(Desk(), principal=lambda: "system"))
    with pytest.raises(TypeError, match="not a Principal"):
        lying.get("/tickets")


def test_the_desk_may_come_from_a_dependency(desk: Desk) -> None:
    def current_desk(request: Request) -> Desk:
        found: Desk = request.app.state.desk
        return found

    app = FastAPI()
    app.state.desk = desk
    app.include_router(api_router(current_desk, principal=system_principal), prefix="/v1")
    client = Client(app)
    opened = client.post("/v1/tickets", json={"customer": "c", "channel": "app", "subject": "s"})
    assert desk.get(opened.json()["id"]).channel.value == "app"


def test_the_openapi_document_carries_examples_and_problem_details(app: FastAPI) -> None:
    document = Client(app).get("/openapi.json").json()
    opening = document["paths"]["/api/tickets"]["post"]
    body = opening["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/TicketBody"}
    assert document["components"]["schemas"]["TicketBody"]["examples"]
    assert opening["responses"]["201"]["content"]["application/json"]["example"]["number"] == 1
    problem = opening["responses"]["422"]["content"]["application/problem+json"]
    assert problem["example"]["code"] == "invalid_input"
    check = document["paths"]["/api/policy/check"]["post"]
    assert check["requestBody"]["content"]["application/json"]["example"] == FACTS


def test_concurrent_writers_of_one_version_are_one_success_and_conflicts(
    desk: Desk, staff: Client
) -> None:
    ticket = open_ticket(staff, customer="c-1")
    body = {
        "trigger": "classify",
        "payload": {"category": "repair_warranty", "severity": "low"},
        "expected_version": 1,
    }

    async def race() -> list[int]:
        transport = httpx.ASGITransport(app=staff.app)
        headers = staff.headers
        async with httpx.AsyncClient(
            transport=transport, base_url="http://shop.test", headers=headers
        ) as client:
            url = f"/api/tickets/{ticket['id']}/fire"
            answers = await asyncio.gather(*(client.post(url, json=body) for _ in range(8)))
        return sorted(answer.status_code for answer in answers)

    assert asyncio.run(race()) == [200] + [409] * 7
    assert desk.get(ticket["id"]).version == 2
    assert [e.trigger for e in desk.history(ticket["id"])] == ["created", "classify"]
