"""Assignment strategies, routing rules as data, the queue, and routing wired into the desk."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from aftersales import Desk, FrozenClock, InvalidInput, MemoryStore, SQLiteStore
from aftersales.models import Channel, Severity
from aftersales.routing import (
    CATEGORIES,
    DEFAULT_RULES,
    Classification,
    Router,
    RouteRequest,
    RuleClassifier,
    Strategy,
)

NOW = datetime(2024, 3, 4, 10, tzinfo=timezone.utc)  # a Monday


def _config(**overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "agents": [
            {"id": "ann", "teams": ["returns"], "capacity": 2},
            {"id": "bob", "teams": ["returns"], "capacity": 10},
            {"id": "cat", "teams": ["returns"], "capacity": 5, "skills": {"languages": ["zh"]}},
            {"id": "dan", "teams": ["repairs"], "skills": {"categories": ["repair_warranty"]}},
            {"id": "eve", "teams": ["repairs"]},
        ],
        "teams": [{"id": "returns", "supervisor": "boss"}, {"id": "repairs"}],
        "rules": [
            {
                "name": "repairs",
                "match": {"category": ["repair_warranty"]},
                "team": "repairs",
                "strategy": "skills",
            },
        ],
        "default_team": "returns",
    }
    config.update(overrides)
    return config


def _request(category: str = "return_refund", **fields: Any) -> RouteRequest:
    values: dict[str, Any] = {
        "category": category,
        "severity": Severity.MEDIUM,
        "channel": Channel.EMAIL,
    }
    values.update(fields)
    return RouteRequest(**values)


def test_round_robin_takes_turns_and_skips_agents_who_are_away() -> None:
    router = Router(_config())
    picks = [router.route(_request(), {}, NOW).agent for _ in range(4)]
    assert picks == ["ann", "bob", "cat", "ann"]
    away = _config()
    away["agents"][1]["away"] = True
    router = Router(away)
    assert [router.route(_request(), {}, NOW).agent for _ in range(3)] == ["ann", "cat", "ann"]


def test_round_robin_keeps_its_place_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / "rr.db"
    with SQLiteStore(path) as store:
        first = Router(_config(), store)
        assert [first.route(_request(), {}, NOW).agent for _ in range(2)] == ["ann", "bob"]
    with SQLiteStore(path) as store:
        again = Router(_config(), store)
        assert again.route(_request(), {}, NOW).agent == "cat"


def test_round_robin_is_fair_over_ten_thousand_tickets() -> None:
    config = _config(
        agents=[{"id": f"agent-{n}", "teams": ["returns"], "capacity": 10_000} for n in range(7)]
    )
    router = Router(config)
    counts = Counter(router.route(_request(), {}, NOW).agent for _ in range(10_000))
    assert len(counts) == 7
    assert max(counts.values()) - min(counts.values()) <= 1


def test_least_loaded_by_spare_count_or_by_spare_share() -> None:
    config = _config(
        agents=[
            {"id": "a", "teams": ["returns"], "capacity": 2},
            {"id": "b", "teams": ["returns"], "capacity": 10},
        ],
        default_strategy="least_loaded",
    )
    loads = {"a": 1, "b": 8}
    assert Router(config).route(_request(), loads, NOW).agent == "b"  # spare 2 beats spare 1
    config["default_strategy"] = "least_loaded_share"
    assert Router(config).route(_request(), loads, NOW).agent == "a"  # 50% spare beats 20%


def test_ties_go_to_the_first_agent_by_id() -> None:
    config = _config(default_strategy="least_loaded")
    assert Router(config).route(_request(), {"ann": 0, "bob": 8, "cat": 3}, NOW).agent == "ann"
    assert Router(config).route(_request(), {"ann": 2, "bob": 8, "cat": 3}, NOW).agent == "bob"


def test_skills_choose_the_skilled_agent_and_fall_back_to_the_team() -> None:
    router = Router(_config())
    skilled = router.route(_request("repair_warranty"), {}, NOW)
    assert (skilled.team, skilled.agent, skilled.strategy) == ("repairs", "dan", Strategy.SKILLS)
    config = _config()
    config["rules"][0]["match"] = {"category": ["repair_warranty", "exchange"]}
    assert Router(config).route(_request("exchange"), {}, NOW).agent == "eve"  # eve takes anything
    config["agents"][4]["skills"] = {"categories": ["repair_warranty"]}
    fallback = Router(config).route(_request("exchange"), {}, NOW)
    assert (fallback.agent, fallback.reason) == (
        "dan",
        "skills: nobody has them, fell back to the team",
    )


def test_everyone_away_or_at_capacity_means_the_queue() -> None:
    away = _config()
    for agent in away["agents"]:
        agent["away"] = True
    queued = Router(away).route(_request(), {}, NOW)
    assert (queued.queued, queued.team) == (True, "returns")
    full = Router(_config()).route(_request(), {"ann": 2, "bob": 10, "cat": 5}, NOW)
    assert full.queued
    assert full.reason == "queued: every agent is at capacity"


def test_off_shift_agents_are_not_assigned() -> None:
    config = _config(
        agents=[
            {"id": "night", "teams": ["returns"], "shift": {"hours": {"0": ["20:00-23:00"]}}},
            {"id": "day", "teams": ["returns"]},
        ]
    )
    assert Router(config).route(_request(), {}, NOW).agent == "day"


def test_escalated_complaints_go_to_the_supervisor() -> None:
    router = Router(_config())
    assert router.route(_request("complaint", escalated=True), {}, NOW).agent == "boss"
    assert router.route(_request("complaint"), {}, NOW).agent == "ann"


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"rules": [{"name": "x", "team": "nowhere"}]}, "unknown team"),
        ({"default_team": "repairz"}, "not a team"),
        (
            {
                "teams": [{"id": "returns"}, {"id": "repairs"}, {"id": "empty"}],
                "default_team": "empty",
            },
            "route nowhere",
        ),
        (
            {"agents": [{"id": "x", "teams": ["returns"]}, {"id": "x", "teams": ["returns"]}]},
            "unique",
        ),
        ({"agents": [{"id": "x", "teams": ["mars"]}]}, "unknown teams"),
    ],
)
def test_bad_routing_configs_are_clear_errors(change: dict[str, Any], words: str) -> None:
    with pytest.raises(InvalidInput, match=words):
        Router(_config(**change))


def _desk(store: Any = None) -> Desk:
    return Desk(
        store or MemoryStore(),
        clock=FrozenClock(NOW),
        classifier=RuleClassifier(),
        routing=_config(),
        route_on_open=True,
    )


def test_the_desk_classifies_and_assigns_on_open_with_events() -> None:
    desk = _desk()
    ticket = desk.open_ticket(
        customer="c1",
        channel="email",
        subject="Refund please",
        description="the kettle arrived broken, I want my money back",
    )
    assert (ticket.status, ticket.category, ticket.assignee, ticket.team) == (
        "assigned",
        "return_refund",
        "ann",
        "returns",
    )
    history = desk.history(ticket.id)
    assert [e.trigger for e in history] == ["created", "classify", "assign"]
    assert (history[1].actor, history[2].actor) == ("classifier", "router")
    assert "money back" in history[1].payload["evidence"]
    assert history[2].payload["rule"] == "default"  # why this agent, kept with the event
    assert history[2].payload["reason"]
    repair = desk.open_ticket(customer="c2", channel="wechat", subject="洗衣机坏了，开不了机")
    assert (repair.team, repair.assignee) == ("repairs", "dan")
    assert desk.history(repair.id)[-1].payload["rule"] == "repairs"


def test_classifying_and_routing_by_hand_works_too() -> None:
    desk = Desk(clock=FrozenClock(NOW), classifier=RuleClassifier(), routing=_config())
    ticket = desk.open_ticket(customer="c1", channel="email", subject="where is my parcel?")
    assert ticket.status == "new"
    assert desk.route(ticket.id).assignee == "ann"
    bare = Desk()
    with pytest.raises(InvalidInput):
        bare.route(bare.open_ticket(customer="c", channel="sms", subject="x").id)


def test_the_queue_drains_as_capacity_frees(tmp_path: Path) -> None:
    config = _config(agents=[{"id": "solo", "teams": ["returns"], "capacity": 1}])
    desk = Desk(
        SQLiteStore(tmp_path / "q.db"),
        clock=FrozenClock(NOW),
        classifier=RuleClassifier(),
        routing=config,
        route_on_open=True,
    )
    first = desk.open_ticket(customer="c1", channel="email", subject="refund please")
    second = desk.open_ticket(customer="c2", channel="email", subject="refund please too")
    assert (first.assignee, second.assignee, second.team) == ("solo", None, "returns")
    assert desk.history(second.id)[-1].trigger == "queue"
    assert desk.drain_queue() == ()
    assert [e.trigger for e in desk.history(second.id)].count("queue") == 1
    desk.fire(first.id, "start")
    desk.fire(first.id, "wait_for_customer")  # waiting: no longer counts against capacity
    assert desk.run_due().auto_closed == ()
    assert desk.get(second.id).assignee == "solo"
    desk.close()


def test_repeat_contacts_and_vip_tiers_raise_severity_on_open() -> None:
    desk = _desk()
    desk.save_customer({"id": "gold", "name": "G", "tier": "vip"})
    vip = desk.open_ticket(customer="gold", channel="app", subject="refund please")
    assert vip.severity is Severity.HIGH
    for _ in range(2):
        desk.open_ticket(customer="again", channel="app", subject="where is my parcel")
    third = desk.open_ticket(customer="again", channel="app", subject="where is my parcel")
    assert third.severity is Severity.HIGH


def test_routing_rules_naming_unknown_categories_refuse_to_build_the_desk() -> None:
    rules = [{"name": "repairs", "match": {"category": ["repair"]}, "team": "repairs"}]
    with pytest.raises(InvalidInput, match=r"rule 'repairs' names unknown categories repair"):
        Desk(classifier=RuleClassifier(), routing=_config(rules=rules))
    agents = [{"id": "dan", "teams": ["returns"], "skills": {"categories": ["billing"]}}]
    with pytest.raises(InvalidInput, match=r"agent 'dan' has skills in unknown categories"):
        Desk(routing=_config(agents=agents, rules=[]))
    declared = ["repair", "repair_warranty", "other"]
    desk = Desk(settings={"categories": declared}, routing=_config(rules=rules))
    assert desk.categories == tuple(declared)


def test_the_desks_categories_default_to_the_classifiers() -> None:
    assert Desk().categories == CATEGORIES
    rules = DEFAULT_RULES.extended(
        {
            "categories": {"installation": [{"stems": ["install"]}]},
            "extra_categories": ["installation"],
        }
    )
    desk = Desk(clock=FrozenClock(NOW), classifier=RuleClassifier(rules))
    assert desk.categories == (*CATEGORIES, "installation")
    ticket = desk.open_ticket(
        customer="c1", channel="email", subject="please install the dishwasher", route=True
    )
    assert ticket.category == "installation"


def test_a_classifier_answering_outside_the_vocabulary_is_refused_by_name() -> None:
    class Wild:
        def classify(self, text: str, context: Any = None) -> Classification:
            return Classification("repair", Severity.LOW, 1.0)

    desk = Desk(clock=FrozenClock(NOW), classifier=Wild())
    ticket = desk.open_ticket(customer="c1", channel="email", subject="broken")
    with pytest.raises(InvalidInput, match="unknown category 'repair'"):
        desk.route(ticket.id)
    assert desk.get(ticket.id).status == "new"


@pytest.mark.parametrize("contacts", ["3", -1, 2**70, 1.5])
def test_route_refuses_a_count_of_previous_contacts_that_is_not_one(contacts: object) -> None:
    desk = Desk(clock=FrozenClock(NOW), classifier=RuleClassifier())
    ticket = desk.open_ticket(customer="c1", channel="email", subject="refund please")
    with pytest.raises(InvalidInput, match="previous_contacts"):
        desk.route(ticket.id, previous_contacts=contacts)  # type: ignore[arg-type]
    assert desk.get(ticket.id) == ticket


def test_run_due_on_a_routed_desk_with_a_custom_workflow_has_no_queue_to_drain() -> None:
    from aftersales import State, Transition, Workflow

    workflow = Workflow(
        "simple",
        initial="open",
        states=[State("open", "open"), State("done", "closed")],
        transitions=[Transition("finish", "open", "done")],
    )
    desk = Desk(clock=FrozenClock(NOW), workflow=workflow, routing=_config())
    desk.open_ticket(customer="c1", channel="email", subject="hello")
    assert desk.drain_queue() == ()
    assert desk.run_due().auto_closed == ()


def test_declared_categories_must_include_what_the_rule_classifier_answers() -> None:
    with pytest.raises(InvalidInput, match=r"the classifier answers .*repair_warranty"):
        Desk(classifier=RuleClassifier(), settings={"categories": ["repair", "other"]})
    rules = {"categories": {"repair": [{"stems": ["broke"]}]}, "extra_categories": ["repair"]}
    desk = Desk(
        clock=FrozenClock(NOW),
        classifier=RuleClassifier(rules),
        settings={"categories": ["repair", "other"]},
    )
    ticket = desk.open_ticket(customer="c1", channel="email", subject="it broke", route=True)
    assert ticket.category == "repair"


@pytest.mark.parametrize(
    "rules",
    [
        {"categories": {"other": [{"zh": [""]}]}},
        {"categories": {"other": [{"stems": [""]}]}},
        {"categories": {"other": [{"phrases": [""]}]}},
        {"categories": {"other": [{"unless": [""]}]}},
        {"categories": {}, "severity": {"critical": [""]}},
    ],
)
def test_a_classifier_rule_with_an_empty_keyword_is_invalid_input(rules: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput):
        RuleClassifier(rules)


def test_what_the_customer_said_since_opening_is_classified_with_the_ticket() -> None:
    desk = Desk(clock=FrozenClock(NOW), classifier=RuleClassifier(), routing=_config())
    vague = desk.open_ticket(customer="c-1", channel="app", subject="Hello", route=False)
    assert desk.route(vague.id).category == "other"
    ticket = desk.open_ticket(customer="c-1", channel="app", subject="Hello", route=False)
    routed = desk.route(ticket.id, more_text="I want a refund for the blender I ordered")
    assert routed.category == "return_refund"


@pytest.mark.parametrize("more_text", ["", "nul\x00byte", 42])
def test_bad_extra_text_for_routing_is_refused_and_changes_nothing(more_text: object) -> None:
    desk = Desk(clock=FrozenClock(NOW), classifier=RuleClassifier(), routing=_config())
    ticket = desk.open_ticket(customer="c-1", channel="app", subject="Hello", route=False)
    with pytest.raises(InvalidInput, match="more_text"):
        desk.route(ticket.id, more_text=more_text)  # type: ignore[arg-type]
    assert desk.get(ticket.id) == ticket


def test_what_the_customer_said_since_counts_even_after_a_long_description() -> None:
    desk = Desk(clock=FrozenClock(NOW), classifier=RuleClassifier(), routing=_config())
    ticket = desk.open_ticket(
        customer="c-1", channel="app", subject="Hello", description="um " * 10_000, route=False
    )
    routed = desk.route(ticket.id, more_text="I want a refund for the blender I ordered")
    assert routed.category == "return_refund"
