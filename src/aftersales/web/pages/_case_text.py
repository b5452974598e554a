"""How the customer pages word a case's status, in English and Chinese: every state of
every shipped case workflow (:data:`aftersales.cases.KINDS`), worded per kind where the
same state name means something else in another workflow (a return's ``received`` is the
goods, a complaint's is the complaint)."""

from __future__ import annotations

__all__ = ["case_status_label", "case_status_wording"]

_COMMON: dict[str, dict[str, str]] = {
    "en": {
        "requested": "Requested",
        "approved": "Approved",
        "refused": "Refused",
        "awaiting_goods": "Waiting for the goods",
        "received": "Goods received",
        "inspected": "Inspected",
        "refunded": "Refunded",
        "closed": "Closed",
        "cancelled": "Cancelled",
        "scheduled": "Scheduled",
        "waiting_for_parts": "Waiting for parts",
        "expired": "Expired",
    },
    "zh": {
        "requested": "已申请",
        "approved": "已同意",
        "refused": "已拒绝",
        "awaiting_goods": "等待寄回商品",
        "received": "已收货",
        "inspected": "已检验",
        "refunded": "已退款",
        "closed": "已关闭",
        "cancelled": "已取消",
        "scheduled": "已安排",
        "waiting_for_parts": "等待配件",
        "expired": "已过期",
    },
}
"""States that read the same in every workflow that has them."""

_BY_KIND: dict[str, dict[str, dict[str, str]]] = {
    "en": {
        "return": {"exchanged": "Exchanged", "sent_back": "Sent back to you"},
        "exchange": {
            "replacement_reserved": "Replacement reserved",
            "shipped": "Replacement shipped",
            "delivered": "Replacement delivered",
        },
        "refund": {
            "pending": "Refund pending",
            "processing": "Refund in progress",
            "failed": "Refund not completed yet: we will contact you",
            "succeeded": "Refunded",
        },
        "repair": {
            "claimed": "Repair requested",
            "quoted": "Quote sent",
            "awaiting_device": "Waiting for your device",
            "received": "Device received",
            "diagnosed": "Checked by a technician",
            "repairing": "Being repaired",
            "quality_check": "Final check",
            "ready_for_return": "Ready to send back",
            "returned": "Sent back to you",
            "replacement_offered": "Replacement offered",
            "replaced": "Replaced",
            "refunding": "Being refunded",
            "declined": "Declined",
        },
        "complaint": {
            "received": "Received",
            "acknowledged": "Acknowledged",
            "investigating": "Being looked into",
            "proposed": "Solution proposed",
            "escalated": "Passed to a manager",
            "accepted": "Solution accepted",
            "signed_off": "Settled",
        },
        "visit": {
            "assigned": "Technician assigned",
            "missed": "Visit missed",
            "awaiting_confirmation": "Waiting for your confirmation",
            "completed": "Completed",
            "sent_to_depot": "Sent to our workshop",
        },
        "survey": {
            "on_hold": "On hold",
            "sent": "Sent",
            "answered": "Answered",
        },
        "return_visit": {
            "due": "Due",
            "retry_wait": "We will call again",
            "following_up": "Following up",
            "satisfied": "Done: all is well",
            "problem_persists": "Problem persists",
            "unreachable": "Could not reach you",
        },
        "coupon": {"issued": "Issued", "redeemed": "Used", "revoked": "Withdrawn"},
        "care": {"done": "Done"},
    },
    "zh": {
        "return": {"exchanged": "已换货", "sent_back": "已寄回给您"},
        "exchange": {
            "replacement_reserved": "已预留换货商品",
            "shipped": "换货商品已发出",
            "delivered": "换货商品已送达",
        },
        "refund": {
            "pending": "待退款",
            "processing": "退款处理中",
            "failed": "退款暂未完成，我们会联系您",
            "succeeded": "已退款",
        },
        "repair": {
            "claimed": "已申请维修",
            "quoted": "已报价",
            "awaiting_device": "等待寄送设备",
            "received": "已收到设备",
            "diagnosed": "已检测",
            "repairing": "维修中",
            "quality_check": "维修后检验",
            "ready_for_return": "待寄回",
            "returned": "已寄回给您",
            "replacement_offered": "已提供换新",
            "replaced": "已换新",
            "refunding": "退款中",
            "declined": "已拒绝",
        },
        "complaint": {
            "received": "已受理",
            "acknowledged": "已确认",
            "investigating": "调查中",
            "proposed": "已提出解决方案",
            "escalated": "已升级处理",
            "accepted": "已接受解决方案",
            "signed_off": "已办结",
        },
        "visit": {
            "assigned": "已指派工程师",
            "missed": "未能上门",
            "awaiting_confirmation": "等待您确认",
            "completed": "已完成",
            "sent_to_depot": "已送修",
        },
        "survey": {
            "on_hold": "已暂停",
            "sent": "已发送",
            "answered": "已评价",
        },
        "return_visit": {
            "due": "待回访",
            "retry_wait": "稍后再次回访",
            "following_up": "跟进中",
            "satisfied": "回访完成，问题已解决",
            "problem_persists": "问题仍未解决",
            "unreachable": "未能联系到您",
        },
        "coupon": {"issued": "已发放", "redeemed": "已使用", "revoked": "已撤回"},
        "care": {"done": "已完成"},
    },
}
"""States worded for one kind: those only it has, and those it means otherwise."""


def case_status_wording(language: str, kind: str, status: str) -> str | None:
    """How ``language`` words a case of ``kind`` in ``status``, or None when it has no
    wording (a kind or state an application added)."""
    worded = _BY_KIND[language].get(kind, {}).get(status)
    return worded if worded is not None else _COMMON[language].get(status)


def case_status_label(language: str, kind: str, status: str) -> str:
    """A case's status as the customer reads it; one with no wording as written."""
    worded = case_status_wording(language, kind, status)
    return worded if worded is not None else status.replace("_", " ")
