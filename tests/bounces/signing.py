"""The test's own PKI: a CA and a TLS certificate for localhost it issued (served by a
loopback HTTPS server for the SNS verifier, and by the test Dovecot for imaps://), and a
signing key + certificate SNS-style messages are signed with."""

from __future__ import annotations

import base64
import ipaddress
import json
import ssl
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

TOPIC = "arn:aws:sns:eu-north-1:123456789012:mailer-bounces"


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _cert(
    subject: str, key: rsa.RSAPrivateKey, issuer: str, issuer_key: rsa.RSAPrivateKey, ca: bool
) -> x509.Certificate:
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.IPv4Address("127.0.0.1"))]
            ),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


class SigningKey:
    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.pem = _pem(_cert("sns.test", self.key, "sns.test", self.key, ca=False))

    def sign(self, message: dict[str, Any], version: str = "1") -> dict[str, Any]:
        names = (
            ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
            if message["Type"] in ("SubscriptionConfirmation", "UnsubscribeConfirmation")
            else ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
        )
        text = "".join(f"{n}\n{message[n]}\n" for n in names if n in message)
        algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
        signature = self.key.sign(text.encode("utf-8"), padding.PKCS1v15(), algorithm)
        return {
            **message,
            "SignatureVersion": version,
            "Signature": base64.b64encode(signature).decode("ascii"),
        }


@dataclass(frozen=True)
class ServerPKI:
    """The test's own CA and a server certificate it issued for localhost and 127.0.0.1."""

    ca_file: Path
    cert_file: Path
    key_file: Path


def server_pki(directory: Path, ca_name: str = "mailer test CA") -> ServerPKI:
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca = _cert(ca_name, ca_key, ca_name, ca_key, ca=True)
    leaf_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    leaf = _cert("localhost", leaf_key, ca_name, ca_key, ca=False)
    pki = ServerPKI(directory / "ca.pem", directory / "leaf.pem", directory / "leaf-key.pem")
    pki.ca_file.write_bytes(_pem(ca))
    pki.cert_file.write_bytes(_pem(leaf))
    pki.key_file.write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return pki


class CertServer:
    """HTTPS on 127.0.0.1 with a certificate for localhost from the test's own CA: serves
    the signing certificate and counts subscription confirmations."""

    def __init__(self, directory: Path, signing: SigningKey) -> None:
        pki = server_pki(directory)
        self.ca_file = pki.ca_file
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                server.requests.append(self.path)
                if self.path.endswith(".pem"):
                    body = signing.pem
                elif self.path.startswith("/confirm"):
                    body = b"<ConfirmSubscriptionResponse/>"
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(pki.cert_file, pki.key_file)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"https://localhost:{self.port}{path}"

    def start(self) -> CertServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def sns_notification(
    server: CertServer, notification: dict[str, Any], message_id: str
) -> dict[str, Any]:
    return {
        "Type": "Notification",
        "MessageId": message_id,
        "TopicArn": TOPIC,
        "Message": json.dumps(notification),
        "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "SigningCertURL": server.url("/SimpleNotificationService-test.pem"),
        "UnsubscribeURL": server.url("/unsubscribe"),
    }
