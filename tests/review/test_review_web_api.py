"""Review of the web API ``aftersales.web`` (issue 22): defects found, each proven by a
failing test that passes once the defect is fixed.

Requests go through httpx's ASGI transport (Starlette's TestClient warns without
httpx2). Races are made exact without sleeps: a store whose first two commits wait for
each other (a barrier with a generous overall timeout) makes two requests read the same
version before either writes, as two requests arriving together do.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import httpx
from fastapi import FastAPI, Header, HTTPException

from aftersales import Desk, FrozenClock, MemoryStore
from aftersales.security import Principal, default_permissions
from aftersales.storage import Change
from aftersales.web import create_app, system_principal

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc)  # a Monday, 09:00 in Shanghai
SLA = {
    "name": "support",
    "calendar": {"time_zone": "Asia/Shanghai", "hours": {"mon": ["09:00-18:00"]}},
    "rules": [{"name": "default", "targets": {"first_response": {"minutes": 60}}}],
}
STAFF = "supervisor:wang"


def principal_from_header(x_principal: str = Header()) -> Principal:
    """``customer:alice`` or ``supervisor:wang`` (tests only: no proof)."""
    role, _, name = x_principal.partition(":")
    if role == "customer":
        return Principal.customer(name)
    if role == "supervisor":
        return Principal.supervisor(name)
    raise HTTPException(401, "who are you?")


def _desk(store: MemoryStore | None = None) -> Desk:
    return Desk(store, clock=FrozenClock(NOW), sla=SLA, permissions=default_permissions())


def _app(desk: Desk) -> FastAPI:
    return create_app(desk, principal=principal_from_header, prefix="/api")


def call(app: FastAPI, method: str, url: str, who: str | None = STAFF, **options: Any) -> Any:
    """One request to ``app`` as ``who`` (no principal header when None)."""
    headers = {**options.pop("headers", {}), **({} if who is None else {"X-Principal": who})}

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as client:
            return await client.request(method, url, headers=headers, **options)

    return asyncio.run(send())


def open_ticket(app: FastAPI, who: str, **fields: Any) -> dict[str, Any]:
    body = {"channel": "wechat", "subject": "扫地机器人无法充电", **fields}
    opened = call(app, "POST", "/api/tickets", who, json=body)
    assert opened.status_code == 201, opened.text
    ticket: dict[str, Any] = opened.json()
    return ticket


def fire(app: FastAPI, ticket: str, trigger: str, payload: dict[str, Any] | None = None) -> Any:
    answer = call(
        app, "POST", f"/api/tickets/{ticket}/fire", json={"trigger": trigger, "payload": payload}
    )
    assert answer.status_code == 200, answer.text
    return answer


def _without_instance(problem: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in problem.items() if key != "instance"}


# ---------------------------------------------------------------- what a customer learns


def test_a_hidden_ticket_by_number_answers_exactly_as_a_missing_number() -> None:
    desk = _desk()
    app = _app(desk)
    bobs = open_ticket(app, "customer:bob")
    missing = bobs["number"] + 1
    for route in ("", "/history", "/messages", "/sla", "/cases"):
        hidden = call(app, "GET", f"/api/tickets/{bobs['number']}{route}", "customer:alice")
        absent = call(app, "GET", f"/api/tickets/{missing}{route}", "customer:alice")
        assert (hidden.status_code, absent.status_code) == (404, 404)
        # the same problem but for the path it is about
        hidden_problem = _without_instance(hidden.json())
        absent_problem = _without_instance(absent.json())
        assert hidden_problem["detail"].replace(str(bobs["number"]), "N") == absent_problem[
            "detail"
        ].replace(str(missing), "N")


def test_a_customer_cannot_hang_its_ticket_under_another_customers_ticket() -> None:
    desk = _desk()
    app = _app(desk)
    bobs = open_ticket(app, "customer:bob")
    body = {"channel": "wechat", "subject": "mine"}
    under_bobs = call(
        app, "POST", "/api/tickets", "customer:alice", json=body | {"parent_id": bobs["id"]}
    )
    under_nothing = call(
        app, "POST", "/api/tickets", "customer:alice", json=body | {"parent_id": "0" * 32}
    )
    assert under_bobs.status_code >= 400
    assert (under_bobs.status_code, under_bobs.json()["code"]) == (
        under_nothing.status_code,
        under_nothing.json()["code"],
    )
    assert desk.find(customer_id="alice") == []  # nothing stored
    for trigger, payload in [
        ("classify", {"category": "repair_warranty", "severity": "low"}),
        ("assign", {"assignee": "li.wei", "team": "repairs"}),
        ("start", None),
        ("resolve", {"resolution": "fixed"}),
        ("confirm", None),
        ("close", None),
    ]:
        fire(app, bobs["id"], trigger, payload)  # alice's request left bob's ticket alone


def test_a_customers_history_leaves_out_the_agents_time_notes() -> None:
    desk = _desk()
    app = _app(desk)
    ticket = open_ticket(app, "customer:alice")
    desk.log_time(ticket["id"], minutes=30, actor="li.wei", note="checked the fraud list for her")
    assert "fraud list" in call(app, "GET", f"/api/tickets/{ticket['id']}/history").text  # staff
    history = call(app, "GET", f"/api/tickets/{ticket['id']}/history", "customer:alice")
    assert history.status_code == 200
    assert "fraud list" not in history.text


def test_a_customers_history_leaves_out_the_staffs_escalation_reason() -> None:
    desk = _desk()
    app = _app(desk)
    ticket = open_ticket(app, "customer:alice")
    fire(app, ticket["id"], "classify", {"category": "repair_warranty", "severity": "low"})
    fire(app, ticket["id"], "assign", {"assignee": "li.wei", "team": "repairs"})
    fire(app, ticket["id"], "start")
    fire(app, ticket["id"], "escalate", {"reason": "suspected refund abuser"})
    history = call(app, "GET", f"/api/tickets/{ticket['id']}/history", "customer:alice")
    assert history.status_code == 200
    assert "refund abuser" not in history.text


# ---------------------------------------------------------------- writes by a customer


FACTS: dict[str, Any] = {
    "jurisdiction": "cn",
    "product": {"category": "headphones"},
    "order": {
        "purchased_at": "2026-02-28T10:00:00+08:00",
        "delivered_at": "2026-03-01T16:20:00+08:00",
        "unit_price": {"amount": "99999.00", "currency": "CNY"},
        "quantity": 1,
    },
    "claim": {"at": "2026-03-02T09:00:00+08:00", "kind": "no_reason_return", "quantity": 1},
}
"""What a customer claims about an order: the price and dates are its own word."""


def test_a_customer_does_not_get_a_return_approved_on_facts_it_sent() -> None:
    desk = _desk()
    app = _app(desk)
    ticket = open_ticket(app, "customer:alice")
    fields = {"order_id": "someone-elses-order", "lines": [{"line_id": "1", "facts": FACTS}]}
    answer = call(
        app,
        "POST",
        "/api/cases/return",
        "customer:alice",
        json={"ticket_id": ticket["id"], "fields": fields},
    )
    assert answer.status_code < 500, answer.text
    assert [case.status for case in desk.cases.find() if case.status == "approved"] == []


# ---------------------------------------------------------------- concurrency


class _MeetingStore(MemoryStore):
    """A memory store whose first two ticket commits (once armed) wait for each other:
    both writers have read the ticket before either writes, as two requests arriving
    together do. A writer that never comes (a fix that serialises the writes) breaks the
    barrier after a generous timeout and the commit goes on."""

    def __init__(self) -> None:
        super().__init__()
        self.armed = False
        self._count = 0
        self._count_lock = threading.Lock()
        self._meeting = threading.Barrier(2, timeout=10)

    def _meet(self) -> None:
        with self._count_lock:
            meets = self.armed and self._count < 2
            self._count += meets
        if meets:
            with contextlib.suppress(threading.BrokenBarrierError):
                self._meeting.wait()

    def commit(self, change: Change) -> None:
        self._meet()
        super().commit(change)

    def commit_many(self, changes: Sequence[Change]) -> None:
        self._meet()
        super().commit_many(changes)


def test_two_messages_posted_at_once_are_both_kept() -> None:
    store = _MeetingStore()
    desk = Desk(store, clock=FrozenClock(NOW))
    app = create_app(desk, principal=system_principal)
    ticket = desk.open_ticket(customer="alice", channel="wechat", subject="Kettle leaks")
    store.armed = True

    async def both() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as client:
            url = f"/tickets/{ticket.id}/messages"
            return list(
                await asyncio.gather(
                    client.post(url, json={"body": "first"}),
                    client.post(url, json={"body": "second"}),
                )
            )

    answers = asyncio.run(both())
    assert [answer.status_code for answer in answers] == [201, 201], [a.text for a in answers]
    assert sorted(m.body for m in desk.messages(ticket.id)) == ["first", "second"]


# ---------------------------------------------------------------- pages


def test_paging_a_queue_while_it_moves_misses_no_ticket_that_stayed_in_it() -> None:
    desk = _desk()
    app = _app(desk)
    opened = [open_ticket(app, STAFF, customer=f"c-{n}") for n in range(5)]
    first = call(app, "GET", "/api/tickets", params={"status": "new", "limit": 2}).json()
    assert [t["id"] for t in first["items"]] == [t["id"] for t in opened[:2]]
    # an agent classifies the first ticket of the queue while the list is being read
    fire(app, opened[0]["id"], "classify", {"category": "repair_warranty", "severity": "low"})
    seen = [t["id"] for t in first["items"]]
    cursor = first["next_cursor"]
    for _ in range(len(opened)):  # a cursor that did not move on would loop forever
        if cursor is None:
            break
        page = call(
            app, "GET", "/api/tickets", params={"status": "new", "limit": 2, "after": cursor}
        ).json()
        seen += [t["id"] for t in page["items"]]
        cursor = page["next_cursor"]
    assert cursor is None
    still_new = [t["id"] for t in opened[1:]]
    assert [ticket for ticket in still_new if ticket not in seen] == []


def test_a_cursor_the_api_did_not_write_is_a_422_problem() -> None:
    app = _app(_desk())
    answer = call(app, "GET", "/api/tickets", params={"after": "not-a-cursor"})
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["code"] == "invalid_input"


# ---------------------------------------------------------------- the documents


def test_opening_a_ticket_answers_only_statuses_its_openapi_operation_lists() -> None:
    app = _app(_desk())
    documented = call(app, "GET", "/openapi.json").json()["paths"]["/api/tickets"]["post"]
    for link in ("parent_id", "follow_up_of"):
        body = {"customer": "c-1", "channel": "email", "subject": "Hi", link: "nope"}
        answer = call(app, "POST", "/api/tickets", json=body)
        assert str(answer.status_code) in documented["responses"], answer.text


def test_the_app_factory_answers_every_error_as_problem_details() -> None:
    app = _app(_desk())
    for method, url, status in [
        ("GET", "/api/nothing-here", 404),
        ("GET", "/api/tickets/a%2Fb", 404),
        ("DELETE", "/api/tickets", 405),
    ]:
        answer = call(app, method, url)
        assert answer.status_code == status
        assert answer.headers["content-type"] == "application/problem+json", (url, answer.text)
        assert answer.json()["status"] == status


def test_an_about_blank_problem_is_titled_with_the_status_phrase() -> None:
    app = _app(_desk())
    for answer, phrase in [
        (call(app, "GET", "/api/tickets", who="pirate:jack"), "Unauthorized"),
        (
            call(
                app,
                "POST",
                "/api/tickets",
                content=b'"\xff"',
                headers={"content-type": "application/json"},
            ),
            "Bad Request",
        ),
    ]:
        problem = answer.json()
        assert answer.headers["content-type"] == "application/problem+json"
        assert problem["type"] != "about:blank" or problem["title"] == phrase, problem


def test_a_problems_instance_is_a_uri_reference() -> None:
    app = _app(_desk())
    answer = call(app, "GET", "/api/tickets/a%20b")
    assert answer.status_code == 404
    assert answer.json()["instance"] == "/api/tickets/a%20b"
