"""OpenAPI 3.1 generated from the declared routes, their contracts and the admin API: valid
per ``openapi-spec-validator``, precise about contracts, scopes and problems, served at
``/openapi.json`` to any valid credential; and the running gateway fuzzed from it with
schemathesis (no 5xx, every error problem+json, every answer matching its schema)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import hypothesis
import orjson
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given
from openapi_spec_validator import validate
from routes_harness import serve
from schemathesis.specs.openapi.checks import ignored_auth

from artery import App
from artery.admin.scoped import Scoped
from artery.config import Settings
from artery.gateway.api import Call, Reply
from artery.gateway.openapi import JWKS_PATH, TOKEN_URL, document
from artery.gateway.policy import ADMIN_READ, Deprecation
from artery.gateway.route import Split
from support import bearer

ORDER = {
    "$defs": {
        "line": {"type": "object", "required": ["sku"], "properties": {"sku": {"type": "string"}}}
    },
    "type": "object",
    "required": ["lines", "email"],
    "properties": {
        "lines": {"type": "array", "items": {"$ref": "#/$defs/line"}, "minItems": 1},
        "email": {"type": "string", "x-artery-classification": "pii"},
    },
}
RECEIPT = {
    "type": "object",
    "required": ["order_id", "lines"],
    "properties": {"order_id": {"type": "string"}, "lines": {"type": "integer", "minimum": 1}},
    "additionalProperties": False,
}
PROBLEM = "application/problem+json"


def declare(store_url: str) -> App:
    app = App("shop", settings=Settings.load(store=store_url, development=True))
    placed = app.contract("shop.order.placed", schema=ORDER, partitions=1)
    app.contract("shop.receipt", schema=RECEIPT, partitions=1)
    app.ingest("/v1/orders/events", placed, scopes=["orders:write"])

    @app.route(
        "POST", "/v2/orders", request=placed, response="shop.receipt", scopes=["orders:write"]
    )
    async def place_order(call: Call) -> Any:
        """Place an order."""
        event = await call.publish(placed, call.body)
        return Reply(201, {"order_id": event.id, "lines": len(call.body["lines"])})

    @app.route(
        "GET",
        "/v1/receipts/{order_id}",
        response="shop.receipt",
        scopes=["orders:read"],
        deprecated=Deprecation(datetime(2026, 1, 1, tzinfo=UTC), successor="/v2/receipts"),
    )
    async def receipt_v1(call: Call) -> Any:
        return {"order_id": call.path["order_id"], "lines": 1}

    return app


def built(app: App, admin: list[Scoped] | None = None) -> dict[str, Any]:
    schemas = {"shop.order.placed": ORDER, "shop.receipt": RECEIPT}
    return document(app.declared.routes.values(), schemas, admin or [], title="shop")


async def listing(request: Any) -> Any:
    raise NotImplementedError


def test_document_is_valid_openapi_3_1(sqlite_url: str) -> None:
    app = declare(sqlite_url)
    app.forward("GET", "/v1/legacy/{item}", "http://127.0.0.1:9", scopes=["orders:read"])
    app.route("POST", "/v1/legacy", upstream="http://127.0.0.1:9", split=Split(10))(place)
    admin = [Scoped("/workflows/runs/{run_id:path}/cancel", listing, ("POST",), "admin:write")]
    validate(built(app, admin))


async def place(call: Call) -> Any:
    return {}


def test_operations_carry_contracts_scopes_problems_and_deprecation(sqlite_url: str) -> None:
    admin = [Scoped("/deprecations", listing, ("GET",), ADMIN_READ)]
    doc = built(declare(sqlite_url), admin)
    schemas = doc["components"]["schemas"]
    assert schemas["shop.order.placed"]["properties"]["lines"]["items"] == {
        "$ref": "#/components/schemas/shop.order.placed/$defs/line"
    }
    place_order = doc["paths"]["/v2/orders"]["post"]
    assert place_order["operationId"] == "place_order"
    assert place_order["summary"] == "Place an order."
    assert place_order["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/shop.order.placed"
    }
    assert place_order["responses"]["2XX"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/shop.receipt"
    }
    assert {"apiKey": ["orders:write"]} in place_order["security"]
    assert {"oauth2": ["orders:write"]} in place_order["security"]
    assert "Idempotency-Key" in [p["name"] for p in place_order["parameters"]]
    for status in ("401", "403", "409", "413", "415", "422", "429", "500"):
        assert place_order["responses"][status] == {"$ref": f"#/components/responses/{status}"}
        shown = doc["components"]["responses"][status]["content"]
        assert shown == {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}

    ingest = doc["paths"]["/v1/orders/events"]["post"]
    assert ingest["responses"]["202"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Accepted"
    }
    receipt = doc["paths"]["/v1/receipts/{order_id}"]["get"]
    assert receipt["deprecated"] is True
    assert receipt["parameters"][0] == {
        "name": "order_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
    }
    assert "deprecated" not in place_order

    admin_op = doc["paths"]["/admin/deprecations"]["get"]
    assert {"bearer": [ADMIN_READ]} in admin_op["security"]
    schemes = doc["components"]["securitySchemes"]
    assert schemes["apiKey"] == {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    assert schemes["bearer"]["scheme"] == "bearer"
    flow = schemes["oauth2"]["flows"]["clientCredentials"]
    assert flow["tokenUrl"] == "/oauth/token"
    assert {"orders:write", "orders:read", "admin:read", "admin:destroy"} <= set(flow["scopes"])
    for path in ("/oauth/token", "/.well-known/jwks.json", "/healthz", "/readyz"):
        assert next(iter(doc["paths"][path].values()))["security"] == []


async def test_openapi_json_is_served_to_any_valid_credential(sqlite_url: str) -> None:
    async with serve(declare(sqlite_url)) as served, served.client("none") as http:
        response = await http.get("/openapi.json")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        doc = response.json()
        validate(doc)
        assert doc["components"]["schemas"]["shop.receipt"] == RECEIPT
        anonymous = await http.get("/openapi.json", headers={"Authorization": "Bearer ak_0_x"})
        assert anonymous.status_code == 401


def fuzz(
    doc: dict[str, Any], base_url: str, headers: Mapping[str, str]
) -> tuple[list[str], dict[str, int]]:
    """Run schemathesis over every operation: the failures, and the calls per operation."""
    schemathesis.experimental.OPEN_API_3_1.enable()
    generation = schemathesis.GenerationConfig(with_security_parameters=False)
    schema = schemathesis.from_dict(doc, base_url=base_url, generation_config=generation)
    failures: list[str] = []
    calls: dict[str, int] = {}
    session = requests.Session()
    for result in schema.get_all_operations():
        operation = result.ok()

        @hypothesis.settings(
            max_examples=15,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.generate],
        )
        @given(case=operation.as_strategy())
        def check(case: Any) -> None:
            case.headers = {**(case.headers or {}), **headers}
            response = case.call(session=session, timeout=10)
            calls[case.operation.verbose_name] = calls.get(case.operation.verbose_name, 0) + 1
            assert response.status_code < 500, f"{case.method} {case.formatted_path}: 5xx"
            if response.status_code >= 400:
                # RFC 6749 section 5.2 fixes the token endpoint's error body: {"error": ...}
                # as application/json; every other error is problem+json.
                oauth = case.operation.path == TOKEN_URL and "error" in response.json()
                expected = "application/json" if oauth else PROBLEM
                assert response.headers["content-type"] == expected, (response.text, case.headers)
            # ignored_auth swaps in a bad header of one scheme while the valid credential
            # of another stays (the operations accept any of three): not a fault of ours.
            case.validate_response(response, excluded_checks=(ignored_auth,))

        try:
            check()
        except Exception as exc:
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}"[:2000])
    return failures, calls


async def test_schemathesis_finds_no_5xx_no_non_problem_error_and_no_schema_mismatch(
    sqlite_url: str,
) -> None:
    from hypothesis.internal.conjecture.utils import many

    assert hasattr(many, "more"), (
        f"hypothesis {hypothesis.__version__} dropped many.more(), which hypothesis-jsonschema"
        " (schemathesis 3) still calls: install hypothesis<6.170 (6.169.4 works)"
    )
    async with serve(declare(sqlite_url)) as served, served.client("fuzzer") as http:
        doc = orjson.loads((await http.get("/openapi.json")).content)
        for path in (TOKEN_URL, JWKS_PATH, "/healthz", "/readyz"):  # served by other parts
            (method,) = doc["paths"][path]
            if (await http.request(method, path)).status_code == 404:
                del doc["paths"][path]  # that part has not landed in this build
        credential = bearer(served.keys["fuzzer"])
        failures, calls = await asyncio.to_thread(fuzz, doc, served.url, credential)
        assert failures == []
        operations = [f"{m.upper()} {p}" for p, ops in doc["paths"].items() for m in ops]
        assert sorted(calls) == sorted(operations)
        assert calls["POST /v2/orders"] >= 5 and calls["GET /v1/receipts/{order_id}"] >= 5
