"""Extension points of the policies: a jurisdiction is one module, a language is one file
of templates, a rule kind is one module; none needs an edit to the library."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date

import preset_jp
import pytest
from policy_facts import make_facts

from aftersales import InvalidInput
from aftersales.policies import Decision, Outcome, ReturnWindowRule, decide, messages, presets
from aftersales.policies.presets import Jurisdiction, register
from aftersales.policies.rules import RULE_MODULES, Rule


@pytest.fixture
def registries() -> Iterator[None]:
    """Leave the process's jurisdictions and languages as the test found them."""
    jurisdictions = dict(presets.JURISDICTIONS)
    languages = messages.languages()
    yield
    presets.JURISDICTIONS.clear()
    presets.JURISDICTIONS.update(jurisdictions)
    for language in messages.languages():
        if language not in languages:
            messages.remove_language(language)


def jp_facts(claim: str) -> dict[str, object]:
    return {
        "jurisdiction": "jp",
        "product": {"category": "apparel"},
        "order": {
            "purchased_at": "2024-03-01T10:00:00+09:00",
            "delivered_at": "2024-03-02T15:00:00+09:00",
            "unit_price": {"amount": "5000", "currency": "JPY"},
        },
        "claim": {"at": f"{claim}T20:00:00+09:00", "kind": "no_reason_return"},
    }


@pytest.mark.usefixtures("registries")
def test_a_jurisdiction_added_as_one_module_decides_its_facts_in_its_language() -> None:
    with pytest.raises(InvalidInput, match="unknown jurisdiction 'jp'"):
        decide(jp_facts("2024-03-10"))
    register(preset_jp.JURISDICTION)
    messages.add_language("ja", preset_jp.MESSAGES_JA)

    last_day = decide(jp_facts("2024-03-10"))
    too_late = decide(jp_facts("2024-03-11"))

    assert (last_day.outcome, last_day.window and last_day.window.last_day) == (
        Outcome.ALLOWED,
        date(2024, 3, 10),
    )
    assert last_day.policy == "jp-8-day-return@toy"
    assert last_day.explain("ja") == "8日間返品の期間内です（最終日 2024-03-10）"
    assert last_day.explain("en") == "within the 8-day return window, which ends on 2024-03-10"
    assert too_late.outcome is Outcome.REFUSED
    assert too_late.explain("ja") == "8日間返品の期間は 2024-03-10 に終了しました"
    assert Decision.model_validate_json(too_late.model_dump_json()) == too_late
    assert "jp" in presets.JURISDICTIONS


@pytest.mark.usefixtures("registries")
def test_a_jurisdiction_code_is_registered_once_unless_replaced() -> None:
    register(preset_jp.JURISDICTION)
    with pytest.raises(InvalidInput, match="already registered"):
        register(preset_jp.JURISDICTION)
    with pytest.raises(InvalidInput, match="already registered"):
        register(Jurisdiction(code="cn", decide=preset_jp.JURISDICTION.decide))
    assert decide(make_facts()).policy == "cn-online-7-day-return@2020"
    register(Jurisdiction(code="cn", decide=preset_jp.JURISDICTION.decide), replace=True)
    assert decide(make_facts(jurisdiction="cn")).policy == "jp-8-day-return@toy"


@pytest.mark.parametrize(
    "bad",
    [None, "jp", {"code": "jp"}],
)
def test_registering_something_that_is_not_a_jurisdiction_is_invalid_input(bad: object) -> None:
    with pytest.raises(InvalidInput, match="expected a Jurisdiction"):
        register(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"code": "", "decide": decide}, "code"),
        ({"code": "x\x00", "decide": decide}, "code"),
        ({"code": "jp", "decide": "not callable"}, "decide"),
    ],
)
def test_a_jurisdiction_with_a_bad_code_or_no_function_is_invalid_input(
    fields: dict[str, object], where: str
) -> None:
    with pytest.raises(InvalidInput) as raised:
        Jurisdiction(**fields)  # type: ignore[arg-type]
    assert [e.location for e in raised.value.errors] == [(where,)]


@pytest.mark.usefixtures("registries")
def test_a_third_language_for_one_rule_is_added_without_editing_the_library() -> None:
    decision = decide(make_facts(claim="2024-03-09"))
    assert decision.codes == ("within_window",)
    with pytest.raises(InvalidInput, match="unknown language 'fr'; known: en, zh"):
        decision.explain("fr")

    messages.add_messages(
        {"within_window": {"fr": "dans le délai « {window} », jusqu'au {last_day}"}}
    )

    assert decision.explain("fr") == "dans le délai « 7-day no-reason return », jusqu'au 2024-03-10"
    assert decision.reasons[0].explain("zh") == decision.reasons[0].message_zh
    assert messages.languages() == ("en", "zh", "fr")
    refused = decide(make_facts(flags=("perishable",)))
    with pytest.raises(InvalidInput, match="no 'fr' message for reason code 'excluded_category'"):
        refused.explain("fr")


@pytest.mark.usefixtures("registries")
def test_a_language_is_one_file_of_templates_by_reason_code() -> None:
    messages.add_language("ja", preset_jp.MESSAGES_JA)
    decision = decide(make_facts(claim="2024-03-09"))
    assert decision.explain("ja") == "7-day no-reason returnの期間内です（最終日 2024-03-10）"
    messages.remove_language("ja")
    with pytest.raises(InvalidInput, match="unknown language 'ja'"):
        decision.explain("ja")


@pytest.mark.parametrize(
    ("templates", "where", "problem"),
    [
        ({"within_window": {"fr": "jusqu'au {deadline}"}}, ("within_window", "fr"), "deadline"),
        ({"within_window": {"fr": "jusqu'au {"}}, ("within_window", "fr"), "not a template"),
        ({"within_window": {"fr": "{0}"}}, ("within_window", "fr"), "not a template"),
        ({"within_window": {"French": "x"}}, ("within_window", "French"), "language code"),
        ({"within_window": {"fr": 3}}, ("within_window", "fr"), "template"),
        ({"Within Window": {"fr": "x"}}, ("Within Window",), "reason code"),
        ({"within_window": "x"}, ("within_window",), "map language codes"),
    ],
)
def test_a_bad_template_is_invalid_input_and_adds_nothing(
    templates: dict[str, object], where: tuple[str, ...], problem: str
) -> None:
    before = messages.languages()
    with pytest.raises(InvalidInput) as raised:
        messages.add_messages({"repair_first": {"fr": "réparer d'abord"}, **templates})  # type: ignore[dict-item]
    assert [e.location for e in raised.value.errors] == [where]
    assert problem in str(raised.value)
    assert messages.languages() == before
    with pytest.raises(InvalidInput):
        messages.template("repair_first", "fr")


def test_the_shipped_languages_cannot_be_removed() -> None:
    for language in ("en", "zh"):
        with pytest.raises(InvalidInput, match="ships with the library"):
            messages.remove_language(language)
    assert messages.languages()[:2] == ("en", "zh")


def test_every_rule_kind_is_one_module_in_the_union_with_english_and_chinese_messages() -> None:
    kinds = [module.RULE.model_fields["kind"].default for module in RULE_MODULES]
    assert kinds == [
        "return_window",
        "quality_tiers",
        "legal_guarantee",
        "short_term_reject",
        "statutory_return",
        "household_car",
    ]
    from pydantic import TypeAdapter

    adapter = TypeAdapter(Rule)
    for module in RULE_MODULES:
        assert set(adapter.json_schema()["discriminator"]["mapping"]) == set(kinds)
        for code, templates in module.MESSAGES.items():
            assert {"en", "zh"} <= set(templates), (module.__name__, code)
            assert messages.template(code, "en") == templates["en"]


def test_a_window_named_in_chinese_twice_must_agree() -> None:
    rule = ReturnWindowRule(name="return", names={"zh": "退货"}, period={"days": 7})
    assert rule.name_zh == "退货"
    with pytest.raises(InvalidInput, match="name the window differently"):
        ReturnWindowRule(name="return", name_zh="退货", names={"zh": "换货"}, period={"days": 7})
    with pytest.raises(InvalidInput) as raised:
        ReturnWindowRule(name="return", names={"Japanese": "返品"}, period={"days": 7})
    assert raised.value.errors[0].location[:2] == ("names", "Japanese")


def test_a_decision_without_names_in_other_languages_serialises_as_before() -> None:
    data = json.loads(decide(make_facts()).model_dump_json())
    assert list(data["reasons"][0]) == [
        "code",
        "permits",
        "params",
        "window_zh",
        "message",
        "message_zh",
    ]


def test_the_names_the_rules_module_had_before_it_became_a_package_still_import() -> None:
    from aftersales.policies.decision import MESSAGES
    from aftersales.policies.rules import Decision as RulesDecision
    from aftersales.policies.rules import StartEvent, reason

    assert RulesDecision is Decision
    assert StartEvent.DELIVERY.value == "delivery"
    assert reason("repair_first", True).message == "repair or replacement first, free of charge"
    assert MESSAGES["repair_first"] == (
        "repair or replacement first, free of charge",
        "先修理或更换，免费",
    )
    assert "within_window" in set(MESSAGES)
    assert len(MESSAGES) == 34
    with pytest.raises(ImportError):
        from aftersales.policies.rules import no_such_name  # noqa: F401
    from aftersales.policies.presets import SHANGHAI, PolicySet, as_facts

    assert (SHANGHAI, PolicySet.__name__, as_facts.__module__) == (
        "Asia/Shanghai",
        "PolicySet",
        "aftersales.policies.facts",
    )
