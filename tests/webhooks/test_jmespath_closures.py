"""Compiled JMESPath answers exactly as jmespath's own interpreter, on every node kind."""

from __future__ import annotations

from typing import Any

import jmespath
import pytest
from jmespath import exceptions

from artery.webhooks.jmespath_closures import Compiler
from artery.webhooks.mapping import custom_functions

OPTIONS = jmespath.Options(custom_functions=custom_functions)
COMPILER = Compiler(custom_functions)

PAYLOADS: list[Any] = [
    {
        "id": 820982911946154508,
        "name": "#1001",
        "total": "12.50",
        "zero": 0,
        "empty": "",
        "flag": False,
        "tags": ["a", "b", "c", "d"],
        "nested": [[1, 2], [3], 4, [5, [6]]],
        "items": [
            {"sku": "A", "qty": 2, "price": "1.25", "meta": {"k": 1}},
            {"sku": "B", "qty": 0, "price": "3", "meta": None},
            {"sku": None, "qty": 5},
        ],
        "people": {"x": {"age": 30}, "y": {"age": 12}, "z": {}},
        "deep": {"a": {"b": {"c": [10, 20, 30]}}},
    },
    {"id": "abc", "items": "not-a-list", "people": [1, 2], "tags": None},
    [1, 2, 3],
    None,
    "text",
    7,
]

EXPRESSIONS = [
    "id",
    "missing.deeper",
    "deep.a.b.c[1]",
    "deep.a.b.c[-1]",
    "deep.a.b.c[7]",
    "tags[1:3]",
    "tags[::-1]",
    "tags[::2]",
    "[0]",
    "[*]",
    "[]",
    "items[].sku",
    "items[*].meta.k",
    "items[].{s: sku, q: qty}",
    "items[?qty > `1`].sku",
    "items[?qty == `0`] | [0].sku",
    "items[?sku != null].price",
    "items[?meta].sku",
    "items[?!meta].sku",
    "items[?qty >= `2` && sku == 'A'].qty",
    "items[?qty < `1` || sku == null].sku",
    "items[?sku < 'B'].sku",
    "people.*.age",
    "people.* | length(@)",
    "nested[]",
    "nested[][]",
    "{a: id, b: name, c: {d: total}}",
    "[id, name, missing]",
    "zero || 'fallback'",
    "empty || flag || 'last'",
    "id && name",
    "flag && name",
    "!zero",
    "!empty",
    "!tags",
    '`{"k": [1, 2]}`',
    "'raw'",
    "@",
    "to_string(id)",
    "to_string(total)",
    "to_string(items[0].meta)",
    "to_number(total)",
    "round(multiply(to_number(total), `100`))",
    "lower(name)",
    "upper(items[0].sku)",
    "length(tags)",
    "max_by(items[?qty], &qty).sku",
    "sort_by(items, &qty)[].qty",
    "join(', ', tags)",
    "contains(tags, 'b')",
    "not_null(missing, zero, id)",
    "merge(people.x, people.y)",
    "keys(people)",
    "type(nested)",
    "items[].[sku, qty][]",
    "deep.a.b.c | [1:]",
]


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_compiled_expressions_answer_as_the_interpreter_does(expression: str) -> None:
    parsed = jmespath.compile(expression)
    compiled = COMPILER.compile(parsed.parsed)
    for payload in PAYLOADS:
        try:
            expected: Any = ("value", parsed.search(payload, options=OPTIONS))
        except exceptions.JMESPathError as exc:
            expected = ("error", type(exc), str(exc))
        try:
            got: Any = ("value", compiled(payload))
        except exceptions.JMESPathError as exc:
            got = ("error", type(exc), str(exc))
        assert got == expected, f"{expression} on {payload!r}"


def test_the_bench_expression_is_compiled_to_closures_not_interpreted() -> None:
    """Only expref falls back to the interpreter; a Shopify mapping has none."""
    calls = []

    class Spy(jmespath.visitor.TreeInterpreter):
        def visit(self, node: Any, *args: Any, **kwargs: Any) -> Any:
            calls.append(node["type"])
            return super().visit(node, *args, **kwargs)

    compiler = Compiler(custom_functions)
    compiler.interpreter = Spy(OPTIONS)
    text = "{id: to_string(id), lines: items[].{s: sku, c: round(multiply(qty, `100`))}}"
    compiled = compiler.compile(jmespath.compile(text).parsed)
    assert compiled(PAYLOADS[0])["lines"][0] == {"s": "A", "c": 200}
    assert calls == []
    sorted_by = compiler.compile(jmespath.compile("sort_by(items, &qty)[0].sku").parsed)
    assert sorted_by(PAYLOADS[0]) == "B"
    assert "expref" in calls


def test_a_wrong_argument_type_raises_the_libraries_type_error() -> None:
    compiled = COMPILER.compile(jmespath.compile("multiply(name, `2`)").parsed)
    with pytest.raises(exceptions.JMESPathTypeError) as raised:
        compiled(PAYLOADS[0])
    assert raised.value.function_name == "multiply"
    assert raised.value.actual_type == "string"
