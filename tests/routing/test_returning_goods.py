"""'Returning' sends goods back unless it is a trip back: the return rule must not drop a
customer who writes "Returning my kettle"."""

from __future__ import annotations

import pytest

from aftersales.routing import RuleClassifier


@pytest.mark.parametrize(
    "text",
    [
        "Returning my kettle. I want to return it for a refund.",
        "Returning my kettle, it leaks",
        "I am returning this jacket for a refund",
    ],
)
def test_returning_an_item_is_a_return(text: str) -> None:
    assert RuleClassifier().classify(text).category == "return_refund"


@pytest.mark.parametrize(
    "text",
    [
        "book flights from nyc to la on march 1, returning on march 5",
        "leaving for tennessee and will not be returning until the twenty ninth",
        "I'm returning home next week, hold my mail",
    ],
)
def test_returning_from_a_trip_is_not_a_return(text: str) -> None:
    assert RuleClassifier().classify(text).category != "return_refund"
