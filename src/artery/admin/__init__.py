"""The admin API: JSON over HTTP under ``/admin`` for operators and the console.

``mount`` assembles the route lists of each area (delivery, workflows, and more as areas
land) under one mount of the HTTP face. The routes read the ``Runtime`` (store, log,
registry), the app's declarations and the workflow operations; errors become problem+json
in the gateway, around every mount.
"""

from __future__ import annotations

from starlette.routing import Mount

from artery.admin import delivery, workflows
from artery.integration import Declarations
from artery.runtime import Runtime
from artery.workflows import Workflows

PREFIX = "/admin"


def mount(runtime: Runtime, declarations: Declarations, runs: Workflows) -> Mount:
    """The ``/admin`` mount for an opened runtime."""
    return Mount(
        PREFIX,
        routes=[
            *delivery.routes(runtime, declarations),
            *workflows.routes(runtime, declarations, runs),
        ],
    )


__all__ = ["PREFIX", "mount"]
