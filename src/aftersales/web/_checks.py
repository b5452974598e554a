"""The routes beside tickets and cases: the policy check, reports, and survey answers."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from aftersales._validation import parse
from aftersales.desk import Desk
from aftersales.exceptions import NotFound
from aftersales.insights import ReportQuery, build_report
from aftersales.policies import Decision, Facts, decide
from aftersales.security import Principal
from aftersales.web._access import Wiring, principal_dependency, refuse_customers
from aftersales.web._problems import problem_responses
from aftersales.web._schemas import AnswerBody, ReportBody, ReportView, SurveyAnswered

__all__ = ["add_check_routes"]

FACTS_EXAMPLE: dict[str, Any] = {
    "jurisdiction": "cn",
    "product": {"category": "headphones"},
    "order": {
        "purchased_at": "2024-06-01T10:00:00+08:00",
        "delivered_at": "2024-06-03T16:20:00+08:00",
        "unit_price": {"amount": "1299.00", "currency": "CNY"},
    },
    "claim": {"at": "2024-06-11T09:00:00+08:00", "kind": "no_reason_return"},
}
"""A return claimed one day after China's 7-day no-reason window."""


def _decision_example() -> dict[str, Any]:
    example: dict[str, Any] = decide(FACTS_EXAMPLE).model_dump(mode="json")
    return example


def add_check_routes(router: APIRouter, wiring: Wiring) -> None:
    """Add the policy check, report and survey routes to ``router``."""
    the_desk = Depends(wiring.desk)
    the_principal = Depends(principal_dependency(wiring.principal))
    given_policy = wiring.policy

    @router.post(
        "/policy/check",
        response_model=Decision,
        summary="Check a claim against the policy",
        responses={
            200: {"content": {"application/json": {"example": _decision_example()}}},
            **problem_responses(400, 401, 422),
        },
        openapi_extra={
            "requestBody": {"content": {"application/json": {"example": FACTS_EXAMPLE}}}
        },
    )
    def check_policy(
        facts: Facts, desk: Desk = the_desk, principal: Principal = the_principal
    ) -> JSONResponse:
        """Facts in, the decision out: the JSON of ``Decision.model_dump(mode="json")``,
        its reasons in English and Chinese. The router's policy decides, else the desk's
        case policy, else the statutory presets of the facts' jurisdiction."""
        policy = desk.cases.policy if given_policy is None else given_policy
        decision = decide(facts) if policy is None else policy.evaluate(facts)
        return JSONResponse(decision.model_dump(mode="json"))

    @router.post(
        "/reports",
        response_model=ReportView,
        summary="Build a report",
        responses=problem_responses(400, 401, 403, 422),
    )
    def report(
        body: ReportBody, desk: Desk = the_desk, principal: Principal = the_principal
    ) -> JSONResponse:
        """The ticket KPIs of a period and the families asked for, as
        :meth:`aftersales.insights.Report.to_json` writes them (staff only)."""
        refuse_customers(principal, "read reports")
        query = parse(ReportQuery, body.query, "report query")
        built = build_report(
            desk.store,
            query,
            trend_points=body.trend_points,
            sla=body.sla,
            cases=body.cases,
            workload=body.workload,
            surveys=body.surveys,
        )
        return JSONResponse(json.loads(built.to_json()))

    @router.post(
        "/surveys/answer",
        response_model=SurveyAnswered,
        summary="Answer a survey",
        responses=problem_responses(400, 404, 409, 422),
    )
    def answer_survey(body: AnswerBody, desk: Desk = the_desk) -> JSONResponse:
        """Record the answer of a survey link's holder: the signed token is the proof,
        no principal is asked for. A token used, expired or forged is refused (422,
        code ``survey_token_refused``); 404 when the desk sends no surveys."""
        surveys = desk.surveys
        if surveys is None:
            raise NotFound("this desk sends no surveys")
        answered = surveys.answer(
            body.token, score=body.score, reason=body.reason, comment=body.comment
        )
        return JSONResponse({"survey_id": answered.id, "status": answered.status})
