"""Provider webhooks with the test's own keys: SES through SNS (signature versions 1 and 2,
certificate fetched over HTTPS from a loopback server through the guarded fetcher,
subscription confirmed), Mailgun (HMAC, replay window), Postmark (basic auth)."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from mailer.bounces import service
from mailer.bounces.models import BounceReport
from mailer.subscribers.models import Subscription
from tests.bounces.scenario import send_digest
from tests.bounces.signing import TOPIC, CertServer, SigningKey, sns_notification
from tests.harness.apps import other_app

# More examples with the large hypothesis profile (.ci/run), as every property here.
IN_CI = os.environ.get("MAILER_HYPOTHESIS_PROFILE", "").strip() == "large"
MAILGUN_KEY = "key-mailgun-test-0123456789"
POSTMARK = ("postmark-hook", "hemmelig-passord-æøå")


@pytest.fixture(scope="module")
def signing() -> SigningKey:
    return SigningKey()


@pytest.fixture(scope="module")
def cert_server(tmp_path_factory, signing) -> Iterator[CertServer]:
    server = CertServer(tmp_path_factory.mktemp("sns-pki"), signing).start()
    yield server
    server.stop()


@pytest.fixture
def hooks_app(app: Flask, session, cert_server) -> Iterator[Flask]:
    rt = app.extensions["mailer"]
    bounces = dataclasses.replace(
        rt.settings.bounces,
        ses_topic_arns=(TOPIC,),
        sns_cert_host="localhost",
        sns_cert_port=cert_server.port,
        sns_cert_ca=str(cert_server.ca_file),
        mailgun_signing_key=MAILGUN_KEY,
        postmark_user=POSTMARK[0],
        postmark_password=POSTMARK[1],
    )
    with other_app(app, dataclasses.replace(rt.settings, bounces=bounces)) as hooked:
        yield hooked


def _process_all(rt) -> None:
    with rt.db.session() as s:
        for report_id in s.scalars(select(BounceReport.id).where(BounceReport.status == "stored")):
            service.process_report(s, rt.settings, rt.tokens, report_id)


def _status(rt, subscription_id: int) -> str:
    with rt.db.session() as s:
        return s.get(Subscription, subscription_id).status


def _reports(rt) -> int:
    with rt.db.session() as s:
        return s.scalar(select(func.count()).select_from(BounceReport)) or 0


def _ses_bounce(email: str, status: str = "5.1.1", kind: str = "Permanent") -> dict[str, Any]:
    return {
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": kind,
            "bounceSubType": "General",
            "bouncedRecipients": [
                {
                    "emailAddress": email,
                    "status": status,
                    "action": "failed",
                    "diagnosticCode": f"smtp; 550 {status} user unknown",
                }
            ],
        },
        "mail": {
            "messageId": "0100018c-ses-id",
            "source": "nyhetsbrev@europakontor.example.no",
            "headers": [{"name": "List-Unsubscribe", "value": "<https://x/unsubscribe/SECRET>"}],
        },
    }


def _ses_complaint(email: str) -> dict[str, Any]:
    return {
        "notificationType": "Complaint",
        "complaint": {
            "complainedRecipients": [{"emailAddress": email}],
            "complaintFeedbackType": "abuse",
        },
        "mail": {"messageId": "0100018c-ses-id-2"},
    }


def _post_json(client, path: str, body: Any, **kwargs):
    return client.post(
        path, data=json.dumps(body), content_type="text/plain; charset=UTF-8", **kwargs
    )


# --- SES -------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1", "2"])
def test_a_signed_ses_bounce_bounces_the_reader(
    session, rt, smtp_sink, hooks_app, cert_server, signing, version
):
    _, copies = send_digest(session, rt, smtp_sink, ["borte@example.no", "her@example.no"])
    message = signing.sign(
        sns_notification(cert_server, _ses_bounce("borte@example.no"), f"sns-{version}"), version
    )
    response = _post_json(hooks_app.test_client(), "/webhooks/ses", message)
    assert response.status_code == 200, response.get_data(as_text=True)
    # The signing certificate came from the loopback HTTPS server (guarded fetcher, our CA).
    assert any(p.endswith(".pem") for p in cert_server.requests)
    with rt.db.session() as s:
        stored = s.scalars(select(BounceReport)).one()
        assert "SECRET" not in stored.content  # the mail's own headers are not kept
    _process_all(rt)
    assert _status(rt, copies["borte@example.no"].subscription.id) == "bounced"
    assert _status(rt, copies["her@example.no"].subscription.id) == "active"


def test_a_signed_ses_complaint_marks_the_reader_complained(
    session, rt, smtp_sink, hooks_app, cert_server, signing
):
    _, copies = send_digest(session, rt, smtp_sink, ["klager@example.no"])
    message = signing.sign(
        sns_notification(cert_server, _ses_complaint("klager@example.no"), "sns-c"), "2"
    )
    assert _post_json(hooks_app.test_client(), "/webhooks/ses", message).status_code == 200
    _process_all(rt)
    assert _status(rt, copies["klager@example.no"].subscription.id) == "complained"


def test_the_same_sns_message_twice_is_stored_once(
    session, rt, smtp_sink, hooks_app, cert_server, signing
):
    message = signing.sign(sns_notification(cert_server, _ses_bounce("x@example.no"), "dup"))
    client = hooks_app.test_client()
    assert [_post_json(client, "/webhooks/ses", message).json["new"] for _ in range(2)] == [
        True,
        False,
    ]
    assert _reports(rt) == 1


def test_forged_unsigned_and_stale_sns_messages_are_refused(
    session, rt, smtp_sink, hooks_app, cert_server, signing
):
    _, copies = send_digest(session, rt, smtp_sink, ["her@example.no"])
    client = hooks_app.test_client()
    good = sns_notification(cert_server, _ses_bounce("her@example.no"), "sns-f")
    forged = SigningKey().sign(good)  # signed, but not by the key behind the certificate
    unsigned = dict(good)
    tampered = signing.sign(good)
    tampered["Message"] = json.dumps(_ses_complaint("her@example.no"))
    stale = signing.sign(
        {
            **good,
            "Timestamp": (datetime.now(UTC) - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        }
    )
    other_topic = signing.sign({**good, "TopicArn": "arn:aws:sns:eu-north-1:1:other"})
    for message in (forged, unsigned, tampered, stale, other_topic):
        response = _post_json(client, "/webhooks/ses", message)
        assert response.status_code == 403, message
        assert "signature" in response.json["errors"]
    assert _reports(rt) == 0
    assert _status(rt, copies["her@example.no"].subscription.id) == "active"


def test_a_certificate_url_on_another_host_is_never_fetched(
    session, rt, hooks_app, cert_server, signing
):
    before = list(cert_server.requests)
    for url in (
        f"https://127.0.0.1:{cert_server.port}/evil.pem",  # not the SNS host
        f"http://localhost:{cert_server.port}/cert.pem",  # not https
        f"https://localhost:{cert_server.port + 1}/cert.pem",  # another port
        f"https://localhost:{cert_server.port}/cert.txt",  # not a certificate
        f"https://localhost.evil.example:{cert_server.port}/cert.pem",
    ):
        message = sns_notification(cert_server, _ses_bounce("x@example.no"), "sns-h")
        message["SigningCertURL"] = url
        response = _post_json(hooks_app.test_client(), "/webhooks/ses", signing.sign(message))
        assert response.status_code == 403, url
    assert cert_server.requests == before
    assert _reports(rt) == 0


def test_a_subscription_confirmation_is_confirmed_through_the_guarded_fetcher(
    session, rt, hooks_app, cert_server, signing
):
    message = signing.sign(
        {
            "Type": "SubscriptionConfirmation",
            "MessageId": "sub-1",
            "Token": "tok-123",
            "TopicArn": TOPIC,
            "Message": "You have chosen to subscribe to the topic.",
            "SubscribeURL": cert_server.url("/confirm?Action=ConfirmSubscription&Token=tok-123"),
            "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "SigningCertURL": cert_server.url("/SimpleNotificationService-test.pem"),
        },
        "2",
    )
    response = _post_json(hooks_app.test_client(), "/webhooks/ses", message)
    assert response.status_code == 200 and response.json["status"] == "subscribed"
    assert "/confirm?Action=ConfirmSubscription&Token=tok-123" in cert_server.requests


def test_webhooks_without_their_secret_are_404(session, app):
    client = app.test_client()
    for path in ("/webhooks/ses", "/webhooks/mailgun", "/webhooks/postmark"):
        assert client.post(path, data="{}").status_code == 404


# --- Mailgun ---------------------------------------------------------------------------------


def _mailgun(
    event: dict[str, Any],
    timestamp: float | None = None,
    key: str = MAILGUN_KEY,
    token: str = "tok-0123456789abcdef0123456789abcdef0123456789ab",
) -> dict[str, Any]:
    stamp = str(int(timestamp if timestamp is not None else time.time()))
    signature = hmac.new(key.encode(), (stamp + token).encode(), hashlib.sha256).hexdigest()
    return {
        "signature": {"timestamp": stamp, "token": token, "signature": signature},
        "event-data": event,
    }


def _mailgun_failed(email: str, severity: str = "permanent") -> dict[str, Any]:
    return {
        "id": f"mg-{email}-{severity}",
        "event": "failed",
        "severity": severity,
        "recipient": email,
        "reason": "bounce",
        "delivery-status": {"code": 550, "enhanced-code": "5.1.1", "message": "No such user"},
    }


def test_a_signed_mailgun_failure_bounces_the_reader(session, rt, smtp_sink, hooks_app):
    _, copies = send_digest(session, rt, smtp_sink, ["borte@example.no"])
    client = hooks_app.test_client()
    body = _mailgun(_mailgun_failed("borte@example.no"))
    assert client.post("/webhooks/mailgun", json=body).status_code == 200
    assert client.post("/webhooks/mailgun", json=body).json["new"] is False  # a retry
    _process_all(rt)
    assert _status(rt, copies["borte@example.no"].subscription.id) == "bounced"
    assert _reports(rt) == 1


def test_forged_and_replayed_mailgun_calls_are_refused(session, rt, smtp_sink, hooks_app):
    _, copies = send_digest(session, rt, smtp_sink, ["her@example.no"])
    client = hooks_app.test_client()
    event = _mailgun_failed("her@example.no")
    for body in (
        _mailgun(event, key="not-the-key"),
        _mailgun(event, timestamp=time.time() - 3600),  # captured an hour ago, sent again
        {"event-data": event},  # unsigned
    ):
        response = client.post("/webhooks/mailgun", json=body)
        assert response.status_code == 403
    assert _reports(rt) == 0
    assert _status(rt, copies["her@example.no"].subscription.id) == "active"


# --- Postmark --------------------------------------------------------------------------------


def _basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def test_postmark_with_basic_auth_records_a_complaint(session, rt, smtp_sink, hooks_app):
    _, copies = send_digest(session, rt, smtp_sink, ["klager@example.no"])
    body = {
        "RecordType": "SpamComplaint",
        "Type": "SpamComplaint",
        "ID": 42,
        "Email": "klager@example.no",
        "Content": "the returned mail with PERSONAL links",
    }
    response = hooks_app.test_client().post(
        "/webhooks/postmark", json=body, headers=_basic(*POSTMARK)
    )
    assert response.status_code == 200
    with rt.db.session() as s:
        assert "PERSONAL" not in s.scalars(select(BounceReport.content)).one()
    _process_all(rt)
    assert _status(rt, copies["klager@example.no"].subscription.id) == "complained"


def test_postmark_without_the_password_is_refused(session, rt, hooks_app):
    client = hooks_app.test_client()
    body = {"RecordType": "Bounce", "Type": "HardBounce", "Email": "x@example.no"}
    for headers in (_basic(POSTMARK[0], "feil"), {}, {"Authorization": "Basic !!!"}):
        response = client.post("/webhooks/postmark", json=body, headers=headers)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert _reports(rt) == 0


# --- size: up to MAILER_BOUNCE_MAX_BYTES (10 MB) here, the app's small limit elsewhere -------

FORM_LIMIT = 256 * 1024


def test_a_signed_ses_bounce_larger_than_the_app_limit_is_taken_and_processed(
    session, rt, smtp_sink, hooks_app, cert_server, signing
):
    """Failed with the app's 256 KB limit on every route (413 for a real SES event that
    carries a long mail's headers)."""
    _, copies = send_digest(session, rt, smtp_sink, ["borte@example.no"])
    notification = _ses_bounce("borte@example.no")
    notification["mail"]["headers"] = [
        {"name": f"X-Trace-{i}", "value": "x" * 990} for i in range(400)
    ]
    message = signing.sign(sns_notification(cert_server, notification, "sns-big"), "2")
    body = json.dumps(message)
    assert len(body) > FORM_LIMIT
    response = hooks_app.test_client().post(
        "/webhooks/ses", data=body, content_type="text/plain; charset=UTF-8"
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    _process_all(rt)
    assert _status(rt, copies["borte@example.no"].subscription.id) == "bounced"


def _postmark_of(size: int) -> bytes:
    """A Postmark bounce of exactly ``size`` bytes (its "Content", the returned mail, is
    never kept)."""
    head = b'{"RecordType": "Bounce", "Type": "HardBounce", "Email": "x@example.no", "Content": "'
    tail = b'"}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


def test_webhook_bodies_up_to_10_mb_are_taken_and_larger_ones_are_413(session, rt, hooks_app):
    limit = rt.settings.bounces.max_bytes
    assert limit == 10 * 1024 * 1024
    client = hooks_app.test_client()
    at_limit = client.post(
        "/webhooks/postmark",
        data=_postmark_of(limit),
        headers=_basic(*POSTMARK),
        content_type="application/json",
    )
    assert at_limit.status_code == 200, at_limit.get_data(as_text=True)
    assert _reports(rt) == 1
    for path, headers in (
        ("/webhooks/postmark", _basic(*POSTMARK)),
        ("/webhooks/mailgun", {}),
        ("/webhooks/ses", {}),
    ):
        response = client.post(
            path, data=_postmark_of(limit + 1), headers=headers, content_type="application/json"
        )
        assert response.status_code == 413, path
        assert response.json["errors"]["body"] == (
            "the body is larger than 10485760 bytes (MAILER_BOUNCE_MAX_BYTES)"
        )
    assert _reports(rt) == 1
    # Every other route keeps the app's limit.
    other = client.post(
        "/api/v1/subscribers", data=b"{" + b" " * FORM_LIMIT + b"}", content_type="application/json"
    )
    assert other.status_code == 413


# --- hostile input ---------------------------------------------------------------------------


@settings(
    max_examples=300 if IN_CI else 40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    path=st.sampled_from(["/webhooks/ses", "/webhooks/mailgun", "/webhooks/postmark"]),
    body=st.one_of(
        st.binary(max_size=2000),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=50),
            lambda inner: (
                st.lists(inner, max_size=4)
                | st.dictionaries(
                    st.sampled_from(
                        [
                            "Type",
                            "Message",
                            "signature",
                            "event-data",
                            "RecordType",
                            "SignatureVersion",
                            "Signature",
                            "TopicArn",
                            "Timestamp",
                            "SigningCertURL",
                            "timestamp",
                            "token",
                            "Email",
                        ]
                    ),
                    inner,
                    max_size=6,
                )
            ),
            max_leaves=12,
        ).map(lambda v: json.dumps(v).encode()),
    ),
    auth=st.booleans(),
)
def test_arbitrary_bodies_never_give_a_500_nor_change_a_reader(
    session, rt, smtp_sink, hooks_app, path, body, auth
):
    if not session.scalar(select(func.count()).select_from(Subscription)):
        send_digest(session, rt, smtp_sink, ["her@example.no"])
    headers = _basic(*POSTMARK) if auth else {}
    response = hooks_app.test_client().post(path, data=body, headers=headers)
    assert response.status_code < 500
    _process_all(rt)
    with rt.db.session() as s:
        assert set(s.scalars(select(Subscription.status))) == {"active"}
