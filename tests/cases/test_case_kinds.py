"""Case kinds are a registry: the shipped kinds load as before, an application registers
a kind of its own with its details, workflow, opener and cascades, and the generic desk
names no kind."""

from __future__ import annotations

import inspect
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

import aftersales.cases._desk
import aftersales.cases._writer
from aftersales import Case, CaseKind, Desk, InvalidInput, InvalidWorkflow
from aftersales.cases import KINDS, CaseDesk, CaseKindSpec, Opens, StepLimit
from aftersales.models._base import Record, Text
from aftersales.models.case import KindName
from aftersales.storage import CaseChange
from aftersales.workflows import State, Transition, Workflow

GIFT_WORKFLOW = Workflow(
    "gift_box",
    initial="asked",
    states=[State("asked", "new"), State("wrapped", "closed"), State("refused", "closed")],
    transitions=[
        Transition("wrap", "asked", "wrapped", effects=["wrapped"]),
        Transition("refuse", "asked", "refused"),
    ],
    effects={"wrapped": lambda c: {"details": c.subject.details.model_copy(update={"done": True})}},
)


class GiftDetails(Record):
    message: Text
    done: bool = False


def _open_gift(cases: CaseDesk, ticket_id: str, *, message: str, actor: str = "system") -> Case:
    return cases.create("gift_box", ticket_id, actor=actor, details={"message": message})


def _complaint_for(
    cases: Any, case: Case, actor: str, now: datetime, change: CaseChange
) -> CaseChange:
    _, opened = cases._new(
        CaseKind.COMPLAINT,
        cases._ticket(case.ticket_id),
        actor,
        parent_id=case.id,
        complaint={"summary": "the wrapping was refused"},
    )
    return opened


GIFT = CaseKindSpec(
    "gift_box",
    GIFT_WORKFLOW,
    details=GiftDetails,
    step_limits={"asked": StepLimit(hours=4, action="refuse")},
    cascades={"refuse": Opens("complaint", _complaint_for)},
    opener=_open_gift,
)


def _ticket(desk: Desk) -> str:
    return desk.open_ticket(customer="c-1", channel="app", subject="gift").id


def test_an_application_registers_a_kind_and_opens_fires_and_replays_its_cases(
    desk: Desk,
) -> None:
    desk.cases.register(GIFT)
    case = desk.cases.open("gift_box", _ticket(desk), message="生日快乐")
    assert (case.kind, type(case.kind), case.status) == ("gift_box", KindName, "asked")
    wrapped = desk.cases.fire(case.id, "wrap")
    assert isinstance(wrapped.details, GiftDetails)
    assert wrapped.details.done
    assert desk.cases.get(case.id) == wrapped == desk.cases.replay(case.id)


def test_a_registered_kinds_cascade_opens_its_case_and_its_limit_is_run_due(desk: Desk) -> None:
    desk.cases.register(GIFT)
    case = desk.cases.open("gift_box", _ticket(desk), message="hi")
    done = desk.cases.run_due(case.created_at + timedelta(hours=4))
    assert [(d.case_id, d.action) for d in done] == [(case.id, "refuse")]
    [complaint] = desk.cases.find(parent_id=case.id)
    assert complaint.kind is CaseKind.COMPLAINT


def test_opening_a_kind_nobody_registered_is_bad_input(desk: Desk) -> None:
    with pytest.raises(InvalidInput, match="unknown case kind 'cake'"):
        desk.cases.open("cake", _ticket(desk))


def test_a_case_of_a_kind_nobody_registered_is_refused() -> None:
    with pytest.raises(InvalidInput, match="unknown case kind"):
        Case.model_validate_json(
            json.dumps(
                {
                    "kind": "never_registered",
                    "workflow": "x",
                    "status": "x",
                    "status_category": "open",
                    "ticket_id": "t",
                    "created_at": "2024-03-04T09:00:00Z",
                    "updated_at": "2024-03-04T09:00:00Z",
                }
            )
        )


def test_a_stored_case_of_a_shipped_kind_loads_as_its_case_kind_member() -> None:
    stored = {
        "id": "c1",
        "kind": "return",
        "workflow": "return",
        "status": "requested",
        "status_category": "new",
        "version": 1,
        "ticket_id": "t1",
        "created_at": "2024-03-04T09:00:00Z",
        "updated_at": "2024-03-04T09:00:00Z",
    }
    case = Case.model_validate_json(json.dumps(stored))
    assert case.kind is CaseKind.RETURN
    assert case.details is None
    assert json.loads(case.model_dump_json())["kind"] == "return"


def test_a_kind_whose_cascade_or_limit_names_what_its_workflow_lacks_is_refused() -> None:
    with pytest.raises(InvalidWorkflow, match="no trigger 'unwrap'"):
        CaseKindSpec(
            "gift_box", GIFT_WORKFLOW, cascades={"unwrap": Opens("refund", _complaint_for)}
        )
    with pytest.raises(InvalidWorkflow, match="no state 'lost'"):
        CaseKindSpec("gift_box", GIFT_WORKFLOW, step_limits={"lost": StepLimit(hours=1)})


def test_a_shipped_kind_keeps_the_details_model_it_ships_with() -> None:
    class Other(Record):
        note: str

    with pytest.raises(InvalidWorkflow, match="ships with the details model"):
        CaseKindSpec("visit", GIFT_WORKFLOW, details=Other)


def test_an_applications_kind_defined_again_takes_the_latest_details_model() -> None:
    class First(Record):
        note: str

    class Second(Record):
        note: str
        colour: str = "red"

    CaseKindSpec("wrapping", GIFT_WORKFLOW, details=First)
    desk = Desk(case_kinds=[CaseKindSpec("wrapping", GIFT_WORKFLOW, details=Second)])
    case = desk.cases.create("wrapping", _ticket(desk), details={"note": "blue paper"})
    assert isinstance(case.details, Second)
    assert case.details.colour == "red"


def test_the_shipped_kinds_are_the_five_case_kinds_visits_and_the_follow_ups() -> None:
    assert [spec.name for spec in KINDS] == [
        *(k.value for k in CaseKind),
        "visit",
        "survey",
        "return_visit",
        "coupon",
        "care",
    ]
    assert all(KINDS[i].kind is kind for i, kind in enumerate(CaseKind))


def test_the_generic_case_desk_names_no_case_kind() -> None:
    for module in (aftersales.cases._desk, aftersales.cases._writer):
        source = inspect.getsource(module)
        assert "CaseKind." not in source, module.__name__


def test_the_old_casework_module_still_exports_the_case_desk() -> None:
    from aftersales.casework import CaseDesk as Old
    from aftersales.casework import ClaimLine, StepLimit, fold_case  # noqa: F401

    assert Old is CaseDesk


def test_the_case_schema_says_a_kind_is_a_name() -> None:
    kind = Case.model_json_schema()["properties"]["kind"]
    assert (kind["type"], kind["maxLength"]) == ("string", 128)


def test_opening_a_case_with_a_field_its_opener_does_not_take_is_bad_input(desk: Desk) -> None:
    ticket_id = _ticket(desk)
    start = datetime(2024, 3, 5, 9, tzinfo=timezone.utc)
    with pytest.raises(InvalidInput, match="technican"):
        desk.cases.open(
            "visit",
            ticket_id,
            address="88 Nanjing Road",
            window_start=start,
            window_end=start + timedelta(hours=2),
            technican="wang.tech",
        )
    with pytest.raises(InvalidInput, match="address"):
        desk.cases.open("visit", ticket_id, window_start=start)
    assert desk.cases.for_ticket(ticket_id) == []


def test_creating_a_case_names_only_the_fields_a_kind_may_set(desk: Desk) -> None:
    desk.cases.register(GIFT)
    with pytest.raises(InvalidInput, match="must be one of"):
        desk.cases.create("gift_box", _ticket(desk), status="wrapped")
    with pytest.raises(InvalidInput, match="message"):
        desk.cases.create("gift_box", _ticket(desk), details={"note": "no message"})
