"""What the demo reports, and the check that the books balance.

Everything is read from where a person would look: the partners' own records (what the
ERP invoiced, what payments charged), Artery's admin API (sources, dead letters, runs,
SLOs), ``/metrics`` (retries) and the store's records (time to sync). The books balance
when every valid order is invoiced exactly once or sits in the dead letters, and no order
is charged without being fulfilled (reserved, not released) or refunded.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from artery.observe import history
from artery.store import open_store

RUN_ENDS = ("completed", "compensated", "failed", "cancelled")


@dataclass
class Books:
    partners: dict[str, Any]
    sources: list[dict[str, Any]]
    stored: int
    dead: dict[str, list[str]]  # consumer group -> order ids of its dead letters
    runs: Counter[str]
    retries: int
    slos: list[dict[str, Any]]
    sync: dict[str, tuple[float | None, float | None]]
    problems: list[str] = field(default_factory=list)

    def print(
        self,
        out: Console,
        silent_at: float | None,
        approved: list[str],
        exports: int,
        memory: str,
        took: float,
    ) -> None:
        shop, erp = self.partners["shop"], self.partners["erp"]
        legacy = self.partners["legacy"]["calls"]
        source = next(s for s in self.sources if s["name"] == "shop")
        table = Table(title="What happened", show_header=False, title_justify="left")
        rows = [
            ("orders the shop sent", _sent(shop)),
            ("webhooks accepted", str(source["accepted"])),
            ("rejected, and why", _counts(source["rejected"])),
            (
                "orders stored",
                f"{self.stored} ({source['accepted'] - self.stored} duplicates absorbed)",
            ),
            ("invoices posted to the ERP", str(sum(1 for n in erp["invoices"].values() if n))),
            ("the ERP answered", _counts(erp["answers"])),
            ("payments", _payments(self.partners["payments"]["counts"])),
            ("the CRM verified", f"{self.partners['crm'].get('verified', 0)} signed deliveries"),
            ("order export calls", f"{exports} in all, {legacy} served by the legacy system"),
            ("delivery retries", str(self.retries)),
            ("dead letters", _counts({g: len(ids) for g, ids in self.dead.items()})),
            ("fulfilment runs", _counts(self.runs)),
            ("large orders approved through the CLI", str(len(approved))),
            ("time to sync p50 / p99", _sync(self.sync)),
            ("SLO budget left", _budgets(self.slos)),
            ("silent-source alert", "none" if silent_at is None else f"shop, {silent_at:.0f} s in"),
            ("peak memory of artery run", memory),
            ("whole demo", f"{took:.0f} s"),
        ]
        for name, value in rows:
            table.add_row(name, value)
        out.print(table)

    def check(self, out: Console) -> bool:
        """Print the books and whether they balance."""
        out.rule("the books")
        self.problems = [*invoicing(self), *charging(self.partners)]
        valid = len(self.partners["shop"]["valid_orders"])
        if self.problems:
            for problem in self.problems[:20]:
                out.print(f"[red]✗[/red] {problem}")
            out.print(f"[red]the books do not balance: {len(self.problems)} problem(s)[/red]")
            return False
        out.print(f"[green]✓[/green] every one of {valid} valid orders is invoiced exactly once"
                  " or sits in the dead letters")  # fmt: skip
        out.print("[green]✓[/green] no order is charged without being fulfilled or refunded")
        out.print("[green]the books balance[/green]")
        return True


def invoicing(books: Books) -> list[str]:
    invoices: dict[str, int] = books.partners["erp"]["invoices"]
    dead = set(books.dead.get("erp-invoices", []))
    found = []
    for order in map(str, books.partners["shop"]["valid_orders"]):
        count = invoices.get(order, 0)
        if count > 1:
            found.append(f"order {order} was invoiced {count} times")
        elif count == 0 and order not in dead:
            found.append(f"order {order} was neither invoiced nor dead-lettered")
    return found


def charging(partners: dict[str, Any]) -> list[str]:
    reserved = partners["warehouse"]["orders"]  # order id -> {"reserved": n, "released": n}
    found = []
    for order, payment in partners["payments"]["orders"].items():
        if not payment.get("captured") or payment.get("refunded"):
            continue
        stock = reserved.get(order, {})
        if not stock.get("reserved") or stock.get("released"):
            found.append(f"order {order} was charged but not fulfilled, nor refunded")
    return found


async def gather(partners: httpx.AsyncClient, admin: httpx.AsyncClient, store: str) -> Books:
    stats = (await partners.get("/_control/stats")).json()
    sources = (await admin.get("/admin/sources")).json()["sources"]
    consumers = (await admin.get("/admin/consumers")).json()
    stored = sum(
        p["next"] for c in consumers if c["group"] == "erp-invoices" for p in c["partitions"]
    )
    return Books(
        partners=stats,
        sources=sources,
        stored=stored,
        dead=await dead_letters(admin),
        runs=await runs(admin),
        retries=await retries(admin),
        slos=(await admin.get("/admin/slos")).json()["slos"],
        sync=await time_to_sync(store),
    )  # fmt: skip


async def dead_letters(admin: httpx.AsyncClient) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for letter in (await admin.get("/admin/dead-letters", params={"limit": 1000})).json():
        detail = (await admin.get(f"/admin/dead-letters/{letter['id']}")).json()
        order = (detail["event"].get("data") or {}).get("order_id")
        found.setdefault(letter["group"], []).append(str(order))
    return found


async def runs(admin: httpx.AsyncClient) -> Counter[str]:
    counted: Counter[str] = Counter()
    for state in RUN_ENDS:
        found = await admin.get("/admin/workflows/runs", params={"status": state, "limit": 1000})
        if found.json():
            counted[state] = len(found.json())
    return counted


async def retries(admin: httpx.AsyncClient) -> int:
    text = (await admin.get("/metrics")).text
    return int(sum(
        float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
        if line.startswith("artery_delivery_retries_total{")
    ))  # fmt: skip


async def time_to_sync(url: str) -> dict[str, tuple[float | None, float | None]]:
    """p50 and p99 over the last hour, per integration, from the store's records."""
    store = await open_store(url)
    try:
        windows = await history.windows(store, time.time(), 3600, 60)
    finally:
        await store.close()
    return {name: (w.p50, w.p99) for name, w in windows.items() if w.synced}


def _sent(shop: dict[str, Any]) -> str:
    return (
        f"{len(shop['valid_orders'])} valid, {shop['duplicates']} duplicates,"
        f" {shop['bad_signature']} badly signed, {shop['malformed']} malformed"
    )


def _payments(counts: dict[str, int]) -> str:
    done = {k.split(":")[0]: n for k, n in counts.items() if k.endswith((":200", ":201"))}
    return (
        f"{_counts(done)}; {counts.get('slow', 0)} slow answers, retried with the same key,"
        f" {counts.get('repeats', 0)} repeats answered from the first"
    )


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name}: {n}" for name, n in sorted(counts.items())) or "none"


def _sync(sync: dict[str, tuple[float | None, float | None]]) -> str:
    return ", ".join(f"{name} {_s(p50)} / {_s(p99)}" for name, (p50, p99) in sorted(sync.items()))


def _budgets(slos: list[dict[str, Any]]) -> str:
    return ", ".join(f"{s['integration']} {s['budget_remaining'] * 100:.1f}%" for s in slos)


def _s(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"
