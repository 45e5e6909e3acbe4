"""Returned mail as MTAs and mailbox providers write it (RFC 3464 DSNs, RFC 5965 ARF in
Yahoo's and Microsoft's shapes), written from the RFCs and the providers' public docs."""

from __future__ import annotations

RETURNED_BODY = "Hei!\r\nMeld deg av: https://nyhetsbrev.example.no/unsubscribe/PERSONAL-TOKEN\r\n"


def returned_headers(message_id: str, to: str = "leser@example.no") -> str:
    return (
        f"From: Europakontoret <nyhetsbrev@europakontor.example.no>\r\n"
        f"To: {to}\r\n"
        f"Subject: =?utf-8?q?Nyhetsbrev_for_m=C3=A5neden?=\r\n"
        f"Message-ID: {message_id}\r\n"
        f"List-Unsubscribe: <https://nyhetsbrev.example.no/unsubscribe/PERSONAL-TOKEN>\r\n"
    )


def dsn(
    *,
    to: str,
    recipient: str = "leser@example.no",
    action: str = "failed",
    status: str = "5.1.1",
    diagnostic: str = "smtp; 550 5.1.1 <leser@example.no>: Recipient address rejected",
    message_id: str = "<x@europakontor.example.no>",
) -> bytes:
    """An RFC 3464 report as Postfix writes it, the returned mail attached whole."""
    return (
        "From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\r\n"
        f"To: {to}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B1"\r\n'
        "\r\n"
        "--B1\r\nContent-Type: text/plain\r\n\r\n"
        "I'm sorry to have to inform you that your message could not be delivered.\r\n"
        "--B1\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.net\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\n"
        f"Action: {action}\r\n"
        f"Status: {status}\r\n"
        f"Diagnostic-Code: {diagnostic}\r\n"
        "\r\n"
        "--B1\r\nContent-Type: message/rfc822\r\n\r\n"
        + returned_headers(message_id, recipient)
        + "\r\n"
        + RETURNED_BODY
        + "--B1--\r\n"
    ).encode()


def arf_yahoo(
    *, message_id: str, recipient: str = "leser@example.no", to: str = "fbl@europakontor.example.no"
) -> bytes:
    """Yahoo's complaint feedback loop: RFC 5965 with the whole original attached."""
    return (
        "From: feedbackloop@comcast.yahoo.example\r\n"
        f"To: {to}\r\n"
        "Subject: FW: Nyhetsbrev\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="ARF"\r\n'
        "\r\n"
        "--ARF\r\nContent-Type: text/plain\r\n\r\n"
        "This is an email abuse report for an email message received from IP 192.0.2.1\r\n"
        "--ARF\r\nContent-Type: message/feedback-report\r\n\r\n"
        "Feedback-Type: abuse\r\n"
        "User-Agent: Yahoo!-Mail-Feedback/2.0\r\n"
        "Version: 1\r\n"
        "Original-Mail-From: <nyhetsbrev@europakontor.example.no>\r\n"
        f"Original-Rcpt-To: <{recipient}>\r\n"
        "Source-IP: 192.0.2.1\r\n"
        "\r\n"
        "--ARF\r\nContent-Type: message/rfc822\r\nContent-Disposition: inline\r\n\r\n"
        + returned_headers(message_id, recipient)
        + "\r\n"
        + RETURNED_BODY
        + "--ARF--\r\n"
    ).encode()


def arf_microsoft(*, message_id: str, to: str = "fbl@europakontor.example.no") -> bytes:
    """Microsoft's JMRP: multipart/report of feedback-report with the address redacted
    and no Feedback-Type value beyond "abuse"; the original's headers only."""
    return (
        "From: staff@hotmail.example\r\n"
        f"To: {to}\r\n"
        "Subject: complaint about message from 192.0.2.1\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="JMRP"\r\n'
        "\r\n"
        "--JMRP\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
        "This is an email abuse report.\r\n"
        "--JMRP\r\nContent-Type: message/feedback-report\r\n\r\n"
        "Feedback-Type: abuse\r\n"
        "User-Agent: Hotmail FBL\r\n"
        "Version: 1\r\n"
        "Original-Rcpt-To: redacted@hotmail.example\r\n"
        "\r\n"
        "--JMRP\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        + returned_headers(message_id, "redacted@hotmail.example")
        + "\r\n--JMRP--\r\n"
    ).encode()
