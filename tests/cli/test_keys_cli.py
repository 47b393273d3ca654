"""``artery keys``: the first key of a fresh install is made against the store; the key is
printed once and never listed; revoked keys say so."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from artery.cli import app as cli

runner = CliRunner()


def keys(url: str, *args: str) -> tuple[int, str]:
    result = runner.invoke(cli, ["--store", url, "keys", *args])
    return result.exit_code, result.output


def test_a_key_is_printed_once_listed_without_its_secret_and_revoked(sqlite_url: str) -> None:
    code, created = keys(sqlite_url, "create", "erp-sync", "--scope", "orders:write", "--json")
    assert code == 0, created
    made = json.loads(created)
    secret, prefix = made["key"], made["prefix"]
    assert secret.startswith(prefix + "_") and made["scopes"] == ["orders:write"]
    code, listed = keys(sqlite_url, "list", "--json")
    assert code == 0 and secret not in listed
    (row,) = json.loads(listed)
    assert row["prefix"] == prefix and row["status"] == "active" and "key" not in row
    assert keys(sqlite_url, "revoke", prefix) == (0, f"key {prefix} of 'erp-sync' is revoked\n")
    assert json.loads(keys(sqlite_url, "list", "--json")[1])[0]["status"] == "revoked"


def test_the_table_says_who_holds_which_key(sqlite_url: str) -> None:
    code, created = keys(sqlite_url, "create", "alice", "--scope", "admin:read", "--expires", "90d")
    assert code == 0 and "shown this once" in created
    secret = created.strip().splitlines()[-1]
    code, table = keys(sqlite_url, "list")
    assert code == 0 and "alice" in table and "active" in table and secret not in table


def test_bad_input_is_refused_with_the_fix(sqlite_url: str) -> None:
    code, output = keys(sqlite_url, "create", "erp", "--scope", "orders write")
    assert code == 2 and "not a scope name" in output
    code, output = keys(sqlite_url, "create", "erp", "--expires", "soon")
    assert code == 2 and "bad duration" in output
    code, output = keys(sqlite_url, "revoke", "ak_00000000")
    assert code == 2 and "artery keys list" in output
    assert json.loads(keys(sqlite_url, "list", "--json")[1]) == []
