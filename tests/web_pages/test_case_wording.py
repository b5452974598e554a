"""Every status a customer may see on the pages reads in their language."""

from __future__ import annotations

import pytest

from aftersales.cases import KINDS
from aftersales.web.pages import LANGUAGES
from aftersales.web.pages._case_text import case_status_label, case_status_wording
from aftersales.web.pages._text import status_label

SHIPPED_STATES = sorted(
    (spec.kind.value, state.name) for spec in KINDS for state in spec.workflow.states
)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_state_of_every_shipped_case_kind_is_worded(language: str) -> None:
    unworded = [
        (kind, state)
        for kind, state in SHIPPED_STATES
        if case_status_wording(language, kind, state) is None
    ]
    assert unworded == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_shipped_case_kind_is_named(language: str) -> None:
    raw = [spec.kind.value for spec in KINDS]
    assert [kind for kind in raw if status_label(language, kind) == kind.replace("_", " ")] == []


def test_a_state_reads_as_what_it_means_in_its_own_workflow() -> None:
    assert case_status_label("en", "return", "received") == "Goods received"
    assert case_status_label("en", "complaint", "received") == "Received"
    assert case_status_label("zh", "refund", "pending") == "待退款"


def test_a_state_an_application_added_reads_as_written() -> None:
    assert case_status_label("zh", "warranty_extension", "on_its_way") == "on its way"
