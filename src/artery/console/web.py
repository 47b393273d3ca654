"""What every console page shares: how it is declared (``Page``), the context it is built
from (``Console``) and how it is rendered (``Templates``)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlencode, urlsplit, urlunsplit

import jinja2
import orjson
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from artery.console.sessions import Session
from artery.errors import ConfigError
from artery.gateway.policy import CONSOLE_READ, CONSOLE_SCOPES, Principal
from artery.govern import audit as trail
from artery.numbers import whole

if TYPE_CHECKING:
    from artery.gateway.decisions import StoreDecisions
    from artery.integration import Declarations
    from artery.runtime import Runtime
    from artery.webhooks.ledger import Ledger
    from artery.webhooks.outbound import Outbound
    from artery.webhooks.registry import RunTimeDestinations
    from artery.workflows import Workflows

PREFIX = "/console"
PageEndpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Page:
    """``path`` under ``/console`` answered by ``endpoint`` for ``methods``, to viewers
    whose key holds ``scope``. A POST page gets its form's CSRF token checked first."""

    path: str
    endpoint: PageEndpoint
    methods: tuple[str, ...] = ("GET",)
    scope: str = CONSOLE_READ

    def __post_init__(self) -> None:
        if self.scope not in CONSOLE_SCOPES:
            raise ValueError(f"console page {self.path} needs one of {CONSOLE_SCOPES}")


@dataclass
class Console:
    """What the pages read and act on: the runtime, the app's declarations and the
    serving process's parts (webhook ledger and destinations, when it has them)."""

    runtime: Runtime
    declared: Declarations
    runs: Workflows
    templates: Templates
    decisions: StoreDecisions
    ledger: Ledger | None = None
    outbound: Outbound | None = None
    registry: RunTimeDestinations | None = None

    async def audit(self, request: Request, action: str, **fields: str | None) -> None:
        """Record what the viewer did (``target``, ``integration``, ``detail``)."""
        await trail.record(self.runtime.store, self.entry(request, action, **fields))

    def entry(self, request: Request, action: str, **fields: str | None) -> trail.Entry:
        return trail.Entry(viewer(request).subject, "console", action, **fields)


def viewer(request: Request) -> Principal:
    found = request.scope.get("state", {}).get("principal")
    if not isinstance(found, Principal):  # only reachable if a page skipped the gate
        raise RuntimeError("console page served without a signed-in viewer")
    return found


def session(request: Request) -> Session | None:
    found = request.scope.get("state", {}).get("session")
    return found if isinstance(found, Session) else None


def when(seconds: float | None) -> str:
    """A time as people read it in a table: UTC, to the second."""
    if seconds is None:
        return "-"
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S")


def ago(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    delta = max(0.0, time.time() - seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if delta >= size:
            return f"{delta / size:.0f} {unit} ago"
    return f"{delta:.0f} s ago"


def pretty(value: Any) -> str:
    """JSON for a ``<pre>``: indented, keys in their order."""
    return orjson.dumps(value, option=orjson.OPT_INDENT_2, default=str).decode()


def query_with(request: Request, **changes: Any) -> str:
    """The current query string with ``changes`` (None removes), for filter and page links."""
    params = dict(request.query_params)
    for name, value in changes.items():
        if value is None:
            params.pop(name, None)
        else:
            params[name] = str(value)
    return "?" + urlencode(params) if params else "?"


def address(url: str, whole: bool) -> str:
    """A destination's URL as a viewer may see it: without credentials, query or fragment
    (where tokens hide: ``https://user:pass@...``, ``?token=``) unless ``whole`` (the viewer
    may change destinations anyway)."""
    if whole:
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host += f":{parts.port}"
    hidden = "…" if parts.query or parts.fragment else ""
    return urlunsplit((parts.scheme, host, parts.path, "", "")) + hidden


class Templates:
    """The package's Jinja2 templates, autoescaped: whatever an event or a partner wrote
    is shown as text, never run as markup."""

    def __init__(self) -> None:
        self.env = jinja2.Environment(
            loader=jinja2.PackageLoader("artery.console", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(when=when, ago=ago, pretty=pretty, address=address)

    def render(
        self, request: Request, name: str, context: Mapping[str, Any], status: int = 200
    ) -> HTMLResponse:
        found = session(request)
        principal = request.scope.get("state", {}).get("principal")
        scopes = principal.scopes if isinstance(principal, Principal) else frozenset()
        notice = request.cookies.get(NOTICE)
        page = self.env.get_template(name).render(
            request=request,
            notice=unquote(notice) if notice else None,
            viewer=principal if isinstance(principal, Principal) else None,
            csrf=found.csrf if found else "",
            can=lambda scope: scope in scopes,
            query_with=lambda **changes: query_with(request, **changes),
            prefix=PREFIX,
            **context,
        )
        response = HTMLResponse(page, status_code=status, headers=SECURITY_HEADERS)
        if notice is not None:  # shown once
            response.delete_cookie(NOTICE, path=PREFIX, httponly=True, samesite="strict")
        return response


# No script runs on these pages, no frame may hold them, and nothing is cached: a page
# shows what an operator is allowed to see, and the next viewer of a shared browser is not.
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'"
    " data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}


NOTICE = "artery_console_notice"


def back(to: str, done: str | None = None) -> RedirectResponse:
    """After an action, back to a page (303: the browser GETs it), with what was done shown
    once there. The notice travels in a short-lived same-site cookie, not the URL, so no
    link from elsewhere can put words on a console page."""
    response = RedirectResponse(PREFIX + to, status_code=303, headers=SECURITY_HEADERS)
    if done:
        response.set_cookie(
            NOTICE, quote(done[:300]), max_age=60, path=PREFIX, httponly=True, samesite="strict"
        )
    return response


def int_param(request: Request, name: str, default: int, low: int = 1, high: int = 1000) -> int:
    text = request.query_params.get(name)
    if text is None or text == "":
        return default
    found = whole(text, high)
    if found is None or found < low:
        raise ConfigError(
            f"{name}={text[:40]!r} is not a whole number from {low} to {high}",
            fix=f"use e.g. {name}={default}",
        )
    return found
