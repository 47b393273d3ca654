"""The Audit page: who did what through the console, the admin API and the CLI, newest
first and filtered; the admin API writes an entry for each change it serves, none for a
read."""

from __future__ import annotations

import asyncio

from console_harness import READ, Console, csrf_of, serving
from typer.testing import CliRunner

from artery.cli import app as cli
from artery.delivery.dead_letters import DeadLetters, Filter
from artery.govern import audit
from support import admin_client, eventually


async def buried(console: Console, count: int) -> None:
    """Publish orders the ERP refuses until ``count`` are dead letters."""
    await console.publish_orders(count, refused_every=1)
    letters = DeadLetters(console.app.store)

    async def all_buried() -> bool:
        return len(await letters.list(Filter(group="erp-invoices"), 100)) >= count

    await eventually(all_buried, f"{count} dead letters")


async def test_the_trail_shows_console_api_and_cli_entries(store_url: str) -> None:
    async with serving(store_url) as console:
        await buried(console, 2)
        async with console.signed_in() as web:  # the sign-in itself is a console entry
            page = await web.get("/console/webhooks/destinations/erp-hook")
            off = await web.post(
                "/console/webhooks/destinations/erp-hook/disable",
                data={"csrf": csrf_of(page.text)},
            )
            assert off.status_code == 303
        async with await admin_client(console.app, console.url) as admin:
            before = await audit.entries(console.app.store, channel="api")
            listed = await admin.get("/admin/dead-letters")
            assert listed.status_code == 200
            assert await audit.entries(console.app.store, channel="api") == before  # reads: none
            first = (await DeadLetters(console.app.store).list(Filter(), 1))[0].id
            redriven = await admin.post("/admin/dead-letters/redrive", json={"ids": [first]})
            assert redriven.status_code == 200, redriven.text
            refused = await admin.post("/admin/dead-letters/redrive", json={"ids": "x"})
            assert refused.status_code == 400  # not done: not audited
        result = await asyncio.to_thread(
            CliRunner().invoke,
            cli,
            ["--store", store_url, "dlq", "redrive", "--group", "erp-invoices"],
        )
        assert result.exit_code == 0, result.output

        (api,) = await audit.entries(console.app.store, channel="api")
        assert (api["actor"], api["action"], api["target"]) == (
            "tests",
            "POST /admin/dead-letters/redrive",
            "/admin/dead-letters/redrive",
        )
        (by_cli,) = await audit.entries(console.app.store, channel="cli")
        assert str(by_cli["actor"]).startswith("cli:") and by_cli["action"] == "redrive"
        assert by_cli["integration"] == "shop-sync"

        async with console.signed_in(*READ, name="auditor") as web:
            page = await web.get("/console/audit")
            assert page.status_code == 200
            text = page.text
            for expected in ("POST /admin/dead-letters/redrive", "disable", "redrive", "sign-in"):
                assert expected in text, expected
            rows = text[text.index("<tbody>") :]  # newest first
            order = ("auditor", "cli:", "POST /admin/dead-letters/redrive", "<td>disable</td>")
            assert [rows.index(found) for found in order] == sorted(
                rows.index(found) for found in order
            )
            only_api = await web.get("/console/audit", params={"channel": "api"})
            assert "POST /admin/dead-letters/redrive" in only_api.text
            assert "sign-in" not in only_api.text
            by_ops = await web.get("/console/audit", params={"actor": "ops"})
            assert "disable" in by_ops.text and "POST /admin" not in by_ops.text
            bad = await web.get("/console/audit", params={"channel": "email"})
            assert bad.status_code == 400 and "console, api, cli" in bad.text


async def test_the_trail_pages_back_by_id(sqlite_url: str) -> None:
    async with serving(sqlite_url) as console:
        store = console.app.store
        for n in range(105):
            await audit.record(store, audit.Entry(f"person-{n}", "cli", "signal", target="r"))
        async with console.signed_in(*READ) as web:
            first = await web.get("/console/audit", params={"channel": "cli"})
            assert "person-104" in first.text and "person-4<" not in first.text
            assert "Older entries" in first.text
            newest = (await audit.entries(store, channel="cli", limit=100))[-1]["id"]
            older = await web.get("/console/audit", params={"channel": "cli", "before_id": newest})
            assert "person-4<" in older.text and "person-104" not in older.text
            assert "Older entries" not in older.text
            bad = await web.get("/console/audit", params={"before_id": "x"})
            assert bad.status_code == 400 and "before_id" in bad.text


async def test_the_clis_workflow_and_destination_commands_are_audited(sqlite_url: str) -> None:
    async with serving(sqlite_url) as console:
        handle = await console.app.workflows.start("fulfil", {"order_id": "o-1"})
        runner = CliRunner()
        for args in (
            ["workflows", "signal", handle.run_id, "note", "--data", '"hold"'],
            ["workflows", "cancel", handle.run_id],
        ):
            result = await asyncio.to_thread(runner.invoke, cli, ["--store", sqlite_url, *args])
            assert result.exit_code == 0, result.output
        found = await audit.entries(console.app.store, channel="cli")
        assert [(e["action"], e["target"], e["integration"]) for e in found] == [
            ("cancel", handle.run_id, "shop-sync"),
            ("signal", handle.run_id, "shop-sync"),
        ]
        assert found[1]["detail"] == "signal 'note'"  # its name, never its data
