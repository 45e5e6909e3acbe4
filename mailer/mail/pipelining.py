"""The reply bookkeeping of SMTP PIPELINING (RFC 2920), kept apart from the socket so
that it can be tested on every possible reply stream.

With PIPELINING the client sends a mail's MAIL, RCPT and DATA in one flight, right
behind the previous mail's content and its final dot; the server answers them in order.
One flight therefore expects, in this order:

    the previous mail's end-of-data reply (if a mail's content went out), then
    MAIL, RCPT and DATA of the next mail (if one was announced).

A reply that never came (the connection broke) decides by where it was missing:

* the end-of-data reply of a mail whose content went out → in doubt (the server may have
  it), never lost and never retried automatically;
* a reply to MAIL, RCPT or DATA → temporary: no content of that mail went out.

A refusal of one mail's envelope (say 550 to its RCPT) fails that mail alone; the
connection is kept, after RSET when the server still holds the mail's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

Reply = tuple[int, bytes]


class Verdict(Enum):
    ACCEPTED = "accepted"  # envelope: the server waits for the content (354)
    SENT = "sent"  # content: answered 250
    TEMPORARY = "temporary"  # 4xx, or lost before the content went out
    PERMANENT = "permanent"  # 5xx
    IN_DOUBT = "in doubt"  # content out, the answer never came


@dataclass(frozen=True)
class Settled:
    """What one mail's replies say, and what the connection must do next."""

    verdict: Verdict
    code: int | None
    text: str
    # The connection is unusable (421, a reply missing, or the server stuck in DATA
    # mode after a refused envelope): close it without another word.
    drop: bool = False
    # The server holds an open transaction (MAIL accepted, the mail refused later):
    # RSET before the next MAIL.
    reset: bool = False


def _text(reply: bytes) -> str:
    return reply.decode("utf-8", "replace")


def _refused(code: int) -> Verdict:
    return Verdict.PERMANENT if 500 <= code < 600 else Verdict.TEMPORARY


def settle_envelope(replies: list[Reply], *, pipelined: bool = True) -> Settled:
    """The replies to MAIL, RCPT and DATA of one mail, as many as came: fewer than three
    when the connection broke, or (not ``pipelined``) when the client stopped at the first
    refusal."""
    expected = ((250,), (250, 251), (354,))
    for step, allowed in enumerate(expected):
        if step >= len(replies):
            return Settled(Verdict.TEMPORARY, None, "connection lost before DATA", drop=True)
        code, text = replies[step]
        if code in allowed:
            continue
        # The first refusal is the reason; the later replies are its echo (503 "need
        # RCPT", 554 "no valid recipients"). A server that still answered 354 to DATA
        # now waits for content it must not get: only hanging up ends that.
        stuck = len(replies) == 3 and replies[2][0] == 354
        lost = pipelined and len(replies) < 3
        return Settled(
            _refused(code),
            code,
            _text(text),
            drop=code == 421 or stuck or lost,
            reset=step > 0 and not (code == 421 or stuck or lost),
        )
    return Settled(Verdict.ACCEPTED, 354, _text(replies[2][1]))


def settle_content(reply: Reply | None) -> Settled:
    """The end-of-data reply of a mail whose content went out; None when it never came."""
    if reply is None:
        return Settled(Verdict.IN_DOUBT, None, "connection lost after the content", drop=True)
    code, text = reply
    if code == 250:
        return Settled(Verdict.SENT, 250, _text(text))
    return Settled(_refused(code), code, _text(text), drop=code == 421)


@dataclass(frozen=True)
class FlightOutcome:
    """One flight's replies sorted out: the mail whose content went out, and the next
    mail whose envelope was announced."""

    content: Settled | None
    envelope: Settled | None


def settle_flight(
    replies: list[Reply], *, content_sent: bool, envelope_sent: bool
) -> FlightOutcome:
    """The replies of one flight, in the order they came, possibly cut short."""
    position = 0
    content = None
    if content_sent:
        content = settle_content(replies[0] if replies else None)
        position = 1
    envelope = None
    if envelope_sent:
        if content is not None and content.verdict is Verdict.IN_DOUBT:
            envelope = Settled(Verdict.TEMPORARY, None, "connection lost before DATA", drop=True)
        else:
            envelope = settle_envelope(replies[position : position + 3])
    return FlightOutcome(content, envelope)
