"""Rendering a message template: a ticket's "resolved" mail (subject and body, a few
fields of the ticket and customer, an ``if`` and a loop over the customer's contacts) with
``Templates.render``, in Chinese asked as ``zh-CN`` (so through the language fallback),
against two floors measured side by side in the same rounds:

- the same text built by ``str.format`` (what a hand-written message costs), and
- the same template rendered by a plain, unsandboxed ``jinja2.Environment`` (what Jinja2
  itself costs: the rest is the sandbox, the fallback and the context).

Target (issue 19): at least 20,000 renders/s, and within 2x of plain Jinja2 (the ratio is
the median of each round's ratio, so a machine that slows down between rounds does not
move it).

Run: python benchmarks/bench_templates.py
"""

from __future__ import annotations

import functools
import statistics
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import jinja2

from _timing import interleaved_samples, median_ratio, report
from aftersales import Customer
from aftersales.models import Ticket
from aftersales.notify.templates import Templates

N = 2_000
SUBJECT = "{{ about }} 已解决：{{ ticket.subject }}"
BODY = """{{ customer.name }}，您好：

您的工单 {{ ticket.display_number }}（{{ ticket.subject }}）已处理完毕。
{% if ticket.resolution %}
处理结果：{{ ticket.resolution }}
{% endif %}
我们会通过以下方式联系您：
{% for contact in customer.contacts %}
- {{ contact.channel.value }}: {{ contact.address }}
{% endfor %}
如有疑问，请直接回复本邮件。
"""
FORMAT_BODY = """{name}，您好：

您的工单 {number}（{subject}）已处理完毕。
{resolution}我们会通过以下方式联系您：
{contacts}如有疑问，请直接回复本邮件。"""
NOW = datetime(2024, 3, 4, 9, tzinfo=timezone.utc)
TICKET = Ticket(
    number=12,
    channel="email",
    subject="水壶漏水",
    customer_id="c-1",
    status="resolved",
    status_category="resolved",
    resolution="已寄出新的密封圈",
    created_at=NOW,
    updated_at=NOW,
)
CUSTOMER = Customer(
    id="c-1",
    name="李伟",
    language="zh-CN",
    contacts=[
        {"channel": "email", "address": "li@example.cn"},
        {"channel": "sms", "address": "+8613800138000"},
    ],
)
CONTEXT: dict[str, Any] = {"about": "Ticket #12", "ticket": TICKET, "customer": CUSTOMER}


def formatted(ticket: Ticket, customer: Customer, about: str) -> tuple[str, str]:
    """The message built by hand with str.format: the floor of any template."""
    resolution = f"处理结果：{ticket.resolution}\n" if ticket.resolution else ""
    contacts = "".join(f"- {c.channel.value}: {c.address}\n" for c in customer.contacts)
    subject = f"{about} 已解决：{ticket.subject}"
    body = FORMAT_BODY.format(
        name=customer.name,
        number=ticket.display_number,
        subject=ticket.subject,
        resolution=resolution,
        contacts=contacts,
    )
    return subject, body


def run(render: Callable[[], object], count: int) -> None:
    for _ in range(count):
        render()


def main() -> int:
    templates = Templates(
        {"resolved": {"en": "Resolved", "zh": {"subject": SUBJECT, "body": BODY}}}
    )
    plain = jinja2.Environment(
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True
    )
    plain_subject, plain_body = plain.from_string(SUBJECT), plain.from_string(BODY)

    def ours() -> object:
        return templates.render("resolved", language="zh-CN", **CONTEXT)

    def jinja() -> object:
        return plain_subject.render(CONTEXT), plain_body.render(CONTEXT)

    def by_hand() -> object:
        return formatted(TICKET, CUSTOMER, "Ticket #12")

    rendered = templates.render("resolved", language="zh-CN", **CONTEXT)
    assert (rendered.subject, rendered.body) == jinja() == by_hand(), "the three must agree"
    batches = {
        name: functools.partial(run, render, N)
        for name, render in (("templates", ours), ("jinja2", jinja), ("format", by_hand))
    }
    samples = interleaved_samples(batches, N, repeats=15)
    per_second = {name: 1 / statistics.median(values) for name, values in samples.items()}
    ok = report("Templates.render, subject + body, zh-CN via zh", per_second["templates"],
                per_second["format"], "renders/s", ">= 20,000 renders/s",
                per_second["templates"] >= 20_000,
                median_ratio(samples["format"], samples["templates"]))  # fmt: skip
    ratio = median_ratio(samples["templates"], samples["jinja2"])
    ok &= report("Templates.render against plain jinja2 (seconds per render)",
                 statistics.median(samples["templates"]) * 1e6,
                 statistics.median(samples["jinja2"]) * 1e6, "µs/render",
                 "<= 2x plain jinja2", ratio <= 2.0, ratio)  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
