"""Cross-process wake-ups for SQLite, which has no LISTEN/NOTIFY: unix datagrams.

Each process that follows a store's appends binds a datagram socket in a folder named by
the store file (under the temporary directory, so socket paths stay under the 108-byte
limit); an append, once committed, sends one small datagram to every socket there. A full
socket buffer drops the datagram (the consumer's poll still finds the events); a socket
whose process is gone refuses it and is removed. Only processes on the same machine share a
SQLite file, so a machine-local mechanism is enough.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import socket
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

MAX_PAYLOAD = 1024


class Datagrams:
    """The wake-up folder of one SQLite file."""

    def __init__(self, database: str) -> None:
        digest = hashlib.sha256(str(Path(database).resolve()).encode()).hexdigest()[:16]
        self.folder = Path(tempfile.gettempdir()) / f"artery-wake-{digest}"

    def send(self, payload: str) -> None:
        """Tell every listening process (never blocks, never fails the caller)."""
        try:
            entries = list(os.scandir(self.folder))
        except OSError:
            return
        data = payload.encode()[:MAX_PAYLOAD]
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
            sender.setblocking(False)
            for entry in entries:
                try:
                    sender.sendto(data, entry.path)
                except (ConnectionRefusedError, FileNotFoundError):
                    with contextlib.suppress(OSError):  # its process is gone
                        os.unlink(entry.path)
                except OSError:
                    pass  # a full buffer: that process polls meanwhile

    async def receive(self) -> AsyncIterator[str]:
        """Payloads sent by any process, until the iteration stops; first "" once bound."""
        self.folder.mkdir(mode=0o700, exist_ok=True)
        path = self.folder / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            listener.bind(str(path))
            listener.setblocking(False)
            loop = asyncio.get_running_loop()
            yield ""  # bound: datagrams sent from now on arrive
            while True:
                data = await loop.sock_recv(listener, MAX_PAYLOAD)
                yield data.decode(errors="replace")
        finally:
            listener.close()
            with contextlib.suppress(OSError):
                path.unlink()
