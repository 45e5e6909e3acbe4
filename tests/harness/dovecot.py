"""A private Dovecot IMAP server (Debian's package; its service start is forbidden by
policy-rc.d, so nothing system-wide runs) with its own config on a loopback port, for
`mailer bounces poll`. One user, plain login (loopback only), Maildir storage; with
``tls=(certificate file, key file)`` also an imaps listener on a second loopback port."""

from __future__ import annotations

import imaplib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.harness.processes import free_port, pid_alive, wait_until

DOVECOT = "/usr/sbin/dovecot"
USER = "bounces"
PASSWORD = "hemmelig-imap"
# Mail processes never run as root: the mailbox belongs to nobody.
MAIL_UID = 65534
MAIL_GID = 65534


class PrivateDovecot:
    def __init__(self, tls: tuple[Path, Path] | None = None) -> None:
        self.port = free_port()
        self.tls = tls
        self.imaps_port = free_port() if tls else 0
        self.dir = Path(tempfile.mkdtemp(prefix="mailer-dovecot-"))
        os.chmod(self.dir, 0o755)
        self.config = self.dir / "dovecot.conf"
        self.log = self.dir / "dovecot.log"

    def url(self, folder: str = "INBOX") -> str:
        return f"imap://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{folder}"

    def imaps_url(self, folder: str = "INBOX") -> str:
        assert self.tls, "PrivateDovecot(tls=...) for imaps"
        return f"imaps://{USER}:{PASSWORD}@127.0.0.1:{self.imaps_port}/{folder}"

    def _ssl(self) -> str:
        if not self.tls:
            return "ssl = no\n"
        cert, key = self.tls
        # Read by the master (root) as it parses the config.
        return f"ssl = yes\nssl_cert = <{cert}\nssl_key = <{key}\n"

    def _conf(self) -> str:
        return f"""
base_dir = {self.dir}/run
state_dir = {self.dir}/state
log_path = {self.log}
info_log_path = {self.log}
protocols = imap
listen = 127.0.0.1
{self._ssl()}disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{self.dir}/mail/%u
first_valid_uid = {MAIL_UID}
first_valid_gid = {MAIL_GID}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.dir}/passwd
}}
userdb {{
  driver = static
  args = uid={MAIL_UID} gid={MAIL_GID} home={self.dir}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.imaps_port}
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
}}
"""

    def start(self) -> PrivateDovecot:
        for sub in ("run", "state", "mail", "home"):
            (self.dir / sub).mkdir()
        for sub in ("mail", "home"):
            os.chown(self.dir / sub, MAIL_UID, MAIL_GID)
        (self.dir / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
        self.config.write_text(self._conf())
        # The master forks into the background: it must not keep our pipes open.
        errors = self.dir / "start.err"
        with open(errors, "wb") as err:
            result = subprocess.run(
                [DOVECOT, "-c", str(self.config)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                timeout=60,
            )
        if result.returncode != 0:
            raise RuntimeError(f"dovecot did not start: {errors.read_text()}{self.log_text()}")
        wait_until(self._answers, f"dovecot on 127.0.0.1:{self.port}")
        return self

    def _answers(self) -> bool:
        try:
            imaplib.IMAP4("127.0.0.1", self.port, timeout=2).logout()
            return True
        except OSError:
            return False

    def client(self) -> imaplib.IMAP4:
        conn = imaplib.IMAP4("127.0.0.1", self.port, timeout=30)
        conn.login(USER, PASSWORD)
        return conn

    def append(self, raw: bytes, folder: str = "INBOX") -> None:
        conn = self.client()
        try:
            typ, data = conn.append(folder, "", None, raw)
            assert typ == "OK", data
        finally:
            conn.logout()

    def count(self, folder: str) -> int:
        conn = self.client()
        try:
            typ, data = conn.select(f'"{folder}"', readonly=True)
            return int(data[0] or 0) if typ == "OK" else -1
        finally:
            conn.logout()

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        subprocess.run(
            [DOVECOT, "-c", str(self.config), "stop"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=60,
        )
        pid_file = self.dir / "run" / "master.pid"
        try:
            pid = int(pid_file.read_text().strip())
        except (OSError, ValueError):
            pid = None
        if pid is not None:
            wait_until(lambda: not pid_alive(pid), "dovecot to stop", timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)
