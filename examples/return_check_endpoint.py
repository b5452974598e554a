"""An e-commerce backend endpoint: "can this order line be returned, and why?"

A plain function that takes the request body (JSON) and returns (HTTP status, JSON body);
wire it into Flask, FastAPI or Django as you like. It answers with the statutory presets
of the buyer's jurisdiction, or with the shop's own policy from shop_policy.json.

Run: python examples/return_check_endpoint.py
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aftersales import InvalidInput
from aftersales.policies import PolicySet, decide

SHOP_POLICY = PolicySet.from_json((Path(__file__).parent / "shop_policy.json").read_text("utf-8"))


def can_return(body: str) -> tuple[int, dict[str, Any]]:
    """POST /returns/check: 200 with the decision, or 422 naming every bad field (the
    facts, or a ``language`` other than ``en`` and ``zh``)."""
    try:
        request = json.loads(body)
        if not isinstance(request, dict) or "facts" not in request:
            return 400, {"error": 'malformed request: expected {"facts": {...}}'}
        facts = request["facts"]  # plain data: decide() and evaluate() validate it
        decision = SHOP_POLICY.evaluate(facts) if request.get("use_shop_policy") else decide(facts)
        answer = decision.model_dump(mode="json")
        answer["explanation"] = decision.explain(request.get("language", "en"))
    except InvalidInput as error:
        return 422, {
            "errors": [
                {"field": ".".join(map(str, e.location)), "message": e.message}
                for e in error.errors
            ]
        }
    except ValueError as error:  # json.JSONDecodeError
        return 400, {"error": f"malformed request: {error}"}
    return 200, answer


ORDER = {
    "purchased_at": "2024-06-01T10:00:00+08:00",
    "delivered_at": "2024-06-03T16:20:00+08:00",
    "unit_price": {"amount": "1299.00", "currency": "CNY"},
    "gifts_value": {"amount": "49.00", "currency": "CNY"},
}

REQUESTS = {
    "7-day return, last day": {
        "language": "zh",
        "facts": {
            "jurisdiction": "cn",
            "product": {"category": "headphones"},
            "order": ORDER,
            "claim": {
                "at": "2024-06-10T21:00:00+08:00",
                "kind": "no_reason_return",
                "condition": "opened",
            },
        },
    },
    "7-day return, one day late": {
        "facts": {
            "jurisdiction": "cn",
            "product": {"category": "headphones"},
            "order": ORDER,
            "claim": {"at": "2024-06-11T09:00:00+08:00", "kind": "no_reason_return"},
        },
    },
    "shop policy, 15 days": {
        "use_shop_policy": True,
        "facts": {
            "jurisdiction": "cn",
            "product": {"category": "headphones"},
            "order": ORDER,
            "claim": {"at": "2024-06-11T09:00:00+08:00", "kind": "no_reason_return"},
        },
    },
    "delivery before purchase": {
        "facts": {
            "jurisdiction": "cn",
            "product": {"category": "headphones"},
            "order": {**ORDER, "delivered_at": "2024-05-01T10:00:00+08:00"},
            "claim": {"at": "2024-06-11T09:00:00+08:00", "kind": "no_reason_return"},
        },
    },
}

if __name__ == "__main__":
    for title, request in REQUESTS.items():
        status, answer = can_return(json.dumps(request))
        print(f"== {title}: HTTP {status}")
        if status == 200:
            print(
                f"   {answer['outcome']}, remedies {answer['remedies']}, window ends "
                f"{answer['window']['last_day']}, "
                f"refund {answer['refund'] and answer['refund']['net']}"
            )
            print("   " + answer["explanation"].replace("\n", "\n   "))
        else:
            print(f"   {answer}")
