"""Review of issue 19's message templates: the sandbox, errors at load instead of at send,
the language fallback, errors from our exception tree only, and what a template built
from a desk's event may show the customer.

A test marked xfail proves a defect found in review (it fails now; the fix removes the
marker). The others hold what a fix must keep."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

from aftersales import Customer, Desk, FrozenClock, InvalidInput, TemplateError
from aftersales.notify.senders import MemorySender, SenderHandler, customer_recipients
from aftersales.notify.templates import TemplateRender, Templates

NOW = datetime(2024, 3, 4, 9, tzinfo=timezone.utc)
LI = Customer(
    id="c-li",
    name="Li Wei",
    language="zh-CN",
    contacts=[{"channel": "email", "address": "li@example.cn"}],
)
ROOT = Path(__file__).resolve().parents[2]


def _body(source: str) -> str:
    return Templates({"t": source}).render("t", customer=LI, about="Ticket #1").body


# ------------------------------------------------------------------ the sandbox


@pytest.mark.parametrize(
    "source",
    [
        # CVE-2024-56326: str.format reached by reference instead of called directly
        "{% set f = '{0.__class__.__mro__}'.format %}{{ f(customer) }}",
        # CVE-2025-27516: str.format reached through the attr filter
        "{{ ('{0.__class__.__init__.__globals__}'|attr('format'))(customer) }}",
        "{{ '{0.__class__}'.format(customer) }}",
        "{{ customer|attr('__dict__') }}",
        "{{ customer|attr('__pydantic_fields__') }}",
    ],
)
def test_a_template_cannot_reach_python_internals_through_format_or_attr(source: str) -> None:
    with pytest.raises(TemplateError) as caught:
        _body(source)

    assert "unsafe" in str(caught.value)


def test_the_templates_extra_requires_a_jinja2_whose_sandbox_has_no_known_escape() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    found = re.search(r'"jinja2\s*>=\s*([0-9.]+)', pyproject, flags=re.IGNORECASE)
    assert found is not None

    floor = tuple(int(part) for part in found.group(1).split("."))

    assert (*floor, 0, 0)[:3] >= (3, 1, 6)


def test_an_internal_note_is_never_mailed_to_the_customer() -> None:
    desk = Desk(clock=FrozenClock(NOW))
    templates = Templates({"reply": {"en": "New reply on {{ about }}: {{ message.body }}"}})
    outbox = MemorySender()
    handler = SenderHandler(
        outbox,
        recipient=customer_recipients(desk, "email"),
        render=TemplateRender(templates, "reply", desk),
    )
    desk.subscribe(handler, messages=True, name="mail")
    ticket = desk.open_ticket(customer=LI, channel="email", subject="Kettle leaks")

    desk.add_message(
        ticket.id, "Rude customer, deny the refund", author_id="agent-7", kind="internal_note"
    )

    assert [message.body for message in outbox.sent] == []


# ------------------------------------------------------------------ errors at load


@pytest.mark.parametrize(
    "source",
    [
        "{% for contact in customer.contacts %}{{ contact.adress }}{% endfor %}",
        "{% for tag in ticket.tags %}{{ tag.bad }}{% endfor %}",
        "{% set who = customer %}{{ who.nmae }}",
        "{% with who = customer %}{{ who.nmae }}{% endwith %}",
        "{% macro greet(who) %}{{ who.nmae }}{% endmacro %}{{ greet(customer) }}",
        "{{ customer|attr('nmae') }}",
        "{% if ticket is nonsense %}x{% endif %}",
    ],
)
def test_a_field_a_record_lacks_fails_at_load_wherever_the_template_reads_it(
    source: str,
) -> None:
    with pytest.raises(TemplateError):
        Templates({"t": source})


@pytest.mark.parametrize(
    "source",
    [
        "{{ ticket.subject|nonsense }}",
        "{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}",
    ],
    ids=["unknown-filter", "deep-nesting"],
)
def test_a_template_that_cannot_compile_is_a_template_error_at_load(source: str) -> None:
    with pytest.raises(TemplateError):
        Templates({"t": source})


def test_a_variable_the_context_lacks_fails_at_load_in_filters_macros_and_conditions() -> None:
    for source in (
        "{{ customer.name|default(nope) }}",
        "{% macro m() %}{{ nope }}{% endmacro %}{{ m() }}",
        "{% if nope %}x{% endif %}",
        "{% for x in nope %}{{ x }}{% endfor %}",
    ):
        with pytest.raises(TemplateError) as caught:
            Templates({"t": source})
        assert "unknown variable nope" in str(caught.value)


# ------------------------------------------------------------------ errors at render


@pytest.mark.parametrize(
    "source",
    [
        "{{ '{:d}'.format(about) }}",
        "{{ '{number}'.format() }}",
        "{{ '{0}'.format() }}",
        "{{ '%(number)s' % {} }}",
        "{{ customer.name.index('zz') }}",
        "{{ customer.name.encode('no-such-codec') }}",
        "{{ about|wordwrap(0) }}",
        "{{ about|filesizeformat }}",
        "{{ about|xmlattr }}",
        "{{ about|truncate(-1) }}",
        "{{ range(1, 2, 0)|list }}",
    ],
)
def test_a_template_that_fails_at_render_raises_a_template_error_only(source: str) -> None:
    templates = Templates({"t": source})

    with pytest.raises(TemplateError):
        templates.render("t", customer=LI, about="Ticket #1")


# ------------------------------------------------------------------ languages


@pytest.mark.parametrize(
    ("asked", "used"),
    [("zh_CN", "zh"), ("zh_Hans", "zh"), ("zh-Hant-TW", "zh-Hant"), ("zh_Hant_TW", "zh-Hant")],
)
def test_a_language_falls_back_tag_by_tag_whatever_its_separator(asked: str, used: str) -> None:
    templates = Templates({"t": {"en": "en", "zh": "zh", "zh-Hant": "zh-Hant"}})

    assert used == templates.render("t", language=asked).language


@pytest.mark.parametrize(
    ("asked", "used"), [("zh-cn", "zh-CN"), ("ZH-CN", "zh-CN"), ("zh-TW", "zh"), ("fr", "en")]
)
def test_a_language_is_matched_in_any_case_then_by_its_primary_language(
    asked: str, used: str
) -> None:
    templates = Templates({"t": {"en": "en", "zh": "zh", "zh-CN": "zh-CN"}})

    assert used == templates.render("t", language=asked).language


# ------------------------------------------------------------------ values in a message


def test_a_subject_from_customer_data_cannot_inject_a_mail_header() -> None:
    templates = Templates({"t": {"en": {"subject": "Re: {{ about }}", "body": "b"}}})

    subject = templates.render("t", about="Kettle\r\nBcc: x@evil.test\u2028\x85\nY").subject

    assert subject == "Re: Kettle Bcc: x@evil.test Y"


def test_an_absent_record_guarded_inline_renders_nothing_rather_than_none() -> None:
    templates = Templates(
        {"t": {"en": {"subject": "Hi{{ ' ' ~ customer.name if customer }}", "body": "b"}}}
    )

    assert (
        templates.render("t").subject,
        templates.render("t", customer=LI).subject,
    ) == ("Hi", "Hi Li Wei")


@pytest.mark.parametrize("context", [None, 5])
def test_context_names_that_are_not_an_iterable_of_names_are_bad_input(context: object) -> None:
    with pytest.raises(InvalidInput):
        Templates({"t": "x"}, context=context)  # type: ignore[arg-type]


# ------------------------------------------------------------------ from a desk's events


def test_a_complaint_s_event_renders_with_its_case_ticket_and_customer() -> None:
    desk = Desk(clock=FrozenClock(NOW))
    templates = Templates(
        {
            "t": "{{ case.kind.value }} {{ ticket.display_number }} {{ customer.name }} "
            "{{ decision is none }}"
        }
    )
    render = TemplateRender(templates, "t", desk)
    ticket = desk.open_ticket(customer=LI, channel="email", subject="Kettle leaks")
    complaint = desk.cases.open_complaint(ticket.id, summary="The agent hung up")
    event = desk.cases.history(complaint.id)[-1]

    message = render(event, customer_recipients(desk, "email")(event))  # type: ignore[arg-type]

    assert (message.language, message.body) == ("en", "complaint #1 Li Wei True")
