"""kombu's filesystem transport (the embedded broker), writing each message atomically.

The stock transport creates the message file, then writes it; a worker polling at that
moment moves the still-empty file away, fails to decode it and stops with "Unrecoverable
error: JSONDecodeError". Here the message is written under a name the reader skips and
renamed into place in one step, so a reader sees a whole message or none.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(  # type: ignore[override]  # kombu's two base classes name the 2nd argument apart
        self, queue: str, payload: Any, **kwargs: Any
    ) -> None:
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        # ".<name>.tmp": its part after the first dot is not "<queue>.msg", so _get,
        # _size and _purge leave it alone until the rename.
        temporary = os.path.join(self.data_folder_out, f".{name}.tmp")
        try:
            with open(temporary, "wb") as f:
                f.write(str_to_bytes(dumps(payload)))
            os.replace(temporary, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
