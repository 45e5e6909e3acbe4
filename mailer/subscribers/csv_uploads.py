"""An uploaded CSV kept between the preview and the confirmed import.

The file waits in ``var/imports`` under a random name tied to the editor who
uploaded it, so the confirm step needs no second upload and no other editor can
import it. Files older than a day are removed on the next upload.
"""

from __future__ import annotations

import re
import secrets
import time
from pathlib import Path

MAX_AGE_SECONDS = 24 * 3600
_KEY = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


class UploadExpired(LookupError):
    pass


def _folder(var_dir: Path) -> Path:
    folder = var_dir / "imports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _path(var_dir: Path, editor_id: int, key: str) -> Path:
    if not _KEY.match(key):
        raise UploadExpired("no such upload")
    return _folder(var_dir) / f"{int(editor_id)}-{key}.csv"


def stash(var_dir: Path, editor_id: int, text: str) -> str:
    folder = _folder(var_dir)
    cutoff = time.time() - MAX_AGE_SECONDS
    for old in folder.glob("*.csv"):
        try:
            if old.stat().st_mtime < cutoff:
                old.unlink()
        except FileNotFoundError:
            pass
    key = secrets.token_urlsafe(18)
    path = _path(var_dir, editor_id, key)
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return key


def load(var_dir: Path, editor_id: int, key: str) -> str:
    try:
        return _path(var_dir, editor_id, key).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise UploadExpired("no such upload") from exc


def discard(var_dir: Path, editor_id: int, key: str) -> None:
    try:
        _path(var_dir, editor_id, key).unlink()
    except (FileNotFoundError, UploadExpired):
        pass


def forget(var_dir: Path, email: str) -> int:
    """Remove every waiting upload that names ``email`` (any case): an erased reader must
    not stay on disk for the day an upload may wait. The editor uploads the file again
    (the import then finds the address on the suppression list)."""
    needle = email.strip().lower()
    removed = 0
    for path in _folder(var_dir).glob("*.csv"):
        try:
            if needle in path.read_text(encoding="utf-8", errors="replace").lower():
                path.unlink()
                removed += 1
        except FileNotFoundError:
            pass
    return removed
