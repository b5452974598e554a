"""Email through an SMTP server (the standard library's :mod:`smtplib`; no extra needed).

Each mail names its ticket so that a customer's reply finds its way back
(:mod:`aftersales.notify.mail_ids`): its ``Message-ID`` carries the subject's id and is
the same on every retry of one notification, ``References`` carries one id per subject
(mail clients thread the desk's mails about a ticket together), and its subject starts
with the ticket's token, ``[#12]``, when the recipient names a ticket
(:attr:`~aftersales.notify.senders.Recipient.ticket_number`, which
:func:`~aftersales.notify.senders.customer_recipients` fills in).

Mail is marked ``Auto-Submitted: auto-generated`` (RFC 3834), so that a customer's
out-of-office robot does not answer it; the customer can reply as to any mail.

The ``Message-ID`` and ``References`` headers go on the wire as plain ``<id@domain>``
however long they are (folded, never as RFC 2047 encoded words, which no mail client
reads in a message id), and the mail goes to the one mailbox the recipient's address
names: an address that lists several is refused, so nobody else gets the customer's mail.

An SMTP reply steers the outbox: a 5xx refusal of the message or its recipient
dead-letters it at once (:class:`~aftersales.DeliveryFailed` with ``permanent=True``);
a 4xx ("try again later"), a connection that fails or times out, or a refused login
(a configuration to fix, after which the waiting mail goes out) is retried with backoff.
So is a 5xx refusal of the sender (``MAIL FROM``) that asks for a login or names a
security policy (530, 534, 535, 538, or an enhanced status ``5.7.x``): the settings are
at fault there, not the mail.
"""

from __future__ import annotations

import math
import re
import smtplib
import ssl
from email import errors, headerregistry
from email.message import EmailMessage
from email.policy import default
from email.utils import format_datetime, parseaddr

from aftersales.clock import Clock, SystemClock
from aftersales.exceptions import DeliveryFailed, FieldError, InvalidInput
from aftersales.models import Channel
from aftersales.notify.mail_ids import message_id_for, thread_key, ticket_number_in, ticket_token
from aftersales.notify.senders._handler import OutgoingMessage

__all__ = ["SmtpSender"]

_SUBJECT = 200
"""Characters of a subject line kept (the first line of the body when there is none)."""

_HEADERS = headerregistry.HeaderRegistry()
# email's default policy takes References and In-Reply-To for unstructured text, which
# it folds into RFC 2047 encoded words once an id outgrows a line
# (typeshed wants a BaseHeader; the registry mixes BaseHeader in itself, as for Message-ID)
_HEADERS.map_to_type("references", headerregistry.MessageIDHeader)  # type: ignore[arg-type]
_HEADERS.map_to_type("in-reply-to", headerregistry.MessageIDHeader)  # type: ignore[arg-type]
_POLICY = default.clone(header_factory=_HEADERS)

_LOGIN_CODES = frozenset({530, 534, 535, 538})
"""Replies asking for a login, a stronger one or TLS first (RFC 4954)."""
_POLICY_STATUS = re.compile(r"5\.7\.[0-9]{1,3}\b")
"""An enhanced status of the security or policy class (RFC 3463)."""


def _reply(error: smtplib.SMTPResponseException) -> str:
    raw = error.smtp_error
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return f"{error.smtp_code} {' '.join(text.split())}".strip()


def _sender_setting(error: smtplib.SMTPResponseException) -> bool:
    """True when a refused ``MAIL FROM`` blames the settings (a login, the sender
    address): the mail waits for them to be fixed."""
    raw = error.smtp_error
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return error.smtp_code in _LOGIN_CODES or _POLICY_STATUS.match(text.strip()) is not None


def _mailbox(mail: EmailMessage, address: str) -> str:
    """The one mailbox the ``To`` header names, or a permanent DeliveryFailed."""
    to = mail["To"]
    groups = getattr(to, "groups", ())
    mailboxes = [mailbox for group in groups for mailbox in group.addresses]
    if len(mailboxes) > 1 or any(group.display_name is not None for group in groups):
        raise DeliveryFailed(
            f"the address names {len(mailboxes)} mailboxes (or a group), not one: "
            f"{address[:100]!r}",
            permanent=True,
        )
    defects = getattr(to, "defects", ())
    if (
        len(mailboxes) != 1
        or not mailboxes[0].username
        or not mailboxes[0].domain
        or any(isinstance(defect, errors.InvalidHeaderDefect) for defect in defects)
    ):
        raise DeliveryFailed(f"not an email address: {address[:100]!r}", permanent=True)
    return str(mailboxes[0].addr_spec)


def _invalid(field: str, reason: str) -> InvalidInput:
    return InvalidInput("smtp", [FieldError((field,), reason)])


class SmtpSender:
    """A :class:`~aftersales.notify.senders.Sender` that mails each message to its
    recipient's address (the recipient must be on the email channel).

    ``from_address`` is the sender (``"Support <support@shop.example>"``); ``domain``
    ends the ``Message-ID`` s and names this host to the server (``EHLO``). ``use_ssl``
    connects with TLS from the start (port 465); ``starttls`` upgrades a plain
    connection (port 587); ``ssl_context`` defaults to the system's trusted certificates.
    ``username`` and ``password`` log in. ``timeout`` bounds each network step in
    seconds (smtplib's socket timeout: a server that answers every command slowly, but
    each within ``timeout``, holds the sender for as many steps as a session has).
    ``clock`` writes the ``Date`` header (give the desk's). ``thread_secret`` (text or
    bytes) signs the ``Message-ID`` s, so that inbound mail given the same
    secret (:func:`~aftersales.inbound.ingest_email`'s ``thread_secret``) knows them
    for the desk's own and threads whoever answers them.

    Each message opens its own connection: a sender holds no socket between
    notifications, so a worker can keep one for ever.
    """

    __slots__ = (
        "_password",
        "_thread_secret",
        "clock",
        "domain",
        "from_address",
        "host",
        "port",
        "ssl_context",
        "starttls",
        "timeout",
        "use_ssl",
        "username",
    )

    def __init__(
        self,
        host: str,
        port: int = 25,
        *,
        from_address: str,
        domain: str,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        use_ssl: bool = False,
        timeout: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
        clock: Clock | None = None,
        thread_secret: bytes | str | None = None,
    ) -> None:
        if not isinstance(host, str) or not host.strip():
            raise _invalid("host", "must be a host name")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise _invalid("port", "must be a port number (1 to 65535)")
        if not isinstance(from_address, str) or "@" not in parseaddr(from_address)[1]:
            raise _invalid("from_address", "must be an email address")
        if not isinstance(domain, str) or not domain.strip() or any(c in domain for c in "<>@ "):
            raise _invalid("domain", "must be a domain name, e.g. desk.example.com")
        if starttls and use_ssl:
            raise _invalid("starttls", "use either starttls or use_ssl, not both")
        if (username is None) != (password is None):
            raise _invalid("username", "give both username and password, or neither")
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, (int, float))
            or not math.isfinite(timeout)
            or timeout <= 0
        ):
            raise _invalid("timeout", "must be a positive number")
        try:
            self._thread_secret = thread_key(thread_secret, "thread_secret")
        except InvalidInput:
            raise _invalid("thread_secret", "must be non-empty text or bytes") from None
        self.host = host
        self.port = port
        self.from_address = from_address
        self.domain = domain
        self.username = username
        self._password = password
        self.starttls = starttls
        self.use_ssl = use_ssl
        self.timeout = float(timeout)
        self.ssl_context = ssl_context
        self.clock: Clock = SystemClock() if clock is None else clock

    def __repr__(self) -> str:
        return f"SmtpSender({self.host!r}, {self.port}, from_address={self.from_address!r})"

    def subject_for(self, message: OutgoingMessage) -> str:
        """The subject line: the message's subject (or its body's first line), after the
        ticket's token when the recipient names a ticket and the subject lacks it."""
        subject = " ".join((message.subject or message.body.strip().split("\n")[0]).split())
        subject = subject[:_SUBJECT]
        number = message.recipient.ticket_number
        if number is not None and ticket_number_in(subject) != number:
            subject = f"{ticket_token(number)} {subject}".rstrip()
        return subject

    def compose(self, message: OutgoingMessage) -> EmailMessage:
        """The mail for ``message``, as :meth:`send` sends it; raises a permanent
        :class:`~aftersales.DeliveryFailed` for a recipient not on the email channel or
        an address no mail can carry."""
        recipient = message.recipient
        if recipient.channel is not Channel.EMAIL:
            raise DeliveryFailed(
                f"SmtpSender sends email; the recipient is on {recipient.channel.value}",
                permanent=True,
            )
        event = message.event
        mail = EmailMessage(policy=_POLICY)
        try:
            mail["From"] = self.from_address
            mail["To"] = recipient.address
            mail["Subject"] = self.subject_for(message)
            mail["Date"] = format_datetime(self.clock.now())
            secret = self._thread_secret
            subject_id = event.subject_id
            mail["Message-ID"] = message_id_for(subject_id, message.key, self.domain, secret=secret)
            mail["References"] = message_id_for(subject_id, subject_id, self.domain, secret=secret)
            mail["Auto-Submitted"] = "auto-generated"
            # Outlook's and Exchange's out-of-office replies would open tickets of their own
            mail["X-Auto-Response-Suppress"] = "OOF, AutoReply"
            mail.set_content(message.body)
            if message.html:
                mail.add_alternative(message.html, subtype="html")
            # after the content: set_content drops every Content-* header
            language = message.language or recipient.language
            if language:
                mail["Content-Language"] = language
        except (ValueError, TypeError, IndexError) as error:
            raise DeliveryFailed(f"cannot write this mail: {error}", permanent=True) from error
        _mailbox(mail, recipient.address)
        return mail

    def send(self, message: OutgoingMessage) -> None:
        """Mail ``message``; raises :class:`~aftersales.DeliveryFailed` when the server
        did not take it."""
        mail = self.compose(message)
        # the envelope names the one mailbox, whatever else the To header might hold
        mailbox = _mailbox(mail, message.recipient.address)
        server = f"SMTP server {self.host}:{self.port}"
        try:
            smtp = self._open()
        except smtplib.SMTPResponseException as error:
            raise DeliveryFailed(f"{server} answered {_reply(error)}") from error
        except smtplib.SMTPException as error:
            raise DeliveryFailed(
                f"{server} cannot start a session: {type(error).__name__}: {error}"
            ) from error
        except OSError as error:
            raise DeliveryFailed(
                f"{server} unreachable: {type(error).__name__}: {error}"
            ) from error
        try:
            smtp.send_message(mail, to_addrs=[mailbox])
        except smtplib.SMTPRecipientsRefused as error:
            codes = [code for code, _ in error.recipients.values()]
            replies = "; ".join(
                _reply(smtplib.SMTPResponseException(code, text))
                for code, text in error.recipients.values()
            )
            raise DeliveryFailed(
                f"{server} refused the recipient: {replies}",
                permanent=bool(codes) and all(500 <= code < 600 for code in codes),
            ) from error
        except smtplib.SMTPSenderRefused as error:
            raise DeliveryFailed(
                f"{server} refused the mail: {_reply(error)}",
                permanent=500 <= error.smtp_code < 600 and not _sender_setting(error),
            ) from error
        except smtplib.SMTPDataError as error:
            raise DeliveryFailed(
                f"{server} refused the mail: {_reply(error)}",
                permanent=500 <= error.smtp_code < 600,
            ) from error
        except smtplib.SMTPNotSupportedError as error:
            # e.g. a non-ASCII address to a server without SMTPUTF8: this mail never goes
            raise DeliveryFailed(
                f"{server} cannot take this mail: {error}", permanent=True
            ) from error
        except smtplib.SMTPResponseException as error:
            raise DeliveryFailed(f"{server} answered {_reply(error)}") from error
        except (smtplib.SMTPException, OSError) as error:
            raise DeliveryFailed(
                f"{server} lost the connection: {type(error).__name__}: {error}"
            ) from error
        finally:
            _quit(smtp)

    def _open(self) -> smtplib.SMTP:
        context = self.ssl_context
        if (self.use_ssl or self.starttls) and context is None:
            context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if self.use_ssl:
            smtp = smtplib.SMTP_SSL(
                self.host,
                self.port,
                local_hostname=self.domain,
                timeout=self.timeout,
                context=context,
            )
        else:
            # local_hostname spares smtplib's getfqdn(), a DNS lookup that can take seconds
            smtp = smtplib.SMTP(
                self.host, self.port, local_hostname=self.domain, timeout=self.timeout
            )
        try:
            if self.starttls:
                smtp.starttls(context=context)
            if self.username is not None and self._password is not None:
                smtp.login(self.username, self._password)
        except BaseException:
            smtp.close()
            raise
        return smtp


def _quit(smtp: smtplib.SMTP) -> None:
    # the mail is sent (or refused) by now: a failing QUIT must not turn into a retry
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()
