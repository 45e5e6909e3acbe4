"""A send batch's journal: what only the sending process knows, kept where its death
cannot take it.

One append-only file per batch run under MAILER_JOURNAL_DIR (a directory per host):

    mailer-journal 1 boot=<boot id> run=<run id> host=<host> pid=<pid> ids=<1,2,3>
    S <delivery id> <Message-ID>      written before DATA: the content may now go out
    R <delivery id> <reply code>      the server's answer to that content

Each entry is one ``write`` to a file opened with O_APPEND and no fsync: a killed process
loses nothing (the page cache is the kernel's), only a machine crash can, and the boot id
in the header tells the reader when the machine has restarted since. The run holds an
exclusive ``flock`` on its file for as long as it lives; the kernel lets go when the
process dies, so whoever gets the lock knows the run is over.
"""

from __future__ import annotations

import fcntl
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

SUFFIX = ".journal"
_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
_HEADER = re.compile(
    r"mailer-journal 1 boot=(?P<boot>\S+) run=(?P<run>\S+) host=(?P<host>\S+) "
    r"pid=(?P<pid>\d+) ids=(?P<ids>[\d,]*)$"
)


def boot_id() -> str:
    """This boot of the machine (Linux); elsewhere "unknown", so a reboot goes unseen."""
    try:
        return _BOOT_ID.read_text().strip() or "unknown"
    except OSError:
        return "unknown"


@dataclass
class Entries:
    """What a journal says about its run."""

    boot: str
    run_id: str
    host: str
    pid: int
    delivery_ids: list[int]
    started: dict[int, str] = field(default_factory=dict)  # delivery id → Message-ID
    answered: dict[int, int] = field(default_factory=dict)  # delivery id → reply code

    @property
    def same_boot(self) -> bool:
        return self.boot != "unknown" and self.boot == boot_id()


def parse(text: str) -> Entries | None:
    """The entries of a journal; None when even its header is missing or torn."""
    lines = text.split("\n")
    header = _HEADER.match(lines[0])
    if header is None:
        return None
    entries = Entries(
        header["boot"],
        header["run"],
        header["host"],
        int(header["pid"]),
        [int(i) for i in header["ids"].split(",") if i],
    )
    for line in lines[1:]:
        kind, _, rest = line.partition(" ")
        number, _, value = rest.partition(" ")
        if not number.isdigit() or not value:
            continue  # a torn last line (the machine stopped mid-write) or none at all
        if kind == "S":
            entries.started[int(number)] = value
        elif kind == "R" and value.isdigit():
            entries.answered[int(number)] = int(value)
    return entries


class Journal:
    """The live run's side: created locked, written without a database round trip."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd
        # The mail whose content may be with the server and whose answer is not noted.
        self.open_id: int | None = None

    @classmethod
    def create(cls, directory: Path, run_id: str, host: str, pid: int, ids: list[int]) -> Journal:
        """Made under a name readers skip, locked, then renamed into place: a journal a
        reader can see is always locked by its run until that run ends."""
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = directory / f"{run_id}{SUFFIX}"
        temporary = directory / f".{run_id}.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            header = (
                f"mailer-journal 1 boot={boot_id()} run={run_id} host={host} pid={pid} "
                f"ids={','.join(map(str, ids))}\n"
            )
            os.write(fd, header.encode())
            os.rename(temporary, path)
        except BaseException:
            os.close(fd)
            temporary.unlink(missing_ok=True)
            raise
        return cls(path, fd)

    def _write(self, line: str) -> None:
        if self._fd is not None:
            os.write(self._fd, line.encode("utf-8", "replace"))

    def started(self, delivery_id: int, message_id: str) -> None:
        """Before the DATA command: from here on the server may get the content."""
        self.open_id = delivery_id
        self._write(f"S {delivery_id} {message_id.replace(' ', '') or '-'}\n")

    def answered(self, delivery_id: int, code: int) -> None:
        self.open_id = None
        self._write(f"R {delivery_id} {code}\n")

    def close(self, *, finished: bool) -> None:
        """End the run: a finished run (every result committed) removes its journal; one
        that failed leaves it, unlocked, for the reconciler."""
        if self._fd is None:
            return
        try:
            if finished:
                self.path.unlink(missing_ok=True)
        finally:
            os.close(self._fd)
            self._fd = None


class Taken:
    """A stopped run's journal, locked by the reconciler that reads it."""

    def __init__(self, path: Path, fd: int, entries: Entries | None) -> None:
        self.path = path
        self.entries = entries
        self._fd = fd

    def discard(self) -> None:
        """The repair is committed: the journal has told all it knows."""
        try:
            self.path.unlink(missing_ok=True)
        finally:
            self.release()

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def take(path: Path) -> Taken | None:
    """The journal of a run that has ended, locked; None while its run still holds it (or
    another reconciler does), or when it is gone."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    try:
        # Removed (and perhaps made again) between our open and our lock: not this file.
        if os.fstat(fd).st_ino != os.stat(path).st_ino:
            os.close(fd)
            return None
    except FileNotFoundError:
        os.close(fd)
        return None
    with os.fdopen(os.dup(fd), "rb") as handle:
        text = handle.read().decode("utf-8", "replace")
    return Taken(path, fd, parse(text))


def journal_paths(directory: Path) -> dict[str, Path]:
    """This host's journals by run id."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return {}
    return {
        name[: -len(SUFFIX)]: directory / name
        for name in names
        if name.endswith(SUFFIX) and not name.startswith(".")
    }
