"""Every authorization decision, allowed or refused, kept and queryable.

Zero trust as the playbook puts it: identity is verified on each call and each decision is
logged (who, which credential, what, when, the outcome and why). Decisions are batched
(``Buffered``) so recording one costs a request nothing measurable; ``GET /admin/decisions``
(``admin:read``) reads them back, newest first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from artery.admin.scoped import Scoped
from artery.errors import ConfigError
from artery.gateway.buffered import Buffered
from artery.gateway.gate import Decision
from artery.gateway.policy import ADMIN_READ
from artery.store import SqlStore
from artery.store.protocol import Tx

MAX_LIMIT = 1000
_COLUMNS = "at, subject, credential, method, path, route, scopes, outcome, reason, request_id"


class StoreDecisions(Buffered[Decision]):
    """The gate's ``Decisions``: buffered, written to ``auth_decisions`` in batches."""

    def __init__(self, store: SqlStore) -> None:
        super().__init__("auth-decisions", _insert)
        self.store = store

    def record(self, decision: Decision) -> None:
        self.add(decision)

    async def query(
        self,
        *,
        credential: str | None = None,
        outcome: str | None = None,
        since_us: int | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        where: list[str] = ["1 = 1"]
        params: list[object] = []
        for column, value in (("credential", credential), ("outcome", outcome)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if since_us is not None:
            where.append("at >= ?")
            params.append(since_us)
        sql = (
            f"SELECT {_COLUMNS} FROM auth_decisions WHERE {' AND '.join(where)}"
            f" ORDER BY at DESC, id DESC LIMIT {int(limit)}"
        )
        rows = await self.store.read(lambda tx: tx.execute(sql, params))
        return [_shown(row) for row in rows]


def _insert(tx: Tx, decisions: Sequence[Decision]) -> None:
    tx.executemany(
        f"INSERT INTO auth_decisions ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                d.at_us,
                d.subject,
                d.credential,
                d.method,
                d.path[:2000],
                d.route,
                " ".join(d.scopes),
                "allowed" if d.allowed else "refused",
                d.reason,
                d.request_id,
            )
            for d in decisions
        ],
    )


def _shown(row: tuple[Any, ...]) -> dict[str, Any]:
    at, subject, credential, method, path, route, scopes, outcome, reason, request_id = row
    return {
        "at": at / 1e6,
        "subject": subject,
        "credential": credential,
        "method": method,
        "path": path,
        "route": route,
        "scopes": scopes.split() if scopes else [],
        "outcome": outcome,
        "reason": reason,
        "request_id": request_id,
    }


def admin_routes(decisions: StoreDecisions) -> list[Scoped]:
    """``GET /admin/decisions?credential=&outcome=allowed|refused&since=&limit=``."""

    async def listed(request: Request) -> JSONResponse:
        query = request.query_params
        outcome = query.get("outcome")
        if outcome not in (None, "allowed", "refused"):
            raise ConfigError(f"outcome={outcome!r} is not known", fix="use allowed or refused")
        found = await decisions.query(
            credential=query.get("credential"),
            outcome=outcome,
            since_us=_since(query.get("since")),
            limit=_limit(query.get("limit")),
        )
        return JSONResponse({"decisions": found})

    return [Scoped("/decisions", listed, ("GET",), ADMIN_READ)]


def _since(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(float(text) * 1e6)
    except ValueError:
        raise ConfigError(
            f"since={text!r} is not a time", fix="give unix seconds, e.g. since=1767225600"
        ) from None


def _limit(text: str | None) -> int:
    try:
        limit = 100 if text is None else int(text)
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIMIT:
        raise ConfigError(f"limit={text!r} is out of range", fix=f"use 1 to {MAX_LIMIT}")
    return limit


__all__ = ["StoreDecisions", "admin_routes"]

