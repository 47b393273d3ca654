"""RFC 9457 problem details for every HTTP answer that is an error, applied once, outermost.

An ``ArteryError`` becomes ``application/problem+json``: ``type`` is
``https://artery.dev/problems/<code>`` (stable, what clients match on), ``title`` is fixed
per type by the catalog, then ``status``, ``detail`` (the message, which never holds payload
values), the ``fix`` extension, ``instance`` and ``request_id``.

``instance`` is the request's path, without its query string: RFC 9457 lets it be a
relative URI naming the occurrence, the path tells a reader which resource failed, and a
query string may carry personal data or a credential, so it is left out. The occurrence
itself is named by ``request_id`` (the ``X-Request-Id`` the edge gave the request), which is
what an operator searches the logs for.

Routing errors get Artery types too (``artery.not-found``, ``artery.method-not-allowed``
with ``Allow``). Anything unexpected is a 500 that says nothing about internals; the
traceback goes to the ``artery.http`` log, not to the caller. What every type means and what
to do about it is ``catalog.CATALOG``, served at ``GET /problems``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Scope

from artery.errors import ArteryError, ContractViolation
from artery.gateway import catalog
from artery.gateway.catalog import CATALOG
from artery.gateway.gate import Gate
from artery.gateway.policy import Policy

TYPE_BASE = "https://artery.dev/problems/"
MEDIA_TYPE = "application/problem+json"
NOT_FOUND = "artery.not-found"
METHOD_NOT_ALLOWED = "artery.method-not-allowed"
INTERNAL = "artery.internal"

log = logging.getLogger("artery.http")


class ProblemResponse(JSONResponse):
    """Rendered as 7-bit ASCII (non-ASCII escaped): a problem may quote a request's path,
    and clients that guess the charset of a type without one (requests does) misread
    UTF-8 there; ASCII reads the same under any guess."""

    media_type = MEDIA_TYPE

    def render(self, content: Any) -> bytes:
        return json.dumps(
            content, ensure_ascii=True, allow_nan=False, separators=(",", ":")
        ).encode("ascii")


def correlation(scope: Scope | None) -> tuple[str | None, str | None]:
    """``(instance, request_id)`` of the request ``scope`` describes (None without one)."""
    if scope is None:
        return None, None
    state = scope.get("state") or {}
    found = state.get("request_id")
    root, path = scope.get("root_path", ""), scope.get("path", "")
    if not path.startswith(root):  # ASGI: path holds root_path; older servers left it out
        path = root + path
    return (path or None), (found if isinstance(found, str) else None)


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    type_: str = "about:blank",
    fix: str | None = None,
    headers: Mapping[str, str] | None = None,
    scope: Scope | None = None,
    extra: Mapping[str, Any] | None = None,
) -> ProblemResponse:
    """A problem response; ``scope`` supplies ``instance`` and ``request_id``."""
    body: dict[str, Any] = {"type": type_, "title": title, "status": status, "detail": detail}
    if fix is not None:
        body["fix"] = fix
    instance, request_id = correlation(scope)
    if instance is not None:
        body["instance"] = instance
    if request_id is not None:
        body["request_id"] = request_id
    if extra:
        body.update(extra)
    return ProblemResponse(body, status_code=status, headers=headers)


def title_of(error: type[ArteryError]) -> str:
    """The catalog's title for the error's type (``UnknownTopic`` -> ``Unknown topic``
    when the catalog has none): stable for every error of that type."""
    known = CATALOG.get(error.code)
    if known is not None:
        return known.title
    words = re.findall(r"[A-Z][a-z0-9]*", error.__name__)
    return " ".join(words).capitalize() if words else "Error"


def from_error(
    exc: ArteryError, scope: Scope | None = None, *, extra: Mapping[str, Any] | None = None
) -> ProblemResponse:
    """The problem for ``exc``; its ``headers`` (``Retry-After``, ``WWW-Authenticate``,
    ``RateLimit``) go on the response. A contract violation lists where the data is wrong
    as ``errors: [{pointer, detail}]``, with the contracts layer's messages, which hide the
    values of classified fields. ``extra`` adds members (extensions) to the problem."""
    extra = dict(extra or {})
    if isinstance(exc, ContractViolation):
        extra["errors"] = [{"pointer": v.pointer, "detail": v.message} for v in exc.violations]
    return problem(
        exc.http_status,
        title_of(type(exc)),
        exc.message,
        type_=TYPE_BASE + exc.code,
        fix=exc.fix,
        headers=dict(exc.headers) or None,
        scope=scope,
        extra=extra,
    )


def internal(scope: Scope | None) -> ProblemResponse:
    """The 500 answer to an unexpected failure: nothing about what failed or where."""
    entry = CATALOG[INTERNAL]
    return problem(
        500,
        entry.title,
        "the request failed unexpectedly; the error was logged by the server",
        type_=TYPE_BASE + INTERNAL,
        fix=entry.fix,
        scope=scope,
    )


def for_exception(exc: Exception, scope: Scope) -> Response:
    """The answer to an exception that ended a request: an ``ArteryError`` as its problem,
    routing's 404 and 405 as Artery types, other HTTP errors as ``about:blank``, anything
    else as a bare 500 (logged with its traceback, once)."""
    if isinstance(exc, ArteryError):
        if exc.http_status >= 500:
            log.warning("%s %s failed: %s", scope.get("method"), scope.get("path"), exc.message)
        return from_error(exc, scope)
    if isinstance(exc, HTTPException):
        return _http_error(exc, scope)
    _, request_id = correlation(scope)
    log.error(
        "request %s %s failed (request id %s)",
        scope.get("method"),
        scope.get("path"),
        request_id,
        exc_info=exc,
    )
    return internal(scope)


def _http_error(exc: HTTPException, scope: Scope) -> Response:
    """Routing's own errors: 404 and 405 as Artery types, others as ``about:blank``."""
    path = scope.get("path", "")
    where = f"{scope.get('method')} {path}"
    if exc.status_code == 404:
        entry = CATALOG[NOT_FOUND]
        return problem(
            404,
            entry.title,
            f"nothing is served at {path}",
            type_=TYPE_BASE + NOT_FOUND,
            fix="check the path against GET /openapi.json",
            scope=scope,
        )
    if exc.status_code == 405:
        entry = CATALOG[METHOD_NOT_ALLOWED]
        allowed = (exc.headers or {}).get("Allow", "")
        return problem(
            405,
            entry.title,
            f"{where} is not allowed; this path answers {allowed or 'no method'}",
            type_=TYPE_BASE + METHOD_NOT_ALLOWED,
            fix=entry.fix,
            headers=exc.headers,
            scope=scope,
        )
    phrase = HTTPStatus(exc.status_code).phrase
    detail = exc.detail if exc.detail and exc.detail != phrase else f"{where}: {phrase}"
    return problem(exc.status_code, phrase, detail, headers=exc.headers, scope=scope)


def catalog_json() -> list[dict[str, Any]]:
    """The catalog as served: one object per problem type, ordered by status then code."""
    return [entry.as_json(TYPE_BASE) for entry in catalog.ordered()]


def catalog_markdown() -> str:
    """The catalog as ``docs/problems.md``."""
    return catalog.markdown(TYPE_BASE)


def routes(gate: Gate) -> list[BaseRoute]:
    """``GET /problems``: the catalog, to any caller holding a valid credential."""

    async def listing(request: Request) -> Response:
        return JSONResponse(catalog_json())

    guarded = gate.guard("GET /problems", Policy(), listing)
    return [Route("/problems", guarded, methods=["GET"], name="problems")]
