"""A toy jurisdiction, Japan, as one module (not shipped: the proof that a jurisdiction is
one file). An 8-day return from delivery, with Japanese messages and window name.

Register it once at start-up, the documented way:

    presets.register(preset_jp.JURISDICTION)
    messages.add_language("ja", preset_jp.MESSAGES_JA)
"""

from __future__ import annotations

from aftersales.policies import Duration, PolicySet, ReturnWindowRule, StartEvent
from aftersales.policies.presets import Jurisdiction

MESSAGES_JA = {
    "within_window": "{window}の期間内です（最終日 {last_day}）",
    "window_passed": "{window}の期間は {last_day} に終了しました",
    "excluded_category": "{flag}の商品は{window}の対象外です",
    "condition_not_intact": "{condition}の商品は返品できません",
    "wrong_claim_kind": "この方針は{kind}の申請を扱いません",
}
"""Japanese templates of the reasons the toy preset gives."""


def jp_eight_day_return() -> PolicySet:
    """A toy Japanese return policy: 8 days from delivery, the delivery day not counted."""
    return PolicySet(
        name="jp-8-day-return",
        version="toy",
        jurisdiction="jp",
        time_zone="Asia/Tokyo",
        source="a toy for the tests, not the law",
        rules=(
            ReturnWindowRule(
                name="8-day return",
                names={"ja": "8日間返品"},
                period=Duration(days=8),
                start=StartEvent.DELIVERY,
            ),
        ),
    )


JURISDICTION = Jurisdiction(
    code="jp", decide=jp_eight_day_return().evaluate, summary="Japan (toy): 8-day return"
)
