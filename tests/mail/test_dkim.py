"""DKIM signatures checked by an independent verifier (dkimpy) on real mail bytes.

The only stand-in is DNS: ``dnsfunc`` answers the TXT query for the selector with
the record we would publish. Everything else — the mail, the SMTP round trip, the
keygen command, the settings — is the real code.
"""

from __future__ import annotations

import base64
import os
import re
import stat
import time
from collections.abc import Callable

import dkim
import pytest
from dkim.canonicalization import Relaxed

from mailer.app import create_app
from mailer.config import ConfigError, load_settings
from mailer.mail.dkim import (
    SIGNED_HEADERS,
    DkimError,
    DkimSigner,
    checked_settings,
    dkim_signer_for,
    dns_record,
    generate_key,
    relaxed_body,
)
from mailer.mail.messages import Outgoing, encode_header, make_template
from mailer.mail.smtp import SMTPConnection

# Domain code, views and commands in this thread only: each test is rolled back.
pytestmark = pytest.mark.rolled_back

DOMAIN = "europakontor.example.no"
SELECTOR = "nyhet"
DNS_NAME = f"{SELECTOR}._domainkey.{DOMAIN}."
FROM_ADDRESS = f"nyhetsbrev@{DOMAIN}"
SUBJECT = "Nyhetsbrev for «Europa» – våre æøå-nyheter i november"
UNSUBSCRIBE = "https://nyhetsbrev.example.no/unsubscribe/eyJzIjo0Mn0.aBc-123_x?lang=nb&kilde=epost"
MAILTO = f"mailto:{FROM_ADDRESS}?subject=unsubscribe"
ONE_CLICK = b"List-Unsubscribe-Post: List-Unsubscribe=One-Click"
TEXT = (
    "Hei %%navn%%,\n\n"
    "Nytt fra Europakontoret: æøå, ÆØÅ og «sitater» – med tankestrek.\n"
    ".punktum først på linja, og en linje med bare et punktum:\n.\n\n"
    "-- \nMeld deg av: %%avmelding%%\n"
)
HTML = (
    '<!DOCTYPE html><html lang="nb"><body><p>Hei %%navn%%,</p>'
    "<p>Nytt fra Europakontoret: æøå, ÆØÅ og «sitater» – med tankestrek.</p>"
    '<p><a href="%%avmelding%%">Meld deg av</a></p></body></html>\n'
)
EXPECTED_H = [
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "list-id",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "mime-version",
    "content-type",
]


def realistic_mail(subject: str = SUBJECT, padding: int = 0) -> Outgoing:
    tpl = make_template(
        from_name="Europakontoret Øst – «Nyheter» på norsk",
        from_address=FROM_ADDRESS,
        subject=subject,
        text=TEXT + "Mer om klima og forskning på Østlandet. " * padding,
        html_body=HTML,
        list_id=f"<nyhetsbrev.{DOMAIN}>",
    )
    return tpl.personalise(
        to_name="Kåre Ødegård",
        to_address="kare@odegard.example.no",
        values={"navn": "Kåre", "avmelding": UNSUBSCRIBE},
        list_unsubscribe=(UNSUBSCRIBE, MAILTO),
    )


def txt_of(record: str, name: str = DNS_NAME) -> bytes:
    """The TXT text of a zone-file line, as DNS would return it (strings joined)."""
    prefix = f"{name} IN TXT "
    assert record.startswith(prefix), record
    strings = re.findall(r'"([^"]*)"', record[len(prefix) :])
    assert strings and all(len(s) <= 255 for s in strings), record
    return "".join(strings).encode("ascii")


def dns(*records: str) -> Callable[..., bytes | None]:
    """The DNS stub: TXT answers for the given zone-file lines, nothing for other names."""
    answers = {line.split(" ", 1)[0]: txt_of(line, line.split(" ", 1)[0]) for line in records}

    def lookup(name: bytes, timeout: float = 5) -> bytes | None:
        return answers.get(name.decode("ascii"))

    return lookup


def verifies(data: bytes, *records: str) -> bool:
    return bool(dkim.verify(data, dnsfunc=dns(*records)))


def signature_header(data: bytes) -> bytes:
    """The raw DKIM-Signature field at the top of ``data``, continuation lines included."""
    assert data.startswith(b"DKIM-Signature: ")
    match = re.match(rb"DKIM-Signature:[^\r\n]*(?:\r\n[ \t][^\r\n]*)*\r\n", data)
    assert match
    return match.group(0)


def tags(header: bytes) -> dict[str, str]:
    value = header.decode("ascii").split(":", 1)[1]
    value = re.sub(r"\s+", "", value)  # FWS may sit anywhere in these values
    pairs = [item.split("=", 1) for item in value.split(";") if item]
    return {name: val for name, val in pairs}


@pytest.fixture(scope="module")
def key() -> tuple[bytes, str]:
    private_pem, _ = generate_key()
    return private_pem, dns_record(SELECTOR, DOMAIN, private_pem)


@pytest.fixture(scope="module")
def signer(key: tuple[bytes, str]) -> DkimSigner:
    return DkimSigner(DOMAIN, SELECTOR, key[0])


# --- the signature -------------------------------------------------------------------------


def test_signed_mail_verifies_and_names_the_rfc_8058_header(signer, key):
    out = realistic_mail()
    before = int(time.time())
    signed = signer.sign(out.data)

    assert verifies(signed, key[1])
    header = signature_header(signed)
    assert signed == header + out.data  # the signature is prepended, nothing else changes
    found = tags(header)
    assert found["v"] == "1"
    assert found["a"] == "rsa-sha256"
    assert found["c"] == "relaxed/relaxed"
    assert (found["d"], found["s"]) == (DOMAIN, SELECTOR)
    assert found["h"].split(":") == EXPECTED_H
    assert "list-unsubscribe-post" in found["h"].split(":")
    assert before <= int(found["t"]) <= time.time() + 1
    assert len(base64.b64decode(found["b"], validate=True)) == 256  # RSA-2048
    assert len(base64.b64decode(found["bh"], validate=True)) == 32  # SHA-256


def test_signature_header_is_folded_ascii(signer):
    header = signature_header(signer.sign(realistic_mail().data))

    assert all(byte < 0x80 for byte in header)
    assert header.endswith(b"\r\n")
    lines = header[:-2].split(b"\r\n")
    assert len(lines) > 3
    assert all(len(line) <= 78 for line in lines), [len(line) for line in lines]
    assert all(line[:1] == b" " for line in lines[1:])
    assert b"\r" not in header.replace(b"\r\n", b"") and b"\n" not in header.replace(b"\r\n", b"")


def _subject_changed(signed: bytes) -> bytes:
    old = encode_header("Subject", SUBJECT).encode("ascii")
    new = encode_header("Subject", SUBJECT.replace("november", "desember")).encode("ascii")
    assert signed.count(old) == 1 and old != new
    return signed.replace(old, new)


def _body_char_changed(signed: bytes) -> bytes:
    head, separator, body = signed.partition(b"\r\n\r\n")
    assert body.count(b"tankestrek") == 2  # text and HTML part
    return head + separator + body.replace(b"tankestrek", b"tankestrak", 1)


def _one_click_changed(signed: bytes) -> bytes:
    assert signed.count(ONE_CLICK) == 1
    return signed.replace(ONE_CLICK, b"List-Unsubscribe-Post: List-Unsubscribe=Two-Clicks")


def _one_click_removed(signed: bytes) -> bytes:
    assert signed.count(ONE_CLICK + b"\r\n") == 1
    return signed.replace(ONE_CLICK + b"\r\n", b"")


@pytest.mark.parametrize(
    "tamper",
    [_one_click_changed, _one_click_removed, _body_char_changed, _subject_changed],
    ids=["list-unsubscribe-post value", "list-unsubscribe-post removed", "body", "subject"],
)
def test_a_changed_mail_fails_verification(signer, key, tamper):
    signed = signer.sign(realistic_mail().data)
    assert verifies(signed, key[1])

    changed = tamper(signed)

    assert changed != signed
    assert not verifies(changed, key[1])


def test_relaxed_canonicalization_tolerates_whitespace_changes_in_transit(signer, key):
    signed = signer.sign(realistic_mail().data)
    head, separator, body = signed.partition(b"\r\n\r\n")
    refolded = head.replace(b"\r\nMIME-Version: 1.0", b"\r\nMIME-Version:\t 1.0  ")
    refolded = refolded.replace(b"\r\nTo: ", b"\r\nto:\r\n\t")
    padded = body.replace(b"\r\n\r\n", b"  \r\n\r\n", 1) + b"\r\n\r\n"
    moved = refolded + separator + padded

    assert moved != signed
    assert verifies(moved, key[1])


def test_another_key_does_not_verify(signer):
    other_pem, _ = generate_key()
    signed = signer.sign(realistic_mail().data)

    assert not verifies(signed, dns_record(SELECTOR, DOMAIN, other_pem))


def test_whitespace_heavy_message_matches_an_independent_canonicalization(signer, key):
    message = (
        b"Received: from somewhere\r\n"
        b"From:   Kari Nordmann\t <kari@europakontor.example.no>  \r\n"
        b"To: a@example.no,\r\n\t  b@example.no\r\n"
        b"Subject:\tHei  \t der\r\n"
        b"X-Not-Signed: 1\r\n"
        b"\r\n"
        b"linje med  to mellomrom og\ttab   \r\n"
        b"  innrykk\r\n"
        b"\r\n"
        b"siste linje \t\r\n"
        b"\r\n"
        b"\r\n"
    )
    signed = signer.sign(message)

    assert verifies(signed, key[1])
    assert tags(signature_header(signed))["h"] == "from:to:subject"
    for body in (message.partition(b"\r\n\r\n")[2], b"", b"\r\n", b"a  \r\n\r\n", b"\t\r\n"):
        assert relaxed_body(body) == Relaxed.canonicalize_body(body), body


def test_bare_line_feeds_are_made_crlf_before_signing(signer, key):
    lf_mail = realistic_mail().data.replace(b"\r\n", b"\n")

    signed = signer.sign(lf_mail)

    assert b"\n" not in signed.replace(b"\r\n", b"")
    assert verifies(signed, key[1])


def test_idn_domain_is_signed_in_punycode(key):
    signer = DkimSigner("Østfold.Europakontor.example.no", SELECTOR, key[0])
    name = f"{SELECTOR}._domainkey.xn--stfold-9xa.europakontor.example.no."
    record = dns_record(SELECTOR, "østfold.europakontor.example.no", key[0])

    signed = signer.sign(realistic_mail().data)

    assert signer.domain == "xn--stfold-9xa.europakontor.example.no"
    assert record.startswith(f"{name} IN TXT ")
    assert signer.dns_record() == record
    assert tags(signature_header(signed))["d"] == "xn--stfold-9xa.europakontor.example.no"
    assert verifies(signed, record)


def test_dns_record_is_split_into_255_character_strings(key):
    record = key[1]
    strings = re.findall(r'"([^"]*)"', record)

    assert record.startswith(f'{DNS_NAME} IN TXT "v=DKIM1; k=rsa; p=')
    assert len(strings) == 2 and len(strings[0]) == 255 and len(strings[1]) <= 255
    assert "".join(strings).count("p=") == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((DOMAIN, "nyhet;x=1"), "selector"),
        (("europakontor example.no", SELECTOR), "domain"),
        (
            (DOMAIN, SELECTOR, b"-----BEGIN PRIVATE KEY-----\nnei\n-----END PRIVATE KEY-----\n"),
            "PEM",
        ),
    ],
)
def test_bad_domain_selector_or_key_is_refused(key, args, message):
    full = (*args, key[0]) if len(args) == 2 else args
    with pytest.raises(DkimError, match=message):
        DkimSigner(*full)


def test_a_mail_without_from_is_refused(signer):
    with pytest.raises(DkimError, match="From"):
        signer.sign(b"To: a@example.no\r\nSubject: x\r\n\r\nhei\r\n")


def test_signed_headers_include_rfc_8058():
    assert "List-Unsubscribe-Post" in SIGNED_HEADERS
    assert SIGNED_HEADERS.index("From") == 0


# --- through a real SMTP server ------------------------------------------------------------


def test_signature_survives_smtp_to_a_real_server(signer, key, rt, smtp_sink):
    out = realistic_mail(padding=200)
    signed = signer.sign(out.data)
    assert b"\r\n.punktum" in signed  # smtplib dot-stuffs this line, the server unstuffs it
    smtp_sink.clear()

    with SMTPConnection(rt.settings) as smtp:
        smtp.send(Outgoing(out.sender, out.recipient, signed, out.message_id))

    [received] = smtp_sink.wait_for(1)
    assert received.rcpt_tos == [out.recipient]
    assert received.data.startswith(b"DKIM-Signature: ")
    assert b"\r\n.punktum" in received.data
    assert verifies(received.data, key[1])
    assert not verifies(_one_click_changed(received.data), key[1])


# --- `mailer dkim keygen` ------------------------------------------------------------------


def test_keygen_writes_a_key_that_verifies_against_the_printed_record(cli, tmp_path):
    out_file = tmp_path / "k.pem"
    args = ["dkim", "keygen", "--domain", DOMAIN, "--selector", SELECTOR, "--out", str(out_file)]

    result = cli.invoke(args=args)

    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(os.stat(out_file).st_mode) == 0o600
    pem = out_file.read_bytes()
    assert pem.startswith(b"-----BEGIN RSA PRIVATE KEY-----")
    [record] = [line for line in result.output.splitlines() if " IN TXT " in line]
    assert record.startswith(f"{DNS_NAME} IN TXT ")
    assert f"MAILER_DKIM_DOMAIN={DOMAIN}\n" in result.output
    assert f"MAILER_DKIM_SELECTOR={SELECTOR}\n" in result.output
    assert f"MAILER_DKIM_PRIVATE_KEY_FILE={out_file}\n" in result.output
    assert "PRIVATE KEY-----" not in result.output

    signed = DkimSigner(DOMAIN, SELECTOR, pem).sign(realistic_mail().data)
    assert verifies(signed, record)
    # dkimpy reads the same file: the key is in the format other DKIM tools use.
    mail = realistic_mail().data
    assert verifies(dkim.sign(mail, SELECTOR.encode(), DOMAIN.encode(), pem) + mail, record)

    again = cli.invoke(args=args)

    assert again.exit_code != 0
    assert "exists" in again.output and "not overwriting" in again.output
    assert out_file.read_bytes() == pem


# --- settings ------------------------------------------------------------------------------

DKIM_ENV = (
    "MAILER_DKIM_DOMAIN",
    "MAILER_DKIM_SELECTOR",
    "MAILER_DKIM_PRIVATE_KEY",
    "MAILER_DKIM_PRIVATE_KEY_FILE",
)


@pytest.fixture
def dkim_env(monkeypatch: pytest.MonkeyPatch, test_env: dict[str, str]) -> pytest.MonkeyPatch:
    for name in DKIM_ENV:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_without_dkim_settings_there_is_no_signer(dkim_env):
    settings = load_settings()

    assert (settings.dkim_domain, settings.dkim_selector, settings.dkim_private_key) == (
        "",
        "",
        b"",
    )
    assert dkim_signer_for(settings) is None


def test_only_the_domain_is_a_config_error_naming_the_missing_variables(dkim_env):
    dkim_env.setenv("MAILER_DKIM_DOMAIN", DOMAIN)

    with pytest.raises(ConfigError) as raised:
        load_settings()

    assert str(raised.value) == (
        "MAILER_DKIM_DOMAIN is set, but MAILER_DKIM_SELECTOR and MAILER_DKIM_PRIVATE_KEY "
        "(or MAILER_DKIM_PRIVATE_KEY_FILE) are not: DKIM signing needs all three"
    )


def test_selector_and_key_without_domain_names_the_domain(dkim_env, key):
    dkim_env.setenv("MAILER_DKIM_SELECTOR", SELECTOR)
    dkim_env.setenv("MAILER_DKIM_PRIVATE_KEY", key[0].decode())

    with pytest.raises(ConfigError, match=r"but MAILER_DKIM_DOMAIN is not"):
        load_settings()


def test_unreadable_key_file_is_a_config_error(dkim_env, tmp_path):
    dkim_env.setenv("MAILER_DKIM_DOMAIN", DOMAIN)
    dkim_env.setenv("MAILER_DKIM_SELECTOR", SELECTOR)
    dkim_env.setenv("MAILER_DKIM_PRIVATE_KEY_FILE", str(tmp_path / "missing.pem"))

    with pytest.raises(ConfigError, match=r"^MAILER_DKIM_PRIVATE_KEY_FILE: cannot read .*missing"):
        load_settings()


def test_a_key_that_is_not_a_key_is_a_config_error(dkim_env):
    dkim_env.setenv("MAILER_DKIM_DOMAIN", DOMAIN)
    dkim_env.setenv("MAILER_DKIM_SELECTOR", SELECTOR)
    dkim_env.setenv("MAILER_DKIM_PRIVATE_KEY", "hemmelig")
    settings = load_settings()  # read; the app factory checks the key

    with pytest.raises(ConfigError, match=r"^MAILER_DKIM_PRIVATE_KEY: "):
        checked_settings(settings)
    with pytest.raises(ConfigError, match=r"^MAILER_DKIM_PRIVATE_KEY: "):
        create_app(settings, web=False)


def test_key_file_settings_give_a_signer_that_verifies(dkim_env, key, tmp_path):
    key_file = tmp_path / "dkim.pem"
    key_file.write_bytes(key[0])
    dkim_env.setenv("MAILER_DKIM_DOMAIN", DOMAIN.upper())
    dkim_env.setenv("MAILER_DKIM_SELECTOR", SELECTOR)
    dkim_env.setenv("MAILER_DKIM_PRIVATE_KEY_FILE", str(key_file))

    settings = checked_settings(load_settings())  # as the app factory reads them
    signer = dkim_signer_for(settings)

    assert settings.dkim_domain == DOMAIN
    assert "PRIVATE KEY" not in repr(settings)
    assert signer is not None and dkim_signer_for(settings) is signer  # cached
    assert verifies(signer.sign(realistic_mail().data), key[1])


def test_key_in_the_environment_with_escaped_newlines(dkim_env, key):
    dkim_env.setenv("MAILER_DKIM_DOMAIN", DOMAIN)
    dkim_env.setenv("MAILER_DKIM_SELECTOR", SELECTOR)
    dkim_env.setenv("MAILER_DKIM_PRIVATE_KEY", key[0].decode().replace("\n", "\\n"))

    signer = dkim_signer_for(load_settings())

    assert signer is not None
    assert verifies(signer.sign(realistic_mail().data), key[1])
