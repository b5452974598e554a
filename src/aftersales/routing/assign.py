"""Assignment: agents and teams with skills, capacity and availability; first-match routing
rules as data; round robin, least loaded (by spare count or spare share) and skills-based
strategies; a queue when everyone is at capacity."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import Enum
from typing import Annotated, Protocol

import attrs
from pydantic import Field, model_validator
from typing_extensions import Self

from aftersales.models._base import Identifier, Record
from aftersales.models.customer import Channel
from aftersales.models.ticket import Severity
from aftersales.sla.policy import CalendarSpec

__all__ = [
    "Agent",
    "Assignment",
    "RouteMatch",
    "RouteRequest",
    "Router",
    "RoutingConfig",
    "RoutingRule",
    "Skills",
    "StateStore",
    "Strategy",
    "Team",
]


class Strategy(str, Enum):
    """How an agent is chosen among those available with spare capacity."""

    ROUND_ROBIN = "round_robin"
    LEAST_LOADED = "least_loaded"
    LEAST_LOADED_SHARE = "least_loaded_share"
    SKILLS = "skills"


class Skills(Record):
    """What an agent can handle; an empty set means any."""

    categories: frozenset[str] = frozenset()
    languages: frozenset[str] = frozenset()
    channels: frozenset[Channel] = frozenset()
    product_lines: frozenset[str] = frozenset()


class Agent(Record):
    """An agent: teams, skills, how many open tickets they can hold, availability."""

    id: Identifier
    name: str = ""
    teams: frozenset[Identifier] = Field(min_length=1)
    skills: Skills = Skills()
    capacity: Annotated[int, Field(ge=1, le=10_000)] = 10
    away: bool = False
    shift: CalendarSpec | None = None


class Team(Record):
    """A team and its supervisor (who takes escalated complaints)."""

    id: Identifier
    supervisor: Identifier | None = None


class RouteMatch(Record):
    """Attributes a routing rule applies to; a missing one matches everything."""

    category: frozenset[str] | None = None
    severity: frozenset[Severity] | None = None
    channel: frozenset[Channel] | None = None
    language: frozenset[str] | None = None
    tier: frozenset[str] | None = None


class RoutingRule(Record):
    """First-match rule: which team and strategy handle matching tickets."""

    name: Identifier
    match: RouteMatch = RouteMatch()
    team: Identifier
    strategy: Strategy = Strategy.ROUND_ROBIN


class RoutingConfig(Record):
    """Agents, teams, rules, and the default team for tickets no rule matches."""

    agents: tuple[Agent, ...] = Field(min_length=1)
    teams: tuple[Team, ...] = Field(min_length=1)
    rules: tuple[RoutingRule, ...] = ()
    default_team: Identifier
    default_strategy: Strategy = Strategy.ROUND_ROBIN
    supervisor_for_escalated_complaints: bool = True

    @model_validator(mode="after")
    def _routes_somewhere(self) -> Self:
        teams = {team.id for team in self.teams}
        agents = [agent.id for agent in self.agents]
        if len(set(agents)) != len(agents):
            raise ValueError("agent ids must be unique")
        if len(teams) != len(self.teams):
            raise ValueError("team ids must be unique")
        for agent in self.agents:
            unknown = sorted(agent.teams - teams)
            if unknown:
                raise ValueError(f"agent {agent.id!r} is in unknown teams {unknown}")
        for rule in self.rules:
            if rule.team not in teams:
                raise ValueError(f"rule {rule.name!r} routes to unknown team {rule.team!r}")
        if self.default_team not in teams:
            raise ValueError(f"default team {self.default_team!r} is not a team")
        if not any(self.default_team in agent.teams for agent in self.agents):
            raise ValueError(
                f"default team {self.default_team!r} has no agents: tickets would route nowhere"
            )
        return self


@attrs.frozen
class RouteRequest:
    """What routing looks at."""

    category: str
    severity: Severity
    channel: Channel
    language: str | None = None
    tier: str | None = None
    product_line: str | None = None
    escalated: bool = False


@attrs.frozen
class Assignment:
    """The routing decision: the team, the agent (None when queued) and why."""

    team: str
    agent: str | None
    strategy: Strategy
    rule: str
    reason: str

    @property
    def queued(self) -> bool:
        """True when nobody could take the ticket now."""
        return self.agent is None


class StateStore(Protocol):
    """Where routing keeps its round-robin positions (every :class:`~aftersales.Store`)."""

    def get_state(self, key: str) -> str | None: ...

    def set_state(self, key: str, value: str) -> None: ...


class _MemoryState:
    def __init__(self) -> None:
        self._values: dict[str, str] = {}

    def get_state(self, key: str) -> str | None:
        return self._values.get(key)

    def set_state(self, key: str, value: str) -> None:
        self._values[key] = value


class Router:
    """Chooses a team and an agent for a ticket. Round-robin positions live in ``state``
    (the desk's store), so they survive restarts."""

    def __init__(
        self, config: RoutingConfig | Mapping[str, object], state: StateStore | None = None
    ) -> None:
        self.config = (
            config if isinstance(config, RoutingConfig) else RoutingConfig.model_validate(config)
        )
        self.state: StateStore = state if state is not None else _MemoryState()
        self._teams = {team.id: team for team in self.config.teams}
        self._members = {
            team: sorted((a for a in self.config.agents if team in a.teams), key=lambda a: a.id)
            for team in self._teams
        }
        self._rank = {
            team: {agent.id: index for index, agent in enumerate(members)}
            for team, members in self._members.items()
        }

    def rule_for(self, request: RouteRequest) -> RoutingRule:
        for rule in self.config.rules:
            match = rule.match
            if (
                (match.category is None or request.category in match.category)
                and (match.severity is None or request.severity in match.severity)
                and (match.channel is None or request.channel in match.channel)
                and (match.language is None or request.language in match.language)
                and (match.tier is None or request.tier in match.tier)
            ):
                return rule
        return RoutingRule(
            name="default", team=self.config.default_team, strategy=self.config.default_strategy
        )

    def route(self, request: RouteRequest, loads: Mapping[str, int], now: datetime) -> Assignment:
        """Pick an agent, or queue the ticket on the team when nobody can take it now."""
        rule = self.rule_for(request)
        team = self._teams[rule.team]
        strategy = rule.strategy
        if (
            request.escalated
            and request.category == "complaint"
            and team.supervisor
            and self.config.supervisor_for_escalated_complaints
        ):
            return Assignment(
                team.id, team.supervisor, strategy, rule.name, "escalated complaint: supervisor"
            )
        members = self._members[team.id]
        available = [
            a for a in members if not a.away and (a.shift is None or a.shift.calendar.is_open(now))
        ]
        if not available:
            return Assignment(
                team.id, None, strategy, rule.name, "queued: every agent is away or off shift"
            )
        candidates = available
        reason = strategy.value
        if strategy is Strategy.SKILLS:
            skilled = [a for a in available if _can_handle(a.skills, request)]
            if skilled:
                candidates = skilled
            else:
                reason = "skills: nobody has them, fell back to the team"
        with_room = [a for a in candidates if loads.get(a.id, 0) < a.capacity]
        if not with_room:
            return Assignment(
                team.id, None, strategy, rule.name, "queued: every agent is at capacity"
            )
        rank = self._rank[team.id]  # ties go to the first agent by id
        if strategy is Strategy.ROUND_ROBIN:
            agent = self._next_in_turn(team.id, members, with_room)
        elif strategy is Strategy.LEAST_LOADED_SHARE:
            agent = max(
                with_room,
                key=lambda a: ((a.capacity - loads.get(a.id, 0)) / a.capacity, -rank[a.id]),
            )
        else:
            agent = max(with_room, key=lambda a: (a.capacity - loads.get(a.id, 0), -rank[a.id]))
        return Assignment(team.id, agent.id, strategy, rule.name, reason)

    def _next_in_turn(
        self, team: str, members: Sequence[Agent], eligible: Sequence[Agent]
    ) -> Agent:
        key = f"round_robin:{team}"
        last = self.state.get_state(key)
        order = [a.id for a in members]
        start = order.index(last) + 1 if last in order else 0
        allowed = {a.id for a in eligible}
        for offset in range(len(order)):
            candidate = order[(start + offset) % len(order)]
            if candidate in allowed:
                self.state.set_state(key, candidate)
                return next(a for a in eligible if a.id == candidate)
        raise AssertionError("unreachable: eligible agents are members")  # pragma: no cover


def _can_handle(skills: Skills, request: RouteRequest) -> bool:
    return (
        (not skills.categories or request.category in skills.categories)
        and (not skills.languages or request.language in skills.languages)
        and (not skills.channels or request.channel in skills.channels)
        and (not skills.product_lines or request.product_line in skills.product_lines)
    )
