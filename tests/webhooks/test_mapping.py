"""Mappings: JMESPath inline or from a file, with multiply/round/lower/upper; a Python
function with or without the headers; failures name the mapping, never a value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from artery.errors import ConfigError
from artery.webhooks.mapping import Mapping, MappingFailed

ORDER = {"id": 820982911946154508, "total_price": "19.99", "email": "A@Example.com"}


def test_no_mapping_passes_the_payload_through() -> None:
    assert Mapping(None)(ORDER, {}) is ORDER


def test_an_inline_expression_with_the_added_functions() -> None:
    mapping = Mapping(
        "{id: to_string(id), cents: round(multiply(to_number(total_price), `100`)),"
        " email: lower(email), code: upper('abc')}"
    )
    assert mapping(ORDER, {}) == {
        "id": "820982911946154508",
        "cents": 1999,
        "email": "a@example.com",
        "code": "ABC",
    }


def test_a_mapping_file_is_read_once_at_declaration(tmp_path: Path) -> None:
    path = tmp_path / "order.jmespath"
    path.write_text("{total: to_number(total_price)}")
    mapping = Mapping(str(path))
    path.write_text("nonsense(")  # changed afterwards: the compiled one is kept
    assert mapping(ORDER, {}) == {"total": 19.99}
    assert mapping.described == f"file {str(path)!r}"


def test_a_bad_expression_or_a_missing_file_fails_at_declaration(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a JMESPath expression"):
        Mapping("{a: b.[}")
    with pytest.raises(ConfigError, match="cannot be read"):
        Mapping(str(tmp_path / "missing.jmespath"))


def test_a_type_error_names_the_function_and_types_but_not_the_value() -> None:
    mapping = Mapping("{n: multiply(email, `2`)}")
    with pytest.raises(MappingFailed) as failed:
        mapping(ORDER, {})
    assert "multiply() expects number" in failed.value.message
    assert "Example" not in failed.value.message
    assert failed.value.http_status == 422


def test_a_function_gets_the_payload_and_optionally_the_headers() -> None:
    def alone(payload: dict[str, Any]) -> dict[str, Any]:
        return {"id": str(payload["id"])}

    def with_headers(payload: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        return {"topic": headers["x-shopify-topic"]}

    assert Mapping(alone)(ORDER, {}) == {"id": "820982911946154508"}
    assert Mapping(with_headers)(ORDER, {"x-shopify-topic": "orders/create"}) == {
        "topic": "orders/create"
    }


def test_a_function_that_fails_on_a_payload_is_a_mapping_failure_without_values() -> None:
    def strict(payload: dict[str, Any]) -> dict[str, Any]:
        return {"n": int(payload["email"])}

    with pytest.raises(MappingFailed) as failed:
        Mapping(strict)(ORDER, {})
    assert "strict" in failed.value.message and "ValueError" in failed.value.message
    assert "Example" not in failed.value.message
