"""The ``/console`` mount: every page behind the gate, signed in with a session cookie.

A page request goes through the same ``Gate`` as the API (decisions recorded, rate limit,
body size, timeout), with ``Sessions`` as its authenticator instead of API keys. Errors are
answered as pages, not problem+json: no session sends the browser to the sign-in page, a
missing scope or a bad CSRF token is a 403 page, any other error a page naming the problem
and the fix. Sign-in is the one page answered without a session: it is where an API key is
exchanged for one (and the edge refuses cross-site POSTs, so no other site can sign a
browser in).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from urllib.parse import quote, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from artery.console.sessions import COOKIE, Sessions, same_token
from artery.console.web import PREFIX, SECURITY_HEADERS, Console, Page, PageEndpoint, session
from artery.errors import ArteryError, Forbidden, Unauthenticated
from artery.gateway.gate import Decision, Gate, request_id
from artery.gateway.policy import CONSOLE_READ, Policy, Quota
from artery.govern import audit

SIGN_INS = Quota(20, 60)  # sign-in attempts per client address per minute
QUOTA = Quota(1200, 60)  # pages per viewer per minute: a person clicks, a script is limited
FORM_BYTES = 64 * 1024


def mount(console: Console, gate: Gate, sessions: Sessions, pages: Iterable[Page]) -> Mount:
    """``/console``: sign-in, sign-out and ``pages``, each behind its scope."""
    public = Policy(public=True, json_body=False, max_body=4096, quota=None, tags=("console",))
    sign_in = SignIn(console, sessions, gate)
    routes = [
        Route(
            "/sign-in",
            Errors(console, gate.guard("GET /console/sign-in", public, sign_in.show)),
            methods=["GET"],
        ),
        Route(
            "/sign-in",
            Errors(console, gate.guard("POST /console/sign-in", public, sign_in.submit)),
            methods=["POST"],
        ),
    ]
    signing_out = Page("/sign-out", sign_in.sign_out, ("POST",))
    for page in (signing_out, *pages):
        for method in page.methods:
            key = f"{method} {PREFIX}{page.path}"
            policy = Policy(
                scopes=(page.scope,),
                quota=QUOTA,
                json_body=False,
                max_body=FORM_BYTES,
                tags=("console",),
            )
            guarded = gate.guard(key, policy, _checked(page) if method == "POST" else page.endpoint)
            routes.append(Route(page.path, Errors(console, guarded), methods=[method]))
    routes.append(
        Route(
            "/",
            lambda request: RedirectResponse(PREFIX + "/catalog", 303, headers=SECURITY_HEADERS),
            methods=["GET"],
        )
    )
    return Mount(PREFIX, routes=routes)


def _checked(page: Page) -> PageEndpoint:
    """``page``'s endpoint, answered only when the form carries the session's CSRF token."""

    async def endpoint(request: Request) -> Response:
        form = await request.form()
        found = session(request)
        token = form.get("csrf")
        if found is None or not same_token(token if isinstance(token, str) else None, found):
            raise Forbidden(
                "the form's CSRF token is missing or not this session's",
                fix="reload the page and submit the form again",
            )
        return await page.endpoint(request)

    return endpoint


class Errors:
    """Errors as pages: the browser is sent to sign in, or shown what went wrong and what
    to do, in the console's own layout (the edge would answer problem+json)."""

    def __init__(self, console: Console, app: ASGIApp) -> None:
        self.console = console
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except Unauthenticated:
            path = scope["path"]  # the whole path: Starlette keeps it under a mount
            query = scope.get("query_string", b"").decode("latin-1")
            if query and scope["method"] == "GET":
                path += "?" + query
            target = f"{PREFIX}/sign-in?next={quote(path, safe='/')}"
            await RedirectResponse(target, 303, headers=SECURITY_HEADERS)(scope, receive, send)
        except ArteryError as exc:
            request = Request(scope, receive)
            context = {"status": exc.http_status, "message": exc.message, "fix": exc.fix}
            page = self.console.templates.render(request, "error.html", context, exc.http_status)
            page.headers.update(exc.headers)  # Retry-After, WWW-Authenticate
            await page(scope, receive, send)


class SignIn:
    """The exchange of an API key for a session, and its end."""

    def __init__(self, console: Console, sessions: Sessions, gate: Gate) -> None:
        self.console = console
        self.sessions = sessions
        self.gate = gate

    async def show(self, request: Request) -> Response:
        return await self.form(request)

    async def form(self, request: Request, problem: str | None = None) -> Response:
        status = 401 if problem else 200
        context = {"problem": problem, "next": _next(request.query_params.get("next"))}
        return self.console.templates.render(request, "sign_in.html", context, status)

    async def submit(self, request: Request) -> Response:
        # keys are 256 random bits: the limit is for the store reads and decisions a flood
        # of attempts would cost, per address (the gate limits per credential, and here
        # there is none yet)
        address = request.client.host if request.client else "unknown"
        await self.gate.throttle.take("address:" + address, "POST /console/sign-in", SIGN_INS)
        form = await request.form()
        key = form.get("key")
        given = form.get("next")
        next_page = _next(given if isinstance(given, str) else None)
        if not isinstance(key, str) or not key.strip():
            return await self.form(request, "Enter an API key.")
        try:
            principal = await self.sessions.keys.verify(key.strip())
        except Unauthenticated as exc:
            self._decide(request, None, None, exc.message)
            return await self.form(request, exc.message + ". " + (exc.fix or ""))
        if CONSOLE_READ not in principal.scopes:
            reason = "missing scope " + CONSOLE_READ
            self._decide(request, principal.subject, principal.credential, reason)
            return await self.form(
                request, f"This key lacks the scope {CONSOLE_READ} that signing in requires."
            )
        self._decide(request, principal.subject, principal.credential, "granted")
        token, _ = await self.sessions.open(principal)
        await audit.record(
            self.console.runtime.store,
            audit.Entry(principal.subject, "console", "sign-in", target=principal.credential),
        )
        response = RedirectResponse(next_page, 303, headers=SECURITY_HEADERS)
        response.set_cookie(
            COOKIE,
            token,
            max_age=max(1, math.ceil(self.sessions.ttl)),
            path=PREFIX,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    async def sign_out(self, request: Request) -> Response:
        token = request.cookies.get(COOKIE)
        if token:
            await self.sessions.close(token)
        await self.console.audit(request, "sign-out")
        response = RedirectResponse(PREFIX + "/sign-in", 303, headers=SECURITY_HEADERS)
        response.delete_cookie(COOKIE, path=PREFIX, httponly=True, samesite="strict")
        return response

    def _decide(
        self, request: Request, subject: str | None, credential: str | None, reason: str
    ) -> None:
        self.console.decisions.record(
            Decision(
                at_us=time.time_ns() // 1000,
                subject=subject,
                credential=credential,
                method="POST",
                path=request.url.path,
                route="POST /console/sign-in",
                scopes=(CONSOLE_READ,),
                allowed=reason == "granted",
                reason=reason,
                request_id=request_id(request),
            )
        )


def _next(given: str | None) -> str:
    """Where to go after signing in: a console page, never another site."""
    if not given:
        return PREFIX + "/catalog"
    parts = urlsplit(given)
    if parts.scheme or parts.netloc or not parts.path.startswith(PREFIX + "/"):
        return PREFIX + "/catalog"
    if "\\" in given or given.startswith("//"):
        return PREFIX + "/catalog"
    return given
