"""Redactor and RedactionSettings: what each style leaves of each kind, settings as data;
PERSONAL_FIELDS and personal_keys name the records' real fields."""

from __future__ import annotations

import json
import typing
from typing import Any

import attrs
import pytest
from pydantic import BaseModel

from aftersales.cases.coupons import CouponDetails
from aftersales.cases.return_visits import ReturnVisitDetails
from aftersales.cases.surveys import SurveyDetails
from aftersales.cases.visits import VisitDetails
from aftersales.exceptions import InvalidInput
from aftersales.models.case import Case
from aftersales.models.customer import Customer
from aftersales.models.ticket import Message, Ticket
from aftersales.privacy import (
    PERSONAL_FIELDS,
    Finding,
    RedactionSettings,
    Redactor,
    extend_personal_fields,
    personal_keys,
)

MESSAGE = "王先生 13812345678，邮箱 wang@example.com，寄到上海市浦东新区张江路123号"

MASKED = Redactor(RedactionSettings(style="mask"))


def test_tokens_replace_every_kind_by_default() -> None:
    assert Redactor().redact(MESSAGE) == "王先生 [phone]，邮箱 [email]，寄到[address]"


def test_findings_come_back_with_positions_in_the_original() -> None:
    redacted, findings = Redactor().redact_with_findings(MESSAGE)
    assert redacted.count("[") == 3
    assert [MESSAGE[f.start : f.end] for f in findings] == [
        "13812345678",
        "wang@example.com",
        "上海市浦东新区张江路123号",
    ]


def test_text_without_personal_data_comes_back_unchanged() -> None:
    text = "订单A1234什么时候发货？"
    assert Redactor().redact_with_findings(text) == (text, [])


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("13812345678", "138****5678"),
        ("+86 138 1234 5678", "+86 138 **** 5678"),
        ("010-62345678", "010-****5678"),
        ("+44 20 7946 0958", "+44 20 **** 0958"),
        ("１３８１２３４５６７８", "１３８****５６７８"),
        ("卡 4111 1111 1111 1111", "卡 **** **** **** 1111"),
        ("卡 6228480012345671", "卡 ************5671"),
        ("11010519491231002X", "**************002X"),
        ("li.lei@example.com", "l*****@example.com"),
        ("地址幸福路88号", "地址******"),
        ("221B Baker Street", "**** ***** ******"),
    ],
)
def test_masks_keep_separators_and_what_tells_numbers_apart(text: str, masked: str) -> None:
    assert MASKED.redact(text) == masked


def test_only_the_configured_kinds_are_redacted() -> None:
    redactor = Redactor.from_data({"kinds": ["email"], "style": "mask"})
    assert redactor.redact(MESSAGE) == (
        "王先生 13812345678，邮箱 w***@example.com，寄到上海市浦东新区张江路123号"
    )


def test_token_and_mask_characters_are_configurable() -> None:
    tokens = Redactor(RedactionSettings(token="<{kind} removed>"))
    assert tokens.redact("li@example.com") == "<email removed>"
    masks = Redactor(RedactionSettings(style="mask", mask="#"))
    assert masks.redact("13812345678") == "138####5678"


def test_region_reaches_the_detector() -> None:
    us = Redactor(RedactionSettings(region="US"))
    assert us.redact("call (650) 253-0000") == "call [phone]"
    assert Redactor().redact("call (650) 253-0000") == "call (650) 253-0000"


def test_settings_survive_json() -> None:
    settings = RedactionSettings(kinds=("phone", "email", "phone"), style="mask")
    assert settings.kinds == ("email", "phone")
    data = json.loads(settings.model_dump_json())
    assert Redactor.from_data(data).settings == settings


@pytest.mark.parametrize(
    ("data", "location"),
    [
        ({"kinds": ["phone", "ssn"]}, ("kinds",)),
        ({"kinds": []}, ("kinds",)),
        ({"style": "blur"}, ("style",)),
        ({"token": "[{kind}/{other}]"}, ("token",)),
        ({"token": "[{kind"}, ("token",)),
        ({"mask": "**"}, ("mask",)),
        ({"region": "china"}, ("region",)),
        ({"colour": "red"}, ("colour",)),
    ],
)
def test_invalid_settings_are_refused_by_field(data: dict[str, Any], location: tuple[str]) -> None:
    with pytest.raises(InvalidInput) as caught:
        Redactor.from_data(data)
    assert [error.location for error in caught.value.errors] == [location]


def test_unknown_kinds_are_named_with_the_known_ones() -> None:
    with pytest.raises(InvalidInput, match="unknown kinds ssn; known: address, bank_card"):
        RedactionSettings(kinds=("ssn",))


def test_settings_must_be_an_object() -> None:
    with pytest.raises(InvalidInput, match="must be an object"):
        Redactor.from_data(["phone"])  # type: ignore[arg-type]


def test_a_redactor_cannot_be_changed() -> None:
    redactor = Redactor()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        redactor.settings = RedactionSettings(style="mask")  # type: ignore[misc]
    assert Finding("phone", 0, 1, "1") == Finding("phone", 0, 1, "1")


class _VisitDetailsHolder(BaseModel):
    """A visit case's details, where its kind's personal fields live."""

    details: VisitDetails


class _SurveyDetailsHolder(BaseModel):
    details: SurveyDetails


class _ReturnVisitDetailsHolder(BaseModel):
    details: ReturnVisitDetails


class _CouponDetailsHolder(BaseModel):
    details: CouponDetails


RECORDS: dict[str, type[BaseModel]] = {
    "customer": Customer,
    "ticket": Ticket,
    "message": Message,
    "case": Case,
    "visit": _VisitDetailsHolder,
    "survey": _SurveyDetailsHolder,
    "return_visit": _ReturnVisitDetailsHolder,
    "coupon": _CouponDetailsHolder,
}


def _field_type(model: type[BaseModel], path: str) -> object:
    """The annotation at ``path`` of ``model``, going into optional and tuple fields."""
    annotation: object = model
    for name in path.split("."):
        assert isinstance(annotation, type)
        assert issubclass(annotation, BaseModel)
        assert name in annotation.model_fields, f"{annotation.__name__} has no {name}"
        annotation = _record_in(annotation.model_fields[name].annotation)
    return annotation


def _record_in(annotation: object) -> object:
    for argument in typing.get_args(annotation):
        if isinstance(argument, type) and issubclass(argument, BaseModel):
            return argument
    return annotation


@pytest.mark.parametrize(
    ("kind", "path"),
    sorted(
        (kind, path) for kind, paths in PERSONAL_FIELDS.items() if kind != "event" for path in paths
    ),
)
def test_declared_personal_fields_exist_on_the_records(kind: str, path: str) -> None:
    _field_type(RECORDS[kind], path)


def test_every_text_field_of_a_message_or_ticket_that_people_write_is_declared() -> None:
    assert PERSONAL_FIELDS["ticket"] == {"subject", "description", "resolution"}
    assert PERSONAL_FIELDS["message"] == {"body"}
    assert {"name", "contacts.address"} <= PERSONAL_FIELDS["customer"]
    assert {"reason", "logistics.address"} <= PERSONAL_FIELDS["case"]


def test_the_declaration_cannot_be_changed_in_place() -> None:
    with pytest.raises(TypeError):
        PERSONAL_FIELDS["ticket"] = frozenset()  # type: ignore[index]


def test_a_desk_extends_the_declaration_without_changing_the_default() -> None:
    fields = extend_personal_fields({"warranty_claim": ["details.address"], "ticket": "category"})
    assert fields["warranty_claim"] == {"details.address"}
    assert fields["ticket"] == {"subject", "description", "resolution", "category"}
    assert "warranty_claim" not in PERSONAL_FIELDS
    assert "category" not in PERSONAL_FIELDS["ticket"]
    assert {"category", "address"} <= personal_keys(fields)
    assert "category" not in personal_keys()


def test_field_paths_are_checked() -> None:
    with pytest.raises(InvalidInput) as caught:
        extend_personal_fields({"visit": ["details.address", "details..x", ""]})
    assert [error.location for error in caught.value.errors] == [("visit", 1), ("visit", 2)]


def test_personal_keys_cover_what_events_carry() -> None:
    expected = {
        "subject",
        "description",
        "body",
        "resolution",
        "name",
        "phone",
        "phones",
        "email",
        "emails",
        "address",
        "addresses",
        "contacts",
        "reason",
        "comment",
        "note",
        "notes",
        "summary",
        "sign_off_note",
    }
    assert expected <= personal_keys()
    assert {"status", "sku", "amount", "tracking"}.isdisjoint(personal_keys())
