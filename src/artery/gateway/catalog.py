"""The catalog of problem types: every error a caller of the HTTP face can be answered with.

Each entry is keyed by the error's stable ``code`` (the suffix of its problem ``type`` URI)
and says its title, status, when it happens and what to do. It is served at
``GET /problems`` and is the source of ``docs/problems.md`` (a test fails when the two
drift, and when an ``ArteryError`` subclass has no entry).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProblemType:
    """One kind of error answer: ``type`` = base + ``code``; ``title`` never varies."""

    code: str
    title: str
    status: int
    when: str
    fix: str

    def as_json(self, base: str) -> dict[str, object]:
        return {
            "type": base + self.code,
            "code": self.code,
            "title": self.title,
            "status": self.status,
            "when": self.when,
            "fix": self.fix,
        }


_ENTRIES = (
    ProblemType(
        "artery.config", "Invalid setting or argument", 400,
        "a setting, argument or query parameter cannot be used as given",
        "correct the value named in detail",
    ),
    ProblemType(
        "artery.invalid-event", "Invalid event", 400,
        "an event envelope or request body is malformed (not JSON, missing id, bad time)",
        "send a well-formed JSON body; detail names what is wrong",
    ),
    ProblemType(
        "artery.malformed-body", "Malformed body", 400,
        "the request body is not JSON at all, so no contract could be consulted",
        "send a JSON document with Content-Type: application/json",
    ),
    ProblemType(
        "artery.bad-idempotency-key", "Bad idempotency key", 400,
        "the Idempotency-Key header is empty, longer than 255 characters or not printable"
        " ASCII",
        "send a unique printable key of 1-255 characters (a UUID is a good choice)",
    ),
    ProblemType(
        "artery.host-not-allowed", "Host not allowed", 400,
        "the Host header names a host the server is not configured to answer for"
        " (a defence against DNS rebinding)",
        "call the server by one of its allowed host names, or add the name to"
        " allowed_hosts (ARTERY_ALLOWED_HOSTS)",
    ),
    ProblemType(
        "artery.webhook-signature", "Webhook signature refused", 401,
        "a webhook call's signature is missing, does not match its raw body under any of the"
        " source's secrets, or its signed timestamp is outside the tolerance (a replay)",
        "sign the call with the source's current secret and send it promptly;"
        " GET /admin/sources/{name}/rejections shows each refused call",
    ),
    ProblemType(
        "artery.unauthenticated", "Unauthenticated", 401,
        "the request has no credential, or one that is unknown, expired, revoked or badly"
        " signed; WWW-Authenticate says which",
        "send Authorization: Bearer <API key or access token> (artery keys create makes a"
        " key)",
    ),
    ProblemType(
        "artery.forbidden", "Forbidden", 403,
        "the credential is valid but lacks a scope the route requires",
        "use a credential granted the scope named in detail",
    ),
    ProblemType(
        "artery.origin-not-allowed", "Origin not allowed", 403,
        "a browser sent the request from a web page of another origin that is not among"
        " the configured CORS origins (a cross-site request)",
        "call the API from a server, or add the page's exact origin to cors_origins"
        " (ARTERY_CORS_ORIGINS)",
    ),
    ProblemType(
        "artery.not-found", "Not found", 404,
        "nothing is served at the path, or the thing it names does not exist",
        "check the path against GET /openapi.json and the identifier in it",
    ),
    ProblemType(
        "artery.unknown-contract", "Unknown contract", 404,
        "the request names a contract (subject or version) that is not registered",
        "register the contract, or use a subject listed by the registry",
    ),
    ProblemType(
        "artery.unknown-topic", "Unknown topic", 404,
        "the request names a topic that does not exist",
        "create the topic (declare its contract), or use an existing one",
    ),
    ProblemType(
        "artery.unknown-workflow", "Unknown workflow", 404,
        "the request names a workflow or run that does not exist",
        "use a workflow the app declares, or a run id from GET /admin/workflows/runs",
    ),
    ProblemType(
        "artery.method-not-allowed", "Method not allowed", 405,
        "the path exists but does not answer this method; Allow lists the ones it does",
        "use one of the methods in the Allow header",
    ),
    ProblemType(
        "artery.signal-timeout", "Signal timeout", 408,
        "a workflow waited for a signal longer than its timeout",
        "send the signal sooner, or give the wait a longer timeout",
    ),
    ProblemType(
        "artery.conflict", "Conflict", 409,
        "the request conflicts with the current state (a request with the same"
        " Idempotency-Key still in flight, a resource that already exists)",
        "wait for the other request to finish, then retry; or read the current state first",
    ),
    ProblemType(
        "artery.idempotency-in-flight", "Idempotency key in flight", 409,
        "the first request with this Idempotency-Key has not been answered yet",
        "wait and retry with the same key; Retry-After says when",
    ),
    ProblemType(
        "artery.compensation-requested", "Compensation requested", 409,
        "the workflow run was asked by an operator to undo its completed steps",
        "start a new run if the work is still wanted",
    ),
    ProblemType(
        "artery.incompatible-schema", "Incompatible schema", 409,
        "a new contract version breaks its subject's compatibility mode",
        "make the change compatible, or register it under a new subject",
    ),
    ProblemType(
        "artery.workflow-failed", "Workflow failed", 409,
        "a workflow run ended without a result (failed, cancelled or compensated)",
        "inspect the run (artery workflows show RUN) and retry it once the cause is fixed",
    ),
    ProblemType(
        "artery.non-determinism", "Non-deterministic workflow", 409,
        "replayed workflow code asked for a different step than its history recorded",
        "keep workflow code deterministic between steps; version the workflow to change it",
    ),
    ProblemType(
        "artery.cancelled", "Cancelled", 409,
        "the workflow run was cancelled by an operator",
        "start a new run if the work is still wanted",
    ),
    ProblemType(
        "artery.payload-too-large", "Payload too large", 413,
        "the request body is over the route's size limit (refused before it was read"
        " whole)",
        "send a smaller body, or split it into several requests",
    ),
    ProblemType(
        "artery.event-too-large", "Event too large", 413,
        "an event's stored form is over the store's max_event_size",
        "send less data per event, or raise max_event_size",
    ),
    ProblemType(
        "artery.unsupported-media-type", "Unsupported media type", 415,
        "the body is not the media type the route reads (JSON routes refuse text/plain and"
        " forms, which a cross-site page may send without a preflight)",
        "send the body as JSON with Content-Type: application/json",
    ),
    ProblemType(
        "artery.address-refused", "Address refused", 422,
        "an outbound URL (a webhook destination) is not https, does not resolve, or resolves"
        " to an address inside the network (loopback, private, link-local, cloud metadata)",
        "use a public https URL; an internal host must be listed in"
        " ARTERY_OUTBOUND_ALLOWED_HOSTS",
    ),
    ProblemType(
        "artery.mapping-failed", "Mapping failed", 422,
        "a webhook source's mapping could not turn the partner's payload into the canonical"
        " event; the detail names the mapping and the type it met",
        "correct the payload, or the source's mapping (artery sources test NAME payload.json"
        " shows what a payload maps to)",
    ),
    ProblemType(
        "artery.contract-violation", "Contract violation", 422,
        "the data does not satisfy its contract; errors lists each place (a JSON pointer)"
        " and why",
        "correct the data at each pointer in errors",
    ),
    ProblemType(
        "artery.idempotency-key-reused", "Idempotency key reused", 422,
        "the Idempotency-Key was first used for a request with another method, path or body;"
        " its stored answer belongs to that request",
        "use a fresh key for a new request; reuse a key only to retry the very same request",
    ),
    ProblemType(
        "artery.invalid-split", "Invalid split", 422,
        "a strangler split body is not {\"percent\": 0-100, \"header\": name or null}",
        "send the split as detail and the violations describe",
    ),
    ProblemType(
        "artery.invalid-schema", "Invalid schema", 422,
        "a contract document is not a usable JSON Schema 2020-12 document",
        "correct the schema document (see json-schema.org/draft/2020-12)",
    ),
    ProblemType(
        "artery.rate-limited", "Rate limited", 429,
        "the client spent its rate limit on this route; RateLimit and Retry-After say when"
        " it may call again",
        "wait the seconds in Retry-After before calling again, and pace calls by RateLimit",
    ),
    ProblemType(
        "artery.headers-too-large", "Headers too large", 431,
        "the request has more header fields, or more header bytes, than the server accepts",
        "send fewer or smaller headers (large cookies are the usual cause)",
    ),
    ProblemType(
        "artery.error", "Error", 500,
        "an error of Artery's without a more specific type",
        "see detail; if it persists, tell the operator with the request_id",
    ),
    ProblemType(
        "artery.internal", "Internal error", 500,
        "the request failed unexpectedly; the server logged the cause under the request id",
        "try again; if it persists, tell the operator the request_id",
    ),
    ProblemType(
        "artery.response-violation", "Response violation", 500,
        "in development mode, a route handler answered with data its response contract"
        " refuses (a bug in the handler)",
        "fix the handler named in detail so it answers what its response contract says",
    ),
    ProblemType(
        "artery.bad-gateway", "Bad gateway", 502,
        "the legacy system a route forwards to could not be reached, or answered with"
        " something the gateway will not relay",
        "check the upstream named in the route's forward= target is up; the decision log"
        " records each failed forward",
    ),
    ProblemType(
        "artery.step-failed", "Step failed", 500,
        "a workflow step exhausted its retries",
        "see the run's steps (artery workflows show RUN) and retry the run",
    ),
    ProblemType(
        "artery.not-ready", "Not ready", 503,
        "the process is up but cannot serve yet: the store does not answer, its migrations"
        " are not applied, or a background loop is failing; failing lists which",
        "wait and probe again; if it persists, fix what failing names (see the server log)",
    ),
    ProblemType(
        "artery.store-unavailable", "Store unavailable", 503,
        "the store cannot be reached; nothing was done",
        "retry shortly; if it persists, the operator must bring the database back",
    ),
    ProblemType(
        "artery.store-read-only", "Store is read-only", 503,
        "the store can be read but not written",
        "the operator must make the database writable",
    ),
    ProblemType(
        "artery.timeout", "Timeout", 504,
        "the request (or the upstream it was forwarded to) did not finish within the"
        " route's timeout",
        "try again later; if it persists, tell the route's owner",
    ),
)  # fmt: skip

CATALOG: dict[str, ProblemType] = {entry.code: entry for entry in _ENTRIES}


def ordered() -> list[ProblemType]:
    """The catalog's entries by status, then code: the order it is served and documented."""
    return sorted(CATALOG.values(), key=lambda e: (e.status, e.code))


def markdown(base: str) -> str:
    """``docs/problems.md``: the catalog as a page."""
    lines = [
        "# Problem types",
        "",
        "Every error the HTTP face answers is an RFC 9457 `application/problem+json` document:",
        "`type` (one of the URIs below; match on it), `title` (fixed per type), `status`,",
        "`detail` (this occurrence, never quoting payload values), `fix` (what to do),",
        "`instance` (the request path, without its query string) and `request_id` (the",
        "`X-Request-Id` of the request, to quote to an operator). A contract violation adds",
        "`errors: [{pointer, detail}]`; a 503 from `/readyz` adds `failing`. The same list is",
        "served as JSON at `GET /problems` to any caller with a valid credential.",
        "",
        "This page is generated from `artery.gateway.catalog.CATALOG` and a test fails when",
        "they differ: regenerate it with",
        "`ARTERY_WRITE_DOCS=1 pytest tests/gateway/test_problems.py`.",
        "",
    ]
    for entry in ordered():
        lines += [
            f"## {entry.status} {entry.title}",
            "",
            f"`{base}{entry.code}`",
            "",
            f"- When: {entry.when}.",
            f"- What to do: {entry.fix}.",
            "",
        ]
    return "\n".join(lines)
