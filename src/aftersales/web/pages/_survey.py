"""The survey page: the question of a CSAT, NPS or CES survey behind its signed token,
the answer, and the thanks."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Form
from starlette.requests import Request
from starlette.responses import Response

from aftersales.cases.care import unreachable_reason
from aftersales.cases.surveys import SurveyDetails, score_range, survey_key, token_survey_id
from aftersales.exceptions import InvalidInput, NotFound, SurveyTokenRefused
from aftersales.models.case import Case
from aftersales.privacy.audit import ERASED
from aftersales.web.pages._core import Page, Pages, redirect

__all__ = ["add_survey_routes", "survey_state"]

MAX_REASON = 200
MAX_COMMENT = 10_000

_REFUSALS = {"expired": "survey_expired"}
"""The library's refusal reasons whose page is named otherwise."""


def survey_state(pages: Pages, token: str) -> tuple[Case | None, str | None]:
    """The survey a token may answer now, or why not (``"invalid"``, ``"used"``,
    ``"cancelled"``, ``"survey_expired"``): the checks ``desk.surveys.answer`` makes, so
    the page says at once what an answer would meet."""
    desk = pages.desk
    if desk.surveys is None:
        return None, "invalid"
    survey_id = token_survey_id(survey_key(desk.settings), token)
    if survey_id is None:
        return None, "invalid"
    try:
        case = desk.cases.get(survey_id)
    except (NotFound, InvalidInput):
        return None, "invalid"
    details = case.details
    if (
        not isinstance(details, SurveyDetails)
        or details.token is None
        or not hmac.compare_digest(details.token, token)
    ):
        return None, "invalid"
    if case.status == "answered":
        return case, "used"
    if case.status == "cancelled" or _erased(pages, case):
        return case, "cancelled"
    expires_at = details.expires_at
    if case.status == "expired" or (expires_at is not None and pages.now() >= expires_at):
        return case, "survey_expired"
    return case, None


def _erased(pages: Pages, survey: Case) -> bool:
    """Whether the survey's customer was erased: their record says so, or their ticket
    reads as erased (there may be no record)."""
    desk = pages.desk
    if unreachable_reason(desk.cases, survey.customer_id) == "erased":
        return True
    try:
        return desk.get(survey.ticket_id).subject == ERASED
    except NotFound:  # pragma: no cover - a survey outlives its ticket in a damaged store only
        return False


def _survey_page(
    pages: Pages,
    page: Page,
    token: str,
    survey: Case,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    score: str = "",
    reason: str = "",
    comment: str = "",
) -> Response:
    details = survey.details
    assert isinstance(details, SurveyDetails)
    scores = score_range(details.survey, details.scale)
    kind = details.survey.value
    return pages.render(
        page,
        "survey.html",
        title=page.t("survey_title"),
        status=status,
        switch_url=page.request.url_for("aftersales_survey", token=token).path,
        token=token,
        question=details.question,
        question_language=details.language,
        scores=list(scores),
        scale_hint=page.t(f"scale_{kind}", high=scores.stop - 1),
        reason_hint=(
            page.t("reason_needed_below", below=details.negative_below)
            if details.reason_required and details.negative_below > scores.start
            else None
        ),
        max_reason=MAX_REASON,
        form_token=pages.form_token(f"survey\n{token}"),
        errors=errors or {},
        score=score,
        reason=reason,
        comment=comment,
    )


def _language(survey: Case | None) -> str | None:
    details = survey.details if survey is not None else None
    return details.language if isinstance(details, SurveyDetails) else None


def add_survey_routes(router: APIRouter, pages: Pages) -> None:
    """The survey (GET), its answer (POST, then a redirect to the thanks) and the thanks."""

    @router.get("/s/{token}", name="aftersales_survey", include_in_schema=False)
    def show_survey(request: Request, token: str) -> Response:
        survey, refusal = survey_state(pages, token)
        page = pages.page(request, _language(survey))
        if survey is None or refusal is not None:
            return pages.refused(page, refusal or "invalid")
        return _survey_page(pages, page, token, survey)

    @router.post("/s/{token}", name="aftersales_survey_post", include_in_schema=False)
    def answer_survey(
        request: Request,
        token: str,
        score: Annotated[str, Form()] = "",
        reason: Annotated[str, Form()] = "",
        comment: Annotated[str, Form()] = "",
        form_token: Annotated[str, Form()] = "",
    ) -> Response:
        survey, refusal = survey_state(pages, token)
        page = pages.page(request, _language(survey))
        if survey is None or refusal is not None:
            return pages.refused(page, refusal or "invalid")
        errors: dict[str, str] = {}
        reason_text, comment_text = reason.strip(), comment.strip()
        if not pages.form_ok(f"survey\n{token}", form_token):
            errors["form"] = page.t("form_expired")
        if not (score.isascii() and score.isdigit()) or len(score) > 2:
            errors["score"] = page.t("pick_score")
        if len(reason_text) > MAX_REASON:
            errors["reason"] = page.t("long_text", limit=MAX_REASON)
        if len(comment_text) > MAX_COMMENT:
            errors["comment"] = page.t("long_text", limit=MAX_COMMENT)
        if not errors:
            assert pages.desk.surveys is not None  # survey_state found a survey
            try:
                pages.desk.surveys.answer(
                    token,
                    score=int(score),
                    reason=reason_text or None,
                    comment=comment_text or None,
                )
            except SurveyTokenRefused as refused:
                return pages.refused(page, _REFUSALS.get(refused.reason, refused.reason))
            except InvalidInput as invalid:
                for error in invalid.errors:
                    field = str(error.location[0]) if error.location else "score"
                    if error.kind == "reason_needed":
                        errors["reason"] = page.t("reason_missing")
                    elif field in ("reason", "comment"):
                        errors[field] = page.t("bad_text")
                    else:
                        errors["score"] = page.t("pick_score")
            else:
                return redirect(page.url("aftersales_survey_thanks", token=token))
        return _survey_page(
            pages,
            page,
            token,
            survey,
            status=400,
            errors=errors,
            score=score,
            reason=reason,
            comment=comment,
        )

    @router.get("/s/{token}/thanks", name="aftersales_survey_thanks", include_in_schema=False)
    def thanks(request: Request, token: str) -> Response:
        survey, refusal = survey_state(pages, token)
        page = pages.page(request, _language(survey))
        if survey is None or refusal != "used":
            return pages.refused(page, refusal or "not_found")
        return pages.render(
            page,
            "message.html",
            title=page.t("thanks_title"),
            message=page.t("thanks"),
            switch_url=request.url_for("aftersales_survey_thanks", token=token).path,
        )
