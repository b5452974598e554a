"""Property test of the web API against its own OpenAPI document (schemathesis): no
generated request, valid or not, gets a server error, and every answer keeps the
document's promises (its status codes, media types and response schemas).

Not checked: that every request the schema allows is accepted (schemathesis'
``positive_data_acceptance``). The desk validates what a JSON schema cannot know (its
workflow's states and triggers, categories, priorities, which tickets exist) and answers
422 or 404 with problem details, which is the behaviour wanted.
"""

from __future__ import annotations

import collections
import dataclasses
from datetime import datetime, timezone
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI, Response
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import checks

from aftersales import Desk, FrozenClock
from aftersales.security import Principal, default_permissions
from aftersales.web import OPENED_KINDS, create_app

EXAMPLES_PER_OPERATION = 40
"""Generated requests per operation and principal: the run stays under a minute."""

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]


def _seeded_desk() -> tuple[Desk, Existing]:
    """A desk with permissions, an SLA policy and surveys, holding four tickets with a
    complaint each, and their ids."""
    desk = Desk(
        clock=FrozenClock(datetime(2026, 3, 2, 1, tzinfo=timezone.utc)),
        permissions=default_permissions(),
        sla={
            "name": "support",
            "calendar": {"time_zone": "Asia/Shanghai", "hours": {"mon": ["09:00-18:00"]}},
            "rules": [{"name": "default", "targets": {"first_response": {"minutes": 60}}}],
        },
        surveys={"rules": [{"kinds": ["ticket"], "survey": "csat"}]},
    )
    existing = Existing()
    for customer in ("c-0", "c-1", "c-0", "c-2"):
        ticket = desk.open_ticket(customer=customer, channel="email", subject="Kettle leaks")
        case = desk.cases.open_complaint(ticket.id, summary="It leaks again")
        existing.tickets += (ticket.id, str(ticket.number))
        existing.cases.append(case.id)
    return desk, existing


@dataclasses.dataclass
class Existing:
    """Ids of what the desk holds: a generated request aimed at one of them goes past
    the lookup, into the desk's validation and workflows."""

    tickets: list[str] = dataclasses.field(default_factory=list)
    cases: list[str] = dataclasses.field(default_factory=list)

    def aim(self, case: Any, pick: int) -> None:
        """Point half the requests at an existing ticket or case, or a kind the API
        opens (``pick`` chooses)."""
        if pick >= len(self.tickets):
            return  # the other half keeps what was generated
        parameters = case.path_parameters or {}
        if "ticket" in parameters:
            parameters["ticket"] = self.tickets[pick]
        if "case_id" in parameters:
            parameters["case_id"] = self.cases[pick % len(self.cases)]
        if "kind" in parameters:
            parameters["kind"] = OPENED_KINDS[pick % len(OPENED_KINDS)]
        if isinstance(case.body, dict) and "ticket_id" in case.body:
            case.body["ticket_id"] = self.tickets[pick]


def _exercise(
    operation: Any, counts: dict[str, int], failures: list[str], existing: Existing | None = None
) -> None:
    """Send the operation's generated requests, counting them and noting each failure
    (all of them, not only the first)."""
    label = operation.label

    @given(case=operation.as_strategy(), pick=st.integers(0, 15))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    def send(case: Any, pick: int) -> None:
        counts[label] += 1
        if existing is not None:
            existing.aim(case, pick)
        response = case.call()
        try:
            case.validate_response(response, checks=CHECKS)
        except BaseException as failure:  # noqa: BLE001 - schemathesis' FailureGroup
            failures.append(f"{label}: {failure}")

    send()


def _run(principal: Principal) -> tuple[dict[str, int], list[str]]:
    """Each operation's count of generated requests, and the failures found."""
    desk, existing = _seeded_desk()
    app = create_app(desk, principal=lambda: principal)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    counts: dict[str, int] = collections.Counter()
    failures: list[str] = []
    for result in schema.get_all_operations():
        _exercise(result.ok(), counts, failures, existing)
    return dict(counts), failures


@pytest.mark.parametrize(
    "principal",
    [Principal.supervisor("wang"), Principal.customer("c-0")],
    ids=["supervisor", "customer"],
)
def test_no_generated_request_gets_a_server_error_or_breaks_the_schema(
    principal: Principal,
) -> None:
    counts, failures = _run(principal)
    print(  # the figures of the run (pytest -s shows them)
        f"{principal.id}: {len(counts)} operations, {sum(counts.values())} requests, "
        f"{len(failures)} failures"
    )
    assert failures == []
    assert len(counts) == 16  # every route of the router
    assert min(counts.values()) >= 10  # each was exercised, not skipped


def test_the_run_reports_a_server_error_when_there_is_one() -> None:
    broken = FastAPI()

    @broken.get("/boom/{name}")
    def boom(name: str) -> Response:
        return Response(status_code=500 if name else 200)

    schema = schemathesis.openapi.from_asgi("/openapi.json", broken)
    counts: dict[str, int] = collections.Counter()
    failures: list[str] = []
    for result in schema.get_all_operations():
        _exercise(result.ok(), counts, failures)
    assert counts["GET /boom/{name}"] >= 1
    assert failures
    assert "Server error" in failures[0]
