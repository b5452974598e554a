"""Reading mail without a desk: senders, charsets, HTML, attachments, forwards, and mail
that is broken in the ways real mail is."""

from __future__ import annotations

import email
import random
from email.message import EmailMessage
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart

import pytest
from inbound_mailbox import (
    PDF,
    PNG,
    Scenario,
    chinese,
    mailbox,
    mislabelled,
    plain,
    with_files,
)

from aftersales import InvalidInput
from aftersales.inbound import automatic_reason, decode_bytes, html_to_text, parse_email
from aftersales.inbound._text import codec_for, decode_header_value, language_of


@pytest.mark.parametrize("raw", ["From: a@b.cn\r\n\r\nhi", b"", b"  \r\n ", None, 12])
def test_what_is_not_a_mail_s_bytes_is_refused(raw: object) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_email(raw)  # type: ignore[arg-type]
    assert raised.value.errors[0].location == ("raw",)


def test_a_bytearray_is_read_as_bytes() -> None:
    assert parse_email(bytearray(b"From: li@x.cn\r\n\r\nhi")).address == "li@x.cn"


@pytest.mark.parametrize(
    ("header", "address", "name"),
    [
        ("Li Wei <Li.Wei@Example.CN>", "Li.Wei@example.cn", "Li Wei"),
        ("li@x.cn (Li)", "li@x.cn", "Li"),
        ("Li Wei li@x.cn", "li@x.cn", None),
        ("<<li@x.cn>>", "li@x.cn", None),
        ("=?utf-8?b?5p2O?= <li@x.cn>, other@y.cn", "li@x.cn", "李"),
        ("undisclosed-recipients:;", None, None),
        ("Just A Name", None, None),
        ("root@localhost", None, None),
        ("<>", None, None),
    ],
)
def test_the_sender_is_the_first_usable_address_with_its_domain_in_lower_case(
    header: str, address: str | None, name: str | None
) -> None:
    mail = parse_email(f"From: {header}\r\nSubject: x\r\n\r\nhi".encode())
    assert (mail.address, mail.display_name) == (address, name)


def test_a_mail_without_a_from_header_has_no_sender() -> None:
    assert parse_email(b"Subject: x\r\n\r\nhi").address is None


def test_gbk_gb2312_and_big5_bodies_subjects_and_names_decode() -> None:
    gbk = parse_email(chinese("李喆", "z@qq.cn", "电饭煲故障", "您好，喆", "gbk", "<1@q>"))
    assert (gbk.subject, gbk.body, gbk.display_name, gbk.language) == (
        "电饭煲故障",
        "您好，喆",
        "李喆",
        "zh-CN",
    )
    big5 = parse_email(chinese("陳大文", "c@hinet.tw", "洗衣機", "請儘快處理", "big5", "<2@h>"))
    assert (big5.subject, big5.body, big5.display_name, big5.language) == (
        "洗衣機",
        "請儘快處理",
        "陳大文",
        "zh-TW",
    )


def test_text_labelled_gb2312_holding_gbk_characters_reads_as_gb18030() -> None:
    raw = mislabelled("r@163.cn", "x", "镕先生的吹风机", "gbk", "gb2312", "<3@1>")
    assert parse_email(raw).body == "镕先生的吹风机"


def test_text_labelled_big5_holding_hong_kong_characters_reads_as_big5_hkscs() -> None:
    raw = mislabelled("w@n.hk", "x", "部雪櫃壞咗嘅", "big5hkscs", "big5", "<4@n>")
    assert parse_email(raw).body == "部雪櫃壞咗嘅"
    assert decode_bytes("峯".encode("big5hkscs"), "big5-hkscs") == "峯"


@pytest.mark.parametrize(
    ("data", "charset", "text"),
    [
        (b"caf\xc3\xa9", None, "café"),
        (b"caf\xe9", None, "café"),
        (b"caf\xe9", "x-unknown-charset", "café"),
        (b"caf\xe9", "hex", "café"),
        (b"\xff\xfeok", "utf-8", "\ufffd\ufffdok"),
        (b"\x81", "big5", "\ufffd"),
        ("冇".encode("cp950"), "big5", "冇"),
    ],
)
def test_bytes_decode_by_their_label_and_never_raise(
    data: bytes, charset: str | None, text: str
) -> None:
    assert decode_bytes(data, charset) == text


def test_charset_labels_map_to_their_codec_and_language() -> None:
    assert [codec_for(label) for label in ("GB2312", '"gbk"', "cp936", "Big5", None, "nope")] == [
        "gb18030",
        "gb18030",
        "gb18030",
        "big5",
        None,
        None,
    ]
    assert [language_of(label) for label in ("gb2312", "big5", "big5-hkscs", "utf-8")] == [
        "zh-CN",
        "zh-TW",
        "zh-HK",
        None,
    ]


def test_raw_eight_bit_headers_read_as_utf8_then_gb18030() -> None:
    raw = b"From: li@x.cn\r\nSubject: " + "水壶".encode() + b"\r\nX-Gbk: "
    raw += "水壶".encode("gbk") + b"\r\nX-Latin: caf\xe9\r\n\r\nhi"
    mail = parse_email(raw)
    assert (mail.subject, mail.header("X-GBK"), mail.header("x-latin")) == ("水壶", "水壶", "café")
    assert mail.header("missing") is None


def test_headers_with_broken_encoded_words_still_read() -> None:
    assert decode_header_value("=?utf-8?q?caf=C3=A9?= and\r\n more") == "café and more"
    assert decode_header_value("=?no-such-charset?b?////?=") == "ÿÿÿ"  # Latin-1, kept
    assert decode_header_value("=?utf-8?b?***?=") == ""


def test_the_plain_part_is_preferred_and_html_is_read_as_text() -> None:
    message = EmailMessage()
    message["From"] = "li@x.cn"
    message.set_content("plain words")
    message.add_alternative("<p>html words</p>", subtype="html")
    assert parse_email(message.as_bytes()).body == "plain words"
    html = EmailMessage()
    html["From"] = "li@x.cn"
    html.set_content(
        "<html><head><title>T</title><style>p{}</style></head><body><h1>Kettle</h1>"
        "<p>leaks<br>at the base<br/>badly</p><table><tr><td>a</td><td>b</td></tr></table>"
        "<script>alert(1)</script><p>&lt;ok&gt; &amp; done</p></body></html>",
        subtype="html",
    )
    assert parse_email(html.as_bytes()).body == (
        "Kettle\n\nleaks\nat the base\nbadly\n\na b\n\n<ok> & done"
    )


def test_html_text_survives_unbalanced_tags() -> None:
    assert html_to_text("</style>kept<script>gone") == "kept"
    assert html_to_text('<img src="x"/>one<hr/>two') == "one\ntwo"


def test_attachments_keep_their_bytes_names_and_declared_types() -> None:
    raw = with_files(
        "li@x.cn",
        "files",
        "see files",
        [("../../etc/receipt.pdf", PDF, "application/pdf"), ("crack.png", PNG, "image/png")],
        "<5@x>",
    )
    mail = parse_email(raw)
    assert mail.body == "see files"
    assert [(a.name, a.data, a.content_type) for a in mail.attachments] == [
        ("receipt.pdf", PDF, "application/pdf"),
        ("crack.png", PNG, "image/png"),
    ]


def test_a_file_without_a_name_gets_one_from_its_type_and_text_files_stay_files() -> None:
    message = EmailMessage()
    message["From"] = "li@x.cn"
    message.set_content("body")
    message.add_attachment(PNG, maintype="image", subtype="png")
    message.add_attachment("a,b\n1,2\n", subtype="csv", filename="data.csv")
    message.add_attachment("note", disposition="attachment")
    mail = parse_email(message.as_bytes())
    assert mail.body == "body"
    assert [a.name for a in mail.attachments] == [
        "attachment-1.png",
        "data.csv",
        "attachment-3.txt",
    ]


def test_a_forward_with_only_the_attached_original_takes_the_original_s_text() -> None:
    original = plain("li@x.cn", "Kettle leaks", "It leaks at the base", "<o1@x.cn>")
    outer = MIMEMultipart()
    outer["From"] = "li@x.cn"
    outer["Subject"] = "Fwd: Kettle leaks"
    attached = MIMEBase("message", "rfc822")
    attached.attach(email.message_from_bytes(original))
    outer.attach(attached)
    mail = parse_email(outer.as_bytes())
    assert mail.body == "It leaks at the base"
    assert [(a.name, a.content_type) for a in mail.attachments] == [
        ("Kettle leaks.eml", "message/rfc822")
    ]
    assert b"It leaks at the base" in mail.attachments[0].data


def test_message_ids_keep_their_brackets_and_a_bare_one_gets_them() -> None:
    mail = parse_email(
        b"From: li@x.cn\r\nMessage-ID: bare-id@x.cn\r\nIn-Reply-To: <a@x> <a@x>\r\n"
        b"References: <r1@x>\r\n <r2@x> <a@x>\r\n\r\nhi"
    )
    assert mail.message_id == "<bare-id@x.cn>"
    assert mail.in_reply_to == ("<a@x>",)
    assert mail.references == ("<r1@x>", "<r2@x>", "<a@x>")
    assert mail.thread_ids == ("<a@x>", "<r2@x>", "<r1@x>")
    assert parse_email(b"From: li@x.cn\r\nMessage-ID: two words\r\n\r\nhi").message_id is None


def test_content_language_names_the_language_before_the_charset_does() -> None:
    raw = chinese(
        "李", "l@q.cn", "s", "你好", "gbk", "<6@q>", {"Content-Language": "zh-Hans-CN, en"}
    )
    assert parse_email(raw).language == "zh-Hans-CN"
    odd = chinese("李", "l@q.cn", "s", "你好", "gbk", "<7@q>", {"Content-Language": "!!"})
    assert parse_email(odd).language == "zh-CN"
    long_tag = "-".join(["abcdefgh"] * 30)
    raw = chinese("李", "l@q.cn", "s", "你好", "big5", "<8@q>", {"Content-Language": long_tag})
    assert parse_email(raw).language == "zh-TW"


def test_a_mail_nested_deeper_than_any_real_one_is_read_without_recursing_forever() -> None:
    raw = b"From: li@x.cn\r\nContent-Type: multipart/mixed; boundary=b0\r\n\r\n"
    for depth in range(1, 80):
        raw += (
            f"--b{depth - 1}\r\nContent-Type: multipart/mixed; boundary=b{depth}\r\n\r\n".encode()
        )
    raw += b"--b79\r\nContent-Type: text/plain\r\n\r\ndeep\r\n"
    assert parse_email(raw).body == ""


@pytest.mark.parametrize(
    ("headers", "address", "content_type", "reason"),
    [
        ([("return-path", "< >")], "li@x.cn", "text/plain", "bounce"),
        ([], "Mailer-Daemon@mx.cn", "text/plain", "bounce"),
        ([], "li@x.cn", "multipart/report", "bounce"),
        ([("auto-submitted", "No")], "li@x.cn", "text/plain", None),
        ([("x-autoreply", "no")], "li@x.cn", "text/plain", None),
        ([("x-auto-response-suppress", "DR, RN")], "li@x.cn", "text/plain", None),
        ([("precedence", "first-class")], "li@x.cn", "text/plain", None),
        ([("precedence", "list")], "li@x.cn", "text/plain", "precedence"),
        ([("list-id", "<x>")], None, "text/plain", "mailing_list"),
    ],
)
def test_machine_sent_mail_is_told_by_its_headers(
    headers: list[tuple[str, str]], address: str | None, content_type: str, reason: str | None
) -> None:
    assert automatic_reason(headers, address, content_type) == reason


def test_mangled_mail_never_raises() -> None:
    rng = random.Random(5322)
    scenario_free = [letter for letter in mailbox() if "new" in letter.name][:40]
    for letter in scenario_free:
        raw = bytearray(letter.build(Scenario()))
        for _ in range(30):
            position = rng.randrange(len(raw))
            raw[position] = rng.randrange(256)
            mail = parse_email(bytes(raw))
            assert isinstance(mail.body, str)
            assert "\x00" not in mail.body


def test_a_forward_nested_in_forwards_without_end_is_read_to_a_limit() -> None:
    raw = b"From: li@x.cn\r\nSubject: Fwd\r\nContent-Type: message/rfc822\r\n\r\n"
    raw += b"Content-Type: message/rfc822\r\n\r\n" * 60 + b"From: li@x.cn\r\n\r\ndeep text\r\n"
    mail = parse_email(raw)
    assert mail.body == ""
    assert [a.name for a in mail.attachments] == ["forwarded.eml"]


def test_an_empty_forwarded_part_forwards_nothing() -> None:
    raw = (
        b"From: li@x.cn\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n"
        b"Content-Type: text/plain\r\n\r\nsee below\r\n--x\r\nContent-Type: message/rfc822\r\n\r\n"
        b"--x--\r\n"
    )
    mail = parse_email(raw)
    assert mail.body == "see below"
    assert [a.name for a in mail.attachments] == ["forwarded.eml"]


def test_a_part_the_email_package_cannot_read_costs_only_that_part() -> None:
    from aftersales.inbound._parse import _safely

    def broken() -> str:
        raise IndexError("the header parser gave up")

    assert _safely(broken, "fallback") == "fallback"
    assert _safely(lambda: "read", "fallback") == "read"


@pytest.mark.parametrize("encoding", ["base64", "quoted-printable"])
def test_a_forwarded_mail_encoded_against_the_rules_is_still_read(encoding: str) -> None:
    import base64
    import quopri

    inner = b"From: li@x.cn\r\nSubject: Inner =?utf-8?q?caf=C3=A9?=\r\n\r\ninner text \xc3\xa9\r\n"
    encoded = base64.encodebytes(inner) if encoding == "base64" else quopri.encodestring(inner)
    raw = (
        b"From: li@x.cn\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n"
        b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: "
        + encoding.encode()
        + b"\r\n\r\n"
        + encoded
        + b"\r\n--x--\r\n"
    )
    mail = parse_email(raw)
    assert mail.body == "inner text é"
    assert [a.name for a in mail.attachments] == ["Inner café.eml"]


def test_message_ids_with_control_characters_are_not_taken() -> None:
    mail = parse_email(
        b"From: li@x.cn\r\nMessage-ID: <a\x7fb@x.cn>\r\nIn-Reply-To: <c\x01d@x>\r\n\r\nhi"
    )
    assert (mail.message_id, mail.in_reply_to) == (None, ())


def test_an_address_in_raw_utf8_is_read_as_text() -> None:
    mail = parse_email("From: 李 <李@例子.cn>\r\n\r\nhi".encode())
    assert (mail.address, mail.display_name) == ("李@例子.cn", "李")
    junk = parse_email(b"From: li\xff@x.cn\r\n\r\nhi")
    assert junk.address == "li\u00ff@x.cn"
