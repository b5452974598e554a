"""Message templates: languages, errors at load instead of at send, the sandbox, the
files they load from, and rendering an event's message from a real desk."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import attrs
import pytest

from aftersales import Customer, Desk, FrozenClock, InvalidInput, TemplateError
from aftersales.models import Event, Ticket
from aftersales.notify import Notification
from aftersales.notify.senders import MemorySender, Recipient, SenderHandler, customer_recipients
from aftersales.notify.templates import (
    DEFAULT_CONTEXT,
    RenderedMessage,
    TemplateRender,
    Templates,
)

NOW = datetime(2024, 3, 4, 9, tzinfo=timezone.utc)
LI = Customer(
    id="c-li",
    name="Li Wei",
    language="zh-CN",
    contacts=[{"channel": "email", "address": "li@example.cn"}],
)
LI_TAGGED = LI.model_copy(update={"tags": ("vip",)})
RESOLVED = {
    "resolved": {
        "en": {"subject": "{{ about }} is resolved", "body": "Hello {{ customer.name }}"},
        "zh": {"subject": "{{ about }} 已解决", "body": "{{ customer.name }}，您好"},
        "zh-TW": {"subject": "{{ about }} 已解決", "body": "{{ customer.name }}，您好（繁體）"},
    }
}


def _error(build: Any) -> TemplateError:
    with pytest.raises(TemplateError) as caught:
        build()
    return caught.value


# ------------------------------------------------------------------ languages


@pytest.mark.parametrize(
    ("asked", "used", "subject"),
    [
        ("zh-TW", "zh-TW", "Ticket #1 已解決"),
        ("zh-tw", "zh-TW", "Ticket #1 已解決"),
        ("zh-CN", "zh", "Ticket #1 已解决"),
        ("zh", "zh", "Ticket #1 已解决"),
        ("fr-CA", "en", "Ticket #1 is resolved"),
        (None, "en", "Ticket #1 is resolved"),
        ("", "en", "Ticket #1 is resolved"),
    ],
)
def test_a_language_falls_back_to_its_primary_language_then_to_the_default(
    asked: str | None, used: str, subject: str
) -> None:
    message = Templates(RESOLVED).render("resolved", language=asked, about="Ticket #1", customer=LI)

    assert (used, subject) == (message.language, message.subject)


def test_the_default_language_can_be_another_than_english() -> None:
    templates = Templates({"resolved": "{{ customer.name }}，您好"}, default_language="zh")

    message = templates.render("resolved", language="en", customer=LI)

    assert (message.language, message.body) == ("zh", "Li Wei，您好")
    assert templates.languages("resolved") == ("zh",)


def test_every_template_needs_a_variant_in_the_default_language() -> None:
    error = _error(lambda: Templates({"resolved": {"zh": "您好"}}))

    assert error.template == "resolved/en"
    assert "no variant in the default language 'en'" in str(error)


def test_a_language_given_twice_in_different_case_is_refused() -> None:
    error = _error(lambda: Templates({"resolved": {"en": "a", "zh-cn": "b", "zh-CN": "c"}}))

    assert error.template == "resolved/zh-CN"


def test_a_rendered_message_has_its_template_language_subject_body_and_html() -> None:
    message = Templates({"ack": "We got it"}).render("ack")

    assert {"template", "language", "subject", "body", "html"} == {
        field.name for field in attrs.fields(RenderedMessage)
    }
    assert RenderedMessage("ack", "en", "", "We got it", None) == message
    assert str(message) == "We got it"


# ------------------------------------------------------------------ errors at load


def test_a_variable_the_context_lacks_fails_at_load_naming_the_template_and_the_variable() -> None:
    error = _error(
        lambda: Templates({"resolved": {"en": "a", "zh": {"subject": "{{ tikcet }}", "body": "b"}}})
    )

    assert error.template == "resolved/zh"
    assert "subject: unknown variable tikcet" in str(error)
    assert "about, case, customer, decision, event, link, message, ticket" in str(error)


def test_a_field_a_record_lacks_fails_at_load_naming_the_known_fields() -> None:
    error = _error(lambda: Templates({"resolved": "Dear {{ customer.nmae }}"}))

    assert error.template == "resolved/en"
    message = error.errors[0].message
    assert message.startswith("body, line 1: customer.nmae is not a field of Customer (it has ")
    assert {"name", "language", "contacts", "address_on"} <= set(
        message.split("(it has ")[1].rstrip(")").split(", ")
    )


@pytest.mark.parametrize(
    ("source", "wrong"),
    [
        ("{{ ticket.subjet }}", "ticket.subjet is not a field of Ticket"),
        ("{{ case.decision }}", "case.decision is not a field of Case"),
        ("{{ decision.refund.nett }}", "decision.refund.nett is not a field of RefundBreakdown"),
        ("{{ event['to_stat'] }}", "event.to_stat is not a field of Event"),
        ("{{ message.text }}", "message.text is not a field of Message"),
        ("{% if ticket %}\n{{ ticket.numbr }}{% endif %}", "line 2: ticket.numbr"),
    ],
)
def test_each_record_of_the_context_is_checked_field_by_field(source: str, wrong: str) -> None:
    error = _error(lambda: Templates({"t": source}))

    assert wrong in str(error)


def test_fields_properties_methods_and_nested_records_all_load() -> None:
    source = (
        "{{ ticket.display_number }} {{ ticket.subject }} {{ case.serial }} "
        "{{ case.refund.amount }} {{ decision.refund.net_money }} {{ decision.explain('zh') }} "
        "{{ customer.address_on('email') }} {{ event.payload.anything }} {{ message.body }}"
    )

    assert Templates({"t": source}).names == ("t",)


def test_an_item_read_by_position_or_by_a_variable_is_left_to_the_render() -> None:
    templates = Templates({"t": "{{ ticket[0] }}{{ ticket[link] }}"})

    with pytest.raises(TemplateError):
        templates.render("t")


def test_a_property_whose_return_type_cannot_be_resolved_is_still_a_member() -> None:
    from aftersales.models import Record
    from aftersales.notify._template_checks import _members

    class Odd(Record):
        @property
        def later(self) -> NotImportedHere:  # type: ignore[name-defined]  # noqa: F821
            return None

    assert _members(Odd) == {"later": None}


def test_a_name_the_template_binds_itself_is_not_checked_as_the_record() -> None:
    source = "{% for ticket in link %}{{ ticket.anything }}{% endfor %}"

    message = Templates({"t": source}).render("t", link=[{"anything": "x"}])

    assert message.body == "x"


def test_a_name_the_application_declares_may_be_used() -> None:
    with pytest.raises(TemplateError):
        Templates({"t": "{{ survey_link }}"})

    templates = Templates({"t": "Rate us: {{ survey_link }}"}, context=("survey_link",))

    assert "survey_link" in templates.context
    assert templates.context > DEFAULT_CONTEXT
    assert templates.render("t", survey_link="https://x/s/1").body == "Rate us: https://x/s/1"


def test_jinja_s_globals_are_there_in_every_render() -> None:
    source = (
        "{% set n = namespace(total=0) %}"
        "{% for i in range(3) %}{% set n.total = n.total + i %}{% endfor %}"
        "{{ n.total }}"
    )

    assert Templates({"t": source}).render("t").body == "3"


def test_a_context_name_may_be_called_name() -> None:
    templates = Templates({"t": "Hi {{ name }}"}, context=["name"])

    assert templates.render("t", name="Li").body == "Hi Li"


def test_a_syntax_error_fails_at_load_with_its_line() -> None:
    error = _error(lambda: Templates({"t": {"en": {"body": "Hi\n\n{% if ticket %}\n{{ about }"}}}))

    assert error.template == "t/en"
    assert error.errors[0].message.startswith("body, line 4: ")


@pytest.mark.parametrize("tag", ["{% include 'x' %}", "{% extends 'x' %}", "{% import 'x' as y %}"])
def test_a_template_that_loads_another_is_refused_at_load(tag: str) -> None:
    error = _error(lambda: Templates({"t": tag}))

    assert "is not supported" in str(error)


@pytest.mark.parametrize(
    ("source", "body"),
    [
        ("{% for c in customer.contacts %}{{ c.address }} {{ c.channel.value }}{% endfor %}",
         "li@example.cn email"),
        ("{% for tag in customer.tags %}{{ tag.upper() }}{% endfor %}", "VIP"),
        ("{{ customer.contacts[0].address }}", "li@example.cn"),
        ("{% set who = customer %}{{ who.name }}", "Li Wei"),
        ("{% set who = customer %}{% set who = about %}{{ who.upper() }}", "TICKET #1"),
        ("{% with who = customer %}{{ who.name }}{% endwith %}", "Li Wei"),
        ("{% macro m(who) %}{{ who.name }}{% endmacro %}{{ m(customer) }}", "Li Wei"),
        ("{% macro m(who=customer) %}{{ who.name }}{% endmacro %}{{ m() }}", "Li Wei"),
        ("{% macro m(who) %}{{ who.upper() }}{% endmacro %}{{ m(customer.name) }}{{ m(about) }}",
         "LI WEITICKET #1"),
        ("{% macro m(who) %}{{ who.upper() }}{% endmacro %}{% set g = m %}{{ g(about) }}",
         "TICKET #1"),
        ("{% macro m(a) %}[{{ caller(a) }}]{% endmacro %}"
         "{% call(c) m(customer) %}{{ c.name }}{% endcall %}", "[Li Wei]"),
        ("{% for c in customer.contacts recursive %}{{ c.address }}{% endfor %}",
         "li@example.cn"),
        ("{% for x in customer.contacts|sort(attribute='address') %}{{ x.address }}{% endfor %}",
         "li@example.cn"),
        ("{% for a, b in [(1, 2)] %}{{ a }}{% endfor %}", "1"),
        ("{% with a, b = (customer, 1) %}{{ a.name }}{% endwith %}", "Li Wei"),
        ("{% set a = customer %}{% set a = a %}{{ a.name }}{{ customer|attr('name') }}",
         "Li WeiLi Wei"),
        ("{% filter upper %}{{ about }}{% endfilter %}", "TICKET #1"),
        ("{% if about is string %}{{ about|lower }}{% endif %}", "ticket #1"),
    ],
)  # fmt: skip
def test_a_template_reading_what_its_values_have_loads_and_renders(source: str, body: str) -> None:
    templates = Templates({"t": source})

    assert body == templates.render("t", customer=LI_TAGGED, about="Ticket #1").body


@pytest.mark.parametrize(
    ("source", "wrong"),
    [
        ("{{ customer.contacts[0].adress }}", "customer.contacts[0].adress is not a field of "
         "ContactPoint (it has address, channel)"),
        ("{% for t in customer.tags %}{{ t.bad }}{% endfor %}", "t.bad is not an attribute "
         "of str"),
        ("{% macro m(who) %}{{ who.nmae }}{% endmacro %}{{ m(who=customer) }}", "who.nmae"),
        ("{% macro m(who=customer) %}{{ who.nmae }}{% endmacro %}{{ m() }}", "who.nmae"),
        ("{% macro m(a, who) %}{{ who.nmae }}{% endmacro %}{{ m(1) }}{{ m(2, customer) }}",
         "who.nmae"),
        ("{% set a = customer %}{% set b = a %}{{ b.nmae }}", "b.nmae"),
        ("{% set a = customer.nmae %}{{ a }}", "customer.nmae"),
        ("{{ ticket.channel.nope }}", "ticket.channel.nope is not an attribute of Channel"),
        ("{{ customer|attr('_x') }}", "attribute '_x' is unsafe"),
        ("{% if ticket is nonsense %}x{% endif %}", "no test 'nonsense'"),
        ("{% if ticket %}{{ about|nonsense }}{% endif %}", "no filter 'nonsense'"),
    ],
)  # fmt: skip
def test_what_a_value_lacks_fails_at_load_naming_where_it_is_read(source: str, wrong: str) -> None:
    error = _error(lambda: Templates({"t": source}))

    assert f"body, line 1: {wrong}" in str(error)


def test_a_template_nested_too_deeply_to_compile_fails_at_load() -> None:
    error = _error(lambda: Templates({"t": "{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}"}))

    assert "body: nested too deeply to compile" in str(error)


# ------------------------------------------------------------------ the sandbox


def test_a_private_attribute_is_refused_at_load() -> None:
    error = _error(lambda: Templates({"t": "{{ ticket.__class__.__mro__ }}"}))

    assert "attribute '__mro__' is unsafe" in str(error)


def test_the_sandbox_refuses_a_mutating_method_at_render_as_a_template_error() -> None:
    items = [1, 2]
    templates = Templates({"t": "{{ items.append(3) }}"}, context=("items",))

    error = _error(lambda: templates.render("t", items=items))

    assert error.template == "t/en"
    assert "body failed to render" in str(error)
    assert items == [1, 2]


def test_a_private_attribute_named_to_the_attr_filter_is_refused_at_load() -> None:
    error = _error(lambda: Templates({"t": "{{ link | attr('__class__') }}"}))

    assert "body, line 1: attribute '__class__' is unsafe" in str(error)


def test_the_sandbox_refuses_a_private_attribute_of_a_record_on_every_render() -> None:
    templates = Templates({"t": "{{ customer.name }}{{ customer | attr(link) }}"})

    for _ in range(2):  # the second verdict comes from the sandbox's memory
        with pytest.raises(TemplateError):
            templates.render("t", customer=LI, link="__class__")
    assert templates.render("t", customer=LI, link="name").body == "Li WeiLi Wei"


def test_reading_a_field_of_a_record_that_is_none_fails_at_render_naming_the_template() -> None:
    templates = Templates(
        {"t": {"en": "a", "zh": {"body": "ok", "html": "{{ decision.outcome }}"}}}
    )

    error = _error(lambda: templates.render("t", language="zh", decision=None))

    assert error.template == "t/zh"
    assert "html failed to render" in str(error)


def test_printing_a_value_that_is_none_fails_instead_of_showing_none() -> None:
    templates = Templates({"t": "Your agent: {{ ticket.assignee }}"})
    ticket = Ticket(
        number=1,
        channel="email",
        subject="s",
        customer_id="c",
        status="new",
        status_category="new",
        created_at=NOW,
        updated_at=NOW,
    )

    error = _error(lambda: templates.render("t", ticket=ticket))

    assert "a value it prints is None" in str(error)
    fallback = Templates({"t": "Your agent: {{ ticket.assignee or 'our team' }}"})
    assert fallback.render("t", ticket=ticket).body == "Your agent: our team"


def test_a_template_guards_an_absent_record_with_if() -> None:
    templates = Templates({"t": "{% if decision %}{{ decision.outcome }}{% else %}none{% endif %}"})

    assert templates.render("t").body == "none"


def test_an_error_of_the_template_s_own_arithmetic_is_a_template_error() -> None:
    templates = Templates({"t": "{{ 1 // 0 }}"})

    with pytest.raises(TemplateError):
        templates.render("t")


def test_a_value_error_at_render_is_a_template_error_naming_the_exception() -> None:
    templates = Templates({"t": "{{ customer.name.index('zz') }}"})

    error = _error(lambda: templates.render("t", customer=LI))

    assert (error.template, "body failed to render: ValueError: substring not found") == (
        "t/en",
        error.errors[0].message,
    )


def test_a_render_stops_as_its_output_passes_max_output() -> None:
    templates = Templates(
        {"t": "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}"},
        max_output=1000,
    )

    error = _error(lambda: templates.render("t"))

    assert "the output passes max_output (1,000 characters)" in str(error)
    assert Templates({"t": "{{ about }}"}, max_output=3).render("t", about="abc").body == "abc"


@pytest.mark.parametrize(
    ("source", "why"),
    [
        ("{{ 'ab' * 10**10 }}", "repeating 2 items 10,000,000,000 times passes max_output"),
        ("{{ 10**10 * [1] }}", "repeating 1 items 10,000,000,000 times passes max_output"),
        ("{{ 9 ** 1000000000 }}", "9 ** 1000000000 is too large a number"),
        ("{{ (2 ** 60000) * (2 ** 60000) }}", "the product is too large a number"),
    ],
)
def test_a_product_or_power_too_large_for_memory_fails_before_it_is_computed(
    source: str, why: str
) -> None:
    error = _error(lambda: Templates({"t": source}).render("t"))

    assert why in str(error)


def test_products_and_powers_of_a_reasonable_size_render() -> None:
    templates = Templates(
        {"t": "{{ 2 ** 10 }} {{ 'ab' * 3 }} {{ 2.5 * 2 }} {{ (-1) ** 9 }} {{ 3 * 4 }}"}
    )

    assert templates.render("t").body == "1024 ababab 5.0 -1 12"


# ------------------------------------------------------------------ text, html, subject


def test_html_is_escaped_and_text_is_not() -> None:
    templates = Templates({"t": {"en": {"body": "{{ about }}", "html": "<p>{{ about }}</p>"}}})

    message = templates.render("t", about="<b>Tom & Jerry</b>")

    assert message.body == "<b>Tom & Jerry</b>"
    assert message.html == "<p>&lt;b&gt;Tom &amp; Jerry&lt;/b&gt;</p>"


def test_a_subject_is_one_line_whatever_its_values_hold() -> None:
    templates = Templates({"t": {"en": {"subject": "Re: {{ about }}\n", "body": "b"}}})

    message = templates.render("t", about="Kettle\r\nBcc: evil@example.com")

    assert message.subject == "Re: Kettle Bcc: evil@example.com"


def test_block_tags_on_their_own_lines_leave_no_blank_lines() -> None:
    source = "Lines:\n{% for item in link %}\n- {{ item }}\n{% endfor %}\nBye\n"

    body = Templates({"t": source}).render("t", link=["a", "b"]).body

    assert body == "Lines:\n- a\n- b\nBye"


def test_a_block_tag_ending_with_a_plus_keeps_its_line_s_newline() -> None:
    source = "Hi {{ about }}{% if link %}, see {{ link }}{% endif +%}\nBye"

    body = Templates({"t": source}).render("t", about="Li", link="https://x").body

    assert body == "Hi Li, see https://x\nBye"


def test_a_subject_that_fails_to_render_says_so() -> None:
    templates = Templates({"t": {"en": {"subject": "{{ ticket.subject }}", "body": "b"}}})

    error = _error(lambda: templates.render("t"))

    assert "subject failed to render" in str(error)


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    "templates",
    [
        ["resolved"],
        "resolved",
        {"": "body"},
        {"a/b": "body"},
        {"t": {"english!": "body"}},
        {"t": {"en": {"subject": "s"}}},
        {"t": {"en": {"body": "b", "footer": "f"}}},
        {"t": 3},
    ],
)
def test_templates_that_are_not_a_mapping_of_names_to_variants_are_refused(
    templates: Any,
) -> None:
    with pytest.raises(InvalidInput):
        Templates(templates)


@pytest.mark.parametrize(
    ("keywords", "field"),
    [
        ({"default_language": ""}, "default_language"),
        ({"default_language": 7}, "default_language"),
        ({"context": ("_private",)}, "context"),
        ({"context": "survey link"}, "context"),
        ({"context": ("language",)}, "context"),
        ({"context": ("range",)}, "context"),
        ({"context": [["a"]]}, "context"),
        ({"max_output": 0}, "max_output"),
        ({"max_output": True}, "max_output"),
        ({"max_output": "1"}, "max_output"),
    ],
)
def test_bad_settings_are_refused_naming_the_field(keywords: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        Templates({"t": "b"}, **keywords)

    assert (field,) == caught.value.errors[0].location


def test_an_unknown_template_is_refused_naming_the_known_ones() -> None:
    templates = Templates({"resolved": "a", "closed": "b"})

    error = _error(lambda: templates.render("reslved"))

    assert error.template == "reslved"
    assert "known: closed, resolved" in str(error)
    assert "resolved" in templates
    assert len(templates) == 2
    assert repr(templates) == "Templates(closed, resolved; default_language='en')"


def test_a_context_name_the_set_does_not_declare_is_refused_at_render() -> None:
    error = _error(lambda: Templates({"t": "b"}).render("t", survey_link="x"))

    assert "unknown context survey_link" in str(error)


# ------------------------------------------------------------------ loading from files


def test_templates_load_from_json_text_and_from_a_json_file(tmp_path: Path) -> None:
    text = json.dumps(RESOLVED)
    path = tmp_path / "templates.json"
    path.write_text(text, encoding="utf-8")

    for source in (text, path, str(path)):
        templates = Templates.from_json(source, default_language="en")
        message = templates.render("resolved", language="zh", about="#1", customer=LI)
        assert (message.subject, message.body) == ("#1 已解决", "Li Wei，您好")


def test_json_that_does_not_parse_or_a_missing_file_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as caught:
        Templates.from_json('{"resolved": ')
    assert "not JSON" in str(caught.value)

    with pytest.raises(InvalidInput):
        Templates.from_json(tmp_path / "missing.json")


def test_templates_load_from_a_folder_per_template_and_a_file_per_part(tmp_path: Path) -> None:
    folder = tmp_path / "resolved"
    folder.mkdir()
    (folder / "en.txt").write_text("Hello {{ customer.name }}\n", encoding="utf-8")
    (folder / "en.subject.txt").write_text("{{ about }} is resolved\n", encoding="utf-8")
    (folder / "zh-CN.txt").write_text("{{ customer.name }}，您好\n", encoding="utf-8")
    (folder / "zh-CN.html").write_text("<p>{{ customer.name }}</p>\n", encoding="utf-8")
    (folder / ".swp").write_text("editor junk", encoding="utf-8")
    (tmp_path / ".git").mkdir()

    templates = Templates.from_directory(tmp_path)

    english = templates.render("resolved", about="Ticket #3", customer=LI)
    chinese = templates.render("resolved", language="zh-CN", customer=LI)
    assert (english.subject, english.body) == ("Ticket #3 is resolved", "Hello Li Wei")
    assert (chinese.body, chinese.html) == ("Li Wei，您好", "<p>Li Wei</p>")
    assert templates.languages("resolved") == ("en", "zh-CN")


@pytest.mark.parametrize("misnamed", ["en.subjct.txt", "en", "README.md"])
def test_a_misnamed_file_in_a_template_folder_is_refused(tmp_path: Path, misnamed: str) -> None:
    (tmp_path / "resolved").mkdir()
    (tmp_path / "resolved" / "en.txt").write_text("b", encoding="utf-8")
    (tmp_path / "resolved" / misnamed).write_text("b", encoding="utf-8")

    with pytest.raises(InvalidInput) as caught:
        Templates.from_directory(tmp_path)

    assert misnamed in str(caught.value)


def test_a_file_beside_the_template_folders_or_a_missing_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput):
        Templates.from_directory(tmp_path / "missing")

    (tmp_path / "notes.txt").write_text("b", encoding="utf-8")
    with pytest.raises(InvalidInput):
        Templates.from_directory(tmp_path)


def test_a_template_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    (tmp_path / "resolved").mkdir()
    (tmp_path / "resolved" / "en.txt").write_bytes("Grüße".encode("latin-1"))

    with pytest.raises(InvalidInput) as caught:
        Templates.from_directory(tmp_path)

    assert "cannot read" in str(caught.value)


def test_the_package_imports_without_jinja2() -> None:
    code = (
        "import sys; sys.modules['jinja2'] = None\n"
        "import aftersales, aftersales.notify, aftersales.notify.senders\n"
        "try:\n    import aftersales.notify.templates\nexcept ImportError:\n    print('needs')\n"
    )

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)

    assert (done.returncode, done.stdout, done.stderr) == (0, "needs\n", "")


# ------------------------------------------------------------------ from a desk's events

MESSAGES = {
    "resolved": {
        "en": {
            "subject": "{{ about }}: resolved",
            "body": "Dear {{ customer.name }}, {{ ticket.subject }}: {{ ticket.resolution }}",
        },
        "zh": {
            "subject": "{{ about }} 已解决",
            "body": "{{ customer.name }}：{{ ticket.resolution }}",
        },
    },
    "return_approved": (
        "{{ about }} {{ case.status }} {{ decision.outcome.value }}"
        " {{ decision.refund.net_money }} {{ ticket.display_number }}"
    ),
    "reply": "{{ message.body }} ({{ event.trigger }}, {{ link }})",
}
RETURN_LINE = {
    "line_id": "1",
    "facts": {
        "jurisdiction": "cn",
        "product": {"category": "apparel"},
        "order": {
            "purchased_at": "2024-02-26T10:00:00+08:00",
            "delivered_at": "2024-02-28T15:00:00+08:00",
            "unit_price": {"amount": "80.00", "currency": "CNY"},
            "quantity": 1,
        },
        "claim": {"at": "2024-03-04T17:00:00+08:00", "kind": "no_reason_return", "quantity": 1},
    },
}


@pytest.fixture
def desk() -> Desk:
    return Desk(clock=FrozenClock(NOW))


def _collect(desk: Desk, render: TemplateRender) -> list[RenderedMessage]:
    """Render each notification's message, as a SenderHandler does."""
    find = customer_recipients(desk, "email")
    rendered: list[RenderedMessage] = []

    def handler(notification: Notification) -> None:
        recipient = find(notification.event)
        assert recipient is not None
        rendered.append(render(notification.event, recipient))

    desk.subscribe(
        handler, entered=("resolved", "approved"), messages=True, kinds=("ticket", "return")
    )
    return rendered


def _resolve(desk: Desk, customer: Customer) -> str:
    ticket = desk.open_ticket(customer=customer, channel="email", subject="Kettle leaks")
    desk.classify(ticket.id, category="repair_warranty", severity="low")
    desk.assign(ticket.id, assignee="agent-7")
    desk.fire(ticket.id, "start")
    desk.resolve(ticket.id, resolution="Sent a new seal")
    return ticket.id


def test_a_resolved_ticket_renders_with_its_ticket_and_customer_in_the_customers_language(
    desk: Desk,
) -> None:
    render = TemplateRender(Templates(MESSAGES), {"resolved": "resolved"}, desk)
    rendered = _collect(desk, render)

    _resolve(desk, LI)

    assert [RenderedMessage("resolved", "zh", "Ticket #1 已解决", "Li Wei：Sent a new seal")] == (
        rendered
    )


def test_a_sender_handler_sends_the_rendered_subject_body_html_and_language(desk: Desk) -> None:
    templates = Templates(
        {
            "resolved": {
                "en": "x",
                "zh": {
                    "subject": "{{ about }} 已解决",
                    "body": "b",
                    "html": "<p>{{ customer.name }}</p>",
                },
            }
        }
    )
    outbox = MemorySender()
    handler = SenderHandler(
        outbox,
        recipient=customer_recipients(desk, "email"),
        render=TemplateRender(templates, "resolved", desk),
    )
    desk.on_enter("resolved", handler, name="email")

    _resolve(desk, LI)

    sent = outbox.sent[0]
    assert (sent.subject, sent.body, sent.html, sent.language) == (
        "Ticket #1 已解决",
        "b",
        "<p>Li Wei</p>",
        "zh",
    )


def test_the_recipient_s_language_comes_before_the_customer_s(desk: Desk) -> None:
    render = TemplateRender(Templates(MESSAGES), "resolved", desk)
    ticket_id = _resolve(desk, LI)
    event = desk.history(ticket_id)[-1]
    recipient = Recipient("email", "li@example.cn", LI.id, "en", "")

    message = render(event, recipient)

    assert message.subject == "Ticket #1: resolved"
    assert message.body == "Dear Li Wei, Kettle leaks: Sent a new seal"


def test_a_return_case_renders_with_its_decision_and_ticket(desk: Desk) -> None:
    render = TemplateRender(
        Templates(MESSAGES), {"return:approved": "return_approved", "approved": "reply"}, desk
    )
    rendered = _collect(desk, render)
    ticket = desk.open_ticket(customer=LI, channel="email", subject="退货")

    rma = desk.cases.request_return(ticket.id, order_id="SO-1", lines=[RETURN_LINE])

    assert [f"Return {rma.id} (ticket #1) approved allowed 80.00 CNY #1"] == [
        message.body for message in rendered
    ]


def test_a_message_s_event_renders_with_the_message_and_the_extra_context(desk: Desk) -> None:
    def extra(event: Event, recipient: Recipient) -> dict[str, Any]:
        return {"link": f"https://help.example/t/{event.subject_id}"}

    render = TemplateRender(Templates(MESSAGES), {"add_message": "reply"}, desk, extra=extra)
    rendered = _collect(desk, render)
    ticket = desk.open_ticket(customer=LI, channel="email", subject="Kettle leaks")

    desk.add_message(ticket.id, "We are on it", author_id="agent-7", author_role="agent")

    link = f"https://help.example/t/{ticket.id}"
    assert [f"We are on it (add_message, {link})"] == [message.body for message in rendered]


def test_an_event_without_a_ticket_renders_with_none_for_the_records(desk: Desk) -> None:
    render = TemplateRender(
        Templates({"alert": "{{ about }}|{{ ticket is none }}|{{ customer is none }}"}),
        "alert",
        desk,
    )
    event = Event(
        subject_id="risk-1",
        subject_kind="risk_alert",
        sequence=1,
        trigger="raise",
        from_state=None,
        to_state="raised",
        actor="system",
        at=NOW,
    )

    message = render(event, Recipient("email", "ops@example.com", None, None, "Risk 1"))

    assert message.body == "Risk 1|True|True"


def test_a_customer_the_desk_does_not_know_renders_as_none(desk: Desk) -> None:
    render = TemplateRender(Templates({"t": "{{ customer is none }} {{ about }}"}), "t", desk)
    ticket = desk.open_ticket(customer="c-unknown", channel="email", subject="Hi")
    event = desk.history(ticket.id)[-1]

    message = render(event, Recipient("email", "x@example.com", "c-nobody", None, ""))

    assert message.body == "True Ticket #1"


def test_an_event_name_for_names_no_template_for_is_a_template_error(desk: Desk) -> None:
    render = TemplateRender(Templates(MESSAGES), {"resolved": "resolved"}, desk)
    ticket = desk.open_ticket(customer=LI, channel="email", subject="Hi")
    event = desk.history(ticket.id)[-1]

    assert render.name_for(event) is None
    error = _error(lambda: render(event, Recipient("email", "li@example.cn", LI.id)))
    assert "no template for ticket event" in str(error)


def test_name_for_must_name_templates_of_the_set(desk: Desk) -> None:
    templates = Templates(MESSAGES)

    error = _error(lambda: TemplateRender(templates, {"resolved": "resolvd"}, desk))
    assert error.template == "resolvd"
    for name_for in ({}, 3, {"": "resolved"}):
        with pytest.raises(InvalidInput):
            TemplateRender(templates, name_for, desk)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        TemplateRender(templates, "resolved", desk, extra="no")  # type: ignore[arg-type]


def test_an_internal_note_is_not_mailed_while_a_public_reply_is(desk: Desk) -> None:
    outbox = MemorySender()
    handler = SenderHandler(
        outbox,
        recipient=customer_recipients(desk, "email"),
        render=TemplateRender(Templates({"reply": "{{ message.body }}"}), "reply", desk),
    )
    desk.subscribe(handler, messages=True, name="mail")
    ticket = desk.open_ticket(customer=LI, channel="email", subject="Kettle leaks")

    desk.add_message(ticket.id, "Deny it", author_id="agent-7", kind="internal_note")
    desk.add_message(ticket.id, "We are on it", author_id="agent-7", author_role="agent")

    assert [message.body for message in outbox.sent] == ["We are on it"]


def test_a_message_event_that_does_not_say_its_kind_reaches_no_customer(desk: Desk) -> None:
    ticket = desk.open_ticket(customer=LI, channel="email", subject="Kettle leaks")
    event = desk.history(ticket.id)[-1].model_copy(update={"trigger": "add_message"})

    assert customer_recipients(desk, "email")(event) is None


def test_an_internal_note_is_in_the_context_for_a_recipient_who_is_not_a_customer(
    desk: Desk,
) -> None:
    render = TemplateRender(
        Templates({"t": "{{ message.body if message else 'nothing' }}"}), "t", desk
    )
    ticket = desk.open_ticket(customer=LI, channel="email", subject="Kettle leaks")
    desk.add_message(ticket.id, "Deny it", author_id="agent-7", kind="internal_note")
    event = desk.history(ticket.id)[-1]

    to_agent = render(event, Recipient("email", "agents@example.com", None, None, "T1"))
    to_customer = render(event, Recipient("email", "li@example.cn", LI.id, None, "T1"))

    assert (to_agent.body, to_customer.body) == ("Deny it", "nothing")


def test_extra_that_returns_no_mapping_is_bad_input(desk: Desk) -> None:
    render = TemplateRender(
        Templates({"t": "x"}),
        "t",
        desk,
        extra=lambda event, recipient: ["link"],  # type: ignore[arg-type,return-value]
    )
    ticket = desk.open_ticket(customer=LI, channel="email", subject="Kettle leaks")
    event = desk.history(ticket.id)[-1]

    with pytest.raises(InvalidInput) as caught:
        render(event, Recipient("email", "li@example.cn", LI.id))

    assert caught.value.errors[0].location == ("extra",)
