"""The HTML report's sections for satisfaction, escalation levels and the figure families a
report holds when asked (SLA compliance, cases, workload, next responses and surveys): charts
and tables, or a note saying how to get what is not there."""

from __future__ import annotations

import math
from typing import Any

from aftersales.insights._report_families import CASE_FILTERS, WORKLOAD_FILTERS, unapplied_filters
from aftersales.insights._report_html import (
    _chart,
    _current,
    _html_table,
    _matplotlib,
    _rate_text,
    _section,
    _slice_labels,
)
from aftersales.insights._report_surveys import SURVEY_FILTERS
from aftersales.insights._ticket_memory import SCORES
from aftersales.insights.report import Report, ReportTable

__all__ = ["escalation_section", "family_sections", "satisfaction_section", "sla_section"]


def _note(text: str) -> str:
    return f'<p class="note">{text}</p>'


def _not_computed(report: Report, what: str, option: str, applied: tuple[str, ...]) -> str:
    """Why a family is missing: not asked for, or a filter it cannot apply."""
    unapplied = unapplied_filters(report.query, applied)
    why = (
        f" It cannot be filtered by {', '.join(unapplied)}, so this report (filtered by "
        "it) leaves it out."
        if unapplied
        else ""
    )
    return _note(
        f"Not computed: {what} are counted when asked (<code>build_report(..., "
        f"{option}=True)</code>, <code>aftersales report --{option}</code>).{why}"
    )


def satisfaction_section(plot: Any, report: Report, tables: dict[str, ReportTable]) -> str:
    """The satisfaction scores of the period's tickets and the CSAT of each slice (the
    share of rated tickets rated 4 or 5)."""
    total = report.tickets.total.current.satisfaction
    if not total.rated:
        return _section("Satisfaction", _note("No ticket of the period was rated."))
    parts = []

    def scores(axes: Any) -> None:
        colours = ["#e45756", "#f58518", "#bab0ac", "#72b7b2", "#54a24b"]
        axes.bar([str(score) for score in SCORES], list(total.scores), color=colours)
        axes.set_xlabel("score (1 to 5)")
        axes.set_ylabel("tickets rated")
        axes.set_title(
            f"Satisfaction: CSAT {_rate_text(total.csat)} of {total.rated} rated, "
            f"mean {total.mean_score:.2f}"
        )

    parts.append(_chart(plot, "Satisfaction scores", scores))
    trend = report.trend
    if any(point.satisfaction.rated for point in trend):
        positions = list(range(len(trend)))

        def csat(axes: Any) -> None:
            shares = [point.satisfaction.csat for point in trend]
            axes.plot(
                positions,
                [math.nan if share is None else share * 100 for share in shares],
                color="#54a24b",
                marker="o",
            )
            axes.set_xticks(positions, _slice_labels(trend), fontsize=8)
            axes.set_ylim(0, 105)
            axes.set_ylabel("% rated 4 or 5")
            axes.set_title("CSAT of the tickets created in each slice")

        parts.append(_chart(plot, "CSAT per slice", csat))
    parts.append(_html_table(_current(tables["tickets"]), ("group", "rated", "mean_score", "csat")))
    return _section("Satisfaction", *parts)


def escalation_section(plot: Any, report: Report, tables: dict[str, ReportTable]) -> str:
    """The tickets of the period per escalation level reached (the report's query asked
    for them)."""
    total = report.tickets.total.current.escalations
    assert total is not None  # the section is there when the query asks for the levels
    parts = []
    if total.escalated:
        levels = list(range(1, len(total.levels)))

        def per_level(axes: Any) -> None:
            axes.bar([str(level) for level in levels], list(total.levels[1:]), color="#e45756")
            axes.set_xlabel("escalation level")
            axes.set_ylabel("tickets")
            axes.set_title(f"{total.escalated} of the period's tickets escalated, by level")

        parts.append(_chart(plot, "Tickets per escalation level", per_level, 2.5))
    else:
        parts.append(_note("No ticket of the period was escalated."))
    parts.append(_html_table(_current(tables["escalations"])))
    parts.append(
        _note(
            "Each ticket counted at the escalation level it holds now (escalation chains, "
            "the escalate trigger and SLA escalations raise it); reached: at that level "
            "or above."
        )
    )
    return _section("Escalations", *parts)


def sla_section(plot: Any, report: Report, tables: dict[str, ReportTable]) -> str:
    """Each group's compliance with its first response and resolution targets."""
    levels = report.service_levels
    if levels is None:
        return _section(
            "SLA compliance",
            _not_computed(report, "SLA compliance and business-hours times", "sla", ()),
        )
    named = [("(none)" if row.group is None else row.group, row) for row in levels.rows]
    named.append(("(total)" if levels.rows else "all tickets", levels.total))
    settled = [
        (name, row)
        for name, row in named
        if row.first_response.compliance is not None or row.resolution.compliance is not None
    ]
    parts = []
    if settled:
        rows = list(range(len(settled)))

        def compliance(axes: Any) -> None:
            for offset, metric, colour in (
                (-0.2, "first_response", "#4c78a8"),
                (0.2, "resolution", "#54a24b"),
            ):
                shares = [getattr(row, metric).compliance for _, row in settled]
                axes.barh(
                    [r + offset for r in rows],
                    [0 if share is None else share * 100 for share in shares],
                    height=0.4,
                    color=colour,
                    label=metric.replace("_", " "),
                )
            axes.set_yticks(rows, [name for name, _ in settled], fontsize=8)
            axes.set_ylim(len(settled) - 0.5, -0.5)
            axes.set_xlim(0, 100)
            axes.set_xlabel("% of settled targets met")
            axes.set_title("SLA compliance: first response and resolution targets met")
            axes.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1, 1))

        height = 1.5 + 0.45 * len(settled)
        parts.append(_chart(plot, "SLA compliance", compliance, height))
    else:
        parts.append(_note("No SLA target of the period's tickets is settled yet."))
    parts.append(
        _html_table(
            tables["service_levels"],
            (
                "group",
                "metric",
                "tickets",
                "met",
                "breached",
                "pending",
                "compliance",
                "business_median_seconds",
                "business_p90_seconds",
            ),
        )
    )
    parts.append(
        _note(
            "Business-hours times on each SLA rule's calendar, pauses left out; outcomes "
            "as of each ticket's last change (a target missed since is counted once "
            "<code>run_due</code> records it)."
        )
    )
    return _section("SLA compliance", *parts)


def family_sections(report: Report, tables: dict[str, ReportTable]) -> list[str]:
    """The cases' and the workload's sections: tables, or why they are missing."""
    if report.cases is None:
        cases = [_not_computed(report, "case metrics", "cases", CASE_FILTERS)]
    else:
        cases = [
            _html_table(
                tables["cases"],
                (
                    "group",
                    "tickets",
                    "returns",
                    "return_rate",
                    "refunds_paid",
                    "late_refund_rate",
                    "refund_lead_time_median_seconds",
                    "repairs",
                    "repeat_rate",
                    "repair_turnaround_median_seconds",
                    "complaints",
                    "complaint_rate",
                ),
            ),
            "<h3>Return reasons</h3>",
            _html_table(tables["return_reasons"]),
            "<h3>Repairs per part</h3>",
            _html_table(tables["repair_parts"]),
            _note(
                "Returns and complaints created in the period, refunds paid in it, repairs "
                "completed in it; rates per ticket of the same products and channels."
            ),
        ]
    if report.workload is None:
        work = [
            _not_computed(report, "workload and next response times", "workload", WORKLOAD_FILTERS)
        ]
    else:
        work = [
            _html_table(tables["workload"]),
            "<h3>Next response times</h3>",
            _html_table(tables["next_responses"]),
            _note(
                "Time logged and tickets resolved in the period (events in it, whenever "
                "the ticket was created); next responses: customer messages written in the "
                "period after the first response, waiting for the next reply."
            ),
        ]
    return [
        _section("Returns, refunds, repairs and complaints", *cases),
        _section("Workload and next response times", *work),
        _surveys_section(report, tables),
    ]


_SURVEY_HEADLINES = {"csat": "CSAT {:.0f}%", "nps": "NPS {:+.0f}", "ces": "CES {:.2f}"}


def _surveys_section(report: Report, tables: dict[str, ReportTable]) -> str:
    """Each survey type's answers per score, titled with its headline figure."""
    heading = "Surveys: CSAT, NPS and CES"
    if report.surveys is None:
        why = _not_computed(report, "survey figures", "surveys", SURVEY_FILTERS)
        return _section(heading, why)
    if not report.surveys:
        return _section(heading, _note("No survey was answered in the period."))
    plot = _matplotlib()
    parts = []
    for kind, figures in report.surveys.items():
        headline = _SURVEY_HEADLINES.get(kind.value, "{:.2f}").format(figures.score or 0)

        def scores(axes: Any, figures: Any = figures, headline: str = headline) -> None:
            shown = figures.distribution
            axes.bar([str(score) for score in shown], list(shown.values()), color="#4c78a8")
            axes.set_xlabel("score")
            axes.set_ylabel("answers")
            axes.set_title(f"{headline} of {figures.answers} answers")

        parts.append(_chart(plot, f"Survey scores: {kind.value.upper()}", scores, 2.5))
    parts.append(_html_table(tables["surveys"]))
    parts.append(
        _note(
            "Surveys answered in the period (on the report's channels; the charts are "
            "the total's): CSAT is the share of the top two scores, NPS the % of "
            "promoters (9-10) less that of detractors (0-6), CES the mean effort score."
        )
    )
    return _section(heading, *parts)
