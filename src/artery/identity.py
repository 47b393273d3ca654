"""Who a process is: the id a worker shows in leases, workflow claims and breakers.

It names the host and process so a person reading the tables can find the process, and
carries a random suffix so a restarted process with a recycled pid is never taken for the
old one (whose leases must run out, not be inherited)."""

from __future__ import annotations

import os
import socket
import uuid


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
