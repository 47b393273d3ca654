"""OpenAPI 3.1 for everything the front door serves, generated from what is declared.

Integration routes are described from their contracts (JSON Schema 2020-12 is OpenAPI
3.1's own dialect, so a contract's schema is used as it is, its internal ``$ref`` moved
under ``components``); the admin API generically (method, path, scope, JSON answers); the
token endpoint, JWKS, ``/healthz`` and ``/readyz`` as the front door serves them. Every
error is ``application/problem+json`` with one shared ``Problem`` schema, and every
operation names the credentials and scopes it needs. Served at ``GET /openapi.json`` to
any valid credential; built once per process (declarations do not change while it runs).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from artery.admin.scoped import Scoped
from artery.contracts import Registry
from artery.gateway.gate import Gate
from artery.gateway.policy import ADMIN_DESTROY, ADMIN_READ, ADMIN_WRITE, Policy
from artery.gateway.problems import MEDIA_TYPE as PROBLEM
from artery.gateway.route import ApiRoute
from artery.integration import Contract, Declarations, resolve

PATH = "/openapi.json"
JSON = "application/json"
TOKEN_URL = "/oauth/token"
JWKS_PATH = "/.well-known/jwks.json"
ADMIN_PREFIX = "/admin"
ADMIN_SCOPE_TEXT = {
    ADMIN_READ: "read the admin API",
    ADMIN_WRITE: "change state through the admin API (redrive, start, signal, cancel)",
    ADMIN_DESTROY: "destructive admin actions that cannot be undone (purge)",
}
ERRORS = {
    "400": "The request is malformed",
    "401": "No valid credential",
    "403": "The credential lacks a scope this operation needs",
    "404": "Not found",
    "409": "Conflict (an Idempotency-Key still in flight, or a state that forbids it)",
    "413": "The request body is over the route's limit",
    "415": "The body is not application/json",
    "422": "The body violates the route's contract",
    "429": "The client's rate limit on this route is spent",
    "500": "The server failed",
    "503": "A dependency (the store) is not available",
    "504": "The request took longer than the route's timeout",
}
_CONVERTOR = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::[a-z]+)?\}")
_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_COMPONENT = re.compile(r"[^A-Za-z0-9._-]")

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string", "format": "uri-reference"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 100, "maximum": 599},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "fix": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["pointer", "detail"],
                "properties": {"pointer": {"type": "string"}, "detail": {"type": "string"}},
            },
        },
    },
}
ACCEPTED_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "The event the body was published as",
    "required": ["id", "topic"],
    "properties": {
        "id": {"type": "string"},
        "topic": {"type": "string"},
        "partition": {"type": "integer"},
    },
}


async def contract_schemas(routes: Iterable[ApiRoute], registry: Registry) -> dict[str, Any]:
    """The current schema of every subject a route reads or answers with, by subject."""
    found: dict[str, Any] = {}
    for route in routes:
        for target in (route.request, route.response, route.ingest):
            subject = target.subject if isinstance(target, Contract) else target
            if subject is not None and subject not in found:
                found[subject] = (await registry.get(subject)).schema
    return found


def document(
    routes: Iterable[ApiRoute],
    schemas: Mapping[str, Any],
    admin: Iterable[Scoped],
    *,
    title: str,
    version: str = "1",
) -> dict[str, Any]:
    """The OpenAPI 3.1 document: ``schemas`` maps each contract subject to its schema."""
    routes = list(routes)
    admin = list(admin)
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    for scoped in admin:
        path = ADMIN_PREFIX + _CONVERTOR.sub(r"{\1}", scoped.path)
        for method in scoped.methods:
            paths.setdefault(path, {})[method.lower()] = _admin_operation(method, path, scoped)
    paths.update(_front_door_paths())
    scopes = {s: f"call routes that need {s}" for r in routes for s in r.policy.scopes}
    scopes.update(ADMIN_SCOPE_TEXT)
    components_schemas = {"Problem": PROBLEM_SCHEMA, "Accepted": ACCEPTED_SCHEMA}
    for subject, schema in schemas.items():
        components_schemas[component(subject)] = _embedded(schema, component(subject))
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": components_schemas,
            "responses": {code: _problem(text) for code, text in ERRORS.items()},
            "securitySchemes": _security_schemes(scopes),
        },
    }


class OpenApi:
    """``GET /openapi.json`` for one serving process."""

    def __init__(
        self, declared: Declarations, registry: Registry, admin: Sequence[Scoped], title: str
    ) -> None:
        self.routes = list(declared.routes.values())
        self.contracts = declared.contracts
        self.registry = registry
        self.admin = list(admin)
        self.title = title
        self._body: bytes | None = None

    async def body(self) -> bytes:
        if self._body is None:
            schemas = await contract_schemas(self.routes, self.registry)
            built = document(self.routes, schemas, self.admin, title=self.title)
            self._body = orjson.dumps(built)
        return self._body

    async def endpoint(self, request: Request) -> Response:
        return Response(await self.body(), media_type=JSON)

    def route(self, gate: Gate) -> Route:
        """The route, behind ``gate``: any valid credential may read it."""
        guarded = gate.guard("GET " + PATH, Policy(), self.endpoint)
        return Route(PATH, guarded, methods=["GET"], name="openapi")


def component(subject: str) -> str:
    """A subject as a component name (``^[A-Za-z0-9._-]+$``)."""
    return _COMPONENT.sub("_", subject)


def _ref(subject_or_contract: Contract | str | None) -> dict[str, Any]:
    if subject_or_contract is None:
        return {}
    found = resolve({}, subject_or_contract)
    subject = found.subject if isinstance(found, Contract) else found
    return {"$ref": f"#/components/schemas/{component(subject)}"}


def _embedded(schema: Any, name: str) -> Any:
    """``schema`` moved under ``#/components/schemas/<name>``: its own ``$ref``s ("#/...")
    now point there; an ``$id`` would rebase them, so it is dropped."""
    base = f"#/components/schemas/{name}"

    def moved(node: Any) -> Any:
        if isinstance(node, dict):
            out = {k: moved(v) for k, v in node.items()}
            ref = out.get("$ref")
            if isinstance(ref, str) and ref.startswith("#"):
                out["$ref"] = base + ref[1:]
            return out
        if isinstance(node, list):
            return [moved(v) for v in node]
        return node

    found = moved(schema)
    if isinstance(found, dict):
        found.pop("$id", None)
    return found


def _security(scopes: Sequence[str]) -> list[dict[str, list[str]]]:
    needed = list(scopes)
    return [{"apiKey": needed}, {"bearer": needed}, {"oauth2": needed}]


def _security_schemes(scopes: Mapping[str, str]) -> dict[str, Any]:
    return {
        "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "description": "an API key (ak_...) or a JWT access token",
        },
        "oauth2": {
            "type": "oauth2",
            "flows": {"clientCredentials": {"tokenUrl": TOKEN_URL, "scopes": dict(scopes)}},
        },
    }


def _problem(text: str) -> dict[str, Any]:
    schema = {"$ref": "#/components/schemas/Problem"}
    return {"description": text, "content": {PROBLEM: {"schema": schema}}}


def _errors(*codes: str) -> dict[str, Any]:
    return {code: {"$ref": f"#/components/responses/{code}"} for code in codes}


def _oauth_errors() -> dict[str, Any]:
    """RFC 6749 section 5.2: the token endpoint's own errors are ``{"error": ...}`` JSON;
    errors of the front door before it (a bad Host, a too-large form) stay problem+json."""
    oauth = {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
    }
    answers = {}
    for code, text in (("400", "The token request is malformed"), ("401", "Bad client")):
        answer = _problem(text)
        answer["content"] = {"application/json": {"schema": oauth}, **answer["content"]}
        answers[code] = answer
    return answers


def _path_parameters(path: str) -> list[dict[str, Any]]:
    return [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PARAM.findall(path)
    ]


def _idempotency_header() -> dict[str, Any]:
    return {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "description": "answer a retried request once (IETF httpapi idempotency-key draft)",
        "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[ -~]+$"},
    }


def _operation(route: ApiRoute) -> dict[str, Any]:
    parameters = _path_parameters(route.path)
    keyed = route.method in ("POST", "PATCH") and route.upstream is None
    if keyed:
        parameters.append(_idempotency_header())
    operation: dict[str, Any] = {
        "operationId": route.name,
        "summary": route.summary or route.key,
        "tags": [route.integration or "routes"],
        "parameters": parameters,
        "security": _security(route.policy.scopes),
    }
    contract = route.request or route.ingest
    if contract is not None:
        body = {"schema": _ref(contract)}
        operation["requestBody"] = {"required": True, "content": {JSON: body}}
    elif route.method in ("POST", "PUT", "PATCH"):
        operation["requestBody"] = {"required": False, "content": {JSON: {"schema": {}}}}
    errors = ["400", "401", "403", "413", "415", "422", "429", "500", "504"]
    if keyed:
        errors.append("409")
    if route.ingest is not None:
        success = {"202": _json("Published", {"$ref": "#/components/schemas/Accepted"})}
    elif route.upstream is not None:
        success = {"default": {"description": "The upstream's answer"}}
        errors = ["401", "403", "413", "415", "429"]
    else:
        success = {"2XX": _json("The handler's answer", _ref(route.response))}
    operation["responses"] = {**success, **_errors(*errors)}
    if route.policy.deprecation is not None:
        operation["deprecated"] = True
    return operation


def _json(text: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": text, "content": {JSON: {"schema": schema}}}


def _admin_operation(method: str, path: str, scoped: Scoped) -> dict[str, Any]:
    name = re.sub(r"[^A-Za-z0-9]+", "_", f"admin {method} {path}".lower()).strip("_")
    operation: dict[str, Any] = {
        "operationId": name,
        "summary": f"{method} {path} (needs {scoped.scope})",
        "tags": ["admin"],
        "parameters": _path_parameters(path),
        "security": _security([scoped.scope]),
        "responses": {
            "2XX": _json("A JSON document", {}),
            **_errors("400", "401", "403", "404", "409", "413", "415", "422", "429", "500"),
        },
    }
    if method in ("POST", "PUT", "PATCH"):
        operation["requestBody"] = {"required": False, "content": {JSON: {"schema": {}}}}
    return operation


def _public(summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "summary": summary,
        "tags": ["front door"],
        "security": [],
        **extra,
        "responses": responses,
    }


def _front_door_paths() -> dict[str, dict[str, Any]]:
    token_form = {
        "type": "object",
        "required": ["grant_type"],
        "properties": {
            "grant_type": {"type": "string", "enum": ["client_credentials"]},
            "scope": {"type": "string"},
            "client_id": {"type": "string"},
            "client_secret": {"type": "string"},
        },
    }
    token = {
        "type": "object",
        "required": ["access_token", "token_type", "expires_in"],
        "properties": {
            "access_token": {"type": "string"},
            "token_type": {"type": "string"},
            "expires_in": {"type": "integer"},
            "scope": {"type": "string"},
        },
    }
    any_credential = _security([])
    return {
        TOKEN_URL: {
            "post": _public(
                "Issue a JWT access token (OAuth2 client credentials, RFC 9068)",
                {"200": _json("An access token", token), **_oauth_errors(), **_errors("429")},
                operationId="token",
                requestBody={
                    "required": True,
                    "content": {"application/x-www-form-urlencoded": {"schema": token_form}},
                },
            )
        },
        JWKS_PATH: {
            "get": _public(
                "The keys that sign this gateway's access tokens (JWKS)",
                {"200": _json("A JWK set", {"type": "object", "required": ["keys"]})},
                operationId="jwks",
            )
        },
        "/healthz": {
            "get": _public("The process is up", {"200": _json("Up", {})}, operationId="healthz")
        },
        "/readyz": {
            "get": _public(
                "The store is reachable, migrations applied, background loops healthy",
                {"200": _json("Ready", {}), **_errors("503")},
                operationId="readyz",
            )
        },
        PATH: {
            "get": {
                "operationId": "openapi",
                "summary": "This document",
                "tags": ["front door"],
                "security": any_credential,
                "responses": {
                    "200": _json("OpenAPI 3.1", {"type": "object"}),
                    **_errors("401", "429"),
                },
            }
        },
    }
