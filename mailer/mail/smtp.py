"""An SMTP connection that sorts failures into what the ledger needs to know.

* ``TemporarySMTPError`` — 4xx or a broken connection before DATA: nothing was
  delivered, the same mail may be tried again later.
* ``PermanentSMTPError`` — 5xx: this address will not take it.
* ``InDoubtSMTPError`` — the connection broke after the message was handed
  over: it may have been delivered, so it must never be resent automatically.
"""

from __future__ import annotations

import re
import smtplib
import socket
import ssl
from collections.abc import Callable
from types import TracebackType

from mailer.config import Settings
from mailer.mail.dkim import signed
from mailer.mail.messages import Outgoing
from mailer.mail.pipelining import Reply, Settled, Verdict, settle_envelope, settle_flight


class SMTPFailure(Exception):
    def __init__(self, code: int | None, text: str) -> None:
        super().__init__(f"{code or ''} {text}".strip())
        self.code = code
        self.text = text

    def __reduce__(self) -> tuple[type[SMTPFailure], tuple[int | None, str]]:
        # Celery pickles a task's exception; the default would lose our two arguments.
        return (type(self), (self.code, self.text))


class TemporarySMTPError(SMTPFailure):
    pass


class PermanentSMTPError(SMTPFailure):
    pass


class InDoubtSMTPError(SMTPFailure):
    pass


def _reply_text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


def _classify(code: int, reply: bytes | str) -> SMTPFailure:
    cls = PermanentSMTPError if 500 <= code < 600 else TemporarySMTPError
    return cls(code, _reply_text(reply))


_LEADING_DOT = re.compile(rb"(?m)^\.")


def _content(data: bytes) -> bytes:
    """A message as it goes after DATA's 354: dot-stuffed (RFC 5321 4.5.2; the search is
    cheap, the substitution rarely needed), ending in CRLF and the final dot."""
    payload = _LEADING_DOT.sub(b"..", data) if b"\n." in data or data[:1] == b"." else data
    if not payload.endswith(b"\r\n"):
        payload += b"\r\n"
    return payload + b".\r\n"


def _envelope(message: Outgoing) -> list[bytes]:
    """MAIL, RCPT and DATA of one mail. Plain envelope addresses (validated, ASCII):
    smtplib's mail() and rcpt() would parse each again with email.utils, a tenth of a
    millisecond per mail."""
    commands = [f"MAIL FROM:<{message.sender}>", f"RCPT TO:<{message.recipient}>", "DATA"]
    for command in commands:
        if "\r" in command or "\n" in command:  # as smtplib's putcmd: no command injection
            raise ValueError("prohibited newline characters in an SMTP command")
    return [f"{command}\r\n".encode("ascii") for command in commands]


def _failure(settled: Settled) -> SMTPFailure:
    if settled.verdict is Verdict.IN_DOUBT:
        return InDoubtSMTPError(settled.code, settled.text)
    if settled.verdict is Verdict.PERMANENT:
        return PermanentSMTPError(settled.code, settled.text)
    return TemporarySMTPError(settled.code, settled.text)


# Many servers cap the messages per connection; reconnecting a little early is cheap.
MESSAGES_PER_CONNECTION = 100


class SMTPConnection:
    """One connection, reused for many messages; opened lazily, reopened after a drop."""

    def __init__(
        self,
        settings: Settings,
        timeout: float | None = None,
        max_messages: int = MESSAGES_PER_CONNECTION,
        pipelining: bool = True,
    ) -> None:
        self.settings = settings
        # MAILER_SMTP_TIMEOUT_SECONDS unless a caller needs its own.
        self.timeout = settings.network.smtp_timeout_seconds if timeout is None else timeout
        self.max_messages = max_messages
        self.connections_opened = 0
        self._sent_on_connection = 0
        self._smtp: smtplib.SMTP | None = None
        self.use_pipelining = pipelining
        # Whether the open connection's server offered PIPELINING (RFC 2920).
        self.pipelining = False
        # The next mail's envelope, sent ahead, and what its replies said.
        self._announced: tuple[tuple[str, str], Settled] | None = None

    def __enter__(self) -> SMTPConnection:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _open(self) -> smtplib.SMTP:
        s = self.settings
        try:
            if s.smtp_security == "tls":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    s.smtp_host,
                    s.smtp_port,
                    timeout=self.timeout,
                    context=ssl.create_default_context(),
                )
            else:
                smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=self.timeout)
                if s.smtp_security == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo_or_helo_if_needed()
            if smtp.sock is not None:
                # A pipelined flight is one write; the reply is awaited at once after it,
                # so Nagle would only delay it.
                smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if s.smtp_username:
                smtp.login(s.smtp_username, s.smtp_password)
        except smtplib.SMTPResponseException as exc:
            raise _classify(exc.smtp_code, exc.smtp_error) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise TemporarySMTPError(
                None, f"cannot connect to {s.smtp_host}:{s.smtp_port}: {exc}"
            ) from exc
        return smtp

    def close(self) -> None:
        announced, self._announced = self._announced, None
        if announced is not None and announced[1].verdict is Verdict.ACCEPTED:
            # The server waits for content after our DATA: QUIT would be taken as content.
            self._drop()
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (OSError, smtplib.SMTPException):
                self._smtp.close()
            self._smtp = None

    def _drop(self) -> None:
        self._announced = None
        if self._smtp is not None:
            self._smtp.close()
            self._smtp = None

    def _read(self, smtp: smtplib.SMTP, count: int) -> list[Reply]:
        """Up to ``count`` replies, fewer when the connection breaks first."""
        replies: list[Reply] = []
        try:
            for _ in range(count):
                replies.append(smtp.getreply())
        except (OSError, smtplib.SMTPException):
            pass
        return replies

    def _envelope(self, smtp: smtplib.SMTP, message: Outgoing) -> Settled:
        """MAIL, RCPT and DATA: in one flight when the server offers PIPELINING, else one
        by one, stopping at the first refusal."""
        commands = _envelope(message)
        if self.pipelining:
            try:
                smtp.send(b"".join(commands))
            except (OSError, smtplib.SMTPException):
                return settle_envelope([])
            return settle_envelope(self._read(smtp, 3))
        replies: list[Reply] = []
        for command, allowed in zip(commands, ((250,), (250, 251), (354,)), strict=True):
            try:
                smtp.send(command)
            except (OSError, smtplib.SMTPException):
                return settle_envelope([])  # broken before a refusal: lost
            got = self._read(smtp, 1)
            if not got:
                return settle_envelope([])
            replies += got
            if got[0][0] not in allowed:
                break
        return settle_envelope(replies, pipelined=False)

    def _settle_refusal(self, smtp: smtplib.SMTP, settled: Settled) -> SMTPFailure:
        """The server's own answer, kept even when it hangs up with it (after 421 it closes
        the channel, RFC 5321 3.8); a failed RSET must not turn a refusal into a lost
        connection."""
        if settled.drop:
            self._drop()
        elif settled.reset:
            try:
                smtp.rset()
            except (OSError, smtplib.SMTPException):
                self._drop()
        return _failure(settled)

    def _take_announced(self, message: Outgoing) -> Settled | None:
        """The envelope sent ahead for this mail, if it was this mail's. Any other mail
        finds the server waiting for content it must not get: only hanging up ends that."""
        announced, self._announced = self._announced, None
        if announced is None:
            return None
        (sender, recipient), settled = announced
        if (sender, recipient) == (message.sender, message.recipient):
            if settled.verdict is Verdict.TEMPORARY and settled.code is None:
                # The connection broke before the server said a word about this mail: none
                # of it went out, so it goes on a new connection, as an unannounced mail
                # would after a drop.
                return None
            return settled
        if settled.verdict is Verdict.ACCEPTED or settled.reset:
            self._drop()
        return None

    def send(
        self,
        message: Outgoing,
        meanwhile: Callable[[], None] | None = None,
        before_data: Callable[[], None] | None = None,
        following: Outgoing | None = None,
    ) -> None:
        """Send one mail; ``meanwhile`` (which must not raise) runs while the server
        takes in the message, between its last byte and the server's reply to it;
        ``before_data`` runs once the envelope is accepted, just before the content goes
        out (a sender notes there that the content may now reach the server).

        With PIPELINING, ``following`` (the mail the caller will send next) has its MAIL,
        RCPT and DATA written right behind this mail's content, so each mail costs about
        one round trip; their replies are read with this mail's and kept for that send.
        Only one mail's content is ever out unanswered on a connection."""
        # Every mail, digest or not, is signed on its way out when DKIM is configured.
        message = signed(self.settings, message)
        settled = self._take_announced(message)
        if settled is None:
            if self._smtp is not None and self._sent_on_connection >= self.max_messages:
                self.close()
            if self._smtp is None:
                self._smtp = self._open()
                self.connections_opened += 1
                self._sent_on_connection = 0
                self.pipelining = self.use_pipelining and self._smtp.has_extn("pipelining")
            try:
                self._smtp.ehlo_or_helo_if_needed()
            except (OSError, smtplib.SMTPException) as exc:
                self._drop()
                raise TemporarySMTPError(None, f"connection lost before DATA: {exc}") from exc
            settled = self._envelope(self._smtp, message)
        smtp = self._smtp
        if smtp is None:  # dropped while the envelope was settled
            raise _failure(settled)
        if settled.verdict is not Verdict.ACCEPTED:
            raise self._settle_refusal(smtp, settled)
        if before_data is not None:
            before_data()
        payload = _content(message.data)
        announce = (
            following is not None
            and self.pipelining
            and self._sent_on_connection + 1 < self.max_messages
        )
        if following is not None and announce:
            # Only the envelope goes ahead (signing leaves it as it is).
            payload += b"".join(_envelope(following))
        try:
            smtp.send(payload)
        except (OSError, smtplib.SMTPException) as exc:
            self._drop()
            raise InDoubtSMTPError(None, f"connection lost during DATA: {exc}") from exc
        try:
            if meanwhile is not None:
                meanwhile()
        finally:
            # Whatever happened meanwhile, the replies are read: the connection stays in step.
            replies = self._read(smtp, 4 if announce else 1)
        outcome = settle_flight(replies, content_sent=True, envelope_sent=announce)
        content = outcome.content
        assert content is not None
        if content.drop or (outcome.envelope is not None and outcome.envelope.drop):
            self._drop()
        if following is not None and outcome.envelope is not None:
            self._announced = ((following.sender, following.recipient), outcome.envelope)
        if content.verdict is not Verdict.SENT:
            raise _failure(content)
        self._sent_on_connection += 1
