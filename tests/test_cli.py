"""The ``artery`` command line: output a person reads, exit statuses a script relies on.

Exit statuses: 0 done, 1 refused (violation, incompatibility, failed check), 2 unusable
input, 3 store unavailable. Errors are one line ``error: <message> (<fix>)`` on stderr.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from artery.cli import app
from artery.cli.doctor import schema_check
from artery.schema import SCHEMAS

runner = CliRunner()

ORDER = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "total": {"type": "number"},
        "email": {"type": "string", "maxLength": 5, "x-artery-classification": "pii"},
        "card": {"type": "string", "x-artery-classification": "secret"},
    },
    "required": ["id", "total"],
}
# ``total`` changes type and ``currency`` becomes required: two ways to break old readers.
ORDER_BROKEN = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "total": {"type": "string"},
        "currency": {"type": "string"},
    },
    "required": ["id", "total", "currency"],
}
# a new property that accepts any value: compatible in every mode (the model is open, so a
# typed new property would narrow what old writers may already send)
ORDER_EXTENDED = {
    **ORDER,
    "properties": {**ORDER["properties"], "note": {"description": "free text"}},  # type: ignore[dict-item]
}


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory of its own, with no ambient store settings."""
    monkeypatch.chdir(tmp_path)
    for name in ("ARTERY_STORE", "ARTERY_LOG", "ARTERY_NATS_URL", "ARTERY_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.fixture
def url(work: Path) -> str:
    return f"sqlite:///{work}/a.db"


def write(path: Path, value: Any) -> Path:
    path.write_text(json.dumps(value))
    return path


def cli(store: str | None, *args: str) -> Result:
    options = ["--store", store] if store else []
    return runner.invoke(app, [*options, *args], env={"COLUMNS": "240"})


def ok(store: str | None, *args: str) -> Result:
    result = cli(store, *args)
    assert result.exit_code == 0, result.output
    return result


def assert_clean_error(result: Result, status: int, *fragments: str) -> None:
    """Exit status, one ``error:`` line naming the problem, no traceback."""
    assert result.exit_code == status, result.output
    assert result.stderr.startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.stderr


@pytest.fixture
def orders(url: str, work: Path) -> str:
    """A registered ``orders`` contract and an ``orders`` topic with 3 partitions."""
    ok(url, "contracts", "register", "orders", str(write(work / "v1.json", ORDER)))
    ok(url, "topics", "create", "orders", "--contract", "orders", "--partitions", "3")
    return url


def cells(line: str) -> list[str]:
    """The cells of one row of a printed table."""
    return line.replace("│", " ").split()


def tail_lines(url: str, *args: str) -> list[dict[str, Any]]:
    result = ok(url, "tail", "orders", *args)
    return [json.loads(line) for line in result.stdout.splitlines()]


# -- contracts ---------------------------------------------------------------------------


def test_register_prints_version_and_unchanged_for_identical_schema(url: str, work: Path) -> None:
    v1, v2 = write(work / "v1.json", ORDER), write(work / "v2.json", ORDER_EXTENDED)
    assert ok(url, "contracts", "register", "orders", str(v1)).stdout.strip() == (
        "registered orders v1"
    )
    assert ok(url, "contracts", "register", "orders", str(v2)).stdout.strip() == (
        "registered orders v2"
    )
    assert ok(url, "contracts", "register", "orders", str(v1)).stdout.strip() == (
        "unchanged: orders v1"
    )


def test_register_refuses_incompatible_schema_listing_each_problem(url: str, work: Path) -> None:
    ok(url, "contracts", "register", "orders", str(write(work / "v1.json", ORDER)))
    result = cli(url, "contracts", "register", "orders", str(write(work / "v2.json", ORDER_BROKEN)))
    assert_clean_error(result, 1, "orders")
    assert "/properties/total" in result.stderr or "/total" in result.stderr
    assert "currency" in result.stderr
    listing = ok(url, "contracts", "list").stdout
    assert "v2" not in listing and "v1" in listing


def test_register_with_compatibility_none_accepts_breaking_change(url: str, work: Path) -> None:
    ok(url, "contracts", "register", "orders", str(write(work / "v1.json", ORDER)))
    broken = str(write(work / "v2.json", ORDER_BROKEN))
    result = ok(url, "contracts", "register", "orders", broken, "--compatibility", "none")
    assert result.stdout.strip() == "registered orders v2"


def test_register_refuses_example_that_breaks_its_own_schema(url: str, work: Path) -> None:
    examples = write(work / "examples.json", [{"id": "o-1"}])
    schema = str(write(work / "v1.json", ORDER))
    result = cli(url, "contracts", "register", "orders", schema, "--examples", str(examples))
    assert_clean_error(result, 2, "example 0")


def test_register_bad_schema_is_exit_2_naming_file(url: str, work: Path) -> None:
    bad = write(work / "bad.json", {"type": "nonsense"})
    assert_clean_error(cli(url, "contracts", "register", "orders", str(bad)), 2, "bad.json")


def test_contracts_list_shows_subject_version_mode_and_owner(url: str, work: Path) -> None:
    v1 = str(write(work / "v1.json", ORDER))
    options = ("--owner", "team-orders", "--compatibility", "full")
    ok(url, "contracts", "register", "orders", v1, *options)
    listing = ok(url, "contracts", "list").stdout
    row = next(line for line in listing.splitlines() if "orders" in line)
    assert "v1" in row and "full" in row.lower() and "team-orders" in row


def test_show_prints_schema_and_classified_paths(url: str, work: Path) -> None:
    ok(url, "contracts", "register", "orders", str(write(work / "v1.json", ORDER)))
    ok(url, "contracts", "register", "orders", str(write(work / "v2.json", ORDER_EXTENDED)))
    first = ok(url, "contracts", "show", "orders", "--version", "1").stdout
    assert "orders v1" in first and '"note"' not in first and '"maxLength": 5' in first
    assert any("/email" in line and "pii" in line for line in first.splitlines())
    assert any("/card" in line and "secret" in line for line in first.splitlines())
    assert '"note"' in ok(url, "contracts", "show", "orders").stdout


def test_show_missing_version_is_exit_2_with_fix(url: str, work: Path) -> None:
    ok(url, "contracts", "register", "orders", str(write(work / "v1.json", ORDER)))
    result = cli(url, "contracts", "show", "orders", "--version", "7")
    assert_clean_error(result, 2, "no version 7", "register")


def test_check_exits_0_when_compatible_and_1_listing_problems(url: str, work: Path) -> None:
    ok(url, "contracts", "register", "orders", str(write(work / "v1.json", ORDER)))
    good = ok(url, "contracts", "check", "orders", str(write(work / "ok.json", ORDER_EXTENDED)))
    assert "compatible (backward)" in good.stdout.lower()
    bad = cli(url, "contracts", "check", "orders", str(write(work / "bad.json", ORDER_BROKEN)))
    assert bad.exit_code == 1 and "currency" in bad.stdout
    assert ok(url, "contracts", "list").stdout.count("v1") == 1  # check registers nothing


def test_diff_exits_0_and_names_the_mode_when_compatible(work: Path) -> None:
    old, new = write(work / "old.json", ORDER), write(work / "new.json", ORDER_EXTENDED)
    result = ok(None, "contracts", "diff", str(old), str(new), "--mode", "full")
    assert result.stdout.strip().lower() == "compatible (full)"
    assert not (work / "artery.db").exists(), "diff must not need or create a store"


def test_diff_exits_1_and_lists_each_incompatibility(work: Path) -> None:
    old, new = write(work / "old.json", ORDER), write(work / "new.json", ORDER_BROKEN)
    result = cli(None, "contracts", "diff", str(old), str(new), "--mode", "backward")
    assert result.exit_code == 1, result.output
    problems = [line.strip() for line in result.stdout.splitlines() if line.startswith("  ")]
    assert len(problems) >= 2
    assert all(line.startswith("/") and ": " in line for line in problems)
    assert any("total" in line for line in problems)
    assert any("currency" in line for line in problems)


def test_diff_exits_2_on_malformed_json(work: Path) -> None:
    old, new = write(work / "old.json", ORDER), work / "new.json"
    new.write_text('{"type": "object",')
    assert_clean_error(cli(None, "contracts", "diff", str(old), str(new)), 2, "new.json", "JSON")


def test_diff_exits_2_on_missing_file(work: Path) -> None:
    old = write(work / "old.json", ORDER)
    result = cli(None, "contracts", "diff", str(old), "absent.json")
    assert_clean_error(result, 2, "absent.json", "does not exist")


def test_diff_exits_2_on_invalid_schema(work: Path) -> None:
    old, new = write(work / "old.json", ORDER), write(work / "new.json", {"type": 12})
    assert_clean_error(cli(None, "contracts", "diff", str(old), str(new)), 2, "new.json")


def test_diff_exits_2_on_unknown_mode(work: Path) -> None:
    old = str(write(work / "old.json", ORDER))
    result = cli(None, "contracts", "diff", old, old, "--mode", "sideways")
    assert_clean_error(result, 2, "sideways")


def test_register_and_diff_share_one_mode_parser(url: str, work: Path) -> None:
    """Both commands accept any spelling of a mode and refuse an unknown one the same way,
    listing the valid modes."""
    schema = str(write(work / "v1.json", ORDER))
    ok(url, "contracts", "register", "orders", schema, "--compatibility", "Full-Transitive")
    row = next(
        line for line in ok(url, "contracts", "list").stdout.splitlines() if "orders" in line
    )
    assert "full_transitive" in row.lower()
    assert ok(None, "contracts", "diff", schema, schema, "--mode", "FORWARD_transitive").stdout
    valid = "backward, backward_transitive, forward"
    diffed = cli(None, "contracts", "diff", schema, schema, "--mode", "sideways")
    registered = cli(url, "contracts", "register", "other", schema, "--compatibility", "sideways")
    for result in (diffed, registered):
        assert_clean_error(result, 2, "unknown compatibility mode 'sideways'", valid)
    assert "other" not in ok(url, "contracts", "list").stdout


# -- topics ------------------------------------------------------------------------------


def test_topics_create_list_and_describe(url: str, work: Path) -> None:
    ok(url, "contracts", "register", "orders", str(write(work / "v1.json", ORDER)))
    options = ("--partitions", "2", "--retention-age", "7d", "--retention-count", "100")
    created = ok(url, "topics", "create", "orders", "--contract", "orders", *options)
    assert "2 partitions" in created.stdout and "7d" in created.stdout
    row = next(line for line in ok(url, "topics", "list").stdout.splitlines() if "orders" in line)
    assert "2" in row and "count 100" in row
    ok(url, "publish", "orders", '{"id": "o-1", "total": 1}', "--key", "k")
    ok(url, "groups", "reset", "billing", "orders", "--to", "earliest", "--create")
    described = ok(url, "topics", "describe", "orders").stdout
    assert "billing" in described
    lags = [cells(line)[-1] for line in described.splitlines() if "billing" in line]
    assert sorted(lags) == ["0", "1"]


def test_topic_for_unregistered_contract_is_exit_2_with_fix(url: str) -> None:
    result = cli(url, "topics", "create", "orders", "--contract", "ghost")
    assert_clean_error(result, 2, "ghost", "artery contracts register")


def test_bad_retention_age_is_exit_2(orders: str) -> None:
    options = ("--contract", "orders", "--retention-age", "soon")
    result = cli(orders, "topics", "create", "t2", *options)
    assert_clean_error(result, 2, "soon")


def test_topics_create_refuses_zero_partitions_instead_of_using_the_default(orders: str) -> None:
    result = cli(orders, "topics", "create", "t0", "--contract", "orders", "--partitions", "0")
    assert_clean_error(result, 2, "0 partitions", "between 1 and 4096")
    assert "t0" not in ok(orders, "topics", "list").stdout


def test_topics_create_refuses_a_retention_that_would_delete_everything(orders: str) -> None:
    for option, value in (("--retention-count", "-5"), ("--retention-count", "0")):
        result = cli(orders, "topics", "create", "t1", "--contract", "orders", option, value)
        assert_clean_error(result, 2, "retention count", "at least 1")
    result = cli(orders, "topics", "create", "t1", "--contract", "orders", "--retention-age", "0s")
    assert_clean_error(result, 2, "retention age", "more than zero")
    assert "t1" not in ok(orders, "topics", "list").stdout


def test_groups_reset_refuses_an_unknown_group_unless_asked_to_create_it(orders: str) -> None:
    ok(orders, "groups", "reset", "billing", "orders", "--to", "latest", "--create")
    typo = cli(orders, "groups", "reset", "biling", "orders", "--to", "earliest")
    assert_clean_error(typo, 2, "group 'biling' has no position", "artery groups list", "--create")
    assert "biling" not in ok(orders, "groups", "list").stdout
    ok(orders, "groups", "reset", "billing", "orders", "--to", "earliest")


def test_unknown_topic_is_exit_2_with_fix(url: str) -> None:
    for args in (("tail", "ghost"), ("publish", "ghost", "{}"), ("topics", "describe", "ghost")):
        assert_clean_error(cli(url, *args), 2, "'ghost' does not exist", "artery topics create")


# -- publish and tail --------------------------------------------------------------------


def test_publish_prints_position_and_tail_reads_it_back(orders: str) -> None:
    result = ok(orders, "publish", "orders", '{"id": "o-1", "total": 9.5}', "--subject", "o-1")
    fields = dict(part.split("=", 1) for part in result.stdout.split() if "=" in part)
    assert result.stdout.startswith("published orders") and fields["offset"] == "0"
    (event,) = tail_lines(orders)
    assert event["id"] == fields["id"] and event["partition"] == int(fields["partition"])
    assert event["data"] == {"id": "o-1", "total": 9.5} and event["subject"] == "o-1"
    assert event["specversion"] == "1.0" and event["type"] == "orders" and event["offset"] == 0


def test_publish_reads_data_from_an_at_file(orders: str, work: Path) -> None:
    data = write(work / "order.json", {"id": "o-2", "total": 3})
    ok(orders, "publish", "orders", f"@{data}")
    assert [e["data"]["id"] for e in tail_lines(orders)] == ["o-2"]


def test_publish_refuses_invalid_event_and_appends_nothing(orders: str) -> None:
    result = cli(orders, "publish", "orders", '{"id": 7}')
    assert result.exit_code == 1, result.output
    assert "/id" in result.stderr and "[type]" in result.stderr
    assert "total" in result.stderr and "[required]" in result.stderr
    assert tail_lines(orders, "--from-beginning") == []


def test_publish_error_never_shows_classified_values(orders: str) -> None:
    payload = '{"id": "o-3", "total": "x", "email": "alice@example.com"}'
    result = cli(orders, "publish", "orders", payload)
    assert result.exit_code == 1 and "/email" in result.stderr and "/total" in result.stderr
    assert "alice@example.com" not in result.output


def test_publish_file_is_one_atomic_batch(orders: str, work: Path) -> None:
    lines = ['{"id": "a", "total": 1}', "", '{"id": "b"}', '{"id": "c", "total": 3}']
    (work / "batch.jsonl").write_text("\n".join(lines) + "\n")
    refused = cli(orders, "publish", "orders", "--file", "batch.jsonl")
    assert refused.exit_code == 1 and "batch.jsonl line 3" in refused.stderr
    assert tail_lines(orders, "--from-beginning") == []
    lines[2] = '{"id": "b", "total": 2}'
    (work / "batch.jsonl").write_text("\n".join(lines) + "\n")
    published = ok(orders, "publish", "orders", "--file", "batch.jsonl", "--key", "same")
    assert published.stdout.count("published orders") == 3
    assert [e["data"]["id"] for e in tail_lines(orders, "--from-beginning")] == ["a", "b", "c"]


def test_publish_of_data_json_cannot_hold_is_exit_2_naming_the_line(
    orders: str, work: Path
) -> None:
    deep = '{"id": "a", "total": 1, "deep": ' + "[" * 300 + "]" * 300 + "}"
    (work / "deep.jsonl").write_text('{"id": "ok", "total": 1}\n' + deep + "\n")
    result = cli(orders, "publish", "orders", "--file", "deep.jsonl")
    assert_clean_error(result, 2, "deep.jsonl line 2", "nested deeper than 254 levels")
    assert tail_lines(orders, "--from-beginning") == []


def test_json_input_json_cannot_store_is_exit_2_for_every_command(url: str) -> None:
    deep = "[" * 300 + "]" * 300
    result = cli(url, "workflows", "signal", "r-1", "go", "--data", deep)
    assert_clean_error(result, 2, "--data argument", "nested deeper than 254 levels")


def test_publish_over_max_event_size_is_exit_2_with_the_setting_to_raise(
    orders: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARTERY_MAX_EVENT_SIZE", "2000")
    payload = '{"id": "%s", "total": 1}' % ("x" * 3000)
    assert_clean_error(cli(orders, "publish", "orders", payload), 2, "ARTERY_MAX_EVENT_SIZE")
    assert tail_lines(orders, "--from-beginning") == []


def test_publish_with_same_idempotency_key_stores_once(orders: str) -> None:
    first = ok(orders, "publish", "orders", '{"id": "o", "total": 1}', "--idempotency-key", "K")
    again = ok(orders, "publish", "orders", '{"id": "o", "total": 1}', "--idempotency-key", "K")
    assert again.stdout.startswith("already published")
    assert first.stdout.split("id=")[1] == again.stdout.split("id=")[1]
    assert len(tail_lines(orders, "--from-beginning")) == 1


def test_publish_malformed_json_is_exit_2_naming_the_argument(orders: str, work: Path) -> None:
    assert_clean_error(cli(orders, "publish", "orders", '{"id": '), 2, "DATA", "JSON")
    (work / "bad.jsonl").write_text('{"id": "a", "total": 1}\nnot json\n')
    result = cli(orders, "publish", "orders", "--file", "bad.jsonl")
    assert_clean_error(result, 2, "bad.jsonl line 2")
    assert_clean_error(cli(orders, "publish", "orders", "@missing.json"), 2, "missing.json")


def test_publish_needs_data_or_file_but_not_both(orders: str, work: Path) -> None:
    (work / "one.jsonl").write_text('{"id": "a", "total": 1}\n')
    assert_clean_error(cli(orders, "publish", "orders"), 2, "--file")
    both = cli(orders, "publish", "orders", '{"id": "a", "total": 1}', "--file", "one.jsonl")
    assert_clean_error(both, 2, "--file")


def test_tail_keeps_partition_order_and_honours_limit_and_partition(orders: str) -> None:
    for n in range(12):
        data = json.dumps({"id": f"o{n}", "total": n})
        ok(orders, "publish", "orders", data, "--key", f"k{n % 4}")
    everything = tail_lines(orders, "--from-beginning")
    assert len(everything) == 12
    for partition in {e["partition"] for e in everything}:
        offsets = [e["offset"] for e in everything if e["partition"] == partition]
        assert offsets == list(range(len(offsets)))
    newest = tail_lines(orders)
    assert [e["data"]["id"] for e in newest] == [f"o{n}" for n in range(2, 12)]
    assert [e["data"]["id"] for e in tail_lines(orders, "--limit", "3")] == ["o9", "o10", "o11"]
    assert len(tail_lines(orders, "--from-beginning", "--limit", "5")) == 5
    only = tail_lines(orders, "--from-beginning", "--partition", "1")
    assert only and {e["partition"] for e in only} == {1}
    assert_clean_error(cli(orders, "tail", "orders", "--partition", "3"), 2, "partition 3")


# -- groups ------------------------------------------------------------------------------


def positions(url: str, group: str) -> dict[int, tuple[int, int, int]]:
    """partition -> (committed, next, lag) from ``groups list``."""
    found = {}
    for line in ok(url, "groups", "list").stdout.splitlines():
        row = cells(line)
        if row and row[0] == group:
            found[int(row[2])] = (int(row[3]), int(row[4]), int(row[5]))
    return found


def test_groups_reset_to_offset_replays(orders: str) -> None:
    for n in range(4):
        ok(orders, "publish", "orders", json.dumps({"id": f"o{n}", "total": n}), "--key", "one")
    ok(orders, "groups", "reset", "billing", "orders", "--to", "latest", "--create")
    (partition,) = [p for p, (_, nxt, _) in positions(orders, "billing").items() if nxt]
    assert positions(orders, "billing")[partition] == (4, 4, 0)
    ok(orders, "groups", "reset", "billing", "orders", "--to-offset", "1")
    assert positions(orders, "billing")[partition] == (1, 4, 3)


def test_groups_reset_to_time_and_earliest(orders: str) -> None:
    ok(orders, "publish", "orders", '{"id": "o", "total": 1}', "--key", "one")
    ok(orders, "groups", "reset", "billing", "orders", "--to", "latest", "--create")
    ok(orders, "groups", "reset", "billing", "orders", "--to-time", "2000-01-01T00:00:00Z")
    assert sum(lag for _, _, lag in positions(orders, "billing").values()) == 1
    ok(orders, "groups", "reset", "billing", "orders", "--to-time", "2999-01-01T00:00:00+02:00")
    assert sum(lag for _, _, lag in positions(orders, "billing").values()) == 0
    ok(orders, "groups", "reset", "billing", "orders", "--to", "earliest")
    assert sum(lag for _, _, lag in positions(orders, "billing").values()) == 1


def test_groups_reset_needs_one_valid_target(orders: str) -> None:
    reset = ("groups", "reset", "billing", "orders")
    assert_clean_error(cli(orders, *reset), 2, "exactly one")
    assert_clean_error(cli(orders, *reset, "--to", "latest", "--to-offset", "1"), 2, "exactly one")
    assert_clean_error(cli(orders, *reset, "--to", "middle"), 2, "middle")
    assert_clean_error(cli(orders, *reset, "--to-time", "2026-01-01T00:00:00"), 2, "timezone")
    assert_clean_error(cli(orders, *reset, "--to-time", "yesterday"), 2, "yesterday")


# -- settings, store, doctor ----------------------------------------------------------------


HUGE = str(2**64)


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (("tail", "orders", "--limit", HUGE), "--limit"),
        (("tail", "orders", "--partition", HUGE), "--partition"),
        (("groups", "reset", "g", "orders", "--to-offset", HUGE, "--create"), "--to-offset"),
        (
            ("topics", "create", "t", "--contract", "orders", "--retention-count", HUGE),
            "--retention-count",
        ),
        (("contracts", "show", "orders", "--version", HUGE), "--version"),
        (("dlq", "show", HUGE), "ID"),
        (("dlq", "redrive", "1", HUGE), "ID"),
        (("dlq", "list", "--limit", HUGE), "--limit"),
        (("workflows", "list", "--limit", HUGE), "--limit"),
    ],
)
def test_numbers_beyond_what_the_store_holds_are_exit_2_naming_the_option(
    orders: str, args: tuple[str, ...], option: str
) -> None:
    result = cli(orders, *args)
    assert result.exit_code == 2, result.output
    assert ("Traceback" not in result.output and result.exception is None) or isinstance(
        result.exception, SystemExit
    )
    assert option in result.stderr and "9223372036854775807" in result.stderr


def test_help_page_names_arguments_and_types_without_placeholders() -> None:
    page = ok(None, "topics", "create", "--help").stdout
    assert "Usage: artery topics create [OPTIONS] NAME" in page
    partitions = next(line for line in page.splitlines() if "--partitions" in line)
    assert "INTEGER" in partitions.split() and "default: settings.partitions" in partitions
    assert "{name}" not in page and "<bool>" not in page and "<int>" not in page


def test_version_comes_from_the_installed_package_metadata() -> None:
    import artery

    installed = importlib.metadata.version("artery")
    assert artery.__version__ == installed
    assert ok(None, "--version").stdout.strip() == f"artery {installed}"


def test_store_comes_from_artery_store_env(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARTERY_STORE", f"sqlite:///{work}/from-env.db")
    ok(None, "contracts", "list")
    assert (work / "from-env.db").exists() and not (work / "artery.db").exists()


def test_bad_artery_toml_is_exit_2(work: Path) -> None:
    (work / "artery.toml").write_text("[artery]\nstroe = 'sqlite:///x.db'\n")
    assert_clean_error(cli(None, "contracts", "list"), 2, "stroe")


def test_unknown_store_scheme_is_exit_2(work: Path) -> None:
    assert_clean_error(cli("mysql://db/x", "topics", "list"), 2, "mysql", "sqlite:///")


@pytest.mark.parametrize(
    "store",
    [
        "mysql://user:s3cret@db.example.com/shop",
        "sqlite://user:s3cret@host/artery.db",
        "postgres:/user:s3cret@host/db",
        "postgresql://user:s3cret@127.0.0.1:5432/test?bogus=1",
        "postgresql://user@127.0.0.1:5432/test?password=s3cret&bogus=1",
        "mysql://db.example.com/shop?user=me&Password=s3cret",
    ],
)
def test_store_url_password_never_reaches_an_error(work: Path, store: str) -> None:
    result = cli(store, "contracts", "list")
    assert_clean_error(result, 2, "***")
    assert "s3cret" not in result.output


@pytest.mark.parametrize(("query", "named"), [("bogus=1", '"bogus"'), ("sslmode=wrong", "sslmode")])
def test_invalid_postgresql_uri_option_is_exit_2_not_unreachable(
    work: Path, query: str, named: str
) -> None:
    result = cli(f"postgresql://postgres@127.0.0.1:5432/test?{query}", "contracts", "list")
    assert_clean_error(result, 2, named)
    assert "unreachable" not in result.stderr


@contextlib.contextmanager
def immutable(path: Path) -> Iterator[None]:
    """Make ``path`` read-only even for root (tests run as root, which ignores modes):
    ``chattr +i`` makes the kernel refuse every write, as a read-only file, directory or
    mount would."""
    try:
        subprocess.run(["chattr", "+i", str(path)], check=True, capture_output=True, timeout=10)
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot make {path} immutable with chattr +i: {exc}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True, timeout=10)


@pytest.mark.parametrize("read_only", ["file", "directory"])
def test_read_only_sqlite_store_is_named_read_only_and_still_readable(
    orders: str, work: Path, read_only: str
) -> None:
    ok(orders, "publish", "orders", '{"id": "o-1", "total": 1}')
    target = work / "a.db" if read_only == "file" else work
    with immutable(target):
        assert "orders" in ok(orders, "contracts", "list").stdout
        assert [e["data"]["id"] for e in tail_lines(orders, "--from-beginning")] == ["o-1"]
        refused = cli(orders, "publish", "orders", '{"id": "o-2", "total": 2}')
        assert_clean_error(refused, 2, "read-only", f"{read_only} {str(target)!r}")
        assert "unreachable" not in refused.stderr
    assert len(tail_lines(orders, "--from-beginning")) == 1


def test_unreachable_store_is_exit_3(work: Path) -> None:
    result = cli("postgresql://nobody@127.0.0.1:1/none", "contracts", "list")
    assert_clean_error(result, 3, "unreachable")


def test_doctor_reports_backend_and_migration_version(url: str) -> None:
    result = ok(url, "doctor")
    store_row = next(line for line in result.stdout.splitlines() if "store" in line)
    assert "sqlite" in store_row and "ok" in store_row and "migrations" in store_row
    for schema in SCHEMAS:
        assert f"{schema.package} v{schema.version}" in store_row


def test_doctor_names_each_package_behind() -> None:
    check = schema_check("store", "sqlite:///a.db", {"contracts": 1, "log": 2}, SCHEMAS)
    assert not check.ok
    assert check.detail == (
        "sqlite:///a.db, migrations contracts v1, log v2 of 3, delivery v0 of 2,"
        " workflows v0 of 4, gateway v0 of 1, webhooks v0 of 3, observe v0 of 3,"
        " govern v0 of 1, console v0 of 1"
    )
    assert check.fix
    assert check.fix.endswith(
        "to migrate log, delivery, workflows, gateway, webhooks, observe, govern, console"
    )
    assert schema_check("store", "u", {s.package: s.version for s in SCHEMAS}, SCHEMAS).ok


def test_doctor_checks_the_jetstream_the_log_is_in(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARTERY_LOG", "nats://127.0.0.1:1?prefix=X")
    result = cli(url, "doctor")
    assert result.exit_code == 1, result.output
    (row,) = [line for line in result.stdout.splitlines() if "NATS" in line]
    assert "fail" in row and "fix:" in row


def test_doctor_fails_with_fix_for_each_broken_check(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARTERY_REDIS_URL", "redis://127.0.0.1:1")
    result = cli(f"sqlite:///{work}/missing-dir/a.db", "doctor")
    assert result.exit_code == 1, result.output
    rows = {cells(line)[0]: line for line in result.stdout.splitlines() if "fail" in line}
    assert {"store", "Redis"} <= set(rows)
    assert all("fix:" in row for row in rows.values())


# -- both backends, and the installed entry point -------------------------------------------


def test_contract_topic_publish_tail_round_trip_on_each_backend(store_url: str, work: Path) -> None:
    ok(store_url, "contracts", "register", "orders", str(write(work / "v1.json", ORDER)))
    ok(store_url, "topics", "create", "orders", "--contract", "orders", "--partitions", "2")
    ok(store_url, "publish", "orders", '{"id": "o-1", "total": 1}')
    assert [e["data"]["id"] for e in tail_lines(store_url)] == ["o-1"]
    assert cli(store_url, "publish", "orders", '{"id": 1}').exit_code == 1


def artery(*args: str) -> subprocess.Popen[str]:
    exe = Path(sys.executable).with_name("artery")
    return subprocess.Popen(
        [str(exe), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "240"},
    )


def test_follow_prints_new_events_and_stops_cleanly_on_ctrl_c(orders: str) -> None:
    follower = artery("--store", orders, "tail", "orders", "--follow", "--interval", "0.05")
    try:
        ok(orders, "publish", "orders", '{"id": "late", "total": 1}')
        assert follower.stdout is not None
        assert json.loads(follower.stdout.readline())["data"]["id"] == "late"
        follower.send_signal(signal.SIGINT)
        _, stderr = follower.communicate(timeout=30)
    finally:
        follower.kill()
    assert follower.returncode == 0 and "Traceback" not in stderr, stderr


def test_follow_with_limit_from_beginning_stops_after_limit(orders: str) -> None:
    options = ["--from-beginning", "--follow", "--limit", "2", "--interval", "0.05"]
    follower = artery("--store", orders, "tail", "orders", *options)
    try:
        for n in range(3):
            ok(orders, "publish", "orders", json.dumps({"id": f"o{n}", "total": n}), "--key", "k")
        stdout, stderr = follower.communicate(timeout=30)
    finally:
        follower.kill()
    assert follower.returncode == 0, stderr
    assert [json.loads(line)["data"]["id"] for line in stdout.splitlines()] == ["o0", "o1"]
