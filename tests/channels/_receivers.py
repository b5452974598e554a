"""Real servers for the sender tests, on 127.0.0.1 and a port the system picks.

:class:`HttpReceiver` records every request and answers from a script (fail N times,
429 with Retry-After, stall until the test ends); :class:`SmtpReceiver` is an aiosmtpd
server that collects the mails it accepts and refuses from a script. Tests wait on what
the servers observed (:meth:`wait_for`), never on a fixed sleep.
"""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from collections.abc import Mapping
from email.message import EmailMessage, Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import attrs
from aiosmtpd.controller import Controller

WAIT = 60.0
"""Seconds a test waits for a server to observe something before it fails."""


@attrs.frozen
class Answer:
    """One scripted HTTP answer; ``stall`` holds it back until the receiver closes."""

    status: int = 200
    headers: Mapping[str, str] = attrs.field(factory=dict)
    body: str = ""
    stall: bool = False


@attrs.frozen
class Received:
    """One request as the receiver saw it, and what it answered."""

    method: str
    path: str
    headers: Message
    body: bytes
    status: int


class HttpReceiver:
    """An HTTP server in a thread that records requests and answers from a script."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.script: list[Answer] = []
        """Answers given in order, one per request; then :attr:`default`."""
        self.default = Answer()
        self._changed = threading.Condition()
        self._release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real receivers do

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                answer = receiver._next_answer()
                receiver._record(Received("POST", self.path, self.headers, body, answer.status))
                if answer.stall:
                    receiver._release.wait(WAIT)
                payload = answer.body.encode()
                try:
                    self.send_response(answer.status)
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    self.close_connection = True  # the client gave up waiting

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep the test output quiet

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.handle_error = lambda request, address: None  # type: ignore[method-assign]
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hooks/aftersales"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def _next_answer(self) -> Answer:
        with self._changed:
            return self.script.pop(0) if self.script else self.default

    def _record(self, received: Received) -> None:
        with self._changed:
            self.requests.append(received)
            self._changed.notify_all()

    def wait_for(self, count: int) -> list[Received]:
        """The requests, once at least ``count`` have arrived."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.requests) >= count, WAIT):
                raise AssertionError(f"{len(self.requests)} requests arrived, not {count}")
            return list(self.requests)

    def __enter__(self) -> HttpReceiver:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(WAIT)


def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (it was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


class ScriptedSmtp:
    """A bare SMTP server for the replies aiosmtpd will not give: a refusing greeting,
    a refused ``EHLO``, no ``SMTPUTF8``, a connection dropped at a command.

    ``replies`` maps a command (``"EHLO"``, ``"RCPT"``...) to its reply; ``hang_up_on``
    names the command at which the server closes the connection instead of answering.
    Each exchange is synchronous with the client, so tests need not wait on it.
    """

    DEFAULTS: Mapping[str, str] = {
        "EHLO": "250 scripted.test",
        "HELO": "250 scripted.test",
        "MAIL": "250 OK",
        "RCPT": "250 OK",
        "DATA": "354 end with <CRLF>.<CRLF>",
        "QUIT": "221 bye",
    }

    def __init__(
        self,
        greeting: str = "220 scripted.test ESMTP",
        replies: Mapping[str, str] | None = None,
        hang_up_on: str | None = None,
    ) -> None:
        self.greeting = greeting
        self.replies = {**self.DEFAULTS, **(replies or {})}
        self.hang_up_on = hang_up_on
        self.commands: list[str] = []
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._socket.getsockname()[1]
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while True:
            connection, _ = self._socket.accept()
            if self._stopping.is_set():
                connection.close()
                return
            with connection, connection.makefile("rb") as lines:
                self._talk(connection, lines)

    def _talk(self, connection: socket.socket, lines: Any) -> None:
        connection.sendall(self.greeting.encode() + b"\r\n")
        for line in lines:
            verb = line.split(b" ")[0].strip().upper().decode()
            self.commands.append(verb)
            if verb == self.hang_up_on:
                return
            reply = self.replies.get(verb, "250 OK")
            connection.sendall(reply.encode() + b"\r\n")
            if verb == "DATA" and reply.startswith("354"):
                for body_line in lines:
                    if body_line == b".\r\n":
                        break
                connection.sendall(b"250 queued\r\n")

    def __enter__(self) -> ScriptedSmtp:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # closing a listening socket does not wake a blocked accept(): a last connection does
        self._stopping.set()
        socket.create_connection(("127.0.0.1", self.port)).close()
        self._thread.join(WAIT)
        self._socket.close()


class _Controller(Controller):
    """aiosmtpd's controller, bound to the port the system picked."""

    def _trigger_server(self) -> None:
        # port 0 binds a free port: read it back before the controller connects to it
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class SmtpReceiver:
    """An SMTP server (aiosmtpd) that keeps the mails it accepts in :attr:`mails`.

    :attr:`rcpt_replies` and :attr:`data_replies` script refusals: each ``RCPT TO`` or
    ``DATA`` takes the next reply (e.g. ``"451 4.3.0 try later"``) until none is left,
    then accepts.
    """

    def __init__(self) -> None:
        self.mails: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.rcpt_replies: list[str] = []
        self.data_replies: list[str] = []
        self.attempts = 0
        """``RCPT TO`` commands seen, accepted or not."""
        self._changed = threading.Condition()
        self._controller = _Controller(
            self, hostname="127.0.0.1", port=0, server_hostname="receiver.test"
        )

    @property
    def port(self) -> int:
        """The port the server listens on."""
        port: int = self._controller.port
        return port

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        with self._changed:
            self.attempts += 1
            reply = self.rcpt_replies.pop(0) if self.rcpt_replies else None
            self._changed.notify_all()
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._changed:
            if self.data_replies:
                return self.data_replies.pop(0)
            mail = email.message_from_bytes(envelope.content, policy=email.policy.default)
            assert isinstance(mail, EmailMessage)
            self.mails.append(mail)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            self._changed.notify_all()
        return "250 Message accepted for delivery"

    def wait_for(self, count: int) -> list[EmailMessage]:
        """The mails, once at least ``count`` have arrived."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.mails) >= count, WAIT):
                raise AssertionError(f"{len(self.mails)} mails arrived, not {count}")
            return list(self.mails)

    def __enter__(self) -> SmtpReceiver:
        self._controller.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._controller.stop()
