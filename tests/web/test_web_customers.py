"""What a customer principal may send and is shown through the web API: claims decided on
the shop's order lines (``orders=``), histories and cases without staff-only fields, and
the errors of the app ``create_app`` builds as problem details."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import pytest
from fastapi import FastAPI, Header, HTTPException
from web_client import Client

from aftersales import Desk, FrozenClock
from aftersales.models import Ticket
from aftersales.security import Principal, default_permissions
from aftersales.web import api_router, create_app
from aftersales.web.pages import ReturnableLine

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc)  # a Monday, 09:00 in Shanghai
ROUTING: dict[str, Any] = {
    "agents": [{"id": "li.wei", "teams": ["repairs"]}],
    "teams": [{"id": "repairs", "supervisor": "sup-li"}],
    "default_team": "repairs",
}
SHOP_FACTS: dict[str, Any] = {
    "jurisdiction": "cn",
    "product": {"category": "headphones"},
    "order": {
        "purchased_at": "2026-02-27T10:00:00+08:00",
        "delivered_at": "2026-02-28T16:20:00+08:00",
        "unit_price": {"amount": "299.00", "currency": "CNY"},
        "quantity": 2,
    },
}
"""What the shop's records say of Alice's headphones: bought and delivered days ago."""


def principal_from_header(x_principal: str = Header()) -> Principal:
    """``customer:alice``, ``supervisor:wang`` (tests only: no proof)."""
    role, _, name = x_principal.partition(":")
    if role == "customer":
        return Principal.customer(name)
    if role == "supervisor":
        return Principal.supervisor(name)
    raise HTTPException(401, "who are you?")


def shop_orders(ticket: Ticket) -> Sequence[ReturnableLine]:
    """The shop's order lines of the ticket's customer (only Alice bought anything)."""
    if ticket.customer_id != "alice":
        return []
    return [ReturnableLine("o-1", "1", "Headphones", SHOP_FACTS, sku="HP-1")]


@pytest.fixture
def desk() -> Desk:
    return Desk(clock=FrozenClock(NOW), permissions=default_permissions(), routing=ROUTING)


@pytest.fixture
def app(desk: Desk) -> FastAPI:
    return create_app(desk, principal=principal_from_header, orders=shop_orders, prefix="/api")


@pytest.fixture
def staff(app: FastAPI) -> Client:
    return Client(app, {"X-Principal": "supervisor:wang"})


@pytest.fixture
def alice(app: FastAPI) -> Client:
    return Client(app, {"X-Principal": "customer:alice"})


@pytest.fixture
def ticket(alice: Client) -> dict[str, Any]:
    opened = alice.post("/api/tickets", json={"channel": "app", "subject": "Headphones"})
    assert opened.status_code == 201, opened.text
    found: dict[str, Any] = opened.json()
    return found


def _refused_at(answer: Any, status: int = 422) -> list[Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    return [error["location"] for error in answer.json().get("errors", [])]


def _return(client: Client, ticket: dict[str, Any], fields: dict[str, Any]) -> Any:
    return client.post("/api/cases/return", json={"ticket_id": ticket["id"], "fields": fields})


# ---------------------------------------------------------------- claims


def test_a_customers_return_is_decided_on_the_shops_order_line(
    desk: Desk, alice: Client, ticket: dict[str, Any]
) -> None:
    claim = {"line_id": "1", "kind": "no_reason_return", "quantity": 1, "reason": "too big"}
    opened = _return(alice, ticket, {"order_id": "o-1", "lines": [claim]})
    assert opened.status_code == 201, opened.text
    case = desk.cases.get(opened.json()["id"])
    (line,) = case.lines
    assert line.facts is not None
    assert (str(line.unit_price.amount), line.bought, line.sku) == ("299.00", 2, "HP-1")
    assert line.facts.claim.at == NOW  # the claim is made now, not when the client says
    assert case.status == "approved"  # inside China's 7-day no-reason window


@pytest.mark.parametrize(
    ("fields", "location"),
    [
        (
            {"order_id": "o-1", "lines": [{"line_id": "1", "facts": SHOP_FACTS}]},
            ["fields", "lines", 0, "facts"],
        ),
        (
            {"order_id": "o-1", "lines": [{"line_id": "1", "kind": "no_reason_return"}]}
            | {"instructions": {"method": "pickup"}},
            ["fields", "instructions"],
        ),
        ({"order_id": "o-9", "lines": [{"line_id": "1"}]}, ["fields", "lines", 0, "line_id"]),
        ({"lines": [{"line_id": "1"}]}, ["fields", "order_id"]),
        ({"order_id": "o-1", "lines": {"line_id": "1"}}, ["fields", "lines"]),
        ({"order_id": "o-1", "lines": ["1"]}, ["fields", "lines", 0]),
        (
            {"order_id": "o-1", "lines": [{"line_id": "1", "quantity": "2"}]},
            ["fields", "lines", 0, "quantity"],
        ),
        (
            {"order_id": "o-1", "lines": [{"line_id": "1", "kind": "no_reason_return"}]}
            | {"decide_now": False},
            ["fields", "decide_now"],
        ),
    ],
    ids=[
        "facts",
        "instructions",
        "other-order",
        "no-order",
        "not-a-list",
        "not-a-line",
        "qty",
        "defer",
    ],
)
def test_a_customer_gives_no_facts_nor_staff_fields(
    desk: Desk, alice: Client, ticket: dict[str, Any], fields: dict[str, Any], location: list[Any]
) -> None:
    assert _refused_at(_return(alice, ticket, fields)) == [location]
    assert desk.cases.find() == []  # nothing stored


def test_a_customers_line_claimed_with_facts_the_shop_refuses_is_invalid_input(
    desk: Desk, alice: Client, ticket: dict[str, Any]
) -> None:
    too_many = {"line_id": "1", "kind": "no_reason_return", "quantity": 3}
    answer = _return(alice, ticket, {"order_id": "o-1", "lines": [too_many]})
    assert _refused_at(answer) == [["facts"]]
    assert desk.cases.find() == []


def test_a_customer_claims_one_line_for_an_exchange(
    desk: Desk, alice: Client, ticket: dict[str, Any]
) -> None:
    line = {"line_id": "1", "kind": "exchange"}
    opened = alice.post(
        "/api/cases/exchange",
        json={
            "ticket_id": ticket["id"],
            "fields": {"order_id": "o-1", "line": line, "replacement_sku": "HP-1-BLACK"},
        },
    )
    assert opened.status_code == 201, opened.text
    assert [line.sku for line in desk.cases.get(opened.json()["id"]).lines] == ["HP-1"]


def test_without_the_shops_order_lines_a_customer_opens_no_return(desk: Desk) -> None:
    app = create_app(desk, principal=principal_from_header)
    alice = Client(app, {"X-Principal": "customer:alice"})
    ticket = alice.post("/tickets", json={"channel": "app", "subject": "s"}).json()
    claim = {"line_id": "1", "kind": "no_reason_return"}
    answer = alice.post(
        "/cases/return",
        json={"ticket_id": ticket["id"], "fields": {"order_id": "o-1", "lines": [claim]}},
    )
    assert _refused_at(answer) == [["fields", "lines", 0, "line_id"]]


def test_staff_still_give_the_facts_and_customers_open_no_refund(
    desk: Desk, staff: Client, alice: Client, ticket: dict[str, Any]
) -> None:
    facts = SHOP_FACTS | {"claim": {"at": "2026-03-02T09:00:00+08:00", "kind": "no_reason_return"}}
    by_staff = _return(
        staff, ticket, {"order_id": "o-7", "lines": [{"line_id": "9", "facts": facts}]}
    )
    assert by_staff.status_code == 201, by_staff.text
    refund = {"order_id": "o-1", "lines": [], "amount": {"amount": "1", "currency": "CNY"}}
    answer = alice.post("/api/cases/refund", json={"ticket_id": ticket["id"], "fields": refund})
    assert _refused_at(answer, 403) == []
    assert answer.json()["code"] == "permission_denied"
    assert [case.kind for case in desk.cases.find()] == ["return"]


def test_a_router_needs_a_callable_for_the_shops_order_lines(desk: Desk) -> None:
    with pytest.raises(TypeError, match="orders"):
        api_router(desk, principal=principal_from_header, orders=[])  # type: ignore[arg-type]


# ---------------------------------------------------------------- what a customer is shown


def _escalated_complaint(staff: Client, alice: Client, ticket: dict[str, Any]) -> str:
    fired = staff.post(
        f"/api/tickets/{ticket['id']}/fire",
        json={"trigger": "classify", "payload": {"category": "complaint", "severity": "high"}},
    )
    assert fired.status_code == 200, fired.text
    staff.post(
        f"/api/tickets/{ticket['id']}/fire",
        json={"trigger": "assign", "payload": {"assignee": "li.wei", "team": "repairs"}},
    )
    opened = alice.post(
        "/api/cases/complaint",
        json={"ticket_id": ticket["id"], "fields": {"summary": "The courier was rude"}},
    )
    assert opened.status_code == 201, opened.text
    case_id: str = opened.json()["id"]
    for trigger, payload in [
        ("acknowledge", None),
        ("investigate", None),
        ("escalate", {"reason": "threatens to go to the press"}),
    ]:
        answer = staff.post(
            f"/api/cases/{case_id}/fire", json={"trigger": trigger, "payload": payload}
        )
        assert answer.status_code == 200, answer.text
    return case_id


def test_a_customer_is_shown_its_complaint_without_the_staffs_escalation(
    staff: Client, alice: Client, ticket: dict[str, Any]
) -> None:
    case_id = _escalated_complaint(staff, alice, ticket)
    for url in (f"/api/cases/{case_id}", f"/api/cases/{case_id}/history"):
        assert "the press" in staff.get(url).text
        shown = alice.get(url)
        assert shown.status_code == 200
        assert "the press" not in shown.text
        assert "sup-li" not in shown.text  # who it went to is the staff's business
    case = alice.get(f"/api/cases/{case_id}").json()
    assert (case["status"], case["complaint"]["summary"]) == ("escalated", "The courier was rude")
    listed = alice.get(f"/api/tickets/{ticket['id']}/cases").json()
    assert listed == [case]
    history = alice.get(f"/api/cases/{case_id}/history").json()
    assert [event["trigger"] for event in history] == ["created", "acknowledge", "investigate"]


def test_a_customers_ticket_history_shows_its_steps_with_the_fields_meant_for_it(
    desk: Desk, staff: Client, alice: Client, ticket: dict[str, Any]
) -> None:
    url = f"/api/tickets/{ticket['id']}"
    for trigger, payload in [
        ("classify", {"category": "repair_warranty", "severity": "low"}),
        ("assign", {"assignee": "li.wei", "team": "repairs"}),
        ("start", None),
        ("resolve", {"resolution": "Sent a new cable"}),
    ]:
        staff.post(f"{url}/fire", json={"trigger": trigger, "payload": payload})
    desk.log_time(ticket["id"], minutes=20, actor="li.wei", note="checked her order history")
    history = alice.get(f"{url}/history").json()
    assert [event["trigger"] for event in history] == [
        "created",
        "classify",
        "assign",
        "start",
        "resolve",
    ]
    assert history[1]["payload"] == {"category": "repair_warranty"}  # not the severity
    assert history[2]["payload"] == {}
    assert "team" not in history[2]["changes"]
    assert history[4]["payload"] == {"resolution": "Sent a new cable"}
    assert "tags" not in history[0]["changes"]
    assert history[0]["changes"]["number"] == 1
    assert len(staff.get(f"{url}/history").json()) == 6


def test_a_customer_is_shown_its_ticket_without_the_staffs_fields(
    staff: Client, alice: Client, ticket: dict[str, Any]
) -> None:
    assert ticket["customer_id"] == "alice"
    assert "tags" not in ticket  # as opened, too
    url = f"/api/tickets/{ticket['id']}"
    for trigger, payload in [
        ("classify", {"category": "repair_warranty", "severity": "low"}),
        ("assign", {"assignee": "li.wei", "team": "repairs"}),
    ]:
        fired = staff.post(f"{url}/fire", json={"trigger": trigger, "payload": payload})
    assert fired.json()["team"] == "repairs"
    staff_fields = {"tags", "team", "assignee", "priority", "severity", "escalation_level"}
    assert staff_fields <= set(staff.get(url).json())
    shown = [
        alice.get(url).json(),
        alice.get("/api/tickets").json()["items"][0],
        alice.post(
            f"{url}/fire", json={"trigger": "cancel", "payload": {"reason": "found it"}}
        ).json(),
    ]
    assert [sorted(staff_fields & set(each)) for each in shown] == [[], [], []]
    assert [each["status"] for each in shown] == ["assigned", "assigned", "cancelled"]


# ---------------------------------------------------------------- the app's errors


def test_the_apps_own_errors_are_problem_details_titled_by_their_status(app: FastAPI) -> None:
    client = Client(app, {"X-Principal": "supervisor:wang"})
    for method, url, status, title in [
        ("GET", "/api/nothing/here", 404, "Not Found"),
        ("PUT", "/api/tickets", 405, "Method Not Allowed"),
    ]:
        answer = client.request(method, url)
        problem = answer.json()
        assert (answer.status_code, answer.headers["content-type"]) == (
            status,
            "application/problem+json",
        )
        assert (problem["type"], problem["title"], problem["status"]) == (
            "about:blank",
            title,
            status,
        )
        assert problem["instance"] == url
    anonymous = Client(app, {"X-Principal": "pirate:jack"}).get("/api/tickets").json()
    assert (anonymous["title"], anonymous["detail"]) == ("Unauthorized", "who are you?")


def test_a_problems_instance_keeps_the_paths_escapes(staff: Client) -> None:
    for path in ("/api/tickets/a%2Fb/history", "/api/tickets/%E5%8D%95/sla"):
        assert staff.get(path).json()["instance"] == path


def test_every_operation_documents_the_errors_it_answers(app: FastAPI) -> None:
    document = Client(app).get("/openapi.json").json()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            listed = set(operation["responses"])
            if "{" in path:
                assert "404" in listed, (method, path)
            if "requestBody" in operation:
                assert {"400", "422"} <= listed, (method, path)
            if path != "/api/surveys/answer":  # the token is the proof, no principal
                assert "401" in listed, (method, path)
    linked = document["paths"]["/api/tickets"]["post"]["responses"]
    assert {"403", "404", "409"} <= set(linked)


def test_a_ticket_may_hang_under_a_ticket_the_principal_reads_by_number(
    desk: Desk, alice: Client, ticket: dict[str, Any]
) -> None:
    child = alice.post(
        "/api/tickets",
        json={"channel": "app", "subject": "And the case", "parent_id": str(ticket["number"])},
    )
    assert child.status_code == 201, child.text
    assert desk.get(child.json()["id"]).parent_id == ticket["id"]
