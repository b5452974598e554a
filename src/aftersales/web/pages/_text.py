"""What the customer pages say, in English and Chinese, and which of the two a request
gets: its ``lang`` parameter, else what the page is about (a survey asked in Chinese),
else the browser's ``Accept-Language``, else the shop's default."""

from __future__ import annotations

__all__ = ["LANGUAGES", "choose_language", "status_label", "text"]

LANGUAGES = ("en", "zh")
"""The languages the pages speak; policy decisions are explained in the same ones."""

_TEXT: dict[str, dict[str, str]] = {
    "en": {
        "site": "Customer service",
        "ticket_title": "Your request {number}",
        "status": "Status",
        "resolution": "Resolution",
        "messages": "Messages",
        "no_messages": "No messages yet.",
        "you": "You",
        "service": "Customer service",
        "reply": "Your reply",
        "send": "Send reply",
        "sent": "Your reply was sent. Thank you.",
        "closed_no_reply": (
            "This request is closed. Please open a new request if you need more help."
        ),
        "cases": "Returns and repairs",
        "return_link": "Request a return",
        "back_to_ticket": "Back to your request",
        "empty_reply": "Please write a reply.",
        "long_reply": "Please keep your reply under {limit} characters.",
        "cannot_send": "Your reply could not be sent. Please try again, or contact us.",
        "form_expired": "This form has expired. Please check your entries and send it again.",
        "return_title": "Request a return",
        "return_intro": (
            "Choose the item, tell us why, and check what our return policy says"
            " before you send the request."
        ),
        "order_line": "Item",
        "order": "order {order_id}",
        "bought": "{quantity} bought",
        "claim_kind": "Why are you returning it?",
        "kind_no_reason_return": "I changed my mind",
        "kind_quality_return": "It is faulty or not as described",
        "quantity": "How many?",
        "condition": "Condition of the item",
        "condition_unopened": "Unopened",
        "condition_opened": "Opened",
        "condition_intact_labels": "Opened, labels intact",
        "condition_labels_removed": "Labels removed",
        "condition_seal_broken": "Seal broken",
        "condition_damaged": "Damaged",
        "condition_activated": "Activated",
        "details": "Anything we should know? (optional)",
        "check": "Check",
        "submit_return": "Send return request",
        "decision": "What our policy says",
        "outcome_allowed": "A return is possible.",
        "outcome_needs_inspection": "A return is possible after we inspect the item.",
        "outcome_refused": "A return is not possible.",
        "refused_next": "If you think this is wrong, reply on your request and we will look at it.",
        "changed": (
            "Your entries changed since the check: here is what the policy says about them now."
        ),
        "pick_line": "Please choose an item.",
        "pick_kind": "Please choose a reason.",
        "pick_condition": "Please choose the condition.",
        "bad_quantity": "Please enter a number from 1 to {limit}.",
        "cannot_check": "We cannot check this item online. Please reply on your request instead.",
        "cannot_request": (
            "This return cannot be requested online (were these units returned already?)."
            " Please reply on your request."
        ),
        "no_lines": "There is nothing on this request that can be returned online.",
        "return_case_title": "Your return request",
        "case_reference": "Reference",
        "refund_estimate": "Refund",
        "survey_title": "A short question",
        "score": "Your answer",
        "scale_nps": "0 = not at all likely, 10 = extremely likely",
        "scale_csat": "1 = very dissatisfied, {high} = very satisfied",
        "scale_ces": "1 = very difficult, {high} = very easy",
        "reason": "What could we have done better?",
        "reason_needed_below": "Needed for an answer below {below}.",
        "comment": "Anything else? (optional)",
        "answer": "Send answer",
        "pick_score": "Please choose an answer.",
        "reason_missing": "Please tell us what went wrong.",
        "long_text": "Please keep this under {limit} characters.",
        "bad_text": "Please check this answer.",
        "thanks_title": "Thank you",
        "thanks": "Thank you for your answer. It helps us serve you better.",
        "invalid_title": "Link not valid",
        "invalid": "This link is not valid. Please use the link from your message, or contact us.",
        "expired_title": "Link expired",
        "expired": "This link has expired. Please contact us for a new one.",
        "used_title": "Already answered",
        "used": "This survey has been answered already. Thank you.",
        "survey_expired": "The time to answer this survey has passed. Thank you all the same.",
        "cancelled_title": "Survey withdrawn",
        "cancelled": "This survey was withdrawn.",
        "not_found_title": "Not found",
        "not_found": "There is nothing here.",
        "language": "中文",
    },
    "zh": {
        "site": "客户服务",
        "ticket_title": "您的服务单 {number}",
        "status": "状态",
        "resolution": "处理结果",
        "messages": "消息",
        "no_messages": "暂无消息。",
        "you": "您",
        "service": "客服",
        "reply": "您的回复",
        "send": "发送回复",
        "sent": "您的回复已发送，谢谢。",
        "closed_no_reply": "本服务单已关闭。如需更多帮助，请提交新的服务单。",
        "cases": "退货与维修",
        "return_link": "申请退货",
        "back_to_ticket": "返回服务单",
        "empty_reply": "请填写回复内容。",
        "long_reply": "回复请少于 {limit} 个字符。",
        "cannot_send": "回复未能发送，请重试或联系我们。",
        "form_expired": "表单已过期，请核对填写内容后重新提交。",
        "return_title": "申请退货",
        "return_intro": "请选择商品并说明原因，提交前可先查看退货政策的答复。",
        "order_line": "商品",
        "order": "订单 {order_id}",
        "bought": "购买 {quantity} 件",
        "claim_kind": "退货原因",
        "kind_no_reason_return": "七天无理由退货",
        "kind_quality_return": "商品有质量问题或与描述不符",
        "quantity": "数量",
        "condition": "商品状况",
        "condition_unopened": "未拆封",
        "condition_opened": "已拆封",
        "condition_intact_labels": "已拆封，吊牌完好",
        "condition_labels_removed": "吊牌已拆",
        "condition_seal_broken": "封条已破",
        "condition_damaged": "已损坏",
        "condition_activated": "已激活",
        "details": "补充说明（选填）",
        "check": "查询",
        "submit_return": "提交退货申请",
        "decision": "退货政策的答复",
        "outcome_allowed": "可以退货。",
        "outcome_needs_inspection": "商品检验后可以退货。",
        "outcome_refused": "不能退货。",
        "refused_next": "如您认为有误，请在服务单中回复，我们会核实。",
        "changed": "查询后您修改了填写内容，以下是按新内容得出的答复。",
        "pick_line": "请选择商品。",
        "pick_kind": "请选择退货原因。",
        "pick_condition": "请选择商品状况。",
        "bad_quantity": "请输入 1 到 {limit} 之间的数字。",
        "cannot_check": "该商品无法在线查询，请在服务单中回复。",
        "cannot_request": "无法在线申请此退货（这些商品是否已退回？）。请在服务单中回复。",
        "no_lines": "本服务单没有可在线退货的商品。",
        "return_case_title": "您的退货申请",
        "case_reference": "编号",
        "refund_estimate": "退款",
        "survey_title": "一个小问题",
        "score": "您的评分",
        "scale_nps": "0 = 完全不可能，10 = 非常可能",
        "scale_csat": "1 = 非常不满意，{high} = 非常满意",
        "scale_ces": "1 = 非常困难，{high} = 非常容易",
        "reason": "我们哪里可以做得更好？",
        "reason_needed_below": "评分低于 {below} 时必填。",
        "comment": "其他意见（选填）",
        "answer": "提交",
        "pick_score": "请选择评分。",
        "reason_missing": "请告诉我们哪里做得不好。",
        "long_text": "请少于 {limit} 个字符。",
        "bad_text": "请检查此项内容。",
        "thanks_title": "谢谢",
        "thanks": "感谢您的评价，这将帮助我们改进服务。",
        "invalid_title": "链接无效",
        "invalid": "此链接无效。请使用消息中的链接，或联系我们。",
        "expired_title": "链接已过期",
        "expired": "此链接已过期，请联系我们获取新链接。",
        "used_title": "已评价",
        "used": "此问卷已提交，谢谢。",
        "survey_expired": "问卷已截止，仍然感谢您。",
        "cancelled_title": "问卷已撤回",
        "cancelled": "此问卷已撤回。",
        "not_found_title": "未找到",
        "not_found": "此页面不存在。",
        "language": "English",
    },
}

_STATUS: dict[str, dict[str, str]] = {
    "en": {
        "new": "Received",
        "classified": "Received",
        "assigned": "Being handled",
        "in_progress": "Being handled",
        "waiting_on_customer": "Waiting for your reply",
        "waiting_on_third_party": "Waiting for a partner",
        "resolved": "Resolved",
        "confirmed": "Resolved",
        "followed_up": "Resolved",
        "closed": "Closed",
        "merged": "Merged into another request",
        "cancelled": "Cancelled",
        "return": "Return",
        "exchange": "Exchange",
        "refund": "Refund",
        "repair": "Repair",
        "complaint": "Complaint",
        "visit": "Visit",
        "survey": "Survey",
        "return_visit": "Follow-up call",
        "coupon": "Coupon",
        "care": "Care reminder",
    },
    "zh": {
        "new": "已受理",
        "classified": "已受理",
        "assigned": "处理中",
        "in_progress": "处理中",
        "waiting_on_customer": "等待您的回复",
        "waiting_on_third_party": "等待合作方",
        "resolved": "已解决",
        "confirmed": "已解决",
        "followed_up": "已解决",
        "closed": "已关闭",
        "merged": "已合并到其他服务单",
        "cancelled": "已取消",
        "return": "退货",
        "exchange": "换货",
        "refund": "退款",
        "repair": "维修",
        "complaint": "投诉",
        "visit": "上门服务",
        "survey": "满意度调查",
        "return_visit": "回访",
        "coupon": "优惠券",
        "care": "关怀提醒",
    },
}


def text(language: str, key: str, **params: object) -> str:
    """The page text ``key`` in ``language``, with ``params`` filled in."""
    template = _TEXT[language][key]
    return template.format(**params) if params else template


def status_label(language: str, status: str) -> str:
    """A ticket's status (or a case kind) as the customer reads it; an unknown one as
    written. A case's status: :func:`~aftersales.web.pages._case_text.case_status_label`."""
    return _STATUS[language].get(status, status.replace("_", " "))


def _accepted(header: str) -> list[str]:
    """The languages of an ``Accept-Language`` header, most wanted first."""
    weighted: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")[:20]):
        name, _, weight = part.strip().partition(";")
        quality = 1.0
        if weight.strip().startswith("q="):
            try:
                quality = float(weight.strip()[2:])
            except ValueError:
                quality = 0.0
        if quality > 0:  # q=0 says "not this language" (RFC 9110, 12.4.2)
            weighted.append((-quality, index, name.strip().lower()))
    return [name for _, _, name in sorted(weighted) if name]


def choose_language(
    asked: str | None, accept_language: str | None, about: str | None, default: str
) -> str:
    """The language of a page: ``asked`` (the ``lang`` parameter), else ``about`` (the
    language of what the page shows, a survey's), else the best of ``accept_language``,
    else ``default`` (the shop's). ``zh-CN`` and ``zh-Hans`` count as ``zh``."""
    for candidate in (asked, about, *_accepted(accept_language or "")):
        primary = (candidate or "").split("-")[0].strip().lower()
        if primary in LANGUAGES:
            return primary
    return default
