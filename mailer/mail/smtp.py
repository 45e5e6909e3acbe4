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
import ssl
from collections.abc import Callable
from types import TracebackType

from mailer.config import Settings
from mailer.mail.dkim import signed
from mailer.mail.messages import Outgoing


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


def _data(
    smtp: smtplib.SMTP, data: bytes, meanwhile: Callable[[], None] | None
) -> tuple[int, bytes]:
    """smtplib's ``SMTP.data`` for bytes that already end lines in CRLF, with a pause
    between handing the message over and reading the reply: the server needs a while
    to take a message in, and the caller can prepare the next one in that time."""
    code, reply = smtp.docmd("data")
    if code != 354:
        raise smtplib.SMTPDataError(code, reply)
    # Dot-stuffing (RFC 5321 4.5.2); the search is cheap, the substitution rarely needed.
    payload = _LEADING_DOT.sub(b"..", data) if b"\n." in data or data[:1] == b"." else data
    if not payload.endswith(b"\r\n"):
        payload += b"\r\n"
    smtp.send(payload + b".\r\n")
    try:
        if meanwhile is not None:
            meanwhile()
    finally:
        # Whatever happened meanwhile, the reply is read: the connection stays in step.
        code, reply = smtp.getreply()
    return code, reply


def _command(smtp: smtplib.SMTP, verb: str, argument: str) -> tuple[int, bytes]:
    smtp.putcmd(verb, argument)  # putcmd refuses CR and LF: no command injection
    return smtp.getreply()


# Many servers cap the messages per connection; reconnecting a little early is cheap.
MESSAGES_PER_CONNECTION = 100
# The longest one SMTP step (connect, a command's reply) may take.
TIMEOUT_SECONDS = 60.0


class SMTPConnection:
    """One connection, reused for many messages; opened lazily, reopened after a drop."""

    def __init__(
        self,
        settings: Settings,
        timeout: float = TIMEOUT_SECONDS,
        max_messages: int = MESSAGES_PER_CONNECTION,
    ) -> None:
        self.settings = settings
        self.timeout = timeout
        self.max_messages = max_messages
        self.connections_opened = 0
        self._sent_on_connection = 0
        self._smtp: smtplib.SMTP | None = None

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
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (OSError, smtplib.SMTPException):
                self._smtp.close()
            self._smtp = None

    def _drop(self) -> None:
        if self._smtp is not None:
            self._smtp.close()
            self._smtp = None

    def _refused(self, smtp: smtplib.SMTP, code: int, reply: bytes) -> SMTPFailure:
        """The server's own answer, kept even when it hangs up with it: after 421 it
        closes the channel (RFC 5321 3.8), and a failed RSET must not turn a refusal
        into a lost connection."""
        failure = _classify(code, reply)
        if code != 421:
            try:
                smtp.rset()
            except (OSError, smtplib.SMTPException):
                self._drop()
        return failure

    def send(
        self,
        message: Outgoing,
        meanwhile: Callable[[], None] | None = None,
        before_data: Callable[[], None] | None = None,
    ) -> None:
        """Send one mail; ``meanwhile`` (which must not raise) runs while the server
        takes in the message, between its last byte and the server's reply to it;
        ``before_data`` runs once the envelope is accepted, just before DATA (a sender
        notes there that the content may now reach the server)."""
        # Every mail, digest or not, is signed on its way out when DKIM is configured.
        message = signed(self.settings, message)
        if self._smtp is not None and self._sent_on_connection >= self.max_messages:
            self.close()
        if self._smtp is None:
            self._smtp = self._open()
            self.connections_opened += 1
            self._sent_on_connection = 0
        smtp = self._smtp
        # MAIL and RCPT separately from DATA: a failure before DATA is safe to retry,
        # one during or after it is in doubt.
        try:
            smtp.ehlo_or_helo_if_needed()
            # Plain envelope addresses (validated, ASCII): smtplib's mail() and rcpt() would
            # parse each again with email.utils, a tenth of a millisecond per mail.
            code, reply = _command(smtp, "mail", f"FROM:<{message.sender}>")
            if code != 250:
                raise self._refused(smtp, code, reply)
            code, reply = _command(smtp, "rcpt", f"TO:<{message.recipient}>")
            if code not in (250, 251):
                raise self._refused(smtp, code, reply)
        except SMTPFailure as failure:
            if failure.code == 421:
                self._drop()
            raise
        except (OSError, smtplib.SMTPException) as exc:
            self._drop()
            raise TemporarySMTPError(None, f"connection lost before DATA: {exc}") from exc
        if before_data is not None:
            before_data()
        try:
            code, reply = _data(smtp, message.data, meanwhile)
        except smtplib.SMTPDataError as exc:
            if exc.smtp_code == 421:
                self._drop()
            raise _classify(exc.smtp_code, exc.smtp_error) from exc
        except (OSError, smtplib.SMTPException) as exc:
            self._drop()
            raise InDoubtSMTPError(None, f"connection lost during DATA: {exc}") from exc
        if code != 250:
            raise _classify(code, reply)
        self._sent_on_connection += 1
