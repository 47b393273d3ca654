"""Every error answer is RFC 9457 problem+json of one shape, over real HTTP; the catalog
covers every error type and is what docs/problems.md says."""

from __future__ import annotations

import importlib
import json
import logging
import os
import pkgutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from edge_helpers import PROBLEM, runtime_on, serving
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

import artery
from artery.errors import ArteryError, NotFound, TooManyRequests
from artery.gateway.catalog import CATALOG
from artery.gateway.problems import catalog_json, catalog_markdown
from artery.runtime import Runtime

DOCS = Path(__file__).parents[2] / "docs" / "problems.md"
BASE = "https://artery.dev/problems/"
ORDER = {
    "type": "object",
    "properties": {
        "n": {"type": "integer"},
        "email": {"type": "string", "maxLength": 3, "x-artery-classification": "pii"},
    },
    "required": ["n", "sku"],
}
INTERNALS = "password=hunter2 at /srv/app/secret.py"


def routes(runtime: Runtime) -> list[BaseRoute]:
    async def missing(request: Request) -> Response:
        raise NotFound("order 17 does not exist", fix="list orders to find its id")

    async def limited(request: Request) -> Response:
        raise TooManyRequests(
            "slow down", fix="wait", headers={"Retry-After": "7", "RateLimit": '"d";r=0;t=7'}
        )

    async def violated(request: Request) -> Response:
        version = await runtime.registry.get("orders")
        runtime.registry.validate(version, await request.json())
        return JSONResponse({})

    async def crashing(request: Request) -> Response:
        raise RuntimeError(INTERNALS)

    return [
        Route("/orders/17", missing, methods=["GET"]),
        Route("/limited", limited, methods=["GET"]),
        Route("/orders", violated, methods=["POST"]),
        Route("/crash", crashing, methods=["GET", "DELETE"]),
    ]


@pytest.fixture
async def http(store_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with runtime_on(store_url) as runtime:
        await runtime.registry.register("orders", ORDER)
        async with (
            serving(runtime, routes(runtime)) as server,
            httpx.AsyncClient(base_url=server.url, timeout=10) as client,
        ):
            yield client


def problem_of(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The body, checked for the members every problem has."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    entry = CATALOG[code]
    assert body["type"] == BASE + code and body["title"] == entry.title
    assert body["status"] == status and body["detail"] and body["fix"]
    assert body["request_id"] == response.headers["x-request-id"]
    return body


async def test_an_artery_error_is_a_problem_with_instance_and_request_id(
    http: httpx.AsyncClient,
) -> None:
    response = await http.get("/orders/17?token=abc", headers={"X-Request-Id": "r-17"})
    body = problem_of(response, 404, "artery.not-found")
    assert body == {
        "type": BASE + "artery.not-found",
        "title": "Not found",
        "status": 404,
        "detail": "order 17 does not exist",
        "fix": "list orders to find its id",
        "instance": "/orders/17",  # no query string: it may carry a credential
        "request_id": "r-17",
    }


async def test_an_errors_headers_go_on_the_response(http: httpx.AsyncClient) -> None:
    response = await http.get("/limited")
    problem_of(response, 429, "artery.rate-limited")
    assert response.headers["retry-after"] == "7"
    assert response.headers["ratelimit"] == '"d";r=0;t=7'


async def test_a_contract_violation_lists_pointers_without_values(
    http: httpx.AsyncClient,
) -> None:
    response = await http.post("/orders", json={"n": "seven", "email": "alice@example"})
    body = problem_of(response, 422, "artery.contract-violation")
    pointers = sorted(error["pointer"] for error in body["errors"])
    assert pointers == ["", "/email", "/n"]
    assert all(set(error) == {"pointer", "detail"} for error in body["errors"])
    assert "alice" not in response.text


async def test_an_unknown_path_is_an_artery_not_found(http: httpx.AsyncClient) -> None:
    body = problem_of(await http.get("/nowhere"), 404, "artery.not-found")
    assert body["instance"] == "/nowhere"


async def test_a_wrong_method_is_405_with_allow(http: httpx.AsyncClient) -> None:
    response = await http.put("/orders/17")
    body = problem_of(response, 405, "artery.method-not-allowed")
    assert set(response.headers["allow"].split(", ")) == {"GET", "HEAD"}
    assert "GET" in body["detail"]


async def test_an_unexpected_error_is_a_500_that_says_nothing_of_internals(
    http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="artery.http"):
        response = await http.get("/crash", headers={"X-Request-Id": "boom-1"})
    body = problem_of(response, 500, "artery.internal")
    assert body["request_id"] == "boom-1"
    assert "hunter2" not in response.text and "Traceback" not in response.text
    assert "RuntimeError" not in response.text and "secret.py" not in response.text
    assert any("boom-1" in record.getMessage() for record in caplog.records)


def every_error_type() -> set[type[ArteryError]]:
    """Every ``ArteryError`` subclass in the package, once all its modules are imported."""
    for module in pkgutil.walk_packages(artery.__path__, "artery."):
        importlib.import_module(module.name)
    found: set[type[ArteryError]] = set()
    pending: list[type[ArteryError]] = [ArteryError]
    while pending:
        kind = pending.pop()
        found.add(kind)
        pending.extend(kind.__subclasses__())
    return found


def test_the_catalog_covers_every_error_type() -> None:
    missing = {
        f"{kind.__module__}.{kind.__name__} ({kind.code})"
        for kind in every_error_type()
        if kind.code not in CATALOG
    }
    assert not missing, f"add these to artery.gateway.catalog: {sorted(missing)}"
    mismatched = {
        kind.code for kind in every_error_type() if CATALOG[kind.code].status != kind.http_status
    }
    assert not mismatched, f"catalog statuses differ from the error classes: {mismatched}"


def test_the_catalog_names_routing_and_internal_problems() -> None:
    assert CATALOG["artery.not-found"].status == 404
    assert CATALOG["artery.method-not-allowed"].status == 405
    assert CATALOG["artery.internal"].status == 500
    served = catalog_json()
    assert [entry["status"] for entry in served] == sorted(e["status"] for e in served)
    assert all(set(e) == {"type", "code", "title", "status", "when", "fix"} for e in served)


def test_docs_problems_md_is_the_catalog() -> None:
    if os.environ.get("ARTERY_WRITE_DOCS") == "1":
        DOCS.write_text(catalog_markdown())
    assert DOCS.read_text() == catalog_markdown(), (
        "docs/problems.md differs from the catalog; regenerate it with"
        " ARTERY_WRITE_DOCS=1 pytest tests/gateway/test_problems.py"
    )


def test_instance_is_the_path_once_under_a_mount() -> None:
    from artery.gateway.problems import correlation

    mounted = {"root_path": "/admin", "path": "/admin/destinations/x", "state": {}}
    assert correlation(mounted)[0] == "/admin/destinations/x"
    legacy = {"root_path": "/admin", "path": "/destinations/x", "state": {}}
    assert correlation(legacy)[0] == "/admin/destinations/x"


def test_a_problem_quoting_non_ascii_input_is_plain_ascii_json() -> None:
    from artery.gateway.problems import problem

    answer = problem(404, "Not found", "no source named 'ü\\x16'", scope={"path": "/hooks/ü"})
    assert answer.body.isascii()
    assert json.loads(answer.body)["instance"] == "/hooks/ü"
