"""The embedded broker hands a polling worker whole messages only (no half-written file)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from queue import Empty

from kombu import Connection
from kombu.transport import TRANSPORT_ALIASES

import mailer.celery_app  # noqa: F401  (registers the atomic transport)
from mailer.fs_broker import Transport

MESSAGES = 3000


def test_the_filesystem_alias_is_the_atomic_transport():
    assert TRANSPORT_ALIASES["filesystem"] == "mailer.fs_broker:Transport"
    with Connection("filesystem://") as connection:
        assert connection.transport_cls == "filesystem"
        assert isinstance(connection.transport, Transport)


def test_a_reader_racing_the_writer_only_ever_sees_whole_messages(tmp_path: Path):
    options = {"data_folder_in": str(tmp_path), "data_folder_out": str(tmp_path)}
    received: list[int] = []
    broken: list[str] = []
    done = threading.Event()

    def read() -> None:
        with Connection("filesystem://", transport_options=options) as connection:
            channel = connection.default_channel
            while len(received) < MESSAGES:
                try:
                    received.append(channel._get("celery")["i"])
                except json.JSONDecodeError as exc:  # the stock transport's failure
                    broken.append(str(exc))
                except Empty:
                    if done.is_set() and not any(tmp_path.glob("*.msg")):
                        return

    reader = threading.Thread(target=read)
    reader.start()
    with Connection("filesystem://", transport_options=options) as connection:
        channel = connection.default_channel
        for i in range(MESSAGES):
            channel._put("celery", {"i": i, "body": "x" * 300})
    done.set()
    reader.join()

    assert broken == []
    assert sorted(received) == list(range(MESSAGES))
    assert list(tmp_path.iterdir()) == []  # no temporary file left behind
