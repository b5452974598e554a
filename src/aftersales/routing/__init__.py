"""Classification and routing: a bilingual rule classifier, a trained one (extra ``ml``),
or any model behind the :class:`Classifier` protocol; and assignment by round robin, load,
skills and capacity."""

from aftersales.routing.assign import (
    Agent,
    Assignment,
    RouteMatch,
    Router,
    RouteRequest,
    RoutingConfig,
    RoutingRule,
    Skills,
    StateStore,
    Strategy,
    Team,
)
from aftersales.routing.classify import (
    CATEGORIES,
    CategoryRule,
    Classification,
    Classifier,
    ClassifierRules,
    InquiryContext,
    RuleClassifier,
    SeverityRules,
)
from aftersales.routing.default_rules import DEFAULT_RULES
from aftersales.routing.model import CombinedClassifier, ModelClassifier, train_classifier

__all__ = [
    "CATEGORIES",
    "DEFAULT_RULES",
    "Agent",
    "Assignment",
    "CategoryRule",
    "Classification",
    "Classifier",
    "ClassifierRules",
    "CombinedClassifier",
    "InquiryContext",
    "ModelClassifier",
    "RouteMatch",
    "RouteRequest",
    "Router",
    "RoutingConfig",
    "RoutingRule",
    "RuleClassifier",
    "SeverityRules",
    "Skills",
    "StateStore",
    "Strategy",
    "Team",
    "train_classifier",
]
