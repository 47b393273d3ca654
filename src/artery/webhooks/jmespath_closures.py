"""A parsed JMESPath expression turned into nested Python closures, evaluated per call.

Why our own: jmespath's ``TreeInterpreter`` dispatches every node of the tree through a
method lookup on each call; on the webhook bench's Shopify order the mapping was a sixth of
the gateway's CPU (py-spy), and the closures below evaluate the same tree 4-5x faster
(``bench/mapping.py``). Semantics stay the library's: each closure copies one
``visit_*`` method of jmespath 1.0's ``TreeInterpreter``, functions are called through the
library's ``Functions.call_function`` (arity and type checks included), and any node kind
not copied here (``expref``, whose functions call back into the interpreter) is evaluated
by the interpreter itself. ``tests/webhooks/test_jmespath_closures.py`` holds both to the
same answers on every node kind.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jmespath import functions, visitor

Closure = Callable[[Any], Any]
_Node = dict[str, Any]


def _is_false(value: Any) -> bool:
    return value == "" or value == [] or value == {} or value is None or value is False


class Compiler:
    """Compiles trees for one set of functions (the interpreter is the fallback)."""

    def __init__(self, custom: functions.Functions) -> None:
        self.functions = custom
        self.interpreter = visitor.TreeInterpreter(visitor.Options(custom_functions=custom))

    def compile(self, node: _Node) -> Closure:
        build = getattr(self, "_" + node["type"], None)
        if build is None:
            interpreter = self.interpreter
            return lambda value: interpreter.visit(node, value)
        closure: Closure = build(node)
        return closure

    def _children(self, node: _Node) -> list[Closure]:
        return [self.compile(child) for child in node["children"]]

    def _field(self, node: _Node) -> Closure:
        name = node["value"]

        def field(value: Any) -> Any:
            try:
                return value.get(name)
            except AttributeError:
                return None

        return field

    def _subexpression(self, node: _Node) -> Closure:
        steps = self._children(node)

        def chain(value: Any) -> Any:
            for step in steps:
                value = step(value)
            return value

        return chain

    _index_expression = _subexpression
    _pipe = _subexpression

    def _current(self, node: _Node) -> Closure:
        return lambda value: value

    _identity = _current

    def _literal(self, node: _Node) -> Closure:
        literal = node["value"]
        return lambda value: literal

    def _key_val_pair(self, node: _Node) -> Closure:
        return self.compile(node["children"][0])

    def _index(self, node: _Node) -> Closure:
        position = node["value"]

        def index(value: Any) -> Any:
            if not isinstance(value, list):
                return None
            try:
                return value[position]
            except IndexError:
                return None

        return index

    def _slice(self, node: _Node) -> Closure:
        cut = slice(*node["children"])
        return lambda value: value[cut] if isinstance(value, list) else None

    def _multi_select_dict(self, node: _Node) -> Closure:
        pairs = [(child["value"], self.compile(child)) for child in node["children"]]

        def select(value: Any) -> Any:
            if value is None:
                return None
            return {key: part(value) for key, part in pairs}

        return select

    def _multi_select_list(self, node: _Node) -> Closure:
        parts = self._children(node)
        return lambda value: None if value is None else [part(value) for part in parts]

    def _function_expression(self, node: _Node) -> Closure:
        name, arguments, call = node["value"], self._children(node), self.functions.call_function
        checked = self._precheck(name, len(arguments))
        if checked is None:
            return lambda value: call(name, [argument(value) for argument in arguments])
        function, allowed, owner = checked
        if len(arguments) == 1:
            (only,), (types,) = arguments, allowed

            def apply_one(value: Any) -> Any:
                arg = only(value)
                if types is not None and type(arg).__name__ not in types:
                    return call(name, [arg])  # the library raises its own type error
                return function(owner, arg)

            return apply_one

        def apply(value: Any) -> Any:
            args = [argument(value) for argument in arguments]
            for arg, types in zip(args, allowed, strict=True):
                if types is not None and type(arg).__name__ not in types:
                    return call(name, args)  # the library raises its own type error
            return function(owner, *args)

        return apply

    def _precheck(
        self, name: str, arity: int
    ) -> tuple[Callable[..., Any], list[frozenset[str] | None], functions.Functions] | None:
        """A function's argument types as sets of Python type names, checked inline; None
        where the library's own checks are needed (unknown, variadic, wrong arity, typed
        array elements), and then every call goes through ``call_function``."""
        spec = self.functions.FUNCTION_TABLE.get(name)
        if spec is None or len(spec["signature"]) != arity:
            return None
        allowed: list[frozenset[str] | None] = []
        for argument in spec["signature"]:
            if argument.get("variadic") or any("-" in t for t in argument["types"]):
                return None
            names = [p for t in argument["types"] for p in functions.REVERSE_TYPES_MAP[t]]
            allowed.append(frozenset(names) if names else None)
        return spec["function"], allowed, self.functions

    def _projection(self, node: _Node) -> Closure:
        base, each = self._children(node)

        def project(value: Any) -> Any:
            found = base(value)
            if not isinstance(found, list):
                return None
            return [item for item in map(each, found) if item is not None]

        return project

    def _value_projection(self, node: _Node) -> Closure:
        base, each = self._children(node)

        def project(value: Any) -> Any:
            try:
                found = base(value).values()
            except AttributeError:
                return None
            return [item for item in map(each, found) if item is not None]

        return project

    def _filter_projection(self, node: _Node) -> Closure:
        base, each, condition = self._children(node)

        def project(value: Any) -> Any:
            found = base(value)
            if not isinstance(found, list):
                return None
            kept = (each(element) for element in found if not _is_false(condition(element)))
            return [item for item in kept if item is not None]

        return project

    def _flatten(self, node: _Node) -> Closure:
        base = self.compile(node["children"][0])

        def flatten(value: Any) -> Any:
            found = base(value)
            if not isinstance(found, list):
                return None
            merged: list[Any] = []
            for element in found:
                if isinstance(element, list):
                    merged.extend(element)
                else:
                    merged.append(element)
            return merged

        return flatten

    def _comparator(self, node: _Node) -> Closure:
        left, right = self._children(node)
        compare = visitor.TreeInterpreter.COMPARATOR_FUNC[node["value"]]
        if node["value"] in ("eq", "ne"):
            return lambda value: compare(left(value), right(value))

        def order(value: Any) -> Any:
            a, b = left(value), right(value)
            if not (visitor._is_comparable(a) and visitor._is_comparable(b)):
                return None
            return compare(a, b)

        return order

    def _or_expression(self, node: _Node) -> Closure:
        left, right = self._children(node)

        def either(value: Any) -> Any:
            matched = left(value)
            return right(value) if _is_false(matched) else matched

        return either

    def _and_expression(self, node: _Node) -> Closure:
        left, right = self._children(node)

        def both(value: Any) -> Any:
            matched = left(value)
            return matched if _is_false(matched) else right(value)

        return both

    def _not_expression(self, node: _Node) -> Closure:
        inner = self.compile(node["children"][0])

        def negate(value: Any) -> Any:
            found = inner(value)
            if visitor._is_actual_number(found) and found == 0:
                return False
            return not found

        return negate


__all__ = ["Closure", "Compiler"]
