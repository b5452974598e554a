"""Two hundred mails a support mailbox receives, made with the standard library, each with
what the desk must do with it.

A :class:`Letter` builds its mail when it is delivered (a reply needs the Message-ID the
desk gave the ticket it answers, known only once that ticket exists) and says what must
come of it: which ticket it lands on (by the label the scenario gives each ticket as it
is opened) or why it is ignored.
"""

from __future__ import annotations

import email
import hashlib
import random
from collections.abc import Callable
from datetime import datetime, timezone
from email.header import Header
from email.message import EmailMessage
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr

import attrs

from aftersales import Desk
from aftersales.models import Ticket
from aftersales.notify.mail_ids import message_id_for, ticket_token

DESK_DOMAIN = "desk.example.com"
WHEN = datetime(2024, 3, 4, 9, 0, tzinfo=timezone.utc)

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00"
    b"\x00\x00IEND\xaeB`\x82"
)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@attrs.define
class Scenario:
    """The tickets the delivered mail opened so far, by label."""

    tickets: dict[str, Ticket] = attrs.field(factory=dict)

    def desk_id(self, label: str, key: str = "reply") -> str:
        """The Message-ID of a mail the desk sent about ticket ``label``."""
        ticket = self.tickets[label]
        return message_id_for(ticket.id, f"{ticket.id}:{key}:email", DESK_DOMAIN)

    def token(self, label: str) -> str:
        return ticket_token(self.tickets[label].number)


Build = Callable[[Scenario], bytes]


@attrs.frozen
class Expect:
    """What must come of a letter. ``ticket``: the label of the ticket it lands on (for
    ``opened``, the label the new ticket gets); ``text``: words its stored message must
    hold; ``files``: (name, sniffed content type, sha256 or None) of its attachments;
    ``follow_up_of``: the label of the ticket a follow-up names."""

    outcome: str
    reason: str
    ticket: str | None = None
    text: tuple[str, ...] = ()
    files: tuple[tuple[str, str, str | None], ...] = ()
    follow_up_of: str | None = None


@attrs.frozen
class Letter:
    """One mail: its file name, how to build it, and what must come of it."""

    name: str
    build: Build
    expect: Expect
    before: Callable[[Desk, Scenario], None] | None = None
    """What the desk does before this mail arrives (closing or merging a ticket)."""
    burst: bool = False
    """Delivered seconds after the previous mail instead of minutes."""


class _Ids:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, domain: str = "mail.example.cn") -> str:
        self.count += 1
        return f"<m{self.count:06d}.inbound@{domain}>"


def _headers(
    message: EmailMessage | MIMEBase,
    sender: str | None,
    subject: str | Header,
    message_id: str | None,
    extra: dict[str, str] | None = None,
) -> None:
    if sender is not None:
        message["From"] = sender
    message["To"] = f"support@{DESK_DOMAIN}"
    message["Subject"] = subject  # type: ignore[assignment]
    message["Date"] = format_datetime(WHEN)
    if message_id is not None:
        message["Message-ID"] = message_id
    for name, value in (extra or {}).items():
        message[name] = value


def plain(
    sender: str | None,
    subject: str,
    body: str,
    message_id: str | None,
    extra: dict[str, str] | None = None,
) -> bytes:
    """A text/plain UTF-8 mail (EmailMessage)."""
    message = EmailMessage()
    _headers(message, sender, subject, message_id, extra)
    message.set_content(body)
    return message.as_bytes()


def chinese(
    name: str,
    address: str,
    subject: str,
    body: str,
    charset: str,
    message_id: str,
    extra: dict[str, str] | None = None,
) -> bytes:
    """A text/plain mail in a Chinese charset, its subject and the sender's name encoded
    in it too (MIMEText and Header, as Chinese mail clients write them)."""
    message = MIMEText(body, "plain", charset)
    sender = formataddr((name, address), charset=charset)
    _headers(message, sender, Header(subject, charset), message_id, extra)
    return message.as_bytes()


def mislabelled(address: str, subject: str, body: str, codec: str, label: str, mid: str) -> bytes:
    """A mail whose body is in ``codec`` but labelled ``label`` (gb2312 holding GBK
    characters, big5 holding Hong Kong characters), as many clients send them."""
    head = (
        f"From: {address}\r\nTo: support@{DESK_DOMAIN}\r\nSubject: {subject}\r\n"
        f"Message-ID: {mid}\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: text/plain; charset="{label}"\r\n'
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
    )
    return head.encode("ascii") + body.encode(codec) + b"\r\n"


def alternative(sender: str, subject: str, text: str, html: str, message_id: str) -> bytes:
    """multipart/alternative: a plain and an HTML version of the same text."""
    message = EmailMessage()
    _headers(message, sender, subject, message_id)
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message.as_bytes()


def html_only(sender: str, subject: str, html: str, message_id: str, charset: str) -> bytes:
    """An HTML mail with no plain part."""
    message = MIMEText(html, "html", charset)
    _headers(message, sender, subject, message_id)
    return message.as_bytes()


def with_files(
    sender: str, subject: str, body: str, files: list[tuple[str, bytes, str]], message_id: str
) -> bytes:
    """A mail with attachments: (name, bytes, the type the sender declared)."""
    message = EmailMessage()
    _headers(message, sender, subject, message_id)
    message.set_content(body)
    for name, data, declared in files:
        maintype, subtype = declared.split("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return message.as_bytes()


def forward_attached(
    sender: str, subject: str, note: str, original: bytes, message_id: str, references: str
) -> bytes:
    """A forward with the original mail attached (message/rfc822), References kept."""
    message = MIMEMultipart()
    _headers(message, sender, subject, message_id, {"References": references})
    message.attach(MIMEText(note, "plain", "utf-8"))
    inner = MIMEBase("message", "rfc822")
    inner.attach(email.message_from_bytes(original))
    message.attach(inner)
    return message.as_bytes()


def delivery_report(to_address: str, original_id: str, message_id: str) -> bytes:
    """A delivery status notification (multipart/report) from MAILER-DAEMON."""
    message = MIMEMultipart("report", report_type="delivery-status")
    _headers(
        message,
        "Mail Delivery System <MAILER-DAEMON@mx.example.net>",
        "Undelivered Mail Returned to Sender",
        message_id,
    )
    message.attach(MIMEText(f"Your message {original_id} to {to_address} was not delivered."))
    status = MIMEBase("message", "delivery-status")
    block = email.message.Message()
    block["Final-Recipient"] = f"rfc822; {to_address}"
    block["Action"] = "failed"
    block["Status"] = "5.1.1"
    status.attach(block)
    message.attach(status)
    return message.as_bytes()


def _fixed(raw: bytes) -> Build:
    return lambda _scenario: raw


def mailbox(seed: int = 19) -> list[Letter]:
    """The 200 letters, in delivery order."""
    rng = random.Random(seed)
    new_id = _Ids()
    letters: list[Letter] = []
    first: dict[str, tuple[str, str]] = {}  # ticket label -> (sender, Message-ID)
    raws: dict[str, bytes] = {}

    def add(name: str, build: Build, expect: Expect, **options: object) -> None:
        letter = Letter(f"{len(letters) + 1:03d}-{name}", build, expect, **options)  # type: ignore[arg-type]
        letters.append(letter)

    def opening(name: str, label: str, sender: str, mid: str, raw: bytes, **expect: object) -> None:
        first[label] = (sender, mid)
        raws[label] = raw
        add(name, _fixed(raw), Expect("opened", "new", label, **expect))  # type: ignore[arg-type]

    # 20 new inquiries in plain UTF-8, one customer each
    for n in range(20):
        sender = f"Customer {n:02d} <c{n:02d}@shop-{n % 7}.example.com>"
        thing = rng.choice(["kettle", "blender", "toaster", "fan", "heater"])
        body = f"The {thing} is dead ({n})."
        mid = new_id()
        raw = plain(sender, f"My {thing} #{n} stopped working", body, mid)
        opening("new-plain", f"P{n}", sender, mid, raw, text=(body,))

    # 15 in the GB family: 10 labelled gbk, 5 labelled gb2312 holding GBK-only characters
    for n in range(10):
        body = f"您好，我买的电饭煲第{n}天就坏了。喆"
        address = f"zhe{n}@qq.example.cn"
        mid = new_id("qq.example.cn")
        raw = chinese("李喆", address, f"电饭煲故障 {n}", body, "gbk", mid)
        opening("new-gbk", f"G{n}", address, mid, raw, text=(body,))
    for n in range(5):
        body = f"镕先生的吹风机冒烟了，第{n}次"
        address = f"rong{n}@163.example.cn"
        mid = new_id("163.example.cn")
        raw = mislabelled(address, f"Hair dryer {n}", body, "gbk", "gb2312", mid)
        opening("new-gb2312-holding-gbk", f"GM{n}", address, mid, raw, text=(body,))

    # 10 in Big5: 7 plain Big5, 3 labelled big5 holding Hong Kong characters
    for n in range(7):
        body = f"您好，洗衣機第{n}次漏水，請儘快處理"
        address = f"chan{n}@hinet.example.tw"
        mid = new_id("hinet.example.tw")
        raw = chinese("陳大文", address, f"洗衣機漏水 {n}", body, "big5", mid)
        opening("new-big5", f"B{n}", address, mid, raw, text=(body,))
    for n in range(3):
        body = f"部雪櫃壞咗，唔知係咪{n}號嘅問題"
        address = f"wong{n}@netvigator.example.hk"
        mid = new_id("netvigator.example.hk")
        raw = mislabelled(address, f"Fridge {n}", body, "big5hkscs", "big5", mid)
        opening("new-big5-hkscs", f"HK{n}", address, mid, raw, text=(body,))

    # 10 multipart/alternative: the plain part is the body
    for n in range(10):
        sender = f"alt{n}@mail.example.de"
        mid = new_id("mail.example.de")
        raw = alternative(
            sender,
            f"Dishwasher error E{n}",
            f"Plain: error E{n} again",
            f"<p>HTML: error <b>E{n}</b> again</p>",
            mid,
        )
        opening("new-alternative", f"A{n}", sender, mid, raw, text=(f"Plain: error E{n} again",))

    # 10 HTML only (one in GBK): read as text, scripts and styles dropped
    for n in range(10):
        sender = f"html{n}@web.example.fr"
        mid = new_id("web.example.fr")
        words = f"微波炉 {n} 不加热" if n == 0 else f"Microwave {n} does not heat"
        html = (
            "<html><head><style>p{color:red}</style><script>track()</script></head><body>"
            f"<p>{words}</p><ul><li>bought&nbsp;in May<li>tried twice</ul></body></html>"
        )
        raw = html_only(sender, f"Microwave {n}", html, mid, "gbk" if n == 0 else "utf-8")
        opening(
            "new-html-only",
            f"H{n}",
            sender,
            mid,
            raw,
            text=(words, "bought in May\n- tried twice"),
        )

    # 15 with files: a PDF and a PNG, declared with the wrong or a vague type
    for n in range(15):
        sender = f"files{n}@photos.example.com"
        mid = new_id("photos.example.com")
        png = PNG + bytes([n])  # a different file each time
        files = [
            (f"receipt-{n}.pdf", PDF, "application/octet-stream"),
            (f"crack-{n}.png", png, "image/jpeg"),
        ]
        raw = with_files(sender, f"Cracked lid {n}", f"Photo of the crack {n} attached", files, mid)
        opening(
            "new-attachments",
            f"F{n}",
            sender,
            mid,
            raw,
            text=(f"Photo of the crack {n} attached",),
            files=(
                (f"receipt-{n}.pdf", "application/pdf", sha256(PDF)),
                (f"crack-{n}.png", "image/png", sha256(png)),
            ),
        )

    # 25 replies to the desk's mail (In-Reply-To: the Message-ID the desk sent)
    for n in range(25):
        label = f"P{n}" if n < 20 else f"G{n - 20}"
        sender = first[label][0]
        if n == 0:
            sender = "Customer 00 <C00@Shop-0.EXAMPLE.com>"  # same person, other case
        text = f"Still broken, reply {n}"

        def reply(s: Scenario, label: str = label, sender: str = sender, text: str = text) -> bytes:
            desk_mid = s.desk_id(label)
            subject = f"Re: {s.tickets[label].subject}"
            if label.startswith("G"):
                return chinese(
                    "李喆",
                    sender,
                    f"回复：{s.tickets[label].subject}",
                    f"{text}，还是不行",
                    "gbk",
                    new_id("qq.example.cn"),
                    {"In-Reply-To": desk_mid, "References": desk_mid},
                )
            return plain(
                sender,
                subject,
                f"{text}\n\n> On Monday the desk wrote:\n> We are on it",
                new_id(),
                {"In-Reply-To": desk_mid, "References": desk_mid},
            )

        add("reply-to-desk", reply, Expect("threaded", "in_reply_to", label, text=(text,)))

    # 10 replies found by References alone (In-Reply-To names someone else's mail)
    for n, label in enumerate([*(f"B{i}" for i in range(7)), "A0", "A1", "A2"]):
        sender = first[label][0]

        def by_references(
            s: Scenario, label: str = label, sender: str = sender, n: int = n
        ) -> bytes:
            root = s.desk_id(label)
            return plain(
                sender,
                "Re: Re: follow-up",
                f"Adding my colleague's note {n}",
                new_id(),
                {
                    "In-Reply-To": "<x1@elsewhere.example>",
                    "References": f"{root} <x1@elsewhere.example>",
                },
            )

        add(
            "reply-by-references",
            by_references,
            Expect("threaded", "references", label, text=(f"colleague's note {n}",)),
        )

    # 10 replies to the customer's own earlier mail
    for n, label in enumerate([*(f"A{i}" for i in range(3, 10)), "H0", "H1", "H2"]):
        sender, mid = first[label]
        raw = plain(
            sender,
            "Re: my own mail",
            f"Forgot to say: serial {n}",
            new_id(),
            {"In-Reply-To": mid, "References": mid},
        )
        add(
            "reply-to-own-mail",
            _fixed(raw),
            Expect("threaded", "known_message", label, text=(f"serial {n}",)),
        )

    # 10 forwards: 5 with the original attached (References kept: the desk's mail),
    # 5 with the original quoted (References kept: the customer's own first mail)
    for n in range(5):
        label = f"F{n}"
        sender, mid = first[label]

        def forwarded(s: Scenario, label: str = label, sender: str = sender, n: int = n) -> bytes:
            return forward_attached(
                sender,
                f"Fwd: Cracked lid {n}",
                f"Forwarding what I sent before, {n}",
                raws[label],
                new_id("photos.example.com"),
                s.desk_id(label),
            )

        add(
            "forward-attached",
            forwarded,
            Expect(
                "threaded",
                "references",
                label,
                text=(f"Forwarding what I sent before, {n}",),
                files=((f"Cracked lid {n}.eml", "", None),),
            ),
        )
    for n in range(5, 10):
        label = f"F{n}"
        sender, mid = first[label]
        body = (
            f"See below, {n}\n\n---------- Forwarded message ---------\n"
            f"From: {sender}\nSubject: Cracked lid {n}\n\nPhoto of the crack {n} attached"
        )
        raw = plain(sender, f"Fwd: Cracked lid {n}", body, new_id(), {"References": mid})
        add(
            "forward-quoted",
            _fixed(raw),
            Expect("threaded", "known_message", label, text=(f"See below, {n}",)),
        )

    # 10 replies naming the ticket by its [#N] token alone, from its customer
    for label in [*(f"H{i}" for i in range(3, 10)), "F10", "F11", "F12"]:
        sender = first[label][0]

        def by_token(s: Scenario, label: str = label, sender: str = sender) -> bytes:
            return plain(sender, f"Re: {s.token(label)} any news?", "Any news?", new_id())

        add("reply-by-token", by_token, Expect("threaded", "token", label, text=("Any news?",)))

    # 5 replies with someone else's token: a new ticket, never into theirs
    for n in range(5):
        label = f"P{n}"
        stranger = f"stranger{n}@guess.example.net"

        def guessed(s: Scenario, label: str = label, stranger: str = stranger, n: int = n) -> bytes:
            return plain(stranger, f"Re: {s.token(label)} my order", f"Stranger {n} here", new_id())

        add(
            "someone-elses-token",
            guessed,
            Expect("opened", "new", f"X{n}", text=(f"Stranger {n} here",)),
        )

    # 10 duplicates: the same mail delivered again
    for label in ["P10", "P11", "G5", "G6", "B3", "HK0", "A4", "H5", "F13", "F14"]:
        add("duplicate", _fixed(raws[label]), Expect("ignored", "duplicate", label))

    # 15 automatic mail: out-of-office and other auto-replies, bulk and list mail
    automatic: list[tuple[dict[str, str], str]] = [
        ({"Auto-Submitted": "auto-replied"}, "auto_submitted"),
        ({"Auto-Submitted": "auto-generated"}, "auto_submitted"),
        ({"Auto-Submitted": "auto-replied; owner-email=c02@shop-2.example.com"}, "auto_submitted"),
        ({"Auto-Submitted": "auto-notified"}, "auto_submitted"),
        ({"X-Autoreply": "yes"}, "auto_reply"),
        ({"X-Autoreply": "YES"}, "auto_reply"),
        ({"X-Autorespond": "Out of office"}, "auto_reply"),
        ({"X-Auto-Response-Suppress": "All"}, "auto_reply"),
        ({"X-Auto-Response-Suppress": "DR, AutoReply"}, "auto_reply"),
        ({"Precedence": "bulk"}, "precedence"),
        ({"Precedence": "junk"}, "precedence"),
        ({"Precedence": "auto_reply"}, "precedence"),
        ({"List-Id": "Kettle owners <owners.lists.example.org>"}, "mailing_list"),
        ({"List-Id": "<news.shop.example.com>"}, "mailing_list"),
        ({"List-Unsubscribe": "<mailto:leave@lists.example.org>"}, "mailing_list"),
    ]
    for n, (headers, reason) in enumerate(automatic):
        label = f"P{n}"
        sender = first[label][0]

        def auto(
            s: Scenario, label: str = label, sender: str = sender, headers: dict[str, str] = headers
        ) -> bytes:
            desk_mid = s.desk_id(label)
            extra = {"In-Reply-To": desk_mid, **headers}
            return plain(sender, "Out of office", "I am away until Monday.", new_id(), extra)

        add(f"automatic-{reason}", auto, Expect("ignored", reason))

    # 5 bounces
    for n in range(3):
        raw = delivery_report(
            f"c0{n}@shop-{n}.example.com", f"<sent{n}@{DESK_DOMAIN}>", new_id("mx.example.net")
        )
        add("bounce-report", _fixed(raw), Expect("ignored", "bounce"))
    raw = plain("postmaster@mx.example.net", "Delivery failure", "Could not deliver", new_id())
    add("bounce-postmaster", _fixed(raw), Expect("ignored", "bounce"))
    raw = plain(
        "c03@shop-3.example.com", "Returned", "Returned mail", new_id(), {"Return-Path": "<>"}
    )
    add("bounce-empty-return-path", _fixed(raw), Expect("ignored", "bounce"))

    # 2 of the desk's own mails coming back
    def own_id(s: Scenario) -> bytes:
        return plain(
            "Customer 04 <c04@shop-4.example.com>", "Re: yours", "Echo", s.desk_id("P4", "echo")
        )

    add("own-message-id", own_id, Expect("ignored", "own_mail"))
    raw = plain(
        f"Support <support@{DESK_DOMAIN}>",
        "Ticket update",
        "Your ticket moved",
        new_id(DESK_DOMAIN),
    )
    add("own-domain", _fixed(raw), Expect("ignored", "own_mail"))

    # 12 from a sender in a loop with no automatic headers: 10 taken, then ignored
    for n in range(12):
        raw = plain(
            "Responder <robot@loop.example.org>",
            f"Re: Your request {n}",
            f"Thank you for your mail {n}",
            new_id("loop.example.org"),
        )
        expect = (
            Expect("opened", "new", f"R{n}", text=(f"your mail {n}",))
            if n < 10
            else Expect("ignored", "repeated_sender")
        )
        add("repeated-sender", _fixed(raw), expect, burst=True)

    # 3 replies to tickets that ended: cancelled (twice: a follow-up), merged (the kept one)
    for label in ("P5", "P6"):
        sender = first[label][0]

        def cancel(desk: Desk, s: Scenario, label: str = label) -> None:
            desk.fire(s.tickets[label].id, "cancel", payload={"reason": "customer went quiet"})

        def late(s: Scenario, label: str = label, sender: str = sender) -> bytes:
            desk_mid = s.desk_id(label)
            return plain(
                sender, "Re: back again", "It broke again", new_id(), {"In-Reply-To": desk_mid}
            )

        add(
            "reply-to-closed",
            late,
            Expect(
                "opened", "follow_up", f"FU-{label}", text=("It broke again",), follow_up_of=label
            ),
            before=cancel,
        )

    def merge(desk: Desk, s: Scenario) -> None:
        desk.merge(s.tickets["P8"].id, into=s.tickets["P9"].id)

    def to_merged(s: Scenario) -> bytes:
        desk_mid = s.desk_id("P8")
        return plain(
            first["P8"][0],
            "Re: merged",
            "Writing to the old one",
            new_id(),
            {"In-Reply-To": desk_mid},
        )

    add(
        "reply-to-merged",
        to_merged,
        Expect("threaded", "in_reply_to", "P9", text=("Writing to the old one",)),
        before=merge,
    )

    # 3 with no usable sender
    add(
        "no-from",
        _fixed(plain(None, "Hello", "Who am I?", new_id())),
        Expect("ignored", "no_sender"),
    )
    add(
        "undisclosed",
        _fixed(plain("undisclosed-recipients:;", "Hello", "Nobody", new_id())),
        Expect("ignored", "no_sender"),
    )
    add(
        "no-address",
        _fixed(plain("Just A Name", "Hello", "No address", new_id())),
        Expect("ignored", "no_sender"),
    )
    return letters
