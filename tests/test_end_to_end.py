"""The whole path on real parts: form → confirmation → feed → digest → one-click unsubscribe."""

from __future__ import annotations

from datetime import UTC, datetime
from email.header import decode_header, make_header

from sqlalchemy import select

from mailer.subscribers.models import Subscriber, Subscription
from tests.harness.feeds import CLOAK_NOTICE, Item, default_items, rss
from tests.harness.pages import csrf_token, links

KARE = "kåre@ødegård.example.no"
KARE_ASCII = "kåre@xn--degrd-uua6p.example.no"


def _signup_form(client, email: str, name: str, language: str = "nb") -> None:
    page = client.get("/subscribe")
    assert page.status_code == 200
    response = client.post(
        "/subscribe",
        data={
            "email": email,
            "name": name,
            "consent": "on",
            "language": language,
            "csrf_token": csrf_token(page.get_data(as_text=True)),
        },
    )
    assert response.status_code == 200, response.get_data(as_text=True)


def _confirm_from_mail(client, smtp_sink, address: str) -> None:
    [mail] = smtp_sink.to(address)
    [url] = set(links(mail.part("text/plain"), "/confirm/"))
    path = url.removeprefix("https://nyhetsbrev.example.no")
    # A link scanner's GET shows the button and confirms nothing.
    assert client.get(path).status_code == 200
    assert client.post(path).status_code == 200


def _status(session, email: str) -> str:
    session.expire_all()
    return session.scalars(
        select(Subscription.status).join(Subscriber).where(Subscriber.email == email)
    ).one()


def _digests(smtp_sink):
    # Digests carry List-Id; confirmation mails do not.
    return [m for m in smtp_sink.messages if m.message["List-Id"]]


def test_signup_confirm_digest_unsubscribe(
    client, cli, session, smtp_sink, celery_worker, feed_server
):
    # The email-validator keeps non-ASCII local parts out; the IDN domain goes to punycode.
    kare = "kare@ødegård.example.no"
    kare_stored = "kare@" + "ødegård".encode("idna").decode() + ".example.no"
    _signup_form(client, kare, "Kåre Ødegård")
    _signup_form(client, "ingrid@example.no", "Ingrid Åsland", language="en")
    api = client.post(
        "/api/v1/subscribers",
        json={"email": "per@example.no", "name": "Per", "consent": True},
    )
    assert api.status_code == 202
    smtp_sink.wait_for(3)
    assert _status(session, kare_stored) == "pending"

    confirmation = smtp_sink.to(kare_stored)[0]
    assert "Kåre Ødegård" in str(confirmation.message["To"])
    _confirm_from_mail(client, smtp_sink, kare_stored)
    _confirm_from_mail(client, smtp_sink, "ingrid@example.no")
    assert _status(session, kare_stored) == "active"
    assert _status(session, "per@example.no") == "pending"  # never confirmed: gets no digest

    feed_server.body = rss(default_items())
    result = cli.invoke(args=["articles", "import-feed", feed_server.url])
    assert result.exit_code == 0, result.output
    assert "3 new" in result.output

    drafted = cli.invoke(args=["digest", "draft"])
    assert drafted.exit_code == 0, drafted.output
    issue_id = int(drafted.output.strip().splitlines()[-1])
    smtp_sink.clear()
    sent = cli.invoke(args=["digest", "send", str(issue_id), "--yes"])
    assert sent.exit_code == 0, sent.output

    digests = _digests(smtp_sink)
    assert sorted(r for m in digests for r in m.rcpt_tos) == sorted(
        [kare_stored, "ingrid@example.no"]
    )
    mail = next(m for m in digests if kare_stored in m.rcpt_tos)
    headers = mail.message
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert headers["List-Id"]
    assert headers["Message-ID"] and headers["Date"]
    assert all(b < 0x80 for b in mail.data.split(b"\r\n\r\n", 1)[0])
    assert str(
        make_header(decode_header(mail.data.split(b"\r\nTo: ", 1)[1].split(b"\r\n")[0].decode()))
    ).startswith("Kåre Ødegård")
    assert [p.get_content_type() for p in headers.iter_parts()] == ["text/plain", "text/html"]
    text = mail.part("text/plain")
    assert "Fjordbyer deler klimaløsninger" in text and "«Vi lærer mest av hverandre»" in text
    assert "beskyttet mot programmer" not in text and "document.getElementById" not in text
    assert "Hei Kåre Ødegård," in text
    [one_click] = links(str(headers["List-Unsubscribe"]), "/unsubscribe/")
    assert one_click.rstrip(">") in text and one_click.rstrip(">") in mail.part("text/html")

    # RFC 8058 one-click: a bare POST with no cookie and no CSRF token unsubscribes.
    client.delete_cookie("session")
    path = one_click.rstrip(">").removeprefix("https://nyhetsbrev.example.no")
    response = client.post(
        path,
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    assert _status(session, kare_stored) == "unsubscribed"

    # A new article arrives; the next digest goes to the one reader who stayed.
    now = datetime.now(UTC)
    newer = Item(
        "ny-artikkel",
        "Ørsta og Ålesund med i europeisk havprosjekt",
        "<p>To kommuner på Sunnmøre er med i et nytt prosjekt om havbruk.</p>",
        now,
    )
    feed_server.body = rss([newer, *default_items(now)])
    assert cli.invoke(args=["articles", "import-feed", feed_server.url]).exit_code == 0
    drafted = cli.invoke(args=["digest", "draft"])
    assert drafted.exit_code == 0, drafted.output
    second_id = int(drafted.output.strip().splitlines()[-1])
    smtp_sink.clear()
    assert cli.invoke(args=["digest", "send", str(second_id), "--yes"]).exit_code == 0
    digests = _digests(smtp_sink)
    assert [m.rcpt_tos for m in digests] == [["ingrid@example.no"]]
    assert "Ørsta og Ålesund" in digests[0].part("text/plain")
    assert "Fjordbyer" not in digests[0].part("text/plain")
    assert CLOAK_NOTICE not in digests[0].part("text/html")
