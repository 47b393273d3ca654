"""Webhook mappings: JMESPath as Artery evaluates it (closures), beside jmespath's own
interpreter and JSONata (jsonata-python), on real vendor payloads, in one run:
microseconds per payload, and whether JMESPath and JSONata map alike.

Each vendor payload (``bench/webhooks_support/payloads``: a Shopify order, a Stripe event,
a GitHub push, shaped as each vendor documents them) is mapped to a canonical event by the
same mapping written in each language. JMESPath gets Artery's added functions (multiply,
round); JSONata has arithmetic of its own. Differences in the results are printed: they
are why Artery chose JMESPath (webhooks/mapping.py).

    .venv/bin/python bench/mapping.py [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jmespath
import orjson

from artery.webhooks.mapping import Mapping, custom_functions

OPTIONS = jmespath.Options(custom_functions=custom_functions)

PAYLOADS = Path(__file__).resolve().parent / "webhooks_support" / "payloads"
CASES: dict[str, tuple[str, str]] = {
    "shopify_order": (
        "{order_id: to_string(id), placed_at: created_at, currency: currency,"
        " total_cents: round(multiply(to_number(total_price), `100`)),"
        " customer: {email: customer.email},"
        " lines: line_items[].{sku: sku, quantity: quantity,"
        " price_cents: round(multiply(to_number(price), `100`))}}",
        '{"order_id": $string(id), "placed_at": created_at, "currency": currency,'
        ' "total_cents": $round($number(total_price) * 100),'
        ' "customer": {"email": customer.email},'
        ' "lines": [line_items.{"sku": sku, "quantity": quantity,'
        ' "price_cents": $round($number(price) * 100)}]}',
    ),
    "stripe_event": (
        "{payment_id: data.object.id, order_id: data.object.metadata.order_id,"
        " amount_cents: data.object.amount, currency: upper(data.object.currency),"
        " status: data.object.status}",
        '{"payment_id": data.object.id, "order_id": data.object.metadata.order_id,'
        ' "amount_cents": data.object.amount, "currency": $uppercase(data.object.currency),'
        ' "status": data.object.status}',
    ),
    "github_push": (
        "{repository: repository.full_name, branch: ref, head: after,"
        " files: commits[].modified[], authors: commits[].author.username}",
        '{"repository": repository.full_name, "branch": ref, "head": after,'
        ' "files": [commits.modified], "authors": [commits.author.username]}',
    ),
}


def per_payload_us(fn: Callable[[], Any], runs: int, loops: int = 2000) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        for _ in range(loops):
            fn()
        samples.append((time.perf_counter() - start) / loops * 1e6)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="one short run (a smoke test)")
    args = parser.parse_args()
    loops = 100 if args.quick else 2000
    runs = 1 if args.quick else args.runs
    try:
        import jsonata
    except ImportError:
        raise SystemExit("jsonata-python is not installed: pip install -e '.[bench]'") from None
    print(
        f"{'payload':<15} {'Artery us':>10} {'jmespath us':>12} {'ratio':>6}"
        f" {'JSONata us':>11} {'ratio':>6}  results"
    )
    for name, (jmes, jsonata_text) in CASES.items():
        payload = orjson.loads((PAYLOADS / f"{name}.json").read_bytes())
        mapping = Mapping(jmes)
        expression = jsonata.Jsonata(jsonata_text)
        ours = mapping(payload, {})
        theirs = expression.evaluate(payload)
        interpreted = jmespath.compile(jmes)
        if interpreted.search(payload, options=OPTIONS) != ours:
            raise SystemExit(f"{name}: Artery's closures and jmespath's interpreter differ")
        a = per_payload_us(lambda m=mapping, p=payload: m(p, {}), runs, loops)
        i = per_payload_us(
            lambda e=interpreted, p=payload: e.search(p, options=OPTIONS), runs, loops
        )
        b = per_payload_us(lambda e=expression, p=payload: e.evaluate(p), runs, loops)
        same = "same" if ours == theirs else f"DIFFER: {_difference(ours, theirs)}"
        print(f"{name:<15} {a:>10.1f} {i:>12.1f} {i / a:>5.1f}x {b:>11.1f} {b / a:>5.1f}x  {same}")


def _difference(ours: Any, theirs: Any) -> str:
    if isinstance(ours, dict) and isinstance(theirs, dict):
        keys = [k for k in ours if ours.get(k) != theirs.get(k)]
        return "; ".join(f"{k}: {ours.get(k)!r} vs {theirs.get(k)!r}" for k in keys[:2])
    return f"{ours!r} vs {theirs!r}"


if __name__ == "__main__":
    main()
