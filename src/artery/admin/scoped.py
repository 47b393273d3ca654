"""An admin route and the scope it needs, declared together so no route can be served
without one: the admin mount guards each with the gate."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from artery.gateway.gate import Endpoint
from artery.gateway.policy import ADMIN_SCOPES, Principal


@dataclass(frozen=True)
class Scoped:
    """``path`` under ``/admin`` answered by ``endpoint`` for ``methods``, to callers
    holding ``scope`` (``admin:read``, ``admin:write`` or ``admin:destroy``)."""

    path: str
    endpoint: Endpoint
    methods: tuple[str, ...]
    scope: str

    def __post_init__(self) -> None:
        if self.scope not in ADMIN_SCOPES:
            raise ValueError(f"admin route {self.path} needs one of {ADMIN_SCOPES}")


def actor(request: Request) -> str | None:
    """Who called: the subject of the principal the gate admitted (an API key's name, a
    token's ``sub``), for the record of what a person did by hand."""
    principal = request.scope.get("state", {}).get("principal")
    return principal.subject if isinstance(principal, Principal) else None
