"""RFC 9457 problem details for every HTTP route, applied once, outermost.

An ``ArteryError`` becomes ``application/problem+json`` with ``type`` =
``https://artery.dev/problems/<code>``, a ``title`` fixed per error class, its HTTP status,
``detail`` (the message, which never holds payload values) and the ``fix`` extension.
Routing errors (unknown path, wrong method) use ``about:blank`` as RFC 9457 suggests.
Anything else is a 500 problem that says nothing about internals; the traceback goes to
the ``artery.http`` log, not to the caller.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, ExceptionHandler, Message, Receive, Scope, Send

from artery.errors import ArteryError

TYPE_BASE = "https://artery.dev/problems/"
MEDIA_TYPE = "application/problem+json"

log = logging.getLogger("artery.http")


class ProblemResponse(JSONResponse):
    media_type = MEDIA_TYPE


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    type_: str = "about:blank",
    fix: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> ProblemResponse:
    body: dict[str, Any] = {"type": type_, "title": title, "status": status, "detail": detail}
    if fix is not None:
        body["fix"] = fix
    return ProblemResponse(body, status_code=status, headers=headers)


def title_of(error: type[ArteryError]) -> str:
    """``UnknownTopic`` -> ``Unknown topic``: stable for every error of that class."""
    words = re.findall(r"[A-Z][a-z0-9]*", error.__name__)
    return " ".join(words).capitalize() if words else "Error"


def from_error(exc: ArteryError) -> ProblemResponse:
    return problem(
        exc.http_status,
        title_of(type(exc)),
        exc.message,
        type_=TYPE_BASE + exc.code,
        fix=exc.fix,
        headers=exc.headers,
    )


async def _artery_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ArteryError)
    if exc.http_status >= 500:
        log.warning("%s %s failed: %s", request.method, request.url.path, exc)
    return from_error(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    phrase = HTTPStatus(exc.status_code).phrase
    detail = exc.detail if exc.detail and exc.detail != phrase else f"{request.url.path}: {phrase}"
    return problem(exc.status_code, phrase, detail, headers=exc.headers)


def handlers() -> dict[Any, ExceptionHandler]:
    """Exception handlers for ``Starlette(exception_handlers=...)``."""
    return {ArteryError: _artery_error, HTTPException: _http_error}


class UnexpectedErrors:
    """ASGI middleware: an exception no handler claimed becomes a bare 500 problem.

    Sits inside Starlette's error middleware, so the caller gets problem+json instead of a
    plain-text 500, and the process logs the traceback once."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception:
            log.exception("admin request %s %s failed", scope.get("method"), scope.get("path"))
            if started:  # too late for a problem response; drop the connection
                raise
            response = problem(
                500,
                "Internal error",
                "the request failed unexpectedly; the error was logged by the server",
                type_=TYPE_BASE + "artery.internal",
                fix="see the server log for the cause, then try again",
            )
            await response(scope, receive, send)
