"""``aftersales policy check`` (outcomes as exit codes, languages, presets and files) and
``aftersales sla status``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import SLA_POLICY, Seeded, run

from aftersales.policies import decide, presets

FACTS: dict[str, Any] = {
    "jurisdiction": "cn",
    "product": {"category": "apparel"},
    "order": {
        "purchased_at": "2024-03-01T10:00:00+08:00",
        "delivered_at": "2024-03-03T15:00:00+08:00",
        "unit_price": {"amount": "199.00", "currency": "CNY"},
    },
    "claim": {"at": "2024-03-10T23:59:00+08:00", "kind": "no_reason_return"},
}


def _facts(tmp_path: Path, claim_at: str = "2024-03-10T23:59:00+08:00") -> Path:
    path = tmp_path / "facts.json"
    path.write_text(json.dumps({**FACTS, "claim": {**FACTS["claim"], "at": claim_at}}))
    return path


def test_an_allowed_claim_exits_0_and_explains_itself(tmp_path: Path) -> None:
    ran = run("policy", "check", str(_facts(tmp_path)))
    assert (ran.code, ran.err) == (0, "")
    assert ran.out.splitlines()[:3] == [
        "outcome: allowed",
        "policy: cn-online-7-day-return@2020",
        "remedies: refund",
    ]
    assert "window: 7-day no-reason return, 2024-03-04 to 2024-03-10" in ran.out
    assert "refund: 199.00 CNY" in ran.out
    assert "within the 7-day no-reason return window" in ran.out


def test_a_refused_claim_exits_3_and_explains_in_chinese(tmp_path: Path) -> None:
    ran = run("policy", "check", str(_facts(tmp_path, "2024-03-11T00:01:00+08:00")), "--lang", "zh")
    assert ran.code == 3
    assert ran.out.startswith("outcome: refused\n")
    assert "七日无理由退货" in ran.out


def test_json_output_is_the_decision(tmp_path: Path) -> None:
    ran = run("policy", "check", str(_facts(tmp_path)), "--json")
    assert ran.code == 0
    assert json.loads(ran.out) == json.loads(decide(FACTS).model_dump_json())


def test_facts_from_standard_input() -> None:
    ran = run("policy", "check", "-", "--json", stdin=json.dumps(FACTS))
    assert (ran.code, json.loads(ran.out)["outcome"]) == (0, "allowed")


def test_a_claim_that_needs_inspection_exits_4(tmp_path: Path) -> None:
    facts = {**FACTS, "claim": {**FACTS["claim"], "condition": "activated"}}
    path = tmp_path / "activated.json"
    path.write_text(json.dumps(facts))
    ran = run("policy", "check", str(path))
    assert ran.code == 4
    assert ran.out.startswith("outcome: needs_inspection\n")


def test_a_named_preset_decides(tmp_path: Path) -> None:
    ran = run("policy", "check", str(_facts(tmp_path)), "--policy", "uk-consumer-rights")
    assert ran.code == 3
    assert "policy: uk-consumer-rights@2015" in ran.out


@pytest.mark.parametrize("kind", ["set", "book"])
def test_a_policy_file_decides(tmp_path: Path, kind: str) -> None:
    policy = presets.retailer_example() if kind == "book" else presets.us_ca_1723()
    path = tmp_path / "policy.json"
    path.write_text(policy.model_dump_json())
    ran = run("policy", "check", str(_facts(tmp_path)), "--policy", str(path), "--json")
    expected = policy.evaluate(FACTS)
    assert json.loads(ran.out) == json.loads(expected.model_dump_json())
    assert ran.code == {"allowed": 0, "refused": 3, "needs_inspection": 4}[expected.outcome.value]


@pytest.mark.parametrize(
    ("content", "policy", "says"),
    [
        ("{not json", None, "not JSON"),
        ('{"jurisdiction": "cn"}', None, "claim: Field required"),
        ('{"jurisdiction": "xx"}', None, "invalid"),
        (json.dumps(FACTS), "no-such-preset", "no preset or file no-such-preset"),
        (json.dumps(FACTS), "[1]", "must be a JSON object"),
        (json.dumps(FACTS), '{"name": 1}', "invalid"),
    ],
)
def test_bad_facts_or_policies_exit_1_naming_the_problem(
    tmp_path: Path, content: str, policy: str | None, says: str
) -> None:
    facts = tmp_path / "facts.json"
    facts.write_text(content)
    options: list[str] = []
    if policy is not None:
        if policy.startswith(("[", "{")):
            (tmp_path / "policy.json").write_text(policy)
            policy = str(tmp_path / "policy.json")
        options = ["--policy", policy]
    ran = run("policy", "check", str(facts), *options)
    assert (ran.code, ran.out) == (1, "")
    assert ran.err.startswith("error: ")
    assert says in ran.err


def test_a_missing_facts_file_and_an_unknown_language(tmp_path: Path) -> None:
    missing = run("policy", "check", str(tmp_path / "none.json"))
    assert (missing.code, missing.out) == (1, "")
    assert "cannot read" in missing.err
    language = run("policy", "check", str(_facts(tmp_path)), "--lang", "fr")
    assert (language.code, language.out) == (2, "")
    assert "--lang must be one of en, zh" in language.err


def test_sla_status_measures_with_a_policy_file(seeded: Seeded, tmp_path: Path) -> None:
    policy = tmp_path / "sla.json"
    policy.write_text(json.dumps(SLA_POLICY))
    ran = run("sla", "status", "#2", "--db", str(seeded.db), "--sla", str(policy), "--json")
    assert ran.code == 0, ran.err
    document = json.loads(ran.out)
    assert document["rule"] == "all"
    assert set(document["metrics"]) == {"first_response", "resolution"}
    # ticket #2 was resolved: its resolution clock stopped
    assert document["metrics"]["resolution"]["state"] in ("met", "breached")
    table = run("sla", "status", "2", "--db", str(seeded.db), "--sla", str(policy))
    assert "ticket #2, rule all" in table.out
    assert "first_response" in table.out


def test_sla_status_without_a_policy_shows_what_the_ticket_records(seeded: Seeded) -> None:
    ran = run("sla", "status", "1", "--db", str(seeded.db))
    assert ran.code == 0
    assert "no SLA policy given" in ran.out
    assert "sla_rule: -" in ran.out
    recorded = json.loads(run("sla", "status", "1", "--db", str(seeded.db), "--json").out)
    assert recorded["sla_rule"] is None


def test_sla_status_refuses_unknown_tickets_and_bad_policies(
    seeded: Seeded, tmp_path: Path
) -> None:
    unknown = run("sla", "status", "42", "--db", str(seeded.db))
    assert (unknown.code, unknown.out) == (1, "")
    bad = tmp_path / "bad.json"
    bad.write_text('{"name": "x", "rules": []}')
    refused = run("sla", "status", "1", "--db", str(seeded.db), "--sla", str(bad))
    assert (refused.code, refused.out) == (1, "")
    assert "rules" in refused.err


def test_sla_status_with_the_apps_desk_and_what_a_ticket_records(tmp_path: Path) -> None:
    from aftersales import Desk, SQLiteStore

    db = tmp_path / "sla.db"
    with Desk(SQLiteStore(db), sla=SLA_POLICY) as desk:
        desk.open_ticket(customer="c-1", channel="email", subject="Late parcel")
    measured = run("sla", "status", "1", "--db", str(db), "--app", "cli_helpers:sla_desk")
    assert measured.code == 0, measured.err
    assert "ticket #1, rule all" in measured.out
    recorded = json.loads(run("sla", "status", "1", "--db", str(db), "--json").out)
    assert recorded["sla_rule"] == "all"
    assert recorded["sla_due_at"].startswith("20")  # an ISO instant


def test_an_app_that_fails_is_reported_and_exits_1(seeded: Seeded) -> None:
    ran = run("sla", "status", "1", "--db", str(seeded.db), "--app", "cli_helpers:broken_app")
    assert (ran.code, ran.out) == (1, "")
    assert "the app's settings are missing" in ran.err
    missing = run("tickets", "list", "--db", str(seeded.db), "--app", "cli_helpers:nothing")
    assert (missing.code, missing.out) == (1, "")
    assert "cannot load cli_helpers:nothing" in missing.err


def test_facts_that_are_not_utf8_or_hold_too_long_a_number_exit_1(tmp_path: Path) -> None:
    utf16 = tmp_path / "utf16.json"
    utf16.write_bytes(json.dumps(FACTS).encode("utf-16"))
    not_utf8 = run("policy", "check", str(utf16))
    assert (not_utf8.code, not_utf8.out) == (1, "")
    assert "not UTF-8 text" in not_utf8.err
    huge = tmp_path / "huge.json"
    huge.write_text('{"order": ' + "1" * 5000 + "}")
    too_long = run("policy", "check", str(huge))
    assert (too_long.code, too_long.out) == (1, "")
    assert too_long.err.startswith("error: ")
    assert "not JSON" in too_long.err
