"""Console pages: webhooks. Sources with their recent rejections and why (a partner's
calls failing is found here, not in logs); destinations with their attempts by status,
and the operator's levers: resend one event, replay a time range, disable and enable,
rotate the signing secret.

Every operation is the admin API's own (``admin/destinations.py``, ``admin/sources.py``,
``Outbound``, ``RunTimeDestinations``), so both doors do the same thing; each action is
written to the audit trail, and a resend or replay is noted as an intervention as the admin
API notes it. Secrets are shown by the variable that holds them, never by value.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from artery.admin.destinations import attempt_counts, attempts_of, replayed, resent, time_us
from artery.admin.sources import rejections_of
from artery.console.web import Console, Page, back, viewer
from artery.errors import ConfigError, NotFound
from artery.gateway.policy import CONSOLE_WRITE
from artery.govern import secrets
from artery.webhooks.ledger import Ledger
from artery.webhooks.outbound import Outbound
from artery.webhooks.registry import RunTimeDestinations

DAY_US = 86_400 * 1_000_000
ATTEMPTS = 100  # rows of a destination's page
OUTCOMES = ("delivered", "failed", "skipped")


def pages(console: Console) -> list[Page]:
    hooks = Webhooks(console)
    acting = "/webhooks/destinations/{name}/"
    return [
        Page("/webhooks", hooks.index),
        Page("/webhooks/sources/{name}", hooks.source),
        Page("/webhooks/destinations/{name}", hooks.destination),
        *(
            Page(acting + action, endpoint, ("POST",), CONSOLE_WRITE)
            for action, endpoint in (
                ("resend", hooks.resend),
                ("replay", hooks.replay),
                ("disable", hooks.disable),
                ("enable", hooks.enable),
                ("rotate", hooks.rotate),
                ("retire", hooks.retire),
            )
        ),
    ]


class Webhooks:
    """The pages' endpoints, over the serving process's ledger and destinations."""

    def __init__(self, console: Console) -> None:
        self.console = console

    # -- pages -------------------------------------------------------------------------

    async def index(self, request: Request) -> Response:
        ledger, outbound = self.console.ledger, self.console.outbound
        since = int(time.time() * 1_000_000) - DAY_US
        context = {
            "sources": await ledger.status() if ledger else [],
            "destinations": await outbound.described() if outbound else [],
            "counts": await attempt_counts(outbound, since) if outbound else {},
        }
        return self.console.templates.render(request, "webhooks.html", context)

    async def source(self, request: Request) -> Response:
        ledger = self._ledger()
        name = request.path_params["name"]
        rejections = await rejections_of(ledger, name)
        (status,) = [s for s in await ledger.status() if s["name"] == name]
        context = {"source": status, "rejections": rejections}
        return self.console.templates.render(request, "webhooks_source.html", context)

    async def destination(self, request: Request) -> Response:
        outbound = self._outbound()
        name = request.path_params["name"]
        d = outbound.known(name)
        query = {k: v for k in ("outcome", "status") if (v := request.query_params.get(k))}
        if query.get("outcome", OUTCOMES[0]) not in OUTCOMES:
            raise ConfigError(
                f"outcome={query['outcome']!r} is not an attempt's outcome",
                fix=f"use one of {', '.join(OUTCOMES)}, or leave it empty for all",
            )
        since = int(time.time() * 1_000_000) - DAY_US
        (state,) = [found for found in await outbound.described() if found["name"] == name]
        context = {
            "d": state,
            "integration": d.integration,
            "attempts": await attempts_of(outbound, name, query, ATTEMPTS),
            "counts": (await attempt_counts(outbound, since)).get(name, {}),
            "filters": query,
            "outcomes": OUTCOMES,
            "rotation": await self._rotation(name, d.secret),
            "since_default": _iso(time.time() - 3600),
        }
        return self.console.templates.render(request, "webhooks_destination.html", context)

    # -- actions -----------------------------------------------------------------------

    async def resend(self, request: Request) -> Response:
        outbound = self._outbound()
        name = request.path_params["name"]
        d = outbound.known(name)
        event_id = _field(await request.form(), "event_id", "the id of an event it was sent")
        sent = await resent(outbound, name, event_id, viewer(request).subject)
        result = f"{sent.outcome} ({sent.status or sent.error or 'no answer'})"
        await self.console.audit(
            request,
            "resend",
            target=name,
            integration=d.integration,
            detail=f"event {event_id!r}: {result}",
        )
        return back(_page(name), done=f"Resent event {event_id} to {name}: {result}.")

    async def replay(self, request: Request) -> Response:
        outbound = self._outbound()
        name = request.path_params["name"]
        d = outbound.known(name)
        form = await request.form()
        since = time_us(
            _field(form, "since", "an ISO 8601 time, e.g. 2026-01-31T12:00:00Z"), "since"
        )
        until_text = form.get("until")
        until = time_us(until_text, "until") if isinstance(until_text, str) and until_text else None
        done = await replayed(outbound, name, since, until, viewer(request).subject)
        outcomes = ", ".join(f"{n} {o}" for o, n in sorted(done["outcomes"].items())) or "none"
        summary = f"{done['sent']} event(s) sent again ({outcomes})"
        await self.console.audit(
            request,
            "replay",
            target=name,
            integration=d.integration,
            detail=f"{summary} from {_iso(since / 1e6)}"
            + (f" until {_iso(until / 1e6)}" if until is not None else ""),
        )
        more = f" More remain: replay again from {done['next_since']}." if done["more"] else ""
        return back(_page(name), done=f"Replayed to {name}: {summary}.{more}")

    async def disable(self, request: Request) -> Response:
        outbound = self._outbound()
        name = request.path_params["name"]
        d = outbound.known(name)
        who = viewer(request).subject
        changed = await outbound.disable(name, f"disabled by {who} (console)")
        await self.console.audit(
            request,
            "disable",
            target=name,
            integration=d.integration,
            detail=None if changed else "was already disabled",
        )
        return back(_page(name), done=f"{name} is disabled: its events are skipped.")

    async def enable(self, request: Request) -> Response:
        outbound = self._outbound()
        name = request.path_params["name"]
        d = outbound.known(name)
        await outbound.enable(name)
        await self.console.audit(request, "enable", target=name, integration=d.integration)
        return back(_page(name), done=f"{name} is enabled: deliveries resume.")

    async def rotate(self, request: Request) -> Response:
        """Step one of a rotation: sign with a new secret beside the current ones, so the
        partner may switch to it at its own pace (every delivery carries each signature)."""
        name = request.path_params["name"]
        ref = _field(await request.form(), "secret", "the new secret's name, e.g. erp-2026")
        variable = secrets.variable_of(ref)  # refuses a pasted value: only names are taken
        self._unshared(name, ref)
        secrets.resolve((ref,))  # refuses a variable not set here, naming it
        spec, current = await self._run_time_spec(name)
        if ref in current:
            raise ConfigError(
                f"{ref!r} is already one of {name}'s secrets",
                fix="name a new secret, or retire an old one",
            )
        spec["secret"] = [ref, *current]
        await self._registry().replace(name, spec)
        await self.console.audit(
            request,
            "rotate-secret",
            target=name,
            detail=f"added secret {variable} beside {', '.join(map(secrets.variable_of, current))}",
        )
        return back(
            _page(name),
            done=f"{name} now signs with {variable} as well. Give the partner the new secret,"
            " then retire the old one.",
        )

    async def retire(self, request: Request) -> Response:
        """Step two: stop signing with an old secret, once the partner verifies the new."""
        name = request.path_params["name"]
        ref = _field(await request.form(), "secret", "the name of the secret to retire")
        spec, current = await self._run_time_spec(name)
        if ref not in current:
            raise ConfigError(
                f"{ref!r} is not one of {name}'s secrets",
                fix=f"choose one of {', '.join(current)}",
            )
        if len(current) == 1:
            raise ConfigError(
                f"{ref!r} is {name}'s only secret", fix="add the new secret first (rotate)"
            )
        spec["secret"] = [r for r in current if r != ref]
        await self._registry().replace(name, spec)
        variable = secrets.variable_of(ref)
        await self.console.audit(
            request, "retire-secret", target=name, detail=f"stopped signing with {variable}"
        )
        return back(
            _page(name),
            done=f"{name} no longer signs with {variable}; it may be removed from the environment.",
        )

    # -- helpers -----------------------------------------------------------------------

    def _unshared(self, name: str, ref: str) -> None:
        """A new secret is one of Artery's own (``ARTERY_SECRET_*``, by its plain name) and
        no other declaration's: signing with a source's secret would let the partner
        replay our own deliveries to that source as genuine calls."""
        if ref.startswith("env:") or not ref.strip():
            raise ConfigError(
                f"{ref[:60]!r} is not a secret's plain name",
                fix="name it like erp-2026 (read from ARTERY_SECRET_ERP_2026)",
            )
        wanted = secrets.variable_of(ref)
        users = [
            *(s.name for s in self.console.declared.sources.values() if _uses(s.secret, wanted)),
            *(
                d.name
                for d in self.console.declared.destinations.values()
                if d.name != name and _uses(d.secret, wanted)
            ),
        ]
        if users:
            raise ConfigError(
                f"{wanted} is already the secret of {', '.join(sorted(users))}",
                fix="give each destination a secret of its own",
            )

    async def _rotation(self, name: str, refs: tuple[str, ...]) -> dict[str, Any]:
        """What the page says about the secrets: each reference, its variable and whether
        this process has it set (never its value), and whether the console can rotate."""
        registry = self.console.registry
        return {
            "run_time": registry is not None and name not in registry.code,
            "secrets": [
                {"ref": ref, "variable": secrets.variable_of(ref), "set": _is_set(ref)}
                for ref in refs
            ],
        }

    async def _run_time_spec(self, name: str) -> tuple[dict[str, Any], list[str]]:
        """The stored spec of a destination made at run time, and its secret names;
        refuses one declared in code (its page says how to rotate it)."""
        registry = self._registry()
        self._outbound().known(name)
        if name in registry.code:
            raise ConfigError(
                f"destination {name!r} is declared in the app's code: its secrets are too",
                fix="follow the steps on its page: set the new secret beside the old one in its"
                " variable, redeploy, then remove the old one",
            )
        rows = await self.console.runtime.store.read(
            lambda tx: tx.execute(
                "SELECT spec_json FROM webhook_destinations WHERE name = ?", (name,)
            )
        )
        if not rows:
            raise NotFound(f"no run-time destination named {name!r}", fix="reload the page")
        spec = orjson.loads(rows[0][0])
        return spec, list(secrets.references(spec["secret"]))

    def _ledger(self) -> Ledger:
        if self.console.ledger is None:
            raise NotFound("this process serves no webhook sources", fix="use artery run")
        return self.console.ledger

    def _outbound(self) -> Outbound:
        if self.console.outbound is None:
            raise NotFound("this process delivers to no webhook destinations", fix="use artery run")
        return self.console.outbound

    def _registry(self) -> RunTimeDestinations:
        if self.console.registry is None:
            raise ConfigError("this process manages no destinations", fix="use artery run")
        return self.console.registry


def _field(form: FormData, name: str, fix: str) -> str:
    value = form.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"the form has no {name.replace('_', ' ')}", fix=f"enter {fix}")
    return value.strip()


def _is_set(ref: str) -> bool:
    try:
        secrets.resolve((ref,))
    except ConfigError:
        return False
    return True


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def _page(name: str) -> str:
    return f"/webhooks/destinations/{name}"


def _uses(refs: tuple[str, ...], variable: str) -> bool:
    return any(secrets.variable_of(ref) == variable for ref in refs)
